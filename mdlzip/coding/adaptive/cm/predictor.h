/* The side models' predictor over S lock-step streams: what the Python glue (_side.c) drives.

   Integer arithmetic only, in a fixed order: streams 0..m-1 of a step, each byte's bits from the
   most significant down, every table updated right after the bit it predicted. Encoder and
   decoder run this same code, so they hold the same state at every bit on any machine.

   One thread. A second one was tried for the contexts' work: the contexts in two lanes, each
   with a part of the hashed and run tables of its own, so that either thread could run a lane
   and give the same bits, and the next bit's inputs read before this bit's updates, so that the
   second thread answered before it learned (about 100 ns per hand-over, two per bit). On the
   2-core machine it was no faster: 300 kB of text in 4.4-10.7 s against 5.3-7.7 s in one
   thread, enwik6 in 16.9-23.0 s against 17.7-20.1 s (alternately, one sitting). The coding
   thread's own time hardly fell with half or more of the contexts moved out, and still did not
   with no inputs passed between the threads: the work moved had run in the shadow of that
   thread's memory waits (the mixers' and APMs' rows), which stayed. */
#ifndef MDLZIP_CM_PREDICTOR_H
#define MDLZIP_CM_PREDICTOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct Predictor Predictor;

/* Component families that can be switched off (benchmarks/ablation.py); archives use them all. */
enum {
    OFF_HIGH_ORDERS = 1,  /* orders 6 and 8 */
    OFF_TEXT = 2,         /* word, column and shape contexts */
    OFF_INDIRECT = 4,
    OFF_SPARSE = 8,
    OFF_RECORD = 16,
    OFF_MATCH = 32,       /* the match model and its guess as a context */
    OFF_MIXER_SELECT = 64,/* every first-layer mixer uses one weight set */
    OFF_SSE = 128,        /* the APM stages */
    OFF_IMAGE = 256,      /* the image model */
    OFF_X86 = 512,        /* the x86 model */
    OFF_DMC = 1024,       /* the DMC graph */
    OFF_ALL = 2047
};

/* Tables of fewer slots' bits than this (inputs under 256 KiB without a prior, SideConfig) get
   the small-input model: orders 5 and 6, the first record context and the selection of mixer 1
   off (predictor.c), each of which costs small inputs bits. */
#define SMALL_INPUT_BITS 24

/* tables: stretch (4096 int16), squash (4095 int16), squash16 (4095 uint16). NULL on out of memory. */
Predictor *predictor_new(const int64_t *lengths, int S, int table_bits, const int16_t *stretch, const int16_t *squash,
                         const uint16_t *squash16, int off);
void predictor_free(Predictor *p);
Predictor *predictor_clone(const Predictor *p);

/* Decoding reads this coded stream (copied). 0, or -1 when out of memory. */
int predictor_start_decoding(Predictor *p, const uint8_t *data, size_t n);
int predictor_decoding(const Predictor *p);

/* One step of the first m streams: freqs (m x 256, each 1..2^24) from the transformer; bytes are
   read when encoding, written when decoding. -1 when out of memory. When ``probs`` is given, the
   16-bit probability given to each coded bit is stored there (8 per byte, stream-major). */
int predictor_step(Predictor *p, int m, const int64_t *freqs, uint8_t *bytes, uint16_t *probs);
int64_t predictor_time(const Predictor *p);
/* From the first step on, mix the transformer's frequencies in (see predictor.c) with 16.16 weights
   starting at w_transformer and w_side (clamped to the mixers' limit); until then they are
   ignored, as a model that knows nothing (the side models alone) would be. -1 once coding began. */
int predictor_mix_transformer(Predictor *p, int32_t w_transformer, int32_t w_side);
/* Every stream's coded bytes, stream s's byte t at s * lengths[0] + t. */
const uint8_t *predictor_history(const Predictor *p);
int predictor_streams(const Predictor *p);
const int64_t *predictor_lengths(const Predictor *p);

/* Learns from a text before the first step, as stream 0 with a uniform transformer, nothing coded;
   stream 0's contexts are reset afterwards and the match model never sees the text. */
void predictor_prime(Predictor *p, const uint8_t *text, size_t n);

/* The coded bytes so far followed by the flush (the coder itself is left unflushed). */
int predictor_finish(const Predictor *p, uint8_t **out, size_t *n);
double predictor_bits(const Predictor *p);
void predictor_path(const Predictor *p, uint16_t out[8]);
uint64_t predictor_digest(const Predictor *p);

#endif
