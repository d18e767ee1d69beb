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
