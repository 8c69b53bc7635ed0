/* Settings from the environment, read once at start-up and read-only after. */
#ifndef TASKFLOW_CORE_CONFIG_H
#define TASKFLOW_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_ORIGINS 32

struct config {
	char host[256];
	int port;
	const char *database_url;
	const char *jwt_secret;     /* JWT_SECRET, else BETTER_AUTH_SECRET */
	const char *jwt_public_key; /* PEM, optional */
	int64_t jwt_ttl_seconds;
	const char *cors_origins[CONFIG_MAX_ORIGINS];
	int cors_origin_count;
	bool cors_any;
	int log_level;
	int threads;
	int db_pool_size;
	int db_read_pool_size; /* of those, how many reads may hold at once */
	bool use_dapr;
	bool auto_migrate;
	int shutdown_timeout_ms;
	const char *frontend_dir; /* the dashboard's static export; NULL: not served */

	/* The event backbone (docs/events.md). */
	char instance_id[128]; /* INSTANCE_ID, else HOSTNAME-PORT: names broadcast consumers */
	const char *events_topic;
	int relay_sweep_ms;
	/* USE_DAPR=true */
	int dapr_http_port;
	const char *dapr_api_token; /* sent to the sidecar; optional */
	const char *app_api_token;  /* required from the sidecar; optional */
	const char *pubsub_name;
	const char *broadcast_pubsub_name;
	const char *state_store;
	int dapr_wait_ms; /* how long start-up waits for the sidecar */
	/* USE_DAPR=false with KAFKA_BROKERS: librdkafka */
	const char *kafka_brokers;
	const char *kafka_security_protocol; /* plaintext | ssl | sasl_plaintext | sasl_ssl */
	const char *kafka_sasl_mechanism;    /* PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 */
	const char *kafka_sasl_username;
	const char *kafka_sasl_password;
	const char *kafka_consumer_group; /* the work subscription's group */

	/* Live sync (docs/realtime.md). */
	int realtime_replay_max; /* events a resume replays at most before resync */
	int realtime_queue_max;  /* messages waiting for a socket before it is closed */
	int realtime_ping_ms;
};

enum config_purpose { CONFIG_FOR_SERVE, CONFIG_FOR_MIGRATE };

/* Fills cfg from the environment. Returns false with one line in err (naming
 * the variable) when a setting is missing or invalid. Strings point into the
 * environment, or into storage owned by cfg that lives until exit. */
bool config_load(struct config *cfg, enum config_purpose purpose, char *err, size_t errlen);

#endif
