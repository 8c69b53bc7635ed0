/* Unit tests for src/event: the CloudEvent envelope the bus carries. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"

static json_t *cloudevent_of(const struct event_record *e)
{
	size_t len = 0;
	char *text = event_cloudevent(e, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	/* A value that smuggled in a second "seq" must not be hidden by the
	 * parser keeping the last one. */
	json_error_t err;
	json_t *ce = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (ce == NULL)
		fail_msg("not JSON (%s): %s", err.text, text);
	free(text);
	return ce;
}

/* The record each test starts from. */
static const struct event_record base = {.event_id = "5f0c6f3e-8f7b-4c1e-9a57-0d3c2b1a0f9e",
                                         .event_type = "task.created",
                                         .user_id = "user-1",
                                         .aggregate_id = "42",
                                         .time = "2026-11-27T05:20:08.123Z",
                                         .correlation_id = "req-1",
                                         .data =
                                             "{\"task\": {\"id\": 42, \"tags\": [\"a\", \"b\"]}}",
                                         .seq = 7,
                                         .version = 1};

static void test_every_attribute(void **state)
{
	(void)state;
	static const struct {
		const char *name, *value;
	} strings[] = {
	    {"specversion", "1.0"},
	    {"id", "5f0c6f3e-8f7b-4c1e-9a57-0d3c2b1a0f9e"},
	    {"type", "task.created"},
	    {"source", EVENT_SOURCE},
	    {"subject", "42"},
	    {"time", "2026-11-27T05:20:08.123Z"},
	    {"datacontenttype", "application/json"},
	    {"userid", "user-1"},
	    {"correlationid", "req-1"},
	};
	json_t *ce = cloudevent_of(&base);
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
		const char *got = json_string_value(json_object_get(ce, strings[i].name));
		if (got == NULL || strcmp(got, strings[i].value) != 0)
			fail_msg("%s: \"%s\", expected \"%s\"", strings[i].name,
			         got ? got : "(none)", strings[i].value);
	}
	assert_int_equal(json_integer_value(json_object_get(ce, "seq")), 7);
	assert_int_equal(json_integer_value(json_object_get(ce, "eventversion")), 1);
	json_t *task = json_object_get(json_object_get(ce, "data"), "task");
	assert_int_equal(json_integer_value(json_object_get(task, "id")), 42);
	assert_int_equal(json_array_size(json_object_get(task, "tags")), 2);
	assert_int_equal(json_object_size(ce), 12);
	json_decref(ce);
}

static void test_without_correlation_id(void **state)
{
	(void)state;
	struct event_record e = base;
	e.correlation_id = NULL;
	e.seq = 9007199254740993LL; /* past a double's exact integers */
	json_t *ce = cloudevent_of(&e);
	assert_null(json_object_get(ce, "correlationid"));
	assert_int_equal(json_integer_value(json_object_get(ce, "seq")), 9007199254740993LL);
	json_decref(ce);
}

/* Attribute values are client-chosen (a user id, a request id): they are
 * escaped, never able to add or end a field. */
static void test_values_are_escaped(void **state)
{
	(void)state;
	struct event_record e = base;
	e.user_id = "a\"b\\c";
	e.correlation_id = "x\",\"seq\":1,\"y\":\"\n\u00e9";
	e.seq = 3;
	json_t *ce = cloudevent_of(&e);
	assert_string_equal(json_string_value(json_object_get(ce, "userid")), "a\"b\\c");
	assert_string_equal(json_string_value(json_object_get(ce, "correlationid")),
	                    e.correlation_id);
	assert_int_equal(json_integer_value(json_object_get(ce, "seq")), 3);
	json_decref(ce);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_attribute),
	    cmocka_unit_test(test_without_correlation_id),
	    cmocka_unit_test(test_values_are_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
