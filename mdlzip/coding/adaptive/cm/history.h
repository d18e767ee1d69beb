/* The coded bytes of every stream, and where each stream stands in them.

   Stream s's byte t lives at s * L + t, so a model can look back along its own stream or, like
   the match model, anywhere else. A byte of step t is written after every stream has coded
   step t, and a position is only ever handed to a model once its byte is written. */
#ifndef MDLZIP_CM_HISTORY_H
#define MDLZIP_CM_HISTORY_H

#include "common.h"

typedef struct {
    uint8_t *bytes;
    int64_t L;             /* the longest segment */
    const int64_t *lengths;
} History;

/* Byte ``back`` bytes before time t of stream s (0 before the stream's start). */
static inline int hist_back(const History *h, int s, int64_t t, int64_t back) {
    return back <= t ? h->bytes[(int64_t)s * h->L + t - back] : 0;
}

/* Whether position pos + 1 is still inside pos's segment. */
static inline int hist_has_next(const History *h, int64_t pos) {
    return pos % h->L + 1 < h->lengths[pos / h->L];
}

#endif
