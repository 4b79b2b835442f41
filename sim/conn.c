/*
 * conn.c - socket and TLS I/O of one connection, and its end.
 *
 * Reads go straight from the socket (or SSL_read) into the loop's shared
 * buffer and into nghttp2_session_mem_recv; nothing is kept per connection
 * on the way in. Writes are batched: everything nghttp2 has to say is
 * serialised into c->out (up to ~64 KB) and written with one send() or
 * SSL_write() sequence, so a read of 100 requests becomes one write of 100
 * answers. While a write is blocked no more is serialised, so a retried
 * SSL_write always sees the same bytes (OpenSSL's retry rule); nghttp2
 * keeps the rest queued and stops reading when its own limits are hit.
 */
#include "conn.h"
#include "tls.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#define OUT_BATCH           (64 * 1024)
#define READS_PER_EVENT     64
#define HANDSHAKE_TIMEOUT_S 10
#define LINGER_TIMEOUT_S    2
#define ABORT_POLL_US       1000
#define ABORT_POLL_MAX      500 /* give the peer 0.5 s to take our last answers */

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_aux(evutil_socket_t fd, short what, void *arg);

static void want_write(sim_conn *c, int on)
{
    if (on && !c->wev_added) {
        event_add(c->wev, NULL);
        c->wev_added = 1;
    } else if (!on && c->wev_added) {
        event_del(c->wev);
        c->wev_added = 0;
    }
}

static void arm_aux(sim_conn *c, long sec, long usec)
{
    struct timeval tv = {sec, usec};
    evtimer_add(c->aux, &tv);
}

void sim_conn_free(sim_conn *c)
{
    sim_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    sim_session_free(c);
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->aux);
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    ERR_clear_error();
    free(c->out);
    free(c);
}

/* > 0 bytes read; 0 would block; -1 end of stream or error. */
static ssize_t conn_recv(sim_conn *c, uint8_t *buf, size_t len)
{
    if (!c->ssl) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n > 0)
            return n;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        return -1;
    }
    int n = SSL_read(c->ssl, buf, (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_WANT_WRITE:
        c->read_wants_write = 1;
        want_write(c, 1);
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

/* > 0 bytes written; 0 would block; -1 error. */
static ssize_t conn_send(sim_conn *c, const uint8_t *buf, size_t len)
{
    if (!c->ssl) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    }
    int n = SSL_write(c->ssl, buf, (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_READ:
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

static int out_append(sim_conn *c, const uint8_t *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : OUT_BATCH + 32 * 1024;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *o = realloc(c->out, cap);
        if (!o)
            return -1;
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* Serialises and writes until nghttp2 has nothing more or the socket
 * blocks. Returns 0, or -1 on a fatal error. */
static int flush(sim_conn *c)
{
    if (!c->h2)
        return 0;
    for (;;) {
        if (c->out_off == c->out_len) {
            c->out_off = c->out_len = 0;
            while (c->out_len < OUT_BATCH) {
                const uint8_t *data;
                ssize_t n = nghttp2_session_mem_send(c->h2, &data);
                if (n < 0)
                    return -1;
                if (n == 0)
                    break;
                if (out_append(c, data, (size_t)n) != 0)
                    return -1;
            }
            if (c->out_len == 0) {
                want_write(c, c->read_wants_write);
                return 0;
            }
        }
        ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0)
            return -1;
        if (n == 0) {
            want_write(c, 1);
            return 0;
        }
        c->out_off += (size_t)n;
    }
}

static void start_linger(sim_conn *c)
{
    c->state = SIM_C_LINGER;
    want_write(c, 0);
    if (c->ssl) {
        SSL_shutdown(c->ssl); /* close_notify, best effort */
        ERR_clear_error();
    }
    shutdown(c->fd, SHUT_WR);
    event_del(c->aux);
    arm_aux(c, LINGER_TIMEOUT_S, 0);
}

/* Aborts once the kernel has handed our last bytes to the peer, so the
 * answers the simulator counted as given are really received. */
static void abort_poll(sim_conn *c)
{
    int queued = 0;
    if (c->aux_tries++ < ABORT_POLL_MAX && ioctl(c->fd, SIOCOUTQ, &queued) == 0 && queued > 0) {
        arm_aux(c, 0, ABORT_POLL_US);
        return;
    }
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    SIM_STAT_INC(&c->w->stats, resets);
    sim_conn_free(c);
}

static void start_abort(sim_conn *c)
{
    c->state = SIM_C_ABORT;
    want_write(c, 0);
    event_del(c->rev);
    event_del(c->aux);
    c->aux_tries = 0;
    abort_poll(c);
}

void sim_conn_progress(sim_conn *c)
{
    if (c->state != SIM_C_OPEN)
        return;
    if (c->dead || flush(c) != 0) {
        sim_conn_free(c);
        return;
    }
    int idle_out = c->out_off == c->out_len && !nghttp2_session_want_write(c->h2);
    if (!idle_out)
        return;
    if (c->resetting && c->pending == 0) {
        start_abort(c);
    } else if ((c->draining && c->pending == 0) || !nghttp2_session_want_read(c->h2)) {
        start_linger(c);
    }
}

static void read_and_process(sim_conn *c)
{
    uint8_t *buf = c->w->rbuf;
    for (int i = 0; i < READS_PER_EVENT; i++) {
        ssize_t n = conn_recv(c, buf, SIM_READ_BUF);
        if (n < 0) {
            sim_conn_free(c);
            return;
        }
        if (n == 0)
            break;
        ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
        if (rv < 0 || c->dead) {
            sim_conn_free(c);
            return;
        }
        if (i == READS_PER_EVENT - 1 && c->ssl && SSL_has_pending(c->ssl))
            event_active(c->rev, EV_READ, 0); /* bytes decrypted ahead: come back */
    }
    sim_conn_progress(c);
}

static void handshake(sim_conn *c)
{
    int r = SSL_accept(c->ssl);
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            want_write(c, 0);
            return;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            want_write(c, 1);
            return;
        }
        SIM_STAT_INC(&c->w->stats, tls_failures);
        sim_conn_free(c);
        return;
    }
    want_write(c, 0);
    event_del(c->aux);
    if (!sim_tls_is_h2(c->ssl)) {
        SIM_STAT_INC(&c->w->stats, tls_failures);
        sim_conn_free(c);
        return;
    }
    if (c->w->sh->opt->client_ca) {
        if (sim_tls_peer_topic(c->ssl, c->cert_topic, sizeof c->cert_topic) == 0)
            c->policy.cert_topic = c->cert_topic;
    }
    if (sim_session_start(c) != 0) {
        sim_conn_free(c);
        return;
    }
    c->state = SIM_C_OPEN;
    read_and_process(c);
}

static void linger_read(sim_conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->w->rbuf, SIM_READ_BUF, 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        sim_conn_free(c);
        return;
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    sim_conn *c = arg;
    switch (c->state) {
    case SIM_C_HANDSHAKE:
        handshake(c);
        break;
    case SIM_C_OPEN:
        read_and_process(c);
        break;
    case SIM_C_LINGER:
        linger_read(c);
        break;
    case SIM_C_ABORT:
        break;
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    sim_conn *c = arg;
    if (c->state == SIM_C_HANDSHAKE) {
        handshake(c);
        return;
    }
    if (c->state != SIM_C_OPEN) {
        want_write(c, 0);
        return;
    }
    if (c->read_wants_write) {
        c->read_wants_write = 0;
        read_and_process(c); /* ends with progress(), which flushes */
        return;
    }
    sim_conn_progress(c);
}

static void on_aux(evutil_socket_t fd, short what, void *arg)
{
    sim_conn *c = arg;
    if (c->state == SIM_C_ABORT) {
        abort_poll(c);
        return;
    }
    if (c->state == SIM_C_HANDSHAKE)
        SIM_STAT_INC(&c->w->stats, tls_failures);
    sim_conn_free(c); /* handshake or linger timeout */
}

void sim_conn_accept(sim_worker *w, int fd)
{
    const sim_shared *sh = w->sh;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evutil_make_socket_nonblocking(fd);

    sim_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    c->fd = fd;
    c->policy = sh->policy;
    c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->aux = evtimer_new(w->base, on_aux, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    SIM_STAT_INC(&w->stats, connections);

    uint64_t seed = sh->seed ^ ((uint64_t)w->index << 48) ^ w->conn_seq++;
    sim_rng_seed(&c->rng, seed);

    if (!c->rev || !c->wev || !c->aux) {
        sim_conn_free(c);
        return;
    }
    event_add(c->rev, NULL);
    if (sh->ssl_ctx) {
        c->ssl = SSL_new(sh->ssl_ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
            sim_conn_free(c);
            return;
        }
        c->state = SIM_C_HANDSHAKE;
        arm_aux(c, HANDSHAKE_TIMEOUT_S, 0);
        return; /* the ClientHello wakes on_readable */
    }
    if (sim_session_start(c) != 0) {
        sim_conn_free(c);
        return;
    }
    c->state = SIM_C_OPEN;
    sim_conn_progress(c); /* our SETTINGS first */
}
