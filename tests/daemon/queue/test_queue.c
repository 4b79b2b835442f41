/* test_queue.c - the queue's front end without a backend: per-token
 * apns-ids (queue_token.c). The calls that need storage are the contract
 * (queue_contract.c), run against each backend by sqlite/ and jetstream/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "queue.h"

static void apns_id_derivation(void **state)
{
    char out[GW_JOB_ID_LEN + 1];

    (void)state;
    gw_apns_id_derive("12345678-1234-4234-8234-ffffffffffff", 1, out);
    assert_string_equal(out, "12345678-1234-4234-8234-000000000000");
    gw_apns_id_derive("12345678-1234-4234-8234-00000000000a", 999999, out);
    assert_string_equal(out, "12345678-1234-4234-8234-0000000f4249");
    assert_true(apns_uuid_is_valid(out));
}

/* Ids asked for through a cursor, in token order and out of it: the last
 * 12 digits count up (9 -> a, f -> 0 with a carry, wrapping at 2^48), the
 * rest is the base lower-cased. */
static void apns_id_cursor(void **state)
{
    static const struct {
        uint64_t index;
        const char *id;
    } want[] = {
        {0, "abcdef12-1234-4234-8234-0000000009fe"},  {1, "abcdef12-1234-4234-8234-0000000009ff"},
        {2, "abcdef12-1234-4234-8234-000000000a00"},  {2, "abcdef12-1234-4234-8234-000000000a00"},
        {3, "abcdef12-1234-4234-8234-000000000a01"},  {11, "abcdef12-1234-4234-8234-000000000a09"},
        {12, "abcdef12-1234-4234-8234-000000000a0a"}, {1, "abcdef12-1234-4234-8234-0000000009ff"},
        {2, "abcdef12-1234-4234-8234-000000000a00"},
    };
    gw_apns_id_cursor cur = {0}, wrap = {0};
    char out[GW_JOB_ID_LEN + 1];

    (void)state;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        gw_apns_id_at(&cur, "ABCDEF12-1234-4234-8234-0000000009FE", want[i].index, out);
        assert_string_equal(out, want[i].id);
    }
    gw_apns_id_at(&wrap, "12345678-1234-4234-8234-fffffffffffe", 0, out);
    gw_apns_id_at(&wrap, "12345678-1234-4234-8234-fffffffffffe", 1, out);
    assert_string_equal(out, "12345678-1234-4234-8234-ffffffffffff");
    gw_apns_id_at(&wrap, "12345678-1234-4234-8234-fffffffffffe", 2, out);
    assert_string_equal(out, "12345678-1234-4234-8234-000000000000");
    gw_apns_id_at(&wrap, "12345678-1234-4234-8234-fffffffffffe", 3, out);
    assert_string_equal(out, "12345678-1234-4234-8234-000000000001");
}

/* Hex tokens of either case are stored as their bytes; anything that is not
 * a token is refused and adds nothing. */
static void token_list_hex(void **state)
{
    static const uint8_t want[] = {32,   0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                   0xab, 0xcd, 0xef, 0x00, 0x9f, 0xf9, 0xa0, 0x0a, 0x10,
                                   0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0xff, 0xff,
                                   0xff, 0xff, 0x00, 0x00, 0x00, 0x00};
    const char *tok = "0123456789abcdefABCDEF009FF9a00A1032547698BAdcFEffFFfFFf00000000";
    gw_token_list l;
    char hex[GW_TOKEN_TEXT_MAX];

    (void)state;
    gw_token_list_init(&l);
    assert_int_equal(gw_token_list_add_hex(&l, tok, 64), 0);
    assert_int_equal(l.count, 1);
    assert_int_equal(l.len, sizeof want);
    assert_memory_equal(l.buf, want, sizeof want);
    assert_int_equal(gw_token_rec_text(l.buf, l.len, hex), sizeof want);
    assert_string_equal(hex, "0123456789abcdefabcdef009ff9a00a1032547698badcfeffffffff00000000");
    assert_int_equal(gw_token_list_add_hex(&l,
                                           "0123456789abcdefABCDEF009FF9a00A1032547698BAdcFE"
                                           "ffFFfFFf0000000g",
                                           64),
                     APNS_EBADTOKEN);
    assert_int_equal(gw_token_list_add_hex(&l, tok, 63), APNS_EBADTOKEN);
    assert_int_equal(l.count, 1);
    assert_int_equal(l.len, sizeof want);
    gw_token_list_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(apns_id_derivation),
        cmocka_unit_test(apns_id_cursor),
        cmocka_unit_test(token_list_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
