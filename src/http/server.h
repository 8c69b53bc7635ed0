/* The HTTP server: one h2o event loop per thread sharing one listening
 * socket, every request handed to api/ through the router. */
#ifndef TASKFLOW_HTTP_SERVER_H
#define TASKFLOW_HTTP_SERVER_H

#include "http/call.h"

/* Binds HOST:PORT, serves until SIGTERM or SIGINT, then stops accepting,
 * lets in-flight requests finish (up to SHUTDOWN_TIMEOUT_MS) and returns 0.
 * Returns 1 when the port cannot be bound. The caller must have blocked
 * SIGINT, SIGTERM and SIGPIPE in every thread (see main). */
int server_run(const struct app *app);

#endif
