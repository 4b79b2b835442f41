/*
 * apns/fcm.h - Firebase Cloud Messaging HTTP v1: the message model, checked
 * before anything is sent, and FCM's answers mapped to the one reason table.
 *
 * Sending. An apns_client made with provider APNS_PROVIDER_FCM (client.h)
 * sends each notification as one
 *
 *   POST /v1/projects/<fcm_project_id>/messages:send
 *   authorization: Bearer <access token>      (from the client's token cache)
 *   content-type: application/json
 *   {"message":{"token":"<n.token>",<the fields of n.payload>}}
 *
 * over the same HTTP/2 connections, in-flight book, hand-backs (GOAWAY,
 * resets, deadlines, lost connections) and retries as an APNs push. For such
 * a client an apns_notification means:
 *   token    the FCM registration token: 1..APNS_FCM_TOKEN_MAX printable,
 *            non-whitespace ASCII bytes, sent verbatim (never lower-cased);
 *   payload  a JSON object holding the message's fields other than the
 *            target (notification, data, android, apns, webpush,
 *            fcm_options), at most APNS_FCM_FIELDS_MAX bytes; checked by
 *            apns_fcm_fields_validate() at submit. "{}" is a message with
 *            no content. apns_fcm_message_render() writes one;
 *   apns_id  the library's own request id (FCM has none; it is not sent);
 *   topic, push_type, priority, expiration, collapse_id, channel_id are
 *            not used.
 * In the result callback n->token is the registration token and n->payload
 * the request body that was sent. An answer's apns_result carries the
 * message name FCM gave (fcm_name, "projects/p/messages/<id>", on 200), the
 * field a 400 named (fcm_field), Retry-After (retry_after_s) and the reason
 * and action of apns_fcm_answer_parse().
 *
 * Actions (fcm-protocol.md §4-5): UNREGISTERED and an INVALID_ARGUMENT that
 * names the token are DEAD_TOKEN; SENDER_ID_MISMATCH is DROP (that token
 * only: never pause the app); THIRD_PARTY_AUTH_ERROR is PAUSE (the APNs or
 * web-push credentials stored in the Firebase project, not the access
 * token); a 401 for an expired or unknown access token is REFRESH_TOKEN: the
 * client calls apns_token_cache_expired() once and resends when the cache
 * holds a newer token (a second such answer for the same notification is
 * final, with action PAUSE); QUOTA_EXCEEDED and any 429 are RETRY honouring
 * Retry-After, at least 60 s without one; UNAVAILABLE / INTERNAL are RETRY
 * with jittered backoff (and Retry-After when given); any other
 * INVALID_ARGUMENT is DROP with the field named; a 404 without an FcmError
 * is PAUSE (a wrong project), a non-JSON 404/429/5xx page RETRY: neither is
 * a dead token.
 */
#ifndef APNS_FCM_H
#define APNS_FCM_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#include "apns/reason.h"

#ifdef __cplusplus
extern "C" {
#endif

#define APNS_FCM_HOST        "fcm.googleapis.com" /* port 443 */
#define APNS_FCM_TOKEN_MAX   4096    /* project choice: Google gives no length (§3.2) */
#define APNS_FCM_DATA_MAX    4096    /* bytes of data keys + values (§3.7) */
#define APNS_FCM_TTL_MAX_S   2419200 /* android.ttl: 4 weeks (§3.3) */
#define APNS_FCM_FIELDS_MAX  16384   /* project choice: bytes of a message's fields JSON */
#define APNS_FCM_PROJECT_MAX 128     /* project choice: bytes of a project id */
#define APNS_FCM_NAME_MAX    512     /* bytes kept of a message name */
#define APNS_FCM_FIELD_MAX   128     /* bytes kept of a violation's field */

/*
 * Checks a registration token: 1..APNS_FCM_TOKEN_MAX bytes, each printable
 * ASCII other than space (0x21..0x7e). Returns 0 or APNS_EFCMTOKEN with
 * `detail` (may be NULL) naming the problem.
 */
APNS_EXTERN int apns_fcm_token_check(const char *token, size_t len, char *detail,
                                     size_t detail_len);

/*
 * Checks a project id for the request path: 1..APNS_FCM_PROJECT_MAX bytes of
 * [A-Za-z0-9._:-] (ids and project numbers). Returns 0 or APNS_EINVAL with
 * detail.
 */
APNS_EXTERN int apns_fcm_project_check(const char *project, char *detail, size_t detail_len);

/*
 * Checks the fields of one v1 message given as JSON (what a gateway
 * receives): a JSON object of at most APNS_FCM_FIELDS_MAX bytes whose names
 * (snake_case or lowerCamel, as Google accepts) are notification, data,
 * android, apns, webpush, fcm_options; no target (token, topic, condition,
 * fid: the target is the notification's token) and nothing else. The rules
 * (fcm-protocol.md §3): notification holds title, body, image (strings);
 * data values are strings, no reserved key (from, message_type, anything
 * starting with "google" or "gcm"), keys + values at most APNS_FCM_DATA_MAX
 * bytes (also android.data); android.priority is normal or high (any case),
 * android.ttl a Duration "<seconds>[.<1-9 digits>]s" of at most
 * APNS_FCM_TTL_MAX_S, collapse_key and restricted_package_name strings,
 * android.notification only its documented fields with their types,
 * direct_boot_ok and the other *_ok flags booleans; apns, webpush,
 * fcm_options objects (passed through). Returns 0, APNS_ENOTOBJECT (not one
 * JSON object), APNS_ETOOBIG, APNS_EFCMMESSAGE; `detail` names the field as
 * FCM does ("message.android.ttl: ...").
 */
APNS_EXTERN int apns_fcm_fields_validate(const char *json, size_t len, char *detail,
                                         size_t detail_len);

/* ---- the builder --------------------------------------------------------- */

typedef struct apns_fcm_kv {
    const char *key, *value; /* both NUL-terminated UTF-8 */
} apns_fcm_kv;

typedef enum apns_fcm_priority {
    APNS_FCM_PRIORITY_UNSET = 0, /* omitted: FCM's default (§3.3) */
    APNS_FCM_PRIORITY_NORMAL,
    APNS_FCM_PRIORITY_HIGH,
} apns_fcm_priority;

/* android.notification (AndroidNotification); NULL / 0 = omitted. */
typedef struct apns_fcm_android_notification {
    const char *title, *body, *icon, *color /* "#rrggbb" */, *sound, *tag, *click_action;
    const char *body_loc_key, *title_loc_key, *channel_id, *ticker, *image;
    const char *visibility;            /* "PRIVATE", "PUBLIC", "SECRET" */
    const char *notification_priority; /* "PRIORITY_MIN" .. "PRIORITY_MAX" */
    const char *event_time;            /* RFC 3339, UTC ("...Z") */
    int notification_count;            /* > 0: sent */
    int sticky, local_only, default_sound, default_vibrate_timings; /* 1: sent as true */
} apns_fcm_android_notification;

/* android (AndroidConfig). */
typedef struct apns_fcm_android {
    apns_fcm_priority priority;
    const char *ttl; /* Duration "3600s", "3.5s"; NULL = FCM's default (4 weeks) */
    const char *collapse_key, *restricted_package_name;
    const apns_fcm_kv *data; /* android.data (replaces message.data on Android) */
    size_t ndata;
    apns_fcm_android_notification notification;
    int direct_boot_ok; /* 1: sent as true */
} apns_fcm_android;

/* The fields of one message (the target is the notification's token). Every
 * pointer is borrowed; NULL / 0 = omitted. */
typedef struct apns_fcm_message {
    const char *title, *body, *image; /* message.notification */
    const apns_fcm_kv *data;          /* message.data */
    size_t ndata;
    apns_fcm_android android;
    /* Passed through as they are: each a JSON object (ApnsConfig,
     * WebpushConfig, FcmOptions) or NULL. */
    const char *apns, *webpush, *fcm_options;
} apns_fcm_message;

/* Zeroes m (nothing set). */
APNS_EXTERN void apns_fcm_message_init(apns_fcm_message *m);

/*
 * Renders m's fields as one JSON object ("{"notification":{...},...}") into
 * out (NUL-terminated; *len = bytes without the NUL) and checks the result
 * with apns_fcm_fields_validate(). Returns 0, APNS_EINVAL (NULL argument, a
 * pass-through block or a string that is not valid UTF-8 JSON text, out too
 * small: the detail says how many bytes are needed), APNS_ENOMEM, or
 * apns_fcm_fields_validate()'s codes with its detail.
 */
APNS_EXTERN int apns_fcm_message_render(const apns_fcm_message *m, char *out, size_t out_len,
                                        size_t *len, char *detail, size_t detail_len);

/* apns_fcm_message_render() without the output: 0 when m would render. */
APNS_EXTERN int apns_fcm_message_validate(const apns_fcm_message *m, char *detail,
                                          size_t detail_len);

/* ---- answers ------------------------------------------------------------- */

/* What an FCM answer said. Strings are NUL-terminated, "" when absent, cut
 * at their size. */
typedef struct apns_fcm_answer {
    int status;                     /* the HTTP status */
    apns_reason reason;             /* APNS_REASON_NONE for 2xx, else an FCM row or UNKNOWN */
    apns_action action;             /* apns_action_for(status, reason) */
    int is_json;                    /* the body was a google.rpc.Status (or a 2xx name) */
    int64_t retry_after_s;          /* Retry-After, clamped to 1..3600; 0 when absent */
    char name[APNS_FCM_NAME_MAX];   /* 2xx: "projects/p/messages/<id>" */
    char status_name[32];           /* error.status ("NOT_FOUND") */
    char fcm_code[32];              /* FcmError errorCode ("UNREGISTERED") */
    char error_info[64];            /* ErrorInfo reason ("ACCESS_TOKEN_EXPIRED") */
    char field[APNS_FCM_FIELD_MAX]; /* the first BadRequest violation's field */
    char message[256];              /* error.message */
} apns_fcm_answer;

/*
 * Parses an answer of messages:send and classifies it (fcm-protocol.md §4):
 * the FcmError errorCode when present, else error.status, else the HTTP
 * status; an INVALID_ARGUMENT is the token's fault (DEAD_TOKEN) only when a
 * BadRequest violation names message.token or the message names the
 * registration token. `body` (len bytes, may be NULL) is read up to 64 KiB;
 * details are found by "@type", never by position. `retry_after` is the
 * header's value (ra_len bytes, or NULL): integer seconds, or an HTTP-date
 * taken against `now_unix` (UNIX seconds). Never fails: anything unreadable
 * is classified from the status alone (a non-JSON 404, 429 or 5xx is
 * FRONTEND_ERROR / RESOURCE_EXHAUSTED, RETRY). Allocates (jansson) only for
 * a JSON body.
 */
APNS_EXTERN void apns_fcm_answer_parse(int status, const char *body, size_t len,
                                       const char *retry_after, size_t ra_len, int64_t now_unix,
                                       apns_fcm_answer *out);

/*
 * Parses a Retry-After value: integer seconds, or an IMF-fixdate ("Sun, 06
 * Nov 1994 08:49:37 GMT") minus now_unix. Returns the seconds clamped to
 * 1..3600, or 0 when the value is neither.
 */
APNS_EXTERN int64_t apns_fcm_retry_after(const char *v, size_t len, int64_t now_unix);

#ifdef __cplusplus
}
#endif
#endif
