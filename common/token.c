/*
 * token.c - the device-token rule (token.h).
 *
 * Every notification passes here (libapns' submit, apnsd's API), so the hex
 * test runs on blocks of 16 characters with a fixed trip count and no early
 * exit: compilers turn such a loop into a handful of vector instructions
 * (GCC at -O2 vectorises only loops whose count it knows). A block with a
 * bad byte, and the tail of fewer than 16, go through the byte loop, which
 * finds the position to report.
 */
#include "token.h"

#include "apns/notification.h" /* APNS_TOKEN_HEX_MIN, APNS_TOKEN_HEX_MAX */
#include "hex.h"

#define BLOCK 16

/* Nonzero when s[0..BLOCK) holds a byte that is not 0-9a-fA-F. Bit 5 set
 * maps A-F onto a-f and nothing else onto a-f; digits are tested as they
 * are (setting bit 5 would also map 0x10-0x19 onto them). */
static unsigned block_bad(const unsigned char *s)
{
    unsigned char bad = 0;
    for (int i = 0; i < BLOCK; i++) {
        unsigned char c = s[i];
        unsigned char l = (unsigned char)(c | 0x20);
        bad |= (unsigned char)((unsigned char)(c - '0') > 9) &
               (unsigned char)((unsigned char)(l - 'a') > 5);
    }
    return bad;
}

common_token_verdict common_token_check(const char *hex, size_t len, size_t *at)
{
    if (len == 0)
        return COMMON_TOKEN_EMPTY;
    size_t i = 0;
    while (len - i >= BLOCK && !block_bad((const unsigned char *)hex + i))
        i += BLOCK;
    for (; i < len; i++)
        if (common_hex_val((unsigned char)hex[i]) < 0) {
            if (at != NULL)
                *at = i;
            return COMMON_TOKEN_NOT_HEX;
        }
    if (len < APNS_TOKEN_HEX_MIN || len > APNS_TOKEN_HEX_MAX)
        return COMMON_TOKEN_LENGTH;
    if (len % 2 != 0)
        return COMMON_TOKEN_ODD;
    return COMMON_TOKEN_OK;
}

void common_token_lower(const char *restrict hex, size_t len, char *restrict out)
{
    size_t i = 0;
    for (; len - i >= BLOCK; i += BLOCK)
        for (int k = 0; k < BLOCK; k++)
            out[i + k] = (char)(hex[i + k] | 0x20);
    for (; i < len; i++)
        out[i] = (char)(hex[i] | 0x20);
}
