/* Unit tests for src/core/iso8601: parsing with a mandatory offset and
 * formatting in UTC with millisecond precision. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/iso8601.h"

#define US_PER_S INT64_C(1000000)

static int64_t parse_ok(const char *s)
{
	int64_t us = INT64_MIN;
	if (!iso8601_parse(s, &us))
		fail_msg("iso8601_parse rejected \"%s\"", s);
	return us;
}

static void assert_parse_fails(const char *s)
{
	int64_t us = 12345;
	if (iso8601_parse(s, &us))
		fail_msg("iso8601_parse accepted \"%s\"", s);
	assert_int_equal(us, 12345); /* output untouched on failure */
}

static void test_parse_epoch_and_known_instants(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse_ok("1970-01-01T00:00Z"), 0); /* seconds optional */
	assert_int_equal(parse_ok("2000-01-01T00:00:00Z"), INT64_C(946684800) * US_PER_S);
	assert_int_equal(parse_ok("2024-03-15T12:34:56Z"), INT64_C(1710506096) * US_PER_S);
	/* Lower-case z, lower-case t and a space separator are all accepted. */
	assert_int_equal(parse_ok("2024-03-15t12:34:56z"), INT64_C(1710506096) * US_PER_S);
	assert_int_equal(parse_ok("2024-03-15 12:34:56Z"), INT64_C(1710506096) * US_PER_S);
}

static void test_parse_offsets(void **state)
{
	(void)state;
	int64_t utc = parse_ok("2024-03-15T12:00:00Z");
	assert_int_equal(parse_ok("2024-03-15T12:00:00+00:00"), utc);
	assert_int_equal(parse_ok("2024-03-15T12:00:00-00:00"), utc);
	/* 14:00 at +02:00 is 12:00 UTC. */
	assert_int_equal(parse_ok("2024-03-15T14:00:00+02:00"), utc);
	/* 07:00 at -05:00 is 12:00 UTC. */
	assert_int_equal(parse_ok("2024-03-15T07:00:00-05:00"), utc);
	/* Half-hour and 45-minute offsets, with and without the colon. */
	assert_int_equal(parse_ok("2024-03-15T17:30:00+05:30"), utc);
	assert_int_equal(parse_ok("2024-03-15T17:30:00+0530"), utc);
	assert_int_equal(parse_ok("2024-03-15T17:45:00+05:45"), utc);
	assert_int_equal(parse_ok("2024-03-15T02:30:00-09:30"), utc);
	/* A negative offset can move the instant to the next UTC day. */
	assert_int_equal(parse_ok("2024-12-31T23:00:00-02:00"), parse_ok("2025-01-01T01:00:00Z"));
}

static void test_parse_fractions(void **state)
{
	(void)state;
	int64_t base = parse_ok("2024-03-15T12:00:00Z");
	assert_int_equal(parse_ok("2024-03-15T12:00:00.5Z"), base + 500000);
	assert_int_equal(parse_ok("2024-03-15T12:00:00.123Z"), base + 123000);
	assert_int_equal(parse_ok("2024-03-15T12:00:00,250Z"), base + 250000);
	assert_int_equal(parse_ok("2024-03-15T12:00:00.123456Z"), base + 123456);
	/* Digits beyond microseconds are dropped (truncated). */
	assert_int_equal(parse_ok("2024-03-15T12:00:00.123456789Z"), base + 123456);
	assert_int_equal(parse_ok("2024-03-15T12:00:00.000001+00:00"), base + 1);
	/* More than nine fraction digits, or none, is junk. */
	assert_parse_fails("2024-03-15T12:00:00.1234567890Z");
	assert_parse_fails("2024-03-15T12:00:00.Z");
	/* A fraction needs seconds. */
	assert_parse_fails("2024-03-15T12:00.5Z");
}

static void test_parse_rejects_missing_offset(void **state)
{
	(void)state;
	assert_parse_fails("2024-03-15T12:00:00");
	assert_parse_fails("2024-03-15T12:00");
	assert_parse_fails("2024-03-15T12:00:00.123");
	assert_parse_fails("2024-03-15");
	assert_parse_fails("2024-03-15T12:00:00+");
	assert_parse_fails("2024-03-15T12:00:00+05");
	assert_parse_fails("2024-03-15T12:00:00+5:00");
	assert_parse_fails("2024-03-15T12:00:00+05:0");
}

static void test_parse_rejects_impossible_dates(void **state)
{
	(void)state;
	assert_parse_fails("2024-02-30T00:00:00Z");
	assert_parse_fails("2024-04-31T00:00:00Z");
	assert_parse_fails("2024-13-01T00:00:00Z");
	assert_parse_fails("2024-00-10T00:00:00Z");
	assert_parse_fails("2024-01-00T00:00:00Z");
	assert_parse_fails("2024-01-32T00:00:00Z");
	assert_parse_fails("2024-01-01T24:00:00Z");
	assert_parse_fails("2024-01-01T23:60:00Z");
	assert_parse_fails("2024-01-01T23:59:60Z"); /* no leap seconds */
	assert_parse_fails("2024-01-01T00:00:00+24:00");
	assert_parse_fails("2024-01-01T00:00:00+01:60");
}

static void test_parse_leap_years(void **state)
{
	(void)state;
	/* Divisible by 4: leap. */
	assert_int_equal(parse_ok("2024-02-29T00:00:00Z") + 86400 * US_PER_S,
	                 parse_ok("2024-03-01T00:00:00Z"));
	/* Divisible by 400: leap. */
	assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), INT64_C(951782400) * US_PER_S);
	/* Divisible by 100 but not 400: not leap. */
	assert_parse_fails("1900-02-29T00:00:00Z");
	assert_parse_fails("2100-02-29T00:00:00Z");
	/* Not divisible by 4: not leap. */
	assert_parse_fails("2023-02-29T00:00:00Z");
	assert_int_equal(parse_ok("2023-02-28T00:00:00Z") + 86400 * US_PER_S,
	                 parse_ok("2023-03-01T00:00:00Z"));
}

static void test_parse_rejects_junk(void **state)
{
	(void)state;
	assert_parse_fails("");
	assert_parse_fails("now");
	assert_parse_fails("tomorrow at noon");
	assert_parse_fails("2024-03-15T12:00:00Zjunk");
	assert_parse_fails("2024-03-15T12:00:00Z ");
	assert_parse_fails(" 2024-03-15T12:00:00Z");
	assert_parse_fails("2024-3-15T12:00:00Z");
	assert_parse_fails("24-03-15T12:00:00Z");
	assert_parse_fails("2024/03/15T12:00:00Z");
	assert_parse_fails("2024-03-15X12:00:00Z");
	assert_parse_fails("2024-03-15T12");
	assert_parse_fails("2024-03-15T1a:00:00Z");
	assert_parse_fails("2024-03-15T12:00:00+05:00:00");
	assert_parse_fails("1710506096");
}

static void test_parse_before_1970(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -US_PER_S);
	assert_int_equal(parse_ok("1969-12-31T23:59:59.5Z"), -500000);
	assert_int_equal(parse_ok("1900-01-01T00:00:00Z"), INT64_C(-2208988800) * US_PER_S);
	assert_int_equal(parse_ok("0001-01-01T00:00:00Z"), INT64_C(-62135596800) * US_PER_S);
}

/* Only instants whose UTC year has four digits, so every answer keeps the format. */
static void test_parse_year_range(void **state)
{
	(void)state;
	int64_t us;
	assert_false(iso8601_parse("0000-01-01T00:00:00Z", &us));
	assert_false(iso8601_parse("0001-01-01T00:00:00+01:00", &us));
	assert_false(iso8601_parse("9999-12-31T23:59:59-14:00", &us));
	assert_true(iso8601_parse("9999-12-31T23:59:59Z", &us));
	assert_true(iso8601_parse("0001-01-01T01:00:00+01:00", &us));
}

static void assert_format(int64_t us, const char *expected)
{
	char out[ISO8601_LEN];
	memset(out, 'x', sizeof out);
	iso8601_format(us, out);
	assert_string_equal(out, expected);
}

static void test_format_utc_milliseconds(void **state)
{
	(void)state;
	assert_format(0, "1970-01-01T00:00:00.000Z");
	assert_format(INT64_C(1710506096) * US_PER_S, "2024-03-15T12:34:56.000Z");
	assert_format(INT64_C(1710506096) * US_PER_S + 123000, "2024-03-15T12:34:56.123Z");
	/* Sub-millisecond precision is truncated, not rounded. */
	assert_format(INT64_C(1710506096) * US_PER_S + 123999, "2024-03-15T12:34:56.123Z");
	assert_format(999, "1970-01-01T00:00:00.000Z");
	assert_format(INT64_C(951782400) * US_PER_S, "2000-02-29T00:00:00.000Z");
	assert_format(INT64_C(253402300799) * US_PER_S + 999000, "9999-12-31T23:59:59.999Z");
}

static void test_format_before_1970(void **state)
{
	(void)state;
	/* Negative times floor towards the earlier instant. */
	assert_format(-1, "1969-12-31T23:59:59.999Z");
	assert_format(-1000, "1969-12-31T23:59:59.999Z");
	assert_format(-1001, "1969-12-31T23:59:59.998Z");
	assert_format(-US_PER_S, "1969-12-31T23:59:59.000Z");
	assert_format(-500000, "1969-12-31T23:59:59.500Z");
	assert_format(-86400 * US_PER_S, "1969-12-31T00:00:00.000Z");
	assert_format(INT64_C(-2208988800) * US_PER_S, "1900-01-01T00:00:00.000Z");
	assert_format(INT64_C(-2203891200) * US_PER_S, "1900-03-01T00:00:00.000Z");
}

/* The date of the day written last is reused: going back and forth between
 * days, and times within one, must never show a stale date. */
static void test_format_alternating_days(void **state)
{
	(void)state;
	int64_t a = INT64_C(1710506096) * US_PER_S, b = a + 86400 * US_PER_S;
	for (int i = 0; i < 3; i++) {
		assert_format(a, "2024-03-15T12:34:56.000Z");
		assert_format(a + 3600 * US_PER_S, "2024-03-15T13:34:56.000Z");
		assert_format(b, "2024-03-16T12:34:56.000Z");
		assert_format(-1, "1969-12-31T23:59:59.999Z");
		assert_format(b + 12 * 3600 * US_PER_S, "2024-03-17T00:34:56.000Z");
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	static const char *const samples[] = {
	    "1970-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z", "2000-02-29T12:00:00.001Z",
	    "2024-12-31T23:59:59.999Z", "1900-03-01T00:00:00.000Z", "2038-01-19T03:14:08.000Z",
	    "1600-02-29T06:07:08.090Z", "9999-12-31T23:59:59.999Z",
	};
	char out[ISO8601_LEN];
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		int64_t us = parse_ok(samples[i]);
		iso8601_format(us, out);
		assert_string_equal(out, samples[i]);
		int64_t again = parse_ok(out);
		assert_int_equal(again, us);
	}
	/* An offset input formats as the same instant in UTC. */
	iso8601_format(parse_ok("2024-06-01T08:15:30.250+05:30"), out);
	assert_string_equal(out, "2024-06-01T02:45:30.250Z");
	iso8601_format(parse_ok("2024-06-01T20:00:00-08:00"), out);
	assert_string_equal(out, "2024-06-02T04:00:00.000Z");
	/* Every millisecond of a day boundary survives format -> parse. */
	for (int64_t us = -5 * US_PER_S; us <= 5 * US_PER_S; us += 250000) {
		iso8601_format(us, out);
		assert_int_equal(parse_ok(out), us);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_epoch_and_known_instants),
	    cmocka_unit_test(test_parse_offsets),
	    cmocka_unit_test(test_parse_fractions),
	    cmocka_unit_test(test_parse_rejects_missing_offset),
	    cmocka_unit_test(test_parse_rejects_impossible_dates),
	    cmocka_unit_test(test_parse_leap_years),
	    cmocka_unit_test(test_parse_rejects_junk),
	    cmocka_unit_test(test_parse_before_1970),
	    cmocka_unit_test(test_parse_year_range),
	    cmocka_unit_test(test_format_utc_milliseconds),
	    cmocka_unit_test(test_format_before_1970),
	    cmocka_unit_test(test_format_alternating_days),
	    cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
