/* Unit tests for src/auth/token_cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth/token_cache.h"

#define NOW 1795000000

static struct token_claims claims_for(const char *sub, int64_t exp)
{
	struct token_claims c;
	memset(&c, 0, sizeof c);
	snprintf(c.sub, sizeof c.sub, "%s", sub);
	c.exp = exp;
	return c;
}

static void test_a_verified_token_is_found_with_its_claims(void **state)
{
	(void)state;
	struct token_cache *cache = token_cache_create();
	struct token_claims put = claims_for("user-1", NOW + 3600), got;
	assert_false(token_cache_get(cache, "aaa.bbb.ccc", NOW, &got));
	token_cache_put(cache, "aaa.bbb.ccc", &put);
	assert_true(token_cache_get(cache, "aaa.bbb.ccc", NOW, &got));
	assert_string_equal(got.sub, "user-1");
	assert_int_equal(got.exp, NOW + 3600);
	token_cache_destroy(cache);
}

/* Only the very same bytes: a token with its signature changed, cut short or
 * extended is not the one verified. */
static void test_only_the_same_token_matches(void **state)
{
	(void)state;
	struct token_cache *cache = token_cache_create();
	struct token_claims put = claims_for("user-1", NOW + 3600), got;
	token_cache_put(cache, "aaa.bbb.ccc", &put);
	assert_false(token_cache_get(cache, "aaa.bbb.ccd", NOW, &got));
	assert_false(token_cache_get(cache, "aaa.bbb.cc", NOW, &got));
	assert_false(token_cache_get(cache, "aaa.bbb.cccc", NOW, &got));
	assert_false(token_cache_get(cache, "", NOW, &got));
	token_cache_destroy(cache);
}

/* The same leeway as token_verify: 30 s past exp still counts, 31 s not. */
static void test_an_expired_token_is_not_found(void **state)
{
	(void)state;
	struct token_cache *cache = token_cache_create();
	struct token_claims put = claims_for("user-1", NOW), got;
	token_cache_put(cache, "aaa.bbb.ccc", &put);
	assert_true(token_cache_get(cache, "aaa.bbb.ccc", NOW + TOKEN_LEEWAY_SECONDS, &got));
	assert_false(token_cache_get(cache, "aaa.bbb.ccc", NOW + TOKEN_LEEWAY_SECONDS + 1, &got));
	token_cache_destroy(cache);
}

static void test_many_tokens_each_keep_their_own_claims(void **state)
{
	(void)state;
	struct token_cache *cache = token_cache_create();
	char token[64], sub[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(token, sizeof token, "header.payload-%d.signature", i);
		snprintf(sub, sizeof sub, "user-%d", i);
		struct token_claims put = claims_for(sub, NOW + i);
		token_cache_put(cache, token, &put);
	}
	int found = 0;
	for (int i = 0; i < 1000; i++) {
		struct token_claims got;
		snprintf(token, sizeof token, "header.payload-%d.signature", i);
		snprintf(sub, sizeof sub, "user-%d", i);
		if (token_cache_get(cache, token, NOW, &got)) {
			found++;
			assert_string_equal(got.sub, sub); /* never another token's claims */
			assert_int_equal(got.exp, NOW + i);
		}
	}
	assert_in_range(found, 1, 256); /* a bounded table: older ones make room */
	token_cache_destroy(cache);
}

static void test_a_long_token_is_not_kept(void **state)
{
	(void)state;
	struct token_cache *cache = token_cache_create();
	char token[2048];
	memset(token, 'a', sizeof token - 1);
	token[sizeof token - 1] = '\0';
	struct token_claims put = claims_for("user-1", NOW + 3600), got;
	token_cache_put(cache, token, &put);
	assert_false(token_cache_get(cache, token, NOW, &got));
	token_cache_destroy(cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_verified_token_is_found_with_its_claims),
	    cmocka_unit_test(test_only_the_same_token_matches),
	    cmocka_unit_test(test_an_expired_token_is_not_found),
	    cmocka_unit_test(test_many_tokens_each_keep_their_own_claims),
	    cmocka_unit_test(test_a_long_token_is_not_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
