/* test_feedback.c - the feedback-service decoder without a network: tuples
 * cut at every split point (and byte by byte), 1- to 100-byte tokens, hostile
 * token lengths, a stream that ends inside a tuple; and what
 * apns_feedback_new() refuses before connecting. (The fetch over TLS is
 * tests/integration/feedback_client_test.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/event.h>

#include "apns/error.h"
#include "apns/feedback.h"

#define MAX_ITEMS 64

typedef struct seen {
    size_t n;
    uint32_t ts[MAX_ITEMS];
    int64_t ts_ms[MAX_ITEMS];
    size_t len[MAX_ITEMS];
    char hex[MAX_ITEMS][2 * APNS_BINARY_TOKEN_MAX + 1];
} seen;

static void collect(const apns_feedback_item *it, void *ud)
{
    seen *s = ud;
    assert_true(s->n < MAX_ITEMS);
    s->ts[s->n] = it->timestamp;
    s->ts_ms[s->n] = it->timestamp_ms;
    s->len[s->n] = it->token_len;
    assert_int_equal(strlen(it->token), 2 * it->token_len);
    memcpy(s->hex[s->n], it->token, 2 * it->token_len + 1);
    s->n++;
}

/* A stream of tuples with token sizes sizes[0..n): token k of tuple i is
 * (i * 16 + k) & 0xff; time 0x5f5e1000 + i. Returns its length. */
static size_t build(uint8_t *out, size_t cap, const size_t *sizes, size_t n)
{
    size_t len = 0;
    uint8_t tok[APNS_BINARY_TOKEN_MAX];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizes[i]; k++)
            tok[k] = (uint8_t)(i * 16 + k);
        int w =
            apns_feedback_encode(0x5f5e1000u + (uint32_t)i, tok, sizes[i], out + len, cap - len);
        assert_true(w > 0);
        len += (size_t)w;
    }
    return len;
}

static void check(const seen *s, const size_t *sizes, size_t n)
{
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++) {
        char want[2 * APNS_BINARY_TOKEN_MAX + 1];
        uint8_t tok[APNS_BINARY_TOKEN_MAX];
        for (size_t k = 0; k < sizes[i]; k++)
            tok[k] = (uint8_t)(i * 16 + k);
        apns_token_bin_to_hex(tok, sizes[i], want, sizeof want);
        assert_int_equal(s->ts[i], 0x5f5e1000u + i);
        assert_int_equal(s->ts_ms[i], (int64_t)(0x5f5e1000u + i) * 1000);
        assert_int_equal(s->len[i], sizes[i]);
        assert_string_equal(s->hex[i], want);
    }
}

static void whole_stream(void **state)
{
    static const size_t sizes[] = {32, 32, 100, 1, 32};
    uint8_t buf[1024];
    size_t len = build(buf, sizeof buf, sizes, 5);
    assert_int_equal(len, 5 * 6 + 32 * 3 + 100 + 1);
    apns_feedback_reader r;
    apns_feedback_reader_init(&r);
    seen s = {0};
    assert_int_equal(apns_feedback_reader_feed(&r, buf, len, collect, &s), 0);
    assert_int_equal(apns_feedback_reader_end(&r), 0);
    assert_int_equal(apns_feedback_reader_count(&r), 5);
    check(&s, sizes, 5);
}

/* Every way to cut the stream in three pieces gives the same tuples. */
static void every_two_splits(void **state)
{
    static const size_t sizes[] = {32, 100, 1};
    uint8_t buf[512];
    size_t len = build(buf, sizeof buf, sizes, 3);
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            apns_feedback_reader r;
            apns_feedback_reader_init(&r);
            seen s = {0};
            assert_int_equal(apns_feedback_reader_feed(&r, buf, a, collect, &s), 0);
            assert_int_equal(apns_feedback_reader_feed(&r, buf + a, b - a, collect, &s), 0);
            assert_int_equal(apns_feedback_reader_feed(&r, buf + b, len - b, collect, &s), 0);
            assert_int_equal(apns_feedback_reader_end(&r), 0);
            check(&s, sizes, 3);
        }
    }
}

static void byte_by_byte(void **state)
{
    static const size_t sizes[] = {32, 32, 100, 100, 1, 2, 99};
    uint8_t buf[1024];
    size_t len = build(buf, sizeof buf, sizes, 7);
    apns_feedback_reader r;
    apns_feedback_reader_init(&r);
    seen s = {0};
    size_t done = 0, end = 6 + sizes[0], last_end = 0;
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(apns_feedback_reader_feed(&r, buf + i, 1, collect, &s), 0);
        /* a tuple is reported as soon as its last byte is in, not later */
        if (i + 1 == end) {
            last_end = end;
            if (++done < 7)
                end += 6 + sizes[done];
        }
        assert_int_equal(s.n, done);
        assert_int_equal(apns_feedback_reader_end(&r), i + 1 == last_end ? 0 : APNS_EFORMAT);
    }
    assert_int_equal(apns_feedback_reader_end(&r), 0);
    check(&s, sizes, 7);
}

static void ends_inside_a_tuple(void **state)
{
    static const size_t sizes[] = {32, 32};
    uint8_t buf[256];
    size_t len = build(buf, sizeof buf, sizes, 2);
    for (size_t cut = 1; cut < 38; cut++) {
        apns_feedback_reader r;
        apns_feedback_reader_init(&r);
        seen s = {0};
        assert_int_equal(apns_feedback_reader_feed(&r, buf, len - cut, collect, &s), 0);
        assert_int_equal(s.n, 1); /* the whole first one is reported */
        assert_int_equal(apns_feedback_reader_end(&r), APNS_EFORMAT);
    }
    apns_feedback_reader r;
    apns_feedback_reader_init(&r);
    assert_int_equal(apns_feedback_reader_end(&r), 0); /* nothing at all is a clean end */
}

static void hostile_lengths(void **state)
{
    static const size_t sizes[] = {32, 32};
    uint8_t buf[256];
    size_t len = build(buf, sizeof buf, sizes, 2);
    static const uint8_t len0[] = {0, 0, 0, 1, 0x00, 0x00};
    static const uint8_t len101[] = {0, 0, 0, 1, 0x00, 0x65};
    static const uint8_t lenmax[] = {0, 0, 0, 1, 0xff, 0xff};
    const uint8_t *bad[] = {len0, len101, lenmax};
    for (size_t k = 0; k < 3; k++) {
        /* split inside the bad header too: decided once its 6 bytes are in */
        for (size_t split = 0; split <= 6; split++) {
            apns_feedback_reader r;
            apns_feedback_reader_init(&r);
            seen s = {0};
            assert_int_equal(apns_feedback_reader_feed(&r, buf, len, collect, &s), 0);
            int rc = apns_feedback_reader_feed(&r, bad[k], split, collect, &s);
            if (split < 6)
                rc = apns_feedback_reader_feed(&r, bad[k] + split, 6 - split, collect, &s);
            assert_int_equal(rc, APNS_EFORMAT);
            assert_int_equal(s.n, 2);
            /* sticky: nothing after a lying length is trusted */
            assert_int_equal(apns_feedback_reader_feed(&r, buf, len, collect, &s), APNS_EFORMAT);
            assert_int_equal(s.n, 2);
            assert_int_equal(apns_feedback_reader_end(&r), APNS_EFORMAT);
        }
    }
}

static void bad_arguments(void **state)
{
    apns_feedback_reader r;
    apns_feedback_reader_init(&r);
    seen s = {0};
    uint8_t b = 0;
    assert_int_equal(apns_feedback_reader_feed(NULL, &b, 1, collect, &s), APNS_EINVAL);
    assert_int_equal(apns_feedback_reader_feed(&r, &b, 1, NULL, &s), APNS_EINVAL);
    assert_int_equal(apns_feedback_reader_feed(&r, NULL, 1, collect, &s), APNS_EINVAL);
    assert_int_equal(apns_feedback_reader_feed(&r, NULL, 0, collect, &s), 0);
    assert_int_equal(apns_feedback_reader_end(NULL), APNS_EINVAL);
    assert_int_equal(apns_feedback_reader_count(NULL), 0);
}

static void on_item(apns_feedback *f, const apns_feedback_item *it, void *ud)
{
    fail();
}

static void on_done(apns_feedback *f, size_t count, int err, const char *detail, void *ud)
{
    fail();
}

/* What apns_feedback_new() refuses before it connects (nothing is started,
 * no callback fires). */
static void new_refusals(void **state)
{
    struct event_base *base = event_base_new();
    apns_feedback_opts o;
    apns_feedback *f = (apns_feedback *)&o;
    char detail[256];
    apns_feedback_opts_init(&o);
    assert_int_equal(apns_feedback_new(&f, base, &o, detail, sizeof detail), APNS_EINVAL);
    assert_non_null(strstr(detail, "required"));
    o.on_item = on_item;
    o.on_done = on_done;
    assert_int_equal(apns_feedback_new(&f, base, &o, detail, sizeof detail), APNS_EINVAL);
    assert_non_null(strstr(detail, "certificate"));
    assert_null(f);
    o.cert_file = "/nonexistent/cert.pem";
    o.env = APNS_ENV_CUSTOM;
    assert_int_equal(apns_feedback_new(&f, base, &o, detail, sizeof detail), APNS_EINVAL);
    assert_non_null(strstr(detail, "host"));
    o.env = (apns_environment)9;
    assert_int_equal(apns_feedback_new(&f, base, &o, NULL, 0), APNS_EINVAL);
    o.env = APNS_ENV_SANDBOX;
    assert_int_equal(apns_feedback_new(&f, base, &o, detail, sizeof detail), APNS_ECERT);
    assert_non_null(strstr(detail, "/nonexistent/cert.pem"));
    apns_feedback_free(NULL);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_stream),    cmocka_unit_test(every_two_splits),
        cmocka_unit_test(byte_by_byte),    cmocka_unit_test(ends_inside_a_tuple),
        cmocka_unit_test(hostile_lengths), cmocka_unit_test(bad_arguments),
        cmocka_unit_test(new_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
