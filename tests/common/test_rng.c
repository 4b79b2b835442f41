/* test_rng.c - common/rng.h: splitmix64 as published, the helpers' ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rng.h"

/* The first outputs of splitmix64 from state 0 (Vigna's reference
 * splitmix64.c, the vectors other implementations test against). */
static void matches_the_reference_sequence(void **state)
{
    (void)state;
    uint64_t s = 0;
    assert_true(common_rng_next(&s) == 0xe220a8397b1dcdafull);
    assert_true(common_rng_next(&s) == 0x6e789e6aa1b965f4ull);
    assert_true(common_rng_next(&s) == 0x06c45d188009454full);
}

static void same_seed_same_sequence(void **state)
{
    (void)state;
    uint64_t a = 12345, b = 12345, c = 12346;
    int differs = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = common_rng_next(&a);
        assert_true(x == common_rng_next(&b));
        differs |= x != common_rng_next(&c);
    }
    assert_true(differs);
}

static void below_and_double_stay_in_range(void **state)
{
    (void)state;
    uint64_t s = 7;
    unsigned seen[10] = {0};
    assert_true(common_rng_below(&s, 0) == 0);
    for (int i = 0; i < 10000; i++) {
        uint64_t v = common_rng_below(&s, 10);
        assert_true(v < 10);
        seen[v]++;
        double d = common_rng_double(&s);
        assert_true(d >= 0.0 && d < 1.0);
    }
    for (int i = 0; i < 10; i++) /* each about 1000: none starved */
        assert_true(seen[i] > 800 && seen[i] < 1200);
}

static void seeds_differ(void **state)
{
    (void)state;
    uint64_t a = common_rng_seed(), b = common_rng_seed();
    assert_true(a != b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_the_reference_sequence),
        cmocka_unit_test(same_seed_same_sequence),
        cmocka_unit_test(below_and_double_stay_in_range),
        cmocka_unit_test(seeds_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
