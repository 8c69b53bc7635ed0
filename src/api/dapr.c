/* The routes the Dapr sidecar calls (docs: ../shared/docs/dapr-contract.md
 * §2.1, §2.3, §4.1): the subscription list, event deliveries for the work
 * and broadcast subscriptions, and the cron binding. Without USE_DAPR they
 * do not exist (404). With APP_API_TOKEN set, each call must carry it in
 * dapr-api-token. */
#include "api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "bus/consumer.h"
#include "bus/relay.h"
#include "realtime/hub.h"

struct event_job {
	struct call_job base;
	char consumer[160];
	struct delivered_event event;
	enum subscription kind;
};

static bool dapr_call_allowed(struct call *c);
static void reply_status(struct reply *r, const char *status);
static void event_start(struct call_job *base, struct db_conn *conn);
static void event_result(struct call_job *base, struct db_conn *conn, PGresult *r);

void api_dapr_subscribe(struct call *c)
{
	const struct config *cfg = c->app->cfg;
	if (!dapr_call_allowed(c))
		return;
	struct reply r = {0};
	reply_json(&r, 200,
	           json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "pubsubname", cfg->pubsub_name,
	                     "topic", cfg->events_topic, "route", "/dapr/events/work", "pubsubname",
	                     cfg->broadcast_pubsub_name, "topic", cfg->events_topic, "route",
	                     "/dapr/events/broadcast"));
	call_respond(c, &r);
}

/* No actors here: Dapr takes 404 as "no app configuration". */
void api_dapr_config(struct call *c)
{
	call_respond_error(c, 404, "not_found", "no app configuration", NULL);
}

/* A delivery: 200 with SUCCESS (handled now or before), RETRY (the
 * database is down) or DROP (not an event of ours: retrying cannot help). */
void api_dapr_event(struct call *c, bool broadcast)
{
	if (!dapr_call_allowed(c))
		return;
	h2o_req_t *req = c->req;
	struct event_job *job = call_job_new(c, sizeof *job);
	job->kind = broadcast ? SUBSCRIPTION_BROADCAST : SUBSCRIPTION_WORK;
	consumer_name(job->kind, c->app->cfg->instance_id, job->consumer, sizeof job->consumer);
	if (req->entity.base == NULL || req->entity.len > CALL_MAX_BODY ||
	    !consumer_parse(req->entity.base, req->entity.len, &job->event)) {
		reply_status(&job->base.reply, "DROP");
		call_job_finish(&job->base);
		return;
	}
	call_job_query(&job->base, event_start, event_result);
}

static void event_start(struct call_job *base, struct db_conn *conn)
{
	struct event_job *job = (struct event_job *)base;
	if (conn == NULL) {
		reply_status(&base->reply, "RETRY");
		call_job_finish(base);
		return;
	}
	struct receipts_params p;
	consumer_receipts_params(&p, job->consumer, &job->event, 1);
	db_send(conn, CONSUMER_RECEIPTS_SQL, 4, p.values); /* libpq has copied them */
	consumer_receipts_params_free(&p);
}

static void event_result(struct call_job *base, struct db_conn *conn, PGresult *r)
{
	(void)conn;
	struct event_job *job = (struct event_job *)base;
	enum delivery d;
	consumer_receipts_outcomes(r, job->consumer, &job->event, 1, &d);
	PQclear(r);
	if (job->base.call)
		consumer_forward_live(job->kind, d, &job->event, job->base.call->req->entity.base,
		                      job->base.call->req->entity.len);
	reply_status(&base->reply, d == DELIVERY_DONE   ? "SUCCESS"
	                           : d == DELIVERY_DROP ? "DROP"
	                                                : "RETRY");
	call_job_finish(base);
}

/* The cron binding's tick runs the due jobs. Every replica's sidecar fires
 * its own, so each job must be safe to run concurrently: the outbox sweep
 * only wakes the relay, and only the leader publishes. */
void api_dapr_cron(struct call *c)
{
	if (!dapr_call_allowed(c))
		return;
	relay_wake(c->app->relay);
	struct reply r = {0};
	reply_json(&r, 200, json_pack("{s:s}", "status", "ok"));
	call_respond(c, &r);
}

static bool dapr_call_allowed(struct call *c)
{
	const struct config *cfg = c->app->cfg;
	if (!cfg->use_dapr) {
		call_respond_error(c, 404, "not_found", "no such resource", NULL);
		return false;
	}
	if (cfg->app_api_token == NULL)
		return true;
	const h2o_iovec_t *given = call_header(c, "dapr-api-token");
	size_t want = strlen(cfg->app_api_token);
	/* Constant time in the token's content; its length is no secret. */
	if (given == NULL || given->len != want ||
	    sodium_memcmp(given->base, cfg->app_api_token, want) != 0) {
		call_respond_error(c, 401, "unauthorized", "a valid dapr-api-token is required",
		                   NULL);
		return false;
	}
	return true;
}

static void reply_status(struct reply *r, const char *status)
{
	reply_json(r, 200, json_pack("{s:s}", "status", status));
}
