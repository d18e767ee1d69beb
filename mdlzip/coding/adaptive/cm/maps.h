/* Adaptive maps from a small context (a bit-history state, a match length, ...) to a probability.

   Each cell holds a 22-bit probability and a 10-bit count in one word and moves toward the coded
   bit by 1/(n + 1.5): the running average while the context is young, then a fixed rate set by
   the count's limit. The APMs' cells are the same words.

   Tables hold each cell XOR its initial value, so that a table starts as zeros, which costs no
   memory until a cell is written (table_alloc.c). */
#ifndef MDLZIP_CM_MAPS_H
#define MDLZIP_CM_MAPS_H

#include "common.h"
#include "table_alloc.h"
#include "state_table.h"

typedef struct {
    uint32_t *t; /* cells XOR MAP_START */
    size_t n;
    uint32_t limit;
} AdaptiveMap;

#define MAP_START (1u << 31) /* p = 1/2, never updated */

static inline int map_init(AdaptiveMap *m, size_t n, uint32_t limit, int huge) {
    m->t = table_alloc(n * sizeof(uint32_t), huge);
    if (!m->t) return -1;
    m->n = n;
    m->limit = limit;
    return 0;
}

/* A state map starts each state at what its counts say: (n1 + 1/2) / (n0 + n1 + 1). */
static inline int statemap_init(AdaptiveMap *m, size_t contexts, uint32_t limit) {
    if (map_init(m, contexts * STATES_MAX, limit, 0)) return -1;
    for (size_t c = 0; c < contexts; c++)
        for (int s = 0; s < STATES_MAX; s++) {
            uint32_t n0 = STATES.n0[s], n1 = STATES.n1[s];
            uint64_t p = ((uint64_t)(2 * n1 + 1) << 22) / (2 * (n0 + n1) + 2);
            m->t[c * STATES_MAX + s] = (uint32_t)(p << 10) ^ MAP_START;
        }
    return 0;
}

static inline int map_p12(const AdaptiveMap *m, size_t i) { return (int)((m->t[i] ^ MAP_START) >> 20); }

/* 2^40 / (2n + 3) rounded up, n < 1024: with it, (x * RECIPROCAL[n]) >> 40 is exactly x / (2n + 3)
   for 0 <= x < 2^24 (the error, below x / 2^40 < 2^-16, never reaches the next integer), so the
   update below needs no division, which was a tenth of the side models' time. */
extern uint64_t RECIPROCAL[1024];
void reciprocal_init(void);

/* A cell after the bit: p + (target - p) * 2 / (2n + 3), the quotient truncated toward 0 as C
   divides, and the count one more up to the limit. */
static inline uint32_t cell_update(uint32_t v, int bit, uint32_t limit) {
    uint32_t n = v & 1023, p = v >> 10;
    if (bit) p += (uint32_t)(((uint64_t)(((1u << 22) - 1 - p) * 2) * RECIPROCAL[n]) >> 40);
    else p -= (uint32_t)(((uint64_t)(p * 2) * RECIPROCAL[n]) >> 40);
    return (p << 10) | (n < limit ? n + 1 : n);
}

static inline void map_update(AdaptiveMap *m, size_t i, int bit) { m->t[i] = cell_update(m->t[i] ^ MAP_START, bit, m->limit) ^ MAP_START; }

/* ---- APM (SSE): refines a probability per context, interpolating between 33 logit buckets ----

   A cell starts at its bucket's probability, counting as 4 bits seen: the refinement starts as
   the identity and leaves it only as evidence comes, at a rate falling to 1/131 (from a fixed 1/32:
   enwik6 -0.15%, enwik5 -0.2%). */

#define APM_CELLS 33
#define APM_START_COUNT 4
#define APM_LIMIT 130

typedef struct {
    uint32_t *t;              /* cells as in AdaptiveMap, each XOR its bucket's start */
    uint32_t start[APM_CELLS]; /* every row's start */
    size_t n, cell;
    int bucket;               /* cell's in its row */
} APM;

static inline int apm_init(APM *a, const Logistic *lg, size_t contexts, int huge) {
    a->t = table_alloc(contexts * APM_CELLS * sizeof(uint32_t), huge);
    if (!a->t) return -1;
    for (int j = 0; j < APM_CELLS; j++) {
        int p = squash16(lg, (j - 16) * 128);
        a->start[j] = (uint32_t)clamp_p16(p) << 16 | APM_START_COUNT;
    }
    a->n = contexts;
    a->cell = 0;
    a->bucket = 0;
    return 0;
}

/* Where p16 falls among the buckets: 1 .. 4095, computed once for every APM that refines it. */
static inline int apm_stretch(const Logistic *lg, int p16) { return stretch16(lg, p16) + 2048; }

/* p16, at s = apm_stretch(p16), refined in context ctx (taken modulo the table's size, a power of
   2); remembers the cells to train. */
static inline int apm_refine(APM *a, int s, size_t ctx) {
    int lo = s >> 7, w = s & 127;
    size_t i = (ctx & (a->n - 1)) * APM_CELLS + lo;
    a->cell = i;
    a->bucket = lo;
    uint32_t c0 = a->t[i] ^ a->start[lo], c1 = a->t[i + 1] ^ a->start[lo + 1];
    return (int)(((c0 >> 16) * (uint32_t)(128 - w) + (c1 >> 16) * (uint32_t)w) >> 7);
}

/* The middle of a context's row, which most probabilities interpolate in. */
static inline void apm_prefetch(const APM *a, size_t ctx) { PREFETCH(a->t + (ctx & (a->n - 1)) * APM_CELLS + APM_CELLS / 2); }

static inline void apm_update(APM *a, int bit) {
    for (int k = 0; k < 2; k++) { /* both cells the prediction interpolated */
        uint32_t start = a->start[a->bucket + k];
        a->t[a->cell + k] = cell_update(a->t[a->cell + k] ^ start, bit, APM_LIMIT) ^ start;
    }
}

#endif
