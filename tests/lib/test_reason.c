/* test_reason.c - the reason table, actions and the retry backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "apns/error.h"
#include "apns/reason.h"

static void every_row_round_trips(void **state)
{
    int rows = 0, fcm = 0;
    for (int r = APNS_REASON_NONE + 1; r < APNS_REASON_UNKNOWN; r++) {
        const char *name = apns_reason_name((apns_reason)r);
        assert_true(strlen(name) > 0);
        assert_int_equal(apns_reason_lookup(name, strlen(name)), r);
        int st = apns_reason_status((apns_reason)r);
        assert_true(st >= 400 && st <= 503);
        if (r < APNS_REASON_FCM_FIRST)
            rows++;
        else
            fcm++;
    }
    /* Apple's device-push table has 32 reasons; its broadcast table adds 10
     * strings (tests/golden/broadcast-reasons.tsv). The FCM rows follow
     * (held to fcm-errors.tsv by golden_fcm_lib). */
    assert_int_equal(rows, 42);
    assert_true(fcm > 0);
}

static void lookup_is_exact(void **state)
{
    assert_int_equal(apns_reason_lookup("", 0), APNS_REASON_NONE);
    assert_int_equal(apns_reason_lookup("Unregistered", 12), APNS_REASON_UNREGISTERED);
    assert_int_equal(apns_reason_lookup("unregistered", 12), APNS_REASON_UNKNOWN);
    assert_int_equal(apns_reason_lookup("Unregistere", 11), APNS_REASON_UNKNOWN);
    assert_int_equal(apns_reason_lookup("UnregisteredX", 13), APNS_REASON_UNKNOWN);
    /* Not NUL-terminated input: the length decides. */
    assert_int_equal(apns_reason_lookup("ShutdownXYZ", 8), APNS_REASON_SHUTDOWN);
    assert_string_equal(apns_reason_name(APNS_REASON_UNKNOWN), "Unknown");
    assert_string_equal(apns_reason_name((apns_reason)999), "Unknown");
}

static void statuses_match_apple(void **state)
{
    assert_int_equal(apns_reason_status(APNS_REASON_BAD_DEVICE_TOKEN), 400);
    assert_int_equal(apns_reason_status(APNS_REASON_EXPIRED_PROVIDER_TOKEN), 403);
    assert_int_equal(apns_reason_status(APNS_REASON_BAD_PATH), 404);
    assert_int_equal(apns_reason_status(APNS_REASON_METHOD_NOT_ALLOWED), 405);
    assert_int_equal(apns_reason_status(APNS_REASON_UNREGISTERED), 410);
    assert_int_equal(apns_reason_status(APNS_REASON_PAYLOAD_TOO_LARGE), 413);
    assert_int_equal(apns_reason_status(APNS_REASON_TOO_MANY_REQUESTS), 429);
    assert_int_equal(apns_reason_status(APNS_REASON_INTERNAL_SERVER_ERROR), 500);
    assert_int_equal(apns_reason_status(APNS_REASON_SHUTDOWN), 503);
    assert_int_equal(apns_reason_status(APNS_REASON_CHANNEL_NOT_REGISTERED), 400);
    assert_int_equal(apns_reason_status(APNS_REASON_TOPIC_MISMATCH), 403);
    assert_int_equal(apns_reason_lookup("Service Unavailable", 19),
                     APNS_REASON_SERVICE_UNAVAILABLE_SPACED);
    /* a dead channel is a dead target; a full channel store is the request's */
    assert_int_equal(apns_action_for(400, APNS_REASON_CHANNEL_NOT_REGISTERED),
                     APNS_ACTION_DEAD_TOKEN);
    assert_int_equal(apns_action_for(400, APNS_REASON_CANNOT_CREATE_CHANNEL_CONFIG),
                     APNS_ACTION_DROP);
    assert_int_equal(apns_action_for(503, APNS_REASON_SERVICE_UNAVAILABLE_SPACED),
                     APNS_ACTION_RETRY);
}

/* apns_action_for(status, reason) must be want. */
typedef struct action_row {
    apns_action want;
    int status;
    apns_reason reason;
} action_row;

static void actions_follow_apples_guidance(void **state)
{
    static const action_row rows[] = {
        /* Never retry these. */
        {APNS_ACTION_DEAD_TOKEN, 400, APNS_REASON_BAD_DEVICE_TOKEN},
        {APNS_ACTION_DEAD_TOKEN, 400, APNS_REASON_DEVICE_TOKEN_NOT_FOR_TOPIC},
        {APNS_ACTION_DEAD_TOKEN, 410, APNS_REASON_UNREGISTERED},
        {APNS_ACTION_DEAD_TOKEN, 410, APNS_REASON_EXPIRED_TOKEN},
        {APNS_ACTION_DROP, 403, APNS_REASON_FORBIDDEN},
        {APNS_ACTION_DROP, 413, APNS_REASON_PAYLOAD_TOO_LARGE},
        /* Retry after a delay. */
        {APNS_ACTION_RETRY, 429, APNS_REASON_TOO_MANY_REQUESTS},
        {APNS_ACTION_RETRY, 500, APNS_REASON_INTERNAL_SERVER_ERROR},
        {APNS_ACTION_RETRY, 503, APNS_REASON_SERVICE_UNAVAILABLE},
        /* Reconnect, refresh, pause. */
        {APNS_ACTION_RECONNECT, 503, APNS_REASON_SHUTDOWN},
        {APNS_ACTION_REFRESH_TOKEN, 403, APNS_REASON_EXPIRED_PROVIDER_TOKEN},
        {APNS_ACTION_PAUSE, 403, APNS_REASON_INVALID_PROVIDER_TOKEN},
        {APNS_ACTION_PAUSE, 403, APNS_REASON_BAD_CERTIFICATE},
        /* Success whatever the reason field says. */
        {APNS_ACTION_NONE, 200, APNS_REASON_NONE},
        /* Unknown reasons fall back on the status. */
        {APNS_ACTION_DEAD_TOKEN, 410, APNS_REASON_UNKNOWN},
        {APNS_ACTION_RETRY, 502, APNS_REASON_UNKNOWN},
        {APNS_ACTION_RETRY, 429, APNS_REASON_NONE},
        {APNS_ACTION_PAUSE, 403, APNS_REASON_NONE},
        {APNS_ACTION_DROP, 400, APNS_REASON_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        assert_int_equal(apns_action_for(rows[i].status, rows[i].reason), rows[i].want);
    assert_string_equal(apns_action_name(APNS_ACTION_DEAD_TOKEN), "dead-token");
}

static void backoff_grows_caps_and_jitters(void **state)
{
    apns_retry_policy p = {.max_attempts = 5, .base_ms = 100, .max_ms = 1000};
    uint64_t rng = 42;
    for (int round = 0; round < 200; round++) {
        int64_t d1 = apns_retry_backoff_ms(&p, 1, &rng);
        int64_t d2 = apns_retry_backoff_ms(&p, 2, &rng);
        int64_t d5 = apns_retry_backoff_ms(&p, 5, &rng);
        int64_t d30 = apns_retry_backoff_ms(&p, 30, &rng);
        assert_true(d1 >= 50 && d1 <= 100);
        assert_true(d2 >= 100 && d2 <= 200);
        assert_true(d5 >= 500 && d5 <= 1000); /* 1600 capped at 1000 */
        assert_true(d30 >= 500 && d30 <= 1000);
    }
    /* Jitter actually varies. */
    int64_t first = apns_retry_backoff_ms(&p, 3, &rng);
    int varied = 0;
    for (int i = 0; i < 50; i++)
        varied |= apns_retry_backoff_ms(&p, 3, &rng) != first;
    assert_true(varied);
    /* Defaults: 1 s base, 15 min cap. */
    apns_retry_policy def = {0};
    int64_t d = apns_retry_backoff_ms(&def, 1, &rng);
    assert_true(d >= 500 && d <= 1000);
    d = apns_retry_backoff_ms(&def, 40, &rng);
    assert_true(d >= 450000 && d <= 900000);
}

static void error_space_is_complete(void **state)
{
    assert_string_equal(apns_err_name(APNS_EBADTOKEN), "APNS_EBADTOKEN");
    assert_string_equal(apns_err_name(0), "APNS_OK");
    assert_string_equal(apns_err_name(-9999), "APNS_E?");
    assert_string_equal(apns_strerror(-9999), "unknown error");
    assert_string_equal(apns_strerror(APNS_EAGAIN),
                        "no credit: wait for the credit callback, then submit again");
#define XX(name, val, msg)                                                                         \
    assert_true(val < 0);                                                                          \
    assert_string_equal(apns_strerror(val), msg);                                                  \
    assert_string_equal(apns_err_name(val), "APNS_" #name);
    APNS_ERRNO_MAP(XX)
#undef XX
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_row_round_trips),
        cmocka_unit_test(lookup_is_exact),
        cmocka_unit_test(statuses_match_apple),
        cmocka_unit_test(actions_follow_apples_guidance),
        cmocka_unit_test(backoff_grows_caps_and_jitters),
        cmocka_unit_test(error_space_is_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
