/* Small additions to jansson used across the API. */
#ifndef TASKFLOW_CORE_JSONX_H
#define TASKFLOW_CORE_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Compact encoding; the caller frees the result. Steals `value`. */
char *jsonx_dump_steal(json_t *value, size_t *len);

/* A string, or JSON null when s is NULL. */
json_t *jsonx_string_or_null(const char *s);

/* {"error":{"code":..., "message":..., "field":...}}; field may be NULL. */
json_t *jsonx_error(const char *code, const char *message, const char *field);

struct strbuf;
/* Appends s as a JSON string literal (quotes and escapes); s is valid UTF-8. */
void jsonx_append_string(struct strbuf *b, const char *s);

/* Number of Unicode code points in a valid UTF-8 string (jansson only hands
 * out valid UTF-8). */
size_t jsonx_utf8_length(const char *s);

/* True when s is well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF): text from a URL must be checked before PostgreSQL
 * sees it, which would refuse it with an error. */
bool jsonx_utf8_valid(const char *s);

#endif
