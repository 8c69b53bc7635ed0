/* The database worker pool. Event-loop threads never touch PostgreSQL: they
 * hand a job to the pool, one of its threads runs it on its own connection
 * (blocking there is fine), and the job travels back to the loop that
 * submitted it through h2o's multithread queue, where `done` runs. */
#ifndef TASKFLOW_STORE_POOL_H
#define TASKFLOW_STORE_POOL_H

#include <h2o.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct db_conn;
struct db_pool;

struct db_job {
	h2o_multithread_message_t super; /* first: the way back to the loop */
	h2o_multithread_receiver_t *reply_to;
	void (*run)(struct db_job *job, struct db_conn *conn); /* worker thread */
	void (*done)(struct db_job *job);                      /* loop thread */
	struct db_job *next;                                   /* pool queue */
};

/* Starts `size` worker threads; each connects lazily and reconnects after a
 * failure. Never fails: an unreachable database shows as failed queries. */
struct db_pool *db_pool_create(const char *conninfo, int size);
void db_pool_submit(struct db_pool *pool, struct db_job *job);
/* Runs the jobs already queued, then stops the threads and closes the
 * connections. Their `done` callbacks are still delivered to the receivers. */
void db_pool_destroy(struct db_pool *pool);

/* The callback to register for a loop's reply receiver: runs each job's done. */
void db_pool_on_replies(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* Runs one statement with text parameters, as a prepared statement cached per
 * connection (dynamic SQL included: the cache is keyed by the SQL text).
 * Returns NULL when the database cannot be reached; the caller PQclears. */
PGresult *db_exec(struct db_conn *conn, const char *sql, int nparams, const char *const *params);

/* BEGIN, COMMIT, ROLLBACK and other parameterless commands. */
bool db_command(struct db_conn *conn, const char *sql);

bool db_result_ok(const PGresult *r); /* COMMAND_OK or TUPLES_OK */
/* The SQLSTATE of a failed result ("23505"), or "" */
const char *db_sqlstate(const PGresult *r);
/* Whether the connection is usable: distinguishes an outage (503) from a bug (500). */
bool db_is_up(const struct db_conn *conn);

#endif
