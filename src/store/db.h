/* PostgreSQL on an event loop, without blocking it: each loop owns a few
 * connections in libpq's non-blocking pipeline mode, watched by the loop like
 * any socket. A job borrows one connection, sends statements one at a time
 * (each answered through on_result), and gives it back; jobs wait in a queue
 * while every connection is lent out.
 *
 * A job is a small state machine: start() sends the first statement,
 * on_result() looks at each result and either sends the next statement or
 * releases the connection. Everything here runs on the owning loop's thread. */
#ifndef TASKFLOW_STORE_DB_H
#define TASKFLOW_STORE_DB_H

#include <h2o.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct db;
struct db_conn;

struct db_job {
	/* A connection is lent to the job; NULL when the database is down. */
	void (*start)(struct db_job *job, struct db_conn *conn);
	/* Each statement's result, in order, which the callee PQclears; NULL
	 * when the connection was lost (conn is then NULL too, and no further
	 * result of the round follows). A round of several statements delivers
	 * them one call each once the whole round is back: the job may send,
	 * release or finish only on the last (db_results_left() == 0). */
	void (*on_result)(struct db_job *job, struct db_conn *conn, PGresult *r);
	/* A read: runs on at most the db's read share of connections at once
	 * (db_create), so reads queue here rather than crowd PostgreSQL, while
	 * writes may use every connection and their commits group. */
	bool read_only;
	struct db_job *next; /* wait queue */
};

#define DB_ROUND_MAX 4

struct db_stmt {
	const char *sql;
	int nparams;
	const char *const *params;
};

struct workers;

/* `nconns` connections to `conninfo` on `loop`, connecting in the background;
 * at most `max_reads` of them serve read-only jobs at once. The hosts to
 * connect to (conninfo's, else PGHOST's), when one is a name or there are
 * several, are looked up on `resolver`'s threads, whose results come back to
 * the loop through `resolved` (registered with workers_on_done). */
struct db *db_create(h2o_loop_t *loop, const char *conninfo, int nconns, int max_reads,
                     struct workers *resolver, h2o_multithread_receiver_t *resolved);
/* Closes the connections; jobs must be finished. */
void db_destroy(struct db *db);

/* Lends a connection to the job now or as soon as one is free. */
void db_acquire(struct db *db, struct db_job *job);

/* Sends one statement with text parameters (prepared once per connection and
 * cached by its text). The result comes to the job's on_result, possibly
 * before db_send returns when the connection fails: return right after it. */
void db_send(struct db_conn *conn, const char *sql, int nparams, const char *const *params);

/* Sends up to DB_ROUND_MAX statements in one round trip (one pipeline Sync).
 * Outside a BEGIN the round is one implicit transaction, committed at the
 * Sync. After an error the rest of the round is not run: their results read
 * as failed. */
void db_send_many(struct db_conn *conn, int n, const struct db_stmt *stmts);

/* During on_result: how many results of the round are still to come. */
int db_results_left(const struct db_conn *conn);

/* Gives the connection back. A transaction left open is rolled back first:
 * a job that fails mid-transaction just finishes. */
void db_release(struct db_conn *conn);

/* A blocking connection, for threads that are no event loop (migrations,
 * the outbox relay, consumer threads). Check PQstatus; PQfinish it. */
PGconn *db_connect_blocking(const char *conninfo, const char *application_name);

bool db_result_ok(const PGresult *r); /* COMMAND_OK or TUPLES_OK */
/* The SQLSTATE of a failed result ("23505"), or "". */
const char *db_sqlstate(const PGresult *r);

#endif
