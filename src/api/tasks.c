/* /api/{user_id}/tasks and /api/{user_id}/tasks/{id}[/complete]. */
#include "api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "store/tasks_sql.h"

#define IDEMPOTENCY_KEY_MAX 255

struct task_job {
	struct call_job base;
	char user_id[ROUTER_USER_ID_MAX + 1];
	int64_t task_id;
	int32_t expected_version; /* 0: unconditional */
	struct task_input input;
	struct query query; /* owns the strings `list` points to */
	struct task_list_query list;
	char *idempotency_key;
	char request_hash[65];
};

static struct task_job *new_task_job(struct call *c, void (*run)(struct call_job *,
								   struct db_conn *));
static void free_task_job(struct call_job *base);
static bool read_if_match(struct call *c, struct task_job *job);
static bool read_idempotency_key(struct call *c, struct task_job *job, const json_t *body);
static void reply_task(struct reply *r, int status, struct task_doc *task);
static void reply_conflict(struct reply *r, struct task_doc *current);
static void reply_write_result(struct reply *r, enum store_result res, struct task_doc *task);
static char *task_location(const char *user_id, int64_t task_id);
static void run_list(struct call_job *base, struct db_conn *conn);
static void run_create(struct call_job *base, struct db_conn *conn);
static void run_create_idempotent(struct task_job *job, struct db_conn *conn);
static bool replay(struct reply *r, struct idempotent_response *stored, const char *hash);
static void run_get(struct call_job *base, struct db_conn *conn);
static void run_update(struct call_job *base, struct db_conn *conn);
static void run_delete(struct call_job *base, struct db_conn *conn);

void api_tasks_list(struct call *c)
{
	if (!call_authenticate(c))
		return;
	struct task_job *job = new_task_job(c, run_list);
	h2o_req_t *req = c->req;
	struct api_error err;
	if (req->query_at != SIZE_MAX &&
	    !query_parse(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1,
			 &job->query)) {
		call_respond_error(c, 400, "bad_request", "the query string is malformed", NULL);
		goto fail;
	}
	if (!task_list_query_parse(&job->query, &job->list, &err)) {
		struct reply r = {0};
		reply_api_error(&r, &err);
		call_respond(c, &r);
		goto fail;
	}
	call_submit(c, &job->base);
	return;
fail:
	free_task_job(&job->base);
	free(job);
}

void api_tasks_create(struct call *c)
{
	json_t *body;
	struct api_error err;
	if (!call_authenticate(c) || !call_read_json(c, false, &body))
		return;
	struct task_job *job = new_task_job(c, run_create);
	if (!task_input_parse(body, TASK_INPUT_CREATE, &job->input, &err)) {
		struct reply r = {0};
		reply_api_error(&r, &err);
		call_respond(c, &r);
		goto fail;
	}
	if (!read_idempotency_key(c, job, body))
		goto fail;
	json_decref(body);
	call_submit(c, &job->base);
	return;
fail:
	json_decref(body);
	free_task_job(&job->base);
	free(job);
}

void api_task_get(struct call *c)
{
	if (!call_authenticate(c))
		return;
	call_submit(c, &new_task_job(c, run_get)->base);
}

/* PUT and PATCH (partial update), and PATCH .../complete. */
static void update(struct call *c, enum task_input_kind kind)
{
	json_t *body;
	struct api_error err;
	if (!call_authenticate(c) || !call_read_json(c, kind == TASK_INPUT_COMPLETE, &body))
		return;
	struct task_job *job = new_task_job(c, run_update);
	if (body == NULL) {
		/* PATCH .../complete without a body marks the task completed. */
		job->input.present = FIELD_COMPLETED;
		job->input.completed = true;
	} else if (!task_input_parse(body, kind, &job->input, &err)) {
		struct reply r = {0};
		reply_api_error(&r, &err);
		call_respond(c, &r);
		goto fail;
	} else if (kind == TASK_INPUT_COMPLETE && !(job->input.present & FIELD_COMPLETED)) {
		job->input.present = FIELD_COMPLETED;
		job->input.completed = true;
	}
	if (job->input.present & FIELD_VERSION)
		job->expected_version = job->input.version;
	if (!read_if_match(c, job))
		goto fail;
	json_decref(body);
	call_submit(c, &job->base);
	return;
fail:
	json_decref(body);
	free_task_job(&job->base);
	free(job);
}

void api_task_update(struct call *c)
{
	update(c, TASK_INPUT_UPDATE);
}

void api_task_complete(struct call *c)
{
	update(c, TASK_INPUT_COMPLETE);
}

void api_task_delete(struct call *c)
{
	if (!call_authenticate(c))
		return;
	struct task_job *job = new_task_job(c, run_delete);
	if (!read_if_match(c, job)) {
		free_task_job(&job->base);
		free(job);
		return;
	}
	call_submit(c, &job->base);
}

static void run_list(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	char *body;
	size_t len;
	enum store_result res = tasks_list(conn, job->user_id, &job->list, &body, &len);
	if (res != STORE_OK)
		api_reply_store_failure(&base->reply, res);
	else
		reply_raw(&base->reply, 200, body, len);
}

static void run_create(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	if (job->idempotency_key) {
		run_create_idempotent(job, conn);
		return;
	}
	struct task_doc task;
	enum store_result res = tasks_insert(conn, job->user_id, &job->input, &task);
	if (res != STORE_OK) {
		api_reply_store_failure(&base->reply, res);
		return;
	}
	base->reply.location = task_location(job->user_id, task.id);
	reply_task(&base->reply, 201, &task);
}

/* The task and the response that created it are committed together, so a
 * retry finds either both or neither. Two concurrent requests with one key:
 * the second's insert of the key waits for the first to commit, then finds
 * it taken, rolls its task back and answers the first's response. */
static void run_create_idempotent(struct task_job *job, struct db_conn *conn)
{
	struct reply *r = &job->base.reply;
	struct idempotent_response stored = {0};
	enum store_result res = idempotency_find(conn, job->user_id, job->idempotency_key, &stored);
	if (res == STORE_OK) {
		replay(r, &stored, job->request_hash);
		return;
	}
	if (res != STORE_NOT_FOUND || !db_command(conn, "BEGIN")) {
		api_reply_store_failure(r, res == STORE_NOT_FOUND ? STORE_UNAVAILABLE : res);
		return;
	}
	struct task_doc task;
	res = tasks_insert(conn, job->user_id, &job->input, &task);
	if (res != STORE_OK)
		goto rollback;
	r->location = task_location(job->user_id, task.id);
	reply_task(r, 201, &task);
	struct idempotent_response mine = {.status = 201, .location = r->location, .body = r->body};
	memcpy(mine.request_hash, job->request_hash, sizeof mine.request_hash);
	res = idempotency_save(conn, job->user_id, job->idempotency_key, &mine);
	if (res == STORE_OK) {
		if (!db_command(conn, "COMMIT"))
			api_reply_store_failure(r, db_is_up(conn) ? STORE_FAILED : STORE_UNAVAILABLE);
		return;
	}
	if (res == STORE_CONFLICT) {
		db_command(conn, "ROLLBACK");
		reply_free(r);
		*r = (struct reply){0};
		res = idempotency_find(conn, job->user_id, job->idempotency_key, &stored);
		if (res == STORE_OK)
			replay(r, &stored, job->request_hash);
		else
			api_reply_store_failure(r, res == STORE_NOT_FOUND ? STORE_FAILED : res);
		return;
	}
rollback:
	db_command(conn, "ROLLBACK");
	reply_free(r);
	*r = (struct reply){0};
	api_reply_store_failure(r, res);
}

/* Answers with a stored response (taking its buffers), or 422 when the
 * stored request differs from this one. */
static bool replay(struct reply *r, struct idempotent_response *stored, const char *hash)
{
	if (strcmp(stored->request_hash, hash) != 0) {
		idempotent_response_free(stored);
		reply_error(r, 422, "idempotency_key_reused",
			    "this Idempotency-Key was used with a different request",
			    "Idempotency-Key");
		return false;
	}
	r->status = stored->status;
	r->body = stored->body;
	r->body_len = strlen(stored->body);
	r->location = stored->location;
	r->replayed = true;
	return true;
}

static void run_get(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	struct task_doc task = {0};
	enum store_result res = tasks_get(conn, job->user_id, job->task_id, &task);
	reply_write_result(&base->reply, res, &task);
}

static void run_update(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	struct task_doc task = {0};
	enum store_result res = tasks_update(conn, job->user_id, job->task_id, &job->input,
					     job->expected_version, &task);
	reply_write_result(&base->reply, res, &task);
}

static void run_delete(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	struct task_doc current = {0};
	enum store_result res = tasks_delete(conn, job->user_id, job->task_id,
					     job->expected_version, &current);
	if (res == STORE_OK)
		reply_json(&base->reply, 204, NULL);
	else
		reply_write_result(&base->reply, res, &current);
}

static void reply_write_result(struct reply *r, enum store_result res, struct task_doc *task)
{
	switch (res) {
	case STORE_OK:
		reply_task(r, 200, task);
		return;
	case STORE_CONFLICT:
		reply_conflict(r, task);
		return;
	case STORE_NOT_FOUND:
		reply_error(r, 404, "not_found", "no such task", NULL);
		return;
	default:
		api_reply_store_failure(r, res);
	}
}

/* Takes the document's JSON. */
static void reply_task(struct reply *r, int status, struct task_doc *task)
{
	r->etag_version = task->version;
	reply_raw(r, status, task->json, task->len);
	task->json = NULL;
}

static void reply_conflict(struct reply *r, struct task_doc *current)
{
	struct strbuf b = {0};
	strbuf_printf(&b,
		      "{\"error\":{\"code\":\"version_conflict\",\"message\":\"the task was "
		      "changed by someone else; see current\"},\"current\":%s}",
		      current->json);
	task_doc_free(current);
	r->etag_version = current->version;
	size_t len = b.len;
	reply_raw(r, 409, strbuf_steal(&b), len);
}

static char *task_location(const char *user_id, int64_t task_id)
{
	char buf[3 * ROUTER_USER_ID_MAX + 64];
	size_t o = (size_t)snprintf(buf, sizeof buf, "/api/");
	for (const unsigned char *p = (const unsigned char *)user_id; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~')
			buf[o++] = (char)*p;
		else
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%%%02X", *p);
	}
	snprintf(buf + o, sizeof buf - o, "/tasks/%lld", (long long)task_id);
	return strdup(buf);
}

static bool read_if_match(struct call *c, struct task_job *job)
{
	const h2o_iovec_t *v = call_header(c, "if-match");
	if (v == NULL || (v->len == 1 && v->base[0] == '*'))
		return true;
	if (!task_parse_if_match(v->base, v->len, &job->expected_version)) {
		call_respond_error(c, 400, "bad_request", "If-Match must be a task version",
				   "If-Match");
		return false;
	}
	return true;
}

static bool read_idempotency_key(struct call *c, struct task_job *job, const json_t *body)
{
	const h2o_iovec_t *v = call_header(c, "idempotency-key");
	if (v == NULL)
		return true;
	bool valid = v->len >= 1 && v->len <= IDEMPOTENCY_KEY_MAX;
	for (size_t i = 0; valid && i < v->len; i++)
		valid = v->base[i] > 0x20 && v->base[i] < 0x7f;
	if (!valid) {
		call_respond_error(c, 400, "bad_request",
				   "Idempotency-Key must be 1 to 255 printable characters",
				   "Idempotency-Key");
		return false;
	}
	job->idempotency_key = strndup(v->base, v->len);
	/* The same request is the same JSON, whatever its spacing or key order. */
	char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char digest[32];
	crypto_generichash(digest, sizeof digest, (const unsigned char *)canonical,
			   strlen(canonical), NULL, 0);
	free(canonical);
	sodium_bin2hex(job->request_hash, sizeof job->request_hash, digest, sizeof digest);
	return true;
}

static struct task_job *new_task_job(struct call *c,
				     void (*run)(struct call_job *, struct db_conn *))
{
	struct task_job *job = call_job_new(sizeof *job);
	job->base.run = run;
	job->base.cleanup = free_task_job;
	snprintf(job->user_id, sizeof job->user_id, "%s", c->route.user_id);
	job->task_id = c->route.task_id;
	return job;
}

static void free_task_job(struct call_job *base)
{
	struct task_job *job = (struct task_job *)base;
	task_input_free(&job->input);
	query_free(&job->query);
	free(job->idempotency_key);
}
