/* The subscriptions: what happens when an event arrives, whichever bus
 * brought it. Two kinds: the work subscription (each event handled by one
 * replica) and the broadcast subscription (each replica gets every event;
 * live sync reaches its sockets through it). Handling is idempotent by
 * event id: a receipt per (consumer, event) is recorded once, and a
 * redelivered event finds its receipt and has no second effect. */
#ifndef TASKFLOW_BUS_CONSUMER_H
#define TASKFLOW_BUS_CONSUMER_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/strbuf.h"

enum subscription { SUBSCRIPTION_WORK, SUBSCRIPTION_BROADCAST };

enum delivery {
	DELIVERY_DONE,  /* handled now or before */
	DELIVERY_RETRY, /* could not be handled now (database down): deliver again */
	DELIVERY_DROP,  /* can never be handled (not a TaskFlow event): do not retry */
};

/* The consumer name receipts are kept under: "work", or
 * "broadcast:<instance id>". */
void consumer_name(enum subscription kind, const char *instance_id, char *out, size_t cap);

/* A parsed delivery: what the receipt needs. */
struct delivered_event {
	char event_id[64];
	char user_id[130];
	char type[64];
	long long seq;
};

/* Parses a CloudEvent from the bus; false for a poison message. */
bool consumer_parse(const char *json, size_t len, struct delivered_event *out);

/* The receipts statement, for one delivery (Dapr's) or a batch (a Kafka
 * poll's), and its four parameters; free them once sent. */
extern const char CONSUMER_RECEIPTS_SQL[];
struct receipts_params {
	struct strbuf event_ids, user_ids, seqs;
	const char *values[4];
};
void consumer_receipts_params(struct receipts_params *p, const char *consumer,
                              const struct delivered_event *events, int n);
void consumer_receipts_params_free(struct receipts_params *p);

/* What the receipts statement's result (NULL: no connection) means for each
 * delivery: DELIVERY_DONE, DELIVERY_DROP for an event the log does not have
 * (or has with another user or seq), or, for them all, DELIVERY_RETRY when
 * the statement failed (then false is returned). */
bool consumer_receipts_outcomes(const PGresult *r, const char *consumer,
                                const struct delivered_event *events, int n,
                                enum delivery *outcomes);

/* The same on a blocking connection (consumer threads). */
bool consumer_record_receipts(PGconn *pg, const char *consumer,
                              const struct delivered_event *events, int n, enum delivery *outcomes);

/* Handles a batch of events of our own log for several consumers at once
 * (the in-process bus): one statement. DELIVERY_DONE or DELIVERY_RETRY. */
enum delivery consumer_handle_batch(PGconn *pg, const char *const *consumers, int nconsumers,
                                    const char *const *event_ids, int n);

/* After a delivery's receipt: a broadcast event handled (now or before) goes
 * on to this replica's live sockets, which skip a seq they already had. */
void consumer_forward_live(enum subscription kind, enum delivery d, const struct delivered_event *e,
                           const char *json, size_t len);

#endif
