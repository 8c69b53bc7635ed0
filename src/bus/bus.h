/* The event bus: where the relay publishes the event log, and where the
 * subscriptions take events from. One interface, three implementations:
 * in-process (one instance, the default), Kafka (librdkafka), and the Dapr
 * sidecar's pub/sub API. */
#ifndef TASKFLOW_BUS_BUS_H
#define TASKFLOW_BUS_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* One event on its way out, as a CloudEvent. */
struct bus_event {
	int64_t log_id; /* event_log.id */
	const char *event_id;
	const char *user_id; /* the partition key: one user's events stay in order */
	const char *cloudevent;
	size_t len;
};

struct bus {
	const char *name; /* "in-process" | "kafka" | "dapr" */
	/* Publishes events in the order given and returns how many of the
	 * first ones the bus acknowledged (n when all were). Blocking: called
	 * by the relay's thread only. */
	int (*publish)(struct bus *bus, const struct bus_event *events, int n, char *err,
	               size_t errlen);
	/* Whether the bus answers, for /ready: "ok" or a short reason. Any thread. */
	const char *(*health)(struct bus *bus);
	void (*destroy)(struct bus *bus);
};

/* Builds the bus the configuration asks for and starts its subscriptions
 * (consumer threads for Kafka; for Dapr the sidecar calls our routes).
 * NULL with a reason in err. */
struct bus *bus_create(const struct config *cfg, char *err, size_t errlen);

struct bus *bus_in_process_create(const struct config *cfg);
struct bus *bus_kafka_create(const struct config *cfg, char *err, size_t errlen);
struct bus *bus_dapr_create(const struct config *cfg, char *err, size_t errlen);

#endif
