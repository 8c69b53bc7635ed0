/* Unit tests for src/core/pgarray. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/pgarray.h"

static void assert_literal(const char *const *items, int n, const char *want)
{
	struct strbuf b = {0};
	for (int i = 0; i < n; i++)
		pgarray_append(&b, items[i]);
	pgarray_finish(&b);
	assert_string_equal(b.data, want);
	strbuf_free(&b);
}

static void test_empty_list(void **state)
{
	(void)state;
	assert_literal(NULL, 0, "{}");
}

static void test_items_are_quoted(void **state)
{
	(void)state;
	const char *items[] = {"a", "", "NULL", "b c"};
	assert_literal(items, 4, "{\"a\",\"\",\"NULL\",\"b c\"}");
}

/* What would end an item or the array early is inside the quotes, and the
 * quote and backslash themselves are escaped. */
static void test_delimiters_and_escapes(void **state)
{
	(void)state;
	const char *items[] = {"x,y}", "say \"hi\"", "back\\slash", "{z}"};
	assert_literal(items, 4, "{\"x,y}\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"{z}\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_list),
	    cmocka_unit_test(test_items_are_quoted),
	    cmocka_unit_test(test_delimiters_and_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
