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
	json_error_t err;
	json_t *ce = json_loads(text, 0, &err);
	if (ce == NULL)
		fail_msg("not JSON (%s): %s", err.text, text);
	free(text);
	return ce;
}

static void test_every_attribute(void **state)
{
	(void)state;
	struct event_record e = {.event_id = "5f0c6f3e-8f7b-4c1e-9a57-0d3c2b1a0f9e",
	                         .event_type = "task.created",
	                         .user_id = "user-1",
	                         .aggregate_id = "42",
	                         .time = "2026-11-27T05:20:08.123Z",
	                         .correlation_id = "req-1",
	                         .data = "{\"task\": {\"id\": 42, \"tags\": [\"a\", \"b\"]}}",
	                         .seq = 7,
	                         .version = 1};
	json_t *ce = cloudevent_of(&e);
	assert_string_equal(json_string_value(json_object_get(ce, "specversion")), "1.0");
	assert_string_equal(json_string_value(json_object_get(ce, "id")), e.event_id);
	assert_string_equal(json_string_value(json_object_get(ce, "type")), "task.created");
	assert_string_equal(json_string_value(json_object_get(ce, "source")), EVENT_SOURCE);
	assert_string_equal(json_string_value(json_object_get(ce, "subject")), "42");
	assert_string_equal(json_string_value(json_object_get(ce, "time")), e.time);
	assert_string_equal(json_string_value(json_object_get(ce, "datacontenttype")),
	                    "application/json");
	assert_string_equal(json_string_value(json_object_get(ce, "userid")), "user-1");
	assert_string_equal(json_string_value(json_object_get(ce, "correlationid")), "req-1");
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
	struct event_record e = {.event_id = "5f0c6f3e-8f7b-4c1e-9a57-0d3c2b1a0f9e",
	                         .event_type = "task.deleted",
	                         .user_id = "u",
	                         .aggregate_id = "1",
	                         .time = "2026-11-27T05:20:08.123Z",
	                         .data = "{}",
	                         .seq = 9007199254740993LL,
	                         .version = 1};
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
	struct event_record e = {.event_id = "5f0c6f3e-8f7b-4c1e-9a57-0d3c2b1a0f9e",
	                         .event_type = "task.updated",
	                         .user_id = "a\"b\\c",
	                         .aggregate_id = "1",
	                         .time = "2026-11-27T05:20:08.123Z",
	                         .correlation_id = "x\",\"seq\":1,\"y\":\"\n\u00e9",
	                         .data = "{\"task\": {}}",
	                         .seq = 3,
	                         .version = 1};
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
