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

#endif
