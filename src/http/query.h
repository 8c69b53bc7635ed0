/* URL query strings and percent-encoding. */
#ifndef TASKFLOW_HTTP_QUERY_H
#define TASKFLOW_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#define QUERY_MAX_PARAMS 64

struct query_param {
	const char *key;
	const char *value;
};

/* Decoded parameters; all strings point into `storage`, which the owner
 * frees with query_free. */
struct query {
	struct query_param params[QUERY_MAX_PARAMS];
	size_t count;
	char *storage;
};

/* Decodes %XX (and '+' as a space when plus_is_space) into out, which must
 * hold len + 1 bytes; NUL-terminates. Returns false on a malformed escape or
 * an encoded NUL. */
bool percent_decode(const char *in, size_t len, bool plus_is_space, char *out, size_t *out_len);

/* Parses "a=1&b=&c" (no leading '?'). Returns false on a malformed escape or
 * more than QUERY_MAX_PARAMS parameters; q is then empty and needs no free. */
bool query_parse(const char *s, size_t len, struct query *q);
void query_free(struct query *q);

/* The first value of key, or NULL. */
const char *query_get(const struct query *q, const char *key);

#endif
