/*
 * conn.c - the I/O of one HTTP/2 connection (over sock.c), and its end.
 *
 * Reads go straight from the socket (or SSL_read) into the loop's shared
 * buffer and into nghttp2_session_mem_recv; nothing is kept per connection
 * on the way in. Writes are batched: everything nghttp2 has to say is
 * serialised into c->out (sim/base/outbuf.h, up to ~64 KB) and written with
 * one send() or SSL_write() sequence, so a read of 100 requests becomes one
 * write of 100 answers. While a write is blocked no more is serialised, so a
 * retried SSL_write always sees the same bytes (OpenSSL's retry rule);
 * nghttp2 keeps the rest queued and stops reading when its own limits are hit.
 */
#include "conn.h"
#include "tlsctx.h"

#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_BATCH       (64 * 1024)
#define READS_PER_EVENT 64
#define ABORT_POLL_MS   1
#define ABORT_POLL_MAX  500 /* give the peer 0.5 s to take our last answers */

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_aux(evutil_socket_t fd, short what, void *arg);

void sim_conn_free(sim_conn *c)
{
    common_list_remove(&c->link);
    sim_session_free(c);
    sim_sock_cleanup(&c->s);
    sim_outbuf_cleanup(&c->out);
    free(c);
}

/* The bytes nghttp2 has to send; none while the first bytes of a client
 * without ALPN are awaited (refuse_http1 may still answer in HTTP/1.1). */
static ssize_t pull_h2(void *arg, const uint8_t **data)
{
    sim_conn *c = arg;
    if (!c->h2 || c->await_preface)
        return 0;
    return nghttp2_session_mem_send(c->h2, data);
}

/* Serialises and writes until nghttp2 has nothing more or the socket
 * blocks. Returns 0, or -1 on a fatal error. */
static int flush(sim_conn *c)
{
    return sim_outbuf_flush(&c->out, &c->s, OUT_BATCH, pull_h2, c);
}

static void start_linger(sim_conn *c)
{
    c->state = SIM_C_LINGER;
    sim_sock_linger(&c->s);
}

/* Aborts once the kernel has handed our last bytes to the peer, so the
 * answers the simulator counted as given are really received. */
static void abort_poll(sim_conn *c)
{
    int queued = 0;
    if (c->aux_tries++ < ABORT_POLL_MAX && ioctl(c->s.fd, SIOCOUTQ, &queued) == 0 && queued > 0) {
        sim_sock_arm(&c->s, ABORT_POLL_MS);
        return;
    }
    struct linger lg = {1, 0};
    setsockopt(c->s.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    SIM_STAT_INC(&c->w->stats, resets);
    sim_conn_free(c);
}

static void start_abort(sim_conn *c)
{
    c->state = SIM_C_ABORT;
    sim_sock_want_write(&c->s, 0);
    event_del(c->s.rev);
    event_del(c->s.timer);
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
    int idle_out = sim_outbuf_empty(&c->out) && (!c->h2 || !nghttp2_session_want_write(c->h2));
    if (!idle_out)
        return;
    if (c->resetting && c->pending == 0) {
        start_abort(c);
    } else if ((c->draining && c->pending == 0) || !c->h2 || !nghttp2_session_want_read(c->h2)) {
        start_linger(c);
    }
}

/* The first bytes were not the HTTP/2 connection preface: most likely an
 * HTTP/1.x request (no ALPN, or --h2c). Project choice (docs/apns-sim.md):
 * answer it in its own protocol, 505 with a sentence, and close, instead of
 * dropping the connection without a word. Returns 0, or -1 to free now. */
static int refuse_http1(sim_conn *c)
{
    static const char answer[] = "HTTP/1.1 505 HTTP Version Not Supported\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Length: 63\r\n"
                                 "Connection: close\r\n"
                                 "\r\n"
                                 "apns-sim speaks HTTP/2 only (as APNs): use HTTP/2 (ALPN h2).\r\n";
    sim_session_free(c); /* nothing of ours may follow the answer */
    sim_outbuf_clear(&c->out);
    SIM_STAT_INC(&c->w->stats, http1_refused);
    return sim_outbuf_append(&c->out, answer, sizeof answer - 1);
}

static void read_and_process(sim_conn *c)
{
    uint8_t *buf = c->w->rbuf;
    for (int i = 0; i < READS_PER_EVENT; i++) {
        ssize_t n = sim_sock_recv(&c->s, buf, SIM_READ_BUF);
        if (n < 0) {
            sim_conn_free(c);
            return;
        }
        if (n == 0)
            break;
        ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
        if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC && sim_outbuf_empty(&c->out) && refuse_http1(c) == 0)
            break;
        c->await_preface = 0;
        if (rv < 0 || c->dead) {
            sim_conn_free(c);
            return;
        }
        if (i == READS_PER_EVENT - 1 && c->s.ssl && SSL_has_pending(c->s.ssl))
            event_active(c->s.rev, EV_READ, 0); /* bytes decrypted ahead: come back */
    }
    sim_conn_progress(c);
}

/* Certificate auth: the certificate's topic, services and environment.
 * Project choices (docs/apns-sim.md): no topic at all is BadCertificate; a
 * CN naming the other environment is BadCertificateEnvironment. */
static void judge_certificate(sim_conn *c)
{
    unsigned svc;
    sim_cert_env env;
    sim_tls_peer_services(c->s.ssl, &svc, &env);
    c->policy.cert_services = svc;
    if (sim_tls_peer_topic(c->s.ssl, c->cert_topic, sizeof c->cert_topic) == 0)
        c->policy.cert_topic = c->cert_topic;
    else
        c->policy.cert_reason = SIM_REASON_BAD_CERTIFICATE;
    int sandbox = c->opt->sandbox;
    if (c->policy.cert_reason == SIM_REASON_NONE && env != SIM_CERT_ENV_BOTH &&
        (env == SIM_CERT_ENV_SANDBOX) != (sandbox != 0))
        c->policy.cert_reason = SIM_REASON_BAD_CERTIFICATE_ENVIRONMENT;
}

/* Enters OPEN: the --idle-timeout clock starts. */
static void opened(sim_conn *c)
{
    c->state = SIM_C_OPEN;
    if (c->opt->idle_timeout_ms > 0)
        sim_sock_arm(&c->s, (long)c->opt->idle_timeout_ms);
}

static void handshake(sim_conn *c)
{
    int r = sim_sock_handshake(&c->s);
    if (r == 0)
        return;
    if (r < 0) {
        SIM_STAT_INC(&c->w->stats, tls_failures);
        sim_conn_free(c);
        return;
    }
    /* No ALPN: HTTP/2 with prior knowledge, but our SETTINGS wait for the
     * client's first bytes, so an HTTP/1.x client gets a clean 505. */
    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(c->s.ssl, &alpn, &alpn_len);
    c->await_preface = alpn_len == 0;
    if (c->opt->client_ca)
        judge_certificate(c);
    if (sim_session_start(c) != 0) {
        sim_conn_free(c);
        return;
    }
    opened(c);
    read_and_process(c);
}

static void linger_read(sim_conn *c)
{
    if (sim_sock_drop_input(&c->s, c->w->rbuf, SIM_READ_BUF, NULL) < 0)
        sim_conn_free(c);
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
        sim_sock_want_write(&c->s, 0);
        return;
    }
    if (c->s.read_wants_write) {
        c->s.read_wants_write = 0;
        read_and_process(c); /* ends with progress(), which flushes */
        return;
    }
    sim_conn_progress(c);
}

static void on_aux(evutil_socket_t fd, short what, void *arg)
{
    sim_conn *c = arg;
    if (c->state == SIM_C_OPEN) { /* --idle-timeout */
        int64_t next = sim_session_idle_check(c);
        if (next > 0)
            sim_sock_arm(&c->s, (long)next);
        sim_conn_progress(c);
        return;
    }
    if (c->state == SIM_C_ABORT) {
        abort_poll(c);
        return;
    }
    if (c->state == SIM_C_HANDSHAKE)
        SIM_STAT_INC(&c->w->stats, tls_failures);
    sim_conn_free(c); /* handshake or linger timeout */
}

void sim_conn_accept(sim_worker *w, int fd, int manage)
{
    const sim_shared *sh = w->sh;
    sim_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    c->manage = manage != 0;
    c->opt = manage ? sh->manage_opt : sh->opt;
    c->policy = sh->policy;
    sim_outbuf_init(&c->out, OUT_BATCH + 32 * 1024);
    int rc = sim_sock_init(&c->s, w->base, fd, sh->ssl_ctx, on_readable, on_writable, on_aux, c);
    common_list_push_front(&w->conns, &c->link);
    SIM_STAT_INC(&w->stats, connections);

    uint64_t seed = sh->seed ^ ((uint64_t)w->index << 48) ^ w->conn_seq++;
    c->rng = seed;

    if (rc != 0) {
        sim_conn_free(c);
        return;
    }
    if (c->s.ssl) {
        c->state = SIM_C_HANDSHAKE;
        return; /* the ClientHello wakes on_readable */
    }
    if (sim_session_start(c) != 0) {
        sim_conn_free(c);
        return;
    }
    opened(c);
    sim_conn_progress(c); /* our SETTINGS first */
}
