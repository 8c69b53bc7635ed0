/* Schema migrations: the SQL files of migrations/, compiled in, applied in
 * order, each in its own transaction, recorded in schema_migrations. */
#ifndef TASKFLOW_STORE_MIGRATE_H
#define TASKFLOW_STORE_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct db_conn;

struct migration {
	const char *name; /* "001_core.sql"; the version is the part before '_' */
	const char *sql;
};

extern const struct migration migrations_embedded[];
extern const size_t migrations_embedded_count;

/* Applies what is missing; blocking, for start-up and `taskflow migrate`.
 * Replicas starting together serialize on an advisory lock. Returns false
 * with a reason in err. */
bool migrate_apply(const char *conninfo, char *err, size_t errlen);

/* Whether every compiled-in migration is recorded (for /ready): send, then
 * read the result (which is cleared; NULL or an error reads as false). */
void migrate_send_check(struct db_conn *conn);
bool migrate_read_check(PGresult *r);

#endif
