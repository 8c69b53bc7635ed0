#include "bus/consumer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/pgarray.h"
#include "core/strbuf.h"
#include "core/uuid.h"
#include "realtime/hub.h"

/* The receipts are taken from the event log itself: a delivery naming an
 * event the log does not have, or giving it another user or seq (forged, or
 * from elsewhere), has no effect. Parameters: the consumer, then the
 * deliveries' event ids, user ids and seqs as arrays. Answers a row per
 * known delivery: its position (from 1) and whether it is the first receipt.
 * Two copies of one event in a batch are both known; ON CONFLICT DO NOTHING
 * keeps one receipt. Inserted in event id order, so that two batches that
 * overlap (a partition's old and new owner) cannot deadlock. */
const char CONSUMER_RECEIPTS_SQL[] =
    "WITH m AS (SELECT * FROM unnest($2::uuid[], $3::text[], $4::bigint[])"
    " WITH ORDINALITY AS m (event_id, user_id, seq, n)),"
    " known AS (SELECT m.n, e.event_id, e.user_id, e.seq FROM m"
    " JOIN event_log e ON e.event_id = m.event_id AND e.user_id = m.user_id AND e.seq = m.seq),"
    " added AS (INSERT INTO event_receipts (consumer, event_id, user_id, seq)"
    " SELECT $1, event_id, user_id, seq FROM known ORDER BY event_id"
    " ON CONFLICT DO NOTHING RETURNING event_id)"
    " SELECT n, event_id IN (SELECT event_id FROM added) FROM known ORDER BY n";

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

void consumer_receipts_params(struct receipts_params *p, const char *consumer,
                              const struct delivered_event *events, int n)
{
	*p = (struct receipts_params){0};
	char seq[24];
	for (int i = 0; i < n; i++) {
		pgarray_append(&p->event_ids, events[i].event_id);
		pgarray_append(&p->user_ids, events[i].user_id);
		snprintf(seq, sizeof seq, "%lld", events[i].seq);
		pgarray_append(&p->seqs, seq);
	}
	pgarray_finish(&p->event_ids);
	pgarray_finish(&p->user_ids);
	pgarray_finish(&p->seqs);
	p->values[0] = consumer;
	p->values[1] = p->event_ids.data;
	p->values[2] = p->user_ids.data;
	p->values[3] = p->seqs.data;
}

void consumer_receipts_params_free(struct receipts_params *p)
{
	strbuf_free(&p->event_ids);
	strbuf_free(&p->user_ids);
	strbuf_free(&p->seqs);
}

bool consumer_receipts_outcomes(const PGresult *r, const char *consumer,
                                const struct delivered_event *events, int n,
                                enum delivery *outcomes)
{
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_fields(LOG_WARN, "events not handled; will be redelivered", "s:consumer",
		           consumer, "i:events", (long long)n, "s:error",
		           r ? PQresultErrorMessage(r) : "no database connection", NULL);
		for (int i = 0; i < n; i++)
			outcomes[i] = DELIVERY_RETRY;
		return false;
	}
	for (int i = 0; i < n; i++)
		outcomes[i] = DELIVERY_DROP;
	for (int row = 0; row < PQntuples(r); row++) {
		int i = atoi(PQgetvalue(r, row, 0)) - 1;
		if (i < 0 || i >= n)
			continue;
		outcomes[i] = DELIVERY_DONE;
		if (PQgetvalue(r, row, 1)[0] == 't')
			log_fields(LOG_DEBUG, "event handled", "s:consumer", consumer, "s:event_id",
			           events[i].event_id, "s:type", events[i].type, NULL);
	}
	for (int i = 0; i < n; i++)
		if (outcomes[i] == DELIVERY_DROP)
			log_fields(LOG_WARN, "dropped an event the event log does not have",
			           "s:consumer", consumer, "s:event_id", events[i].event_id, NULL);
	return true;
}

bool consumer_record_receipts(PGconn *pg, const char *consumer,
                              const struct delivered_event *events, int n, enum delivery *outcomes)
{
	struct receipts_params p;
	consumer_receipts_params(&p, consumer, events, n);
	PGresult *r = PQexecParams(pg, CONSUMER_RECEIPTS_SQL, 4, NULL, p.values, NULL, NULL, 0);
	bool ok = consumer_receipts_outcomes(r, consumer, events, n, outcomes);
	PQclear(r);
	consumer_receipts_params_free(&p);
	return ok;
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
	for (int i = 0; i < nconsumers; i++)
		pgarray_append(&names, consumers[i]);
	pgarray_finish(&names);
	for (int i = 0; i < n; i++)
		pgarray_append(&ids, event_ids[i]);
	pgarray_finish(&ids);
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

void consumer_forward_live(enum subscription kind, enum delivery d, const struct delivered_event *e,
                           const char *json, size_t len)
{
	if (d == DELIVERY_DONE && kind == SUBSCRIPTION_BROADCAST)
		realtime_forward_cloudevent(e->user_id, json, len);
}
