/*
 * mempool.h - size-class free lists behind nghttp2's allocator (internal).
 *
 * nghttp2 allocates and frees a handful of small blocks per stream (the
 * stream, its outbound item, the copied header array, the received header
 * buffers). Under glibc those bursts overflow the thread cache and reach
 * _int_malloc/_int_free, about 1,300 instructions per notification; a free
 * list per size class hands the same blocks back in ~20.
 *
 * A pool serves blocks up to APNS__POOL_MAX_BLOCK bytes from free lists
 * (classes 32 bytes apart); larger blocks go straight to malloc. A freed
 * block is kept for reuse while the pool holds less than its cap of cached
 * bytes, otherwise returned to malloc: the memory held beyond what is in use
 * is bounded by the cap. Every block carries a 16-byte header naming its
 * class (or, for a large block, its size), so free and realloc need no size.
 * Under AddressSanitizer a cached block is poisoned, so a use after free
 * inside the pool is still reported.
 *
 * Not thread-safe: one pool per connection, used from its loop.
 */
#ifndef APNS_MEMPOOL_H
#define APNS_MEMPOOL_H

#include <stddef.h>
#include <stdint.h>

#define APNS__POOL_STEP      32u
#define APNS__POOL_CLASSES   32u
#define APNS__POOL_MAX_BLOCK (APNS__POOL_STEP * APNS__POOL_CLASSES) /* 1024 */

typedef struct apns__mempool {
    void *free[APNS__POOL_CLASSES]; /* cached blocks (headers), linked through them */
    size_t cached;                  /* bytes cached in the free lists */
    size_t cap;                     /* at most this many bytes cached */
    uint64_t reused;                /* allocations served from a free list */
} apns__mempool;

/* Starts an empty pool that caches at most cap bytes (0: none). */
void apns__mempool_init(apns__mempool *p, size_t cap);
/* Returns every cached block to malloc; blocks in use stay valid. */
void apns__mempool_clear(apns__mempool *p);

/* malloc/free/calloc/realloc semantics (NULL when out of memory; a zero
 * size still gives a distinct block; free(NULL) does nothing). Blocks must
 * be freed to the pool that allocated them. */
void *apns__mempool_alloc(apns__mempool *p, size_t n);
void apns__mempool_free(apns__mempool *p, void *ptr);
void *apns__mempool_calloc(apns__mempool *p, size_t nmemb, size_t size);
void *apns__mempool_realloc(apns__mempool *p, void *ptr, size_t n);

#endif
