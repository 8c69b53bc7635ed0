/* Unit tests for src/http/query. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/query.h"

static void decode_ok(const char *in, bool plus, const char *expected, size_t expected_len)
{
	char out[256];
	size_t n = 9999;
	memset(out, 'x', sizeof out);
	if (!percent_decode(in, strlen(in), plus, out, &n))
		fail_msg("percent_decode rejected \"%s\"", in);
	assert_int_equal(n, expected_len);
	assert_memory_equal(out, expected, expected_len);
	assert_int_equal(out[n], '\0');
}

static void decode_fails(const char *in)
{
	char out[256];
	size_t n = 9999;
	if (percent_decode(in, strlen(in), true, out, &n))
		fail_msg("percent_decode accepted \"%s\"", in);
	if (percent_decode(in, strlen(in), false, out, &n))
		fail_msg("percent_decode accepted \"%s\" (plus_is_space false)", in);
}

static void test_percent_decode_basic(void **state)
{
	(void)state;
	decode_ok("", true, "", 0);
	decode_ok("abc", true, "abc", 3);
	decode_ok("a%20b", true, "a b", 3);
	decode_ok("%41%42%43", false, "ABC", 3);
	decode_ok("%e2%82%ac", false, "\xe2\x82\xac", 3); /* lower-case hex */
	decode_ok("%E2%82%AC", false, "\xe2\x82\xac", 3);
	decode_ok("%25", false, "%", 1);
	decode_ok("100%25", false, "100%", 4);
	decode_ok("%2F", false, "/", 1);
	/* A decoded '%' is not decoded again. */
	decode_ok("%2541", false, "%41", 3);
}

static void test_percent_decode_plus(void **state)
{
	(void)state;
	decode_ok("a+b+c", true, "a b c", 5);
	decode_ok("a+b+c", false, "a+b+c", 5);
	decode_ok("%2B", true, "+", 1); /* an encoded plus stays a plus */
	decode_ok("+", true, " ", 1);
}

static void test_percent_decode_bad_escapes(void **state)
{
	(void)state;
	decode_fails("%");
	decode_fails("%4");
	decode_fails("abc%");
	decode_fails("abc%4");
	decode_fails("%G1");
	decode_fails("%1G");
	decode_fails("%zz");
	decode_fails("% 1");
	decode_fails("%-1");
	/* An encoded NUL would truncate C strings. */
	decode_fails("%00");
	decode_fails("a%00b");
}

static void test_percent_decode_respects_len(void **state)
{
	(void)state;
	char out[16];
	size_t n;
	/* The escape is cut by len: malformed even though the buffer goes on. */
	assert_false(percent_decode("a%41", 3, false, out, &n));
	assert_true(percent_decode("a%41zzz", 4, false, out, &n));
	assert_int_equal(n, 2);
	assert_string_equal(out, "aA");
	/* out_len may be NULL. */
	assert_true(percent_decode("x%21", 4, false, out, NULL));
	assert_string_equal(out, "x!");
}

static void parse(const char *s, struct query *q)
{
	memset(q, 0x5A, sizeof *q);
	if (!query_parse(s, strlen(s), q))
		fail_msg("query_parse rejected \"%s\"", s);
}

static void test_query_parse_basic(void **state)
{
	(void)state;
	struct query q;
	parse("a=1&b=two&c=3", &q);
	assert_int_equal(q.count, 3);
	assert_string_equal(q.params[0].key, "a");
	assert_string_equal(q.params[0].value, "1");
	assert_string_equal(q.params[1].key, "b");
	assert_string_equal(q.params[1].value, "two");
	assert_string_equal(q.params[2].key, "c");
	assert_string_equal(q.params[2].value, "3");
	assert_string_equal(query_get(&q, "b"), "two");
	assert_null(query_get(&q, "d"));
	assert_null(query_get(&q, "A")); /* keys are case-sensitive */
	query_free(&q);
	assert_int_equal(q.count, 0);
	assert_null(q.storage);
}

static void test_query_parse_empty(void **state)
{
	(void)state;
	struct query q;
	parse("", &q);
	assert_int_equal(q.count, 0);
	assert_null(query_get(&q, "a"));
	query_free(&q);
	parse("&&&", &q);
	assert_int_equal(q.count, 0);
	query_free(&q);
}

static void test_query_parse_empty_values_and_bare_keys(void **state)
{
	(void)state;
	struct query q;
	parse("a=&b&c=x&=v", &q);
	assert_int_equal(q.count, 4);
	assert_string_equal(query_get(&q, "a"), "");
	assert_string_equal(query_get(&q, "b"), ""); /* key without '=' */
	assert_string_equal(query_get(&q, "c"), "x");
	assert_string_equal(query_get(&q, ""), "v"); /* empty key */
	query_free(&q);

	/* Skipped empty pieces and a trailing '&'. */
	parse("&a=1&&b=2&", &q);
	assert_int_equal(q.count, 2);
	assert_string_equal(query_get(&q, "a"), "1");
	assert_string_equal(query_get(&q, "b"), "2");
	query_free(&q);

	/* Only the first '=' splits; the rest belongs to the value. */
	parse("eq=a=b==", &q);
	assert_int_equal(q.count, 1);
	assert_string_equal(query_get(&q, "eq"), "a=b==");
	query_free(&q);
}

static void test_query_parse_decodes(void **state)
{
	(void)state;
	struct query q;
	parse("q=buy+milk%21&na%6De=J%C3%A9r%C3%B4me&amp=%26&plus=%2B", &q);
	assert_int_equal(q.count, 4);
	assert_string_equal(query_get(&q, "q"), "buy milk!");
	assert_string_equal(query_get(&q, "name"), "J\xc3\xa9r\xc3\xb4me");
	assert_string_equal(query_get(&q, "amp"), "&");
	assert_string_equal(query_get(&q, "plus"), "+");
	query_free(&q);
}

static void test_query_parse_repeated_keys(void **state)
{
	(void)state;
	struct query q;
	parse("tag=a&x=1&tag=b&tag=c", &q);
	assert_int_equal(q.count, 4);
	/* query_get gives the first; all stay in order in params. */
	assert_string_equal(query_get(&q, "tag"), "a");
	assert_string_equal(q.params[0].value, "a");
	assert_string_equal(q.params[2].value, "b");
	assert_string_equal(q.params[3].value, "c");
	query_free(&q);
}

static void test_query_parse_bad_escape(void **state)
{
	(void)state;
	struct query q;
	memset(&q, 0x5A, sizeof q);
	assert_false(query_parse("a=1&b=%zz", 9, &q));
	assert_int_equal(q.count, 0);
	assert_null(q.storage);
	assert_false(query_parse("a%=1", 4, &q));
	assert_int_equal(q.count, 0);
	assert_false(query_parse("a=%00", 5, &q));
	assert_int_equal(q.count, 0);
	assert_null(q.storage);
}

static void test_query_parse_param_limit(void **state)
{
	(void)state;
	char buf[1024] = "";
	struct query q;
	for (int i = 0; i < QUERY_MAX_PARAMS; i++) {
		char piece[16];
		snprintf(piece, sizeof piece, "%sk%d=%d", i ? "&" : "", i, i);
		strcat(buf, piece);
	}
	/* Exactly the maximum is fine. */
	parse(buf, &q);
	assert_int_equal(q.count, QUERY_MAX_PARAMS);
	assert_string_equal(query_get(&q, "k63"), "63");
	query_free(&q);
	/* One more is refused, and nothing is left to free. */
	strcat(buf, "&one=more");
	memset(&q, 0x5A, sizeof q);
	assert_false(query_parse(buf, strlen(buf), &q));
	assert_int_equal(q.count, 0);
	assert_null(q.storage);
	/* Empty pieces do not count towards the limit. */
	char sparse[1024] = "";
	for (int i = 0; i < QUERY_MAX_PARAMS; i++)
		strcat(sparse, "&&b");
	parse(sparse, &q);
	assert_int_equal(q.count, QUERY_MAX_PARAMS);
	query_free(&q);
}

static void test_query_parse_worst_case_storage(void **state)
{
	(void)state;
	/* Many one-byte bare keys need the most storage per input byte. */
	char buf[2 * QUERY_MAX_PARAMS] = "";
	for (int i = 0; i < QUERY_MAX_PARAMS; i++)
		strcat(buf, i ? "&z" : "z");
	struct query q;
	parse(buf, &q);
	assert_int_equal(q.count, QUERY_MAX_PARAMS);
	for (size_t i = 0; i < q.count; i++) {
		assert_string_equal(q.params[i].key, "z");
		assert_string_equal(q.params[i].value, "");
	}
	query_free(&q);
}

static void test_query_parse_respects_len(void **state)
{
	(void)state;
	struct query q;
	const char *s = "a=1&b=2#fragment";
	assert_true(query_parse(s, 7, &q));
	assert_int_equal(q.count, 2);
	assert_string_equal(query_get(&q, "b"), "2");
	query_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percent_decode_basic),
	    cmocka_unit_test(test_percent_decode_plus),
	    cmocka_unit_test(test_percent_decode_bad_escapes),
	    cmocka_unit_test(test_percent_decode_respects_len),
	    cmocka_unit_test(test_query_parse_basic),
	    cmocka_unit_test(test_query_parse_empty),
	    cmocka_unit_test(test_query_parse_empty_values_and_bare_keys),
	    cmocka_unit_test(test_query_parse_decodes),
	    cmocka_unit_test(test_query_parse_repeated_keys),
	    cmocka_unit_test(test_query_parse_bad_escape),
	    cmocka_unit_test(test_query_parse_param_limit),
	    cmocka_unit_test(test_query_parse_worst_case_storage),
	    cmocka_unit_test(test_query_parse_respects_len),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
