#include "store/pool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define STMT_CACHE_SIZE 128
#define STATEMENT_TIMEOUT "15s"

struct cached_stmt {
	uint64_t hash;
	char *sql;
	char name[24];
};

struct db_conn {
	PGconn *pg;
	const char *conninfo;
	struct cached_stmt stmts[STMT_CACHE_SIZE];
	int nstmts;
};

struct db_pool {
	const char *conninfo; /* owned copy */
	pthread_mutex_t lock; /* guards the queue and `stopping` */
	pthread_cond_t wake;
	struct db_job *head, *tail;
	bool stopping;
	int size;
	pthread_t threads[];
};

static void *worker_main(void *arg);
static struct db_job *next_job(struct db_pool *pool);
static bool ensure_connected(struct db_conn *conn);
static void forget_statements(struct db_conn *conn);
static uint64_t fnv1a(const char *s);

struct db_pool *db_pool_create(const char *conninfo, int size)
{
	struct db_pool *pool = calloc(1, sizeof *pool + (size_t)size * sizeof(pthread_t));
	if (pool == NULL)
		abort();
	pool->conninfo = strdup(conninfo);
	pool->size = size;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	/* Password hashing runs here too; it allocates its memory on the heap. */
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (int i = 0; i < size; i++)
		if (pthread_create(&pool->threads[i], &attr, worker_main, pool) != 0)
			abort();
	pthread_attr_destroy(&attr);
	return pool;
}

void db_pool_submit(struct db_pool *pool, struct db_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->tail)
		pool->tail->next = job;
	else
		pool->head = job;
	pool->tail = job;
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
}

void db_pool_destroy(struct db_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->size; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->wake);
	free((char *)pool->conninfo);
	free(pool);
}

void db_pool_on_replies(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	(void)receiver;
	while (!h2o_linklist_is_empty(messages)) {
		struct db_job *job = H2O_STRUCT_FROM_MEMBER(struct db_job, super.link, messages->next);
		h2o_linklist_unlink(&job->super.link);
		job->done(job);
	}
}

static void *worker_main(void *arg)
{
	struct db_pool *pool = arg;
	struct db_conn conn = {.conninfo = pool->conninfo};
	struct db_job *job;
	while ((job = next_job(pool)) != NULL) {
		ensure_connected(&conn);
		job->run(job, &conn);
		/* A job must leave no transaction open for the next one. */
		if (db_is_up(&conn) && PQtransactionStatus(conn.pg) != PQTRANS_IDLE) {
			log_error("a database job left a transaction open; rolled back");
			db_command(&conn, "ROLLBACK");
		}
		h2o_multithread_send_message(job->reply_to, &job->super);
	}
	forget_statements(&conn);
	if (conn.pg)
		PQfinish(conn.pg);
	return NULL;
}

static struct db_job *next_job(struct db_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	while (pool->head == NULL && !pool->stopping)
		pthread_cond_wait(&pool->wake, &pool->lock);
	struct db_job *job = pool->head;
	if (job) {
		pool->head = job->next;
		if (pool->head == NULL)
			pool->tail = NULL;
	}
	pthread_mutex_unlock(&pool->lock);
	return job;
}

static bool ensure_connected(struct db_conn *conn)
{
	if (conn->pg && PQstatus(conn->pg) == CONNECTION_OK)
		return true;
	forget_statements(conn);
	if (conn->pg) {
		PQreset(conn->pg);
	} else {
		const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
		const char *values[] = {conn->conninfo, "taskflow", "5", NULL};
		conn->pg = PQconnectdbParams(keys, values, 1);
	}
	if (PQstatus(conn->pg) != CONNECTION_OK) {
		log_fields(LOG_WARN, "database connection failed", "s:error",
			   PQerrorMessage(conn->pg), NULL);
		return false;
	}
	PGresult *r = PQexec(conn->pg, "SET statement_timeout = '" STATEMENT_TIMEOUT "'");
	PQclear(r);
	return true;
}

bool db_is_up(const struct db_conn *conn)
{
	return conn->pg && PQstatus(conn->pg) == CONNECTION_OK;
}

PGresult *db_exec(struct db_conn *conn, const char *sql, int nparams, const char *const *params)
{
	if (!db_is_up(conn))
		return NULL;
	uint64_t hash = fnv1a(sql);
	struct cached_stmt *stmt = NULL;
	for (int i = 0; i < conn->nstmts && stmt == NULL; i++)
		if (conn->stmts[i].hash == hash && strcmp(conn->stmts[i].sql, sql) == 0)
			stmt = &conn->stmts[i];

	if (stmt == NULL && conn->nstmts < STMT_CACHE_SIZE) {
		struct cached_stmt *s = &conn->stmts[conn->nstmts];
		snprintf(s->name, sizeof s->name, "tf_%d", conn->nstmts);
		PGresult *r = PQprepare(conn->pg, s->name, sql, nparams, NULL);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok) {
			/* A statement that does not prepare will not run either:
			 * hand back the error result. */
			if (!db_is_up(conn)) {
				PQclear(r);
				return NULL;
			}
			return r;
		}
		PQclear(r);
		s->hash = hash;
		s->sql = strdup(sql);
		stmt = s;
		conn->nstmts++;
	}

	PGresult *r = stmt ? PQexecPrepared(conn->pg, stmt->name, nparams, params, NULL, NULL, 0)
			   : PQexecParams(conn->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!db_result_ok(r) && !db_is_up(conn)) {
		PQclear(r);
		return NULL;
	}
	return r;
}

bool db_command(struct db_conn *conn, const char *sql)
{
	if (!db_is_up(conn))
		return false;
	PGresult *r = PQexec(conn->pg, sql);
	bool ok = db_result_ok(r);
	if (!ok)
		log_fields(LOG_WARN, "database command failed", "s:sql", sql, "s:error",
			   PQresultErrorMessage(r), NULL);
	PQclear(r);
	return ok;
}

bool db_result_ok(const PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);
	return r && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

const char *db_sqlstate(const PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

static void forget_statements(struct db_conn *conn)
{
	for (int i = 0; i < conn->nstmts; i++)
		free(conn->stmts[i].sql);
	conn->nstmts = 0;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}
