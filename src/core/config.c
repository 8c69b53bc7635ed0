#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"

#define JWT_SECRET_MIN 32

static bool read_int(const char *name, long def, long min, long max, long *out, char *err,
                     size_t errlen);
static bool read_bool(const char *name, bool def, bool *out, char *err, size_t errlen);
static bool read_origins(struct config *cfg, char *err, size_t errlen);
static const char *env(const char *name);
static bool read_events(struct config *cfg, char *err, size_t errlen);
static bool read_frontend_dir(struct config *cfg, char *err, size_t errlen);

bool config_load(struct config *cfg, enum config_purpose purpose, char *err, size_t errlen)
{
	long n;
	memset(cfg, 0, sizeof *cfg);

	cfg->database_url = env("DATABASE_URL");
	if (cfg->database_url == NULL) {
		snprintf(err, errlen,
		         "DATABASE_URL is not set (a PostgreSQL URI or conninfo string)");
		return false;
	}
	if (!read_bool("AUTO_MIGRATE", true, &cfg->auto_migrate, err, errlen))
		return false;
	const char *level = env("LOG_LEVEL");
	cfg->log_level = level ? log_level_from_name(level) : LOG_INFO;
	if (cfg->log_level < 0) {
		snprintf(err, errlen, "LOG_LEVEL must be debug, info, warn or error, not \"%.40s\"",
		         level);
		return false;
	}
	if (purpose == CONFIG_FOR_MIGRATE)
		return true;

	const char *host = env("HOST");
	snprintf(cfg->host, sizeof cfg->host, "%s", host ? host : "127.0.0.1");
	if (!read_int("PORT", 8000, 1, 65535, &n, err, errlen))
		return false;
	cfg->port = (int)n;

	cfg->jwt_secret = env("JWT_SECRET");
	if (cfg->jwt_secret == NULL)
		cfg->jwt_secret = env("BETTER_AUTH_SECRET");
	if (cfg->jwt_secret == NULL) {
		snprintf(err, errlen, "JWT_SECRET (or BETTER_AUTH_SECRET) is not set");
		return false;
	}
	if (strlen(cfg->jwt_secret) < JWT_SECRET_MIN) {
		snprintf(err, errlen, "JWT_SECRET must be at least %d characters", JWT_SECRET_MIN);
		return false;
	}
	cfg->jwt_public_key = env("JWT_PUBLIC_KEY");
	if (cfg->jwt_public_key &&
	    strstr(cfg->jwt_public_key, "-----BEGIN PUBLIC KEY-----") == NULL) {
		snprintf(err, errlen, "JWT_PUBLIC_KEY must be a PEM public key (BEGIN PUBLIC KEY)");
		return false;
	}
	if (!read_int("JWT_TTL_SECONDS", 7 * 24 * 3600, 60, 366L * 24 * 3600, &n, err, errlen))
		return false;
	cfg->jwt_ttl_seconds = n;

	if (!read_origins(cfg, err, errlen))
		return false;

	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (!read_int("THREADS", cores > 0 ? cores : 1, 1, 64, &n, err, errlen))
		return false;
	cfg->threads = (int)n;
	if (!read_int("DB_POOL_SIZE", 16, 1, 256, &n, err, errlen))
		return false;
	cfg->db_pool_size = (int)n;
	if (!read_int("DB_READ_POOL_SIZE", 4, 1, 256, &n, err, errlen))
		return false;
	cfg->db_read_pool_size = (int)n;
	if (!read_int("SHUTDOWN_TIMEOUT_MS", 10000, 0, 600000, &n, err, errlen))
		return false;
	cfg->shutdown_timeout_ms = (int)n;
	if (!read_bool("USE_DAPR", false, &cfg->use_dapr, err, errlen))
		return false;
	if (!read_frontend_dir(cfg, err, errlen))
		return false;
	return read_events(cfg, err, errlen);
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = env(name);
	return v ? v : def;
}

static bool read_frontend_dir(struct config *cfg, char *err, size_t errlen)
{
	const char *dir = env("FRONTEND_DIR");
	if (dir == NULL)
		return true;
	char index[4096];
	snprintf(index, sizeof index, "%s/index.html", dir);
	if (access(index, R_OK) != 0) {
		snprintf(err, errlen,
		         "FRONTEND_DIR has no index.html (build the dashboard: cd frontend && "
		         "npm ci && npx next build)");
		return false;
	}
	cfg->frontend_dir = dir;
	return true;
}

static bool read_events(struct config *cfg, char *err, size_t errlen)
{
	long n;
	const char *instance = env("INSTANCE_ID");
	if (instance == NULL) {
		char host[64] = "taskflow";
		gethostname(host, sizeof host - 1);
		snprintf(cfg->instance_id, sizeof cfg->instance_id, "%s-%d", host, cfg->port);
	} else {
		/* It names consumer groups and receipts: plain characters only. */
		size_t plain =
		    strspn(instance, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                     "0123456789._:-");
		if (instance[plain] != '\0' || plain >= sizeof cfg->instance_id) {
			snprintf(
			    err, errlen,
			    "INSTANCE_ID must be 1 to 127 of A-Z a-z 0-9 . _ : - (a pod name)");
			return false;
		}
		snprintf(cfg->instance_id, sizeof cfg->instance_id, "%s", instance);
	}
	cfg->events_topic = env_or("EVENTS_TOPIC", "tasks.events");
	if (!read_int("RELAY_SWEEP_MS", 1000, 10, 600000, &n, err, errlen))
		return false;
	cfg->relay_sweep_ms = (int)n;

	if (!read_int("DAPR_HTTP_PORT", 3500, 1, 65535, &n, err, errlen))
		return false;
	cfg->dapr_http_port = (int)n;
	cfg->dapr_api_token = env("DAPR_API_TOKEN");
	cfg->app_api_token = env("APP_API_TOKEN");
	cfg->pubsub_name = env_or("PUBSUB_NAME", "pubsub");
	cfg->broadcast_pubsub_name = env_or("BROADCAST_PUBSUB_NAME", "pubsub-broadcast");
	cfg->state_store = env_or("STATE_STORE", "statestore");
	if (!read_int("DAPR_WAIT_MS", 60000, 0, 600000, &n, err, errlen))
		return false;
	cfg->dapr_wait_ms = (int)n;

	cfg->kafka_brokers = env("KAFKA_BROKERS");
	cfg->kafka_security_protocol = env_or("KAFKA_SECURITY_PROTOCOL", "plaintext");
	cfg->kafka_sasl_mechanism = env("KAFKA_SASL_MECHANISM");
	cfg->kafka_sasl_username = env("KAFKA_SASL_USERNAME");
	cfg->kafka_sasl_password = env("KAFKA_SASL_PASSWORD");
	cfg->kafka_consumer_group = env_or("KAFKA_CONSUMER_GROUP", "taskflow");
	if (!read_int("REALTIME_REPLAY_MAX", 1000, 0, 1000000, &n, err, errlen))
		return false;
	cfg->realtime_replay_max = (int)n;
	if (!read_int("REALTIME_QUEUE_MAX", 1000, 1, 1000000, &n, err, errlen))
		return false;
	cfg->realtime_queue_max = (int)n;
	if (!read_int("REALTIME_PING_MS", 30000, 100, 3600000, &n, err, errlen))
		return false;
	cfg->realtime_ping_ms = (int)n;
	static const char *const protocols[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
	bool known = false;
	for (size_t i = 0; i < 4; i++)
		known |= strcasecmp(cfg->kafka_security_protocol, protocols[i]) == 0;
	if (!known) {
		snprintf(
		    err, errlen,
		    "KAFKA_SECURITY_PROTOCOL must be plaintext, ssl, sasl_plaintext or sasl_ssl");
		return false;
	}
	if (cfg->kafka_sasl_mechanism && strcmp(cfg->kafka_sasl_mechanism, "PLAIN") != 0 &&
	    strcmp(cfg->kafka_sasl_mechanism, "SCRAM-SHA-256") != 0 &&
	    strcmp(cfg->kafka_sasl_mechanism, "SCRAM-SHA-512") != 0) {
		snprintf(err, errlen,
		         "KAFKA_SASL_MECHANISM must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512");
		return false;
	}
	if (cfg->kafka_sasl_mechanism && (!cfg->kafka_sasl_username || !cfg->kafka_sasl_password)) {
		snprintf(err, errlen,
		         "KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and "
		         "KAFKA_SASL_PASSWORD");
		return false;
	}
	if (cfg->use_dapr && cfg->kafka_brokers) {
		snprintf(err, errlen,
		         "USE_DAPR=true and KAFKA_BROKERS exclude each other: the "
		         "sidecar owns the broker");
		return false;
	}
	return true;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static bool read_int(const char *name, long def, long min, long max, long *out, char *err,
                     size_t errlen)
{
	const char *v = env(name);
	if (v == NULL) {
		*out = def;
		return true;
	}
	char *end;
	long n = strtol(v, &end, 10);
	if (*end != '\0' || end == v || n < min || n > max) {
		snprintf(err, errlen, "%s must be an integer from %ld to %ld, not \"%.40s\"", name,
		         min, max, v);
		return false;
	}
	*out = n;
	return true;
}

static bool read_bool(const char *name, bool def, bool *out, char *err, size_t errlen)
{
	const char *v = env(name);
	if (v == NULL)
		*out = def;
	else if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
		*out = true;
	else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
		*out = false;
	else {
		snprintf(err, errlen, "%s must be true or false, not \"%.40s\"", name, v);
		return false;
	}
	return true;
}

/* CORS_ORIGINS="https://a.example,http://localhost:3000" or "*". */
static bool read_origins(struct config *cfg, char *err, size_t errlen)
{
	const char *v = env("CORS_ORIGINS");
	if (v == NULL)
		return true;
	/* Lives until exit: the origins point into it. */
	static char *storage;
	storage = strdup(v);
	for (char *save = NULL, *tok = strtok_r(storage, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		if (strcmp(tok, "*") == 0) {
			cfg->cors_any = true;
			continue;
		}
		if (strncmp(tok, "http://", 7) != 0 && strncmp(tok, "https://", 8) != 0) {
			snprintf(err, errlen,
			         "CORS_ORIGINS entries must start with http:// or https://, "
			         "not \"%.60s\"",
			         tok);
			return false;
		}
		if (cfg->cors_origin_count == CONFIG_MAX_ORIGINS) {
			snprintf(err, errlen, "CORS_ORIGINS lists more than %d origins",
			         CONFIG_MAX_ORIGINS);
			return false;
		}
		size_t len = strlen(tok);
		if (len > 8 && tok[len - 1] == '/')
			tok[len - 1] = '\0';
		cfg->cors_origins[cfg->cors_origin_count++] = tok;
	}
	return true;
}
