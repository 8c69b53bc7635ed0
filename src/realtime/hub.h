/* Live sync (docs/realtime.md): the WebSockets of /ws/user/{id}/tasks. Each
 * event loop has a hub holding the sockets it accepted; events of the
 * broadcast subscription reach every hub through h2o's multithread queue,
 * and each hub sends them to its sockets of that user, in seq order, once. */
#ifndef TASKFLOW_REALTIME_HUB_H
#define TASKFLOW_REALTIME_HUB_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct db;
struct hub;

/* On the loop's thread, before it serves. */
struct hub *hub_create(h2o_context_t *ctx, struct db *db, const struct config *cfg);
/* On shutdown: closes every socket with 1001. */
void hub_close_all(struct hub *hub);

/* Takes the request over as a WebSocket for `user_id` (auth already
 * checked): hello, the replay after `since` (-1: none), then live events
 * until the token expires at `expires`. */
void hub_accept(struct hub *hub, h2o_req_t *req, const char *ws_key, const char *user_id,
                int64_t since, int64_t expires);

/* Any thread: a CloudEvent of the broadcast subscription, for the sockets
 * of its user (`user_id`, as the receipt recorded it) on every loop. Not a
 * TaskFlow event: ignored. */
void realtime_forward_cloudevent(const char *user_id, const char *json, size_t len);

/* The live message of a CloudEvent ({"type","seq","event_id","timestamp","data"});
 * malloc'd, NULL if it is not a TaskFlow event. */
char *realtime_message(const char *cloudevent, size_t len, char user_id[130], int64_t *seq,
                       size_t *out_len);

#endif
