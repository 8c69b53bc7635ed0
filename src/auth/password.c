#include "auth/password.h"

#include <pthread.h>
#include <string.h>

/* Interactive limits: about 64 MiB and tens of milliseconds per hash. */
#define OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

bool password_hash(const char *password, char out[PASSWORD_HASH_MAX])
{
	return crypto_pwhash_str_alg(out, password, strlen(password), OPSLIMIT, MEMLIMIT,
	                             crypto_pwhash_ALG_ARGON2ID13) == 0;
}

bool password_verify(const char *hash, const char *password)
{
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

/* Written once by the first caller under pthread_once; read-only after. */
static char dummy_hash[PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy_hash(void)
{
	password_hash("taskflow-no-such-account", dummy_hash);
}

void password_verify_dummy(const char *password)
{
	pthread_once(&dummy_once, make_dummy_hash);
	(void)password_verify(dummy_hash, password);
}
