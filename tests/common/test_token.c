/* test_token.c - common/token.h: the device-token rule (16..200 hex
 * characters of either case, an even number; Apple says not to assume 64,
 * docs/api.md and apns-protocol.md §1.3), each verdict at its boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "token.h"

static common_token_verdict check(const char *s, size_t *at)
{
    return common_token_check(s, strlen(s), at);
}

static void verdicts(void **state)
{
    (void)state;
    char t[260];
    size_t at = 99;
    assert_int_equal(check("", NULL), COMMON_TOKEN_EMPTY);

    memset(t, 'a', sizeof t);
    t[16] = '\0';
    assert_int_equal(check(t, NULL), COMMON_TOKEN_OK); /* 16: the shortest */
    t[14] = '\0';
    assert_int_equal(check(t, NULL), COMMON_TOKEN_LENGTH); /* 14 */
    memset(t, 'F', sizeof t);
    t[200] = '\0';
    assert_int_equal(check(t, NULL), COMMON_TOKEN_OK); /* 200: the longest */
    t[200] = 'F';
    t[202] = '\0';
    assert_int_equal(check(t, NULL), COMMON_TOKEN_LENGTH); /* 202 */
    memset(t, '0', sizeof t);
    t[65] = '\0';
    assert_int_equal(check(t, NULL), COMMON_TOKEN_ODD); /* 65 */
    t[64] = '\0';
    assert_int_equal(check(t, NULL), COMMON_TOKEN_OK); /* 64: today's tokens */
    t[10] = 'g';
    assert_int_equal(check(t, &at), COMMON_TOKEN_NOT_HEX);
    assert_int_equal(at, 10);
    /* Order: not-hex is reported before a bad length or parity. */
    assert_int_equal(check("0x", &at), COMMON_TOKEN_NOT_HEX);
    assert_int_equal(at, 1);
    assert_int_equal(check("abc", NULL), COMMON_TOKEN_LENGTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
