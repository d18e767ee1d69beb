/* Memory for the side models' large tables (hashed contexts, maps, APMs, match tables). */
#ifndef MDLZIP_CM_TABLE_ALLOC_H
#define MDLZIP_CM_TABLE_ALLOC_H

#include <stddef.h>

/* ``bytes`` (zeroed when ``zero``), freed with free(); NULL when out of memory. */
void *table_alloc(size_t bytes, int zero);

#endif
