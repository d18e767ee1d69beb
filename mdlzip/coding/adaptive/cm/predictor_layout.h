/* The side models' layout (contexts, mixer inputs, mixers, APMs) and the predictor's state: what
   the coding loop (predictor.c) and the whole-state operations (predictor_state.c) share. */
#ifndef MDLZIP_CM_PREDICTOR_LAYOUT_H
#define MDLZIP_CM_PREDICTOR_LAYOUT_H

#include "predictor.h"

#include "bit_coder.h"
#include "common.h"
#include "context_map.h"
#include "dmc_model.h"
#include "history.h"
#include "image_model.h"
#include "maps.h"
#include "match_model.h"
#include "mixer.h"
#include "state_table.h"
#include "structure_model.h"
#include "text_model.h"
#include "x86_model.h"

#define N_ORDER_CTX 6
static const int ORDER_OF[N_ORDER_CTX] = {0, 2, 4, 5, 6, 8};
#define CTX_TEXT N_ORDER_CTX
#define CTX_STRUCT (CTX_TEXT + TEXT_CONTEXTS)
#define CTX_MATCH (CTX_STRUCT + STRUCTURE_CONTEXTS)
#define N_CTX (CTX_MATCH + 1)
#define IN_CTX 1
#define IN_MATCH (IN_CTX + CM_INPUTS * N_CTX)
#define IN_DIRECT (IN_MATCH + MATCH_INPUTS)
#define N_DIRECT 3
#define IN_DMC (IN_DIRECT + N_DIRECT)
#define N_INPUTS (IN_DMC + DMC_INPUTS)
/* The first layer's rows, padded with inputs that are always 0 to whole vectors of sixteen, so
   that its dot products and steps have no scalar tail (a padded weight never moves: 0 * e
   rounds to 0). */
#define N_INPUTS_PADDED ((N_INPUTS + 15) / 16 * 16)
typedef char image_contexts_fit_the_text_slots[IMAGE_CONTEXTS <= TEXT_CONTEXTS ? 1 : -1];
typedef char x86_contexts_fit_the_text_slots[X86_CONTEXTS <= TEXT_CONTEXTS ? 1 : -1];
typedef char inputs_fit_the_exact_dot_product[N_INPUTS_PADDED < MIXER_INPUTS_MAX ? 1 : -1];
typedef char contexts_fit_the_idle_mask[N_CTX <= 64 ? 1 : -1];

/* Tables go on huge pages from this many slots' bits, an input of 256 KiB (SideConfig): there
   they save the look-ups more TLB misses than their 2 MiB first touches cost (enwik6, side by
   side: 6-9% faster, 869 MiB at peak against 656), where on enwik5 they were no faster and
   doubled the memory (606 MiB against 311). */
#define HUGE_TABLE_BITS 24

#define N_MIXERS 7
/* selected by: classes of c1, c2 (in a text region: the region, the class of c1) x partial byte; orders seen x bit position x word or number
   position (wd) x match length x expected bit; shape x wd in text, a longer shape elsewhere, the
   image selectors in pixels; expected byte x partial byte; classes of c1-c3 x bit position x wd;
   punctuation x partial byte; c1 x partial byte */
static const int MIXER_SETS[N_MIXERS] = {(64 + 8 * (TEXT_REGIONS - 1)) << 8, N_ORDER_CTX * 8 * 8 * 4 * 3, (1 << 16) + IMAGE_SELECTORS + X86_SELECTORS, 257 << 8, 4096 * 8, 1 << 16, 1 << 16};
#define FINAL_INPUTS (N_MIXERS + 1)
/* The second layer: two mixers over the first layer's outputs, whose logits are averaged,
   selected by the partial byte with whether the match predicts the bit, and by how many orders
   have seen their context with the bit position and the position in a word or number. The
   second one went in with format 17: enwik6 -0.11%, enwik5 -0.11%, the kinds files -0.28% (the
   shared library and the image -0.34% and -0.49%). What did not pay (enwik5, beside the SSE
   mix by region, predictor.c): the first by the text's region too (alone -5 B, with that mix
   +7 B), the second by the region (+17 B), the first by the expected bit or it with the match
   length (+5, +11 B); in the first layer, the region with the classes of the last bytes in the
   classes mixer (+1 B) or in the orders-seen mixer (0), that one by the DMC node's confidence
   (+6 B), the expected-byte mixer with whether the match is 16 bytes long (+3 B). */
#define N_FINAL 2
static const int FINAL_SETS[N_FINAL] = {512, N_ORDER_CTX * 8 * 8};
#define N_APMS 7
#define SSE_INPUTS (N_APMS + 2) /* the mixer's output, the APMs', a bias */
static const size_t APM_CONTEXTS[N_APMS] = {1 << 18, 1 << 18, 1 << 18, 1 << 18, 1 << 18, 1 << 18, 1 << 18};

typedef struct {
    uint64_t c8, c8b; /* the last 16 bytes, newest lowest */
    TextStream text;
    StructureStream structure;
    MatchStream match;
    ImageStream image;
    X86Stream x86;
    uint32_t dmc; /* the DMC graph's node */
} Stream;

struct Predictor {
    Logistic lg;
    BitCoder coder;
    int S, off, table_bits, match_bits;
    int huge; /* the large tables on huge pages (table_alloc.c) */
    int64_t t, *lengths;
    History hist;
    Stream *streams;
    HashTable ht;
    ContextMap cm;
    MatchModel mm;
    StructureModel *sm;
    Mixer mix[N_MIXERS], final[N_FINAL];
    Mixer sse;        /* the mixer's output and the APMs' refinements, by learned weights */
    int transformer;  /* mix a transformer's predictions in (predictor_mix_transformer) */
    Mixer last;       /* that mix: the transformer's logit and the side models' */
    /* 16-bit p -> logit, the exact inverse of squash16: finer than stretch16() (common.h), which
       reads the 12-bit table and would blunt the sure probabilities the last mixer passes on */
    int16_t logit16[P16_ONE];
    APM apm[N_APMS];
    AdaptiveMap direct[N_DIRECT];
    DmcModel dmc;
    int small;  /* table_bits < SMALL_INPUT_BITS: the small-input model (predictor.h) */
    int priming;
    double bits;         /* the ideal codelength so far (reported only) */
    uint16_t path_p[8];  /* the probability given to each bit of the byte coded last (reported only) */
};

#endif
