#include "task/cursor.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

/* Encoded form before base64: "1|<sort>|<a|d>|<id>|<key>". The key comes last
 * so it may contain '|'. */

static bool key_is_valid(enum task_sort sort, const char *key);

bool cursor_encode(const struct cursor *c, char *out, size_t cap)
{
	char raw[CURSOR_KEY_MAX + 64];
	int n = snprintf(raw, sizeof raw, "1|%d|%c|%lld|%s", (int)c->sort,
	                 c->descending ? 'd' : 'a', (long long)c->id, c->key);
	if (n < 0 || (size_t)n >= sizeof raw)
		return false;
	if (sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > cap)
		return false;
	sodium_bin2base64(out, cap, (const unsigned char *)raw, (size_t)n,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return true;
}

bool cursor_decode(const char *text, struct cursor *c)
{
	unsigned char raw[CURSOR_KEY_MAX + 64];
	size_t n;
	if (strlen(text) > CURSOR_TEXT_MAX ||
	    sodium_base642bin(raw, sizeof raw - 1, text, strlen(text), NULL, &n, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return false;
	raw[n] = '\0';
	if (memchr(raw, '\0', n) != NULL)
		return false;

	char *s = (char *)raw, *end;
	if (strncmp(s, "1|", 2) != 0)
		return false;
	s += 2;
	long sort = strtol(s, &end, 10);
	if (end == s || *end != '|' || sort < SORT_CREATED_AT || sort > SORT_TITLE)
		return false;
	s = end + 1;
	if ((*s != 'a' && *s != 'd') || s[1] != '|')
		return false;
	c->descending = *s == 'd';
	s += 2;
	if (*s < '1' || *s > '9')
		return false;
	long long id = strtoll(s, &end, 10);
	if (*end != '|' || id <= 0)
		return false;
	s = end + 1;
	if (strlen(s) > CURSOR_KEY_MAX || !key_is_valid((enum task_sort)sort, s))
		return false;
	c->sort = (enum task_sort)sort;
	c->id = id;
	strcpy(c->key, s);
	return true;
}

/* The key is cast by PostgreSQL; checking its shape here keeps a forged
 * cursor a 400 rather than a database error. */
static bool key_is_valid(enum task_sort sort, const char *key)
{
	switch (sort) {
	case SORT_TITLE:
		return jsonx_utf8_valid(key);
	case SORT_PRIORITY:
		return (key[0] == '1' || key[0] == '2' || key[0] == '3') && key[1] == '\0';
	case SORT_DUE_DATE:
		if (strcmp(key, "inf") == 0)
			return true;
		/* fall through */
	case SORT_CREATED_AT:
	case SORT_UPDATED_AT: {
		const char *p = key + (key[0] == '-');
		size_t len = strlen(p);
		if (len == 0 || len > 17)
			return false;
		for (; *p; p++)
			if (*p < '0' || *p > '9')
				return false;
		return true;
	}
	}
	return false;
}
