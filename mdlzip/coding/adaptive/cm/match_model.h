/* Match model: predicts the byte that followed the latest earlier occurrence of the recent bytes.

   Three candidates per stream, found through hashes of the last 5, 12 and 24 bytes (any
   stream's coded bytes; the last 16 for the third), each verified backwards, so its length is
   what really matches. (The third, which keeps a long match where the shorter ones jumped to a
   later, worse one: enwik5 -5 B, with the SSE changes of predictor.c -4 B and the kinds files
   -34 B; other pairs for the first two, {3, 8}, {4, 8}, {4, 12}, {6, 16}, {6, 24}: +15 to +29 B
   on enwik5; a third of 16, 20 or 32: as 24 within 1 B.) After a
   mismatch a candidate is not dropped at once: it keeps following its text for a few bytes
   ("recovering") and counts again from 1 if the text agrees again, which carries it across a
   changed word (recovering for 4 or 16 bytes instead of 8: within 1 B on enwik5). A map learns
   how often the expected bit is right, by length and recovery (also by the bit position, the
   expected bit or the bytes missed: within 1 B; the second input's length cap of 16 or 64 instead
   of 32, or no second input: +0 to +3 B). The
   expected byte of the longest candidate is also a context for other models, the mixers and SSE. */
#ifndef MDLZIP_CM_MATCH_MODEL_H
#define MDLZIP_CM_MATCH_MODEL_H

#include "common.h"
#include "table_alloc.h"
#include "history.h"
#include "maps.h"

#define MATCH_CANDIDATES 3
#define MATCH_INPUTS (2 * MATCH_CANDIDATES)
#define MATCH_MAX 65535
#define MATCH_VERIFY 48   /* how far back a new candidate is checked */
#define MATCH_MISSES 8    /* bytes a candidate may recover for */
#define MATCH_BUCKETS 24

static const int MATCH_MIN[MATCH_CANDIDATES] = {5, 12, 24};

typedef struct {
    int64_t ptr[MATCH_CANDIDATES]; /* the position of the expected byte, -1: none */
    int32_t len[MATCH_CANDIDATES];
    int32_t miss[MATCH_CANDIDATES];
} MatchStream;

typedef struct {
    int64_t *table[MATCH_CANDIDATES]; /* hash of the last MATCH_MIN bytes -> position after them (>= 1; 0: none) */
    uint64_t mask;
    AdaptiveMap right; /* P(expected bit is right) by candidate, length bucket, recovering */
} MatchModel;

static inline int match_bucket(int32_t len) {
    if (len < 16) return len;
    int b = 16 + ilog2_u32((uint32_t)len) - 4;
    return b < MATCH_BUCKETS ? b : MATCH_BUCKETS - 1;
}

static inline int match_init(MatchModel *m, int bits, int huge) {
    m->mask = ((uint64_t)1 << bits) - 1;
    for (int c = 0; c < MATCH_CANDIDATES; c++) {
        m->table[c] = table_alloc(sizeof(int64_t) << bits, huge);
        if (!m->table[c]) return -1;
    }
    return map_init(&m->right, MATCH_CANDIDATES * MATCH_BUCKETS * 2, 1023, 0);
}

static inline void match_stream_init(MatchStream *ms) {
    for (int c = 0; c < MATCH_CANDIDATES; c++) {
        ms->ptr[c] = -1;
        ms->len[c] = ms->miss[c] = 0;
    }
}

/* The candidate whose expected byte the other models use: the longest, -1 if none. */
static inline int match_best(const MatchStream *ms) {
    int best = -1;
    for (int c = 0; c < MATCH_CANDIDATES; c++)
        if (ms->ptr[c] >= 0 && ms->len[c] > 0 && (best < 0 || ms->len[c] > ms->len[best])) best = c;
    return best;
}

/* Mixer inputs for the next bit, given the partial byte c0 (1..255) at bit j. Fills ctx[c] with
   the map index used (or -1 when the candidate does not predict this bit). */
static inline void match_inputs(const MatchModel *m, const Logistic *lg, const MatchStream *ms, const uint8_t *hist, int c0, int j,
                                int16_t *x, int *ctx, int *expect_bit) {
    for (int c = 0; c < MATCH_CANDIDATES; c++) {
        x[2 * c] = x[2 * c + 1] = 0;
        ctx[c] = -1;
        expect_bit[c] = -1;
        if (ms->ptr[c] < 0) continue;
        int e = hist[ms->ptr[c]] | 256;
        if ((e >> (8 - j)) != c0) continue; /* the partial byte already left the expected one */
        int bit = (e >> (7 - j)) & 1;
        int idx = (c * MATCH_BUCKETS + match_bucket(ms->len[c])) * 2 + (ms->miss[c] > 0);
        int st = lg->stretch[map_p12(&m->right, (size_t)idx)];
        int len = ms->len[c] > 32 ? 32 : ms->len[c];
        x[2 * c] = bit ? st : -st;
        x[2 * c + 1] = (bit ? 1 : -1) * (ms->miss[c] ? 0 : len * 32);
        ctx[c] = idx;
        expect_bit[c] = bit;
    }
}

static inline void match_update_bit(MatchModel *m, const int *ctx, const int *expect_bit, int bit) {
    for (int c = 0; c < MATCH_CANDIDATES; c++)
        if (ctx[c] >= 0) map_update(&m->right, (size_t)ctx[c], bit == expect_bit[c]);
}

/* After byte b at time t of stream s: follow or drop each candidate. */
static inline void match_follow(const History *h, MatchStream *ms, uint8_t b) {
    for (int c = 0; c < MATCH_CANDIDATES; c++) {
        int64_t p = ms->ptr[c];
        if (p < 0) continue;
        if (h->bytes[p] == b) {
            if (ms->len[c] < MATCH_MAX) ms->len[c]++;
        } else {
            ms->len[c] = 0;
            if (++ms->miss[c] > MATCH_MISSES) {
                ms->ptr[c] = -1;
                ms->miss[c] = 0;
                continue;
            }
        }
        if (ms->len[c] >= 16) ms->miss[c] = 0; /* recovered */
        ms->ptr[c] = hist_has_next(h, p) ? p + 1 : -1;
    }
}

static inline uint64_t match_key(uint64_t last8, uint64_t before8, int c) {
    /* at most the last 16 bytes: a longer minimum is left to the verification */
    return MATCH_MIN[c] <= 8 ? hash2(last8 & ((1ull << (8 * MATCH_MIN[c])) - 1), 77)
           : hash2(last8, MATCH_MIN[c] >= 16 ? before8 : before8 & ((1ull << (8 * (MATCH_MIN[c] - 8))) - 1));
}

/* After time t of stream s was coded by every stream: a candidate for each empty or recovering
   slot, from the table (entries of earlier steps only, so their bytes are written). */
static inline void match_find(const MatchModel *m, const History *h, MatchStream *ms, int s, int64_t t, uint64_t last8, uint64_t before8) {
    for (int c = 0; c < MATCH_CANDIDATES; c++) {
        if (t + 1 < MATCH_MIN[c] || (ms->ptr[c] >= 0 && ms->miss[c] == 0)) continue;
        int64_t cand = m->table[c][match_key(last8, before8, c) & m->mask];
        if (cand == 0) continue;
        int64_t here = (int64_t)s * h->L + t, start = cand - cand % h->L;
        int32_t len = 0;
        while (len < MATCH_VERIFY && cand - 1 - len >= start && len <= t && h->bytes[cand - 1 - len] == h->bytes[here - len]) len++;
        if (len >= MATCH_MIN[c] && len > ms->len[c]) {
            ms->ptr[c] = cand;
            ms->len[c] = len;
            ms->miss[c] = 0;
        }
    }
}

static inline void match_insert(MatchModel *m, const History *h, int s, int64_t t, uint64_t last8, uint64_t before8) {
    if (t + 1 >= h->lengths[s]) return;
    for (int c = 0; c < MATCH_CANDIDATES; c++)
        if (t + 1 >= MATCH_MIN[c]) m->table[c][match_key(last8, before8, c) & m->mask] = (int64_t)s * h->L + t + 1;
}

#endif
