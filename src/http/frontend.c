#include "http/frontend.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HASHED_ASSETS "/_next/static/"

struct not_found_handler {
	h2o_handler_t super;
	char page[4096]; /* dir/404.html */
};

static int on_not_found(h2o_handler_t *self, h2o_req_t *req);
static bool has_prefix(const char *s, size_t len, const char *prefix);

void frontend_register(h2o_pathconf_t *path, const char *dir)
{
	static const char *index_files[] = {"index.html", NULL};
	h2o_file_register(path, dir, index_files, NULL, 0);

	struct not_found_handler *nf =
	    (struct not_found_handler *)h2o_create_handler(path, sizeof *nf);
	nf->super.on_req = on_not_found;
	snprintf(nf->page, sizeof nf->page, "%s/404.html", dir);
}

void frontend_set_cache_headers(h2o_req_t *req, const char *path, size_t len)
{
	if (has_prefix(path, len, HASHED_ASSETS))
		h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL,
		               H2O_STRLIT("public, max-age=31536000, immutable"), 1);
	else
		h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL,
		               H2O_STRLIT("no-cache"), 1);
}

/* Reached when the file handler found nothing: the export's own 404 page, so
 * a mistyped address still shows the dashboard's look and a way back. */
static int on_not_found(h2o_handler_t *self, h2o_req_t *req)
{
	struct not_found_handler *nf = (struct not_found_handler *)self;
	/* A missing hashed asset must not be cached for a year. */
	h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL,
	               H2O_STRLIT("no-cache"), 1);
	if (h2o_file_send(req, 404, "Not Found", nf->page,
	                  h2o_iovec_init(H2O_STRLIT("text/html; charset=utf-8")), 0) != 0)
		h2o_send_error_404(req, "Not Found", "not found", 0);
	return 0;
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(s, prefix, n) == 0;
}
