/* test_hash.c - common/hash.h: 64-bit FNV-1a as published, and the
 * continued form equal to the one-shot form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hash.h"

/* The FNV-1a 64-bit test vectors of the reference implementation's test
 * suite (Fowler, Noll, Vo: test_fnv.c, "fnv1a_64"). */
static void matches_the_published_vectors(void **state)
{
    (void)state;
    assert_true(common_fnv1a_str("") == 0xcbf29ce484222325ull);
    assert_true(common_fnv1a_str("a") == 0xaf63dc4c8601ec8cull);
    assert_true(common_fnv1a_str("foobar") == 0x85944171f73967e8ull);
}

static void continued_equals_one_shot(void **state)
{
    (void)state;
    uint64_t h = common_fnv1a_add(COMMON_FNV1A_INIT, "foo", 3);
    assert_true(common_fnv1a_add(h, "bar", 3) == common_fnv1a_str("foobar"));
    assert_true(common_fnv1a_add(COMMON_FNV1A_INIT, "", 0) == COMMON_FNV1A_INIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_the_published_vectors),
        cmocka_unit_test(continued_equals_one_shot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
