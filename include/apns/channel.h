/*
 * apns/channel.h - the broadcast channel-management client (iOS/iPadOS 18
 * Live Activity broadcasts): create, read, list and delete the channels of
 * an app, on the caller's libevent loop.
 *
 * Channels are managed on a service of their own (§4.2 of the protocol
 * notes): api-manage-broadcast.push.apple.com:2196 (production) and
 * api-manage-broadcast.sandbox.push.apple.com:2195 (development), HTTP/2 with
 * the same token or certificate authentication as device pushes. A channel
 * client keeps its own connection(s) there. Publishing to a channel is a
 * notification with channel_id set, sent through an apns_client
 * (apns/notification.h).
 *
 *   create  POST   /1/apps/<bundle id>/channels      201 + apns-channel-id
 *   read    GET    /1/apps/<bundle id>/channels      200 {"message-storage-policy":n,...}
 *   list    GET    /1/apps/<bundle id>/all-channels  200 {"channels":[...]}
 *   delete  DELETE /1/apps/<bundle id>/channels      204
 *
 * Contract (nghttp2 style):
 *   - Every request function copies its arguments and returns 0, after
 *     which `cb` is called exactly once from the loop (never from inside the
 *     request function), or an error code, after which it is never called.
 *   - Answers: outcome ACCEPTED for 201/200/204; REJECTED with status,
 *     reason (the one reason table, apns/reason.h: ChannelNotRegistered,
 *     CannotCreateChannelConfig, FeatureNotEnabled, TopicMismatch, ...) and
 *     action; FAILED when no usable answer came: error APNS_ERETRIES,
 *     APNS_EVERIFY, APNS_ETLS, ... as for apns_client, or APNS_EFORMAT for a
 *     2xx answer that lacks what it must carry (a create without
 *     apns-channel-id, a read or list body that does not parse).
 *   - Requests ride an apns_client's slots and in-flight book: one whose
 *     stream APNs never answered (GOAWAY, reset, lost connection) is sent
 *     again on a new connection, and 429/5xx answers are retried after a
 *     backoff (opts.retry). A create whose connection died after APNs
 *     processed it can therefore make two channels; the request id stays
 *     the same, and a list shows them.
 *   - Pointers in apns_channel_result are borrowed for the callback.
 *   - One client belongs to one loop thread. apns_channel_client_free() may
 *     be called from outside the callbacks only; pending requests then get
 *     no callback.
 */
#ifndef APNS_CHANNEL_H
#define APNS_CHANNEL_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#include "apns/client.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

#define APNS_MANAGE_HOST_PRODUCTION "api-manage-broadcast.push.apple.com"
#define APNS_MANAGE_HOST_SANDBOX    "api-manage-broadcast.sandbox.push.apple.com"
#define APNS_MANAGE_PORT_PRODUCTION 2196
#define APNS_MANAGE_PORT_SANDBOX    2195
#define APNS_CHANNEL_LIMIT          10000 /* channels per app and environment (Apple) */

/* Message storage policy, fixed when the channel is created (§4.1). */
typedef enum apns_storage_policy {
    APNS_STORAGE_NONE = 0,        /* No Message Stored: publish with apns-expiration 0 */
    APNS_STORAGE_MOST_RECENT = 1, /* Most Recent Message Stored (up to 8 hours) */
} apns_storage_policy;

typedef enum apns_channel_op {
    APNS_CHANNEL_CREATE = 0,
    APNS_CHANNEL_READ,
    APNS_CHANNEL_LIST,
    APNS_CHANNEL_DELETE,
} apns_channel_op;

typedef struct apns_channel_result {
    apns_channel_op op;
    apns_outcome outcome;
    int status;             /* HTTP status; 0 when no answer */
    apns_reason reason;     /* APNS_REASON_NONE when accepted */
    const char *reason_str; /* "" if none */
    apns_action action;
    int error; /* FAILED: why (see the top of this file); else 0 */
    int attempts;
    char request_id[APNS_UUID_LEN + 1]; /* apns-request-id (sent, or APNs') */
    const char *bundle_id;
    /* create: the new channel's id; read, delete: the id asked about; list:
     * NULL. */
    const char *channel_id;
    int storage_policy; /* read: 0 or 1; else -1 */
    /* list: the channel ids (nchannels of them; NULL when none). */
    const char *const *channels;
    size_t nchannels;
} apns_channel_result;

typedef struct apns_channel_client apns_channel_client;

typedef void (*apns_channel_cb)(apns_channel_client *cc, const apns_channel_result *r, void *ud);

typedef struct apns_channel_opts {
    apns_environment env; /* PRODUCTION, SANDBOX (the hosts and ports above) or CUSTOM */
    const char *host;     /* APNS_ENV_CUSTOM: host name or address (apns-sim) */
    uint16_t port;        /* 0: the environment's port above (CUSTOM: 443) */

    /* Authentication: exactly one of tokens or a certificate (as apns_client). */
    apns_token_cache *tokens;
    const char *cert_file, *key_file, *p12_file, *p12_password;

    const char *ca_file;
    int insecure_skip_verify; /* tests only */
    int h2c;                  /* plaintext HTTP/2; tests only; token auth only */
    const char *proxy;        /* HTTP CONNECT proxy "host:port", or NULL */

    unsigned max_pending;       /* requests held at once; 0 = 64 */
    int64_t stream_timeout_ms;  /* 0 = 30000 */
    int64_t connect_timeout_ms; /* 0 = 10000 */
    apns_retry_policy retry;    /* for 429 / 5xx answers (as apns_client) */

    apns_log_cb on_log; /* optional */
    void *log_ud;
} apns_channel_opts;

/* Zeroes opts (every default; production). */
APNS_EXTERN void apns_channel_opts_init(apns_channel_opts *o);

/* Creates a channel client on base and starts connecting. Returns 0,
 * APNS_EINVAL (both or neither credential, CUSTOM without host, ...),
 * APNS_ECERT, APNS_ETLS, APNS_ENOMEM; `detail` names the problem. */
APNS_EXTERN int apns_channel_client_new(apns_channel_client **out, struct event_base *base,
                                        const apns_channel_opts *opts, char *detail,
                                        size_t detail_len);

/* Refuses new requests (APNS_ESHUTDOWN); when every pending request got its
 * callback, closes the connections and calls on_drained once, from the
 * loop (on_drained may call apns_channel_client_free). */
APNS_EXTERN void apns_channel_client_drain(apns_channel_client *cc,
                                           void (*on_drained)(apns_channel_client *cc, void *ud),
                                           void *ud);

/* Closes at once; pending requests get no callback. NULL is a no-op. */
APNS_EXTERN void apns_channel_client_free(apns_channel_client *cc);

/*
 * The four operations. bundle_id is the app's plain bundle id (no
 * ".push-type.liveactivity"); channel_id a base64 id from create or list.
 * request_id is NULL (one is generated) or a canonical UUID sent as
 * apns-request-id. Returns 0 (cb follows once), APNS_EINVAL (NULL cc or cb),
 * APNS_ENOTOPIC / APNS_ETOPIC (bundle id), APNS_ECHANNELID, APNS_EAPNSID,
 * APNS_EINVAL (storage policy not 0 or 1), APNS_EAGAIN (max_pending
 * requests held), APNS_ESHUTDOWN (after drain), APNS_ENOMEM.
 */
APNS_EXTERN int apns_channel_create(apns_channel_client *cc, const char *bundle_id,
                                    apns_storage_policy policy, const char *request_id,
                                    apns_channel_cb cb, void *ud);
APNS_EXTERN int apns_channel_read(apns_channel_client *cc, const char *bundle_id,
                                  const char *channel_id, const char *request_id,
                                  apns_channel_cb cb, void *ud);
APNS_EXTERN int apns_channel_list(apns_channel_client *cc, const char *bundle_id,
                                  const char *request_id, apns_channel_cb cb, void *ud);
APNS_EXTERN int apns_channel_delete(apns_channel_client *cc, const char *bundle_id,
                                    const char *channel_id, const char *request_id,
                                    apns_channel_cb cb, void *ud);

/* Static name of an operation ("create"); "?" when out of range. */
APNS_EXTERN const char *apns_channel_op_name(apns_channel_op op);

#ifdef __cplusplus
}
#endif
#endif
