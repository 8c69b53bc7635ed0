/* ISO 8601 timestamps as the API speaks them: parsed with a mandatory offset,
 * formatted in UTC with milliseconds. Times are microseconds since the epoch,
 * the resolution PostgreSQL keeps. */
#ifndef TASKFLOW_CORE_ISO8601_H
#define TASKFLOW_CORE_ISO8601_H

#include <stdbool.h>
#include <stdint.h>

#define ISO8601_LEN 64 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" with room for any int year */

/* Accepts YYYY-MM-DDTHH:MM[:SS[.fraction]] followed by Z or ±HH:MM (the T may
 * be a space or t). Returns false for anything else, including a date without
 * an offset or an impossible date such as February 30. */
bool iso8601_parse(const char *s, int64_t *out_us);

/* Writes e.g. "2026-11-27T01:46:22.123Z". */
void iso8601_format(int64_t us, char out[ISO8601_LEN]);

#endif
