#include "store/outbox.h"

#include <stdlib.h>

/* One per event loop, touched only by its thread. */
struct outbox_waker {
	h2o_loop_t *loop;
	struct db *db;
	uint64_t last_ms; /* when the last NOTIFY went out */
	bool wanted;      /* a commit completed that no NOTIFY sent since covers */
	bool sending;     /* a deferred NOTIFY is out */
	h2o_timeout_t interval;
	h2o_timeout_entry_t timer;
	struct db_job job;
};

const struct db_stmt OUTBOX_NOTIFY = {"SELECT pg_notify('" OUTBOX_CHANNEL "', '')", 0, NULL};

static void on_timer(h2o_timeout_entry_t *entry);
static void notify_start(struct db_job *job, struct db_conn *conn);
static void notify_result(struct db_job *job, struct db_conn *conn, PGresult *r);

struct outbox_waker *outbox_waker_create(h2o_loop_t *loop, struct db *db)
{
	struct outbox_waker *w = calloc(1, sizeof *w);
	if (w == NULL)
		abort();
	w->loop = loop;
	w->db = db;
	h2o_timeout_init(loop, &w->interval, OUTBOX_NOTIFY_INTERVAL_MS);
	w->timer.cb = on_timer;
	w->job.start = notify_start;
	w->job.on_result = notify_result;
	return w;
}

bool outbox_waker_take(struct outbox_waker *w)
{
	uint64_t now = h2o_now(w->loop);
	if (h2o_timeout_is_linked(&w->timer) || w->sending ||
	    now - w->last_ms < OUTBOX_NOTIFY_INTERVAL_MS)
		return false;
	w->last_ms = now;
	return true;
}

void outbox_waker_committed(struct outbox_waker *w)
{
	w->wanted = true;
	if (!h2o_timeout_is_linked(&w->timer) && !w->sending)
		h2o_timeout_link(w->loop, &w->interval, &w->timer);
}

static void on_timer(h2o_timeout_entry_t *entry)
{
	struct outbox_waker *w = H2O_STRUCT_FROM_MEMBER(struct outbox_waker, timer, entry);
	w->wanted = false; /* the NOTIFY about to go covers every commit so far */
	w->sending = true;
	db_acquire(w->db, &w->job);
}

static void notify_start(struct db_job *job, struct db_conn *conn)
{
	struct outbox_waker *w = H2O_STRUCT_FROM_MEMBER(struct outbox_waker, job, job);
	if (conn == NULL) { /* the database is down: the relay's sweep will see the events */
		w->sending = false;
		return;
	}
	db_send(conn, OUTBOX_NOTIFY.sql, 0, NULL);
}

static void notify_result(struct db_job *job, struct db_conn *conn, PGresult *r)
{
	struct outbox_waker *w = H2O_STRUCT_FROM_MEMBER(struct outbox_waker, job, job);
	PQclear(r);
	w->last_ms = h2o_now(w->loop);
	w->sending = false;
	if (conn)
		db_release(conn);
	if (w->wanted) /* commits completed while it was out */
		h2o_timeout_link(w->loop, &w->interval, &w->timer);
}
