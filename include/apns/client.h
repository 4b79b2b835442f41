/*
 * apns/client.h - an APNs client: a pool of connections to one APNs
 * environment with one credential, driven by the caller's libevent loop.
 * With provider APNS_PROVIDER_FCM the same client sends to Firebase Cloud
 * Messaging HTTP v1 instead (apns/fcm.h says what a notification means
 * then); everything below holds for both.
 * The connections speak HTTP/2 (the provider API), or the legacy binary
 * interface (APNS_TRANSPORT_BINARY, see below); results, retries and
 * backpressure are the same for both.
 *
 * Credit-based backpressure: the client holds at most `max_pending`
 * notifications (queued, in flight, or waiting for a retry). Each one is
 * copied into a preallocated slot at submit; when no slot is free
 * apns_client_submit() returns APNS_EAGAIN and the on_credit callback fires
 * once slots free up again. Memory is bounded by max_pending whatever the
 * caller offers.
 *
 * Nothing is lost on a broken connection, and who retries what is settled
 * once:
 *   - The client owns every connection-level resend. A notification whose
 *     stream APNs never answered (GOAWAY above last-stream-id,
 *     REFUSED_STREAM, a reset, a stream deadline, a lost connection; on the
 *     binary interface, everything sent after the notification an error
 *     packet named) goes back to the pool's queue and is sent on another
 *     connection; so is one answered RECONNECT (Shutdown, IdleTimeout: the
 *     connection is replaced) or REFRESH_TOKEN (ExpiredProviderToken, once
 *     the token cache will mint a new token). These never count against
 *     retry.max_attempts and never reach on_result on their way: a caller
 *     must not resend them itself.
 *   - retry.max_attempts counts only the answers that ask to wait: action
 *     RETRY (429, 500, 503), and a REFRESH_TOKEN for which the cache would
 *     not mint (the token was already replaced, or is younger than 20
 *     minutes). Each waits apns_retry_backoff_ms(); the answer that reaches
 *     max_attempts is final (REJECTED, with its action). A caller that keeps
 *     durable retries of its own (a retry-at that survives a restart) sets
 *     max_attempts = 1: it then gets every such answer at once, and only
 *     those.
 * Every submitted notification gets exactly one on_result call, unless
 * apns_client_free() is called first. Two limits keep a notification from
 * waiting forever: after 10 connection-level resends (a poison notification
 * must not take down connection after connection) the next hand-back FAILS
 * with APNS_ERETRIES and the next RECONNECT or REFRESH_TOKEN answer is
 * final; and when connections are refused 3 times in a row at the TLS or
 * proxy level (APNS_EVERIFY, APNS_EALPN, APNS_ETLS, APNS_EPROXY: revoked
 * certificate, untrusted server, no HTTP/2, proxy says no) with none up,
 * the queued notifications FAIL with that error. Network trouble (DNS, TCP
 * connect, timeouts) does not fail anything: the client keeps reconnecting
 * with a jittered backoff (100 ms doubling to 30 s).
 *
 * The legacy binary interface (retired by Apple in March 2021; for
 * apns-sim, tests and the story this project grew from) never says
 * "accepted": each connection keeps a sent list in send order, a
 * notification is ACCEPTED when no error packet named it or an earlier one
 * within binary_accept_window_ms, REJECTED when an error packet names it
 * (apns_result.binary_status; reason and action from the same reason table
 * as HTTP/2, e.g. status 8 -> BadDeviceToken, APNS_ACTION_DEAD_TOKEN), and
 * everything sent after the named one goes back to the front of the queue
 * in its original order and is resent on a new connection. A connection
 * that closes without an error packet hands back what it sent within the
 * window (at-least-once: those may be delivered twice). Hand-backs after an
 * error packet (APNs discarded them unread) do not count towards the limit
 * of 10 connection-level resends; silent closes do. The slots bound
 * throughput: at most max_pending notifications per accept window. The
 * binary interface is part of the library when it was built with it
 * (APNS_HAVE_LEGACY, apns/features.h; CMake option APNS_LEGACY, default
 * ON); otherwise apns_client_new() refuses it with APNS_EINVAL.
 *
 * Callbacks fire only from the event loop, never from inside
 * apns_client_submit().
 *
 * Threading: one client belongs to one event loop thread. Only
 * apns_token_cache may be shared across threads.
 */
#ifndef APNS_CLIENT_H
#define APNS_CLIENT_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#include "apns/error.h"
#include "apns/features.h"
#include "apns/jwt.h"
#include "apns/notification.h"
#include "apns/reason.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

typedef enum apns_environment {
    APNS_ENV_PRODUCTION = 0, /* api.push.apple.com:443 (binary: gateway.push.apple.com:2195) */
    APNS_ENV_SANDBOX,        /* api.sandbox.push.apple.com:443
                                (binary: gateway.sandbox.push.apple.com:2195) */
    APNS_ENV_CUSTOM,         /* host and port from the options (apns-sim, tests) */
} apns_environment;

/* Where a client of APNS_ENV_PRODUCTION / APNS_ENV_SANDBOX connects for
 * broadcast publishes. Apple's broadcast page names the device hosts in its
 * connection section and api-broadcast.* in its examples (§4.3 of the
 * protocol notes); which is canonical is unconfirmed, so it is a choice. */
typedef enum apns_publish_host {
    APNS_PUBLISH_HOST_PUSH = 0,  /* api[.sandbox].push.apple.com: device pushes and
                                    broadcasts on one client (node-apn's choice) */
    APNS_PUBLISH_HOST_BROADCAST, /* api-broadcast[.sandbox].push.apple.com: a client for
                                    broadcasts only */
} apns_publish_host;

/* What the connections speak. */
typedef enum apns_transport {
    APNS_TRANSPORT_HTTP2 = 0, /* the HTTP/2 provider API (TLS with ALPN h2, or h2c) */
    APNS_TRANSPORT_BINARY,    /* the legacy binary interface: plain TLS, certificate
                                 auth only (see the top of this file); only when
                                 APNS_HAVE_LEGACY */
} apns_transport;

/* Whom the client sends to. */
typedef enum apns_provider {
    APNS_PROVIDER_APNS = 0, /* Apple Push Notification service */
    APNS_PROVIDER_FCM,      /* Firebase Cloud Messaging HTTP v1 (apns/fcm.h): HTTP/2,
                               token auth (OAuth2 access tokens in the token cache) */
} apns_provider;

/* The legacy binary interface's notification formats (apns/binary.h has
 * their codecs). */
typedef enum apns_binary_format {
    APNS_BINARY_SIMPLE = 0,   /* command 0: no identifier; errors are silent */
    APNS_BINARY_ENHANCED = 1, /* command 1: identifier + expiry; error packet */
    APNS_BINARY_FRAME = 2,    /* command 2: items; identifier, expiry, priority */
} apns_binary_format;

typedef enum apns_outcome {
    APNS_OUTCOME_ACCEPTED = 0, /* 200 from APNs */
    APNS_OUTCOME_REJECTED,     /* APNs answered with an error status and reason */
    APNS_OUTCOME_FAILED,       /* no answer from APNs: see error (retries exhausted,
                                  shutdown, credentials refused) */
} apns_outcome;

typedef struct apns_result {
    apns_outcome outcome;
    int status;                             /* HTTP status; 0 when APNs never answered,
                                               and always 0 on the binary interface */
    apns_reason reason;                     /* APNS_REASON_NONE when accepted */
    const char *reason_str;                 /* borrowed for the callback; "" if none */
    int64_t timestamp_ms;                   /* 410: when the token became invalid; else 0 */
    apns_action action;                     /* from the reason table */
    int attempts;                           /* sends, including the last one */
    int error;                              /* for FAILED: APNS_ERETRIES (handed back
                                               unanswered too often), APNS_EVERIFY /
                                               EALPN / ETLS / EPROXY (connections
                                               refused), APNS_ECRYPTO (no provider
                                               token), APNS_EINVAL; else 0 */
    char apns_id[APNS_UUID_LEN + 1];        /* the id of the request (sent or APNs') */
    char apns_unique_id[APNS_UUID_LEN + 1]; /* sandbox only; "" when absent */
    int binary_status;                      /* legacy binary interface: the error-response status
                                               (apns/binary.h) for REJECTED; 0 when accepted by
                                               silence, and always 0 for HTTP/2 */
    /* A broadcast publish's answer names its request id in apns_id (sent as
     * apns-request-id, or APNs') and APNs' message id in apns_unique_id.
     * The channel-management client (apns/channel.h) also reads these,
     * borrowed for the callback: */
    const char *channel_id; /* the answer's apns-channel-id header, or NULL */
    const char *body;       /* the answer's body (not NUL-terminated), or NULL */
    size_t body_len;
    /* FCM (apns/fcm.h), borrowed for the callback: */
    const char *fcm_name;  /* 200: the message name "projects/p/messages/<id>", else NULL */
    const char *fcm_field; /* 400: the field FCM's BadRequest named, or NULL */
    int64_t retry_after_s; /* the answer's Retry-After in seconds (1..3600), 0 if none */
} apns_result;

typedef struct apns_client apns_client;

/* `n` is the client's copy (token, topic, payload valid during the call);
 * n->user_data is the caller's pointer from submit. */
typedef void (*apns_result_cb)(apns_client *c, const apns_notification *n, const apns_result *r,
                               void *ud);
/* Slots are free again after APNS_EAGAIN. */
typedef void (*apns_credit_cb)(apns_client *c, size_t credit, void *ud);

typedef enum apns_log_level {
    APNS_LOG_ERROR,
    APNS_LOG_WARN,
    APNS_LOG_INFO,
    APNS_LOG_DEBUG
} apns_log_level;
typedef void (*apns_log_cb)(apns_log_level level, const char *msg, void *ud);

typedef struct apns_client_opts {
    apns_environment env;
    const char *host; /* APNS_ENV_CUSTOM: host name or address */
    uint16_t port;    /* 0 = 443 */

    /* Authentication: exactly one of tokens or a certificate. */
    apns_token_cache *tokens; /* token auth; borrowed, shared by the team */
    const char *cert_file;    /* PEM certificate (chain) ... */
    const char *key_file;     /* ... and its PEM private key (NULL: in cert_file) */
    const char *p12_file;     /* or PKCS#12 */
    const char *p12_password;

    /* Server trust. */
    const char *ca_file;      /* NULL = system trust store */
    int insecure_skip_verify; /* tests only: logs a warning on every connect */
    int h2c;                  /* plaintext HTTP/2 (prior knowledge); profiling only;
                                 token auth only */
    const char *proxy;        /* "host:port" ("[v6]:port", "http://host:port")
                                 of an HTTP CONNECT proxy, or NULL */

    unsigned connections;       /* 0 = 1 */
    unsigned max_pending;       /* slots; 0 = 1000 * connections */
    unsigned max_streams;       /* per connection, a cap on the server's value; 0 = 1000 */
    int64_t stream_timeout_ms;  /* 0 = 30000: no answer by then -> resent elsewhere */
    int64_t connect_timeout_ms; /* 0 = 10000 */
    int64_t ping_idle_ms;       /* PING after this much silence; 0 = 60000 */
    int64_t ping_timeout_ms;    /* no PONG by then -> connection dead; 0 = 10000 */
    apns_retry_policy retry;    /* for the answers that ask to wait (APNS_ACTION_RETRY;
                                   see the top of this file: who retries what) */

    /* Transport; the zero value is HTTP/2. APNS_TRANSPORT_BINARY needs a
     * client certificate (APNS_EINVAL with tokens or h2c); port 0 = 2195;
     * max_pending 0 = 20000 * connections; max_streams, stream_timeout_ms
     * and the PING options do not apply. */
    apns_transport transport;
    /* Binary: APNS_BINARY_FRAME or APNS_BINARY_ENHANCED. The zero value
     * (APNS_BINARY_SIMPLE) means FRAME here, so that zeroed options get the
     * frame format; the simple format needs binary_simple as well. */
    apns_binary_format binary_format;
    int binary_simple;               /* 1: the simple format (command 0). It has no identifier,
                                        so a bad notification silently drops the connection and
                                        the whole window is resent; for demonstrations */
    int64_t binary_accept_window_ms; /* binary: silence this long after a send means
                                        accepted; 0 = 2000. Must cover APNs' error
                                        delay plus the round trip */
    int binary_assume_delivered;     /* binary, benchmarks only: on a close without an
                                        error packet report what is unanswered as
                                        ACCEPTED (the naive provider, which loses
                                        notifications) instead of resending it */

    apns_result_cb on_result; /* required */
    apns_credit_cb on_credit; /* optional */
    apns_log_cb on_log;       /* optional; no logging when NULL */
    void *ud;

    /* HTTP/2, APNS_ENV_PRODUCTION / SANDBOX: the host the client connects to
     * (see apns_publish_host); ignored with APNS_ENV_CUSTOM. */
    apns_publish_host publish_host;

    /* APNS_PROVIDER_FCM (apns/fcm.h): HTTP/2 and `tokens` only (an
     * apns_token_cache holding OAuth2 access tokens); APNS_ENV_PRODUCTION and
     * SANDBOX connect to fcm.googleapis.com:443, APNS_ENV_CUSTOM to host and
     * port. fcm_project_id is required (the project id, or its number). */
    apns_provider provider;
    const char *fcm_project_id;
    int fcm_validate_only; /* 1: every send is a dry run ("validate_only": true) */
} apns_client_opts;

/* Zeroes opts (every default). */
APNS_EXTERN void apns_client_opts_init(apns_client_opts *o);

/*
 * Creates a client on `base` and starts connecting. The client borrows base
 * and opts->tokens. Returns 0, APNS_EINVAL (no on_result, both or neither
 * auth, binary without a certificate, unknown transport or binary format,
 * binary in a library built without it), APNS_ECERT, APNS_ETLS,
 * APNS_ENOMEM; `detail` names the problem.
 */
APNS_EXTERN int apns_client_new(apns_client **out, struct event_base *base,
                                const apns_client_opts *opts, char *detail, size_t detail_len);

/*
 * Validates n (apns_notification_validate; a topic is required with token
 * auth) and copies it into a free slot (the token lower-cased; an apns-id is
 * generated when n->apns_id is ""). Binary transport: also APNS_EBADTOKEN for
 * a token that is not 32 bytes (64 hex digits) in the simple and enhanced
 * formats, APNS_ETOOBIG for a payload over 256 bytes (simple, enhanced) or
 * 2048 (frame); topic, push type and collapse id are not sent, and a
 * broadcast (n->channel_id) is APNS_EINVAL. A broadcast publish rides the
 * same slots, in-flight book, hand-backs and retries as a device push.
 * Returns 0,
 * APNS_EAGAIN (no slot: wait for on_credit), APNS_ESHUTDOWN (after drain),
 * APNS_ENOMEM (a slot's payload buffer could not grow), or a validation
 * error (then no callback fires for n; the detail goes to on_log at DEBUG).
 */
APNS_EXTERN int apns_client_submit(apns_client *c, const apns_notification *n);

/* Free slots right now. */
APNS_EXTERN size_t apns_client_credit(const apns_client *c);

/* Notifications held (queued + in flight + waiting to retry). */
APNS_EXTERN size_t apns_client_pending(const apns_client *c);

typedef struct apns_client_stats {
    uint64_t submitted, accepted, rejected, failed;
    uint64_t resent;  /* handed back by a connection and sent again */
    uint64_t retried; /* re-sent after a retryable answer */
    uint64_t goaways, refused_streams, stream_timeouts;
    uint64_t connects;    /* connections that completed TLS (TCP for h2c) */
    uint64_t disconnects; /* ... and that closed again */
    unsigned connections_up;
    size_t in_flight;       /* in streams (HTTP/2) or sent lists (binary) */
    uint64_t error_packets; /* binary: error-response packets received */
} apns_client_stats;

APNS_EXTERN void apns_client_stats_get(const apns_client *c, apns_client_stats *s);

/* Stops accepting submits; what is pending is still sent. When nothing is
 * pending the connections are closed (GOAWAY) and on_drained fires once,
 * from the loop; on_drained may call apns_client_free(). */
APNS_EXTERN void apns_client_drain(apns_client *c, void (*on_drained)(apns_client *c, void *ud));

/* Closes everything at once. Pending notifications get no callback. Call it
 * from outside the client's callbacks, or from on_credit / on_drained; not
 * from on_result or on_log (the client is in the middle of an answer). */
APNS_EXTERN void apns_client_free(apns_client *c);

#ifdef __cplusplus
}
#endif

#if APNS_HAVE_LEGACY
#include "apns/binary.h" /* the binary codecs, as before the formats moved here */
#endif
#endif
