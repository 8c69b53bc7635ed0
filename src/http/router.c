#include "http/router.h"

#include "http/query.h"

#include <stdio.h>
#include <string.h>

#define MAX_SEGMENTS 6

struct segment {
	const char *p;
	size_t len;
};

static int split_path(const char *path, size_t len, struct segment *segs);
static bool seg_is(const struct segment *s, const char *lit);
static bool decode_user_id(const struct segment *s, char *out);
static bool parse_task_id(const struct segment *s, int64_t *out);
static void match_dapr(const struct segment *s, int n, struct route_match *m);

enum http_method router_method(const char *name, size_t len)
{
	static const struct {
		const char *name;
		enum http_method method;
	} table[] = {
	    {"GET", METHOD_GET},         {"HEAD", METHOD_HEAD},   {"POST", METHOD_POST},
	    {"PUT", METHOD_PUT},         {"PATCH", METHOD_PATCH}, {"DELETE", METHOD_DELETE},
	    {"OPTIONS", METHOD_OPTIONS},
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
			return table[i].method;
	return METHOD_OTHER;
}

/* The first segment of every route router_match knows. */
static const char *const API_SEGMENTS[] = {"api", "ws", "dapr", "health", "ready"};

bool router_owns_path(const char *path, size_t len)
{
	if (len == 0 || path[0] != '/')
		return false;
	const char *slash = memchr(path + 1, '/', len - 1);
	struct segment first = {path + 1, slash ? (size_t)(slash - path - 1) : len - 1};
	for (size_t i = 0; i < sizeof API_SEGMENTS / sizeof *API_SEGMENTS; i++)
		if (seg_is(&first, API_SEGMENTS[i]))
			return true;
	return false;
}

enum route_id router_match(const char *path, size_t len, enum http_method method,
                           struct route_match *m)
{
	struct segment s[MAX_SEGMENTS];
	int n = split_path(path, len, s);

	memset(m, 0, sizeof *m);
	if (n == 1 && seg_is(&s[0], "health")) {
		m->route = ROUTE_HEALTH;
		m->allowed = METHOD_GET;
	} else if (n == 1 && seg_is(&s[0], "ready")) {
		m->route = ROUTE_READY;
		m->allowed = METHOD_GET;
	} else if (n == 4 && seg_is(&s[0], "ws") && seg_is(&s[1], "user") &&
	           seg_is(&s[3], "tasks") && decode_user_id(&s[2], m->user_id)) {
		m->route = ROUTE_REALTIME;
		m->allowed = METHOD_GET;
	} else if (n >= 2 && n <= 3 && seg_is(&s[0], "dapr")) {
		match_dapr(s, n, m);
	} else if (n == 3 && seg_is(&s[0], "api") && seg_is(&s[1], "auth")) {
		if (seg_is(&s[2], "sign-up")) {
			m->route = ROUTE_SIGN_UP;
			m->allowed = METHOD_POST;
		} else if (seg_is(&s[2], "sign-in")) {
			m->route = ROUTE_SIGN_IN;
			m->allowed = METHOD_POST;
		} else if (seg_is(&s[2], "me")) {
			m->route = ROUTE_ME;
			m->allowed = METHOD_GET;
		}
	} else if (n >= 3 && n <= 5 && seg_is(&s[0], "api") && seg_is(&s[2], "tasks") &&
	           decode_user_id(&s[1], m->user_id) && strcmp(m->user_id, "auth") != 0) {
		if (n == 3) {
			m->route = ROUTE_TASKS;
			m->allowed = METHOD_GET | METHOD_POST;
		} else if (parse_task_id(&s[3], &m->task_id)) {
			if (n == 4) {
				m->route = ROUTE_TASK;
				m->allowed = METHOD_GET | METHOD_PUT | METHOD_PATCH | METHOD_DELETE;
			} else if (seg_is(&s[4], "complete")) {
				m->route = ROUTE_TASK_COMPLETE;
				m->allowed = METHOD_PATCH;
			}
		}
	}
	if (m->route == ROUTE_NONE) {
		m->user_id[0] = '\0';
		m->task_id = 0;
		return ROUTE_NONE;
	}
	if (m->allowed & METHOD_GET)
		m->allowed |= METHOD_HEAD;
	m->method_allowed = (m->allowed & method) != 0;
	return m->route;
}

void router_allow_header(unsigned methods, char *buf, size_t cap)
{
	static const struct {
		enum http_method method;
		const char *name;
	} order[] = {{METHOD_GET, "GET"},        {METHOD_HEAD, "HEAD"},   {METHOD_POST, "POST"},
	             {METHOD_PUT, "PUT"},        {METHOD_PATCH, "PATCH"}, {METHOD_DELETE, "DELETE"},
	             {METHOD_OPTIONS, "OPTIONS"}};
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		if (!(methods & order[i].method))
			continue;
		int w = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", order[i].name);
		if (w < 0 || (size_t)w >= cap - used)
			return;
		used += (size_t)w;
	}
}

/* "/api/u1/tasks/" -> api, u1, tasks. A trailing slash is ignored; an empty
 * inner segment ("//") or too many segments make the path unmatchable. */
static int split_path(const char *path, size_t len, struct segment *segs)
{
	if (len == 0 || path[0] != '/')
		return -1;
	size_t i = 1;
	int n = 0;
	if (len > 1 && path[len - 1] == '/')
		len--;
	if (len > 1 && path[len - 1] == '/')
		return -1;
	while (i < len) {
		size_t start = i;
		while (i < len && path[i] != '/')
			i++;
		if (i == start || n == MAX_SEGMENTS)
			return -1;
		segs[n].p = path + start;
		segs[n].len = i - start;
		n++;
		i++;
	}
	return n;
}

/* /dapr/subscribe, /dapr/config, /dapr/events/{work,broadcast}, /dapr/cron */
static void match_dapr(const struct segment *s, int n, struct route_match *m)
{
	if (n == 2 && seg_is(&s[1], "subscribe")) {
		m->route = ROUTE_DAPR_SUBSCRIBE;
		m->allowed = METHOD_GET;
	} else if (n == 2 && seg_is(&s[1], "config")) {
		m->route = ROUTE_DAPR_CONFIG;
		m->allowed = METHOD_GET;
	} else if (n == 2 && seg_is(&s[1], "cron")) {
		m->route = ROUTE_DAPR_CRON;
		m->allowed = METHOD_POST;
	} else if (n == 3 && seg_is(&s[1], "events") && seg_is(&s[2], "work")) {
		m->route = ROUTE_DAPR_EVENTS_WORK;
		m->allowed = METHOD_POST;
	} else if (n == 3 && seg_is(&s[1], "events") && seg_is(&s[2], "broadcast")) {
		m->route = ROUTE_DAPR_EVENTS_BROADCAST;
		m->allowed = METHOD_POST;
	}
}

static bool seg_is(const struct segment *s, const char *lit)
{
	return strlen(lit) == s->len && memcmp(s->p, lit, s->len) == 0;
}

static bool decode_user_id(const struct segment *s, char *out)
{
	char buf[3 * ROUTER_USER_ID_MAX + 1];
	size_t n;
	if (s->len > 3 * ROUTER_USER_ID_MAX || !percent_decode(s->p, s->len, false, buf, &n) ||
	    n == 0 || n > ROUTER_USER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f || buf[i] == '/')
			return false;
	memcpy(out, buf, n + 1);
	return true;
}

static bool parse_task_id(const struct segment *s, int64_t *out)
{
	if (s->len == 0 || s->len > 19 || s->p[0] == '0')
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < s->len; i++) {
		int digit = s->p[i] - '0';
		if (digit < 0 || digit > 9 || v > (INT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}
