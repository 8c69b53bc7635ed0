#include "core/uuid.h"

#include <sodium.h>
#include <string.h>

/* Drawn from the kernel 512 bytes at a time: one getrandom per UUID was a
 * system call on every request. Each thread has its own pool, touched by
 * that thread only. */
#define POOL_SIZE 512
static _Thread_local unsigned char pool[POOL_SIZE];
static _Thread_local size_t pool_used = POOL_SIZE;

void uuid_v4(char out[UUID_TEXT_LEN])
{
	static const char hex[] = "0123456789abcdef";
	if (pool_used + 16 > POOL_SIZE) {
		randombytes_buf(pool, sizeof pool);
		pool_used = 0;
	}
	unsigned char b[16];
	memcpy(b, pool + pool_used, sizeof b);
	sodium_memzero(pool + pool_used, sizeof b); /* each byte serves once */
	pool_used += sizeof b;
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 0x0f];
	}
	*p = '\0';
}

bool uuid_text_valid(const char *s)
{
	if (strlen(s) != UUID_TEXT_LEN - 1)
		return false;
	for (int i = 0; i < UUID_TEXT_LEN - 1; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];
		bool hex =
		    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (dash ? c != '-' : !hex)
			return false;
	}
	return true;
}
