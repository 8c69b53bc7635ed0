#include "bus/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pgarray.h"
#include "core/strbuf.h"
#include "event/event.h"
#include "store/db.h"
#include "store/outbox.h"

#define BATCH          256
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 30000
/* Autovacuum looks at a table at most once a minute: under load that leaves
 * hundreds of thousands of deleted rows at the head of the outbox's index
 * for every read to walk past. The relay vacuums it itself this often. */
#define VACUUM_EVERY 10000
/* Any constant unique to TaskFlow's relay (the migration lock has another). */
#define LEADER_LOCK_KEY "7406542138"

/* The outbox's first ids, then their events by primary key: as a join, the
 * planner may merge-join and walk the whole log up to the first of them. */
static const char SQL_UNPUBLISHED[] =
    "SELECT id, event_id, event_type, user_id, aggregate_id, seq,"
    " to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    " correlation_id, data::text, version"
    " FROM event_log WHERE id = ANY(ARRAY(SELECT id FROM event_outbox ORDER BY id LIMIT $1))"
    " ORDER BY id";
static const char SQL_DELETE_PUBLISHED[] = "DELETE FROM event_outbox WHERE id = ANY($1::bigint[])";

struct relay {
	const struct config *cfg;
	struct bus *bus;
	pthread_t thread;
	atomic_bool stopping;
	int wake_pipe[2]; /* relay_stop writes; the thread's poll sees it */
	PGconn *pg;
	bool leader;
	int backoff_ms;
	int deleted_since_vacuum;
};

static void *relay_main(void *arg);
static bool connect_to_database(struct relay *r);
static bool take_leadership(struct relay *r);
static int publish_batch(struct relay *r);
static bool delete_published(struct relay *r, const struct bus_event *events, int n);
static void vacuum_outbox(struct relay *r);
static void wait_for_work(struct relay *r, int timeout_ms);
static void back_off(struct relay *r);
static bool take_notifications(struct relay *r);
static void drain_wake_pipe(struct relay *r);
static void drop_connection(struct relay *r);

struct relay *relay_start(const struct config *cfg, struct bus *bus)
{
	struct relay *r = calloc(1, sizeof *r);
	if (r == NULL || pipe2(r->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		abort();
	r->cfg = cfg;
	r->bus = bus;
	r->backoff_ms = BACKOFF_MIN_MS;
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0)
		abort();
	return r;
}

void relay_wake(struct relay *r)
{
	ssize_t ignored = write(r->wake_pipe[1], "x", 1);
	(void)ignored;
}

void relay_stop(struct relay *r)
{
	atomic_store(&r->stopping, true);
	relay_wake(r);
	pthread_join(r->thread, NULL);
	drop_connection(r);
	close(r->wake_pipe[0]);
	close(r->wake_pipe[1]);
	free(r);
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	log_fields(LOG_INFO, "outbox relay started", "s:bus", r->bus->name, NULL);
	while (!atomic_load(&r->stopping)) {
		if (r->pg == NULL && !connect_to_database(r)) {
			back_off(r);
			continue;
		}
		if (!r->leader && !take_leadership(r)) {
			wait_for_work(r, r->cfg->relay_sweep_ms);
			continue;
		}
		int published = publish_batch(r);
		if (published < 0)
			back_off(r);
		else if (published == 0)
			wait_for_work(r, r->cfg->relay_sweep_ms);
		else
			r->backoff_ms = BACKOFF_MIN_MS;
	}
	return NULL;
}

static bool connect_to_database(struct relay *r)
{
	r->pg = db_connect_blocking(r->cfg->database_url, "taskflow-relay");
	/* The outbox's heap keeps the size of its largest backlog (it is never
	 * truncated: vacuum_truncate = false): once vacuumed, it looks to the
	 * planner like a few rows in many pages, and a sequential scan of them
	 * all would win over the index. */
	PGresult *res =
	    PQstatus(r->pg) == CONNECTION_OK ? PQexec(r->pg, "SET enable_seqscan = off") : NULL;
	bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		log_fields(LOG_WARN, "outbox relay cannot reach the database", "s:error",
		           PQerrorMessage(r->pg), NULL);
		drop_connection(r);
	}
	return ok;
}

/* The lock lives as long as this session: if this replica dies, its
 * connection closes and another relay takes over at its next sweep. Only
 * the leader listens for commits: a follower would wake on each of them
 * just to find the lock taken. */
static bool take_leadership(struct relay *r)
{
	PGresult *res = PQexec(r->pg, "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")");
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	bool won = ok && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (won) {
		res = PQexec(r->pg, "LISTEN " OUTBOX_CHANNEL);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	if (!ok) {
		log_fields(LOG_WARN, "outbox relay lost the database", "s:error",
		           PQerrorMessage(r->pg), NULL);
		drop_connection(r);
		return false;
	}
	r->leader = won;
	if (won)
		log_info("outbox relay is the publishing replica");
	return won;
}

/* Returns how many events were published, or -1 when something failed. */
static int publish_batch(struct relay *r)
{
	char limit[16];
	snprintf(limit, sizeof limit, "%d", BATCH);
	const char *params[] = {limit};
	PGresult *res = PQexecParams(r->pg, SQL_UNPUBLISHED, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_fields(LOG_WARN, "outbox relay cannot read the event log", "s:error",
		           PQresultErrorMessage(res), NULL);
		PQclear(res);
		drop_connection(r);
		return -1;
	}
	int n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		return 0;
	}
	struct bus_event *events = calloc((size_t)n, sizeof *events);
	for (int i = 0; i < n; i++) {
		struct event_record e = {
		    .event_id = PQgetvalue(res, i, 1),
		    .event_type = PQgetvalue(res, i, 2),
		    .user_id = PQgetvalue(res, i, 3),
		    .aggregate_id = PQgetvalue(res, i, 4),
		    .seq = strtoll(PQgetvalue(res, i, 5), NULL, 10),
		    .time = PQgetvalue(res, i, 6),
		    .correlation_id = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
		    .data = PQgetvalue(res, i, 8),
		    .version = atoi(PQgetvalue(res, i, 9)),
		};
		size_t len;
		char *ce = event_cloudevent(&e, &len);
		events[i] = (struct bus_event){.log_id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
		                               .event_id = e.event_id,
		                               .user_id = e.user_id,
		                               .cloudevent = ce,
		                               .len = len};
	}
	char err[256] = "";
	int acked = r->bus->publish(r->bus, events, n, err, sizeof err);
	bool deleted = acked == 0 || delete_published(r, events, acked);
	if (acked > 0 && deleted && (r->deleted_since_vacuum += acked) >= VACUUM_EVERY)
		vacuum_outbox(r);
	if (acked < n)
		log_fields(LOG_WARN, "bus did not acknowledge an event; retrying", "s:bus",
		           r->bus->name, "s:event_id", events[acked].event_id, "s:error", err,
		           NULL);
	for (int i = 0; i < n; i++)
		free((char *)events[i].cloudevent);
	free(events);
	PQclear(res);
	if (!deleted)
		return -1;
	return acked < n ? -1 : acked;
}

/* Published but not deleted (the database went away): the events go out
 * again later, which consumers absorb by event id. */
static bool delete_published(struct relay *r, const struct bus_event *events, int n)
{
	struct strbuf ids = {0};
	char id[24];
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof id, "%lld", (long long)events[i].log_id);
		pgarray_append(&ids, id);
	}
	pgarray_finish(&ids);
	const char *params[] = {ids.data};
	PGresult *res = PQexecParams(r->pg, SQL_DELETE_PUBLISHED, 1, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok) {
		log_fields(LOG_WARN, "outbox relay cannot delete published events", "s:error",
		           PQresultErrorMessage(res), NULL);
		drop_connection(r);
	}
	PQclear(res);
	strbuf_free(&ids);
	return ok;
}

/* A failure costs nothing but speed: autovacuum still comes by. While
 * autovacuum is at the table, this one is skipped rather than waited for
 * (publishing would wait with it). Never a truncation: vacuum_truncate =
 * false (migration 003). */
static void vacuum_outbox(struct relay *r)
{
	r->deleted_since_vacuum = 0;
	PGresult *res = PQexec(r->pg, "VACUUM (SKIP_LOCKED) event_outbox");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_fields(LOG_WARN, "outbox relay cannot vacuum the outbox", "s:error",
		           PQresultErrorMessage(res), NULL);
	PQclear(res);
}

/* Sleeps until a NOTIFY, relay_stop, or the timeout. */
static void wait_for_work(struct relay *r, int timeout_ms)
{
	/* libpq queues a NOTIFY that came in while the last SELECT ran: the
	 * socket has nothing more to say, so poll would sleep on it. */
	if (take_notifications(r))
		return;
	struct pollfd fds[2] = {{.fd = r->wake_pipe[0], .events = POLLIN},
	                        {.fd = r->pg ? PQsocket(r->pg) : -1, .events = POLLIN}};
	if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR)
		return;
	drain_wake_pipe(r);
	if (r->pg && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
		if (!PQconsumeInput(r->pg)) {
			drop_connection(r);
			return;
		}
		take_notifications(r);
	}
}

/* Frees the NOTIFYs libpq holds; true when there was one. */
static bool take_notifications(struct relay *r)
{
	bool any = false;
	PGnotify *n;
	while (r->pg && (n = PQnotifies(r->pg)) != NULL) {
		PQfreemem(n);
		any = true;
	}
	return any;
}

static void drain_wake_pipe(struct relay *r)
{
	char drain[16];
	while (read(r->wake_pipe[0], drain, sizeof drain) > 0)
		;
}

/* Waits out the delay: wake-ups (commits, the cron binding) do not cut it
 * short while the bus or the database fails, only relay_stop does. */
static void back_off(struct relay *r)
{
	/* Jitter keeps replicas and restarts from retrying in step. */
	int delay = r->backoff_ms / 2 + (int)randombytes_uniform((uint32_t)r->backoff_ms / 2 + 1);
	r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
	struct timespec now, until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += delay / 1000;
	until.tv_nsec += (long)(delay % 1000) * 1000000;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left_ms =
		    (until.tv_sec - now.tv_sec) * 1000 + (until.tv_nsec - now.tv_nsec) / 1000000;
		if (left_ms <= 0 || atomic_load(&r->stopping))
			return;
		struct pollfd fd = {.fd = r->wake_pipe[0], .events = POLLIN};
		poll(&fd, 1, (int)left_ms);
		drain_wake_pipe(r);
	}
}

static void drop_connection(struct relay *r)
{
	if (r->pg)
		PQfinish(r->pg);
	r->pg = NULL;
	r->leader = false;
}
