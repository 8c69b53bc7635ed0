/* The task resource: what a client may send (validated here, before any
 * database work), the list query, and the JSON a client gets back. Pure. */
#ifndef TASKFLOW_TASK_TASK_H
#define TASKFLOW_TASK_TASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/query.h"
#include "task/cursor.h"

#define TASK_TITLE_MAX          500
#define TASK_DESCRIPTION_MAX    10000
#define TASK_TAGS_MAX           20
#define TASK_TAG_MAX            50
#define TASK_LIST_LIMIT_DEFAULT 50
#define TASK_LIST_LIMIT_MAX     200

/* A 4xx the client gets; message and field are static or copied in. */
struct api_error {
	int status;
	const char *code;
	char message[160];
	char field[64];
};

enum task_field {
	FIELD_TITLE = 1 << 0,
	FIELD_DESCRIPTION = 1 << 1,
	FIELD_PRIORITY = 1 << 2,
	FIELD_TAGS = 1 << 3,
	FIELD_DUE_DATE = 1 << 4,
	FIELD_COMPLETED = 1 << 5,
	FIELD_VERSION = 1 << 6,
};

/* Fields a client sent, validated and normalized. Strings are owned by the
 * struct; task_input_free releases them. */
struct task_input {
	unsigned present; /* enum task_field bits */
	char *title;      /* trimmed */
	char *description;
	const char *priority; /* "low" | "medium" | "high" (static) */
	char *tags[TASK_TAGS_MAX];
	int ntags;         /* distinct (a repeat is a 422), trimmed, in the order given */
	bool has_due_date; /* false: due_date was null */
	int64_t due_date_us;
	bool completed;
	int32_t version;
};

enum task_input_kind {
	TASK_INPUT_CREATE,   /* title required; version not taken */
	TASK_INPUT_UPDATE,   /* at least one field */
	TASK_INPUT_COMPLETE, /* only "completed" */
};

/* Returns false and fills err (422, or 400 when the body is not an object). */
bool task_input_parse(const json_t *body, enum task_input_kind kind, struct task_input *in,
                      struct api_error *err);
void task_input_free(struct task_input *in);

/* Renders tags as a PostgreSQL array literal, e.g. {"a","b \"c\""}; the caller frees it. */
char *task_tags_pg_array(const struct task_input *in);
/* The same tags as a JSON array; the caller frees it. */
char *task_tags_json(const struct task_input *in);

enum task_status_filter { STATUS_ALL, STATUS_PENDING, STATUS_COMPLETED };

struct task_list_query {
	enum task_status_filter status;
	const char *priority; /* NULL: any */
	const char *tags[TASK_TAGS_MAX];
	int ntags;
	const char *q; /* NULL: no text search; points into the parsed query */
	bool has_due_before, has_due_after;
	int64_t due_before_us, due_after_us;
	enum task_sort sort;
	bool descending;
	int limit;
	bool has_cursor;
	struct cursor cursor;
};

/* Reads GET /api/{user_id}/tasks parameters; strings point into q. Returns
 * false with a 400 naming the parameter. */
bool task_list_query_parse(const struct query *q, struct task_list_query *out,
                           struct api_error *err);

/* A task row as the store reads it, all columns as text the way PostgreSQL
 * sends them (booleans "t"/"f", times as microseconds since the epoch, tags as
 * a JSON array); NULL columns are NULL. */
struct task_row {
	const char *id, *user_id, *title, *description, *completed, *completed_at_us, *priority,
	    *tags_json, *due_date_us, *created_at_us, *updated_at_us, *version;
};

struct strbuf;
/* Appends the task as the API shows it, as a JSON object. Written directly
 * rather than through jansson: lists render 50 of these per request. */
void task_row_write_json(struct strbuf *out, const struct task_row *row);

/* Parses an If-Match value: 3, "3" or W/"3". */
bool task_parse_if_match(const char *value, size_t len, int32_t *version);

#endif
