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
	bool use_dapr;
	bool auto_migrate;
	int shutdown_timeout_ms;
};

enum config_purpose { CONFIG_FOR_SERVE, CONFIG_FOR_MIGRATE };

/* Fills cfg from the environment. Returns false with one line in err (naming
 * the variable) when a setting is missing or invalid. Strings point into the
 * environment, or into storage owned by cfg that lives until exit. */
bool config_load(struct config *cfg, enum config_purpose purpose, char *err, size_t errlen);

#endif
