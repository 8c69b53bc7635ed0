#include "http/call.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/token_cache.h"
#include "core/jsonx.h"
#include "core/log.h"

/* Lives in the request's pool. h2o disposes it with the request, which can
 * happen before the job returns (an HTTP/2 client that cancels): the dispose
 * callback then detaches the job so its reply is dropped. Both run on the
 * loop thread, as does job_done. */
struct call_job_guard {
	struct call_job *job;
};

static void on_guard_dispose(void *p);
static void db_start(struct db_job *db, struct db_conn *conn);
static void db_result(struct db_job *db, struct db_conn *conn, PGresult *r);
static void work_run(struct work *w);
static void give_back_connection(struct call_job *job);
static void work_done(struct work *w);
static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *value, size_t len);
static double elapsed_ms(const struct timespec *since);
static const char *reason_phrase(int status);

void *call_job_new(struct call *c, size_t size)
{
	struct call_job *job = calloc(1, size);
	if (job == NULL)
		abort();
	job->call = c;
	job->loop = c->loop;
	snprintf(job->correlation_id, sizeof job->correlation_id, "%s", c->request_id);
	job->guard = h2o_mem_alloc_shared(&c->req->pool, sizeof *job->guard, on_guard_dispose);
	job->guard->job = job;
	job->loop->pending_jobs++;
	return job;
}

static void on_guard_dispose(void *p)
{
	struct call_job_guard *guard = p;
	if (guard->job)
		guard->job->call = NULL;
}

void call_job_query(struct call_job *job, void (*start)(struct call_job *job, struct db_conn *conn),
                    void (*on_result)(struct call_job *job, struct db_conn *conn, PGresult *r))
{
	job->steps.start = start;
	job->steps.on_result = on_result;
	job->db.start = db_start;
	job->db.on_result = db_result;
	job->db.read_only =
	    job->call && (job->call->method == METHOD_GET || job->call->method == METHOD_HEAD);
	db_acquire(job->loop->db, &job->db);
}

static void db_start(struct db_job *db, struct db_conn *conn)
{
	struct call_job *job = (struct call_job *)db;
	job->conn = conn;
	job->steps.start(job, conn);
}

static void db_result(struct db_job *db, struct db_conn *conn, PGresult *r)
{
	struct call_job *job = (struct call_job *)db;
	if (conn && db_results_left(conn) > 0) {
		job->round[job->nround++] = r;
		return;
	}
	/* The handler sees the whole round at its last result; the job may be
	 * gone when it returns, so the earlier results are cleared from a copy. */
	PGresult *earlier[DB_ROUND_MAX];
	int n = job->nround;
	memcpy(earlier, job->round, sizeof earlier);
	for (int i = n; i < DB_ROUND_MAX; i++)
		job->round[i] = NULL; /* nothing stale from an earlier round */
	job->nround = 0;
	job->conn = conn; /* NULL when the connection was lost */
	job->steps.on_result(job, conn, r);
	for (int i = 0; i < n; i++)
		PQclear(earlier[i]);
}

void call_job_offload(struct call_job *job, struct workers *pool, void (*run)(struct call_job *job),
                      void (*after)(struct call_job *job))
{
	/* A worker may take long (a sidecar call): the connection goes back
	 * first, so neither the pool nor a lost connection waits on it. */
	give_back_connection(job);
	job->cpu_run = run;
	job->after_work = after;
	job->work.reply_to = &job->loop->work_done;
	job->work.run = work_run;
	job->work.done = work_done;
	workers_submit(pool, &job->work);
}

static void work_run(struct work *w)
{
	struct call_job *job = H2O_STRUCT_FROM_MEMBER(struct call_job, work, w);
	job->cpu_run(job);
}

static void work_done(struct work *w)
{
	struct call_job *job = H2O_STRUCT_FROM_MEMBER(struct call_job, work, w);
	job->after_work(job);
}

static void give_back_connection(struct call_job *job)
{
	if (job->conn) {
		db_release(job->conn);
		job->conn = NULL;
	}
}

void call_job_finish(struct call_job *job)
{
	give_back_connection(job);
	job->loop->pending_jobs--;
	if (job->call) {
		job->guard->job = NULL;
		call_respond(job->call, &job->reply);
	}
	if (job->cleanup)
		job->cleanup(job);
	reply_free(&job->reply);
	free(job);
}

void call_respond(struct call *c, struct reply *r)
{
	h2o_req_t *req = c->req;
	req->res.status = r->status;
	req->res.reason = reason_phrase(r->status);
	if (r->body) {
		add_header(req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"));
		req->res.content_length = r->body_len;
	} else {
		req->res.content_length = 0;
	}
	add_header(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"));
	if (r->location)
		add_header(req, H2O_TOKEN_LOCATION, r->location, strlen(r->location));
	if (r->allow[0])
		add_header(req, H2O_TOKEN_ALLOW, r->allow, strlen(r->allow));
	if (r->etag_version > 0) {
		char etag[24];
		int n = snprintf(etag, sizeof etag, "\"%d\"", r->etag_version);
		add_header(req, H2O_TOKEN_ETAG, etag, (size_t)n);
	}
	if (r->retry_after > 0) {
		char secs[16];
		int n = snprintf(secs, sizeof secs, "%d", r->retry_after);
		add_header(req, H2O_TOKEN_RETRY_AFTER, secs, (size_t)n);
	}
	if (r->status == 401)
		add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, H2O_STRLIT("Bearer"));
	if (r->replayed)
		h2o_add_header_by_str(&req->pool, &req->res.headers,
		                      H2O_STRLIT("idempotent-replayed"), 0, NULL,
		                      H2O_STRLIT("true"));

	if (log_enabled(LOG_INFO) || r->status >= 500)
		log_fields(r->status >= 500 ? LOG_ERROR : LOG_INFO, "request", "s:request_id",
		           c->request_id, "s:method",
		           h2o_strdup(&req->pool, req->method.base, req->method.len).base, "s:path",
		           /* without the query: a WebSocket's ?token= must not reach the logs */
		           h2o_strdup(&req->pool, c->path.base, c->path.len).base, "i:status",
		           (long long)r->status, "f:duration_ms", elapsed_ms(&c->started), NULL);

	/* send_inline copies the body, so the reply's buffers can go now. */
	if (r->body)
		h2o_send_inline(req, r->body, r->body_len);
	else
		h2o_send_inline(req, "", 0);
	reply_free(r);
}

void call_respond_error(struct call *c, int status, const char *code, const char *message,
                        const char *field)
{
	struct reply r = {0};
	reply_error(&r, status, code, message, field);
	call_respond(c, &r);
}

bool call_authenticate(struct call *c)
{
	const h2o_iovec_t *auth = call_header(c, "authorization");
	if (auth == NULL || auth->len < 8 || strncasecmp(auth->base, "Bearer ", 7) != 0) {
		call_respond_error(c, 401, "unauthorized", "a Bearer token is required", NULL);
		return false;
	}
	char *token = h2o_strdup(&c->req->pool, auth->base + 7, auth->len - 7).base;
	while (*token == ' ')
		token++;
	struct token_claims claims;
	return call_authenticate_token(c, token, &claims);
}

bool call_authenticate_token(struct call *c, const char *token, struct token_claims *claims)
{
	if (token == NULL) {
		call_respond_error(c, 401, "unauthorized", "a token is required", NULL);
		return false;
	}
	int64_t now = time(NULL);
	if (!token_cache_get(c->loop->tokens, token, now, claims)) {
		enum token_status st = token_verify(&c->app->keys, token, now, claims);
		if (st != TOKEN_OK) {
			call_respond_error(c, 401, "unauthorized", token_status_text(st), NULL);
			return false;
		}
		token_cache_put(c->loop->tokens, token, claims);
	}
	if (c->route.user_id[0] && strcmp(c->route.user_id, claims->sub) != 0) {
		call_respond_error(c, 403, "forbidden", "the token belongs to another user", NULL);
		return false;
	}
	c->user_id = h2o_strdup(&c->req->pool, claims->sub, strlen(claims->sub)).base;
	return true;
}

bool call_read_json(struct call *c, bool optional, json_t **out)
{
	h2o_req_t *req = c->req;
	*out = NULL;
	if (req->entity.base == NULL || req->entity.len == 0) {
		if (optional)
			return true;
		call_respond_error(c, 400, "bad_json", "a JSON body is required", NULL);
		return false;
	}
	if (req->entity.len > CALL_MAX_BODY) {
		call_respond_error(c, 413, "payload_too_large", "the body is larger than 1 MiB",
		                   NULL);
		return false;
	}
	const h2o_iovec_t *type = call_header(c, "content-type");
	if (type == NULL || type->len < 16 ||
	    strncasecmp(type->base, "application/json", 16) != 0 ||
	    (type->len > 16 && type->base[16] != ';' && type->base[16] != ' ')) {
		call_respond_error(c, 415, "unsupported_media_type",
		                   "the body must be application/json", NULL);
		return false;
	}
	json_error_t err;
	json_t *body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &err);
	if (body == NULL && json_error_code(&err) == json_error_numeric_overflow)
		/* Valid JSON all the same: let the field's own check name it. */
		body = json_loadb(req->entity.base, req->entity.len,
		                  JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
	if (body == NULL) {
		char msg[96];
		snprintf(msg, sizeof msg, "malformed JSON at line %d, column %d", err.line,
		         err.column);
		call_respond_error(c, 400, "bad_json", msg, NULL);
		return false;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		call_respond_error(c, 400, "bad_json", "the body must be a JSON object", NULL);
		return false;
	}
	*out = body;
	return true;
}

const h2o_iovec_t *call_header(struct call *c, const char *lowercase_name)
{
	ssize_t i =
	    h2o_find_header_by_str(&c->req->headers, lowercase_name, strlen(lowercase_name), -1);
	return i < 0 ? NULL : &c->req->headers.entries[i].value;
}

/* h2o keeps pointers to header values until the response is written. */
static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *value, size_t len)
{
	h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
	h2o_add_header(&req->pool, &req->res.headers, token, NULL, v.base, v.len);
}

static double elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "";
	}
}
