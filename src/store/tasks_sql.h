/* Task storage: for each operation, a function that sends its one statement
 * on a lent connection and one that reads the result. Transactions are left
 * to the caller, so an API handler can put several statements (a task and its
 * idempotency record) in one. */
#ifndef TASKFLOW_STORE_TASKS_SQL_H
#define TASKFLOW_STORE_TASKS_SQL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/uuid.h"
#include "store/db.h"
#include "task/task.h"

struct db_conn;

enum store_result {
	STORE_OK,
	STORE_NOT_FOUND,
	STORE_CONFLICT,    /* a stale version, or a unique key taken */
	STORE_UNAVAILABLE, /* the database cannot be reached */
	STORE_FAILED,      /* any other database error (logged) */
};

/* The outcome of one statement's result (NULL: the connection was lost),
 * logging a database error. store_check also clears r when it failed. */
enum store_result store_status(const PGresult *r, const char *what);
enum store_result store_check(PGresult *r, const char *what);
/* Unless they say they borrow, read_* functions take r and clear it. */

/* A task rendered as the API shows it. */
struct task_doc {
	char *json; /* malloc'd JSON object */
	size_t len;
	int64_t id;
	int32_t version;
};
void task_doc_free(struct task_doc *doc);

void tasks_send_get(struct db_conn *conn, const char *user_id, int64_t id);
/* STORE_OK with the task, or STORE_NOT_FOUND. */
enum store_result tasks_read_task(PGresult *r, struct task_doc *task);

/* A new task with its task.created event, as one statement: alone in a
 * round it commits by itself, or it joins the caller's transaction. The API
 * server's clock stamps the task, so the event carries the task as stored
 * (all but its id, which the statement fills in). `out` owns what the
 * statement points to until tasks_create_free. */
struct task_create {
	const char *params[12];
	char now[24], due[24], event_id[UUID_TEXT_LEN];
	char *tags, *tags_json, *data;
	struct db_stmt stmt;
};
void tasks_create_stmt(const char *user_id, const struct task_input *in, const char *correlation_id,
                       struct task_create *out);
void tasks_create_free(struct task_create *c);
/* Borrows r. STORE_OK with the task. */
enum store_result tasks_read_created(const PGresult *r, struct task_doc *task);

/* Other writes open a transaction and leave it open for the caller to add
 * the event and commit (or to roll back). */
/* [BEGIN, the task locked as it is, the write]. The write's conditions:
 * expected_version (If-Match; 0 for none) and, for updates, the body's
 * "version" must both match. */
void tasks_send_update_tx(struct db_conn *conn, const char *user_id, int64_t id,
                          const struct task_input *in, int32_t expected_version);
void tasks_send_delete_tx(struct db_conn *conn, const char *user_id, int64_t id,
                          int32_t expected_version);
/* Borrows the round's results. STORE_OK with the task written (for a
 * delete, as it was) and the event's data (malloc'd); STORE_CONFLICT with
 * the task as it is; STORE_NOT_FOUND. */
enum store_result tasks_read_written(const PGresult *begin, const PGresult *before,
                                     const PGresult *write, struct task_doc *task,
                                     char **event_data);

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
/* The statement that saves a response inside the caller's transaction,
 * replacing an expired record; `out` must outlive the send. */
struct idempotency_save {
	const char *params[6];
	char status[8];
	struct db_stmt stmt;
};
void idempotency_save_stmt(const char *user_id, const char *key,
                           const struct idempotent_response *resp, struct idempotency_save *out);
/* Borrows r. STORE_CONFLICT when a concurrent request with the same key
 * committed first. */
enum store_result idempotency_read_save(const PGresult *r);

#endif
