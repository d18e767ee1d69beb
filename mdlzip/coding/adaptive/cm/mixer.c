/* The mixers' inner loops (see mixer.h). */
#include "mixer.h"

VECTOR_CLONES int64_t dot_product(const int32_t *restrict x, const int32_t *restrict w, int n) {
    int64_t s = 0;
    for (int i = 0; i < n; i++) s += (int64_t)x[i] * w[i];
    return s;
}

/* |x| < 2^11 and |err| < 2^12 * 32, so every product fits in 32 bits. */
VECTOR_CLONES void train_weights(const int32_t *restrict x, int32_t *restrict w, int n, int32_t err) {
    for (int i = 0; i < n; i++) {
        int32_t v = w[i] + ((x[i] * err) >> 13);
        w[i] = v > WEIGHT_LIMIT ? WEIGHT_LIMIT : v < -WEIGHT_LIMIT ? -WEIGHT_LIMIT : v;
    }
}
