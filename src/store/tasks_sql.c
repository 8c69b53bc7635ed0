#include "store/tasks_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "event/event.h"
#include "core/uuid.h"
#include "store/db.h"
#include "store/events_sql.h"

/* Times travel as microseconds since the epoch: exact for keyset pagination
 * and formatted by the API itself. */
#define US(col)        "(extract(epoch FROM " col ") * 1000000)::bigint"
#define FROM_US(param) "('epoch'::timestamptz + " param "::bigint * interval '1 microsecond')"

#define TASK_COLUMNS                                                                               \
	"id, user_id, title, description, completed, " US(                                         \
	    "completed_at") " AS completed_us, "                                                   \
	                    "priority, array_to_json(tags) AS tags_json, " US(                     \
	                        "due_date") " AS due_us, " US("created_at") " AS created_us, " US("updated_at") " AS updated_us, version"
#define TASK_NCOLUMNS 12
/* A change's time by the server's clock, but never before the task's last
 * change: replicas' clocks differ a little, and a task's times must not run
 * backwards (updated_at before created_at, or an earlier change's). */
#define NOT_BEFORE_LAST_CHANGE(param) "greatest(updated_at, " FROM_US(param) ")"

/* SQL reads better laid out by hand. */
/* clang-format off */
/* A task and its task.created event in one statement. The event's data is
 * the task as stored, but for the id, which only the insert knows. */
static const char SQL_CREATE[] =
    "WITH t AS (INSERT INTO tasks (user_id, title, description, priority, tags, due_date,"
    " completed, completed_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5::text[], "
    FROM_US("$6") ", $7::boolean, CASE WHEN $7::boolean THEN " FROM_US("$8") " END, " FROM_US(
        "$8") ", " FROM_US("$8") ") RETURNING " TASK_COLUMNS "), "
    EVENTS_APPEND_CTES("$9", "$10", "$1", "t.id::text", "$11",
                       "jsonb_set($12::jsonb, '{task,id}', to_jsonb(t.id))", ", t")
    " SELECT * FROM t";

static const char SQL_GET[] = "SELECT " TASK_COLUMNS " FROM tasks WHERE id = $1 AND user_id = $2";

/* A write first locks the task and reads it as it is (the latest committed
 * version, whatever the statement snapshot), so a failed condition can show
 * it and the event can name what changed. */
static const char SQL_GET_FOR_UPDATE[] =
    "SELECT " TASK_COLUMNS " FROM tasks WHERE id = $1 AND user_id = $2 FOR UPDATE";

static const char SQL_UPDATE[] =
    "UPDATE tasks SET"
    " title = CASE WHEN $3::boolean THEN $4 ELSE title END,"
    " description = CASE WHEN $5::boolean THEN $6 ELSE description END,"
    " priority = CASE WHEN $7::boolean THEN $8 ELSE priority END,"
    " tags = CASE WHEN $9::boolean THEN $10::text[] ELSE tags END,"
    " due_date = CASE WHEN $11::boolean THEN " FROM_US(
        "$12") " ELSE due_date END,"
               " completed = CASE WHEN $13::boolean THEN $14::boolean ELSE completed END,"
               " completed_at = CASE WHEN NOT $13::boolean THEN completed_at"
               "   WHEN $14::boolean AND NOT completed THEN " NOT_BEFORE_LAST_CHANGE("$17")
               "   WHEN $14::boolean THEN completed_at END,"
               " updated_at = " NOT_BEFORE_LAST_CHANGE("$17") ", version = version + 1"
               " WHERE id = $1 AND user_id = $2 AND ($15::integer IS NULL OR version = "
               "$15::integer)"
               " AND ($16::integer IS NULL OR version = $16::integer)"
               " RETURNING " TASK_COLUMNS;

/* clang-format on */

static const char SQL_DELETE[] = "DELETE FROM tasks WHERE id = $1 AND user_id = $2"
                                 " AND ($3::integer IS NULL OR version = $3::integer) RETURNING id";

static const char SQL_IDEMPOTENCY_FIND[] =
    "SELECT request_hash, status, location, body FROM idempotency_keys"
    " WHERE user_id = $1 AND key = $2 AND created_at > now() - interval '24 hours'";

/* An expired record of the same key is replaced; a live one is left alone. */
static const char SQL_IDEMPOTENCY_SAVE[] =
    "INSERT INTO idempotency_keys AS k (user_id, key, request_hash, status, location, body)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, key) DO UPDATE SET"
    " request_hash = excluded.request_hash, status = excluded.status,"
    " location = excluded.location, body = excluded.body, created_at = now()"
    " WHERE k.created_at <= now() - interval '24 hours' RETURNING 1";

struct sort_sql {
	const char *expr;    /* what ORDER BY sorts on */
	const char *key_out; /* the cursor key of a row, as text */
	const char *key_in;  /* the cursor key parameter ($K) as the expr's type */
};

static const struct sort_sql SORTS[] = {
    [SORT_CREATED_AT] = {"created_at", US("created_at") "::text", FROM_US("$K")},
    [SORT_UPDATED_AT] = {"updated_at", US("updated_at") "::text", FROM_US("$K")},
    /* A task without a due date sorts as if due at infinity; its key is "inf",
     * sent to PostgreSQL as NULL so no cast ever sees it. */
    [SORT_DUE_DATE] = {"coalesce(due_date, 'infinity')",
                       "coalesce(" US("due_date") "::text, 'inf')",
                       "coalesce(" FROM_US("$K") ", 'infinity')"},
    [SORT_PRIORITY] = {"priority_rank", "priority_rank::text", "$K::smallint"},
    [SORT_TITLE] = {"lower(title)", "lower(title)", "$K::text"},
};

static int64_t wall_clock_us(void);
static struct task_row row_at(const PGresult *r, int i, int first);
static void doc_from(const PGresult *r, int i, int first, struct task_doc *doc);
static char *like_pattern(const char *q);

enum store_result store_status(const PGresult *r, const char *what)
{
	if (r == NULL)
		return STORE_UNAVAILABLE;
	if (db_result_ok(r))
		return STORE_OK;
	if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED)
		return STORE_FAILED; /* an earlier statement of the round failed and said so */
	const char *state = db_sqlstate(r);
	/* 08: connection exceptions; 57P0x: the server is shutting down; 57014:
	 * the statement ran out of time (the database is overloaded, or a lock
	 * is held): all worth trying again. */
	bool outage = strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0 ||
	              strcmp(state, "57014") == 0;
	log_fields(outage ? LOG_WARN : LOG_ERROR, "database error", "s:query", what, "s:sqlstate",
	           state, "s:error", PQresultErrorMessage(r), NULL);
	return outage ? STORE_UNAVAILABLE : STORE_FAILED;
}

enum store_result store_check(PGresult *r, const char *what)
{
	enum store_result res = store_status(r, what);
	if (res != STORE_OK)
		PQclear(r);
	return res;
}

void tasks_create_stmt(const char *user_id, const struct task_input *in, const char *correlation_id,
                       struct task_create *out)
{
	snprintf(out->now, sizeof out->now, "%lld", (long long)wall_clock_us());
	snprintf(out->due, sizeof out->due, "%lld", (long long)in->due_date_us);
	uuid_v4(out->event_id);
	bool completed = (in->present & FIELD_COMPLETED) && in->completed;
	const char *due = in->has_due_date ? out->due : NULL;
	const char *description = in->description ? in->description : "";
	const char *priority = in->priority ? in->priority : "medium";
	out->tags = task_tags_pg_array(in);
	out->tags_json = task_tags_json(in);
	struct task_row row = {.id = "0",
	                       .user_id = user_id,
	                       .title = in->title,
	                       .description = description,
	                       .completed = completed ? "t" : "f",
	                       .completed_at_us = completed ? out->now : NULL,
	                       .priority = priority,
	                       .tags_json = out->tags_json,
	                       .due_date_us = due,
	                       .created_at_us = out->now,
	                       .updated_at_us = out->now,
	                       .version = "1"};
	out->data = event_task_data(&row, NULL);
	const char *params[] = {user_id,
	                        in->title,
	                        description,
	                        priority,
	                        out->tags,
	                        due,
	                        completed ? "t" : "f",
	                        out->now,
	                        out->event_id,
	                        event_type_name(EVENT_TASK_CREATED),
	                        correlation_id,
	                        out->data};
	_Static_assert(sizeof params == sizeof out->params, "one slot per parameter");
	memcpy(out->params, params, sizeof params);
	out->stmt = (struct db_stmt){SQL_CREATE, 12, out->params};
}

void tasks_create_free(struct task_create *c)
{
	free(c->tags);
	free(c->tags_json);
	free(c->data);
}

enum store_result tasks_read_created(const PGresult *r, struct task_doc *task)
{
	enum store_result res = store_status(r, "create task");
	if (res == STORE_OK && PQntuples(r) != 1)
		res = STORE_FAILED;
	if (res == STORE_OK)
		doc_from(r, 0, 0, task);
	return res;
}

void tasks_send_get(struct db_conn *conn, const char *user_id, int64_t id)
{
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	const char *params[] = {idtext, user_id};
	db_send(conn, SQL_GET, 2, params);
}

enum store_result tasks_read_task(PGresult *r, struct task_doc *task)
{
	enum store_result res = store_check(r, "task");
	if (res != STORE_OK)
		return res;
	res = PQntuples(r) == 1 ? STORE_OK : STORE_NOT_FOUND;
	if (res == STORE_OK)
		doc_from(r, 0, 0, task);
	PQclear(r);
	return res;
}

void tasks_send_update_tx(struct db_conn *conn, const char *user_id, int64_t id,
                          const struct task_input *in, int32_t expected_version)
{
	char idtext[24], version[16], body_version[16], due[24];
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	snprintf(version, sizeof version, "%d", expected_version);
	snprintf(body_version, sizeof body_version, "%d", in->version);
	snprintf(due, sizeof due, "%lld", (long long)in->due_date_us);
	char *tags = (in->present & FIELD_TAGS) ? task_tags_pg_array(in) : NULL;
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)wall_clock_us());
#define HAS(f) ((in->present & (f)) ? "t" : "f")
	const char *params[] = {idtext,
	                        user_id,
	                        HAS(FIELD_TITLE),
	                        in->title,
	                        HAS(FIELD_DESCRIPTION),
	                        in->description,
	                        HAS(FIELD_PRIORITY),
	                        in->priority,
	                        HAS(FIELD_TAGS),
	                        tags,
	                        HAS(FIELD_DUE_DATE),
	                        (in->present & FIELD_DUE_DATE) && in->has_due_date ? due : NULL,
	                        HAS(FIELD_COMPLETED),
	                        in->completed ? "t" : "f",
	                        expected_version > 0 ? version : NULL,
	                        (in->present & FIELD_VERSION) ? body_version : NULL,
	                        now};
#undef HAS
	const struct db_stmt round[] = {
	    {"BEGIN", 0, NULL}, {SQL_GET_FOR_UPDATE, 2, params}, {SQL_UPDATE, 17, params}};
	db_send_many(conn, 3, round);
	free(tags);
}

void tasks_send_delete_tx(struct db_conn *conn, const char *user_id, int64_t id,
                          int32_t expected_version)
{
	char idtext[24], version[16];
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	snprintf(version, sizeof version, "%d", expected_version);
	const char *params[] = {idtext, user_id, expected_version > 0 ? version : NULL};
	const struct db_stmt round[] = {
	    {"BEGIN", 0, NULL}, {SQL_GET_FOR_UPDATE, 2, params}, {SQL_DELETE, 3, params}};
	db_send_many(conn, 3, round);
}

enum store_result tasks_read_written(const PGresult *begin, const PGresult *before,
                                     const PGresult *write, struct task_doc *task,
                                     char **event_data)
{
	enum store_result res = store_status(begin, "begin");
	if (res == STORE_OK)
		res = store_status(before, "lock task");
	if (res == STORE_OK)
		res = store_status(write, "write task");
	if (res != STORE_OK)
		return res;
	if (PQntuples(before) == 0)
		return STORE_NOT_FOUND;
	if (PQntuples(write) == 0) { /* a condition failed: show the task as it is */
		doc_from(before, 0, 0, task);
		return STORE_CONFLICT;
	}
	struct task_row was = row_at(before, 0, 0);
	if (PQnfields(write) == TASK_NCOLUMNS) { /* an update: the task as it is now */
		struct task_row now = row_at(write, 0, 0);
		doc_from(write, 0, 0, task);
		*event_data = event_task_data(&now, &was);
	} else { /* a delete: the task as it was */
		doc_from(before, 0, 0, task);
		*event_data = event_task_data(&was, NULL);
	}
	return STORE_OK;
}

void tasks_send_list(struct db_conn *conn, const char *user_id, const struct task_list_query *q)
{
	const struct sort_sql *sort = &SORTS[q->sort];
	const char *dir = q->descending ? "DESC" : "ASC";
	const char *params[16];
	int n = 0;
	char before[24], after[24], limit[16], cursor_id[24];
	char *tags = NULL, *pattern = NULL;
	struct strbuf sql = {0};

	strbuf_printf(&sql, "SELECT " TASK_COLUMNS ", %s FROM tasks WHERE user_id = $1",
	              sort->key_out);
	params[n++] = user_id;
	if (q->status == STATUS_PENDING)
		strbuf_append(&sql, " AND NOT completed");
	else if (q->status == STATUS_COMPLETED)
		strbuf_append(&sql, " AND completed");
	if (q->priority) {
		strbuf_printf(&sql, " AND priority = $%d", n + 1);
		params[n++] = q->priority;
	}
	if (q->ntags > 0) {
		struct task_input as_input = {.ntags = q->ntags};
		memcpy(as_input.tags, q->tags, sizeof(char *) * (size_t)q->ntags);
		tags = task_tags_pg_array(&as_input);
		strbuf_printf(&sql, " AND tags @> $%d::text[]", n + 1);
		params[n++] = tags;
	}
	if (q->q) {
		pattern = like_pattern(q->q);
		strbuf_printf(&sql, " AND (title ILIKE $%d OR description ILIKE $%d)", n + 1,
		              n + 1);
		params[n++] = pattern;
	}
	if (q->has_due_before) {
		snprintf(before, sizeof before, "%lld", (long long)q->due_before_us);
		strbuf_printf(&sql, " AND due_date < " FROM_US("$%d"), n + 1);
		params[n++] = before;
	}
	if (q->has_due_after) {
		snprintf(after, sizeof after, "%lld", (long long)q->due_after_us);
		strbuf_printf(&sql, " AND due_date > " FROM_US("$%d"), n + 1);
		params[n++] = after;
	}
	if (q->has_cursor) {
		/* (sort key, id) strictly after the last row of the previous page. */
		char key_param[8];
		snprintf(key_param, sizeof key_param, "$%d", n + 1);
		struct strbuf key_in = {0};
		for (const char *p = sort->key_in; *p; p++) {
			if (p[0] == '$' && p[1] == 'K') {
				strbuf_append(&key_in, key_param);
				p++;
			} else {
				strbuf_append_len(&key_in, p, 1);
			}
		}
		bool inf = q->sort == SORT_DUE_DATE && strcmp(q->cursor.key, "inf") == 0;
		params[n++] = inf ? NULL : q->cursor.key;
		snprintf(cursor_id, sizeof cursor_id, "%lld", (long long)q->cursor.id);
		strbuf_printf(&sql, " AND (%s, id) %s (%s, $%d::bigint)", sort->expr,
		              q->descending ? "<" : ">", key_in.data, n + 1);
		params[n++] = cursor_id;
		strbuf_free(&key_in);
	}
	snprintf(limit, sizeof limit, "%d", q->limit + 1);
	strbuf_printf(&sql, " ORDER BY %s %s, id %s LIMIT $%d", sort->expr, dir, dir, n + 1);
	params[n++] = limit;

	db_send(conn, sql.data, n, params);
	strbuf_free(&sql);
	free(tags);
	free(pattern);
}

enum store_result tasks_read_list(PGresult *r, const struct task_list_query *q, char **body,
                                  size_t *len)
{
	enum store_result res = store_check(r, "list tasks");
	if (res != STORE_OK)
		return res;
	int rows = PQntuples(r);
	int shown = rows > q->limit ? q->limit : rows;
	struct strbuf out = {0};
	strbuf_reserve(&out, (size_t)shown * 512 + 64); /* a typical task renders in 300-400 */
	strbuf_append(&out, "{\"items\":[");
	for (int i = 0; i < shown; i++) {
		if (i)
			strbuf_append_len(&out, ",", 1);
		struct task_row row = row_at(r, i, 0);
		task_row_write_json(&out, &row);
	}
	strbuf_append(&out, "],\"next_cursor\":");
	struct cursor c = {.sort = q->sort, .descending = q->descending};
	char next[CURSOR_TEXT_MAX + 1];
	if (rows > q->limit) {
		c.id = strtoll(PQgetvalue(r, shown - 1, 0), NULL, 10);
		snprintf(c.key, sizeof c.key, "%s", PQgetvalue(r, shown - 1, TASK_NCOLUMNS));
	}
	if (rows > q->limit && cursor_encode(&c, next, sizeof next)) {
		strbuf_append(&out, "\"");
		strbuf_append(&out, next);
		strbuf_append(&out, "\"}");
	} else {
		strbuf_append(&out, "null}");
	}
	PQclear(r);
	*len = out.len;
	*body = strbuf_steal(&out);
	return STORE_OK;
}

void idempotency_send_find(struct db_conn *conn, const char *user_id, const char *key)
{
	const char *params[] = {user_id, key};
	db_send(conn, SQL_IDEMPOTENCY_FIND, 2, params);
}

enum store_result idempotency_read_find(PGresult *r, struct idempotent_response *out)
{
	enum store_result res = store_check(r, "find idempotency key");
	if (res != STORE_OK)
		return res;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return STORE_NOT_FOUND;
	}
	snprintf(out->request_hash, sizeof out->request_hash, "%s", PQgetvalue(r, 0, 0));
	out->status = atoi(PQgetvalue(r, 0, 1));
	out->location = PQgetisnull(r, 0, 2) ? NULL : strdup(PQgetvalue(r, 0, 2));
	out->body = strdup(PQgetvalue(r, 0, 3));
	PQclear(r);
	return STORE_OK;
}

void idempotency_save_stmt(const char *user_id, const char *key,
                           const struct idempotent_response *resp, struct idempotency_save *out)
{
	snprintf(out->status, sizeof out->status, "%d", resp->status);
	out->params[0] = user_id;
	out->params[1] = key;
	out->params[2] = resp->request_hash;
	out->params[3] = out->status;
	out->params[4] = resp->location;
	out->params[5] = resp->body;
	out->stmt = (struct db_stmt){SQL_IDEMPOTENCY_SAVE, 6, out->params};
}

enum store_result idempotency_read_save(const PGresult *r)
{
	enum store_result res = store_status(r, "save idempotency key");
	if (res != STORE_OK)
		return res;
	return PQntuples(r) == 1 ? STORE_OK : STORE_CONFLICT;
}

void idempotent_response_free(struct idempotent_response *r)
{
	free(r->location);
	free(r->body);
	r->location = r->body = NULL;
}

void task_doc_free(struct task_doc *doc)
{
	free(doc->json);
	doc->json = NULL;
}

/* q as a literal substring for ILIKE: its own % and _ match only themselves. */
static char *like_pattern(const char *q)
{
	struct strbuf b = {0};
	strbuf_append(&b, "%");
	for (const char *p = q; *p; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			strbuf_append_len(&b, "\\", 1);
		strbuf_append_len(&b, p, 1);
	}
	strbuf_append(&b, "%");
	return strbuf_steal(&b);
}

/* Tasks' times come from the API server's clock, so that a create can put
 * the task, as it will be stored, in its event before the insert runs. */
static int64_t wall_clock_us(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* The task's columns start at `first` (after a leading flag column, say). */
static struct task_row row_at(const PGresult *r, int i, int first)
{
#define COL(n) (PQgetisnull(r, i, first + n) ? NULL : PQgetvalue(r, i, first + n))
	return (struct task_row){COL(0), COL(1), COL(2), COL(3), COL(4),  COL(5),
	                         COL(6), COL(7), COL(8), COL(9), COL(10), COL(11)};
#undef COL
}

static void doc_from(const PGresult *r, int i, int first, struct task_doc *doc)
{
	struct task_row row = row_at(r, i, first);
	struct strbuf b = {0};
	task_row_write_json(&b, &row);
	doc->len = b.len;
	doc->json = strbuf_steal(&b);
	doc->id = strtoll(row.id, NULL, 10);
	doc->version = (int32_t)strtol(row.version, NULL, 10);
}
