/*
 * detail.h - the human detail that goes with an APNS_E* code (internal).
 *
 * Functions that can fail for a reason a person must read (a file name,
 * OpenSSL's reason, which option is wrong) take a caller's buffer
 * `char *detail, size_t detail_len` (either may be NULL/0) and fill it
 * with one sentence; the code itself is the return value.
 */
#ifndef APNS_DETAIL_H
#define APNS_DETAIL_H

#include <stddef.h>

/* printf into d[0..n); nothing when d is NULL or n is 0. */
void apns__set_detail(char *d, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
