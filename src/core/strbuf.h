/* A growable NUL-terminated byte buffer. The owner frees it with strbuf_free
 * or takes the bytes with strbuf_steal. Allocation failure aborts: the server
 * cannot do anything useful without memory. */
#ifndef TASKFLOW_CORE_STRBUF_H
#define TASKFLOW_CORE_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};

void strbuf_append(struct strbuf *b, const char *s);
void strbuf_append_len(struct strbuf *b, const char *s, size_t n);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *strbuf_steal(struct strbuf *b);
void strbuf_free(struct strbuf *b);

#endif
