/* Unit tests for src/core/uuid. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"

#define MANY 2000 /* well past one pool of random bytes */

static int compare(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void make_many(char (*ids)[UUID_TEXT_LEN], int n)
{
	for (int i = 0; i < n; i++)
		uuid_v4(ids[i]);
}

static void assert_all_distinct(char (*ids)[UUID_TEXT_LEN], int n)
{
	qsort(ids, (size_t)n, UUID_TEXT_LEN, compare);
	for (int i = 1; i < n; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
}

static void test_version_4_form(void **state)
{
	(void)state;
	static char ids[MANY][UUID_TEXT_LEN];
	make_many(ids, MANY);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(strlen(ids[i]), 36);
		assert_true(uuid_text_valid(ids[i]));
		assert_int_equal(ids[i][14], '4');
		assert_non_null(strchr("89ab", ids[i][19]));
		for (const char *p = ids[i]; *p; p++) /* lower case, as PostgreSQL prints them */
			assert_true(*p == '-' || (*p >= '0' && *p <= '9') ||
			            (*p >= 'a' && *p <= 'f'));
	}
	assert_all_distinct(ids, MANY);
}

static void *make_in_thread(void *arg)
{
	make_many(arg, MANY);
	return NULL;
}

/* Threads draw from pools of their own: no two hand out the same bytes. */
static void test_distinct_across_threads(void **state)
{
	(void)state;
	static char ids[2 * MANY][UUID_TEXT_LEN];
	pthread_t other;
	assert_int_equal(pthread_create(&other, NULL, make_in_thread, ids[MANY]), 0);
	make_many(ids, MANY);
	pthread_join(other, NULL);
	assert_all_distinct(ids, 2 * MANY);
}

static void test_text_validation(void **state)
{
	(void)state;
	assert_true(uuid_text_valid("123e4567-e89b-12d3-a456-426614174000"));
	assert_true(uuid_text_valid("123E4567-E89B-12D3-A456-426614174000"));
	assert_false(uuid_text_valid(""));
	assert_false(uuid_text_valid("123e4567e89b12d3a456426614174000"));
	assert_false(uuid_text_valid("123e4567-e89b-12d3-a456-42661417400"));
	assert_false(uuid_text_valid("123e4567-e89b-12d3-a456-4266141740000"));
	assert_false(uuid_text_valid("123e4567-e89b-12d3-a456_426614174000"));
	assert_false(uuid_text_valid("g23e4567-e89b-12d3-a456-426614174000"));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_4_form),
	    cmocka_unit_test(test_distinct_across_threads),
	    cmocka_unit_test(test_text_validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
