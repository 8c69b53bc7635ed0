/* The Kafka bus (librdkafka): one idempotent producer for the relay, and a
 * consumer thread per subscription, each with its own PostgreSQL connection.
 *
 * Publishing. Each event goes to EVENTS_TOPIC with the user id as key, so one
 * user's events share a partition and keep their order there. The producer
 * is idempotent (acks=all, at most 5 requests in flight, retries without
 * end) and its messages never time out locally (message.timeout.ms=0): once
 * an event is handed to librdkafka it is delivered, in order, exactly once
 * on the partition, however long the broker is away (short of a permanent
 * error, after which it is produced again and may land behind later events:
 * see produce()). publish() waits a
 * bounded time for the delivery reports and returns the acknowledged prefix;
 * an event still in librdkafka's hands when the relay asks again is not
 * produced a second time (a second copy would land after later events).
 * Delivery to the topic is still at least once (the relay republishes what it
 * could not delete from the outbox, and another replica may take over the
 * relay), which the consumers absorb by event id.
 *
 * Consuming. Each poll takes what has arrived, up to a batch, and records its
 * receipts in one statement. Offsets are stored only after that, and
 * committed from there (enable.auto.commit=false): a crash redelivers, never
 * skips. When the database cannot take the receipts, the consumer seeks each
 * partition back to its first message in the batch and backs off, so the
 * same messages come again and nothing behind them overtakes them.
 *
 * Health. A thread asks the brokers for the topic's metadata every second;
 * the rebalance callbacks note the first assignment of each consumer. Both
 * are cached in atomics, which is all health() reads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "bus/bus.h"
#include "bus/consumer.h"
#include "core/log.h"
#include "store/db.h"

#define PUBLISH_WAIT_MS     10000 /* how long publish() waits for delivery reports */
#define HEALTH_EVERY_MS     1000
#define METADATA_TIMEOUT_MS 1000
#define UNREACHABLE_AFTER   3 /* failed metadata requests before "broker unreachable" */
#define POLL_MS             200
#define RETRY_MIN_MS        100
#define RETRY_MAX_MS        5000
#define CONSUME_BATCH       256 /* messages per poll, handled with one receipts statement */
#define COMMIT_EVERY        100 /* handled messages between commits while busy */
#define COMMIT_EVERY_MS     1000
#define SEEK_TIMEOUT_MS     5000
#define OFFSETS_TIMEOUT_MS  5000
#define FLUSH_MS            3000 /* at destroy */
#define FORGET_ABOVE        4096 /* settled deliveries kept at most */
#define ERROR_LOG_EVERY_MS  10000

enum delivery_state { OUT_PENDING, OUT_ACKED, OUT_FAILED };

/* One event handed to librdkafka; its delivery report lands here (from
 * whichever thread polls the producer), so the fields are atomic. */
struct outgoing {
	int64_t log_id;
	atomic_int state;
	atomic_int err; /* rd_kafka_resp_err_t */
};

enum producer_state {
	PRODUCER_CONNECTING,
	PRODUCER_OK,
	PRODUCER_NO_TOPIC,
	PRODUCER_UNREACHABLE,
	PRODUCER_FAILED, /* a fatal error: this producer can publish no more */
};

struct kafka_bus;

struct subscriber {
	struct kafka_bus *bus;
	enum subscription kind;
	char name[160];  /* the receipts' consumer name */
	char group[400]; /* the consumer group */
	rd_kafka_t *rk;
	pthread_t thread;
	bool started;
	atomic_bool assigned; /* has had its first assignment */
	/* The thread's own: */
	PGconn *pg;
	int backoff_ms;
	int uncommitted; /* handled messages whose offsets are stored, not committed */
	bool commit_failed;
	int64_t last_commit_ms;
	int last_error;
	int64_t last_error_ms;
	rd_kafka_message_t *batch[CONSUME_BATCH];     /* what one poll took */
	struct delivered_event events[CONSUME_BATCH]; /* the batch's TaskFlow events */
	int event_of[CONSUME_BATCH];                  /* batch[i]'s index in events, or -1 */
	enum delivery outcomes[CONSUME_BATCH];        /* events[i]'s */
};

struct kafka_bus {
	struct bus base;
	const struct config *cfg;
	rd_kafka_t *producer;
	rd_kafka_topic_t *topic;
	atomic_int producer_state;
	/* Events handed to the producer: the relay thread's only. */
	struct outgoing **out;
	int nout, capout;
	struct subscriber subs[2];
	pthread_t health_thread;
	bool health_started;
	atomic_bool stopping;
	pthread_mutex_t lock; /* with wake: sleeps that destroy() cuts short */
	pthread_cond_t wake;
};

static int kafka_publish(struct bus *bus, const struct bus_event *events, int n, char *err,
                         size_t errlen);
static const char *kafka_health(struct bus *bus);
static void kafka_destroy(struct bus *bus);
static bool make_producer(struct kafka_bus *b, char *err, size_t errlen);
static bool make_consumer(struct kafka_bus *b, struct subscriber *s, enum subscription kind,
                          char *err, size_t errlen);
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque);
static void *health_main(void *arg);
static void *consume_main(void *arg);

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds, or less when destroy() begins. */
static void nap(struct kafka_bus *b, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->lock);
	while (!atomic_load(&b->stopping) &&
	       pthread_cond_timedwait(&b->wake, &b->lock, &until) == 0)
		;
	pthread_mutex_unlock(&b->lock);
}

struct bus *bus_kafka_create(const struct config *cfg, char *err, size_t errlen)
{
	struct kafka_bus *b = calloc(1, sizeof *b);
	if (b == NULL)
		abort();
	b->base = (struct bus){"kafka", kafka_publish, kafka_health, kafka_destroy};
	b->cfg = cfg;
	atomic_init(&b->producer_state, PRODUCER_CONNECTING);
	atomic_init(&b->stopping, false);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&b->lock, NULL);

	if (!make_producer(b, err, errlen) ||
	    !make_consumer(b, &b->subs[0], SUBSCRIPTION_WORK, err, errlen) ||
	    !make_consumer(b, &b->subs[1], SUBSCRIPTION_BROADCAST, err, errlen)) {
		kafka_destroy(&b->base);
		return NULL;
	}
	if (pthread_create(&b->health_thread, NULL, health_main, b) != 0)
		abort();
	b->health_started = true;
	for (int i = 0; i < 2; i++) {
		if (pthread_create(&b->subs[i].thread, NULL, consume_main, &b->subs[i]) != 0)
			abort();
		b->subs[i].started = true;
	}
	log_fields(LOG_INFO, "event bus: kafka", "s:brokers", cfg->kafka_brokers, "s:topic",
	           cfg->events_topic, "s:work_group", b->subs[0].group, "s:broadcast_group",
	           b->subs[1].group, NULL);
	return &b->base;
}

/* ------------------------------------------------------------ configuration */

static void on_log(const rd_kafka_t *rk, int level, const char *facility, const char *line)
{
	log_fields(LOG_WARN, "kafka client", "s:client", rd_kafka_name(rk), "i:syslog_level",
	           (long long)level, "s:facility", facility, "s:detail", line, NULL);
}

static bool set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                size_t errlen)
{
	char why[512];
	if (rd_kafka_conf_set(conf, name, value, why, sizeof why) == RD_KAFKA_CONF_OK)
		return true;
	snprintf(err, errlen, "kafka setting %s: %s", name, why);
	return false;
}

/* What every client of the bus shares: brokers, security, logging. */
static rd_kafka_conf_t *base_conf(const struct config *cfg, const char *role, char *err,
                                  size_t errlen)
{
	char client_id[256];
	snprintf(client_id, sizeof client_id, "taskflow-%s-%s", cfg->instance_id, role);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	bool ok = set(conf, "bootstrap.servers", cfg->kafka_brokers, err, errlen) &&
	          set(conf, "security.protocol", cfg->kafka_security_protocol, err, errlen) &&
	          set(conf, "client.id", client_id, err, errlen) &&
	          /* librdkafka's own lines: warnings and worse, through our log */
	          set(conf, "log_level", "4", err, errlen) &&
	          /* come back quickly after an outage (default: up to 10 s) */
	          set(conf, "reconnect.backoff.max.ms", "2000", err, errlen);
	if (ok && cfg->kafka_sasl_mechanism)
		ok = set(conf, "sasl.mechanisms", cfg->kafka_sasl_mechanism, err, errlen) &&
		     set(conf, "sasl.username", cfg->kafka_sasl_username, err, errlen) &&
		     set(conf, "sasl.password", cfg->kafka_sasl_password, err, errlen);
	if (!ok) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_log_cb(conf, on_log);
	return conf;
}

/* ----------------------------------------------------------------- producer */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	struct outgoing *o = m->_private;
	if (o == NULL)
		return;
	atomic_store(&o->err, (int)m->err);
	atomic_store(&o->state, m->err ? OUT_FAILED : OUT_ACKED); /* o is not touched after */
}

static void on_producer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_bus *b = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_fatal_error(rk, why, sizeof why);
		atomic_store(&b->producer_state, PRODUCER_FAILED);
		log_fields(LOG_ERROR, "kafka producer failed; restart the server", "s:error", why,
		           NULL);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		int ok = PRODUCER_OK;
		if (atomic_compare_exchange_strong(&b->producer_state, &ok, PRODUCER_UNREACHABLE))
			log_fields(LOG_WARN, "kafka brokers unreachable", "s:error", reason, NULL);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__TRANSPORT) /* the log callback says it already */
		return;
	log_fields(LOG_WARN, "kafka producer error", "s:error", rd_kafka_err2name(err), "s:detail",
	           reason, NULL);
}

static bool make_producer(struct kafka_bus *b, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = base_conf(b->cfg, "producer", err, errlen);
	if (conf == NULL)
		return false;
	if (!set(conf, "enable.idempotence", "true", err, errlen) ||
	    !set(conf, "acks", "all", err, errlen) || !set(conf, "linger.ms", "1", err, errlen) ||
	    /* no local timeout: see the top of the file */
	    !set(conf, "message.timeout.ms", "0", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		return false;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_producer_error);
	rd_kafka_conf_set_opaque(conf, b);
	char why[512];
	b->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
	if (b->producer == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "kafka producer: %s", why);
		return false;
	}
	b->topic = rd_kafka_topic_new(b->producer, b->cfg->events_topic, NULL);
	if (b->topic == NULL) {
		snprintf(err, errlen, "kafka topic %s: %s", b->cfg->events_topic,
		         rd_kafka_err2str(rd_kafka_last_error()));
		return false;
	}
	return true;
}

static struct outgoing *find_outgoing(struct kafka_bus *b, int64_t log_id)
{
	for (int i = b->nout - 1; i >= 0; i--)
		if (b->out[i]->log_id == log_id)
			return b->out[i];
	return NULL;
}

static void drop_outgoing(struct kafka_bus *b, int i)
{
	free(b->out[i]);
	memmove(&b->out[i], &b->out[i + 1], (size_t)(b->nout - i - 1) * sizeof *b->out);
	b->nout--;
}

/* The relay reads the oldest events in the outbox first: a settled delivery
 * older than the first event it asks about now has left the outbox (or was
 * never going to be asked about again). Kept otherwise, so that an
 * acknowledged event the relay could not delete is not produced twice. */
static void forget_settled(struct kafka_bus *b, int64_t first_log_id)
{
	for (int i = 0; i < b->nout;) {
		bool settled = atomic_load(&b->out[i]->state) != OUT_PENDING;
		if (settled && (b->out[i]->log_id < first_log_id || b->nout > FORGET_ABOVE))
			drop_outgoing(b, i);
		else
			i++;
	}
}

static struct outgoing *add_outgoing(struct kafka_bus *b, int64_t log_id)
{
	if (b->nout == b->capout) {
		b->capout = b->capout ? b->capout * 2 : 256;
		b->out = realloc(b->out, (size_t)b->capout * sizeof *b->out);
		if (b->out == NULL)
			abort();
	}
	struct outgoing *o = calloc(1, sizeof *o);
	if (o == NULL)
		abort();
	o->log_id = log_id;
	atomic_init(&o->state, OUT_PENDING);
	atomic_init(&o->err, 0);
	b->out[b->nout++] = o;
	return o;
}

/* Hands the event to librdkafka unless it is there already (pending or
 * acknowledged). NULL when it cannot be queued (err says why). */
static struct outgoing *produce(struct kafka_bus *b, const struct bus_event *e, char *err,
                                size_t errlen)
{
	struct outgoing *o = find_outgoing(b, e->log_id);
	if (o && atomic_load(&o->state) != OUT_FAILED)
		return o;
	/* It failed for good (a permanent error such as an authorization
	 * failure; nothing times out): produced again as the relay asks. The
	 * one case where a copy may land behind later events of its user. */
	if (o)
		atomic_store(&o->state, OUT_PENDING);
	else
		o = add_outgoing(b, e->log_id);
	rd_kafka_resp_err_t r = rd_kafka_producev(
	    b->producer, RD_KAFKA_V_RKT(b->topic), RD_KAFKA_V_KEY(e->user_id, strlen(e->user_id)),
	    RD_KAFKA_V_VALUE((void *)e->cloudevent, e->len),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_HEADER("content-type", "application/cloudevents+json", -1),
	    RD_KAFKA_V_OPAQUE(o), RD_KAFKA_V_END);
	if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
		atomic_store(&o->err, (int)r);
		atomic_store(&o->state, OUT_FAILED);
		snprintf(err, errlen, "cannot queue the event: %s", rd_kafka_err2str(r));
		return NULL;
	}
	return o;
}

/* How many leading events are acknowledged; *open: whether that number can
 * still grow (the first unacknowledged one is still on its way). */
static int acknowledged(struct outgoing **sent, int n, bool *open, char *err, size_t errlen)
{
	*open = false;
	for (int i = 0; i < n; i++) {
		int state = sent[i] ? atomic_load(&sent[i]->state) : OUT_FAILED;
		if (state == OUT_ACKED)
			continue;
		if (state == OUT_PENDING) {
			*open = true;
			snprintf(err, errlen, "not acknowledged within %d ms", PUBLISH_WAIT_MS);
		} else if (sent[i]) {
			snprintf(err, errlen, "%s",
			         rd_kafka_err2str((rd_kafka_resp_err_t)atomic_load(&sent[i]->err)));
		}
		return i;
	}
	return n;
}

static int kafka_publish(struct bus *bus, const struct bus_event *events, int n, char *err,
                         size_t errlen)
{
	struct kafka_bus *b = (struct kafka_bus *)bus;
	if (n <= 0)
		return 0;
	if (atomic_load(&b->producer_state) == PRODUCER_FAILED) {
		snprintf(err, errlen,
		         "the kafka producer failed (fatal error); restart the server");
		return 0;
	}
	forget_settled(b, events[0].log_id);
	struct outgoing **sent = calloc((size_t)n, sizeof *sent);
	if (sent == NULL)
		abort();
	/* In order; after one that cannot be queued, none (it would overtake). */
	for (int i = 0; i < n && (sent[i] = produce(b, &events[i], err, errlen)) != NULL; i++)
		;
	int64_t deadline = now_ms() + PUBLISH_WAIT_MS;
	bool open;
	int acked;
	while ((acked = acknowledged(sent, n, &open, err, errlen)) < n && open &&
	       now_ms() < deadline)
		rd_kafka_poll(b->producer, 50);
	free(sent);
	return acked;
}

/* ------------------------------------------------------------------- health */

static const char *kafka_health(struct bus *bus)
{
	struct kafka_bus *b = (struct kafka_bus *)bus;
	switch (atomic_load(&b->producer_state)) {
	case PRODUCER_CONNECTING:
		return "connecting";
	case PRODUCER_NO_TOPIC:
		return "topic unavailable";
	case PRODUCER_UNREACHABLE:
		return "broker unreachable";
	case PRODUCER_FAILED:
		return "producer failed";
	default:
		break;
	}
	if (!atomic_load(&b->subs[0].assigned) || !atomic_load(&b->subs[1].assigned))
		return "no assignment yet";
	return "ok";
}

/* Asks for the topic's metadata every second; also serves the producer's
 * callbacks (errors, delivery reports) while the relay is not publishing. */
static void *health_main(void *arg)
{
	struct kafka_bus *b = arg;
	int failures = 0;
	while (!atomic_load(&b->stopping)) {
		rd_kafka_poll(b->producer, 0);
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t r =
		    rd_kafka_metadata(b->producer, 0, b->topic, &md, METADATA_TIMEOUT_MS);
		int topic_err = r == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1
		                    ? md->topics[0].err
		                    : RD_KAFKA_RESP_ERR_NO_ERROR;
		bool has_partitions = r == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
		                      md->topics[0].partition_cnt > 0;
		if (md)
			rd_kafka_metadata_destroy(md);
		bool answered = r == RD_KAFKA_RESP_ERR_NO_ERROR;
		failures = answered ? 0 : failures + 1;
		int now = atomic_load(&b->producer_state), next = now;
		if (now == PRODUCER_FAILED)
			next = now;
		else if (answered)
			next = !topic_err && has_partitions ? PRODUCER_OK : PRODUCER_NO_TOPIC;
		else if (now == PRODUCER_OK || failures >= UNREACHABLE_AFTER)
			next = PRODUCER_UNREACHABLE;
		if (next != now && atomic_compare_exchange_strong(&b->producer_state, &now, next)) {
			if (next == PRODUCER_OK)
				log_info("kafka brokers reachable");
			else if (next == PRODUCER_UNREACHABLE)
				log_fields(LOG_WARN, "kafka brokers unreachable", "s:error",
				           rd_kafka_err2str(r), NULL);
			else if (next == PRODUCER_NO_TOPIC)
				log_fields(LOG_WARN, "kafka topic unavailable", "s:topic",
				           b->cfg->events_topic, "s:error",
				           rd_kafka_err2str((rd_kafka_resp_err_t)topic_err), NULL);
		}
		nap(b, HEALTH_EVERY_MS);
	}
	return NULL;
}

/* ---------------------------------------------------------------- consumers */

static void on_consumer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	struct subscriber *s = opaque;
	if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		return; /* the producer's health says it; the log callback has the details */
	int64_t now = now_ms();
	if (err == s->last_error && now - s->last_error_ms < ERROR_LOG_EVERY_MS)
		return;
	s->last_error = err;
	s->last_error_ms = now;
	log_fields(LOG_WARN, "kafka consumer error", "s:consumer", s->name, "s:error",
	           rd_kafka_err2name(err), "s:detail", reason, NULL);
}

/* The broadcast subscription starts where its group left off, else at the
 * end of each partition, resolved now rather than at the first fetch: once
 * health() says ok, every event published later reaches this replica. */
static void start_at_end(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
	if (rd_kafka_committed(rk, parts, OFFSETS_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return; /* auto.offset.reset=latest decides */
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *p = &parts->elems[i];
		int64_t low, high;
		if (p->offset < 0 && rd_kafka_query_watermark_offsets(
		                         rk, p->topic, p->partition, &low, &high,
		                         OFFSETS_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR)
			p->offset = high;
	}
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct subscriber *s = opaque;
	bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *e = NULL;
	rd_kafka_resp_err_t r = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		rd_kafka_topic_partition_list_t *start = rd_kafka_topic_partition_list_copy(parts);
		if (s->kind == SUBSCRIPTION_BROADCAST)
			start_at_end(rk, start);
		if (cooperative)
			e = rd_kafka_incremental_assign(rk, start);
		else
			r = rd_kafka_assign(rk, start);
		rd_kafka_topic_partition_list_destroy(start);
		/* An empty assignment counts: with more replicas than partitions
		 * some work consumers get none, and they are ready all the same. */
		atomic_store(&s->assigned, true);
		log_fields(LOG_INFO, "kafka consumer assigned", "s:consumer", s->name,
		           "i:partitions", (long long)parts->cnt, NULL);
	} else {
		/* Handled messages' offsets go before the partitions do; failing
		 * that, the next owner redelivers, which receipts absorb. */
		if (s->uncommitted > 0)
			rd_kafka_commit(rk, NULL, 1);
		s->uncommitted = 0;
		if (cooperative)
			e = rd_kafka_incremental_unassign(rk, parts);
		else
			r = rd_kafka_assign(rk, NULL);
	}
	if (e) {
		log_fields(LOG_WARN, "kafka rebalance failed", "s:consumer", s->name, "s:error",
		           rd_kafka_error_string(e), NULL);
		rd_kafka_error_destroy(e);
	} else if (r) {
		log_fields(LOG_WARN, "kafka rebalance failed", "s:consumer", s->name, "s:error",
		           rd_kafka_err2str(r), NULL);
	}
}

static bool make_consumer(struct kafka_bus *b, struct subscriber *s, enum subscription kind,
                          char *err, size_t errlen)
{
	const struct config *cfg = b->cfg;
	s->bus = b;
	s->kind = kind;
	s->backoff_ms = RETRY_MIN_MS;
	atomic_init(&s->assigned, false);
	consumer_name(kind, cfg->instance_id, s->name, sizeof s->name);
	if (kind == SUBSCRIPTION_WORK)
		snprintf(s->group, sizeof s->group, "%s", cfg->kafka_consumer_group);
	else
		snprintf(s->group, sizeof s->group, "%s-broadcast-%s", cfg->kafka_consumer_group,
		         cfg->instance_id);
	rd_kafka_conf_t *conf =
	    base_conf(cfg, kind == SUBSCRIPTION_WORK ? "work" : "broadcast", err, errlen);
	if (conf == NULL)
		return false;
	if (!set(conf, "group.id", s->group, err, errlen) ||
	    !set(conf, "auto.offset.reset", kind == SUBSCRIPTION_WORK ? "earliest" : "latest", err,
	         errlen) ||
	    !set(conf, "enable.auto.commit", "false", err, errlen) ||
	    !set(conf, "enable.auto.offset.store", "false", err, errlen) ||
	    /* Live sync waits on the broadcast consumer: a broker that holds an
	     * empty fetch (librdkafka's mock does, for the whole wait) must not
	     * hold it for the default 500 ms. */
	    !set(conf, "fetch.wait.max.ms", kind == SUBSCRIPTION_BROADCAST ? "3" : "100", err,
	         errlen)) {
		rd_kafka_conf_destroy(conf);
		return false;
	}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
	rd_kafka_conf_set_error_cb(conf, on_consumer_error);
	rd_kafka_conf_set_opaque(conf, s);
	char why[512];
	s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
	if (s->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "kafka consumer %s: %s", s->name, why);
		return false;
	}
	rd_kafka_poll_set_consumer(s->rk); /* one queue: consumer_poll serves everything */
	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, cfg->events_topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t r = rd_kafka_subscribe(s->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "kafka consumer %s cannot subscribe to %s: %s", s->name,
		         cfg->events_topic, rd_kafka_err2str(r));
		return false;
	}
	return true;
}

static void commit(struct subscriber *s)
{
	if (s->uncommitted == 0 ||
	    (s->commit_failed && now_ms() - s->last_commit_ms < COMMIT_EVERY_MS))
		return;
	/* Asynchronous: a lost commit only means a redelivery. */
	rd_kafka_commit(s->rk, NULL, 1);
	s->uncommitted = 0;
	s->commit_failed = false;
	s->last_commit_ms = now_ms();
}

/* A failed commit is tried again (the stored offsets are still there). */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	(void)rk;
	(void)offsets;
	struct subscriber *s = opaque;
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	if (s->uncommitted == 0)
		s->uncommitted = 1;
	s->commit_failed = true;
}

/* The batch's partitions, each at its first message in the batch or, with
 * past_last, just past its last (a partition's messages come in order). */
static rd_kafka_topic_partition_list_t *batch_partitions(const struct subscriber *s, int n,
                                                         bool past_last)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++) {
		const rd_kafka_message_t *m = s->batch[i];
		const char *topic = rd_kafka_topic_name(m->rkt);
		rd_kafka_topic_partition_t *p =
		    rd_kafka_topic_partition_list_find(l, topic, m->partition);
		if (p == NULL) {
			p = rd_kafka_topic_partition_list_add(l, topic, m->partition);
			p->offset = m->offset;
		}
		if (past_last)
			p->offset = m->offset + 1;
	}
	return l;
}

/* Once per batch, its messages handled (or dropped). A partition taken
 * away meanwhile is refused here; its next owner handles them again. */
static void store_offsets(struct subscriber *s, int n)
{
	rd_kafka_topic_partition_list_t *l = batch_partitions(s, n, true);
	rd_kafka_offsets_store(s->rk, l); /* what failed is said per partition */
	for (int i = 0; i < n; i++) {
		const rd_kafka_message_t *m = s->batch[i];
		const rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
		    l, rd_kafka_topic_name(m->rkt), m->partition);
		if (p->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			s->uncommitted++;
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* So that the next poll returns the batch again: each of its partitions goes
 * back to its first message in it. A partition taken away meanwhile (a
 * rebalance runs inside the poll) is left out: its next owner starts from
 * the committed offset, before these messages. False if that is not certain. */
static bool seek_back(struct subscriber *s, int n)
{
	rd_kafka_topic_partition_list_t *assigned = NULL;
	if (rd_kafka_assignment(s->rk, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_fields(LOG_WARN, "kafka consumer cannot read its assignment; retrying in place",
		           "s:consumer", s->name, NULL);
		return false;
	}
	rd_kafka_topic_partition_list_t *l = batch_partitions(s, n, false);
	for (int i = l->cnt - 1; i >= 0; i--)
		if (!rd_kafka_topic_partition_list_find(assigned, l->elems[i].topic,
		                                        l->elems[i].partition))
			rd_kafka_topic_partition_list_del_by_idx(l, i);
	rd_kafka_topic_partition_list_destroy(assigned);
	if (l->cnt == 0) {
		rd_kafka_topic_partition_list_destroy(l);
		return true;
	}
	rd_kafka_error_t *e = rd_kafka_seek_partitions(s->rk, l, SEEK_TIMEOUT_MS);
	rd_kafka_resp_err_t failed = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (int i = 0; i < l->cnt && failed == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
		failed = l->elems[i].err;
	bool ok = e == NULL && failed == RD_KAFKA_RESP_ERR_NO_ERROR;
	if (!ok)
		log_fields(LOG_WARN, "kafka consumer cannot seek back; retrying in place",
		           "s:consumer", s->name, "s:error",
		           e ? rd_kafka_error_string(e) : rd_kafka_err2str(failed), NULL);
	if (e)
		rd_kafka_error_destroy(e);
	rd_kafka_topic_partition_list_destroy(l);
	return ok;
}

static void back_off(struct subscriber *s)
{
	nap(s->bus, s->backoff_ms);
	s->backoff_ms = s->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->backoff_ms * 2;
}

/* Waits up to POLL_MS for a message, then takes what else has arrived, up
 * to a batch. Answers how many are in s->batch. */
static int poll_batch(struct subscriber *s)
{
	int n = 0, wait_ms = POLL_MS;
	while (n < CONSUME_BATCH) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, wait_ms);
		if (m == NULL)
			break;
		wait_ms = 0;
		if (m->err) {
			on_consumer_error(s->rk, m->err, rd_kafka_message_errstr(m), s);
			rd_kafka_message_destroy(m);
			continue;
		}
		s->batch[n++] = m;
	}
	return n;
}

/* Parses the batch into s->events; a message that is no TaskFlow event gets
 * no receipt, only its offset stored. Answers how many parsed. */
static int parse_batch(struct subscriber *s, int n)
{
	int nevents = 0;
	for (int i = 0; i < n; i++) {
		const rd_kafka_message_t *m = s->batch[i];
		bool ours = m->payload && consumer_parse(m->payload, m->len, &s->events[nevents]);
		if (!ours)
			log_fields(LOG_WARN, "dropped a message that is not a TaskFlow event",
			           "s:consumer", s->name, NULL);
		s->event_of[i] = ours ? nevents++ : -1;
	}
	return nevents;
}

/* One statement for the whole batch; false when the database cannot take
 * it now. */
static bool record_receipts(struct subscriber *s, int nevents)
{
	if (nevents == 0)
		return true;
	if (s->pg && PQstatus(s->pg) != CONNECTION_OK) {
		PQfinish(s->pg);
		s->pg = NULL;
	}
	if (s->pg == NULL) {
		s->pg = db_connect_blocking(s->bus->cfg->database_url, "taskflow-consumer");
		if (PQstatus(s->pg) != CONNECTION_OK) {
			log_fields(LOG_WARN, "kafka consumer cannot reach the database",
			           "s:consumer", s->name, "s:error", PQerrorMessage(s->pg), NULL);
			return false;
		}
	}
	return consumer_record_receipts(s->pg, s->name, s->events, nevents, s->outcomes);
}

/* Handles the batch, or arranges for it to come again; never lets a later
 * message of a partition be committed before an earlier one. */
static void deliver_batch(struct subscriber *s, int n)
{
	int nevents = parse_batch(s, n);
	while (!atomic_load(&s->bus->stopping)) {
		if (record_receipts(s, nevents)) {
			s->backoff_ms = RETRY_MIN_MS;
			for (int i = 0; i < n; i++) {
				const rd_kafka_message_t *m = s->batch[i];
				int e = s->event_of[i];
				if (e >= 0)
					consumer_forward_live(s->kind, s->outcomes[e],
					                      &s->events[e], m->payload, m->len);
			}
			store_offsets(s, n);
			return;
		}
		bool again_by_poll = seek_back(s, n);
		back_off(s);
		if (again_by_poll)
			return;
	}
}

static void *consume_main(void *arg)
{
	struct subscriber *s = arg;
	s->last_commit_ms = now_ms();
	while (!atomic_load(&s->bus->stopping)) {
		int n = poll_batch(s);
		if (n == 0) {
			commit(s); /* idle: commit what was handled */
			continue;
		}
		deliver_batch(s, n);
		for (int i = 0; i < n; i++)
			rd_kafka_message_destroy(s->batch[i]);
		if (s->uncommitted >= COMMIT_EVERY ||
		    now_ms() - s->last_commit_ms >= COMMIT_EVERY_MS)
			commit(s);
	}
	commit(s);
	rd_kafka_resp_err_t r = rd_kafka_consumer_close(s->rk);
	if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_fields(LOG_WARN, "kafka consumer did not close cleanly", "s:consumer", s->name,
		           "s:error", rd_kafka_err2str(r), NULL);
	if (s->pg)
		PQfinish(s->pg);
	s->pg = NULL;
	return NULL;
}

/* ------------------------------------------------------------------ destroy */

static void kafka_destroy(struct bus *bus)
{
	struct kafka_bus *b = (struct kafka_bus *)bus;
	pthread_mutex_lock(&b->lock);
	atomic_store(&b->stopping, true);
	pthread_cond_broadcast(&b->wake);
	pthread_mutex_unlock(&b->lock);
	for (int i = 0; i < 2; i++) {
		if (b->subs[i].started)
			pthread_join(b->subs[i].thread, NULL);
		if (b->subs[i].rk)
			rd_kafka_destroy(b->subs[i].rk);
	}
	if (b->health_started)
		pthread_join(b->health_thread, NULL);
	if (b->producer) {
		/* The relay has stopped: what is still on its way gets a moment.
		 * Whatever is not acknowledged stays unpublished in the outbox. */
		rd_kafka_flush(b->producer, FLUSH_MS);
		int left = rd_kafka_outq_len(b->producer);
		if (left > 0)
			log_fields(LOG_WARN, "kafka producer stopped with events unacknowledged",
			           "i:messages", (long long)left, NULL);
		if (b->topic)
			rd_kafka_topic_destroy(b->topic);
		rd_kafka_destroy(b->producer);
	}
	for (int i = 0; i < b->nout; i++)
		free(b->out[i]);
	free(b->out);
	pthread_cond_destroy(&b->wake);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
