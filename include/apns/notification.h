/*
 * apns/notification.h - one notification to one device token, or one
 * broadcast publish to a Live Activity channel (iOS 18+), and the rules APNs
 * applies to it, checked before anything is sent.
 *
 * An apns_notification only borrows its strings: the caller keeps token,
 * topic, collapse_id, channel_id and payload alive until the call that takes
 * the notification returns (apns_client_submit() copies what it keeps).
 *
 * Broadcast publish. A notification with channel_id set goes to that channel
 * instead of a device token: POST /4/broadcasts/apps/<topic> with
 * apns-channel-id, where topic is the plain bundle id (no
 * ".push-type.liveactivity" suffix: APNs answers TopicDisallowed) and no
 * apns-topic header is sent. Its rules (§4.3 of the protocol notes), checked
 * by apns_notification_validate(): token NULL; topic required; push type
 * liveactivity; priority 10, 5 or 1 (required); expiration 0 or UNIX
 * seconds (required; 0 for a channel with storage policy 0, which only APNs
 * knows); no collapse id; apns_id is sent as apns-request-id; the payload at
 * most APNS_PAYLOAD_MAX_BROADCAST bytes and a Live Activity update or end
 * (apns_live_activity_check with APNS_LA_CHANNEL: a broadcast cannot start an
 * activity).
 */
#ifndef APNS_NOTIFICATION_H
#define APNS_NOTIFICATION_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define APNS_TOKEN_HEX_MIN         16 /* Apple: don't assume 64; the frame format allowed 100 bytes */
#define APNS_TOKEN_HEX_MAX         200
#define APNS_TOPIC_MAX             255
#define APNS_COLLAPSE_ID_MAX       64   /* bytes */
#define APNS_PAYLOAD_MAX           4096 /* bytes of JSON, every push type but voip */
#define APNS_PAYLOAD_MAX_VOIP      5120
#define APNS_UUID_LEN              36   /* 8-4-4-4-12, lower-case hex */
#define APNS_EXPIRATION_NONE       (-1) /* omit apns-expiration: Apple's default storage */
#define APNS_PAYLOAD_MAX_BROADCAST 5120 /* bytes of JSON of a broadcast publish */
#define APNS_CHANNEL_ID_MAX        255  /* project choice: Apple gives no length; base64 */

/* The eleven apns-push-type values, in the order of Apple's table. */
#define APNS_PUSH_TYPE_MAP(XX)                                                                     \
    XX(ALERT, "alert", "")                                                                         \
    XX(BACKGROUND, "background", "")                                                               \
    XX(LOCATION, "location", ".location-query")                                                    \
    XX(VOIP, "voip", ".voip")                                                                      \
    XX(COMPLICATION, "complication", ".complication")                                              \
    XX(FILEPROVIDER, "fileprovider", ".pushkit.fileprovider")                                      \
    XX(MDM, "mdm", "")                                                                             \
    XX(LIVEACTIVITY, "liveactivity", ".push-type.liveactivity")                                    \
    XX(PUSHTOTALK, "pushtotalk", ".voip-ptt")                                                      \
    XX(CONTROLS, "controls", ".push-type.controls")                                                \
    XX(WIDGETS, "widgets", ".push-type.widgets")

typedef enum apns_push_type {
#define APNS_PUSH_TYPE_ENUM(name, str, suffix) APNS_PUSH_##name,
    APNS_PUSH_TYPE_MAP(APNS_PUSH_TYPE_ENUM)
#undef APNS_PUSH_TYPE_ENUM
        APNS_PUSH_TYPE_COUNT
} apns_push_type;

/* Header value ("alert"), or NULL for a value out of range. Static string. */
APNS_EXTERN const char *apns_push_type_name(apns_push_type t);

/* Topic suffix APNs expects for t (".voip"; "" when the bundle id is used as
 * is, and for mdm whose topic comes from the certificate). Static string;
 * NULL for a value out of range. */
APNS_EXTERN const char *apns_push_type_topic_suffix(apns_push_type t);

/* Parses a header value (exact, lower-case). Returns 0, or APNS_EPUSHTYPE. */
APNS_EXTERN int apns_push_type_parse(const char *s, apns_push_type *out);

typedef struct apns_notification {
    const char *token; /* device token, hex (either case; sent lower-case). Required. */
    const char *topic; /* apns-topic; NULL only with a single-topic certificate */
    apns_push_type push_type;
    int priority;                    /* 0 = header omitted (APNs default 10); else 10, 5 or 1 */
    int64_t expiration;              /* APNS_EXPIRATION_NONE, 0 (no storage), or UNIX seconds */
    const char *collapse_id;         /* NULL = none; at most 64 bytes, no control characters */
    char apns_id[APNS_UUID_LEN + 1]; /* "" = generated at submit; else a canonical UUID */
    const char *payload;             /* raw JSON object, not NUL-terminated necessarily */
    size_t payload_len;
    void *user_data;        /* handed back untouched in the result callback */
    const char *channel_id; /* NULL: a device push; else a broadcast to this base64
                               channel id (see the top of this file) */
} apns_notification;

/* Sets every field to its default: push type alert, priority 0 (omitted),
 * expiration APNS_EXPIRATION_NONE, everything else empty. */
APNS_EXTERN void apns_notification_init(apns_notification *n);

/*
 * Checks n against APNs' rules without sending anything. `require_topic` is
 * non-zero for token auth and multi-topic certificates (APNs answers
 * MissingTopic otherwise).
 *
 * Returns 0, or the first problem found: APNS_EBADTOKEN, APNS_ENOTOPIC,
 * APNS_ETOPIC, APNS_EPUSHTYPE, APNS_EPRIORITY, APNS_EBGPRIORITY,
 * APNS_ECOLLAPSEID, APNS_EAPNSID, APNS_EEXPIRATION, APNS_EPAYLOADEMPTY,
 * APNS_ENOTOBJECT, APNS_ETOOBIG; for a broadcast (channel_id set) also
 * APNS_EINVAL (a token as well), APNS_ECHANNELID, APNS_ELIVEACTIVITY. A
 * broadcast is checked in this order: token, channel id, topic, push type,
 * priority, expiration, collapse id, apns-id, payload. When `detail` is not NULL a sentence naming
 * the field and the value's problem is written there (always NUL-terminated).
 */
APNS_EXTERN int apns_notification_validate(const apns_notification *n, int require_topic,
                                           char *detail, size_t detail_len);

/* Maximum payload bytes for a push type (5120 for voip, else 4096). */
APNS_EXTERN size_t apns_payload_limit(apns_push_type t);

/* Returns 1 if s[0..len) is one well-formed JSON object (RFC 8259, strict:
 * no trailing garbage, valid UTF-8 in strings, nesting at most 64), else 0.
 * Allocates nothing; linear time. */
APNS_EXTERN int apns_json_is_object(const char *s, size_t len);

/* The same check, telling why it failed: returns 1 if s[0..len) is a valid
 * object, else 0 and, for each out-pointer that is not NULL, the byte offset
 * where the problem was found and a static English phrase ("leading zero in
 * number", "nesting deeper than 64", ...). A NULL s counts as empty input. */
APNS_EXTERN int apns_json_check_object(const char *s, size_t len, size_t *err_offset,
                                       const char **why);

/* Writes a random (v4) UUID in canonical lower-case form plus NUL into out.
 * Returns 0, or APNS_ECRYPTO if the system has no randomness. */
APNS_EXTERN int apns_uuid_generate(char out[APNS_UUID_LEN + 1]);

/* Writes a time-ordered (v7, RFC 9562) UUID in canonical lower-case form
 * plus NUL into out: unix_ms (milliseconds since 1970) in its first 48 bits,
 * then 74 random bits. An id of a later millisecond sorts after one of an
 * earlier millisecond, as bytes and as text, so an index over such ids
 * grows at its end (a database's pages stay few and hot) while they stay
 * as hard to guess as 74 random bits. Returns 0, APNS_EINVAL if unix_ms is
 * outside 0..2^48-1 (out is then ""), or APNS_ECRYPTO if the system has no
 * randomness. */
APNS_EXTERN int apns_uuid_generate_v7(char out[APNS_UUID_LEN + 1], int64_t unix_ms);

/* Returns 1 if s is a canonical UUID (8-4-4-4-12 hex, either case), else 0. */
APNS_EXTERN int apns_uuid_is_valid(const char *s);

#ifdef __cplusplus
}
#endif
#endif
