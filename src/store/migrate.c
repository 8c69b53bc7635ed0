#include "store/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/db.h"

/* Any constant unique to TaskFlow: pg_advisory_lock takes a bigint. */
#define MIGRATION_LOCK_KEY "7406542137"

static bool exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen);
static void version_of(const struct migration *m, char *out, size_t cap);
static bool apply_one(PGconn *pg, const struct migration *m, char *err, size_t errlen);

bool migrate_apply(const char *conninfo, char *err, size_t errlen)
{
	PGconn *pg = db_connect_blocking(conninfo, "taskflow-migrate");
	bool ok = false;
	if (PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(pg));
		goto out;
	}
	/* A migration, or the wait for another replica's, may take longer than
	 * the statement timeout requests get. */
	PQclear(PQexec(pg, "SET client_min_messages = warning; SET statement_timeout = 0"));
	if (!exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", err, errlen))
		goto out;
	if (!exec_ok(pg,
	             "CREATE TABLE IF NOT EXISTS schema_migrations ("
	             " version text PRIMARY KEY, name text NOT NULL,"
	             " applied_at timestamptz NOT NULL DEFAULT now())",
	             err, errlen))
		goto unlock;
	for (size_t i = 0; i < migrations_embedded_count; i++)
		if (!apply_one(pg, &migrations_embedded[i], err, errlen))
			goto unlock;
	ok = true;
unlock:
	PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"));
out:
	PQfinish(pg);
	return ok;
}

static bool apply_one(PGconn *pg, const struct migration *m, char *err, size_t errlen)
{
	char version[32];
	version_of(m, version, sizeof version);
	const char *params[] = {version, m->name};
	PGresult *r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
	                           NULL, params, NULL, NULL, 0);
	bool applied = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	if (applied)
		return true;

	if (!exec_ok(pg, "BEGIN", err, errlen))
		return false;
	r = PQexec(pg, m->sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "migration %s failed: %s", m->name, PQresultErrorMessage(r));
		PQclear(r);
		PQclear(PQexec(pg, "ROLLBACK"));
		return false;
	}
	PQclear(r);
	r = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
	                 NULL, params, NULL, NULL, 0);
	bool recorded = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!recorded)
		snprintf(err, errlen, "recording migration %s failed: %s", m->name,
		         PQresultErrorMessage(r));
	PQclear(r);
	if (!recorded) {
		PQclear(PQexec(pg, "ROLLBACK"));
		return false;
	}
	if (!exec_ok(pg, "COMMIT", err, errlen))
		return false;
	log_fields(LOG_INFO, "migration applied", "s:name", m->name, NULL);
	return true;
}

void migrate_send_check(struct db_conn *conn)
{
	char version[32];
	version_of(&migrations_embedded[migrations_embedded_count - 1], version, sizeof version);
	const char *params[] = {version};
	db_send(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params);
}

bool migrate_read_check(PGresult *r)
{
	bool current = db_result_ok(r) && PQntuples(r) == 1;
	PQclear(r);
	return current;
}

static bool exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(pg, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errlen, "%.40s failed: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

static void version_of(const struct migration *m, char *out, size_t cap)
{
	size_t n = strcspn(m->name, "_");
	snprintf(out, cap, "%.*s", (int)n, m->name);
}
