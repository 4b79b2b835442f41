/*
 * bconn.c - apns-sim's legacy binary interface: the gateway and the
 * feedback service.
 *
 * Design note
 * ===========
 *
 * What Apple did, and what this file reproduces. The gateway reads a stream
 * of notifications and never acknowledges one. It processes them in order;
 * the first bad one (a token APNs considers invalid, or a malformed
 * notification) ends the connection: APNs keeps reading for a while (about
 * half a second, by providers' reports), silently drops everything that
 * came after the bad notification, then writes one 6-byte error packet
 * (command 8, status, the bad notification's identifier) and closes. The
 * simple format (command 0) has no identifier, so there is no packet: the
 * connection just closes. So a client learns about a failure late, after it
 * has written many more notifications, and learns nothing about those: the
 * whole point of the sent list on the client side.
 *
 *   OPEN: every read is decoded with libapns' apns_binary_decode (fuzzed;
 *   this file parses nothing itself). A valid notification whose token is
 *   in no token list is delivered: one delivery-log line, one counter.
 *   A token in --invalid-tokens, --unregistered, --other-topic or
 *   --other-env is status 8 (and the token joins the feedback list); a
 *   malformed notification gets the decoder's status (and identifier when
 *   it could be read). Then DISCARD: arm --binary-error-delay-ms, keep
 *   reading (and decrypting: the TLS session must stay usable for the
 *   packet) and drop every byte. When the timer fires, CLOSING: write the
 *   packet (enhanced/frame; an unknown command byte counts as a format that
 *   gets one), then LINGER: close_notify, FIN, drop reads until the peer
 *   closes. The packet is written after everything the client sent in the
 *   delay window was read, so "nothing after the bad one was delivered"
 *   holds however fast the client writes.
 *
 *   --binary-shutdown-every N: right after the N-th delivered notification
 *   of a connection, status 10 (Shutdown) naming that notification (Apple:
 *   the identifier of the last notification processed successfully), no
 *   delay, the rest of the read dropped, then close. On the simple format
 *   the connection just closes.
 *
 *   A client that closes during DISCARD gets its packet written anyway
 *   when the delay ends (best effort; a reset socket just fails). A client
 *   that closes while OPEN is done: a notification cut short by the close
 *   was never complete, so it is not delivered.
 *
 * Speed. The gateway must stay well ahead of a client pushing a million
 * notifications a second over TLS. A read event fills the loop's shared
 * 64 KB buffer with as many SSL_read calls as it takes (read-ahead keeps
 * them cheap), then decodes in place: apns_binary_decode returns pointers
 * into the buffer, the token check is one binset lookup (eight bytes per
 * hash step), and the delivery-log line goes into the loop's buffered log.
 * Nothing is allocated per notification. A notification split across two
 * reads leaves at most APNS_BINARY_ENCODED_MAX - 1 bytes, carried in the
 * connection (no allocation either) and copied to the front of the next
 * buffer. Writes happen only at the end (6 bytes, or the feedback tuples).
 *
 * The delivery-log id column: there is no apns-id on this interface, so
 * the sim writes "bin-<loop>.<connection>-<identifier as 8 hex digits>",
 * or "bin-<loop>.<connection>-#<n>" (the n-th notification delivered on the
 * connection) for the simple format and frames without an identifier item.
 * Identifiers are the client's and repeat across connections; tests
 * identify notifications by token. The topic column is the client
 * certificate's topic (certificate auth, --client-ca), else "-".
 *
 * Feedback. On a feedback connection, once TLS is up, the sim takes the
 * whole dead-token list (sim_feedback_take: "cleared once read"), writes
 * one tuple per token with apns_feedback_encode, and closes. A client that
 * drops the connection before reading them all has lost them, as with
 * Apple.
 */
#include "bconn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "apns/error.h"
#include "tls.h"

#define HANDSHAKE_TIMEOUT_S 10
#define LINGER_TIMEOUT_S    2
#define ROUNDS_PER_EVENT    16 /* buffers of SIM_READ_BUF per read event (fairness) */
#define WRITE_CHUNK         (1 << 20)

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void progress(sim_bconn *c);

/* ---- plumbing ---------------------------------------------------------- */

static void want_write(sim_bconn *c, int on)
{
    if (on && !c->wev_added) {
        event_add(c->wev, NULL);
        c->wev_added = 1;
    } else if (!on && c->wev_added) {
        event_del(c->wev);
        c->wev_added = 0;
    }
}

static void stop_reading(sim_bconn *c)
{
    if (c->reading) {
        event_del(c->rev);
        c->reading = 0;
    }
}

static void arm_timer_ms(sim_bconn *c, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

void sim_bconn_free(sim_bconn *c)
{
    sim_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->bconns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    if (c->timer)
        event_free(c->timer);
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    ERR_clear_error();
    free(c->out);
    free(c);
}

/* > 0 bytes read; 0 would block; -1 end of stream or error. */
static ssize_t b_recv(sim_bconn *c, uint8_t *buf, size_t len)
{
    if (!c->ssl) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n > 0)
            return n;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        return -1;
    }
    int n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
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
static ssize_t b_send(sim_bconn *c, const uint8_t *buf, size_t len)
{
    if (len > WRITE_CHUNK)
        len = WRITE_CHUNK;
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
    case SSL_ERROR_WANT_READ: /* retried after the next read event, too */
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

/* Writes c->out. 1 = all written, 0 = blocked (wev armed), -1 = error. */
static int flush_out(sim_bconn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = b_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0)
            return -1;
        if (n == 0) {
            want_write(c, 1);
            return 0;
        }
        c->out_off += (size_t)n;
    }
    want_write(c, c->read_wants_write);
    return 1;
}

/* May free c (when the peer has closed already). */
static void start_linger(sim_bconn *c)
{
    c->state = SIM_B_LINGER;
    want_write(c, 0);
    if (c->ssl) {
        SSL_shutdown(c->ssl); /* close_notify, best effort */
        ERR_clear_error();
    }
    shutdown(c->fd, SHUT_WR);
    if (!c->reading) {
        sim_bconn_free(c); /* the peer's end is closed: nothing to wait for */
        return;
    }
    event_del(c->timer);
    arm_timer_ms(c, LINGER_TIMEOUT_S * 1000L);
}

/* CLOSING with c->out holding what is left to say. */
static void start_closing(sim_bconn *c)
{
    c->state = SIM_B_CLOSING;
    event_del(c->timer);
    progress(c);
}

static void progress(sim_bconn *c)
{
    if (c->state != SIM_B_CLOSING)
        return;
    int rc = flush_out(c);
    if (rc < 0)
        sim_bconn_free(c);
    else if (rc > 0)
        start_linger(c);
}

/* ---- gateway ----------------------------------------------------------- */

static void deliver(sim_bconn *c, apns_binary_format f, const apns_binary_notification *n)
{
    sim_worker *w = c->w;
    c->count++;
    int has_id =
        f == APNS_BINARY_ENHANCED || (f == APNS_BINARY_FRAME && !(n->omit & APNS_BINARY_OMIT_ID));
    c->last_id = has_id ? n->id : 0;
    SIM_STAT_INC(&w->stats, bin_accepted);
    if (w->dlog.fd < 0)
        return;

    static const char hexd[] = "0123456789abcdef";
    char hex[2 * APNS_BINARY_TOKEN_MAX];
    for (size_t i = 0; i < n->token_len; i++) {
        hex[2 * i] = hexd[n->token[i] >> 4];
        hex[2 * i + 1] = hexd[n->token[i] & 15];
    }
    char id[sizeof c->id_prefix + 16];
    memcpy(id, c->id_prefix, c->id_prefix_len);
    char *p = id + c->id_prefix_len;
    if (has_id) {
        for (int s = 28; s >= 0; s -= 4)
            *p++ = hexd[(n->id >> s) & 15];
    } else {
        char tmp[12];
        int k = 0;
        for (uint32_t v = c->count; v; v /= 10)
            tmp[k++] = (char)('0' + v % 10);
        *p++ = '#';
        while (k > 0)
            *p++ = tmp[--k];
    }
    *p = '\0';
    sim_dlog_add(&w->dlog, id, hex, 2 * n->token_len, c->topic_len ? c->topic : NULL, c->topic_len,
                 n->payload_len);
}

/* The bad notification: record the packet to send and start discarding. */
static void reject(sim_bconn *c, apns_binary_format f, uint8_t status, uint32_t id,
                   const uint8_t *token, size_t token_len)
{
    sim_worker *w = c->w;
    SIM_STAT_INC(&w->stats, bin_rejected);
    if (status == APNS_BINARY_STATUS_INVALID_TOKEN) {
        SIM_STAT_INC(&w->stats, bin_invalid_tokens);
        if (w->sh->feedback)
            sim_feedback_add(w->sh->feedback, token, token_len, (uint32_t)time(NULL));
    }
    c->status = status;
    c->err_id = id;
    c->packet = f != APNS_BINARY_SIMPLE;
    c->state = SIM_B_DISCARD;
    event_del(c->timer);
    arm_timer_ms(c, w->sh->opt->binary_error_delay_ms);
}

/* Decodes and delivers what buf holds. Returns the bytes consumed: up to
 * the first incomplete notification while OPEN, up to the bad (or the
 * shutdown) notification when the state changed. */
static size_t process(sim_bconn *c, const uint8_t *buf, size_t len)
{
    const sim_shared *sh = c->w->sh;
    uint32_t shutdown_every = sh->opt->binary_shutdown_every;
    size_t off = 0;
    while (off < len) {
        /* Unknown command bytes leave f alone: they get a packet. */
        apns_binary_format f = APNS_BINARY_ENHANCED;
        apns_binary_notification n;
        uint8_t status;
        int rc = apns_binary_decode(buf + off, len - off, &f, &n, &status);
        if (rc == 0)
            break;
        if (rc < 0) {
            reject(c, f, status ? status : APNS_BINARY_STATUS_PROCESSING_ERROR, n.id, NULL, 0);
            return off;
        }
        if (sim_binset_has(sh->bin_invalid, n.token, n.token_len)) {
            reject(c, f, APNS_BINARY_STATUS_INVALID_TOKEN, n.id, n.token, n.token_len);
            return off;
        }
        deliver(c, f, &n);
        off += (size_t)rc;
        if (shutdown_every && c->count >= shutdown_every) {
            SIM_STAT_INC(&c->w->stats, bin_shutdowns);
            c->status = APNS_BINARY_STATUS_SHUTDOWN;
            c->err_id = c->last_id;
            c->packet = f != APNS_BINARY_SIMPLE;
            c->state = SIM_B_DISCARD; /* start_closing() follows in gateway_read() */
            event_del(c->timer);
            return off;
        }
    }
    return off;
}

/* The delay is over (or a shutdown): queue the packet, close. */
static void send_error(sim_bconn *c)
{
    sim_stats *st = &c->w->stats;
    if (c->packet) {
        c->out = malloc(APNS_BINARY_ERROR_LEN);
        if (!c->out) {
            sim_bconn_free(c);
            return;
        }
        c->out_len =
            (size_t)apns_binary_error_encode(c->status, c->err_id, c->out, APNS_BINARY_ERROR_LEN);
        c->out_off = 0;
        SIM_STAT_INC(st, bin_error_packets);
    } else {
        SIM_STAT_INC(st, bin_silent_closes);
    }
    start_closing(c);
}

static void gateway_read(sim_bconn *c)
{
    sim_stats *st = &c->w->stats;
    uint8_t *buf = c->w->rbuf;
    int eof = 0;
    for (int round = 0; round < ROUNDS_PER_EVENT && !eof; round++) {
        int open = c->state == SIM_B_OPEN;
        size_t len = 0;
        if (open && c->carry_len) {
            memcpy(buf, c->carry, c->carry_len);
            len = c->carry_len;
            c->carry_len = 0;
        }
        while (len < SIM_READ_BUF) {
            ssize_t n = b_recv(c, buf + len, SIM_READ_BUF - len);
            if (n < 0)
                eof = 1;
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        if (open) {
            size_t used = process(c, buf, len);
            if (c->state == SIM_B_OPEN && len - used > sizeof c->carry) {
                /* Cannot happen: the decoder never waits for more than
                 * APNS_BINARY_ENCODED_MAX bytes (binary.h). */
                reject(c, APNS_BINARY_ENHANCED, APNS_BINARY_STATUS_PROCESSING_ERROR, 0, NULL, 0);
            }
            if (c->state == SIM_B_OPEN) {
                c->carry_len = len - used;
                memcpy(c->carry, buf + used, c->carry_len);
            } else {
                SIM_STAT_ADD(st, bin_discarded, len - used);
                if (c->status == APNS_BINARY_STATUS_SHUTDOWN) {
                    send_error(c); /* may free c */
                    return;
                }
            }
        } else {
            SIM_STAT_ADD(st, bin_discarded, len);
        }
        if (len < SIM_READ_BUF)
            break; /* drained (or blocked) */
        if (round == ROUNDS_PER_EVENT - 1)
            event_active(c->rev, EV_READ, 0); /* more may be waiting: come back */
    }
    if (!eof && c->ssl && SSL_has_pending(c->ssl) && c->reading)
        event_active(c->rev, EV_READ, 0);
    if (eof) {
        if (c->state == SIM_B_OPEN) {
            sim_bconn_free(c); /* the client is done */
            return;
        }
        stop_reading(c); /* DISCARD / CLOSING: the packet still goes out */
    }
    progress(c);
}

/* ---- feedback ---------------------------------------------------------- */

static void feedback_serve(sim_bconn *c)
{
    sim_worker *w = c->w;
    sim_fb_entry *v = NULL;
    size_t n = w->sh->feedback ? sim_feedback_take(w->sh->feedback, &v) : 0;
    if (n > 0) {
        c->out = malloc(n * (6 + APNS_BINARY_TOKEN_MAX));
        if (!c->out) {
            free(v);
            sim_bconn_free(c);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            int rc = apns_feedback_encode(v[i].timestamp, v[i].token, v[i].len, c->out + c->out_len,
                                          6 + APNS_BINARY_TOKEN_MAX);
            if (rc > 0)
                c->out_len += (size_t)rc;
        }
        free(v);
    }
    SIM_STAT_INC(&w->stats, fb_connections);
    SIM_STAT_ADD(&w->stats, fb_tuples, n);
    start_closing(c);
}

/* Feedback clients send nothing; whatever comes is dropped. */
static void drain_read(sim_bconn *c)
{
    uint8_t *buf = c->w->rbuf;
    for (;;) {
        ssize_t n = b_recv(c, buf, SIM_READ_BUF);
        if (n == 0)
            break;
        if (n < 0) {
            stop_reading(c);
            break;
        }
    }
    progress(c);
}

/* ---- events ------------------------------------------------------------ */

static void opened(sim_bconn *c)
{
    if (c->kind == SIM_BK_FEEDBACK) {
        feedback_serve(c);
        return;
    }
    c->state = SIM_B_OPEN;
    gateway_read(c); /* bytes may have come with the handshake */
}

static void handshake(sim_bconn *c)
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
        sim_bconn_free(c);
        return;
    }
    want_write(c, 0);
    event_del(c->timer);
    if (c->w->sh->opt->client_ca && sim_tls_peer_topic(c->ssl, c->topic, sizeof c->topic) == 0)
        c->topic_len = strlen(c->topic);
    opened(c);
}

static void linger_read(sim_bconn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->w->rbuf, SIM_READ_BUF, 0);
        if (n > 0) {
            if (c->kind == SIM_BK_GATEWAY)
                SIM_STAT_ADD(&c->w->stats, bin_discarded, (uint64_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        sim_bconn_free(c);
        return;
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    sim_bconn *c = arg;
    switch (c->state) {
    case SIM_B_HANDSHAKE:
        handshake(c);
        break;
    case SIM_B_OPEN:
    case SIM_B_DISCARD:
    case SIM_B_CLOSING:
        if (c->kind == SIM_BK_GATEWAY)
            gateway_read(c);
        else
            drain_read(c);
        break;
    case SIM_B_LINGER:
        linger_read(c);
        break;
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    sim_bconn *c = arg;
    if (c->state == SIM_B_HANDSHAKE) {
        handshake(c);
        return;
    }
    if (c->read_wants_write) {
        c->read_wants_write = 0;
        on_readable(fd, EV_READ, c); /* ends with progress() */
        return;
    }
    if (c->state == SIM_B_CLOSING)
        progress(c);
    else
        want_write(c, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sim_bconn *c = arg;
    switch (c->state) {
    case SIM_B_DISCARD:
        send_error(c);
        break;
    case SIM_B_HANDSHAKE:
        SIM_STAT_INC(&c->w->stats, tls_failures);
        sim_bconn_free(c);
        break;
    default: /* linger timeout */
        sim_bconn_free(c);
        break;
    }
}

void sim_bconn_accept(sim_worker *w, int fd, sim_bkind kind)
{
    const sim_shared *sh = w->sh;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evutil_make_socket_nonblocking(fd);

    sim_bconn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    c->fd = fd;
    c->kind = kind;
    c->next = w->bconns;
    if (w->bconns)
        w->bconns->prev = c;
    w->bconns = c;
    int n = snprintf(c->id_prefix, sizeof c->id_prefix, "bin-%d.%llu-", w->index,
                     (unsigned long long)++w->bconn_seq);
    c->id_prefix_len = (uint8_t)(n > 0 && (size_t)n < sizeof c->id_prefix ? n : 0);
    if (kind == SIM_BK_GATEWAY)
        SIM_STAT_INC(&w->stats, bin_connections);

    c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->timer = evtimer_new(w->base, on_timer, c);
    if (!c->rev || !c->wev || !c->timer) {
        sim_bconn_free(c);
        return;
    }
    event_add(c->rev, NULL);
    c->reading = 1;
    if (sh->bin_ssl_ctx) {
        c->ssl = SSL_new(sh->bin_ssl_ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
            sim_bconn_free(c);
            return;
        }
        c->state = SIM_B_HANDSHAKE;
        arm_timer_ms(c, HANDSHAKE_TIMEOUT_S * 1000L);
        return; /* the ClientHello wakes on_readable */
    }
    opened(c);
}
