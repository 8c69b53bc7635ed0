/* A growable NUL-terminated byte buffer. The owner frees it with strbuf_free
 * or takes the bytes with strbuf_steal. Allocation failure aborts: the server
 * cannot do anything useful without memory. */
#ifndef TASKFLOW_CORE_STRBUF_H
#define TASKFLOW_CORE_STRBUF_H

#include <stddef.h>
#include <string.h>

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};

/* Makes room for `extra` more bytes (and the NUL). */
void strbuf_reserve(struct strbuf *b, size_t extra);

/* Inline: task lists append a few thousand small pieces per response. */
static inline void strbuf_append_len(struct strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		strbuf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void strbuf_append(struct strbuf *b, const char *s)
{
	strbuf_append_len(b, s, strlen(s));
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *strbuf_steal(struct strbuf *b);
void strbuf_free(struct strbuf *b);

#endif
