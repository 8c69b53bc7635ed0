/* Worker threads for work that must not run on an event loop: CPU-heavy
 * (password hashing) or blocking (calls to the Dapr sidecar, host name
 * look-ups), each kind in a pool of its own. A loop submits a work item; a worker runs it; the item
 * travels back to the loop that submitted it through h2o's multithread queue,
 * where `done` runs. */
#ifndef TASKFLOW_CORE_WORKERS_H
#define TASKFLOW_CORE_WORKERS_H

#include <h2o.h>

struct workers;

struct work {
	h2o_multithread_message_t super; /* first: the way back to the loop */
	h2o_multithread_receiver_t *reply_to;
	void (*run)(struct work *w);  /* worker thread */
	void (*done)(struct work *w); /* loop thread */
	struct work *next;            /* queue */
};

struct workers *workers_create(int count);
void workers_submit(struct workers *pool, struct work *w);
/* Runs what is queued, then joins the threads. */
void workers_destroy(struct workers *pool);

/* The callback to register for a loop's receiver: runs each item's done. */
void workers_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
