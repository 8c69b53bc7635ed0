#include "core/uuid.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void uuid_v4(char out[UUID_TEXT_LEN])
{
	unsigned char b[16];
	randombytes_buf(b, sizeof b);
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(out, UUID_TEXT_LEN,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
	         b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	         b[15]);
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
