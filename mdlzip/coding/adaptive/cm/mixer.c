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

/* One step of a narrow set: each weight moves by x * err / 2^15, rounded to nearest (halves up),
   and saturates at the int16 limits. That is what one AVX2 instruction pair does to sixteen
   weights (multiply-high with rounding, saturating add), so the variant below, chosen once by the
   CPU, gives the plain one's weights exactly, in a seventh of its instructions. */
static void train16_plain(const int16_t *restrict x, int16_t *restrict w, int n, int16_t err) {
    for (int i = 0; i < n; i++) {
        int32_t v = w[i] + ((x[i] * err + (1 << 14)) >> 15);
        w[i] = (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
    }
}

typedef void Train16(const int16_t *restrict, int16_t *restrict, int, int16_t);

#if defined(__GNUC__) && defined(__x86_64__) && defined(__ELF__) && !defined(__clang__)
#include <immintrin.h>
#define TRAIN16_DISPATCH

__attribute__((target("avx2"))) static void train16_avx2(const int16_t *restrict x, int16_t *restrict w, int n, int16_t err) {
    __m256i e = _mm256_set1_epi16(err);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i step = _mm256_mulhrs_epi16(_mm256_loadu_si256((const __m256i *)(x + i)), e);
        _mm256_storeu_si256((__m256i *)(w + i), _mm256_adds_epi16(_mm256_loadu_si256((const __m256i *)(w + i)), step));
    }
    train16_plain(x + i, w + i, n - i, err);
}
#endif

/* The variants this CPU runs, the plain one first and the fastest last; returns their count. */
static int train16_variants(Train16 **out) {
    int k = 0;
    out[k++] = train16_plain;
#ifdef TRAIN16_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) out[k++] = train16_avx2;
#endif
    return k;
}

#ifdef TRAIN16_DISPATCH
/* The loader calls this once, before any caller. */
static Train16 *resolve_train16(void) {
    Train16 *v[2];
    return v[train16_variants(v) - 1];
}

void train_weights16(const int16_t *restrict x, int16_t *restrict w, int n, int16_t err) __attribute__((ifunc("resolve_train16")));
#else
void train_weights16(const int16_t *restrict x, int16_t *restrict w, int n, int16_t err) { train16_plain(x, w, n, err); }
#endif

int train_weights16_check(int *variants) {
    Train16 *v[2];
    int count = *variants = train16_variants(v), ok = 1;
    enum { N = 37 }; /* two full vectors and a tail */
    static const int16_t errs[] = {1, -1, 2, 24576, -24576, INT16_MAX, -INT16_MAX, 12345, -777};
    uint32_t r = 12345;
    for (size_t c = 0; c < sizeof errs / sizeof *errs; c++) {
        int16_t x[N], w0[N], w[N];
        for (int i = 0; i < N; i++) {
            r = r * 1103515245u + 12345u;
            x[i] = (int16_t)((int)(r >> 16 & 4095) - 2048); /* the inputs' range, both ends included */
            w0[i] = i % 5 == 0 ? INT16_MAX : i % 5 == 1 ? INT16_MIN : (int16_t)(r >> 8);
        }
        for (int k = 1; k < count; k++) {
            int16_t want[N];
            memcpy(want, w0, sizeof w0);
            memcpy(w, w0, sizeof w0);
            train16_plain(x, want, N, errs[c]);
            v[k](x, w, N, errs[c]);
            ok &= !memcmp(want, w, sizeof w);
        }
    }
    return ok;
}
