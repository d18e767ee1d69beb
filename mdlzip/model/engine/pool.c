/* The engine's worker threads.

   Waiting threads block on a condition variable; they never spin. Beside
   another busy process (two compressions on two cores) a spinning waiter takes
   the core from the thread it waits for, and each step then waits a scheduler
   time slice: a blocked waiter costs a wake-up instead, a few microseconds in a
   step of a millisecond or more. */

#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

struct Pool {
    int n; /* parts: the caller and n - 1 workers */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_mutex_t busy; /* one job at a time, whoever calls */
    pthread_cond_t start, done;
    unsigned long generation; /* counts jobs, so a worker runs each one once */
    int pending;              /* workers still running the current job */
    int quit;
    pool_job job;
    void *arg;
};

typedef struct {
    Pool *pool;
    int part;
} Worker;

static void *work(void *p) {
    Worker self = *(Worker *)p;
    free(p);
    Pool *pool = self.pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->generation == seen && !pool->quit) pthread_cond_wait(&pool->start, &pool->mu);
        if (pool->quit) break;
        seen = pool->generation;
        pool_job job = pool->job;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->mu);
        job(arg, self.part, pool->n);
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

Pool *pool_new(int threads) {
    Pool *pool = calloc(1, sizeof(Pool));
    if (!pool) return NULL;
    pool->n = threads < 1 ? 1 : threads;
    pool->threads = calloc(pool->n, sizeof(pthread_t));
    if (!pool->threads) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_mutex_init(&pool->busy, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    for (int i = 1; i < pool->n; i++) {
        Worker *w = malloc(sizeof(Worker));
        if (w) *w = (Worker){pool, i};
        if (!w || pthread_create(&pool->threads[i], NULL, work, w)) {
            free(w);
            pool->n = i; /* fewer workers: the same results, more slowly */
            break;
        }
    }
    return pool;
}

void pool_run(Pool *pool, pool_job job, void *arg) {
    pthread_mutex_lock(&pool->busy);
    if (pool->n > 1) {
        pthread_mutex_lock(&pool->mu);
        pool->job = job;
        pool->arg = arg;
        pool->pending = pool->n - 1;
        pool->generation++;
        pthread_cond_broadcast(&pool->start);
        pthread_mutex_unlock(&pool->mu);
    }
    job(arg, 0, pool->n);
    if (pool->n > 1) {
        pthread_mutex_lock(&pool->mu);
        while (pool->pending) pthread_cond_wait(&pool->done, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->busy);
}

void pool_free(Pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->busy);
    free(pool->threads);
    free(pool);
}
