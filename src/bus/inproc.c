/* The in-process bus: one instance, no broker. Publishing is delivering:
 * the relay's thread hands each event to both subscriptions right away, on
 * a connection of the bus's own. A batch is acknowledged whole or not at
 * all (receipts are idempotent: a retried batch has no second effect). */
#include <stdio.h>
#include <stdlib.h>

#include "bus/bus.h"
#include "bus/consumer.h"
#include "realtime/hub.h"
#include "core/log.h"
#include "store/db.h"

struct inproc_bus {
	struct bus base;
	const struct config *cfg;
	PGconn *pg; /* the relay thread's only */
	char work[160], broadcast[160];
};

static int inproc_publish(struct bus *bus, const struct bus_event *events, int n, char *err,
                          size_t errlen);
static const char *inproc_health(struct bus *bus);
static void inproc_destroy(struct bus *bus);

struct bus *bus_in_process_create(const struct config *cfg)
{
	struct inproc_bus *b = calloc(1, sizeof *b);
	if (b == NULL)
		abort();
	b->base = (struct bus){"in-process", inproc_publish, inproc_health, inproc_destroy};
	b->cfg = cfg;
	consumer_name(SUBSCRIPTION_WORK, cfg->instance_id, b->work, sizeof b->work);
	consumer_name(SUBSCRIPTION_BROADCAST, cfg->instance_id, b->broadcast, sizeof b->broadcast);
	log_info("event bus: in-process (one instance; set KAFKA_BROKERS or USE_DAPR=true for "
	         "more)");
	return &b->base;
}

/* The whole batch's receipts in one statement: one commit for a relay
 * batch. The events come from our own log, so none can be poison. */
static int inproc_publish(struct bus *bus, const struct bus_event *events, int n, char *err,
                          size_t errlen)
{
	struct inproc_bus *b = (struct inproc_bus *)bus;
	if (b->pg == NULL || PQstatus(b->pg) != CONNECTION_OK) {
		if (b->pg)
			PQfinish(b->pg);
		b->pg = db_connect_blocking(b->cfg->database_url, "taskflow-consumer");
	}
	const char **ids = calloc((size_t)n, sizeof *ids);
	for (int i = 0; i < n; i++)
		ids[i] = events[i].event_id;
	const char *subscribers[] = {b->work, b->broadcast};
	enum delivery d = consumer_handle_batch(b->pg, subscribers, 2, ids, n);
	free(ids);
	if (d != DELIVERY_DONE) {
		snprintf(err, errlen, "the subscriptions could not record the events");
		return 0;
	}
	for (int i = 0; i < n; i++) /* the broadcast subscription's effect: live sync */
		realtime_forward_cloudevent(events[i].user_id, events[i].cloudevent, events[i].len);
	return n;
}

static const char *inproc_health(struct bus *bus)
{
	(void)bus;
	return "ok";
}

static void inproc_destroy(struct bus *bus)
{
	struct inproc_bus *b = (struct inproc_bus *)bus;
	if (b->pg)
		PQfinish(b->pg);
	free(b);
}
