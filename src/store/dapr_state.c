#include "store/dapr_state.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jsonx.h"
#include "core/log.h"
#include "core/strbuf.h"

#define TIMEOUT_MS 5000

/* One easy handle per thread, so its connection to the sidecar is reused;
 * freed when the thread ends. */
static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;

static void free_handle(void *h)
{
	curl_easy_cleanup(h);
}

static void make_key(void)
{
	pthread_key_create(&handle_key, free_handle);
}

struct response {
	long status;
	struct strbuf body;
	char etag[STATE_ETAG_MAX];
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	strbuf_append_len(&r->body, data, size * n);
	return size * n;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	size_t len = size * n;
	if (len > 5 && strncasecmp(line, "etag:", 5) == 0) {
		const char *v = line + 5;
		while (*v == ' ')
			v++;
		size_t vlen = (size_t)(line + len - v);
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
			vlen--;
		snprintf(r->etag, sizeof r->etag, "%.*s", (int)vlen, v);
	}
	return len;
}

/* method NULL: GET. Returns false when the sidecar could not be reached. */
static bool call(const struct config *cfg, const char *method, const char *path, const char *body,
                 const char *if_match, struct response *r)
{
	pthread_once(&handle_once, make_key);
	CURL *h = pthread_getspecific(handle_key);
	if (h == NULL) {
		h = curl_easy_init();
		pthread_setspecific(handle_key, h);
	}
	curl_easy_reset(h);
	char url[1024];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", cfg->dapr_http_port, path);
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	char line[512];
	if (cfg->dapr_api_token) {
		snprintf(line, sizeof line, "dapr-api-token: %s", cfg->dapr_api_token);
		headers = curl_slist_append(headers, line);
	}
	if (if_match) {
		snprintf(line, sizeof line, "If-Match: %s",
		         if_match); /* raw: quoting breaks Redis */
		headers = curl_slist_append(headers, line);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (method)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		log_fields(LOG_WARN, "Dapr state call failed", "s:path", path, "s:error",
		           curl_easy_strerror(rc), NULL);
		return false;
	}
	return true;
}

/* A save or a delete: 204 done, 409 the ETag no longer matches; anything
 * else the sidecar refused, logged with its answer. */
static enum state_result state_write(const struct config *cfg, const char *method, const char *path,
                                     const char *body, const char *etag)
{
	struct response r = {0};
	enum state_result res = STATE_FAILED;
	if (call(cfg, method, path, body, etag, &r))
		res = r.status == 204 ? STATE_OK : r.status == 409 ? STATE_CONFLICT : STATE_FAILED;
	if (res == STATE_FAILED && r.status)
		log_fields(LOG_WARN, "Dapr state write refused", "s:method", method, "i:status",
		           (long long)r.status, "s:body", r.body.data ? r.body.data : "", NULL);
	strbuf_free(&r.body);
	return res;
}

static void state_path(const struct config *cfg, const char *key, char *out, size_t cap)
{
	char *store = curl_easy_escape(NULL, cfg->state_store, 0);
	char *k = key ? curl_easy_escape(NULL, key, 0) : NULL;
	snprintf(out, cap, "/v1.0/state/%s%s%s", store, k ? "/" : "", k ? k : "");
	curl_free(store);
	curl_free(k);
}

enum state_result dapr_state_get(const struct config *cfg, const char *key, struct state_value *out)
{
	char path[512];
	state_path(cfg, key, path, sizeof path);
	struct response r = {0};
	enum state_result res = STATE_FAILED;
	if (call(cfg, NULL, path, NULL, NULL, &r)) {
		if (r.status == 200) {
			out->json = strbuf_steal(&r.body);
			snprintf(out->etag, sizeof out->etag, "%s", r.etag);
			res = STATE_OK;
		} else if (r.status == 204) {
			res = STATE_MISSING;
		}
	}
	strbuf_free(&r.body);
	return res;
}

enum state_result dapr_state_put(const struct config *cfg, const char *key, const char *json,
                                 const char *etag, int ttl_seconds)
{
	json_t *value = json_loads(json, JSON_DECODE_ANY, NULL);
	if (value == NULL)
		return STATE_FAILED;
	json_t *item = json_pack("{s:s, s:o, s:{s:s}}", "key", key, "value", value, "options",
	                         "concurrency", "first-write");
	if (etag)
		json_object_set_new(item, "etag", json_string(etag));
	if (ttl_seconds > 0) {
		char ttl[16];
		snprintf(ttl, sizeof ttl, "%d", ttl_seconds);
		json_object_set_new(item, "metadata", json_pack("{s:s}", "ttlInSeconds", ttl));
	}
	char *body = jsonx_dump_steal(json_pack("[o]", item), NULL);
	char path[512];
	state_path(cfg, NULL, path, sizeof path);
	enum state_result res = state_write(cfg, "POST", path, body, NULL);
	free(body);
	return res;
}

enum state_result dapr_state_delete(const struct config *cfg, const char *key, const char *etag)
{
	char path[512];
	state_path(cfg, key, path, sizeof path);
	return state_write(cfg, "DELETE", path, NULL, etag);
}

void state_value_free(struct state_value *v)
{
	free(v->json);
	v->json = NULL;
}
