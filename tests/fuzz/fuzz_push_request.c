/*
 * fuzz_push_request.c - gw_push_parse() fed arbitrary bytes as a POST
 * /v1/push body.
 *
 * The configuration (two apps, max_tokens 64) is loaded once; its key file
 * is a temporary file holding one line (the loader checks that it exists
 * and is not empty, never parses it).
 * Each input is parsed with the first app's key and with no key. Invariants
 * (abort() on a violation):
 *   - success: 1..GW_PUSH_MAX_NOTIFICATIONS items, each with a configured
 *     app, a topic, 1.. tokens (counted as parsed), a payload that is one
 *     JSON object within APNs' size limit for its push type, and at most
 *     max_tokens tokens in all;
 *   - failure: an empty result, a status and code from the API's error
 *     table, a NUL-terminated non-empty message and field;
 *   - the same input gives the same answer twice (no hidden state);
 *   - a key may only narrow what is accepted (403), never widen it.
 * Leaks are caught by LeakSanitizer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "apnsd_keys.h"

#define MAX_TOKENS 64

static gw_config *cfg;
static char key_path[64];

static void check(int ok)
{
    if (!ok)
        abort();
}

static void cleanup(void)
{
    gw_config_free(cfg);
    if (key_path[0] != '\0')
        unlink(key_path);
}

static void setup(void)
{
    char text[1024];
    int fd;

    snprintf(key_path, sizeof key_path, "/tmp/fuzz-push-key-XXXXXX");
    fd = mkstemp(key_path);
    check(fd >= 0);
    check(write(fd, "not a key\n", 10) == 10);
    close(fd);
    snprintf(text, sizeof text,
             "[server]\nmax_tokens = %d\n"
             "[app shop]\ntopic = com.example.shop\ntopics = com.example.shop.voip\n"
             "topics = com.example.shop.push-type.liveactivity\n"
             "environment = sandbox\nkey_file = %s\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\n"
             "api_keys = shop-key-0123456789abcdef\n"
             "[app news]\ntopic = com.example.news\nenvironment = sandbox\nkey_file = %s\n"
             "key_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys = news-key-0123456789abcdef\n",
             MAX_TOKENS, key_path, key_path);
    check(gw_config_load_string(&gw_apnsd_schema, text, "fuzz.ini", &cfg, NULL) == 0);
    atexit(cleanup);
}

static int known_code(const gw_api_error *e)
{
    for (int c = 0; c < GW_API_E_COUNT; c++)
        if (strcmp(e->code, gw_api_errcode_name((gw_api_errcode)c)) == 0)
            return e->status == gw_api_errcode_status((gw_api_errcode)c);
    return 0;
}

static void check_result(int rc, const gw_push_request *r, const gw_api_error *e)
{
    size_t total = 0;

    if (rc != 0) {
        check(rc == -1 && r->n == 0 && r->items == NULL);
        check(e->status == 400 || e->status == 403 || e->status == 500);
        check(memchr(e->message, '\0', sizeof e->message) != NULL && e->message[0] != '\0');
        check(memchr(e->field, '\0', sizeof e->field) != NULL);
        check(known_code(e));
        return;
    }
    check(r->n >= 1 && r->n <= GW_PUSH_MAX_NOTIFICATIONS);
    for (size_t i = 0; i < r->n; i++) {
        const gw_push_item *it = &r->items[i];
        check(it->job.app != NULL && gw_config_find_app(cfg, it->job.app) != NULL);
        check(it->job.topic != NULL);
        check(it->n_tokens >= 1 && it->n_tokens == it->job.tokens.count);
        check(it->job.payload != NULL && it->job.payload == it->payload_buf);
        check(apns_json_is_object(it->job.payload, it->job.payload_len));
        check(it->job.payload_len <= apns_payload_limit(it->job.push_type));
        total += it->n_tokens;
    }
    check(total <= MAX_TOKENS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_push_request a, b, k;
    gw_api_error ea, eb, ek;
    int ra, rb, rk;

    if (cfg == NULL)
        setup();
    ra = gw_push_parse((const char *)data, size, cfg, NULL, &a, &ea);
    check_result(ra, &a, &ea);
    rb = gw_push_parse((const char *)data, size, cfg, NULL, &b, &eb);
    check(ra == rb);
    if (ra == 0)
        check(a.n == b.n);
    else
        check(strcmp(ea.code, eb.code) == 0 && strcmp(ea.field, eb.field) == 0);

    rk = gw_push_parse((const char *)data, size, cfg, "shop-key-0123456789abcdef", &k, &ek);
    check_result(rk, &k, &ek);
    if (rk == 0)
        check(ra == 0 && k.n == a.n);
    else if (ra == 0)
        check(ek.status == 403); /* the key only narrows */

    gw_push_request_free(&a);
    gw_push_request_free(&b);
    gw_push_request_free(&k);
    return 0;
}
