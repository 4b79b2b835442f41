/* mempool.c - size-class free lists (see mempool.h for the design). */
#include "mempool.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The header before each block: its class, or LARGE and its size. 16 bytes,
 * so a block keeps malloc's 16-byte alignment. */
typedef struct hdr {
    struct {
        size_t cls;
        size_t size; /* large blocks only */
    } h;
} hdr;
_Static_assert(sizeof(hdr) == 16, "16-byte block header");

#define LARGE ((size_t)-1)

static size_t class_of(size_t n)
{
    return n == 0 ? 0 : (n - 1) / APNS__POOL_STEP;
}

static size_t class_bytes(size_t cls)
{
    return (cls + 1) * APNS__POOL_STEP;
}

void apns__mempool_init(apns__mempool *p, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->cap = cap;
}

void apns__mempool_clear(apns__mempool *p)
{
    for (size_t i = 0; i < APNS__POOL_CLASSES; i++) {
        while (p->free[i]) {
            hdr *b = p->free[i];
            UNPOISON(b, sizeof(hdr) + class_bytes(i));
            p->free[i] = *(void **)(b + 1);
            free(b);
        }
    }
    p->cached = 0;
}

void *apns__mempool_alloc(apns__mempool *p, size_t n)
{
    if (n > APNS__POOL_MAX_BLOCK) {
        if (n > SIZE_MAX - sizeof(hdr))
            return NULL;
        hdr *b = malloc(sizeof(hdr) + n);
        if (!b)
            return NULL;
        b->h.cls = LARGE;
        b->h.size = n;
        return b + 1;
    }
    size_t cls = class_of(n);
    hdr *b = p->free[cls];
    if (b) {
        UNPOISON(b, sizeof(hdr) + class_bytes(cls));
        p->free[cls] = *(void **)(b + 1);
        p->cached -= class_bytes(cls);
        p->reused++;
        return b + 1;
    }
    b = malloc(sizeof(hdr) + class_bytes(cls));
    if (!b)
        return NULL;
    b->h.cls = cls;
    return b + 1;
}

void apns__mempool_free(apns__mempool *p, void *ptr)
{
    if (!ptr)
        return;
    hdr *b = (hdr *)ptr - 1;
    size_t cls = b->h.cls;
    if (cls == LARGE || p->cached + class_bytes(cls) > p->cap) {
        free(b);
        return;
    }
    *(void **)(b + 1) = p->free[cls];
    p->free[cls] = b;
    p->cached += class_bytes(cls);
    POISON(b, sizeof(hdr) + class_bytes(cls));
}

void *apns__mempool_calloc(apns__mempool *p, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        return NULL;
    void *q = apns__mempool_alloc(p, nmemb * size);
    if (q)
        memset(q, 0, nmemb * size);
    return q;
}

void *apns__mempool_realloc(apns__mempool *p, void *ptr, size_t n)
{
    if (!ptr)
        return apns__mempool_alloc(p, n);
    hdr *b = (hdr *)ptr - 1;
    size_t have = b->h.cls == LARGE ? b->h.size : class_bytes(b->h.cls);
    if (b->h.cls != LARGE && n <= have)
        return ptr; /* the class already holds it */
    if (b->h.cls == LARGE && n > APNS__POOL_MAX_BLOCK) {
        if (n > SIZE_MAX - sizeof(hdr))
            return NULL;
        hdr *nb = realloc(b, sizeof(hdr) + n);
        if (!nb)
            return NULL;
        nb->h.size = n;
        return nb + 1;
    }
    void *q = apns__mempool_alloc(p, n);
    if (!q)
        return NULL;
    memcpy(q, ptr, have < n ? have : n);
    apns__mempool_free(p, ptr);
    return q;
}
