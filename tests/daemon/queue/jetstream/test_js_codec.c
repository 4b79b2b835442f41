/*
 * test_js_codec.c - the JetStream records' format versions (js_int.h,
 * "Format versions"), no NATS server needed: a record of this version
 * reads back; the same record with a NEWER version digit is GW_JS_ENEWER
 * (recognised, never misread), and gw_js_format_version names it; another
 * kind, an older/invalid digit or a foreign prefix is APNS_EINVAL. Checked
 * for the outcome record, the dead-token entry and the provider token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "js_int.h"

/* The record with its 4th byte (the version digit) or 3rd (the kind) set. */
static uint8_t *variant(const uint8_t *p, size_t len, size_t at, uint8_t v)
{
    uint8_t *q = malloc(len);
    assert_non_null(q);
    memcpy(q, p, len);
    q[at] = v;
    return q;
}

static void outcome_record(void **state)
{
    gw_js_rec r, back;
    uint8_t *buf, *q;
    size_t len;

    assert_int_equal(gw_js_rec_init(&r, 3), 0);
    r.state[1] = 1;
    assert_int_equal(gw_js_rec_encode(&r, &buf, &len), 0);
    assert_memory_equal(buf, "AJR1", 4);
    assert_int_equal(gw_js_format_version(buf, len), JS_FORMAT_VERSION);
    assert_int_equal(gw_js_rec_decode(&back, buf, len), 0);
    assert_int_equal(back.n, 3);
    assert_int_equal(back.state[1], 1);
    gw_js_rec_cleanup(&back);

    q = variant(buf, len, 3, '2'); /* a newer apnsd's record */
    assert_int_equal(gw_js_rec_decode(&back, q, len), GW_JS_ENEWER);
    assert_int_equal(gw_js_format_version(q, len), 2);
    gw_js_rec_cleanup(&back);
    free(q);
    q = variant(buf, len, 3, '0'); /* no such version */
    assert_int_equal(gw_js_rec_decode(&back, q, len), APNS_EINVAL);
    gw_js_rec_cleanup(&back);
    free(q);
    q = variant(buf, len, 2, 'J'); /* another kind */
    assert_int_equal(gw_js_rec_decode(&back, q, len), APNS_EINVAL);
    gw_js_rec_cleanup(&back);
    free(q);
    q = variant(buf, len, 0, 'X'); /* not ours */
    assert_int_equal(gw_js_rec_decode(&back, q, len), APNS_EINVAL);
    assert_int_equal(gw_js_format_version(q, len), 0);
    gw_js_rec_cleanup(&back);
    free(q);
    free(buf);
    gw_js_rec_cleanup(&r);
}

static void dead_and_token_records(void **state)
{
    gw_dead_token d = {0}, back;
    uint8_t *buf, *q;
    size_t len;
    int64_t issued;
    char jwt[64];

    snprintf(d.token, sizeof(d.token), "%064d", 7);
    d.source = GW_DEAD_UNREGISTERED;
    snprintf(d.reason, sizeof(d.reason), "Unregistered");
    assert_int_equal(gw_js_dead_encode(&d, &buf, &len), 0);
    assert_int_equal(gw_js_dead_decode(&back, buf, len), 0);
    assert_string_equal(back.reason, "Unregistered");
    q = variant(buf, len, 3, '9');
    assert_int_equal(gw_js_dead_decode(&back, q, len), GW_JS_ENEWER);
    free(q);
    free(buf);

    assert_int_equal(gw_js_tok_encode(1234, "a.b.c", &buf, &len), 0);
    assert_int_equal(gw_js_tok_decode(buf, len, &issued, jwt, sizeof(jwt)), 0);
    assert_string_equal(jwt, "a.b.c");
    q = variant(buf, len, 3, '3');
    assert_int_equal(gw_js_tok_decode(q, len, &issued, jwt, sizeof(jwt)), GW_JS_ENEWER);
    free(q);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcome_record),
        cmocka_unit_test(dead_and_token_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
