/*
 * notification.c - defaults, APNs' header and payload rules, push-type
 * names, and apns-id UUIDs.
 *
 * apns_notification_validate() checks in a fixed order (token, topic, push
 * type, priority, background priority, collapse id, apns-id, expiration,
 * payload: empty, object, size) and reports only the first problem, so a
 * caller sees the same error for the same notification every time. Values
 * quoted into the detail sentence are cut to a short prefix and escaped, so
 * binary junk in a field cannot produce an unreadable or unbounded message.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include <openssl/rand.h>

#include "apns/error.h"
#include "apns/notification.h"
#include "apns/payload.h"
#include "hex.h" /* common/ */
#include "notification_int.h"
#include "token.h" /* common/ */

#define QUOTE_MAX 40 /* characters of a bad value quoted in a detail sentence */

static const char *const push_names[] = {
#define XX(name, str, suffix) str,
    APNS_PUSH_TYPE_MAP(XX)
#undef XX
};

static const char *const push_suffixes[] = {
#define XX(name, str, suffix) suffix,
    APNS_PUSH_TYPE_MAP(XX)
#undef XX
};

const char *apns_push_type_name(apns_push_type t)
{
    if ((int)t < 0 || (int)t >= APNS_PUSH_TYPE_COUNT)
        return NULL;
    return push_names[t];
}

const char *apns_push_type_topic_suffix(apns_push_type t)
{
    if ((int)t < 0 || (int)t >= APNS_PUSH_TYPE_COUNT)
        return NULL;
    return push_suffixes[t];
}

int apns_push_type_parse(const char *s, apns_push_type *out)
{
    if (s == NULL)
        return APNS_EPUSHTYPE;
    for (int i = 0; i < APNS_PUSH_TYPE_COUNT; i++) {
        if (strcmp(s, push_names[i]) == 0) {
            if (out)
                *out = (apns_push_type)i;
            return 0;
        }
    }
    return APNS_EPUSHTYPE;
}

size_t apns_payload_limit(apns_push_type t)
{
    return t == APNS_PUSH_VOIP ? APNS_PAYLOAD_MAX_VOIP : APNS_PAYLOAD_MAX;
}

void apns_notification_init(apns_notification *n)
{
    memset(n, 0, sizeof *n);
    n->push_type = APNS_PUSH_ALERT;
    n->priority = 0;
    n->expiration = APNS_EXPIRATION_NONE;
}

/* ---- apns-id ------------------------------------------------------------ */

/* hex_digit[c]: 1 for '0'-'9', 'a'-'f', 'A'-'F'. */
static const unsigned char hex_digit[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
};

/* Group by group (8-4-4-4-12), each followed by '-' or the final NUL: the
 * apnsd dispatcher checks an apns-id per notification. */
int apns_uuid_is_valid(const char *s)
{
    static const unsigned char group[5] = {8, 4, 4, 4, 12};
    const unsigned char *p = (const unsigned char *)s;

    if (p == NULL)
        return 0;
    for (int g = 0; g < 5; g++) {
        for (unsigned k = 0; k < group[g]; k++, p++)
            if (!hex_digit[*p])
                return 0; /* also stops at an early NUL */
        if (*p++ != (g < 4 ? '-' : '\0'))
            return 0;
    }
    return 1;
}

/*
 * apns-ids are generated once per notification, on the hot path. One
 * RAND_bytes() call per id costs ~750 ns in OpenSSL 3 (it checks getpid()
 * with a syscall every time), so each thread draws 4 KiB at once and hands
 * out 16 bytes per id. A forked child must not replay its parent's buffer
 * (two processes would mint the same ids): a pthread_atfork child handler
 * empties the buffer of the forking thread, the only thread in the child.
 */
#define RAND_POOL 4096
static _Thread_local unsigned char rand_pool[RAND_POOL];
static _Thread_local size_t rand_left;
static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void rand_after_fork(void)
{
    rand_left = 0;
}

static void rand_register(void)
{
    pthread_atfork(NULL, NULL, rand_after_fork);
}

static int rand_take16(unsigned char b[16])
{
    pthread_once(&rand_once, rand_register);
    if (rand_left < 16) {
        if (RAND_bytes(rand_pool, RAND_POOL) != 1)
            return -1;
        rand_left = RAND_POOL;
    }
    rand_left -= 16;
    memcpy(b, rand_pool + rand_left, 16);
    /* Never hand the same bytes out twice. */
    memset(rand_pool + rand_left, 0, 16);
    return 0;
}

/* b as a UUID of version `version` (its version and variant bits set over
 * b's). */
static void uuid_format(const uint8_t b[16], unsigned version, char out[APNS_UUID_LEN + 1])
{
    uint8_t v[16];
    memcpy(v, b, sizeof v);
    v[6] = (uint8_t)((v[6] & 0x0f) | (version << 4));
    v[8] = (uint8_t)((v[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    /* byte i's two digits at o: 8-4-4-4-12, written out (no loop, no branch) */
#define D(i, o) memcpy(out + (o), common_hex_pairs + 2 * v[i], 2)
    D(0, 0);
    D(1, 2);
    D(2, 4);
    D(3, 6);
    D(4, 9);
    D(5, 11);
    D(6, 14);
    D(7, 16);
    D(8, 19);
    D(9, 21);
    D(10, 24);
    D(11, 26);
    D(12, 28);
    D(13, 30);
    D(14, 32);
    D(15, 34);
#undef D
    out[8] = out[13] = out[18] = out[23] = '-';
    out[APNS_UUID_LEN] = '\0';
}

void apns__uuid_format(const uint8_t b[16], char out[APNS_UUID_LEN + 1])
{
    uuid_format(b, 4, out);
}

int apns_uuid_generate(char out[APNS_UUID_LEN + 1])
{
    unsigned char b[16];

    if (rand_take16(b) != 0) {
        out[0] = '\0';
        return APNS_ECRYPTO;
    }
    uuid_format(b, 4, out);
    return 0;
}

int apns_uuid_generate_v7(char out[APNS_UUID_LEN + 1], int64_t unix_ms)
{
    unsigned char b[16];

    out[0] = '\0';
    if (unix_ms < 0 || unix_ms > 0xffffffffffffll)
        return APNS_EINVAL;
    if (rand_take16(b) != 0)
        return APNS_ECRYPTO;
    for (int i = 0; i < 6; i++) /* unix_ts_ms: 48 bits, big-endian (RFC 9562, 5.7) */
        b[i] = (unsigned char)(unix_ms >> (40 - 8 * i));
    uuid_format(b, 7, out);
    return 0;
}

/* ---- validation --------------------------------------------------------- */

/* Writes at most QUOTE_MAX characters of s[0..len) into q (size >= 4 *
 * QUOTE_MAX + 4), escaping '"', '\\' and non-printable bytes, with "..."
 * when cut. */
static void quote(char *q, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;
    for (i = 0; i < len && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            q[o++] = '\\';
            q[o++] = (char)c;
        } else if (c < 0x20 || c > 0x7e) {
            q[o++] = '\\';
            q[o++] = 'x';
            q[o++] = hex[c >> 4];
            q[o++] = hex[c & 15];
        } else {
            q[o++] = (char)c;
        }
    }
    if (i < len) {
        memcpy(q + o, "...", 3);
        o += 3;
    }
    q[o] = '\0';
}

#define QBUF (4 * QUOTE_MAX + 4)

__attribute__((format(printf, 4, 5))) static int report(int err, char *detail, size_t detail_len,
                                                        const char *fmt, ...)
{
    if (detail != NULL && detail_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, detail_len, fmt, ap);
        va_end(ap);
    }
    return err;
}

static int check_token(const char *tok, char *d, size_t dl)
{
    char q[QBUF];
    size_t len = tok != NULL ? strlen(tok) : 0, at = 0;

    switch (common_token_check(tok, len, &at)) {
    case COMMON_TOKEN_OK:
        return 0;
    case COMMON_TOKEN_EMPTY:
        return report(APNS_EBADTOKEN, d, dl, "device token is missing");
    case COMMON_TOKEN_NOT_HEX:
        quote(q, tok, len);
        return report(APNS_EBADTOKEN, d, dl,
                      "device token \"%s\" is not hexadecimal (byte %zu is not 0-9a-fA-F)", q, at);
    case COMMON_TOKEN_LENGTH:
        quote(q, tok, len);
        return report(APNS_EBADTOKEN, d, dl,
                      "device token \"%s\" has %zu hex characters; it must have %d to %d", q, len,
                      APNS_TOKEN_HEX_MIN, APNS_TOKEN_HEX_MAX);
    default:
        quote(q, tok, len);
        return report(APNS_EBADTOKEN, d, dl,
                      "device token \"%s\" has an odd number of hex characters (%zu)", q, len);
    }
}

/* The first byte of a header value that breaks RFC 9113 section 8.2.1 (no
 * NUL, CR or LF; no SP or HTAB first or last) or is another control
 * character nghttp2 refuses (RFC 9110 section 5.5: 0x01-0x1f but HTAB,
 * and DEL); len when there is none. */
static size_t field_value_bad(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return i;
    }
    if (len > 0 && (v[0] == ' ' || v[0] == '\t'))
        return 0;
    if (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        return len - 1;
    return len;
}

static int check_topic(const char *topic, int require_topic, char *d, size_t dl)
{
    char q[QBUF];
    if (topic == NULL || topic[0] == '\0') {
        if (require_topic)
            return report(APNS_ENOTOPIC, d, dl,
                          "apns-topic is missing; token auth and multi-topic certificates "
                          "require it");
        if (topic == NULL)
            return 0; /* single-topic certificate: APNs uses its subject */
        return report(APNS_ETOPIC, d, dl, "apns-topic \"\" is empty; leave it NULL to omit it");
    }
    size_t len = strlen(topic);
    if (len > APNS_TOPIC_MAX) {
        quote(q, topic, len);
        return report(APNS_ETOPIC, d, dl, "apns-topic \"%s\" is %zu bytes; at most %d are allowed",
                      q, len, APNS_TOPIC_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)topic[i];
        if (c <= 0x20 || c > 0x7e) {
            quote(q, topic, len);
            return report(APNS_ETOPIC, d, dl,
                          "apns-topic \"%s\" has %s at byte %zu; only printable ASCII without "
                          "spaces is allowed",
                          q, c == ' ' ? "a space" : "a non-printable byte", i);
        }
    }
    return 0;
}

static int check_payload(const apns_notification *n, int json_known_good, char *d, size_t dl)
{
    if (n->payload == NULL || n->payload_len == 0)
        return report(APNS_EPAYLOADEMPTY, d, dl, "payload is empty");
    size_t off = 0;
    const char *why = NULL;
    if (!json_known_good && !apns_json_check_object(n->payload, n->payload_len, &off, &why))
        return report(APNS_ENOTOBJECT, d, dl, "payload is not a JSON object: %s at byte %zu", why,
                      off);
    size_t limit = apns_payload_limit(n->push_type);
    if (n->payload_len > limit)
        return report(APNS_ETOOBIG, d, dl, "payload is %zu bytes; push type %s allows at most %zu",
                      n->payload_len, push_names[n->push_type], limit);
    return 0;
}

int apns_notification_validate(const apns_notification *n, int require_topic, char *detail,
                               size_t detail_len)
{
    return apns__notification_validate(n, require_topic, 0, detail, detail_len);
}

/* Base64 (standard or URL-safe alphabet, '=' padding): what Apple's channel
 * ids are made of. */
static int check_channel_id(const char *id, char *d, size_t dl)
{
    char q[QBUF];
    size_t len = strlen(id);
    if (len == 0)
        return report(APNS_ECHANNELID, d, dl, "apns-channel-id is empty");
    if (len > APNS_CHANNEL_ID_MAX) {
        quote(q, id, len);
        return report(APNS_ECHANNELID, d, dl,
                      "apns-channel-id \"%s\" is %zu bytes; at most %d are allowed", q, len,
                      APNS_CHANNEL_ID_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '-' || c == '_' || c == '=')) {
            quote(q, id, len);
            return report(APNS_ECHANNELID, d, dl, "apns-channel-id \"%s\" is not base64 (byte %zu)",
                          q, i);
        }
    }
    return 0;
}

int apns__channel_id_check(const char *id, char *detail, size_t detail_len)
{
    if (id == NULL)
        return report(APNS_ECHANNELID, detail, detail_len, "apns-channel-id is missing");
    return check_channel_id(id, detail, detail_len);
}

/* The broadcast publish rules (§4.3); see apns/notification.h. */
static int validate_broadcast(const apns_notification *n, char *d, size_t dl)
{
    char q[QBUF];
    int rc;
    if (n->token != NULL && n->token[0] != '\0')
        return report(APNS_EINVAL, d, dl,
                      "both a device token and a channel id: a notification goes to one of them");
    if ((rc = check_channel_id(n->channel_id, d, dl)) != 0)
        return rc;
    if (n->topic == NULL || n->topic[0] == '\0')
        return report(APNS_ENOTOPIC, d, dl,
                      "the bundle id (topic) is missing; a broadcast is posted to "
                      "/4/broadcasts/apps/<bundle id>");
    if ((rc = check_topic(n->topic, 1, d, dl)) != 0)
        return rc;
    if (strchr(n->topic, '/') != NULL || strstr(n->topic, ".push-type.") != NULL) {
        quote(q, n->topic, strlen(n->topic));
        return report(APNS_ETOPIC, d, dl,
                      "topic \"%s\" is not a plain bundle id; a broadcast takes no push-type "
                      "suffix",
                      q);
    }
    if (n->push_type != APNS_PUSH_LIVEACTIVITY)
        return report(APNS_EPUSHTYPE, d, dl,
                      "apns-push-type must be liveactivity for a broadcast, not %s",
                      apns_push_type_name(n->push_type) ? apns_push_type_name(n->push_type)
                                                        : "an unknown value");
    if (n->priority != 10 && n->priority != 5 && n->priority != 1)
        return report(APNS_EPRIORITY, d, dl, "apns-priority %d: a broadcast requires 10, 5 or 1",
                      n->priority);
    if (n->expiration < 0)
        return report(APNS_EEXPIRATION, d, dl,
                      "apns-expiration is required for a broadcast: 0 (no storage) or UNIX "
                      "seconds");
    if (n->collapse_id != NULL)
        return report(APNS_ECOLLAPSEID, d, dl, "a broadcast has no apns-collapse-id");
    if (n->apns_id[0] != '\0') {
        size_t len = strnlen(n->apns_id, sizeof n->apns_id);
        if (len == sizeof n->apns_id || !apns_uuid_is_valid(n->apns_id)) {
            quote(q, n->apns_id, len);
            return report(APNS_EAPNSID, d, dl,
                          "apns-request-id \"%s\" is not a canonical UUID (8-4-4-4-12 hex "
                          "digits)",
                          q);
        }
    }
    if (n->payload == NULL || n->payload_len == 0)
        return report(APNS_EPAYLOADEMPTY, d, dl, "payload is empty");
    if (n->payload_len > APNS_PAYLOAD_MAX_BROADCAST)
        return report(APNS_ETOOBIG, d, dl, "payload is %zu bytes; a broadcast allows at most %d",
                      n->payload_len, APNS_PAYLOAD_MAX_BROADCAST);
    return apns_live_activity_check(n->payload, n->payload_len, APNS_LA_CHANNEL, d, dl);
}

int apns__notification_validate(const apns_notification *n, int require_topic, int json_known_good,
                                char *detail, size_t detail_len)
{
    char q[QBUF];
    int rc;

    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if (n == NULL)
        return report(APNS_EINVAL, detail, detail_len, "notification is NULL");
    if (n->channel_id != NULL)
        return validate_broadcast(n, detail, detail_len); /* parses the payload anyway */

    if ((rc = check_token(n->token, detail, detail_len)) != 0)
        return rc;
    if ((rc = check_topic(n->topic, require_topic, detail, detail_len)) != 0)
        return rc;

    if ((int)n->push_type < 0 || (int)n->push_type >= APNS_PUSH_TYPE_COUNT)
        return report(APNS_EPUSHTYPE, detail, detail_len,
                      "apns-push-type %d is not one of the %d known push types", (int)n->push_type,
                      APNS_PUSH_TYPE_COUNT);

    if (n->priority != 0 && n->priority != 10 && n->priority != 5 && n->priority != 1)
        return report(APNS_EPRIORITY, detail, detail_len,
                      "apns-priority %d is not 10, 5 or 1 (or 0 to omit it)", n->priority);

    if (n->push_type == APNS_PUSH_BACKGROUND && (n->priority == 10 || n->priority == 0))
        return report(APNS_EBGPRIORITY, detail, detail_len,
                      n->priority == 10
                          ? "apns-priority 10 is not allowed for push type background; use 5 or 1"
                          : "apns-priority is omitted (APNs default 10) for push type background; "
                            "set 5 or 1");

    if (n->collapse_id != NULL) {
        size_t len = strlen(n->collapse_id), bad;
        if (len > APNS_COLLAPSE_ID_MAX) {
            quote(q, n->collapse_id, len);
            return report(APNS_ECOLLAPSEID, detail, detail_len,
                          "apns-collapse-id \"%s\" is %zu bytes; at most %d are allowed", q, len,
                          APNS_COLLAPSE_ID_MAX);
        }
        if ((bad = field_value_bad(n->collapse_id, len)) < len) {
            quote(q, n->collapse_id, len);
            return report(APNS_ECOLLAPSEID, detail, detail_len,
                          "apns-collapse-id \"%s\" has %s at byte %zu; an HTTP/2 header value "
                          "holds no control characters and no leading or trailing blank",
                          q,
                          n->collapse_id[bad] == ' ' || n->collapse_id[bad] == '\t'
                              ? "a blank"
                              : "a control character",
                          bad);
        }
    }

    if (n->apns_id[0] != '\0') {
        size_t len = strnlen(n->apns_id, sizeof n->apns_id);
        if (len == sizeof n->apns_id || !apns_uuid_is_valid(n->apns_id)) {
            quote(q, n->apns_id, len);
            return report(APNS_EAPNSID, detail, detail_len,
                          "apns-id \"%s\" is not a canonical UUID (8-4-4-4-12 hex digits)", q);
        }
    }

    if (n->expiration < 0 && n->expiration != APNS_EXPIRATION_NONE)
        return report(APNS_EEXPIRATION, detail, detail_len,
                      "apns-expiration %" PRId64
                      " is negative; use 0 for no storage or APNS_EXPIRATION_NONE to omit it",
                      n->expiration);

    return check_payload(n, json_known_good, detail, detail_len);
}
