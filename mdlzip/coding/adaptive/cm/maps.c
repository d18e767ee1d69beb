/* The table that spares the adaptive maps a division per update (see maps.h). */
#include "maps.h"

uint64_t RECIPROCAL[1024];

void reciprocal_init(void) {
    for (uint64_t n = 0; n < 1024; n++) {
        uint64_t d = 2 * n + 3;
        RECIPROCAL[n] = ((uint64_t)1 << 40) / d + 1; /* d is odd, so 2^40 / d is never whole */
    }
}
