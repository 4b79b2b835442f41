/* buf.c - growable byte buffer. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "apns/error.h"

int apns__buf_append(apns__buf *b, const void *p, size_t n)
{
    if (b->off > 0 && b->off + b->len + n > b->cap) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return APNS_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->off + b->len, p, n);
    b->len += n;
    return 0;
}

void apns__buf_consume(apns__buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        b->off = 0;
    } else {
        b->off += n;
        b->len -= n;
    }
}

void apns__buf_free(apns__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->off = b->cap = 0;
}
