/* The Dapr bus: publishing through the sidecar's pub/sub API, on the
 * relay's thread (../shared/docs/dapr-contract.md §1.1, §6, §7). The
 * subscriptions are routes of ours that the sidecar calls (api/dapr.c).
 * A thread of its own watches GET /v1.0/healthz/outbound for /ready: the
 * server opens its port first and never waits for the sidecar, which
 * itself waits for the app port before it is fully healthy. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "core/log.h"

#define PUBLISH_TIMEOUT_MS 5000
#define HEALTH_INTERVAL_MS 2000

enum sidecar_state { SIDECAR_WAITING, SIDECAR_OK, SIDECAR_DOWN };

struct dapr_bus {
	struct bus base;
	const struct config *cfg;
	CURL *publisher; /* the relay thread's: one kept-alive connection */
	struct curl_slist *headers;
	char publish_url[512];
	atomic_int sidecar; /* enum sidecar_state, written by the watcher */
	atomic_bool stopping;
	pthread_t watcher;
	pthread_mutex_t lock; /* with `wake`: lets destroy interrupt the watcher's sleep */
	pthread_cond_t wake;
};

static int dapr_publish(struct bus *bus, const struct bus_event *events, int n, char *err,
                        size_t errlen);
static const char *dapr_health(struct bus *bus);
static void dapr_destroy(struct bus *bus);
static void *watch_sidecar(void *arg);
static size_t keep_body(char *data, size_t size, size_t n, void *out);

struct bus *bus_dapr_create(const struct config *cfg, char *err, size_t errlen)
{
	struct dapr_bus *b = calloc(1, sizeof *b);
	if (b == NULL)
		abort();
	b->base = (struct bus){"dapr", dapr_publish, dapr_health, dapr_destroy};
	b->cfg = cfg;
	b->publisher = curl_easy_init();
	char *pubsub = curl_easy_escape(b->publisher, cfg->pubsub_name, 0);
	char *topic = curl_easy_escape(b->publisher, cfg->events_topic, 0);
	snprintf(b->publish_url, sizeof b->publish_url,
	         "http://127.0.0.1:%d/v1.0/publish/%s/%s?metadata.partitionKey=",
	         cfg->dapr_http_port, pubsub, topic);
	curl_free(pubsub);
	curl_free(topic);
	b->headers = curl_slist_append(NULL, "Content-Type: application/cloudevents+json");
	if (cfg->dapr_api_token) {
		char h[512];
		snprintf(h, sizeof h, "dapr-api-token: %s", cfg->dapr_api_token);
		b->headers = curl_slist_append(b->headers, h);
	}
	curl_easy_setopt(b->publisher, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(b->publisher, CURLOPT_TIMEOUT_MS, (long)PUBLISH_TIMEOUT_MS);
	curl_easy_setopt(b->publisher, CURLOPT_HTTPHEADER, b->headers);
	curl_easy_setopt(b->publisher, CURLOPT_WRITEFUNCTION, keep_body);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->wake, NULL);
	if (pthread_create(&b->watcher, NULL, watch_sidecar, b) != 0) {
		snprintf(err, errlen, "cannot start the sidecar watcher");
		dapr_destroy(&b->base);
		return NULL;
	}
	if (cfg->app_api_token == NULL)
		log_warn("USE_DAPR=true without APP_API_TOKEN: anyone who reaches the app port can "
		         "call the subscription and cron routes");
	log_fields(LOG_INFO, "event bus: Dapr sidecar", "i:port", (long long)cfg->dapr_http_port,
	           "s:pubsub", cfg->pubsub_name, "s:topic", cfg->events_topic, NULL);
	return &b->base;
}

/* One POST each, in order; the first that is not 204 ends the batch (the
 * relay retries from it, so a user's events never overtake each other). */
static int dapr_publish(struct bus *bus, const struct bus_event *events, int n, char *err,
                        size_t errlen)
{
	struct dapr_bus *b = (struct dapr_bus *)bus;
	char url[1024];
	for (int i = 0; i < n; i++) {
		char *key = curl_easy_escape(b->publisher, events[i].user_id, 0);
		snprintf(url, sizeof url, "%s%s", b->publish_url, key);
		curl_free(key);
		char body[256] = "";
		curl_easy_setopt(b->publisher, CURLOPT_URL, url);
		curl_easy_setopt(b->publisher, CURLOPT_POSTFIELDS, events[i].cloudevent);
		curl_easy_setopt(b->publisher, CURLOPT_POSTFIELDSIZE, (long)events[i].len);
		curl_easy_setopt(b->publisher, CURLOPT_WRITEDATA, body);
		CURLcode rc = curl_easy_perform(b->publisher);
		long status = 0;
		curl_easy_getinfo(b->publisher, CURLINFO_RESPONSE_CODE, &status);
		if (rc != CURLE_OK || status != 204) {
			if (rc != CURLE_OK)
				snprintf(err, errlen, "sidecar: %s", curl_easy_strerror(rc));
			else
				snprintf(err, errlen, "sidecar answered %ld: %.160s", status, body);
			return i;
		}
	}
	return n;
}

static const char *dapr_health(struct bus *bus)
{
	struct dapr_bus *b = (struct dapr_bus *)bus;
	switch (atomic_load(&b->sidecar)) {
	case SIDECAR_OK:
		return "ok";
	case SIDECAR_WAITING:
		return "waiting for the sidecar";
	default:
		return "sidecar unreachable";
	}
}

static void dapr_destroy(struct bus *bus)
{
	struct dapr_bus *b = (struct dapr_bus *)bus;
	pthread_mutex_lock(&b->lock);
	atomic_store(&b->stopping, true);
	pthread_cond_broadcast(&b->wake);
	pthread_mutex_unlock(&b->lock);
	if (b->watcher)
		pthread_join(b->watcher, NULL);
	curl_easy_cleanup(b->publisher);
	curl_slist_free_all(b->headers);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->wake);
	free(b);
}

/* Polls the sidecar's outbound health (no token needed, §6) for /ready,
 * and says once when it is up or when start-up waited DAPR_WAIT_MS in vain. */
static void *watch_sidecar(void *arg)
{
	struct dapr_bus *b = arg;
	CURL *probe = curl_easy_init();
	char url[128], body[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1.0/healthz/outbound",
	         b->cfg->dapr_http_port);
	curl_easy_setopt(probe, CURLOPT_URL, url);
	curl_easy_setopt(probe, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(probe, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(probe, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(probe, CURLOPT_WRITEDATA, body);
	struct timespec started;
	clock_gettime(CLOCK_MONOTONIC, &started);
	bool warned = false;
	int interval = 250; /* fast while starting, as the contract recommends */

	pthread_mutex_lock(&b->lock);
	while (!atomic_load(&b->stopping)) {
		pthread_mutex_unlock(&b->lock);
		long status = 0;
		if (curl_easy_perform(probe) == CURLE_OK)
			curl_easy_getinfo(probe, CURLINFO_RESPONSE_CODE, &status);
		int before = atomic_exchange(
		    &b->sidecar, status == 204                                 ? SIDECAR_OK
		                 : atomic_load(&b->sidecar) == SIDECAR_WAITING ? SIDECAR_WAITING
		                                                               : SIDECAR_DOWN);
		if (status == 204 && before != SIDECAR_OK) {
			log_info("Dapr sidecar is ready");
			interval = HEALTH_INTERVAL_MS;
		} else if (status != 204 && before == SIDECAR_OK) {
			log_warn("Dapr sidecar stopped answering its health check");
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long waited = (now.tv_sec - started.tv_sec) * 1000;
		if (status != 204 && !warned && before == SIDECAR_WAITING &&
		    waited >= b->cfg->dapr_wait_ms) {
			log_fields(LOG_WARN, "no Dapr sidecar yet; events wait in the outbox",
			           "i:waited_ms", (long long)waited, NULL);
			warned = true;
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += interval / 1000;
		until.tv_nsec += (long)(interval % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&b->lock);
		if (!atomic_load(&b->stopping))
			pthread_cond_timedwait(&b->wake, &b->lock, &until);
	}
	pthread_mutex_unlock(&b->lock);
	curl_easy_cleanup(probe);
	return NULL;
}

/* Keeps the start of a response body (for error messages); the rest is dropped. */
static size_t keep_body(char *data, size_t size, size_t n, void *out)
{
	char *buf = out;
	size_t have = strlen(buf), len = size * n;
	if (have < 255) {
		size_t take = len < 255 - have ? len : 255 - have;
		memcpy(buf + have, data, take);
		buf[have + take] = '\0';
	}
	return len;
}
