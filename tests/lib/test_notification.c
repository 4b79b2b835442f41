/* test_notification.c - apns_notification_validate (every error code, its
 * detail sentence, boundaries, check order), push-type tables, payload
 * limits and apns-id UUIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apns/error.h"
#include "apns/notification.h"
#include "notification_int.h"

#define TOKEN64 "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef"
#define PAYLOAD "{\"aps\":{\"alert\":\"hi\"}}"

static void good(apns_notification *n)
{
    apns_notification_init(n);
    n->token = TOKEN64;
    n->topic = "com.example.app";
    n->payload = PAYLOAD;
    n->payload_len = strlen(PAYLOAD);
}

/* Validates n (require_topic = 1) and checks the code and that the detail
 * contains `want` (when not NULL). */
static void expect(const apns_notification *n, int code, const char *want)
{
    char d[512];
    memset(d, 'X', sizeof d);
    int rc = apns_notification_validate(n, 1, d, sizeof d);
    if (rc != code)
        fail_msg("got %s (%s), want %s", apns_err_name(rc), d, apns_err_name(code));
    assert_non_null(memchr(d, '\0', sizeof d));
    if (code == 0)
        assert_string_equal(d, "");
    if (want != NULL && strstr(d, want) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", d, want);
}

/* A string of n copies of c. Caller frees. */
static char *rep(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_init_defaults(void **state)
{
    (void)state;
    apns_notification n;
    memset(&n, 0x5a, sizeof n);
    apns_notification_init(&n);
    assert_null(n.token);
    assert_null(n.topic);
    assert_int_equal(n.push_type, APNS_PUSH_ALERT);
    assert_int_equal(n.priority, 0);
    assert_int_equal(n.expiration, APNS_EXPIRATION_NONE);
    assert_null(n.collapse_id);
    assert_string_equal(n.apns_id, "");
    assert_null(n.payload);
    assert_int_equal(n.payload_len, 0);
    assert_null(n.user_data);
}

static void test_valid(void **state)
{
    (void)state;
    apns_notification n;
    good(&n);
    expect(&n, 0, NULL);
    assert_int_equal(apns_notification_validate(&n, 0, NULL, 0), 0);
    assert_int_equal(apns_notification_validate(NULL, 1, NULL, 0), APNS_EINVAL);
}

static void test_token(void **state)
{
    (void)state;
    apns_notification n;
    good(&n);

    n.token = NULL;
    expect(&n, APNS_EBADTOKEN, "device token is missing");
    n.token = "";
    expect(&n, APNS_EBADTOKEN, "device token is missing");
    n.token = "zz12";
    expect(&n, APNS_EBADTOKEN, "device token \"zz12\" is not hexadecimal");
    n.token = "0123456789abcdef0123456789abcdeg";
    expect(&n, APNS_EBADTOKEN, "byte 31");
    n.token = "0123456789abcdef 0123456789abcde";
    expect(&n, APNS_EBADTOKEN, "not hexadecimal");

    char *t;
    t = rep('a', 14);
    n.token = t;
    expect(&n, APNS_EBADTOKEN, "has 14 hex characters; it must have 16 to 200");
    free(t);
    t = rep('a', 15);
    n.token = t;
    expect(&n, APNS_EBADTOKEN, "has 15 hex characters");
    free(t);
    t = rep('a', 16);
    n.token = t;
    expect(&n, 0, NULL);
    free(t);
    t = rep('F', 17);
    n.token = t;
    expect(&n, APNS_EBADTOKEN, "odd number of hex characters (17)");
    free(t);
    t = rep('0', 199);
    n.token = t;
    expect(&n, APNS_EBADTOKEN, "odd number");
    free(t);
    t = rep('0', 200);
    n.token = t;
    expect(&n, 0, NULL);
    free(t);
    t = rep('0', 201);
    n.token = t;
    expect(&n, APNS_EBADTOKEN, "has 201 hex characters");
    free(t);
    t = rep('0', 202);
    n.token = t;
    expect(&n, APNS_EBADTOKEN, "has 202 hex characters");
    free(t);

    /* Long and binary values are quoted short and escaped. */
    t = rep('a', 300);
    t[0] = '\x01';
    t[1] = '"';
    n.token = t;
    expect(&n, APNS_EBADTOKEN, "\"\\x01\\\"aaa");
    expect(&n, APNS_EBADTOKEN, "aaa...\" is not hexadecimal");
    free(t);
}

static void test_topic(void **state)
{
    (void)state;
    apns_notification n;
    char d[256];
    good(&n);

    n.topic = NULL;
    expect(&n, APNS_ENOTOPIC, "apns-topic is missing");
    assert_int_equal(apns_notification_validate(&n, 0, d, sizeof d), 0);
    n.topic = "";
    expect(&n, APNS_ENOTOPIC, "apns-topic is missing");
    assert_int_equal(apns_notification_validate(&n, 0, d, sizeof d), APNS_ETOPIC);
    assert_non_null(strstr(d, "apns-topic \"\" is empty"));

    char *t = rep('a', APNS_TOPIC_MAX);
    n.topic = t;
    expect(&n, 0, NULL);
    free(t);
    t = rep('a', APNS_TOPIC_MAX + 1);
    n.topic = t;
    expect(&n, APNS_ETOPIC, "is 256 bytes; at most 255");
    free(t);

    n.topic = "com.example app";
    expect(&n, APNS_ETOPIC, "apns-topic \"com.example app\" has a space at byte 11");
    n.topic = "com.example\tapp";
    expect(&n, APNS_ETOPIC, "\"com.example\\x09app\" has a non-printable byte at byte 11");
    n.topic = "com.\x7f";
    expect(&n, APNS_ETOPIC, "non-printable byte at byte 4");
    n.topic = "com.caf\xc3\xa9";
    expect(&n, APNS_ETOPIC, "non-printable byte at byte 7");
    n.topic = "com.example.app.voip-ptt~!@#";
    expect(&n, 0, NULL);
    /* The topic is checked even when not required. */
    n.topic = "a b";
    assert_int_equal(apns_notification_validate(&n, 0, NULL, 0), APNS_ETOPIC);
}

static void test_push_type_and_priority(void **state)
{
    (void)state;
    apns_notification n;
    good(&n);

    n.push_type = (apns_push_type)APNS_PUSH_TYPE_COUNT;
    expect(&n, APNS_EPUSHTYPE, "apns-push-type 11 is not one of the 11");
    n.push_type = (apns_push_type)-1;
    expect(&n, APNS_EPUSHTYPE, "apns-push-type -1");
    n.push_type = APNS_PUSH_ALERT;

    int ok[] = {0, 1, 5, 10};
    for (size_t i = 0; i < 4; i++) {
        n.priority = ok[i];
        expect(&n, 0, NULL);
    }
    int bad[] = {-1, 2, 3, 4, 6, 9, 11, 100};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        n.priority = bad[i];
        snprintf(want, sizeof want, "apns-priority %d is not 10, 5 or 1", bad[i]);
        expect(&n, APNS_EPRIORITY, want);
    }

    n.push_type = APNS_PUSH_BACKGROUND;
    n.priority = 10;
    expect(&n, APNS_EBGPRIORITY, "apns-priority 10 is not allowed for push type background");
    n.priority = 0;
    expect(&n, APNS_EBGPRIORITY, "omitted (APNs default 10)");
    n.priority = 5;
    expect(&n, 0, NULL);
    n.priority = 1;
    expect(&n, 0, NULL);
    n.priority = 7;
    expect(&n, APNS_EPRIORITY, NULL); /* a bad priority is reported as such first */
}

static void test_collapse_id(void **state)
{
    (void)state;
    apns_notification n;
    good(&n);
    n.collapse_id = "";
    expect(&n, 0, NULL);
    char *c = rep('c', APNS_COLLAPSE_ID_MAX);
    n.collapse_id = c;
    expect(&n, 0, NULL);
    free(c);
    c = rep('c', APNS_COLLAPSE_ID_MAX + 1);
    n.collapse_id = c;
    expect(&n, APNS_ECOLLAPSEID, "apns-collapse-id \"cccc");
    expect(&n, APNS_ECOLLAPSEID, "is 65 bytes; at most 64");
    free(c);
    /* 64 bytes of UTF-8 (32 two-byte characters) is fine: the limit is bytes. */
    char u[APNS_COLLAPSE_ID_MAX + 3];
    for (int i = 0; i < 32; i++)
        memcpy(u + 2 * i, "\xc3\xa9", 2);
    u[64] = '\0';
    n.collapse_id = u;
    expect(&n, 0, NULL);
    memcpy(u + 64, "x", 2);
    expect(&n, APNS_ECOLLAPSEID, "65 bytes");
    /* A header value (RFC 9113 section 8.2.1; RFC 9110 section 5.5): no CR,
     * LF or other control character but an inner HTAB, no leading or
     * trailing SP / HTAB. nghttp2 resets a stream that carries one. */
    static const struct {
        const char *v, *why;
    } refused[] = {
        {"a\r\nx-evil: 1", "a control character at byte 1"},
        {"a\nb", "a control character at byte 1"},
        {"a\rb", "a control character at byte 1"},
        {"\x01", "a control character at byte 0"},
        {"a\x1f", "a control character at byte 1"},
        {"a\x7f", "a control character at byte 1"},
        {" a", "a blank at byte 0"},
        {"a ", "a blank at byte 1"},
        {"\ta", "a blank at byte 0"},
        {"a\t", "a blank at byte 1"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        n.collapse_id = refused[i].v;
        expect(&n, APNS_ECOLLAPSEID, refused[i].why);
    }
    n.collapse_id = "a\tb c";
    expect(&n, 0, NULL);
}

static void test_apns_id(void **state)
{
    (void)state;
    apns_notification n;
    good(&n);
    strcpy(n.apns_id, "123e4567-e89b-12d3-a456-4266554400a0");
    expect(&n, 0, NULL);
    strcpy(n.apns_id, "123E4567-E89B-12D3-A456-4266554400A0");
    expect(&n, 0, NULL);
    strcpy(n.apns_id, "xyz");
    expect(&n, APNS_EAPNSID, "apns-id \"xyz\" is not a canonical UUID");
    strcpy(n.apns_id, "123e4567e89b12d3a4564266554400a0");
    expect(&n, APNS_EAPNSID, NULL);
    /* No NUL within the array: rejected, not overread. */
    memset(n.apns_id, 'a', sizeof n.apns_id);
    expect(&n, APNS_EAPNSID, "apns-id \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is not");
}

static void test_expiration(void **state)
{
    (void)state;
    apns_notification n;
    good(&n);
    int64_t ok[] = {APNS_EXPIRATION_NONE, 0, 1, 1700000000, INT64_MAX};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        n.expiration = ok[i];
        expect(&n, 0, NULL);
    }
    n.expiration = -2;
    expect(&n, APNS_EEXPIRATION, "apns-expiration -2 is negative");
    n.expiration = INT64_MIN;
    expect(&n, APNS_EEXPIRATION, "-9223372036854775808");
}

/* A valid object of exactly len bytes: {"aps":{"alert":"aaa..."}}. */
static char *payload_of(size_t len)
{
    static const char head[] = "{\"aps\":{\"alert\":\"", tail[] = "\"}}";
    char *s = malloc(len + 1);
    size_t h = sizeof head - 1, t = sizeof tail - 1;
    memcpy(s, head, h);
    memset(s + h, 'a', len - h - t);
    memcpy(s + len - t, tail, t + 1);
    return s;
}

static void test_payload(void **state)
{
    (void)state;
    apns_notification n;
    good(&n);

    n.payload = NULL;
    n.payload_len = 10;
    expect(&n, APNS_EPAYLOADEMPTY, "payload is empty");
    n.payload = "{}";
    n.payload_len = 0;
    expect(&n, APNS_EPAYLOADEMPTY, "payload is empty");

    n.payload = "[]";
    n.payload_len = 2;
    expect(&n, APNS_ENOTOBJECT, "payload is not a JSON object: top-level value is not an object");
    n.payload = "{\"a\":01}";
    n.payload_len = 8;
    expect(&n, APNS_ENOTOBJECT, "leading zero in number at byte 6");
    n.payload = "{\"a\":1}";
    n.payload_len = 6; /* not NUL-terminated at len: len counts */
    expect(&n, APNS_ENOTOBJECT, "end of input");
    n.payload = "{}";
    n.payload_len = 2;
    expect(&n, 0, NULL);

    char *p = payload_of(APNS_PAYLOAD_MAX);
    n.payload = p;
    n.payload_len = APNS_PAYLOAD_MAX;
    assert_int_equal(strlen(p), 4096);
    expect(&n, 0, NULL);
    free(p);

    p = payload_of(APNS_PAYLOAD_MAX + 1);
    n.payload = p;
    n.payload_len = APNS_PAYLOAD_MAX + 1;
    expect(&n, APNS_ETOOBIG, "payload is 4097 bytes; push type alert allows at most 4096");
    n.push_type = APNS_PUSH_VOIP;
    expect(&n, 0, NULL);
    n.push_type = APNS_PUSH_BACKGROUND;
    n.priority = 5;
    expect(&n, APNS_ETOOBIG, "push type background allows at most 4096");
    free(p);

    n.push_type = APNS_PUSH_VOIP;
    n.priority = 0;
    p = payload_of(APNS_PAYLOAD_MAX_VOIP);
    n.payload = p;
    n.payload_len = APNS_PAYLOAD_MAX_VOIP;
    expect(&n, 0, NULL);
    n.push_type = APNS_PUSH_ALERT;
    expect(&n, APNS_ETOOBIG, "payload is 5120 bytes");
    free(p);
    n.push_type = APNS_PUSH_VOIP;
    p = payload_of(APNS_PAYLOAD_MAX_VOIP + 1);
    n.payload = p;
    n.payload_len = APNS_PAYLOAD_MAX_VOIP + 1;
    expect(&n, APNS_ETOOBIG, "payload is 5121 bytes; push type voip allows at most 5120");

    /* Order: a big payload that is also not an object is ENOTOBJECT. */
    p[0] = '[';
    expect(&n, APNS_ENOTOBJECT, NULL);
    free(p);
}

/* Everything wrong at once; fixing the reported field each time walks the
 * documented order. */
static void test_check_order(void **state)
{
    (void)state;
    apns_notification n;
    apns_notification_init(&n);
    n.token = "nothex";
    n.topic = NULL;
    n.push_type = (apns_push_type)99;
    n.priority = 3;
    n.collapse_id = "0123456789012345678901234567890123456789012345678901234567890123456789";
    strcpy(n.apns_id, "bad");
    n.expiration = -5;
    n.payload = NULL;

    expect(&n, APNS_EBADTOKEN, NULL);
    n.token = TOKEN64;
    expect(&n, APNS_ENOTOPIC, NULL);
    n.topic = "bad topic";
    expect(&n, APNS_ETOPIC, NULL);
    n.topic = "com.example.app";
    expect(&n, APNS_EPUSHTYPE, NULL);
    n.push_type = APNS_PUSH_BACKGROUND;
    expect(&n, APNS_EPRIORITY, NULL);
    n.priority = 10;
    expect(&n, APNS_EBGPRIORITY, NULL);
    n.priority = 5;
    expect(&n, APNS_ECOLLAPSEID, NULL);
    n.collapse_id = "c";
    expect(&n, APNS_EAPNSID, NULL);
    n.apns_id[0] = '\0';
    expect(&n, APNS_EEXPIRATION, NULL);
    n.expiration = 0;
    expect(&n, APNS_EPAYLOADEMPTY, NULL);
    n.payload = "[1]";
    n.payload_len = 3;
    expect(&n, APNS_ENOTOBJECT, NULL);
    char *p = payload_of(APNS_PAYLOAD_MAX + 1);
    n.payload = p;
    n.payload_len = APNS_PAYLOAD_MAX + 1;
    expect(&n, APNS_ETOOBIG, NULL);
    n.payload_len = APNS_PAYLOAD_MAX;
    p[APNS_PAYLOAD_MAX - 3] = '"';
    p[APNS_PAYLOAD_MAX - 2] = '}';
    p[APNS_PAYLOAD_MAX - 1] = '}';
    expect(&n, 0, NULL);
    free(p);
}

static void test_detail_buffer(void **state)
{
    (void)state;
    apns_notification n;
    good(&n);
    n.token = "zz12";

    char d[8];
    memset(d, 'X', sizeof d);
    assert_int_equal(apns_notification_validate(&n, 1, d, sizeof d), APNS_EBADTOKEN);
    assert_string_equal(d, "device "); /* truncated, NUL-terminated */

    d[0] = 'X';
    assert_int_equal(apns_notification_validate(&n, 1, d, 0), APNS_EBADTOKEN);
    assert_int_equal(d[0], 'X'); /* length 0: untouched */

    assert_int_equal(apns_notification_validate(&n, 1, NULL, 100), APNS_EBADTOKEN);

    /* A stale detail is cleared by a successful validation. */
    char big[128];
    assert_int_equal(apns_notification_validate(&n, 1, big, sizeof big), APNS_EBADTOKEN);
    n.token = TOKEN64;
    assert_int_equal(apns_notification_validate(&n, 1, big, sizeof big), 0);
    assert_string_equal(big, "");
}

static void test_push_types(void **state)
{
    (void)state;
    static const struct {
        apns_push_type t;
        const char *name, *suffix;
    } want[] = {
        {APNS_PUSH_ALERT, "alert", ""},
        {APNS_PUSH_BACKGROUND, "background", ""},
        {APNS_PUSH_LOCATION, "location", ".location-query"},
        {APNS_PUSH_VOIP, "voip", ".voip"},
        {APNS_PUSH_COMPLICATION, "complication", ".complication"},
        {APNS_PUSH_FILEPROVIDER, "fileprovider", ".pushkit.fileprovider"},
        {APNS_PUSH_MDM, "mdm", ""},
        {APNS_PUSH_LIVEACTIVITY, "liveactivity", ".push-type.liveactivity"},
        {APNS_PUSH_PUSHTOTALK, "pushtotalk", ".voip-ptt"},
        {APNS_PUSH_CONTROLS, "controls", ".push-type.controls"},
        {APNS_PUSH_WIDGETS, "widgets", ".push-type.widgets"},
    };
    assert_int_equal(sizeof want / sizeof want[0], APNS_PUSH_TYPE_COUNT);
    assert_int_equal(APNS_PUSH_TYPE_COUNT, 11);
    for (size_t i = 0; i < APNS_PUSH_TYPE_COUNT; i++) {
        assert_int_equal(want[i].t, (apns_push_type)i);
        assert_string_equal(apns_push_type_name(want[i].t), want[i].name);
        assert_string_equal(apns_push_type_topic_suffix(want[i].t), want[i].suffix);
        apns_push_type got = (apns_push_type)-1;
        assert_int_equal(apns_push_type_parse(want[i].name, &got), 0);
        assert_int_equal(got, want[i].t);
        assert_int_equal(apns_push_type_parse(apns_push_type_name(got), NULL), 0);
        assert_int_equal(apns_payload_limit(want[i].t), want[i].t == APNS_PUSH_VOIP ? 5120 : 4096);
    }
    assert_null(apns_push_type_name(APNS_PUSH_TYPE_COUNT));
    assert_null(apns_push_type_name((apns_push_type)-1));
    assert_null(apns_push_type_topic_suffix(APNS_PUSH_TYPE_COUNT));
    assert_null(apns_push_type_topic_suffix((apns_push_type)-1));

    apns_push_type t = APNS_PUSH_WIDGETS;
    const char *bad[] = {"", "Alert", "ALERT", "alert ", " alert", "alerts", "voip-ptt", "push"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(apns_push_type_parse(bad[i], &t), APNS_EPUSHTYPE);
        assert_int_equal(t, APNS_PUSH_WIDGETS); /* untouched on failure */
    }
    assert_int_equal(apns_push_type_parse(NULL, &t), APNS_EPUSHTYPE);
}

/* A broadcast publish (§4.3): every rule of apns/notification.h, in order. */
#define BC_PAYLOAD "{\"aps\":{\"timestamp\":1,\"event\":\"update\",\"content-state\":{}}}"
static void good_bc(apns_notification *n)
{
    apns_notification_init(n);
    n->channel_id = "dHdmLWJyb2FkY2FzdC1jaGFubmVs";
    n->topic = "com.example.app";
    n->push_type = APNS_PUSH_LIVEACTIVITY;
    n->priority = 10;
    n->expiration = 0;
    n->payload = BC_PAYLOAD;
    n->payload_len = strlen(BC_PAYLOAD);
}

static void test_broadcast(void **state)
{
    (void)state;
    apns_notification n;
    good_bc(&n);
    expect(&n, 0, NULL);
    n.token = TOKEN64;
    expect(&n, APNS_EINVAL, "both a device token and a channel id");
    good_bc(&n);
    n.channel_id = "";
    expect(&n, APNS_ECHANNELID, "apns-channel-id is empty");
    n.channel_id = "not base64!";
    expect(&n, APNS_ECHANNELID, "is not base64 (byte 3)");
    char *longid = rep('A', APNS_CHANNEL_ID_MAX + 1);
    n.channel_id = longid;
    expect(&n, APNS_ECHANNELID, "at most 255");
    longid[APNS_CHANNEL_ID_MAX] = '\0';
    expect(&n, 0, NULL);
    free(longid);
    good_bc(&n);
    n.topic = NULL;
    expect(&n, APNS_ENOTOPIC, "/4/broadcasts/apps/<bundle id>");
    n.topic = "com.example.app.push-type.liveactivity";
    expect(&n, APNS_ETOPIC, "takes no push-type suffix");
    good_bc(&n);
    n.push_type = APNS_PUSH_ALERT;
    expect(&n, APNS_EPUSHTYPE, "must be liveactivity for a broadcast, not alert");
    good_bc(&n);
    n.priority = 0;
    expect(&n, APNS_EPRIORITY, "a broadcast requires 10, 5 or 1");
    n.priority = 5;
    expect(&n, 0, NULL);
    n.priority = 1;
    expect(&n, 0, NULL);
    good_bc(&n);
    n.expiration = APNS_EXPIRATION_NONE;
    expect(&n, APNS_EEXPIRATION, "apns-expiration is required for a broadcast");
    n.expiration = 1700000000;
    expect(&n, 0, NULL);
    good_bc(&n);
    n.collapse_id = "x";
    expect(&n, APNS_ECOLLAPSEID, "a broadcast has no apns-collapse-id");
    good_bc(&n);
    strcpy(n.apns_id, "not-a-uuid");
    expect(&n, APNS_EAPNSID, "apns-request-id \"not-a-uuid\"");
    good_bc(&n);
    n.payload_len = 0;
    expect(&n, APNS_EPAYLOADEMPTY, "payload is empty");
    /* 5120 bytes are allowed, 5121 are not (not the 4096 of a device push) */
    char *big = malloc(5200);
    int len = snprintf(big, 5200, "{\"aps\":{\"timestamp\":1,\"event\":\"end\"},\"pad\":\"");
    memset(big + len, 'x', 5120 - (size_t)len - 2);
    memcpy(big + 5118, "\"}", 2);
    n.payload = big;
    n.payload_len = 5120;
    expect(&n, 0, NULL);
    n.payload_len = 5121;
    big[5120] = ' ';
    expect(&n, APNS_ETOOBIG, "a broadcast allows at most 5120");
    free(big);
    /* a broadcast cannot start an activity; the payload must be a Live Activity one */
    good_bc(&n);
    static const char start[] =
        "{\"aps\":{\"timestamp\":1,\"event\":\"start\",\"content-state\":{},"
        "\"attributes-type\":\"T\",\"attributes\":{},\"alert\":\"x\"}}";
    n.payload = start;
    n.payload_len = strlen(start);
    expect(&n, APNS_ELIVEACTIVITY, "broadcast pushes cannot start");
    n.payload = PAYLOAD;
    n.payload_len = strlen(PAYLOAD);
    expect(&n, APNS_ELIVEACTIVITY, "aps.timestamp is missing");
}

static void test_uuid_is_valid(void **state)
{
    (void)state;
    const char *ok[] = {
        "123e4567-e89b-12d3-a456-4266554400a0",
        "123E4567-E89B-12D3-A456-4266554400A0",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-FFFF-ffff-FFFF-ffffffffffff",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(apns_uuid_is_valid(ok[i]), 1);
    const char *bad[] = {
        "",
        "123e4567-e89b-12d3-a456-4266554400a",   /* 35 */
        "123e4567-e89b-12d3-a456-4266554400a00", /* 37 */
        "123e4567-e89b-12d3-a456-4266554400a0\n",
        "123e4567e89b-12d3-a456-4266554400a0-", /* dash moved */
        "123e4567-e89b-12d3-a4564-266554400a0",
        "123e4567_e89b_12d3_a456_4266554400a0",
        "123e4567-e89b-12d3-a456-4266554400ag", /* non-hex */
        "g23e4567-e89b-12d3-a456-4266554400a0",
        "123e4567e89b12d3a4564266554400a0",       /* no dashes */
        "{123e4567-e89b-12d3-a456-4266554400a0}", /* braces */
        " 123e4567-e89b-12d3-a456-4266554400a0",
        "123e4567-e89b-12d3-a456-42665544\0000a0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (apns_uuid_is_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(apns_uuid_is_valid(NULL), 0);
    /* Every byte at every position: a digit position takes exactly
     * 0-9a-fA-F, a dash position exactly '-' (RFC 9562, section 4). */
    for (int pos = 0; pos < APNS_UUID_LEN; pos++) {
        int dash = pos == 8 || pos == 13 || pos == 18 || pos == 23;
        for (int c = 1; c < 256; c++) {
            char u[APNS_UUID_LEN + 1] = "123e4567-e89b-12d3-a456-4266554400a0";
            u[pos] = (char)c;
            int want = dash ? c == '-' : strchr("0123456789abcdefABCDEF", c) != NULL;
            if (apns_uuid_is_valid(u) != want)
                fail_msg("byte 0x%02x at position %d: %s", c, pos, want ? "refused" : "accepted");
        }
    }
}

static void test_uuid_generate(void **state)
{
    (void)state;
    char prev[APNS_UUID_LEN + 1] = "";
    for (int i = 0; i < 1000; i++) {
        char u[APNS_UUID_LEN + 2];
        u[APNS_UUID_LEN + 1] = 'Z'; /* writes exactly 37 bytes */
        assert_int_equal(apns_uuid_generate(u), 0);
        assert_int_equal(u[APNS_UUID_LEN + 1], 'Z');
        assert_int_equal(strlen(u), APNS_UUID_LEN);
        assert_int_equal(apns_uuid_is_valid(u), 1);
        for (int j = 0; j < APNS_UUID_LEN; j++)
            assert_true(u[j] == '-' || (u[j] >= '0' && u[j] <= '9') ||
                        (u[j] >= 'a' && u[j] <= 'f')); /* lower-case */
        assert_int_equal(u[14], '4');                  /* version 4 */
        assert_non_null(strchr("89ab", u[19]));        /* RFC 4122 variant */
        assert_string_not_equal(u, prev);
        memcpy(prev, u, sizeof prev);

        /* A generated id validates inside a notification. */
        apns_notification n;
        good(&n);
        memcpy(n.apns_id, u, sizeof n.apns_id);
        assert_int_equal(apns_notification_validate(&n, 1, NULL, 0), 0);
    }
}

/* apns_uuid_generate_v7: RFC 9562 section 5.7 - unix_ts_ms in the first
 * 48 bits (big-endian), version 7, the variant bits, the rest random. The
 * RFC's example (appendix A.6): 2022-02-22 19:22:22 UTC is 0x017F22E279B0
 * ms, so its id starts "017f22e2-79b0-7". Ids of later milliseconds sort
 * after earlier ones as text (what the queue's index relies on). */
static void test_uuid_generate_v7(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *prefix;
    } rows[] = {
        {0x017F22E279B0ll, "017f22e2-79b0-7"},
        {0, "00000000-0000-7"},
        {1, "00000000-0001-7"},
        {0xffffffffffffll, "ffffffff-ffff-7"},
        {1764092701123ll, "019abc1e-69c3-7"}, /* 2025-11-25T17:45:01.123Z */
    };
    char u[APNS_UUID_LEN + 2], prev[APNS_UUID_LEN + 1] = "";
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        u[APNS_UUID_LEN + 1] = 'Z';
        assert_int_equal(apns_uuid_generate_v7(u, rows[i].ms), 0);
        assert_int_equal(u[APNS_UUID_LEN + 1], 'Z'); /* 37 bytes written */
        assert_memory_equal(u, rows[i].prefix, strlen(rows[i].prefix));
        assert_non_null(strchr("89ab", u[19])); /* RFC 9562 variant */
        assert_int_equal(apns_uuid_is_valid(u), 1);
    }
    for (int64_t ms = 1764092701000ll; ms < 1764092701000ll + 300; ms++) {
        assert_int_equal(apns_uuid_generate_v7(u, ms), 0);
        if (strcmp(prev, u) >= 0)
            fail_msg("v7 id of ms %lld (%s) does not sort after the previous ms's (%s)",
                     (long long)ms, u, prev);
        memcpy(prev, u, sizeof prev);
        char again[APNS_UUID_LEN + 1]; /* same ms: the random part differs */
        assert_int_equal(apns_uuid_generate_v7(again, ms), 0);
        assert_memory_equal(again, u, 15);
        assert_string_not_equal(again, u);
    }
    static const int64_t bad[] = {-1, 0x1000000000000ll, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(u, "x");
        assert_int_equal(apns_uuid_generate_v7(u, bad[i]), APNS_EINVAL);
        assert_string_equal(u, "");
    }
}

/* apns__uuid_format: RFC 4122 section 4.4 - the bytes in order as hex,
 * 8-4-4-4-12, the version nibble (4) over byte 6's high nibble and the
 * variant bits (10) over byte 8's top two; every byte value renders as its
 * two lower-case digits. */
static void test_uuid_format(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[16];
        const char *want;
    } rows[] = {
        {{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
          0xff},
         "00112233-4455-4677-8899-aabbccddeeff"},
        {{0}, "00000000-0000-4000-8000-000000000000"},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff},
         "ffffffff-ffff-4fff-bfff-ffffffffffff"},
        {{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0x64, 0x56, 0x42, 0x66, 0x55, 0x44, 0x00,
          0xa0},
         "123e4567-e89b-42d3-a456-4266554400a0"},
    };
    char u[APNS_UUID_LEN + 2];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        u[APNS_UUID_LEN + 1] = 'Z';
        apns__uuid_format(rows[i].b, u);
        assert_string_equal(u, rows[i].want);
        assert_int_equal(u[APNS_UUID_LEN + 1], 'Z'); /* 37 bytes written */
    }
    for (int v = 0; v < 256; v++) {
        uint8_t b[16] = {0};
        b[0] = b[15] = (uint8_t)v;
        char want[3];
        snprintf(want, sizeof want, "%02x", v);
        apns__uuid_format(b, u);
        assert_memory_equal(u, want, 2);
        assert_memory_equal(u + 34, want, 2);
        assert_int_equal(apns_uuid_is_valid(u), 1);
    }
}

/* Ids come from a per-thread random buffer: a forked child must not replay
 * the ids its parent is about to mint from the same buffer. */
static void test_uuid_generate_after_fork(void **state)
{
    (void)state;
    char parent[APNS_UUID_LEN + 1], child[APNS_UUID_LEN + 1] = "";
    assert_int_equal(apns_uuid_generate(parent), 0); /* the buffer is now filled */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[APNS_UUID_LEN + 1];
        _exit(apns_uuid_generate(id) == 0 && write(fds[1], id, sizeof id) == sizeof id ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(apns_uuid_generate(parent), 0); /* the parent's next id */
    assert_true(apns_uuid_is_valid(child));
    assert_string_not_equal(parent, child);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_defaults),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_topic),
        cmocka_unit_test(test_push_type_and_priority),
        cmocka_unit_test(test_collapse_id),
        cmocka_unit_test(test_apns_id),
        cmocka_unit_test(test_expiration),
        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_detail_buffer),
        cmocka_unit_test(test_push_types),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_uuid_is_valid),
        cmocka_unit_test(test_uuid_generate),
        cmocka_unit_test(test_uuid_format),
        cmocka_unit_test(test_uuid_generate_after_fork),
        cmocka_unit_test(test_uuid_generate_v7),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
