/* Maps a method and a raw request path to one of the API's routes. Pure:
 * no I/O, no allocation; the handlers live in api/. */
#ifndef TASKFLOW_HTTP_ROUTER_H
#define TASKFLOW_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum route_id {
	ROUTE_NONE = 0, /* no path matched: 404 */
	ROUTE_HEALTH,
	ROUTE_READY,
	ROUTE_SIGN_UP,
	ROUTE_SIGN_IN,
	ROUTE_ME,
	ROUTE_TASKS,
	ROUTE_TASK,
	ROUTE_TASK_COMPLETE,
	/* Called by the Dapr sidecar (api/dapr.c). */
	ROUTE_DAPR_SUBSCRIBE,
	ROUTE_DAPR_CONFIG,
	ROUTE_DAPR_EVENTS_WORK,
	ROUTE_DAPR_EVENTS_BROADCAST,
	ROUTE_DAPR_CRON,
	/* The live sync WebSocket (api/realtime.c). */
	ROUTE_REALTIME,
};

enum http_method {
	METHOD_OTHER = 0,
	METHOD_GET = 1 << 0,
	METHOD_HEAD = 1 << 1,
	METHOD_POST = 1 << 2,
	METHOD_PUT = 1 << 3,
	METHOD_PATCH = 1 << 4,
	METHOD_DELETE = 1 << 5,
	METHOD_OPTIONS = 1 << 6,
};

#define ROUTER_USER_ID_MAX 128

struct route_match {
	enum route_id route;
	unsigned allowed;    /* methods the matched path takes (HEAD goes with GET) */
	bool method_allowed; /* the request's method is among them */
	char user_id[ROUTER_USER_ID_MAX + 1]; /* percent-decoded {user_id} */
	int64_t task_id;                      /* {id}, a positive integer */
};

enum http_method router_method(const char *name, size_t len);

/* `path` is the raw request target without the query. Returns the route (also
 * stored in m->route); ROUTE_NONE when no path matches, including a {user_id}
 * that is empty, too long or holds control characters, and an {id} that is
 * not a positive 63-bit integer. */
enum route_id router_match(const char *path, size_t len, enum http_method method,
                           struct route_match *m);

/* True when the path's first segment is one of the API's (api, ws, dapr,
 * health, ready): the API answers it, in JSON, even when no route matches. */
bool router_owns_path(const char *path, size_t len);

/* Writes the Allow header value ("GET, POST") for a method set. */
void router_allow_header(unsigned methods, char *buf, size_t cap);

#endif
