/* Serves the dashboard: the static export of frontend/ (FRONTEND_DIR) on every
 * GET or HEAD path the API does not own (router_owns_path). */
#ifndef TASKFLOW_HTTP_FRONTEND_H
#define TASKFLOW_HTTP_FRONTEND_H

#include <stddef.h>

#include <h2o.h>

/* Registers, after the API's handler on `path`, the file handler for `dir`
 * (index.html for directories, 301 to the path with a slash for a directory
 * without one) and then a handler that answers dir/404.html with status 404. */
void frontend_register(h2o_pathconf_t *path, const char *dir);

/* Sets Cache-Control for what the file handler is about to send: a year and
 * immutable for the content-hashed /_next/static/, revalidation for the rest
 * (HTML must never be stale). */
void frontend_set_cache_headers(h2o_req_t *req, const char *path, size_t len);

#endif
