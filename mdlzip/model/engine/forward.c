/* One time step of the integer model (FORMAT.md, "The integer model"), per stream.

   Exact by construction: integers only, so any order of summation, any thread
   count and any batch layout give the same frequencies. Every sum of products is
   accumulated in int32 when int_model.py proved from the weights and the
   activations' ranges that it fits, else in int64 (forward_step.h is compiled
   once for each). The RMSNorm needs int64 either way; its square root and its
   quotients start from double estimates that are then corrected in integers, so
   no float decides a result.

   The step is compiled for several instruction sets, one chosen when the module
   loads (forward_init): with GCC on x86-64 for the x86-64-v4 (AVX-512) and v3
   (AVX2) levels, and everywhere for the baseline. Each is the same C source, which
   the compiler vectorizes for that set's registers; the same integers come out of
   every one. */

#include "forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__)
#define X86_LEVELS 1
#endif
#define INLINE static inline __attribute__((always_inline))
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

struct Work {
    int32_t *x;      /* the residual, d */
    int32_t *a;      /* the last RMSNorm's outputs, d */
    int32_t *q, *k;  /* score dimensions of the current layer */
    int32_t *v, *o;  /* value dimensions, and the attention's outputs there */
    int32_t *h;      /* live neurons */
    void *p;         /* attention weights, window */
    int16_t *x16;    /* a dense map's inputs, padded with zeros */
    void *acc;       /* sums, max_width (also the embedding sum, d) */
    void *z;         /* scores, window */
    void *logits;    /* 256; the rows the head never writes stay 0 */
};

static int32_t clamp32(int64_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : (int32_t)v; }

/* a / b rounded half up, b > 0: floor((2a + b) / 2b). */
static int64_t div_round(int64_t a, int64_t b) {
    int64_t num = 2 * a + b, den = 2 * b, q = num / den;
    return q - (num % den < 0);
}

static int64_t isqrt64(int64_t n) {
    int64_t s = (int64_t)sqrt((double)n);
    while (s * s > n) s--;
    while ((s + 1) * (s + 1) <= n) s++;
    return s;
}

/* clamp(divr(x * c, root << 16), -127, 127), root = max(isqrt(sum x^2), 1), for every column:
   all d of them cost little more than the sum of squares, and vectorize without gathers.
   |x| <= 32767 and d <= 1024, so the sum of squares is below 2^40 and |x * c| at most 2^56
   (c <= 2^41). The quotient Q = floor(num / den), num / den = (2xc + r) / 2r, is estimated in
   double and truncated: the magnitude is below 2^41 and the estimate's relative error below
   2^-50, so the truncation is Q - 1 .. Q + 2 (truncation rounds a negative quotient up). Each
   integer comparison below moves an estimate above Q down by one, or one below Q up, and leaves
   Q as it is: two down and one up make it exact. The estimate is clamped to +-129 first, where
   the final clamp to +-127 decides anyway, so the products compared stay below 2^45. An int64
   division costs tens of cycles, and floor() keeps compilers from vectorizing. */
INLINE void norm(const int32_t *restrict x, int d, const Norm *n, int32_t *restrict a) {
    if (!n->live) return;
    int64_t ss = 0;
    for (int j = 0; j < d; j++) ss += (int64_t)x[j] * x[j];
    int64_t root = isqrt64(ss);
    root = (root < 1 ? 1 : root) << NORM_FRAC_BITS;
    const int64_t den = 2 * root, c = n->c;
    const double inv = 1.0 / (double)den;
    for (int j = 0; j < d; j++) {
        const int64_t num = 2 * x[j] * c + root;
        int64_t q = (int64_t)((double)num * inv);
        q = q < -(ACT_MAX + 2) ? -(ACT_MAX + 2) : q > ACT_MAX + 2 ? ACT_MAX + 2 : q;
        q = q * den > num ? q - 1 : q;
        q = q * den > num ? q - 1 : q;
        q = (q + 1) * den <= num ? q + 1 : q;
        a[j] = (int32_t)(q < -ACT_MAX ? -ACT_MAX : q > ACT_MAX ? ACT_MAX : q);
    }
}

typedef void (*Run)(const Model *m, Work *w, const Streams *st, const Batch *b, int s0, int s1);

#ifdef X86_LEVELS
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4", "prefer-vector-width=512")
#define ISA _v4
#include "forward_isa.h"
#undef ISA
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define ISA _v3
#include "forward_isa.h"
#undef ISA
#pragma GCC pop_options
#endif

#define ISA _base
#include "forward_isa.h"
#undef ISA

static Run run = run_base;
static const char *isa = "baseline";

void forward_init(void) {
#ifdef X86_LEVELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) {
        run = run_v4;
        isa = "x86-64-v4";
    } else if (__builtin_cpu_supports("x86-64-v3")) {
        run = run_v3;
        isa = "x86-64-v3";
    }
#endif
}

const char *forward_isa(void) { return isa; }

void forward_range(const Model *m, Work *w, const Streams *st, const Batch *b, int s0, int s1) { run(m, w, st, b, s0, s1); }

Work *work_new(const Model *m) {
    Work *w = calloc(1, sizeof(Work));
    if (!w) return NULL;
    int d = m->d, width = m->max_width > d ? m->max_width : d, score = 1, value = 1, hidden = 1;
    for (int l = 0; l < m->n_layers; l++) {
        const Layer *L = &m->layers[l];
        if (L->attn.n_score > score) score = L->attn.n_score;
        if (L->attn.n_value > value) value = L->attn.n_value;
        if (L->mlp.w1.n_out > hidden) hidden = L->mlp.w1.n_out;
    }
    w->x = calloc(d, sizeof(int32_t));
    w->a = calloc(d, sizeof(int32_t));
    w->q = calloc(score, sizeof(int32_t));
    w->k = calloc(score, sizeof(int32_t));
    w->v = calloc(value, sizeof(int32_t));
    w->o = calloc(value, sizeof(int32_t));
    w->h = calloc(hidden, sizeof(int32_t));
    w->p = calloc(m->window, sizeof(int64_t));
    w->x16 = calloc(width, sizeof(int16_t));
    w->acc = calloc(width, sizeof(int64_t));
    w->z = calloc(m->window, sizeof(int64_t));
    w->logits = calloc(VOCAB, sizeof(int64_t));
    if (!w->x || !w->a || !w->q || !w->k || !w->v || !w->o || !w->h || !w->p || !w->x16 || !w->acc || !w->z || !w->logits) {
        work_free(w);
        return NULL;
    }
    return w;
}

void work_free(Work *w) {
    if (!w) return;
    free(w->x);
    free(w->a);
    free(w->q);
    free(w->k);
    free(w->v);
    free(w->o);
    free(w->h);
    free(w->p);
    free(w->x16);
    free(w->acc);
    free(w->z);
    free(w->logits);
    free(w);
}
