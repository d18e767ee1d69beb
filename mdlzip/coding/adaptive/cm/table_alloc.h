/* Memory for the side models' large tables (hashed contexts, maps, APMs, mixers, match tables). */
#ifndef MDLZIP_CM_TABLE_ALLOC_H
#define MDLZIP_CM_TABLE_ALLOC_H

#include <stddef.h>

/* ``bytes`` of zeros, freed with table_free(); NULL when out of memory. ``huge``: back it with
   huge pages where the system lends them (see table_alloc.c). */
void *table_alloc(size_t bytes, int huge);
void table_free(void *p);
/* Gives every page of these tables (from table_alloc) its memory now, on two threads; the contents
   stay zeros. For tables the coding will touch all over anyway (see table_alloc.c). */
void table_populate(void *const *tables, int n);

#endif
