/* test_hex.c - common/hex.h against hand-written byte/text pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digits),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
