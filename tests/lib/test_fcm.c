/*
 * test_fcm.c - lib/fcm.c: the FCM v1 message rules (apns_fcm_fields_validate
 * and the builder, apns_fcm_message_render), the registration-token rule,
 * Retry-After and the answers the golden table does not spell out.
 *
 * The bad messages below are a literal table written from fcm-protocol.md
 * §3 (the section of each row is given): every one must be refused with the
 * field FCM's BadRequest would name, every good one accepted.
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
#include "apns/error.h"
#include "apns/fcm.h"
#include "apns/notification.h"
#include "apns/reason.h"
#include "client_int.h"
#include "fcm_int.h"

static const struct bad_row {
    const char *fields;
    int code;
    const char *field; /* must appear at the start of the detail */
    const char *source;
} BAD[] = {
    {"[]", APNS_ENOTOBJECT, "message fields", "§3.1 a Message is an object"},
    {"{\"notification\":", APNS_ENOTOBJECT, "message fields", "§3.1"},
    {"{\"token\":\"x\"}", APNS_EFCMMESSAGE, "message.token", "§3.2 exactly one target"},
    {"{\"topic\":\"news\"}", APNS_EFCMMESSAGE, "message.topic", "§3.2 exactly one target"},
    {"{\"fid\":\"f\"}", APNS_EFCMMESSAGE, "message.fid", "§3.2 exactly one target"},
    {"{\"foo\":1}", APNS_EFCMMESSAGE, "message.foo", "§6 S7 unknown field"},
    {"{\"notification\":{\"title\":1}}", APNS_EFCMMESSAGE, "message.notification.title",
     "§3.2 notification {title, body, image} strings"},
    {"{\"notification\":{\"subtitle\":\"x\"}}", APNS_EFCMMESSAGE, "message.notification.subtitle",
     "§3.2"},
    {"{\"data\":{\"k\":12}}", APNS_EFCMMESSAGE, "message.data[0].value", "§3.4 string values"},
    {"{\"data\":{\"a\":\"1\",\"k\":null}}", APNS_EFCMMESSAGE, "message.data[1].value", "§3.4"},
    {"{\"data\":{\"from\":\"x\"}}", APNS_EFCMMESSAGE, "message.data", "§3.4 reserved key"},
    {"{\"data\":{\"message_type\":\"x\"}}", APNS_EFCMMESSAGE, "message.data", "§3.4"},
    {"{\"data\":{\"google.c.a.e\":\"1\"}}", APNS_EFCMMESSAGE, "message.data", "§3.4 google*"},
    {"{\"data\":{\"gcm.n.e\":\"1\"}}", APNS_EFCMMESSAGE, "message.data", "§3.4 gcm*"},
    {"{\"android\":{\"priority\":\"urgent\"}}", APNS_EFCMMESSAGE, "message.android.priority",
     "§3.3 NORMAL or HIGH"},
    {"{\"android\":{\"ttl\":\"2419201s\"}}", APNS_EFCMMESSAGE, "message.android.ttl",
     "§3.3 at most 2419200 s"},
    {"{\"android\":{\"ttl\":\"3600\"}}", APNS_EFCMMESSAGE, "message.android.ttl",
     "§3.3 Duration ends in s"},
    {"{\"android\":{\"ttl\":\"1.0000000001s\"}}", APNS_EFCMMESSAGE, "message.android.ttl",
     "§3.3 at most 9 fraction digits"},
    {"{\"android\":{\"ttl\":\"-1s\"}}", APNS_EFCMMESSAGE, "message.android.ttl", "§3.3 0.."},
    {"{\"android\":{\"ttl\":3600}}", APNS_EFCMMESSAGE, "message.android.ttl",
     "§3.3 a Duration string"},
    {"{\"android\":{\"collapse_key\":5}}", APNS_EFCMMESSAGE, "message.android.collapse_key",
     "§3.3"},
    {"{\"android\":{\"restrictedPackageName\":[]}}", APNS_EFCMMESSAGE,
     "message.android.restrictedPackageName", "§3.3"},
    {"{\"android\":{\"direct_boot_ok\":\"yes\"}}", APNS_EFCMMESSAGE,
     "message.android.direct_boot_ok", "§3.3"},
    {"{\"android\":{\"data\":{\"k\":true}}}", APNS_EFCMMESSAGE, "message.android.data[0].value",
     "§3.3 data, §3.4"},
    {"{\"android\":{\"bogus\":1}}", APNS_EFCMMESSAGE, "message.android.bogus", "§3.3"},
    {"{\"android\":{\"notification\":{\"color\":\"red\"}}}", APNS_EFCMMESSAGE,
     "message.android.notification.color", "§3.3 #rrggbb"},
    {"{\"android\":{\"notification\":{\"visibility\":\"HIDDEN\"}}}", APNS_EFCMMESSAGE,
     "message.android.notification.visibility", "§3.3 PRIVATE/PUBLIC/SECRET"},
    {"{\"android\":{\"notification\":{\"notification_priority\":\"PRIORITY_URGENT\"}}}",
     APNS_EFCMMESSAGE, "message.android.notification.notification_priority",
     "§3.3 PRIORITY_MIN..PRIORITY_MAX"},
    {"{\"android\":{\"notification\":{\"notification_count\":-1}}}", APNS_EFCMMESSAGE,
     "message.android.notification.notification_count", "§3.3"},
    {"{\"android\":{\"notification\":{\"event_time\":\"yesterday\"}}}", APNS_EFCMMESSAGE,
     "message.android.notification.event_time", "§3.3 RFC 3339 Z"},
    {"{\"android\":{\"notification\":{\"vibrate_timings\":[\"1\"]}}}", APNS_EFCMMESSAGE,
     "message.android.notification.vibrate_timings", "§3.3 durations"},
    {"{\"android\":{\"notification\":{\"sticky\":1}}}", APNS_EFCMMESSAGE,
     "message.android.notification.sticky", "§3.3"},
    {"{\"android\":{\"notification\":{\"subtitle\":\"x\"}}}", APNS_EFCMMESSAGE,
     "message.android.notification.subtitle", "§3.3 the documented fields"},
    {"{\"apns\":\"x\"}", APNS_EFCMMESSAGE, "message.apns", "§3.5 ApnsConfig object"},
    {"{\"webpush\":[]}", APNS_EFCMMESSAGE, "message.webpush", "§3.6 WebpushConfig object"},
    {"{\"fcm_options\":1}", APNS_EFCMMESSAGE, "message.fcm_options", "§3.2"},
};

static const char *const GOOD[] = {
    "{}",
    " { } ",
    "{\"notification\":{\"title\":\"Hi\",\"body\":\"there\",\"image\":\"https://x/i.png\"}}",
    /* lowerCamel names and lowercase enums (§3.1), every AndroidNotification kind */
    "{\"android\":{\"collapseKey\":\"c\",\"priority\":\"high\",\"ttl\":\"3.5s\","
    "\"restrictedPackageName\":\"com.x\",\"directBootOk\":true,\"notification\":{"
    "\"channelId\":\"c\",\"clickAction\":\"A\",\"color\":\"#ff00aA\",\"notificationCount\":3,"
    "\"visibility\":\"PUBLIC\",\"notificationPriority\":\"PRIORITY_HIGH\","
    "\"eventTime\":\"2026-01-01T00:00:00Z\",\"bodyLocArgs\":[\"a\"],\"vibrateTimings\":"
    "[\"0.5s\"],\"sticky\":false,\"proxy\":\"DENY\",\"lightSettings\":{}}},"
    "\"apns\":{\"payload\":{\"aps\":{}}},\"webpush\":{\"headers\":{\"TTL\":\"60\"}},"
    "\"fcmOptions\":{\"analyticsLabel\":\"x\"},\"data\":{\"collapse_key\":\"allowed\"}}",
    "{\"android\":{\"ttl\":\"0s\",\"priority\":\"NORMAL\"}}",
    "{\"android\":{\"ttl\":\"2419200s\"}}",
    "{\"android\":{\"ttl\":\"3.000000001s\"}}",
};

static void test_bad_messages(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char d[256] = "x";
        int rc = apns_fcm_fields_validate(BAD[i].fields, strlen(BAD[i].fields), d, sizeof d);
        if (rc != BAD[i].code || strncmp(d, BAD[i].field, strlen(BAD[i].field)) != 0)
            fail_msg("%s (%s): got %s \"%s\", want %s naming %s", BAD[i].fields, BAD[i].source,
                     apns_err_name(rc), d, apns_err_name(BAD[i].code), BAD[i].field);
    }
}

static void test_good_messages(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++) {
        char d[256];
        int rc = apns_fcm_fields_validate(GOOD[i], strlen(GOOD[i]), d, sizeof d);
        if (rc != 0)
            fail_msg("%s: %s %s", GOOD[i], apns_err_name(rc), d);
    }
}

/* §3.4/§3.7: data keys + values at most 4096 bytes; empty fields refused. */
static void test_data_limit(void **state)
{
    (void)state;
    static char buf[APNS_FCM_FIELDS_MAX + 16];
    char d[256];
    for (int over = 0; over < 2; over++) {
        /* "k" + value: 1 + 4095 (+1) bytes */
        int n = snprintf(buf, sizeof buf, "{\"data\":{\"k\":\"");
        memset(buf + n, 'v', 4095 + (size_t)over);
        n += 4095 + over;
        n += snprintf(buf + n, sizeof buf - (size_t)n, "\"}}");
        int rc = apns_fcm_fields_validate(buf, (size_t)n, d, sizeof d);
        assert_int_equal(rc, over ? APNS_EFCMMESSAGE : 0);
        if (over)
            assert_true(strncmp(d, "message.data:", 13) == 0 && strstr(d, "4097"));
    }
    assert_int_equal(apns_fcm_fields_validate("", 0, d, sizeof d), APNS_ENOTOBJECT);
    memset(buf, ' ', sizeof buf);
    buf[0] = '{';
    buf[APNS_FCM_FIELDS_MAX] = '}';
    assert_int_equal(apns_fcm_fields_validate(buf, APNS_FCM_FIELDS_MAX + 1, d, sizeof d),
                     APNS_ETOOBIG);
}

/* §3.2: the token is opaque; this library's rule is 1..4096 printable
 * non-space bytes (the gateway's, and fcm-sim's). */
static void test_token_rule(void **state)
{
    (void)state;
    static char t[APNS_FCM_TOKEN_MAX + 2];
    char d[256];
    memset(t, 'a', sizeof t);
    assert_int_equal(apns_fcm_token_check(t, APNS_FCM_TOKEN_MAX, d, sizeof d), 0);
    assert_int_equal(apns_fcm_token_check(t, APNS_FCM_TOKEN_MAX + 1, d, sizeof d), APNS_EFCMTOKEN);
    assert_int_equal(apns_fcm_token_check("", 0, d, sizeof d), APNS_EFCMTOKEN);
    assert_int_equal(apns_fcm_token_check("a b", 3, d, sizeof d), APNS_EFCMTOKEN);
    assert_int_equal(apns_fcm_token_check("a\tb", 3, d, sizeof d), APNS_EFCMTOKEN);
    assert_int_equal(apns_fcm_token_check("a\xc3\xa9", 3, d, sizeof d), APNS_EFCMTOKEN);
    assert_int_equal(apns_fcm_token_check("fTok3n:APA91b-_~\"\\", 18, d, sizeof d), 0);
    assert_int_equal(apns_fcm_project_check("fcm-demo", d, sizeof d), 0);
    assert_int_equal(apns_fcm_project_check("123456789", d, sizeof d), 0);
    assert_int_equal(apns_fcm_project_check("a/b", d, sizeof d), APNS_EINVAL);
    assert_int_equal(apns_fcm_project_check("", d, sizeof d), APNS_EINVAL);
}

/* The builder renders the same JSON the rules accept, in a fixed order. */
static void test_builder(void **state)
{
    (void)state;
    apns_fcm_message m;
    apns_fcm_message_init(&m);
    apns_fcm_kv data[] = {{"score", "3-1"}, {"q", "a\"b"}};
    m.title = "Hi";
    m.body = "There";
    m.data = data;
    m.ndata = 2;
    m.android.priority = APNS_FCM_PRIORITY_HIGH;
    m.android.ttl = "3600s";
    m.android.collapse_key = "score";
    m.android.notification.channel_id = "scores";
    m.android.notification.notification_count = 2;
    m.apns = "{\"headers\":{\"apns-priority\":\"10\"}}";
    char out[1024], d[256];
    size_t len = 0;
    assert_int_equal(apns_fcm_message_render(&m, out, sizeof out, &len, d, sizeof d), 0);
    const char *want = "{\"notification\":{\"title\":\"Hi\",\"body\":\"There\"},\"data\":{"
                       "\"score\":\"3-1\",\"q\":\"a\\\"b\"},\"android\":{\"priority\":\"HIGH\","
                       "\"ttl\":\"3600s\",\"collapse_key\":\"score\",\"notification\":{"
                       "\"channel_id\":\"scores\",\"notification_count\":2}},\"apns\":{"
                       "\"headers\":{\"apns-priority\":\"10\"}}}";
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    assert_int_equal(apns_fcm_fields_validate(out, len, d, sizeof d), 0);
    /* too small a buffer: says how much is needed */
    assert_int_equal(apns_fcm_message_render(&m, out, 10, &len, d, sizeof d), APNS_EINVAL);
    /* the same rules as the JSON */
    m.android.ttl = "5 weeks";
    assert_int_equal(apns_fcm_message_validate(&m, d, sizeof d), APNS_EFCMMESSAGE);
    assert_true(strncmp(d, "message.android.ttl", 19) == 0);
    m.android.ttl = NULL;
    apns_fcm_kv reserved[] = {{"google.x", "1"}};
    m.data = reserved;
    m.ndata = 1;
    assert_int_equal(apns_fcm_message_validate(&m, d, sizeof d), APNS_EFCMMESSAGE);
    assert_true(strncmp(d, "message.data", 12) == 0);
    m.data = NULL;
    m.ndata = 0;
    m.webpush = "not json";
    assert_int_equal(apns_fcm_message_validate(&m, d, sizeof d), APNS_EINVAL);
    assert_true(strstr(d, "message.webpush") != NULL);
    apns_fcm_message_init(&m);
    assert_int_equal(apns_fcm_message_render(&m, out, sizeof out, &len, d, sizeof d), 0);
    assert_string_equal(out, "{}");
}

/* The request body: envelope, escaped token, the fields' members as given. */
static void test_body(void **state)
{
    (void)state;
    char out[256];
    const char *f = "{\"data\":{\"k\":\"v\"}}";
    size_t n = apns__fcm_body_write(out, "t\"1", 3, f, strlen(f), 1);
    assert_int_equal(n, apns__fcm_body_size("t\"1", 3, strlen(f), 1) - 1);
    out[n] = '\0';
    assert_string_equal(out,
                        "{\"validate_only\":true,\"message\":{\"token\":\"t\\\"1\",\"data\":{\"k\":"
                        "\"v\"}}}");
    assert_true(apns_json_is_object(out, n));
}

/* §5.2: Retry-After is seconds or an HTTP-date; clamped to 1 s..1 h. */
static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(apns_fcm_retry_after("120", 3, 0), 120);
    assert_int_equal(apns_fcm_retry_after("0", 1, 0), 1);
    assert_int_equal(apns_fcm_retry_after("99999", 5, 0), 3600);
    const char *date = "Sun, 06 Nov 1994 08:49:37 GMT"; /* 784111777 */
    assert_int_equal(apns_fcm_retry_after(date, strlen(date), 784111777 - 42), 42);
    assert_int_equal(apns_fcm_retry_after(date, strlen(date), 784111777 + 42), 1);
    assert_int_equal(apns_fcm_retry_after("soon", 4, 0), 0);
    assert_int_equal(apns_fcm_retry_after("12x", 3, 0), 0);
    assert_int_equal(apns_fcm_retry_after(NULL, 0, 0), 0);
}

static apns_fcm_answer answer(int status, const char *body)
{
    apns_fcm_answer a;
    apns_fcm_answer_parse(status, body, body ? strlen(body) : 0, NULL, 0, 0, &a);
    return a;
}

/* §4.3-4.5 answers that fcm-errors.tsv has no row for. */
static void test_answers(void **state)
{
    (void)state;
    /* only an FcmError INVALID_ARGUMENT whose message names the token
     * (the error-codes page): dead token */
    apns_fcm_answer a = answer(
        400, "{\"error\":{\"code\":400,\"message\":\"The registration token is not a valid FCM "
             "registration token\",\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":"
             "\"type.googleapis.com/google.firebase.fcm.v1.FcmError\",\"errorCode\":"
             "\"INVALID_ARGUMENT\"}]}}");
    assert_int_equal(a.action, APNS_ACTION_DEAD_TOKEN);
    /* a violation on another field: drop, token kept, field named */
    a = answer(400, "{\"error\":{\"code\":400,\"status\":\"INVALID_ARGUMENT\",\"details\":[{"
                    "\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":"
                    "[{\"field\":\"message.android.ttl\"}]}]}}");
    assert_int_equal(a.action, APNS_ACTION_DROP);
    assert_string_equal(a.field, "message.android.ttl");
    /* APNS_AUTH_ERROR, the older name of THIRD_PARTY_AUTH_ERROR (§4.3) */
    a = answer(401, "{\"error\":{\"code\":401,\"status\":\"UNAUTHENTICATED\",\"details\":[{"
                    "\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\","
                    "\"errorCode\":\"APNS_AUTH_ERROR\"}]}}");
    assert_int_equal(a.action, APNS_ACTION_PAUSE);
    /* UNSPECIFIED_ERROR: by the HTTP status (§4.3) */
    a = answer(503, "{\"error\":{\"code\":503,\"details\":[{\"@type\":\"type.googleapis.com/"
                    "google.firebase.fcm.v1.FcmError\",\"errorCode\":\"UNSPECIFIED_ERROR\"}]}}");
    assert_int_equal(a.action, APNS_ACTION_RETRY);
    a = answer(400, "{\"error\":{\"code\":400,\"details\":[{\"@type\":\"type.googleapis.com/"
                    "google.firebase.fcm.v1.FcmError\",\"errorCode\":\"UNSPECIFIED_ERROR\"}]}}");
    assert_int_equal(a.action, APNS_ACTION_DROP);
    /* 502/504 with an empty or cut body: retry (§4.4); a non-JSON 404 is never a dead token */
    assert_int_equal(answer(504, NULL).action, APNS_ACTION_RETRY);
    assert_int_equal(answer(503, "{\"error\":{\"code\":50").action, APNS_ACTION_RETRY);
    assert_int_equal(answer(404, "Not Found").action, APNS_ACTION_RETRY);
    assert_int_equal(answer(404, "{}").action, APNS_ACTION_RETRY);
    /* any 429 waits, whatever its body (§4.4, §5.1) */
    assert_int_equal(answer(429, "").action, APNS_ACTION_RETRY);
    assert_int_equal(answer(429, "{\"error\":{\"status\":\"INVALID_ARGUMENT\"}}").action,
                     APNS_ACTION_RETRY);
    /* 401 with the invalid-credentials message but no ErrorInfo: refresh */
    a = answer(401,
               "{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication "
               "credentials. Expected OAuth 2 access token\",\"status\":\"UNAUTHENTICATED\"}}");
    assert_int_equal(a.action, APNS_ACTION_REFRESH_TOKEN);
    /* 200 without a name is still accepted */
    a = answer(200, "");
    assert_int_equal(a.action, APNS_ACTION_NONE);
    assert_string_equal(a.name, "");
}

/* §5.1-5.2: a RETRY answer waits at least its Retry-After (clamped to an
 * hour); FCM's 429 without one at least a minute ("minimum initial delay of
 * 1 minute"); a 503 without one only the jittered backoff. */
static void test_retry_waits(void **state)
{
    (void)state;
    apns_result r;
    memset(&r, 0, sizeof r);
    r.status = 429;
    assert_int_equal(apns__client_min_wait_ms(1, &r), 60000);
    assert_int_equal(apns__client_min_wait_ms(0, &r), 0); /* APNs: the backoff alone */
    r.retry_after_s = 30;
    assert_int_equal(apns__client_min_wait_ms(1, &r), 30000);
    r.retry_after_s = 7200;
    assert_int_equal(apns__client_min_wait_ms(1, &r), 3600000);
    r.status = 503;
    r.retry_after_s = 0;
    assert_int_equal(apns__client_min_wait_ms(1, &r), 0);
    r.retry_after_s = 2;
    assert_int_equal(apns__client_min_wait_ms(1, &r), 2000);
}

static void no_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    (void)c, (void)n, (void)r, (void)ud;
}

/* apns_client with provider FCM: what it refuses before anything is sent. */
static void test_client_checks(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    apns_token_cache *cache;
    assert_int_equal(apns_token_cache_new_external(&cache), 0);
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.provider = APNS_PROVIDER_FCM;
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = 9; /* never answers; nothing is sent here */
    o.on_result = no_result;
    apns_client *c = NULL;
    char d[256];
    o.fcm_project_id = "p";
    o.cert_file = "cert.pem"; /* FCM takes access tokens only */
    assert_int_equal(apns_client_new(&c, base, &o, d, sizeof d), APNS_EINVAL);
    assert_non_null(strstr(d, "FCM"));
    o.cert_file = NULL;
    o.tokens = cache;
    o.fcm_project_id = NULL;
    assert_int_equal(apns_client_new(&c, base, &o, d, sizeof d), APNS_EINVAL);
    assert_non_null(strstr(d, "fcm_project_id"));
    o.fcm_project_id = "my/project";
    assert_int_equal(apns_client_new(&c, base, &o, d, sizeof d), APNS_EINVAL);
    o.fcm_project_id = "my-project";
    o.provider = (apns_provider)7;
    assert_int_equal(apns_client_new(&c, base, &o, d, sizeof d), APNS_EINVAL);
    o.provider = APNS_PROVIDER_FCM;
    assert_int_equal(apns_client_new(&c, base, &o, d, sizeof d), 0);

    apns_notification n;
    apns_notification_init(&n);
    n.payload = "{}";
    n.payload_len = 2;
    n.token = "not a token";
    assert_int_equal(apns_client_submit(c, &n), APNS_EFCMTOKEN);
    n.token = "c1:APA91bXYZ"; /* mixed case, not hex: fine for FCM */
    n.payload = "{\"data\":{\"from\":\"x\"}}";
    n.payload_len = strlen(n.payload);
    assert_int_equal(apns_client_submit(c, &n), APNS_EFCMMESSAGE);
    n.payload = "{}";
    n.payload_len = 2;
    assert_int_equal(apns_client_submit(c, &n), 0);
    assert_int_equal(apns_client_pending(c), 1);
    apns_client_free(c);
    apns_token_cache_free(cache);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_messages), cmocka_unit_test(test_good_messages),
        cmocka_unit_test(test_data_limit),   cmocka_unit_test(test_token_rule),
        cmocka_unit_test(test_builder),      cmocka_unit_test(test_body),
        cmocka_unit_test(test_retry_after),  cmocka_unit_test(test_answers),
        cmocka_unit_test(test_retry_waits),  cmocka_unit_test(test_client_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
