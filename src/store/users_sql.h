/* Accounts and sign-in throttling: send/read pairs like store/tasks_sql.h. */
#ifndef TASKFLOW_STORE_USERS_SQL_H
#define TASKFLOW_STORE_USERS_SQL_H

#include <jansson.h>

#include "store/tasks_sql.h" /* enum store_result, store_check */

struct db_conn;

#define SIGN_IN_FREE_ATTEMPTS 5

/* *user is the public view {id, email, name, created_at}. */
void users_send_insert(struct db_conn *conn, const char *id, const char *email, const char *name,
                       const char *password_hash);
/* STORE_CONFLICT when the email (any case) has an account. */
enum store_result users_read_insert(PGresult *r, json_t **user);

void users_send_get(struct db_conn *conn, const char *id);
enum store_result users_read_get(PGresult *r, json_t **user);

void users_send_find_by_email(struct db_conn *conn, const char *email);
/* STORE_NOT_FOUND when no account has the email; *password_hash is malloc'd. */
enum store_result users_read_find(PGresult *r, json_t **user, char **password_hash);

/* Counts a sign-in attempt for the email before its password is checked,
 * atomically, so parallel guesses are counted too. Past
 * SIGN_IN_FREE_ATTEMPTS in 15 minutes the email is locked: for 30 s, then
 * twice as long after each further attempt, up to 15 minutes. */
void sign_in_send_attempt(struct db_conn *conn, const char *email);
/* *locked_for: seconds until the email may try again, 0 when this attempt may proceed. */
enum store_result sign_in_read_attempt(PGresult *r, int *locked_for);
/* After a correct password: the count starts again. */
void sign_in_send_clear(struct db_conn *conn, const char *email);

#endif
