/* Random (version 4) UUIDs, as text. Thread-safe. */
#ifndef TASKFLOW_CORE_UUID_H
#define TASKFLOW_CORE_UUID_H

#include <stdbool.h>

#define UUID_TEXT_LEN 37 /* 36 characters and a NUL */

void uuid_v4(char out[UUID_TEXT_LEN]);

/* True for the 8-4-4-4-12 hexadecimal form PostgreSQL's uuid type reads. */
bool uuid_text_valid(const char *s);

#endif
