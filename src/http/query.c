#include "http/query.h"

#include <stdlib.h>
#include <string.h>

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool percent_decode(const char *in, size_t len, bool plus_is_space, char *out, size_t *out_len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '%') {
			if (i + 2 >= len)
				return false;
			int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return false;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		out[o++] = c;
	}
	out[o] = '\0';
	if (out_len)
		*out_len = o;
	return true;
}

bool query_parse(const char *s, size_t len, struct query *q)
{
	memset(q, 0, sizeof *q);
	if (len == 0)
		return true;
	/* Decoding never grows a string, and each key and value gets its own NUL. */
	char *storage = malloc(2 * len + 2);
	if (storage == NULL)
		abort();
	char *w = storage;
	size_t i = 0;
	while (i <= len) {
		size_t start = i;
		while (i < len && s[i] != '&')
			i++;
		size_t end = i++;
		if (end == start)
			continue;
		if (q->count == QUERY_MAX_PARAMS)
			goto fail;
		const char *eq = memchr(s + start, '=', end - start);
		size_t klen = eq ? (size_t)(eq - (s + start)) : end - start;
		size_t n;
		struct query_param *p = &q->params[q->count++];
		p->key = w;
		if (!percent_decode(s + start, klen, true, w, &n))
			goto fail;
		w += n + 1;
		p->value = w;
		if (eq) {
			if (!percent_decode(eq + 1, end - start - klen - 1, true, w, &n))
				goto fail;
		} else {
			*w = '\0';
			n = 0;
		}
		w += n + 1;
	}
	q->storage = storage;
	return true;
fail:
	free(storage);
	memset(q, 0, sizeof *q);
	return false;
}

void query_free(struct query *q)
{
	free(q->storage);
	memset(q, 0, sizeof *q);
}

const char *query_get(const struct query *q, const char *key)
{
	for (size_t i = 0; i < q->count; i++)
		if (strcmp(q->params[i].key, key) == 0)
			return q->params[i].value;
	return NULL;
}
