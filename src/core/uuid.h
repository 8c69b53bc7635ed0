/* Random (version 4) UUIDs, as text. Thread-safe. */
#ifndef TASKFLOW_CORE_UUID_H
#define TASKFLOW_CORE_UUID_H

#define UUID_TEXT_LEN 37 /* 36 characters and a NUL */

void uuid_v4(char out[UUID_TEXT_LEN]);

#endif
