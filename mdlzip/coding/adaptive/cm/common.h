/* Shared definitions of the side models: probability scales, the logistic tables, hashing.

   Probabilities that models learn are 12-bit (1..4095) and go into the mixer as stretched logits
   (1/256 nat units, +-2047). The mixers' output and the SSE stages are 16-bit, and so is what the
   binary coder codes. The logistic tables come from Python (computed with the decimal module), so
   no libm call touches a prediction. */
#ifndef MDLZIP_CM_COMMON_H
#define MDLZIP_CM_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define P_BITS 12
#define P_ONE (1 << P_BITS)
#define P16_ONE 65536
#define LOGIT_MAX 2047

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

typedef struct {
    int16_t stretch[P_ONE];             /* 12-bit p -> logit */
    int16_t squash[2 * LOGIT_MAX + 1];  /* logit + LOGIT_MAX -> 12-bit p */
    uint16_t squash16[2 * LOGIT_MAX + 1]; /* logit + LOGIT_MAX -> 16-bit p */
} Logistic;

static inline int clamp_logit(int64_t d) { return d > LOGIT_MAX ? LOGIT_MAX : d < -LOGIT_MAX ? -LOGIT_MAX : (int)d; }
static inline int squash12(const Logistic *lg, int64_t d) { return lg->squash[clamp_logit(d) + LOGIT_MAX]; }
static inline int squash16(const Logistic *lg, int64_t d) { return lg->squash16[clamp_logit(d) + LOGIT_MAX]; }
static inline int stretch16(const Logistic *lg, int p16) { return lg->stretch[p16 >> 4]; }
/* A probability of 65536 kept inside 1 .. 65535, where logit16 is defined. */
static inline int clamp_p16(int p) { return p < 1 ? 1 : p > P16_ONE - 1 ? P16_ONE - 1 : p; }

/* Multiplicative hashing: distinct odd constants per use, the high bits are the well-mixed ones. */
static inline uint64_t hash2(uint64_t a, uint64_t b) {
    uint64_t h = (a + 0x9E3779B97F4A7C15ull) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    h = (h + b) * 0xD6E8FEB86659FD93ull;
    return h ^ (h >> 32);
}
static inline uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) { return hash2(hash2(a, b), c); }

static inline int ilog2_u32(uint32_t x) {
    int r = 0;
    while (x >>= 1) r++;
    return r;
}

#endif
