/* test_clock.c - common/clock.h: the monotonic clock never goes back, and
 * the millisecond and nanosecond readings agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "clock.h"

static void never_goes_back(void **state)
{
    (void)state;
    int64_t prev = common_mono_ns();
    for (int i = 0; i < 100000; i++) {
        int64_t now = common_mono_ns();
        assert_true(now >= prev);
        prev = now;
    }
}

/* A 20 ms sleep moves the clock by at least 20 ms (no upper bound: the
 * machine is shared), in both units; ms is ns / 10^6. */
static void units_agree(void **state)
{
    (void)state;
    int64_t ms0 = common_mono_ms(), ns0 = common_mono_ns();
    struct timespec d = {0, 20 * 1000 * 1000};
    while (nanosleep(&d, &d) != 0)
        ;
    int64_t ns1 = common_mono_ns(), ms1 = common_mono_ms();
    assert_true(ns1 - ns0 >= 20 * 1000 * 1000);
    assert_true(ms1 - ms0 >= 20);
    assert_true(ms1 >= ns1 / 1000000);
    assert_true(ms0 <= ns0 / 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(never_goes_back),
        cmocka_unit_test(units_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
