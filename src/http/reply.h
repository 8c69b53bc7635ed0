/* A response under construction. Built on any thread (database workers fill
 * one per job), sent by the loop thread that owns the request. */
#ifndef TASKFLOW_HTTP_REPLY_H
#define TASKFLOW_HTTP_REPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_error;

struct reply {
	int status;
	char *body; /* JSON, malloc'd; NULL for no body */
	size_t body_len;
	char *location;       /* malloc'd; NULL for none */
	char allow[64];       /* Allow header for 405; "" for none */
	int32_t etag_version; /* > 0: ETag: "<version>" */
	int retry_after;      /* > 0: Retry-After in seconds */
	bool replayed;        /* Idempotent-Replayed: true */
};

/* Sets status and body; takes ownership of `body` (may be NULL for no body). */
void reply_json(struct reply *r, int status, json_t *body);
/* Sets status and an already encoded JSON body, taking ownership of it. */
void reply_raw(struct reply *r, int status, char *json, size_t len);
void reply_error(struct reply *r, int status, const char *code, const char *message,
                 const char *field);
void reply_api_error(struct reply *r, const struct api_error *e);
void reply_free(struct reply *r);

#endif
