/* DMC (dynamic Markov coding): a bit-level state machine grown on the data, whose state is a
   variable-order context of a kind the hashed contexts do not give.

   The graph starts as the order-1 machine (a node per previous byte and partial byte: 255 * 256
   nodes) and grows by cloning: when a transition into a node has been taken at least twice and
   the node has been reached at least twice more from elsewhere, the transition gets a copy of
   the node of its own, the counts split between them in proportion, so the copy learns what
   follows this path only. A node holds two next-node links and two counts (8.8 fixed point: the
   bit seen +1, both * 31/32). The graph is shared by all streams; where each stream stands in
   it is per stream (Stream.dmc). At its node budget (2^(table_bits - 2), 12 bytes a node) it
   stops cloning and is rebuilt as the order-1 machine at the step's end.

   Mixer inputs: the stretched count probability n1 / (n0 + n1), damped while the node has seen
   under 15 bits (by 1/4 per doubling), and that probability around 1/2, which carries how sure
   it is. enwik5 -22 B (-0.09%), enwik6 -296 B (-0.15%), the kinds files -88 B (-0.05%), for
   0.1% more instructions (enwik5).
   What did not pay (enwik5, beside these): a second and third graph cloning at 4-8 and 12
   (+1 to +20 B), thresholds 1, 3 or 4 (+1 to +13 B), faster or slower decay (+1 to +23 B), an
   adaptive map by probability and count as a third input (+9 B), an APM or a final-mixer
   selector by the node or its confidence (+3 to +21 B), and the node at the byte's start as a
   hashed bit-history context (+8 B). */
#ifndef MDLZIP_CM_DMC_MODEL_H
#define MDLZIP_CM_DMC_MODEL_H

#include "common.h"
#include "table_alloc.h"

#define DMC_INPUTS 2
#define DMC_BASE (255 * 256)
#define DMC_ONE 256    /* a count of 1 */
#define DMC_CLONE 2    /* the counts (each side) from which a transition gets its own node */
#define DMC_DECAY 5    /* counts * (1 - 2^-5) per visit */
#define DMC_NODE_SHIFT 2

typedef struct {
    uint32_t nx[2];
    uint16_t c[2];
} DmcNode;

typedef struct {
    DmcNode *t;
    uint32_t top, limit;
    int full; /* the budget was reached: rebuilt at the step's end */
} DmcModel;

/* The order-1 machine's node for previous byte b and partial byte c0 (1..255). */
static inline uint32_t dmc_node(int b, int c0) { return (uint32_t)b * 255 + (uint32_t)c0 - 1; }

static inline void dmc_reset(DmcModel *m) {
    for (int b = 0; b < 256; b++)
        for (int c0 = 1; c0 < 256; c0++) {
            DmcNode *n = m->t + dmc_node(b, c0);
            for (int y = 0; y < 2; y++) {
                int c = 2 * c0 + y;
                n->nx[y] = c < 256 ? dmc_node(b, c) : dmc_node(c - 256, 1);
                n->c[y] = DMC_ONE / 2;
            }
        }
    m->top = DMC_BASE;
    m->full = 0;
}

static inline int dmc_init(DmcModel *m, int table_bits) {
    uint32_t limit = (uint32_t)1 << (table_bits - DMC_NODE_SHIFT);
    m->limit = limit < 2 * DMC_BASE ? 2 * DMC_BASE : limit;
    m->t = table_alloc((size_t)m->limit * sizeof(DmcNode), 0);
    if (!m->t) return -1;
    dmc_reset(m);
    return 0;
}

static inline void dmc_stream_init(uint32_t *cur) { *cur = dmc_node(0, 1); }

static inline void dmc_inputs(const DmcModel *m, const Logistic *lg, uint32_t cur, int16_t *x) {
    const DmcNode *n = m->t + cur;
    uint32_t tot = (uint32_t)n->c[0] + n->c[1];
    int p = (int)(((uint32_t)n->c[1] * 4096 + tot / 2) / tot); /* tot > 0: counts start at 1/2 and fall to no less */
    p = p < 1 ? 1 : p > 4095 ? 4095 : p;
    int conf = ilog2_u32(tot / DMC_ONE + 1);
    x[0] = (int16_t)(lg->stretch[p] * (conf > 4 ? 4 : conf) / 4);
    x[1] = (int16_t)((p - 2048) >> 2);
}

/* Both nodes the next bit may lead to, toward the cache while the bit is coded: the graph is
   read at random, and the update reads the next node's counts as soon as the bit is known
   (300 kB of enwik6 decoded in-process, ten paired rounds: 2.0% faster, the same bits). */
static inline void dmc_prefetch(const DmcModel *m, uint32_t cur) {
    const DmcNode *n = m->t + cur;
    PREFETCH(m->t + n->nx[0]);
    PREFETCH(m->t + n->nx[1]);
}

/* After the bit y: clone where due, count it, follow it. */
static inline void dmc_update(DmcModel *m, uint32_t *cur, int y) {
    DmcNode *n = m->t + *cur;
    uint32_t next = n->nx[y], k = n->c[y];
    DmcNode *nn = m->t + next;
    uint32_t total = (uint32_t)nn->c[0] + nn->c[1];
    if (k >= DMC_CLONE * DMC_ONE && total >= k + DMC_CLONE * DMC_ONE) {
        if (m->top < m->limit) {
            uint32_t id = m->top++;
            DmcNode *c = m->t + id;
            for (int b = 0; b < 2; b++) {
                c->nx[b] = nn->nx[b];
                c->c[b] = (uint16_t)(nn->c[b] * k / total);
                nn->c[b] = (uint16_t)(nn->c[b] - c->c[b]);
            }
            n->nx[y] = next = id;
        } else
            m->full = 1;
    }
    n->c[y] = (uint16_t)(n->c[y] - (n->c[y] >> DMC_DECAY) + DMC_ONE);
    n->c[!y] = (uint16_t)(n->c[!y] - (n->c[!y] >> DMC_DECAY));
    *cur = next;
}

#endif
