/* Logistic mixing: weighted sums of stretched probabilities, trained online on coding loss.

   A mixer has several weight sets; a context picks one per bit. Weights are 16.16 fixed point,
   the dot product is a logit, and each update moves the chosen set along x * (bit - p). Each
   set has its own learning rate, which starts high and falls as 1/(1 + n/MIXER_CLOCK) with the
   bits n that set has trained on, to a floor: a set chosen rarely still learns fast when it comes
   up, one chosen often settles (per set rather than per mixer: enwik6 -0.25%; a clock of 256
   bits rather than 512: enwik6 -0.01%, enwik5 -0.2%). A set is not trained on a bit it predicted
   within 17/4096 (the first layer) or 6/4096 (the later ones), as in paq8px: such a bit teaches
   little but a pull toward ever surer weights (enwik6 -0.04%, kinds -0.02%).

   A set's weights are written when it is first chosen (its counter tells), so a set never chosen
   costs no memory (table_alloc.c) and the dot product stays the plain one.

   The first layer's mixers are narrow: 16-bit weights in units of 2^-13 (to +-4) over 16-bit
   inputs, which halves the weights' memory traffic, the largest the side models have, and lets
   one multiply-add instruction take sixteen products: enwik6 decoded 7% faster (nine times each,
   alternately: 21.6 s against 23.3 s on average) in 120 MiB less memory, for 0.025% more bytes
   (kinds 0.004% fewer). Their step, x * e / 2^15 rounded, saturating at the int16 limits, is
   one multiply-high-with-rounding and one saturating add for sixteen weights (mixer.c: a
   seventh of the instructions it took widened to 32 bits and clamped, where AVX2 is there; with the two components
   that went in 0.16, enwik6 decoded about 13% faster). The later layers stay wide, 32-bit in
   units of 2^-16: their slow, small steps need the finer unit (in 2^-13, enwik5 +0.1%, the
   kinds +0.09%). */
#ifndef MDLZIP_CM_MIXER_H
#define MDLZIP_CM_MIXER_H

#include "common.h"
#include "table_alloc.h"

#define WEIGHT_LIMIT (1 << 22)
#define MIXER_INPUTS_MAX 256 /* dot_product is exact only below it (mixer.c) */
#define MIXER_CLOCK 256
#define NARROW_SHIFT 3 /* a narrow weight's unit: 2^3 of a wide one's */

typedef struct {
    void *w;         /* n_sets rows of n_inputs weights: int16_t when narrow, else int32_t */
    int narrow;      /* 16-bit weights in 3.13 fixed point over 16-bit inputs (the first layer) */
    int32_t w0;      /* every weight's start, in the mixer's own units */
    int huge;        /* the tables' pages (table_alloc) */
    int n_inputs, n_sets;
    void *chosen;    /* the set used for the bit being coded */
    size_t set;      /* its index */
    int64_t dot;     /* its logit */
    int p;           /* squash of it, 12-bit */
    uint32_t *trained; /* per set: 0 until first chosen (its weights not yet w0), then 1 + the bits it
                          trained on until its rate reached the floor (the schedule's clock) */
    int lr_start, lr_floor; /* in 1/16 */
    int skip; /* no training when |error| is at most this (of 4096) */
} Mixer;

static inline size_t mixer_row_bytes(const Mixer *m) { return (size_t)m->n_inputs * (m->narrow ? sizeof(int16_t) : sizeof(int32_t)); }
static inline size_t mixer_weight_bytes(const Mixer *m) { return mixer_row_bytes(m) * (size_t)m->n_sets; }

/* w0 in 16.16 like every weight given from outside; a narrow mixer rounds it to its 3.13. */
static inline int mixer_init(Mixer *m, int n_inputs, int n_sets, int32_t w0, int lr_start, int lr_floor, int skip, int narrow, int huge) {
    m->narrow = narrow;
    m->n_inputs = n_inputs;
    m->n_sets = n_sets;
    m->w = table_alloc(mixer_weight_bytes(m), huge);
    m->trained = table_alloc((size_t)n_sets * sizeof(uint32_t), huge);
    if (!m->w || !m->trained) return -1;
    m->w0 = narrow ? (w0 + (1 << (NARROW_SHIFT - 1))) >> NARROW_SHIFT : w0;
    m->huge = huge;
    m->chosen = m->w;
    m->set = 0;
    m->lr_start = lr_start;
    m->lr_floor = lr_floor;
    m->skip = skip;
    return 0;
}

static inline void mixer_free(Mixer *m) {
    table_free(m->w);
    table_free(m->trained);
}

/* Gives a memberwise copy of a mixer tables of its own, copies of the ones it shares; -1 when out
   of memory (the tables that could not be had are NULL, so mixer_free is still safe). */
static inline int mixer_own_tables(Mixer *m) {
    size_t nw = mixer_weight_bytes(m), nt = (size_t)m->n_sets;
    uint8_t *w = table_alloc(nw, m->huge);
    uint32_t *trained = table_alloc(nt * sizeof *trained, m->huge);
    if (w) memcpy(w, m->w, nw);
    if (trained) memcpy(trained, m->trained, nt * sizeof *trained);
    m->chosen = w ? w + ((uint8_t *)m->chosen - (uint8_t *)m->w) : NULL;
    m->w = w;
    m->trained = trained;
    return w && trained ? 0 : -1;
}

static inline int32_t clamp_weight(int32_t v) { return v > WEIGHT_LIMIT ? WEIGHT_LIMIT : v < -WEIGHT_LIMIT ? -WEIGHT_LIMIT : v; }

/* The loops that dominate the side models' time (mixer.c: vectorized clones chosen at run time,
   integer-exact, so every clone gives the same results). */
int64_t dot_product(const int32_t *restrict x, const int32_t *restrict w, int n);
void train_weights(const int32_t *restrict x, int32_t *restrict w, int n, int32_t err);
int32_t dot_product16(const int16_t *restrict x, const int16_t *restrict w, int n);
void train_weights16(const int16_t *restrict x, int16_t *restrict w, int n, int16_t err);
/* How many of train_weights16's variants this CPU runs (the first is the plain C one), and whether
   they all gave the plain one's weights on a set of hard cases (tests). */
int train_weights16_check(int *variants);

/* Set ``set``'s weights, each w0 when it is chosen for the first time. */
static inline void *mixer_row(Mixer *m, size_t set) {
    size_t first = set * (size_t)m->n_inputs;
    if (m->narrow) {
        int16_t *row = (int16_t *)m->w + first;
        if (!m->trained[set]) {
            for (int i = 0; i < m->n_inputs; i++) row[i] = (int16_t)m->w0;
            m->trained[set] = 1;
        }
        return row;
    }
    int32_t *row = (int32_t *)m->w + first;
    if (!m->trained[set]) {
        for (int i = 0; i < m->n_inputs; i++) row[i] = m->w0;
        m->trained[set] = 1;
    }
    return row;
}

/* Sets weight i of the chosen set of a wide mixer, in 16.16 (a start given from outside, e.g. the
   trainer's fitted weights). */
static inline void mixer_set_weight(Mixer *m, int i, int32_t v) { ((int32_t *)mixer_row(m, m->set))[i] = clamp_weight(v); }

/* A set's index: set modulo n_sets, which every selector keeps within anyway, so the division
   (tens of cycles, ten times a bit) is only a guard. */
static inline size_t mixer_set(const Mixer *m, size_t set) { return set < (size_t)m->n_sets ? set : set % (size_t)m->n_sets; }

/* Chooses set ``set`` for this bit and returns its weights. */
static inline void *mixer_choose(Mixer *m, size_t set) {
    m->set = mixer_set(m, set);
    return m->chosen = mixer_row(m, m->set);
}

/* Keeps the chosen set's logit and its probability for the update. */
static inline int64_t mixer_keep(Mixer *m, const Logistic *lg, int64_t dot) {
    m->dot = dot;
    m->p = squash12(lg, dot);
    return dot;
}

/* The logit of set ``set`` of a wide mixer over inputs x. */
static inline int64_t mixer_predict(Mixer *m, const Logistic *lg, const int32_t *x, size_t set) {
    return mixer_keep(m, lg, dot_product(x, mixer_choose(m, set), m->n_inputs) >> 16);
}

/* The same for a narrow mixer. */
static inline int64_t mixer_predict16(Mixer *m, const Logistic *lg, const int16_t *x, size_t set) {
    return mixer_keep(m, lg, dot_product16(x, mixer_choose(m, set), m->n_inputs) >> (16 - NARROW_SHIFT));
}

/* Brings set ``set``'s weights and counter toward the cache before they are needed. */
static inline void mixer_prefetch(const Mixer *m, size_t set) {
    set = mixer_set(m, set);
    size_t row_bytes = mixer_row_bytes(m);
    const char *row = (const char *)m->w + set * row_bytes;
    for (size_t b = 0; b < row_bytes; b += 64) PREFETCH(row + b);
    PREFETCH(m->trained + set);
}

/* The chosen set's rate in 1/16, counting this bit. */
static inline int mixer_rate(Mixer *m) {
    uint32_t *n = m->trained + m->set, bits = *n - 1;
    if ((int64_t)m->lr_floor * (MIXER_CLOCK + bits) > (int64_t)m->lr_start * MIXER_CLOCK) return m->lr_floor; /* settled: no division */
    int lr = (int)((int64_t)m->lr_start * MIXER_CLOCK / (MIXER_CLOCK + bits));
    if (bits < 1u << 20) ++*n;
    return lr > m->lr_floor ? lr : m->lr_floor;
}

/* The error and the steps round to nearest: truncation drifted every weight down by half a unit
   per update, a pull the gradient had to fight (enwik6 -0.25%; a slow mixer diverged on it).
   Returns the error times the rate, in 1/2^shift, 0 for a bit not trained on. */
static inline int32_t mixer_error(Mixer *m, int bit, int shift) {
    int err = (bit << P_BITS) - m->p;
    if (abs(err) <= m->skip) return 0;
    return (err * mixer_rate(m) + (1 << (shift - 1))) >> shift;
}

static inline void mixer_update(Mixer *m, const int32_t *x, int bit) {
    int32_t e = mixer_error(m, bit, 4);
    if (e) train_weights(x, m->chosen, m->n_inputs, e);
}

/* The narrow step's error is in half the wide one's units, so that it fits 16 bits: |err| <= 2^12
   and a first-layer rate <= 12, so |e| <= 24576. */
static inline void mixer_update16(Mixer *m, const int16_t *x, int bit) {
    int32_t e = mixer_error(m, bit, 5);
    if (e) train_weights16(x, m->chosen, m->n_inputs, (int16_t)(e > INT16_MAX ? INT16_MAX : e < -INT16_MAX ? -INT16_MAX : e));
}

#endif
