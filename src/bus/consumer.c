#include "bus/consumer.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "core/uuid.h"
#include "realtime/hub.h"

/* The receipt is taken from the event log itself: a message naming an event
 * the log does not have, or giving it another user or seq (forged, or from
 * elsewhere), has no effect. Answers (known, first time). */
const char CONSUMER_RECEIPT_SQL[] =
    "WITH known AS (SELECT event_id, user_id, seq FROM event_log"
    " WHERE event_id = $2::uuid AND user_id = $3 AND seq = $4::bigint),"
    " added AS (INSERT INTO event_receipts (consumer, event_id, user_id, seq)"
    " SELECT $1, event_id, user_id, seq FROM known ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM known), (SELECT count(*) FROM added)";

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
	bool ok = id && user && type && json_is_integer(seq) && uuid_text_valid(id) &&
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

enum delivery consumer_receipt_outcome(const PGresult *r, const char *consumer,
                                       const struct delivered_event *e)
{
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		log_fields(LOG_WARN, "event not handled; will be redelivered", "s:consumer",
		           consumer, "s:event_id", e->event_id, "s:error",
		           r ? PQresultErrorMessage(r) : "no database connection", NULL);
		return DELIVERY_RETRY;
	}
	if (PQgetvalue(r, 0, 0)[0] == '0') {
		log_fields(LOG_WARN, "dropped an event the event log does not have", "s:consumer",
		           consumer, "s:event_id", e->event_id, NULL);
		return DELIVERY_DROP;
	}
	if (PQgetvalue(r, 0, 1)[0] == '1')
		log_fields(LOG_DEBUG, "event handled", "s:consumer", consumer, "s:event_id",
		           e->event_id, "s:type", e->type, NULL);
	return DELIVERY_DONE;
}

enum delivery consumer_handle_batch(PGconn *pg, const char *const *consumers, int nconsumers,
                                    const char *const *event_ids, int n)
{
	static const char sql[] =
	    "INSERT INTO event_receipts (consumer, event_id, user_id, seq)"
	    " SELECT c, e.event_id, e.user_id, e.seq FROM event_log e, unnest($1::text[]) c"
	    " WHERE e.event_id = ANY($2::uuid[]) AND e.event_type LIKE 'task.%'"
	    " ON CONFLICT DO NOTHING"; /* the same events consumer_parse accepts */
	struct strbuf names = {0}, ids = {0};
	strbuf_append(&names, "{");
	for (int i = 0; i < nconsumers; i++) {
		strbuf_append(&names, i ? ",\"" : "\"");
		strbuf_append(&names, consumers[i]); /* our own names: no quotes or backslashes */
		strbuf_append(&names, "\"");
	}
	strbuf_append(&names, "}");
	strbuf_append(&ids, "{");
	for (int i = 0; i < n; i++) {
		strbuf_append(&ids, i ? "," : "");
		strbuf_append(&ids, event_ids[i]);
	}
	strbuf_append(&ids, "}");
	const char *params[] = {names.data, ids.data};
	PGresult *r = PQexecParams(pg, sql, 2, NULL, params, NULL, NULL, 0);
	enum delivery d = DELIVERY_DONE;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_fields(LOG_WARN, "events not handled; will be redelivered", "s:error",
		           PQresultErrorMessage(r), NULL);
		d = DELIVERY_RETRY;
	}
	PQclear(r);
	strbuf_free(&names);
	strbuf_free(&ids);
	return d;
}

enum delivery consumer_handle(PGconn *pg, enum subscription kind, const char *consumer,
                              const char *json, size_t len)
{
	struct delivered_event e;
	if (!consumer_parse(json, len, &e)) {
		log_fields(LOG_WARN, "dropped a message that is not a TaskFlow event", "s:consumer",
		           consumer, NULL);
		return DELIVERY_DROP;
	}
	char seq[24];
	snprintf(seq, sizeof seq, "%lld", e.seq);
	const char *params[] = {consumer, e.event_id, e.user_id, seq};
	PGresult *r = PQexecParams(pg, CONSUMER_RECEIPT_SQL, 4, NULL, params, NULL, NULL, 0);
	enum delivery d = consumer_receipt_outcome(r, consumer, &e);
	PQclear(r);
	consumer_forward_live(kind, d, &e, json, len);
	return d;
}

void consumer_forward_live(enum subscription kind, enum delivery d, const struct delivered_event *e,
                           const char *json, size_t len)
{
	if (d == DELIVERY_DONE && kind == SUBSCRIPTION_BROADCAST)
		realtime_forward_cloudevent(e->user_id, json, len);
}
