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

/* Every byte value at every position of a 64- and a 72-character token
 * (blocks of 16 and a tail): only 0-9, a-f and A-F pass, and the position
 * reported is the byte's. */
static void every_byte_everywhere(void **state)
{
    (void)state;
    static const char digits[] = "0123456789abcdefABCDEF";
    char t[80];
    for (size_t len = 64; len <= 72; len += 8) {
        for (size_t pos = 0; pos < len; pos++) {
            for (int b = 1; b < 256; b++) {
                memset(t, '7', len);
                t[len] = '\0';
                t[pos] = (char)b;
                size_t at = 999;
                common_token_verdict v = common_token_check(t, len, &at);
                if (strchr(digits, b) != NULL) {
                    assert_int_equal(v, COMMON_TOKEN_OK);
                } else {
                    assert_int_equal(v, COMMON_TOKEN_NOT_HEX);
                    assert_int_equal(at, pos);
                }
            }
        }
    }
}

/* common_token_lower: A-F become a-f, digits and a-f stay, at every length
 * from 0 to 200 (whole blocks and tails); nothing past len is written. */
static void lower(void **state)
{
    (void)state;
    static const char in[] = "0123456789ABCDEFabcdef";
    static const char want[] = "0123456789abcdefabcdef";
    char src[201], exp[201], out[202];
    for (size_t i = 0; i < 200; i++) {
        src[i] = in[(i * 7) % 22];
        exp[i] = want[(i * 7) % 22];
    }
    for (size_t len = 0; len <= 200; len++) {
        memset(out, '#', sizeof out);
        common_token_lower(src, len, out);
        assert_memory_equal(out, exp, len);
        assert_int_equal(out[len], '#');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdicts),
        cmocka_unit_test(every_byte_everywhere),
        cmocka_unit_test(lower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
