/* One API request in flight: what handlers read (route, request id), how they
 * answer, and how they hand database work to the pool without blocking the
 * event loop. */
#ifndef TASKFLOW_HTTP_CALL_H
#define TASKFLOW_HTTP_CALL_H

#include <h2o.h>
#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "auth/token.h"
#include "core/config.h"
#include "http/reply.h"
#include "http/router.h"
#include "core/workers.h"
#include "store/db.h"

#define CALL_MAX_BODY       (1024 * 1024)
#define CALL_REQUEST_ID_MAX 128

/* Shared by every thread; read-only once the server runs. */
struct app {
	const struct config *cfg;
	struct token_keys keys;
	struct workers *cpu;      /* password hashing */
	struct workers *sidecar;  /* blocking Dapr state calls; NULL without USE_DAPR */
	struct workers *resolver; /* database host name look-ups */
	struct bus *bus;          /* for /ready */
	struct relay *relay;      /* woken by the cron binding */
};

/* Per event-loop state a call needs; touched only by its loop's thread. */
struct call_loop {
	struct db *db;                        /* this loop's PostgreSQL connections */
	struct outbox_waker *waker;           /* wakes the relay after commits */
	struct hub *hub;                      /* this loop's live sync sockets */
	struct workers *cpu;                  /* shared CPU workers (password hashing) */
	struct workers *sidecar;              /* shared workers for Dapr state calls */
	struct token_cache *tokens;           /* tokens this loop verified */
	h2o_multithread_receiver_t work_done; /* every pool's results come back here */
	int pending_jobs;                     /* for graceful shutdown */
};

/* Lives in the request's memory pool: gone when h2o disposes the request. */
struct call {
	h2o_req_t *req;
	const struct app *app;
	struct call_loop *loop;
	struct route_match route;
	enum http_method method;
	h2o_iovec_t path; /* the request target without its query */
	char request_id[CALL_REQUEST_ID_MAX + 1];
	h2o_iovec_t cors_origin; /* the request's Origin when allowed; else empty */
	struct timespec started;
	char *user_id; /* the authenticated subject, in req->pool */
};

/* Asynchronous work for a call: database statements (db, see store/db.h) and
 * CPU work on the workers. Embed it first in a handler's own job struct. The
 * handler's steps fill `reply`; call_job_finish sends it if the client is
 * still there, runs cleanup (may be NULL) and frees the job. */
struct call_job {
	struct db_job db; /* first */
	struct work work;
	struct call *call; /* NULL once the client went away */
	struct call_loop *loop;
	struct call_job_guard *guard;
	struct db_conn *conn; /* while one is lent */
	/* A round of several statements: the results before the last, which
	 * steps.on_result gets as `r`. Valid during that call only. */
	PGresult *round[DB_ROUND_MAX];
	int nround;
	char correlation_id[CALL_REQUEST_ID_MAX + 1]; /* the request's X-Request-Id */
	struct reply reply;
	void (*cleanup)(struct call_job *job);
	void (*after_work)(struct call_job *job);
	void (*cpu_run)(struct call_job *job);
	struct {
		void (*start)(struct call_job *job, struct db_conn *conn);
		void (*on_result)(struct call_job *job, struct db_conn *conn, PGresult *r);
	} steps;
	int step; /* the handler's own state */
};

/* Allocates a zeroed job of `size` bytes (at least sizeof(struct call_job))
 * bound to the call. */
void *call_job_new(struct call *c, size_t size);

/* Borrows a database connection: start() runs once one is lent (conn NULL:
 * the database is down), on_result() after each db_send. */
void call_job_query(struct call_job *job, void (*start)(struct call_job *job, struct db_conn *conn),
                    void (*on_result)(struct call_job *job, struct db_conn *conn, PGresult *r));

/* Runs `run` on a worker of `pool` (the loop's cpu or sidecar workers), then
 * `after` back on the loop. A connection the job holds is given back first. */
void call_job_offload(struct call_job *job, struct workers *pool, void (*run)(struct call_job *job),
                      void (*after)(struct call_job *job));

/* Releases the connection, if any, and answers: the last step of every job. */
void call_job_finish(struct call_job *job);

/* Sends the reply (and frees its buffers) and logs the request. */
void call_respond(struct call *c, struct reply *r);
void call_respond_error(struct call *c, int status, const char *code, const char *message,
                        const char *field);

/* Verifies the Bearer token and, for /api/{user_id}/ routes, that its subject
 * is the user of the path. On failure answers 401 or 403 and returns false. */
bool call_authenticate(struct call *c);
/* The same for a token found elsewhere (a WebSocket's subprotocol or
 * ?token=; NULL: none), with its claims. */
bool call_authenticate_token(struct call *c, const char *token, struct token_claims *claims);

/* Parses the JSON body. `optional`: an empty body gives NULL without error.
 * On failure answers 400, 413 or 415 and returns false. */
bool call_read_json(struct call *c, bool optional, json_t **out);

/* A request header's value, or NULL; the value is not NUL-terminated. */
const h2o_iovec_t *call_header(struct call *c, const char *lowercase_name);

#endif
