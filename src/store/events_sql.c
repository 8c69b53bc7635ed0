#include "store/events_sql.h"

#include "event/event.h"

/* The seq row's lock serializes a user's events: seq follows commit order,
 * and a rolled-back change gives its number back, so there are no gaps. */
static const char SQL_APPEND[] =
    "WITH next AS (INSERT INTO event_seqs (user_id, seq) VALUES ($2, 1)"
    " ON CONFLICT (user_id) DO UPDATE SET seq = event_seqs.seq + 1 RETURNING seq)"
    " INSERT INTO event_log (event_id, event_type, user_id, aggregate_id, seq, correlation_id,"
    " data, version) SELECT $1::uuid, $3, $2, $4, next.seq, $5, $6::jsonb, "
    "1 FROM next RETURNING seq";

_Static_assert(EVENT_SCHEMA_VERSION == 1, "SQL_APPEND writes version 1");

void events_append_stmt(const struct new_event *e, struct event_append *out)
{
	out->params[0] = e->event_id;
	out->params[1] = e->user_id;
	out->params[2] = e->type;
	out->params[3] = e->aggregate_id;
	out->params[4] = e->correlation_id;
	out->params[5] = e->data;
	out->stmt = (struct db_stmt){SQL_APPEND, 6, out->params};
}
