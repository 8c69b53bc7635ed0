#include "bus/consumer.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

const char CONSUMER_RECEIPT_SQL[] =
    "INSERT INTO event_receipts (consumer, event_id, user_id, seq)"
    " VALUES ($1, $2::uuid, $3, $4::bigint) ON CONFLICT DO NOTHING RETURNING 1";

void consumer_name(enum subscription kind, const char *instance_id, char *out, size_t cap)
{
	if (kind == SUBSCRIPTION_WORK)
		snprintf(out, cap, "work");
	else
		snprintf(out, cap, "broadcast:%s", instance_id);
}

bool consumer_parse(const char *json, size_t len, struct delivered_event *out)
{
	json_t *ce = json_loadb(json, len, 0, NULL);
	const char *id = json_string_value(json_object_get(ce, "id"));
	const char *user = json_string_value(json_object_get(ce, "userid"));
	const char *type = json_string_value(json_object_get(ce, "type"));
	json_t *seq = json_object_get(ce, "seq");
	bool ok = id && user && type && json_is_integer(seq) && strlen(id) == 36 &&
	          strlen(user) < sizeof out->user_id && strlen(type) < sizeof out->type &&
	          strncmp(type, "task.", 5) == 0 && json_integer_value(seq) > 0;
	if (ok) {
		snprintf(out->event_id, sizeof out->event_id, "%s", id);
		snprintf(out->user_id, sizeof out->user_id, "%s", user);
		snprintf(out->type, sizeof out->type, "%s", type);
		out->seq = (long long)json_integer_value(seq);
	}
	json_decref(ce);
	return ok;
}

void consumer_receipt_params(const char *consumer, const struct delivered_event *e, char seq[24],
                             const char *params[4])
{
	snprintf(seq, 24, "%lld", e->seq);
	params[0] = consumer;
	params[1] = e->event_id;
	params[2] = e->user_id;
	params[3] = seq;
}

enum delivery consumer_handle(PGconn *pg, const char *consumer, const char *json, size_t len)
{
	struct delivered_event e;
	if (!consumer_parse(json, len, &e)) {
		log_fields(LOG_WARN, "dropped a message that is not a TaskFlow event", "s:consumer",
		           consumer, NULL);
		return DELIVERY_DROP;
	}
	char seq[24];
	const char *params[4];
	consumer_receipt_params(consumer, &e, seq, params);
	PGresult *r = PQexecParams(pg, CONSUMER_RECEIPT_SQL, 4, NULL, params, NULL, NULL, 0);
	enum delivery d = DELIVERY_DONE;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_fields(LOG_WARN, "event not handled; will be redelivered", "s:consumer",
		           consumer, "s:event_id", e.event_id, "s:error", PQresultErrorMessage(r),
		           NULL);
		d = DELIVERY_RETRY;
	} else if (PQntuples(r) == 1) {
		log_fields(LOG_DEBUG, "event handled", "s:consumer", consumer, "s:event_id",
		           e.event_id, "s:type", e.type, NULL);
	}
	PQclear(r);
	return d;
}
