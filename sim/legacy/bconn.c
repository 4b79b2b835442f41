/*
 * bconn.c - apns-sim's legacy binary interface: the gateway and the
 * feedback service.
 *
 * Design note
 * ===========
 *
 * What Apple did, and what this file reproduces. The gateway reads a stream
 * of notifications and never acknowledges one. A push to a device whose app
 * was uninstalled is a good notification like any other: accepted in
 * silence, and APNs learns only later (from the device) that nobody got
 * it; the provider learns it from the feedback service, never on this
 * connection. The gateway processes the notifications in order; the first
 * bad one (a token APNs considers invalid, or a malformed notification)
 * ends the connection: APNs keeps reading for a while (about half a
 * second, by providers' reports), silently drops everything that
 * came after the bad notification, then writes one 6-byte error packet
 * (command 8, status, the bad notification's identifier) and closes. The
 * simple format (command 0) has no identifier, so there is no packet: the
 * connection just closes. So a client learns about a failure late, after it
 * has written many more notifications, and learns nothing about those: the
 * whole point of the sent list on the client side.
 *
 *   OPEN: every read is decoded with the simulator's own decoder
 *   (frames.c: Apple's formats, sizes and statuses as the simulator states
 *   them, fuzzed; this file parses nothing itself). A valid notification whose
 *   token is in no token list is delivered: one delivery-log line, one
 *   counter. One to an --unregistered token (SIM_BTOKEN_UNINSTALLED) is
 *   accepted the same way but delivered to nobody: no log line, the token
 *   joins the feedback list with the time of the push, the connection goes
 *   on. A token in --invalid-tokens, --other-topic or --other-env
 *   (SIM_BTOKEN_INVALID) is status 8 and is never listed by feedback; a
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
 *   --binary-shutdown-every N: right after the N-th good notification of
 *   a connection (delivered, or to an uninstalled app: both processed),
 *   status 10 (Shutdown) naming that notification (Apple:
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
 * them cheap), then decodes in place: sim_bin_decode returns pointers
 * into the buffer, the token check is one tokenset lookup (eight bytes per
 * hash step; its value tells an invalid token from an uninstalled app's),
 * and the delivery-log line goes into the loop's buffered log. Nothing is
 * allocated per notification. A notification split across two reads
 * leaves at most SIM_BIN_NOTE_MAX - 1 bytes, carried in the connection (no
 * allocation either) and copied to the front of the next buffer. Writes
 * happen only at the end (6 bytes, or the feedback tuples).
 *
 * The delivery-log id column: there is no apns-id on this interface, so
 * the sim writes "bin-<loop>.<connection>-<identifier as 8 hex digits>",
 * or "bin-<loop>.<connection>-#<n>" (the n-th good notification on the
 * connection, uninstalled apps' counted) for the simple format and frames without an identifier
 * item. Identifiers are the client's and repeat across connections; tests identify notifications by
 * token. The topic column is the client certificate's topic (certificate auth, --client-ca), else
 * "-".
 *
 * Feedback. On a feedback connection, once TLS is up, the sim takes the
 * whole list of uninstalled apps' tokens (sim_feedback_take: "cleared
 * once read"), writes one tuple per token (sim_feedback_tuple_encode),
 * and closes. A client that drops the connection before reading them all
 * has lost them, as with Apple.
 */
#include "bconn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hex.h" /* common/ */
#include "feedback.h"
#include "tlsctx.h"

#define ROUNDS_PER_EVENT 16 /* buffers of SIM_READ_BUF per read event (fairness) */

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void progress(sim_bconn *c);

/* ---- plumbing ---------------------------------------------------------- */

static void stop_reading(sim_bconn *c)
{
    if (c->reading) {
        event_del(c->s.rev);
        c->reading = 0;
    }
}

void sim_bconn_free(sim_bconn *c)
{
    common_list_remove(&c->link);
    sim_sock_cleanup(&c->s);
    free(c->out);
    free(c);
}

/* Writes c->out. 1 = all written, 0 = blocked (wev armed), -1 = error. */
static int flush_out(sim_bconn *c)
{
    int rc = sim_sock_write(&c->s, c->out, c->out_len, &c->out_off);
    if (rc > 0)
        sim_sock_want_write(&c->s, c->s.read_wants_write);
    return rc;
}

/* May free c (when the peer has closed already). */
static void start_linger(sim_bconn *c)
{
    c->state = SIM_B_LINGER;
    sim_sock_linger(&c->s);
    if (!c->reading)
        sim_bconn_free(c); /* the peer's end is closed: nothing to wait for */
}

/* CLOSING with c->out holding what is left to say. */
static void start_closing(sim_bconn *c)
{
    c->state = SIM_B_CLOSING;
    event_del(c->s.timer);
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

/* A good notification: processed (for --binary-shutdown-every and the
 * status-10 identifier), never acknowledged. */
static void processed(sim_bconn *c, const sim_bin_note *n)
{
    c->count++;
    c->last_id = n->has_id ? n->id : 0;
}

/* To an uninstalled app: accepted, delivered to nobody; APNs learns it
 * now, and the feedback service will say so (feedback.h). */
static void uninstalled(sim_bconn *c, const sim_bin_note *n)
{
    sim_worker *w = c->w;
    processed(c, n);
    SIM_STAT_INC(&w->stats, bin_uninstalled);
    if (w->sh->feedback)
        sim_feedback_add(w->sh->feedback, n->token, n->token_len, (uint32_t)time(NULL));
}

static void deliver(sim_bconn *c, const sim_bin_note *n)
{
    sim_worker *w = c->w;
    processed(c, n);
    int has_id = n->has_id;
    SIM_STAT_INC(&w->stats, bin_accepted);
    if (w->dlog.fd < 0)
        return;

    static const char hexd[] = "0123456789abcdef";
    char hex[2 * SIM_BIN_TOKEN_MAX];
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

/* The bad notification (command byte `command`): record the packet to send
 * and start discarding. */
static void reject(sim_bconn *c, uint8_t command, uint8_t status, uint32_t id)
{
    sim_worker *w = c->w;
    SIM_STAT_INC(&w->stats, bin_rejected);
    if (status == SIM_BIN_STATUS_INVALID_TOKEN)
        SIM_STAT_INC(&w->stats, bin_invalid_tokens);
    c->status = status;
    c->err_id = id;
    c->packet = (uint8_t)sim_bin_error_packet(command);
    c->state = SIM_B_DISCARD;
    event_del(c->s.timer);
    sim_sock_arm(&c->s, w->sh->opt->binary_error_delay_ms);
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
        sim_bin_note n;
        uint8_t status;
        int rc = sim_bin_decode(buf + off, len - off, &n, &status);
        if (rc == 0)
            break;
        if (rc < 0) {
            reject(c, n.command, status, n.id);
            return off;
        }
        int64_t kind;
        if (!sim_tokenset_find(sh->bin_tokens, n.token, n.token_len, &kind)) {
            deliver(c, &n);
        } else if (kind == SIM_BTOKEN_UNINSTALLED) {
            uninstalled(c, &n);
        } else {
            reject(c, n.command, SIM_BIN_STATUS_INVALID_TOKEN, n.id);
            return off;
        }
        off += (size_t)rc;
        if (shutdown_every && c->count >= shutdown_every) {
            SIM_STAT_INC(&c->w->stats, bin_shutdowns);
            c->status = SIM_BIN_STATUS_SHUTDOWN;
            c->err_id = c->last_id;
            c->packet = (uint8_t)sim_bin_error_packet(n.command);
            c->state = SIM_B_DISCARD; /* start_closing() follows in gateway_read() */
            event_del(c->s.timer);
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
        c->out = malloc(SIM_BIN_ERROR_LEN);
        if (!c->out) {
            sim_bconn_free(c);
            return;
        }
        sim_bin_error_encode(c->status, c->err_id, c->out);
        c->out_len = SIM_BIN_ERROR_LEN;
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
            ssize_t n = sim_sock_recv(&c->s, buf + len, SIM_READ_BUF - len);
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
                 * SIM_BIN_NOTE_MAX bytes (frames.h). */
                reject(c, SIM_BIN_ENHANCED, SIM_BIN_STATUS_PROCESSING_ERROR, 0);
            }
            if (c->state == SIM_B_OPEN) {
                c->carry_len = len - used;
                memcpy(c->carry, buf + used, c->carry_len);
            } else {
                SIM_STAT_ADD(st, bin_discarded, len - used);
                if (c->status == SIM_BIN_STATUS_SHUTDOWN) {
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
            event_active(c->s.rev, EV_READ, 0); /* more may be waiting: come back */
    }
    if (!eof && c->s.ssl && SSL_has_pending(c->s.ssl) && c->reading)
        event_active(c->s.rev, EV_READ, 0);
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
        c->out = malloc(n * (6 + SIM_BIN_TOKEN_MAX));
        if (!c->out) {
            free(v);
            sim_bconn_free(c);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            c->out_len += sim_feedback_tuple_encode(v[i].timestamp, v[i].token, v[i].len,
                                                    c->out + c->out_len, 6 + SIM_BIN_TOKEN_MAX);
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
        ssize_t n = sim_sock_recv(&c->s, buf, SIM_READ_BUF);
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
    int r = sim_sock_handshake(&c->s);
    if (r == 0)
        return;
    if (r < 0) {
        SIM_STAT_INC(&c->w->stats, tls_failures);
        sim_bconn_free(c);
        return;
    }
    if (c->w->sh->opt->client_ca && sim_tls_peer_topic(c->s.ssl, c->topic, sizeof c->topic) == 0)
        c->topic_len = strlen(c->topic);
    opened(c);
}

static void linger_read(sim_bconn *c)
{
    uint64_t dropped = 0;
    int rc = sim_sock_drop_input(&c->s, c->w->rbuf, SIM_READ_BUF, &dropped);
    if (c->kind == SIM_BK_GATEWAY && dropped)
        SIM_STAT_ADD(&c->w->stats, bin_discarded, dropped);
    if (rc < 0)
        sim_bconn_free(c);
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
    if (c->s.read_wants_write) {
        c->s.read_wants_write = 0;
        on_readable(fd, EV_READ, c); /* ends with progress() */
        return;
    }
    if (c->state == SIM_B_CLOSING)
        progress(c);
    else
        sim_sock_want_write(&c->s, 0);
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
    sim_bconn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    c->kind = kind;
    int rc =
        sim_sock_init(&c->s, w->base, fd, sh->bin_ssl_ctx, on_readable, on_writable, on_timer, c);
    common_list_push_front(&w->bconns, &c->link);
    int n = snprintf(c->id_prefix, sizeof c->id_prefix, "bin-%d.%llu-", w->index,
                     (unsigned long long)++w->bconn_seq);
    c->id_prefix_len = (uint8_t)(n > 0 && (size_t)n < sizeof c->id_prefix ? n : 0);
    if (kind == SIM_BK_GATEWAY)
        SIM_STAT_INC(&w->stats, bin_connections);

    if (rc != 0) {
        sim_bconn_free(c);
        return;
    }
    c->reading = 1;
    if (c->s.ssl) {
        c->state = SIM_B_HANDSHAKE;
        return; /* the ClientHello wakes on_readable */
    }
    opened(c);
}

/* ---- the gateway's token lists -------------------------------------------- */

typedef struct add_ctx {
    sim_tokenset *set;
    sim_btoken kind;
} add_ctx;

static int add_bin(const char *hex, size_t len, int64_t ts_ms, void *ud)
{
    const add_ctx *a = ud;
    uint8_t bin[SIM_BIN_TOKEN_MAX];
    int n = common_hex_to_bin(hex, len, bin, sizeof bin);
    if (n <= 0)
        return 0; /* not hex, or longer than any binary token: can never match */
    return sim_tokenset_add(a->set, bin, (size_t)n, a->kind) < 0; /* the last kind wins */
}

int sim_bconn_build_tokens(sim_shared *sh)
{
    if (!(sh->bin_tokens = sim_tokenset_new(SIM_TOKENS_BINARY)))
        return -1;
    /* Uninstalled first, so a token also on an invalid list is invalid. */
    const struct {
        const sim_tokenset *list;
        sim_btoken kind;
    } lists[] = {
        {sh->unregistered, SIM_BTOKEN_UNINSTALLED},
        {sh->invalid_tokens, SIM_BTOKEN_INVALID},
        {sh->other_topic, SIM_BTOKEN_INVALID},
        {sh->other_env, SIM_BTOKEN_INVALID},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        add_ctx a = {sh->bin_tokens, lists[i].kind};
        if (sim_tokenset_foreach(lists[i].list, add_bin, &a) != 0)
            return -1;
    }
    return 0;
}
