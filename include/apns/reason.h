/*
 * apns/reason.h - every reason string APNs answers with, its HTTP status, and
 * what a provider must do about it. One table (APNS_REASON_MAP), stated once;
 * the gateway and both transports take their retry decisions from it.
 *
 * FCM HTTP v1 answers (apns/fcm.h) are rows of the same table
 * (APNS_FCM_REASON_MAP, after Apple's, from APNS_REASON_FCM_FIRST on): a
 * google.rpc.Status answer is classified to one of them by
 * apns_fcm_answer_parse() (FcmError errorCode first, then error.status, then
 * the HTTP status, as every Google SDK does), and the action comes from the
 * row. Their strings are FCM's own codes in upper case where one exists;
 * INVALID_REGISTRATION_TOKEN, ACCESS_TOKEN_EXPIRED and FRONTEND_ERROR are
 * this library's names for answers FCM tells apart only by their details.
 * The strings are stable: the gateway stores them.
 */
#ifndef APNS_REASON_H
#define APNS_REASON_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What to do with a notification after an answer. */
typedef enum apns_action {
    APNS_ACTION_NONE = 0,      /* accepted: nothing to do */
    APNS_ACTION_DROP,          /* never retry as is: the request itself is wrong */
    APNS_ACTION_DEAD_TOKEN,    /* never retry: the device token (or broadcast channel:
                                  ChannelNotRegistered) is dead; record it */
    APNS_ACTION_RETRY,         /* retry after a backoff with jitter (429, 5xx) */
    APNS_ACTION_RECONNECT,     /* resend at once on a new connection (Shutdown, IdleTimeout) */
    APNS_ACTION_REFRESH_TOKEN, /* mint a new provider token, then resend */
    APNS_ACTION_PAUSE,         /* credentials are wrong: pause the app until fixed (also
                                  TopicMismatch: the credential does not cover the
                                  bundle id) */
} apns_action;

/* XX(ID, "ReasonString", http_status, action) */
#define APNS_REASON_MAP(XX)                                                                        \
    XX(BAD_COLLAPSE_ID, "BadCollapseId", 400, APNS_ACTION_DROP)                                    \
    XX(BAD_DEVICE_TOKEN, "BadDeviceToken", 400, APNS_ACTION_DEAD_TOKEN)                            \
    XX(BAD_EXPIRATION_DATE, "BadExpirationDate", 400, APNS_ACTION_DROP)                            \
    XX(BAD_MESSAGE_ID, "BadMessageId", 400, APNS_ACTION_DROP)                                      \
    XX(BAD_PRIORITY, "BadPriority", 400, APNS_ACTION_DROP)                                         \
    XX(BAD_TOPIC, "BadTopic", 400, APNS_ACTION_DROP)                                               \
    XX(DEVICE_TOKEN_NOT_FOR_TOPIC, "DeviceTokenNotForTopic", 400, APNS_ACTION_DEAD_TOKEN)          \
    XX(DUPLICATE_HEADERS, "DuplicateHeaders", 400, APNS_ACTION_DROP)                               \
    XX(IDLE_TIMEOUT, "IdleTimeout", 400, APNS_ACTION_RECONNECT)                                    \
    XX(INVALID_PUSH_TYPE, "InvalidPushType", 400, APNS_ACTION_DROP)                                \
    XX(MISSING_DEVICE_TOKEN, "MissingDeviceToken", 400, APNS_ACTION_DROP)                          \
    XX(MISSING_TOPIC, "MissingTopic", 400, APNS_ACTION_DROP)                                       \
    XX(PAYLOAD_EMPTY, "PayloadEmpty", 400, APNS_ACTION_DROP)                                       \
    XX(TOPIC_DISALLOWED, "TopicDisallowed", 400, APNS_ACTION_DROP)                                 \
    XX(BAD_CERTIFICATE, "BadCertificate", 403, APNS_ACTION_PAUSE)                                  \
    XX(BAD_CERTIFICATE_ENVIRONMENT, "BadCertificateEnvironment", 403, APNS_ACTION_PAUSE)           \
    XX(EXPIRED_PROVIDER_TOKEN, "ExpiredProviderToken", 403, APNS_ACTION_REFRESH_TOKEN)             \
    XX(FORBIDDEN, "Forbidden", 403, APNS_ACTION_DROP)                                              \
    XX(INVALID_PROVIDER_TOKEN, "InvalidProviderToken", 403, APNS_ACTION_PAUSE)                     \
    XX(MISSING_PROVIDER_TOKEN, "MissingProviderToken", 403, APNS_ACTION_PAUSE)                     \
    XX(UNRELATED_KEY_ID_IN_TOKEN, "UnrelatedKeyIdInToken", 403, APNS_ACTION_RECONNECT)             \
    XX(BAD_ENVIRONMENT_KEY_ID_IN_TOKEN, "BadEnvironmentKeyIdInToken", 403, APNS_ACTION_PAUSE)      \
    XX(BAD_PATH, "BadPath", 404, APNS_ACTION_DROP)                                                 \
    XX(METHOD_NOT_ALLOWED, "MethodNotAllowed", 405, APNS_ACTION_DROP)                              \
    XX(EXPIRED_TOKEN, "ExpiredToken", 410, APNS_ACTION_DEAD_TOKEN)                                 \
    XX(UNREGISTERED, "Unregistered", 410, APNS_ACTION_DEAD_TOKEN)                                  \
    XX(PAYLOAD_TOO_LARGE, "PayloadTooLarge", 413, APNS_ACTION_DROP)                                \
    XX(TOO_MANY_PROVIDER_TOKEN_UPDATES, "TooManyProviderTokenUpdates", 429, APNS_ACTION_RETRY)     \
    XX(TOO_MANY_REQUESTS, "TooManyRequests", 429, APNS_ACTION_RETRY)                               \
    XX(INTERNAL_SERVER_ERROR, "InternalServerError", 500, APNS_ACTION_RETRY)                       \
    XX(SERVICE_UNAVAILABLE, "ServiceUnavailable", 503, APNS_ACTION_RETRY)                          \
    XX(SHUTDOWN, "Shutdown", 503, APNS_ACTION_RECONNECT)                                           \
    /* Broadcast publish and channel management (§4.4); BadMessageId,                             \
     * TopicDisallowed and the rest they share are the rows above. */                              \
    XX(FEATURE_NOT_ENABLED, "FeatureNotEnabled", 400, APNS_ACTION_DROP)                            \
    XX(MISSING_CHANNEL_ID, "MissingChannelId", 400, APNS_ACTION_DROP)                              \
    XX(BAD_CHANNEL_ID, "BadChannelId", 400, APNS_ACTION_DROP)                                      \
    XX(CHANNEL_NOT_REGISTERED, "ChannelNotRegistered", 400, APNS_ACTION_DEAD_TOKEN)                \
    XX(BAD_REQUEST_PARAMS, "BadRequestParams", 400, APNS_ACTION_DROP)                              \
    XX(BAD_REQUEST_PAYLOAD, "BadRequestPayload", 400, APNS_ACTION_DROP)                            \
    XX(MISSING_PUSH_TYPE, "MissingPushType", 400, APNS_ACTION_DROP)                                \
    XX(CANNOT_CREATE_CHANNEL_CONFIG, "CannotCreateChannelConfig", 400, APNS_ACTION_DROP)           \
    XX(TOPIC_MISMATCH, "TopicMismatch", 403, APNS_ACTION_PAUSE)                                    \
    XX(SERVICE_UNAVAILABLE_SPACED, "Service Unavailable", 503, APNS_ACTION_RETRY)

/* FCM HTTP v1 (fcm-protocol.md §4-5). XX(ID, "STRING", http_status, action) */
#define APNS_FCM_REASON_MAP(XX)                                                                    \
    /* 400 naming another field than the token: fix the request, never retry */                    \
    XX(FCM_INVALID_ARGUMENT, "INVALID_ARGUMENT", 400, APNS_ACTION_DROP)                            \
    /* 400 whose violation (or message) names the registration token */                            \
    XX(FCM_INVALID_TOKEN, "INVALID_REGISTRATION_TOKEN", 400, APNS_ACTION_DEAD_TOKEN)               \
    XX(FCM_UNREGISTERED, "UNREGISTERED", 404, APNS_ACTION_DEAD_TOKEN)                              \
    /* the token belongs to another sender: fail it, never pause the app */                        \
    XX(FCM_SENDER_ID_MISMATCH, "SENDER_ID_MISMATCH", 403, APNS_ACTION_DROP)                        \
    /* the APNs/web credentials stored in the Firebase project, not our OAuth token */             \
    XX(FCM_THIRD_PARTY_AUTH_ERROR, "THIRD_PARTY_AUTH_ERROR", 401, APNS_ACTION_PAUSE)               \
    XX(FCM_APNS_AUTH_ERROR, "APNS_AUTH_ERROR", 401, APNS_ACTION_PAUSE)                             \
    XX(FCM_QUOTA_EXCEEDED, "QUOTA_EXCEEDED", 429, APNS_ACTION_RETRY)                               \
    XX(FCM_UNAVAILABLE, "UNAVAILABLE", 503, APNS_ACTION_RETRY)                                     \
    XX(FCM_INTERNAL, "INTERNAL", 500, APNS_ACTION_RETRY)                                           \
    /* 401 for our access token (ErrorInfo ACCESS_TOKEN_EXPIRED): refresh once */                  \
    XX(FCM_ACCESS_TOKEN_EXPIRED, "ACCESS_TOKEN_EXPIRED", 401, APNS_ACTION_REFRESH_TOKEN)           \
    /* 401 without a bearer the server took: fix the configuration */                              \
    XX(FCM_UNAUTHENTICATED, "UNAUTHENTICATED", 401, APNS_ACTION_PAUSE)                             \
    XX(FCM_PERMISSION_DENIED, "PERMISSION_DENIED", 403, APNS_ACTION_PAUSE)                         \
    /* 404 without an FcmError (unknown project): never a dead token */                            \
    XX(FCM_NOT_FOUND, "NOT_FOUND", 404, APNS_ACTION_PAUSE)                                         \
    /* 429 without an FcmError (the project quota) */                                              \
    XX(FCM_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 429, APNS_ACTION_RETRY)                       \
    /* a Google front end's non-JSON 404/429/5xx page */                                           \
    XX(FCM_FRONTEND_ERROR, "FRONTEND_ERROR", 502, APNS_ACTION_RETRY)

typedef enum apns_reason {
    APNS_REASON_NONE = 0, /* accepted, or no reason given */
#define APNS_REASON_ENUM(id, str, status, action) APNS_REASON_##id,
    APNS_REASON_MAP(APNS_REASON_ENUM) APNS_FCM_REASON_MAP(APNS_REASON_ENUM)
#undef APNS_REASON_ENUM
        APNS_REASON_UNKNOWN, /* a reason string not in the table */
    APNS_REASON_COUNT
} apns_reason;

/* The first FCM row: APNs' rows are (APNS_REASON_NONE, APNS_REASON_FCM_FIRST),
 * FCM's [APNS_REASON_FCM_FIRST, APNS_REASON_UNKNOWN). */
#define APNS_REASON_FCM_FIRST APNS_REASON_FCM_INVALID_ARGUMENT

/* The reason string ("BadDeviceToken"); "" for NONE, "Unknown" for UNKNOWN.
 * Static string; never NULL. */
APNS_EXTERN const char *apns_reason_name(apns_reason r);

/* HTTP status the reason comes with (0 for NONE and UNKNOWN). */
APNS_EXTERN int apns_reason_status(apns_reason r);

/* Looks a reason string up (exact, case-sensitive). Returns
 * APNS_REASON_UNKNOWN when s is not in the table, APNS_REASON_NONE for len 0. */
APNS_EXTERN apns_reason apns_reason_lookup(const char *s, size_t len);

/* The action for an answer: from the reason when known, else from the HTTP
 * status alone (2xx none; 410 dead token; 403 pause; 429 and 5xx retry;
 * other 4xx drop). */
APNS_EXTERN apns_action apns_action_for(int status, apns_reason r);

/* Static name of an action ("retry"); never NULL. */
APNS_EXTERN const char *apns_action_name(apns_action a);

/* Backoff for APNS_ACTION_RETRY. */
typedef struct apns_retry_policy {
    int max_attempts; /* total sends, including the first; 0 = library default (5) */
    int64_t base_ms;  /* first backoff; 0 = default (1000) */
    int64_t max_ms;   /* cap; 0 = default (900000: Apple's 15 minutes) */
} apns_retry_policy;

/* Delay before attempt number `attempt` (1 = the first retry): exponential
 * from base_ms, capped at max_ms, with full jitter in [delay/2, delay].
 * `rng` is caller state (any seed, zero included), advanced on every call. */
APNS_EXTERN int64_t apns_retry_backoff_ms(const apns_retry_policy *p, int attempt, uint64_t *rng);

#ifdef __cplusplus
}
#endif
#endif
