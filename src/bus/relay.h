/* The outbox relay: publishes the event log to the bus, in order, at least
 * once. One thread with its own blocking connection (it is no event loop).
 * It wakes on NOTIFY taskflow_events (store/outbox.h) and sweeps every
 * RELAY_SWEEP_MS besides, reads the events in the outbox in log order,
 * publishes them and deletes from the outbox those the bus acknowledged. On failure it retries the
 * first unacknowledged event with capped exponential backoff and jitter, so
 * nothing is dropped and one user's events never overtake each other. Of
 * several replicas only the one holding a PostgreSQL advisory lock
 * publishes; another takes over when its session ends. */
#ifndef TASKFLOW_BUS_RELAY_H
#define TASKFLOW_BUS_RELAY_H

#include "bus/bus.h"
#include "core/config.h"

struct relay;

struct relay *relay_start(const struct config *cfg, struct bus *bus);
/* Looks for unpublished events now (the cron binding's tick, or a test). Any thread. */
void relay_wake(struct relay *relay);
/* Publishes nothing more after the batch in hand, then joins the thread. */
void relay_stop(struct relay *relay);

#endif
