/* The API's handlers, one file per resource. Each runs on an event-loop
 * thread, answers at once or submits a call_job to the database pool. */
#ifndef TASKFLOW_API_API_H
#define TASKFLOW_API_API_H

#include "http/call.h"

/* Runs the handler of c->route (already matched, method allowed). */
void api_dispatch(struct call *c);

void api_health(struct call *c);
void api_ready(struct call *c);

void api_sign_up(struct call *c);
void api_sign_in(struct call *c);
void api_me(struct call *c);

/* The routes the Dapr sidecar calls (USE_DAPR=true; 404 otherwise). */
void api_dapr_subscribe(struct call *c);
void api_dapr_config(struct call *c);
void api_dapr_event(struct call *c, bool broadcast);
void api_dapr_cron(struct call *c);

/* GET /ws/user/{user_id}/tasks: the live sync WebSocket. */
void api_realtime(struct call *c);

void api_tasks_list(struct call *c);
void api_tasks_create(struct call *c);
void api_task_get(struct call *c);
void api_task_update(struct call *c);
void api_task_delete(struct call *c);
void api_task_complete(struct call *c);

/* The reply for a store failure: 503 when the database is unreachable, a
 * 500 that shows nothing of the cause otherwise. */
struct reply;
void api_reply_store_failure(struct reply *r, int store_result);

/* For a job's start step: with no connection lent (the database is down),
 * answers 503, finishes the job and returns true. */
bool api_finish_if_down(struct call_job *job, struct db_conn *conn);

#endif
