/* Waking the outbox relay: after a write commits its event, the leading
 * relay (whichever replica's) hears NOTIFY taskflow_events. A NOTIFY costs a commit of
 * its own, serialized cluster-wide, so each loop sends at most one per
 * OUTBOX_NOTIFY_INTERVAL_MS: a commit in between arranges one for the end
 * of the interval instead. The relay drains everything once woken, and
 * sweeps periodically in case a NOTIFY is lost (a crash after COMMIT). */
#ifndef TASKFLOW_STORE_OUTBOX_H
#define TASKFLOW_STORE_OUTBOX_H

#include <h2o.h>
#include <stdbool.h>

#include "store/db.h"

#define OUTBOX_CHANNEL            "taskflow_events"
#define OUTBOX_NOTIFY_INTERVAL_MS 2

extern const struct db_stmt OUTBOX_NOTIFY;

struct outbox_waker;

struct outbox_waker *outbox_waker_create(h2o_loop_t *loop, struct db *db);

/* Before sending a commit round: true when the round should carry
 * OUTBOX_NOTIFY after its COMMIT (and the interval restarts). */
bool outbox_waker_take(struct outbox_waker *w);

/* A commit that did not carry the NOTIFY has succeeded: one is sent within
 * the interval, after this point. */
void outbox_waker_committed(struct outbox_waker *w);

#endif
