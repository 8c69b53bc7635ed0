/* Password hashing with argon2id (libsodium). CPU- and memory-heavy by
 * design: call it on a worker thread, never on an event loop. */
#ifndef TASKFLOW_AUTH_PASSWORD_H
#define TASKFLOW_AUTH_PASSWORD_H

#include <sodium.h>
#include <stdbool.h>

#define PASSWORD_HASH_MAX crypto_pwhash_STRBYTES

bool password_hash(const char *password, char out[PASSWORD_HASH_MAX]);
bool password_verify(const char *hash, const char *password);
/* Costs what a verify costs; spent when the account does not exist so that
 * timing does not tell which emails have accounts. */
void password_verify_dummy(const char *password);

#endif
