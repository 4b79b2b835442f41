/* test_json.c - apns_json_is_object / apns_json_check_object accept and
 * reject tables, nesting limit, UTF-8 and escapes, length handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apns/notification.h"

/* A table row: JSON text with an explicit length (so NUL bytes can be in
 * it; 0 = strlen), and for rejects a phrase the reason must contain. */
typedef struct row {
    const char *s;
    size_t len;
    const char *why;
} row;

#define R(str)                                                                                     \
    {                                                                                              \
        str, sizeof(str) - 1, NULL                                                                 \
    }
#define X(str, why)                                                                                \
    {                                                                                              \
        str, sizeof(str) - 1, why                                                                  \
    }

static const row accept_rows[] = {
    R("{}"), R(" {} "), R("\t\r\n{\t\r\n}\t\r\n"), R("{\"a\":1}"),
    R("{\"aps\":{\"alert\":\"Hello\"}}"), R("{\"a\":[]}"), R("{\"a\":[1,2,3]}"), R("{\"a\":{}}"),
    R("{\"a\" : 1 , \"b\" : [ 1 , { } , [ ] ] }"), R("{\"\":\"\"}"),
    R("{\"a\":1,\"a\":2}"), /* duplicates are allowed by RFC 8259 */
    R("{\"t\":true,\"f\":false,\"n\":null}"), R("{\"a\":[true,false,null]}"),
    /* numbers */
    R("{\"n\":0}"), R("{\"n\":-0}"), R("{\"n\":-1}"), R("{\"n\":10}"), R("{\"n\":1.5}"),
    R("{\"n\":0.0}"), R("{\"n\":-0.5e+10}"), R("{\"n\":1E2}"), R("{\"n\":1e-2}"), R("{\"n\":1e+2}"),
    R("{\"n\":0e0}"), R("{\"n\":123456789012345678901234567890}"), /* magnitude is not limited */
    R("{\"n\":1e400}"), R("{\"n\":[0,-0,0.1]}"),
    /* escapes */
    R("{\"e\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"}"),
    R("{\"u\":\"\\u0041\\u00e9\\u00E9\\uFFFF\"}"), R("{\"u\":\"\\u0000\"}"),
    R("{\"u\":\"\\uD83D\\uDE00\"}"), /* surrogate pair */
    R("{\"u\":\"\\udbff\\udfff\"}"), R("{\"\\u0061\":1}"),
    /* UTF-8 */
    R("{\"s\":\"\xc3\xa9\"}"),            /* U+00E9 */
    R("{\"s\":\"\xc2\x80\"}"),            /* U+0080, smallest 2-byte */
    R("{\"s\":\"\xdf\xbf\"}"),            /* U+07FF */
    R("{\"s\":\"\xe0\xa0\x80\"}"),        /* U+0800, smallest 3-byte */
    R("{\"s\":\"\xe2\x82\xac\"}"),        /* U+20AC */
    R("{\"s\":\"\xed\x9f\xbf\"}"),        /* U+D7FF, just below surrogates */
    R("{\"s\":\"\xee\x80\x80\"}"),        /* U+E000, just above surrogates */
    R("{\"s\":\"\xef\xbf\xbf\"}"),        /* U+FFFF */
    R("{\"s\":\"\xf0\x90\x80\x80\"}"),    /* U+10000, smallest 4-byte */
    R("{\"s\":\"\xf0\x9f\x98\x80\"}"),    /* U+1F600 */
    R("{\"s\":\"\xf4\x8f\xbf\xbf\"}"),    /* U+10FFFF, the largest */
    R("{\"\xc3\xa9\":\"\xe2\x82\xac\"}"), /* UTF-8 in a key */
    R("{\"s\":\"\x7f\"}"),                /* DEL is not a control character in JSON */
};

static const row reject_rows[] = {
    /* not an object at the top */
    X("", "empty"), X("   ", "empty"), X("[]", "not an object"), X("[{}]", "not an object"),
    X("\"s\"", "not an object"), X("1", "not an object"), X("true", "not an object"),
    X("null", "not an object"), X("\xef\xbb\xbf{}", "not an object"), /* BOM */
    /* structure */
    X("{", "end of input"), X("{\"a\"", "':'"), X("{\"a\":", "end of input"),
    X("{\"a\":1", "end of input in object"), X("{\"a\":[1", "end of input in array"),
    X("{\"a\":1,}", "string key"), X("{\"a\":[1,]}", "expected a value"), X("{,}", "string key"),
    X("{\"a\" 1}", "':'"), X("{\"a\":1 \"b\":2}", "','"), X("{\"a\":[1 2]}", "','"),
    X("{a:1}", "string key"), X("{'a':1}", "string key"), X("{\"a\":'x'}", "expected a value"),
    X("{\"a\":1]", "','"), X("{\"a\":[1}", "','"), X("{}}", "trailing"), X("{} {}", "trailing"),
    X("{}x", "trailing"), X("{}\0", "trailing"), X("{\0}", "string key"),
    X("{\"a\":\0}", "expected a value"),
    X("{\f}", "string key"), /* form feed is not JSON whitespace */
    X("{\v}", "string key"), X("{/*c*/}", "string key"), X("{\"a\":1}//", "trailing"),
    /* literals */
    X("{\"a\":tru}", "literal"), X("{\"a\":True}", "expected a value"), X("{\"a\":nul}", "literal"),
    X("{\"a\":nulll}", "','"), X("{\"a\":fals}", "literal"), X("{\"a\":NaN}", "expected a value"),
    X("{\"a\":Infinity}", "expected a value"), X("{\"a\":undefined}", "expected a value"),
    /* numbers */
    X("{\"n\":01}", "leading zero"), X("{\"n\":-01}", "leading zero"),
    X("{\"n\":00}", "leading zero"), X("{\"n\":1.}", "after '.'"), X("{\"n\":1.e5}", "after '.'"),
    X("{\"n\":-}", "digit"), X("{\"n\":-a}", "digit"), X("{\"n\":+1}", "expected a value"),
    X("{\"n\":.5}", "expected a value"), X("{\"n\":1e}", "exponent"), X("{\"n\":1e+}", "exponent"),
    X("{\"n\":1E-}", "exponent"), X("{\"n\":0x10}", "','"), X("{\"n\":1.5.5}", "','"),
    X("{\"n\":- 1}", "digit"), X("{\"n\":1", "end of input"),
    /* strings and escapes */
    X("{\"a", "unterminated"), X("{\"a\":\"x", "unterminated"), X("{\"a\":\"x\\", "unterminated"),
    X("{\"a\":\"\\x\"}", "invalid escape"), X("{\"a\":\"\\'\"}", "invalid escape"),
    X("{\"a\":\"\\U0041\"}", "invalid escape"), X("{\"a\":\"\\u12\"}", "4 hex"),
    X("{\"a\":\"\\u12G4\"}", "4 hex"), X("{\"a\":\"\\u12", "truncated"),
    X("{\"a\":\"\\uD800\"}", "high surrogate"), X("{\"a\":\"\\uD800x\"}", "high surrogate"),
    X("{\"a\":\"\\uD800\\n\"}", "high surrogate"),
    X("{\"a\":\"\\uD800\\u0041\"}", "high surrogate"),
    X("{\"a\":\"\\uDBFF\\uDBFF\"}", "high surrogate"), X("{\"a\":\"\\uDC00\"}", "low surrogate"),
    X("{\"a\":\"\\uDFFF\\uD800\"}", "low surrogate"), X("{\"a\":\"\\uD800\\uDC0\"}", "4 hex"),
    X("{\"a\":\"a\tb\"}", "control"), X("{\"a\":\"a\nb\"}", "control"),
    X("{\"a\":\"a\0b\"}", "control"), /* raw NUL inside a string */
    X("{\"a\0\":1}", "control"), X("{\"a\":\"\x1f\"}", "control"),
    /* UTF-8 */
    X("{\"s\":\"\x80\"}", "UTF-8"),                                     /* lone continuation byte */
    X("{\"s\":\"\xbf\"}", "UTF-8"), X("{\"s\":\"\xc0\x80\"}", "UTF-8"), /* overlong NUL */
    X("{\"s\":\"\xc1\xbf\"}", "UTF-8"),                                 /* overlong */
    X("{\"s\":\"\xe0\x80\x80\"}", "UTF-8"),                             /* overlong 3-byte */
    X("{\"s\":\"\xe0\x9f\xbf\"}", "UTF-8"),                             /* overlong U+07FF */
    X("{\"s\":\"\xed\xa0\x80\"}", "UTF-8"),                             /* U+D800 encoded */
    X("{\"s\":\"\xed\xbf\xbf\"}", "UTF-8"),                             /* U+DFFF encoded */
    X("{\"s\":\"\xf0\x80\x80\x80\"}", "UTF-8"),                         /* overlong 4-byte */
    X("{\"s\":\"\xf0\x8f\xbf\xbf\"}", "UTF-8"),                         /* overlong U+FFFF */
    X("{\"s\":\"\xf4\x90\x80\x80\"}", "UTF-8"),                         /* U+110000 */
    X("{\"s\":\"\xf5\x80\x80\x80\"}", "UTF-8"),
    X("{\"s\":\"\xf8\x88\x80\x80\x80\"}", "UTF-8"), /* 5-byte form */
    X("{\"s\":\"\xfe\"}", "UTF-8"), X("{\"s\":\"\xff\"}", "UTF-8"),
    X("{\"s\":\"\xc3\"}", "UTF-8"), /* sequence cut by the quote */
    X("{\"s\":\"\xe2\x82\"}", "UTF-8"), X("{\"s\":\"\xf0\x9f\x98\"}", "UTF-8"),
    X("{\"s\":\"\xc3", "truncated UTF-8"), /* cut by end of input */
    X("{\"s\":\"\xf0\x9f", "truncated UTF-8"), X("{\"s\":\"\xe2\x28\xa1\"}", "UTF-8"),
    X("{\xc3\xa9:1}", "string key"), /* UTF-8 outside a string */
};

static void test_accept_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accept_rows / sizeof accept_rows[0]; i++) {
        const row *r = &accept_rows[i];
        size_t off = 99;
        const char *why = "unset";
        int ok = apns_json_check_object(r->s, r->len, &off, &why);
        if (!ok)
            fail_msg("accept row %zu rejected: %s at %zu", i, why, off);
        assert_int_equal(apns_json_is_object(r->s, r->len), 1);
        /* On success the out-parameters are left alone. */
        assert_int_equal(off, 99);
        assert_string_equal(why, "unset");
    }
}

static void test_reject_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof reject_rows / sizeof reject_rows[0]; i++) {
        const row *r = &reject_rows[i];
        size_t off = (size_t)-1;
        const char *why = NULL;
        if (apns_json_check_object(r->s, r->len, &off, &why))
            fail_msg("reject row %zu accepted", i);
        assert_int_equal(apns_json_is_object(r->s, r->len), 0);
        assert_non_null(why);
        assert_true(off <= r->len);
        if (strstr(why, r->why) == NULL)
            fail_msg("reject row %zu: reason \"%s\" lacks \"%s\"", i, why, r->why);
    }
}

/* Every single byte as the content of a string value. */
static void test_every_byte_in_string(void **state)
{
    (void)state;
    for (int b = 0; b < 256; b++) {
        char s[16] = "{\"a\":\"";
        size_t n = strlen(s);
        s[n++] = (char)b;
        s[n++] = '"';
        s[n++] = '}';
        int want = b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
        if (apns_json_is_object(s, n) != want)
            fail_msg("byte 0x%02x: expected %d", b, want);
    }
}

/* The same rule at every position of strings of 1..24 bytes, so that each
 * byte is seen by the eight-bytes-at-a-time fast path at every place in a
 * word and by the per-byte tail: plain ASCII passes, '"', '\\', controls
 * and bytes >= 0x80 do not (RFC 8259, section 7), a control character is
 * reported at its own offset, a 2-byte UTF-8 letter (U+00E9) passes
 * anywhere, and a string cut short is unterminated. */
static void test_every_byte_at_every_position(void **state)
{
    (void)state;
    for (size_t len = 1; len <= 24; len++) {
        for (size_t k = 0; k < len; k++) {
            for (int b = 0; b < 256; b++) {
                char s[64] = "{\"a\":\"";
                size_t n = strlen(s), at = n + k, off = 0;
                const char *why = NULL;
                memset(s + n, 'x', len);
                s[at] = (char)b;
                n += len;
                s[n++] = '"';
                s[n++] = '}';
                int want = b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
                if (apns_json_check_object(s, n, &off, &why) != want)
                    fail_msg("byte 0x%02x at %zu of %zu: expected %d", b, k, len, want);
                if (b < 0x20 && off != at)
                    fail_msg("byte 0x%02x at %zu of %zu: offset %zu, expected %zu (%s)", b, k, len,
                             off, at, why);
            }
            char u[64] = "{\"a\":\"";
            size_t n = strlen(u);
            memset(u + n, 'x', len + 1);
            memcpy(u + n + k, "\xc3\xa9", 2);
            n += len + 1;
            u[n++] = '"';
            u[n++] = '}';
            if (!apns_json_is_object(u, n))
                fail_msg("U+00E9 at %zu of %zu refused", k, len + 1);
        }
        char t[64] = "{\"a\":\"";
        size_t n = strlen(t);
        memset(t + n, 'x', len);
        n += len;
        const char *why = NULL;
        assert_int_equal(apns_json_check_object(t, n, NULL, &why), 0);
        assert_string_equal(why, "unterminated string");
    }
}

static void test_error_offsets(void **state)
{
    (void)state;
    size_t off;
    const char *why;
    const char *s = "{\"a\":01}";
    assert_int_equal(apns_json_check_object(s, strlen(s), &off, &why), 0);
    assert_int_equal(off, 6); /* at the second digit */
    assert_string_equal(why, "leading zero in number");

    s = "{\"a\":\"\\uDC00\"}";
    assert_int_equal(apns_json_check_object(s, strlen(s), &off, &why), 0);
    assert_int_equal(off, 6); /* at the backslash */

    s = "{\"a\":\"ok\xff\"}";
    assert_int_equal(apns_json_check_object(s, strlen(s), &off, &why), 0);
    assert_int_equal(off, 8);
    assert_string_equal(why, "invalid UTF-8 in string");

    s = "  []";
    assert_int_equal(apns_json_check_object(s, strlen(s), &off, &why), 0);
    assert_int_equal(off, 2);
    assert_string_equal(why, "top-level value is not an object");

    /* NULL out-pointers are allowed. */
    assert_int_equal(apns_json_check_object(s, strlen(s), NULL, NULL), 0);
}

/* `depth` nested containers: the top object, then depth-1 arrays
 * ({"k":[[...]]}) or objects ({"k":{"k":{..."k":1}}}). Caller frees. */
static char *nested(int depth, int objects, size_t *len)
{
    char *s = malloc((size_t)depth * 6 + 16);
    size_t n = 0;
    s[n++] = '{';
    if (objects) {
        for (int i = 1; i < depth; i++) {
            memcpy(s + n, "\"k\":{", 5);
            n += 5;
        }
        memcpy(s + n, "\"k\":1", 5);
        n += 5;
        for (int i = 1; i < depth; i++)
            s[n++] = '}';
    } else {
        memcpy(s + n, "\"k\":", 4);
        n += 4;
        for (int i = 1; i < depth; i++)
            s[n++] = '[';
        for (int i = 1; i < depth; i++)
            s[n++] = ']';
        if (depth == 1)
            s[n++] = '1';
    }
    s[n++] = '}';
    *len = n;
    return s;
}

static void test_nesting_limit(void **state)
{
    (void)state;
    for (int objects = 0; objects <= 1; objects++) {
        size_t len, off;
        const char *why;
        char *s = nested(64, objects, &len);
        assert_int_equal(apns_json_is_object(s, len), 1);
        free(s);

        s = nested(65, objects, &len);
        assert_int_equal(apns_json_check_object(s, len, &off, &why), 0);
        assert_string_equal(why, "nesting deeper than 64");
        free(s);

        s = nested(1000, objects, &len);
        assert_int_equal(apns_json_check_object(s, len, &off, &why), 0);
        assert_string_equal(why, "nesting deeper than 64");
        assert_int_equal(off, objects ? 1 + 64 * 5 - 1 : 1 + 4 + 63);
        free(s);
    }

    /* Going deep, coming back, going deep again stays within the limit. */
    char buf[1024];
    size_t n = 0;
    buf[n++] = '{';
    for (int rep = 0; rep < 3; rep++) {
        n += (size_t)sprintf(buf + n, "%s\"r%d\":", rep ? "," : "", rep);
        for (int i = 0; i < 63; i++)
            buf[n++] = '[';
        for (int i = 0; i < 63; i++)
            buf[n++] = ']';
    }
    buf[n++] = '}';
    assert_int_equal(apns_json_is_object(buf, n), 1);
}

static void test_length_is_honoured(void **state)
{
    (void)state;
    const char *s = "{\"a\":1}garbage";
    assert_int_equal(apns_json_is_object(s, 7), 1);
    assert_int_equal(apns_json_is_object(s, 6), 0);
    assert_int_equal(apns_json_is_object(s, strlen(s)), 0);
    assert_int_equal(apns_json_is_object(s, 0), 0);
    assert_int_equal(apns_json_is_object(NULL, 0), 0);
    assert_int_equal(apns_json_is_object(NULL, 5), 0);

    /* Every proper prefix of a valid object is invalid, and reading stops
     * at len (ASan would see an overread on the heap copy). */
    const char *full = "{\"aps\":{\"alert\":{\"title\":\"\xc3\xa9\\u00e9\\uD83D\\uDE00\"},"
                       "\"badge\":-1.5e+3,\"x\":[true,false,null]}}";
    size_t len = strlen(full);
    assert_int_equal(apns_json_is_object(full, len), 1);
    for (size_t i = 0; i < len; i++) {
        char *copy = malloc(i ? i : 1);
        memcpy(copy, full, i);
        assert_int_equal(apns_json_is_object(copy, i), 0);
        free(copy);
    }
}

static void test_large_payload(void **state)
{
    (void)state;
    /* A 4096-byte payload of mixed content validates. */
    char *s = malloc(4096);
    size_t n = (size_t)sprintf(s, "{\"aps\":{\"alert\":\"");
    while (n < 4096 - 3) {
        s[n] = (char)('a' + n % 26);
        n++;
    }
    s[n++] = '"';
    s[n++] = '}';
    s[n++] = '}';
    assert_int_equal(n, 4096);
    assert_int_equal(apns_json_is_object(s, n), 1);
    s[100] = '\x01';
    assert_int_equal(apns_json_is_object(s, n), 0);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_table),
        cmocka_unit_test(test_reject_table),
        cmocka_unit_test(test_every_byte_in_string),
        cmocka_unit_test(test_error_offsets),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_length_is_honoured),
        cmocka_unit_test(test_large_payload),
        cmocka_unit_test(test_every_byte_at_every_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
