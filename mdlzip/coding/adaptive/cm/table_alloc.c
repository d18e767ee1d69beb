/* Memory for the side models' large tables.

   Every table starts as zeros (each table's cells are stored so that zero is their initial
   value), and its pages are only given memory when first written: a small input that touches
   a few of a mixer's hundred thousand weight sets costs the pages it touches, not the table
   (coding 1 kB took 558 MiB at peak when the tables were filled at the start, 69 MiB since).

   Every bit looks up a few dozen random places in tables of tens to hundreds of MiB, so with
   4 KiB pages most look-ups also miss the TLB. Where Linux lends transparent huge pages on
   request, a table asked to be ``huge`` is aligned to 2 MiB and backed by them; that saves about
   a quarter of the side models' time on large inputs and changes no result, but each page then
   costs 2 MiB on first touch, which a small input does not repay (predictor.c chooses). Tables
   under 256 KiB, and every table elsewhere: calloc.

   Where every page of the huge tables will be touched anyway (an input of 256 KiB or more touches
   nearly all of them in its first kilobytes), table_populate gives them memory at the start on two
   threads. The first touch of memory is dear on a virtual machine, whose host backs the page
   then: 768 MiB took 1.9-2.4 s on one thread and 1.2-1.3 s on two on the 2-core machine. */
#define _GNU_SOURCE
#include "table_alloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)
#define MAPPED_MIN ((size_t)256 << 10)
#define HEADER 64 /* before each table: how it was obtained, so table_free needs no size */

typedef struct {
    void *base;
    size_t length; /* of the mapping; 0: from calloc */
    size_t bytes;  /* the table's */
} Header;

void *table_alloc(size_t bytes, int huge) {
#if defined(__linux__) && defined(MAP_ANONYMOUS)
    /* calloc would clear memory it reuses, touching every page; a fresh mapping is zeros as is */
    if (bytes >= MAPPED_MIN && bytes <= SIZE_MAX - 2 * HUGE_PAGE) {
        size_t align = huge && bytes >= HUGE_PAGE ? HUGE_PAGE : 4096, length = bytes + HEADER + align;
        uint8_t *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) return NULL;
        uint8_t *p = (uint8_t *)(((uintptr_t)base + HEADER + align - 1) & ~(uintptr_t)(align - 1));
#if defined(MADV_HUGEPAGE)
        if (align == HUGE_PAGE) madvise(p, bytes, MADV_HUGEPAGE); /* a hint: refused, the pages are just small */
#endif
        Header *h = (Header *)(p - HEADER);
        h->base = base;
        h->length = length;
        h->bytes = bytes;
        return p;
    }
#endif
    (void)huge;
    if (bytes > SIZE_MAX - HEADER) return NULL;
    uint8_t *base = calloc(bytes + HEADER, 1);
    if (!base) return NULL;
    Header *h = (Header *)base;
    h->base = base;
    h->length = 0;
    h->bytes = bytes;
    return base + HEADER;
}

#define PAGE 4096

typedef struct {
    void *const *tables;
    int n;
    size_t from, to; /* pages, counted through the tables in order */
} Share;

static size_t table_pages(const void *table) { return (((const Header *)((const uint8_t *)table - HEADER))->bytes + PAGE - 1) / PAGE; }

/* Writes a zero into each page of the share: the page's memory now, its content unchanged. */
static void *populate_share(void *arg) {
    const Share *sh = arg;
    size_t first = 0; /* the table's first page in the count */
    for (int i = 0; i < sh->n; i++) {
        size_t end = first + table_pages(sh->tables[i]);
        volatile uint8_t *t = sh->tables[i];
        for (size_t g = sh->from > first ? sh->from : first; g < sh->to && g < end; g++) t[(g - first) * PAGE] = 0;
        first = end;
    }
    return NULL;
}

void table_populate(void *const *tables, int n) {
    size_t pages = 0;
    for (int i = 0; i < n; i++) pages += table_pages(tables[i]);
    Share a = {tables, n, 0, pages / 2}, b = {tables, n, pages / 2, pages};
    pthread_t helper;
    int helped = !pthread_create(&helper, NULL, populate_share, &b);
    populate_share(&a);
    if (helped) pthread_join(helper, NULL);
    else populate_share(&b);
}

void table_free(void *p) {
    if (!p) return;
    Header *h = (Header *)((uint8_t *)p - HEADER);
#if defined(__linux__)
    if (h->length) {
        munmap(h->base, h->length);
        return;
    }
#endif
    free(h->base);
}
