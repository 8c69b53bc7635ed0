#include "core/pgarray.h"

void pgarray_append(struct strbuf *b, const char *item)
{
	strbuf_append(b, b->len == 0 ? "{\"" : ",\"");
	for (const char *p = item; *p; p++) {
		if (*p == '"' || *p == '\\')
			strbuf_append_len(b, "\\", 1);
		strbuf_append_len(b, p, 1);
	}
	strbuf_append_len(b, "\"", 1);
}

void pgarray_finish(struct strbuf *b)
{
	strbuf_append(b, b->len == 0 ? "{}" : "}");
}
