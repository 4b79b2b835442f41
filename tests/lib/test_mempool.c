/* test_mempool.c - lib/mempool.c: blocks are reused by size class, the
 * cached bytes never exceed the cap, large blocks bypass the lists, and the
 * calloc/realloc semantics hold (contents kept, zeroed, overflow refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mempool.h"

static void test_reuse_same_class(void **state)
{
    (void)state;
    apns__mempool p;
    apns__mempool_init(&p, 4096);
    void *a = apns__mempool_alloc(&p, 100);
    assert_non_null(a);
    assert_int_equal((uintptr_t)a % 16, 0);
    memset(a, 0xab, 100);
    apns__mempool_free(&p, a);
    assert_int_equal(p.cached, 128); /* 100 bytes live in the 128-byte class */
    /* 97..128 bytes are the same class: the block comes back */
    void *b = apns__mempool_alloc(&p, 128);
    assert_ptr_equal(a, b);
    assert_int_equal(p.reused, 1);
    assert_int_equal(p.cached, 0);
    /* another class does not take it */
    apns__mempool_free(&p, b);
    void *c = apns__mempool_alloc(&p, 129);
    assert_ptr_not_equal(c, b);
    assert_int_equal(p.reused, 1);
    apns__mempool_free(&p, c);
    apns__mempool_clear(&p);
    assert_int_equal(p.cached, 0);
}

static void test_cap_bounds_cached_bytes(void **state)
{
    (void)state;
    apns__mempool p;
    apns__mempool_init(&p, 1000);
    void *blocks[100];
    for (int i = 0; i < 100; i++) {
        blocks[i] = apns__mempool_alloc(&p, 64);
        assert_non_null(blocks[i]);
    }
    for (int i = 0; i < 100; i++) {
        apns__mempool_free(&p, blocks[i]);
        assert_true(p.cached <= 1000);
    }
    assert_int_equal(p.cached, 960); /* 15 blocks of 64 */
    apns__mempool_clear(&p);

    /* cap 0 caches nothing */
    apns__mempool_init(&p, 0);
    void *a = apns__mempool_alloc(&p, 10);
    apns__mempool_free(&p, a);
    assert_int_equal(p.cached, 0);
    void *b = apns__mempool_alloc(&p, 10);
    assert_int_equal(p.reused, 0);
    apns__mempool_free(&p, b);
}

static void test_large_blocks_bypass(void **state)
{
    (void)state;
    apns__mempool p;
    apns__mempool_init(&p, 1 << 20);
    void *a = apns__mempool_alloc(&p, APNS__POOL_MAX_BLOCK + 1);
    assert_non_null(a);
    memset(a, 1, APNS__POOL_MAX_BLOCK + 1);
    apns__mempool_free(&p, a);
    assert_int_equal(p.cached, 0);
    void *b = apns__mempool_alloc(&p, APNS__POOL_MAX_BLOCK);
    apns__mempool_free(&p, b);
    assert_int_equal(p.cached, APNS__POOL_MAX_BLOCK);
    apns__mempool_clear(&p);
}

static void test_calloc_realloc(void **state)
{
    (void)state;
    apns__mempool p;
    apns__mempool_init(&p, 1 << 20);
    /* a reused block is zeroed by calloc */
    unsigned char *a = apns__mempool_alloc(&p, 200);
    memset(a, 0xff, 200);
    apns__mempool_free(&p, a);
    unsigned char *z = apns__mempool_calloc(&p, 20, 10);
    assert_ptr_equal(z, a);
    for (int i = 0; i < 200; i++)
        assert_int_equal(z[i], 0);
    assert_null(apns__mempool_calloc(&p, SIZE_MAX / 2, 3));
    assert_null(apns__mempool_alloc(&p, SIZE_MAX - 8));

    /* realloc keeps the contents across classes and into a large block */
    for (int i = 0; i < 200; i++)
        z[i] = (unsigned char)i;
    unsigned char *r = apns__mempool_realloc(&p, z, 224); /* same class: same block */
    assert_ptr_equal(r, z);
    r = apns__mempool_realloc(&p, r, 600);
    r = apns__mempool_realloc(&p, r, 5000);
    r = apns__mempool_realloc(&p, r, 9000); /* large to large */
    for (int i = 0; i < 200; i++)
        assert_int_equal(r[i], i);
    r = apns__mempool_realloc(&p, r, 50); /* large back to a class */
    for (int i = 0; i < 50; i++)
        assert_int_equal(r[i], i);
    apns__mempool_free(&p, r);
    apns__mempool_free(&p, NULL);
    void *n = apns__mempool_realloc(&p, NULL, 40);
    assert_non_null(n);
    apns__mempool_free(&p, n);
    apns__mempool_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_same_class),
        cmocka_unit_test(test_cap_bounds_cached_bytes),
        cmocka_unit_test(test_large_blocks_bypass),
        cmocka_unit_test(test_calloc_realloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
