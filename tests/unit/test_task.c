/* Unit tests for src/task/task: input validation, the list query, the JSON
 * view of a row and If-Match parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/iso8601.h"
#include "core/strbuf.h"
#include "http/query.h"
#include "task/cursor.h"
#include "task/task.h"

#define EACUTE "\xc3\xa9"         /* é: 2 bytes */
#define EURO   "\xe2\x82\xac"     /* €: 3 bytes */
#define GRIN   "\xf0\x9f\x98\x80" /* 😀: 4 bytes */

/* ---- helpers ---------------------------------------------------------- */

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
	if (v == NULL)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return v;
}

/* unit repeated n times; the caller frees it. */
static char *repeat(const char *unit, int n)
{
	size_t len = strlen(unit);
	char *s = malloc(len * (size_t)n + 1);
	assert_non_null(s);
	for (int i = 0; i < n; i++)
		memcpy(s + len * (size_t)i, unit, len);
	s[len * (size_t)n] = '\0';
	return s;
}

static void parse_ok_json(json_t *body, enum task_input_kind kind, struct task_input *in)
{
	struct api_error err = {0};
	if (!task_input_parse(body, kind, in, &err))
		fail_msg("rejected: %d %s field=%s: %s", err.status, err.code, err.field,
		         err.message);
	json_decref(body);
}

static void parse_ok(const char *text, enum task_input_kind kind, struct task_input *in)
{
	parse_ok_json(J(text), kind, in);
}

static void parse_fails_json(json_t *body, enum task_input_kind kind, int status, const char *code,
                             const char *field)
{
	struct api_error err;
	memset(&err, 0, sizeof err);
	struct task_input in;
	memset(&in, 0x33, sizeof in);
	if (task_input_parse(body, kind, &in, &err)) {
		task_input_free(&in);
		json_decref(body);
		fail_msg("accepted a body that should fail with %s on %s", code, field);
	}
	json_decref(body);
	assert_int_equal(err.status, status);
	assert_non_null(err.code);
	assert_string_equal(err.code, code);
	assert_string_equal(err.field, field);
	assert_true(err.message[0] != '\0');
	/* On failure nothing is left to free. */
	assert_int_equal(in.present, 0);
	assert_null(in.title);
	assert_null(in.description);
	assert_int_equal(in.ntags, 0);
}

static void parse_fails(const char *text, enum task_input_kind kind, int status, const char *code,
                        const char *field)
{
	parse_fails_json(J(text), kind, status, code, field);
}

/* ---- task_input_parse ------------------------------------------------- */

static void test_create_minimal_trims_title(void **state)
{
	(void)state;
	struct task_input in;
	parse_ok("{\"title\": \"  \\t Buy milk \\n \"}", TASK_INPUT_CREATE, &in);
	assert_int_equal(in.present, FIELD_TITLE);
	assert_string_equal(in.title, "Buy milk");
	assert_null(in.description);
	assert_null(in.priority);
	assert_int_equal(in.ntags, 0);
	assert_false(in.has_due_date);
	assert_false(in.completed);
	task_input_free(&in);
	assert_null(in.title);
	assert_int_equal(in.present, 0);
}

static void test_create_all_fields(void **state)
{
	(void)state;
	struct task_input in;
	parse_ok("{\"title\":\"Write report\",\"description\":\"Q3 numbers\","
	         "\"priority\":\"high\",\"tags\":[\"work\",\"urgent\"],"
	         "\"due_date\":\"2026-11-27T09:00:00+01:00\",\"completed\":true}",
	         TASK_INPUT_CREATE, &in);
	assert_int_equal(in.present, FIELD_TITLE | FIELD_DESCRIPTION | FIELD_PRIORITY | FIELD_TAGS |
	                                 FIELD_DUE_DATE | FIELD_COMPLETED);
	assert_string_equal(in.title, "Write report");
	assert_string_equal(in.description, "Q3 numbers");
	assert_string_equal(in.priority, "high");
	assert_int_equal(in.ntags, 2);
	assert_string_equal(in.tags[0], "work");
	assert_string_equal(in.tags[1], "urgent");
	assert_true(in.has_due_date);
	int64_t expected;
	assert_true(iso8601_parse("2026-11-27T08:00:00Z", &expected));
	assert_int_equal(in.due_date_us, expected);
	assert_true(in.completed);
	task_input_free(&in);
}

static void test_create_requires_title(void **state)
{
	(void)state;
	parse_fails("{}", TASK_INPUT_CREATE, 422, "validation_failed", "title");
	parse_fails("{\"description\":\"no title\",\"tags\":[\"a\"]}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "title");
}

static void test_title_invalid(void **state)
{
	(void)state;
	parse_fails("{\"title\":\"\"}", TASK_INPUT_CREATE, 422, "validation_failed", "title");
	parse_fails("{\"title\":\"   \\t\\n  \"}", TASK_INPUT_CREATE, 422, "validation_failed",
	            "title");
	parse_fails("{\"title\":42}", TASK_INPUT_CREATE, 422, "validation_failed", "title");
	parse_fails("{\"title\":null}", TASK_INPUT_CREATE, 422, "validation_failed", "title");
	parse_fails("{\"title\":[\"a\"]}", TASK_INPUT_UPDATE, 422, "validation_failed", "title");
}

static void test_title_counts_code_points(void **state)
{
	(void)state;
	struct task_input in;
	/* 500 two-byte characters: 1000 bytes, but 500 code points. */
	char *s = repeat(EACUTE, TASK_TITLE_MAX);
	parse_ok_json(json_pack("{s:s}", "title", s), TASK_INPUT_CREATE, &in);
	assert_int_equal(strlen(in.title), 2 * TASK_TITLE_MAX);
	task_input_free(&in);
	free(s);
	/* 500 four-byte characters: 2000 bytes. */
	s = repeat(GRIN, TASK_TITLE_MAX);
	parse_ok_json(json_pack("{s:s}", "title", s), TASK_INPUT_CREATE, &in);
	assert_string_equal(in.title, s);
	task_input_free(&in);
	free(s);
	/* 501 code points, multibyte or not, is one too many. */
	s = repeat(EURO, TASK_TITLE_MAX + 1);
	parse_fails_json(json_pack("{s:s}", "title", s), TASK_INPUT_CREATE, 422,
	                 "validation_failed", "title");
	free(s);
	s = repeat("a", TASK_TITLE_MAX + 1);
	parse_fails_json(json_pack("{s:s}", "title", s), TASK_INPUT_CREATE, 422,
	                 "validation_failed", "title");
	free(s);
}

static void test_title_length_after_trim(void **state)
{
	(void)state;
	struct task_input in;
	/* 500 characters with surrounding blanks: the blanks do not count. */
	char *core = repeat("x", TASK_TITLE_MAX);
	char *padded = malloc(strlen(core) + 7);
	assert_non_null(padded);
	sprintf(padded, "   %s   ", core);
	parse_ok_json(json_pack("{s:s}", "title", padded), TASK_INPUT_CREATE, &in);
	assert_string_equal(in.title, core);
	task_input_free(&in);
	free(padded);
	free(core);
	/* Inner blanks are kept. */
	parse_ok("{\"title\":\" a  b \"}", TASK_INPUT_CREATE, &in);
	assert_string_equal(in.title, "a  b");
	task_input_free(&in);
}

static void test_description(void **state)
{
	(void)state;
	struct task_input in;
	parse_ok("{\"title\":\"t\",\"description\":null}", TASK_INPUT_CREATE, &in);
	assert_true(in.present & FIELD_DESCRIPTION);
	assert_string_equal(in.description, "");
	task_input_free(&in);
	/* Not trimmed. */
	parse_ok("{\"title\":\"t\",\"description\":\"  spaced  \"}", TASK_INPUT_CREATE, &in);
	assert_string_equal(in.description, "  spaced  ");
	task_input_free(&in);

	/* 10000 three-byte characters fit; 10001 do not. */
	char *s = repeat(EURO, TASK_DESCRIPTION_MAX);
	parse_ok_json(json_pack("{s:s, s:s}", "title", "t", "description", s), TASK_INPUT_CREATE,
	              &in);
	assert_int_equal(strlen(in.description), 3 * TASK_DESCRIPTION_MAX);
	task_input_free(&in);
	free(s);
	s = repeat("d", TASK_DESCRIPTION_MAX + 1);
	parse_fails_json(json_pack("{s:s, s:s}", "title", "t", "description", s), TASK_INPUT_CREATE,
	                 422, "validation_failed", "description");
	free(s);
	parse_fails("{\"title\":\"t\",\"description\":7}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "description");
}

static void test_tags_trim_and_distinct(void **state)
{
	(void)state;
	struct task_input in;
	parse_ok("{\"title\":\"t\",\"tags\":[\" home \",\"work\",\"Work\",\"\\tx\"]}",
	         TASK_INPUT_CREATE, &in);
	assert_true(in.present & FIELD_TAGS);
	assert_int_equal(in.ntags, 4);
	assert_string_equal(in.tags[0], "home");
	assert_string_equal(in.tags[1], "work");
	assert_string_equal(in.tags[2], "Work"); /* case-sensitive */
	assert_string_equal(in.tags[3], "x");
	task_input_free(&in);

	/* The same tag twice, also once trimmed, is an error rather than merged. */
	parse_fails("{\"title\":\"t\",\"tags\":[\"home\",\"home\"]}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "tags");
	parse_fails("{\"title\":\"t\",\"tags\":[\" a\",\"a \"]}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "tags");

	parse_ok("{\"tags\":[]}", TASK_INPUT_UPDATE, &in);
	assert_int_equal(in.present, FIELD_TAGS);
	assert_int_equal(in.ntags, 0);
	task_input_free(&in);
}

static void test_tags_count_limit(void **state)
{
	(void)state;
	struct task_input in;
	json_t *tags = json_array();
	for (int i = 0; i < TASK_TAGS_MAX; i++) {
		char t[16];
		snprintf(t, sizeof t, "tag%d", i);
		json_array_append_new(tags, json_string(t));
	}
	json_t *body = json_pack("{s:s, s:O}", "title", "t", "tags", tags);
	parse_ok_json(body, TASK_INPUT_CREATE, &in);
	assert_int_equal(in.ntags, TASK_TAGS_MAX);
	assert_string_equal(in.tags[19], "tag19");
	task_input_free(&in);

	json_array_append_new(tags, json_string("one-more"));
	parse_fails_json(json_pack("{s:s, s:o}", "title", "t", "tags", tags), TASK_INPUT_CREATE,
	                 422, "validation_failed", "tags");
}

static void test_tag_length(void **state)
{
	(void)state;
	struct task_input in;
	/* 50 four-byte characters, padded: fine. */
	char *s = repeat(GRIN, TASK_TAG_MAX);
	char padded[512];
	snprintf(padded, sizeof padded, "  %s ", s);
	parse_ok_json(json_pack("{s:s, s:[s]}", "title", "t", "tags", padded), TASK_INPUT_CREATE,
	              &in);
	assert_int_equal(in.ntags, 1);
	assert_string_equal(in.tags[0], s);
	task_input_free(&in);
	free(s);
	s = repeat(EACUTE, TASK_TAG_MAX + 1);
	parse_fails_json(json_pack("{s:s, s:[s, s]}", "title", "t", "tags", "ok", s),
	                 TASK_INPUT_CREATE, 422, "validation_failed", "tags");
	free(s);
	parse_fails("{\"title\":\"t\",\"tags\":[\"a\",\"  \"]}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "tags");
	parse_fails("{\"title\":\"t\",\"tags\":[\"\"]}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "tags");
}

static void test_tags_wrong_types(void **state)
{
	(void)state;
	parse_fails("{\"title\":\"t\",\"tags\":\"a,b\"}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "tags");
	parse_fails("{\"title\":\"t\",\"tags\":[\"a\",1]}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "tags");
	parse_fails("{\"title\":\"t\",\"tags\":[null]}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "tags");
	parse_fails("{\"tags\":null}", TASK_INPUT_UPDATE, 422, "validation_failed", "tags");
}

static void test_priority(void **state)
{
	(void)state;
	static const char *const ok[] = {"low", "medium", "high"};
	for (size_t i = 0; i < 3; i++) {
		struct task_input in;
		json_t *body = json_pack("{s:s, s:s}", "title", "t", "priority", ok[i]);
		parse_ok_json(body, TASK_INPUT_CREATE, &in);
		assert_true(in.present & FIELD_PRIORITY);
		assert_string_equal(in.priority, ok[i]);
		task_input_free(&in);
	}
	parse_fails("{\"priority\":\"HIGH\"}", TASK_INPUT_UPDATE, 422, "validation_failed",
	            "priority");
	parse_fails("{\"priority\":\"urgent\"}", TASK_INPUT_UPDATE, 422, "validation_failed",
	            "priority");
	parse_fails("{\"priority\":\"\"}", TASK_INPUT_UPDATE, 422, "validation_failed", "priority");
	parse_fails("{\"priority\":2}", TASK_INPUT_UPDATE, 422, "validation_failed", "priority");
	parse_fails("{\"priority\":null}", TASK_INPUT_UPDATE, 422, "validation_failed", "priority");
}

static void test_due_date(void **state)
{
	(void)state;
	struct task_input in;
	parse_ok("{\"due_date\":\"2026-01-02T03:04:05.678-05:00\"}", TASK_INPUT_UPDATE, &in);
	assert_int_equal(in.present, FIELD_DUE_DATE);
	assert_true(in.has_due_date);
	char out[ISO8601_LEN];
	iso8601_format(in.due_date_us, out);
	assert_string_equal(out, "2026-01-02T08:04:05.678Z");
	task_input_free(&in);

	parse_ok("{\"due_date\":null}", TASK_INPUT_UPDATE, &in);
	assert_int_equal(in.present, FIELD_DUE_DATE);
	assert_false(in.has_due_date);
	task_input_free(&in);

	parse_fails("{\"title\":\"t\",\"due_date\":\"2026-01-02T03:04:05\"}", TASK_INPUT_CREATE,
	            422, "validation_failed", "due_date");
	parse_fails("{\"title\":\"t\",\"due_date\":\"2026-01-02\"}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "due_date");
	parse_fails("{\"title\":\"t\",\"due_date\":\"2026-02-30T00:00:00Z\"}", TASK_INPUT_CREATE,
	            422, "validation_failed", "due_date");
	parse_fails("{\"title\":\"t\",\"due_date\":1767225600}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "due_date");
}

static void test_completed(void **state)
{
	(void)state;
	struct task_input in;
	parse_ok("{\"completed\":true}", TASK_INPUT_UPDATE, &in);
	assert_int_equal(in.present, FIELD_COMPLETED);
	assert_true(in.completed);
	task_input_free(&in);
	parse_ok("{\"completed\":false}", TASK_INPUT_UPDATE, &in);
	assert_int_equal(in.present, FIELD_COMPLETED);
	assert_false(in.completed);
	task_input_free(&in);
	parse_fails("{\"completed\":\"true\"}", TASK_INPUT_UPDATE, 422, "validation_failed",
	            "completed");
	parse_fails("{\"completed\":1}", TASK_INPUT_UPDATE, 422, "validation_failed", "completed");
	parse_fails("{\"completed\":null}", TASK_INPUT_COMPLETE, 422, "validation_failed",
	            "completed");
}

static void test_version_only_for_update(void **state)
{
	(void)state;
	struct task_input in;
	parse_ok("{\"title\":\"t\",\"version\":3}", TASK_INPUT_UPDATE, &in);
	assert_int_equal(in.present, FIELD_TITLE | FIELD_VERSION);
	assert_int_equal(in.version, 3);
	task_input_free(&in);
	parse_ok("{\"completed\":true,\"version\":2147483647}", TASK_INPUT_UPDATE, &in);
	assert_int_equal(in.version, INT32_MAX);
	task_input_free(&in);

	parse_fails("{\"title\":\"t\",\"version\":0}", TASK_INPUT_UPDATE, 422, "validation_failed",
	            "version");
	parse_fails("{\"title\":\"t\",\"version\":-1}", TASK_INPUT_UPDATE, 422, "validation_failed",
	            "version");
	parse_fails("{\"title\":\"t\",\"version\":2147483648}", TASK_INPUT_UPDATE, 422,
	            "validation_failed", "version");
	parse_fails("{\"title\":\"t\",\"version\":\"3\"}", TASK_INPUT_UPDATE, 422,
	            "validation_failed", "version");
	parse_fails("{\"title\":\"t\",\"version\":1.0}", TASK_INPUT_UPDATE, 422,
	            "validation_failed", "version");
	/* Creating takes no version. */
	parse_fails("{\"title\":\"t\",\"version\":1}", TASK_INPUT_CREATE, 422, "unknown_field",
	            "version");
}

static void test_unknown_field(void **state)
{
	(void)state;
	struct api_error err = {0};
	struct task_input in;
	json_t *body = J("{\"title\":\"t\",\"colour\":\"red\"}");
	assert_false(task_input_parse(body, TASK_INPUT_CREATE, &in, &err));
	json_decref(body);
	assert_int_equal(err.status, 422);
	assert_string_equal(err.code, "unknown_field");
	assert_string_equal(err.field, "colour");
	assert_non_null(strstr(err.message, "colour"));
	assert_null(in.title);

	parse_fails("{\"id\":5}", TASK_INPUT_UPDATE, 422, "unknown_field", "id");
	parse_fails("{\"Title\":\"t\"}", TASK_INPUT_UPDATE, 422, "unknown_field", "Title");
	parse_fails("{\"user_id\":\"someone-else\",\"title\":\"t\"}", TASK_INPUT_CREATE, 422,
	            "unknown_field", "user_id");
}

static void test_unknown_field_long_name(void **state)
{
	(void)state;
	/* A very long field name is cut to fit, never overflowing. */
	char *name = repeat("k", 300);
	json_t *body = json_object();
	json_object_set_new(body, name, json_true());
	struct api_error err;
	struct task_input in;
	assert_false(task_input_parse(body, TASK_INPUT_UPDATE, &in, &err));
	assert_string_equal(err.code, "unknown_field");
	assert_int_equal(strlen(err.field), sizeof err.field - 1);
	assert_memory_equal(err.field, name, sizeof err.field - 1);
	assert_true(strlen(err.message) < sizeof err.message);
	json_decref(body);
	free(name);
}

static void test_body_not_object(void **state)
{
	(void)state;
	static const char *const bodies[] = {
	    "[]", "[{\"title\":\"t\"}]", "\"title\"", "null", "42", "true"};
	static const enum task_input_kind kinds[] = {TASK_INPUT_CREATE, TASK_INPUT_UPDATE,
	                                             TASK_INPUT_COMPLETE};
	for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++)
		for (size_t k = 0; k < 3; k++)
			parse_fails(bodies[b], kinds[k], 400, "bad_json", "");
	parse_fails_json(NULL, TASK_INPUT_CREATE, 400, "bad_json", "");
}

static void test_update_needs_a_field(void **state)
{
	(void)state;
	parse_fails("{}", TASK_INPUT_UPDATE, 422, "validation_failed", "");
	parse_fails("{\"version\":4}", TASK_INPUT_UPDATE, 422, "validation_failed", "");
	struct task_input in;
	parse_ok("{\"description\":\"only this\"}", TASK_INPUT_UPDATE, &in);
	assert_int_equal(in.present, FIELD_DESCRIPTION);
	assert_null(in.title);
	task_input_free(&in);
}

static void test_complete_kind(void **state)
{
	(void)state;
	struct task_input in;
	parse_ok("{\"completed\":true}", TASK_INPUT_COMPLETE, &in);
	assert_int_equal(in.present, FIELD_COMPLETED);
	assert_true(in.completed);
	task_input_free(&in);
	parse_ok("{\"completed\":false}", TASK_INPUT_COMPLETE, &in);
	assert_false(in.completed);
	task_input_free(&in);
	/* Anything but "completed" is unknown here, even fields UPDATE takes. */
	parse_fails("{\"completed\":true,\"title\":\"t\"}", TASK_INPUT_COMPLETE, 422,
	            "unknown_field", "title");
	parse_fails("{\"version\":1}", TASK_INPUT_COMPLETE, 422, "unknown_field", "version");
	/* An empty object parses; the handler decides what a missing
	 * "completed" means (it checks FIELD_COMPLETED). */
	parse_ok("{}", TASK_INPUT_COMPLETE, &in);
	assert_int_equal(in.present, 0);
	task_input_free(&in);
}

static void test_failure_after_allocations_frees(void **state)
{
	(void)state;
	/* Title, description and tags are allocated before the bad field; the
	 * parser must release them (ASan's leak check watches this). */
	parse_fails("{\"title\":\"t\",\"description\":\"d\",\"tags\":[\"a\",\"b\"],"
	            "\"priority\":\"none\"}",
	            TASK_INPUT_CREATE, 422, "validation_failed", "priority");
	parse_fails("{\"title\":\"t\",\"tags\":[\"a\",\"b\",\"\"]}", TASK_INPUT_CREATE, 422,
	            "validation_failed", "tags");
}

/* ---- task_tags_pg_array ----------------------------------------------- */

static void assert_pg_array(const char *body, const char *expected)
{
	struct task_input in;
	parse_ok(body, TASK_INPUT_UPDATE, &in);
	char *s = task_tags_pg_array(&in);
	assert_non_null(s);
	assert_string_equal(s, expected);
	free(s);
	task_input_free(&in);
}

static void test_pg_array(void **state)
{
	(void)state;
	assert_pg_array("{\"tags\":[]}", "{}");
	assert_pg_array("{\"tags\":[\"a\"]}", "{\"a\"}");
	assert_pg_array("{\"tags\":[\"home\",\"work\"]}", "{\"home\",\"work\"}");
	/* Quotes and backslashes are escaped; commas, braces and spaces are safe
	 * inside the quotes; NULL stays a string. */
	assert_pg_array("{\"tags\":[\"say \\\"hi\\\"\"]}", "{\"say \\\"hi\\\"\"}");
	assert_pg_array("{\"tags\":[\"back\\\\slash\"]}", "{\"back\\\\slash\"}");
	assert_pg_array("{\"tags\":[\"\\\\\\\"\"]}", "{\"\\\\\\\"\"}");
	assert_pg_array("{\"tags\":[\"a,b\",\"{c}\",\"NULL\",\"x y\"]}",
	                "{\"a,b\",\"{c}\",\"NULL\",\"x y\"}");
	assert_pg_array("{\"tags\":[\"caf\\u00e9\"]}", "{\"caf" EACUTE "\"}");
}

/* ---- task_list_query_parse -------------------------------------------- */

static bool list_parse(const char *qs, struct query *q, struct task_list_query *out,
                       struct api_error *err)
{
	if (!query_parse(qs, strlen(qs), q))
		fail_msg("bad test query %s", qs);
	memset(out, 0x44, sizeof *out);
	memset(err, 0, sizeof *err);
	return task_list_query_parse(q, out, err);
}

static void list_fails(const char *qs, const char *field)
{
	struct query q;
	struct task_list_query out;
	struct api_error err;
	if (list_parse(qs, &q, &out, &err)) {
		query_free(&q);
		fail_msg("accepted %s", qs);
	}
	query_free(&q);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.code, "bad_request");
	assert_string_equal(err.field, field);
	assert_true(err.message[0] != '\0');
}

static void test_list_defaults(void **state)
{
	(void)state;
	struct query q;
	struct task_list_query out;
	struct api_error err;
	assert_true(list_parse("", &q, &out, &err));
	assert_int_equal(out.status, STATUS_ALL);
	assert_null(out.priority);
	assert_int_equal(out.ntags, 0);
	assert_null(out.q);
	assert_false(out.has_due_before);
	assert_false(out.has_due_after);
	assert_int_equal(out.sort, SORT_CREATED_AT);
	assert_true(out.descending);
	assert_int_equal(out.limit, TASK_LIST_LIMIT_DEFAULT);
	assert_int_equal(out.limit, 50);
	assert_false(out.has_cursor);
	query_free(&q);
	/* Unknown parameters (cache busters) are ignored. */
	assert_true(list_parse("_=1712345&foo=bar", &q, &out, &err));
	assert_int_equal(out.limit, 50);
	assert_int_equal(out.sort, SORT_CREATED_AT);
	query_free(&q);
}

static void test_list_status(void **state)
{
	(void)state;
	struct query q;
	struct task_list_query out;
	struct api_error err;
	assert_true(list_parse("status=pending", &q, &out, &err));
	assert_int_equal(out.status, STATUS_PENDING);
	query_free(&q);
	assert_true(list_parse("status=completed", &q, &out, &err));
	assert_int_equal(out.status, STATUS_COMPLETED);
	query_free(&q);
	assert_true(list_parse("status=all", &q, &out, &err));
	assert_int_equal(out.status, STATUS_ALL);
	query_free(&q);
	list_fails("status=done", "status");
	list_fails("status=", "status");
	list_fails("status=Pending", "status");
}

static void test_list_priority(void **state)
{
	(void)state;
	struct query q;
	struct task_list_query out;
	struct api_error err;
	assert_true(list_parse("priority=medium", &q, &out, &err));
	assert_string_equal(out.priority, "medium");
	query_free(&q);
	list_fails("priority=urgent", "priority");
	list_fails("priority=", "priority");
	list_fails("priority", "priority");
}

static void test_list_tags(void **state)
{
	(void)state;
	struct query q;
	struct task_list_query out;
	struct api_error err;
	assert_true(list_parse("tag=work&tag=home+office&tag=caf%C3%A9", &q, &out, &err));
	assert_int_equal(out.ntags, 3);
	assert_string_equal(out.tags[0], "work");
	assert_string_equal(out.tags[1], "home office");
	assert_string_equal(out.tags[2], "caf" EACUTE);
	query_free(&q);
	list_fails("tag=", "tag");
	list_fails("tag=a&tag", "tag");

	char qs[512] = "";
	for (int i = 0; i < TASK_TAGS_MAX; i++)
		strcat(qs, i ? "&tag=t" : "tag=t");
	assert_true(list_parse(qs, &q, &out, &err));
	assert_int_equal(out.ntags, TASK_TAGS_MAX);
	query_free(&q);
	strcat(qs, "&tag=t");
	list_fails(qs, "tag");
}

static void test_list_text_search(void **state)
{
	(void)state;
	struct query q;
	struct task_list_query out;
	struct api_error err;
	assert_true(list_parse("q=buy+milk", &q, &out, &err));
	assert_string_equal(out.q, "buy milk");
	query_free(&q);
	assert_true(list_parse("q=", &q, &out, &err));
	assert_null(out.q); /* empty means no search */
	query_free(&q);
	char *longq = repeat("a", TASK_TITLE_MAX * 4);
	char qs[4096];
	snprintf(qs, sizeof qs, "q=%s", longq);
	assert_true(list_parse(qs, &q, &out, &err));
	assert_int_equal(strlen(out.q), TASK_TITLE_MAX * 4);
	query_free(&q);
	strcat(qs, "a");
	list_fails(qs, "q");
	free(longq);
}

static void test_list_due_range(void **state)
{
	(void)state;
	struct query q;
	struct task_list_query out;
	struct api_error err;
	assert_true(
	    list_parse("due_before=2026-01-01T00:00:00%2B02:00&due_after=1970-01-01T00:00:01Z", &q,
	               &out, &err));
	assert_true(out.has_due_before);
	assert_true(out.has_due_after);
	int64_t expected;
	assert_true(iso8601_parse("2025-12-31T22:00:00Z", &expected));
	assert_int_equal(out.due_before_us, expected);
	assert_int_equal(out.due_after_us, 1000000);
	query_free(&q);
	/* An unencoded '+' becomes a space, and the offset is then missing. */
	list_fails("due_before=2026-01-01T00:00:00+02:00", "due_before");
	list_fails("due_before=2026-01-01T00:00:00", "due_before");
	list_fails("due_after=yesterday", "due_after");
	list_fails("due_after=", "due_after");
}

static void test_list_sort_and_order(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		enum task_sort sort;
	} sorts[] = {{"created_at", SORT_CREATED_AT},
	             {"updated_at", SORT_UPDATED_AT},
	             {"due_date", SORT_DUE_DATE},
	             {"priority", SORT_PRIORITY},
	             {"title", SORT_TITLE}};
	struct query q;
	struct task_list_query out;
	struct api_error err;
	char qs[64];
	for (size_t i = 0; i < 5; i++) {
		snprintf(qs, sizeof qs, "sort=%s&order=asc", sorts[i].name);
		assert_true(list_parse(qs, &q, &out, &err));
		assert_int_equal(out.sort, sorts[i].sort);
		assert_false(out.descending);
		query_free(&q);
	}
	assert_true(list_parse("order=desc&sort=title", &q, &out, &err));
	assert_int_equal(out.sort, SORT_TITLE);
	assert_true(out.descending);
	query_free(&q);
	list_fails("sort=name", "sort");
	list_fails("sort=", "sort");
	list_fails("sort=TITLE", "sort");
	list_fails("order=up", "order");
	list_fails("order=ASC", "order");
	list_fails("order=", "order");
}

static void test_list_limit(void **state)
{
	(void)state;
	struct query q;
	struct task_list_query out;
	struct api_error err;
	assert_true(list_parse("limit=1", &q, &out, &err));
	assert_int_equal(out.limit, 1);
	query_free(&q);
	assert_true(list_parse("limit=200", &q, &out, &err));
	assert_int_equal(out.limit, TASK_LIST_LIMIT_MAX);
	query_free(&q);
	assert_true(list_parse("limit=75", &q, &out, &err));
	assert_int_equal(out.limit, 75);
	query_free(&q);
	list_fails("limit=0", "limit");
	list_fails("limit=201", "limit");
	list_fails("limit=-1", "limit");
	list_fails("limit=abc", "limit");
	list_fails("limit=", "limit");
	list_fails("limit=10.5", "limit");
	list_fails("limit=+10", "limit");
	list_fails("limit=%2010", "limit");
	list_fails("limit=10x", "limit");
	list_fails("limit=99999999999999999999", "limit");
}

static void make_cursor_text(enum task_sort sort, bool desc, const char *key, char *text)
{
	struct cursor c;
	memset(&c, 0, sizeof c);
	c.sort = sort;
	c.descending = desc;
	c.id = 17;
	snprintf(c.key, sizeof c.key, "%s", key);
	assert_true(cursor_encode(&c, text, CURSOR_TEXT_MAX + 1));
}

static void test_list_cursor(void **state)
{
	(void)state;
	struct query q;
	struct task_list_query out;
	struct api_error err;
	char text[CURSOR_TEXT_MAX + 1], qs[CURSOR_TEXT_MAX + 64];

	/* A cursor for the default sort (created_at desc). */
	make_cursor_text(SORT_CREATED_AT, true, "1710506096000000", text);
	snprintf(qs, sizeof qs, "cursor=%s", text);
	assert_true(list_parse(qs, &q, &out, &err));
	assert_true(out.has_cursor);
	assert_int_equal(out.cursor.id, 17);
	assert_string_equal(out.cursor.key, "1710506096000000");
	query_free(&q);

	/* The cursor may come before the sort it belongs to. */
	make_cursor_text(SORT_TITLE, false, "milk", text);
	snprintf(qs, sizeof qs, "cursor=%s&sort=title&order=asc", text);
	assert_true(list_parse(qs, &q, &out, &err));
	assert_true(out.has_cursor);
	assert_int_equal(out.cursor.sort, SORT_TITLE);
	query_free(&q);

	/* Same cursor, other order or other sort: refused. */
	snprintf(qs, sizeof qs, "sort=title&order=desc&cursor=%s", text);
	list_fails(qs, "cursor");
	snprintf(qs, sizeof qs, "sort=priority&order=asc&cursor=%s", text);
	list_fails(qs, "cursor");
	snprintf(qs, sizeof qs, "cursor=%s", text); /* default sort */
	list_fails(qs, "cursor");

	list_fails("cursor=garbage!", "cursor");
	list_fails("cursor=AAAA", "cursor");

	/* An empty cursor is the first page. */
	assert_true(list_parse("cursor=", &q, &out, &err));
	assert_false(out.has_cursor);
	query_free(&q);
}

/* ---- task_row_write_json ---------------------------------------------- */

/* Renders a row, appended after existing text to show it appends; returns
 * just the row's JSON text, which the caller frees. */
static char *render(const struct task_row *row)
{
	struct strbuf b = {0};
	strbuf_append(&b, "[");
	task_row_write_json(&b, row);
	strbuf_append(&b, "]");
	char *all = strbuf_steal(&b);
	assert_int_equal(all[0], '[');
	size_t n = strlen(all);
	assert_int_equal(all[n - 1], ']');
	char *row_text = strndup(all + 1, n - 2);
	free(all);
	return row_text;
}

/* The rendered row, checked to be valid JSON and returned parsed. */
static json_t *render_parsed(const struct task_row *row)
{
	char *text = render(row);
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	if (!json_is_object(j))
		fail_msg("not a JSON object (%s): %s", e.text, text);
	free(text);
	return j;
}

static void test_row_json_full(void **state)
{
	(void)state;
	struct task_row row = {
	    .id = "42",
	    .user_id = "user-1",
	    .title = "Write report",
	    .description = "Q3",
	    .completed = "t",
	    .completed_at_us = "1710506096123456",
	    .priority = "high",
	    .tags_json = "[\"work\",\"urgent\"]",
	    .due_date_us = "-1000",
	    .created_at_us = "0",
	    .updated_at_us = "951782400000000",
	    .version = "7",
	};
	char *s = render(&row);
	assert_string_equal(
	    s,
	    "{\"id\":42,\"user_id\":\"user-1\",\"title\":\"Write report\",\"description\":\"Q3\","
	    "\"completed\":true,\"completed_at\":\"2024-03-15T12:34:56.123Z\","
	    "\"priority\":\"high\",\"tags\":[\"work\",\"urgent\"],"
	    "\"due_date\":\"1969-12-31T23:59:59.999Z\","
	    "\"created_at\":\"1970-01-01T00:00:00.000Z\","
	    "\"updated_at\":\"2000-02-29T00:00:00.000Z\",\"version\":7}");
	free(s);
}

static void test_row_json_nulls(void **state)
{
	(void)state;
	struct task_row row = {
	    .id = "9007199254740993", /* beyond double precision: stays an exact integer */
	    .user_id = "u",
	    .title = "t",
	    .completed = "f",
	    .priority = "medium",
	    .created_at_us = "1000",
	    .updated_at_us = "2000",
	    .version = "1",
	};
	json_t *j = render_parsed(&row);
	assert_int_equal(json_object_size(j), 12);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), INT64_C(9007199254740993));
	assert_string_equal(json_string_value(json_object_get(j, "description")), "");
	assert_true(json_is_false(json_object_get(j, "completed")));
	assert_true(json_is_null(json_object_get(j, "completed_at")));
	assert_true(json_is_null(json_object_get(j, "due_date")));
	json_t *tags = json_object_get(j, "tags");
	assert_true(json_is_array(tags));
	assert_int_equal(json_array_size(tags), 0);
	assert_string_equal(json_string_value(json_object_get(j, "created_at")),
	                    "1970-01-01T00:00:00.001Z");
	assert_string_equal(json_string_value(json_object_get(j, "updated_at")),
	                    "1970-01-01T00:00:00.002Z");
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
	json_decref(j);

	/* A NULL completed column reads as false. */
	row.completed = NULL;
	j = render_parsed(&row);
	assert_true(json_is_false(json_object_get(j, "completed")));
	json_decref(j);
}

static void test_row_json_escapes_text(void **state)
{
	(void)state;
	/* User text with quotes, backslashes, control characters and UTF-8 must
	 * come out as valid JSON holding exactly the same strings. */
	struct task_row row = {
	    .id = "5",
	    .user_id = "al\"ice\\",
	    .title = "say \"hi\"\n\tto caf" EACUTE " " GRIN,
	    .description = "line1\r\nline2\x01\x1f end </script>",
	    .completed = "f",
	    .priority = "low",
	    .tags_json = "[\"a\\\"b\"]",
	    .created_at_us = "0",
	    .updated_at_us = "0",
	    .version = "2",
	};
	json_t *j = render_parsed(&row);
	assert_string_equal(json_string_value(json_object_get(j, "user_id")), row.user_id);
	assert_string_equal(json_string_value(json_object_get(j, "title")), row.title);
	assert_string_equal(json_string_value(json_object_get(j, "description")), row.description);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "tags"), 0)),
	                    "a\"b");
	json_decref(j);
}

/* ---- task_parse_if_match ---------------------------------------------- */

static bool if_match(const char *v, int32_t *version)
{
	*version = -99;
	return task_parse_if_match(v, strlen(v), version);
}

static void test_if_match_accepted_forms(void **state)
{
	(void)state;
	int32_t v;
	assert_true(if_match("3", &v));
	assert_int_equal(v, 3);
	assert_true(if_match("\"3\"", &v));
	assert_int_equal(v, 3);
	assert_true(if_match("W/\"3\"", &v));
	assert_int_equal(v, 3);
	assert_true(if_match("\"2147483647\"", &v));
	assert_int_equal(v, INT32_MAX);
	assert_true(if_match("W/\"12\"", &v));
	assert_int_equal(v, 12);
	/* Only len bytes are read. */
	v = 0;
	assert_true(task_parse_if_match("\"45\", \"46\"", 4, &v));
	assert_int_equal(v, 45);
}

static void test_if_match_rejected(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "0",
	    "\"0\"",
	    "W/\"0\"",
	    "-1",
	    "\"\"",
	    "W/\"\"",
	    "W/",
	    "*",
	    "abc",
	    "\"abc\"",
	    "3a",
	    " 3",
	    "3 ",
	    "\"3",
	    "3\"",
	    "w/\"3\"",
	    "2147483648",
	    "\"2147483648\"",
	    "1.5",
	    "\"3\", \"4\"",
	    "99999999999999999999999999999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int32_t v;
		if (if_match(bad[i], &v))
			fail_msg("accepted If-Match %s as %d", bad[i], (int)v);
		assert_int_equal(v, -99); /* untouched */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_minimal_trims_title),
	    cmocka_unit_test(test_create_all_fields),
	    cmocka_unit_test(test_create_requires_title),
	    cmocka_unit_test(test_title_invalid),
	    cmocka_unit_test(test_title_counts_code_points),
	    cmocka_unit_test(test_title_length_after_trim),
	    cmocka_unit_test(test_description),
	    cmocka_unit_test(test_tags_trim_and_distinct),
	    cmocka_unit_test(test_tags_count_limit),
	    cmocka_unit_test(test_tag_length),
	    cmocka_unit_test(test_tags_wrong_types),
	    cmocka_unit_test(test_priority),
	    cmocka_unit_test(test_due_date),
	    cmocka_unit_test(test_completed),
	    cmocka_unit_test(test_version_only_for_update),
	    cmocka_unit_test(test_unknown_field),
	    cmocka_unit_test(test_unknown_field_long_name),
	    cmocka_unit_test(test_body_not_object),
	    cmocka_unit_test(test_update_needs_a_field),
	    cmocka_unit_test(test_complete_kind),
	    cmocka_unit_test(test_failure_after_allocations_frees),
	    cmocka_unit_test(test_pg_array),
	    cmocka_unit_test(test_list_defaults),
	    cmocka_unit_test(test_list_status),
	    cmocka_unit_test(test_list_priority),
	    cmocka_unit_test(test_list_tags),
	    cmocka_unit_test(test_list_text_search),
	    cmocka_unit_test(test_list_due_range),
	    cmocka_unit_test(test_list_sort_and_order),
	    cmocka_unit_test(test_list_limit),
	    cmocka_unit_test(test_list_cursor),
	    cmocka_unit_test(test_row_json_full),
	    cmocka_unit_test(test_row_json_nulls),
	    cmocka_unit_test(test_row_json_escapes_text),
	    cmocka_unit_test(test_if_match_accepted_forms),
	    cmocka_unit_test(test_if_match_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
