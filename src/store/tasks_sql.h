/* Task storage: for each operation, a function that sends its one statement
 * on a lent connection and one that reads the result. Transactions are left
 * to the caller, so an API handler can put several statements (a task and its
 * idempotency record) in one. */
#ifndef TASKFLOW_STORE_TASKS_SQL_H
#define TASKFLOW_STORE_TASKS_SQL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "task/task.h"

struct db_conn;

enum store_result {
	STORE_OK,
	STORE_NOT_FOUND,
	STORE_CONFLICT,    /* a stale version, or a unique key taken */
	STORE_UNAVAILABLE, /* the database cannot be reached */
	STORE_FAILED,      /* any other database error (logged) */
};

/* Every read_* function takes ownership of r (NULL: the connection was lost)
 * and clears it. */
enum store_result store_check(PGresult *r, const char *what);

/* A task rendered as the API shows it. */
struct task_doc {
	char *json; /* malloc'd JSON object */
	size_t len;
	int64_t id;
	int32_t version;
};
void task_doc_free(struct task_doc *doc);

void tasks_send_insert(struct db_conn *conn, const char *user_id, const struct task_input *in);
void tasks_send_get(struct db_conn *conn, const char *user_id, int64_t id);
/* STORE_OK with the task, or STORE_NOT_FOUND. */
enum store_result tasks_read_task(PGresult *r, struct task_doc *task);

/* Conditional writes, each one statement that also returns the task as it
 * is when a condition fails: expected_version (If-Match; 0 for none) and,
 * for updates, the body's "version" must both match. */
void tasks_send_update(struct db_conn *conn, const char *user_id, int64_t id,
                       const struct task_input *in, int32_t expected_version);
void tasks_send_delete(struct db_conn *conn, const char *user_id, int64_t id,
                       int32_t expected_version);
/* STORE_OK with the task written (for a delete, as it was); STORE_CONFLICT
 * with the task as it is; STORE_NOT_FOUND. */
enum store_result tasks_read_write(PGresult *r, struct task_doc *task);

void tasks_send_list(struct db_conn *conn, const char *user_id, const struct task_list_query *q);
/* Renders {"items":[...],"next_cursor":...} into *body (malloc'd). */
enum store_result tasks_read_list(PGresult *r, const struct task_list_query *q, char **body,
                                  size_t *len);

/* The stored response to a POST with an Idempotency-Key. */
struct idempotent_response {
	int status;
	char *location; /* malloc'd, may be NULL */
	char *body;     /* malloc'd */
	char request_hash[65];
};
void idempotent_response_free(struct idempotent_response *r);

/* Finds a record younger than 24 hours: STORE_OK and *out, or STORE_NOT_FOUND. */
void idempotency_send_find(struct db_conn *conn, const char *user_id, const char *key);
enum store_result idempotency_read_find(PGresult *r, struct idempotent_response *out);
/* Inside the caller's transaction; replaces an expired record. STORE_CONFLICT
 * when a concurrent request with the same key committed first. */
void idempotency_send_save(struct db_conn *conn, const char *user_id, const char *key,
                           const struct idempotent_response *resp);
enum store_result idempotency_read_save(PGresult *r);

#endif
