#include "store/db.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/workers.h"

#define STMT_CACHE_SIZE        128
#define HOSTADDR_MAX           1024
#define MAX_ADDRESSES_PER_NAME 8
#define RECONNECT_DELAY_MS     1000
#define CONNECT_TIMEOUT_MS     10000 /* libpq's connect_timeout does not apply to PQconnectPoll */
#define STATEMENT_TIMEOUT      "-c statement_timeout=15000"
/* The loops' statements are prepared once and run with other values ever
 * after. PostgreSQL's default re-plans each execution for as long as the
 * one-off plan looks cheaper, which a few users with many tasks make it do:
 * measured, the list then re-planned every time and chose a bitmap scan and
 * a sort over walking the (user_id, created_at, id) index, 30 % slower. */
#define LOOP_OPTIONS STATEMENT_TIMEOUT " -c plan_cache_mode=force_generic_plan"

enum conn_state {
	CONN_RESOLVING, /* the host's name is being looked up off the loop */
	CONN_CONNECTING,
	CONN_IDLE,   /* ready, not lent */
	CONN_LENT,   /* lent to a job; `sending` tells whether a statement is out */
	CONN_BROKEN, /* waiting to reconnect */
};

struct cached_stmt {
	uint64_t hash;
	char *sql;
};

/* What a round's next result answers: a Prepare (of a cache slot) or the
 * execution of the round's statement `stmt`. */
struct expected {
	bool prepare;
	int slot;
	int stmt;
};

struct db_conn {
	struct db *db;
	enum conn_state state;
	PGconn *pg;
	h2o_socket_t *watch; /* a dup of PQsocket(pg), so closing it leaves libpq's fd alone */
	int watched_fd;
	struct db_job *job;
	bool lent_to_read;
	/* The round out: what comes back in which order, and each statement's
	 * result kept until the round's Sync. */
	bool sending;
	struct expected expect[2 * DB_ROUND_MAX];
	int nexpect, next_expected;
	PGresult *results[DB_ROUND_MAX];
	int nresults, delivering;
	bool rolling_back; /* the round is our own ROLLBACK after a job */
	struct cached_stmt stmts[STMT_CACHE_SIZE];
	int nstmts;
	h2o_timeout_entry_t retry;
	h2o_timeout_entry_t connect_deadline;
	/* Where in the found hosts the next connect starts: past the one that
	 * last ran out the deadline. libpq moves on from a host that refuses,
	 * not from one that accepts and stays silent, or drops the packets. */
	int first_host;
};

/* What a look-up found: each address of each name as a host of its own (the
 * name repeated, the address in hostaddr, the name's port repeated when
 * there is a port per host), in order; hosts is empty when none was found. */
struct found_hosts {
	char hosts[HOSTADDR_MAX], hostaddr[HOSTADDR_MAX], ports[HOSTADDR_MAX];
	size_t hosts_len, hostaddr_len, ports_len;
	int count;
	char error[320]; /* why a name was not found */
};

/* One entry of found_hosts. */
struct found_host {
	char host[256], addr[INET6_ADDRSTRLEN], port[32];
};

struct db {
	h2o_loop_t *loop;
	char *conninfo;
	char *options; /* LOOP_OPTIONS, then DATABASE_URL's own options */
	/* DATABASE_URL's host list when it names a host (libpq would look it up,
	 * blocking, at every connect) or has several (a silent one must not hold
	 * the rest back: see first_host). */
	char *host_names;
	char *port_names; /* its port list, when it gives one per host; else NULL */
	struct workers *resolver;
	/* One look-up at a time serves every connection waiting in RESOLVING.
	 * While it is out, the resolver thread owns `lookup` and `found`. */
	struct work lookup;
	bool looking_up;
	struct found_hosts found;
	h2o_timeout_t retry_timeout;
	h2o_timeout_t connect_timeout;
	struct db_job *wait_head, *wait_tail;
	int reads, max_reads; /* read-only jobs holding a connection, and their limit */
	int nconns;
	struct db_conn conns[];
};

static void conn_start(struct db_conn *c);
static void conn_connect(struct db_conn *c, const struct found_hosts *found);
static void rotate(const struct found_hosts *found, int first, struct found_hosts *out);
static int attempted_host(const struct db_conn *c, const struct found_hosts *found);
static void found_host_at(const struct found_hosts *found, int k, struct found_host *out);
static void look_up(struct work *w);
static void on_looked_up(struct work *w);
static char *host_names_in(const char *conninfo, char **port_names);
static const char *setting(const PQconninfoOption *given, const PQconninfoOption *defaults,
                           const char *keyword);
static char *options_with(const char *conninfo, const char *ours);
static bool add_found(struct found_hosts *f, const char *host, const char *addr, const char *port);
static void list_append(char *list, size_t *len, const char *entry, bool comma);
static int list_count(const char *list);
static void list_entry(const char *list, int index, char *out, size_t cap);
static bool is_address_or_socket(const char *host);
static void conn_watch(struct db_conn *c);
static void conn_fail(struct db_conn *c, const char *why);
static void conn_poll_connect(struct db_conn *c);
static void conn_lend_or_idle(struct db_conn *c);
static void lend_idle_connections(struct db *db);
static void lend(struct db_conn *c, struct db_job *job);
static bool write_waiting(const struct db *db);
static void on_readable(h2o_socket_t *sock, const char *err);
static void on_writable(h2o_socket_t *sock, const char *err);
static void on_retry(h2o_timeout_entry_t *entry);
static void on_connect_deadline(h2o_timeout_entry_t *entry);
static bool send_statement(struct db_conn *c, int index, const struct db_stmt *stmt);
static void flush_output(struct db_conn *c);
static void read_results(struct db_conn *c);
static void finish_round(struct db_conn *c);
static void fail_waiting_jobs_if_down(struct db *db);
static void forget_statements(struct db_conn *c);

struct db *db_create(h2o_loop_t *loop, const char *conninfo, int nconns, int max_reads,
                     struct workers *resolver, h2o_multithread_receiver_t *resolved)
{
	struct db *db = calloc(1, sizeof *db + (size_t)nconns * sizeof(struct db_conn));
	if (db == NULL)
		abort();
	db->loop = loop;
	db->conninfo = strdup(conninfo);
	db->options = options_with(conninfo, LOOP_OPTIONS);
	db->host_names = host_names_in(conninfo, &db->port_names);
	db->resolver = resolver;
	db->lookup = (struct work){.reply_to = resolved, .run = look_up, .done = on_looked_up};
	db->nconns = nconns;
	db->max_reads = max_reads < 1 ? 1 : max_reads;
	h2o_timeout_init(loop, &db->retry_timeout, RECONNECT_DELAY_MS);
	h2o_timeout_init(loop, &db->connect_timeout, CONNECT_TIMEOUT_MS);
	for (int i = 0; i < nconns; i++) {
		struct db_conn *c = &db->conns[i];
		c->db = db;
		c->retry.cb = on_retry;
		c->connect_deadline.cb = on_connect_deadline;
		conn_start(c);
	}
	return db;
}

void db_destroy(struct db *db)
{
	for (int i = 0; i < db->nconns; i++) {
		struct db_conn *c = &db->conns[i];
		if (h2o_timeout_is_linked(&c->retry))
			h2o_timeout_unlink(&c->retry);
		if (h2o_timeout_is_linked(&c->connect_deadline))
			h2o_timeout_unlink(&c->connect_deadline);
		if (c->watch)
			h2o_socket_close(c->watch);
		for (int k = 0; k < DB_ROUND_MAX; k++)
			PQclear(c->results[k]);
		forget_statements(c);
		if (c->pg)
			PQfinish(c->pg);
	}
	h2o_timeout_dispose(db->loop, &db->retry_timeout);
	h2o_timeout_dispose(db->loop, &db->connect_timeout);
	free(db->conninfo);
	free(db->options);
	free(db->host_names);
	free(db->port_names);
	free(db);
}

void db_acquire(struct db *db, struct db_job *job)
{
	job->next = NULL;
	/* Jobs start in arrival order, except that a write passes reads that
	 * wait for their share (with a connection idle, only those can wait). */
	bool may_start = job->read_only ? db->wait_head == NULL && db->reads < db->max_reads
	                                : !write_waiting(db);
	for (int i = 0; i < db->nconns && may_start; i++) {
		struct db_conn *c = &db->conns[i];
		if (c->state == CONN_IDLE) {
			lend(c, job);
			return;
		}
	}
	if (db->wait_tail)
		db->wait_tail->next = job;
	else
		db->wait_head = job;
	db->wait_tail = job;
	fail_waiting_jobs_if_down(db);
}

void db_send(struct db_conn *c, const char *sql, int nparams, const char *const *params)
{
	struct db_stmt stmt = {sql, nparams, params};
	db_send_many(c, 1, &stmt);
}

void db_send_many(struct db_conn *c, int n, const struct db_stmt *stmts)
{
	c->nexpect = c->next_expected = 0;
	c->nresults = n;
	bool ok = true;
	for (int i = 0; i < n && ok; i++)
		ok = send_statement(c, i, &stmts[i]);
	ok = ok && PQpipelineSync(c->pg) == 1;
	if (!ok) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	c->sending = true;
	flush_output(c);
}

/* Prepare (once per connection, in the same round) and execute. */
static bool send_statement(struct db_conn *c, int index, const struct db_stmt *stmt)
{
	uint64_t hash = hash_string(stmt->sql);
	int slot = -1;
	for (int i = 0; i < c->nstmts && slot < 0; i++)
		if (c->stmts[i].hash == hash && c->stmts[i].sql &&
		    strcmp(c->stmts[i].sql, stmt->sql) == 0)
			slot = i;

	char name[16];
	if (slot < 0 && c->nstmts < STMT_CACHE_SIZE) {
		slot = c->nstmts++;
		snprintf(name, sizeof name, "s%d", slot);
		if (PQsendPrepare(c->pg, name, stmt->sql, stmt->nparams, NULL) != 1)
			return false;
		c->stmts[slot].hash = hash;
		c->stmts[slot].sql = strdup(stmt->sql);
		c->expect[c->nexpect++] = (struct expected){true, slot, index};
	}
	c->expect[c->nexpect++] = (struct expected){false, slot, index};
	if (slot < 0) /* the cache is full: parse this one every time */
		return PQsendQueryParams(c->pg, stmt->sql, stmt->nparams, NULL, stmt->params, NULL,
		                         NULL, 0) == 1;
	snprintf(name, sizeof name, "s%d", slot);
	return PQsendQueryPrepared(c->pg, name, stmt->nparams, stmt->params, NULL, NULL, 0) == 1;
}

int db_results_left(const struct db_conn *c)
{
	return c->nresults - c->delivering - 1;
}

void db_release(struct db_conn *c)
{
	c->job = NULL;
	PGTransactionStatusType tx = PQtransactionStatus(c->pg);
	if (c->state == CONN_LENT && (tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR)) {
		/* A job that gave up mid-transaction: its writes are undone before
		 * the next job gets the connection. */
		c->rolling_back = true;
		db_send(c, "ROLLBACK", 0, NULL);
		return;
	}
	conn_lend_or_idle(c);
}

PGconn *db_connect_blocking(const char *conninfo, const char *application_name)
{
	/* DATABASE_URL (given as dbname, which expands it) sets the rest; its
	 * options are added after ours, so its settings win (options_with). */
	char *options = options_with(conninfo, STATEMENT_TIMEOUT);
	const char *keys[] = {"application_name", "connect_timeout", "dbname", "options", NULL};
	const char *values[] = {application_name, "10", conninfo, options, NULL};
	PGconn *pg = PQconnectdbParams(keys, values, 1);
	free(options);
	return pg;
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

/* Connection life: [RESOLVING ->] CONNECTING -> IDLE <-> LENT, and BROKEN
 * -> RESOLVING or CONNECTING after RECONNECT_DELAY_MS whenever anything
 * fails. The deadline covers the look-up too. */
static void conn_start(struct db_conn *c)
{
	h2o_timeout_link(c->db->loop, &c->db->connect_timeout, &c->connect_deadline);
	if (c->db->host_names == NULL) {
		conn_connect(c, NULL);
		return;
	}
	c->state = CONN_RESOLVING;
	if (!c->db->looking_up) { /* else the look-up still out serves this one too */
		c->db->looking_up = true;
		workers_submit(c->db->resolver, &c->db->lookup);
	}
}

/* A name looked up again at every connect: a database that moves (a
 * fail-over, a new service address) is found. Like libpq, every address of a
 * name is tried in turn (up to MAX_ADDRESSES_PER_NAME of them), and a name
 * that is not found is skipped. */
static void look_up(struct work *w) /* resolver thread */
{
	struct db *db = H2O_STRUCT_FROM_MEMBER(struct db, lookup, w);
	struct found_hosts *f = &db->found;
	*f = (struct found_hosts){0};
	bool room = true;
	for (int i = 0; i < list_count(db->host_names) && room; i++) {
		char name[256], port[32] = "";
		list_entry(db->host_names, i, name, sizeof name);
		if (db->port_names)
			list_entry(db->port_names, i, port, sizeof port);
		if (is_address_or_socket(name)) { /* an empty hostaddr: libpq uses the host */
			room = add_found(f, name, "", port);
			continue;
		}
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(name, NULL, &hints, &res);
		if (rc != 0) {
			snprintf(f->error, sizeof f->error, "%s: %s", name, gai_strerror(rc));
			continue;
		}
		int taken = 0;
		for (const struct addrinfo *ai = res; ai && room && taken < MAX_ADDRESSES_PER_NAME;
		     ai = ai->ai_next) {
			char addr[INET6_ADDRSTRLEN];
			const void *bytes =
			    ai->ai_family == AF_INET6
			        ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
			        : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
			if (inet_ntop(ai->ai_family, bytes, addr, sizeof addr) != NULL) {
				room = add_found(f, name, addr, port);
				taken++;
			}
		}
		freeaddrinfo(res);
	}
}

/* Adds a host to all three lists, or to none when they are full. */
static bool add_found(struct found_hosts *f, const char *host, const char *addr, const char *port)
{
	size_t comma = f->count > 0;
	if (f->hosts_len + comma + strlen(host) >= HOSTADDR_MAX ||
	    f->hostaddr_len + comma + strlen(addr) >= HOSTADDR_MAX ||
	    f->ports_len + comma + strlen(port) >= HOSTADDR_MAX)
		return false;
	list_append(f->hosts, &f->hosts_len, host, comma);
	list_append(f->hostaddr, &f->hostaddr_len, addr, comma);
	list_append(f->ports, &f->ports_len, port, comma);
	f->count++;
	return true;
}

/* The caller made room. */
static void list_append(char *list, size_t *len, const char *entry, bool comma)
{
	if (comma)
		list[(*len)++] = ',';
	size_t n = strlen(entry);
	memcpy(list + *len, entry, n + 1);
	*len += n;
}

/* Entries of a comma-separated list. */
static int list_count(const char *list)
{
	int n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	return n;
}

static void list_entry(const char *list, int index, char *out, size_t cap)
{
	const char *p = list;
	for (int i = 0; i < index && p; i++) {
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	size_t len = p ? strcspn(p, ",") : 0;
	snprintf(out, cap, "%.*s", (int)len, p ? p : "");
}

/* Connections whose deadline passed meanwhile are BROKEN and left alone. */
static void on_looked_up(struct work *w)
{
	struct db *db = H2O_STRUCT_FROM_MEMBER(struct db, lookup, w);
	const struct found_hosts *f = &db->found;
	db->looking_up = false;
	char why[400];
	snprintf(why, sizeof why, "cannot resolve the database host name (%s)",
	         f->error[0] ? f->error : "no address");
	for (int i = 0; i < db->nconns; i++) {
		struct db_conn *c = &db->conns[i];
		if (c->state != CONN_RESOLVING)
			continue;
		if (f->count == 0)
			conn_fail(c, why);
		else
			conn_connect(c, f);
	}
}

/* `found`: what a look-up found, or NULL for DATABASE_URL as it is. */
static void conn_connect(struct db_conn *c, const struct found_hosts *found)
{
	/* After dbname: they take the place of what DATABASE_URL says (its
	 * options are in ours). */
	const char *keys[] = {"application_name", "dbname", "options", "host",
	                      "hostaddr",         "port",   NULL};
	const char *values[] = {"taskflow", c->db->conninfo, c->db->options, NULL, NULL, NULL,
	                        NULL};
	struct found_hosts rotated;
	if (found != NULL && found->count > 1 && c->first_host % found->count != 0) {
		rotate(found, c->first_host % found->count, &rotated);
		found = &rotated;
	}
	if (found == NULL) {
		keys[3] = NULL;
	} else {
		values[3] = found->hosts;
		values[4] = found->hostaddr;
		values[5] = found->ports;
		if (c->db->port_names == NULL) /* DATABASE_URL's one port serves every host */
			keys[5] = NULL;
	}
	c->state = CONN_CONNECTING;
	c->pg = PQconnectStartParams(keys, values, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_fail(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	PQsetnonblocking(c->pg, 1);
	conn_watch(c);
	/* libpq: act as if PQconnectPoll had asked to write. */
	if (!h2o_socket_is_writing(c->watch))
		h2o_socket_notify_write(c->watch, on_writable);
}

static void conn_watch(struct db_conn *c)
{
	int fd = PQsocket(c->pg);
	if (c->watch && fd == c->watched_fd)
		return;
	if (c->watch)
		h2o_socket_close(c->watch);
	c->watch = h2o_evloop_socket_create(c->db->loop, dup(fd), H2O_SOCKET_FLAG_DONT_READ);
	c->watch->data = c;
	c->watched_fd = fd;
	h2o_socket_read_start(c->watch, on_readable);
}

static void conn_poll_connect(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_OK:
		h2o_timeout_unlink(&c->connect_deadline);
		if (PQenterPipelineMode(c->pg) != 1) {
			conn_fail(c, "cannot enter pipeline mode");
			return;
		}
		conn_watch(c);
		log_fields(LOG_DEBUG, "database connection ready", NULL);
		conn_lend_or_idle(c);
		return;
	case PGRES_POLLING_FAILED:
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	case PGRES_POLLING_WRITING:
		conn_watch(c);
		if (!h2o_socket_is_writing(c->watch))
			h2o_socket_notify_write(c->watch, on_writable);
		return;
	default: /* READING: the watcher's read_start covers it */
		conn_watch(c);
		return;
	}
}

static void conn_fail(struct db_conn *c, const char *why)
{
	struct db_job *job = c->state == CONN_LENT ? c->job : NULL;
	if (c->state != CONN_BROKEN)
		log_fields(LOG_WARN, "database connection lost", "s:error", why, NULL);
	if (h2o_timeout_is_linked(&c->connect_deadline))
		h2o_timeout_unlink(&c->connect_deadline);
	if (c->watch) {
		h2o_socket_close(c->watch);
		c->watch = NULL;
	}
	for (int i = 0; i < DB_ROUND_MAX; i++) {
		PQclear(c->results[i]);
		c->results[i] = NULL;
	}
	forget_statements(c);
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->job = NULL;
	bool freed_read = c->lent_to_read;
	if (c->lent_to_read) {
		c->lent_to_read = false;
		c->db->reads--;
	}
	c->sending = c->rolling_back = false;
	c->nresults = c->nexpect = c->next_expected = 0;
	c->state = CONN_BROKEN;
	h2o_timeout_link(c->db->loop, &c->db->retry_timeout, &c->retry);
	fail_waiting_jobs_if_down(c->db);
	if (job)
		job->on_result(job, NULL, NULL);
	if (freed_read) /* reads waiting for their share may run on an idle connection now */
		lend_idle_connections(c->db);
}

static void lend_idle_connections(struct db *db)
{
	for (int i = 0; i < db->nconns && db->wait_head; i++)
		if (db->conns[i].state == CONN_IDLE)
			conn_lend_or_idle(&db->conns[i]);
}

static void on_retry(h2o_timeout_entry_t *entry)
{
	struct db_conn *c = H2O_STRUCT_FROM_MEMBER(struct db_conn, retry, entry);
	conn_start(c);
}

static void on_connect_deadline(h2o_timeout_entry_t *entry)
{
	struct db_conn *c = H2O_STRUCT_FROM_MEMBER(struct db_conn, connect_deadline, entry);
	/* A server that accepts but never answers, or a name server that never
	 * does, must not hold the requests waiting for this connection. */
	if (c->state == CONN_CONNECTING && c->db->host_names && !c->db->looking_up &&
	    c->db->found.count > 1) /* while a look-up is out, `found` is the resolver's */
		c->first_host = attempted_host(c, &c->db->found) + 1;
	if (c->state == CONN_CONNECTING || c->state == CONN_RESOLVING)
		conn_fail(c, "timed out connecting to the database");
}

/* `found` from its entry `first` on, then its beginning. */
static void rotate(const struct found_hosts *found, int first, struct found_hosts *out)
{
	*out = (struct found_hosts){0};
	for (int i = 0; i < found->count; i++) {
		struct found_host h;
		found_host_at(found, (first + i) % found->count, &h);
		add_found(out, h.host, h.addr, h.port); /* the same entries: they fit */
	}
}

/* The index in `found` of the host the connection is trying (libpq's
 * current host and port, in the order the connect was given). */
static int attempted_host(const struct db_conn *c, const struct found_hosts *found)
{
	int first = c->first_host % found->count;
	const char *host = PQhost(c->pg), *addr = PQhostaddr(c->pg), *port = PQport(c->pg);
	for (int i = 0; i < found->count; i++) {
		int k = (first + i) % found->count;
		struct found_host h;
		found_host_at(found, k, &h);
		if (host && strcmp(h.host, host) == 0 &&
		    (!h.addr[0] || (addr && strcmp(h.addr, addr) == 0)) &&
		    (!h.port[0] || (port && strcmp(h.port, port) == 0)))
			return k;
	}
	return first;
}

static void found_host_at(const struct found_hosts *found, int k, struct found_host *out)
{
	list_entry(found->hosts, k, out->host, sizeof out->host);
	list_entry(found->hostaddr, k, out->addr, sizeof out->addr);
	list_entry(found->ports, k, out->port, sizeof out->port);
}

/* Hands the connection to the first waiting job, or marks it idle. */
static void conn_lend_or_idle(struct db_conn *c)
{
	struct db *db = c->db;
	if (c->lent_to_read) {
		c->lent_to_read = false;
		db->reads--;
	}
	/* The first waiting job that may run: reads wait while their share is taken. */
	struct db_job *prev = NULL, *job = db->wait_head;
	while (job && job->read_only && db->reads >= db->max_reads) {
		prev = job;
		job = job->next;
	}
	if (job == NULL) {
		c->state = CONN_IDLE;
		return;
	}
	if (prev)
		prev->next = job->next;
	else
		db->wait_head = job->next;
	if (db->wait_tail == job)
		db->wait_tail = prev;
	lend(c, job);
}

static bool write_waiting(const struct db *db)
{
	for (const struct db_job *j = db->wait_head; j; j = j->next)
		if (!j->read_only)
			return true;
	return false;
}

static void lend(struct db_conn *c, struct db_job *job)
{
	c->state = CONN_LENT;
	c->job = job;
	c->lent_to_read = job->read_only;
	if (job->read_only)
		c->db->reads++;
	job->start(job, c);
}

/* With every connection broken, waiting would last until a reconnect:
 * answer the waiting jobs now (their start gets no connection). */
static void fail_waiting_jobs_if_down(struct db *db)
{
	for (int i = 0; i < db->nconns; i++)
		if (db->conns[i].state != CONN_BROKEN)
			return;
	while (db->wait_head) {
		struct db_job *job = db->wait_head;
		db->wait_head = job->next;
		if (db->wait_head == NULL)
			db->wait_tail = NULL;
		job->start(job, NULL);
	}
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
	struct db_conn *c = sock->data;
	if (err != NULL) {
		conn_fail(c, err);
		return;
	}
	if (c->state == CONN_CONNECTING)
		conn_poll_connect(c);
	else
		flush_output(c);
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
	struct db_conn *c = sock->data;
	if (err != NULL) {
		conn_fail(c, err);
		return;
	}
	if (c->state == CONN_CONNECTING) {
		conn_poll_connect(c);
		return;
	}
	if (!PQconsumeInput(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	read_results(c);
}

static void flush_output(struct db_conn *c)
{
	int rc = PQflush(c->pg);
	if (rc < 0)
		conn_fail(c, PQerrorMessage(c->pg));
	else if (rc == 1 && !h2o_socket_is_writing(c->watch))
		h2o_socket_notify_write(c->watch, on_writable);
}

/* A round is ([Prepare] Execute)... Sync. The job hears of it at the Sync,
 * so it may send its next round from its last on_result. */
static void read_results(struct db_conn *c)
{
	while (c->sending && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (r == NULL)
			continue; /* the end of one statement's results */
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			finish_round(c);
			return;
		}
		if (c->next_expected == c->nexpect) {
			/* Nothing asked for this: the round's implicit commit failing
			 * (a deferred constraint, a serialization failure). It stands
			 * for the round's last statement, so the job sees it. */
			if (st == PGRES_FATAL_ERROR && c->nresults > 0) {
				PQclear(c->results[c->nresults - 1]);
				c->results[c->nresults - 1] = r;
			} else {
				PQclear(r);
			}
			continue;
		}
		struct expected e = c->expect[c->next_expected++];
		if (e.prepare && st == PGRES_COMMAND_OK) {
			PQclear(r);
			continue;
		}
		if (e.prepare) { /* a failed Prepare stands for its statement */
			free(c->stmts[e.slot].sql);
			c->stmts[e.slot].sql = NULL;
		}
		if (c->results[e.stmt] == NULL)
			c->results[e.stmt] = r; /* the first error of a statement wins */
		else
			PQclear(r);
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_fail(c, PQerrorMessage(c->pg));
}

static void finish_round(struct db_conn *c)
{
	PGresult *results[DB_ROUND_MAX];
	int n = c->nresults;
	memcpy(results, c->results, sizeof results);
	memset(c->results, 0, sizeof c->results);
	c->sending = false;
	for (int i = 0; i < n; i++)
		if (results[i] == NULL) /* a statement skipped after an earlier error */
			results[i] = PQmakeEmptyPGresult(c->pg, PGRES_PIPELINE_ABORTED);

	if (c->rolling_back) {
		c->rolling_back = false;
		for (int i = 0; i < n; i++)
			PQclear(results[i]);
		conn_lend_or_idle(c);
		return;
	}
	struct db_job *job = c->job;
	int i = 0;
	for (; i < n && c->job == job && c->state == CONN_LENT && !c->sending; i++) {
		c->delivering = i;
		job->on_result(job, c, results[i]);
	}
	for (; i < n; i++) /* the job acted before its last result: a bug, but no leak */
		PQclear(results[i]);
	c->delivering = 0;
}

/* The host list when one of its entries is a name libpq would look up. */
static char *host_names_in(const char *conninfo, char **port_names)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	if (opts == NULL)
		return NULL; /* libpq will say what is wrong with it when connecting */
	/* What DATABASE_URL leaves out, libpq takes from the environment
	 * (PGHOST, PGHOSTADDR, PGPORT, a service named by PGSERVICE). A service
	 * named in DATABASE_URL itself comes before those, and is libpq's to
	 * read: then only DATABASE_URL's own host is ours (the service's is
	 * looked up there, on the loop). */
	PQconninfoOption *defaults =
	    setting(opts, NULL, "service")[0] == '\0' ? PQconndefaults() : NULL;
	const char *host = setting(opts, defaults, "host");
	const char *hostaddr = setting(opts, defaults, "hostaddr");
	const char *port = setting(opts, defaults, "port");
	if (strchr(port, ','))
		*port_names = strdup(port);
	/* Several hosts, or one that is a name: the connections' to walk. */
	bool ours = false;
	if (host[0] && hostaddr[0] == '\0') {
		int n = list_count(host);
		ours = n > 1;
		for (int i = 0; i < n && !ours; i++) {
			char entry[256];
			list_entry(host, i, entry, sizeof entry);
			ours = !is_address_or_socket(entry);
		}
	}
	char *list = ours ? strdup(host) : NULL;
	PQconninfoFree(opts);
	PQconninfoFree(defaults);
	return list;
}

/* A keyword's value in conninfo, else its default; "" when neither. */
static const char *setting(const PQconninfoOption *given, const PQconninfoOption *defaults,
                           const char *keyword)
{
	for (const PQconninfoOption *o = given; o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val && o->val[0])
			return o->val;
	for (const PQconninfoOption *o = defaults; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val)
			return o->val;
	return "";
}

/* What libpq connects to without a look-up: an empty entry (the default
 * socket), a socket directory, or a numeric address. */
static bool is_address_or_socket(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return host[0] == '\0' || host[0] == '/' || host[0] == '@' ||
	       inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static void forget_statements(struct db_conn *c)
{
	for (int i = 0; i < c->nstmts; i++)
		free(c->stmts[i].sql);
	memset(c->stmts, 0, sizeof c->stmts);
	c->nstmts = 0;
}

/* libpq takes one options string, the last given: ours and then
 * DATABASE_URL's, whose -c settings win over ours for the same name. */
static char *options_with(const char *conninfo, const char *ours)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *theirs = "";
	for (const PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val)
			theirs = o->val;
	size_t len = strlen(ours) + 1 + strlen(theirs) + 1;
	char *both = malloc(len);
	if (both == NULL)
		abort();
	snprintf(both, len, "%s%s%s", ours, theirs[0] ? " " : "", theirs);
	PQconninfoFree(opts);
	return both;
}
