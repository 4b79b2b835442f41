/*
 * hex.c - hexadecimal <-> binary (hex.h).
 *
 * Design note. Every device token crosses here twice in apnsd (the API
 * decodes it, the dispatcher renders it for libapns), so the two hot loops
 * work on four bytes (eight digits) at a time inside one 64-bit word on
 * little-endian hosts (SWAR; a byte loop elsewhere and for the tail):
 *  - render: the four bytes are spread one per 16-bit lane, each lane's
 *    nibbles split into its two bytes (high nibble first), and every nibble
 *    n becomes n + '0', plus 39 more when n >= 10 (bit 4 of n + 6);
 *  - decode of checked digits: a digit's low four bits are its value for
 *    '0'-'9' and its value - 9 for a letter of either case (bit 6 set), so
 *    n = (c & 15) + 9 * bit 6; the nibbles of each lane are joined into a
 *    byte and the four bytes packed together.
 * No lane can carry into the next: every intermediate byte stays below 256.
 */
#include "hex.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HEX_SWAR 1
#else
#define HEX_SWAR 0
#endif

#define ONES 0x0101010101010101ULL

int common_hex_to_bin(const char *hex, size_t len, uint8_t *out, size_t out_len)
{
    if (len % 2 != 0 || out_len < len / 2)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = common_hex_val((unsigned char)hex[2 * i]);
        int lo = common_hex_val((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(len / 2);
}

/* "000102...ff". */
const char common_hex_pairs[512 + 1] =
#define R(h)                                                                                       \
#h "0" #h "1" #h "2" #h "3" #h "4" #h "5" #h "6" #h "7" #h "8" #h "9" #h "a" #h "b" #h "c" #h  \
       "d" #h "e" #h "f"
    R(0) R(1) R(2) R(3) R(4) R(5) R(6) R(7) R(8) R(9) R(a) R(b) R(c) R(d) R(e) R(f);
#undef R

void common_bin_to_hex(const uint8_t *bin, size_t len, char *out)
{
    size_t i = 0;

#if HEX_SWAR
    for (; len - i >= 4; i += 4) {
        uint32_t w;
        memcpy(&w, bin + i, 4);
        uint64_t v = w;
        v = (v | v << 16) & 0x0000FFFF0000FFFFULL; /* byte k in lane k (16 bits) */
        v = (v | v << 8) & 0x00FF00FF00FF00FFULL;
        uint64_t n = (v >> 4 & 0x000F000F000F000FULL) | (v & 0x000F000F000F000FULL) << 8;
        uint64_t c = n + 0x30 * ONES + ((n + 6 * ONES) >> 4 & ONES) * 39;
        memcpy(out + 2 * i, &c, 8);
    }
#endif
    for (; i < len; i++)
        memcpy(out + 2 * i, common_hex_pairs + 2 * bin[i], 2);
    out[2 * len] = '\0';
}

void common_hex_to_bin_checked(const char *hex, size_t len, uint8_t *out)
{
    size_t i = 0, n_out = len / 2;

#if HEX_SWAR
    for (; n_out - i >= 4; i += 4) {
        uint64_t x;
        memcpy(&x, hex + 2 * i, 8);
        uint64_t n = (x & 0x0F * ONES) + (x >> 6 & ONES) * 9;
        n = (n << 4 | n >> 8) & 0x00FF00FF00FF00FFULL; /* lane k: byte k */
        n = (n | n >> 8) & 0x0000FFFF0000FFFFULL;
        uint32_t w = (uint32_t)(n | n >> 16);
        memcpy(out + i, &w, 4);
    }
#endif
    for (; i < n_out; i++) {
        unsigned hi = (unsigned char)hex[2 * i], lo = (unsigned char)hex[2 * i + 1];
        out[i] = (uint8_t)(((hi & 15) + 9 * (hi >> 6)) << 4 | ((lo & 15) + 9 * (lo >> 6)));
    }
}
