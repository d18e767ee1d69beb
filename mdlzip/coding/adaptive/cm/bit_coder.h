/* The binary arithmetic coder: 32-bit range, 16-bit probabilities, carry-less (see FORMAT.md). */
#ifndef MDLZIP_CM_BIT_CODER_H
#define MDLZIP_CM_BIT_CODER_H

#include "common.h"

typedef struct {
    uint32_t x1, x2, x;
    uint8_t *buf;
    size_t len, cap, pos;
    int decoding;
} BitCoder;

static inline int coder_put(BitCoder *c, uint8_t b) {
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

/* Past the end a decoder reads zeros: garbage decodes to garbage, never out of bounds. */
static inline uint8_t coder_get(BitCoder *c) { return c->pos < c->len ? c->buf[c->pos++] : 0; }

/* Codes (or decodes, returning it) one bit with P(1) = p / 65536, 1 <= p <= 65535.
   Returns -1 only when out of memory. */
static inline int coder_bit(BitCoder *c, int bit, int p) {
    uint32_t r = c->x2 - c->x1;
    uint32_t mid = c->x1 + (r >> 16) * (uint32_t)p + (((r & 0xffff) * (uint32_t)p) >> 16);
    if (c->decoding) bit = c->x <= mid;
    if (bit) c->x2 = mid;
    else c->x1 = mid + 1;
    while (((c->x1 ^ c->x2) & 0xff000000u) == 0) {
        if (c->decoding) c->x = (c->x << 8) | coder_get(c);
        else if (coder_put(c, (uint8_t)(c->x2 >> 24))) return -1;
        c->x1 <<= 8;
        c->x2 = (c->x2 << 8) | 255;
    }
    return bit;
}

static inline void coder_start_decoding(BitCoder *c) {
    c->decoding = 1;
    for (int i = 0; i < 4; i++) c->x = (c->x << 8) | coder_get(c);
}

/* x1 lies in the final range: its four bytes end the stream. */
static inline int coder_flush(BitCoder *c) {
    for (int i = 3; i >= 0; i--)
        if (coder_put(c, (uint8_t)(c->x1 >> (8 * i)))) return -1;
    return 0;
}

#endif
