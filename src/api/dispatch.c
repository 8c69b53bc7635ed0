#include "api/api.h"

#include "store/tasks_sql.h"

void api_dispatch(struct call *c)
{
	bool read = c->method == METHOD_GET || c->method == METHOD_HEAD;
	switch (c->route.route) {
	case ROUTE_HEALTH:
		api_health(c);
		return;
	case ROUTE_READY:
		api_ready(c);
		return;
	case ROUTE_SIGN_UP:
		api_sign_up(c);
		return;
	case ROUTE_SIGN_IN:
		api_sign_in(c);
		return;
	case ROUTE_ME:
		api_me(c);
		return;
	case ROUTE_TASKS:
		if (read)
			api_tasks_list(c);
		else
			api_tasks_create(c);
		return;
	case ROUTE_TASK:
		if (read)
			api_task_get(c);
		else if (c->method == METHOD_DELETE)
			api_task_delete(c);
		else
			api_task_update(c);
		return;
	case ROUTE_TASK_COMPLETE:
		api_task_complete(c);
		return;
	case ROUTE_DAPR_SUBSCRIBE:
		api_dapr_subscribe(c);
		return;
	case ROUTE_DAPR_CONFIG:
		api_dapr_config(c);
		return;
	case ROUTE_DAPR_EVENTS_WORK:
	case ROUTE_DAPR_EVENTS_BROADCAST:
		api_dapr_event(c, c->route.route == ROUTE_DAPR_EVENTS_BROADCAST);
		return;
	case ROUTE_DAPR_CRON:
		api_dapr_cron(c);
		return;
	case ROUTE_REALTIME:
		api_realtime(c);
		return;
	case ROUTE_NONE:
		break;
	}
	call_respond_error(c, 404, "not_found", "no such resource", NULL);
}

bool api_finish_if_down(struct call_job *job, struct db_conn *conn)
{
	if (conn)
		return false;
	api_reply_store_failure(&job->reply, STORE_UNAVAILABLE);
	call_job_finish(job);
	return true;
}

void api_reply_store_failure(struct reply *r, int store_result)
{
	if (store_result == STORE_UNAVAILABLE)
		reply_error(r, 503, "unavailable", "the database is unavailable; try again", NULL);
	else
		reply_error(r, 500, "internal_error", "internal error", NULL);
}
