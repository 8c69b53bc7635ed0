/* GET /health and GET /ready. */
#include "api/api.h"

#include <stdlib.h>

#include "store/migrate.h"
#include "store/pool.h"

void api_health(struct call *c)
{
	struct reply r = {0};
	reply_json(&r, 200, json_pack("{s:s}", "status", "ok"));
	call_respond(c, &r);
}

static void run_ready(struct call_job *job, struct db_conn *conn)
{
	const char *database = "ok", *migrations = "ok";
	PGresult *ping = db_exec(conn, "SELECT 1", 0, NULL);
	if (!db_result_ok(ping)) {
		database = "unreachable";
		migrations = "unknown";
	} else if (!migrate_is_current(conn)) {
		migrations = "pending";
	}
	PQclear(ping);
	bool ready = database[0] == 'o' && migrations[0] == 'o';
	reply_json(&job->reply, ready ? 200 : 503,
		   json_pack("{s:s, s:{s:s, s:s}}", "status", ready ? "ready" : "unavailable",
			     "checks", "database", database, "migrations", migrations));
}

void api_ready(struct call *c)
{
	struct call_job *job = call_job_new(sizeof *job);
	job->run = run_ready;
	call_submit(c, job);
}
