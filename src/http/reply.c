#include "http/reply.h"

#include <stdlib.h>

#include "core/jsonx.h"
#include "task/task.h"

void reply_json(struct reply *r, int status, json_t *body)
{
	free(r->body);
	r->status = status;
	r->body = body ? jsonx_dump_steal(body, &r->body_len) : NULL;
	if (!body)
		r->body_len = 0;
}

void reply_raw(struct reply *r, int status, char *json, size_t len)
{
	free(r->body);
	r->status = status;
	r->body = json;
	r->body_len = len;
}

void reply_error(struct reply *r, int status, const char *code, const char *message,
                 const char *field)
{
	reply_json(r, status, jsonx_error(code, message, field));
}

void reply_api_error(struct reply *r, const struct api_error *e)
{
	reply_error(r, e->status, e->code, e->message, e->field[0] ? e->field : NULL);
}

void reply_free(struct reply *r)
{
	free(r->body);
	free(r->location);
	r->body = r->location = NULL;
}
