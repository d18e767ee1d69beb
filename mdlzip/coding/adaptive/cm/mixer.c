/* The mixers' inner loops (see mixer.h). The clones are declared here, on the definitions only:
   callers elsewhere call the one resolved symbol, so no clone is left undefined in the module. */
#include "mixer.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("default", "sse4.1", "avx2")))
#else
#define VECTOR_CLONES
#endif

/* Exactly sum(x * w), in two 32-bit sums that vectorize eight wide: w = 2^11 * (w >> 11) + (w & 2047),
   and with |x| <= 2^11, |w| <= 2^22 and n < 2^8 neither sum can overflow. */
VECTOR_CLONES int64_t dot_product(const int32_t *restrict x, const int32_t *restrict w, int n) {
    int32_t hi = 0, lo = 0;
    for (int i = 0; i < n; i++) {
        hi += x[i] * (w[i] >> 11);
        lo += x[i] * (w[i] & 2047);
    }
    return (int64_t)hi * 2048 + lo;
}

/* |x| < 2^11 and |err| < 2^12 * 32, so every product fits in 32 bits. */
VECTOR_CLONES void train_weights(const int32_t *restrict x, int32_t *restrict w, int n, int32_t err) {
    for (int i = 0; i < n; i++) {
        w[i] = clamp_weight(w[i] + ((x[i] * err + (1 << 12)) >> 13));
    }
}

/* sum(x * w) modulo 2^32. With |x| < 2^11 and |w| < 2^15 each product fits in 32 bits and so does
   the sum, unless most weights sit near their limit at once; even then it wraps alike in every
   clone (a sum modulo 2^32 does not depend on the order of its terms), so both sides agree. */
VECTOR_CLONES int32_t dot_product16(const int16_t *restrict x, const int16_t *restrict w, int n) {
    uint32_t s = 0;
    for (int i = 0; i < n; i++) s += (uint32_t)(x[i] * w[i]);
    return (int32_t)s;
}

/* |x| < 2^11 and |err| <= 2^16, so every product fits in 32 bits; the step is in 3.13 units. */
VECTOR_CLONES void train_weights16(const int16_t *restrict x, int16_t *restrict w, int n, int32_t err) {
    for (int i = 0; i < n; i++) {
        int32_t v = w[i] + ((x[i] * err + (1 << (12 + NARROW_SHIFT))) >> (13 + NARROW_SHIFT));
        w[i] = (int16_t)(v > NARROW_LIMIT ? NARROW_LIMIT : v < -NARROW_LIMIT ? -NARROW_LIMIT : v);
    }
}
