#include "store/users_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/iso8601.h"
#include "store/db.h"

#define USER_COLUMNS "id, email, name, (extract(epoch FROM created_at) * 1000000)::bigint"

static const char SQL_INSERT[] =
    "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING RETURNING " USER_COLUMNS;
static const char SQL_BY_EMAIL[] =
    "SELECT " USER_COLUMNS ", password_hash FROM users WHERE lower(email) = lower($1)";
static const char SQL_GET[] = "SELECT " USER_COLUMNS " FROM users WHERE id = $1";

/* While locked, nothing changes. Otherwise the attempt is counted (from 1
 * again once the window's first attempt is 15 minutes old), and one past the
 * free attempts locks the email. */
static const char SQL_ATTEMPT[] =
    "INSERT INTO sign_in_failures AS f (email, failures, first_at) VALUES (lower($1), 1, now())"
    " ON CONFLICT (email) DO UPDATE SET"
    "  failures = CASE WHEN f.locked_until > now() THEN f.failures"
    "                  WHEN f.first_at < now() - interval '15 minutes' THEN 1"
    "                  ELSE f.failures + 1 END,"
    "  first_at = CASE WHEN f.locked_until > now() THEN f.first_at"
    "                  WHEN f.first_at < now() - interval '15 minutes' THEN now()"
    "                  ELSE f.first_at END,"
    "  locked_until = CASE WHEN f.locked_until > now() THEN f.locked_until"
    "    WHEN f.first_at >= now() - interval '15 minutes' AND f.failures + 1 > $2::integer"
    "    THEN now() + least(interval '15 minutes',"
    "         interval '30 seconds' * power(2, least(f.failures - $2::integer, 5)))"
    "    END"
    " RETURNING coalesce(ceil(extract(epoch FROM f.locked_until - now())), 0)::integer";
static const char SQL_CLEAR[] = "DELETE FROM sign_in_failures WHERE email = lower($1)";

static json_t *user_from(const PGresult *r, int i);

void users_send_insert(struct db_conn *conn, const char *id, const char *email, const char *name,
                       const char *password_hash)
{
	const char *params[] = {id, email, name, password_hash};
	db_send(conn, SQL_INSERT, 4, params);
}

enum store_result users_read_insert(PGresult *r, json_t **user)
{
	enum store_result res = store_check(r, "insert user");
	if (res != STORE_OK)
		return res;
	res = PQntuples(r) == 1 ? STORE_OK : STORE_CONFLICT;
	if (res == STORE_OK)
		*user = user_from(r, 0);
	PQclear(r);
	return res;
}

void users_send_get(struct db_conn *conn, const char *id)
{
	const char *params[] = {id};
	db_send(conn, SQL_GET, 1, params);
}

enum store_result users_read_get(PGresult *r, json_t **user)
{
	enum store_result res = store_check(r, "get user");
	if (res != STORE_OK)
		return res;
	res = PQntuples(r) == 1 ? STORE_OK : STORE_NOT_FOUND;
	if (res == STORE_OK)
		*user = user_from(r, 0);
	PQclear(r);
	return res;
}

void users_send_find_by_email(struct db_conn *conn, const char *email)
{
	const char *params[] = {email};
	db_send(conn, SQL_BY_EMAIL, 1, params);
}

enum store_result users_read_find(PGresult *r, json_t **user, char **password_hash)
{
	enum store_result res = store_check(r, "find user");
	if (res != STORE_OK)
		return res;
	res = PQntuples(r) == 1 ? STORE_OK : STORE_NOT_FOUND;
	if (res == STORE_OK) {
		*user = user_from(r, 0);
		*password_hash = strdup(PQgetvalue(r, 0, 4));
	}
	PQclear(r);
	return res;
}

void sign_in_send_attempt(struct db_conn *conn, const char *email)
{
	char free_attempts[8];
	snprintf(free_attempts, sizeof free_attempts, "%d", SIGN_IN_FREE_ATTEMPTS);
	const char *params[] = {email, free_attempts};
	db_send(conn, SQL_ATTEMPT, 2, params);
}

enum store_result sign_in_read_attempt(PGresult *r, int *locked_for)
{
	enum store_result res = store_check(r, "count sign-in attempt");
	if (res != STORE_OK)
		return res;
	*locked_for = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return STORE_OK;
}

void sign_in_send_clear(struct db_conn *conn, const char *email)
{
	const char *params[] = {email};
	db_send(conn, SQL_CLEAR, 1, params);
}

static json_t *user_from(const PGresult *r, int i)
{
	char created[ISO8601_LEN];
	iso8601_format(strtoll(PQgetvalue(r, i, 3), NULL, 10), created);
	return json_pack("{s:s, s:s, s:s, s:s}", "id", PQgetvalue(r, i, 0), "email",
	                 PQgetvalue(r, i, 1), "name", PQgetvalue(r, i, 2), "created_at", created);
}
