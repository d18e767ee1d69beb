/* The pruned integer model as the engine runs it: what int_model.py builds from the weights.

   Only what can change a frequency is here. A linear map keeps its live rows and
   columns (a zero row gives a zero output, a zero column ignores its input), an
   attention layer its live heads and, within them, the dimensions that reach a
   score (both the query's and the key's row nonzero) or the output (the value's
   row and the output map's column nonzero), an MLP its live neurons. Every
   dropped value is an exact zero of the dense model, so the frequencies are the
   dense model's, bit for bit. */

#ifndef MDLZIP_ENGINE_MODEL_H
#define MDLZIP_ENGINE_MODEL_H

#include <stdint.h>

#define ACT_MAX 127
#define RESID_MAX 32767
#define VOCAB 256
#define NORM_FRAC_BITS 16

/* Rounding v * mant * 2^-shift half up, as (v * mul + add) >> rsh: mul = mant * 2^-shift and
   add = rsh = 0 for shift <= 0, else mul = mant, add = 2^(shift - 1), rsh = shift. */
typedef struct {
    int64_t mul, add;
    int rsh;
} Scale;

/* Dense rows are zero-padded to a multiple of this many weights: whole vector registers. */
#define ROW_PAD 32

/* out[o] = scale(sum_i in[in_idx[i]] * w[o][i]) for the n_out live rows. Dense: w is
   n_out x n_pad (n_in rounded up to ROW_PAD, zero-padded), row-major. Sparse: row o's
   nonzeros are val[row_ptr[o] .. row_ptr[o + 1]), reading the input at col[...]. */
typedef struct {
    int n_in, n_out, n_pad;
    const int32_t *in_idx;  /* where each live column reads the input */
    const int32_t *out_idx; /* the dense row of each live output (residual or logit) */
    Scale scale;
    const int16_t *dense; /* NULL when sparse */
    const int32_t *row_ptr, *col;
    const int16_t *val;
} Lin;

/* RMSNorm of the residual to the int8 grid, computed only where a live map reads it. */
typedef struct {
    int live;
    int64_t c; /* isqrt(d * 4^(e_out + NORM_FRAC_BITS)) */
} Norm;

typedef struct {
    int score0, n_score; /* its dimensions among the layer's query/key dimensions */
    int value0, n_value; /* and among its value dimensions */
    int32_t slope;       /* ALiBi: 2^(8 - s_j) logit units per position of distance */
} Head;

typedef struct {
    int live;
    Norm norm;
    Lin wq, wk, wv, wo; /* wq, wk: the score dimensions; wv: the value dimensions; wo reads those */
    int n_heads, n_score, n_value;
    const Head *heads;
    Scale score_scale;
    size_t cache_offset; /* of this layer's keys and values in a stream's cache */
} Attention;

typedef struct {
    int live;
    Norm norm;
    Lin w1, w2; /* w1: the live neurons; w2 reads them */
} Mlp;

typedef struct {
    Attention attn;
    Mlp mlp;
} Layer;

typedef struct {
    int wide; /* 0: every sum provably fits int32; 1: int64 */
    int d, window, n_prev;
    int n_table;
    const int32_t *table; /* exp table, indices 0 .. n_table - 1 */
    int n_emb;
    const int32_t *emb_k;  /* which previous-byte offset each live table serves */
    const void *emb;       /* n_emb tables of 257 x d, int32 (narrow) or int64 (wide) */
    int n_layers;
    const Layer *layers;
    Norm head_norm;
    Lin head;             /* n_out == 0: every logit is 0, the frequencies are constant */
    size_t cache_bytes;   /* per stream: int8 keys and values of every live layer */
    int max_width;        /* the largest n_out or n_pad, for the scratch buffers */
} Model;

#endif
