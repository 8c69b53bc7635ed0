/* Unit tests for src/core/jsonx. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/strbuf.h"

static void test_error_with_field(void **state)
{
	(void)state;
	json_t *e = jsonx_error("validation_failed", "title is required", "title");
	assert_non_null(e);
	assert_true(json_is_object(e));
	assert_int_equal(json_object_size(e), 1);
	json_t *inner = json_object_get(e, "error");
	assert_true(json_is_object(inner));
	assert_int_equal(json_object_size(inner), 3);
	assert_string_equal(json_string_value(json_object_get(inner, "code")), "validation_failed");
	assert_string_equal(json_string_value(json_object_get(inner, "message")),
	                    "title is required");
	assert_string_equal(json_string_value(json_object_get(inner, "field")), "title");
	json_decref(e);
}

static void test_error_without_field(void **state)
{
	(void)state;
	json_t *e = jsonx_error("not_found", "no such resource", NULL);
	assert_non_null(e);
	json_t *inner = json_object_get(e, "error");
	assert_true(json_is_object(inner));
	assert_int_equal(json_object_size(inner), 2);
	assert_null(json_object_get(inner, "field"));
	/* The compact encoding is exactly what a client receives. */
	size_t len = 0;
	char *s = jsonx_dump_steal(e, &len);
	assert_string_equal(
	    s, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such resource\"}}");
	assert_int_equal(len, strlen(s));
	free(s);
}

static void test_dump_steal_compact_and_length(void **state)
{
	(void)state;
	json_t *v = json_pack("{s:i, s:[s, b], s:n}", "a", 1, "b", "x y", 1, "c");
	assert_non_null(v);
	size_t len = 0;
	char *s = jsonx_dump_steal(v, &len);
	/* Compact: no spaces after ',' or ':'; keys keep insertion order. */
	assert_string_equal(s, "{\"a\":1,\"b\":[\"x y\",true],\"c\":null}");
	assert_int_equal(len, strlen(s));
	free(s);
}

static void test_dump_steal_takes_reference(void **state)
{
	(void)state;
	/* The value is shared; after dump_steal only our extra reference
	 * remains, so refcount drops from 2 to 1. */
	json_t *v = json_pack("[s]", "h\xc3\xa9llo");
	json_incref(v);
	assert_int_equal(v->refcount, 2);
	char *s = jsonx_dump_steal(v, NULL); /* len may be NULL */
	assert_int_equal(v->refcount, 1);
	/* UTF-8 is written as is, not as \u escapes. */
	assert_string_equal(s, "[\"h\xc3\xa9llo\"]");
	free(s);
	json_decref(v);
}

static void test_string_or_null(void **state)
{
	(void)state;
	json_t *s = jsonx_string_or_null("abc");
	assert_true(json_is_string(s));
	assert_string_equal(json_string_value(s), "abc");
	json_decref(s);
	json_t *n = jsonx_string_or_null(NULL);
	assert_true(json_is_null(n));
	json_decref(n);
}

static void test_utf8_length_ascii(void **state)
{
	(void)state;
	assert_int_equal(jsonx_utf8_length(""), 0);
	assert_int_equal(jsonx_utf8_length("a"), 1);
	assert_int_equal(jsonx_utf8_length("hello world"), 11);
}

static void test_utf8_length_multibyte(void **state)
{
	(void)state;
	/* "é" is 2 bytes, "€" 3 bytes, "😀" (U+1F600) 4 bytes: one code point each. */
	assert_int_equal(jsonx_utf8_length("\xc3\xa9"), 1);
	assert_int_equal(jsonx_utf8_length("\xe2\x82\xac"), 1);
	assert_int_equal(jsonx_utf8_length("\xf0\x9f\x98\x80"), 1);
	const char *mixed = "caf\xc3\xa9 \xe2\x82\xac"
	                    "5 \xf0\x9f\x98\x80!"; /* "café €5 😀!" */
	assert_int_equal(strlen(mixed), 16);
	assert_int_equal(jsonx_utf8_length(mixed), 10);
	/* Japanese: "日本語" is 3 code points in 9 bytes. */
	assert_int_equal(jsonx_utf8_length("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), 3);
}

static char *append_string(const char *s)
{
	struct strbuf b = {0};
	strbuf_append(&b, "x=");
	jsonx_append_string(&b, s);
	char *out = strbuf_steal(&b);
	assert_memory_equal(out, "x=", 2); /* appends, keeps what was there */
	return out;
}

static void test_append_string_escapes(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"plain", "x=\"plain\""},
	    {"", "x=\"\""},
	    {"a\"b\\c", "x=\"a\\\"b\\\\c\""},
	    {"\n\t\x01\x1f", "x=\"\\u000a\\u0009\\u0001\\u001f\""},
	    /* UTF-8 and '/' pass through untouched. */
	    {"caf\xc3\xa9 </b> \xf0\x9f\x98\x80", "x=\"caf\xc3\xa9 </b> \xf0\x9f\x98\x80\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = append_string(cases[i].in);
		assert_string_equal(out, cases[i].want);
		free(out);
	}
}

static void test_append_string_round_trips(void **state)
{
	(void)state;
	static const char *const samples[] = {
	    "",
	    "\"",
	    "\\",
	    "\"\"\\\\",
	    "tab\there",
	    "\x7f del",
	    "end\\",
	    "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x1e",
	    "\xe6\x97\xa5\xe6\x9c\xac \"q\" \\ \r\n",
	};
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		struct strbuf b = {0};
		jsonx_append_string(&b, samples[i]);
		char *text = strbuf_steal(&b);
		json_error_t e;
		json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
		if (!json_is_string(v))
			fail_msg("not a JSON string (%s): %s", e.text, text);
		assert_string_equal(json_string_value(v), samples[i]);
		json_decref(v);
		free(text);
	}
}

/* What a URL can carry after percent-decoding: only well-formed UTF-8 may
 * reach PostgreSQL. */
static void test_utf8_valid(void **state)
{
	(void)state;
	static const char *const good[] = {
	    "", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"};
	static const char *const bad[] = {
	    "\xff",             /* never a UTF-8 byte */
	    "\xc3",             /* cut short */
	    "\xc3(",            /* bad continuation */
	    "\xc0\xaf",         /* overlong '/' */
	    "\xe0\x80\xaf",     /* overlong, three bytes */
	    "\xed\xa0\x80",     /* a surrogate */
	    "\xf4\x90\x80\x80", /* past U+10FFFF */
	    "ok\x80",           /* a lone continuation */
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		assert_true(jsonx_utf8_valid(good[i]));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(jsonx_utf8_valid(bad[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_with_field),
	    cmocka_unit_test(test_error_without_field),
	    cmocka_unit_test(test_dump_steal_compact_and_length),
	    cmocka_unit_test(test_dump_steal_takes_reference),
	    cmocka_unit_test(test_string_or_null),
	    cmocka_unit_test(test_utf8_length_ascii),
	    cmocka_unit_test(test_utf8_length_multibyte),
	    cmocka_unit_test(test_utf8_valid),
	    cmocka_unit_test(test_append_string_escapes),
	    cmocka_unit_test(test_append_string_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
