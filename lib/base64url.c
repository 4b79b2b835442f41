/*
 * base64url.c - RFC 4648 section 5 base64url, as JWS uses it.
 *
 * Output never has '=' padding. Input is strict: only [A-Za-z0-9_-], with
 * '=' tolerated only as trailing padding (at most two, and only where
 * padding would go). Anything else, a length of 1 mod 4, or non-zero
 * leftover bits in the last character (a non-canonical encoding) is
 * APNS_EFORMAT.
 */
#include "apns/error.h"
#include "apns/jwt.h"

#include <limits.h>

static const char enc_table[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of a base64url character, or -1. */
static int dec_char(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int apns_base64url_encode(const uint8_t *in, size_t len, char *out, size_t out_len)
{
    size_t need, i, o = 0;

    if ((in == NULL && len > 0) || out == NULL)
        return APNS_EINVAL;
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        return APNS_EINVAL;
    need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0) + 1;
    if (out_len < need)
        return APNS_EINVAL;

    for (i = 0; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = enc_table[(v >> 18) & 63];
        out[o++] = enc_table[(v >> 12) & 63];
        out[o++] = enc_table[(v >> 6) & 63];
        out[o++] = enc_table[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = enc_table[(v >> 18) & 63];
        out[o++] = enc_table[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = enc_table[(v >> 18) & 63];
        out[o++] = enc_table[(v >> 12) & 63];
        out[o++] = enc_table[(v >> 6) & 63];
    }
    out[o] = '\0';
    return (int)o;
}

int apns_base64url_decode(const char *in, size_t len, uint8_t *out, size_t out_len)
{
    size_t i, n, o = 0, need, pad = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (in == NULL && len > 0)
        return APNS_EINVAL;
    if (len > (size_t)INT_MAX)
        return APNS_EINVAL;

    /* Trailing '=' padding: at most two, and then the total must be a
     * multiple of 4 (as a padded encoding would be). */
    while (pad < len && in[len - 1 - pad] == '=')
        pad++;
    if (pad > 0 && (pad > 2 || len % 4 != 0))
        return APNS_EFORMAT;
    n = len - pad;
    if (n % 4 == 1)
        return APNS_EFORMAT;
    need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (pad > 0 && (4 - n % 4) % 4 != pad)
        return APNS_EFORMAT;
    if (need > 0 && (out == NULL || out_len < need))
        return APNS_EINVAL;

    for (i = 0; i < n; i++) {
        int v = dec_char((unsigned char)in[i]);
        if (v < 0)
            return APNS_EFORMAT;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero (canonical encoding only). */
    if (bits > 0 && acc != 0)
        return APNS_EFORMAT;
    return (int)o;
}
