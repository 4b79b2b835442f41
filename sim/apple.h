/*
 * apple.h - what APNs answers, as the simulator states it: the reason
 * strings with their HTTP status, the push types with their topic suffix,
 * payload limit and forbidden priority, and the request limits the
 * validator (validate.c) enforces.
 *
 * These are apns-sim's own tables, written from Apple's documentation
 * (shared/docs/apns-protocol.md §1.3-§1.5, §1.8, §1.9). Nothing here is
 * taken from libapns (APNS_REASON_MAP, apns_reason_status(),
 * apns_payload_limit(), apns_push_type_topic_suffix() ...): the simulator
 * judges the client, so it may share primitives with it (hex, a JSON syntax
 * check, crypto) but never a verdict. ctest golden_sim compares every row
 * with the literal tables in tests/golden/, and golden_lib_reasons compares
 * libapns' rows with the same files, so one wrong row fails a test instead of
 * passing client, simulator and test together.
 */
#ifndef SIM_APPLE_H
#define SIM_APPLE_H

#include <stddef.h>

/* Reasons: XX(ID, "Reason", status), Apple's device-push table (§1.8). */
#define SIM_REASON_MAP(XX)                                                                         \
    XX(BAD_COLLAPSE_ID, "BadCollapseId", 400)                                                      \
    XX(BAD_DEVICE_TOKEN, "BadDeviceToken", 400)                                                    \
    XX(BAD_EXPIRATION_DATE, "BadExpirationDate", 400)                                              \
    XX(BAD_MESSAGE_ID, "BadMessageId", 400)                                                        \
    XX(BAD_PRIORITY, "BadPriority", 400)                                                           \
    XX(BAD_TOPIC, "BadTopic", 400)                                                                 \
    XX(DEVICE_TOKEN_NOT_FOR_TOPIC, "DeviceTokenNotForTopic", 400)                                  \
    XX(DUPLICATE_HEADERS, "DuplicateHeaders", 400)                                                 \
    XX(IDLE_TIMEOUT, "IdleTimeout", 400)                                                           \
    XX(INVALID_PUSH_TYPE, "InvalidPushType", 400)                                                  \
    XX(MISSING_DEVICE_TOKEN, "MissingDeviceToken", 400)                                            \
    XX(MISSING_TOPIC, "MissingTopic", 400)                                                         \
    XX(PAYLOAD_EMPTY, "PayloadEmpty", 400)                                                         \
    XX(TOPIC_DISALLOWED, "TopicDisallowed", 400)                                                   \
    XX(BAD_CERTIFICATE, "BadCertificate", 403)                                                     \
    XX(BAD_CERTIFICATE_ENVIRONMENT, "BadCertificateEnvironment", 403)                              \
    XX(EXPIRED_PROVIDER_TOKEN, "ExpiredProviderToken", 403)                                        \
    XX(FORBIDDEN, "Forbidden", 403)                                                                \
    XX(INVALID_PROVIDER_TOKEN, "InvalidProviderToken", 403)                                        \
    XX(MISSING_PROVIDER_TOKEN, "MissingProviderToken", 403)                                        \
    XX(UNRELATED_KEY_ID_IN_TOKEN, "UnrelatedKeyIdInToken", 403)                                    \
    XX(BAD_ENVIRONMENT_KEY_ID_IN_TOKEN, "BadEnvironmentKeyIdInToken", 403)                         \
    XX(BAD_PATH, "BadPath", 404)                                                                   \
    XX(METHOD_NOT_ALLOWED, "MethodNotAllowed", 405)                                                \
    XX(EXPIRED_TOKEN, "ExpiredToken", 410)                                                         \
    XX(UNREGISTERED, "Unregistered", 410)                                                          \
    XX(PAYLOAD_TOO_LARGE, "PayloadTooLarge", 413)                                                  \
    XX(TOO_MANY_PROVIDER_TOKEN_UPDATES, "TooManyProviderTokenUpdates", 429)                        \
    XX(TOO_MANY_REQUESTS, "TooManyRequests", 429)                                                  \
    XX(INTERNAL_SERVER_ERROR, "InternalServerError", 500)                                          \
    XX(SERVICE_UNAVAILABLE, "ServiceUnavailable", 503)                                             \
    XX(SHUTDOWN, "Shutdown", 503)

/* Reasons only the broadcast APIs answer (§4.4; channel management §4.2,
 * publish §4.3), in the order of Apple's table. The reasons §4.4 shares with
 * the device-push table (PayloadEmpty, BadPriority, BadPath, ...) are the
 * rows above. tests/golden/broadcast.tsv holds both. */
#define SIM_BC_REASON_MAP(XX)                                                                      \
    XX(FEATURE_NOT_ENABLED, "FeatureNotEnabled", 400)                                              \
    XX(MISSING_CHANNEL_ID, "MissingChannelId", 400)                                                \
    XX(BAD_CHANNEL_ID, "BadChannelId", 400)                                                        \
    XX(CHANNEL_NOT_REGISTERED, "ChannelNotRegistered", 400)                                        \
    XX(BAD_REQUEST_PARAMS, "BadRequestParams", 400)                                                \
    XX(BAD_REQUEST_PAYLOAD, "BadRequestPayload", 400)                                              \
    XX(MISSING_PUSH_TYPE, "MissingPushType", 400)                                                  \
    XX(CANNOT_CREATE_CHANNEL_CONFIG, "CannotCreateChannelConfig", 400)                             \
    XX(TOPIC_MISMATCH, "TopicMismatch", 403)

typedef enum sim_reason {
    SIM_REASON_NONE = 0, /* accepted: 200, no reason */
#define SIM_REASON_ENUM(id, name, status) SIM_REASON_##id,
    SIM_REASON_MAP(SIM_REASON_ENUM)
    /* Rows 1 .. SIM_REASON_DEVICE_COUNT - 1: the device-push table
     * (reasons.tsv); from SIM_REASON_DEVICE_COUNT on: SIM_BC_REASON_MAP. */
    SIM_REASON_DEVICE_COUNT,
    SIM_REASON_BC_BEFORE_ = SIM_REASON_DEVICE_COUNT - 1,
    SIM_BC_REASON_MAP(SIM_REASON_ENUM)
#undef SIM_REASON_ENUM
        SIM_REASON_COUNT
} sim_reason;

typedef struct sim_reason_row {
    const char *name;        /* "BadTopic"; "" for NONE */
    int status;              /* 200 for NONE */
    const char *status_text; /* the same number as :status text ("400") */
} sim_reason_row;

/* Indexed by sim_reason; every value below SIM_REASON_COUNT has a row. */
extern const sim_reason_row sim_reasons[SIM_REASON_COUNT];

/* Push types: XX(ID, "name", "topic suffix", payload limit in bytes,
 * "apns-priority value that is an error" or NULL), in the order of Apple's
 * table (§1.5, limits §1.9). "" suffix: the bare bundle id (alert,
 * background, and mdm, whose topic comes from its certificate). */
#define SIM_PUSH_TYPE_MAP(XX)                                                                      \
    XX(ALERT, "alert", "", 4096, NULL)                                                             \
    XX(BACKGROUND, "background", "", 4096, "10")                                                   \
    XX(LOCATION, "location", ".location-query", 4096, NULL)                                        \
    XX(VOIP, "voip", ".voip", 5120, NULL)                                                          \
    XX(COMPLICATION, "complication", ".complication", 4096, NULL)                                  \
    XX(FILEPROVIDER, "fileprovider", ".pushkit.fileprovider", 4096, NULL)                          \
    XX(MDM, "mdm", "", 4096, NULL)                                                                 \
    XX(LIVEACTIVITY, "liveactivity", ".push-type.liveactivity", 4096, NULL)                        \
    XX(PUSHTOTALK, "pushtotalk", ".voip-ptt", 4096, NULL)                                          \
    XX(CONTROLS, "controls", ".push-type.controls", 4096, NULL)                                    \
    XX(WIDGETS, "widgets", ".push-type.widgets", 4096, NULL)

typedef enum sim_push_type {
#define SIM_PUSH_TYPE_ENUM(id, name, suffix, limit, bad_priority) SIM_PUSH_##id,
    SIM_PUSH_TYPE_MAP(SIM_PUSH_TYPE_ENUM)
#undef SIM_PUSH_TYPE_ENUM
        SIM_PUSH_TYPE_COUNT
} sim_push_type;

typedef struct sim_push_rule {
    const char *name;         /* the apns-push-type value */
    const char *suffix;       /* appended to the bundle id in apns-topic; "" = none */
    size_t payload_max;       /* bytes of body */
    const char *bad_priority; /* an apns-priority that is an error for it, or NULL */
} sim_push_rule;

/* Indexed by sim_push_type. */
extern const sim_push_rule sim_push_rules[SIM_PUSH_TYPE_COUNT];

/* The push type named s[0..len) (exact, case-sensitive). Returns 0, or -1
 * when no type has that name. */
int sim_push_type_parse(const char *s, size_t len, sim_push_type *out);

/* Certificate connections (§1.5, §2.5): what a push type needs of the
 * client certificate. Token connections may send every type. */
typedef enum sim_cert_need {
    SIM_CERT_ANY,        /* any APNs certificate */
    SIM_CERT_TOKEN_ONLY, /* never on a certificate connection (location, liveactivity) */
    SIM_CERT_VOIP,       /* registered for VoIP: OID .6.3.4, or .6.3.6 listing "voip" */
    SIM_CERT_WATCHKIT,   /* WatchKit services: OID .6.3.6 listing "complication" */
} sim_cert_need;

/* The client-certificate services behind SIM_CERT_VOIP / _WATCHKIT (bits). */
#define SIM_CERT_SVC_VOIP     1u
#define SIM_CERT_SVC_WATCHKIT 2u

/* The Apple extension OIDs that list a certificate's services (§1.5, §2.5). */
#define SIM_OID_CERT_VOIP   "1.2.840.113635.100.6.3.4"
#define SIM_OID_CERT_TOPICS "1.2.840.113635.100.6.3.6"

/* XX(push type ID, need, refusal reason ID). Types not listed need nothing.
 * The reason is a project choice (Apple names none, docs/apns-sim.md): the
 * certificate does not list the type's topic, so pushing to it is not
 * allowed. */
#define SIM_CERT_RULE_MAP(XX)                                                                      \
    XX(LOCATION, SIM_CERT_TOKEN_ONLY, TOPIC_DISALLOWED)                                            \
    XX(VOIP, SIM_CERT_VOIP, TOPIC_DISALLOWED)                                                      \
    XX(COMPLICATION, SIM_CERT_WATCHKIT, TOPIC_DISALLOWED)                                          \
    XX(LIVEACTIVITY, SIM_CERT_TOKEN_ONLY, TOPIC_DISALLOWED)

typedef struct sim_cert_rule {
    sim_cert_need need;
    sim_reason refusal; /* SIM_REASON_NONE for SIM_CERT_ANY */
} sim_cert_rule;

/* Indexed by sim_push_type. */
extern const sim_cert_rule sim_cert_rules[SIM_PUSH_TYPE_COUNT];

/* The reason a certificate with services `svc` (SIM_CERT_SVC_* bits) may
 * not send push type t, or SIM_REASON_NONE. */
sim_reason sim_cert_push_check(sim_push_type t, unsigned svc);

/* Smallest and largest payload_max of the table (golden_sim checks both):
 * bodies up to the first never need their push type looked up; a stream
 * keeps at most the second. */
#define SIM_PAYLOAD_LIMIT_MIN 4096
#define SIM_PAYLOAD_LIMIT_MAX 5120

/* Request rules (§1.3, §1.4). */
#define SIM_METHOD           "POST"
#define SIM_PATH_PREFIX      "/3/device/"
#define SIM_COLLAPSE_ID_MAX  64   /* bytes */
#define SIM_UUID_LEN         36   /* apns-id: 8-4-4-4-12 hex */
#define SIM_TOKEN_BYTES_MAX  100  /* the only bound Apple states (binary frame item 1) */
#define SIM_PRIORITY_DEFAULT "10" /* what an absent apns-priority means */

/* The apns-priority values APNs accepts, NULL-terminated. */
extern const char *const sim_priorities[];

/* Broadcast push (§4). Paths and the one push type a broadcast may carry. */
#define SIM_BC_PUBLISH_PREFIX     "/4/broadcasts/apps/" /* + <bundleID> */
#define SIM_BC_MANAGE_PREFIX      "/1/apps/"            /* + <bundleID> + one of: */
#define SIM_BC_CHANNELS           "/channels"           /* POST create, GET read, DELETE */
#define SIM_BC_ALL_CHANNELS       "/all-channels"       /* GET list */
#define SIM_BC_PUSH_TYPE          "liveactivity"        /* apns-push-type (any case, see docs) */
#define SIM_BC_BODY_PUSH_TYPE     "LiveActivity"        /* "push-type" of the create body */
#define SIM_BC_PAYLOAD_MAX        5120                  /* publish body; 413 above */
#define SIM_BC_CHANNEL_LIMIT      10000                 /* channels per app and environment */
#define SIM_BC_POLICY_NONE        0                     /* No Message Stored: expiration 0 */
#define SIM_BC_POLICY_MOST_RECENT 1                     /* Most Recent Message Stored */

/* The simulator's own choices where Apple states no limit (docs/apns-sim.md). */
#define SIM_CHANNEL_ID_MAX 128 /* longest apns-channel-id accepted, in characters */

#define SIM_TOKEN_HEX_MIN 16  /* shortest device token, in hex digits */
#define SIM_TOPIC_MAX     255 /* longest apns-topic, in bytes */

#endif
