/*
 * bcast.c - broadcast publish and channel management (order: see bcast.h).
 *
 * Apple lists the reasons of both APIs in one table and states no order
 * (§4.4). Choices where Apple is silent, kept in step with docs/apns-sim.md:
 * - A push-type suffix on the path's bundle id is 400 TopicDisallowed (the
 *   table: "don't add a push-type suffix"); a bundle id the credentials do
 *   not cover (the certificate's topic, --topics) is 403 TopicMismatch; one
 *   without the broadcast capability (not in --broadcast-topics, when
 *   given) is 400 FeatureNotEnabled.
 * - The push type is compared without regard to case, in the apns-push-type
 *   header and in the create body: Apple spells it three ways (§4.3).
 * - A publish body that is not one JSON object is 400 BadRequestPayload (the
 *   broadcast table's "cannot be parsed"; the device API, lacking such a
 *   reason, answers PayloadEmpty).
 * - BadExpirationDate for a non-zero expiration on a No-Message-Stored
 *   channel needs the channel: it comes after ChannelNotRegistered.
 * - Duplicate headers are not refused (DuplicateHeaders is not a reason of
 *   §4.4): the first value counts.
 */
#include "bcast.h"

#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "apns/notification.h" /* apns_json_is_object: syntax only */
#include "channels.h"

#define PUB_PREFIX_LEN (sizeof SIM_BC_PUBLISH_PREFIX - 1)
#define MAN_PREFIX_LEN (sizeof SIM_BC_MANAGE_PREFIX - 1)

static int has_prefix(const char *s, size_t len, const char *pfx, size_t plen)
{
    return len >= plen && memcmp(s, pfx, plen) == 0;
}

int sim_bc_is_publish(const sim_request *r)
{
    size_t len;
    const char *path = sim_request_value(r, SIM_HDR_PATH, &len);
    return path && has_prefix(path, len, SIM_BC_PUBLISH_PREFIX, PUB_PREFIX_LEN);
}

int sim_bc_channel_id_ok(const char *s, size_t len)
{
    if (len < 4 || len > SIM_CHANNEL_ID_MAX || len % 4 != 0)
        return 0;
    size_t pad = 0;
    while (pad < 2 && s[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

static int equals(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* The bundle id's form: what a path segment may hold (else BadPath). */
static int bundle_form_ok(const char *b, size_t len)
{
    return sim_validate_topic_chars_ok(b, len) && memchr(b, '/', len) == NULL;
}

static int has_push_suffix(const char *b, size_t len)
{
    for (int t = 0; t < SIM_PUSH_TYPE_COUNT; t++) {
        const char *sfx = sim_push_rules[t].suffix;
        size_t slen = strlen(sfx);
        if (slen > 0 && len >= slen && memcmp(b + len - slen, sfx, slen) == 0)
            return 1;
    }
    return 0;
}

static int listed(char *const *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (equals(s, len, list[i]))
            return 1;
    return 0;
}

/* Steps 3-4 of both APIs: credentials, then the bundle id. */
static sim_reason check_access(const sim_request *r, const sim_policy *p, sim_auth_fn auth,
                               void *auth_ctx, const char *b, size_t blen)
{
    sim_reason why;
    if (p->auth == SIM_AUTH_TOKEN && auth && (why = auth(auth_ctx, r)) != SIM_REASON_NONE)
        return why;
    if (p->auth == SIM_AUTH_CERT && p->cert_reason != SIM_REASON_NONE)
        return p->cert_reason;
    if (has_push_suffix(b, blen))
        return SIM_REASON_TOPIC_DISALLOWED;
    if (!sim_validate_topic_allowed(p, b, blen))
        return SIM_REASON_TOPIC_MISMATCH;
    if (p->nbc_topics > 0 && !listed(p->bc_topics, p->nbc_topics, b, blen))
        return SIM_REASON_FEATURE_NOT_ENABLED;
    return SIM_REASON_NONE;
}

/* A header whose whole value is stored, or NULL; an empty value counts as
 * absent. *trunc is set when present but too long to be stored. */
static const char *header(const sim_request *r, sim_hdr h, size_t *len, int *trunc)
{
    const char *s = sim_request_value(r, h, len);
    *trunc = s && !sim_request_complete(r, h);
    return s && *len > 0 ? s : NULL;
}

static sim_reason check_channel_header(const sim_request *r, sim_verdict *v)
{
    int trunc;
    size_t len;
    const char *ch = header(r, SIM_HDR_CHANNEL_ID, &len, &trunc);
    if (!ch)
        return SIM_REASON_MISSING_CHANNEL_ID;
    if (trunc || !sim_bc_channel_id_ok(ch, len))
        return SIM_REASON_BAD_CHANNEL_ID;
    v->channel = ch;
    v->channel_len = len;
    return SIM_REASON_NONE;
}

static sim_reason check_request_id(const sim_request *r)
{
    size_t len;
    const char *s = sim_request_value(r, SIM_HDR_REQUEST_ID, &len);
    if (s && (!sim_request_complete(r, SIM_HDR_REQUEST_ID) || !sim_validate_uuid_ok(s, len)))
        return SIM_REASON_BAD_MESSAGE_ID;
    return SIM_REASON_NONE;
}

static void take_request_id(const sim_request *r, sim_verdict *v)
{
    if (check_request_id(r) == SIM_REASON_NONE)
        v->apns_id = sim_request_value(r, SIM_HDR_REQUEST_ID, NULL);
}

static int is_push_type(const char *s, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(s, want, len) == 0;
}

/* A body of both APIs: present, at most 5120 bytes, one JSON object. */
static sim_reason check_body(const sim_request *r)
{
    if (r->body_len == 0)
        return SIM_REASON_PAYLOAD_EMPTY;
    if (r->body_len > SIM_BC_PAYLOAD_MAX)
        return SIM_REASON_PAYLOAD_TOO_LARGE;
    if (!apns_json_is_object(r->body, r->body_len))
        return SIM_REASON_BAD_REQUEST_PAYLOAD;
    return SIM_REASON_NONE;
}

/* Publish steps 6-10. */
static sim_reason check_publish_headers(const sim_request *r, int64_t *expiration)
{
    int trunc;
    size_t len;
    const char *s = header(r, SIM_HDR_PUSH_TYPE, &len, &trunc);
    if (!s && !trunc)
        return SIM_REASON_MISSING_PUSH_TYPE;
    if (trunc || !is_push_type(s, len, SIM_BC_PUSH_TYPE))
        return SIM_REASON_INVALID_PUSH_TYPE;
    s = header(r, SIM_HDR_PRIORITY, &len, &trunc);
    if (!s || trunc || !sim_validate_priority_ok(s, len))
        return SIM_REASON_BAD_PRIORITY;
    sim_reason why = check_request_id(r);
    if (why != SIM_REASON_NONE)
        return why;
    s = header(r, SIM_HDR_EXPIRATION, &len, &trunc);
    if (!s || trunc || !sim_validate_expiration_ok(s, len))
        return SIM_REASON_BAD_EXPIRATION_DATE;
    *expiration = strspn(s, "0") == len ? 0 : 1; /* only zero or not matters */
    return check_body(r);
}

static sim_reason decide_publish(const sim_request *r, const sim_policy *p, sim_auth_fn auth,
                                 void *auth_ctx, sim_verdict *v)
{
    size_t len;
    const char *m = sim_request_value(r, SIM_HDR_METHOD, &len);
    if (!m || !equals(m, len, "POST"))
        return SIM_REASON_METHOD_NOT_ALLOWED;
    const char *path = sim_request_value(r, SIM_HDR_PATH, &len);
    if (!path || !sim_request_complete(r, SIM_HDR_PATH) ||
        !has_prefix(path, len, SIM_BC_PUBLISH_PREFIX, PUB_PREFIX_LEN) ||
        !bundle_form_ok(path + PUB_PREFIX_LEN, len - PUB_PREFIX_LEN))
        return SIM_REASON_BAD_PATH;
    v->bundle = path + PUB_PREFIX_LEN;
    v->bundle_len = len - PUB_PREFIX_LEN;
    sim_reason why = check_access(r, p, auth, auth_ctx, v->bundle, v->bundle_len);
    if (why != SIM_REASON_NONE || (why = check_channel_header(r, v)) != SIM_REASON_NONE)
        return why;
    int64_t expiration = 0;
    if ((why = check_publish_headers(r, &expiration)) != SIM_REASON_NONE)
        return why;
    int policy =
        sim_channels_find(p->channels, v->bundle, v->bundle_len, v->channel, v->channel_len);
    if (policy < 0)
        return SIM_REASON_CHANNEL_NOT_REGISTERED;
    v->policy = (uint8_t)policy;
    if (policy == SIM_BC_POLICY_NONE && expiration != 0)
        return SIM_REASON_BAD_EXPIRATION_DATE;
    return SIM_REASON_NONE;
}

void sim_bc_publish(const sim_request *r, const sim_policy *p, sim_auth_fn auth, void *auth_ctx,
                    sim_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->op = SIM_BC_OP_PUBLISH;
    v->push_type = SIM_PUSH_LIVEACTIVITY;
    take_request_id(r, v);
    v->reason = decide_publish(r, p, auth, auth_ctx, v);
    v->status = sim_reasons[v->reason].status;
}

/* Management step 2: the operation named by method and path, or DEVICE when
 * the pair is not one of the four (BadPath). */
static sim_bc_op route(const char *m, size_t mlen, const char *path, size_t len, size_t *blen)
{
    if (!has_prefix(path, len, SIM_BC_MANAGE_PREFIX, MAN_PREFIX_LEN))
        return SIM_BC_OP_DEVICE;
    const char *b = path + MAN_PREFIX_LEN;
    const char *slash = memchr(b, '/', len - MAN_PREFIX_LEN);
    if (!slash)
        return SIM_BC_OP_DEVICE;
    *blen = (size_t)(slash - b);
    size_t rest = len - MAN_PREFIX_LEN - *blen;
    if (equals(slash, rest, SIM_BC_CHANNELS)) {
        if (equals(m, mlen, "POST"))
            return SIM_BC_OP_CREATE;
        return equals(m, mlen, "GET") ? SIM_BC_OP_READ : SIM_BC_OP_DELETE;
    }
    if (equals(slash, rest, SIM_BC_ALL_CHANNELS) && equals(m, mlen, "GET"))
        return SIM_BC_OP_LIST;
    return SIM_BC_OP_DEVICE;
}

/* The create body (step 6). */
static sim_reason parse_create(const sim_request *r, int *policy)
{
    sim_reason why = check_body(r);
    if (why != SIM_REASON_NONE)
        return why;
    json_t *root = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, NULL);
    if (!root || !json_is_object(root)) {
        json_decref(root); /* numbers jansson cannot hold */
        return SIM_REASON_BAD_REQUEST_PAYLOAD;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "message-storage-policy") != 0 && strcmp(key, "push-type") != 0)
            why = SIM_REASON_BAD_REQUEST_PARAMS;
    }
    json_t *pt = json_object_get(root, "push-type");
    json_t *pol = json_object_get(root, "message-storage-policy");
    if (why != SIM_REASON_NONE)
        ;
    else if (!pt)
        why = SIM_REASON_MISSING_PUSH_TYPE;
    else if (!json_is_string(pt) ||
             !is_push_type(json_string_value(pt), json_string_length(pt), SIM_BC_BODY_PUSH_TYPE))
        why = SIM_REASON_INVALID_PUSH_TYPE;
    else if (!json_is_integer(pol) || (json_integer_value(pol) != SIM_BC_POLICY_NONE &&
                                       json_integer_value(pol) != SIM_BC_POLICY_MOST_RECENT))
        why = SIM_REASON_BAD_REQUEST_PARAMS;
    else
        *policy = (int)json_integer_value(pol);
    json_decref(root);
    return why;
}

static sim_reason run_op(const sim_request *r, const sim_policy *p, sim_verdict *v)
{
    sim_reason why;
    int policy = 0;
    switch ((sim_bc_op)v->op) {
    case SIM_BC_OP_CREATE:
        if ((why = parse_create(r, &policy)) != SIM_REASON_NONE)
            return why;
        switch (sim_channels_create(p->channels, v->bundle, v->bundle_len, policy, v->created)) {
        case 0:
            v->channel = v->created;
            v->channel_len = strlen(v->created);
            v->policy = (uint8_t)policy;
            v->status = 201;
            return SIM_REASON_NONE;
        case 1:
            return SIM_REASON_CANNOT_CREATE_CHANNEL_CONFIG;
        default:
            return SIM_REASON_INTERNAL_SERVER_ERROR;
        }
    case SIM_BC_OP_READ:
    case SIM_BC_OP_DELETE:
        if ((why = check_channel_header(r, v)) != SIM_REASON_NONE)
            return why;
        if (v->op == SIM_BC_OP_DELETE) {
            if (sim_channels_delete(p->channels, v->bundle, v->bundle_len, v->channel,
                                    v->channel_len) != 0)
                return SIM_REASON_CHANNEL_NOT_REGISTERED;
            v->status = 204;
            return SIM_REASON_NONE;
        }
        policy =
            sim_channels_find(p->channels, v->bundle, v->bundle_len, v->channel, v->channel_len);
        if (policy < 0)
            return SIM_REASON_CHANNEL_NOT_REGISTERED;
        v->policy = (uint8_t)policy;
        return SIM_REASON_NONE;
    default: /* LIST: the body is made when answering */
        return SIM_REASON_NONE;
    }
}

static sim_reason decide_manage(const sim_request *r, const sim_policy *p, sim_auth_fn auth,
                                void *auth_ctx, sim_verdict *v)
{
    size_t mlen, len, blen = 0;
    const char *m = sim_request_value(r, SIM_HDR_METHOD, &mlen);
    if (!m || !(equals(m, mlen, "POST") || equals(m, mlen, "GET") || equals(m, mlen, "DELETE")))
        return SIM_REASON_METHOD_NOT_ALLOWED;
    const char *path = sim_request_value(r, SIM_HDR_PATH, &len);
    if (!path || !sim_request_complete(r, SIM_HDR_PATH) ||
        (v->op = (uint8_t)route(m, mlen, path, len, &blen)) == SIM_BC_OP_DEVICE ||
        !bundle_form_ok(path + MAN_PREFIX_LEN, blen))
        return SIM_REASON_BAD_PATH;
    v->bundle = path + MAN_PREFIX_LEN;
    v->bundle_len = blen;
    sim_reason why = check_access(r, p, auth, auth_ctx, v->bundle, v->bundle_len);
    if (why != SIM_REASON_NONE || (why = check_request_id(r)) != SIM_REASON_NONE)
        return why;
    return run_op(r, p, v);
}

void sim_bc_manage(const sim_request *r, const sim_policy *p, sim_auth_fn auth, void *auth_ctx,
                   sim_verdict *v)
{
    memset(v, 0, sizeof *v);
    take_request_id(r, v);
    v->reason = decide_manage(r, p, auth, auth_ctx, v);
    if (v->reason != SIM_REASON_NONE || v->status == 0)
        v->status = sim_reasons[v->reason].status;
}
