/* test_hex.c - common/hex.h against hand-written byte/text pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hex.h"

static void digits(void **state)
{
    (void)state;
    assert_int_equal(common_hex_val('0'), 0);
    assert_int_equal(common_hex_val('9'), 9);
    assert_int_equal(common_hex_val('a'), 10);
    assert_int_equal(common_hex_val('F'), 15);
    assert_int_equal(common_hex_val('g'), -1);
    assert_int_equal(common_hex_val('G'), -1);
    assert_int_equal(common_hex_val(' '), -1);
    assert_int_equal(common_hex_val('/'), -1);
    assert_int_equal(common_hex_val(':'), -1);
    assert_int_equal(common_hex_val(0), -1);
}

static void round_trip(void **state)
{
    (void)state;
    const uint8_t bin[] = {0x00, 0x7f, 0x80, 0xab, 0xff, 0x10};
    char text[2 * sizeof bin + 1];
    common_bin_to_hex(bin, sizeof bin, text);
    assert_string_equal(text, "007f80abff10");

    uint8_t back[6];
    assert_int_equal(common_hex_to_bin("007F80abFF10", 12, back, sizeof back), 6);
    assert_memory_equal(back, bin, sizeof bin);
    char empty[1] = {'x'};
    common_bin_to_hex(bin, 0, empty);
    assert_string_equal(empty, "");
}

static void refusals(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(common_hex_to_bin("abc", 3, out, sizeof out), -1);     /* odd */
    assert_int_equal(common_hex_to_bin("zz", 2, out, sizeof out), -1);      /* not hex */
    assert_int_equal(common_hex_to_bin("0a0b", 4, out, 1), -1);             /* no room */
    assert_int_equal(common_hex_to_bin("0a0b0c0d", 6, out, sizeof out), 3); /* length decides */
    assert_int_equal(out[2], 0x0c);
}

/* Every byte value at every position of 1..40 bytes (the word path, the
 * tail and their seams), against digits written out by hand. */
static void render_every_byte_everywhere(void **state)
{
    (void)state;
    static const char dig[] = "0123456789abcdef";
    uint8_t bin[40];
    char text[81], want[81];
    for (size_t len = 1; len <= sizeof bin; len++)
        for (size_t at = 0; at < len; at++)
            for (unsigned b = 0; b < 256; b++) {
                for (size_t k = 0; k < len; k++)
                    bin[k] = (uint8_t)(k * 37 + 11); /* neighbours vary too */
                bin[at] = (uint8_t)b;
                for (size_t k = 0; k < len; k++) {
                    want[2 * k] = dig[bin[k] >> 4];
                    want[2 * k + 1] = dig[bin[k] & 15];
                }
                want[2 * len] = '\0';
                memset(text, 'x', sizeof text);
                common_bin_to_hex(bin, len, text);
                if (strcmp(text, want) != 0)
                    fail_msg("len %zu, byte %u at %zu: %s, want %s", len, b, at, text, want);
            }
}

/* Checked digits of both cases, every byte value at every position of 1..40
 * bytes, decoded to exactly len / 2 bytes (the byte after is untouched). */
static void decode_checked_every_byte_everywhere(void **state)
{
    (void)state;
    static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
    uint8_t bin[40], out[41];
    char text[80];
    for (int up = 0; up < 2; up++)
        for (size_t len = 1; len <= sizeof bin; len++)
            for (size_t at = 0; at < len; at++)
                for (unsigned b = 0; b < 256; b++) {
                    const char *dig = up ? upper : lower;
                    for (size_t k = 0; k < len; k++)
                        bin[k] = (uint8_t)(k * 53 + 7);
                    bin[at] = (uint8_t)b;
                    for (size_t k = 0; k < len; k++) {
                        text[2 * k] = dig[bin[k] >> 4];
                        /* mixed case inside one token too */
                        text[2 * k + 1] = (k % 3 == 0 ? upper : dig)[bin[k] & 15];
                    }
                    memset(out, 0xA5, sizeof out);
                    common_hex_to_bin_checked(text, 2 * len, out);
                    if (memcmp(out, bin, len) != 0 || out[len] != 0xA5)
                        fail_msg("len %zu, byte %u at %zu (%s case) decoded wrong", len, b, at,
                                 up ? "upper" : "lower");
                }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digits),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(refusals),
        cmocka_unit_test(render_every_byte_everywhere),
        cmocka_unit_test(decode_checked_every_byte_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
