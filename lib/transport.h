/*
 * transport.h - the I/O around one sans-I/O protocol core (internal).
 *
 * A transport is one connection to APNs on the caller's libevent loop:
 * a fresh DNS lookup (evdns), a non-blocking TCP connect (every resolved
 * address in turn), an optional HTTP CONNECT proxy, TLS (or plaintext h2c),
 * then bytes between the socket and a sans-I/O core. It reaches the core
 * only through the core's class (core.h): HTTP/2, the legacy binary
 * interface, or a receive-only core the caller brings (the feedback
 * reader), all with the same code. It reads until the socket is empty,
 * lets the client submit more, then writes everything the core produced in
 * as few SSL_write calls as possible.
 *
 * Callbacks never fire from inside a transport function the client called
 * (submit, shutdown, new): only from libevent callbacks. The one exception
 * is the core's callbacks (on_result, on_handback, on_peer_end), which fire
 * while the transport feeds received bytes to the core, i.e. also from a
 * libevent callback. on_closed is always the last thing a transport does;
 * the client frees it there (or later) with apns__transport_free().
 */
#ifndef APNS_TRANSPORT_H
#define APNS_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "apns/jwt.h"
#include "buf.h"
#include "core.h"
#include "endpoint.h"
#include "job.h"

typedef struct apns__transport apns__transport;

typedef struct apns__transport_opts {
    /* Where to and with what (endpoint.h): its loop, resolver and TLS
     * context (NULL = plaintext h2c) are borrowed and must outlive the
     * transport; its host is copied. insecure_skip_verify is only for the
     * warning logged on every connect. */
    const apns__endpoint *ep;
    const char *proxy_host; /* HTTP CONNECT proxy, or NULL; copied */
    uint16_t proxy_port;
    const apns__core_class *cls; /* the protocol; borrowed (a static table) */
    const void *cfg;             /* cls->create's settings; borrowed, must outlive the transport */
    void *core;                  /* a core the caller made and keeps (cls->create and
                                    cls->free are NULL), or NULL: made once TLS is up */
} apns__transport_opts;

typedef struct apns__transport_callbacks {
    /* Passed to the core with the transport's ud; on_log also gets the
     * transport's own log lines. After on_peer_end(finishing = 0) the
     * transport closes with on_closed(0) once the core's callbacks are
     * done. */
    apns__core_callbacks core;
    /* TLS (or TCP for h2c) is up and the core exists (the HTTP/2 preface is
     * on its way; a core without a handshake takes submits at once).
     * Optional; the client may submit from here. */
    void (*on_up)(void *ud, apns__transport *t);
    /* Bytes were received and handed to the core, or (cls->out_limit) the
     * socket took the buffered output: capacity may have grown. The client
     * may submit now; the transport writes right after. */
    void (*on_ready)(void *ud, apns__transport *t);
    /* The connection ended: err is 0 after a graceful end (the core
     * finished: GOAWAY and every stream answered; or the server ended it
     * the protocol's normal way: a binary error packet), else APNS_E* (APNS_ECLOSED:
     * the peer closed); detail is borrowed for the call.
     * Everything in flight was handed back before this. The transport does
     * nothing after calling it; the client frees it. */
    void (*on_closed)(void *ud, apns__transport *t, int err, const char *detail);
} apns__transport_callbacks;

/*
 * Parses an HTTP CONNECT proxy address for apns__transport_opts: "host:port",
 * "[v6]:port", optionally "http://" in front and "/" after (the forms the
 * public options' proxy field documents). *host is malloc'ed (brackets
 * dropped; the caller frees it). Returns 0, APNS_EINVAL (not host:port, or
 * a port outside 1..65535) or APNS_ENOMEM; on an error *host is untouched.
 */
int apns__transport_proxy_parse(const char *s, char **host, uint16_t *port);

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

/* 1 when TLS is up and the core is open (its is_open()). */
int apns__transport_is_open(const apns__transport *t);

/* 1 once TLS (or TCP for h2c) is up, until closed. */
int apns__transport_is_up(const apns__transport *t);

/* Jobs the core takes now (its capacity()); 0 while cls->out_limit bytes
 * or more wait for the socket (on_ready says when that changes). 0 unless
 * open. */
uint32_t apns__transport_capacity(const apns__transport *t);

/* Jobs in the core's book. */
size_t apns__transport_in_flight(const apns__transport *t);

/* Puts job in the core's book (its submit(): an HTTP/2 stream, the binary
 * sent list). The bytes are written later in the same loop iteration,
 * batched with other submits. Returns 0, APNS_EAGAIN (no capacity), a job
 * error (the job cannot be sent as it is: APNS_EINVAL, APNS_EBADTOKEN,
 * APNS_ETOOBIG, APNS_EPAYLOADEMPTY, APNS_EPRIORITY), APNS_ENOMEM, APNS_EPROTO,
 * APNS_ECLOSED; on an error the job stays the caller's, and on anything but
 * EAGAIN or a job error the transport closes itself soon (on_closed). */
int apns__transport_submit(apns__transport *t, apns__job *job, const apns_token *tok);

/* Graceful end: GOAWAY to the server, no new streams; on_closed(0) fires
 * once every stream is answered or handed back. */
void apns__transport_shutdown(apns__transport *t);

/* Ends the connection now: jobs in flight are handed back, then on_closed
 * fires with err (from the loop, not from inside this call). */
void apns__transport_abort(apns__transport *t, int err, const char *detail);

/* "host:port" or "[v6]:port" of the peer connected to, "" before connect. */
const char *apns__transport_peer(const apns__transport *t);

/* 1 for the errors apns__transport_submit() returns when the job (not the
 * connection) is at fault. */
int apns__transport_job_error(int err);

/* Monotonic milliseconds (the clock the core runs on). */
int64_t apns__transport_now_ms(void);

#endif
