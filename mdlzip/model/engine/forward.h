/* The integer model's forward pass over lock-step streams (see forward.c). */

#ifndef MDLZIP_ENGINE_FORWARD_H
#define MDLZIP_ENGINE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* What the streams remember between steps: the previous tokens and the attention caches. */
typedef struct {
    int S;
    int64_t t;      /* the next time step */
    int16_t *prev;  /* S x n_prev, oldest first */
    int8_t *cache;  /* S x model.cache_bytes */
} Streams;

/* One call: C steps of S streams. */
typedef struct {
    const int32_t *tokens; /* S x C */
    int64_t *freqs;        /* S x C x 256 */
    int C;
} Batch;

typedef struct Work Work;

/* Scratch memory for one thread; NULL when out of memory. */
Work *work_new(const Model *m);
void work_free(Work *w);

/* Picks the instruction set, once, before any forward_range. */
void forward_init(void);
/* Its name: "x86-64-v4", "x86-64-v3" or "baseline". */
const char *forward_isa(void);

/* Streams s0 .. s1 - 1 through the batch's C steps from streams->t; does not advance t. */
void forward_range(const Model *m, Work *w, const Streams *st, const Batch *b, int s0, int s1);

#endif
