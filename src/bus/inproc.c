/* The in-process bus: one instance, no broker. Publishing is delivering:
 * the relay's thread hands each event to both subscriptions right away, on
 * a connection of the bus's own. */
#include <stdio.h>
#include <stdlib.h>

#include "bus/bus.h"
#include "bus/consumer.h"
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

static int inproc_publish(struct bus *bus, const struct bus_event *events, int n, char *err,
                          size_t errlen)
{
	struct inproc_bus *b = (struct inproc_bus *)bus;
	if (b->pg == NULL || PQstatus(b->pg) != CONNECTION_OK) {
		if (b->pg)
			PQfinish(b->pg);
		b->pg = db_connect_blocking(b->cfg->database_url, "taskflow-consumer");
	}
	for (int i = 0; i < n; i++) {
		const char *subscribers[] = {b->work, b->broadcast};
		for (int k = 0; k < 2; k++) {
			if (consumer_handle(b->pg, subscribers[k], events[i].cloudevent,
			                    events[i].len) == DELIVERY_RETRY) {
				snprintf(err, errlen, "%s could not handle the event",
				         subscribers[k]);
				return i;
			}
		}
	}
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
