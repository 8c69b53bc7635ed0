/* GET /health and GET /ready. */
#include "api/api.h"

#include <stdio.h>

#include "store/migrate.h"
#include "store/tasks_sql.h"

void api_health(struct call *c)
{
	struct reply r = {0};
	reply_json(&r, 200, json_pack("{s:s}", "status", "ok"));
	call_respond(c, &r);
}

static void reply_ready(struct reply *r, const char *database, const char *migrations)
{
	bool ready = database[0] == 'o' && migrations[0] == 'o';
	reply_json(r, ready ? 200 : 503,
	           json_pack("{s:s, s:{s:s, s:s}}", "status", ready ? "ready" : "unavailable",
	                     "checks", "database", database, "migrations", migrations));
}

static void ready_start(struct call_job *job, struct db_conn *conn)
{
	if (conn == NULL) {
		reply_ready(&job->reply, "unreachable", "unknown");
		call_job_finish(job);
		return;
	}
	migrate_send_check(conn);
}

static void ready_result(struct call_job *job, struct db_conn *conn, PGresult *r)
{
	(void)conn;
	if (r == NULL)
		reply_ready(&job->reply, "unreachable", "unknown");
	else
		reply_ready(&job->reply, "ok", migrate_read_check(r) ? "ok" : "pending");
	call_job_finish(job);
}

void api_ready(struct call *c)
{
	struct call_job *job = call_job_new(c, sizeof *job);
	call_job_query(job, ready_start, ready_result);
}
