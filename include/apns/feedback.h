/*
 * apns/feedback.h - the legacy feedback service: the device tokens APNs
 * found dead (the app is gone from the device), each with the time APNs
 * decided so.
 *
 * The service (feedback.push.apple.com:2196, feedback.sandbox.push.apple.com
 * for development; retired with the binary interface in 2021, served today
 * by apns-sim) speaks plain TLS with the provider certificate, directly or
 * through an HTTP CONNECT proxy (opts.proxy, as for apns_client). It sends
 * every tuple it holds as soon as the handshake completes and then closes;
 * what was read is cleared on the server, so each fetch returns only what
 * is new since the last one. Before dropping a token, check that the device
 * did not register it again after the reported time.
 *
 * apns_feedback_new() runs one fetch on the caller's libevent loop: each
 * tuple is reported through on_item as it is decoded (tuples may arrive cut
 * across any number of reads), then on_done fires exactly once with the
 * count and the outcome. apns_feedback_reader is the same decoder without
 * I/O, for callers that bring their own bytes.
 *
 * Threading: a fetch belongs to its event loop's thread.
 *
 * Installed and built only with the legacy interface (APNS_HAVE_LEGACY).
 */
#ifndef APNS_FEEDBACK_H
#define APNS_FEEDBACK_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#include "apns/binary.h"
#include "apns/client.h" /* apns_environment, apns_log_cb */
#include "apns/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/* One dead token. */
typedef struct apns_feedback_item {
    uint32_t timestamp;   /* UNIX seconds, as the service sent it */
    int64_t timestamp_ms; /* the same in ms: the unit of apns_result.timestamp_ms */
    const char *token;    /* lower-case hex, NUL-terminated; borrowed for the call */
    size_t token_len;     /* bytes of the binary token (32 in practice, at most 100) */
} apns_feedback_item;

/* ---- the decoder, without I/O ---------------------------------------------- */

typedef void (*apns_feedback_item_cb)(const apns_feedback_item *item, void *ud);

/* Streaming decoder state; embed it, no allocation. Fields are private. */
typedef struct apns_feedback_reader {
    uint8_t part[6 + APNS_BINARY_TOKEN_MAX]; /* a tuple cut by the end of a read */
    size_t part_len;
    size_t count; /* tuples decoded so far */
    int err;      /* sticky error */
} apns_feedback_reader;

APNS_EXTERN void apns_feedback_reader_init(apns_feedback_reader *r);

/*
 * Decodes the tuples in data (any split: a tuple may begin in one call and
 * end in a later one) and calls cb for each, in order. Tuples are parsed by
 * their length field. Returns 0, APNS_EFORMAT (a token length of 0 or over
 * 100: nothing after it can be trusted; the tuples before it were reported;
 * sticky), or APNS_EINVAL (NULL r or cb, or NULL data with len > 0).
 */
APNS_EXTERN int apns_feedback_reader_feed(apns_feedback_reader *r, const uint8_t *data, size_t len,
                                          apns_feedback_item_cb cb, void *ud);

/* At the end of the input: 0 when it ended between tuples, APNS_EFORMAT when
 * it ended inside one (bytes left over) or after a malformed one. */
APNS_EXTERN int apns_feedback_reader_end(const apns_feedback_reader *r);

/* Tuples decoded so far. */
APNS_EXTERN size_t apns_feedback_reader_count(const apns_feedback_reader *r);

/* ---- one fetch over TLS ---------------------------------------------------- */

typedef struct apns_feedback apns_feedback;

/* A tuple: item and its strings are borrowed for the call. Do not call
 * apns_feedback_free() from here. */
typedef void (*apns_feedback_tuple_cb)(apns_feedback *f, const apns_feedback_item *item, void *ud);

/*
 * The fetch is over; fires once, from the loop, as the last thing the fetch
 * does (apns_feedback_free() may be called from here). count: tuples
 * reported through on_item. err: 0 when the service closed the connection
 * after whole tuples; APNS_EFORMAT when a tuple was malformed or cut off by
 * the close (the whole tuples before it were reported); APNS_ERESOLVE,
 * APNS_ECONNECT (the service's, or the proxy's with opts.proxy),
 * APNS_EPROXY (the proxy refused the tunnel or failed: its status line is in
 * detail; nothing was read from the service, whose list is still there),
 * APNS_ETIMEOUT (connect_timeout_ms, or idle_timeout_ms with nothing
 * received), APNS_ETLS (handshake or TLS read failed, e.g. the certificate
 * was refused), APNS_EVERIFY (server not trusted), APNS_ENOMEM.
 * detail (borrowed for the call) says what happened.
 */
typedef void (*apns_feedback_done_cb)(apns_feedback *f, size_t count, int err, const char *detail,
                                      void *ud);

typedef struct apns_feedback_opts {
    apns_environment env; /* PRODUCTION: feedback.push.apple.com, SANDBOX:
                             feedback.sandbox.push.apple.com, CUSTOM: host */
    const char *host;     /* APNS_ENV_CUSTOM: host name or address */
    uint16_t port;        /* 0 = 2196 */

    /* The provider certificate (required), as for apns_client. */
    const char *cert_file;
    const char *key_file; /* NULL: in cert_file */
    const char *p12_file; /* or PKCS#12 */
    const char *p12_password;

    const char *ca_file;      /* NULL = system trust store */
    int insecure_skip_verify; /* tests only: logs a warning */

    /* "host:port" ("[v6]:port", "http://host:port") of an HTTP CONNECT
     * proxy, or NULL: the same field and forms as apns_client_opts.proxy.
     * The fetch asks the proxy for a tunnel to the service's host and port
     * (CONNECT host:port) and speaks TLS to the service through it; the
     * proxy sees neither the certificate nor the tuples. */
    const char *proxy;

    int64_t connect_timeout_ms; /* DNS + TCP + TLS; 0 = 10000 */
    int64_t idle_timeout_ms;    /* connected, nothing received this long: APNS_ETIMEOUT;
                                   0 = 30000 */

    apns_feedback_tuple_cb on_item; /* required */
    apns_feedback_done_cb on_done;  /* required */
    apns_log_cb on_log;             /* optional */
    void *ud;
} apns_feedback_opts;

/* Zeroes o (every default). */
APNS_EXTERN void apns_feedback_opts_init(apns_feedback_opts *o);

/*
 * Starts one fetch on `base` (the DNS lookup begins from the loop; no
 * callback fires from inside this call). Borrows base; copies what it needs
 * from o. Returns 0, APNS_EINVAL (no on_item or on_done, no certificate,
 * APNS_ENV_CUSTOM without a host, unknown environment, a proxy that is not
 * host:port), APNS_ECERT,
 * APNS_ETLS, APNS_ENOMEM; `detail` (may be NULL) names the problem. On
 * error no callback fires. Free the fetch with apns_feedback_free(), from
 * on_done or later.
 */
APNS_EXTERN int apns_feedback_new(apns_feedback **out, struct event_base *base,
                                  const apns_feedback_opts *o, char *detail, size_t detail_len);

/* Stops a fetch that is still running (no further callback) or frees a
 * finished one. NULL is fine. Not from on_item. */
APNS_EXTERN void apns_feedback_free(apns_feedback *f);

#ifdef __cplusplus
}
#endif
#endif
