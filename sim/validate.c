/*
 * validate.c - the simulator's APNs request rules (order: see validate.h).
 *
 * Choices where Apple is silent, kept in step with docs/apns-sim.md:
 * - A body that is not one JSON object is answered 400 PayloadEmpty: Apple
 *   documents no reason for it, and a documented reason keeps clients'
 *   reason tables (and retry decisions: drop) working.
 * - A topic whose suffix does not fit the push type (".voip" missing for
 *   voip, or an alert sent to "<id>.voip") is 400 BadTopic; a well-formed
 *   topic whose bundle id is not allowed is 400 TopicDisallowed.
 * - background with apns-priority omitted is 400 BadPriority: the default
 *   is 10, which background may not use (libapns rejects it too).
 * - The payload size is checked before its syntax, so an oversize body is
 *   413 whatever it holds (the server never keeps more than the limit).
 */
#include "validate.h"

#include <string.h>

#define PATH_PREFIX     "/3/device/"
#define PATH_PREFIX_LEN (sizeof PATH_PREFIX - 1)

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static apns_reason check_token(const char *t, size_t len)
{
    if (len == 0)
        return APNS_REASON_MISSING_DEVICE_TOKEN;
    if (len < APNS_TOKEN_HEX_MIN || len > APNS_TOKEN_HEX_MAX || len % 2 != 0)
        return APNS_REASON_BAD_DEVICE_TOKEN;
    for (size_t i = 0; i < len; i++)
        if (!is_hex((unsigned char)t[i]))
            return APNS_REASON_BAD_DEVICE_TOKEN;
    return APNS_REASON_NONE;
}

static int priority_ok(const char *s, size_t len)
{
    if (len == 1)
        return s[0] == '5' || s[0] == '1';
    return len == 2 && s[0] == '1' && s[1] == '0';
}

/* A decimal integer >= 0 that fits int64 (UNIX seconds, or 0). */
static int expiration_ok(const char *s, size_t len)
{
    if (len == 0 || len > 19)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return len < 19 || strcmp(s, "9223372036854775807") <= 0;
}

static int ends_with(const char *s, size_t len, const char *suffix, size_t slen)
{
    return slen <= len && memcmp(s + len - slen, suffix, slen) == 0;
}

/* Length of the bundle id part of topic for push type t, or -1 when the
 * suffix does not fit (BadTopic). */
static long bundle_len(const char *topic, size_t len, apns_push_type t)
{
    const char *sfx = apns_push_type_topic_suffix(t);
    size_t slen = sfx ? strlen(sfx) : 0;
    if (slen > 0)
        return ends_with(topic, len, sfx, slen) && len > slen ? (long)(len - slen) : -1;
    /* alert, background, mdm: the bare bundle id; a topic carrying another
     * push type's suffix is the wrong one. */
    for (int i = 0; i < APNS_PUSH_TYPE_COUNT; i++) {
        const char *o = apns_push_type_topic_suffix((apns_push_type)i);
        size_t olen = o ? strlen(o) : 0;
        if (olen > 0 && ends_with(topic, len, o, olen))
            return -1;
    }
    return (long)len;
}

static int topic_chars_ok(const char *s, size_t len)
{
    if (len == 0 || len > APNS_TOPIC_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c > 0x7e)
            return 0;
    }
    return 1;
}

static int topic_allowed(const sim_policy *p, const char *bundle, size_t len)
{
    int restricted = p->ntopics > 0 || p->cert_topic != NULL;
    if (!restricted)
        return 1;
    if (p->cert_topic && strlen(p->cert_topic) == len && memcmp(p->cert_topic, bundle, len) == 0)
        return 1;
    for (size_t i = 0; i < p->ntopics; i++)
        if (strlen(p->topics[i]) == len && memcmp(p->topics[i], bundle, len) == 0)
            return 1;
    return 0;
}

static apns_reason check_topic(const sim_policy *p, const char *topic, size_t len, apns_push_type t)
{
    if (!topic_chars_ok(topic, len))
        return APNS_REASON_BAD_TOPIC;
    long blen = bundle_len(topic, len, t);
    if (blen < 0)
        return APNS_REASON_BAD_TOPIC;
    if (!topic_allowed(p, topic, (size_t)blen))
        return APNS_REASON_TOPIC_DISALLOWED;
    return APNS_REASON_NONE;
}

static apns_reason check_payload(const sim_request *r, apns_push_type t)
{
    if (r->body_len == 0)
        return APNS_REASON_PAYLOAD_EMPTY;
    if (r->body_len > apns_payload_limit(t))
        return APNS_REASON_PAYLOAD_TOO_LARGE;
    if (!apns_json_is_object(r->body, r->body_len))
        return APNS_REASON_PAYLOAD_EMPTY; /* see the note at the top */
    return APNS_REASON_NONE;
}

static apns_reason check_token_state(const sim_policy *p, const char *tok, size_t len, int64_t *ts)
{
    if (sim_tokenset_find(p->other_env, tok, len, NULL))
        return APNS_REASON_BAD_DEVICE_TOKEN;
    if (sim_tokenset_find(p->other_topic, tok, len, NULL))
        return APNS_REASON_DEVICE_TOKEN_NOT_FOR_TOPIC;
    if (sim_tokenset_find(p->unregistered, tok, len, ts))
        return APNS_REASON_UNREGISTERED;
    return APNS_REASON_NONE;
}

static int push_type_of(const sim_request *r, apns_push_type *t)
{
    *t = APNS_PUSH_ALERT; /* APNs' default when the header is absent */
    if (r->count[SIM_HDR_PUSH_TYPE] == 0)
        return 0;
    if (!sim_request_complete(r, SIM_HDR_PUSH_TYPE))
        return -1;
    return apns_push_type_parse(sim_request_value(r, SIM_HDR_PUSH_TYPE, NULL), t) == 0 ? 0 : -1;
}

size_t sim_validate_body_limit(const sim_request *r)
{
    apns_push_type t;
    if (push_type_of(r, &t) != 0)
        t = APNS_PUSH_ALERT;
    return apns_payload_limit(t);
}

/* Steps 1-3: the request line and header multiplicity. */
static apns_reason check_envelope(const sim_request *r, const char **tok, size_t *toklen)
{
    size_t len;
    const char *m = sim_request_value(r, SIM_HDR_METHOD, &len);
    if (!m || len != 4 || memcmp(m, "POST", 4) != 0)
        return APNS_REASON_METHOD_NOT_ALLOWED;
    const char *path = sim_request_value(r, SIM_HDR_PATH, &len);
    if (!path || len < PATH_PREFIX_LEN || memcmp(path, PATH_PREFIX, PATH_PREFIX_LEN) != 0)
        return APNS_REASON_BAD_PATH;
    *tok = path + PATH_PREFIX_LEN;
    *toklen = len - PATH_PREFIX_LEN; /* may exceed what is stored: then it is too long */
    for (int h = 0; h < SIM_HDR_COUNT; h++)
        if (r->count[h] > 1)
            return APNS_REASON_DUPLICATE_HEADERS;
    return APNS_REASON_NONE;
}

/* Steps 6-11: the single-valued headers. */
static apns_reason check_headers(const sim_request *r, apns_push_type t)
{
    size_t len;
    const char *s = sim_request_value(r, SIM_HDR_PRIORITY, &len);
    if (s && (!sim_request_complete(r, SIM_HDR_PRIORITY) || !priority_ok(s, len)))
        return APNS_REASON_BAD_PRIORITY;
    if (t == APNS_PUSH_BACKGROUND && (!s || strcmp(s, "10") == 0))
        return APNS_REASON_BAD_PRIORITY;
    if (r->count[SIM_HDR_ID] &&
        !(sim_request_complete(r, SIM_HDR_ID) && r->len[SIM_HDR_ID] == APNS_UUID_LEN &&
          apns_uuid_is_valid(sim_request_value(r, SIM_HDR_ID, NULL))))
        return APNS_REASON_BAD_MESSAGE_ID;
    s = sim_request_value(r, SIM_HDR_EXPIRATION, &len);
    if (s && (!sim_request_complete(r, SIM_HDR_EXPIRATION) || !expiration_ok(s, len)))
        return APNS_REASON_BAD_EXPIRATION_DATE;
    if (r->count[SIM_HDR_COLLAPSE_ID] && r->len[SIM_HDR_COLLAPSE_ID] > APNS_COLLAPSE_ID_MAX)
        return APNS_REASON_BAD_COLLAPSE_ID;
    return APNS_REASON_NONE;
}

static apns_reason decide(const sim_request *r, const sim_policy *p, sim_auth_fn auth,
                          void *auth_ctx, sim_verdict *v)
{
    const char *tok = NULL;
    size_t toklen = 0;
    apns_reason why = check_envelope(r, &tok, &toklen);
    if (why != APNS_REASON_NONE)
        return why;
    v->token = tok;
    v->token_len = toklen > APNS_TOKEN_HEX_MAX ? APNS_TOKEN_HEX_MAX : toklen;

    if (p->auth == SIM_AUTH_TOKEN && auth && (why = auth(auth_ctx, r)) != APNS_REASON_NONE)
        return why;

    if ((why = check_token(tok, toklen)) != APNS_REASON_NONE)
        return why;

    apns_push_type t;
    if (push_type_of(r, &t) != 0)
        return APNS_REASON_INVALID_PUSH_TYPE;
    v->push_type = t;

    size_t tlen = 0;
    const char *topic = sim_request_value(r, SIM_HDR_TOPIC, &tlen);
    if (topic && tlen == 0)
        topic = NULL; /* an empty apns-topic counts as none */
    if (!topic && p->auth == SIM_AUTH_CERT && p->cert_topic) {
        topic = p->cert_topic; /* a certificate's own topic is the default */
        tlen = strlen(topic);
    }
    /* Token auth always needs the topic; so does a simulator restricted to
     * some topics (--topics), which has to know which one is meant. */
    if (!topic && (p->auth == SIM_AUTH_TOKEN || p->ntopics > 0 || p->cert_topic))
        return APNS_REASON_MISSING_TOPIC;

    if ((why = check_headers(r, t)) != APNS_REASON_NONE)
        return why;

    if (topic) {
        if (topic != p->cert_topic && !sim_request_complete(r, SIM_HDR_TOPIC))
            return APNS_REASON_BAD_TOPIC;
        if ((why = check_topic(p, topic, tlen, t)) != APNS_REASON_NONE)
            return why;
        v->topic = topic;
        v->topic_len = tlen;
    }

    if ((why = check_payload(r, t)) != APNS_REASON_NONE)
        return why;

    return check_token_state(p, tok, toklen, &v->timestamp_ms);
}

void sim_validate(const sim_request *r, const sim_policy *p, sim_auth_fn auth, void *auth_ctx,
                  sim_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->push_type = APNS_PUSH_ALERT;
    if (r->count[SIM_HDR_ID] == 1 && sim_request_complete(r, SIM_HDR_ID) &&
        r->len[SIM_HDR_ID] == APNS_UUID_LEN &&
        apns_uuid_is_valid(sim_request_value(r, SIM_HDR_ID, NULL)))
        v->apns_id = sim_request_value(r, SIM_HDR_ID, NULL);
    v->reason = decide(r, p, auth, auth_ctx, v);
    v->status = v->reason == APNS_REASON_NONE ? 200 : apns_reason_status(v->reason);
}
