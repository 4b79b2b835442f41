/*
 * apns/client.h - an APNs HTTP/2 client: a pool of connections to one APNs
 * environment with one credential, driven by the caller's libevent loop.
 *
 * Credit-based backpressure: the client holds at most `max_pending`
 * notifications (queued, in flight, or waiting for a retry). Each one is
 * copied into a preallocated slot at submit; when no slot is free
 * apns_client_submit() returns APNS_EAGAIN and the on_credit callback fires
 * once slots free up again. Memory is bounded by max_pending whatever the
 * caller offers.
 *
 * Nothing is lost on a broken connection: a notification whose stream APNs
 * never answered (GOAWAY above last-stream-id, REFUSED_STREAM, a reset, a
 * stream deadline, a lost connection) goes back to the pool's queue and is
 * sent on another connection. Every submitted notification gets exactly one
 * on_result call, unless apns_client_free() is called first. Two limits keep
 * a notification from waiting forever: one handed back unanswered more than
 * 10 times FAILS with APNS_ERETRIES (a poison notification must not take down
 * connection after connection), and when connections are refused 3 times in
 * a row at the TLS or proxy level (APNS_EVERIFY, APNS_EALPN, APNS_ETLS,
 * APNS_EPROXY: revoked certificate, untrusted server, no HTTP/2, proxy says
 * no) with none up, the queued notifications FAIL with that error. Network
 * trouble (DNS, TCP connect, timeouts) does not fail anything: the client
 * keeps reconnecting with a jittered backoff (100 ms doubling to 30 s).
 *
 * Callbacks fire only from the event loop, never from inside
 * apns_client_submit().
 *
 * Threading: one client belongs to one event loop thread. Only
 * apns_token_cache may be shared across threads.
 */
#ifndef APNS_CLIENT_H
#define APNS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "apns/error.h"
#include "apns/jwt.h"
#include "apns/notification.h"
#include "apns/reason.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

typedef enum apns_environment {
    APNS_ENV_PRODUCTION = 0, /* api.push.apple.com:443 */
    APNS_ENV_SANDBOX,        /* api.sandbox.push.apple.com:443 */
    APNS_ENV_CUSTOM,         /* host and port from the options (apns-sim, tests) */
} apns_environment;

typedef enum apns_outcome {
    APNS_OUTCOME_ACCEPTED = 0, /* 200 from APNs */
    APNS_OUTCOME_REJECTED,     /* APNs answered with an error status and reason */
    APNS_OUTCOME_FAILED,       /* no answer from APNs: see error (retries exhausted,
                                  shutdown, credentials refused) */
} apns_outcome;

typedef struct apns_result {
    apns_outcome outcome;
    int status;                             /* HTTP status; 0 when APNs never answered */
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
    int binary_status; /* legacy binary interface: the error-response status
                          (apns/binary.h) for REJECTED; 0 when accepted by
                          silence, and always 0 for HTTP/2 */
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
    apns_retry_policy retry;    /* for APNS_ACTION_RETRY / RECONNECT answers */

    apns_result_cb on_result; /* required */
    apns_credit_cb on_credit; /* optional */
    apns_log_cb on_log;       /* optional; no logging when NULL */
    void *ud;
} apns_client_opts;

/* Zeroes opts (every default). */
void apns_client_opts_init(apns_client_opts *o);

/*
 * Creates a client on `base` and starts connecting. The client borrows base
 * and opts->tokens. Returns 0, APNS_EINVAL (no on_result, both or neither
 * auth), APNS_ECERT, APNS_ETLS, APNS_ENOMEM; `detail` names the problem.
 */
int apns_client_new(apns_client **out, struct event_base *base, const apns_client_opts *opts,
                    char *detail, size_t detail_len);

/*
 * Validates n (apns_notification_validate; a topic is required with token
 * auth) and copies it into a free slot (the token lower-cased; an apns-id is
 * generated when n->apns_id is ""). Returns 0, APNS_EAGAIN (no slot: wait for
 * on_credit), APNS_ESHUTDOWN (after drain), APNS_ENOMEM (a slot's payload
 * buffer could not grow), or a validation error (then no callback fires for
 * n; the detail goes to on_log at DEBUG).
 */
int apns_client_submit(apns_client *c, const apns_notification *n);

/* Free slots right now. */
size_t apns_client_credit(const apns_client *c);

/* Notifications held (queued + in flight + waiting to retry). */
size_t apns_client_pending(const apns_client *c);

typedef struct apns_client_stats {
    uint64_t submitted, accepted, rejected, failed;
    uint64_t resent;  /* handed back by a connection and sent again */
    uint64_t retried; /* re-sent after a retryable answer */
    uint64_t goaways, refused_streams, stream_timeouts;
    uint64_t connects;    /* connections that completed TLS (TCP for h2c) */
    uint64_t disconnects; /* ... and that closed again */
    unsigned connections_up;
    size_t in_flight;
} apns_client_stats;

void apns_client_stats_get(const apns_client *c, apns_client_stats *s);

/* Stops accepting submits; what is pending is still sent. When nothing is
 * pending the connections are closed (GOAWAY) and on_drained fires once,
 * from the loop; on_drained may call apns_client_free(). */
void apns_client_drain(apns_client *c, void (*on_drained)(apns_client *c, void *ud));

/* Closes everything at once. Pending notifications get no callback. Call it
 * from outside the client's callbacks, or from on_credit / on_drained; not
 * from on_result or on_log (the client is in the middle of an answer). */
void apns_client_free(apns_client *c);

#ifdef __cplusplus
}
#endif
#endif
