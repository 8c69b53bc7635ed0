#include "core/uuid.h"

#include <sodium.h>
#include <stdio.h>

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
