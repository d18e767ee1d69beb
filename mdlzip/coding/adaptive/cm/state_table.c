/* Generates the nonstationary state table described in state_table.h. */
#include "state_table.h"

StateTable STATES;

static int key_of(int n0, int n1, int last) { return (n0 * 64 + n1) * 3 + last + 1; }

static int find_or_add(int *index, int n0, int n1, int last) {
    if (!(n0 && n1 && n0 + n1 <= HISTORY_TOTAL)) last = -1;
    int k = key_of(n0, n1, last);
    if (index[k] < 0) {
        if (STATES.count == STATES_MAX) return -1;
        int s = STATES.count++;
        STATES.n0[s] = (uint8_t)n0;
        STATES.n1[s] = (uint8_t)n1;
        STATES.last[s] = (int8_t)last;
        index[k] = s;
    }
    return index[k];
}

/* about (8/3) log2(n) - 1, in integers: the largest m with 2^(3(m+1)) <= n^8 */
static int discount(int n) {
    uint64_t n8 = (uint64_t)n * n * n * n;
    n8 *= n8;
    int m = 0;
    while (3 * (m + 2) < 64 && ((uint64_t)1 << (3 * (m + 2))) <= n8) m++;
    return m < n ? m : n;
}

void state_table_init(void) {
    static int index[64 * 64 * 3 + 3];
    for (size_t i = 0; i < sizeof index / sizeof index[0]; i++) index[i] = -1;
    memset(&STATES, 0, sizeof STATES);
    find_or_add(index, 0, 0, -1);
    for (int s = 0; s < STATES.count; s++) { /* the queue grows while it is walked */
        for (int bit = 0; bit < 2; bit++) {
            int n[2] = {STATES.n0[s], STATES.n1[s]};
            n[bit]++;
            if (n[!bit] > 2) n[!bit] = discount(n[!bit]);
            while (!state_allowed(n[0], n[1])) {
                if (n[!bit] > 0) n[!bit]--;
                else n[bit]--;
            }
            int t = find_or_add(index, n[0], n[1], bit);
            STATES.next[s][bit] = (uint8_t)(t < 0 ? s : t);
        }
    }
}
