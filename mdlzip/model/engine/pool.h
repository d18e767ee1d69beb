/* A fixed set of worker threads that run one job at a time, split into parts. */

#ifndef MDLZIP_ENGINE_POOL_H
#define MDLZIP_ENGINE_POOL_H

typedef void (*pool_job)(void *arg, int part, int parts);
typedef struct Pool Pool;

/* threads - 1 workers beside the calling thread; NULL when out of memory or threads. */
Pool *pool_new(int threads);
/* job(arg, part, n) for every part 0 .. n - 1, part 0 on the caller; returns when all are done. */
void pool_run(Pool *pool, pool_job job, void *arg);
void pool_free(Pool *pool);

#endif
