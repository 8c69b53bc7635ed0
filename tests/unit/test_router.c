/* Unit tests for src/http/router. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/router.h"

#define ALL_METHODS                                                                                \
	(METHOD_GET | METHOD_HEAD | METHOD_POST | METHOD_PUT | METHOD_PATCH | METHOD_DELETE |      \
	 METHOD_OPTIONS)

static enum route_id match(const char *path, enum http_method method, struct route_match *m)
{
	/* Poison the struct so a stale field cannot pass for a result. */
	memset(m, 0xA5, sizeof *m);
	enum route_id r = router_match(path, strlen(path), method, m);
	assert_int_equal(m->route, r);
	return r;
}

static void assert_none(const char *path)
{
	struct route_match m;
	if (match(path, METHOD_GET, &m) != ROUTE_NONE)
		fail_msg("\"%s\" matched route %d", path, (int)m.route);
	assert_int_equal(m.allowed, 0);
	assert_false(m.method_allowed);
	assert_string_equal(m.user_id, "");
	assert_int_equal(m.task_id, 0);
}

static void test_method_names(void **state)
{
	(void)state;
	assert_int_equal(router_method("GET", 3), METHOD_GET);
	assert_int_equal(router_method("HEAD", 4), METHOD_HEAD);
	assert_int_equal(router_method("POST", 4), METHOD_POST);
	assert_int_equal(router_method("PUT", 3), METHOD_PUT);
	assert_int_equal(router_method("PATCH", 5), METHOD_PATCH);
	assert_int_equal(router_method("DELETE", 6), METHOD_DELETE);
	assert_int_equal(router_method("OPTIONS", 7), METHOD_OPTIONS);
	/* Method names are case-sensitive and matched on the full length. */
	assert_int_equal(router_method("get", 3), METHOD_OTHER);
	assert_int_equal(router_method("GETX", 4), METHOD_OTHER);
	assert_int_equal(router_method("GETX", 3), METHOD_GET); /* only len bytes are read */
	assert_int_equal(router_method("GE", 2), METHOD_OTHER);
	assert_int_equal(router_method("TRACE", 5), METHOD_OTHER);
	assert_int_equal(router_method("", 0), METHOD_OTHER);
}

static void test_health_and_ready(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/health", METHOD_GET, &m), ROUTE_HEALTH);
	assert_int_equal(m.allowed, METHOD_GET | METHOD_HEAD);
	assert_true(m.method_allowed);
	assert_string_equal(m.user_id, "");
	assert_int_equal(m.task_id, 0);

	assert_int_equal(match("/health", METHOD_HEAD, &m), ROUTE_HEALTH);
	assert_true(m.method_allowed); /* HEAD goes with GET */
	assert_int_equal(match("/health", METHOD_POST, &m), ROUTE_HEALTH);
	assert_false(m.method_allowed);

	assert_int_equal(match("/ready", METHOD_GET, &m), ROUTE_READY);
	assert_int_equal(m.allowed, METHOD_GET | METHOD_HEAD);
	assert_true(m.method_allowed);
	assert_int_equal(match("/ready", METHOD_DELETE, &m), ROUTE_READY);
	assert_false(m.method_allowed);
}

static void test_realtime_route(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/ws/user/u%201/tasks", METHOD_GET, &m), ROUTE_REALTIME);
	assert_string_equal(m.user_id, "u 1");
	assert_int_equal(m.allowed, METHOD_GET | METHOD_HEAD);
	assert_int_equal(match("/ws/user/u1/tasks", METHOD_POST, &m), ROUTE_REALTIME);
	assert_false(m.method_allowed);
	assert_none("/ws/user/u1");
	assert_none("/ws/user//tasks");
	assert_none("/ws/u1/tasks");
	assert_none("/ws/user/u1/tasks/1");
}

/* The routes the Dapr sidecar calls. */
static void test_dapr_routes(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/dapr/subscribe", METHOD_GET, &m), ROUTE_DAPR_SUBSCRIBE);
	assert_true(m.method_allowed);
	assert_int_equal(match("/dapr/config", METHOD_GET, &m), ROUTE_DAPR_CONFIG);
	assert_int_equal(match("/dapr/events/work", METHOD_POST, &m), ROUTE_DAPR_EVENTS_WORK);
	assert_int_equal(m.allowed, METHOD_POST);
	assert_int_equal(match("/dapr/events/broadcast", METHOD_POST, &m),
	                 ROUTE_DAPR_EVENTS_BROADCAST);
	assert_int_equal(match("/dapr/cron", METHOD_POST, &m), ROUTE_DAPR_CRON);
	assert_true(m.method_allowed);
	assert_int_equal(match("/dapr/cron", METHOD_GET, &m), ROUTE_DAPR_CRON);
	assert_false(m.method_allowed);
	assert_none("/dapr");
	assert_none("/dapr/events");
	assert_none("/dapr/events/other");
	assert_none("/dapr/subscribe/x");
}

static void test_auth_routes(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/api/auth/sign-up", METHOD_POST, &m), ROUTE_SIGN_UP);
	assert_int_equal(m.allowed, METHOD_POST);
	assert_true(m.method_allowed);
	assert_int_equal(match("/api/auth/sign-up", METHOD_GET, &m), ROUTE_SIGN_UP);
	assert_false(m.method_allowed);

	assert_int_equal(match("/api/auth/sign-in", METHOD_POST, &m), ROUTE_SIGN_IN);
	assert_int_equal(m.allowed, METHOD_POST);
	assert_true(m.method_allowed);
	assert_int_equal(match("/api/auth/sign-in", METHOD_HEAD, &m), ROUTE_SIGN_IN);
	assert_false(m.method_allowed); /* no GET, so no HEAD */

	assert_int_equal(match("/api/auth/me", METHOD_GET, &m), ROUTE_ME);
	assert_int_equal(m.allowed, METHOD_GET | METHOD_HEAD);
	assert_true(m.method_allowed);
	assert_int_equal(match("/api/auth/me", METHOD_POST, &m), ROUTE_ME);
	assert_false(m.method_allowed);

	assert_none("/api/auth/sign-out");
	assert_none("/api/auth");
	assert_none("/api/auth/me/extra");
	/* "auth" is never a user id. */
	assert_none("/api/auth/tasks");
	assert_none("/api/auth/tasks/5");
	assert_none("/api/auth/tasks/5/complete");
}

static void test_tasks_collection(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/api/user-1/tasks", METHOD_GET, &m), ROUTE_TASKS);
	assert_string_equal(m.user_id, "user-1");
	assert_int_equal(m.task_id, 0);
	assert_int_equal(m.allowed, METHOD_GET | METHOD_HEAD | METHOD_POST);
	assert_true(m.method_allowed);
	assert_int_equal(match("/api/user-1/tasks", METHOD_POST, &m), ROUTE_TASKS);
	assert_true(m.method_allowed);
	assert_int_equal(match("/api/user-1/tasks", METHOD_HEAD, &m), ROUTE_TASKS);
	assert_true(m.method_allowed);
	assert_int_equal(match("/api/user-1/tasks", METHOD_DELETE, &m), ROUTE_TASKS);
	assert_false(m.method_allowed);
	assert_int_equal(match("/api/user-1/tasks", METHOD_OTHER, &m), ROUTE_TASKS);
	assert_false(m.method_allowed);
}

static void test_single_task(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/api/u1/tasks/42", METHOD_GET, &m), ROUTE_TASK);
	assert_string_equal(m.user_id, "u1");
	assert_int_equal(m.task_id, 42);
	assert_int_equal(m.allowed,
	                 METHOD_GET | METHOD_HEAD | METHOD_PUT | METHOD_PATCH | METHOD_DELETE);
	assert_true(m.method_allowed);
	static const enum http_method ok[] = {METHOD_GET, METHOD_HEAD, METHOD_PUT, METHOD_PATCH,
	                                      METHOD_DELETE};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(match("/api/u1/tasks/42", ok[i], &m), ROUTE_TASK);
		assert_true(m.method_allowed);
	}
	assert_int_equal(match("/api/u1/tasks/42", METHOD_POST, &m), ROUTE_TASK);
	assert_false(m.method_allowed);
	assert_int_equal(match("/api/u1/tasks/42", METHOD_OPTIONS, &m), ROUTE_TASK);
	assert_false(m.method_allowed);

	/* The largest id the router takes: 18 digits. */
	assert_int_equal(match("/api/u1/tasks/999999999999999999", METHOD_GET, &m), ROUTE_TASK);
	assert_int_equal(m.task_id, INT64_C(999999999999999999));
	assert_int_equal(match("/api/u1/tasks/1", METHOD_GET, &m), ROUTE_TASK);
	assert_int_equal(m.task_id, 1);
}

static void test_task_complete(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/api/u1/tasks/7/complete", METHOD_PATCH, &m), ROUTE_TASK_COMPLETE);
	assert_string_equal(m.user_id, "u1");
	assert_int_equal(m.task_id, 7);
	assert_int_equal(m.allowed, METHOD_PATCH);
	assert_true(m.method_allowed);
	assert_int_equal(match("/api/u1/tasks/7/complete", METHOD_GET, &m), ROUTE_TASK_COMPLETE);
	assert_false(m.method_allowed);
	assert_int_equal(match("/api/u1/tasks/7/complete", METHOD_POST, &m), ROUTE_TASK_COMPLETE);
	assert_false(m.method_allowed);

	assert_none("/api/u1/tasks/7/completed");
	assert_none("/api/u1/tasks/7/Complete");
	assert_none("/api/u1/tasks/7/complete/now");
	assert_none("/api/u1/tasks/0/complete");
	assert_none("/api/u1/tasks/x/complete");
}

static void test_trailing_slash(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/health/", METHOD_GET, &m), ROUTE_HEALTH);
	assert_int_equal(match("/api/auth/me/", METHOD_GET, &m), ROUTE_ME);
	assert_int_equal(match("/api/u1/tasks/", METHOD_GET, &m), ROUTE_TASKS);
	assert_string_equal(m.user_id, "u1");
	assert_int_equal(match("/api/u1/tasks/5/", METHOD_GET, &m), ROUTE_TASK);
	assert_int_equal(m.task_id, 5);
	assert_int_equal(match("/api/u1/tasks/5/complete/", METHOD_PATCH, &m), ROUTE_TASK_COMPLETE);
}

static void test_percent_decoded_user_id(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(match("/api/alice%40example.com/tasks", METHOD_GET, &m), ROUTE_TASKS);
	assert_string_equal(m.user_id, "alice@example.com");
	assert_int_equal(match("/api/a%20b/tasks/3", METHOD_GET, &m), ROUTE_TASK);
	assert_string_equal(m.user_id, "a b");
	assert_int_equal(m.task_id, 3);
	/* '+' is not a space in a path. */
	assert_int_equal(match("/api/a+b/tasks", METHOD_GET, &m), ROUTE_TASKS);
	assert_string_equal(m.user_id, "a+b");
	/* UTF-8 passes through. */
	assert_int_equal(match("/api/%C3%A9t%C3%A9/tasks", METHOD_GET, &m), ROUTE_TASKS);
	assert_string_equal(m.user_id, "\xc3\xa9t\xc3\xa9");
}

static void test_bad_user_ids(void **state)
{
	(void)state;
	/* An encoded slash would be a path separator in disguise. */
	assert_none("/api/a%2Fb/tasks");
	assert_none("/api/a%2fb/tasks");
	assert_none("/api/%2F/tasks/1");
	/* Encoded NUL, control characters and DEL. */
	assert_none("/api/a%00b/tasks");
	assert_none("/api/a%0Ab/tasks");
	assert_none("/api/a%1Fb/tasks");
	assert_none("/api/a%7Fb/tasks");
	/* Broken escapes. */
	assert_none("/api/a%2/tasks");
	assert_none("/api/a%zz/tasks");
	assert_none("/api/%/tasks");
}

static void test_user_id_length(void **state)
{
	(void)state;
	struct route_match m;
	char path[600], id[300];
	memset(id, 'u', ROUTER_USER_ID_MAX);
	id[ROUTER_USER_ID_MAX] = '\0';
	snprintf(path, sizeof path, "/api/%s/tasks", id);
	assert_int_equal(match(path, METHOD_GET, &m), ROUTE_TASKS);
	assert_int_equal(strlen(m.user_id), ROUTER_USER_ID_MAX);
	assert_string_equal(m.user_id, id);

	id[ROUTER_USER_ID_MAX] = 'u';
	id[ROUTER_USER_ID_MAX + 1] = '\0';
	snprintf(path, sizeof path, "/api/%s/tasks", id);
	assert_none(path);

	/* 128 decoded bytes from 384 encoded ones is fine; the decoded length counts. */
	char enc[3 * ROUTER_USER_ID_MAX + 4] = "";
	for (int i = 0; i < ROUTER_USER_ID_MAX; i++)
		strcat(enc, "%41");
	snprintf(path, sizeof path, "/api/%s/tasks", enc);
	assert_int_equal(match(path, METHOD_GET, &m), ROUTE_TASKS);
	assert_int_equal(strlen(m.user_id), ROUTER_USER_ID_MAX);
	assert_int_equal(m.user_id[0], 'A');
	strcat(enc, "%41");
	snprintf(path, sizeof path, "/api/%s/tasks", enc);
	assert_none(path);
}

static void test_bad_task_ids(void **state)
{
	(void)state;
	assert_none("/api/u1/tasks/0");
	assert_none("/api/u1/tasks/-1");
	assert_none("/api/u1/tasks/+1");
	assert_none("/api/u1/tasks/abc");
	assert_none("/api/u1/tasks/12abc");
	assert_none("/api/u1/tasks/1.5");
	assert_none("/api/u1/tasks/007");
	assert_none("/api/u1/tasks/00");
	assert_none("/api/u1/tasks/%31"); /* ids are not percent-decoded */
	assert_none("/api/u1/tasks/ 1");
	/* Past int64: INT64_MAX + 1 and longer. */
	assert_none("/api/u1/tasks/9223372036854775808");
	assert_none("/api/u1/tasks/99999999999999999999999");
}

static void test_largest_task_id(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(router_match("/api/u1/tasks/9223372036854775807",
	                              strlen("/api/u1/tasks/9223372036854775807"), METHOD_GET, &m),
	                 ROUTE_TASK);
	assert_true(m.task_id == INT64_MAX);
}

static void test_empty_segments(void **state)
{
	(void)state;
	assert_none("//health");
	assert_none("/api//tasks");
	assert_none("//api/u1/tasks");
	assert_none("/api/u1//tasks");
	assert_none("/api/u1/tasks//5");
	assert_none("/api/auth//me");
	assert_none("/");
	assert_none("");
	assert_none("health"); /* not origin-form */
}

static void test_case_and_unknown_paths(void **state)
{
	(void)state;
	assert_none("/API/u1/tasks");
	assert_none("/Api/auth/me");
	assert_none("/HEALTH");
	assert_none("/api/u1/Tasks");
	assert_none("/api/AUTH/sign-in");
	assert_none("/api/auth/Sign-In");
	assert_none("/healthz");
	assert_none("/health/live");
	assert_none("/api");
	assert_none("/api/u1");
	assert_none("/api/u1/task");
	assert_none("/api/u1/tasks/5/6");
	assert_none("/api/u1/tasks/5/complete/extra/more");
	assert_none("/a/b/c/d/e/f/g");
	assert_none("/favicon.ico");
	/* The router is handed the path without the query; a '?' here is data. */
	assert_none("/health?x=1");
}

static void test_length_is_respected(void **state)
{
	(void)state;
	struct route_match m;
	/* Only len bytes are the path: what follows is not looked at. */
	const char *buf = "/api/u1/tasks/12?sort=title";
	assert_int_equal(router_match(buf, 16, METHOD_GET, &m), ROUTE_TASK);
	assert_int_equal(m.task_id, 12);
	assert_int_equal(router_match(buf, 13, METHOD_GET, &m), ROUTE_TASKS);
	assert_int_equal(router_match("/healthXYZ", 7, METHOD_GET, &m), ROUTE_HEALTH);
}

static void test_match_resets_previous_result(void **state)
{
	(void)state;
	struct route_match m;
	assert_int_equal(router_match("/api/u1/tasks/9", 15, METHOD_GET, &m), ROUTE_TASK);
	assert_int_equal(m.task_id, 9);
	assert_int_equal(router_match("/api/u1/tasks/0", 15, METHOD_GET, &m), ROUTE_NONE);
	assert_int_equal(m.task_id, 0);
	assert_string_equal(m.user_id, "");
	assert_int_equal(m.allowed, 0);
	assert_false(m.method_allowed);
}

static void assert_allow(unsigned methods, const char *expected)
{
	char buf[128];
	memset(buf, 'x', sizeof buf);
	router_allow_header(methods, buf, sizeof buf);
	assert_string_equal(buf, expected);
}

static void test_allow_header(void **state)
{
	(void)state;
	assert_allow(0, "");
	assert_allow(METHOD_GET, "GET");
	assert_allow(METHOD_POST, "POST");
	assert_allow(METHOD_GET | METHOD_HEAD | METHOD_POST, "GET, HEAD, POST");
	/* Fixed order regardless of bit order. */
	assert_allow(METHOD_DELETE | METHOD_GET, "GET, DELETE");
	assert_allow(ALL_METHODS, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
	assert_allow(METHOD_PATCH | METHOD_OPTIONS, "PATCH, OPTIONS");

	/* What the server sends for the routes. */
	struct route_match m;
	char buf[128];
	router_match("/api/u1/tasks/3", 15, METHOD_POST, &m);
	router_allow_header(m.allowed | METHOD_OPTIONS, buf, sizeof buf);
	assert_string_equal(buf, "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
	router_match("/api/u1/tasks", 13, METHOD_PUT, &m);
	router_allow_header(m.allowed, buf, sizeof buf);
	assert_string_equal(buf, "GET, HEAD, POST");
}

static void test_allow_header_truncation(void **state)
{
	(void)state;
	/* A too-small buffer is never overrun and stays NUL-terminated, holding
	 * a prefix of the full value. */
	const char *full = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
	for (size_t cap = 1; cap <= strlen(full) + 1; cap++) {
		char buf[64];
		memset(buf, 'x', sizeof buf);
		router_allow_header(ALL_METHODS, buf, cap);
		size_t n = strnlen(buf, cap);
		assert_true(n < cap);
		assert_memory_equal(buf, full, n);
		assert_int_equal(buf[cap], 'x'); /* nothing written past cap */
	}
	char buf[64];
	router_allow_header(ALL_METHODS, buf, strlen(full) + 1);
	assert_string_equal(buf, full);
	/* The server's 64-byte Allow buffer holds every method. */
	router_allow_header(ALL_METHODS, buf, 64);
	assert_string_equal(buf, full);
}

/* What the API answers even without a route (JSON 404), and what it leaves
 * to the dashboard's pages. */
static void test_owned_paths(void **state)
{
	(void)state;
	static const char *const owned[] = {
	    "/api",          "/api/",   "/api/u/tasks", "/ws/user/u/tasks",
	    "/dapr/nothing", "/health", "/ready",       "/health/x"};
	static const char *const pages[] = {
	    "/",         "",        "/dashboard/",        "/apix",
	    "/api.html", "/signin", "/_next/static/a.js", "/readyz"};
	for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
		if (!router_owns_path(owned[i], strlen(owned[i])))
			fail_msg("%s should be the API's", owned[i]);
	for (size_t i = 0; i < sizeof pages / sizeof *pages; i++)
		if (router_owns_path(pages[i], strlen(pages[i])))
			fail_msg("%s should be the dashboard's", pages[i]);
	/* the length, not the NUL, ends the path */
	assert_true(router_owns_path("/api/x", 4));
	assert_false(router_owns_path("/api", 3)); /* "/ap" */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_method_names),
	    cmocka_unit_test(test_health_and_ready),
	    cmocka_unit_test(test_auth_routes),
	    cmocka_unit_test(test_dapr_routes),
	    cmocka_unit_test(test_realtime_route),
	    cmocka_unit_test(test_tasks_collection),
	    cmocka_unit_test(test_single_task),
	    cmocka_unit_test(test_task_complete),
	    cmocka_unit_test(test_trailing_slash),
	    cmocka_unit_test(test_percent_decoded_user_id),
	    cmocka_unit_test(test_bad_user_ids),
	    cmocka_unit_test(test_user_id_length),
	    cmocka_unit_test(test_bad_task_ids),
	    cmocka_unit_test(test_largest_task_id),
	    cmocka_unit_test(test_empty_segments),
	    cmocka_unit_test(test_case_and_unknown_paths),
	    cmocka_unit_test(test_length_is_respected),
	    cmocka_unit_test(test_match_resets_previous_result),
	    cmocka_unit_test(test_allow_header),
	    cmocka_unit_test(test_allow_header_truncation),
	    cmocka_unit_test(test_owned_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
