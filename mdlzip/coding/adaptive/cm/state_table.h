/* Bit histories in one byte: the nonstationary state table.

   A state stands for the bits seen in one context: a pair of counts (n0, n1), and while both are
   nonzero and their total is small, also the last bit. On a bit its count goes up and the opposite
   count, if above 2, drops to about (8/3) log2(n) - 1 (3 stays 3, 8 becomes 7, 40 becomes 13: a
   short history keeps its counts, a long run gives way fast), so a context whose statistics change
   is followed (n/2 + 1 before: enwik6 -0.02%, the larger bounds below -0.01%). Pairs are
   bounded (a long run of one bit is remembered up to 44, a mixed history only to small counts);
   a step past the bound gives up the opposite count first. The table is generated at start-up by
   this rule (breadth first from the empty history), so it is the same on every machine. */
#ifndef MDLZIP_CM_STATE_TABLE_H
#define MDLZIP_CM_STATE_TABLE_H

#include "common.h"

#define STATES_MAX 256
#define HISTORY_TOTAL 20 /* the last bit is kept while n0 + n1 is at most this */

typedef struct {
    uint8_t next[STATES_MAX][2];
    uint8_t n0[STATES_MAX], n1[STATES_MAX];
    int8_t last[STATES_MAX]; /* -1: not kept */
    int count;
} StateTable;

extern StateTable STATES;

/* The largest count of the more frequent bit, by the count of the rarer one. */
static inline int state_allowed(int n0, int n1) {
    static const int bound[5] = {44, 36, 16, 6, 5};
    int a = n0 < n1 ? n0 : n1, b = n0 < n1 ? n1 : n0;
    return a < 5 && b <= bound[a];
}

void state_table_init(void);

#endif
