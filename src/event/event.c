#include "event/event.h"

#include <stdbool.h>
#include <string.h>

#include "core/jsonx.h"
#include "core/strbuf.h"

static bool differ(const char *a, const char *b);

const char *event_type_name(enum event_type type)
{
	switch (type) {
	case EVENT_TASK_CREATED:
		return "task.created";
	case EVENT_TASK_UPDATED:
		return "task.updated";
	case EVENT_TASK_COMPLETED:
		return "task.completed";
	case EVENT_TASK_UNCOMPLETED:
		return "task.uncompleted";
	case EVENT_TASK_DELETED:
		return "task.deleted";
	}
	return "task.unknown";
}

char *event_task_data(const struct task_row *after, const struct task_row *before)
{
	struct strbuf b = {0};
	strbuf_append(&b, "{\"task\":");
	task_row_write_json(&b, after);
	if (before) {
		const struct {
			const char *name, *was, *now;
		} fields[] = {
		    {"title", before->title, after->title},
		    {"description", before->description, after->description},
		    {"completed", before->completed, after->completed},
		    {"priority", before->priority, after->priority},
		    {"tags", before->tags_json, after->tags_json},
		    {"due_date", before->due_date_us, after->due_date_us},
		};
		strbuf_append(&b, ",\"changed_fields\":[");
		bool first = true;
		for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
			if (!differ(fields[i].was, fields[i].now))
				continue;
			strbuf_append(&b, first ? "\"" : ",\"");
			strbuf_append(&b, fields[i].name);
			strbuf_append(&b, "\"");
			first = false;
		}
		strbuf_append(&b, "]");
	}
	strbuf_append(&b, "}");
	return strbuf_steal(&b);
}

/* Written directly, `data` spliced in as it is: parsing it and printing it
 * again with jansson was most of the relay thread's CPU per event. */
char *event_cloudevent(const struct event_record *e, size_t *len)
{
	const struct {
		const char *name, *value;
	} fields[] = {
	    {"specversion", "1.0"},
	    {"id", e->event_id},
	    {"type", e->event_type},
	    {"source", EVENT_SOURCE},
	    {"subject", e->aggregate_id},
	    {"time", e->time},
	    {"datacontenttype", "application/json"},
	    {"userid", e->user_id},
	    {"correlationid", e->correlation_id},
	};
	struct strbuf b = {0};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (fields[i].value == NULL)
			continue;
		strbuf_append(&b, i ? ",\"" : "{\"");
		strbuf_append(&b, fields[i].name);
		strbuf_append(&b, "\":");
		jsonx_append_string(&b, fields[i].value);
	}
	strbuf_printf(&b, ",\"seq\":%lld,\"eventversion\":%d,\"data\":", (long long)e->seq,
	              e->version);
	strbuf_append(&b, e->data);
	strbuf_append(&b, "}");
	*len = b.len;
	return strbuf_steal(&b);
}

static bool differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}
