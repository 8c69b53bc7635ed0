/* Task storage. Every function runs on a database worker and leaves
 * transactions to its caller, so an API handler can put several writes (the
 * task and its idempotency record) in one. */
#ifndef TASKFLOW_STORE_TASKS_SQL_H
#define TASKFLOW_STORE_TASKS_SQL_H

#include <jansson.h>
#include <libpq-fe.h>
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

/* A task rendered as the API shows it, on the worker that read it. */
struct task_doc {
	char *json; /* malloc'd JSON object */
	size_t len;
	int64_t id;
	int32_t version;
};

void task_doc_free(struct task_doc *doc);

/* On STORE_OK *task is the new task. */
enum store_result tasks_insert(struct db_conn *conn, const char *user_id,
			       const struct task_input *in, struct task_doc *task);

enum store_result tasks_get(struct db_conn *conn, const char *user_id, int64_t id,
			    struct task_doc *task);

/* expected_version 0 means unconditional. On STORE_OK *task is the updated
 * task; on STORE_CONFLICT it is the task as it is now. */
enum store_result tasks_update(struct db_conn *conn, const char *user_id, int64_t id,
			       const struct task_input *in, int32_t expected_version,
			       struct task_doc *task);

/* On STORE_CONFLICT *current is the task as it is now. */
enum store_result tasks_delete(struct db_conn *conn, const char *user_id, int64_t id,
			       int32_t expected_version, struct task_doc *current);

/* Renders the page as {"items":[...],"next_cursor":...} into *body (malloc'd). */
enum store_result tasks_list(struct db_conn *conn, const char *user_id,
			     const struct task_list_query *q, char **body, size_t *len);

/* A stored response to a POST with an Idempotency-Key. */
struct idempotent_response {
	int status;
	char *location; /* malloc'd, may be NULL */
	char *body;     /* malloc'd */
	char request_hash[65];
};

/* STORE_OK and fills *out when (user_id, key) has a record younger than 24
 * hours; STORE_NOT_FOUND when not. */
enum store_result idempotency_find(struct db_conn *conn, const char *user_id, const char *key,
				   struct idempotent_response *out);
/* Inside the caller's transaction. STORE_CONFLICT when a concurrent request
 * with the same key committed first. */
enum store_result idempotency_save(struct db_conn *conn, const char *user_id, const char *key,
				   const struct idempotent_response *resp);
void idempotent_response_free(struct idempotent_response *r);

/* Maps a failed result (NULL: unreachable) to STORE_UNAVAILABLE or STORE_FAILED, logging the latter. */
enum store_result store_failure(struct db_conn *conn, PGresult *r, const char *what);

#endif
