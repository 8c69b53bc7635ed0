/* ISO 8601 timestamps as the API speaks them: parsed with a mandatory offset,
 * formatted in UTC with milliseconds. Times are microseconds since the epoch,
 * the resolution PostgreSQL keeps. */
#ifndef TASKFLOW_CORE_ISO8601_H
#define TASKFLOW_CORE_ISO8601_H

#include <stdbool.h>
#include <stdint.h>

#define ISO8601_LEN 64 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" with room for any int year */

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds since the epoch. */
#define ISO8601_MIN_SECONDS (-62135596800LL)
#define ISO8601_MAX_SECONDS 253402300799LL

/* Accepts YYYY-MM-DDTHH:MM[:SS[.fraction]] followed by Z or ±HH:MM (the T may
 * be a space or t). Returns false for anything else, including a date without
 * an offset, an impossible date such as February 30, and an instant whose UTC
 * year is outside 1..9999. */
bool iso8601_parse(const char *s, int64_t *out_us);

/* Writes e.g. "2026-11-27T01:46:22.123Z". */
void iso8601_format(int64_t us, char out[ISO8601_LEN]);

#endif
