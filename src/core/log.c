#include "core/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/jsonx.h"
#include "core/strbuf.h"

#define BUFFER_FLUSH_AT       (64 * 1024)
#define BUFFER_FLUSH_EVERY_MS 50

static int current_level = LOG_INFO;
/* Per thread: whether lines wait for log_flush, and the lines waiting. */
static __thread bool buffering;
static __thread struct strbuf pending;
static __thread uint64_t last_flush_ms; /* on the caller's clock (log_flush_if_due) */
static const char *const level_names[] = {"debug", "info", "warn", "error"};

static void write_all(const char *p, size_t n);

void log_set_level(int level)
{
	current_level = level;
}

int log_enabled(int level)
{
	return level >= current_level;
}

int log_level_from_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "warning") == 0)
		return LOG_WARN;
	return -1;
}

void log_fields(int level, const char *msg, ...)
{
	if (!log_enabled(level))
		return;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);

	struct strbuf b = {0};
	strbuf_printf(&b,
	              "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":",
	              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	              tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level]);
	jsonx_append_string(&b, msg);

	va_list ap;
	va_start(ap, msg);
	for (const char *key; (key = va_arg(ap, const char *)) != NULL;) {
		strbuf_append(&b, ",");
		jsonx_append_string(&b, key + 2);
		strbuf_append(&b, ":");
		switch (key[0]) {
		case 'i':
			strbuf_printf(&b, "%lld", va_arg(ap, long long));
			break;
		case 'f':
			strbuf_printf(&b, "%.3f", va_arg(ap, double));
			break;
		default: {
			const char *v = va_arg(ap, const char *);
			if (v)
				jsonx_append_string(&b, v);
			else
				strbuf_append(&b, "null");
		}
		}
	}
	va_end(ap);
	strbuf_append(&b, "}\n");
	if (buffering) {
		strbuf_append_len(&pending, b.data, b.len);
		if (pending.len >= BUFFER_FLUSH_AT || level >= LOG_ERROR)
			log_flush();
	} else {
		write_all(b.data, b.len);
	}
	strbuf_free(&b);
}

void log_buffer_this_thread(void)
{
	buffering = true;
}

void log_unbuffer_this_thread(void)
{
	log_flush();
	strbuf_free(&pending);
	buffering = false;
}

void log_flush(void)
{
	if (pending.len == 0)
		return;
	write_all(pending.data, pending.len);
	pending.len = 0;
}

void log_flush_if_due(uint64_t now_ms)
{
	if (pending.len > 0 && now_ms - last_flush_ms >= BUFFER_FLUSH_EVERY_MS) {
		log_flush();
		last_flush_ms = now_ms;
	}
}

/* Whole lines in one write each call keep lines from interleaving. */
static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w <= 0)
			return; /* nowhere to log to: drop rather than spin */
		p += w;
		n -= (size_t)w;
	}
}
