/* Bearer tokens: JWTs issued with HS256 and verified with the algorithm
 * pinned by the key that checks them. libjwt 1.10 validates no claims and
 * accepts unsigned tokens when given no key, so every rule lives here. */
#ifndef TASKFLOW_AUTH_TOKEN_H
#define TASKFLOW_AUTH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_SUBJECT_MAX    128
#define TOKEN_LEEWAY_SECONDS 30

struct token_keys {
	const unsigned char *secret; /* HS256; required */
	size_t secret_len;
	const unsigned char *public_pem; /* RS256 or ES256 verification; optional */
	size_t public_pem_len;
};

enum token_status {
	TOKEN_OK = 0,
	TOKEN_MALFORMED,
	TOKEN_UNSUPPORTED_ALG, /* none, HS384, RS256 without a public key, ... */
	TOKEN_BAD_SIGNATURE,
	TOKEN_EXPIRED, /* also: no exp claim */
	TOKEN_NOT_YET_VALID,
	TOKEN_NO_SUBJECT,
};

struct token_claims {
	char sub[TOKEN_SUBJECT_MAX + 1];
	int64_t exp;
};

enum token_status token_verify(const struct token_keys *keys, const char *token, int64_t now,
                               struct token_claims *claims);

/* An HS256 token for sub, valid for ttl seconds; the caller frees it. NULL on
 * allocation failure. */
char *token_issue(const struct token_keys *keys, const char *sub, int64_t now, int64_t ttl);

const char *token_status_text(enum token_status status);

#endif
