/* Image model: contexts of a pixel's neighbours, for raw images whose header gives their geometry.

   Predicts each byte of the pixel data from the same channel of the pixels to its left (W, WW),
   above (N, NN), above left (NW, NWW, NNW) and above right (NE, NNE): their values, pairs and
   triples of them, and what planes and lines through them predict (W + N - NW, 2W - WW, 2N - NN,
   N + NE - NNE, ...), each with the channel; for the second and later channels, from how the
   previous channel changed against the pixels to the left and above (colour planes move
   together); for the first, from the coarse neighbourhood. The local gradients choose a mixer's
   weight set.

   Geometry comes only from a header seen in the stream: binary PNM (P5 grey, P6 RGB, maxval at
   most 255) at the start of the data or after a newline or NUL byte, and uncompressed BMP (8, 24 or 32 bits per
   pixel, rows padded to 4 bytes). Inside the pixel data these contexts take the text model's
   slots, twenty-two of them (the other fifteen are off), which predict nothing there (side models' data: kinds image.ppm
   -26.3%; five other photos -8.6% to -21.4%, a screenshot -31.4%).
   A header read in error costs only compression, never correctness: both sides read the same one. */
#ifndef MDLZIP_CM_IMAGE_MODEL_H
#define MDLZIP_CM_IMAGE_MODEL_H

#include "common.h"
#include "history.h"

#define IMAGE_CONTEXTS 22 /* in the first of the text model's slots; its others are off in pixels */
#define IMAGE_SELECTORS 512 /* mixer weight sets: channel x three quantized gradients */
#define IMAGE_DIM_MAX 65535
#define BMP_HEADER 54
#define BMP_OFFSET_MAX 4096 /* the pixels' offset: header, colour masks and a 256-colour palette fit */

typedef struct {
    int64_t start, end;     /* the pixel data's times: [start, end); end 0: no image */
    int32_t row, channels;  /* bytes per row (with padding), bytes per pixel */
    int64_t bm_time;        /* time of the last "BM" that may begin a BMP header (-1: none) */
    /* the PNM header being read: 0 idle, 1 'P' seen, 2 magic seen, 3 in its fields */
    uint8_t pnm_state, pnm_channels, pnm_field, pnm_comment;
    int32_t pnm_value[3], pnm_digits;
} ImageStream;

static inline void image_stream_init(ImageStream *is) {
    memset(is, 0, sizeof *is);
    is->bm_time = -1;
}

static inline int image_active(const ImageStream *is, int64_t t) { return t >= is->start && t < is->end; }

static inline void image_begin(ImageStream *is, int64_t start, int64_t height, int channels, int64_t row) {
    is->start = start;
    is->end = start + row * height;
    is->row = (int32_t)row;
    is->channels = channels;
}

static inline uint32_t le_bytes(const History *h, int s, int64_t t, int64_t at, int n) {
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | (uint32_t)hist_back(h, s, t, t - (at + i));
    return v;
}

/* A BMP header whose 54 bytes end at time t, beginning at is->bm_time. */
static inline void image_read_bmp(ImageStream *is, const History *h, int s, int64_t t) {
    int64_t b = is->bm_time;
    uint32_t offset = le_bytes(h, s, t, b + 10, 4), info = le_bytes(h, s, t, b + 14, 4);
    int32_t width = (int32_t)le_bytes(h, s, t, b + 18, 4), height = (int32_t)le_bytes(h, s, t, b + 22, 4);
    uint32_t planes = le_bytes(h, s, t, b + 26, 2), bpp = le_bytes(h, s, t, b + 28, 2), compression = le_bytes(h, s, t, b + 30, 4);
    if (height < 0) height = height == INT32_MIN ? 0 : -height; /* top-down rows: the same neighbours */
    if (info < 40 || info > 124 || planes != 1 || (bpp != 8 && bpp != 24 && bpp != 32)) return;
    if (compression != 0 && !(compression == 3 && bpp == 32)) return;
    if (width < 1 || width > IMAGE_DIM_MAX || height < 1 || height > IMAGE_DIM_MAX) return;
    if (offset < BMP_HEADER || offset > BMP_OFFSET_MAX) return;
    int64_t row = ((int64_t)width * bpp + 31) / 32 * 4;
    image_begin(is, b + offset, height, (int)(bpp / 8), row);
}

/* The PNM header reader, one byte at a time: "P5" or "P6", then width, height and maxval separated by
   whitespace and comments, then one whitespace byte, after which the pixels begin. */
static inline void image_read_pnm(ImageStream *is, uint8_t b, int prev, int64_t t) {
    int space = b == ' ' || b == '\n' || b == '\r' || b == '\t' || b == '\v' || b == '\f';
    switch (is->pnm_state) {
    case 1:
        is->pnm_state = b == '5' || b == '6' ? 2 : 0;
        is->pnm_channels = b == '6' ? 3 : 1;
        return;
    case 2:
        is->pnm_state = space ? 3 : 0;
        is->pnm_field = 0;
        is->pnm_digits = 0;
        is->pnm_comment = 0;
        return;
    case 3:
        if (is->pnm_comment) {
            is->pnm_comment = b != '\n' && b != '\r';
            return;
        }
        if (b >= '0' && b <= '9') {
            if (is->pnm_digits == 0) is->pnm_value[is->pnm_field] = 0;
            if (++is->pnm_digits > 5) break;
            is->pnm_value[is->pnm_field] = is->pnm_value[is->pnm_field] * 10 + (b - '0');
            return;
        }
        if (b == '#' && is->pnm_digits == 0) {
            is->pnm_comment = 1;
            return;
        }
        if (!space) break;
        if (is->pnm_digits == 0) return; /* whitespace between fields */
        is->pnm_digits = 0;
        if (++is->pnm_field < 3) return;
        {
            int32_t w = is->pnm_value[0], hgt = is->pnm_value[1], maxval = is->pnm_value[2];
            if (w >= 1 && w <= IMAGE_DIM_MAX && hgt >= 1 && hgt <= IMAGE_DIM_MAX && maxval >= 1 && maxval <= 255)
                image_begin(is, t + 1, hgt, is->pnm_channels, (int64_t)w * is->pnm_channels);
        }
        break;
    default:
        break;
    }
    is->pnm_state = b == 'P' && (prev == 0 || prev == '\n') ? 1 : 0;
}

/* After byte b of stream s at time t (already in the history); prev is the byte before it (0 at
   the start). Headers are read only outside an image's pixels. */
static inline void image_update(ImageStream *is, const History *h, int s, int64_t t, uint8_t b, int prev) {
    if (image_active(is, t)) return;
    image_read_pnm(is, b, prev, t);
    if (b == 'M' && prev == 'B') is->bm_time = t - 1;
    else if (is->bm_time >= 0 && t - is->bm_time == BMP_HEADER - 1) {
        image_read_bmp(is, h, s, t);
        is->bm_time = -1;
    }
}

static inline int clip_byte(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* |d| against increasing bounds: the number of bounds it reaches. */
static inline int gradient_class(int d, const int *bounds, int n) {
    int q = 0;
    d = d < 0 ? -d : d;
    while (q < n && d >= bounds[q]) q++;
    return q;
}

/* The contexts of the next byte, the t-th of stream s, inside the pixels; c1 is the previous byte.
   Returns the mixer weight set (below IMAGE_SELECTORS). */
static inline int image_contexts(const ImageStream *is, const History *h, int s, int64_t t, int c1, uint64_t *out) {
    int64_t row = is->row, px = is->channels;
    int ch = (int)((t - is->start) % row % px);
#define AT(back) hist_back(h, s, t, (back))
    int W = AT(px), WW = AT(2 * px), N = AT(row), NN = AT(2 * row), NW = AT(row + px), NE = AT(row - px);
    int NNE = AT(2 * row - px), NWW = AT(row + 2 * px), NNW = AT(2 * row + px);
    /* the previous channel of this pixel against its value in the pixels to the left and above */
    int dc = ch ? c1 - AT(px + 1) : 0, dn = ch ? c1 - AT(row + 1) : 0;
#undef AT
    uint64_t c = (uint64_t)ch;
    out[0] = hash3(101, c, (uint64_t)W << 8 | (uint64_t)N);
    out[1] = hash3(102, c, (uint64_t)W);
    out[2] = hash3(103, c, (uint64_t)N);
    out[3] = hash3(104, c, (uint64_t)clip_byte(W + N - NW));
    out[4] = hash3(105, c, (uint64_t)((W + N + 1) >> 1));
    out[5] = hash3(106, c, (uint64_t)(N >> 2) << 8 | (uint64_t)(NE >> 2));
    /* the first channel has no previous one: the coarse neighbourhood instead (-0.1% to -1.4%) */
    out[6] = ch ? hash3(107, c, (uint64_t)clip_byte(W + dc))
                : hash2(123, (uint64_t)(W >> 3) << 15 | (uint64_t)(N >> 3) << 10 | (uint64_t)(NW >> 3) << 5 | (uint64_t)(NE >> 3));
    out[7] = hash3(108, c, (uint64_t)(W >> 2) << 8 | (uint64_t)(NW >> 2));
    out[8] = hash3(109, c, (uint64_t)clip_byte(N + NE - NNE));
    out[9] = hash3(110, c, (uint64_t)clip_byte(2 * W - WW));
    out[10] = hash3(111, c, (uint64_t)clip_byte(2 * N - NN));
    out[11] = hash3(112, c, (uint64_t)((W + NE) >> 1) << 8 | (uint64_t)(clip_byte(dc + 128) >> 2));
    /* ten more (kinds image.ppm -3.8%, other photos 0.6-2.7%) */
    out[12] = hash3(113, c, (uint64_t)N << 8 | (uint64_t)NN);
    out[13] = hash3(114, c, (uint64_t)W << 8 | (uint64_t)WW);
    out[14] = hash3(115, c, (uint64_t)clip_byte(W + NE - N));
    out[15] = hash3(116, c, ch ? (uint64_t)clip_byte(N + dn) << 8 | (uint64_t)clip_byte(W + dc) >> 2 : (uint64_t)(N >> 1) << 8 | (uint64_t)(NW >> 1));
    out[16] = hash3(117, c, ch ? (uint64_t)c1 << 8 | (uint64_t)W : (uint64_t)(W >> 1) << 8 | (uint64_t)(NE >> 1));
    out[17] = hash3(118, c, (uint64_t)clip_byte((3 * W + 3 * N - 2 * NW + 2) / 4));
    out[18] = hash3(119, c, (uint64_t)(W >> 2) << 16 | (uint64_t)(N >> 2) << 8 | (uint64_t)(NN >> 2));
    out[19] = hash3(120, c, (uint64_t)clip_byte(W + NW - NWW) << 8 | (uint64_t)(clip_byte(N + NW - NNW) >> 2));
    out[20] = hash3(121, c, (uint64_t)((N + NE + 1) >> 1) << 8 | (uint64_t)(clip_byte(N - NN + 128) >> 3));
    out[21] = hash3(122, c, (uint64_t)((W + NW + 1) >> 1) << 8 | (uint64_t)(clip_byte(W - WW + 128) >> 3));
    static const int FINE[4] = {2, 6, 16, 40}, COARSE[3] = {3, 12, 32};
    int g1 = gradient_class(W - N, FINE, 4), g2 = gradient_class(N - NW, COARSE, 3), g3 = gradient_class(W - NW, COARSE, 3);
    return ((ch * 5 + g1) * 4 + g2) * 4 + g3;
}

#endif
