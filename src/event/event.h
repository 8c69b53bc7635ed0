/* Task events: their types, the data they carry, and their CloudEvents 1.0
 * form on the bus (docs/events.md). Pure. */
#ifndef TASKFLOW_EVENT_EVENT_H
#define TASKFLOW_EVENT_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "task/task.h"

#define EVENT_SCHEMA_VERSION 1
#define EVENT_SOURCE         "taskflow"

enum event_type {
	EVENT_TASK_CREATED,
	EVENT_TASK_UPDATED,
	EVENT_TASK_COMPLETED,
	EVENT_TASK_UNCOMPLETED,
	EVENT_TASK_DELETED,
};

const char *event_type_name(enum event_type type);

/* {"task": <after>, "changed_fields": [...]}: changed_fields (the task
 * fields whose value differs) only when `before` is given. malloc'd. */
char *event_task_data(const struct task_row *after, const struct task_row *before);

/* An event as the event log keeps it. */
struct event_record {
	const char *event_id;
	const char *event_type;
	const char *user_id;
	const char *aggregate_id;
	const char *time;           /* ISO 8601, UTC, milliseconds */
	const char *correlation_id; /* may be NULL */
	const char *data;           /* a JSON object */
	int64_t seq;
	int version;
};

/* The structured-mode CloudEvent (application/cloudevents+json); malloc'd.
 * `data` must be a JSON object, as the event log's jsonb column hands out. */
char *event_cloudevent(const struct event_record *e, size_t *len);

#endif
