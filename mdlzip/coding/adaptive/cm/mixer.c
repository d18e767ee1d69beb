/* The mixers' inner loops (see mixer.h). The clones are declared here, on the definitions only:
   callers elsewhere call the one resolved symbol, so no clone is left undefined in the module. */
#include "mixer.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("default", "sse4.1", "avx2")))
#else
#define VECTOR_CLONES
#endif

VECTOR_CLONES int64_t dot_product(const int32_t *restrict x, const int32_t *restrict w, int n) {
    int64_t s = 0;
    for (int i = 0; i < n; i++) s += (int64_t)x[i] * w[i];
    return s;
}

/* |x| < 2^11 and |err| < 2^12 * 32, so every product fits in 32 bits. */
VECTOR_CLONES void train_weights(const int32_t *restrict x, int32_t *restrict w, int n, int32_t err) {
    for (int i = 0; i < n; i++) {
        w[i] = clamp_weight(w[i] + ((x[i] * err + (1 << 12)) >> 13));
    }
}
