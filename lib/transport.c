/*
 * transport.c - one APNs connection's I/O on a libevent loop.
 *
 * Design notes
 *
 * The core's class. The transport knows sockets, TLS and time; what the
 * bytes mean is a sans-I/O core's business, reached only through its class
 * (core.h): recv / flush / submit / tick / close and a few state queries.
 * Where the protocols differ, the class says so as data and this file
 * follows it, without knowing the protocol: ALPN h2 or none (alpn_h2);
 * whether a TLS EOF without close_notify is a plain disconnect
 * (eof_is_close); output that goes to our buffer at submit, with no
 * capacity while out_limit bytes wait for the socket (out_limit: the
 * binary accept window starts at submit); and servers that write why and
 * close (verdict_then_close: when a write fails the socket is read once
 * more before giving up, because APNs writes its error packet and closes,
 * and a write that races the close (EPIPE, reset) must not hide the packet
 * that says exactly what to resend). A core that ends the connection the
 * protocol's normal way (on_peer_end with finishing = 0, then recv returns
 * APNS_ECLOSED: a binary error packet) closes with on_closed(0). The
 * per-call cost of the class is one indirect call.
 *
 * Stages: START -> RESOLVING -> CONNECTING -> PROXY (optional) -> TLS
 * (skipped for h2c) -> OPEN -> CLOSED. One timer covers the whole setup
 * (connect_timeout_ms); once OPEN the same timer follows the core's next
 * deadline (stream deadlines, PING).
 *
 * Batching is the point of this file. A read event drains the socket in a
 * loop into a 64 KB buffer (many TLS records per buffer), hands each full
 * buffer to the core, then lets the client submit new streams (on_ready),
 * then writes everything the core produced with as few SSL_write calls as
 * the socket allows, corked (tls.c): the TLS records of one flush leave in
 * one send() of up to 64 KB, not one send() per 16 KB record. Submits made outside a read event
 * mark the transport and activate a deferred event, so every submit of one loop iteration shares
 * one flush.
 *
 * Re-entrancy: functions the client calls (submit, shutdown, abort) never
 * call back. A failure they notice is parked (pending_close) and handled
 * from the deferred event. fail() is always the last thing an event
 * callback does, because on_closed may free the transport.
 *
 * SSL_ERROR_WANT_* both ways: a read may need the socket writable (and a
 * write readable) in TLS; the flags read_wants_write / write_wants_read make
 * the other event retry the operation.
 */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "apns/error.h"
#include "tls.h"
#include "clock.h" /* common/ */

#define READ_BUF_SIZE  (64 * 1024)
#define OUT_HIGH_WATER (512 * 1024) /* stop pulling frames from the core above this */
#define REFILL_ROUNDS  16           /* out_limit: buffer refills per event before yielding */
#define PROXY_BUF_SIZE 4096

enum stage { T_START, T_RESOLVING, T_CONNECTING, T_PROXY, T_TLS, T_OPEN, T_CLOSED };

static const char *stage_name[] = {"start",         "DNS lookup", "TCP connect", "proxy CONNECT",
                                   "TLS handshake", "open",       "closed"};

/* Lives apart from the transport so a lookup cancelled by free() can finish
 * later without touching freed memory. */
struct dns_ctx {
    apns__transport *t;
    struct evdns_getaddrinfo_request *req;
};

struct apns__transport {
    struct event_base *base;
    struct evdns_base *dns;
    char *host;
    uint16_t port;
    char *proxy_host;
    uint16_t proxy_port;
    SSL_CTX *ssl_ctx;
    int insecure;
    int64_t connect_timeout_ms;
    const apns__core_class *vt;
    const void *cfg;
    apns__transport_callbacks cb;
    void *ud;

    enum stage stage;
    int fd;
    SSL *ssl;
    void *core;   /* created when TLS is up (or the caller's) */
    int peer_end; /* the server ended the connection (on_peer_end, not finishing) */
    char peer_end_detail[256];
    struct event *ev_read, *ev_write, *ev_timer, *ev_defer;
    int read_added, write_added;
    int64_t armed; /* deadline the timer is armed for, INT64_MAX = none */

    struct dns_ctx *dnsq;
    int dns_done, dns_err;
    struct evutil_addrinfo *ai, *ai_next;
    int last_connect_errno;

    apns__buf out;
    uint8_t *rbuf;

    int want_flush;
    int in_io;
    int read_wants_write, write_wants_read;
    int pending_close, pending_err;
    int shutdown_pending;
    int out_full; /* out_limit: a submit filled the buffer; refill via on_ready */
    char pending_detail[256];

    char peer[64];
    char proxy_buf[PROXY_BUF_SIZE];
    size_t proxy_off, proxy_len, proxy_acc;
};

int64_t apns__transport_now_ms(void)
{
    return common_mono_ms();
}

#define tlog(t, lvl, ...) apns__core_logf(&(t)->cb.core, (t)->ud, lvl, __VA_ARGS__)

static void on_io(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_defer(evutil_socket_t fd, short what, void *arg);

static int64_t unix_offset_ms(void)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    return wall_ms - apns__transport_now_ms();
}

/* --- the core's callbacks: the client's, with its ud ------------------------ */

static void core_on_result(void *ud, apns__job *job, const apns_result *r)
{
    apns__transport *t = ud;
    t->cb.core.on_result(t->ud, job, r);
}

static void core_on_handback(void *ud, apns__job *job, apns__handback why)
{
    apns__transport *t = ud;
    t->cb.core.on_handback(t->ud, job, why);
}

/* Keeps the end the server announced for the close detail. */
static void core_on_peer_end(void *ud, const apns__peer_end *e)
{
    apns__transport *t = ud;
    if (!e->finishing) {
        t->peer_end = 1;
        snprintf(t->peer_end_detail, sizeof t->peer_end_detail, "%s from %s", e->text, t->peer);
    }
    if (t->cb.core.on_peer_end)
        t->cb.core.on_peer_end(t->ud, e);
}

static void core_on_log(void *ud, apns_log_level level, const char *msg)
{
    apns__transport *t = ud;
    if (t->cb.core.on_log)
        t->cb.core.on_log(t->ud, level, msg);
}

/* --- small helpers ------------------------------------------------------- */

static void want_read(apns__transport *t, int on)
{
    if (on && !t->read_added) {
        event_add(t->ev_read, NULL);
        t->read_added = 1;
    } else if (!on && t->read_added) {
        event_del(t->ev_read);
        t->read_added = 0;
    }
}

static void want_write(apns__transport *t, int on)
{
    if (on && !t->write_added) {
        event_add(t->ev_write, NULL);
        t->write_added = 1;
    } else if (!on && t->write_added) {
        event_del(t->ev_write);
        t->write_added = 0;
    }
}

static void arm_at(apns__transport *t, int64_t deadline)
{
    if (deadline == t->armed)
        return;
    t->armed = deadline;
    if (deadline == INT64_MAX) {
        evtimer_del(t->ev_timer);
        return;
    }
    int64_t d = deadline - apns__transport_now_ms();
    if (d < 0)
        d = 0;
    struct timeval tv = {.tv_sec = (time_t)(d / 1000), .tv_usec = (suseconds_t)(d % 1000) * 1000};
    evtimer_add(t->ev_timer, &tv);
}

static void drop_socket(apns__transport *t)
{
    if (t->ev_read) {
        event_free(t->ev_read);
        t->ev_read = NULL;
    }
    if (t->ev_write) {
        event_free(t->ev_write);
        t->ev_write = NULL;
    }
    t->read_added = t->write_added = 0;
    if (t->ssl) {
        SSL_free(t->ssl);
        t->ssl = NULL;
    }
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}

/* The end. Hands back what is in flight, reports, and touches t no more. */
static void fail(apns__transport *t, int err, const char *detail)
{
    if (t->stage == T_CLOSED)
        return;
    enum stage was = t->stage;
    t->stage = T_CLOSED;
    if (t->ev_read)
        event_del(t->ev_read);
    if (t->ev_write)
        event_del(t->ev_write);
    t->read_added = t->write_added = 0;
    evtimer_del(t->ev_timer);
    t->armed = INT64_MAX;
    if (err && was < T_OPEN)
        tlog(t, APNS_LOG_DEBUG, "connection to %s:%u failed during %s", t->host, t->port,
             stage_name[was]);
    if (t->core)
        t->vt->close(t->core, apns__transport_now_ms());
    t->cb.on_closed(t->ud, t, err, detail ? detail : "");
}

static void failf(apns__transport *t, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void failf(apns__transport *t, int err, const char *fmt, ...)
{
    char d[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, sizeof d, fmt, ap);
    va_end(ap);
    fail(t, err, d);
}

static void park_close(apns__transport *t, int err, const char *detail)
{
    if (t->stage == T_CLOSED || t->pending_close)
        return;
    t->pending_close = 1;
    t->pending_err = err;
    snprintf(t->pending_detail, sizeof t->pending_detail, "%s", detail ? detail : "");
    event_active(t->ev_defer, 0, 0);
}

/* --- open stage: reading, writing, deadlines ----------------------------- */

/* A TLS write failed: in SSL_write (ssl_err, its SSL_get_error) or when the
 * corked records went to the socket (ssl_err 0); saved is errno. Unless the
 * protocol reads the server's verdict itself (verdict_then_close,
 * salvage_verdict), the server may have said why in an alert before closing
 * (TLS 1.3 refuses a client certificate after the handshake, and the whole
 * corked flush can meet the closed socket before any read saw the alert):
 * one read picks it up. Fills detail; returns the error. */
static int tls_write_failed(apns__transport *t, int ssl_err, int saved, char *detail, size_t dlen)
{
    char why[256];

    apns__tls_err_reason(why, sizeof why);
    if (!why[0] && !t->vt->verdict_then_close) {
        uint8_t tmp[256];
        ERR_clear_error();
        int r = SSL_read(t->ssl, tmp, sizeof tmp);
        unsigned long ae = ERR_peek_last_error();
        if (r <= 0 && SSL_get_error(t->ssl, r) == SSL_ERROR_SSL && ERR_GET_LIB(ae) == ERR_LIB_SSL &&
            ERR_GET_REASON(ae) >= SSL_AD_REASON_OFFSET) { /* an alert */
            apns__tls_err_reason(why, sizeof why);
            snprintf(detail, dlen, "TLS from %s: %s", t->peer, why);
            return APNS_ETLS;
        }
        ERR_clear_error();
    }
    snprintf(detail, dlen, "TLS write to %s: %s", t->peer,
             why[0] ? why : (saved ? strerror(saved) : "connection closed"));
    return ssl_err == SSL_ERROR_SSL ? APNS_ETLS : APNS_ECLOSED;
}

/* Writes as much of the core's output as the socket takes. Returns 0 or an
 * error code with detail filled. */
static int flush_out(apns__transport *t, char *detail, size_t dlen)
{
    int pulled = 0;
again:
    if (t->out.len < OUT_HIGH_WATER) {
        int rc = t->vt->flush(t->core, &t->out);
        if (rc) {
            snprintf(detail, dlen, "%s output: %s", t->vt->name, apns_strerror(rc));
            return rc;
        }
        pulled = 1;
    }
    t->write_wants_read = 0;
    if (t->ssl)
        apns__tls_cork(t->ssl, 1); /* this flush's records leave in one send */
    while (t->out.len) {
        const uint8_t *p = apns__buf_head(&t->out);
        size_t len = t->out.len;
        if (t->ssl) {
            ERR_clear_error();
            int n = SSL_write(t->ssl, p, len > (size_t)INT32_MAX ? INT32_MAX : (int)len);
            if (n > 0) {
                apns__buf_consume(&t->out, (size_t)n);
                continue;
            }
            int e = SSL_get_error(t->ssl, n);
            apns__tls_cork(t->ssl, 0);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                int d = apns__tls_drain(t->ssl);
                if (d < 0)
                    return tls_write_failed(t, 0, errno, detail, dlen);
                if (e == SSL_ERROR_WANT_WRITE || d > 0) {
                    want_write(t, 1);
                    return 0;
                }
                t->write_wants_read = 1;
                want_write(t, 0);
                return 0;
            }
            /* after_io() reads what a verdict_then_close server sent (an
             * error packet, an alert) before reporting this. */
            return tls_write_failed(t, e, errno, detail, dlen);
        } else {
            ssize_t n = send(t->fd, p, len, MSG_NOSIGNAL);
            if (n > 0) {
                apns__buf_consume(&t->out, (size_t)n);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                want_write(t, 1);
                return 0;
            }
            snprintf(detail, dlen, "write to %s: %s", t->peer,
                     n < 0 ? strerror(errno) : "connection closed");
            return APNS_ECLOSED;
        }
    }
    if (t->ssl) {
        apns__tls_cork(t->ssl, 0);
        int d = apns__tls_drain(t->ssl);
        if (d < 0)
            return tls_write_failed(t, 0, errno, detail, dlen);
        if (d > 0) {
            want_write(t, 1);
            return 0;
        }
    }
    /* Everything written. If the core was not asked for its bytes because
     * the buffer was full, ask now: no later event may come to do it (a
     * binary connection reads nothing while all is well). */
    if (!pulled)
        goto again;
    if (!t->read_wants_write)
        want_write(t, 0);
    return 0;
}

/* The core's recv failed with rc: close, telling the server's normal end of
 * the connection (a binary error packet, with its detail) from anything
 * else. */
static void recv_failed(apns__transport *t, int rc)
{
    if (rc == APNS_ECLOSED && t->peer_end) {
        fail(t, 0, t->peer_end_detail);
        return;
    }
    failf(t, rc, "%s from %s: %s", t->vt->name, t->peer, apns_strerror(rc));
}

/* A write failed on a connection whose server writes why and closes
 * (verdict_then_close: APNs' error packet); our next write can fail (EPIPE,
 * reset) before the read event shows us the packet. Read what the socket
 * still holds: when the packet is there the core rewinds exactly (and t is
 * closed, returns 1); otherwise the caller reports the write error and the
 * core hands everything back. */
static int salvage_verdict(apns__transport *t)
{
    int64_t now = apns__transport_now_ms();
    for (int i = 0; i < 16; i++) {
        int n;
        if (t->ssl) {
            ERR_clear_error();
            n = SSL_read(t->ssl, t->rbuf, READ_BUF_SIZE);
        } else {
            ssize_t r = recv(t->fd, t->rbuf, READ_BUF_SIZE, 0);
            n = r > 0 ? (int)r : -1;
        }
        if (n <= 0) {
            unsigned long ae = ERR_peek_last_error();
            if (t->ssl && SSL_get_error(t->ssl, n) == SSL_ERROR_SSL &&
                ERR_GET_LIB(ae) == ERR_LIB_SSL && ERR_GET_REASON(ae) >= SSL_AD_REASON_OFFSET) {
                char why[256];
                apns__tls_err_reason(why, sizeof why); /* an alert says why */
                failf(t, APNS_ETLS, "TLS from %s: %s", t->peer, why);
                return 1;
            }
            break;
        }
        int rc = t->vt->recv(t->core, t->rbuf, (size_t)n, now);
        if (rc) {
            ERR_clear_error();
            tlog(t, APNS_LOG_DEBUG, "%s: a write failed; read what the server sent first", t->peer);
            recv_failed(t, rc);
            return 1;
        }
    }
    ERR_clear_error();
    return 0;
}

/* After any I/O in the open stage: write, close when finished, re-arm. */
static void after_io(apns__transport *t)
{
    char detail[512];
    if (t->pending_close) {
        t->pending_close = 0;
        fail(t, t->pending_err, t->pending_detail);
        return;
    }
    if (t->shutdown_pending) {
        /* From here, not from apns__transport_shutdown(): that may run
         * inside one of the core's callbacks. */
        t->shutdown_pending = 0;
        t->vt->shutdown(t->core);
    }
    int rc = flush_out(t, detail, sizeof detail);
    /* out_limit: submits stop while the buffer is above it (capacity 0);
     * once the socket took it, let the client refill it, and write again,
     * until the socket pushes back or the queue is empty. */
    for (int round = 0; !rc && t->out_full && t->out.len < t->vt->out_limit; round++) {
        if (round == REFILL_ROUNDS) {
            t->want_flush = 1; /* let timers and other connections run */
            event_active(t->ev_defer, 0, 0);
            break;
        }
        t->out_full = 0;
        if (t->cb.on_ready) {
            int was = t->in_io;
            t->in_io = 1;
            t->cb.on_ready(t->ud, t);
            t->in_io = was;
        }
        if (t->pending_close) {
            t->pending_close = 0;
            fail(t, t->pending_err, t->pending_detail);
            return;
        }
        rc = flush_out(t, detail, sizeof detail);
    }
    if (rc) {
        if (t->vt->verdict_then_close && salvage_verdict(t))
            return;
        fail(t, rc, detail);
        return;
    }
    if (t->vt->is_finished(t->core)) {
        fail(t, 0, t->vt->finished);
        return;
    }
    arm_at(t, t->vt->next_deadline(t->core));
}

static void do_read(apns__transport *t)
{
    int64_t now = apns__transport_now_ms();
    int eof = 0, eof_err = APNS_ECLOSED;
    char detail[512] = "";

    t->read_wants_write = 0;
    t->in_io = 1;
    for (;;) {
        size_t got = 0;
        /* Fill the buffer from as many TLS records as are available. */
        while (got < READ_BUF_SIZE) {
            if (t->ssl) {
                ERR_clear_error();
                int n = SSL_read(t->ssl, t->rbuf + got, (int)(READ_BUF_SIZE - got));
                if (n > 0) {
                    got += (size_t)n;
                    continue;
                }
                int e = SSL_get_error(t->ssl, n);
                if (e == SSL_ERROR_WANT_READ) {
                    eof = -1;
                } else if (e == SSL_ERROR_WANT_WRITE) {
                    t->read_wants_write = 1;
                    want_write(t, 1);
                    eof = -1;
                } else if (e == SSL_ERROR_ZERO_RETURN) {
                    eof = 1;
                    snprintf(detail, sizeof detail, "%s closed the TLS session", t->peer);
                } else {
                    int saved = errno;
                    char why[256];
                    unsigned long le = ERR_peek_last_error();
                    int bare_eof = ERR_GET_LIB(le) == ERR_LIB_SSL &&
                                   ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
                    apns__tls_err_reason(why, sizeof why);
                    eof = 1;
                    /* A TLS alert (e.g. TLS 1.3 refusing the client
                     * certificate after the handshake) is a TLS failure,
                     * not a mere disconnect. Servers that end by closing
                     * the socket, with or without close_notify (the binary
                     * gateway, the feedback service: eof_is_close), are
                     * disconnects. */
                    if (e == SSL_ERROR_SSL && !(bare_eof && t->vt->eof_is_close))
                        eof_err = APNS_ETLS;
                    snprintf(detail, sizeof detail, "TLS read from %s: %s", t->peer,
                             why[0] ? why
                                    : (saved ? strerror(saved) : "connection closed by peer"));
                }
                break;
            } else {
                ssize_t n = recv(t->fd, t->rbuf + got, READ_BUF_SIZE - got, 0);
                if (n > 0) {
                    got += (size_t)n;
                    continue;
                }
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    eof = -1;
                } else {
                    eof = 1;
                    snprintf(detail, sizeof detail, "%s: %s", t->peer,
                             n < 0 ? strerror(errno) : "connection closed by peer");
                }
                break;
            }
        }
        if (got) {
            int rc = t->vt->recv(t->core, t->rbuf, got, now);
            if (rc) {
                t->in_io = 0;
                recv_failed(t, rc);
                return;
            }
        }
        if (eof)
            break;
    }
    if (eof == 1) {
        t->in_io = 0;
        fail(t, eof_err, detail);
        return;
    }
    if (!t->pending_close && t->cb.on_ready)
        t->cb.on_ready(t->ud, t);
    t->in_io = 0;
    after_io(t);
}

/* --- setup stages -------------------------------------------------------- */

static void became_up(apns__transport *t)
{
    int rc = 0;
    if (!t->core) {
        apns__core_peer peer = {
            .host = t->host, .port = t->port, .unix_offset_ms = unix_offset_ms()};
        apns__core_callbacks ccb = {
            .on_result = core_on_result,
            .on_handback = core_on_handback,
            .on_peer_end = core_on_peer_end,
            .on_log = core_on_log,
        };
        rc = t->vt->create(&t->core, t->cfg, &peer, &ccb, t, apns__transport_now_ms());
    }
    if (rc) {
        failf(t, rc, "%s session: %s", t->vt->name, apns_strerror(rc));
        return;
    }
    t->stage = T_OPEN;
    t->armed = -1; /* force re-arm */
    want_write(t, 0);
    want_read(t, 1);
    const char *label = t->vt->label && t->cfg ? t->vt->label(t->cfg) : NULL;
    if (t->ssl && label)
        tlog(t, APNS_LOG_INFO, "connected to %s (%s) with %s, %s: %s", t->host, t->peer,
             SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl), label);
    else if (t->ssl)
        tlog(t, APNS_LOG_INFO, "connected to %s (%s) with %s, %s", t->host, t->peer,
             SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
    else
        tlog(t, APNS_LOG_INFO, "connected to %s (%s) with plaintext HTTP/2 (h2c)", t->host,
             t->peer);
    if (t->cb.on_up) {
        t->in_io = 1;
        t->cb.on_up(t->ud, t);
        t->in_io = 0;
    }
    after_io(t);
}

static void tls_step(apns__transport *t)
{
    char detail[512];
    int rc = apns__tls_handshake_ex(t->ssl, t->vt->alpn_h2, detail, sizeof detail);
    if (rc == APNS__TLS_WANT_READ) {
        want_write(t, 0);
        want_read(t, 1);
        return;
    }
    if (rc == APNS__TLS_WANT_WRITE) {
        want_read(t, 0);
        want_write(t, 1);
        return;
    }
    if (rc) {
        failf(t, rc, "%s [%s]", detail, t->peer);
        return;
    }
    became_up(t);
}

static void start_tls(apns__transport *t)
{
    char detail[512];
    if (!t->ssl_ctx) {
        became_up(t);
        return;
    }
    if (t->insecure)
        tlog(t, APNS_LOG_WARN,
             "INSECURE: TLS server verification is disabled (insecure_skip_verify) for %s: "
             "anyone on the path can read and change notifications. Tests only!",
             t->host);
    int rc = apns__tls_ssl_new(&t->ssl, t->ssl_ctx, t->fd, t->host, detail, sizeof detail);
    if (rc) {
        fail(t, rc, detail);
        return;
    }
    t->stage = T_TLS;
    tls_step(t);
}

static int is_ip6(const char *h)
{
    return strchr(h, ':') != NULL;
}

static void proxy_start(apns__transport *t)
{
    int n;
    if (is_ip6(t->host))
        n = snprintf(t->proxy_buf, sizeof t->proxy_buf,
                     "CONNECT [%s]:%u HTTP/1.1\r\nHost: [%s]:%u\r\n\r\n", t->host, t->port, t->host,
                     t->port);
    else
        n = snprintf(t->proxy_buf, sizeof t->proxy_buf,
                     "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n", t->host, t->port, t->host,
                     t->port);
    t->proxy_len = (size_t)n;
    t->proxy_off = 0;
    t->proxy_acc = 0;
    t->stage = T_PROXY;
}

static void proxy_step(apns__transport *t)
{
    while (t->proxy_off < t->proxy_len) {
        ssize_t n =
            send(t->fd, t->proxy_buf + t->proxy_off, t->proxy_len - t->proxy_off, MSG_NOSIGNAL);
        if (n > 0) {
            t->proxy_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            want_write(t, 1);
            return;
        }
        failf(t, APNS_EPROXY, "proxy %s: %s", t->peer, n < 0 ? strerror(errno) : "closed");
        return;
    }
    if (t->proxy_acc == 0 && t->proxy_len) {
        /* request sent: reuse the buffer for the reply */
        t->proxy_len = 0;
    }
    want_write(t, 0);
    want_read(t, 1);
    /* Read the reply header without reading past it: TLS starts right after.
     * Peek, find the blank line, then consume exactly up to it. */
    char peek[PROXY_BUF_SIZE];
    size_t room = sizeof t->proxy_buf - 1 - t->proxy_acc;
    if (room == 0) {
        failf(t, APNS_EPROXY, "proxy %s: reply header longer than %d bytes", t->peer,
              PROXY_BUF_SIZE - 1);
        return;
    }
    ssize_t n = recv(t->fd, peek, room, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        failf(t, APNS_EPROXY, "proxy %s closed the connection before answering CONNECT%s%s",
              t->peer, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
        return;
    }
    size_t before = t->proxy_acc;
    memcpy(t->proxy_buf + before, peek, (size_t)n);
    size_t total = before + (size_t)n, end = 0;
    for (size_t i = before >= 3 ? before - 3 : 0; i + 4 <= total; i++) {
        if (memcmp(t->proxy_buf + i, "\r\n\r\n", 4) == 0) {
            end = i + 4;
            break;
        }
    }
    size_t take = end ? end - before : (size_t)n;
    ssize_t r = recv(t->fd, peek, take, 0);
    if (r != (ssize_t)take) {
        failf(t, APNS_EPROXY, "proxy %s: short read", t->peer);
        return;
    }
    t->proxy_acc = before + take;
    t->proxy_buf[t->proxy_acc] = '\0';
    if (!end)
        return; /* wait for the rest */
    char *eol = strstr(t->proxy_buf, "\r\n");
    if (eol)
        *eol = '\0';
    int status = 0;
    if (strncmp(t->proxy_buf, "HTTP/1.", 7) != 0 ||
        sscanf(t->proxy_buf + 8, " %3d", &status) != 1 || status < 200 || status > 299) {
        failf(t, APNS_EPROXY, "proxy %s refused CONNECT %s:%u: \"%.200s\"", t->peer, t->host,
              t->port, t->proxy_buf);
        return;
    }
    tlog(t, APNS_LOG_DEBUG, "proxy %s: %s", t->peer, t->proxy_buf);
    want_read(t, 0);
    start_tls(t);
}

static void connected(apns__transport *t)
{
    if (t->proxy_host) {
        proxy_start(t);
        proxy_step(t);
    } else {
        start_tls(t);
    }
}

static void try_connect(apns__transport *t)
{
    const char *target = t->proxy_host ? t->proxy_host : t->host;
    uint16_t tport = t->proxy_host ? t->proxy_port : t->port;
    while (t->ai_next) {
        struct evutil_addrinfo *ai = t->ai_next;
        t->ai_next = ai->ai_next;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            t->last_connect_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char addr[INET6_ADDRSTRLEN] = "?";
        if (ai->ai_family == AF_INET)
            evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, addr,
                             sizeof addr);
        else if (ai->ai_family == AF_INET6)
            evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, addr,
                             sizeof addr);
        snprintf(t->peer, sizeof t->peer, ai->ai_family == AF_INET6 ? "[%s]:%u" : "%s:%u", addr,
                 tport);
        int r = connect(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen);
        if (r < 0 && errno != EINPROGRESS) {
            t->last_connect_errno = errno;
            tlog(t, APNS_LOG_DEBUG, "connect %s: %s", t->peer, strerror(errno));
            close(fd);
            continue;
        }
        t->fd = fd;
        t->ev_read = event_new(t->base, fd, EV_READ | EV_PERSIST, on_io, t);
        t->ev_write = event_new(t->base, fd, EV_WRITE | EV_PERSIST, on_io, t);
        if (!t->ev_read || !t->ev_write) {
            failf(t, APNS_ENOMEM, "event_new failed");
            return;
        }
        t->stage = T_CONNECTING;
        if (r == 0) {
            connected(t);
            return;
        }
        want_write(t, 1);
        return;
    }
    failf(t, APNS_ECONNECT, "cannot connect to %s%s:%u: %s", t->proxy_host ? "proxy " : "", target,
          tport, t->last_connect_errno ? strerror(t->last_connect_errno) : "no usable address");
}

static void connect_result(apns__transport *t)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        want_write(t, 0);
        connected(t);
        return;
    }
    t->last_connect_errno = err;
    tlog(t, APNS_LOG_DEBUG, "connect %s: %s", t->peer, strerror(err));
    drop_socket(t);
    try_connect(t);
}

static void dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct dns_ctx *q = arg;
    apns__transport *t = q->t;
    free(q);
    if (!t) { /* cancelled by free() */
        if (res)
            evutil_freeaddrinfo(res);
        return;
    }
    t->dnsq = NULL;
    t->dns_done = 1;
    t->dns_err = result;
    t->ai = res;
    t->ai_next = res;
    /* May run inside evdns_getaddrinfo() itself: continue from the loop. */
    event_active(t->ev_defer, 0, 0);
}

static void start_resolve(apns__transport *t)
{
    struct evutil_addrinfo hints;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    const char *name = t->proxy_host ? t->proxy_host : t->host;
    /* ADDRCONFIG drops ::1 on hosts without a global IPv6 address: only
     * for names, never for a literal. */
    hints.ai_flags = apns__tls_is_ip(name) ? EVUTIL_AI_NUMERICHOST : EVUTIL_AI_ADDRCONFIG;
    snprintf(port, sizeof port, "%u", t->proxy_host ? t->proxy_port : t->port);
    struct dns_ctx *q = calloc(1, sizeof *q);
    if (!q) {
        failf(t, APNS_ENOMEM, "out of memory");
        return;
    }
    q->t = t;
    t->dnsq = q;
    t->stage = T_RESOLVING;
    /* A fresh lookup for every connection (Apple asks for it; evdns keeps no
     * cache). */
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(t->dns, name, port, &hints, dns_cb, q);
    if (req && t->dnsq == q)
        q->req = req;
}

static void resolved(apns__transport *t)
{
    const char *name = t->proxy_host ? t->proxy_host : t->host;
    t->dns_done = 0;
    if (t->dns_err || !t->ai) {
        failf(t, APNS_ERESOLVE, "cannot resolve %s%s: %s", t->proxy_host ? "proxy " : "", name,
              t->dns_err ? evutil_gai_strerror(t->dns_err) : "no address");
        return;
    }
    try_connect(t);
}

/* --- event callbacks ----------------------------------------------------- */

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    apns__transport *t = arg;
    switch (t->stage) {
    case T_CONNECTING:
        if (what & EV_WRITE)
            connect_result(t);
        return;
    case T_PROXY:
        proxy_step(t);
        return;
    case T_TLS:
        tls_step(t);
        return;
    case T_OPEN:
        if (t->pending_close) {
            after_io(t);
            return;
        }
        if ((what & EV_READ) || ((what & EV_WRITE) && t->read_wants_write)) {
            do_read(t);
            return;
        }
        if (what & EV_WRITE) {
            after_io(t);
            return;
        }
        if (t->write_wants_read)
            after_io(t);
        return;
    default:
        return;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    apns__transport *t = arg;
    t->armed = INT64_MAX;
    if (t->stage < T_OPEN) {
        failf(t, APNS_ETIMEOUT, "connecting to %s:%u timed out after %lld ms (%s)", t->host,
              t->port, (long long)t->connect_timeout_ms, stage_name[t->stage]);
        return;
    }
    if (t->stage != T_OPEN)
        return;
    int rc = t->vt->tick(t->core, apns__transport_now_ms());
    if (rc) {
        failf(t, rc, "%s (%s): %s", t->host, t->peer,
              t->vt->tick_failed ? t->vt->tick_failed : apns_strerror(rc));
        return;
    }
    after_io(t);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    apns__transport *t = arg;
    if (t->pending_close) {
        t->pending_close = 0;
        fail(t, t->pending_err, t->pending_detail);
        return;
    }
    switch (t->stage) {
    case T_START:
        start_resolve(t);
        return;
    case T_RESOLVING:
        if (t->dns_done)
            resolved(t);
        return;
    case T_OPEN:
        if (t->want_flush || t->shutdown_pending) {
            t->want_flush = 0;
            after_io(t);
        }
        return;
    default:
        return;
    }
}

/* --- public -------------------------------------------------------------- */

int apns__transport_proxy_parse(const char *s, char **host, uint16_t *port)
{
    if (strncmp(s, "http://", 7) == 0)
        s += 7;
    size_t len = strlen(s);
    while (len && s[len - 1] == '/')
        len--;
    const char *colon = NULL;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb || rb + 1 >= s + len || rb[1] != ':')
            return APNS_EINVAL;
        colon = rb + 1;
    } else {
        colon = memrchr(s, ':', len);
    }
    if (!colon || colon == s)
        return APNS_EINVAL;
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (end != s + len || p == 0 || p > 65535)
        return APNS_EINVAL;
    char *h = apns__endpoint_host_dup(s, (size_t)(colon - s));
    if (!h)
        return APNS_ENOMEM;
    *host = h;
    *port = (uint16_t)p;
    return 0;
}

int apns__transport_new(apns__transport **out, const apns__transport_opts *o,
                        const apns__transport_callbacks *cb, void *ud)
{
    apns__transport *t = calloc(1, sizeof *t);
    if (!t)
        return APNS_ENOMEM;
    t->fd = -1;
    t->base = o->ep->base;
    t->dns = o->ep->dns;
    t->port = o->ep->port;
    t->proxy_port = o->proxy_port;
    t->ssl_ctx = o->ep->ssl_ctx;
    t->insecure = o->ep->insecure_skip_verify;
    t->connect_timeout_ms = o->ep->connect_timeout_ms > 0 ? o->ep->connect_timeout_ms : 10000;
    t->vt = o->cls;
    t->cfg = o->cfg;
    t->core = o->core;
    if (!t->vt || (!t->core && !t->vt->create)) {
        free(t);
        return APNS_EINVAL;
    }
    t->cb = *cb;
    t->ud = ud;
    t->armed = INT64_MAX;
    t->stage = T_START;
    t->host = strdup(o->ep->host ? o->ep->host : "");
    t->proxy_host = o->proxy_host ? strdup(o->proxy_host) : NULL;
    t->rbuf = malloc(READ_BUF_SIZE);
    t->ev_timer = evtimer_new(t->base, on_timer, t);
    t->ev_defer = event_new(t->base, -1, 0, on_defer, t);
    if (!t->host || (o->proxy_host && !t->proxy_host) || !t->rbuf || !t->ev_timer || !t->ev_defer) {
        apns__transport_free(t);
        return APNS_ENOMEM;
    }
    arm_at(t, apns__transport_now_ms() + t->connect_timeout_ms);
    event_active(t->ev_defer, 0, 0);
    *out = t;
    return 0;
}

void apns__transport_free(apns__transport *t)
{
    if (!t)
        return;
    if (t->dnsq) {
        struct dns_ctx *q = t->dnsq;
        struct evdns_getaddrinfo_request *req = q->req;
        q->t = NULL;
        t->dnsq = NULL;
        if (req)
            evdns_getaddrinfo_cancel(req);
        else
            free(q); /* never started */
    }
    if (t->stage == T_OPEN && t->core && t->fd >= 0) {
        /* Best effort: tell the server we are going (GOAWAY), one write. */
        if (t->vt->in_flight(t->core) == 0) {
            t->vt->shutdown(t->core);
            if (t->vt->flush(t->core, &t->out) == 0 && t->out.len) {
                if (t->ssl)
                    SSL_write(t->ssl, apns__buf_head(&t->out),
                              t->out.len > INT32_MAX ? INT32_MAX : (int)t->out.len);
                else
                    (void)!send(t->fd, apns__buf_head(&t->out), t->out.len, MSG_NOSIGNAL);
            }
        }
        if (t->ssl) {
            SSL_shutdown(t->ssl);
            (void)apns__tls_drain(t->ssl); /* best effort, as above */
        }
        ERR_clear_error();
    }
    drop_socket(t);
    if (t->ev_timer)
        event_free(t->ev_timer);
    if (t->ev_defer)
        event_free(t->ev_defer);
    if (t->core && t->vt->free)
        t->vt->free(t->core);
    if (t->ai)
        evutil_freeaddrinfo(t->ai);
    apns__buf_free(&t->out);
    free(t->rbuf);
    free(t->host);
    free(t->proxy_host);
    free(t);
}

int apns__transport_is_open(const apns__transport *t)
{
    return t->stage == T_OPEN && !t->pending_close && !t->shutdown_pending &&
           t->vt->is_open(t->core);
}

int apns__transport_is_up(const apns__transport *t)
{
    return t->stage == T_OPEN;
}

uint32_t apns__transport_capacity(const apns__transport *t)
{
    if (t->stage != T_OPEN || t->pending_close || t->shutdown_pending)
        return 0;
    if (t->vt->out_limit && t->out.len >= t->vt->out_limit)
        return 0;
    return t->vt->capacity(t->core);
}

size_t apns__transport_in_flight(const apns__transport *t)
{
    return t->core ? t->vt->in_flight(t->core) : 0;
}

int apns__transport_submit(apns__transport *t, apns__job *job, const apns_token *tok)
{
    if (t->stage != T_OPEN || t->pending_close || t->shutdown_pending)
        return APNS_ECLOSED;
    int rc = t->vt->submit(t->core, job, tok, apns__transport_now_ms());
    if (rc == 0) {
        if (t->vt->out_limit) {
            /* Into our buffer at once, so that capacity() sees how much is
             * waiting for the socket. */
            if (t->vt->flush(t->core, &t->out) != 0)
                park_close(t, APNS_ENOMEM, "out of memory buffering a notification");
            else if (t->out.len >= t->vt->out_limit)
                t->out_full = 1;
        }
        if (!t->in_io && !t->want_flush) {
            t->want_flush = 1;
            event_active(t->ev_defer, 0, 0);
        }
        return 0;
    }
    /* EAGAIN: no capacity; a job error: this job cannot be sent (the
     * caller's problem, not the connection's). Anything else ends the
     * connection. */
    if (rc != APNS_EAGAIN && !apns__transport_job_error(rc)) {
        char d[128];
        snprintf(d, sizeof d, "%s connection refused a notification: %s", t->vt->name,
                 apns_strerror(rc));
        park_close(t, rc, d);
    }
    return rc;
}

int apns__transport_job_error(int err)
{
    return err == APNS_EINVAL || err == APNS_EBADTOKEN || err == APNS_ETOOBIG ||
           err == APNS_EPAYLOADEMPTY || err == APNS_EPRIORITY;
}

void apns__transport_shutdown(apns__transport *t)
{
    if (t->stage == T_CLOSED)
        return;
    if (t->stage != T_OPEN) {
        park_close(t, 0, "shut down before the connection was up");
        return;
    }
    if (t->shutdown_pending)
        return;
    t->shutdown_pending = 1;
    if (!t->in_io)
        event_active(t->ev_defer, 0, 0);
}

void apns__transport_abort(apns__transport *t, int err, const char *detail)
{
    park_close(t, err, detail);
}

const char *apns__transport_peer(const apns__transport *t)
{
    return t->peer;
}
