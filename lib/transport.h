/*
 * transport.h - the I/O around one sans-I/O protocol core (internal).
 *
 * A transport is one connection to APNs on the caller's libevent loop:
 * a fresh DNS lookup (evdns), a non-blocking TCP connect (every resolved
 * address in turn), an optional HTTP CONNECT proxy, TLS (or plaintext h2c),
 * then bytes between the socket and a sans-I/O core: the HTTP/2 core
 * (apns__h2_conn), the legacy binary core (apns__bin_conn), or a
 * receive-only reader the caller brings (apns__reader: the feedback
 * service). The transport reaches the core only through a small vtable
 * (transport.c), so the pool in client.c drives both APNs transports with
 * the same code. It reads until the socket is empty, lets the client submit
 * more, then writes everything the core produced in as few SSL_write calls
 * as possible.
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
#include "binary_conn.h"
#include "buf.h"
#include "endpoint.h"
#include "h2_conn.h"
#include "job.h"

typedef struct apns__transport apns__transport;

/* Which core runs on the connection. */
typedef enum apns__proto {
    APNS__PROTO_H2 = 0, /* apns__h2_conn; TLS must negotiate ALPN "h2" (or h2c) */
    APNS__PROTO_BINARY, /* apns__bin_conn, the legacy binary gateway; plain TLS */
    APNS__PROTO_READER, /* opts.reader: receive-only (the feedback service); plain TLS */
} apns__proto;

/*
 * A core that only receives (APNS__PROTO_READER). The transport hands it
 * what arrives and follows its deadline; it never writes for it or submits
 * to it, and the reader never finishes by itself: the peer closing (on_closed
 * with APNS_ECLOSED), or an error from recv or tick, ends the connection.
 * recv returns 0 or an APNS_E* code after which the connection is closed;
 * next_deadline is a monotonic time in ms (INT64_MAX = none); tick runs when
 * it has passed and returns 0 or an APNS_E* code that closes the connection.
 */
typedef struct apns__reader {
    const char *name; /* for log lines, e.g. "feedback" */
    int (*recv)(void *ud, const uint8_t *data, size_t len, int64_t now_ms);
    int64_t (*next_deadline)(const void *ud);
    int (*tick)(void *ud, int64_t now_ms);
    void *ud; /* the caller's (not NULL); passed to the three */
} apns__reader;

typedef struct apns__transport_opts {
    /* Where to and with what (endpoint.h): its loop, resolver and TLS
     * context (NULL = plaintext h2c) are borrowed and must outlive the
     * transport; its host is copied. insecure_skip_verify is only for the
     * warning logged on every connect. */
    const apns__endpoint *ep;
    const char *proxy_host; /* HTTP CONNECT proxy, or NULL; copied */
    uint16_t proxy_port;
    apns__proto proto;
    apns__h2_conn_opts h2;   /* APNS__PROTO_H2 (authority is copied by the core) */
    apns__bin_conn_opts bin; /* APNS__PROTO_BINARY; the transport sets unix_offset_ms */
    apns__reader reader;     /* APNS__PROTO_READER; copied */
} apns__transport_opts;

typedef struct apns__transport_callbacks {
    /* Passed to the core as is, with the transport's ud (for a binary core:
     * on_result, on_handback and on_log, whose signatures are the same;
     * on_goaway is not used). on_log also gets the transport's own log
     * lines. Unused for a reader but on_log. */
    apns__h2_callbacks h2;
    /* Binary core: an error-response packet arrived (before the per-job
     * callbacks it causes); the transport closes right after them with
     * on_closed(0). Optional. */
    void (*on_error_packet)(void *ud, apns__transport *t, uint8_t status, uint32_t id);
    /* TLS (or TCP for h2c) is up and the core exists (the HTTP/2 preface is
     * on its way; a binary core takes submits at once). Optional; the
     * client may submit from here. */
    void (*on_up)(void *ud, apns__transport *t);
    /* Bytes were received and handed to the core, or (binary) the socket
     * took the buffered notifications: capacity may have grown. The client
     * may submit now; the transport writes right after. */
    void (*on_ready)(void *ud, apns__transport *t);
    /* The connection ended: err is 0 after a graceful end (GOAWAY and every
     * stream answered; a binary error packet), else APNS_E* (APNS_ECLOSED:
     * the peer closed); detail is borrowed for the call.
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

/* 1 when TLS is up and the core is open (HTTP/2: server SETTINGS seen, no
 * GOAWAY; binary: no error packet, not shut down). */
int apns__transport_is_open(const apns__transport *t);

/* 1 once TLS (or TCP for h2c) is up, until closed. */
int apns__transport_is_up(const apns__transport *t);

/* Streams that may be opened now, or (binary) room in the sent list, 0
 * while 256 KB or more wait for the socket (on_ready says when that
 * changes). 0 unless open. */
uint32_t apns__transport_capacity(const apns__transport *t);

/* Jobs in the core's book. */
size_t apns__transport_in_flight(const apns__transport *t);

/* Opens a stream for job (see apns__h2_conn_submit), or puts it on the
 * binary sent list (apns__bin_conn_submit; tok is ignored). The bytes are
 * written later in the same loop iteration, batched with other submits.
 * Returns 0, APNS_EAGAIN (no capacity), a job error (the job cannot be sent
 * as it is: APNS_EINVAL; binary also APNS_EBADTOKEN, APNS_ETOOBIG,
 * APNS_EPAYLOADEMPTY, APNS_EPRIORITY), APNS_ENOMEM, APNS_EPROTO,
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

/* Wall clock minus monotonic clock, in ms (apns__bin_conn_opts.unix_offset_ms). */
int64_t apns__transport_unix_offset_ms(void);

#endif
