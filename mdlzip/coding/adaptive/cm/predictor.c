/* The loop that wires the side models: contexts per byte, inputs per bit, two mixer layers,
   the SSE stages and the coder. See predictor.h for the order of work that keeps both sides equal.

   Per bit the mixer sees: a bias, four inputs from each hashed context (orders 0, 2, 4, 5, 6 and
   8; the text model's thirty-seven, whose first twenty-two slots the image model's contexts take
   inside an image's pixels and whose last sixteen the x86 model's take in machine code; the
   structure model's eight; the match model's expected byte; a context that is off at this byte
   gives zeros), six from the match model (match_model.h),
   three direct maps (orders 1, 2 and a hashed 3) and two from a DMC graph (dmc_model.h: enwik5
   -0.09%, enwik6 -0.15%, kinds -0.05%, 0.1% more instructions). Hashed orders 1 and 3 went in 0.9: beside
   the direct maps they paid nothing (order 1: enwik6 +12 B with it), and 9% of the time went
   with them and the text and structure contexts that paid least. Orders 5 and 6 are off in
   inputs under 256 KiB (SMALL_INPUT_BITS): there they cost bits beside the match model and the
   text contexts (enwik5 -14 B, the kinds files -0.06%, 3% fewer instructions), where from about
   that size on they pay (the first 250 kB of enwik6: 4 B larger without them; its last 500 kB:
   82 B smaller with them). Order 3, 7 or a long one (10-24) beside or in place of them paid at
   most 4 B on enwik5; orders 0, 2, 4 and 8 all pay there. Seven first-layer mixers choose
   their weights by the partial byte with the classes of the last two bytes (in a region of
   marked-up text, text_model.h, with the region and the last byte's class instead: enwik5
   -0.18%, the kinds files -0.04%, no time; the region with both classes did no better, in five
   times the memory); by how many orders
   have seen their context with the bit position, the position in a word or number, the match
   length and the bit it expects (one set in inputs under 256 KiB, below); by the shape of the recent text with the position in a word or
   number (in an image, by the channel and the local gradients: -0.7% on the kinds image; in
   machine code, by the part of the instruction: see x86_model.h); by the
   partial byte with the match's expected byte, with the last two punctuation bytes and with the
   previous byte; and by the classes of the last three bytes with the bit position and the
   position in a word or number. (An eighth, by the
   partial byte with the byte before last, paid 0.02% on enwik6 once the text model had grown to
   twenty-six contexts: it went, and its time paid for four of them. One by the current word with
   the bit position paid 0.07% at 5% of the time, which the text contexts needed more. One with
   a single weight set paid enwik5 3 B and the kinds files 0.08%, for about 3% of the time.) A
   second layer of two mixers combines them (given the direct maps' and the match's inputs as
   well, enwik5 +95 B; the first selected by the match's expected bit in three states, or with the
   match length: +6 and +3 B), one by the partial byte and whether the match predicts the
   bit, one by how many orders have seen their context with the bit position and the position in
   a word or number, their logits averaged (the second: enwik6 -0.11%, kinds -0.28%). Seven APMs
   refine the result by the recent text's shape (the classes of the last two bytes and a bit of
   the third, a run of letters or digits as one; order 0 before 0.10: enwik6 -0.04%) and by the
   previous byte, each with the word's length, orders 2-4, the match's expected byte (with its
   length in four steps, 6, 12 and 24, where 4, 8 and 12 paid 2 B less on enwik5; without a
   match, by the text's region: -5 B there, where order 1 paid 2 B less than nothing; the region
   with the punctuation bytes paid 1 B) and the last two punctuation bytes (in text with where
   the next letter's case is decided: in a word, in a sentence, after its end or at a line's
   start; enwik5 -2 B, the kinds files -11 B); their average and a small mixer over them (its
   weights by the text's region: enwik5 -7 B, below) give the coded probability. (One by the current word with the previous byte went in 0.16: it paid
   8 B on enwik6, and the SSE stages take about 30% of the time: 300 kB of enwik6 coded in
   6.45 s against 4.47 s without them, medians of three.)

   The selectors that pay most tell where in the text's syntax the next byte is (the punctuation
   bytes: enwik6 -0.25%; the shape, the expected byte: about -0.1% each);
   each mixer costs about 3% of the time.

   The position in a word (its length so far in four steps) or number (its digits so far, up to
   four), where 0.10 knew only whether a word was open, tells the mixers where in a word the next
   byte falls, which the bytes' classes do not: enwik6 -0.25%, enwik5 -0.29%, kinds -0.12% (the
   CSV -0.26%). It is known only while the last eight bytes are printable ASCII: in a binary a
   run of letter bytes is no word (without that test the kinds library lost 0.14%). Elsewhere
   the shape mixer and the first APM keep 0.10's longer shapes, in sets and rows of their own:
   with the shorter ones the first 2 MB of the python3.11 executable lost 0.19%.

   A stored transformer comes in last: a two-input mixer adds its logit to the side models' final
   one, P(bit) = squash(w_t * transformer + w_s * side models), w starting at the weights the
   trainer fitted with it (stored in the archive). That is the
   mixture the trainer fits the transformer to (train/trainer.py), so a model trained to correct
   what the side models miss is used exactly as trained; the side models never see it, so their
   probabilities are those of the side models alone, which the trainer was given. */
#include "predictor.h"

#include <math.h>

#include "predictor_layout.h"

static double COST[P16_ONE]; /* -log2(p / 65536): reporting only, never coding */
static int tables_ready;

static void tables_init(void) {
    if (tables_ready) return;
    state_table_init();
    reciprocal_init();
    for (int i = 1; i < P16_ONE; i++) COST[i] = -log2((double)i / P16_ONE);
    tables_ready = 1;
}

static int ctx_enabled(const Predictor *p, int k) {
    int off = p->off;
    if (k < N_ORDER_CTX) {
        int o = ORDER_OF[k];
        if ((o == 5 || o == 6) && p->small) return 0;
        return o < 6 || !(off & OFF_HIGH_ORDERS);
    }
    /* The first record context (the byte a record above, with the last byte) is off there too: it
       cost enwik5 5 B and the kinds files 3 B beside the second; off with it, the second cost the
       kinds library 0.2%. */
    if (k == CTX_STRUCT + STRUCT_RECORD && p->small) return 0;
    if (k >= CTX_TEXT && k < CTX_STRUCT) return !(off & OFF_TEXT);
    if (k >= CTX_STRUCT + STRUCT_INDIRECT && k < CTX_STRUCT + STRUCT_SPARSE) return !(off & OFF_INDIRECT);
    if (k >= CTX_STRUCT + STRUCT_SPARSE && k < CTX_STRUCT + STRUCT_RECORD) return !(off & OFF_SPARSE);
    if (k >= CTX_STRUCT + STRUCT_RECORD && k < CTX_MATCH) return !(off & OFF_RECORD);
    if (k == CTX_MATCH) return !(off & OFF_MATCH);
    return 1;
}

/* Inside an image's pixels the text slots carry the image model's contexts (any left over off:
   they would only add noise); returns the image mixer set, or -1 outside images. */
static int image_slots(const Predictor *p, const Stream *st, int s, int64_t t, int c1, uint64_t *h, int *on) {
    if ((p->off & OFF_IMAGE) || !image_active(&st->image, t)) return -1;
    int set = image_contexts(&st->image, &p->hist, s, t, c1, h + CTX_TEXT);
    for (int k = CTX_TEXT; k < CTX_STRUCT; k++) on[k] = k < CTX_TEXT + IMAGE_CONTEXTS;
    return set;
}

/* In machine code the last of the text slots carry the x86 model's contexts (the others stay:
   they still pay there); returns the x86 mixer set, or -1 outside code. */
static int x86_slots(const Predictor *p, const Stream *st, uint64_t *h, int *on) {
    if ((p->off & OFF_X86) || !x86_active(&st->x86)) return -1;
    int first = CTX_STRUCT - X86_CONTEXTS;
    for (int k = first; k < CTX_STRUCT; k++) on[k] = 1;
    return x86_contexts(&st->x86, st->c8, h + first);
}

static void stream_init(Stream *st) {
    st->c8 = st->c8b = 0;
    text_stream_init(&st->text);
    structure_stream_init(&st->structure);
    match_stream_init(&st->match);
    image_stream_init(&st->image);
    x86_stream_init(&st->x86);
    dmc_stream_init(&st->dmc);
}

Predictor *predictor_new(const int64_t *lengths, int S, int table_bits, const int16_t *stretch, const int16_t *squash,
                         const uint16_t *squash16, int off) {
    tables_init();
    Predictor *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    memcpy(p->lg.stretch, stretch, sizeof p->lg.stretch);
    memcpy(p->lg.squash, squash, sizeof p->lg.squash);
    memcpy(p->lg.squash16, squash16, sizeof p->lg.squash16);
    p->S = S;
    p->off = off;

    p->table_bits = table_bits;
    p->small = table_bits < SMALL_INPUT_BITS;
    p->match_bits = table_bits > 22 ? 22 : table_bits - 2;
    p->coder.x2 = 0xffffffffu;
    p->lengths = malloc((size_t)S * sizeof(int64_t));
    p->streams = calloc((size_t)S, sizeof(Stream)); /* zeroed padding: digests hash whole structs */
    p->hist.bytes = p->lengths ? calloc((size_t)S * (size_t)lengths[0], 1) : NULL;
    p->sm = calloc(1, sizeof(StructureModel));
    if (!p->lengths || !p->streams || !p->hist.bytes || !p->sm) goto fail;
    memcpy(p->lengths, lengths, (size_t)S * sizeof(int64_t));
    p->hist.L = lengths[0];
    p->hist.lengths = p->lengths;
    for (int s = 0; s < S; s++) stream_init(&p->streams[s]);
    int huge = p->huge = table_bits >= HUGE_TABLE_BITS;
    if (ht_init(&p->ht, table_bits, huge) || cm_init(&p->cm, &p->ht, N_CTX, table_bits - 2, huge) || match_init(&p->mm, p->match_bits, huge) || dmc_init(&p->dmc, table_bits)) goto fail;
    for (int k = 0; k < N_MIXERS; k++)
        if (mixer_init(&p->mix[k], N_INPUTS_PADDED, MIXER_SETS[k], 1 << 10, 12 * 16, 28, 17, 1, huge)) goto fail;
    /* Rates tuned once updates rounded to nearest: both layers settle lower (the first at 1.75, not
       2; the second at 0.375, not 1). The first layer starts each weight at 1/32, not 1/8: its
       hundred-odd inputs summed at 1/8 made the first bits overconfident. Together: enwik6 -520 B,
       enwik5 -131 B, every kinds file smaller. With eight mixers the first layer starts at 16, not
       20 (enwik6 -55 B). At 1/64 rather than 1/32 once the rates fell faster (MIXER_CLOCK), and the
       second layer settling at 1/4: enwik6 -0.04%, kinds -0.1%. Its rate starting at 12 rather
       than 16 (format 15): enwik5 -0.15%, kinds -0.06%, enwik6 -0.03%. */
    for (int f = 0; f < N_FINAL; f++)
        if (mixer_init(&p->final[f], FINAL_INPUTS, FINAL_SETS[f], (1 << 16) / N_MIXERS, 6 * 16, 4, 6, 0, 0)) goto fail;
    /* It starts from the weights the trainer fitted, so it only follows drift, slowly (enwik6, a
       dense model trained at level 1: at the final mixer's rates 65 B more than with the weights
       frozen; at 1 falling to 1/4, 25 B less). */
    if (mixer_init(&p->last, 2, 1, 1 << 16, 16, 4, 6, 0, 0)) goto fail;
    /* each 16-bit probability's nearest logit; ties go to the larger one */
    for (int q = 0, d = -LOGIT_MAX; q < P16_ONE; q++) {
        while (d < LOGIT_MAX && abs(p->lg.squash16[d + 1 + LOGIT_MAX] - q) <= abs(p->lg.squash16[d + LOGIT_MAX] - q)) d++;
        p->logit16[q] = (int16_t)d;
    }
    /* It starts as the average of its inputs' logits. */
    if (mixer_init(&p->sse, SSE_INPUTS, TEXT_REGIONS, (1 << 16) / (N_APMS + 1), 6 * 16, 6, 6, 0, 0)) goto fail;
    mixer_set_weight(&p->sse, SSE_INPUTS - 1, 0);
    for (int a = 0; a < N_APMS; a++)
        if (apm_init(&p->apm[a], &p->lg, APM_CONTEXTS[a], huge)) goto fail;
    for (int d = 0; d < N_DIRECT; d++)
        if (map_init(&p->direct[d], (size_t)1 << (d ? 22 : 16), 1023, huge)) goto fail; /* as the other maps: 127 lost 56 B on enwik6 */
    if (huge) { /* an input that touches every page of them, soon */
        void *tables[2 + MATCH_CANDIDATES + 2 * N_MIXERS + N_APMS + N_DIRECT];
        int n = 0;
        tables[n++] = p->ht.t;
        tables[n++] = p->cm.runs;
        for (int c = 0; c < MATCH_CANDIDATES; c++) tables[n++] = p->mm.table[c];
        for (int k = 0; k < N_MIXERS; k++) {
            tables[n++] = p->mix[k].w;
            tables[n++] = p->mix[k].trained;
        }
        for (int a = 0; a < N_APMS; a++) tables[n++] = p->apm[a].t;
        for (int d = 0; d < N_DIRECT; d++) tables[n++] = p->direct[d].t;
        table_populate(tables, n);
    }
    return p;
fail:
    predictor_free(p);
    return NULL;
}

/* The mixers whose set is a base ORed with the partial byte: their large tables are read at
   random, so the next bit's rows are fetched while this bit is coded. */
static const int BY_PARTIAL_BYTE[N_MIXERS] = {1, 0, 0, 1, 0, 1, 1};

static void prefetch_mixer_sets(const Predictor *p, const size_t *base, int c0) {
    for (int k = 0; k < N_MIXERS; k++)
        if (BY_PARTIAL_BYTE[k]) mixer_prefetch(&p->mix[k], base[k] | (size_t)c0);
}

/* The transformer's probability (of 65536) that the next bit is 1, from its frequencies: the mass
   of the byte values under the node with a 1 against the node's whole mass. */
static inline int transformer_p16(const int64_t *cum, int c0, int j) {
    int shift = 7 - j;
    int64_t lo = (int64_t)(c0 - (1 << j)) << (shift + 1);
    int64_t total = cum[lo + (2 << shift)] - cum[lo];
    int64_t ones = cum[lo + (2 << shift)] - cum[lo + (1 << shift)];
    int64_t pt = total > 0 ? (ones * P16_ONE + total / 2) / total : P16_ONE / 2;
    return pt < 1 ? 1 : pt > P16_ONE - 1 ? P16_ONE - 1 : (int)pt;
}

/* Codes one byte of stream s (read from *byte when encoding, written there when decoding). */
static int code_byte(Predictor *p, int s, const int64_t *freqs, uint8_t *byte, uint16_t *probs) {
    const Logistic *lg = &p->lg;
    Stream *st = &p->streams[s];
    int64_t t = p->t, cum[257];
    cum[0] = 0;
    if (p->transformer)
        for (int i = 0; i < 256; i++) cum[i + 1] = cum[i] + freqs[i];

    /* ---- the byte's contexts ---- */
    uint64_t h[N_CTX];
    int on[N_CTX];
    uint64_t c8 = st->c8;
    int c1 = (int)(c8 & 0xff);
    for (int k = 0; k < N_ORDER_CTX; k++) {
        int o = ORDER_OF[k];
        h[k] = hash2((uint64_t)o, o == 8 ? c8 : c8 & ((1ull << (8 * o)) - 1));
    }
    int above = text_above(&st->text, &p->hist, s, t);
    /* the contexts their models say are off at this byte, bit k for context k */
    uint64_t idle = text_contexts(&st->text, c8, above, t, h + CTX_TEXT) << CTX_TEXT;
    idle |= structure_contexts(p->sm, &st->structure, &p->hist, s, t, c8, h + CTX_STRUCT) << CTX_STRUCT;
    int best = match_best(&st->match);
    int expected = best >= 0 ? p->hist.bytes[st->match.ptr[best]] : -1;
    int mlen = best >= 0 ? st->match.len[best] : 0;
    h[CTX_MATCH] = hash3(21, (uint64_t)(expected + 1) << 8 | (uint64_t)(mlen > 15 ? 15 : mlen), (uint64_t)c1);
    for (int k = 0; k < N_CTX; k++) on[k] = ctx_enabled(p, k) && !(idle >> k & 1);
    int image_set = image_slots(p, st, s, t, c1, h, on);
    int x86_set = image_set < 0 ? x86_slots(p, st, h, on) : -1;
    for (int k = 0; k < N_CTX; k++) {
        if (on[k]) {
            PREFETCH(ht_line(&p->ht, h[k]));
            PREFETCH(cm_run(&p->cm, h[k]));
        }
    }

    uint8_t *slot[N_CTX];
    RunGuess guess[N_CTX];
    int found, rctx[N_CTX];
    for (int k = 0; k < N_CTX; k++) {
        const RunSlot *r = cm_run(&p->cm, h[k]);
        cm_run_guess(k, on[k] && r->check == cm_run_check(h[k]) ? r : NULL, &guess[k]);
    }
    int c0 = 1, nib = 1, value = p->coder.decoding && !p->priming ? 0 : *byte;
    /* the SSE and direct-map contexts of this byte: each bit ORs the partial byte c0 into them */
    uint64_t o2h = hash2(0x0202, c8 & 0xffff) >> 54, o3h = hash2(0x0303, c8 & 0xffffff) >> 54;
    size_t punct8 = (size_t)(hash2(st->text.punct, 7) >> 56);
    size_t classes = (size_t)byte_class(c1) << 6 | (size_t)byte_class((int)(c8 >> 8) & 0xff) << 3 | (size_t)byte_class((int)(c8 >> 16) & 0xff);
    /* the position in a word (wb: 0 outside one, then its length 1-2, 3-5, 6 or more) or number
       (wd: also 4-7 for its digits so far, 1 to 4 or more), while the last 8 bytes are text */
    int texty = image_set < 0 && x86_set < 0;
    for (int i = 0; i < 8 && texty; i++) {
        int b = (int)(c8 >> (8 * i)) & 0xff;
        texty = (b >= 32 && b < 127) || b == '\t' || b == '\n' || b == '\r';
    }
    /* the region of the text (text_region) */
    const int region = texty ? text_region(&st->text) : 0;
    const size_t wb = !texty ? 0 : (size_t)(st->text.wlen == 0 ? 0 : st->text.wlen < 3 ? 1 : st->text.wlen < 6 ? 2 : 3);
    int digits = 0;
    while (digits < 4 && (unsigned)(((c8 >> (8 * digits)) & 0xff) - '0') <= 9) digits++;
    const size_t wd = wb ? wb : digits && texty ? (size_t)(3 + digits) : 0;
    /* where the next letter's case is decided: in a word (3), or before one in a sentence (0),
       after its end (1) or at a line's start (2) (text_model.h) */
    const size_t case_state = !texty ? 0 : st->text.word[0] ? 3 : st->text.sentence;
    const size_t dbase[N_DIRECT] = {(size_t)c1 << 8, (size_t)(c8 & 0x3fff) << 8, (size_t)(hash2(0x0333, c8 & 0xffffff) >> 48 & 0x3fff) << 8};
    /* (the first APM's rows for code are those of some shapes outside text: it has no free rows,
       and code and such data share them well enough: their rows paid 0.2% on code) */
    const size_t abase[N_APMS] = {
        x86_set >= 0 ? (size_t)3 << 16 | (size_t)(x86_set >> 4) << 8
        : texty      ? ((size_t)(st->text.shape & 0x7f) << 2 | wb) << 8
                     : (size_t)1 << 17 | (size_t)(st->text.shape & 0x1ff) << 8,
        (wb << 8 | (size_t)c1) << 8,
        (size_t)o2h << 8,
        expected >= 0 ? (size_t)(mlen < 6 ? 0 : mlen < 12 ? 1 : mlen < 24 ? 2 : 3) << 16 | (size_t)expected << 8 : (size_t)region << 8,
        (size_t)o3h << 8,
        (size_t)(hash2(0x0404, c8 & 0xffffffff) >> 54) << 8,
        x86_set >= 0 ? (size_t)(hash2(st->x86.op, st->x86.ops[0]) >> 56) << 8 : (size_t)case_state << 16 | punct8 << 8,
    };
    /* the first-layer mixers' sets, but for what each bit adds: the partial byte (BY_PARTIAL_BYTE),
       the bit position (mixer 4) or everything (mixer 1) */
    const size_t mbase[N_MIXERS] = {
        x86_set >= 0 ? (size_t)(x86_set >> 6) << 8 : (size_t)(region ? 64 + (region - 1) * 8 + (classes >> 6) : classes >> 3) << 8,
        0,
        image_set >= 0 ? (size_t)1 << 16 | (size_t)image_set : x86_set >= 0 ? ((size_t)1 << 16) + IMAGE_SELECTORS + (size_t)x86_set : texty ? (st->text.shape & 0xfff) << 3 | wd : (size_t)1 << 15 | (st->text.shape & 0x7fff),
        (size_t)(expected + 1) << 8,
        classes << 6 | wd,
        x86_set >= 0 ? (size_t)(hash2(st->x86.op, (uint64_t)(x86_set >> 6)) >> 56) << 8 : punct8 << 8,
        (size_t)c1 << 8,
    };
    const size_t word_match = wd * 4 + (size_t)(mlen == 0 ? 0 : mlen < 16 ? 1 : mlen < 32 ? 2 : 3);
    prefetch_mixer_sets(p, mbase, 1);
    mixer_prefetch(&p->mix[2], mbase[2]);
    uint64_t nibble_h[2][N_CTX]; /* the second nibble's hashes, by the value of bit 3 */
    int16_t x[N_INPUTS_PADDED];   /* the first layer's inputs, rewritten every bit but the padding */
    for (int i = N_INPUTS; i < N_INPUTS_PADDED; i++) x[i] = 0;
    for (int j = 0; j < 8; j++) {
        if (j == 3) { /* the second nibble's slots, for either value of the next bit */
            /* In text the contexts of case-folded words (TEXT_FOLDED) see a capital's second
               nibble as its small letter's ('[' '\\' ']' '^' '_' as '{' '|' '}' '~' DEL), so a
               word's first letter shares what it learns either way: enwik5 -0.08%, the kinds
               files -0.35% (C headers -2%, text -0.6%), in no time. */
            uint64_t fold = texty && (c0 & 6) == 2 ? TEXT_FOLDED << CTX_TEXT : 0;
            for (int k = 0; k < N_CTX; k++)
                if (on[k])
                    for (int b = 0; b < 2; b++) PREFETCH(ht_line(&p->ht, nibble_h[b][k] = hash2(h[k], (uint64_t)(2 * (fold >> k & 1 ? c0 | 1 : c0) + b))));
        }
        if (j == 0 || j == 4) {
            for (int k = 0; k < N_CTX; k++) {
                if (!on[k]) continue;
                slot[k] = ht_find(&p->ht, j ? nibble_h[c0 & 1][k] : h[k], &found);
            }
            nib = 1;
        }
        x[0] = 256;
        int confident = 0; /* orders above 0 that have seen their context: 0 .. N_ORDER_CTX - 1 */
        for (int k = 0; k < N_CTX; k++) {
            int16_t *xk = x + IN_CTX + CM_INPUTS * k;
            if (!on[k]) {
                for (int i = 0; i < CM_INPUTS; i++) xk[i] = 0;
                rctx[k] = -1;
                continue;
            }
            uint8_t state = slot[k][nib];
            cm_inputs(&p->cm, lg, k, state, &guess[k], c0, j, xk, &rctx[k]);
            if (k >= 1 && k < N_ORDER_CTX && state) confident++;
        }
        int mctx[MATCH_CANDIDATES], mbit[MATCH_CANDIDATES];
        match_inputs(&p->mm, lg, &st->match, p->hist.bytes, c0, j, x + IN_MATCH, mctx, mbit);
        if (p->off & OFF_MATCH) {
            for (int i = 0; i < MATCH_INPUTS; i++) x[IN_MATCH + i] = 0;
            for (int c = 0; c < MATCH_CANDIDATES; c++) mctx[c] = -1;
        }
        size_t dctx[N_DIRECT];
        for (int d = 0; d < N_DIRECT; d++) {
            dctx[d] = dbase[d] | (size_t)c0;
            x[IN_DIRECT + d] = lg->stretch[map_p12(&p->direct[d], dctx[d])];
        }
        if (p->off & OFF_DMC)
            for (int i = 0; i < DMC_INPUTS; i++) x[IN_DMC + i] = 0;
        else {
            dmc_inputs(&p->dmc, lg, st->dmc, x + IN_DMC);
            dmc_prefetch(&p->dmc, st->dmc);
        }
        int ebit = best >= 0 && !(p->off & OFF_MATCH) ? mbit[best] : -1; /* -1: no prediction for this bit */

        size_t sets[N_MIXERS] = {
            mbase[0] | (size_t)c0,
            /* one set in inputs under 256 KiB: its 4608 are too many for them to learn (enwik5
               -2 B, the kinds files -0.08%; by the bit position and the match's bit, or with how
               many orders have seen their context as well, paid less) */
            p->small ? 0 :
            (((size_t)confident * 8 + (size_t)j) * 32 + word_match) * 3 + (size_t)(ebit + 1),
            mbase[2],
            mbase[3] | (size_t)c0,
            mbase[4] | (size_t)j << 3,
            mbase[5] | (size_t)c0,
            mbase[6] | (size_t)c0,
        };
        int32_t fx[FINAL_INPUTS];
        for (int k = 0; k < N_MIXERS; k++)
            fx[k] = clamp_logit(mixer_predict16(&p->mix[k], lg, x, p->off & OFF_MIXER_SELECT ? 0 : sets[k]));
        fx[N_MIXERS] = 256;
        int64_t fdot = (mixer_predict(&p->final[0], lg, fx, (size_t)c0 * 2 + (ebit >= 0)) +
                        mixer_predict(&p->final[1], lg, fx, ((size_t)confident * 8 + (size_t)j) * 8 + wd)) >> 1;
        int pm = squash16(lg, fdot);
        int pf = pm;
        int32_t sx[SSE_INPUTS];
        if (!(p->off & OFF_SSE)) {
            /* The plain average of the refinements (the mixer's own output counting twice) and
               their learned mix, halved: each alone does worse (the mix: enwik6 -0.08%; weighted
               1:3 or 3:1 instead: enwik5 +2 to +6 B). The mix has a set of weights per region
               of the text (text_region): enwik5 -7 B; by the bit position, the expected bit or
               both instead: +5 to +25 B, by the region with the expected bit or with whether a
               word is open: 2 and 4 B worse than by the region alone. */
            int sum = 2 * pm;
            sx[0] = p->logit16[clamp_p16(pm)];
            int spm = apm_stretch(lg, pm);
            for (int a = 0; a < N_APMS; a++) {
                int q = apm_refine(&p->apm[a], spm, abase[a] | (size_t)c0);
                sum += q;
                sx[a + 1] = p->logit16[clamp_p16(q)];
            }
            sx[SSE_INPUTS - 1] = 256;
            int average = (sum + (N_APMS + 2) / 2) / (N_APMS + 2);
            pf = (average + squash16(lg, mixer_predict(&p->sse, lg, sx, (size_t)region)) + 1) >> 1;
        }
        pf = clamp_p16(pf);
        int mixing = p->transformer && !p->priming;
        int32_t lx[2];
        if (mixing) {
            lx[0] = p->logit16[transformer_p16(cum, c0, j)];
            lx[1] = p->logit16[pf];
            pf = squash16(lg, mixer_predict(&p->last, lg, lx, 0));
            pf = clamp_p16(pf);
        }

        int bit = (value >> (7 - j)) & 1;
        if (!p->priming) {
            bit = coder_bit(&p->coder, bit, pf);
            if (bit < 0) return -1;
            if (!p->coder.decoding) p->bits += COST[bit ? pf : P16_ONE - pf];
        }
        p->path_p[j] = (uint16_t)(bit ? pf : P16_ONE - pf);
        if (probs) probs[j] = p->path_p[j];

        /* ---- learn ---- */
        for (int k = 0; k < N_CTX; k++)
            if (on[k]) cm_update(&p->cm, k, &slot[k][nib], rctx[k], bit);
        match_update_bit(&p->mm, mctx, mbit, bit);
        if (!(p->off & OFF_DMC)) dmc_update(&p->dmc, &st->dmc, bit);
        for (int d = 0; d < N_DIRECT; d++) map_update(&p->direct[d], dctx[d], bit);
        for (int k = 0; k < N_MIXERS; k++) mixer_update16(&p->mix[k], x, bit);
        for (int f = 0; f < N_FINAL; f++) mixer_update(&p->final[f], fx, bit);
        if (mixing) mixer_update(&p->last, lx, bit);
        if (!(p->off & OFF_SSE)) {
            for (int a = 0; a < N_APMS; a++) apm_update(&p->apm[a], bit);
            mixer_update(&p->sse, sx, bit);
        }
        c0 = 2 * c0 + bit;
        nib = 2 * nib + bit;
        if (j < 7) { /* the next bit's cells of the large tables, while its inputs are computed */
            prefetch_mixer_sets(p, mbase, c0);
            mixer_prefetch(&p->mix[4], mbase[4] | (size_t)(j + 1) << 3);
            for (int d = 1; d < N_DIRECT; d++) PREFETCH(p->direct[d].t + (dbase[d] | (size_t)c0));
            if (!(p->off & OFF_SSE))
                for (int a = 0; a < N_APMS; a++) apm_prefetch(&p->apm[a], abase[a] | (size_t)c0);
        }
    }
    *byte = (uint8_t)(c0 - 256);
    for (int k = 0; k < N_CTX; k++)
        if (on[k]) cm_run_update(&p->cm, h[k], *byte);
    return 0;
}

/* The contexts of stream s after its byte b at time t. */
static void push_byte(Predictor *p, int s, uint8_t b, int64_t t) {
    Stream *st = &p->streams[s];
    structure_update(p->sm, &st->structure, st->c8, b, t);
    text_update(&st->text, b, t, (int)(st->c8 & 0xff));
    image_update(&st->image, &p->hist, s, t, b, (int)(st->c8 & 0xff));
    x86_update(&st->x86, b);
    st->c8b = (st->c8b << 8) | (st->c8 >> 56);
    st->c8 = (st->c8 << 8) | b;
}

/* After every stream coded step t: histories, contexts, and the match model (look-ups before
   insertions, so no candidate points at a byte of this step's future). */
static void end_step(Predictor *p, int m, const uint8_t *bytes) {
    int64_t t = p->t;
    for (int s = 0; s < m; s++) p->hist.bytes[(int64_t)s * p->hist.L + t] = bytes[s];
    for (int s = 0; s < m; s++) {
        push_byte(p, s, bytes[s], t);
        match_follow(&p->hist, &p->streams[s].match, bytes[s]);
    }
    if (p->dmc.full) { /* every stream, coding or done, at the root of its last byte */
        dmc_reset(&p->dmc);
        for (int s = 0; s < p->S; s++) p->streams[s].dmc = dmc_node((int)(p->streams[s].c8 & 0xff), 1);
    }
    if (p->off & OFF_MATCH) return;
    for (int s = 0; s < m; s++) match_find(&p->mm, &p->hist, &p->streams[s].match, s, t, p->streams[s].c8, p->streams[s].c8b);
    for (int s = 0; s < m; s++) match_insert(&p->mm, &p->hist, s, t, p->streams[s].c8, p->streams[s].c8b);
}

int predictor_step(Predictor *p, int m, const int64_t *freqs, uint8_t *bytes, uint16_t *probs) {
    for (int s = 0; s < m; s++)
        if (code_byte(p, s, freqs + 256 * (size_t)s, bytes + s, probs ? probs + 8 * (size_t)s : NULL)) return -1;
    end_step(p, m, bytes);
    p->t++;
    return 0;
}

void predictor_prime(Predictor *p, const uint8_t *text, size_t n) {
    int64_t uniform[256];
    for (int i = 0; i < 256; i++) uniform[i] = 1;
    p->priming = 1;
    Stream saved;
    memcpy(&saved, &p->streams[0], sizeof saved);
    for (size_t i = 0; i < n; i++) {
        uint8_t byte = text[i];
        code_byte(p, 0, uniform, &byte, NULL);
        /* time 0 throughout: the text is no part of the history the stream can look back on */
        Stream *st = &p->streams[0];
        structure_update(p->sm, &st->structure, st->c8, byte, 0);
        text_update(&st->text, byte, 0, (int)(st->c8 & 0xff));
        st->c8b = (st->c8b << 8) | (st->c8 >> 56);
        st->c8 = (st->c8 << 8) | byte;
    }
    memcpy(&p->streams[0], &saved, sizeof saved);
    p->priming = 0;
}
