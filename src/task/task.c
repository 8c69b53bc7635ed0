#include "task/task.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/iso8601.h"
#include "core/jsonx.h"
#include "core/pgarray.h"
#include "core/strbuf.h"

static bool fail(struct api_error *err, int status, const char *code, const char *field,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static char *trimmed_copy(const char *s);
static const char *priority_name(const char *s);

static bool parse_title(const json_t *v, struct task_input *in, struct api_error *err);
static bool parse_description(const json_t *v, struct task_input *in, struct api_error *err);
static bool parse_tags(const json_t *v, struct task_input *in, struct api_error *err);
static bool parse_due_date(const json_t *v, struct task_input *in, struct api_error *err);
static bool parse_int(const char *s, long min, long max, long *out);
static int64_t int_or_zero(const char *s);
static void append_time(struct strbuf *out, const char *us_text);

static bool fail(struct api_error *err, int status, const char *code, const char *field,
                 const char *fmt, ...)
{
	va_list ap;
	err->status = status;
	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return false;
}

bool task_input_parse(const json_t *body, enum task_input_kind kind, struct task_input *in,
                      struct api_error *err)
{
	memset(in, 0, sizeof *in);
	if (!json_is_object(body))
		return fail(err, 400, "bad_json", NULL, "the body must be a JSON object");

	const char *key;
	json_t *v;
	json_object_foreach((json_t *)body, key, v)
	{
		bool ok;
		if (kind == TASK_INPUT_COMPLETE && strcmp(key, "completed") != 0)
			ok = fail(err, 422, "unknown_field", key, "unknown field \"%.100s\"", key);
		else if (strcmp(key, "title") == 0)
			ok = parse_title(v, in, err);
		else if (strcmp(key, "description") == 0)
			ok = parse_description(v, in, err);
		else if (strcmp(key, "priority") == 0) {
			in->priority =
			    json_is_string(v) ? priority_name(json_string_value(v)) : NULL;
			in->present |= FIELD_PRIORITY;
			ok = in->priority != NULL ||
			     fail(err, 422, "validation_failed", "priority",
			          "priority must be one of low, medium, high");
		} else if (strcmp(key, "tags") == 0)
			ok = parse_tags(v, in, err);
		else if (strcmp(key, "due_date") == 0)
			ok = parse_due_date(v, in, err);
		else if (strcmp(key, "completed") == 0) {
			in->completed = json_is_true(v);
			in->present |= FIELD_COMPLETED;
			ok = json_is_boolean(v) || fail(err, 422, "validation_failed", "completed",
			                                "completed must be true or false");
		} else if (strcmp(key, "version") == 0 && kind == TASK_INPUT_UPDATE) {
			json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
			in->version = (int32_t)n;
			in->present |= FIELD_VERSION;
			ok = (n >= 1 && n <= INT32_MAX) ||
			     fail(err, 422, "validation_failed", "version",
			          "version must be a positive integer");
		} else
			ok = fail(err, 422, "unknown_field", key, "unknown field \"%.100s\"", key);
		if (!ok) {
			task_input_free(in);
			return false;
		}
	}

	if (kind == TASK_INPUT_CREATE && !(in->present & FIELD_TITLE)) {
		task_input_free(in);
		return fail(err, 422, "validation_failed", "title", "title is required");
	}
	if (kind == TASK_INPUT_UPDATE && (in->present & ~FIELD_VERSION) == 0) {
		task_input_free(in);
		return fail(err, 422, "validation_failed", NULL,
		            "the body names no field to update");
	}
	return true;
}

void task_input_free(struct task_input *in)
{
	free(in->title);
	free(in->description);
	for (int i = 0; i < in->ntags; i++)
		free(in->tags[i]);
	memset(in, 0, sizeof *in);
}

char *task_tags_json(const struct task_input *in)
{
	struct strbuf b = {0};
	strbuf_append(&b, "[");
	for (int i = 0; i < in->ntags; i++) {
		if (i)
			strbuf_append_len(&b, ",", 1);
		jsonx_append_string(&b, in->tags[i]);
	}
	strbuf_append(&b, "]");
	return strbuf_steal(&b);
}

char *task_tags_pg_array(const struct task_input *in)
{
	struct strbuf b = {0};
	for (int i = 0; i < in->ntags; i++)
		pgarray_append(&b, in->tags[i]);
	pgarray_finish(&b);
	return strbuf_steal(&b);
}

static bool parse_title(const json_t *v, struct task_input *in, struct api_error *err)
{
	in->present |= FIELD_TITLE;
	if (!json_is_string(v))
		return fail(err, 422, "validation_failed", "title", "title must be a string");
	free(in->title);
	in->title = trimmed_copy(json_string_value(v));
	size_t n = jsonx_utf8_length(in->title);
	if (n == 0 || n > TASK_TITLE_MAX)
		return fail(err, 422, "validation_failed", "title",
		            "title must be 1 to %d characters", TASK_TITLE_MAX);
	return true;
}

static bool parse_description(const json_t *v, struct task_input *in, struct api_error *err)
{
	in->present |= FIELD_DESCRIPTION;
	if (json_is_null(v))
		v = NULL;
	else if (!json_is_string(v))
		return fail(err, 422, "validation_failed", "description",
		            "description must be a string");
	free(in->description);
	in->description = strdup(v ? json_string_value(v) : "");
	if (jsonx_utf8_length(in->description) > TASK_DESCRIPTION_MAX)
		return fail(err, 422, "validation_failed", "description",
		            "description must be at most %d characters", TASK_DESCRIPTION_MAX);
	return true;
}

static bool parse_tags(const json_t *v, struct task_input *in, struct api_error *err)
{
	in->present |= FIELD_TAGS;
	if (!json_is_array(v))
		return fail(err, 422, "validation_failed", "tags",
		            "tags must be an array of strings");
	if (json_array_size(v) > TASK_TAGS_MAX)
		return fail(err, 422, "validation_failed", "tags", "at most %d tags",
		            TASK_TAGS_MAX);
	for (int i = 0; i < in->ntags; i++)
		free(in->tags[i]);
	in->ntags = 0;
	size_t i;
	json_t *t;
	json_array_foreach(v, i, t)
	{
		if (!json_is_string(t))
			return fail(err, 422, "validation_failed", "tags", "tags must be strings");
		char *tag = trimmed_copy(json_string_value(t));
		size_t n = jsonx_utf8_length(tag);
		if (n == 0 || n > TASK_TAG_MAX) {
			free(tag);
			return fail(err, 422, "validation_failed", "tags",
			            "each tag must be 1 to %d characters", TASK_TAG_MAX);
		}
		for (int k = 0; k < in->ntags; k++) {
			if (strcmp(in->tags[k], tag) == 0) {
				free(tag);
				return fail(err, 422, "validation_failed", "tags",
				            "tags must be distinct");
			}
		}
		in->tags[in->ntags++] = tag;
	}
	return true;
}

static bool parse_due_date(const json_t *v, struct task_input *in, struct api_error *err)
{
	in->present |= FIELD_DUE_DATE;
	in->has_due_date = !json_is_null(v);
	if (in->has_due_date &&
	    (!json_is_string(v) || !iso8601_parse(json_string_value(v), &in->due_date_us)))
		return fail(err, 422, "validation_failed", "due_date",
		            "due_date must be an ISO 8601 date-time with an offset, or null");
	return true;
}

static char *trimmed_copy(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

static const char *priority_name(const char *s)
{
	static const char *const names[] = {"low", "medium", "high"};
	for (size_t i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0)
			return names[i];
	return NULL;
}

bool task_list_query_parse(const struct query *q, struct task_list_query *out,
                           struct api_error *err)
{
	static const char *const sorts[] = {"created_at", "updated_at", "due_date", "priority",
	                                    "title"};
	memset(out, 0, sizeof *out);
	out->sort = SORT_CREATED_AT;
	out->descending = true;
	out->limit = TASK_LIST_LIMIT_DEFAULT;
	const char *cursor = NULL;

	for (size_t i = 0; i < q->count; i++) {
		const char *k = q->params[i].key, *v = q->params[i].value;
		if (strcmp(k, "status") == 0) {
			if (strcmp(v, "all") == 0)
				out->status = STATUS_ALL;
			else if (strcmp(v, "pending") == 0)
				out->status = STATUS_PENDING;
			else if (strcmp(v, "completed") == 0)
				out->status = STATUS_COMPLETED;
			else
				return fail(err, 400, "bad_request", "status",
				            "status must be all, pending or completed");
		} else if (strcmp(k, "priority") == 0) {
			if ((out->priority = priority_name(v)) == NULL)
				return fail(err, 400, "bad_request", "priority",
				            "priority must be low, medium or high");
		} else if (strcmp(k, "tag") == 0) {
			if (out->ntags == TASK_TAGS_MAX || *v == '\0')
				return fail(err, 400, "bad_request", "tag",
				            "give 1 to %d non-empty tags", TASK_TAGS_MAX);
			if (!jsonx_utf8_valid(v))
				return fail(err, 400, "bad_request", "tag",
				            "tag must be UTF-8 text");
			out->tags[out->ntags++] = v;
		} else if (strcmp(k, "q") == 0) {
			if (strlen(v) > TASK_TITLE_MAX * 4)
				return fail(err, 400, "bad_request", "q", "q is too long");
			if (!jsonx_utf8_valid(v))
				return fail(err, 400, "bad_request", "q", "q must be UTF-8 text");
			out->q = *v ? v : NULL;
		} else if (strcmp(k, "due_before") == 0) {
			if (!iso8601_parse(v, &out->due_before_us))
				return fail(
				    err, 400, "bad_request", "due_before",
				    "due_before must be an ISO 8601 date-time with an offset");
			out->has_due_before = true;
		} else if (strcmp(k, "due_after") == 0) {
			if (!iso8601_parse(v, &out->due_after_us))
				return fail(
				    err, 400, "bad_request", "due_after",
				    "due_after must be an ISO 8601 date-time with an offset");
			out->has_due_after = true;
		} else if (strcmp(k, "sort") == 0) {
			size_t s = 0;
			while (s < 5 && strcmp(v, sorts[s]) != 0)
				s++;
			if (s == 5)
				return fail(err, 400, "bad_request", "sort",
				            "sort must be created_at, updated_at, due_date, "
				            "priority or title");
			out->sort = (enum task_sort)s;
		} else if (strcmp(k, "order") == 0) {
			if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0)
				return fail(err, 400, "bad_request", "order",
				            "order must be asc or desc");
			out->descending = strcmp(v, "desc") == 0;
		} else if (strcmp(k, "limit") == 0) {
			long n;
			if (!parse_int(v, 1, TASK_LIST_LIMIT_MAX, &n))
				return fail(err, 400, "bad_request", "limit",
				            "limit must be an integer from 1 to %d",
				            TASK_LIST_LIMIT_MAX);
			out->limit = (int)n;
		} else if (strcmp(k, "cursor") == 0) {
			cursor = v;
		}
		/* Other parameters (cache busters and the like) are ignored. */
	}
	if (cursor && *cursor) {
		if (!cursor_decode(cursor, &out->cursor) || out->cursor.sort != out->sort ||
		    out->cursor.descending != out->descending)
			return fail(err, 400, "bad_request", "cursor",
			            "cursor is invalid or belongs to another sort order");
		out->has_cursor = true;
	}
	return true;
}

static void append_time(struct strbuf *out, const char *us_text)
{
	if (us_text == NULL) {
		strbuf_append_len(out, "null", 4);
		return;
	}
	char iso[ISO8601_LEN];
	iso8601_format(int_or_zero(us_text), iso);
	strbuf_append_len(out, "\"", 1);
	strbuf_append(out, iso);
	strbuf_append_len(out, "\"", 1);
}

/* Integers arrive as PostgreSQL's text and are copied as they are. */
void task_row_write_json(struct strbuf *out, const struct task_row *row)
{
	strbuf_append(out, "{\"id\":");
	strbuf_append(out, row->id ? row->id : "0");
	strbuf_append(out, ",\"user_id\":");
	jsonx_append_string(out, row->user_id ? row->user_id : "");
	strbuf_append(out, ",\"title\":");
	jsonx_append_string(out, row->title ? row->title : "");
	strbuf_append(out, ",\"description\":");
	jsonx_append_string(out, row->description ? row->description : "");
	strbuf_append(out, row->completed && row->completed[0] == 't' ? ",\"completed\":true"
	                                                              : ",\"completed\":false");
	strbuf_append(out, ",\"completed_at\":");
	append_time(out, row->completed_at_us);
	strbuf_append(out, ",\"priority\":");
	jsonx_append_string(out, row->priority ? row->priority : "medium");
	/* PostgreSQL's array_to_json already is the JSON we want. */
	strbuf_append(out, ",\"tags\":");
	strbuf_append(out, row->tags_json ? row->tags_json : "[]");
	strbuf_append(out, ",\"due_date\":");
	append_time(out, row->due_date_us);
	strbuf_append(out, ",\"created_at\":");
	append_time(out, row->created_at_us);
	strbuf_append(out, ",\"updated_at\":");
	append_time(out, row->updated_at_us);
	strbuf_append(out, ",\"version\":");
	strbuf_append(out, row->version ? row->version : "0");
	strbuf_append_len(out, "}", 1);
}

bool task_parse_if_match(const char *value, size_t len, int32_t *version)
{
	char buf[32];
	if (len >= 2 && value[0] == 'W' && value[1] == '/') {
		value += 2;
		len -= 2;
	}
	if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
		value++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, value, len);
	buf[len] = '\0';
	long n;
	if (!parse_int(buf, 1, INT32_MAX, &n))
		return false;
	*version = (int32_t)n;
	return true;
}

static bool parse_int(const char *s, long min, long max, long *out)
{
	if (*s == '\0' || strlen(s) > 12)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	long n = strtol(s, NULL, 10);
	if (errno || n < min || n > max)
		return false;
	*out = n;
	return true;
}

/* PostgreSQL's integer text, read by hand: strtoll, locale-aware, was 6 %
 * of a task list's CPU. */
static int64_t int_or_zero(const char *s)
{
	if (s == NULL)
		return 0;
	bool negative = *s == '-';
	uint64_t v = 0;
	for (s += negative; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (uint64_t)(*s - '0');
	return negative ? (int64_t)(0 - v) : (int64_t)v;
}
