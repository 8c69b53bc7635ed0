/* The event log, written in the transaction of the change it describes. */
#ifndef TASKFLOW_STORE_EVENTS_SQL_H
#define TASKFLOW_STORE_EVENTS_SQL_H

#include "store/db.h"

struct new_event {
	const char *event_id; /* UUID text */
	const char *type;
	const char *user_id;
	const char *aggregate_id;
	const char *correlation_id; /* may be NULL */
	const char *data;           /* JSON object */
};

/* The statement that appends `e` with the user's next seq, for a round
 * inside the caller's transaction. `params` must outlive the send. */
struct event_append {
	const char *params[6];
	struct db_stmt stmt;
};
void events_append_stmt(const struct new_event *e, struct event_append *out);

/* The same append as CTEs, for a statement that writes a change and its
 * event at once (each argument is an SQL expression; `more_from` adds to the
 * event's FROM, e.g. ", t"): `next`, the user's next seq; `e`, the event as
 * appended (its id and seq); and `outbox`, the event's row in the outbox,
 * which the relay deletes once the bus has it. The seq row's lock
 * serializes a user's events: seq follows commit order, and a rolled-back
 * change gives its number back, so there are no gaps. */
#define EVENTS_APPEND_CTES(event_id, type, user_id, aggregate_id, correlation_id, data, more_from) \
	"next AS (INSERT INTO event_seqs (user_id, seq) VALUES (" user_id ", 1)"                   \
	" ON CONFLICT (user_id) DO UPDATE SET seq = event_seqs.seq + 1 RETURNING seq),"            \
	" e AS (INSERT INTO event_log (event_id, event_type, user_id, aggregate_id, seq,"          \
	" correlation_id, data, version) SELECT " event_id "::uuid, " type ", " user_id            \
	", " aggregate_id ", next.seq, " correlation_id ", " data "::jsonb, 1 FROM next" more_from \
	" RETURNING id, seq), outbox AS (INSERT INTO event_outbox (id) SELECT id FROM e)"

#endif
