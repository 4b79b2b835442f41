/*
 * token.h - THE device-token rule of the client side, stated once: a device
 * token is 16..200 hexadecimal characters of either case, an even number
 * (APNS_TOKEN_HEX_MIN / APNS_TOKEN_HEX_MAX in apns/notification.h). libapns
 * (apns_notification_validate), apnsd's API and queue and the tools ask
 * this function; each words its own message from the verdict.
 *
 * apns-sim does NOT use it: the simulator judges with its own table, checked
 * against Apple's documentation (tests/golden/), so that one wrong rule
 * cannot pass the client and the simulator together.
 */
#ifndef COMMON_TOKEN_H
#define COMMON_TOKEN_H

#include <stddef.h>

typedef enum common_token_verdict {
    COMMON_TOKEN_OK = 0,
    COMMON_TOKEN_EMPTY,   /* no characters */
    COMMON_TOKEN_NOT_HEX, /* *at = index of the first byte that is not 0-9a-fA-F */
    COMMON_TOKEN_LENGTH,  /* fewer than APNS_TOKEN_HEX_MIN or more than APNS_TOKEN_HEX_MAX */
    COMMON_TOKEN_ODD,     /* an odd number of hex characters */
} common_token_verdict;

/* Judges hex[0..len) in that order: empty, not hex, length, odd. at may be
 * NULL. */
common_token_verdict common_token_check(const char *hex, size_t len, size_t *at);

/* Writes hex[0..len), which common_token_check() passed (hex digits of
 * either case), lower-cased into out[0..len) (no NUL). The two must not
 * overlap. Anything else is garbage in, garbage out: bit 5 is set on every
 * byte, which lower-cases A-F and leaves 0-9 and a-f alone. */
void common_token_lower(const char *restrict hex, size_t len, char *restrict out);

#endif
