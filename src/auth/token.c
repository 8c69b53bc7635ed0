#include "auth/token.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_MAX 1024

static jwt_alg_t header_alg(const char *token);

enum token_status token_verify(const struct token_keys *keys, const char *token, int64_t now,
                               struct token_claims *claims)
{
	memset(claims, 0, sizeof *claims);
	if (token == NULL || strlen(token) > 8192)
		return TOKEN_MALFORMED;

	/* The key, and so the algorithm, is chosen before the signature is
	 * looked at: an HS256 token is only ever checked against the secret,
	 * never against the public key's bytes (algorithm confusion). */
	jwt_alg_t alg = header_alg(token);
	const unsigned char *key;
	size_t key_len;
	switch (alg) {
	case JWT_ALG_HS256:
		key = keys->secret;
		key_len = keys->secret_len;
		break;
	case JWT_ALG_RS256:
	case JWT_ALG_ES256:
		key = keys->public_pem;
		key_len = keys->public_pem_len;
		break;
	case JWT_ALG_INVAL:
		return TOKEN_MALFORMED;
	default:
		return TOKEN_UNSUPPORTED_ALG;
	}
	if (key == NULL || key_len == 0)
		return TOKEN_UNSUPPORTED_ALG;

	jwt_t *jwt = NULL;
	if (jwt_decode(&jwt, token, key, (int)key_len) != 0 || jwt == NULL) {
		jwt_free(jwt);
		return TOKEN_BAD_SIGNATURE;
	}
	enum token_status status = TOKEN_OK;
	if (jwt_get_alg(jwt) != alg) {
		status = TOKEN_BAD_SIGNATURE;
		goto out;
	}

	errno = 0;
	long exp = jwt_get_grant_int(jwt, "exp");
	if (errno != 0 || exp < now - TOKEN_LEEWAY_SECONDS) {
		status = TOKEN_EXPIRED;
		goto out;
	}
	errno = 0;
	long nbf = jwt_get_grant_int(jwt, "nbf");
	if (errno == 0 && nbf > now + TOKEN_LEEWAY_SECONDS) {
		status = TOKEN_NOT_YET_VALID;
		goto out;
	}
	const char *sub = jwt_get_grant(jwt, "sub");
	if (sub == NULL || sub[0] == '\0' || strlen(sub) > TOKEN_SUBJECT_MAX) {
		status = TOKEN_NO_SUBJECT;
		goto out;
	}
	strcpy(claims->sub, sub);
	claims->exp = exp;
out:
	jwt_free(jwt);
	return status;
}

char *token_issue(const struct token_keys *keys, const char *sub, int64_t now, int64_t ttl)
{
	jwt_t *jwt = NULL;
	char *out = NULL;
	if (jwt_new(&jwt) != 0)
		return NULL;
	if (jwt_add_grant(jwt, "sub", sub) == 0 && jwt_add_grant_int(jwt, "iat", now) == 0 &&
	    jwt_add_grant_int(jwt, "exp", now + ttl) == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_HS256, keys->secret, (int)keys->secret_len) == 0)
		out = jwt_encode_str(jwt);
	jwt_free(jwt);
	return out;
}

const char *token_status_text(enum token_status status)
{
	switch (status) {
	case TOKEN_OK:
		return "valid";
	case TOKEN_MALFORMED:
		return "the token is malformed";
	case TOKEN_UNSUPPORTED_ALG:
		return "the token's algorithm is not accepted";
	case TOKEN_BAD_SIGNATURE:
		return "the token's signature is invalid";
	case TOKEN_EXPIRED:
		return "the token has expired";
	case TOKEN_NOT_YET_VALID:
		return "the token is not valid yet";
	case TOKEN_NO_SUBJECT:
		return "the token names no subject";
	}
	return "invalid token";
}

/* The "alg" of the token's header, compared exactly (libjwt's own lookup is
 * case-insensitive, so "None" would pass as none). */
static jwt_alg_t header_alg(const char *token)
{
	const char *dot = strchr(token, '.');
	if (dot == NULL || dot == token || (size_t)(dot - token) > HEADER_MAX)
		return JWT_ALG_INVAL;
	unsigned char raw[HEADER_MAX];
	size_t n;
	if (sodium_base642bin(raw, sizeof raw, token, (size_t)(dot - token), NULL, &n, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return JWT_ALG_INVAL;
	json_t *header = json_loadb((const char *)raw, n, 0, NULL);
	const char *alg = json_string_value(json_object_get(header, "alg"));
	jwt_alg_t out = JWT_ALG_INVAL;
	if (alg == NULL)
		out = JWT_ALG_INVAL;
	else if (strcmp(alg, "HS256") == 0)
		out = JWT_ALG_HS256;
	else if (strcmp(alg, "RS256") == 0)
		out = JWT_ALG_RS256;
	else if (strcmp(alg, "ES256") == 0)
		out = JWT_ALG_ES256;
	else
		out = JWT_ALG_NONE; /* any other algorithm is refused */
	json_decref(header);
	return out;
}
