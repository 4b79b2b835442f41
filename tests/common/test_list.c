/* test_list.c - common/list.h: order, removal (twice), splice, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "list.h"

typedef struct item {
    int v;
    common_list link;
} item;

static int values(const common_list *h, int *out, int max)
{
    int n = 0;
    for (common_list *it = common_list_first(h); it != NULL; it = common_list_next(h, it)) {
        assert_true(n < max);
        out[n++] = COMMON_CONTAINER_OF(it, item, link)->v;
    }
    /* The same list walked backwards. */
    int m = n;
    for (common_list *it = common_list_last(h); it != NULL; it = common_list_prev(h, it))
        assert_int_equal(COMMON_CONTAINER_OF(it, item, link)->v, out[--m]);
    assert_int_equal(m, 0);
    return n;
}

static void order_and_removal(void **state)
{
    (void)state;
    common_list h;
    common_list_init(&h);
    assert_true(common_list_empty(&h));
    assert_null(common_list_first(&h));
    item it[4];
    memset(it, 0, sizeof it); /* zeroed nodes: not linked */
    for (int i = 0; i < 4; i++) {
        it[i].v = i;
        assert_false(common_list_linked(&it[i].link));
    }
    common_list_push_back(&h, &it[1].link);
    common_list_push_back(&h, &it[2].link);
    common_list_push_front(&h, &it[0].link);
    common_list_insert_before(&it[2].link, &it[3].link);
    int got[8], n = values(&h, got, 8);
    assert_int_equal(n, 4);
    int want[] = {0, 1, 3, 2};
    assert_memory_equal(got, want, sizeof want);

    common_list_remove(&it[3].link);
    assert_false(common_list_linked(&it[3].link));
    common_list_remove(&it[3].link); /* twice: harmless */
    n = values(&h, got, 8);
    assert_int_equal(n, 3);
    assert_int_equal(got[2], 2);
}

static void foreach_may_remove_the_current_node(void **state)
{
    (void)state;
    common_list h;
    common_list_init(&h);
    item it[6] = {{0}};
    for (int i = 0; i < 6; i++) {
        it[i].v = i;
        common_list_push_back(&h, &it[i].link);
    }
    COMMON_LIST_FOREACH(n, tmp, &h)
    {
        if (COMMON_CONTAINER_OF(n, item, link)->v % 2)
            common_list_remove(n);
    }
    int got[8];
    assert_int_equal(values(&h, got, 8), 3);
    assert_int_equal(got[0], 0);
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 4);
}

static void splice_moves_everything(void **state)
{
    (void)state;
    common_list a, b;
    common_list_init(&a);
    common_list_init(&b);
    item it[5] = {{0}};
    for (int i = 0; i < 5; i++) {
        it[i].v = i;
        common_list_push_back(i < 2 ? &a : &b, &it[i].link);
    }
    common_list_splice(&a, &b);
    assert_true(common_list_empty(&b));
    int got[8];
    assert_int_equal(values(&a, got, 8), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(got[i], i);
    common_list_splice(&a, &b); /* an empty one: nothing changes */
    assert_int_equal(values(&a, got, 8), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_and_removal),
        cmocka_unit_test(foreach_may_remove_the_current_node),
        cmocka_unit_test(splice_moves_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
