/* The side models and the binary arithmetic coder, one bit at a time (see __init__.py).

   Integer arithmetic only, in a fixed order: streams 0..m-1 of a step, each
   byte's bits from the most significant down, every table updated right after
   the bit it predicted. Encoder and decoder run this same code, so they hold
   the same state at every bit on any machine. The logistic tables come from
   Python (computed with the decimal module), so no libm call is involved. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define P_BITS 12
#define P_ONE (1 << P_BITS)
#define LOGIT_MAX 2047
#define N_ORDERS 6
static const int ORDERS[N_ORDERS] = {1, 2, 3, 4, 5, 7};
#define N_CTX (1 + N_ORDERS + 3)       /* order 0, the orders, two word contexts, the match's guess */
#define N_INPUTS (1 + N_CTX + 2 + 1)   /* transformer, contexts, match (two), bias */
#define COUNT_LEVELS 16
#define MATCH_MIN 6
#define MATCH_MAX 65535
#define APM_CELLS 33
#define MATCH_BUCKETS 7
#define MIXERS 3
#define MIXER0_SETS 256                     /* by the partial byte */
#define MIXER1_SETS (MATCH_BUCKETS * 8 * 2) /* by match length, bit position, match still following */
#define MIXER2_SETS 256                     /* by the previous byte */
#define N_WEIGHTS ((MIXER0_SETS + MIXER1_SETS + MIXER2_SETS) * N_INPUTS)

static const uint64_t PRIMES[] = {
    0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull, 0xD6E8FEB86659FD93ull,
    0xFF51AFD7ED558CCDull, 0xC4CEB9FE1A85EC53ull, 0x2545F4914F6CDD1Dull, 0x94D049BB133111EBull,
    0xBF58476D1CE4E5B9ull};

/* ---- the logistic domain ---- */

typedef struct {
    int16_t stretch[P_ONE];            /* p -> logit, 1/256 nat units */
    int16_t squash[2 * LOGIT_MAX + 1]; /* logit + LOGIT_MAX -> p */
} Logistic;

static inline int squash(const Logistic *lg, int64_t d) {
    if (d > LOGIT_MAX) d = LOGIT_MAX;
    if (d < -LOGIT_MAX) d = -LOGIT_MAX;
    return lg->squash[d + LOGIT_MAX];
}

/* ---- adaptive probabilities: 22-bit probability and a 10-bit count in one word ---- */

typedef struct {
    uint32_t *t;
    uint32_t limit;
} AdaptiveMap;

static int map_init(AdaptiveMap *m, size_t n, uint32_t limit) {
    m->t = malloc(n * sizeof(uint32_t));
    if (!m->t) return -1;
    for (size_t i = 0; i < n; i++) m->t[i] = 1u << 31;
    m->limit = limit;
    return 0;
}

static inline int map_p(const AdaptiveMap *m, size_t i) { return (int)(m->t[i] >> 20); }

/* Move toward the bit by 1/(n + 1.5): the running average while n is small, then a fixed rate. */
static inline void map_update(AdaptiveMap *m, size_t i, int bit) {
    uint32_t v = m->t[i], n = v & 1023, p = v >> 10;
    int64_t target = bit ? (1 << 22) - 1 : 0;
    p = (uint32_t)((int64_t)p + ((target - (int64_t)p) * 2) / (int64_t)(2 * n + 3));
    m->t[i] = (p << 10) | (n < m->limit ? n + 1 : n);
}

/* ---- APM: refines a probability per context by interpolating between 33 logit buckets ---- */

typedef struct {
    uint16_t *t; /* 16-bit probabilities */
    size_t cell;
} APM;

static int apm_init(APM *a, const Logistic *lg, size_t contexts) {
    a->t = malloc(contexts * APM_CELLS * sizeof(uint16_t));
    if (!a->t) return -1;
    for (size_t c = 0; c < contexts; c++)
        for (int j = 0; j < APM_CELLS; j++) a->t[c * APM_CELLS + j] = (uint16_t)(squash(lg, (j - 16) * 128) * 16);
    return 0;
}

static inline int apm_refine(APM *a, const Logistic *lg, int p, size_t ctx) {
    int s = lg->stretch[p] + 2048; /* 1 .. 4095 */
    int lo = s >> 7, w = s & 127;
    size_t i = ctx * APM_CELLS + lo;
    a->cell = i + (w >> 6);
    return (a->t[i] * (128 - w) + a->t[i + 1] * w) >> 11;
}

static inline void apm_update(APM *a, int bit) {
    int g = (bit << 16) + (bit << 6) - bit - bit;
    a->t[a->cell] = (uint16_t)(a->t[a->cell] + ((g - a->t[a->cell]) >> 6));
}

/* ---- the binary arithmetic coder (carry-less, 32-bit range, 12-bit probabilities) ---- */

typedef struct {
    uint32_t x1, x2, x;
    uint8_t *buf;
    size_t len, cap, pos;
    int decoding;
} BitCoder;

static int put_byte(BitCoder *c, uint8_t b) {
    if (c->len == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1 << 16;
        uint8_t *buf = realloc(c->buf, cap);
        if (!buf) return -1;
        c->buf = buf;
        c->cap = cap;
    }
    c->buf[c->len++] = b;
    return 0;
}

static inline uint8_t get_byte(BitCoder *c) { return c->pos < c->len ? c->buf[c->pos++] : 0; }

/* Codes (or decodes, returning it) one bit with P(1) = p / 4096. Returns -1 only on out of memory. */
static inline int code_bit(BitCoder *c, int bit, int p) {
    uint32_t mid = c->x1 + (uint32_t)(((uint64_t)(c->x2 - c->x1) * (uint32_t)p) >> P_BITS);
    if (c->decoding) bit = c->x <= mid;
    if (bit) c->x2 = mid;
    else c->x1 = mid + 1;
    while (((c->x1 ^ c->x2) & 0xff000000u) == 0) {
        if (c->decoding) c->x = (c->x << 8) | get_byte(c);
        else if (put_byte(c, (uint8_t)(c->x2 >> 24))) return -1;
        c->x1 <<= 8;
        c->x2 = (c->x2 << 8) | 255;
    }
    return bit;
}

/* ---- the whole predictor ---- */

typedef struct {
    PyObject_HEAD
    Logistic lg;
    BitCoder coder;
    int S, L, t, table_bits;
    int64_t *lengths;
    /* per stream */
    uint64_t *last8, *word, *prev_word;
    int64_t *match_ptr, *match_len;
    /* shared tables */
    uint8_t *counts; /* per slot: zeros (top bit: the last bit seen), ones, check byte of the context */
    uint64_t slot_mask;
    AdaptiveMap states, match_map;
    uint8_t *history;     /* segment s, time t at s * L + t */
    int64_t *match_table; /* hash of the last MATCH_MIN bytes -> position of the byte after them */
    uint64_t match_mask;
    int32_t *weights; /* MIXERS weight tables of 16.16 fixed point */
    int32_t final_weights[8 * MIXERS]; /* the second layer, by bit position: combines the mixers */
    size_t set_offset[MIXERS];
    APM apm_node, apm_order1, apm_order2;
    int lr;
    int priming; /* learning from a prior's text: bits are known, nothing is coded */
    double bits; /* the ideal codelength so far (reported only) */
    int path_p[8]; /* the probability (of P_ONE) given to each bit of the byte coded last (reported only) */
} SideCoder;

static PyTypeObject SideCoderType;
static uint8_t LEVEL[128];
static double COST[P_ONE]; /* -log2(p / 4096): reporting only, never coding */

static void tables_init(void) {
    for (int i = 1; i < P_ONE; i++) COST[i] = -log2((double)i / P_ONE);
    static const int edges[COUNT_LEVELS] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 48, 64, 128};
    for (int n = 0, l = 0; n < 128; n++) {
        while (l + 1 < COUNT_LEVELS && n >= edges[l + 1]) l++;
        LEVEL[n] = (uint8_t)l;
    }
}

static inline int is_letter(int b) {
    int lower = b | 0x20;
    return (lower >= 'a' && lower <= 'z') || b >= 0x80;
}

/* The slot of a context among two neighbours: the one holding its check byte, else the one
   with less evidence, emptied for it. */
static inline size_t find_slot(uint8_t *counts, size_t i, uint8_t check) {
    uint8_t *a = counts + 3 * i, *b = counts + 3 * (i ^ 1);
    if (a[2] == check) return i;
    if (b[2] == check) return i ^ 1;
    if ((a[0] & 127) + a[1] > (b[0] & 127) + b[1]) {
        a = b;
        i ^= 1;
    }
    a[0] = a[1] = 0;
    a[2] = check;
    return i;
}

static inline int match_bucket(int64_t len) {
    if (len == 0) return 0;
    if (len < 16) return 1 + (int)(len >> 2); /* 1..4 */
    if (len < 32) return 5;
    return 6;
}

/* Codes one byte of stream s: ``byte`` is read when encoding and written when decoding. */
static int code_byte(SideCoder *c, int s, const int64_t *freqs, uint8_t *byte) {
    const Logistic *lg = &c->lg;
    int64_t cum[257];
    cum[0] = 0;
    for (int i = 0; i < 256; i++) cum[i + 1] = cum[i] + freqs[i];

    uint64_t base[N_CTX];
    uint64_t h = c->last8[s];
    base[0] = 0;
    for (int k = 0; k < N_ORDERS; k++) {
        uint64_t ctx = ORDERS[k] >= 8 ? h : h & ((1ull << (8 * ORDERS[k])) - 1);
        base[1 + k] = (ctx + ((uint64_t)ORDERS[k] << 56)) * PRIMES[k];
    }
    base[1 + N_ORDERS] = (c->word[s] + 1) * PRIMES[N_ORDERS];
    base[2 + N_ORDERS] = (c->word[s] ^ (c->prev_word[s] * PRIMES[8])) * PRIMES[N_ORDERS + 1];

    int64_t mlen = c->match_len[s];
    int expected = mlen > 0 ? c->history[c->match_ptr[s]] : -1;
    int mb = match_bucket(mlen);
    base[3 + N_ORDERS] = ((uint64_t)(expected + 1) << 8 | (uint64_t)mb << 24 | (h & 0xff) << 32) * PRIMES[0];
    int c1 = (int)(h & 0xff);

    int node = 1, value = c->coder.decoding && !c->priming ? 0 : *byte;
    for (int j = 0; j < 8; j++) {
        int shift = 7 - j;
        int64_t lo = (int64_t)(node - (1 << j)) << (shift + 1);
        int64_t total = cum[lo + (2 << shift)] - cum[lo];
        int64_t ones = cum[lo + (2 << shift)] - cum[lo + (1 << shift)];
        int64_t pt = total > 0 ? (ones * P_ONE + total / 2) / total : P_ONE / 2;
        if (pt < 1) pt = 1;
        if (pt > P_ONE - 1) pt = P_ONE - 1;

        int x[N_INPUTS];
        size_t slot[N_CTX], state[N_CTX];
        uint8_t check[N_CTX];
        x[0] = lg->stretch[pt];
        for (int k = 0; k < N_CTX; k++) {
            uint64_t hk = (base[k] >> 20) ^ ((uint64_t)node * 0x2F0B3A49ull);
            check[k] = (uint8_t)(((base[k] >> 8) ^ (uint64_t)node) & 0xff);
            slot[k] = find_slot(c->counts, ((size_t)k << c->table_bits) + (size_t)(hk & c->slot_mask), check[k]);
            uint8_t *n = c->counts + 3 * slot[k];
            state[k] = ((size_t)k * 2 + (n[0] >> 7)) * COUNT_LEVELS * COUNT_LEVELS + LEVEL[n[0] & 127] * COUNT_LEVELS + LEVEL[n[1]];
            x[1 + k] = lg->stretch[map_p(&c->states, state[k])];
        }
        int following = expected >= 0 && (expected >> (shift + 1)) == node - (1 << j);
        int guess = expected >= 0 ? (expected >> shift) & 1 : 0;
        size_t mctx = (size_t)(mb * 2 + guess);
        int sure = following ? lg->stretch[map_p(&c->match_map, mctx)] : 0;
        x[1 + N_CTX] = guess ? sure : -sure;
        x[2 + N_CTX] = following ? (guess ? 256 : -256) : 0;
        x[3 + N_CTX] = 256;

        size_t set_ctx[MIXERS] = {(size_t)node, (size_t)(mb * 8 + j) * 2 + (size_t)following, (size_t)c1};
        int64_t dot[MIXERS];
        int pm[MIXERS];
        for (int k = 0; k < MIXERS; k++) {
            int32_t *w = c->weights + c->set_offset[k] + set_ctx[k] * N_INPUTS;
            dot[k] = 0;
            for (int i = 0; i < N_INPUTS; i++) dot[k] += (int64_t)x[i] * w[i];
            dot[k] >>= 16;
            pm[k] = squash(lg, dot[k]);
        }
        int32_t *fw = c->final_weights + j * MIXERS;
        int64_t final_dot = 0;
        for (int k = 0; k < MIXERS; k++) final_dot += dot[k] * fw[k];
        int p = squash(lg, final_dot >> 16);
        int p1 = apm_refine(&c->apm_node, lg, p, (size_t)node);
        int p2 = apm_refine(&c->apm_order1, lg, p, (size_t)(c1 << 8 | node));
        int p3 = apm_refine(&c->apm_order2, lg, p, (size_t)((((h & 0xffff) * 0x9E3779B1u) >> 16 ^ (uint64_t)node * 0x2F0B) & 0xffff));
        int pf = (2 * p + 2 * p1 + 2 * p2 + 2 * p3 + 4) >> 3;
        if (pf < 1) pf = 1;
        if (pf > P_ONE - 1) pf = P_ONE - 1;

        int bit = (value >> shift) & 1;
        if (!c->priming) {
            bit = code_bit(&c->coder, bit, pf);
            if (bit < 0) return -1;
        }
        if (!c->coder.decoding && !c->priming) c->bits += COST[bit ? pf : P_ONE - pf];
        c->path_p[j] = bit ? pf : P_ONE - pf;

        for (int k = 0; k < N_CTX; k++) {
            uint8_t *n = c->counts + 3 * slot[k];
            int n0 = n[0] & 127, n1 = n[1];
            map_update(&c->states, state[k], bit);
            if (bit) {
                if (n0 > 2) n0 = n0 / 2 + 1;
                if (n1 < 127) n1++;
            } else {
                if (n1 > 2) n1 = n1 / 2 + 1;
                if (n0 < 127) n0++;
            }
            n[0] = (uint8_t)(n0 | bit << 7);
            n[1] = (uint8_t)n1;
        }
        if (following) map_update(&c->match_map, mctx, bit == guess);
        for (int k = 0; k < MIXERS; k++) {
            int32_t *w = c->weights + c->set_offset[k] + set_ctx[k] * N_INPUTS;
            int64_t err = (int64_t)((bit << P_BITS) - pm[k]) * c->lr;
            for (int i = 0; i < N_INPUTS; i++) {
                int64_t v = w[i] + ((x[i] * err) >> 14);
                w[i] = (int32_t)(v > (1 << 24) ? (1 << 24) : v < -(1 << 24) ? -(1 << 24) : v);
            }
        }
        int64_t final_err = (int64_t)((bit << P_BITS) - p) * 2;
        for (int k = 0; k < MIXERS; k++) {
            int64_t v = fw[k] + ((dot[k] * final_err) >> 14);
            fw[k] = (int32_t)(v > (1 << 24) ? (1 << 24) : v < -(1 << 24) ? -(1 << 24) : v);
        }
        apm_update(&c->apm_node, bit);
        apm_update(&c->apm_order1, bit);
        apm_update(&c->apm_order2, bit);
        node = 2 * node + bit;
    }
    *byte = (uint8_t)(node - 256);
    return 0;
}

/* The contexts of stream s after byte b. */
static inline void push_byte(SideCoder *c, int s, uint8_t b) {
    c->last8[s] = (c->last8[s] << 8) | b;
    if (is_letter(b)) c->word[s] = (c->word[s] ^ (uint64_t)(b | 0x20)) * PRIMES[7];
    else if (c->word[s]) {
        c->prev_word[s] = c->word[s];
        c->word[s] = 0;
    }
}

/* After every stream coded step t: histories, word hashes, and the match model. */
static void end_step(SideCoder *c, int m, const uint8_t *bytes) {
    int t = c->t;
    for (int s = 0; s < m; s++) {
        uint8_t b = bytes[s];
        c->history[(int64_t)s * c->L + t] = b;
        push_byte(c, s, b);
        /* Continue the match while it predicts right and its next byte exists. */
        int64_t ptr = c->match_ptr[s];
        if (c->match_len[s] > 0 && c->history[ptr] == b && c->match_len[s] < MATCH_MAX) {
            int64_t next = ptr + 1, seg = next / c->L;
            if (next - seg * c->L < c->lengths[seg]) {
                c->match_ptr[s] = next;
                c->match_len[s]++;
            } else c->match_len[s] = 0;
        } else c->match_len[s] = 0;
    }
    if (t + 1 < MATCH_MIN) return;
    uint64_t ctx_mask = (1ull << (8 * MATCH_MIN)) - 1;
    /* Look up every lost match before inserting: an entry of this step points at a byte not coded yet. */
    for (int s = 0; s < m; s++) {
        if (c->match_len[s] > 0) continue;
        size_t hs = (size_t)(((c->last8[s] & ctx_mask) * PRIMES[0]) >> 20 & c->match_mask);
        if (c->match_table[hs] >= 0) {
            c->match_ptr[s] = c->match_table[hs];
            c->match_len[s] = 1;
        }
    }
    for (int s = 0; s < m; s++) {
        if (t + 1 >= c->lengths[s]) continue;
        size_t hs = (size_t)(((c->last8[s] & ctx_mask) * PRIMES[0]) >> 20 & c->match_mask);
        c->match_table[hs] = (int64_t)s * c->L + t + 1;
    }
}

/* ---- Python glue ---- */

static int get_freqs(PyObject *obj, Py_buffer *view, int *m, int max_m) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->ndim != 2 || view->shape[1] != 256 || view->itemsize != 8 || view->format == NULL ||
        (strcmp(view->format, "q") && strcmp(view->format, "l") && strcmp(view->format, "<q") && strcmp(view->format, "<l")) ||
        view->shape[0] > max_m) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "freqs must be a C-contiguous int64 array of shape (m, 256), m <= streams");
        return -1;
    }
    *m = (int)view->shape[0];
    const int64_t *f = view->buf;
    for (Py_ssize_t i = 0; i < view->shape[0] * 256; i++)
        if (f[i] < 1 || f[i] > (1 << 24)) {
            PyBuffer_Release(view);
            PyErr_SetString(PyExc_ValueError, "frequencies must be in 1 .. 2**24");
            return -1;
        }
    return 0;
}

static PyObject *step(SideCoder *c, PyObject *freqs_obj, PyObject *bytes_obj) {
    Py_buffer fv, bv;
    int m;
    if (c->t >= c->L) {
        PyErr_SetString(PyExc_ValueError, "all steps are coded already");
        return NULL;
    }
    if (get_freqs(freqs_obj, &fv, &m, c->S) < 0) return NULL;
    PyObject *out = NULL;
    uint8_t *bytes;
    if (bytes_obj) {
        if (PyObject_GetBuffer(bytes_obj, &bv, PyBUF_C_CONTIGUOUS) < 0) goto done;
        if (bv.len != m) {
            PyBuffer_Release(&bv);
            PyErr_SetString(PyExc_ValueError, "one byte per stream expected");
            goto done;
        }
        bytes = malloc(m ? m : 1);
        if (bytes) memcpy(bytes, bv.buf, m);
        PyBuffer_Release(&bv);
    } else bytes = calloc(m ? m : 1, 1);
    if (!bytes) {
        PyErr_NoMemory();
        goto done;
    }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int s = 0; s < m && !failed; s++) failed = code_byte(c, s, (const int64_t *)fv.buf + 256 * (size_t)s, bytes + s);
    if (!failed) end_step(c, m, bytes);
    Py_END_ALLOW_THREADS
    if (failed) PyErr_NoMemory();
    else {
        c->t++;
        out = PyBytes_FromStringAndSize((const char *)bytes, m);
    }
    free(bytes);
done:
    PyBuffer_Release(&fv);
    return out;
}

static PyObject *SideCoder_encode_step(SideCoder *c, PyObject *args) {
    PyObject *freqs, *bytes;
    if (!PyArg_ParseTuple(args, "OO", &freqs, &bytes)) return NULL;
    if (c->coder.decoding) {
        PyErr_SetString(PyExc_ValueError, "this coder decodes");
        return NULL;
    }
    PyObject *r = step(c, freqs, bytes);
    if (!r) return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyObject *SideCoder_decode_step(SideCoder *c, PyObject *freqs) {
    if (!c->coder.decoding) {
        PyErr_SetString(PyExc_ValueError, "this coder encodes");
        return NULL;
    }
    return step(c, freqs, NULL);
}

/* Learns from a text as if coding it in stream 0 with a uniform transformer, then clears the
   stream's contexts: every stream still starts context-free, but the tables, maps, mixers and
   APMs start from what the text taught them. The match model does not see the text. */
static PyObject *SideCoder_prime(SideCoder *c, PyObject *text) {
    if (c->t != 0) {
        PyErr_SetString(PyExc_ValueError, "prime() must come before the first step");
        return NULL;
    }
    Py_buffer v;
    if (PyObject_GetBuffer(text, &v, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    int64_t uniform[256];
    for (int i = 0; i < 256; i++) uniform[i] = 1;
    const uint8_t *b = v.buf;
    Py_BEGIN_ALLOW_THREADS
    c->priming = 1;
    for (Py_ssize_t i = 0; i < v.len; i++) {
        uint8_t byte = b[i];
        code_byte(c, 0, uniform, &byte);
        push_byte(c, 0, byte);
    }
    c->priming = 0;
    c->last8[0] = c->word[0] = c->prev_word[0] = 0;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    Py_RETURN_NONE;
}

static void *clone_buffer(const void *p, size_t n) {
    void *q = malloc(n ? n : 1);
    if (q && n) memcpy(q, p, n);
    return q;
}

/* A new encoder in exactly this state: one primed state serves every candidate the encoder
   measures, instead of learning the prior's text again for each. */
static PyObject *SideCoder_copy(SideCoder *c, PyObject *unused) {
    if (c->coder.decoding || c->t != 0 || !c->lengths) {
        PyErr_SetString(PyExc_ValueError, "copy() is for an encoder before its first step");
        return NULL;
    }
    SideCoder *d = (SideCoder *)SideCoderType.tp_alloc(&SideCoderType, 0);
    if (!d) return NULL;
    memcpy((char *)d + sizeof(PyObject), (char *)c + sizeof(PyObject), sizeof(SideCoder) - sizeof(PyObject));
    size_t S = (size_t)c->S, slots = (size_t)1 << c->table_bits;
    d->coder.buf = NULL;
    d->coder.len = d->coder.cap = 0;
    d->lengths = clone_buffer(c->lengths, S * 8);
    d->last8 = clone_buffer(c->last8, S * 8);
    d->word = clone_buffer(c->word, S * 8);
    d->prev_word = clone_buffer(c->prev_word, S * 8);
    d->match_ptr = clone_buffer(c->match_ptr, S * 8);
    d->match_len = clone_buffer(c->match_len, S * 8);
    d->counts = clone_buffer(c->counts, N_CTX * slots * 3);
    d->states.t = clone_buffer(c->states.t, N_CTX * 2 * COUNT_LEVELS * COUNT_LEVELS * 4);
    d->match_map.t = clone_buffer(c->match_map.t, MATCH_BUCKETS * 2 * 4);
    d->history = clone_buffer(c->history, S * (size_t)c->L);
    d->match_table = clone_buffer(c->match_table, slots * 8);
    d->weights = clone_buffer(c->weights, N_WEIGHTS * 4);
    d->apm_node.t = clone_buffer(c->apm_node.t, 256 * APM_CELLS * 2);
    d->apm_order1.t = clone_buffer(c->apm_order1.t, 65536 * APM_CELLS * 2);
    d->apm_order2.t = clone_buffer(c->apm_order2.t, 65536 * APM_CELLS * 2);
    if (!d->lengths || !d->last8 || !d->word || !d->prev_word || !d->match_ptr || !d->match_len || !d->counts || !d->states.t ||
        !d->match_map.t || !d->history || !d->match_table || !d->weights || !d->apm_node.t || !d->apm_order1.t || !d->apm_order2.t) {
        Py_DECREF(d);
        return PyErr_NoMemory();
    }
    return (PyObject *)d;
}

static PyObject *SideCoder_finish(SideCoder *c, PyObject *unused) {
    if (c->coder.decoding) {
        PyErr_SetString(PyExc_ValueError, "this coder decodes");
        return NULL;
    }
    /* x1 itself lies in the final range: four bytes of it end the stream. */
    for (int i = 3; i >= 0; i--)
        if (put_byte(&c->coder, (uint8_t)(c->coder.x1 >> (8 * i)))) return PyErr_NoMemory();
    PyObject *out = PyBytes_FromStringAndSize((const char *)c->coder.buf, (Py_ssize_t)c->coder.len);
    c->coder.len -= 4;
    return out;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

/* A hash of every piece of state that predictions depend on, for tests: encoder and decoder must agree. */
static PyObject *SideCoder_digest(SideCoder *c, PyObject *unused) {
    size_t S = (size_t)c->S, slots = (size_t)1 << c->table_bits;
    uint64_t h = 0xCBF29CE484222325ull;
    h = fnv(h, c->last8, S * 8);
    h = fnv(h, c->word, S * 8);
    h = fnv(h, c->prev_word, S * 8);
    h = fnv(h, c->match_ptr, S * 8);
    h = fnv(h, c->match_len, S * 8);
    h = fnv(h, c->counts, N_CTX * slots * 3);
    h = fnv(h, c->states.t, N_CTX * 2 * COUNT_LEVELS * COUNT_LEVELS * 4);
    h = fnv(h, c->match_map.t, MATCH_BUCKETS * 2 * 4);
    h = fnv(h, c->history, S * (size_t)c->L);
    h = fnv(h, c->match_table, slots * 8);
    h = fnv(h, c->weights, N_WEIGHTS * 4);
    h = fnv(h, c->final_weights, sizeof c->final_weights);
    h = fnv(h, c->apm_node.t, 256 * APM_CELLS * 2);
    h = fnv(h, c->apm_order1.t, 65536 * APM_CELLS * 2);
    h = fnv(h, c->apm_order2.t, 65536 * APM_CELLS * 2);
    h = fnv(h, &c->t, sizeof c->t);
    return PyLong_FromUnsignedLongLong(h);
}

static PyObject *SideCoder_bits(SideCoder *c, void *closure) { return PyFloat_FromDouble(c->bits); }

static PyObject *SideCoder_path_probs(SideCoder *c, void *closure) {
    return Py_BuildValue("(iiiiiiii)", c->path_p[0], c->path_p[1], c->path_p[2], c->path_p[3], c->path_p[4], c->path_p[5], c->path_p[6], c->path_p[7]);
}

static void SideCoder_dealloc(SideCoder *c) {
    free(c->coder.buf);
    free(c->lengths);
    free(c->last8);
    free(c->word);
    free(c->prev_word);
    free(c->match_ptr);
    free(c->match_len);
    free(c->counts);
    free(c->states.t);
    free(c->match_map.t);
    free(c->history);
    free(c->match_table);
    free(c->weights);
    free(c->apm_node.t);
    free(c->apm_order1.t);
    free(c->apm_order2.t);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int read_table(PyObject *obj, int16_t *dst, Py_ssize_t n, const char *what) {
    Py_buffer v;
    if (PyObject_GetBuffer(obj, &v, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (v.len != n * 2) {
        PyBuffer_Release(&v);
        PyErr_Format(PyExc_ValueError, "%s table must hold %zd int16 values", what, n);
        return -1;
    }
    const uint8_t *b = v.buf;
    for (Py_ssize_t i = 0; i < n; i++) dst[i] = (int16_t)(b[2 * i] | b[2 * i + 1] << 8); /* little-endian */
    PyBuffer_Release(&v);
    return 0;
}

/* SideCoder(lengths, table_bits, stretch, squash, data=None, lr=...): data given means decoding it. */
static int SideCoder_init(SideCoder *c, PyObject *args, PyObject *kwargs) {
    static char *kw[] = {"lengths", "table_bits", "stretch", "squash", "data", "lr", NULL};
    PyObject *lengths, *stretch_obj, *squash_obj, *data = Py_None;
    int table_bits, lr = 5;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OiOO|Oi", kw, &lengths, &table_bits, &stretch_obj, &squash_obj, &data, &lr))
        return -1;
    if (c->lengths) {
        PyErr_SetString(PyExc_TypeError, "SideCoder is initialized once");
        return -1;
    }
    if (table_bits < 12 || table_bits > 24) {
        PyErr_SetString(PyExc_ValueError, "table_bits must be in 12..24");
        return -1;
    }
    if (read_table(stretch_obj, c->lg.stretch, P_ONE, "stretch") || read_table(squash_obj, c->lg.squash, 2 * LOGIT_MAX + 1, "squash"))
        return -1;
    PyObject *seq = PySequence_Fast(lengths, "lengths must be a sequence");
    if (!seq) return -1;
    Py_ssize_t S = PySequence_Fast_GET_SIZE(seq);
    if (S < 1 || S > (1 << 16)) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "1 .. 65536 streams");
        return -1;
    }
    c->lengths = malloc(S * sizeof(int64_t));
    if (!c->lengths) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t s = 0; s < S; s++) c->lengths[s] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, s));
    Py_DECREF(seq);
    if (PyErr_Occurred()) return -1;
    for (Py_ssize_t s = 0; s < S; s++)
        if (c->lengths[s] < 1 || c->lengths[s] > c->lengths[0] || c->lengths[0] > ((int64_t)1 << 34) / S) {
            PyErr_SetString(PyExc_ValueError, "bad segment lengths");
            return -1;
        }
    c->S = (int)S;
    c->L = (int)c->lengths[0];
    c->table_bits = table_bits;
    c->slot_mask = (1ull << table_bits) - 1;
    c->match_mask = (1ull << table_bits) - 1;
    c->lr = lr;
    c->last8 = calloc(S, sizeof(uint64_t));
    c->word = calloc(S, sizeof(uint64_t));
    c->prev_word = calloc(S, sizeof(uint64_t));
    c->match_ptr = calloc(S, sizeof(int64_t));
    c->match_len = calloc(S, sizeof(int64_t));
    c->counts = calloc((size_t)N_CTX << table_bits, 3);
    c->history = calloc((size_t)S * c->L, 1);
    c->match_table = malloc(sizeof(int64_t) << table_bits);
    c->set_offset[0] = 0;
    c->set_offset[1] = MIXER0_SETS * N_INPUTS;
    c->set_offset[2] = (MIXER0_SETS + MIXER1_SETS) * N_INPUTS;
    c->weights = calloc(N_WEIGHTS, sizeof(int32_t));
    if (!c->last8 || !c->word || !c->prev_word || !c->match_ptr || !c->match_len || !c->counts || !c->history ||
        !c->match_table || !c->weights || map_init(&c->states, N_CTX * 2 * COUNT_LEVELS * COUNT_LEVELS, 1023) ||
        map_init(&c->match_map, MATCH_BUCKETS * 2, 1023) || apm_init(&c->apm_node, &c->lg, 256) || apm_init(&c->apm_order1, &c->lg, 65536) ||
        apm_init(&c->apm_order2, &c->lg, 65536)) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < ((size_t)1 << table_bits); i++) c->match_table[i] = -1;
    /* Start by trusting the transformer alone. */
    for (size_t i = 0; i < N_WEIGHTS; i++) c->weights[i] = i % N_INPUTS == 0 ? 1 << 16 : 1 << 13;
    for (int i = 0; i < 8 * MIXERS; i++) c->final_weights[i] = (1 << 16) / MIXERS;
    if (data != Py_None) {
        Py_buffer v;
        if (PyObject_GetBuffer(data, &v, PyBUF_C_CONTIGUOUS) < 0) return -1;
        c->coder.buf = malloc(v.len ? v.len : 1);
        if (!c->coder.buf) {
            PyBuffer_Release(&v);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(c->coder.buf, v.buf, v.len);
        c->coder.len = c->coder.cap = v.len;
        PyBuffer_Release(&v);
        c->coder.decoding = 1;
        for (int i = 0; i < 4; i++) c->coder.x = (c->coder.x << 8) | get_byte(&c->coder);
    }
    c->coder.x2 = 0xffffffffu;
    return 0;
}

static PyMethodDef SideCoder_methods[] = {
    {"encode_step", (PyCFunction)SideCoder_encode_step, METH_VARARGS, "encode_step(freqs, bytes): code one step of m streams."},
    {"decode_step", (PyCFunction)SideCoder_decode_step, METH_O, "decode_step(freqs) -> bytes: decode one step of m streams."},
    {"prime", (PyCFunction)SideCoder_prime, METH_O, "prime(text): learn from a text before the first step."},
    {"copy", (PyCFunction)SideCoder_copy, METH_NOARGS, "copy() -> SideCoder: an encoder in this state (before any step)."},
    {"finish", (PyCFunction)SideCoder_finish, METH_NOARGS, "finish() -> bytes: the coded stream so far, flushed."},
    {"digest", (PyCFunction)SideCoder_digest, METH_NOARGS, "digest() -> int: a hash of the models' whole state."},
    {NULL}};

static PyGetSetDef SideCoder_getset[] = {
    {"bits", (getter)SideCoder_bits, NULL, "ideal codelength so far, in bits", NULL},
    {"path_probs", (getter)SideCoder_path_probs, NULL, "the probability (of 4096) given to each bit of the byte coded last", NULL},
    {NULL}};

static PyTypeObject SideCoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mdlzip.coding.adaptive._side.SideCoder",
    .tp_basicsize = sizeof(SideCoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SideCoder_init,
    .tp_dealloc = (destructor)SideCoder_dealloc,
    .tp_methods = SideCoder_methods,
    .tp_getset = SideCoder_getset,
    .tp_doc = "Adaptive side models, mixer and binary arithmetic coder over S lock-step streams.",
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_side", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__side(void) {
    tables_init();
    if (PyType_Ready(&SideCoderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&SideCoderType);
    if (PyModule_AddObject(m, "SideCoder", (PyObject *)&SideCoderType) < 0) {
        Py_DECREF(&SideCoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
