/* Hashed contexts holding bit histories: what most side models predict from.

   A context is a 64-bit hash, computed once per byte. Its bit histories live in 16-byte slots:
   a check byte and 15 states, one per node of a nibble's binary tree, so one slot serves four
   bits, and two lookups (at bits 0 and 4, the second hashed with the first nibble) serve a byte.
   Slots come in lines of four (one cache line); a context takes the slot of the line holding its
   check byte, else the one with the least evidence in its first state, emptied for it.

   Each context gives the mixer three inputs from its state through an adaptive state map of its
   own: the stretched probability (damped to half while the state has seen three bits or fewer,
   not two: enwik5 -4 B), the probability itself
   around 1/2 (which carries how sure the state is), and the stretched probability again only
   while the state has seen one bit value alone (a deterministic context; enwik6 -0.5%; at half
   the scale of the first, not a quarter, as paq8px gives it: enwik6 -0.05%, kinds -0.06%). A state
   never seen gives them as 0, so the mixer learns nothing false from it; the count of contexts
   seen before selects mixer weights elsewhere. A fourth input comes from the bytes last seen in
   the context: a small direct table per context keeps the last two and how often the last one
   came in a row, and an adaptive map by run length and bit position learns how far "the byte
   that followed here last time follows again" holds. Once the partial byte has left the last byte
   but agrees with the one before it, that one predicts instead, through cells of its own
   (enwik6 -0.03%, kinds -0.01%). */
#ifndef MDLZIP_CM_CONTEXT_MAP_H
#define MDLZIP_CM_CONTEXT_MAP_H

#include "common.h"
#include "table_alloc.h"
#include "maps.h"
#include "state_table.h"

#define SLOT_BYTES 16
#define LINE_SLOTS 4
#define CM_INPUTS 4
/* The run map's cells per context: bit 0, 1, 2-4 or 5-7; the run length 1..15 (0: the byte before
   last predicts, and with "differ" set, where neither byte does: a cell that is read and trained
   but never given to the mixer); whether the last two bytes differ; the predicted bit. */
#define RUN_MAP_CELLS 256

typedef struct {
    uint8_t *t;
    size_t slot_mask; /* slots - 1 */
} HashTable;

static inline int ht_init(HashTable *h, int slot_bits, int huge) {
    size_t bytes = (size_t)SLOT_BYTES << slot_bits;
    h->t = table_alloc(bytes, huge);
    h->slot_mask = ((size_t)1 << slot_bits) - 1;
    return h->t ? 0 : -1;
}

static inline uint8_t *ht_line(const HashTable *h, uint64_t hash) {
    return h->t + ((size_t)hash & h->slot_mask & ~(size_t)(LINE_SLOTS - 1)) * SLOT_BYTES;
}

/* The slot of a context in its line; *found tells whether it was there already. */
static inline uint8_t *ht_find(HashTable *h, uint64_t hash, int *found) {
    uint8_t *line = ht_line(h, hash);
    uint8_t check = (uint8_t)(hash >> 56);
    for (int j = 0; j < LINE_SLOTS; j++)
        if (line[j * SLOT_BYTES] == check && line[j * SLOT_BYTES + 1]) {
            *found = 1;
            return line + j * SLOT_BYTES;
        }
    uint8_t *victim = line;
    int least = 1 << 30;
    for (int j = 0; j < LINE_SLOTS; j++) {
        uint8_t *s = line + j * SLOT_BYTES;
        int e = STATES.n0[s[1]] + STATES.n1[s[1]];
        if (e < least) {
            least = e;
            victim = s;
        }
    }
    memset(victim, 0, SLOT_BYTES);
    victim[0] = check;
    *found = 0;
    return victim;
}

/* A context's last bytes: check byte, run length of the last byte, the last byte, the one before. */
typedef struct {
    uint8_t check, run, byte1, byte2;
} RunSlot;

typedef struct {
    int n;           /* contexts */
    HashTable *ht;   /* shared by all contexts (and all streams) */
    AdaptiveMap sm;  /* per context, per state */
    RunSlot *runs;   /* direct-mapped by the context's hash */
    size_t run_mask;
    AdaptiveMap rm;  /* per context, per RUN_MAP_CELLS */
} ContextMap;

static inline int cm_init(ContextMap *cm, HashTable *ht, int n, int run_bits, int huge) {
    cm->n = n;
    cm->ht = ht;
    cm->runs = table_alloc(sizeof(RunSlot) << run_bits, huge);
    cm->run_mask = ((size_t)1 << run_bits) - 1;
    if (!cm->runs || statemap_init(&cm->sm, (size_t)n, 1023)) return -1;
    return map_init(&cm->rm, (size_t)n * RUN_MAP_CELLS, 1023, 0);
}

static inline RunSlot *cm_run(const ContextMap *cm, uint64_t hash) { return cm->runs + ((hash >> 24) & cm->run_mask); }
static inline uint8_t cm_run_check(uint64_t hash) { return (uint8_t)(hash >> 48) | 1; }

/* What a context's last bytes predict in this byte, read from its run slot once per byte. */
typedef struct {
    int e1, e2;   /* the last byte and, where it differs, the byte before, each | 256; 0: none */
    int cell1;    /* the last byte's run map cells, but for the stage and the bit */
    int damp1;    /* 1 where the last two bytes differ: its input at half scale */
} RunGuess;

/* run: the context's run slot, its check already tested (NULL when the context's last bytes are
   unknown). */
static inline void cm_run_guess(int k, const RunSlot *run, RunGuess *g) {
    int known = run && run->run, uncertain = known && run->byte2 != run->byte1;
    g->e1 = known ? run->byte1 | 256 : 0;
    g->e2 = uncertain ? run->byte2 | 256 : 0;
    g->cell1 = k * RUN_MAP_CELLS + (known ? (run->run > 15 ? 15 : run->run) : 0) * 4 + uncertain * 2;
    g->damp1 = uncertain;
}

/* The mixer inputs of context k whose state is st; g is what its last bytes predict, and rctx
   receives the run map cell to train. Which of the last two bytes still agrees with the partial
   byte varies at random from bit to bit, so the cell and the input are chosen by masks, not
   branches (a mispredicted branch stalls the decoder, which cannot know the bit ahead): where
   neither agrees, the context reads and trains a cell no guess uses (run 0 with "differ" set)
   and its input is masked to 0. With the branches this input took a fifth of the time; without
   them, and with no scalar tail in the mixers (predictor_layout.h), 300 kB of enwik6 decoded
   about 12% faster, to the same bits. */
static inline void cm_inputs(const ContextMap *cm, const Logistic *lg, int k, uint8_t st, const RunGuess *g, int c0, int j, int16_t *x,
                             int *rctx) {
    int stage = (0x33322210 >> (4 * j)) & 3;
    int m1 = (g->e1 >> (8 - j)) == c0, m2 = ((g->e2 >> (8 - j)) == c0) & !m1;
    int only1 = -m1, any = -(m1 | m2); /* all ones or zeros */
    int e = (g->e1 & only1) | (g->e2 & ~only1);
    int base = (g->cell1 & only1) | ((k * RUN_MAP_CELLS + 2 - 2 * m2) & ~only1);
    int cell = base + stage * 64 + ((e >> (7 - j)) & 1);
    int v = lg->stretch[map_p12(&cm->rm, (size_t)cell)] >> ((g->damp1 & only1) | (2 & ~only1));
    x[2] = (int16_t)(v & any);
    *rctx = cell;
    if (st == 0) {
        x[0] = x[1] = x[3] = 0;
        return;
    }
    int p = map_p12(&cm->sm, (size_t)k * STATES_MAX + st), n0 = STATES.n0[st], n1 = STATES.n1[st];
    x[0] = lg->stretch[p] >> (1 + (n0 + n1 <= 3));
    x[1] = (p - 2048) >> 2;
    x[3] = n0 && n1 ? 0 : lg->stretch[p] >> 1;
}

static inline void cm_update(ContextMap *cm, int k, uint8_t *st, int rctx, int bit) {
    map_update(&cm->sm, (size_t)k * STATES_MAX + *st, bit);
    *st = STATES.next[*st][bit];
    map_update(&cm->rm, (size_t)rctx, bit);
}

/* After the byte b in the context of this hash. */
static inline void cm_run_update(ContextMap *cm, uint64_t hash, uint8_t b) {
    RunSlot *r = cm_run(cm, hash);
    uint8_t check = cm_run_check(hash);
    if (r->check == check && r->run) {
        if (r->byte1 == b) {
            if (r->run < 255) r->run++;
        } else {
            r->byte2 = r->byte1;
            r->byte1 = b;
            r->run = 1;
        }
    } else {
        r->check = check;
        r->run = 1;
        r->byte1 = r->byte2 = b;
    }
}

#endif
