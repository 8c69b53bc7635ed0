/* Unit tests for src/auth/token: issuing HS256 tokens and verifying them with
 * the algorithm pinned by the configured key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token.h"

#define NOW    INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define SECRET "test-secret-0123456789-abcdefghijklmnop"

static const struct token_keys hs_keys = {
    .secret = (const unsigned char *)SECRET,
    .secret_len = sizeof SECRET - 1,
};

/* An RSA key pair made once for the RS256 tests, plus an unrelated public key. */
struct rsa_fixture {
	char *private_pem;
	size_t private_len;
	char *public_pem;
	size_t public_len;
	char *other_public_pem;
	size_t other_public_len;
};
static struct rsa_fixture rsa;

/* ---- helpers ---------------------------------------------------------- */

static char *b64url(const void *data, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = malloc(cap);
	assert_non_null(out);
	sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/* "base64url(header).base64url(payload)" + "." + sig_part; the caller frees it. */
static char *assemble(const char *header, const char *payload, const char *sig_part)
{
	char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
	size_t len = strlen(h) + strlen(p) + strlen(sig_part) + 3;
	char *t = malloc(len);
	assert_non_null(t);
	snprintf(t, len, "%s.%s.%s", h, p, sig_part);
	free(h);
	free(p);
	return t;
}

/* A token signed by hand with HMAC-SHA256 over any header and payload text. */
static char *hand_hs256(const char *header, const char *payload, const void *key, size_t key_len)
{
	char *unsigned_part = assemble(header, payload, "");
	size_t n = strlen(unsigned_part) - 1; /* drop the trailing '.' */
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, (unsigned char *)unsigned_part, n,
	                     mac, &mac_len));
	char *sig = b64url(mac, mac_len);
	size_t len = n + 1 + strlen(sig) + 1;
	char *t = malloc(len);
	assert_non_null(t);
	snprintf(t, len, "%.*s.%s", (int)n, unsigned_part, sig);
	free(sig);
	free(unsigned_part);
	return t;
}

static char *hand_hs256_secret(const char *payload)
{
	return hand_hs256("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SECRET,
	                  sizeof SECRET - 1);
}

/* A token signed by libjwt with any algorithm and key. */
static char *libjwt_token(jwt_alg_t alg, const void *key, size_t key_len, const char *sub, long exp)
{
	jwt_t *jwt = NULL;
	assert_int_equal(jwt_new(&jwt), 0);
	if (sub)
		assert_int_equal(jwt_add_grant(jwt, "sub", sub), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "iat", (long)NOW), 0);
	if (exp)
		assert_int_equal(jwt_add_grant_int(jwt, "exp", exp), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, key, (int)key_len), 0);
	char *t = jwt_encode_str(jwt);
	assert_non_null(t);
	jwt_free(jwt);
	return t;
}

static enum token_status verify(const struct token_keys *keys, const char *token,
                                struct token_claims *claims)
{
	memset(claims, 0x55, sizeof *claims);
	enum token_status st = token_verify(keys, token, NOW, claims);
	if (st != TOKEN_OK)
		assert_string_equal(claims->sub, ""); /* nothing leaks out of a bad token */
	return st;
}

static void assert_verify(const struct token_keys *keys, const char *token,
                          enum token_status expected)
{
	struct token_claims claims;
	enum token_status st = verify(keys, token, &claims);
	if (st != expected)
		fail_msg("token_verify gave %d (%s), expected %d (%s) for %.120s", (int)st,
		         token_status_text(st), (int)expected, token_status_text(expected), token);
}

static void pem_from_bio(BIO *bio, char **out, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	*out = malloc((size_t)n + 1);
	assert_non_null(*out);
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	*len = (size_t)n;
}

static void make_rsa(char **priv, size_t *priv_len, char **pub, size_t *pub_len)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(pkey);
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(b, pkey), 1);
	pem_from_bio(b, pub, pub_len);
	BIO_free(b);
	if (priv) {
		b = BIO_new(BIO_s_mem());
		assert_int_equal(PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL), 1);
		pem_from_bio(b, priv, priv_len);
		BIO_free(b);
	}
	EVP_PKEY_free(pkey);
}

static int rsa_setup(void **state)
{
	(void)state;
	make_rsa(&rsa.private_pem, &rsa.private_len, &rsa.public_pem, &rsa.public_len);
	make_rsa(NULL, NULL, &rsa.other_public_pem, &rsa.other_public_len);
	return 0;
}

static int rsa_teardown(void **state)
{
	(void)state;
	free(rsa.private_pem);
	free(rsa.public_pem);
	free(rsa.other_public_pem);
	memset(&rsa, 0, sizeof rsa);
	return 0;
}

static struct token_keys rsa_keys(void)
{
	struct token_keys k = hs_keys;
	k.public_pem = (const unsigned char *)rsa.public_pem;
	k.public_pem_len = rsa.public_len;
	return k;
}

/* ---- HS256 issue and verify ------------------------------------------- */

static void test_issue_then_verify(void **state)
{
	(void)state;
	char *t = token_issue(&hs_keys, "user-123", NOW, 3600);
	assert_non_null(t);
	/* Three base64url parts. */
	const char *d1 = strchr(t, '.');
	assert_non_null(d1);
	const char *d2 = strchr(d1 + 1, '.');
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	assert_true(d2[1] != '\0');

	struct token_claims claims;
	assert_int_equal(verify(&hs_keys, t, &claims), TOKEN_OK);
	assert_string_equal(claims.sub, "user-123");
	assert_int_equal(claims.exp, NOW + 3600);

	/* libjwt agrees on the header and the claims. */
	jwt_t *jwt = NULL;
	assert_int_equal(jwt_decode(&jwt, t, (const unsigned char *)SECRET, sizeof SECRET - 1), 0);
	assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
	assert_int_equal(jwt_get_grant_int(jwt, "iat"), NOW);
	jwt_free(jwt);
	free(t);
}

static void test_expiry_and_leeway(void **state)
{
	(void)state;
	struct token_claims claims;
	char *t = token_issue(&hs_keys, "u", NOW - 100, 60); /* exp = NOW - 40 */
	assert_non_null(t);
	assert_int_equal(token_verify(&hs_keys, t, NOW, &claims), TOKEN_EXPIRED);
	/* Within the 30 s leeway it is still good. */
	assert_int_equal(token_verify(&hs_keys, t, NOW - 10, &claims), TOKEN_OK);     /* exp+30 */
	assert_int_equal(token_verify(&hs_keys, t, NOW - 9, &claims), TOKEN_EXPIRED); /* exp+31 */
	assert_int_equal(token_verify(&hs_keys, t, NOW - 41, &claims), TOKEN_OK);
	free(t);
}

static void test_wrong_secret(void **state)
{
	(void)state;
	char *t = token_issue(&hs_keys, "u", NOW, 3600);
	struct token_keys other = {.secret = (const unsigned char *)"another-secret",
	                           .secret_len = 14};
	assert_verify(&other, t, TOKEN_BAD_SIGNATURE);
	/* A secret that is a prefix of the right one is still wrong. */
	other.secret = hs_keys.secret;
	other.secret_len = hs_keys.secret_len - 1;
	assert_verify(&other, t, TOKEN_BAD_SIGNATURE);
	free(t);
}

static void test_tampered_token(void **state)
{
	(void)state;
	char *good = hand_hs256_secret("{\"sub\":\"alice\",\"exp\":1767229200}");
	assert_verify(&hs_keys, good, TOKEN_OK);
	/* Same signature over another subject. */
	char *evil = hand_hs256_secret("{\"sub\":\"admin\",\"exp\":1767229200}");
	char *sig = strrchr(good, '.'), *evil_sig = strrchr(evil, '.');
	assert_int_equal(strlen(sig), strlen(evil_sig));
	memcpy(evil_sig, sig, strlen(sig));
	assert_verify(&hs_keys, evil, TOKEN_BAD_SIGNATURE);
	/* Flip one signature character. */
	sig[1] = sig[1] == 'A' ? 'B' : 'A';
	assert_verify(&hs_keys, good, TOKEN_BAD_SIGNATURE);
	/* Drop the signature. */
	sig[1] = '\0';
	assert_verify(&hs_keys, good, TOKEN_BAD_SIGNATURE);
	free(good);
	free(evil);
}

static void test_missing_exp(void **state)
{
	(void)state;
	char *t = libjwt_token(JWT_ALG_HS256, SECRET, sizeof SECRET - 1, "u", 0);
	assert_verify(&hs_keys, t, TOKEN_EXPIRED);
	/* Missing is not "exp 0": it is expired whatever the clock says. */
	struct token_claims claims;
	assert_int_equal(token_verify(&hs_keys, t, 0, &claims), TOKEN_EXPIRED);
	free(t);
	/* exp of the wrong type is as good as missing. */
	t = hand_hs256_secret("{\"sub\":\"u\",\"exp\":\"1767229200\"}");
	assert_verify(&hs_keys, t, TOKEN_EXPIRED);
	free(t);
	t = hand_hs256_secret("{\"sub\":\"u\",\"exp\":1767229200.5}");
	assert_verify(&hs_keys, t, TOKEN_EXPIRED);
	free(t);
}

static void test_not_before(void **state)
{
	(void)state;
	char *t = hand_hs256_secret("{\"sub\":\"u\",\"exp\":1767229200,\"nbf\":1767225631}");
	assert_verify(&hs_keys, t, TOKEN_NOT_YET_VALID); /* NOW + 31 */
	free(t);
	t = hand_hs256_secret("{\"sub\":\"u\",\"exp\":1767229200,\"nbf\":1767225630}");
	assert_verify(&hs_keys, t, TOKEN_OK); /* NOW + 30: within the leeway */
	free(t);
	t = hand_hs256_secret("{\"sub\":\"u\",\"exp\":1767229200,\"nbf\":1767225000}");
	assert_verify(&hs_keys, t, TOKEN_OK);
	free(t);
}

static void test_far_future_exp(void **state)
{
	(void)state;
	/* A validly signed token whose exp is the largest integer: not expired.
	 * (The expiry comparison must not overflow.) */
	char *t = hand_hs256_secret("{\"sub\":\"u\",\"exp\":9223372036854775807}");
	struct token_claims claims;
	assert_int_equal(verify(&hs_keys, t, &claims), TOKEN_OK);
	assert_int_equal(claims.exp, INT64_MAX);
	free(t);
	t = hand_hs256_secret("{\"sub\":\"u\",\"exp\":-9223372036854775808}");
	assert_verify(&hs_keys, t, TOKEN_EXPIRED);
	free(t);
}

static void test_subject(void **state)
{
	(void)state;
	char *t = libjwt_token(JWT_ALG_HS256, SECRET, sizeof SECRET - 1, NULL, (long)NOW + 60);
	assert_verify(&hs_keys, t, TOKEN_NO_SUBJECT);
	free(t);
	t = hand_hs256_secret("{\"sub\":\"\",\"exp\":1767229200}");
	assert_verify(&hs_keys, t, TOKEN_NO_SUBJECT);
	free(t);
	t = hand_hs256_secret("{\"sub\":42,\"exp\":1767229200}");
	assert_verify(&hs_keys, t, TOKEN_NO_SUBJECT);
	free(t);

	/* 128 bytes fit, 129 do not. */
	char sub[TOKEN_SUBJECT_MAX + 2];
	memset(sub, 's', TOKEN_SUBJECT_MAX);
	sub[TOKEN_SUBJECT_MAX] = '\0';
	t = token_issue(&hs_keys, sub, NOW, 60);
	struct token_claims claims;
	assert_int_equal(verify(&hs_keys, t, &claims), TOKEN_OK);
	assert_string_equal(claims.sub, sub);
	free(t);
	sub[TOKEN_SUBJECT_MAX] = 's';
	sub[TOKEN_SUBJECT_MAX + 1] = '\0';
	t = token_issue(&hs_keys, sub, NOW, 60);
	assert_verify(&hs_keys, t, TOKEN_NO_SUBJECT);
	free(t);
}

/* ---- algorithms ------------------------------------------------------- */

static void test_alg_none(void **state)
{
	(void)state;
	static const char *const headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}",
	                                      "{\"alg\":\"None\",\"typ\":\"JWT\"}",
	                                      "{\"alg\":\"NONE\"}", "{\"alg\":\"nOnE\"}"};
	const char *payload = "{\"sub\":\"admin\",\"exp\":1767229200}";
	struct token_keys with_pem = rsa_keys();
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		char *t = assemble(headers[i], payload, "");
		assert_verify(&hs_keys, t, TOKEN_UNSUPPORTED_ALG);
		assert_verify(&with_pem, t, TOKEN_UNSUPPORTED_ALG);
		free(t);
		t = assemble(headers[i], payload, "junk");
		assert_verify(&hs_keys, t, TOKEN_UNSUPPORTED_ALG);
		free(t);
		/* Even with a real HS256 MAC over it. */
		t = hand_hs256(headers[i], payload, SECRET, sizeof SECRET - 1);
		assert_verify(&hs_keys, t, TOKEN_UNSUPPORTED_ALG);
		free(t);
	}
}

static void test_hs384_hs512_unsupported(void **state)
{
	(void)state;
	char *t = libjwt_token(JWT_ALG_HS384, SECRET, sizeof SECRET - 1, "u", (long)NOW + 60);
	assert_verify(&hs_keys, t, TOKEN_UNSUPPORTED_ALG);
	free(t);
	t = libjwt_token(JWT_ALG_HS512, SECRET, sizeof SECRET - 1, "u", (long)NOW + 60);
	assert_verify(&hs_keys, t, TOKEN_UNSUPPORTED_ALG);
	free(t);
	/* The header's name is compared exactly. */
	static const char *const headers[] = {"{\"alg\":\"hs256\"}", "{\"alg\":\"HS256 \"}",
	                                      "{\"alg\":\"PS256\"}", "{\"alg\":\"ES384\"}",
	                                      "{\"alg\":\"RS512\"}"};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		t = hand_hs256(headers[i], "{\"sub\":\"u\",\"exp\":1767229200}", SECRET,
		               sizeof SECRET - 1);
		assert_verify(&hs_keys, t, TOKEN_UNSUPPORTED_ALG);
		free(t);
	}
}

static void test_rs256_without_public_key(void **state)
{
	(void)state;
	char *t =
	    libjwt_token(JWT_ALG_RS256, rsa.private_pem, rsa.private_len, "u", (long)NOW + 60);
	assert_verify(&hs_keys, t, TOKEN_UNSUPPORTED_ALG);
	struct token_keys empty_pem = hs_keys;
	empty_pem.public_pem = (const unsigned char *)"";
	empty_pem.public_pem_len = 0;
	assert_verify(&empty_pem, t, TOKEN_UNSUPPORTED_ALG);
	free(t);
}

static void test_rs256_ok(void **state)
{
	(void)state;
	struct token_keys keys = rsa_keys();
	char *t = libjwt_token(JWT_ALG_RS256, rsa.private_pem, rsa.private_len, "rsa-user",
	                       (long)NOW + 600);
	struct token_claims claims;
	assert_int_equal(verify(&keys, t, &claims), TOKEN_OK);
	assert_string_equal(claims.sub, "rsa-user");
	assert_int_equal(claims.exp, NOW + 600);
	/* The same claims rules apply to RS256. */
	assert_int_equal(token_verify(&keys, t, NOW + 631, &claims), TOKEN_EXPIRED);
	/* HS256 tokens still verify against the secret alongside. */
	char *hs = token_issue(&keys, "hs-user", NOW, 60);
	assert_int_equal(verify(&keys, hs, &claims), TOKEN_OK);
	assert_string_equal(claims.sub, "hs-user");
	free(hs);
	free(t);
}

static void test_rs256_wrong_public_key(void **state)
{
	(void)state;
	struct token_keys keys = hs_keys;
	keys.public_pem = (const unsigned char *)rsa.other_public_pem;
	keys.public_pem_len = rsa.other_public_len;
	char *t =
	    libjwt_token(JWT_ALG_RS256, rsa.private_pem, rsa.private_len, "u", (long)NOW + 60);
	assert_verify(&keys, t, TOKEN_BAD_SIGNATURE);
	free(t);
}

static void test_algorithm_confusion(void **state)
{
	(void)state;
	struct token_keys keys = rsa_keys();
	/* The classic attack: HS256 keyed with the server's public key text. */
	char *t =
	    libjwt_token(JWT_ALG_HS256, rsa.public_pem, rsa.public_len, "admin", (long)NOW + 600);
	/* Sanity: the token really is HMAC'd with the PEM text. */
	jwt_t *jwt = NULL;
	assert_int_equal(
	    jwt_decode(&jwt, t, (const unsigned char *)rsa.public_pem, (int)rsa.public_len), 0);
	jwt_free(jwt);
	struct token_claims claims;
	enum token_status st = verify(&keys, t, &claims);
	assert_int_not_equal(st, TOKEN_OK);
	assert_int_equal(st, TOKEN_BAD_SIGNATURE);
	assert_string_equal(claims.sub, "");
	free(t);

	/* The mirror image: an RS256 header over an HMAC made with the PEM. */
	t = hand_hs256("{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
	               "{\"sub\":\"admin\",\"exp\":1767229200}", rsa.public_pem, rsa.public_len);
	assert_verify(&keys, t, TOKEN_BAD_SIGNATURE);
	free(t);

	/* An ES256 header checked against an RSA key never passes. */
	t = hand_hs256("{\"alg\":\"ES256\"}", "{\"sub\":\"admin\",\"exp\":1767229200}",
	               rsa.public_pem, rsa.public_len);
	assert_verify(&keys, t, TOKEN_BAD_SIGNATURE);
	free(t);
}

/* ---- malformed input -------------------------------------------------- */

static void test_malformed(void **state)
{
	(void)state;
	struct token_keys keys = rsa_keys();
	assert_verify(&keys, "", TOKEN_MALFORMED);
	assert_verify(&keys, "abc", TOKEN_MALFORMED);
	assert_verify(&keys, ".", TOKEN_MALFORMED);
	assert_verify(&keys, "..", TOKEN_MALFORMED);
	assert_verify(&keys, ".a.b", TOKEN_MALFORMED);
	assert_verify(&keys, "!!!.a.b", TOKEN_MALFORMED);
	assert_verify(&keys, "eyJhbGciOiJIUzI1NiJ9", TOKEN_MALFORMED); /* header, no dot */
	assert_verify(&keys, "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", TOKEN_MALFORMED);
	assert_verify(&keys, "eyJhbGciOiJIUzI1NiJ9=.e30.x", TOKEN_MALFORMED); /* padding */
	assert_verify(&keys, "a.b.c", TOKEN_MALFORMED);

	/* A header that is not JSON, has no alg or a non-string alg. */
	char *t = assemble("not json", "{}", "sig");
	assert_verify(&keys, t, TOKEN_MALFORMED);
	free(t);
	t = assemble("{\"typ\":\"JWT\"}", "{}", "sig");
	assert_verify(&keys, t, TOKEN_MALFORMED);
	free(t);
	t = assemble("{\"alg\":256}", "{}", "sig");
	assert_verify(&keys, t, TOKEN_MALFORMED);
	free(t);
	t = assemble("[\"HS256\"]", "{}", "sig");
	assert_verify(&keys, t, TOKEN_MALFORMED);
	free(t);

	struct token_claims claims;
	assert_int_equal(token_verify(&keys, NULL, NOW, &claims), TOKEN_MALFORMED);

	/* Over-long tokens are refused before any parsing. */
	char *huge = malloc(9000);
	assert_non_null(huge);
	memset(huge, 'A', 8999);
	huge[8999] = '\0';
	huge[10] = '.';
	assert_verify(&keys, huge, TOKEN_MALFORMED);
	free(huge);
	/* A header too long to be one. */
	char *long_header = malloc(2100);
	assert_non_null(long_header);
	memset(long_header, 'e', 2000);
	strcpy(long_header + 2000, ".e30.x");
	assert_verify(&keys, long_header, TOKEN_MALFORMED);
	free(long_header);
}

static void test_malformed_after_valid_header(void **state)
{
	(void)state;
	/* A good HS256 header followed by junk: the signature check refuses it. */
	static const char *const tails[] = {
	    "", ".", "e30", "e30.", "!!!.sig", "e30.!!!", "bm90IGpzb24.c2ln", "e30.sig.extra"};
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		char t[128];
		snprintf(t, sizeof t, "eyJhbGciOiJIUzI1NiJ9.%s", tails[i]);
		struct token_claims claims;
		enum token_status st = verify(&hs_keys, t, &claims);
		if (st != TOKEN_MALFORMED && st != TOKEN_BAD_SIGNATURE)
			fail_msg("\"%s\" gave %s", t, token_status_text(st));
	}
	/* A payload that is not JSON, correctly signed, is still refused. */
	char *t = hand_hs256_secret("not json");
	struct token_claims claims;
	enum token_status st = verify(&hs_keys, t, &claims);
	assert_true(st == TOKEN_MALFORMED || st == TOKEN_BAD_SIGNATURE);
	free(t);
}

static void test_status_text(void **state)
{
	(void)state;
	static const enum token_status all[] = {
	    TOKEN_OK,      TOKEN_MALFORMED,     TOKEN_UNSUPPORTED_ALG, TOKEN_BAD_SIGNATURE,
	    TOKEN_EXPIRED, TOKEN_NOT_YET_VALID, TOKEN_NO_SUBJECT};
	const size_t n = sizeof all / sizeof all[0];
	for (size_t i = 0; i < n; i++) {
		const char *a = token_status_text(all[i]);
		assert_non_null(a);
		assert_true(a[0] != '\0');
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(a, token_status_text(all[k]));
	}
	assert_string_equal(token_status_text(TOKEN_EXPIRED), "the token has expired");
	assert_string_equal(token_status_text((enum token_status)99), "invalid token");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_issue_then_verify),
	    cmocka_unit_test(test_expiry_and_leeway),
	    cmocka_unit_test(test_wrong_secret),
	    cmocka_unit_test(test_tampered_token),
	    cmocka_unit_test(test_missing_exp),
	    cmocka_unit_test(test_not_before),
	    cmocka_unit_test(test_far_future_exp),
	    cmocka_unit_test(test_subject),
	    cmocka_unit_test(test_alg_none),
	    cmocka_unit_test(test_hs384_hs512_unsupported),
	    cmocka_unit_test(test_rs256_without_public_key),
	    cmocka_unit_test(test_rs256_ok),
	    cmocka_unit_test(test_rs256_wrong_public_key),
	    cmocka_unit_test(test_algorithm_confusion),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_malformed_after_valid_header),
	    cmocka_unit_test(test_status_text),
	};
	return cmocka_run_group_tests(tests, rsa_setup, rsa_teardown);
}
