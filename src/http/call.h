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
#include "store/pool.h"

#define CALL_MAX_BODY (1024 * 1024)
#define CALL_REQUEST_ID_MAX 128

/* Shared by every thread; read-only once the server runs. */
struct app {
	const struct config *cfg;
	struct db_pool *pool;
	struct token_keys keys;
};

/* Per event-loop state a call needs. */
struct call_loop {
	h2o_multithread_receiver_t replies; /* jobs come back here */
	int pending_jobs;                   /* for graceful shutdown */
};

/* Lives in the request's memory pool: gone when h2o disposes the request. */
struct call {
	h2o_req_t *req;
	const struct app *app;
	struct call_loop *loop;
	struct route_match route;
	enum http_method method;
	char request_id[CALL_REQUEST_ID_MAX + 1];
	h2o_iovec_t cors_origin; /* the request's Origin when allowed; else empty */
	struct timespec started;
	char *user_id; /* the authenticated subject, in req->pool */
};

/* A unit of database work for a call. Embed it first in a handler's own job
 * struct. The worker fills `reply`; the loop sends it if the client is still
 * there, then calls cleanup (may be NULL) and frees the job. */
struct call_job {
	struct db_job db; /* first */
	struct call *call; /* NULL once the client went away */
	struct call_loop *loop;
	struct call_job_guard *guard;
	struct reply reply;
	void (*run)(struct call_job *job, struct db_conn *conn);
	void (*cleanup)(struct call_job *job);
};

/* Allocates a zeroed job of `size` bytes (at least sizeof(struct call_job)). */
void *call_job_new(size_t size);
/* Queues the job; `run` executes on a database worker. */
void call_submit(struct call *c, struct call_job *job);

/* Sends the reply (and frees its buffers) and logs the request. */
void call_respond(struct call *c, struct reply *r);
void call_respond_error(struct call *c, int status, const char *code, const char *message,
			const char *field);

/* Verifies the Bearer token and, for /api/{user_id}/ routes, that its subject
 * is the user of the path. On failure answers 401 or 403 and returns false. */
bool call_authenticate(struct call *c);

/* Parses the JSON body. `optional`: an empty body gives NULL without error.
 * On failure answers 400, 413 or 415 and returns false. */
bool call_read_json(struct call *c, bool optional, json_t **out);

/* A request header's value, or NULL; the value is not NUL-terminated. */
const h2o_iovec_t *call_header(struct call *c, const char *lowercase_name);

#endif
