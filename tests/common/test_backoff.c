/* test_backoff.c - common/backoff.h: doubling, the cap, the jitter window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

static void doubles_then_caps_within_the_window(void **state)
{
    (void)state;
    /* Nominal delays for base 100 ms, cap 1000 ms: 100, 200, 400, 800,
     * 1000, 1000...; each drawn from [nominal / 2, nominal]. */
    static const int64_t nominal[] = {100, 100, 200, 400, 800, 1000, 1000, 1000};
    uint64_t rng = 1;
    for (int round = 0; round < 500; round++)
        for (int attempt = 0; attempt < 8; attempt++) {
            int64_t d = common_backoff_ms(100, 1000, attempt, &rng);
            int64_t n = nominal[attempt];
            assert_true(d >= n / 2 && d <= n);
        }
}

static void jitter_covers_the_window(void **state)
{
    (void)state;
    uint64_t rng = 99;
    int64_t lo = 1000, hi = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t d = common_backoff_ms(1000, 1000, 1, &rng);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo < 520 && hi > 980); /* both ends of [500, 1000] reached */
}

static void edges(void **state)
{
    (void)state;
    uint64_t rng = 3;
    assert_int_equal(common_backoff_ms(0, 1000, 3, &rng), 0);
    assert_int_equal(common_backoff_ms(-5, 1000, 3, &rng), 0);
    int64_t d = common_backoff_ms(400, 10, 9, &rng); /* cap below base: base */
    assert_true(d >= 200 && d <= 400);
    /* A huge attempt number neither overflows nor exceeds the cap. */
    d = common_backoff_ms(INT64_MAX / 4, INT64_MAX / 2, 1000000, &rng);
    assert_true(d >= INT64_MAX / 4 && d <= INT64_MAX / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(doubles_then_caps_within_the_window),
        cmocka_unit_test(jitter_covers_the_window),
        cmocka_unit_test(edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
