#include "auth/token_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

#define SLOTS     256 /* direct-mapped: a newer token takes its slot */
#define TOKEN_MAX 512

struct slot {
	uint64_t hash;
	size_t len; /* 0: empty */
	char token[TOKEN_MAX];
	struct token_claims claims;
};

struct token_cache {
	struct slot slots[SLOTS];
};

struct token_cache *token_cache_create(void)
{
	struct token_cache *cache = calloc(1, sizeof *cache);
	if (cache == NULL)
		abort();
	return cache;
}

void token_cache_destroy(struct token_cache *cache)
{
	free(cache);
}

bool token_cache_get(struct token_cache *cache, const char *token, int64_t now,
                     struct token_claims *claims)
{
	uint64_t hash = hash_string(token);
	const struct slot *s = &cache->slots[hash % SLOTS];
	size_t len = strlen(token);
	if (s->len == 0 || s->hash != hash || s->len != len || memcmp(s->token, token, len) != 0)
		return false;
	/* The same rule as token_verify's. */
	if (s->claims.exp < now - TOKEN_LEEWAY_SECONDS)
		return false;
	*claims = s->claims;
	return true;
}

void token_cache_put(struct token_cache *cache, const char *token,
                     const struct token_claims *claims)
{
	size_t len = strlen(token);
	if (len == 0 || len >= TOKEN_MAX)
		return;
	uint64_t hash = hash_string(token);
	struct slot *s = &cache->slots[hash % SLOTS];
	s->hash = hash;
	s->len = len;
	memcpy(s->token, token, len);
	s->claims = *claims;
}
