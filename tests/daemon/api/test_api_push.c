/*
 * test_api_push.c - gw_push_parse(): every accepted shape of a POST /v1/push
 * body, every rejection as one table row (body -> status, code, field), the
 * token scanner agreeing with jansson's slow path, and the cost of parsing a
 * 1,000,000-token broadcast (printed, never asserted).
 *
 * "@T1@" .. in a table body stand for valid 64-hex tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "api.h"
#include "apnsd_keys.h"
#include "golden.h"
#include "queue_keys.h"

#define SHOP_KEY  "shop-key-0123456789abcdef"
#define SHOP_KEY2 "shop-key-second-000000000"
#define NEWS_KEY  "news-key-0123456789abcdef"

#define T1 "0000000000000000000000000000000000000000000000000000000000000001"
#define T2 "00000000000000000000000000000000000000000000000000000000000000a2"
#define T3 "ABCDEF0000000000000000000000000000000000000000000000000000000003"

static char dir[64];
static gw_config *cfg;     /* max_tokens = 5 */
static gw_config *big_cfg; /* max_tokens = 1000000 */
static gw_config *all_cfg; /* shop lists every suffixed topic of push-types.tsv */
static golden_table push_types, live_activity;

static gw_config *load_topics(const char *server, const char *topics)
{
    char text[4096];
    gw_config_errors e;
    gw_config *c = NULL;

    snprintf(text, sizeof text,
             "[server]\n%s"
             "[app shop]\n"
             "topic = com.example.shop\n"
             "topics = %s\n"
             "environment = sandbox\n"
             "key_file = %s/AuthKey.p8\n"
             "key_id = ABC123DEFG\n"
             "team_id = DEF123GHIJ\n"
             "api_keys = " SHOP_KEY ", " SHOP_KEY2 "\n"
             "[app news]\n"
             "topic = com.example.news\n"
             "environment = sandbox\n"
             "key_file = %s/AuthKey.p8\n"
             "key_id = ABC123DEFG\n"
             "team_id = DEF123GHIJ\n"
             "api_keys = " NEWS_KEY "\n"
             "[app droid]\n"
             "provider = fcm\n"
             "service_account_file = %s/sa.json\n"
             "api_keys = " SHOP_KEY "\n",
             server, topics, dir, dir, dir);
    if (gw_config_load_string(&gw_apnsd_schema, text, "apnsd.ini", &c, &e) != 0) {
        gw_config_errors_print(&e, stderr);
        fail_msg("config does not load");
    }
    return c;
}

static gw_config *load(const char *server)
{
    return load_topics(server, "com.example.shop.voip, com.example.shop.alt");
}

static int group_setup(void **state)
{
    char path[128], topics[1024] = "com.example.shop.alt", err[256];
    FILE *f;

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/apnsd-api-push-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/AuthKey.p8", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("not parsed by the config loader\n", f);
    fclose(f);
    chmod(path, 0600); /* a key every user may read is refused (insecure_secrets) */
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "cp '%s/fcm/sa-demo.json' '%s/sa.json' && chmod 600 '%s/sa.json'",
                 getenv("APNS_TEST_CERTS"), dir, dir);
        assert_non_null(getenv("APNS_TEST_CERTS"));
        assert_int_equal(system(cmd), 0);
    }
    cfg = load("max_tokens = 5\n");
    big_cfg = load("max_tokens = 1000000\n");
    /* Every suffixed topic Apple's table names (push-types.tsv). */
    if (golden_load(&push_types, "push-types.tsv", err, sizeof err) != 0 ||
        golden_load(&live_activity, "live-activity.tsv", err, sizeof err) != 0)
        fail_msg("%s", err);
    for (size_t i = 0; i < push_types.nrows; i++) {
        const char *sfx = golden_cell(&push_types, i, "topic_suffix");
        if (strcmp(sfx, "-") != 0)
            snprintf(topics + strlen(topics), sizeof topics - strlen(topics),
                     "\ntopics = com.example.shop%s", sfx);
    }
    all_cfg = load_topics("max_tokens = 5\n", topics);
    return 0;
}

static int group_teardown(void **state)
{
    char path[128];

    (void)state;
    gw_config_free(cfg);
    gw_config_free(big_cfg);
    gw_config_free(all_cfg);
    golden_free(&push_types);
    golden_free(&live_activity);
    snprintf(path, sizeof path, "%s/AuthKey.p8", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/sa.json", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

/* Replaces @T1@ @T2@ @T3@ with the tokens. Caller frees. */
static char *expand(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n * 20 + 1);

    assert_non_null(out);
    for (size_t i = 0; i < n;) {
        if (strncmp(s + i, "@T", 2) == 0 && s[i + 2] >= '1' && s[i + 2] <= '3' && s[i + 3] == '@') {
            const char *t = s[i + 2] == '1' ? T1 : s[i + 2] == '2' ? T2 : T3;
            memcpy(out + o, t, 64);
            o += 64;
            i += 4;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    return out;
}

static int parse_in(const gw_config *c, const char *text, const char *key, gw_push_request *r,
                    gw_api_error *e)
{
    char *b = expand(text);
    int rc = gw_push_parse(b, strlen(b), c, key, r, e);
    free(b);
    return rc;
}

static int parse(const char *text, const char *key, gw_push_request *r, gw_api_error *e)
{
    char *b = expand(text);
    int rc = gw_push_parse(b, strlen(b), cfg, key, r, e);
    free(b);
    return rc;
}

static void ok(const char *text, gw_push_request *r)
{
    gw_api_error e;
    if (parse(text, SHOP_KEY, r, &e) != 0)
        fail_msg("rejected %s: %d %s %s: %s", text, e.status, e.code, e.field, e.message);
}

static void token_hex(const gw_token_list *l, size_t i, char out[APNS_TOKEN_HEX_MAX + 1])
{
    size_t rec = 0;
    for (size_t k = 0; k < i; k++)
        rec += 1 + l->buf[rec];
    gw_token_to_hex(l->buf + rec + 1, l->buf[rec], out);
}

static void payload_is(const gw_push_item *it, const char *want)
{
    assert_int_equal(it->job.payload_len, strlen(want));
    assert_memory_equal(it->job.payload, want, strlen(want));
}

/* ---- accepted bodies ------------------------------------------------------ */

static void single_minimal(void **state)
{
    gw_push_request r;
    char hex[APNS_TOKEN_HEX_MAX + 1];

    (void)state;
    ok("{\"app\":\"shop\",\"token\":\"@T1@\",\"alert\":\"hi\"}", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.batch, 0);
    assert_string_equal(r.items[0].job.app, "shop");
    assert_string_equal(r.items[0].job.topic, "com.example.shop");
    assert_int_equal(r.items[0].job.push_type, APNS_PUSH_ALERT);
    assert_int_equal(r.items[0].job.priority, 0);
    assert_int_equal(r.items[0].job.expiration, APNS_EXPIRATION_NONE);
    assert_null(r.items[0].job.collapse_id);
    assert_null(r.items[0].job.apns_id);
    assert_int_equal(r.items[0].job.send_at_ms, 0);
    assert_int_equal(r.items[0].n_tokens, 1);
    assert_int_equal(r.items[0].job.tokens.count, 1);
    token_hex(&r.items[0].job.tokens, 0, hex);
    assert_string_equal(hex, T1);
    payload_is(&r.items[0], "{\"aps\":{\"alert\":\"hi\"}}");
    gw_push_request_free(&r);
}

static void single_every_field(void **state)
{
    gw_push_request r;
    char hex[APNS_TOKEN_HEX_MAX + 1];

    (void)state;
    ok("{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T3@\"],\"push_type\":\"alert\",\"priority\":5,"
       "\"expiration\":1700000000,\"collapse_id\":\"c-1\","
       "\"apns_id\":\"0F1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0\",\"topic\":\"com.example.shop.alt\","
       "\"send_at\":1800000000,"
       "\"alert\":{\"title\":\"T\",\"subtitle\":\"S\",\"body\":\"B\"},\"badge\":3,"
       "\"sound\":\"default\",\"category\":\"cat\",\"thread_id\":\"th\","
       "\"content_available\":true,\"mutable_content\":1,\"interruption_level\":\"active\","
       "\"relevance_score\":0.5,\"custom\":{\"order\":{\"id\":42},\"tags\":[1,\"x\"]}}",
       &r);
    assert_int_equal(r.n, 1);
    const gw_job *j = &r.items[0].job;
    assert_int_equal(j->priority, 5);
    assert_int_equal(j->expiration, 1700000000);
    assert_string_equal(j->collapse_id, "c-1");
    assert_string_equal(j->apns_id, "0F1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0");
    assert_string_equal(j->topic, "com.example.shop.alt");
    assert_int_equal(j->send_at_ms, 1800000000000LL);
    assert_int_equal(j->tokens.count, 2);
    token_hex(&j->tokens, 1, hex);
    assert_string_equal(hex, "abcdef0000000000000000000000000000000000000000000000000000000003");
    payload_is(&r.items[0],
               "{\"aps\":{\"alert\":{\"title\":\"T\",\"subtitle\":\"S\",\"body\":\"B\"},"
               "\"badge\":3,\"sound\":\"default\",\"category\":\"cat\",\"thread-id\":\"th\","
               "\"content-available\":1,\"mutable-content\":1,\"interruption-level\":\"active\","
               "\"relevance-score\":0.5},\"order\":{\"id\":42},\"tags\":[1,\"x\"]}");
    gw_push_request_free(&r);
}

/* The largest times the API takes, and a header value with an inner HTAB
 * and non-ASCII bytes (both allowed by RFC 9113 section 8.2.1). */
static void bounds_accepted(void **state)
{
    gw_push_request r;

    (void)state;
    ok("{\"app\":\"shop\",\"token\":\"@T1@\",\"alert\":\"x\",\"expiration\":253402300799,"
       "\"send_at\":253402300799,\"collapse_id\":\"a\\tb \\u00e9\"}",
       &r);
    assert_int_equal(r.items[0].job.expiration, 253402300799LL);
    assert_int_equal(r.items[0].job.send_at_ms, 253402300799000LL);
    assert_string_equal(r.items[0].job.collapse_id, "a\tb \xc3\xa9");
    gw_push_request_free(&r);
}

static void raw_payload_and_defaults(void **state)
{
    gw_push_request r;

    (void)state;
    /* The raw payload is re-serialised compactly, keys in their order. */
    ok("{ \"payload\" : { \"aps\" : { \"content-available\" : 1 }, \"k\" : [ 1 , 2 ] },"
       "  \"push_type\":\"background\", \"tokens\":[\"@T2@\"], \"app\":\"shop\" }",
       &r);
    payload_is(&r.items[0], "{\"aps\":{\"content-available\":1},\"k\":[1,2]}");
    assert_int_equal(r.items[0].job.push_type, APNS_PUSH_BACKGROUND);
    assert_int_equal(r.items[0].job.priority, 5); /* APNs requires 5 or 1 for background */
    gw_push_request_free(&r);

    /* voip: the default topic gets the push type's suffix when the app lists it. */
    ok("{\"app\":\"shop\",\"token\":\"@T1@\",\"push_type\":\"voip\",\"payload\":{\"x\":1}}", &r);
    assert_string_equal(r.items[0].job.topic, "com.example.shop.voip");
    gw_push_request_free(&r);

    /* null is absent. */
    ok("{\"app\":\"shop\",\"token\":\"@T1@\",\"alert\":\"x\",\"topic\":null,\"badge\":null}", &r);
    assert_string_equal(r.items[0].job.topic, "com.example.shop");
    payload_is(&r.items[0], "{\"aps\":{\"alert\":\"x\"}}");
    gw_push_request_free(&r);

    /* sound as the critical-alert dictionary. */
    ok("{\"app\":\"shop\",\"token\":\"@T1@\",\"sound\":{\"critical\":true,\"name\":\"a.caf\","
       "\"volume\":0.25}}",
       &r);
    payload_is(&r.items[0],
               "{\"aps\":{\"sound\":{\"critical\":1,\"name\":\"a.caf\",\"volume\":0.25}}}");
    gw_push_request_free(&r);
}

static void batch(void **state)
{
    gw_push_request r;
    char hex[APNS_TOKEN_HEX_MAX + 1];

    (void)state;
    ok("{\"notifications\":[{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T2@\"],\"alert\":\"a\"},"
       "{\"app\":\"shop\",\"token\":\"@T3@\",\"badge\":0}]}",
       &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.batch, 1);
    assert_int_equal(r.items[0].n_tokens, 2);
    assert_int_equal(r.items[1].n_tokens, 1);
    token_hex(&r.items[0].job.tokens, 1, hex);
    assert_string_equal(hex, T2);
    payload_is(&r.items[1], "{\"aps\":{\"badge\":0}}");
    gw_push_request_free(&r);

    /* Any of the app's keys; NULL key = every app. */
    gw_api_error e;
    char *b = expand("{\"app\":\"shop\",\"token\":\"@T1@\",\"alert\":\"x\"}");
    assert_int_equal(gw_push_parse(b, strlen(b), cfg, SHOP_KEY2, &r, &e), 0);
    gw_push_request_free(&r);
    free(b);
    b = expand("{\"app\":\"news\",\"token\":\"@T1@\",\"alert\":\"x\"}");
    assert_int_equal(gw_push_parse(b, strlen(b), cfg, NULL, &r, &e), 0);
    assert_string_equal(r.items[0].job.topic, "com.example.news");
    gw_push_request_free(&r);
    free(b);
}

/* The scanner lifts plain "tokens" arrays; a key written with escapes goes
 * through jansson instead. Both must give the same job. */
static void scanner_matches_slow_path(void **state)
{
    gw_push_request a, b;

    (void)state;
    ok("{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T3@\"],\"alert\":\"x\"}", &a);
    ok("{\"app\":\"shop\",\"tok\\u0065ns\":[\"@T1@\",\"@T3@\"],\"alert\":\"x\"}", &b);
    assert_int_equal(a.items[0].job.tokens.len, b.items[0].job.tokens.len);
    assert_memory_equal(a.items[0].job.tokens.buf, b.items[0].job.tokens.buf,
                        a.items[0].job.tokens.len);
    gw_push_request_free(&a);
    gw_push_request_free(&b);

    /* A token written with escapes is decoded, then checked like any other. */
    ok("{\"app\":\"shop\",\"tokens\":["
       "\"\\u0030\\u003100000000000000000000000000000000000000000000000000000000000000\"],"
       "\"alert\":\"x\"}",
       &a);
    ok("{\"app\":\"shop\",\"tokens\":["
       "\"0100000000000000000000000000000000000000000000000000000000000000\"],\"alert\":\"x\"}",
       &b);
    assert_memory_equal(a.items[0].job.tokens.buf, b.items[0].job.tokens.buf,
                        a.items[0].job.tokens.len);
    gw_push_request_free(&a);
    gw_push_request_free(&b);
}

/* gw_token_list_add_hex (the fast path) and apns_notification_validate
 * (libapns's rule) agree on every edge of the token rule. */
static void token_rule_agrees_with_libapns(void **state)
{
    static const char *const toks[] = {
        "0123456789abcdef",
        "0123456789abcde",
        "0123456789abcdeF0",
        "0123456789abcdeg",
        "0123456789ABCDEF",
        "",
        "00",
        T1,
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000",
    };
    (void)state;
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
        gw_token_list l;
        apns_notification n;
        int fast, lib;
        gw_token_list_init(&l);
        fast = gw_token_list_add_hex(&l, toks[i], strlen(toks[i]));
        gw_token_list_cleanup(&l);
        apns_notification_init(&n);
        n.token = toks[i];
        n.topic = "t";
        n.payload = "{}";
        n.payload_len = 2;
        lib = apns_notification_validate(&n, 0, NULL, 0);
        if ((fast == 0) != (lib == 0))
            fail_msg("token %zu (%zu chars): list says %d, libapns says %d", i, strlen(toks[i]),
                     fast, lib);
    }
}

/* ---- rejected bodies ------------------------------------------------------ */

typedef struct bad_case {
    const char *body;
    int status;
    const char *code;
    const char *field;
    const char *key; /* NULL = SHOP_KEY */
    const char *message_has;
} bad_case;

#define OKP ",\"alert\":\"x\""
#define TOK "\"token\":\"@T1@\""

static const bad_case bad[] = {
    /* JSON */
    {"", 400, "malformed_json", "", NULL, "empty"},
    {"[]", 400, "malformed_json", "", NULL, "byte 0"},
    {"{\"app\":\"shop\",", 400, "malformed_json", "", NULL, NULL},
    {"{\"app\":\"shop\"} x", 400, "malformed_json", "", NULL, NULL},
    {"{\"app\":\"sh\xffop\"}", 400, "malformed_json", "", NULL, NULL},
    {"{\"app\":\"shop\",\"app\":\"shop\"," TOK OKP "}", 400, "duplicate_key", "app", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"payload\":{\"aps\":{\"a\":1,\"a\":2}}}", 400, "duplicate_key",
     "payload.aps.a", NULL, NULL},
    {"{\"app\":\"shop\",\"tokens\":[\"@T1@\"],\"tokens\":[\"@T2@\"]" OKP "}", 400, "duplicate_key",
     "tokens", NULL, NULL},
    {"{\"notifications\":[],\"notifications\":[]}", 400, "duplicate_key", "notifications", NULL,
     NULL},
    {"{\"app\":\"shop\"," TOK ",\"alert\":\"a\\u0000b\"}", 400, "malformed_json", "alert", NULL,
     NULL},
    {"{\"app\":\"shop\"," TOK ",\"custom\":{\"n\":123456789012345678901234}}", 400,
     "malformed_json", "custom.n", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"custom\":{\"d\":"
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]"
     "]]"
     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
     400, "malformed_json", "", NULL, "nesting"},
    /* app and auth */
    {"{" TOK OKP "}", 400, "missing_field", "app", NULL, NULL},
    {"{\"app\":\"nope\"," TOK OKP "}", 400, "unknown_app", "app", NULL, "nope"},
    {"{\"app\":\"news\"," TOK OKP "}", 403, "forbidden", "app", NULL, "news"},
    {"{\"app\":\"shop\"," TOK OKP "}", 403, "forbidden", "app", NEWS_KEY, NULL},
    {"{\"app\":7," TOK OKP "}", 400, "invalid_field", "app", NULL, "string"},
    /* tokens */
    {"{\"app\":\"shop\"" OKP "}", 400, "missing_field", "tokens", NULL, NULL},
    {"{\"app\":\"shop\",\"tokens\":[]" OKP "}", 400, "invalid_field", "tokens", NULL, NULL},
    {"{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"xyz\"]" OKP "}", 400, "bad_token", "tokens[1]", NULL,
     "hexadecimal"},
    {"{\"app\":\"shop\",\"tokens\":[\"@T1@\",17]" OKP "}", 400, "invalid_field", "tokens[1]", NULL,
     NULL},
    {"{\"app\":\"shop\",\"tokens\":[\"0123456789abcde\"]" OKP "}", 400, "bad_token", "tokens[0]",
     NULL, "15"},
    {"{\"app\":\"shop\",\"tokens\":[\"0123456789abcdef0\"]" OKP "}", 400, "bad_token", "tokens[0]",
     NULL, "odd"},
    {"{\"app\":\"shop\",\"token\":\"12\"" OKP "}", 400, "bad_token", "token", NULL, NULL},
    {"{\"app\":\"shop\",\"tokens\":\"@T1@\"" OKP "}", 400, "invalid_field", "tokens", NULL,
     "array"},
    {"{\"app\":\"shop\",\"tok\\u0065ns\":[\"@T1@\",\"zz\"]" OKP "}", 400, "bad_token", "tokens[1]",
     NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"tokens\":[\"@T2@\"]" OKP "}", 400, "invalid_field", "token", NULL,
     "not both"},
    {"{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T1@\",\"@T1@\",\"@T1@\",\"@T1@\",\"@T1@\"]" OKP "}",
     400, "too_many_tokens", "tokens", NULL, "max_tokens"},
    {"{\"notifications\":[{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T1@\",\"@T1@\"]" OKP "},"
     "{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T1@\",\"@T2@\"]" OKP "}]}",
     400, "too_many_tokens", "notifications[1].tokens", NULL, NULL},
    {"{\"notifications\":[{\"app\":\"shop\"," TOK OKP "},{\"app\":\"shop\",\"tokens\":"
     "[\"@T1@\",\"@T2@\",\"nothex\"]" OKP "}]}",
     400, "bad_token", "notifications[1].tokens[2]", NULL, NULL},
    /* fields */
    {"{\"app\":\"shop\"," TOK ",\"alertt\":\"x\"}", 400, "unknown_field", "alertt", NULL,
     "did you mean \"alert\""},
    {"{\"app\":\"shop\"," TOK ",\"priority\":\"10\"" OKP "}", 400, "invalid_field", "priority",
     NULL, "integer"},
    {"{\"app\":\"shop\"," TOK ",\"priority\":7" OKP "}", 400, "invalid_field", "priority", NULL,
     NULL},
    {"{\"app\":\"shop\"," TOK ",\"priority\":0" OKP "}", 400, "invalid_field", "priority", NULL,
     NULL},
    {"{\"app\":\"shop\"," TOK ",\"push_type\":\"nope\"" OKP "}", 400, "invalid_field", "push_type",
     NULL, "background"},
    {"{\"app\":\"shop\"," TOK ",\"push_type\":\"background\",\"priority\":10" OKP "}", 400,
     "invalid_field", "priority", NULL, "background"},
    {"{\"app\":\"shop\"," TOK ",\"collapse_id\":\"0123456789012345678901234567890123456789012345"
     "6789012345678901234\"" OKP "}",
     400, "invalid_field", "collapse_id", NULL, "64"},
    {"{\"app\":\"shop\"," TOK ",\"apns_id\":\"not-a-uuid\"" OKP "}", 400, "invalid_field",
     "apns_id", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"expiration\":-1" OKP "}", 400, "invalid_field", "expiration",
     NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"send_at\":-5" OKP "}", 400, "invalid_field", "send_at", NULL,
     NULL},
    /* Times past 9999-12-31T23:59:59Z (project choice: 253402300799, the
     * bound send_at always had): 2^62 overflowed expiration * 1000 later. */
    {"{\"app\":\"shop\"," TOK ",\"expiration\":4611686018427387904" OKP "}", 400, "invalid_field",
     "expiration", NULL, "253402300799"},
    {"{\"app\":\"shop\"," TOK ",\"expiration\":253402300800" OKP "}", 400, "invalid_field",
     "expiration", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"expiration\":9223372036854775807" OKP "}", 400, "invalid_field",
     "expiration", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"send_at\":253402300800" OKP "}", 400, "invalid_field", "send_at",
     NULL, NULL},
    /* Header values (RFC 9113 section 8.2.1: no NUL, CR, LF, no leading or
     * trailing SP/HTAB; RFC 9110 section 5.5 and nghttp2: no other control
     * character but HTAB). */
    {"{\"app\":\"shop\"," TOK ",\"collapse_id\":\"a\\r\\nx-evil: 1\"" OKP "}", 400, "invalid_field",
     "collapse_id", NULL, "control character"},
    {"{\"app\":\"shop\"," TOK ",\"collapse_id\":\"a\\nb\"" OKP "}", 400, "invalid_field",
     "collapse_id", NULL, "control character"},
    {"{\"app\":\"shop\"," TOK ",\"collapse_id\":\"a\\u0001b\"" OKP "}", 400, "invalid_field",
     "collapse_id", NULL, "control character"},
    {"{\"app\":\"shop\"," TOK ",\"collapse_id\":\"a\\u007fb\"" OKP "}", 400, "invalid_field",
     "collapse_id", NULL, "control character"},
    {"{\"app\":\"shop\"," TOK ",\"collapse_id\":\" lead\"" OKP "}", 400, "invalid_field",
     "collapse_id", NULL, "blank"},
    {"{\"app\":\"shop\"," TOK ",\"collapse_id\":\"trail\\t\"" OKP "}", 400, "invalid_field",
     "collapse_id", NULL, "blank"},
    {"{\"app\":\"shop\"," TOK ",\"topic\":\"com.example.news\"" OKP "}", 400, "invalid_field",
     "topic", NULL, "shop"},
    {"{\"app\":\"shop\"," TOK ",\"content_available\":2" OKP "}", 400, "invalid_field",
     "content_available", NULL, NULL},
    /* payload */
    {"{\"app\":\"shop\"," TOK "}", 400, "missing_field", "payload", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"payload\":{\"aps\":{}}" OKP "}", 400, "invalid_field", "payload",
     NULL, "not both"},
    {"{\"app\":\"shop\"," TOK ",\"payload\":\"{}\"}", 400, "invalid_field", "payload", NULL,
     "object"},
    {"{\"app\":\"shop\"," TOK ",\"custom\":{\"aps\":1}}", 400, "bad_payload", "custom.aps", NULL,
     NULL},
    {"{\"app\":\"shop\"," TOK ",\"badge\":-1}", 400, "invalid_field", "badge", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"interruption_level\":\"loud\"}", 400, "bad_payload",
     "interruption_level", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"titel\":\"x\"}}", 400, "unknown_field", "alert.titel",
     NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"title\":5}}", 400, "invalid_field", "alert.title",
     NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"sound\":{\"name\":5}}", 400, "invalid_field", "sound.name", NULL,
     NULL},
    /* live_activity and localization */
    {"{\"app\":\"shop\"," TOK ",\"push_type\":\"alert\",\"live_activity\":{\"event\":\"end\"}}",
     400, "invalid_field", "push_type", NULL, "liveactivity"},
    {"{\"app\":\"shop\"," TOK ",\"live_activity\":{\"event\":\"end\"}}", 400, "invalid_field",
     "topic", NULL, "com.example.shop.push-type.liveactivity"},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"loc_args\":[\"a\"]}}", 400, "missing_field",
     "alert.loc_key", NULL, "loc_args"},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"loc_key\":\"K\",\"loc_args\":[1]}}", 400,
     "invalid_field", "alert.loc_args[0]", NULL, "string"},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"loc_key\":\"K\",\"loc_args\":\"a\"}}", 400,
     "invalid_field", "alert.loc_args", NULL, "array"},
    /* the title and subtitle pairs name their own keys */
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"title_loc_args\":[\"a\"]}}", 400, "missing_field",
     "alert.title_loc_key", NULL, "alert.title_loc_args"},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"title_loc_key\":\"K\",\"title_loc_args\":[1]}}", 400,
     "invalid_field", "alert.title_loc_args[0]", NULL, "string"},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"subtitle_loc_args\":[\"a\"]}}", 400, "missing_field",
     "alert.subtitle_loc_key", NULL, "alert.subtitle_loc_args"},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"subtitle_loc_key\":\"K\",\"subtitle_loc_args\":"
     "\"a\"}}",
     400, "invalid_field", "alert.subtitle_loc_args", NULL, "array"},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"title\":{\"loc_args\":[\"a\"]}}}", 400,
     "missing_field", "alert.title.loc_key", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"title\":{\"loc_key\":\"K\",\"x\":1}}}", 400,
     "unknown_field", "alert.title.x", NULL, NULL},
    {"{\"app\":\"shop\"," TOK ",\"alert\":{\"launch_image\":{\"loc_key\":\"K\"}}}", 400,
     "invalid_field", "alert.launch_image", NULL, "string"},
    /* batches */
    {"{\"notifications\":[]}", 400, "invalid_field", "notifications", NULL, NULL},
    {"{\"notifications\":{}}", 400, "invalid_field", "notifications", NULL, NULL},
    {"{\"notifications\":[1]}", 400, "invalid_field", "notifications[0]", NULL, NULL},
    {"{\"notifications\":[{\"app\":\"shop\"," TOK OKP "}],\"app\":\"shop\"}", 400, "unknown_field",
     "app", NULL, NULL},
    {"{\"notifications\":[{\"app\":\"shop\"," TOK OKP "},{\"app\":\"shop\"," TOK
     ",\"badge\":\"1\"}]}",
     400, "invalid_field", "notifications[1].badge", NULL, NULL},
    {"{\"notifications\":[{\"app\":\"shop\"," TOK OKP "},{\"app\":\"news\"," TOK OKP "}]}", 403,
     "forbidden", "notifications[1].app", NULL, NULL},
};

/* Parsed with all_cfg (every suffixed topic listed), so that a Live
 * Activity push reaches its field checks. */
static const bad_case bad_la[] = {
    {"{\"app\":\"shop\"," TOK ",\"live_activity\":{\"evnt\":\"end\"}}", 400, "unknown_field",
     "live_activity.evnt", NULL, "event"},
    {"{\"app\":\"shop\"," TOK ",\"live_activity\":{\"timestamp\":\"1\"}}", 400, "invalid_field",
     "live_activity.timestamp", NULL, "integer"},
    {"{\"app\":\"shop\"," TOK ",\"live_activity\":{\"content_state\":[1]}}", 400, "invalid_field",
     "live_activity.content_state", NULL, "object"},
};

static void rejections_in(const gw_config *in, const bad_case *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const bad_case *c = &table[i];
        gw_push_request r;
        gw_api_error e;
        int rc = parse_in(in, c->body, c->key ? c->key : SHOP_KEY, &r, &e);
        if (rc == 0) {
            gw_push_request_free(&r);
            fail_msg("case %zu accepted: %s", i, c->body);
        }
        assert_int_equal(r.n, 0);
        assert_null(r.items);
        if (e.status != c->status || strcmp(e.code, c->code) != 0 ||
            strcmp(e.field, c->field) != 0 ||
            (c->message_has != NULL && strstr(e.message, c->message_has) == NULL))
            fail_msg("case %zu: %s\n  got  %d %s field=\"%s\": %s\n  want %d %s field=\"%s\" "
                     "(message with \"%s\")",
                     i, c->body, e.status, e.code, e.field, e.message, c->status, c->code, c->field,
                     c->message_has ? c->message_has : "");
        assert_true(e.message[0] != '\0');
    }
}

static void rejections(void **state)
{
    (void)state;
    rejections_in(cfg, bad, sizeof bad / sizeof bad[0]);
    rejections_in(all_cfg, bad_la, sizeof bad_la / sizeof bad_la[0]);
}

/* More tokens than [queue] max_depth: a permanent 413 naming the limit (a
 * configuration the loader refuses, built by hand: the parser's own guard). */
static void too_many_for_queue(void **state)
{
    gw_queue_config *q = (gw_queue_config *)gw_queue_config_of(cfg);
    uint64_t saved = q->max_depth;
    gw_push_request r;
    gw_api_error e;
    int rc;

    (void)state;
    q->max_depth = 2;
    rc = parse("{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T2@\",\"@T3@\"]" OKP "}", SHOP_KEY, &r,
               &e);
    if (rc == 0)
        gw_push_request_free(&r);
    assert_int_equal(rc, -1);
    assert_int_equal(e.status, 413);
    assert_string_equal(e.code, "too_many_tokens_for_queue");
    assert_string_equal(e.field, "tokens");
    assert_non_null(strstr(e.message, "max_depth"));
    /* Over a batch: the whole request counts. */
    rc = parse("{\"notifications\":[{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T2@\"]" OKP
               "},{\"app\":\"shop\"," TOK OKP "}]}",
               SHOP_KEY, &r, &e);
    if (rc == 0)
        gw_push_request_free(&r);
    assert_int_equal(rc, -1);
    assert_string_equal(e.code, "too_many_tokens_for_queue");
    assert_string_equal(e.field, "notifications");
    /* At the limit: accepted. */
    assert_int_equal(
        parse("{\"app\":\"shop\",\"tokens\":[\"@T1@\",\"@T2@\"]" OKP "}", SHOP_KEY, &r, &e), 0);
    gw_push_request_free(&r);
    q->max_depth = saved;
}

static void payload_limits(void **state)
{
    char *body = malloc(8000), *big = malloc(5200);
    gw_push_request r;
    gw_api_error e;

    (void)state;
    memset(big, 'a', 5000);
    big[5000] = '\0';
    /* Builder fields rendering over 4096 bytes. */
    snprintf(body, 8000, "{\"app\":\"shop\",\"token\":\"" T1 "\",\"alert\":\"%s\"}", big);
    assert_int_equal(gw_push_parse(body, strlen(body), cfg, SHOP_KEY, &r, &e), -1);
    assert_string_equal(e.code, "payload_too_large");
    assert_string_equal(e.field, "payload");
    /* A raw payload over 4096 bytes; voip allows 5120. */
    big[4100] = '\0';
    snprintf(body, 8000, "{\"app\":\"shop\",\"token\":\"" T1 "\",\"payload\":{\"x\":\"%s\"}}", big);
    assert_int_equal(gw_push_parse(body, strlen(body), cfg, SHOP_KEY, &r, &e), -1);
    assert_string_equal(e.code, "payload_too_large");
    snprintf(body, 8000,
             "{\"app\":\"shop\",\"token\":\"" T1 "\",\"push_type\":\"voip\",\"payload\":{\"x\":"
             "\"%s\"}}",
             big);
    assert_int_equal(gw_push_parse(body, strlen(body), cfg, SHOP_KEY, &r, &e), 0);
    gw_push_request_free(&r);
    free(body);
    free(big);
}

static void too_many_notifications(void **state)
{
    size_t n = GW_PUSH_MAX_NOTIFICATIONS + 1, o = 0;
    char *body = malloc(n * 8 + 64);
    gw_push_request r;
    gw_api_error e;

    (void)state;
    o += (size_t)sprintf(body + o, "{\"notifications\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(body + o, "%s{}", i ? "," : "");
    o += (size_t)sprintf(body + o, "]}");
    assert_int_equal(gw_push_parse(body, o, cfg, NULL, &r, &e), -1);
    assert_string_equal(e.code, "too_many_notifications");
    assert_string_equal(e.field, "notifications");
    free(body);
}

/* Arbitrary bytes never crash and always answer something. */
static void garbage(void **state)
{
    static const char *const junk[] = {
        "\0\0\0",       "{\"\\",   "{\"app\":",       "nul\0l",
        "{}",           "{\"a\"}", "{\"tokens\":[\"", "{\"tokens\":[\"aa\",",
        "{\"tokens\":["};
    (void)state;
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        gw_push_request r;
        gw_api_error e;
        size_t len = strlen(junk[i]) ? strlen(junk[i]) : 3;
        assert_int_equal(gw_push_parse(junk[i], len, cfg, NULL, &r, &e), -1);
        assert_int_equal(e.status, 400);
    }
}

/* ---- the broadcast ------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void broadcast_1m(void **state)
{
    size_t n = getenv("APNSD_TEST_SMALL") ? 100000 : 1000000, o = 0;
    char *body = malloc(n * 67 + 256);
    gw_push_request r;
    gw_api_error e;
    struct rusage ru0, ru1;
    double t0, t1;
    char hex[APNS_TOKEN_HEX_MAX + 1];

    (void)state;
    assert_non_null(body);
    o += (size_t)sprintf(body + o, "{\"app\":\"shop\",\"alert\":\"hello\",\"tokens\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(body + o, "%s\"%064zx\"", i ? "," : "", i * 2654435761u);
    o += (size_t)sprintf(body + o, "]}");

    getrusage(RUSAGE_SELF, &ru0);
    t0 = now_s();
    if (gw_push_parse(body, o, big_cfg, SHOP_KEY, &r, &e) != 0)
        fail_msg("%s %s", e.field, e.message);
    t1 = now_s();
    getrusage(RUSAGE_SELF, &ru1);
    print_message("[ measure  ] gw_push_parse: %zu tokens, %.1f MB body: %.3f s "
                  "(peak RSS %ld MB)\n",
                  n, o / 1e6, t1 - t0, ru1.ru_maxrss / 1024);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.items[0].n_tokens, n);
    assert_int_equal(r.items[0].job.tokens.len, n * 33);
    gw_token_to_hex(r.items[0].job.tokens.buf + (n - 1) * 33 + 1, 32, hex);
    {
        char want[65];
        snprintf(want, sizeof want, "%064zx", (n - 1) * 2654435761u);
        assert_string_equal(hex, want);
    }
    gw_push_request_free(&r);

    /* One bad token at the very end names its index. */
    body[o - 4] = 'x';
    assert_int_equal(gw_push_parse(body, o, big_cfg, SHOP_KEY, &r, &e), -1);
    {
        char want[40];
        snprintf(want, sizeof want, "tokens[%zu]", n - 1);
        assert_string_equal(e.field, want);
        assert_string_equal(e.code, "bad_token");
    }
    free(body);
}

/* ---- push types that need a suffixed topic (push-types.tsv) --------------- */

/* A raw payload the push type accepts (liveactivity: an update with what
 * live-activity.tsv's "update-channel" row carries). */
static const char *payload_for(const char *type)
{
    return strcmp(type, "liveactivity") == 0
               ? "{\"aps\":{\"timestamp\":1685952000,\"event\":\"update\",\"content-state\":"
                 "{\"a\":1}}}"
               : "{\"aps\":{\"content-available\":1}}";
}

static void suffixed_topics(void **state)
{
    size_t with_suffix = 0;

    (void)state;
    for (size_t i = 0; i < push_types.nrows; i++) {
        const char *type = golden_cell(&push_types, i, "push_type");
        const char *sfx = golden_cell(&push_types, i, "topic_suffix");
        char body[512], need[128], *b;
        gw_push_request r;
        gw_api_error e;
        int listed;

        if (strcmp(sfx, "-") == 0)
            continue;
        with_suffix++;
        snprintf(need, sizeof need, "com.example.shop%s", sfx);
        snprintf(body, sizeof body,
                 "{\"app\":\"shop\",\"token\":\"@T1@\",\"push_type\":\"%s\",\"priority\":5,"
                 "\"payload\":%s}",
                 type, payload_for(type));
        /* shop in cfg lists only com.example.shop.voip (and .alt). */
        listed = strcmp(need, "com.example.shop.voip") == 0;
        if (parse(body, SHOP_KEY, &r, &e) == 0) {
            if (!listed)
                fail_msg("%s without %s accepted (topic %s)", type, need, r.items[0].job.topic);
            assert_string_equal(r.items[0].job.topic, need);
            gw_push_request_free(&r);
        } else {
            if (listed)
                fail_msg("%s refused: %s %s", type, e.field, e.message);
            assert_int_equal(e.status, 400);
            assert_string_equal(e.code, "invalid_field");
            assert_string_equal(e.field, "topic");
            if (strstr(e.message, need) == NULL || strstr(e.message, "[app shop]") == NULL)
                fail_msg("%s: the message does not name %s: %s", type, need, e.message);
        }
        /* With every suffixed topic configured: the default topic is the
         * suffixed one. */
        b = expand(body);
        if (gw_push_parse(b, strlen(b), all_cfg, SHOP_KEY, &r, &e) != 0)
            fail_msg("%s refused with every topic listed: %s %s", type, e.field, e.message);
        assert_string_equal(r.items[0].job.topic, need);
        gw_push_request_free(&r);
        free(b);
        /* Naming the bare bundle id (a listed topic) for the type: 400. */
        snprintf(body, sizeof body,
                 "{\"app\":\"shop\",\"token\":\"@T1@\",\"push_type\":\"%s\",\"priority\":5,"
                 "\"topic\":\"com.example.shop.alt\",\"payload\":%s}",
                 type, payload_for(type));
        assert_int_not_equal(parse_in(all_cfg, body, SHOP_KEY, &r, &e), 0);
        assert_string_equal(e.field, "topic");
        if (strstr(e.message, sfx) == NULL)
            fail_msg("%s on .alt: the message does not name %s: %s", type, sfx, e.message);
    }
    assert_int_equal(with_suffix, 8); /* Apple's table: eight types carry a suffix */
}

/* ---- Live Activity fields (live-activity.tsv) ----------------------------- */

/* Numbers compare by value (the builder writes 75 as 75.0). */
static int same_json(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_object(a)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach(a, k, v) if (json_object_get(b, k) == NULL ||
                                         !same_json(v, json_object_get(b, k))) return 0;
        return 1;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_json(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal(a, b);
}

/* "loc-key" -> "loc_key": Apple's key to the API's. */
static char *snake(const char *k, char *out, size_t n)
{
    snprintf(out, n, "%s", k);
    for (char *p = out; *p; p++)
        if (*p == '-')
            *p = '_';
    return out;
}

static json_t *snake_object(json_t *o)
{
    json_t *r;
    const char *k;
    json_t *v;
    char kk[64];

    if (!json_is_object(o))
        return json_incref(o);
    r = json_object();
    json_object_foreach(o, k, v) json_object_set_new(r, snake(k, kk, sizeof kk), snake_object(v));
    return r;
}

/* A golden Live Activity payload as an API body: aps keys but "alert" into
 * "live_activity" (snake case), the alert (snake case, its loc objects
 * too), keys beside aps into "custom". */
static char *as_api_body(const char *payload)
{
    json_t *p = json_loads(payload, 0, NULL), *aps, *body, *la, *custom;
    const char *k;
    json_t *v;
    char kk[64], *out;

    assert_non_null(p);
    aps = json_object_get(p, "aps");
    body = json_pack("{s:s,s:s}", "app", "shop", "token", T1);
    la = json_object();
    custom = json_object();
    json_object_foreach(aps, k, v)
    {
        if (strcmp(k, "alert") == 0)
            json_object_set_new(body, "alert", snake_object(v));
        else if (strcmp(k, "content-state") == 0 || strcmp(k, "attributes") == 0)
            json_object_set(la, snake(k, kk, sizeof kk), v); /* app data: as is */
        else
            json_object_set(la, snake(k, kk, sizeof kk), v);
    }
    json_object_foreach(p, k, v) if (strcmp(k, "aps") != 0) json_object_set(custom, k, v);
    json_object_set_new(body, "live_activity", la);
    if (json_object_size(custom) > 0)
        json_object_set(body, "custom", custom);
    json_decref(custom);
    out = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_decref(p);
    return out;
}

static void live_activity_golden(void **state)
{
    size_t device_rows = 0;

    (void)state;
    for (size_t i = 0; i < live_activity.nrows; i++) {
        const char *id = golden_cell(&live_activity, i, "id");
        const char *payload = golden_cell(&live_activity, i, "payload");
        int want_ok = strcmp(golden_cell(&live_activity, i, "verdict"), "ok") == 0;
        char raw[2048], *api;
        gw_push_request r;
        gw_api_error e;
        int rc;

        if (strcmp(golden_cell(&live_activity, i, "target"), "device") != 0)
            continue;
        device_rows++;
        /* 1. The payload as is, push_type liveactivity. */
        snprintf(raw, sizeof raw,
                 "{\"app\":\"shop\",\"token\":\"@T1@\",\"push_type\":\"liveactivity\","
                 "\"payload\":%s}",
                 payload);
        rc = parse_in(all_cfg, raw, SHOP_KEY, &r, &e);
        if (rc == 0) {
            if (!want_ok)
                fail_msg("%s: refused by Apple, accepted as a raw payload", id);
            gw_push_request_free(&r);
        } else {
            if (want_ok)
                fail_msg("%s: accepted by Apple, refused as a raw payload: %s %s", id, e.field,
                         e.message);
            assert_int_equal(e.status, 400);
            assert_string_equal(e.code, "bad_payload");
            assert_string_equal(e.field, "payload");
        }
        /* 2. The same through the builder fields. The API fills a missing
         * timestamp with the time of submit, so rows refused only for
         * lacking one are not builder cases. */
        if (!want_ok &&
            (strstr(payload, "\"aps\"") == NULL || strstr(payload, "timestamp") == NULL))
            continue;
        api = as_api_body(payload);
        rc = gw_push_parse(api, strlen(api), all_cfg, SHOP_KEY, &r, &e);
        if (rc == 0) {
            json_t *got = json_loadb(r.items[0].job.payload, r.items[0].job.payload_len, 0, NULL);
            json_t *want = json_loads(payload, 0, NULL);
            if (!want_ok)
                fail_msg("%s: refused by Apple, accepted from fields %s", id, api);
            assert_int_equal(r.items[0].job.push_type, APNS_PUSH_LIVEACTIVITY);
            assert_string_equal(r.items[0].job.topic, "com.example.shop.push-type.liveactivity");
            if (!same_json(got, want))
                fail_msg("%s: fields %s\n  rendered %.*s\n  Apple's  %s", id, api,
                         (int)r.items[0].job.payload_len, r.items[0].job.payload, payload);
            json_decref(got);
            json_decref(want);
            gw_push_request_free(&r);
        } else {
            if (want_ok)
                fail_msg("%s: accepted by Apple, refused from fields %s: %s %s", id, api, e.field,
                         e.message);
            assert_int_equal(e.status, 400);
            if (strncmp(e.field, "live_activity", 13) != 0)
                fail_msg("%s: field %s, want live_activity...", id, e.field);
        }
        free(api);
    }
    assert_true(device_rows >= 10);
}

/* Channel publishes: the golden table's channel rows as raw payloads
 * (accepted exactly when Apple accepts them: a broadcast never starts an
 * activity), the defaults Apple requires (priority 10, expiration 0, the
 * bundle id without a suffix), one entry, no tokens; and what cannot go
 * with a channel. The channel record is looked up later (api_submit.c). */
#define CH "dHdmLWJyb2FkY2FzdC1jaGFubmVs"
static const bad_case bad_channel[] = {
    {"{\"app\":\"shop\",\"channel\":\"" CH "\"," TOK
     ",\"live_activity\":{\"event\":\"end\",\"content_state\":{}}}",
     400, "invalid_field", "token", NULL, "not both"},
    {"{\"app\":\"shop\",\"channel\":\"" CH
     "\",\"topic\":\"com.example.shop\",\"live_activity\":{\"event\":\"end\",\"content_"
     "state\":{}}}",
     400, "invalid_field", "topic", NULL, NULL},
    {"{\"app\":\"shop\",\"channel\":\"" CH "\",\"push_type\":\"alert\",\"alert\":\"x\"}", 400,
     "invalid_field", "push_type", NULL, "liveactivity"},
    {"{\"app\":\"shop\",\"channel\":\"" CH
     "\",\"collapse_id\":\"c\",\"live_activity\":{\"event\":\"end\",\"content_state\":{}}}",
     400, "invalid_field", "collapse_id", NULL, NULL},
    {"{\"app\":\"shop\",\"channel\":\"not base64!\",\"live_activity\":{\"event\":\"end\","
     "\"content_state\":{}}}",
     400, "invalid_field", "channel", NULL, NULL},
    {"{\"app\":\"shop\",\"channel\":\"" CH
     "\",\"live_activity\":{\"event\":\"start\",\"content_state\":{},\"attributes_type\":"
     "\"T\",\"attributes\":{}},\"alert\":{\"title\":\"t\"}}",
     400, "bad_payload", "live_activity", NULL, "start"},
};

static void channel_publish(void **state)
{
    size_t channel_rows = 0;
    gw_push_request r;
    gw_api_error e;

    (void)state;
    for (size_t i = 0; i < live_activity.nrows; i++) {
        const char *id = golden_cell(&live_activity, i, "id");
        int want_ok = strcmp(golden_cell(&live_activity, i, "verdict"), "ok") == 0;
        char raw[2048];

        if (strcmp(golden_cell(&live_activity, i, "target"), "channel") != 0)
            continue;
        channel_rows++;
        snprintf(raw, sizeof raw, "{\"app\":\"shop\",\"channel\":\"" CH "\",\"payload\":%s}",
                 golden_cell(&live_activity, i, "payload"));
        if (parse_in(cfg, raw, SHOP_KEY, &r, &e) == 0) {
            if (!want_ok)
                fail_msg("%s: refused by Apple, accepted as a channel publish", id);
            gw_push_request_free(&r);
        } else {
            if (want_ok)
                fail_msg("%s: accepted by Apple, refused as a channel publish: %s %s", id, e.field,
                         e.message);
            assert_int_equal(e.status, 400);
            assert_string_equal(e.field, "payload");
        }
    }
    assert_true(channel_rows >= 3);

    /* No liveactivity topic needed (cfg lists none): the bundle id. */
    assert_int_equal(parse_in(cfg,
                              "{\"app\":\"shop\",\"channel\":\"" CH
                              "\",\"live_activity\":{\"event\":\"update\",\"content_state\":"
                              "{\"score\":\"1-0\"}}}",
                              SHOP_KEY, &r, &e),
                     0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].job.channel, CH);
    assert_string_equal(r.items[0].job.topic, "com.example.shop");
    assert_int_equal(r.items[0].job.push_type, APNS_PUSH_LIVEACTIVITY);
    assert_int_equal(r.items[0].job.priority, 10);
    assert_int_equal(r.items[0].job.expiration, 0);
    assert_int_equal(r.items[0].job.tokens.count, 0);
    assert_int_equal(r.items[0].n_tokens, 1);
    gw_push_request_free(&r);
    /* A device push names no channel. */
    ok("{\"app\":\"shop\",\"token\":\"@T1@\",\"alert\":\"hi\"}", &r);
    assert_null(r.items[0].job.channel);
    gw_push_request_free(&r);
    rejections_in(cfg, bad_channel, sizeof bad_channel / sizeof bad_channel[0]);
}
#undef CH

/* No timestamp given: the time of submit; no push_type: liveactivity. */
static void live_activity_defaults(void **state)
{
    gw_push_request r;
    json_t *p;
    time_t t0 = time(NULL), t1;

    (void)state;
    assert_int_equal(parse_in(all_cfg,
                              "{\"app\":\"shop\",\"token\":\"@T1@\",\"live_activity\":{\"event\":"
                              "\"end\",\"content_state\":{\"score\":\"3-1\"},\"dismissal_date\":"
                              "1700000000}}",
                              SHOP_KEY, &r, &(gw_api_error){0}),
                     0);
    t1 = time(NULL);
    assert_int_equal(r.items[0].job.push_type, APNS_PUSH_LIVEACTIVITY);
    p = json_loadb(r.items[0].job.payload, r.items[0].job.payload_len, 0, NULL);
    json_int_t ts = json_integer_value(json_object_get(json_object_get(p, "aps"), "timestamp"));
    assert_true(ts >= t0 && ts <= t1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(p, "aps"), "dismissal-date")),
        1700000000);
    json_decref(p);
    gw_push_request_free(&r);
}

/* The alert's localization keys, as Apple names them (protocol notes §3.2). */
static void localization(void **state)
{
    gw_push_request r;

    (void)state;
    ok("{\"app\":\"shop\",\"token\":\"@T1@\",\"alert\":{\"loc_key\":\"GAME_INVITE\","
       "\"loc_args\":[\"Jenna\",\"Frank\"],\"title_loc_key\":\"GAME_TITLE\","
       "\"title_loc_args\":[\"Chess\"],\"subtitle_loc_key\":\"GAME_SUB\"}}",
       &r);
    payload_is(&r.items[0], "{\"aps\":{\"alert\":{\"loc-key\":\"GAME_INVITE\",\"loc-args\":"
                            "[\"Jenna\",\"Frank\"],\"title-loc-key\":\"GAME_TITLE\","
                            "\"title-loc-args\":[\"Chess\"],\"subtitle-loc-key\":\"GAME_SUB\"}}}");
    gw_push_request_free(&r);
    ok("{\"app\":\"shop\",\"token\":\"@T1@\",\"alert\":{\"subtitle_loc_key\":\"S\","
       "\"subtitle_loc_args\":[\"x\"]}}",
       &r);
    payload_is(&r.items[0], "{\"aps\":{\"alert\":{\"subtitle-loc-key\":\"S\","
                            "\"subtitle-loc-args\":[\"x\"]}}}");
    gw_push_request_free(&r);
}

/* ---- Android: notifications for provider = fcm apps ------------------------ */

/* Record i of a token list, as the queue documents it (queue.h): [len][bin]
 * for an APNs token, [0][len16][bytes] for an FCM token. Written from the
 * documented layout, not with the daemon's reader. */
static const uint8_t *rec_at(const gw_token_list *l, size_t i, size_t *len, int *raw)
{
    size_t p = 0;
    for (size_t k = 0;; k++) {
        const uint8_t *r = l->buf + p;
        *raw = r[0] == 0;
        *len = *raw ? (size_t)r[1] << 8 | r[2] : r[0];
        if (k == i)
            return r + (*raw ? 3 : 1);
        p += (*raw ? 3 : 1) + *len;
    }
}

static void fcm_accepted(void **state)
{
    gw_push_request r;
    size_t len;
    int raw;
    const uint8_t *t;
    json_error_t je;

    (void)state;
    /* Registration tokens are opaque: kept byte for byte (case, ':', '-',
     * '_'), also one that happens to be 64 hex digits. */
    ok("{\"app\":\"droid\",\"tokens\":[\"fAbC:APA91b-x_Y\",\"@T3@\"],"
       "\"notification\":{\"title\":\"T\",\"body\":\"B\",\"image\":\"https://e.x/i.png\"},"
       "\"data\":{\"order\":\"42\"},\"android\":{\"priority\":\"HIGH\",\"ttl\":\"3.5s\","
       "\"collapse_key\":\"c\",\"notification\":{\"channel_id\":\"news\",\"color\":\"#ff0000\"}},"
       "\"apns\":{\"payload\":{\"aps\":{\"badge\":1}}},\"webpush\":{\"headers\":{\"TTL\":\"60\"}},"
       "\"send_at\":1800000000}",
       &r);
    assert_int_equal(r.n, 1);
    const gw_job *j = &r.items[0].job;
    assert_string_equal(j->app, "droid");
    assert_null(j->topic);
    assert_int_equal(j->send_at_ms, 1800000000000LL);
    assert_int_equal(j->tokens.count, 2);
    t = rec_at(&j->tokens, 0, &len, &raw);
    assert_true(raw);
    assert_int_equal(len, strlen("fAbC:APA91b-x_Y"));
    assert_memory_equal(t, "fAbC:APA91b-x_Y", len);
    t = rec_at(&j->tokens, 1, &len, &raw);
    assert_true(raw);
    assert_int_equal(len, 64);
    assert_memory_equal(t, T3, 64); /* upper case kept */
    /* The payload is the v1 message's fields, as given (the FCM client sends
     * them beside the token). */
    json_t *got = json_loadb(j->payload, j->payload_len, 0, &je);
    json_t *want = json_loads(
        "{\"notification\":{\"title\":\"T\",\"body\":\"B\",\"image\":\"https://e.x/i.png\"},"
        "\"data\":{\"order\":\"42\"},\"android\":{\"priority\":\"HIGH\",\"ttl\":\"3.5s\","
        "\"collapse_key\":\"c\",\"notification\":{\"channel_id\":\"news\",\"color\":\"#ff0000\"}},"
        "\"apns\":{\"payload\":{\"aps\":{\"badge\":1}}},\"webpush\":{\"headers\":{\"TTL\":\"60\"}}"
        "}",
        0, &je);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    gw_push_request_free(&r);

    /* One request, an iOS app and an Android app. */
    ok("{\"notifications\":[{\"app\":\"shop\",\"tokens\":[\"@T1@\"],\"alert\":\"hi\"},"
       "{\"app\":\"droid\",\"token\":\"reg-token-1\",\"data\":{\"k\":\"v\"}}]}",
       &r);
    assert_int_equal(r.n, 2);
    t = rec_at(&r.items[0].job.tokens, 0, &len, &raw);
    assert_false(raw);
    assert_int_equal(len, 32);
    t = rec_at(&r.items[1].job.tokens, 0, &len, &raw);
    assert_true(raw);
    assert_memory_equal(t, "reg-token-1", len);
    payload_is(&r.items[1], "{\"data\":{\"k\":\"v\"}}");
    gw_push_request_free(&r);

    /* JSON escapes in a token: the token is the decoded string (a quote and
     * a backslash are printable ASCII). */
    ok("{\"app\":\"droid\",\"tokens\":[\"a\\\"b\\\\c\\u0041\"]}", &r);
    t = rec_at(&r.items[0].job.tokens, 0, &len, &raw);
    assert_true(raw);
    assert_int_equal(len, 6);
    assert_memory_equal(t, "a\"b\\cA", 6);
    gw_push_request_free(&r);
}

/* FCM's rules (fcm-protocol.md §3) and the target's (1..4096 printable
 * non-space bytes): each refusal names the field. */
#define DROID "{\"app\":\"droid\",\"token\":\"reg-1\","
static const bad_case fcm_bad[] = {
    /* APNs-only fields on an FCM notification */
    {DROID "\"alert\":\"x\"}", 400, "unknown_field", "alert", NULL, "FCM app"},
    {DROID "\"push_type\":\"alert\"}", 400, "unknown_field", "push_type", NULL, "FCM app"},
    {DROID "\"priority\":10}", 400, "unknown_field", "priority", NULL, "FCM app"},
    {DROID "\"topic\":\"news\"}", 400, "unknown_field", "topic", NULL, NULL},
    {DROID "\"payload\":{\"aps\":{}}}", 400, "unknown_field", "payload", NULL, NULL},
    {DROID "\"badge\":1}", 400, "unknown_field", "badge", NULL, NULL},
    {DROID "\"bogus\":1}", 400, "unknown_field", "bogus", NULL, "unknown key"},
    /* the target: opaque, 1..4096 printable non-space bytes */
    {"{\"app\":\"droid\",\"tokens\":[\"ok\",\"a b\"]}", 400, "bad_token", "tokens[1]", NULL, NULL},
    {"{\"app\":\"droid\",\"tokens\":[\"\"]}", 400, "bad_token", "tokens[0]", NULL, NULL},
    {"{\"app\":\"droid\",\"token\":\"tab\\there\"}", 400, "bad_token", "token", NULL, NULL},
    {"{\"app\":\"droid\",\"tokens\":[]}", 400, "invalid_field", "tokens", NULL, NULL},
    {"{\"app\":\"droid\"}", 400, "missing_field", "tokens", NULL, NULL},
    /* the message's fields (§3.3, §3.4) */
    {DROID "\"data\":{\"k\":1}}", 400, "invalid_field", "data[0].value", NULL, NULL},
    {DROID "\"data\":{\"from\":\"x\"}}", 400, "invalid_field", "data", NULL, "\"from\""},
    {DROID "\"data\":{\"google.x\":\"x\"}}", 400, "invalid_field", "data", NULL, "\"google.x\""},
    {DROID "\"android\":{\"priority\":\"urgent\"}}", 400, "invalid_field", "android.priority", NULL,
     NULL},
    {DROID "\"android\":{\"ttl\":\"60\"}}", 400, "invalid_field", "android.ttl", NULL, NULL},
    {DROID "\"android\":{\"ttl\":\"2419201s\"}}", 400, "invalid_field", "android.ttl", NULL, NULL},
    {DROID "\"notification\":{\"title\":5}}", 400, "invalid_field", "notification.title", NULL,
     NULL},
    {DROID "\"notification\":\"hi\"}", 400, "invalid_field", "notification", NULL, NULL},
};

static void fcm_rejections(void **state)
{
    (void)state;
    rejections_in(cfg, fcm_bad, sizeof fcm_bad / sizeof fcm_bad[0]);
    /* a token of 4097 bytes; 4096 is taken */
    char *body = malloc(5000);
    gw_push_request r;
    gw_api_error e;
    for (int n = 4096; n <= 4097; n++) {
        int o = snprintf(body, 5000, "{\"app\":\"droid\",\"token\":\"");
        memset(body + o, 'x', (size_t)n);
        snprintf(body + o + n, 5000 - (size_t)(o + n), "\"}");
        int rc = gw_push_parse(body, strlen(body), cfg, SHOP_KEY, &r, &e);
        if (n == 4096) {
            assert_int_equal(rc, 0);
            gw_push_request_free(&r);
        } else {
            assert_int_not_equal(rc, 0);
            assert_string_equal(e.code, "bad_token");
        }
    }
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_minimal),
        cmocka_unit_test(single_every_field),
        cmocka_unit_test(bounds_accepted),
        cmocka_unit_test(raw_payload_and_defaults),
        cmocka_unit_test(batch),
        cmocka_unit_test(scanner_matches_slow_path),
        cmocka_unit_test(token_rule_agrees_with_libapns),
        cmocka_unit_test(rejections),
        cmocka_unit_test(fcm_accepted),
        cmocka_unit_test(fcm_rejections),
        cmocka_unit_test(payload_limits),
        cmocka_unit_test(too_many_for_queue),
        cmocka_unit_test(too_many_notifications),
        cmocka_unit_test(garbage),
        cmocka_unit_test(broadcast_1m),
        cmocka_unit_test(suffixed_topics),
        cmocka_unit_test(live_activity_golden),
        cmocka_unit_test(live_activity_defaults),
        cmocka_unit_test(channel_publish),
        cmocka_unit_test(localization),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
