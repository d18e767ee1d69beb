/* Memory for the side models' large tables.

   Every bit looks up a few dozen random places in tables of tens to hundreds of MiB, so with
   4 KiB pages most look-ups also miss the TLB. Where Linux lends transparent huge pages on
   request, tables of 2 MiB or more are aligned to 2 MiB and asked to be backed by them; that
   saves about a quarter of the side models' time and changes no result. Elsewhere: malloc. */
#define _GNU_SOURCE
#include "table_alloc.h"

#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

void *table_alloc(size_t bytes, int zero) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= HUGE_PAGE) {
        void *p;
        if (posix_memalign(&p, HUGE_PAGE, bytes)) return NULL;
        madvise(p, bytes, MADV_HUGEPAGE); /* a hint: refused, the pages are just small */
        if (zero) memset(p, 0, bytes);
        return p;
    }
#endif
    return zero ? calloc(bytes ? bytes : 1, 1) : malloc(bytes ? bytes : 1);
}
