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
 *
 * Every status, reason, limit, suffix and push-type name comes from the
 * simulator's own tables (apple.h). The one thing borrowed from libapns is
 * the JSON syntax check (RFC 8259, not an Apple rule): the verdict for a
 * body that fails it is this file's.
 */
#include "validate.h"

#include <string.h>

#include "apns/notification.h" /* apns_json_is_object */

#define PATH_PREFIX_LEN (sizeof SIM_PATH_PREFIX - 1)
#define TOKEN_HEX_MAX   (2 * SIM_TOKEN_BYTES_MAX)

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static sim_reason check_token(const char *t, size_t len)
{
    if (len == 0)
        return SIM_REASON_MISSING_DEVICE_TOKEN;
    if (len < SIM_TOKEN_HEX_MIN || len > TOKEN_HEX_MAX || len % 2 != 0)
        return SIM_REASON_BAD_DEVICE_TOKEN;
    for (size_t i = 0; i < len; i++)
        if (!is_hex((unsigned char)t[i]))
            return SIM_REASON_BAD_DEVICE_TOKEN;
    return SIM_REASON_NONE;
}

int sim_validate_priority_ok(const char *s, size_t len)
{
    for (const char *const *p = sim_priorities; *p; p++)
        if (strlen(*p) == len && memcmp(*p, s, len) == 0)
            return 1;
    return 0;
}

/* 8-4-4-4-12 hex digits (either case), exactly SIM_UUID_LEN characters. */
int sim_validate_uuid_ok(const char *s, size_t len)
{
    if (len != SIM_UUID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* The request's apns-id is present, stored whole, and a UUID. */
static int id_ok(const sim_request *r)
{
    size_t len;
    const char *s = sim_request_value(r, SIM_HDR_ID, &len);
    return s && sim_request_complete(r, SIM_HDR_ID) && sim_validate_uuid_ok(s, len);
}

/* A decimal integer >= 0 that fits int64 (UNIX seconds, or 0). */
int sim_validate_expiration_ok(const char *s, size_t len)
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
static long bundle_len(const char *topic, size_t len, sim_push_type t)
{
    const char *sfx = sim_push_rules[t].suffix;
    size_t slen = strlen(sfx);
    if (slen > 0)
        return ends_with(topic, len, sfx, slen) && len > slen ? (long)(len - slen) : -1;
    /* alert, background, mdm: the bare bundle id; a topic carrying another
     * push type's suffix is the wrong one. */
    for (int i = 0; i < SIM_PUSH_TYPE_COUNT; i++) {
        const char *o = sim_push_rules[i].suffix;
        size_t olen = strlen(o);
        if (olen > 0 && ends_with(topic, len, o, olen))
            return -1;
    }
    return (long)len;
}

int sim_validate_topic_chars_ok(const char *s, size_t len)
{
    if (len == 0 || len > SIM_TOPIC_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c > 0x7e)
            return 0;
    }
    return 1;
}

int sim_validate_topic_allowed(const sim_policy *p, const char *bundle, size_t len)
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

static sim_reason check_topic(const sim_policy *p, const char *topic, size_t len, sim_push_type t)
{
    if (!sim_validate_topic_chars_ok(topic, len))
        return SIM_REASON_BAD_TOPIC;
    long blen = bundle_len(topic, len, t);
    if (blen < 0)
        return SIM_REASON_BAD_TOPIC;
    if (!sim_validate_topic_allowed(p, topic, (size_t)blen))
        return SIM_REASON_TOPIC_DISALLOWED;
    return SIM_REASON_NONE;
}

static sim_reason check_payload(const sim_request *r, sim_push_type t)
{
    if (r->body_len == 0)
        return SIM_REASON_PAYLOAD_EMPTY;
    if (r->body_len > sim_push_rules[t].payload_max)
        return SIM_REASON_PAYLOAD_TOO_LARGE;
    if (!apns_json_is_object(r->body, r->body_len))
        return SIM_REASON_PAYLOAD_EMPTY; /* see the note at the top */
    return SIM_REASON_NONE;
}

static sim_reason check_token_state(const sim_policy *p, const char *tok, size_t len, int64_t *ts)
{
    if (sim_tokenset_find(p->other_env, tok, len, NULL))
        return SIM_REASON_BAD_DEVICE_TOKEN;
    if (sim_tokenset_find(p->other_topic, tok, len, NULL))
        return SIM_REASON_DEVICE_TOKEN_NOT_FOR_TOPIC;
    if (sim_tokenset_find(p->forbidden, tok, len, NULL))
        return SIM_REASON_FORBIDDEN;
    if (sim_tokenset_find(p->expired, tok, len, ts))
        return SIM_REASON_EXPIRED_TOKEN;
    if (sim_tokenset_find(p->unregistered, tok, len, ts))
        return SIM_REASON_UNREGISTERED;
    return SIM_REASON_NONE;
}

static int push_type_of(const sim_request *r, sim_push_type *t)
{
    *t = SIM_PUSH_ALERT; /* APNs' default when the header is absent */
    size_t len;
    const char *s = sim_request_value(r, SIM_HDR_PUSH_TYPE, &len);
    if (!s)
        return 0;
    if (!sim_request_complete(r, SIM_HDR_PUSH_TYPE))
        return -1;
    return sim_push_type_parse(s, len, t);
}

size_t sim_validate_body_limit(const sim_request *r)
{
    sim_push_type t;
    if (push_type_of(r, &t) != 0)
        t = SIM_PUSH_ALERT;
    return sim_push_rules[t].payload_max;
}

/* Steps 1-3: the request line and header multiplicity. */
static sim_reason check_envelope(const sim_request *r, const char **tok, size_t *toklen)
{
    size_t len;
    const char *m = sim_request_value(r, SIM_HDR_METHOD, &len);
    if (!m || len != sizeof SIM_METHOD - 1 || memcmp(m, SIM_METHOD, len) != 0)
        return SIM_REASON_METHOD_NOT_ALLOWED;
    const char *path = sim_request_value(r, SIM_HDR_PATH, &len);
    if (!path || len < PATH_PREFIX_LEN || memcmp(path, SIM_PATH_PREFIX, PATH_PREFIX_LEN) != 0)
        return SIM_REASON_BAD_PATH;
    *tok = path + PATH_PREFIX_LEN;
    *toklen = len - PATH_PREFIX_LEN; /* may exceed what is stored: then it is too long */
    for (int h = 0; h < SIM_HDR_COUNT; h++)
        if (r->count[h] > 1)
            return SIM_REASON_DUPLICATE_HEADERS;
    return SIM_REASON_NONE;
}

/* Steps 6-11: the single-valued headers. */
static sim_reason check_headers(const sim_request *r, sim_push_type t)
{
    size_t len;
    const char *s = sim_request_value(r, SIM_HDR_PRIORITY, &len);
    if (s && (!sim_request_complete(r, SIM_HDR_PRIORITY) || !sim_validate_priority_ok(s, len)))
        return SIM_REASON_BAD_PRIORITY;
    const char *bad = sim_push_rules[t].bad_priority; /* background: 10, also when omitted */
    if (bad && strcmp(s ? s : SIM_PRIORITY_DEFAULT, bad) == 0)
        return SIM_REASON_BAD_PRIORITY;
    if (r->count[SIM_HDR_ID] && !id_ok(r))
        return SIM_REASON_BAD_MESSAGE_ID;
    s = sim_request_value(r, SIM_HDR_EXPIRATION, &len);
    if (s && (!sim_request_complete(r, SIM_HDR_EXPIRATION) || !sim_validate_expiration_ok(s, len)))
        return SIM_REASON_BAD_EXPIRATION_DATE;
    if (r->count[SIM_HDR_COLLAPSE_ID] && r->len[SIM_HDR_COLLAPSE_ID] > SIM_COLLAPSE_ID_MAX)
        return SIM_REASON_BAD_COLLAPSE_ID;
    return SIM_REASON_NONE;
}

static sim_reason decide(const sim_request *r, const sim_policy *p, sim_auth_fn auth,
                         void *auth_ctx, sim_verdict *v)
{
    const char *tok = NULL;
    size_t toklen = 0;
    sim_reason why = check_envelope(r, &tok, &toklen);
    if (why != SIM_REASON_NONE)
        return why;
    v->token = tok;
    v->token_len = toklen > TOKEN_HEX_MAX ? TOKEN_HEX_MAX : toklen;

    if (p->auth == SIM_AUTH_TOKEN && auth && (why = auth(auth_ctx, r)) != SIM_REASON_NONE)
        return why;
    if (p->auth == SIM_AUTH_CERT && p->cert_reason != SIM_REASON_NONE)
        return p->cert_reason;

    if ((why = check_token(tok, toklen)) != SIM_REASON_NONE)
        return why;

    sim_push_type t;
    if (push_type_of(r, &t) != 0)
        return SIM_REASON_INVALID_PUSH_TYPE;
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
        return SIM_REASON_MISSING_TOPIC;

    if ((why = check_headers(r, t)) != SIM_REASON_NONE)
        return why;

    if (topic) {
        if (topic != p->cert_topic && !sim_request_complete(r, SIM_HDR_TOPIC))
            return SIM_REASON_BAD_TOPIC;
        if ((why = check_topic(p, topic, tlen, t)) != SIM_REASON_NONE)
            return why;
        v->topic = topic;
        v->topic_len = tlen;
    }
    if (p->auth == SIM_AUTH_CERT &&
        (why = sim_cert_push_check(t, p->cert_services)) != SIM_REASON_NONE)
        return why;

    if ((why = check_payload(r, t)) != SIM_REASON_NONE)
        return why;

    return check_token_state(p, tok, toklen, &v->timestamp_ms);
}

void sim_validate(const sim_request *r, const sim_policy *p, sim_auth_fn auth, void *auth_ctx,
                  sim_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->push_type = SIM_PUSH_ALERT;
    if (r->count[SIM_HDR_ID] == 1 && id_ok(r))
        v->apns_id = sim_request_value(r, SIM_HDR_ID, NULL);
    v->reason = decide(r, p, auth, auth_ctx, v);
    v->status = sim_reasons[v->reason].status;
}
