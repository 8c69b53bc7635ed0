#include "store/users_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/iso8601.h"
#include "store/pool.h"

#define USER_COLUMNS "id, email, name, (extract(epoch FROM created_at) * 1000000)::bigint"

static const char SQL_INSERT[] =
    "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING RETURNING " USER_COLUMNS;
static const char SQL_BY_EMAIL[] =
    "SELECT " USER_COLUMNS ", password_hash FROM users WHERE lower(email) = lower($1)";
static const char SQL_GET[] = "SELECT " USER_COLUMNS " FROM users WHERE id = $1";

static const char SQL_LOCK_REMAINING[] =
    "SELECT ceil(extract(epoch FROM locked_until - now()))::integer FROM sign_in_failures"
    " WHERE email = lower($1) AND locked_until > now()";
/* The window restarts 15 minutes after the first failure. The fifth failure
 * in a window locks the email for 30 s, each further one for twice as long as
 * the one before, up to 15 minutes. */
static const char SQL_RECORD_FAILURE[] =
    "INSERT INTO sign_in_failures AS f (email, failures, first_at) VALUES (lower($1), 1, now())"
    " ON CONFLICT (email) DO UPDATE SET"
    "  failures = CASE WHEN f.first_at < now() - interval '15 minutes' THEN 1"
    "                  ELSE f.failures + 1 END,"
    "  first_at = CASE WHEN f.first_at < now() - interval '15 minutes' THEN now()"
    "                  ELSE f.first_at END,"
    "  locked_until = CASE WHEN f.first_at >= now() - interval '15 minutes'"
    "                        AND f.failures + 1 >= $2::integer"
    "    THEN now() + least(interval '15 minutes',"
    "         interval '30 seconds' * power(2, least(f.failures + 1 - $2::integer, 5)))"
    "    END";
static const char SQL_CLEAR[] = "DELETE FROM sign_in_failures WHERE email = lower($1)";

static json_t *user_from(const PGresult *r, int i);

enum store_result users_insert(struct db_conn *conn, const char *id, const char *email,
			       const char *name, const char *password_hash, json_t **user)
{
	const char *params[] = {id, email, name, password_hash};
	PGresult *r = db_exec(conn, SQL_INSERT, 4, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "insert user");
	enum store_result res = PQntuples(r) == 1 ? STORE_OK : STORE_CONFLICT;
	if (res == STORE_OK)
		*user = user_from(r, 0);
	PQclear(r);
	return res;
}

enum store_result users_find_by_email(struct db_conn *conn, const char *email, json_t **user,
				      char **password_hash)
{
	const char *params[] = {email};
	PGresult *r = db_exec(conn, SQL_BY_EMAIL, 1, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "find user");
	enum store_result res = PQntuples(r) == 1 ? STORE_OK : STORE_NOT_FOUND;
	if (res == STORE_OK) {
		*user = user_from(r, 0);
		*password_hash = strdup(PQgetvalue(r, 0, 4));
	}
	PQclear(r);
	return res;
}

enum store_result users_get(struct db_conn *conn, const char *id, json_t **user)
{
	const char *params[] = {id};
	PGresult *r = db_exec(conn, SQL_GET, 1, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "get user");
	enum store_result res = PQntuples(r) == 1 ? STORE_OK : STORE_NOT_FOUND;
	if (res == STORE_OK)
		*user = user_from(r, 0);
	PQclear(r);
	return res;
}

enum store_result sign_in_lock_remaining(struct db_conn *conn, const char *email, int *seconds)
{
	const char *params[] = {email};
	PGresult *r = db_exec(conn, SQL_LOCK_REMAINING, 1, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "sign-in lock");
	*seconds = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
	if (PQntuples(r) == 1 && *seconds < 1)
		*seconds = 1;
	PQclear(r);
	return STORE_OK;
}

enum store_result sign_in_record_failure(struct db_conn *conn, const char *email)
{
	char free_failures[8];
	snprintf(free_failures, sizeof free_failures, "%d", SIGN_IN_FREE_FAILURES);
	const char *params[] = {email, free_failures};
	PGresult *r = db_exec(conn, SQL_RECORD_FAILURE, 2, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "record sign-in failure");
	PQclear(r);
	return STORE_OK;
}

enum store_result sign_in_clear(struct db_conn *conn, const char *email)
{
	const char *params[] = {email};
	PGresult *r = db_exec(conn, SQL_CLEAR, 1, params);
	if (!db_result_ok(r))
		return store_failure(conn, r, "clear sign-in failures");
	PQclear(r);
	return STORE_OK;
}

static json_t *user_from(const PGresult *r, int i)
{
	char created[ISO8601_LEN];
	iso8601_format(strtoll(PQgetvalue(r, i, 3), NULL, 10), created);
	return json_pack("{s:s, s:s, s:s, s:s}", "id", PQgetvalue(r, i, 0), "email",
			 PQgetvalue(r, i, 1), "name", PQgetvalue(r, i, 2), "created_at", created);
}
