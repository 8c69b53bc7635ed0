/* A fast non-cryptographic string hash (FNV-1a, 64 bits) for in-memory
 * tables: the statement cache, the live sync sockets by user. */
#ifndef TASKFLOW_CORE_HASH_H
#define TASKFLOW_CORE_HASH_H

#include <stdint.h>

uint64_t hash_string(const char *s);

#endif
