#include "core/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct workers {
	pthread_mutex_t lock; /* guards the queue and `stopping` */
	pthread_cond_t wake;
	struct work *head, *tail;
	bool stopping;
	int count;
	pthread_t threads[];
};

static void *worker_main(void *arg);
static struct work *next_work(struct workers *pool);

struct workers *workers_create(int count)
{
	struct workers *pool = calloc(1, sizeof *pool + (size_t)count * sizeof(pthread_t));
	if (pool == NULL)
		abort();
	pool->count = count;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024); /* argon2 allocates on the heap */
	for (int i = 0; i < count; i++)
		if (pthread_create(&pool->threads[i], &attr, worker_main, pool) != 0)
			abort();
	pthread_attr_destroy(&attr);
	return pool;
}

void workers_submit(struct workers *pool, struct work *w)
{
	w->next = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->tail)
		pool->tail->next = w;
	else
		pool->head = w;
	pool->tail = w;
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
}

void workers_destroy(struct workers *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->count; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->wake);
	free(pool);
}

void workers_on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	(void)receiver;
	while (!h2o_linklist_is_empty(messages)) {
		struct work *w = H2O_STRUCT_FROM_MEMBER(struct work, super.link, messages->next);
		h2o_linklist_unlink(&w->super.link);
		w->done(w);
	}
}

static void *worker_main(void *arg)
{
	struct workers *pool = arg;
	struct work *w;
	while ((w = next_work(pool)) != NULL) {
		w->run(w);
		h2o_multithread_send_message(w->reply_to, &w->super);
	}
	return NULL;
}

static struct work *next_work(struct workers *pool)
{
	pthread_mutex_lock(&pool->lock);
	while (pool->head == NULL && !pool->stopping)
		pthread_cond_wait(&pool->wake, &pool->lock);
	struct work *w = pool->head;
	if (w) {
		pool->head = w->next;
		if (pool->head == NULL)
			pool->tail = NULL;
	}
	pthread_mutex_unlock(&pool->lock);
	return w;
}
