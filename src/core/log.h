/* Logs: one JSON object per line on stderr. */
#ifndef TASKFLOW_CORE_LOG_H
#define TASKFLOW_CORE_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set once in main before any thread starts; read by every thread after. */
void log_set_level(int level);
int log_level_from_name(const char *name); /* -1 if unknown */
int log_enabled(int level);

/* Writes {"ts":..., "level":..., "msg":..., <fields>}. The variadic part is a
 * NULL-terminated list of (key, value) pairs where the key's first two
 * characters give the type: "s:" a string (NULL is written as null), "i:" a
 * long long, "f:" a double. Example:
 *   log_fields(LOG_INFO, "request", "s:method", "GET", "i:status", 200LL, NULL); */
void log_fields(int level, const char *msg, ...);

/* An event loop logs a line per request: its thread collects the lines and
 * writes them together at most every 50 ms (log_flush_if_due, called once
 * per turn of the loop), instead of one write(2) each: with a write per
 * turn, the access log cost lists of 50 5-7 % of their throughput. An error
 * is written at once. Other threads write every line at once. */
void log_buffer_this_thread(void);
void log_flush_if_due(uint64_t now_ms); /* the loop's clock (h2o_now) */
void log_flush(void);
/* Flushes and frees the thread's buffer; lines are written at once again. */
void log_unbuffer_this_thread(void);

#define log_info(msg)  log_fields(LOG_INFO, (msg), NULL)
#define log_warn(msg)  log_fields(LOG_WARN, (msg), NULL)
#define log_error(msg) log_fields(LOG_ERROR, (msg), NULL)

#endif
