/* taskflow: the TaskFlow server.
 *   taskflow [serve]    apply migrations (unless AUTO_MIGRATE=false) and serve
 *   taskflow migrate    apply migrations and exit */
#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/relay.h"
#include "core/config.h"
#include "core/log.h"
#include "http/server.h"
#include "store/migrate.h"
#include "core/workers.h"

#define EXIT_CONFIG     2
#define SIDECAR_WORKERS 4 /* concurrent Dapr state calls (Idempotency-Key) */

static const char usage[] =
    "usage: taskflow [serve | migrate | --help | --version]\n"
    "\n"
    "  serve      apply pending migrations (unless AUTO_MIGRATE=false) and serve HTTP\n"
    "             on HOST:PORT until SIGTERM or SIGINT (the default command)\n"
    "  migrate    apply pending migrations and exit\n"
    "\n"
    "Configuration comes from the environment; see README.md and .env.example.\n"
    "Required: DATABASE_URL, and JWT_SECRET (or BETTER_AUTH_SECRET) for serve.\n";

static int serve(const struct config *cfg);
static void block_signals(void);

int main(int argc, char **argv)
{
	const char *command = argc > 1 ? argv[1] : "serve";
	if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(command, "--version") == 0) {
		printf("taskflow %s\n", TASKFLOW_VERSION);
		return 0;
	}
	bool migrate_only = strcmp(command, "migrate") == 0;
	if ((!migrate_only && strcmp(command, "serve") != 0) || argc > 2) {
		fputs(usage, stderr);
		return EXIT_CONFIG;
	}

	/* Before any thread exists, so that every thread inherits the mask
	 * and the signals reach only server_run's sigwait. */
	block_signals();
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fputs("taskflow: cannot initialise libsodium or libcurl\n", stderr);
		return 1;
	}

	struct config cfg;
	char err[256];
	if (!config_load(&cfg, migrate_only ? CONFIG_FOR_MIGRATE : CONFIG_FOR_SERVE, err,
	                 sizeof err)) {
		fprintf(stderr, "taskflow: %s\n", err);
		return EXIT_CONFIG;
	}
	log_set_level(cfg.log_level);

	if (migrate_only || cfg.auto_migrate) {
		if (!migrate_apply(cfg.database_url, err, sizeof err)) {
			log_fields(LOG_ERROR, "migration failed", "s:error", err, NULL);
			return 1;
		}
		if (migrate_only)
			return 0;
	}
	int rc = serve(&cfg);
	curl_global_cleanup();
	return rc;
}

static int serve(const struct config *cfg)
{
	struct app app = {
	    .cfg = cfg,
	    .keys = {.secret = (const unsigned char *)cfg->jwt_secret,
	             .secret_len = strlen(cfg->jwt_secret),
	             .public_pem = (const unsigned char *)cfg->jwt_public_key,
	             .public_pem_len = cfg->jwt_public_key ? strlen(cfg->jwt_public_key) : 0},
	};
	char err[256];
	app.bus = bus_create(cfg, err, sizeof err);
	if (app.bus == NULL) {
		log_fields(LOG_ERROR, "cannot start the event bus", "s:error", err, NULL);
		return 1;
	}
	app.relay = relay_start(cfg, app.bus);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	app.cpu = workers_create(cores > 0 ? (int)cores : 1);
	/* Apart from the CPU workers: a slow sidecar must not hold up sign-ins. */
	if (cfg->use_dapr)
		app.sidecar = workers_create(SIDECAR_WORKERS);
	/* A thread per loop (each looks its database host up once per round of
	 * connects): a name server that hangs delays connections, nothing else. */
	app.resolver = workers_create(cfg->threads);
	int rc = server_run(&app);
	workers_destroy(app.resolver);
	workers_destroy(app.cpu);
	if (app.sidecar)
		workers_destroy(app.sidecar);
	relay_stop(app.relay);
	app.bus->destroy(app.bus);
	log_fields(LOG_INFO, "stopped", "i:status", (long long)rc, NULL);
	return rc;
}

static void block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}
