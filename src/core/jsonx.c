#include "core/jsonx.h"

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

char *jsonx_dump_steal(json_t *value, size_t *len)
{
	char *s = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(value);
	if (s == NULL)
		abort();
	if (len)
		*len = strlen(s);
	return s;
}

json_t *jsonx_string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *jsonx_error(const char *code, const char *message, const char *field)
{
	json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
	if (field)
		json_object_set_new(err, "field", json_string(field));
	return json_pack("{s:o}", "error", err);
}

size_t jsonx_utf8_length(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

bool jsonx_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p++;
		int more;
		unsigned cp, min;
		if (c < 0x80)
			continue;
		if ((c & 0xE0) == 0xC0)
			more = 1, cp = c & 0x1F, min = 0x80;
		else if ((c & 0xF0) == 0xE0)
			more = 2, cp = c & 0x0F, min = 0x800;
		else if ((c & 0xF8) == 0xF0)
			more = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		for (; more > 0; more--, p++) {
			if ((*p & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (*p & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
	}
	return true;
}

void jsonx_append_string(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	strbuf_append_len(b, "\"", 1);
	const char *run = s;
	const unsigned char *p = (const unsigned char *)s;
	for (; *p; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		strbuf_append_len(b, run, (size_t)((const char *)p - run));
		char esc[6] = {'\\', (char)*p};
		size_t n = 2;
		if (*p < 0x20) {
			esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[*p >> 4],
			esc[5] = hex[*p & 15];
			n = 6;
		}
		strbuf_append_len(b, esc, n);
		run = (const char *)p + 1;
	}
	strbuf_append_len(b, run, (size_t)((const char *)p - run));
	strbuf_append_len(b, "\"", 1);
}
