#include "store/tasks_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "store/pool.h"

/* Times travel as microseconds since the epoch: exact for keyset pagination
 * and formatted by the API itself. */
#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define FROM_US(param) "('epoch'::timestamptz + " param "::bigint * interval '1 microsecond')"

#define TASK_COLUMNS                                                                          \
	"id, user_id, title, description, completed, " US("completed_at") ", priority, "      \
	"array_to_json(tags), " US("due_date") ", " US("created_at") ", " US("updated_at")  \
	", version"
#define TASK_NCOLUMNS 12

static const char SQL_INSERT[] =
    "INSERT INTO tasks (user_id, title, description, priority, tags, due_date, completed,"
    " completed_at) VALUES ($1, $2, $3, $4, $5::text[], " FROM_US("$6") ", $7::boolean,"
    " CASE WHEN $7::boolean THEN now() END) RETURNING " TASK_COLUMNS;

static const char SQL_GET[] =
    "SELECT " TASK_COLUMNS " FROM tasks WHERE id = $1 AND user_id = $2";

static const char SQL_UPDATE[] =
    "UPDATE tasks SET"
    " title = CASE WHEN $3::boolean THEN $4 ELSE title END,"
    " description = CASE WHEN $5::boolean THEN $6 ELSE description END,"
    " priority = CASE WHEN $7::boolean THEN $8 ELSE priority END,"
    " tags = CASE WHEN $9::boolean THEN $10::text[] ELSE tags END,"
    " due_date = CASE WHEN $11::boolean THEN " FROM_US("$12") " ELSE due_date END,"
    " completed = CASE WHEN $13::boolean THEN $14::boolean ELSE completed END,"
    " completed_at = CASE WHEN NOT $13::boolean THEN completed_at"
    "   WHEN $14::boolean AND NOT completed THEN now()"
    "   WHEN $14::boolean THEN completed_at END,"
    " updated_at = now(), version = version + 1"
    " WHERE id = $1 AND user_id = $2 AND ($15::integer IS NULL OR version = $15::integer)"
    " RETURNING " TASK_COLUMNS;

static const char SQL_DELETE[] =
    "DELETE FROM tasks WHERE id = $1 AND user_id = $2"
    " AND ($3::integer IS NULL OR version = $3::integer) RETURNING id";

static const char SQL_IDEMPOTENCY_FIND[] =
    "SELECT request_hash, status, location, body FROM idempotency_keys"
    " WHERE user_id = $1 AND key = $2 AND created_at > now() - interval '24 hours'";

static const char SQL_IDEMPOTENCY_EXPIRE[] =
    "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2"
    " AND created_at <= now() - interval '24 hours'";

static const char SQL_IDEMPOTENCY_SAVE[] =
    "INSERT INTO idempotency_keys (user_id, key, request_hash, status, location, body)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1";

struct sort_sql {
	const char *expr;     /* what ORDER BY sorts on */
	const char *key_out;  /* the cursor key of a row, as text */
	const char *key_in;   /* the cursor key parameter ($K) as the expr's type */
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

static char *int_text(int64_t v);
static struct task_row row_at(const PGresult *r, int i);
static void task_from(const PGresult *r, int i, struct task_doc *doc);
static enum store_result current_or_missing(struct db_conn *conn, const char *user_id,
					    int64_t id, struct task_doc *current);
static char *like_pattern(const char *q);
static void append_param(struct strbuf *sql, const char *fragment, const char **params, int *n,
			 const char *value);

enum store_result store_failure(struct db_conn *conn, PGresult *r, const char *what)
{
	if (r == NULL || !db_is_up(conn)) {
		PQclear(r);
		return STORE_UNAVAILABLE;
	}
	log_fields(LOG_ERROR, "database error", "s:query", what, "s:sqlstate", db_sqlstate(r),
		   "s:error", PQresultErrorMessage(r), NULL);
	PQclear(r);
	return STORE_FAILED;
}

enum store_result tasks_insert(struct db_conn *conn, const char *user_id,
			       const struct task_input *in, struct task_doc *task)
{
	char *tags = task_tags_pg_array(in);
	char *due = in->has_due_date ? int_text(in->due_date_us) : NULL;
	const char *params[] = {user_id,
				in->title,
				in->description ? in->description : "",
				in->priority ? in->priority : "medium",
				tags,
				due,
				(in->present & FIELD_COMPLETED) && in->completed ? "t" : "f"};
	PGresult *r = db_exec(conn, SQL_INSERT, 7, params);
	free(tags);
	free(due);
	if (!db_result_ok(r) || PQntuples(r) != 1)
		return store_failure(conn, r, "insert task");
	task_from(r, 0, task);
	PQclear(r);
	return STORE_OK;
}

enum store_result tasks_get(struct db_conn *conn, const char *user_id, int64_t id, struct task_doc *task)
{
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	const char *params[] = {idtext, user_id};
	PGresult *r = db_exec(conn, SQL_GET, 2, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "get task");
	enum store_result res = PQntuples(r) == 1 ? STORE_OK : STORE_NOT_FOUND;
	if (res == STORE_OK)
		task_from(r, 0, task);
	PQclear(r);
	return res;
}

enum store_result tasks_update(struct db_conn *conn, const char *user_id, int64_t id,
			       const struct task_input *in, int32_t expected_version,
			       struct task_doc *task)
{
	char idtext[24], version[16];
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	snprintf(version, sizeof version, "%d", expected_version);
	char *tags = (in->present & FIELD_TAGS) ? task_tags_pg_array(in) : NULL;
	char *due = (in->present & FIELD_DUE_DATE) && in->has_due_date ? int_text(in->due_date_us)
								       : NULL;
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
				due,
				HAS(FIELD_COMPLETED),
				in->completed ? "t" : "f",
				expected_version > 0 ? version : NULL};
#undef HAS
	PGresult *r = db_exec(conn, SQL_UPDATE, 15, params);
	free(tags);
	free(due);
	if (!db_result_ok(r))
		return store_failure(conn, r, "update task");
	if (PQntuples(r) == 1) {
		task_from(r, 0, task);
		PQclear(r);
		return STORE_OK;
	}
	PQclear(r);
	return current_or_missing(conn, user_id, id, task);
}

enum store_result tasks_delete(struct db_conn *conn, const char *user_id, int64_t id,
			       int32_t expected_version, struct task_doc *current)
{
	char idtext[24], version[16];
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	snprintf(version, sizeof version, "%d", expected_version);
	const char *params[] = {idtext, user_id, expected_version > 0 ? version : NULL};
	PGresult *r = db_exec(conn, SQL_DELETE, 3, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "delete task");
	int deleted = PQntuples(r);
	PQclear(r);
	if (deleted == 1)
		return STORE_OK;
	return current_or_missing(conn, user_id, id, current);
}

/* After a conditional write matched no row: the task is gone (404) or its
 * version moved on (409 with the task as it is). */
static enum store_result current_or_missing(struct db_conn *conn, const char *user_id,
					    int64_t id, struct task_doc *current)
{
	enum store_result res = tasks_get(conn, user_id, id, current);
	return res == STORE_OK ? STORE_CONFLICT : res;
}

enum store_result tasks_list(struct db_conn *conn, const char *user_id,
			     const struct task_list_query *q, char **body, size_t *len)
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
	if (q->priority)
		append_param(&sql, " AND priority = $%d", params, &n, q->priority);
	if (q->ntags > 0) {
		struct task_input as_input = {.ntags = q->ntags};
		memcpy(as_input.tags, q->tags, sizeof(char *) * (size_t)q->ntags);
		tags = task_tags_pg_array(&as_input);
		append_param(&sql, " AND tags @> $%d::text[]", params, &n, tags);
	}
	if (q->q) {
		pattern = like_pattern(q->q);
		strbuf_printf(&sql, " AND (title ILIKE $%d OR description ILIKE $%d)", n + 1, n + 1);
		params[n++] = pattern;
	}
	if (q->has_due_before) {
		snprintf(before, sizeof before, "%lld", (long long)q->due_before_us);
		append_param(&sql, " AND due_date < " FROM_US("$%d"), params, &n, before);
	}
	if (q->has_due_after) {
		snprintf(after, sizeof after, "%lld", (long long)q->due_after_us);
		append_param(&sql, " AND due_date > " FROM_US("$%d"), params, &n, after);
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

	PGresult *r = db_exec(conn, sql.data, n, params);
	strbuf_free(&sql);
	free(tags);
	free(pattern);
	if (!db_result_ok(r))
		return store_failure(conn, r, "list tasks");

	int rows = PQntuples(r);
	int shown = rows > q->limit ? q->limit : rows;
	struct strbuf out = {0};
	strbuf_append(&out, "{\"items\":[");
	for (int i = 0; i < shown; i++) {
		if (i)
			strbuf_append_len(&out, ",", 1);
		struct task_row row = row_at(r, i);
		task_row_write_json(&out, &row);
	}
	strbuf_append(&out, "],\"next_cursor\":");
	struct cursor c = {.sort = q->sort, .descending = q->descending};
	char next[CURSOR_TEXT_MAX + 1];
	if (rows > q->limit) {
		c.id = strtoll(PQgetvalue(r, shown - 1, 0), NULL, 10);
		snprintf(c.key, sizeof c.key, "%s", PQgetvalue(r, shown - 1, TASK_NCOLUMNS));
	}
	if (rows > q->limit && cursor_encode(&c, next, sizeof next))
		strbuf_printf(&out, "\"%s\"}", next);
	else
		strbuf_append(&out, "null}");
	PQclear(r);
	*len = out.len;
	*body = strbuf_steal(&out);
	return STORE_OK;
}

enum store_result idempotency_find(struct db_conn *conn, const char *user_id, const char *key,
				   struct idempotent_response *out)
{
	const char *params[] = {user_id, key};
	PGresult *r = db_exec(conn, SQL_IDEMPOTENCY_FIND, 2, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "find idempotency key");
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

enum store_result idempotency_save(struct db_conn *conn, const char *user_id, const char *key,
				   const struct idempotent_response *resp)
{
	const char *expire_params[] = {user_id, key};
	PGresult *r = db_exec(conn, SQL_IDEMPOTENCY_EXPIRE, 2, expire_params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "expire idempotency key");
	PQclear(r);

	char status[8];
	snprintf(status, sizeof status, "%d", resp->status);
	const char *params[] = {user_id, key, resp->request_hash, status, resp->location,
				resp->body};
	r = db_exec(conn, SQL_IDEMPOTENCY_SAVE, 6, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "save idempotency key");
	enum store_result res = PQntuples(r) == 1 ? STORE_OK : STORE_CONFLICT;
	PQclear(r);
	return res;
}

void idempotent_response_free(struct idempotent_response *r)
{
	free(r->location);
	free(r->body);
	r->location = r->body = NULL;
}

static void append_param(struct strbuf *sql, const char *fragment, const char **params, int *n,
			 const char *value)
{
	strbuf_printf(sql, fragment, *n + 1);
	params[(*n)++] = value;
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

static char *int_text(int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	return strdup(buf);
}

static struct task_row row_at(const PGresult *r, int i)
{
#define COL(n) (PQgetisnull(r, i, n) ? NULL : PQgetvalue(r, i, n))
	return (struct task_row){COL(0), COL(1), COL(2), COL(3), COL(4),  COL(5),
				 COL(6), COL(7), COL(8), COL(9), COL(10), COL(11)};
#undef COL
}

static void task_from(const PGresult *r, int i, struct task_doc *doc)
{
	struct task_row row = row_at(r, i);
	struct strbuf b = {0};
	task_row_write_json(&b, &row);
	doc->len = b.len;
	doc->json = strbuf_steal(&b);
	doc->id = strtoll(row.id, NULL, 10);
	doc->version = (int32_t)strtol(row.version, NULL, 10);
}

void task_doc_free(struct task_doc *doc)
{
	free(doc->json);
	doc->json = NULL;
}
