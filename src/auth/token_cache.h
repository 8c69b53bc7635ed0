/* Tokens already verified, so that a client's next request skips the
 * signature check and the parsing (4 µs of a task list's 60, measured).
 * Keyed by the whole token: an entry is only ever token_verify's answer for
 * the same bytes, and it stops counting once the token expires. Each event
 * loop has its own, touched by that loop's thread only. */
#ifndef TASKFLOW_AUTH_TOKEN_CACHE_H
#define TASKFLOW_AUTH_TOKEN_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/token.h"

struct token_cache;

struct token_cache *token_cache_create(void);
void token_cache_destroy(struct token_cache *cache);

/* True, with the claims, when `token` was put here and is still in date at `now`. */
bool token_cache_get(struct token_cache *cache, const char *token, int64_t now,
                     struct token_claims *claims);
/* Remembers a token token_verify accepted (a long one is not kept). */
void token_cache_put(struct token_cache *cache, const char *token,
                     const struct token_claims *claims);

#endif
