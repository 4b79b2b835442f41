/*
 * transport.h - the I/O around one apns__h2_conn (internal).
 *
 * A transport is one connection to APNs on the caller's libevent loop:
 * a fresh DNS lookup (evdns), a non-blocking TCP connect (every resolved
 * address in turn), an optional HTTP CONNECT proxy, TLS (or plaintext h2c),
 * then bytes between the socket and the sans-I/O HTTP/2 core. It reads until
 * the socket is empty, lets the client submit more, then writes everything
 * the core produced in as few SSL_write calls as possible.
 *
 * Callbacks never fire from inside a transport function the client called
 * (submit, shutdown, new): only from libevent callbacks. The one exception
 * is the core's on_result/on_handback/on_goaway, which fire while the
 * transport feeds received bytes to the core, i.e. also from a libevent
 * callback. on_closed is always the last thing a transport does; the client
 * frees it there (or later) with apns__transport_free().
 */
#ifndef APNS_TRANSPORT_H
#define APNS_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "apns/jwt.h"
#include "h2_conn.h"
#include "job.h"

struct event_base;
struct evdns_base;

typedef struct apns__transport apns__transport;

typedef struct apns__transport_opts {
    struct event_base *base; /* borrowed */
    struct evdns_base *dns;  /* borrowed */
    const char *host;        /* APNs host (name or IP literal, no brackets); copied */
    uint16_t port;
    const char *proxy_host; /* HTTP CONNECT proxy, or NULL; copied */
    uint16_t proxy_port;
    SSL_CTX *ssl_ctx;           /* borrowed; NULL = plaintext h2c */
    int insecure_skip_verify;   /* only for the warning logged on every connect */
    int64_t connect_timeout_ms; /* DNS + TCP + proxy + TLS; 0 = 10000 */
    apns__h2_conn_opts h2;      /* for the core (authority is copied by the core) */
} apns__transport_opts;

typedef struct apns__transport_callbacks {
    /* Passed to the core as is, with the transport's ud. on_log also gets
     * the transport's own log lines. */
    apns__h2_callbacks h2;
    /* TLS (or TCP for h2c) is up and the HTTP/2 preface is on its way.
     * Optional. */
    void (*on_up)(void *ud, apns__transport *t);
    /* Bytes were received and handed to the core: capacity may have grown.
     * The client may submit now; the transport writes right after. */
    void (*on_ready)(void *ud, apns__transport *t);
    /* The connection ended: err is 0 after a graceful end (GOAWAY and every
     * stream answered), else APNS_E*; detail is borrowed for the call.
     * Everything in flight was handed back before this. The transport does
     * nothing after calling it; the client frees it. */
    void (*on_closed)(void *ud, apns__transport *t, int err, const char *detail);
} apns__transport_callbacks;

/*
 * Starts connecting (the DNS lookup begins from the loop, not from here).
 * Copies o and cb. Returns 0 or APNS_ENOMEM.
 */
int apns__transport_new(apns__transport **out, const apns__transport_opts *o,
                        const apns__transport_callbacks *cb, void *ud);

/* Closes the socket and frees everything; no callback fires. Jobs still in
 * the core's book are NOT handed back (the client owns them anyway). Sends a
 * best-effort GOAWAY when the connection is up. NULL is fine. */
void apns__transport_free(apns__transport *t);

/* 1 when TLS is up and the core is open (server SETTINGS seen, no GOAWAY). */
int apns__transport_is_open(const apns__transport *t);

/* 1 once TLS (or TCP for h2c) is up, until closed. */
int apns__transport_is_up(const apns__transport *t);

/* Streams that may be opened now (0 unless open). */
uint32_t apns__transport_capacity(const apns__transport *t);

/* Jobs in the core's book. */
size_t apns__transport_in_flight(const apns__transport *t);

/* Opens a stream for job (see apns__h2_conn_submit). The bytes are written
 * later in the same loop iteration, batched with other submits. Returns 0,
 * APNS_EAGAIN (no capacity), APNS_EINVAL (the job cannot be sent),
 * APNS_ENOMEM, APNS_EPROTO, APNS_ECLOSED; on an error the job stays the
 * caller's, and on anything but EAGAIN/EINVAL the transport closes itself
 * soon (on_closed). */
int apns__transport_submit(apns__transport *t, apns__job *job, const apns_token *tok);

/* Graceful end: GOAWAY to the server, no new streams; on_closed(0) fires
 * once every stream is answered or handed back. */
void apns__transport_shutdown(apns__transport *t);

/* Ends the connection now: jobs in flight are handed back, then on_closed
 * fires with err (from the loop, not from inside this call). */
void apns__transport_abort(apns__transport *t, int err, const char *detail);

/* "host:port" or "[v6]:port" of the peer connected to, "" before connect. */
const char *apns__transport_peer(const apns__transport *t);

/* Monotonic milliseconds (the clock the core runs on). */
int64_t apns__transport_now_ms(void);

#endif
