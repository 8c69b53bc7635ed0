/* Unit tests for src/task/cursor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "task/cursor.h"

static struct cursor make(enum task_sort sort, bool desc, int64_t id, const char *key)
{
	struct cursor c;
	memset(&c, 0, sizeof c);
	c.sort = sort;
	c.descending = desc;
	c.id = id;
	snprintf(c.key, sizeof c.key, "%s", key);
	return c;
}

static void round_trip(const struct cursor *in)
{
	char text[CURSOR_TEXT_MAX + 1];
	assert_true(cursor_encode(in, text, sizeof text));
	/* URL-safe: usable in a query string without escaping. */
	for (const char *p = text; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			fail_msg("cursor text has '%c'", *p);
	struct cursor out;
	memset(&out, 0x77, sizeof out);
	assert_true(cursor_decode(text, &out));
	assert_int_equal(out.sort, in->sort);
	assert_int_equal(out.descending, in->descending);
	assert_int_equal(out.id, in->id);
	assert_string_equal(out.key, in->key);
}

/* Base64 (URL-safe, no padding) of raw, as a forger would build it. */
static void forge(const char *raw, char *out, size_t cap)
{
	sodium_bin2base64(out, cap, (const unsigned char *)raw, strlen(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static bool decode_raw(const char *raw, struct cursor *c)
{
	char text[CURSOR_TEXT_MAX * 2];
	forge(raw, text, sizeof text);
	return cursor_decode(text, c);
}

static void test_round_trip_every_sort(void **state)
{
	(void)state;
	struct cursor c;
	c = make(SORT_CREATED_AT, true, 1, "1710506096123456");
	round_trip(&c);
	c = make(SORT_CREATED_AT, false, 42, "-86400000000"); /* before 1970 */
	round_trip(&c);
	c = make(SORT_UPDATED_AT, true, INT64_MAX, "0");
	round_trip(&c);
	c = make(SORT_UPDATED_AT, false, 7, "12345678901234567");
	round_trip(&c);
	c = make(SORT_DUE_DATE, false, 3, "1710506096000000");
	round_trip(&c);
	c = make(SORT_DUE_DATE, true, 4, "inf");
	round_trip(&c);
	for (int rank = 1; rank <= 3; rank++) {
		char key[2] = {(char)('0' + rank), '\0'};
		c = make(SORT_PRIORITY, rank % 2, rank, key);
		round_trip(&c);
	}
	c = make(SORT_TITLE, false, 99, "buy milk");
	round_trip(&c);
	c = make(SORT_TITLE, true, 100, ""); /* empty key is a valid title key */
	round_trip(&c);
	c = make(SORT_TITLE, false, 5, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	round_trip(&c);
}

static void test_keys_containing_pipes(void **state)
{
	(void)state;
	struct cursor c = make(SORT_TITLE, true, 12, "a|b||c|");
	round_trip(&c);
	c = make(SORT_TITLE, false, 13, "|1|0|d|5|x");
	round_trip(&c);
	c = make(SORT_TITLE, false, 14, "|");
	round_trip(&c);
}

static void test_long_title_key(void **state)
{
	(void)state;
	/* 500 four-byte characters: the longest lower-cased title. */
	struct cursor c = make(SORT_TITLE, true, INT64_MAX, "");
	for (int i = 0; i < 500; i++)
		memcpy(c.key + 4 * i, "\xf0\x9f\x98\x80", 4);
	c.key[CURSOR_KEY_MAX] = '\0';
	assert_int_equal(strlen(c.key), CURSOR_KEY_MAX - 48);
	round_trip(&c);
	memset(c.key, 'k', CURSOR_KEY_MAX);
	c.key[CURSOR_KEY_MAX] = '\0';
	round_trip(&c);
}

static void test_encode_small_buffer(void **state)
{
	(void)state;
	struct cursor c = make(SORT_TITLE, false, 1, "some title");
	char small[8];
	assert_false(cursor_encode(&c, small, sizeof small));
	char exact[64];
	/* "1|4|a|1|some title" is 18 bytes -> 24 characters + NUL. */
	assert_false(cursor_encode(&c, exact, 24));
	assert_true(cursor_encode(&c, exact, 25));
	assert_int_equal(strlen(exact), 24);
}

static void test_encoded_form(void **state)
{
	(void)state;
	char text[64], expected[64];
	struct cursor c = make(SORT_PRIORITY, true, 77, "2");
	assert_true(cursor_encode(&c, text, sizeof text));
	forge("1|3|d|77|2", expected, sizeof expected);
	assert_string_equal(text, expected);
}

static void test_garbage_rejected(void **state)
{
	(void)state;
	struct cursor c;
	assert_false(cursor_decode("", &c));
	assert_false(cursor_decode("not a cursor", &c));
	assert_false(cursor_decode("!!!!", &c));
	assert_true(cursor_decode("MXwwfGR8MXwx", &c)); /* control: "1|0|d|1|1" */
	assert_int_equal(c.id, 1);
	assert_false(cursor_decode("MXwwfGR8MXwx====", &c)); /* padding is not used */
	assert_false(cursor_decode("MXwwfGR8MXwx+/", &c));   /* standard alphabet */
	char huge[CURSOR_TEXT_MAX + 8];
	memset(huge, 'A', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	assert_false(cursor_decode(huge, &c));
}

static void test_truncated_rejected(void **state)
{
	(void)state;
	char text[CURSOR_TEXT_MAX + 1];
	struct cursor c = make(SORT_CREATED_AT, true, 123, "1710506096123456"), out;
	assert_true(cursor_encode(&c, text, sizeof text));
	size_t len = strlen(text);
	/* Every prefix is either not base64 or not a whole cursor. Some prefixes
	 * decode to a shorter key that is still numeric: those keep the same
	 * sort, order and id but can never reproduce the full key. */
	for (size_t n = 0; n < len; n++) {
		char prefix[CURSOR_TEXT_MAX + 1];
		memcpy(prefix, text, n);
		prefix[n] = '\0';
		if (cursor_decode(prefix, &out))
			assert_string_not_equal(out.key, c.key);
	}
	/* Cut in the structure itself. */
	assert_false(decode_raw("1|0|d|123|", &out));
	assert_false(decode_raw("1|0|d|123", &out));
	assert_false(decode_raw("1|0|d|", &out));
	assert_false(decode_raw("1|0|d", &out));
	assert_false(decode_raw("1|0|", &out));
	assert_false(decode_raw("1|", &out));
	assert_false(decode_raw("1", &out));
}

static void test_forged_structure_rejected(void **state)
{
	(void)state;
	struct cursor c;
	assert_true(decode_raw("1|0|d|5|100", &c));  /* the control: well formed */
	assert_false(decode_raw("2|0|d|5|100", &c)); /* version */
	assert_false(decode_raw("0|0|d|5|100", &c));
	assert_false(decode_raw("1|5|d|5|100", &c)); /* no such sort */
	assert_false(decode_raw("1|-1|d|5|100", &c));
	assert_false(decode_raw("1|x|d|5|100", &c));
	assert_false(decode_raw("1||d|5|100", &c));
	assert_false(decode_raw("1|0|D|5|100", &c)); /* order */
	assert_false(decode_raw("1|0|x|5|100", &c));
	assert_false(decode_raw("1|0|dd|5|100", &c));
	assert_false(decode_raw("1|0|d|0|100", &c)); /* id */
	assert_false(decode_raw("1|0|d|-5|100", &c));
	assert_false(decode_raw("1|0|d|05|100", &c));
	assert_false(decode_raw("1|0|d|5x|100", &c));
	assert_false(decode_raw("1|0|d||100", &c));
	assert_false(decode_raw("1|0|d| 5|100", &c));
}

static void test_embedded_nul_rejected(void **state)
{
	(void)state;
	static const unsigned char raw[] = "1|4|a|5|ab\0cd";
	char text[64];
	sodium_bin2base64(text, sizeof text, raw, sizeof raw - 1,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	struct cursor c;
	assert_false(cursor_decode(text, &c));
}

static void test_time_keys(void **state)
{
	(void)state;
	struct cursor c;
	assert_true(decode_raw("1|0|a|5|-1", &c));
	assert_string_equal(c.key, "-1");
	assert_true(decode_raw("1|1|a|5|12345678901234567", &c));   /* 17 digits */
	assert_false(decode_raw("1|1|a|5|123456789012345678", &c)); /* 18 */
	assert_false(decode_raw("1|0|a|5|", &c));
	assert_false(decode_raw("1|0|a|5|-", &c));
	assert_false(decode_raw("1|0|a|5|12.5", &c));
	assert_false(decode_raw("1|0|a|5|1e9", &c));
	assert_false(decode_raw("1|0|a|5|+1", &c));
	assert_false(decode_raw("1|0|a|5|1; DROP TABLE tasks", &c));
	assert_false(decode_raw("1|1|a|5|2024-01-01", &c));
}

static void test_priority_key_range(void **state)
{
	(void)state;
	struct cursor c;
	assert_true(decode_raw("1|3|a|5|1", &c));
	assert_int_equal(c.sort, SORT_PRIORITY);
	assert_string_equal(c.key, "1");
	assert_true(decode_raw("1|3|a|5|2", &c));
	assert_true(decode_raw("1|3|d|5|3", &c));
	assert_true(c.descending);
	assert_false(decode_raw("1|3|a|5|0", &c));
	assert_false(decode_raw("1|3|a|5|4", &c));
	assert_false(decode_raw("1|3|a|5|12", &c));
	assert_false(decode_raw("1|3|a|5|", &c));
	assert_false(decode_raw("1|3|a|5|high", &c));
	assert_false(decode_raw("1|3|a|5|-1", &c));
}

static void test_inf_only_for_due_date(void **state)
{
	(void)state;
	struct cursor c;
	assert_true(decode_raw("1|2|a|5|inf", &c));
	assert_int_equal(c.sort, SORT_DUE_DATE);
	assert_string_equal(c.key, "inf");
	assert_false(decode_raw("1|0|a|5|inf", &c));
	assert_false(decode_raw("1|1|a|5|inf", &c));
	assert_false(decode_raw("1|3|a|5|inf", &c));
	assert_false(decode_raw("1|2|a|5|-inf", &c));
	assert_false(decode_raw("1|2|a|5|INF", &c));
	assert_false(decode_raw("1|2|a|5|infinity", &c));
	/* Title keys are free text, "inf" included. */
	assert_true(decode_raw("1|4|a|5|inf", &c));
	struct cursor in = make(SORT_CREATED_AT, true, 1, "inf");
	char text[64];
	/* Encoding does not validate keys, but such a cursor never decodes. */
	assert_true(cursor_encode(&in, text, sizeof text));
	assert_false(cursor_decode(text, &c));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_every_sort),
	    cmocka_unit_test(test_keys_containing_pipes),
	    cmocka_unit_test(test_long_title_key),
	    cmocka_unit_test(test_encode_small_buffer),
	    cmocka_unit_test(test_encoded_form),
	    cmocka_unit_test(test_garbage_rejected),
	    cmocka_unit_test(test_truncated_rejected),
	    cmocka_unit_test(test_forged_structure_rejected),
	    cmocka_unit_test(test_embedded_nul_rejected),
	    cmocka_unit_test(test_time_keys),
	    cmocka_unit_test(test_priority_key_range),
	    cmocka_unit_test(test_inf_only_for_due_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
