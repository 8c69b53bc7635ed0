#include "realtime/hub.h"

#include <h2o/websocket.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wslay/wslay.h>

#include "core/hash.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "store/db.h"

#define MAX_HUBS       64
#define MAX_MESSAGE    (64 * 1024)
#define TICK_MS        200
#define CLOSE_GRACE_MS 2000 /* a closing socket that does not finish is dropped */
#define BUCKETS        4096 /* sockets by user: an event looks at one bucket */

/* An event on its way to every hub: one copy per hub. */
struct live_event {
	h2o_multithread_message_t super; /* first */
	char user_id[130];
	int64_t seq;
	size_t len;
	char message[]; /* the JSON text frame */
};

/* A message held for a socket whose replay is still being read. */
struct held {
	struct held *next;
	int64_t seq;
	size_t len;
	char message[];
};

struct ws {
	struct db_job db;         /* first: the hello/replay query */
	h2o_linklist_t link;      /* all of the hub's sockets */
	h2o_linklist_t user_link; /* the sockets of its user's bucket */
	struct hub *hub;
	h2o_websocket_conn_t *conn; /* NULL once closed */
	char user_id[130];
	int64_t since;    /* -1: no resume */
	int64_t last_seq; /* the highest seq sent (or announced by hello) */
	int64_t expires;  /* the token's exp */
	bool ready;       /* hello and the replay are out: live events go straight through */
	bool querying;    /* the db job holds this struct */
	bool sending;     /* hello, the replay or a live event is going out: a close
	                   * meanwhile leaves freeing the socket to the sender */
	bool closing;
	bool pong_due;    /* a ping came before hello went out: its pong waits for hello */
	PGresult *latest; /* the first result of the query's round, until the second */
	uint64_t closing_since, last_ping;
	int unanswered_pings;
	struct held *held, *held_tail;
};

struct hub {
	h2o_context_t *ctx;
	struct db *db;
	const struct config *cfg;
	h2o_linklist_t sockets;
	h2o_linklist_t by_user[BUCKETS];
	h2o_multithread_receiver_t events;
	h2o_timeout_t tick;
	h2o_timeout_entry_t tick_entry;
};

/* Every loop's hub, registered once at start; read by any thread that
 * forwards an event. */
static pthread_mutex_t hubs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hub *hubs[MAX_HUBS];
static int nhubs;

/* Which users may have a socket on some loop: a counter per hash of the
 * user id, raised by a loop when a socket of the user joins and lowered
 * when it leaves, read by whichever thread forwards an event. An event
 * whose user's counter is 0 is not parsed or passed to the loops at all
 * (most users have no dashboard open). A collision only forwards an event
 * nobody takes. A socket that joins after the check reads the event in its
 * replay, which queries the log after the counter went up. */
#define PRESENCE_SLOTS 4096
static atomic_int presence[PRESENCE_SLOTS];

static void on_ws_message(h2o_websocket_conn_t *conn,
                          const struct wslay_event_on_msg_recv_arg *arg);
static void on_events(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);
static void on_tick(h2o_timeout_entry_t *entry);
static void query_start(struct db_job *job, struct db_conn *conn);
static void query_result(struct db_job *job, struct db_conn *conn, PGresult *r);
static void greet_and_replay(struct ws *ws, PGresult *r, PGresult *replay);
static void deliver(struct ws *ws, int64_t seq, const char *message, size_t len, bool live);
static void send_text(struct ws *ws, const char *text, size_t len);
static void close_with(struct ws *ws, uint16_t code, const char *reason);
static void release(struct ws *ws);
static void free_held(struct ws *ws);
static h2o_linklist_t *bucket(struct hub *hub, const char *user_id);
static atomic_int *presence_of(const char *user_id);

struct hub *hub_create(h2o_context_t *ctx, struct db *db, const struct config *cfg)
{
	struct hub *hub = calloc(1, sizeof *hub);
	if (hub == NULL)
		abort();
	hub->ctx = ctx;
	hub->db = db;
	hub->cfg = cfg;
	h2o_linklist_init_anchor(&hub->sockets);
	for (int i = 0; i < BUCKETS; i++)
		h2o_linklist_init_anchor(&hub->by_user[i]);
	h2o_multithread_register_receiver(ctx->queue, &hub->events, on_events);
	h2o_timeout_init(ctx->loop, &hub->tick, TICK_MS);
	hub->tick_entry.cb = on_tick;
	h2o_timeout_link(ctx->loop, &hub->tick, &hub->tick_entry);
	pthread_mutex_lock(&hubs_lock);
	if (nhubs < MAX_HUBS)
		hubs[nhubs++] = hub;
	pthread_mutex_unlock(&hubs_lock);
	return hub;
}

void hub_close_all(struct hub *hub)
{
	h2o_linklist_t *next;
	for (h2o_linklist_t *l = hub->sockets.next; l != &hub->sockets; l = next) {
		next = l->next; /* the close can unlink and free this one */
		struct ws *ws = H2O_STRUCT_FROM_MEMBER(struct ws, link, l);
		close_with(ws, 1001, "server shutting down");
	}
}

void hub_accept(struct hub *hub, h2o_req_t *req, const char *ws_key, const char *user_id,
                int64_t since, int64_t expires)
{
	struct ws *ws = calloc(1, sizeof *ws);
	if (ws == NULL)
		abort();
	ws->hub = hub;
	snprintf(ws->user_id, sizeof ws->user_id, "%s", user_id);
	ws->since = since;
	ws->expires = expires;
	ws->last_ping = h2o_now(hub->ctx->loop);
	ws->conn = h2o_upgrade_to_websocket(req, ws_key, ws, on_ws_message);
	wslay_event_config_set_max_recv_msg_length(ws->conn->ws_ctx, MAX_MESSAGE);
	h2o_linklist_insert(&hub->sockets, &ws->link);
	h2o_linklist_insert(bucket(hub, ws->user_id), &ws->user_link);
	atomic_fetch_add(presence_of(ws->user_id), 1);
	/* hello's seq and the replay come from the event log; live events that
	 * arrive meanwhile are held (see deliver). */
	ws->db.start = query_start;
	ws->db.read_only = true;
	ws->db.on_result = query_result;
	ws->querying = true;
	db_acquire(hub->db, &ws->db);
}

/* [latest seq] or [latest seq, events after since (one more than replayed)] */
static void query_start(struct db_job *job, struct db_conn *conn)
{
	struct ws *ws = (struct ws *)job;
	if (conn == NULL || ws->conn == NULL) {
		query_result(job, NULL, NULL);
		return;
	}
	char since[24], limit[16];
	snprintf(since, sizeof since, "%lld", (long long)ws->since);
	snprintf(limit, sizeof limit, "%d", ws->hub->cfg->realtime_replay_max + 1);
	const char *latest_params[] = {ws->user_id};
	const char *replay_params[] = {ws->user_id, since, limit};
	const struct db_stmt round[] = {
	    {"SELECT coalesce((SELECT seq FROM event_seqs WHERE user_id = $1), 0)", 1,
	     latest_params},
	    {"SELECT seq, event_type, event_id,"
	     " to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	     " data::text FROM event_log WHERE user_id = $1 AND seq > $2::bigint"
	     " ORDER BY seq LIMIT $3::integer",
	     3, replay_params}};
	db_send_many(conn, ws->since >= 0 ? 2 : 1, round);
}

static void query_result(struct db_job *job, struct db_conn *conn, PGresult *r)
{
	struct ws *ws = (struct ws *)job;
	if (conn && db_results_left(conn) > 0) {
		ws->latest = r;
		return;
	}
	PGresult *replay = NULL;
	if (ws->since >= 0 && conn) {
		replay = r;
		r = ws->latest;
	} else if (conn == NULL) {
		PQclear(ws->latest);
	}
	ws->latest = NULL;
	if (conn)
		db_release(conn);
	ws->querying = false;
	/* A send below can close the socket at once; then this function, not
	 * the close, frees it. */
	ws->sending = true;
	if (ws->conn == NULL) { /* closed meanwhile */
		PQclear(r);
		PQclear(replay);
	} else if (!db_result_ok(r) || (ws->since >= 0 && !db_result_ok(replay))) {
		PQclear(r);
		PQclear(replay);
		close_with(ws, 1011, "database unavailable");
	} else {
		greet_and_replay(ws, r, replay);
	}
	ws->sending = false;
	if (ws->conn == NULL)
		release(ws);
}

/* hello, then the replay or a resync, then what arrived live meanwhile. */
static void greet_and_replay(struct ws *ws, PGresult *r, PGresult *replay)
{
	int64_t latest_seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	char hello[64];
	int n = snprintf(hello, sizeof hello, "{\"type\":\"hello\",\"seq\":%lld}",
	                 (long long)latest_seq);
	send_text(ws, hello, (size_t)n);
	if (ws->pong_due)
		send_text(ws, "{\"type\":\"pong\"}", 15);

	/* Too far behind to replay, or ahead of the log (a seq from another
	 * database): start over from hello's seq. */
	if (replay &&
	    (PQntuples(replay) > ws->hub->cfg->realtime_replay_max || ws->since > latest_seq)) {
		send_text(ws, "{\"type\":\"resync\"}", 17);
		ws->last_seq = latest_seq;
	} else if (replay) {
		ws->last_seq = ws->since;
		for (int i = 0; i < PQntuples(replay); i++) {
			struct strbuf b = {0};
			strbuf_append(&b, "{\"type\":");
			jsonx_append_string(&b, PQgetvalue(replay, i, 1));
			strbuf_printf(
			    &b, ",\"seq\":%s,\"event_id\":\"%s\",\"timestamp\":\"%s\",\"data\":%s}",
			    PQgetvalue(replay, i, 0), PQgetvalue(replay, i, 2),
			    PQgetvalue(replay, i, 3), PQgetvalue(replay, i, 4));
			deliver(ws, strtoll(PQgetvalue(replay, i, 0), NULL, 10), b.data, b.len,
			        false);
			strbuf_free(&b);
		}
	} else {
		ws->last_seq = latest_seq;
	}
	PQclear(replay);
	ws->ready = true;
	/* The seam: what arrived live meanwhile, minus what the log already gave. */
	for (struct held *h = ws->held; h && ws->conn; h = h->next)
		deliver(ws, h->seq, h->message, h->len, false);
	free_held(ws);
}

/* Sends a user's event once, in order: anything at or below last_seq was
 * sent already (a redelivery, or the seam between replay and live). Only
 * live events count against the slow-client limit: a replay is bounded by
 * REALTIME_REPLAY_MAX and is queued all at once. */
static void deliver(struct ws *ws, int64_t seq, const char *message, size_t len, bool live)
{
	if (ws->conn == NULL || ws->closing)
		return;
	if (ws->querying) {
		struct held *h = malloc(sizeof *h + len);
		h->next = NULL;
		h->seq = seq;
		h->len = len;
		memcpy(h->message, message, len);
		if (ws->held_tail)
			ws->held_tail->next = h;
		else
			ws->held = h;
		ws->held_tail = h;
		return;
	}
	if (seq <= ws->last_seq)
		return;
	bool outer = ws->sending; /* deliver also runs inside the replay's send */
	ws->sending = true;
	if (seq > ws->last_seq + 1) {
		/* A user's seqs have no gaps: one went missing or comes late (a
		 * Kafka retry can land behind later events). The client's resume
		 * with `since` gets it from the log. */
		log_fields(LOG_WARN, "closing a WebSocket that missed an event", "s:user_id",
		           ws->user_id, "i:seq", (long long)seq, "i:last_seq",
		           (long long)ws->last_seq, NULL);
		close_with(ws, 1013, "missed an event; resume with since");
	} else {
		ws->last_seq = seq;
		send_text(ws, message, len);
		if (live && ws->conn &&
		    wslay_event_get_queued_msg_count(ws->conn->ws_ctx) >
		        (size_t)ws->hub->cfg->realtime_queue_max) {
			log_fields(LOG_WARN, "closing a WebSocket that reads too slowly", "s:user_id",
			           ws->user_id, "i:seq", (long long)seq, NULL);
			close_with(ws, 1013, "client too slow; resume with since");
		}
	}
	ws->sending = outer;
	if (!outer && ws->conn == NULL) /* closed by the send or the close */
		release(ws);
}

static void send_text(struct ws *ws, const char *text, size_t len)
{
	if (ws->conn == NULL) /* an earlier send closed it */
		return;
	struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
	wslay_event_queue_msg(ws->conn->ws_ctx, &msg); /* wslay copies it */
	/* Before the 101 is written there is no socket to write to: h2o proceeds itself then. */
	if (ws->conn->sock)
		h2o_websocket_proceed(ws->conn);
}

static void close_with(struct ws *ws, uint16_t code, const char *reason)
{
	if (ws->conn == NULL || ws->closing)
		return;
	ws->closing = true;
	ws->closing_since = h2o_now(ws->hub->ctx->loop);
	wslay_event_queue_close(ws->conn->ws_ctx, code, (const uint8_t *)reason, strlen(reason));
	if (ws->conn->sock)
		h2o_websocket_proceed(ws->conn);
}

static void on_ws_message(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
	struct ws *ws = conn->data;
	if (arg == NULL) { /* closed: by either side, or on an error */
		h2o_websocket_close(conn);
		ws->conn = NULL;
		h2o_linklist_unlink(&ws->link);
		h2o_linklist_unlink(&ws->user_link);
		atomic_fetch_sub(presence_of(ws->user_id), 1);
		if (!ws->querying && !ws->sending)
			release(ws);
		return;
	}
	if (arg->opcode == WSLAY_PONG) {
		ws->unanswered_pings = 0;
	} else if (arg->opcode == WSLAY_TEXT_FRAME) {
		json_t *m = json_loadb((const char *)arg->msg, arg->msg_length, 0, NULL);
		const char *type = json_string_value(json_object_get(m, "type"));
		if (type && strcmp(type, "ping") == 0 && ws->querying) {
			ws->pong_due = true; /* hello goes first */
		} else if (type && strcmp(type, "ping") == 0) {
			struct wslay_event_msg pong = {WSLAY_TEXT_FRAME,
			                               (const uint8_t *)"{\"type\":\"pong\"}", 15};
			wslay_event_queue_msg(conn->ws_ctx,
			                      &pong); /* the proceed loop around us sends it */
		}
		json_decref(m);
	}
	/* Binary frames and anything else: ignored. */
}

/* Expired tokens (4001), missed pongs, and closes that never finish. */
static void on_tick(h2o_timeout_entry_t *entry)
{
	struct hub *hub = H2O_STRUCT_FROM_MEMBER(struct hub, tick_entry, entry);
	uint64_t now = h2o_now(hub->ctx->loop);
	int64_t wall = (int64_t)time(NULL);
	h2o_linklist_t *next;
	for (h2o_linklist_t *l = hub->sockets.next; l != &hub->sockets; l = next) {
		next = l->next; /* a close below can unlink this one */
		struct ws *ws = H2O_STRUCT_FROM_MEMBER(struct ws, link, l);
		if (ws->conn == NULL || ws->conn->sock == NULL)
			continue;
		if (ws->closing) {
			if (now - ws->closing_since > CLOSE_GRACE_MS)
				on_ws_message(ws->conn, NULL);
			continue;
		}
		if (wall >= ws->expires) {
			close_with(ws, 4001, "token expired");
		} else if (now - ws->last_ping >= (uint64_t)hub->cfg->realtime_ping_ms) {
			if (ws->unanswered_pings >= 2) {
				close_with(ws, 1001, "missed pings");
				continue;
			}
			ws->unanswered_pings++;
			ws->last_ping = now;
			struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"", 0};
			wslay_event_queue_msg(ws->conn->ws_ctx, &ping);
			h2o_websocket_proceed(ws->conn);
		}
	}
	h2o_timeout_link(hub->ctx->loop, &hub->tick, &hub->tick_entry);
}

void realtime_forward_cloudevent(const char *user_id, const char *json, size_t len)
{
	if (atomic_load(presence_of(user_id)) == 0)
		return;
	char user[130];
	int64_t seq;
	size_t mlen;
	char *message = realtime_message(json, len, user, &seq, &mlen);
	if (message == NULL)
		return;
	pthread_mutex_lock(&hubs_lock);
	for (int i = 0; i < nhubs; i++) {
		struct live_event *e = malloc(sizeof *e + mlen);
		if (e == NULL)
			abort();
		memset(&e->super, 0, sizeof e->super);
		snprintf(e->user_id, sizeof e->user_id, "%s", user);
		e->seq = seq;
		e->len = mlen;
		memcpy(e->message, message, mlen);
		h2o_multithread_send_message(&hubs[i]->events, &e->super);
	}
	pthread_mutex_unlock(&hubs_lock);
	free(message);
}

static void on_events(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	struct hub *hub = H2O_STRUCT_FROM_MEMBER(struct hub, events, receiver);
	while (!h2o_linklist_is_empty(messages)) {
		struct live_event *e =
		    H2O_STRUCT_FROM_MEMBER(struct live_event, super.link, messages->next);
		h2o_linklist_unlink(&e->super.link);
		h2o_linklist_t *anchor = bucket(hub, e->user_id), *next;
		for (h2o_linklist_t *l = anchor->next; l != anchor; l = next) {
			next = l->next;
			struct ws *ws = H2O_STRUCT_FROM_MEMBER(struct ws, user_link, l);
			if (strcmp(ws->user_id, e->user_id) == 0)
				deliver(ws, e->seq, e->message, e->len, true);
		}
		free(e);
	}
}

char *realtime_message(const char *cloudevent, size_t len, char user_id[130], int64_t *seq,
                       size_t *out_len)
{
	json_t *ce = json_loadb(cloudevent, len, 0, NULL);
	const char *type = json_string_value(json_object_get(ce, "type"));
	const char *id = json_string_value(json_object_get(ce, "id"));
	const char *time_ = json_string_value(json_object_get(ce, "time"));
	const char *user = json_string_value(json_object_get(ce, "userid"));
	json_t *s = json_object_get(ce, "seq");
	json_t *data = json_object_get(ce, "data");
	char *out = NULL;
	if (type && id && time_ && user && json_is_integer(s) && data &&
	    strncmp(type, "task.", 5) == 0 && strlen(user) < 130) {
		snprintf(user_id, 130, "%s", user);
		*seq = (int64_t)json_integer_value(s);
		json_t *m =
		    json_pack("{s:s, s:I, s:s, s:s, s:O}", "type", type, "seq", (json_int_t)*seq,
		              "event_id", id, "timestamp", time_, "data", data);
		out = m ? jsonx_dump_steal(m, out_len) : NULL;
	}
	json_decref(ce);
	return out;
}

static void release(struct ws *ws)
{
	free_held(ws);
	free(ws);
}

static void free_held(struct ws *ws)
{
	while (ws->held) {
		struct held *h = ws->held;
		ws->held = h->next;
		free(h);
	}
	ws->held_tail = NULL;
}

static h2o_linklist_t *bucket(struct hub *hub, const char *user_id)
{
	return &hub->by_user[hash_string(user_id) % BUCKETS];
}

static atomic_int *presence_of(const char *user_id)
{
	return &presence[hash_string(user_id) % PRESENCE_SLOTS];
}
