/* GET /health and GET /ready. */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "bus/bus.h"
#include "store/migrate.h"
#include "store/tasks_sql.h"

void api_health(struct call *c)
{
	struct reply r = {0};
	reply_json(&r, 200, json_pack("{s:s}", "status", "ok"));
	call_respond(c, &r);
}

static void reply_ready(struct call_job *job, const char *database, const char *migrations)
{
	struct bus *bus = job->call ? job->call->app->bus : NULL;
	const char *bus_health = bus ? bus->health(bus) : "unknown";
	bool ready = strcmp(database, "ok") == 0 && strcmp(migrations, "ok") == 0 &&
	             strcmp(bus_health, "ok") == 0;
	reply_json(&job->reply, ready ? 200 : 503,
	           json_pack("{s:s, s:{s:s, s:s, s:s}}", "status", ready ? "ready" : "unavailable",
	                     "checks", "database", database, "migrations", migrations, "bus",
	                     bus_health));
}

static void ready_start(struct call_job *job, struct db_conn *conn)
{
	if (conn == NULL) {
		reply_ready(job, "unreachable", "unknown");
		call_job_finish(job);
		return;
	}
	migrate_send_check(conn);
}

static void ready_result(struct call_job *job, struct db_conn *conn, PGresult *r)
{
	(void)conn;
	if (r == NULL)
		reply_ready(job, "unreachable", "unknown");
	else
		reply_ready(job, "ok", migrate_read_check(r) ? "ok" : "pending");
	call_job_finish(job);
}

void api_ready(struct call *c)
{
	struct call_job *job = call_job_new(c, sizeof *job);
	call_job_query(job, ready_start, ready_result);
}
