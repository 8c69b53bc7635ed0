/* /api/{user_id}/tasks and /api/{user_id}/tasks/{id}[/complete]. */
#include "api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/uuid.h"
#include "event/event.h"
#include "store/events_sql.h"
#include "store/outbox.h"
#include "store/dapr_state.h"
#include "store/tasks_sql.h"

#define IDEMPOTENCY_KEY_MAX 255

struct task_job {
	struct call_job base;
	char user_id[ROUTER_USER_ID_MAX + 1];
	int64_t task_id;
	int32_t if_match; /* 0: unconditional */
	struct task_input input;
	struct query query; /* owns the strings `list` points to */
	struct task_list_query list;
	char *idempotency_key;
	char request_hash[65];
	enum event_type event; /* of a write, once its outcome is known */
	bool append_in_commit; /* the commit round: [append event], COMMIT, [NOTIFY] */
	bool notify_in_commit;
	/* With USE_DAPR the key's record lives in the sidecar's state store
	 * (worker threads reach it): reserved before the task is written, and
	 * completed with the response after. */
	const struct config *cfg;
	char state_key[80];
	char nonce[UUID_TEXT_LEN];
	struct state_value record;
	enum { KEY_FOUND, KEY_RESERVED, KEY_FAILED } key_outcome;
	/* The create may have committed although the server did not say so (the
	 * connection was lost after it went out): the reservation must not be
	 * given up. Read only once the create failed. */
	bool outcome_unknown;
};

/* Every write commits with its event (docs/events.md):
 *   create:  [create task and event] (one statement, its own transaction; the
 *            relay's wake-up follows from the loop's outbox waker, since a
 *            NOTIFY inside the transaction would serialize its commit)
 *   with an Idempotency-Key: [find key] -> [BEGIN, create task and event] ->
 *            [save key] -> [COMMIT], or, when a concurrent request saved
 *            the key first, [ROLLBACK] -> [find key] -> replay
 *   update, complete, delete: [BEGIN, lock task, write] -> [append event, COMMIT]
 * A step that fails just finishes the job: the open transaction is rolled
 * back before the connection serves anyone else. */
enum {
	STEP_FIND_KEY,
	STEP_WRITE,
	STEP_SAVE_KEY,
	STEP_COMMIT,
	STEP_ROLLBACK,
	STEP_FIND_KEY_AGAIN,
};

static struct task_job *new_task_job(struct call *c);
static void free_task_job(struct call_job *base);
static bool read_if_match(struct call *c, struct task_job *job);
static bool read_idempotency_key(struct call *c, struct task_job *job, const json_t *body);
static void reply_task(struct reply *r, int status, struct task_doc *task);
static void reply_conflict(struct reply *r, struct task_doc *current);
static void reply_write_result(struct reply *r, enum store_result res, struct task_doc *task);
static char *task_location(const char *user_id, int64_t task_id);
static void list_start(struct call_job *base, struct db_conn *conn);
static void list_result(struct call_job *base, struct db_conn *conn, PGresult *r);
static void create_start(struct call_job *base, struct db_conn *conn);
static void create_result(struct call_job *base, struct db_conn *conn, PGresult *r);
static bool keyed_in_database(const struct task_job *job);
static void send_create(struct task_job *job, struct db_conn *conn);
static enum store_result read_create(struct task_job *job, PGresult *last, struct task_doc *task);
static void replay(struct reply *r, struct idempotent_response *stored, const char *hash);
static void get_start(struct call_job *base, struct db_conn *conn);
static void update_start(struct call_job *base, struct db_conn *conn);
static void delete_start(struct call_job *base, struct db_conn *conn);
static void get_result(struct call_job *base, struct db_conn *conn, PGresult *r);
static void write_result(struct call_job *base, struct db_conn *conn, PGresult *r);
static void send_event(struct task_job *job, struct db_conn *conn, int64_t task_id, char *data);
static void send_commit(struct task_job *job, struct db_conn *conn, const struct db_stmt *append);
static bool commit_succeeded(struct task_job *job, PGresult *last);
static void finish_create(struct task_job *job);
static bool refused_by_server(const struct db_conn *conn, const PGresult *r);
static void reserve_key(struct call_job *base);
static void after_reserve(struct call_job *base);
static void complete_key(struct call_job *base);

void api_tasks_list(struct call *c)
{
	if (!call_authenticate(c))
		return;
	struct task_job *job = new_task_job(c);
	h2o_req_t *req = c->req;
	struct api_error err;
	if (req->query_at != SIZE_MAX &&
	    !query_parse(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1,
	                 &job->query)) {
		reply_error(&job->base.reply, 400, "bad_request", "the query string is malformed",
		            NULL);
		call_job_finish(&job->base);
	} else if (!task_list_query_parse(&job->query, &job->list, &err)) {
		reply_api_error(&job->base.reply, &err);
		call_job_finish(&job->base);
	} else {
		call_job_query(&job->base, list_start, list_result);
	}
}

void api_tasks_create(struct call *c)
{
	json_t *body;
	struct api_error err;
	if (!call_authenticate(c) || !call_read_json(c, false, &body))
		return;
	struct task_job *job = new_task_job(c);
	if (!task_input_parse(body, TASK_INPUT_CREATE, &job->input, &err)) {
		reply_api_error(&job->base.reply, &err);
		call_job_finish(&job->base);
	} else if (read_idempotency_key(c, job, body)) {
		if (job->idempotency_key && c->app->cfg->use_dapr)
			call_job_offload(&job->base, job->base.loop->sidecar, reserve_key,
			                 after_reserve);
		else
			call_job_query(&job->base, create_start, create_result);
	}
	json_decref(body);
}

void api_task_get(struct call *c)
{
	if (!call_authenticate(c))
		return;
	call_job_query(&new_task_job(c)->base, get_start, get_result);
}

/* PUT and PATCH (partial update), and PATCH .../complete. */
static void update(struct call *c, enum task_input_kind kind)
{
	json_t *body;
	struct api_error err;
	if (!call_authenticate(c) || !call_read_json(c, kind == TASK_INPUT_COMPLETE, &body))
		return;
	struct task_job *job = new_task_job(c);
	if (body && !task_input_parse(body, kind, &job->input, &err)) {
		reply_api_error(&job->base.reply, &err);
		call_job_finish(&job->base);
	} else if (read_if_match(c, job)) {
		/* PATCH .../complete without "completed" marks the task completed. */
		if (kind == TASK_INPUT_COMPLETE && !(job->input.present & FIELD_COMPLETED)) {
			job->input.present |= FIELD_COMPLETED;
			job->input.completed = true;
		}
		call_job_query(&job->base, update_start, write_result);
	}
	json_decref(body);
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
	struct task_job *job = new_task_job(c);
	if (read_if_match(c, job))
		call_job_query(&job->base, delete_start, write_result);
}

static void list_start(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	if (!api_finish_if_down(base, conn))
		tasks_send_list(conn, job->user_id, &job->list);
}

static void list_result(struct call_job *base, struct db_conn *conn, PGresult *r)
{
	(void)conn;
	struct task_job *job = (struct task_job *)base;
	char *body;
	size_t len;
	enum store_result res = tasks_read_list(r, &job->list, &body, &len);
	if (res != STORE_OK)
		api_reply_store_failure(&base->reply, res);
	else
		reply_raw(&base->reply, 200, body, len);
	call_job_finish(base);
}

static void create_start(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	if (conn == NULL) { /* nothing was sent: a reserved key is given up */
		api_reply_store_failure(&base->reply, STORE_UNAVAILABLE);
		finish_create(job);
		return;
	}
	if (keyed_in_database(job)) {
		base->step = STEP_FIND_KEY;
		idempotency_send_find(conn, job->user_id, job->idempotency_key);
	} else {
		send_create(job, conn);
	}
}

/* Without USE_DAPR the key's record is a row written in the task's transaction. */
static bool keyed_in_database(const struct task_job *job)
{
	return job->idempotency_key && job->key_outcome != KEY_RESERVED;
}

static void send_create(struct task_job *job, struct db_conn *conn)
{
	struct task_create create;
	tasks_create_stmt(job->user_id, &job->input, job->base.correlation_id, &create);
	job->base.step = STEP_WRITE;
	if (keyed_in_database(job)) {
		const struct db_stmt round[] = {{"BEGIN", 0, NULL}, create.stmt};
		db_send_many(conn, 2, round);
	} else {
		db_send_many(conn, 1, &create.stmt);
	}
	tasks_create_free(&create);
}

/* The create round; without a key it was the whole transaction. */
static enum store_result read_create(struct task_job *job, PGresult *last, struct task_doc *task)
{
	bool keyed = keyed_in_database(job);
	enum store_result res = keyed ? store_status(job->base.round[0], "begin") : STORE_OK;
	if (res == STORE_OK)
		res = tasks_read_created(last, task);
	PQclear(last);
	if (res == STORE_OK && !keyed)
		outbox_waker_committed(job->base.loop->waker);
	return res;
}

static void create_result(struct call_job *base, struct db_conn *conn, PGresult *r)
{
	struct task_job *job = (struct task_job *)base;
	struct reply *reply = &base->reply;
	struct idempotent_response stored = {0};
	struct task_doc task;
	enum store_result res;

	switch (base->step) {
	case STEP_FIND_KEY:
	case STEP_FIND_KEY_AGAIN:
		res = idempotency_read_find(r, &stored);
		if (res == STORE_OK) {
			replay(reply, &stored, job->request_hash);
			break;
		}
		if (res != STORE_NOT_FOUND || base->step == STEP_FIND_KEY_AGAIN) {
			api_reply_store_failure(reply, res == STORE_NOT_FOUND ? STORE_FAILED : res);
			break;
		}
		send_create(job, conn);
		return;
	case STEP_WRITE:
		job->outcome_unknown = !refused_by_server(conn, r);
		res = conn ? read_create(job, r, &task) : STORE_UNAVAILABLE;
		if (res != STORE_OK) {
			api_reply_store_failure(reply, res);
			finish_create(job);
			return;
		}
		reply->location = task_location(job->user_id, task.id);
		reply_task(reply, 201, &task);
		if (!keyed_in_database(job)) {
			finish_create(job);
			return;
		}
		struct idempotent_response mine = {
		    .status = 201, .location = reply->location, .body = reply->body};
		memcpy(mine.request_hash, job->request_hash, sizeof mine.request_hash);
		struct idempotency_save save;
		idempotency_save_stmt(job->user_id, job->idempotency_key, &mine, &save);
		base->step = STEP_SAVE_KEY;
		db_send_many(conn, 1, &save.stmt);
		return;
	case STEP_SAVE_KEY:
		res = idempotency_read_save(r);
		PQclear(r);
		if (res == STORE_OK) {
			send_commit(job, conn, NULL);
			return;
		}
		reply_free(reply);
		*reply = (struct reply){0};
		if (res != STORE_CONFLICT) {
			api_reply_store_failure(reply, res);
			break;
		}
		base->step = STEP_ROLLBACK;
		db_send(conn, "ROLLBACK", 0, NULL);
		return;
	case STEP_COMMIT:
		commit_succeeded(job, r);
		finish_create(job); /* the reply is the one built at STEP_WRITE */
		return;
	case STEP_ROLLBACK:
		if ((res = store_check(r, "rollback")) != STORE_OK) {
			api_reply_store_failure(reply, res);
			break;
		}
		PQclear(r);
		base->step = STEP_FIND_KEY_AGAIN;
		idempotency_send_find(conn, job->user_id, job->idempotency_key);
		return;
	}
	call_job_finish(base);
}

/* Idempotency-Key with USE_DAPR: [reserve the key in the state store] ->
 * create as without a key -> [complete the key with the response]. A
 * request that finds the key done replays it; one that finds it reserved
 * by a request still running gets 409. A reservation expires after
 * RESERVATION_TTL, so a crash between the task and the completion leaves
 * the key usable again, not blocked for a day. */
#define RESERVATION_TTL 60
#define RECORD_TTL      (24 * 3600)

static void reserve_key(struct call_job *base) /* worker thread */
{
	struct task_job *job = (struct task_job *)base;
	char pending[256];
	uuid_v4(job->nonce);
	snprintf(pending, sizeof pending,
	         "{\"state\":\"pending\",\"hash\":\"%s\",\"nonce\":\"%s\"}", job->request_hash,
	         job->nonce);
	for (int attempt = 0; attempt < 2; attempt++) {
		state_value_free(&job->record);
		enum state_result got = dapr_state_get(job->cfg, job->state_key, &job->record);
		if (got == STATE_OK) {
			job->key_outcome =
			    strstr(job->record.json, job->nonce) ? KEY_RESERVED : KEY_FOUND;
			return;
		}
		if (got != STATE_MISSING)
			break;
		/* Created, or another request got there first (Redis refuses a second
		 * first write with a plain 500): the next read tells which, and the ETag. */
		dapr_state_put(job->cfg, job->state_key, pending, NULL, RESERVATION_TTL);
	}
	job->key_outcome = KEY_FAILED;
}

static void after_reserve(struct call_job *base)
{
	struct task_job *job = (struct task_job *)base;
	if (job->key_outcome == KEY_RESERVED) {
		call_job_query(base, create_start, create_result);
		return;
	}
	if (job->key_outcome == KEY_FAILED) {
		reply_error(&base->reply, 503, "unavailable",
		            "the state store is unavailable; try again", NULL);
		call_job_finish(base);
		return;
	}
	json_t *rec = json_loads(job->record.json, 0, NULL);
	const char *state = json_string_value(json_object_get(rec, "state"));
	const char *hash = json_string_value(json_object_get(rec, "hash"));
	if (hash && strcmp(hash, job->request_hash) != 0) {
		reply_error(&base->reply, 422, "idempotency_key_reused",
		            "this Idempotency-Key was used with a different request",
		            "Idempotency-Key");
	} else if (state && strcmp(state, "done") == 0) {
		struct idempotent_response stored = {
		    .status = (int)json_integer_value(json_object_get(rec, "status")),
		    .body = strdup(json_string_value(json_object_get(rec, "body")) ?: "{}")};
		const char *location = json_string_value(json_object_get(rec, "location"));
		stored.location = location ? strdup(location) : NULL;
		snprintf(stored.request_hash, sizeof stored.request_hash, "%s", job->request_hash);
		replay(&base->reply, &stored, job->request_hash);
	} else {
		reply_error(&base->reply, 409, "idempotency_key_in_use",
		            "a request with this Idempotency-Key is still being processed",
		            "Idempotency-Key");
	}
	json_decref(rec);
	call_job_finish(base);
}

/* The end of every create: with a reserved key, complete it (or give it up
 * when the create failed) before answering. */
static void finish_create(struct task_job *job)
{
	if (job->key_outcome == KEY_RESERVED)
		call_job_offload(&job->base, job->base.loop->sidecar, complete_key,
		                 call_job_finish);
	else
		call_job_finish(&job->base);
}

/* Only the server's own error (it has a SQLSTATE), or a round it aborted,
 * says the create did not commit. A lost connection, or libpq giving up on
 * one, leaves it unknown; so does a success we could not read. */
static bool refused_by_server(const struct db_conn *conn, const PGresult *r)
{
	if (conn == NULL || r == NULL || db_result_ok(r))
		return false;
	return PQresultStatus(r) == PGRES_PIPELINE_ABORTED || db_sqlstate(r)[0] != '\0';
}

static void complete_key(struct call_job *base) /* worker thread */
{
	struct task_job *job = (struct task_job *)base;
	struct reply *r = &base->reply;
	if (r->status != 201) {
		/* A retry may go ahead at once; but when the create may have
		 * committed, it gets 409 until the reservation expires instead of
		 * making a second task. */
		if (!job->outcome_unknown)
			dapr_state_delete(job->cfg, job->state_key, job->record.etag);
		return;
	}
	json_t *rec = json_pack("{s:s, s:s, s:i, s:s%}", "state", "done", "hash", job->request_hash,
	                        "status", r->status, "body", r->body, r->body_len);
	json_object_set_new(rec, "location", jsonx_string_or_null(r->location));
	char *json = jsonx_dump_steal(rec, NULL);
	if (dapr_state_put(job->cfg, job->state_key, json, job->record.etag, RECORD_TTL) !=
	    STATE_OK)
		log_fields(LOG_WARN,
		           "could not record an Idempotency-Key's response; a retry within a "
		           "minute gets 409, later ones create again",
		           "s:request_id", base->correlation_id, NULL);
	free(json);
}

/* Answers with a stored response (taking its buffers), or 422 when the
 * stored request differs from this one. */
static void replay(struct reply *r, struct idempotent_response *stored, const char *hash)
{
	if (strcmp(stored->request_hash, hash) != 0) {
		idempotent_response_free(stored);
		reply_error(r, 422, "idempotency_key_reused",
		            "this Idempotency-Key was used with a different request",
		            "Idempotency-Key");
		return;
	}
	r->status = stored->status;
	r->body = stored->body;
	r->body_len = strlen(stored->body);
	r->location = stored->location;
	r->replayed = true;
}

/* Appends the job's event (taking `data`) in the COMMIT's round. */
static void send_event(struct task_job *job, struct db_conn *conn, int64_t task_id, char *data)
{
	char event_id[UUID_TEXT_LEN], aggregate[24];
	uuid_v4(event_id);
	snprintf(aggregate, sizeof aggregate, "%lld", (long long)task_id);
	struct new_event e = {.event_id = event_id,
	                      .type = event_type_name(job->event),
	                      .user_id = job->user_id,
	                      .aggregate_id = aggregate,
	                      .correlation_id = job->base.correlation_id,
	                      .data = data};
	struct event_append append;
	events_append_stmt(&e, &append);
	send_commit(job, conn, &append.stmt);
	free(data);
}

/* [append], COMMIT, and the relay's wake-up when it is this round's turn
 * (store/outbox.h). */
static void send_commit(struct task_job *job, struct db_conn *conn, const struct db_stmt *append)
{
	struct db_stmt round[3];
	int n = 0;
	job->append_in_commit = append != NULL;
	if (append)
		round[n++] = *append;
	round[n++] = (struct db_stmt){"COMMIT", 0, NULL};
	job->notify_in_commit = outbox_waker_take(job->base.loop->waker);
	if (job->notify_in_commit)
		round[n++] = OUTBOX_NOTIFY;
	job->base.step = STEP_COMMIT;
	db_send_many(conn, n, round);
}

/* Reads the commit round (`last` is its last result, the others wait in
 * round[]). On failure the reply becomes the failure. */
static bool commit_succeeded(struct task_job *job, PGresult *last)
{
	struct call_job *base = &job->base;
	int n = job->append_in_commit + 1 + job->notify_in_commit;
	const PGresult *results[3];
	for (int i = 0; i < n - 1; i++)
		results[i] = base->round[i];
	results[n - 1] = last;

	int i = 0;
	enum store_result res = STORE_OK;
	if (job->append_in_commit)
		res = store_status(results[i++], "append event");
	if (res == STORE_OK)
		res = store_status(results[i], "commit");
	/* A failed NOTIFY costs only latency: the relay's sweep finds the event. */
	PQclear(last);
	if (res == STORE_OK) {
		if (!job->notify_in_commit)
			outbox_waker_committed(base->loop->waker);
		return true;
	}
	reply_free(&base->reply);
	base->reply = (struct reply){0};
	api_reply_store_failure(&base->reply, res);
	return false;
}

static void get_start(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	if (!api_finish_if_down(base, conn))
		tasks_send_get(conn, job->user_id, job->task_id);
}

static void get_result(struct call_job *base, struct db_conn *conn, PGresult *r)
{
	(void)conn;
	struct task_doc task = {0};
	reply_write_result(&base->reply, tasks_read_task(r, &task), &task);
	call_job_finish(base);
}

static void update_start(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	if (api_finish_if_down(base, conn))
		return;
	base->step = STEP_WRITE;
	tasks_send_update_tx(conn, job->user_id, job->task_id, &job->input, job->if_match);
}

static void delete_start(struct call_job *base, struct db_conn *conn)
{
	struct task_job *job = (struct task_job *)base;
	if (api_finish_if_down(base, conn))
		return;
	base->step = STEP_WRITE;
	tasks_send_delete_tx(conn, job->user_id, job->task_id, job->if_match);
}

/* Update, complete and delete. */
static void write_result(struct call_job *base, struct db_conn *conn, PGresult *r)
{
	struct task_job *job = (struct task_job *)base;
	if (base->step == STEP_COMMIT) {
		commit_succeeded(job, r);
		call_job_finish(base);
		return;
	}
	/* STEP_WRITE: r is the write; round[0] BEGIN, round[1] the task as it was. */
	struct task_doc task = {0};
	char *data = NULL;
	enum store_result res =
	    conn ? tasks_read_written(base->round[0], base->round[1], r, &task, &data)
	         : STORE_UNAVAILABLE;
	PQclear(r);
	if (res != STORE_OK) {
		reply_write_result(&base->reply, res, &task);
		call_job_finish(base);
		return;
	}
	int64_t id = task.id;
	if (base->steps.start == delete_start) {
		task_doc_free(&task);
		reply_json(&base->reply, 204, NULL);
		job->event = EVENT_TASK_DELETED;
	} else {
		reply_task(&base->reply, 200, &task);
		job->event = !(job->input.present & FIELD_COMPLETED) ? EVENT_TASK_UPDATED
		             : job->input.completed                  ? EVENT_TASK_COMPLETED
		                                                     : EVENT_TASK_UNCOMPLETED;
	}
	send_event(job, conn, id, data);
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
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			buf[o++] = (char)*p;
		else
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%%%02X", *p);
	}
	snprintf(buf + o, sizeof buf - o, "/tasks/%lld", (long long)task_id);
	return strdup(buf);
}

/* If-Match: "*" or absent is unconditional. A bad value is answered (400). */
static bool read_if_match(struct call *c, struct task_job *job)
{
	const h2o_iovec_t *v = call_header(c, "if-match");
	if (v == NULL || (v->len == 1 && v->base[0] == '*'))
		return true;
	if (task_parse_if_match(v->base, v->len, &job->if_match))
		return true;
	reply_error(&job->base.reply, 400, "bad_request", "If-Match must be a task version",
	            "If-Match");
	call_job_finish(&job->base);
	return false;
}

/* A bad key is answered (400). */
static bool read_idempotency_key(struct call *c, struct task_job *job, const json_t *body)
{
	const h2o_iovec_t *v = call_header(c, "idempotency-key");
	if (v == NULL)
		return true;
	bool valid = v->len >= 1 && v->len <= IDEMPOTENCY_KEY_MAX;
	for (size_t i = 0; valid && i < v->len; i++)
		valid = v->base[i] > 0x20 && v->base[i] < 0x7f;
	if (!valid) {
		reply_error(&job->base.reply, 400, "bad_request",
		            "Idempotency-Key must be 1 to 255 printable characters",
		            "Idempotency-Key");
		call_job_finish(&job->base);
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
	/* The state store's key: no user-chosen characters (Dapr refuses "||"). */
	unsigned char name[16];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof name);
	crypto_generichash_update(&st, (const unsigned char *)job->user_id,
	                          strlen(job->user_id) + 1);
	crypto_generichash_update(&st, (const unsigned char *)job->idempotency_key,
	                          strlen(job->idempotency_key));
	crypto_generichash_final(&st, name, sizeof name);
	char hex[33];
	sodium_bin2hex(hex, sizeof hex, name, sizeof name);
	snprintf(job->state_key, sizeof job->state_key, "idempotency-%s", hex);
	job->cfg = c->app->cfg;
	return true;
}

static struct task_job *new_task_job(struct call *c)
{
	struct task_job *job = call_job_new(c, sizeof *job);
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
	state_value_free(&job->record);
}
