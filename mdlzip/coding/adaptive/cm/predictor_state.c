/* The predictor as a whole: freeing it, copying it (a coder's checkpoint), starting to decode,
   finishing the coded stream, the digest that tests compare between encoder and decoder, and
   the accessors of predictor.h. */
#include "predictor_layout.h"

void predictor_free(Predictor *p) {
    if (!p) return;
    free(p->coder.buf);
    free(p->lengths);
    free(p->streams);
    free(p->hist.bytes);
    free(p->sm);
    table_free(p->ht.t);
    table_free(p->cm.sm.t);
    table_free(p->cm.runs);
    table_free(p->cm.rm.t);
    for (int c = 0; c < MATCH_CANDIDATES; c++) table_free(p->mm.table[c]);
    table_free(p->mm.right.t);
    for (int k = 0; k < N_MIXERS; k++) mixer_free(&p->mix[k]);
    for (int f = 0; f < N_FINAL; f++) mixer_free(&p->final[f]);
    mixer_free(&p->sse);
    mixer_free(&p->last);
    for (int a = 0; a < N_APMS; a++) table_free(p->apm[a].t);
    for (int d = 0; d < N_DIRECT; d++) table_free(p->direct[d].t);
    table_free(p->dmc.t);
    free(p);
}

/* A copy of n bytes: of a table (table_alloc; huge as the predictor's) or else of plain memory. */
static void *dup(const void *src, size_t n, int table, int huge, int *failed) {
    if (!src) return NULL;
    void *d = table ? table_alloc(n, huge) : malloc(n ? n : 1);
    if (!d) *failed = 1;
    else memcpy(d, src, n);
    return d;
}

Predictor *predictor_clone(const Predictor *p) {
    Predictor *q = malloc(sizeof *q);
    if (!q) return NULL;
    memcpy(q, p, sizeof *q);
    int failed = 0, h = p->huge;
    size_t S = (size_t)p->S;
    q->coder.buf = dup(p->coder.buf, p->coder.cap, 0, 0, &failed);
    q->lengths = dup(p->lengths, S * sizeof(int64_t), 0, 0, &failed);
    q->hist.lengths = q->lengths;
    q->streams = dup(p->streams, S * sizeof(Stream), 0, 0, &failed);
    q->hist.bytes = dup(p->hist.bytes, S * (size_t)p->hist.L, 0, 0, &failed);
    q->sm = dup(p->sm, sizeof(StructureModel), 0, 0, &failed);
    q->ht.t = dup(p->ht.t, (size_t)SLOT_BYTES << p->table_bits, 1, h, &failed);
    q->cm.ht = &q->ht;
    q->cm.sm.t = dup(p->cm.sm.t, p->cm.sm.n * sizeof(uint32_t), 1, 0, &failed);
    q->cm.runs = dup(p->cm.runs, (p->cm.run_mask + 1) * sizeof(RunSlot), 1, h, &failed);
    q->cm.rm.t = dup(p->cm.rm.t, p->cm.rm.n * sizeof(uint32_t), 1, 0, &failed);
    for (int c = 0; c < MATCH_CANDIDATES; c++) q->mm.table[c] = dup(p->mm.table[c], sizeof(int64_t) << p->match_bits, 1, h, &failed);
    q->mm.right.t = dup(p->mm.right.t, p->mm.right.n * sizeof(uint32_t), 1, 0, &failed);
    for (int k = 0; k < N_MIXERS; k++) failed |= mixer_own_tables(&q->mix[k]) != 0;
    for (int f = 0; f < N_FINAL; f++) failed |= mixer_own_tables(&q->final[f]) != 0;
    failed |= mixer_own_tables(&q->sse) != 0;
    failed |= mixer_own_tables(&q->last) != 0;
    for (int a = 0; a < N_APMS; a++) q->apm[a].t = dup(p->apm[a].t, APM_CONTEXTS[a] * APM_CELLS * sizeof(uint32_t), 1, h, &failed);
    for (int d = 0; d < N_DIRECT; d++) q->direct[d].t = dup(p->direct[d].t, p->direct[d].n * sizeof(uint32_t), 1, h, &failed);
    /* the graph's nodes up to its top: those past it are never read before written, and their
       pages stay untouched */
    if ((q->dmc.t = table_alloc((size_t)p->dmc.limit * sizeof(DmcNode), 0)))
        memcpy(q->dmc.t, p->dmc.t, (size_t)p->dmc.top * sizeof(DmcNode));
    else
        failed = 1;
    if (failed) {
        predictor_free(q);
        return NULL;
    }
    return q;
}

int predictor_start_decoding(Predictor *p, const uint8_t *data, size_t n) {
    p->coder.buf = malloc(n ? n : 1);
    if (!p->coder.buf) return -1;
    memcpy(p->coder.buf, data, n);
    p->coder.len = p->coder.cap = n;
    coder_start_decoding(&p->coder);
    return 0;
}

int predictor_decoding(const Predictor *p) { return p->coder.decoding; }
int64_t predictor_time(const Predictor *p) { return p->t; }

int predictor_mix_transformer(Predictor *p, int32_t w_transformer, int32_t w_side) {
    if (p->t) return -1;
    p->transformer = 1;
    mixer_set_weight(&p->last, 0, w_transformer);
    mixer_set_weight(&p->last, 1, w_side);
    return 0;
}
const uint8_t *predictor_history(const Predictor *p) { return p->hist.bytes; }
int predictor_streams(const Predictor *p) { return p->S; }
const int64_t *predictor_lengths(const Predictor *p) { return p->lengths; }
double predictor_bits(const Predictor *p) { return p->bits; }
void predictor_path(const Predictor *p, uint16_t out[8]) { memcpy(out, p->path_p, sizeof p->path_p); }

int predictor_finish(const Predictor *p, uint8_t **out, size_t *n) {
    BitCoder c = p->coder;
    c.buf = malloc(p->coder.len + 4);
    if (!c.buf) return -1;
    memcpy(c.buf, p->coder.buf, p->coder.len);
    c.cap = p->coder.len + 4;
    coder_flush(&c);
    *out = c.buf;
    *n = c.len;
    return 0;
}

static uint64_t fnv(uint64_t h, const void *src, size_t n) {
    const uint8_t *b = src;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

uint64_t predictor_digest(const Predictor *p) {
    size_t S = (size_t)p->S;
    uint64_t h = 0xCBF29CE484222325ull;
    h = fnv(h, &p->t, sizeof p->t);
    h = fnv(h, p->streams, S * sizeof(Stream));
    h = fnv(h, p->hist.bytes, S * (size_t)p->hist.L);
    h = fnv(h, p->sm, sizeof(StructureModel));
    h = fnv(h, p->ht.t, (size_t)SLOT_BYTES << p->table_bits);
    h = fnv(h, p->cm.sm.t, p->cm.sm.n * sizeof(uint32_t));
    h = fnv(h, p->cm.runs, (p->cm.run_mask + 1) * sizeof(RunSlot));
    h = fnv(h, p->cm.rm.t, p->cm.rm.n * sizeof(uint32_t));
    for (int c = 0; c < MATCH_CANDIDATES; c++) h = fnv(h, p->mm.table[c], sizeof(int64_t) << p->match_bits);
    h = fnv(h, p->mm.right.t, p->mm.right.n * sizeof(uint32_t));
    for (int k = 0; k < N_MIXERS; k++) {
        h = fnv(h, p->mix[k].w, mixer_weight_bytes(&p->mix[k]));
        h = fnv(h, p->mix[k].trained, (size_t)MIXER_SETS[k] * sizeof(uint32_t));
    }
    for (int f = 0; f < N_FINAL; f++) {
        h = fnv(h, p->final[f].w, mixer_weight_bytes(&p->final[f]));
        h = fnv(h, p->final[f].trained, (size_t)FINAL_SETS[f] * sizeof(uint32_t));
    }
    h = fnv(h, p->sse.w, mixer_weight_bytes(&p->sse));
    h = fnv(h, p->sse.trained, TEXT_REGIONS * sizeof(uint32_t));
    h = fnv(h, p->last.w, mixer_weight_bytes(&p->last));
    h = fnv(h, p->last.trained, sizeof(uint32_t));
    for (int a = 0; a < N_APMS; a++) h = fnv(h, p->apm[a].t, APM_CONTEXTS[a] * APM_CELLS * sizeof(uint32_t));
    for (int d = 0; d < N_DIRECT; d++) h = fnv(h, p->direct[d].t, p->direct[d].n * sizeof(uint32_t));
    h = fnv(h, &p->dmc.top, sizeof p->dmc.top);
    h = fnv(h, &p->dmc.full, sizeof p->dmc.full);
    h = fnv(h, p->dmc.t, (size_t)p->dmc.top * sizeof(DmcNode)); /* the nodes past top are never read before written */
    return h;
}
