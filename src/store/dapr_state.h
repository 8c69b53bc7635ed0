/* The Dapr state API (../shared/docs/dapr-contract.md §3), for keys that
 * live in the sidecar's state store when USE_DAPR=true. Blocking: call it
 * from a worker thread, never from an event loop. Each thread keeps one
 * connection to the sidecar. */
#ifndef TASKFLOW_STORE_DAPR_STATE_H
#define TASKFLOW_STORE_DAPR_STATE_H

#include <stddef.h>

#include "core/config.h"

enum state_result {
	STATE_OK,
	STATE_MISSING,  /* get: no such key */
	STATE_CONFLICT, /* put/delete: the ETag did not match, or a first write lost */
	STATE_FAILED,   /* the sidecar or the store failed */
};

#define STATE_ETAG_MAX 64

struct state_value {
	char *json; /* malloc'd, as the store returns it */
	char etag[STATE_ETAG_MAX];
};

enum state_result dapr_state_get(const struct config *cfg, const char *key,
                                 struct state_value *out);

/* Saves with first-write concurrency: without an ETag it only creates (a
 * key written first-write before makes it a conflict); with one it only
 * replaces that version. ttl_seconds > 0 sets metadata.ttlInSeconds. */
enum state_result dapr_state_put(const struct config *cfg, const char *key, const char *json,
                                 const char *etag, int ttl_seconds);

enum state_result dapr_state_delete(const struct config *cfg, const char *key, const char *etag);

void state_value_free(struct state_value *v);

#endif
