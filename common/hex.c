/*
 * hex.c - hexadecimal <-> binary (hex.h).
 */
#include "hex.h"

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

void common_bin_to_hex(const uint8_t *bin, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bin[i] >> 4];
        out[2 * i + 1] = digits[bin[i] & 15];
    }
    out[2 * len] = '\0';
}
