/*
 * hex.h - hexadecimal <-> binary, the one copy for the whole tree (libapns,
 * apns-sim, apnsd, the tools). common/ is internal: never installed, its
 * symbols hidden in libapns.so.
 */
#ifndef COMMON_HEX_H
#define COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

/* 0..15 for a hex digit of either case, -1 for anything else. */
static inline int common_hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes len hex digits (even, either case) into out (out_len >= len / 2).
 * Returns the number of bytes written, or -1 (odd length, a byte that is
 * not a hex digit, out too small); out is then unspecified. */
int common_hex_to_bin(const char *hex, size_t len, uint8_t *out, size_t out_len);

/* The two lower-case hex digits of byte b are common_hex_pairs[2 * b] and
 * common_hex_pairs[2 * b + 1]: one 2-byte load per byte on the hot paths
 * (device tokens, apns-ids). */
extern const char common_hex_pairs[512 + 1];

/* Writes 2 * len lower-case hex digits and a NUL into out. */
void common_bin_to_hex(const uint8_t *bin, size_t len, char *out);

/* Decodes len / 2 bytes from hex digits a check already passed (each one of
 * 0-9, a-f, A-F; common_token_check): no per-digit test. Anything else
 * decodes to an unspecified byte, never outside out[0, len / 2). */
void common_hex_to_bin_checked(const char *hex, size_t len, uint8_t *out);

#endif
