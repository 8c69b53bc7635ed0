#include "store/events_sql.h"

#include "event/event.h"

static const char SQL_APPEND[] =
    "WITH " EVENTS_APPEND_CTES("$1", "$3", "$2", "$4", "$5", "$6", "") " SELECT seq FROM e";

_Static_assert(EVENT_SCHEMA_VERSION == 1, "EVENTS_APPEND_CTES writes version 1");

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
