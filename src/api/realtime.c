/* GET /ws/user/{user_id}/tasks (docs/realtime.md): checks the token, the
 * Origin and the upgrade, then hands the connection to the loop's hub. */
#include "api/api.h"

#include <errno.h>
#include <h2o/websocket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/query.h"
#include "realtime/hub.h"

static bool origin_refused(struct call *c);
static const char *subprotocol_token(struct call *c);
static bool read_seq(const char *text, int64_t *out);

void api_realtime(struct call *c)
{
	h2o_req_t *req = c->req;
	struct query q;
	if (req->query_at != SIZE_MAX && !query_parse(req->path.base + req->query_at + 1,
	                                              req->path.len - req->query_at - 1, &q)) {
		call_respond_error(c, 400, "bad_request", "the query string is malformed", NULL);
		return;
	}
	if (req->query_at == SIZE_MAX)
		memset(&q, 0, sizeof q);

	/* Browsers cannot set Authorization on a WebSocket: the token comes in
	 * the query or as the subprotocol pair "bearer, <token>". */
	const char *token = query_get(&q, "token");
	const char *from_protocol = token ? NULL : subprotocol_token(c);
	if (!token)
		token = from_protocol;
	const char *since_text = query_get(&q, "since");
	int64_t since = -1;
	struct token_claims claims;
	const char *key = NULL;

	if (!call_authenticate_token(c, token, &claims)) {
		/* answered */
	} else if (origin_refused(c)) {
		call_respond_error(c, 403, "forbidden", "this origin may not open live sync", NULL);
	} else if (since_text && !read_seq(since_text, &since)) {
		call_respond_error(c, 400, "bad_request", "since must be a sequence number",
		                   "since");
	} else if (req->version >= 0x200 || h2o_is_websocket_handshake(req, &key) != 0 ||
	           key == NULL) {
		/* h2o's upgrade is HTTP/1.1 only. */
		call_respond_error(c, 400, "bad_request",
		                   "a WebSocket upgrade (HTTP/1.1) is required", NULL);
	} else {
		if (from_protocol)
			h2o_add_header_by_str(&req->pool, &req->res.headers,
			                      H2O_STRLIT("sec-websocket-protocol"), 0, NULL,
			                      H2O_STRLIT("bearer"));
		hub_accept(c->loop->hub, req, key, claims.sub, since, claims.exp);
	}
	query_free(&q);
}

/* Digits only, within a bigint. */
static bool read_seq(const char *text, int64_t *out)
{
	if (text[0] < '0' || text[0] > '9')
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (*end != '\0' || errno == ERANGE)
		return false;
	*out = v;
	return true;
}

/* A browser always sends Origin: it must be one we allow. Other clients
 * send none. */
static bool origin_refused(struct call *c)
{
	return call_header(c, "origin") != NULL && c->cors_origin.len == 0;
}

/* "Sec-WebSocket-Protocol: bearer, <token>": the token, in the request's pool. */
static const char *subprotocol_token(struct call *c)
{
	const h2o_iovec_t *v = call_header(c, "sec-websocket-protocol");
	if (v == NULL || v->len < 8 || strncasecmp(v->base, "bearer", 6) != 0)
		return NULL;
	size_t i = 6;
	while (i < v->len && (v->base[i] == ',' || v->base[i] == ' '))
		i++;
	if (i == 6 || i == v->len)
		return NULL;
	return h2o_strdup(&c->req->pool, v->base + i, v->len - i).base;
}
