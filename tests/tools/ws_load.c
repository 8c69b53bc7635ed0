/* ws-load: a load and latency benchmark for live sync (docs/realtime.md).
 *
 *   ws-load --host 127.0.0.1 --port P --users-file F --sockets N --rate R --seconds S
 *           [--idle-seconds I (3)] [--server-pid PID] [--api-conns C (8)]
 *           [--inflight K (64)] [--open-timeout T (120)]
 *
 * F has "user_id token" per line. One thread, one epoll loop, non-blocking
 * sockets throughout:
 *
 * 1. Opens N WebSockets (GET /ws/user/{user}/tasks?token=...), socket i for
 *    user i % users, at most K handshakes in flight (connect, 101, hello),
 *    and waits for every socket's hello. The server's VmRSS is read before
 *    connecting and after all sockets sat idle for I seconds.
 * 2. Creates R tasks per second for S seconds through POST /api/{user}/tasks
 *    on C keep-alive HTTP/1.1 connections of its own, round-robin over the
 *    users that hold sockets. Each 201's arrival time and task id are kept.
 * 3. Every task.* frame on every socket is kept with its arrival time; at the
 *    end each frame is matched to its change by data.task.id, and its latency
 *    is arrival - the 201's arrival (0 when the frame came first). Waits up
 *    to 2 s after the last response for the frames still due.
 *
 * Prints one line:
 *   RESULT sockets=N opened=M rss_before_kb= rss_idle_kb= per_socket_bytes=
 *          changes= frames= expected_frames= p50_ms= p99_ms= max_ms= missing= ...
 * expected_frames is the sum over changes of the open sockets of the
 * change's user; missing = expected_frames - frames. Extra fields after
 * `missing` report what else went wrong (duplicates, frames out of seq order, frames for
 * another user, closes by code, API errors, the achieved rate).
 *
 * Client frames are masked (RFC 6455); server pings get a masked pong;
 * close frames are echoed; frames may be split over reads or share one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER   (64 * 1024)
#define MAX_MESSAGE  (16 * 1024 * 1024)
#define READ_CHUNK   (256 * 1024)
#define DRAIN_NS     (2 * 1000000000LL)
#define WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- small helpers ---------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static _Noreturn void die(const char *msg)
{
	fprintf(stderr, "ws-load: %s\n", msg);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL && n)
		die("out of memory");
	return p;
}

struct buf {
	char *d;
	size_t off, len, cap; /* data is d[off, len) */
};

static void buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap) {
		if (b->off > 0) { /* compact first */
			memmove(b->d, b->d + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t cap = b->cap ? b->cap : 256;
			while (cap < b->len + n)
				cap *= 2;
			b->d = xrealloc(b->d, cap);
			b->cap = cap;
		}
	}
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static size_t buf_size(const struct buf *b)
{
	return b->len - b->off;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len) {
		b->off = b->len = 0;
		if (b->cap > 64 * 1024) { /* give back what a burst took */
			free(b->d);
			b->d = NULL;
			b->cap = 0;
		}
	}
}

static void buf_free(struct buf *b)
{
	free(b->d);
	memset(b, 0, sizeof *b);
}

/* ---- a minimal JSON reader: finds members, skips values ---------------- */

static const char *j_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *j_string_end(const char *p, const char *e) /* p at '"' */
{
	for (p++; p < e; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

static const char *j_skip(const char *p, const char *e)
{
	p = j_ws(p, e);
	if (p >= e)
		return NULL;
	if (*p == '"')
		return j_string_end(p, e);
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (p < e) {
			if (*p == '"') {
				p = j_string_end(p, e);
				if (p == NULL)
					return NULL;
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
			p++;
		}
		return NULL;
	}
	while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
	       *p != '\r' && *p != '\t')
		p++;
	return p;
}

/* The value of member `key` of the object at p, or NULL. */
static const char *j_member(const char *p, const char *e, const char *key)
{
	size_t klen = strlen(key);
	p = j_ws(p, e);
	if (p >= e || *p != '{')
		return NULL;
	p++;
	for (;;) {
		p = j_ws(p, e);
		if (p >= e || *p != '"')
			return NULL;
		const char *ks = p + 1, *ke = j_string_end(p, e);
		if (ke == NULL)
			return NULL;
		p = j_ws(ke, e);
		if (p >= e || *p != ':')
			return NULL;
		p = j_ws(p + 1, e);
		if ((size_t)(ke - 1 - ks) == klen && memcmp(ks, key, klen) == 0)
			return p;
		p = j_skip(p, e);
		if (p == NULL)
			return NULL;
		p = j_ws(p, e);
		if (p >= e || *p != ',')
			return NULL;
		p++;
	}
}

static bool j_int(const char *p, const char *e, int64_t *out)
{
	if (p == NULL || p >= e)
		return false;
	bool neg = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (p >= e || *p < '0' || *p > '9')
		return false;
	int64_t v = 0;
	while (p < e && *p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	*out = neg ? -v : v;
	return true;
}

/* Does the string value at p start with prefix (not counting the quote)? */
static bool j_str_prefix(const char *p, const char *e, const char *prefix, bool whole)
{
	size_t n = strlen(prefix);
	if (p == NULL || p >= e || *p != '"' || (size_t)(e - p) < n + 2)
		return false;
	if (memcmp(p + 1, prefix, n) != 0)
		return false;
	return !whole || p[n + 1] == '"';
}

/* ---- model ------------------------------------------------------------- */

enum kind { K_WS, K_API };

struct user {
	char *id, *token;
	int open; /* sockets past hello and not closed */
};

enum ws_state { WS_IDLE, WS_CONNECTING, WS_HANDSHAKE, WS_HELLO, WS_READY, WS_CLOSED };

struct ws {
	enum kind kind; /* first: epoll's data.ptr points at it */
	enum ws_state state;
	int fd;
	int user;
	bool want_out;
	bool close_sent;
	int64_t last_seq;
	struct buf in, out;
	struct buf frag; /* a fragmented message being reassembled */
	int frag_op;
	char accept[29]; /* the Sec-WebSocket-Accept we expect */
};

enum api_state { API_DOWN, API_CONNECTING, API_IDLE, API_BUSY };

struct api {
	enum kind kind;
	enum api_state state;
	int fd;
	bool want_out;
	int change; /* index into changes while busy */
	struct buf in, out;
};

struct change {
	int user;
	int status;       /* HTTP status, 0 = none yet, -1 = failed */
	int64_t task_id;
	int64_t sent_ns, resp_ns;
	int expected; /* open sockets of the user when the 201 arrived */
};

struct frame {
	int64_t task_id;
	int64_t at_ns;
	int user;
	int sock;
};

static struct {
	const char *host;
	int port;
	struct sockaddr_in addr;
	int epfd;
	struct user *users;
	int nusers;
	struct ws *ws;
	int nsockets;
	struct api *api;
	int napi;
	int inflight_max;

	/* counters */
	int next_connect; /* the next ws to start */
	int inflight;     /* connecting, handshake or awaiting hello */
	int ready;        /* ever got hello */
	int failed;       /* never reached hello */
	int closed_after_ready;
	int64_t close_codes[8]; /* 1000 1001 1006 1009 1011 1013 4001 other */
	int64_t connect_errors, handshake_errors, protocol_errors;
	int handshake_statuses[6]; /* 1xx..5xx, other */
	int64_t pings, pongs_received, resyncs, other_messages, late_hellos;
	int64_t out_of_order, task_frames;

	struct change *changes;
	int nchanges, cap_changes;
	int64_t api_errors, api_reconnects, api_status_other;
	int64_t responses, expected_frames;

	struct frame *frames;
	size_t nframes, cap_frames;
} g;

static void count_close(int code)
{
	static const int codes[] = {1000, 1001, 1006, 1009, 1011, 1013, 4001};
	for (int i = 0; i < 7; i++)
		if (codes[i] == code) {
			g.close_codes[i]++;
			return;
		}
	g.close_codes[7]++;
}

/* ---- epoll plumbing ---------------------------------------------------- */

static void ep_set(int fd, void *ptr, bool want_out, bool add)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0),
	                         .data.ptr = ptr};
	if (epoll_ctl(g.epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
		perror("ws-load: epoll_ctl");
		exit(2);
	}
}

static int tcp_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&g.addr, sizeof g.addr) != 0 && errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Writes what it can of out; returns false on a write error. */
static bool flush_out(int fd, struct buf *out)
{
	while (buf_size(out) > 0) {
		ssize_t n = send(fd, out->d + out->off, buf_size(out), MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		return false;
	}
	return true;
}

/* ---- WebSocket client -------------------------------------------------- */

static void ws_finish(struct ws *w, int close_code);

static void ws_update_out(struct ws *w)
{
	bool want = buf_size(&w->out) > 0 || w->state == WS_CONNECTING;
	if (want != w->want_out) {
		w->want_out = want;
		ep_set(w->fd, w, want, false);
	}
}

static void ws_queue_frame(struct ws *w, int opcode, const void *payload, size_t len)
{
	uint8_t h[14];
	size_t n = 0;
	h[n++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		h[n++] = (uint8_t)(0x80 | len);
	} else if (len < 65536) {
		h[n++] = 0x80 | 126;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[n++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	uint8_t mask[4];
	randombytes_buf(mask, sizeof mask);
	memcpy(h + n, mask, 4);
	n += 4;
	buf_append(&w->out, h, n);
	uint8_t tmp[256];
	const uint8_t *p = payload;
	for (size_t done = 0; done < len;) {
		size_t k = len - done < sizeof tmp ? len - done : sizeof tmp;
		for (size_t i = 0; i < k; i++)
			tmp[i] = p[done + i] ^ mask[(done + i) & 3];
		buf_append(&w->out, tmp, k);
		done += k;
	}
}

static void ws_send_frame(struct ws *w, int opcode, const void *payload, size_t len)
{
	ws_queue_frame(w, opcode, payload, len);
	if (!flush_out(w->fd, &w->out)) {
		ws_finish(w, 1006);
		return;
	}
	ws_update_out(w);
}

/* Closes the socket; close_code is what the server sent (1006: none). */
static void ws_finish(struct ws *w, int close_code)
{
	if (w->state == WS_CLOSED)
		return;
	if (w->state == WS_READY) {
		g.users[w->user].open--;
		g.closed_after_ready++;
		count_close(close_code);
	} else {
		g.failed++;
		g.inflight--;
	}
	w->state = WS_CLOSED;
	epoll_ctl(g.epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
	buf_free(&w->in);
	buf_free(&w->out);
	buf_free(&w->frag);
}

static void ws_start(struct ws *w)
{
	int fd = tcp_connect();
	if (fd < 0) {
		g.connect_errors++;
		g.failed++;
		w->state = WS_CLOSED;
		if (g.connect_errors <= 3)
			fprintf(stderr, "ws-load: connect: %s\n", strerror(-fd));
		return;
	}
	w->fd = fd;
	w->state = WS_CONNECTING;
	w->want_out = true;
	g.inflight++;
	ep_set(fd, w, true, true);
}

static void ws_send_handshake(struct ws *w)
{
	uint8_t raw[16];
	randombytes_buf(raw, sizeof raw);
	char key[32];
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw); /* 24 chars */
	char cat[64];
	int n = snprintf(cat, sizeof cat, "%s%s", key, WS_GUID);
	unsigned char sha[SHA_DIGEST_LENGTH];
	SHA1((unsigned char *)cat, (size_t)n, sha);
	EVP_EncodeBlock((unsigned char *)w->accept, sha, sizeof sha); /* 28 chars */

	const struct user *u = &g.users[w->user];
	char req[4096];
	n = snprintf(req, sizeof req,
	             "GET /ws/user/%s/tasks?token=%s HTTP/1.1\r\n"
	             "Host: %s:%d\r\n"
	             "Upgrade: websocket\r\n"
	             "Connection: Upgrade\r\n"
	             "Sec-WebSocket-Key: %s\r\n"
	             "Sec-WebSocket-Version: 13\r\n\r\n",
	             u->id, u->token, g.host, g.port, key);
	if (n <= 0 || (size_t)n >= sizeof req)
		die("user id or token too long");
	w->state = WS_HANDSHAKE;
	buf_append(&w->out, req, (size_t)n);
	if (!flush_out(w->fd, &w->out)) {
		g.connect_errors++;
		ws_finish(w, 1006);
		return;
	}
	ws_update_out(w);
}

static const char *find_header(const char *h, const char *e, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = h; p < e;) {
		const char *eol = memmem(p, (size_t)(e - p), "\r\n", 2);
		if (eol == NULL)
			eol = e;
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

/* The handshake answer; returns the bytes consumed, 0 when incomplete, -1 when refused. */
static long ws_parse_handshake(struct ws *w)
{
	const char *d = w->in.d + w->in.off;
	size_t len = buf_size(&w->in);
	const char *end = memmem(d, len, "\r\n\r\n", 4);
	if (end == NULL)
		return len > MAX_HEADER ? -1 : 0;
	int status = 0;
	if (len < 12 || sscanf(d, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	if (status != 101) {
		int idx = status >= 100 && status < 600 ? status / 100 - 1 : 5;
		g.handshake_statuses[idx]++;
		if (g.handshake_errors++ < 3) {
			const char *eol = memmem(d, len, "\r\n", 2);
			fprintf(stderr, "ws-load: handshake refused: %.*s\n", (int)(eol - d), d);
		}
		return -1;
	}
	const char *acc = find_header(d, end + 2, "sec-websocket-accept");
	if (acc == NULL || (size_t)(end - acc) < 28 || memcmp(acc, w->accept, 28) != 0) {
		if (g.handshake_errors++ < 3)
			fprintf(stderr, "ws-load: 101 without the right Sec-WebSocket-Accept\n");
		return -1;
	}
	return end + 4 - d;
}

static void record_frame(int64_t task_id, int64_t at, int user, int sock)
{
	if (g.nframes == g.cap_frames) {
		g.cap_frames = g.cap_frames ? g.cap_frames * 2 : 65536;
		g.frames = xrealloc(g.frames, g.cap_frames * sizeof *g.frames);
	}
	g.frames[g.nframes++] = (struct frame){task_id, at, user, sock};
}

static void ws_on_text(struct ws *w, const char *m, size_t len, int64_t at)
{
	const char *e = m + len;
	const char *type = j_member(m, e, "type");
	if (w->state == WS_HELLO) {
		int64_t seq;
		if (!j_str_prefix(type, e, "hello", true) || !j_int(j_member(m, e, "seq"), e, &seq)) {
			g.protocol_errors++;
			fprintf(stderr, "ws-load: first message is not hello: %.*s\n",
			        (int)(len > 200 ? 200 : len), m);
			ws_finish(w, 1006);
			return;
		}
		w->last_seq = seq;
		w->state = WS_READY;
		g.inflight--;
		g.ready++;
		g.users[w->user].open++;
		return;
	}
	if (j_str_prefix(type, e, "task.", false)) {
		int64_t seq, id;
		const char *data = j_member(m, e, "data");
		const char *task = data ? j_member(data, e, "task") : NULL;
		if (!j_int(j_member(m, e, "seq"), e, &seq) ||
		    !j_int(task ? j_member(task, e, "id") : NULL, e, &id)) {
			g.protocol_errors++;
			return;
		}
		/* Duplicates are told apart from reordering at the end, by task id. */
		if (seq <= w->last_seq) {
			g.out_of_order++;
		} else {
			w->last_seq = seq;
			g.task_frames++; /* never counts a duplicate: ends the wait at the end */
		}
		record_frame(id, at, w->user, (int)(w - g.ws));
	} else if (j_str_prefix(type, e, "resync", true)) {
		g.resyncs++;
	} else if (j_str_prefix(type, e, "hello", true)) {
		g.late_hellos++;
	} else {
		g.other_messages++;
	}
}

/* Parses the frames in w->in. */
static void ws_parse_frames(struct ws *w, int64_t at)
{
	while (w->state == WS_HELLO || w->state == WS_READY) {
		const uint8_t *p = (const uint8_t *)w->in.d + w->in.off;
		size_t avail = buf_size(&w->in);
		if (avail < 2)
			return;
		bool fin = p[0] & 0x80;
		int op = p[0] & 0x0f;
		bool masked = p[1] & 0x80;
		uint64_t plen = p[1] & 0x7f;
		size_t hl = 2;
		if (plen == 126) {
			if (avail < 4)
				return;
			plen = (uint64_t)p[2] << 8 | p[3];
			hl = 4;
		} else if (plen == 127) {
			if (avail < 10)
				return;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | p[2 + i];
			hl = 10;
		}
		if (masked || (p[0] & 0x70) || plen > MAX_MESSAGE) {
			g.protocol_errors++;
			fprintf(stderr, "ws-load: bad frame from the server (masked %d, rsv %d, len %llu)\n",
			        masked, p[0] & 0x70, (unsigned long long)plen);
			ws_finish(w, 1006);
			return;
		}
		if (avail < hl + plen)
			return;
		const char *payload = (const char *)p + hl;
		size_t n = (size_t)plen;
		switch (op) {
		case 0x9: /* ping */
			g.pings++;
			ws_send_frame(w, 0xA, payload, n);
			break;
		case 0xA:
			g.pongs_received++;
			break;
		case 0x8: { /* close: echo it, then drop the connection */
			int code = n >= 2 ? ((uint8_t)payload[0] << 8 | (uint8_t)payload[1]) : 1005;
			if (!w->close_sent) { /* best effort: the socket goes either way */
				w->close_sent = true;
				ws_queue_frame(w, 0x8, payload, n >= 2 ? 2 : 0);
				flush_out(w->fd, &w->out);
			}
			ws_finish(w, code);
			return;
		}
		case 0x1:
		case 0x2:
			if (fin) {
				if (op == 0x1)
					ws_on_text(w, payload, n, at);
			} else {
				w->frag_op = op;
				buf_free(&w->frag);
				buf_append(&w->frag, payload, n);
			}
			break;
		case 0x0:
			if (w->frag_op == 0) {
				g.protocol_errors++;
				ws_finish(w, 1006);
				return;
			}
			buf_append(&w->frag, payload, n);
			if (fin) {
				if (w->frag_op == 0x1)
					ws_on_text(w, w->frag.d + w->frag.off, buf_size(&w->frag), at);
				w->frag_op = 0;
				buf_free(&w->frag);
			}
			break;
		default:
			g.protocol_errors++;
			ws_finish(w, 1006);
			return;
		}
		if (w->state == WS_CLOSED)
			return;
		buf_consume(&w->in, hl + n);
	}
}

static void ws_on_event(struct ws *w, uint32_t events)
{
	static char rb[READ_CHUNK];
	if (w->state == WS_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
			g.connect_errors++;
			if (g.connect_errors <= 3)
				fprintf(stderr, "ws-load: connect: %s\n", strerror(err ? err : ECONNRESET));
			ws_finish(w, 1006);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		ws_send_handshake(w);
		return;
	}
	if (events & EPOLLOUT) {
		if (!flush_out(w->fd, &w->out)) {
			ws_finish(w, 1006);
			return;
		}
		ws_update_out(w);
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(w->fd, rb, sizeof rb, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) { /* EOF or reset without a close frame */
			if (w->state == WS_HANDSHAKE)
				g.handshake_errors++;
			ws_finish(w, 1006);
			return;
		}
		int64_t at = now_ns();
		buf_append(&w->in, rb, (size_t)n);
		if (w->state == WS_HANDSHAKE) {
			long used = ws_parse_handshake(w);
			if (used < 0) {
				ws_finish(w, 1006);
				return;
			}
			if (used == 0)
				continue;
			buf_consume(&w->in, (size_t)used);
			w->state = WS_HELLO;
		}
		ws_parse_frames(w, at);
		if (w->state == WS_CLOSED)
			return;
		if ((size_t)n < sizeof rb)
			return; /* level-triggered: epoll tells us when there is more */
	}
}

/* ---- REST API client --------------------------------------------------- */

static void api_connect(struct api *a)
{
	int fd = tcp_connect();
	if (fd < 0) {
		g.api_errors++;
		a->state = API_DOWN;
		return;
	}
	a->fd = fd;
	a->state = API_CONNECTING;
	a->want_out = true;
	ep_set(fd, a, true, true);
}

static void api_update_out(struct api *a)
{
	bool want = buf_size(&a->out) > 0 || a->state == API_CONNECTING;
	if (want != a->want_out) {
		a->want_out = want;
		ep_set(a->fd, a, want, false);
	}
}

/* Drops the connection; a request in flight is lost (counted). */
static void api_drop(struct api *a)
{
	if (a->state == API_BUSY) {
		g.changes[a->change].status = -1;
		g.api_errors++;
	}
	if (a->fd >= 0) {
		epoll_ctl(g.epfd, EPOLL_CTL_DEL, a->fd, NULL);
		close(a->fd);
	}
	a->fd = -1;
	a->state = API_DOWN;
	buf_free(&a->in);
	buf_free(&a->out);
}

static void api_send(struct api *a, int change)
{
	struct change *c = &g.changes[change];
	const struct user *u = &g.users[c->user];
	char body[64], req[4096];
	int bl = snprintf(body, sizeof body, "{\"title\":\"ws-load %d\"}", change);
	int n = snprintf(req, sizeof req,
	                 "POST /api/%s/tasks HTTP/1.1\r\n"
	                 "Host: %s:%d\r\n"
	                 "Authorization: Bearer %s\r\n"
	                 "Content-Type: application/json\r\n"
	                 "Content-Length: %d\r\n\r\n%s",
	                 u->id, g.host, g.port, u->token, bl, body);
	if (n <= 0 || (size_t)n >= sizeof req)
		die("user id or token too long");
	a->state = API_BUSY;
	a->change = change;
	c->sent_ns = now_ns();
	buf_append(&a->out, req, (size_t)n);
	if (!flush_out(a->fd, &a->out)) {
		api_drop(a);
		return;
	}
	api_update_out(a);
}

/* Decodes a chunked body in place into out; returns the bytes it used, 0 when incomplete. */
static size_t dechunk(const char *p, const char *e, struct buf *out)
{
	const char *s = p;
	for (;;) {
		const char *eol = memmem(p, (size_t)(e - p), "\r\n", 2);
		if (eol == NULL)
			return 0;
		unsigned long n = strtoul(p, NULL, 16);
		p = eol + 2;
		if (n == 0) { /* trailers up to an empty line */
			for (;;) {
				eol = memmem(p, (size_t)(e - p), "\r\n", 2);
				if (eol == NULL)
					return 0;
				if (eol == p)
					return (size_t)(eol + 2 - s);
				p = eol + 2;
			}
		}
		if ((size_t)(e - p) < n + 2)
			return 0;
		buf_append(out, p, n);
		p += n + 2;
	}
}

/* One response in a->in, if complete: returns true when one was handled. */
static bool api_parse(struct api *a, int64_t at)
{
	const char *d = a->in.d + a->in.off;
	size_t len = buf_size(&a->in);
	const char *hend = memmem(d, len, "\r\n\r\n", 4);
	if (hend == NULL) {
		if (len > MAX_HEADER)
			api_drop(a);
		return false;
	}
	int status = 0;
	if (sscanf(d, "HTTP/1.%*d %d", &status) != 1) {
		api_drop(a);
		return false;
	}
	const char *body = hend + 4, *e = d + len;
	const char *cl = find_header(d, hend + 2, "content-length");
	const char *te = find_header(d, hend + 2, "transfer-encoding");
	const char *conn = find_header(d, hend + 2, "connection");
	bool close_after = conn && strncasecmp(conn, "close", 5) == 0;
	struct buf chunked = {0};
	const char *bp = body;
	size_t blen, used;
	if (te && strncasecmp(te, "chunked", 7) == 0) {
		size_t n = dechunk(body, e, &chunked);
		if (n == 0) {
			buf_free(&chunked);
			return false;
		}
		bp = chunked.d ? chunked.d : body;
		blen = buf_size(&chunked);
		used = (size_t)(body - d) + n;
	} else {
		blen = cl ? strtoul(cl, NULL, 10) : 0;
		if ((size_t)(e - body) < blen)
			return false;
		used = (size_t)(body - d) + blen;
	}
	if (a->state == API_BUSY) {
		struct change *c = &g.changes[a->change];
		c->status = status;
		c->resp_ns = at;
		g.responses++;
		int64_t id;
		if (status == 201 && j_int(j_member(bp, bp + blen, "id"), bp + blen, &id)) {
			c->task_id = id;
			c->expected = g.users[c->user].open;
			g.expected_frames += c->expected;
		} else {
			c->status = status == 201 ? -1 : status;
			g.api_status_other++;
			if (g.api_status_other <= 3)
				fprintf(stderr, "ws-load: POST answered %d: %.*s\n", status,
				        (int)(blen > 200 ? 200 : blen), bp);
		}
		a->state = API_IDLE;
	}
	buf_free(&chunked);
	buf_consume(&a->in, used);
	if (close_after) {
		api_drop(a);
		return false;
	}
	return true;
}

static void api_on_event(struct api *a, uint32_t events)
{
	static char rb[READ_CHUNK];
	if (a->state == API_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
			g.api_errors++;
			api_drop(a);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		a->state = API_IDLE;
		api_update_out(a);
		return;
	}
	if (events & EPOLLOUT) {
		if (!flush_out(a->fd, &a->out)) {
			api_drop(a);
			return;
		}
		api_update_out(a);
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(a->fd, rb, sizeof rb, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			api_drop(a);
			return;
		}
		int64_t at = now_ns();
		buf_append(&a->in, rb, (size_t)n);
		while (a->state != API_DOWN && buf_size(&a->in) > 0 && api_parse(a, at))
			;
		if (a->state == API_DOWN || (size_t)n < sizeof rb)
			return;
	}
}

/* ---- the loop ---------------------------------------------------------- */

static void loop_once(int timeout_ms)
{
	struct epoll_event evs[1024];
	int n = epoll_wait(g.epfd, evs, 1024, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return;
		perror("ws-load: epoll_wait");
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		enum kind *k = evs[i].data.ptr;
		if (*k == K_WS)
			ws_on_event((struct ws *)k, evs[i].events);
		else
			api_on_event((struct api *)k, evs[i].events);
	}
}

static void start_connects(void)
{
	while (g.next_connect < g.nsockets && g.inflight < g.inflight_max)
		ws_start(&g.ws[g.next_connect++]);
}

static long read_rss_kb(pid_t pid)
{
	if (pid <= 0)
		return -1;
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void load_users(const char *file)
{
	FILE *f = fopen(file, "r");
	if (f == NULL)
		die("cannot open --users-file");
	char *line = NULL;
	size_t cap = 0;
	int cap_users = 0;
	while (getline(&line, &cap, f) > 0) {
		char id[256], token[2048];
		if (sscanf(line, "%255s %2047s", id, token) != 2)
			continue;
		if (g.nusers == cap_users) {
			cap_users = cap_users ? cap_users * 2 : 64;
			g.users = xrealloc(g.users, (size_t)cap_users * sizeof *g.users);
		}
		g.users[g.nusers++] = (struct user){strdup(id), strdup(token), 0};
	}
	free(line);
	fclose(f);
	if (g.nusers == 0)
		die("no users in --users-file");
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_frame_sock_id(const void *a, const void *b)
{
	const struct frame *x = a, *y = b;
	if (x->sock != y->sock)
		return (x->sock > y->sock) - (x->sock < y->sock);
	if (x->task_id != y->task_id)
		return (x->task_id > y->task_id) - (x->task_id < y->task_id);
	return (x->at_ns > y->at_ns) - (x->at_ns < y->at_ns);
}

static int cmp_change_id(const void *a, const void *b)
{
	const struct change *x = *(struct change *const *)a, *y = *(struct change *const *)b;
	return (x->task_id > y->task_id) - (x->task_id < y->task_id);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: ws-load --host H --port P --users-file F --sockets N --rate R --seconds S\n"
	        "               [--idle-seconds I] [--server-pid PID] [--api-conns C]\n"
	        "               [--inflight K] [--open-timeout T]\n");
	exit(2);
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static bool server_alive(pid_t pid)
{
	return pid <= 0 || kill(pid, 0) == 0 || errno == EPERM;
}

int main(int argc, char **argv)
{
	const char *users_file = NULL;
	long sockets = -1, idle_s = 3, api_conns = 8, inflight = 64, open_timeout = 120;
	double rate = -1, seconds = -1;
	pid_t pid = 0;
	g.host = "127.0.0.1";
	g.port = 0;
	static const struct option opts[] = {
	    {"host", required_argument, 0, 'h'},       {"port", required_argument, 0, 'p'},
	    {"users-file", required_argument, 0, 'u'}, {"sockets", required_argument, 0, 'n'},
	    {"rate", required_argument, 0, 'r'},       {"seconds", required_argument, 0, 's'},
	    {"idle-seconds", required_argument, 0, 'i'},
	    {"server-pid", required_argument, 0, 'P'}, {"api-conns", required_argument, 0, 'c'},
	    {"inflight", required_argument, 0, 'k'},
	    {"open-timeout", required_argument, 0, 't'}, {0, 0, 0, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'h': g.host = optarg; break;
		case 'p': g.port = atoi(optarg); break;
		case 'u': users_file = optarg; break;
		case 'n': sockets = atol(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'i': idle_s = atol(optarg); break;
		case 'P': pid = (pid_t)atol(optarg); break;
		case 'c': api_conns = atol(optarg); break;
		case 'k': inflight = atol(optarg); break;
		case 't': open_timeout = atol(optarg); break;
		default: usage();
		}
	}
	if (!users_file || g.port <= 0 || sockets < 0 || rate < 0 || seconds < 0 || api_conns < 1 ||
	    inflight < 1 || idle_s < 0 || optind != argc)
		usage();
	if (sodium_init() < 0)
		die("libsodium init failed");
	signal(SIGPIPE, SIG_IGN);

	g.addr.sin_family = AF_INET;
	g.addr.sin_port = htons((uint16_t)g.port);
	if (inet_pton(AF_INET, g.host, &g.addr.sin_addr) != 1)
		die("--host must be an IPv4 address");

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if ((rlim_t)(sockets + api_conns + 16) > rl.rlim_cur)
		fprintf(stderr, "ws-load: warning: RLIMIT_NOFILE is %llu, fewer than %ld sockets need\n",
		        (unsigned long long)rl.rlim_cur, sockets + api_conns + 16);

	load_users(users_file);
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	g.nsockets = (int)sockets;
	g.ws = calloc((size_t)(sockets ? sockets : 1), sizeof *g.ws);
	g.inflight_max = (int)inflight;
	for (int i = 0; i < g.nsockets; i++)
		g.ws[i] = (struct ws){.kind = K_WS, .state = WS_IDLE, .fd = -1, .user = i % g.nusers};

	/* 1. Open. */
	long rss_before = read_rss_kb(pid);
	int64_t t0 = now_ns(), open_deadline = t0 + open_timeout * 1000000000LL;
	while (g.ready + g.failed < g.nsockets && now_ns() < open_deadline) {
		start_connects();
		loop_once(50);
		if (!server_alive(pid))
			break;
	}
	double open_s = (double)(now_ns() - t0) / 1e9;
	int timed_out = g.nsockets - g.ready - g.failed;
	fprintf(stderr, "ws-load: %d of %d sockets got hello in %.2f s (%d failed, %d timed out)\n",
	        g.ready, g.nsockets, open_s, g.failed, timed_out);

	/* 2. Idle. */
	int64_t idle_end = now_ns() + idle_s * 1000000000LL;
	for (int64_t t; (t = now_ns()) < idle_end;)
		loop_once((int)((idle_end - t) / 1000000) + 1);
	long rss_idle = read_rss_kb(pid);
	int open_idle = 0;
	for (int i = 0; i < g.nusers; i++)
		open_idle += g.users[i].open;

	/* 3. Changes. */
	int *targets = calloc((unsigned)g.nusers, sizeof *targets);
	int ntargets = 0;
	for (int i = 0; i < g.nusers; i++)
		if (g.users[i].open > 0)
			targets[ntargets++] = i;
	int total = ntargets ? (int)(rate * seconds + 0.5) : 0;
	g.changes = calloc((size_t)(total ? total : 1), sizeof *g.changes);
	g.napi = (int)api_conns;
	g.api = calloc((size_t)g.napi, sizeof *g.api);
	for (int i = 0; i < g.napi; i++) {
		g.api[i] = (struct api){.kind = K_API, .state = API_DOWN, .fd = -1};
		if (total)
			api_connect(&g.api[i]);
	}
	int issued = 0;
	double cpu0 = cpu_seconds();
	int64_t start = now_ns(), last_resp = start;
	int64_t hard_end = start + (int64_t)(seconds * 1e9) + 30 * 1000000000LL;
	for (;;) {
		int64_t t = now_ns();
		int busy = 0;
		for (int i = 0; i < g.napi; i++) {
			struct api *a = &g.api[i];
			if (a->state == API_DOWN && issued < total) {
				g.api_reconnects++;
				api_connect(a);
			}
			busy += a->state == API_BUSY;
		}
		int due = rate > 0 ? (int)((double)(t - start) * rate / 1e9) + 1 : total;
		if (due > total)
			due = total;
		for (int i = 0; i < g.napi && issued < due; i++) {
			if (g.api[i].state != API_IDLE)
				continue;
			struct change *c = &g.changes[issued];
			c->user = targets[issued % ntargets];
			api_send(&g.api[i], issued++);
			busy++;
		}
		if ((issued >= total && busy == 0) || t > hard_end || !server_alive(pid))
			break;
		int wait_ms = 50;
		if (issued < total && rate > 0) {
			int64_t next = start + (int64_t)((double)issued * 1e9 / rate);
			wait_ms = next > t ? (int)((next - t) / 1000000) + 1 : 1;
			if (wait_ms > 50)
				wait_ms = 50;
		}
		loop_once(wait_ms);
	}
	for (int i = 0; i < issued; i++)
		if (g.changes[i].resp_ns > last_resp)
			last_resp = g.changes[i].resp_ns;
	double send_s = (double)(now_ns() - start) / 1e9;
	/* How busy this client was while the changes ran: near 100% means its own
	 * loop may have added to the latencies. */
	double cpu_pct = issued > 0 && send_s > 0 ? 100 * (cpu_seconds() - cpu0) / send_s : 0;

	/* 4. Wait up to 2 s for the frames still due. */
	int64_t drain_end = now_ns() + DRAIN_NS;
	for (int64_t t; (t = now_ns()) < drain_end && g.task_frames < g.expected_frames;)
		loop_once((int)((drain_end - t) / 1000000) + 1);
	long rss_after = read_rss_kb(pid);
	bool alive = server_alive(pid);

	/* 5. Match frames to changes. */
	struct change **byid = calloc((size_t)(issued ? issued : 1), sizeof *byid);
	int nok = 0;
	for (int i = 0; i < issued; i++)
		if (g.changes[i].status == 201)
			byid[nok++] = &g.changes[i];
	qsort(byid, (size_t)nok, sizeof *byid, cmp_change_id);
	int64_t *lat = malloc((g.nframes ? g.nframes : 1) * sizeof *lat);
	size_t nlat = 0;
	int64_t foreign = 0, wrong_user = 0, early = 0, dups = 0;
	/* The same event twice on one socket: only the first counts. */
	qsort(g.frames, g.nframes, sizeof *g.frames, cmp_frame_sock_id);
	for (size_t i = 0; i < g.nframes; i++) {
		const struct frame *f = &g.frames[i];
		if (i > 0 && f->sock == f[-1].sock && f->task_id == f[-1].task_id) {
			dups++;
			continue;
		}
		int lo = 0, hi = nok - 1;
		struct change *c = NULL;
		while (lo <= hi) {
			int mid = (lo + hi) / 2;
			if (byid[mid]->task_id == f->task_id) {
				c = byid[mid];
				break;
			}
			if (byid[mid]->task_id < f->task_id)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		if (c == NULL) {
			foreign++;
			continue;
		}
		if (c->user != f->user) {
			wrong_user++;
			continue;
		}
		int64_t l = f->at_ns - c->resp_ns;
		if (l <= 0) {
			l = 0;
			early++;
		}
		lat[nlat++] = l;
	}
	qsort(lat, nlat, sizeof *lat, cmp_i64);
	double p50 = nlat ? (double)lat[nlat / 2] / 1e6 : 0;
	double p99 = nlat ? (double)lat[nlat * 99 / 100 < nlat ? nlat * 99 / 100 : nlat - 1] / 1e6 : 0;
	double pmax = nlat ? (double)lat[nlat - 1] / 1e6 : 0;
	int64_t api_p50 = 0, api_p99 = 0, api_max = 0;
	{
		int64_t *al = malloc((size_t)(nok ? nok : 1) * sizeof *al);
		for (int i = 0; i < nok; i++)
			al[i] = byid[i]->resp_ns - byid[i]->sent_ns;
		qsort(al, (size_t)nok, sizeof *al, cmp_i64);
		api_p50 = nok ? al[nok / 2] : 0;
		api_p99 = nok ? al[nok * 99 / 100] : 0;
		api_max = nok ? al[nok - 1] : 0;
		free(al);
	}

	char rss_b[32] = "-", rss_i[32] = "-", rss_a[32] = "-", per[32] = "-";
	if (rss_before >= 0)
		snprintf(rss_b, sizeof rss_b, "%ld", rss_before);
	if (rss_idle >= 0)
		snprintf(rss_i, sizeof rss_i, "%ld", rss_idle);
	if (rss_after >= 0)
		snprintf(rss_a, sizeof rss_a, "%ld", rss_after);
	if (rss_before >= 0 && rss_idle >= 0 && g.ready > 0)
		snprintf(per, sizeof per, "%ld", (rss_idle - rss_before) * 1024 / g.ready);
	printf("RESULT sockets=%d opened=%d rss_before_kb=%s rss_idle_kb=%s per_socket_bytes=%s "
	       "changes=%d frames=%zu expected_frames=%" PRId64 " p50_ms=%.2f p99_ms=%.2f "
	       "max_ms=%.2f missing=%" PRId64 " open_s=%.2f open_idle=%d sent=%d rate=%.0f "
	       "api_p50_ms=%.2f api_p99_ms=%.2f api_max_ms=%.2f api_errors=%" PRId64 " dups=%" PRId64 " out_of_order=%" PRId64
	       " foreign=%" PRId64 " wrong_user=%" PRId64 " early=%" PRId64 " closed=%d "
	       "close_codes=1000:%" PRId64 ",1001:%" PRId64 ",1006:%" PRId64 ",1009:%" PRId64
	       ",1011:%" PRId64 ",1013:%" PRId64 ",4001:%" PRId64 ",other:%" PRId64
	       " connect_errors=%" PRId64 " handshake_errors=%" PRId64 " protocol_errors=%" PRId64
	       " pings=%" PRId64 " client_cpu_pct=%.0f rss_after_kb=%s server_alive=%d\n",
	       g.nsockets, g.ready, rss_b, rss_i, per, nok, nlat, g.expected_frames, p50, p99,
	       pmax, g.expected_frames - (int64_t)nlat, open_s, open_idle, issued,
	       send_s > 0 ? issued / send_s : 0, (double)api_p50 / 1e6,
	       (double)api_p99 / 1e6, (double)api_max / 1e6,
	       g.api_errors + g.api_status_other, dups, g.out_of_order, foreign, wrong_user, early,
	       g.closed_after_ready, g.close_codes[0], g.close_codes[1], g.close_codes[2],
	       g.close_codes[3], g.close_codes[4], g.close_codes[5], g.close_codes[6],
	       g.close_codes[7], g.connect_errors, g.handshake_errors, g.protocol_errors, g.pings,
	       cpu_pct, rss_a, alive ? 1 : 0);
	fflush(stdout);

	/* Leave politely: a close frame on every open socket, then go. */
	for (int i = 0; i < g.nsockets; i++) {
		struct ws *w = &g.ws[i];
		if (w->state == WS_READY && !w->close_sent) {
			uint8_t code[2] = {1000 >> 8, 1000 & 0xff};
			w->close_sent = true;
			ws_send_frame(w, 0x8, code, 2);
		}
	}
	free(lat);
	free(byid);
	free(targets);
	return alive && (g.ready > 0 || g.nsockets == 0) ? 0 : 1;
}
