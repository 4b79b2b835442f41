/*
 * hex.c - hexadecimal <-> binary (hex.h).
 */
#include "hex.h"

#include <string.h>

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
    for (size_t i = 0; i < len; i++)
        memcpy(out + 2 * i, common_hex_pairs + 2 * bin[i], 2);
    out[2 * len] = '\0';
}
