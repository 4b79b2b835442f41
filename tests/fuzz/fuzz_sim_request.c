/*
 * fuzz_sim_request.c - apns-sim's request validation (sim/validate.c) with
 * the header collector, token sets and provider-token checks behind it.
 *
 * Input framing (text, so the corpus is readable):
 *   byte 0         flags: bits 0-1 auth mode (0 open, 1 token, 2 cert,
 *                  3 token), bit 2 restrict topics to com.example.app,
 *                  bit 3 load the token sets below, bit 4 judge it as a
 *                  broadcast request too (bcast.c: publish, and channel
 *                  management on a store limited to 2 channels per app)
 *   then lines     "name value\n" (name up to the first space) until an
 *                  empty line
 *   then           the body, all remaining bytes
 * Token mode verifies JWTs against the fixed key below (kid FUZZKEY001,
 * team FUZZTEAM01) at the fixed time 1700000000.
 *
 * Invariants checked (abort on violation): status and reason agree with
 * the simulator's own reason table (sim/apple.h); a 200 has a well-formed
 * token, a payload within the push type's limit that is a JSON object; an
 * echoed apns-id is a UUID. Broadcast: a publish accepted has a well-formed
 * channel id and a JSON object of at most 5120 bytes; a channel created has
 * a 24-character id the store then finds; statuses agree with the table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apns/notification.h"
#include "auth.h"
#include "bcast.h"
#include "channels.h"
#include "keys.h"
#include "request.h"
#include "tokenset.h"
#include "validate.h"

#define FUZZ_NOW 1700000000

static const char fuzz_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEE6nPRtnsTg2aH/PP7AYhsZBFF0PI\n"
                               "tWUxEKSLEaQBDicaNn7tLw0oTpGblyCgg7cz1jsHBv180NeOcrx/jPFOOQ==\n"
                               "-----END PUBLIC KEY-----\n";

static const char unregistered_txt[] =
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb "
    "1600000000123\n";
static const char other_topic_txt[] =
    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\n";
static const char other_env_txt[] =
    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\n";

static sim_keys keys;
static sim_tokenset *unregistered, *other_topic, *other_env;
static sim_request req;
static sim_auth auth;
static sim_channels *channels;

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    if (sim_keys_add_pem(&keys, "FUZZKEY001", "FUZZTEAM01", fuzz_pub, sizeof fuzz_pub - 1) != 0)
        abort();
    if (sim_tokenset_parse(&unregistered, unregistered_txt, sizeof unregistered_txt - 1, 1) != 0 ||
        sim_tokenset_parse(&other_topic, other_topic_txt, sizeof other_topic_txt - 1, 1) != 0 ||
        sim_tokenset_parse(&other_env, other_env_txt, sizeof other_env_txt - 1, 1) != 0)
        abort();
    if (!(channels = sim_channels_new(2)))
        abort();
}

static sim_reason auth_hook(void *ctx, const sim_request *r)
{
    size_t len = 0;
    const char *v = sim_request_value(r, SIM_HDR_AUTHORIZATION, &len);
    if (v && !sim_request_complete(r, SIM_HDR_AUTHORIZATION))
        return SIM_REASON_INVALID_PROVIDER_TOKEN;
    return sim_auth_check(ctx, v, len, FUZZ_NOW);
}

static void check_broadcast(const sim_request *r, const sim_policy *p)
{
    sim_verdict v;
    sim_bc_publish(r, p, auth_hook, &auth, &v);
    if ((unsigned)v.reason >= SIM_REASON_COUNT ||
        v.status != (v.reason ? sim_reasons[v.reason].status : 200))
        abort();
    if (v.reason == SIM_REASON_NONE &&
        (!v.channel || !sim_bc_channel_id_ok(v.channel, v.channel_len) || r->body_len == 0 ||
         r->body_len > SIM_BC_PAYLOAD_MAX || !apns_json_is_object(r->body, r->body_len)))
        abort();
    sim_bc_manage(r, p, auth_hook, &auth, &v);
    if ((unsigned)v.reason >= SIM_REASON_COUNT ||
        (v.reason != SIM_REASON_NONE && v.status != sim_reasons[v.reason].status))
        abort();
    if (v.reason == SIM_REASON_NONE && v.op == SIM_BC_OP_CREATE &&
        (v.status != 201 || strlen(v.created) != SIM_CHANNEL_ID_LEN ||
         sim_channels_find(channels, v.bundle, v.bundle_len, v.created, SIM_CHANNEL_ID_LEN) < 0))
        abort();
}

static int is_token(const char *t, size_t len)
{
    if (len < SIM_TOKEN_HEX_MIN || len > 2 * SIM_TOKEN_BYTES_MAX || len % 2)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789abcdefABCDEF", t[i]) || t[i] == '\0')
            return 0;
    return 1;
}

static void check(const sim_request *r, const sim_verdict *v)
{
    if ((unsigned)v->reason >= SIM_REASON_COUNT || (unsigned)v->push_type >= SIM_PUSH_TYPE_COUNT)
        abort();
    if (v->reason == SIM_REASON_NONE) {
        if (v->status != 200 || !v->token || !is_token(v->token, v->token_len))
            abort();
        if (r->body_len == 0 || r->body_len > sim_push_rules[v->push_type].payload_max ||
            !apns_json_is_object(r->body, r->body_len))
            abort();
    } else if (v->status != sim_reasons[v->reason].status || v->status < 400) {
        abort();
    }
    if (v->apns_id && !apns_uuid_is_valid(v->apns_id))
        abort();
    if (v->topic && (v->topic_len == 0 || v->topic_len > SIM_TOPIC_MAX))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;

    sim_request_reset(&req);
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *eol = nl ? nl : end;
        if (eol == p) { /* empty line: the body follows */
            p = eol + 1;
            break;
        }
        const uint8_t *sp = memchr(p, ' ', (size_t)(eol - p));
        const uint8_t *vstart = sp ? sp + 1 : eol;
        sim_request_add_header(&req, p, (size_t)((sp ? sp : eol) - p), vstart,
                               (size_t)(eol - vstart));
        p = nl ? nl + 1 : end;
    }
    if (p < end) {
        /* Feed the body in two chunks, as DATA frames would. */
        size_t n = (size_t)(end - p), half = n / 2;
        sim_request_add_body(&req, p, half);
        sim_request_add_body(&req, p + half, n - half);
    }

    static char *topics[] = {"com.example.app"};
    sim_policy pol = {0};
    switch (flags & 3) {
    case 0:
        pol.auth = SIM_AUTH_OPEN;
        break;
    case 2:
        pol.auth = SIM_AUTH_CERT;
        pol.cert_topic = "com.example.app";
        break;
    default:
        pol.auth = SIM_AUTH_TOKEN;
        break;
    }
    if (flags & 4) {
        pol.topics = topics;
        pol.ntopics = 1;
    }
    if (flags & 8) {
        pol.unregistered = unregistered;
        pol.other_topic = other_topic;
        pol.other_env = other_env;
    }
    pol.channels = channels;
    sim_auth_init(&auth, &keys, 3600, 1200);
    if (flags & 16)
        check_broadcast(&req, &pol);

    sim_verdict v;
    sim_validate(&req, &pol, auth_hook, &auth, &v);
    check(&req, &v);
    /* The same token again hits the verification cache: same verdict. */
    if (pol.auth == SIM_AUTH_TOKEN) {
        sim_verdict again;
        sim_validate(&req, &pol, auth_hook, &auth, &again);
        if (again.status != v.status || again.reason != v.reason)
            abort();
    }
    (void)sim_validate_body_limit(&req);
    return 0;
}
