/*
 * test_client.c - apns_client_submit() without a server: validation, the
 * copy into a slot, credit, and the validated-payload shortcut (a payload is
 * JSON-checked once, then recognised by its bytes).
 *
 * The client points at 127.0.0.1:1 and the loop never runs, so nothing is
 * ever sent: these tests see only what submit itself decides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/event.h>

#include "apns/client.h"
#include "apns/jwt.h"

#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

typedef struct fixture {
    struct event_base *base;
    apns_signing_key *key;
    apns_token_cache *tokens;
    apns_client *c;
} fixture;

static void on_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    (void)c, (void)n, (void)r, (void)ud;
    fail_msg("no result can arrive: the loop never runs");
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *certs = getenv("APNS_TEST_CERTS");
    char path[1024], detail[256];
    assert_non_null(certs);
    snprintf(path, sizeof path, "%s/AuthKey_ABC123DEFG.p8", certs);
    assert_int_equal(apns_signing_key_load_file(&f->key, path, "ABC123DEFG", "DEF123GHIJ", detail,
                                                sizeof detail),
                     0);
    assert_int_equal(apns_token_cache_new(&f->tokens, f->key, 0), 0);
    f->base = event_base_new();
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = 1;
    o.h2c = 1;
    o.tokens = f->tokens;
    o.max_pending = 4;
    o.on_result = on_result;
    assert_int_equal(apns_client_new(&f->c, f->base, &o, detail, sizeof detail), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    apns_client_free(f->c);
    event_base_free(f->base);
    apns_token_cache_free(f->tokens);
    apns_signing_key_free(f->key);
    free(f);
    return 0;
}

static apns_notification note(const char *payload)
{
    apns_notification n;
    apns_notification_init(&n);
    n.token = TOKEN;
    n.topic = "com.example.app";
    n.payload = payload;
    n.payload_len = strlen(payload);
    return n;
}

/* The shortcut must never let through bytes it has not checked: the same
 * length, different bytes, right after a valid payload. */
static void same_length_bad_payload_is_refused(void **state)
{
    fixture *f = *state;
    const char *good = "{\"aps\":{\"alert\":\"hello\"}}";
    const char *bad = "{\"aps\":{\"alert\":\"hello\"}]";
    assert_int_equal(strlen(good), strlen(bad));
    apns_notification n = note(good);
    assert_int_equal(apns_client_submit(f->c, &n), 0);
    assert_int_equal(apns_client_submit(f->c, &n), 0); /* same bytes: shortcut */
    n = note(bad);
    assert_int_equal(apns_client_submit(f->c, &n), APNS_ENOTOBJECT);
    /* A bad payload is not remembered as good: it fails again. */
    assert_int_equal(apns_client_submit(f->c, &n), APNS_ENOTOBJECT);
    assert_int_equal(apns_client_pending(f->c), 2);
}

/* The size limit still applies per push type when the bytes were checked
 * before under a larger limit. */
static void size_limit_applies_after_shortcut(void **state)
{
    fixture *f = *state;
    size_t len = APNS_PAYLOAD_MAX + 100; /* fits voip, not alert */
    char *p = malloc(len + 1);
    memset(p, ' ', len);
    memcpy(p, "{\"a\":1}", 7);
    p[len] = '\0';
    apns_notification n = note(p);
    n.push_type = APNS_PUSH_VOIP;
    n.topic = "com.example.app.voip";
    assert_int_equal(apns_client_submit(f->c, &n), 0);
    n.push_type = APNS_PUSH_ALERT;
    n.topic = "com.example.app";
    assert_int_equal(apns_client_submit(f->c, &n), APNS_ETOOBIG);
    free(p);
}

/* Submit copies: the caller's buffers may change at once. */
static void submit_copies_the_notification(void **state)
{
    fixture *f = *state;
    char payload[64], token[65];
    strcpy(payload, "{\"aps\":{\"badge\":1}}");
    strcpy(token, TOKEN);
    apns_notification n = note(payload);
    n.token = token;
    assert_int_equal(apns_client_submit(f->c, &n), 0);
    memset(payload, 'x', sizeof payload - 1);
    memset(token, 'z', sizeof token - 1);
    assert_int_equal(apns_client_pending(f->c), 1);
}

static void credit_runs_out_then_eagain(void **state)
{
    fixture *f = *state;
    apns_notification n = note("{\"aps\":{}}");
    assert_int_equal(apns_client_credit(f->c), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(apns_client_submit(f->c, &n), 0);
    assert_int_equal(apns_client_credit(f->c), 0);
    assert_int_equal(apns_client_submit(f->c, &n), APNS_EAGAIN);
    /* Validation comes first: a bad notification is refused as bad, not
     * as "no credit". */
    n.token = "zz";
    assert_int_equal(apns_client_submit(f->c, &n), APNS_EBADTOKEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_length_bad_payload_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(size_limit_applies_after_shortcut, setup, teardown),
        cmocka_unit_test_setup_teardown(submit_copies_the_notification, setup, teardown),
        cmocka_unit_test_setup_teardown(credit_runs_out_then_eagain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
