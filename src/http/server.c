#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/token_cache.h"
#include "core/log.h"
#include "core/uuid.h"
#include "http/frontend.h"
#include "realtime/hub.h"
#include "store/outbox.h"

#define LOOP_TICK_MS       100
#define MAX_REQUEST_ENTITY (8 * 1024 * 1024) /* above CALL_MAX_BODY: we answer 413 in JSON */

struct loop {
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	h2o_socket_t *listener;
	h2o_multithread_receiver_t handed_over; /* connections another loop accepted for this one */
	struct call_loop calls;
	int listen_fd;
	pthread_t thread;
	const struct app *app;
	h2o_globalconf_t *globalconf;
};

struct app_handler {
	h2o_handler_t super;
	const struct app *app;
};

/* Set by the main thread when a stop signal arrives; read by every loop. */
static atomic_bool stopping;

/* The loops, written once by server_run before they start. Kept (not freed)
 * at exit: h2o 2.2.5 asserts when a context is disposed while idle
 * keep-alive connections remain, so the contexts stay, reachable, until the
 * process ends. */
static struct loop *loops;
static int nloops;

/* Accepted connections are dealt to the loops in turn, whichever loop took
 * them from the listening socket: the kernel wakes whichever loop it likes,
 * and of a burst of 64 connections one loop took 52, whose requests then
 * waited twice as long for its share of the database connections (the
 * create's p99 followed). Every loop deals: atomic. */
static atomic_uint next_dealt;
/* No loop accepts before every loop can take a connection handed over, and
 * none drains for shutdown before every loop has stopped accepting (so no
 * connection is handed to a loop that has gone). */
static pthread_barrier_t loops_ready, loops_not_accepting;

struct handover {
	h2o_multithread_message_t super;
	int fd; /* accepted, nothing read from it yet */
};

static int listen_on(const char *host, int port);
static void *loop_main(void *arg);
static void on_accept(h2o_socket_t *listener, const char *err);
static void serve_connection(struct loop *l, int fd);
static void hand_over(struct loop *to, int fd);
static void on_handed_over(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);
static int on_req(h2o_handler_t *self, h2o_req_t *req);
static void set_request_id(struct call *c);
static void add_common_headers(struct call *c);
static bool origin_allowed(const struct config *cfg, const h2o_iovec_t *origin);
static void answer_preflight(struct call *c);

int server_run(const struct app *app)
{
	static h2o_globalconf_t globalconf;
	h2o_config_init(&globalconf);
	globalconf.server_name = h2o_iovec_init(H2O_STRLIT("taskflow"));
	globalconf.max_request_entity_size = MAX_REQUEST_ENTITY;
	h2o_hostconf_t *host =
	    h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
	struct app_handler *handler =
	    (struct app_handler *)h2o_create_handler(path, sizeof *handler);
	handler->super.on_req = on_req;
	handler->app = app;
	if (app->cfg->frontend_dir)
		frontend_register(path, app->cfg->frontend_dir);

	int fd = listen_on(app->cfg->host, app->cfg->port);
	if (fd < 0)
		return 1;

	nloops = app->cfg->threads;
	loops = calloc((size_t)nloops, sizeof *loops);
	pthread_barrier_init(&loops_ready, NULL, (unsigned)nloops);
	pthread_barrier_init(&loops_not_accepting, NULL, (unsigned)nloops);
	for (int i = 0; i < nloops; i++) {
		loops[i].app = app;
		loops[i].listen_fd = dup(fd);
		loops[i].globalconf = &globalconf;
		if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) != 0)
			abort();
	}
	close(fd);
	log_fields(LOG_INFO, "listening", "s:host", app->cfg->host, "i:port",
	           (long long)app->cfg->port, "i:threads", (long long)nloops, NULL);

	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	int sig;
	sigwait(&stop_signals, &sig);
	log_fields(LOG_INFO, "shutting down", "s:signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
	           NULL);
	atomic_store(&stopping, true);
	for (int i = 0; i < nloops; i++)
		pthread_join(loops[i].thread, NULL);
	pthread_barrier_destroy(&loops_ready);
	pthread_barrier_destroy(&loops_not_accepting);
	return 0;
}

static int listen_on(const char *host, int port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%d", port);
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		log_fields(LOG_ERROR, "cannot resolve HOST", "s:host", host, "s:error",
		           gai_strerror(rc), NULL);
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	/* No SO_REUSEPORT: it would silently share the port with another
	 * process. Each loop accepts on a dup of this one socket instead. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
		log_fields(LOG_ERROR, "cannot listen", "s:host", host, "i:port", (long long)port,
		           "s:error", strerror(errno), NULL);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	/* On this thread: h2o keeps per-thread allocators (thread-local free
	 * lists) and the context captures the creating thread's. */
	h2o_context_init(&l->ctx, h2o_evloop_create(), l->globalconf);
	const struct config *cfg = l->app->cfg;
	int nconns = (cfg->db_pool_size + cfg->threads - 1) / cfg->threads;
	int nreads = (cfg->db_read_pool_size + cfg->threads - 1) / cfg->threads;
	/* Before anything can submit work whose result comes back here. */
	h2o_multithread_register_receiver(l->ctx.queue, &l->calls.work_done, workers_on_done);
	h2o_multithread_register_receiver(l->ctx.queue, &l->handed_over, on_handed_over);
	l->calls.db = db_create(l->ctx.loop, cfg->database_url, nconns, nreads, l->app->resolver,
	                        &l->calls.work_done);
	l->calls.waker = outbox_waker_create(l->ctx.loop, l->calls.db);
	l->calls.hub = hub_create(&l->ctx, l->calls.db, cfg);
	l->calls.cpu = l->app->cpu;
	l->calls.sidecar = l->app->sidecar;
	l->calls.tokens = token_cache_create();
	l->accept_ctx.ctx = &l->ctx;
	l->accept_ctx.hosts = l->ctx.globalconf->hosts;
	l->listener =
	    h2o_evloop_socket_create(l->ctx.loop, l->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
	l->listener->data = l;
	pthread_barrier_wait(&loops_ready);
	h2o_socket_read_start(l->listener, on_accept);

	log_buffer_this_thread();
	while (!atomic_load(&stopping)) {
		h2o_evloop_run(l->ctx.loop, LOOP_TICK_MS);
		log_flush_if_due(h2o_now(l->ctx.loop));
	}

	h2o_socket_read_stop(l->listener);
	h2o_socket_close(l->listener);
	pthread_barrier_wait(&loops_not_accepting);
	hub_close_all(l->calls.hub);
	h2o_context_request_shutdown(&l->ctx);
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += l->app->cfg->shutdown_timeout_ms / 1000;
	deadline.tv_nsec += (long)(l->app->cfg->shutdown_timeout_ms % 1000) * 1000000;
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		bool late = now.tv_sec > deadline.tv_sec ||
		            (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec);
		if (l->calls.pending_jobs == 0 || late) {
			if (l->calls.pending_jobs)
				log_fields(LOG_WARN, "shutdown timeout: requests abandoned",
				           "i:count", (long long)l->calls.pending_jobs, NULL);
			break;
		}
		h2o_evloop_run(l->ctx.loop, 10);
		log_flush();
	}
	/* Let the last responses reach their sockets. */
	h2o_evloop_run(l->ctx.loop, 0);
	log_unbuffer_this_thread();
	return NULL;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct loop *l = listener->data;
	if (err != NULL || atomic_load(&stopping))
		return;
	/* Take a few per wake-up, leaving the rest to the other loops. */
	for (int i = 0; i < 8; i++) {
		int fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1; /* as h2o's own accept does */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct loop *to = &loops[atomic_fetch_add(&next_dealt, 1) % (unsigned)nloops];
		if (to == l)
			serve_connection(l, fd);
		else
			hand_over(to, fd);
	}
}

static void serve_connection(struct loop *l, int fd)
{
	h2o_socket_t *sock =
	    h2o_evloop_socket_create(l->ctx.loop, fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
	h2o_accept(&l->accept_ctx, sock);
}

static void hand_over(struct loop *to, int fd)
{
	struct handover *h = calloc(1, sizeof *h);
	if (h == NULL)
		abort();
	h->fd = fd;
	h2o_multithread_send_message(&to->handed_over, &h->super);
}

static void on_handed_over(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	struct loop *l = H2O_STRUCT_FROM_MEMBER(struct loop, handed_over, receiver);
	while (!h2o_linklist_is_empty(messages)) {
		struct handover *h =
		    H2O_STRUCT_FROM_MEMBER(struct handover, super.link, messages->next);
		h2o_linklist_unlink(&h->super.link);
		if (atomic_load(&stopping)) /* no request read yet: nothing is cut short */
			close(h->fd);
		else
			serve_connection(l, h->fd);
		free(h);
	}
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct app_handler *handler = (struct app_handler *)self;
	struct loop *l = H2O_STRUCT_FROM_MEMBER(struct loop, ctx, req->conn->ctx);
	struct call *c = h2o_mem_alloc_pool(&req->pool, sizeof *c);
	memset(c, 0, sizeof *c);
	c->req = req;
	c->app = handler->app;
	c->loop = &l->calls;
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	set_request_id(c);
	add_common_headers(c);

	c->method = router_method(req->method.base, req->method.len);
	c->path = h2o_iovec_init(req->path.base,
	                         req->query_at == SIZE_MAX ? req->path.len : req->query_at);
	router_match(c->path.base, c->path.len, c->method, &c->route);

	if (c->route.route == ROUTE_NONE && handler->app->cfg->frontend_dir &&
	    (c->method == METHOD_GET || c->method == METHOD_HEAD) &&
	    !router_owns_path(c->path.base, c->path.len)) {
		frontend_set_cache_headers(req, c->path.base, c->path.len);
		return -1; /* the file handler registered after this one answers */
	}
	if (c->route.route == ROUTE_NONE) {
		call_respond_error(c, 404, "not_found", "no such resource", NULL);
	} else if (c->method == METHOD_OPTIONS) {
		answer_preflight(c);
	} else if (!c->route.method_allowed) {
		struct reply r = {0};
		router_allow_header(c->route.allowed | METHOD_OPTIONS, r.allow, sizeof r.allow);
		reply_error(&r, 405, "method_not_allowed", "this method is not allowed here", NULL);
		call_respond(c, &r);
	} else {
		api_dispatch(c);
	}
	return 0;
}

static void set_request_id(struct call *c)
{
	const h2o_iovec_t *given = call_header(c, "x-request-id");
	bool valid = given && given->len > 0 && given->len <= CALL_REQUEST_ID_MAX;
	for (size_t i = 0; valid && i < given->len; i++) {
		char ch = given->base[i];
		valid = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		        (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' ||
		        ch == '-';
	}
	if (valid) {
		memcpy(c->request_id, given->base, given->len);
		c->request_id[given->len] = '\0';
		return;
	}
	uuid_v4(c->request_id);
}

static void add_common_headers(struct call *c)
{
	h2o_req_t *req = c->req;
	h2o_headers_t *h = &req->res.headers;
	h2o_iovec_t id = h2o_strdup(&req->pool, c->request_id, strlen(c->request_id));
	h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("x-request-id"), 0, NULL, id.base, id.len);
	h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("x-content-type-options"), 0, NULL,
	                      H2O_STRLIT("nosniff"));
	h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("x-frame-options"), 0, NULL,
	                      H2O_STRLIT("DENY"));
	h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("referrer-policy"), 0, NULL,
	                      H2O_STRLIT("no-referrer"));

	const h2o_iovec_t *origin = call_header(c, "origin");
	if (origin && origin_allowed(c->app->cfg, origin)) {
		c->cors_origin = h2o_strdup(&req->pool, origin->base, origin->len);
		h2o_add_header(&req->pool, h, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL,
		               c->cors_origin.base, c->cors_origin.len);
		h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-expose-headers"), 0,
		                      NULL,
		                      H2O_STRLIT("Location, ETag, X-Request-Id, Retry-After, "
		                                 "Idempotent-Replayed"));
	}
	if (c->app->cfg->cors_origin_count || c->app->cfg->cors_any)
		h2o_add_header(&req->pool, h, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));
}

static bool origin_allowed(const struct config *cfg, const h2o_iovec_t *origin)
{
	if (cfg->cors_any)
		return true;
	for (int i = 0; i < cfg->cors_origin_count; i++)
		if (strlen(cfg->cors_origins[i]) == origin->len &&
		    strncasecmp(cfg->cors_origins[i], origin->base, origin->len) == 0)
			return true;
	return false;
}

static void answer_preflight(struct call *c)
{
	h2o_req_t *req = c->req;
	h2o_headers_t *h = &req->res.headers;
	struct reply r = {.status = 204};
	router_allow_header(c->route.allowed | METHOD_OPTIONS, r.allow, sizeof r.allow);
	if (c->cors_origin.len) {
		h2o_iovec_t methods = h2o_strdup(&req->pool, r.allow, strlen(r.allow));
		h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-allow-methods"), 0,
		                      NULL, methods.base, methods.len);
		h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-allow-headers"), 0,
		                      NULL,
		                      H2O_STRLIT("Authorization, Content-Type, If-Match, "
		                                 "Idempotency-Key, X-Request-Id"));
		h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-max-age"), 0, NULL,
		                      H2O_STRLIT("600"));
	}
	call_respond(c, &r);
}
