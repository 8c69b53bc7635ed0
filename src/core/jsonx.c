#include "core/jsonx.h"

#include <stdlib.h>
#include <string.h>

char *jsonx_dump_steal(json_t *value, size_t *len)
{
	char *s = json_dumps(value, JSON_COMPACT);
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
