/* Accounts and sign-in throttling. Runs on database workers. */
#ifndef TASKFLOW_STORE_USERS_SQL_H
#define TASKFLOW_STORE_USERS_SQL_H

#include <jansson.h>
#include <stdint.h>

#include "store/tasks_sql.h" /* enum store_result */

struct db_conn;

/* STORE_CONFLICT when the email (any case) has an account. *user is the
 * public view: {id, email, name, created_at}. */
enum store_result users_insert(struct db_conn *conn, const char *id, const char *email,
			       const char *name, const char *password_hash, json_t **user);

/* *password_hash is malloc'd. */
enum store_result users_find_by_email(struct db_conn *conn, const char *email, json_t **user,
				      char **password_hash);

enum store_result users_get(struct db_conn *conn, const char *id, json_t **user);

/* Seconds until `email` may try again, or 0. */
enum store_result sign_in_lock_remaining(struct db_conn *conn, const char *email, int *seconds);
/* Counts a failure; after SIGN_IN_FREE_FAILURES within the window the email
 * is locked for a time that doubles with each further failure. */
enum store_result sign_in_record_failure(struct db_conn *conn, const char *email);
enum store_result sign_in_clear(struct db_conn *conn, const char *email);

#define SIGN_IN_FREE_FAILURES 5

#endif
