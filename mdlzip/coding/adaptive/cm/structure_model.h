/* Structure models: indirect, sparse and record contexts, for data that is not running text.

   Indirect: what followed the last two occurrences of the previous byte and of the previous two
   bytes (tables shared by all streams), as a context with the last one or two bytes (one for the
   previous three bytes, hashed, paid under 0.01% and went in 0.9). Sparse: bytes 2-3, 1 and 3,
   and 3-4 back, each skipping a nearer one (binary structures, 16- and 32-bit fields: the last
   two, after paq8px's sparse model, make the kinds library 0.74% smaller; bytes 2 and 4 went in
   0.16: without them every file but the library coded smaller, and it 0.04% larger), and byte 2
   back alone (after paq8px's sparse model: enwik5 -3 B, the kinds files -0.04%, the library
   -0.11%, at 1.6% of the instructions). Record: a fixed record length is
   detected when a byte value keeps recurring at the same distance; then the bytes one and two
   records above are contexts (tables, spreadsheets, images). */
#ifndef MDLZIP_CM_STRUCTURE_MODEL_H
#define MDLZIP_CM_STRUCTURE_MODEL_H

#include "common.h"
#include "history.h"

#define STRUCTURE_CONTEXTS 8
/* where each family starts in structure_contexts' output */
#define STRUCT_INDIRECT 0 /* 2 */
#define STRUCT_SPARSE 2   /* 4 */
#define STRUCT_RECORD 6   /* 2 */
#define RECORD_MIN 2
#define RECORD_MAX 65536
#define RECORD_CONFIRM 3

typedef struct {
    int32_t last_pos[256]; /* time of each byte value's last occurrence + 1 (0: never) */
    int32_t last_dist[256];
    int32_t cand, cand_count, rlen;
} StructureStream;

typedef struct {
    uint16_t ind1[256];   /* the two bytes that followed each byte value last */
    uint16_t ind2[65536]; /* the same for each pair of bytes */
} StructureModel;

static inline void structure_stream_init(StructureStream *ss) { memset(ss, 0, sizeof *ss); }

static inline void structure_update(StructureModel *m, StructureStream *ss, uint64_t c8_before, uint8_t b, int64_t t) {
    int c1 = (int)(c8_before & 0xff), c2c1 = (int)(c8_before & 0xffff);
    m->ind1[c1] = (uint16_t)(m->ind1[c1] << 8 | b);
    m->ind2[c2c1] = (uint16_t)(m->ind2[c2c1] << 8 | b);
    if (t < (1 << 30)) {
        int32_t now = (int32_t)t + 1, d = ss->last_pos[b] ? now - ss->last_pos[b] : 0;
        if (d >= RECORD_MIN && d <= RECORD_MAX && d == ss->last_dist[b]) {
            if (d == ss->cand) {
                if (++ss->cand_count >= RECORD_CONFIRM) ss->rlen = d;
            } else {
                ss->cand = d;
                ss->cand_count = 1;
            }
        }
        ss->last_dist[b] = d;
        ss->last_pos[b] = now;
    }
}

/* Contexts for the next byte, the t-th of stream s; c8 holds the last 8 bytes. Returns those that
   are off for it, bit i for out[i]: without a record length the record contexts would only
   repeat orders 0 and 1. */
static inline uint64_t structure_contexts(const StructureModel *m, const StructureStream *ss, const History *h, int s, int64_t t, uint64_t c8,
                                      uint64_t *out) {
    int c1 = (int)(c8 & 0xff), c2c1 = (int)(c8 & 0xffff);
    out[0] = hash3(11, (uint64_t)c1, m->ind1[c1]);
    out[1] = hash3(12, (uint64_t)c2c1, m->ind2[c2c1]);
    out[2] = hash2(13, (c8 >> 8) & 0xffff);
    out[3] = hash2(19, c8 & 0xff00ff);
    out[4] = hash2(20, (c8 >> 16) & 0xffff);
    out[5] = hash2(22, (c8 >> 8) & 0xff);
    int r = ss->rlen;
    int above = r ? hist_back(h, s, t, r) : 0, above2 = r ? hist_back(h, s, t, 2 * (int64_t)r) : 0;
    out[6] = hash3(15, (uint64_t)r << 8 | (uint64_t)above, (uint64_t)c1);
    int above_next = r > 1 ? hist_back(h, s, t, r - 1) : 0;
    out[7] = hash3(16, (uint64_t)r << 16 | (uint64_t)above << 8 | (uint64_t)above2, (uint64_t)above_next);
    return r ? 0 : 3ull << STRUCT_RECORD;
}

#endif
