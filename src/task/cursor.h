/* The opaque `cursor` of GET /api/{user_id}/tasks: the sort it belongs to and
 * the (sort key, id) of the last row of the previous page. */
#ifndef TASKFLOW_TASK_CURSOR_H
#define TASKFLOW_TASK_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum task_sort {
	SORT_CREATED_AT,
	SORT_UPDATED_AT,
	SORT_DUE_DATE,
	SORT_PRIORITY,
	SORT_TITLE,
};

/* The key of a title sort is the lower-cased title: up to 500 characters of
 * up to 4 bytes each. */
#define CURSOR_KEY_MAX  2048
#define CURSOR_TEXT_MAX 2900 /* base64 of the encoded form */

struct cursor {
	enum task_sort sort;
	bool descending;
	int64_t id;
	/* Microseconds since the epoch for the time sorts ("inf" for a task
	 * without a due date), the rank 1..3 for priority, the lower-cased title. */
	char key[CURSOR_KEY_MAX + 1];
};

/* Returns false when the key is too long for a cursor. */
bool cursor_encode(const struct cursor *c, char *out, size_t cap);

/* Returns false for anything cursor_encode could not have produced. */
bool cursor_decode(const char *text, struct cursor *c);

#endif
