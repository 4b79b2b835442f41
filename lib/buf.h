/* buf.h - a growable byte buffer for outgoing bytes (internal). */
#ifndef APNS_BUF_H
#define APNS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct apns__buf {
    uint8_t *data;
    size_t len; /* bytes held, starting at data + off */
    size_t off; /* bytes already consumed from the front */
    size_t cap;
} apns__buf;

/* Appends; returns 0 or APNS_ENOMEM. */
int apns__buf_append(apns__buf *b, const void *p, size_t n);
/* Drops n bytes from the front (after they were written). */
void apns__buf_consume(apns__buf *b, size_t n);
static inline const uint8_t *apns__buf_head(const apns__buf *b)
{
    return b->data + b->off;
}
void apns__buf_free(apns__buf *b);

#endif
