/*
 * binary_client_test.c - apns_client over the legacy binary interface
 * against a small TLS gateway in this process (binary_test_server.c) that
 * fails the way APNs did: on a chosen notification it keeps reading,
 * silently discards everything after it for a delay, then sends an error
 * packet and closes.
 *
 *   binary_client_test reject8 [frame|enhanced] [abrupt|graceful]
 *       3000 notifications, 2000 slots; the server answers status 8
 *       (invalid token) for notification 1399, 200 ms after reading it.
 *       Checks: 1399 is REJECTED (BadDeviceToken, dead token,
 *       binary_status 8); every other one ACCEPTED once and accepted once
 *       by the server across connections; the 600 discarded ones
 *       (1400..1999) were resent in their original order on a new
 *       connection, ahead of the 1000 submitted after the error.
 *   binary_client_test shutdown10
 *       status 10 (shutdown) naming 1399, the last one processed: nobody
 *       rejected, 1400.. resent in order, each accepted once.
 *   binary_client_test busy
 *       200000 notifications, status 8 for one of them while the client is
 *       still writing at full speed and the server closes abruptly (the
 *       client's writes can fail before it reads the packet): the same
 *       exactly-once checks.
 *   binary_client_test many
 *       6000 notifications, 40 bad tokens: every connection ends at its
 *       first bad one and the rest is rewound again and again (more often
 *       than the 10-hand-back limit); every valid one ACCEPTED and accepted
 *       by the server exactly once, every bad one REJECTED.
 *   binary_client_test refused
 *       the gateway refuses the client certificate: every notification
 *       FAILS with APNS_ETLS after three refused connections.
 *   binary_client_test validate
 *       what submit refuses locally for the binary formats, and options
 *       client_new refuses.
 *   binary_client_test throughput N
 *       N notifications, no errors, server only counts: prints
 *       notifications/s (TLS on loopback, this process's server thread
 *       decoding every frame). Not a pass/fail figure.
 *
 * Exit status 0 when every check passed.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "apns/binary.h"
#include "apns/client.h"
#include "binary_test_server.h"
#include "harness.h"

#define MAX_CONNS 64

/* ---- the gateway ----------------------------------------------------------- */

typedef struct gateway {
    /* configuration */
    uint32_t n;
    int trigger_status;     /* 8, 10, or 0 (never fail) */
    uint32_t trigger_index; /* 10: the last one processed (once) */
    uint8_t *bad;           /* 8: per token index, the tokens that fail */
    int delay_ms;
    int graceful; /* after the error packet: close_notify, drain until the client closes */
    int stall;    /* during the delay, stop reading (the client's writes back up) */
    int count_only;

    /* records (server thread; read by main after bts_stop) */
    int triggered;      /* error packets sent */
    uint32_t *accepted; /* per token index: times accepted by the server */
    uint32_t *seq[MAX_CONNS];
    size_t seq_len[MAX_CONNS];
    uint32_t last_id[MAX_CONNS];
    int ids_ok;
    uint64_t frames, discarded_bytes;
    atomic_ullong counted; /* count_only: frames */
    int bad_frames;
    apns_binary_format fmt_seen;
} gateway;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void gw_handler(SSL *ssl, int fd, int conn, void *ud)
{
    gateway *g = ud;
    static uint8_t buf[256 * 1024];
    size_t len = 0;
    int discarding = 0;
    int64_t deadline = 0;
    uint32_t error_id = 0;
    if (conn < MAX_CONNS)
        g->seq[conn] = calloc(g->n + 1, sizeof(uint32_t));
    for (;;) {
        int timeout = 5000;
        if (discarding) {
            int64_t left = deadline - th_now_ms();
            if (left <= 0) {
                uint8_t pkt[APNS_BINARY_ERROR_LEN];
                apns_binary_error_encode((uint8_t)g->trigger_status, error_id, pkt, sizeof pkt);
                if (bts_write_all(ssl, pkt, sizeof pkt) != 0)
                    return;
                if (!g->graceful)
                    return; /* abrupt: unread bytes make the kernel send a reset */
                SSL_shutdown(ssl);
                while (bts_read(ssl, fd, buf, sizeof buf, 2000) > 0)
                    ;
                return;
            }
            timeout = (int)left;
            if (g->stall) {
                usleep((useconds_t)left * 1000);
                continue;
            }
        }
        int r = bts_read(ssl, fd, buf + len, (int)(sizeof buf - len), timeout);
        if (r < 0)
            return; /* the client closed */
        if (r == 0) {
            if (!discarding)
                return; /* idle: the client is gone */
            continue;
        }
        if (discarding) {
            g->discarded_bytes += (uint64_t)r;
            continue;
        }
        len += (size_t)r;
        size_t off = 0;
        while (off < len) {
            apns_binary_format fmt;
            apns_binary_notification bn;
            uint8_t status;
            int c = apns_binary_decode(buf + off, len - off, &fmt, &bn, &status);
            if (c == 0)
                break;
            if (c < 0) {
                fprintf(stderr, "server: malformed frame (status %u)\n", status);
                g->bad_frames++;
                return;
            }
            off += (size_t)c;
            g->frames++;
            g->fmt_seen = fmt;
            if (g->count_only) {
                atomic_fetch_add(&g->counted, 1);
                continue;
            }
            uint32_t idx = bn.token_len >= 4 ? be32(bn.token) : UINT32_MAX;
            if (idx >= g->n) {
                fprintf(stderr, "server: unknown token\n");
                g->bad_frames++;
                return;
            }
            if (conn < MAX_CONNS) {
                /* identifiers: consecutive from 1 on every connection */
                if (fmt != APNS_BINARY_SIMPLE && bn.id != g->last_id[conn] + 1)
                    g->ids_ok = 0;
                g->last_id[conn] = bn.id;
            }
            if (g->trigger_status == 8 && g->bad[idx]) {
                g->triggered++;
                error_id = bn.id;
                discarding = 1;
                deadline = th_now_ms() + g->delay_ms;
                g->discarded_bytes += len - off;
                break;
            }
            g->accepted[idx]++;
            if (conn < MAX_CONNS)
                g->seq[conn][g->seq_len[conn]++] = idx;
            if (!g->triggered && g->trigger_status == 10 && idx == g->trigger_index) {
                g->triggered++;
                error_id = bn.id;
                discarding = 1;
                deadline = th_now_ms() + g->delay_ms;
                g->discarded_bytes += len - off;
                break;
            }
        }
        if (discarding) {
            len = 0;
            continue;
        }
        memmove(buf, buf + off, len - off);
        len -= off;
    }
}

/* ---- the client side ------------------------------------------------------- */

typedef struct run {
    struct event_base *base;
    apns_client *client;
    uint32_t n, next, answered;
    uint32_t batch; /* throughput: submit in chunks */
    struct note {   /* notification i: its token and what its one result said */
        uint8_t calls;
        apns_outcome outcome;
        int binary_status, error;
        apns_reason reason;
        apns_action action;
        char token[65];
    } * at;
    const char *payload;
    size_t payload_len;
    int failures;
    int verbose;
    int64_t t0;
} run;

static void make_token(uint32_t i, char out[65])
{
    snprintf(out, 65, "%08x%s", i, "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5");
}

static void pump(run *r)
{
    while (r->next < r->n) {
        apns_notification n;
        apns_notification_init(&n);
        n.token = r->at[r->next].token;
        n.payload = r->payload;
        n.payload_len = r->payload_len;
        n.priority = 10;
        n.user_data = (void *)(uintptr_t)r->next;
        int rc = apns_client_submit(r->client, &n);
        if (rc == APNS_EAGAIN)
            return;
        TH_CHECK(rc == 0, "submit %u: %s", r->next, apns_strerror(rc));
        r->next++;
    }
}

static void on_credit(apns_client *c, size_t credit, void *ud)
{
    pump(ud);
}

static void on_drained(apns_client *c, void *ud)
{
    event_base_loopexit(((run *)ud)->base, NULL);
}

static void on_result(apns_client *c, const apns_notification *n, const apns_result *res, void *ud)
{
    run *r = ud;
    uint32_t i = (uint32_t)(uintptr_t)n->user_data;
    TH_CHECK(i < r->n, "user_data %u", i);
    TH_CHECK(strcmp(n->token, r->at[i].token) == 0, "token of %u", i);
    if (r->at[i].calls++) {
        fprintf(stderr, "notification %u: a second result\n", i);
        r->failures++;
    }
    r->at[i].outcome = res->outcome;
    r->at[i].binary_status = res->binary_status;
    r->at[i].reason = res->reason;
    r->at[i].action = res->action;
    r->at[i].error = res->error;
    TH_CHECK(res->status == 0, "binary results carry no HTTP status (%d)", res->status);
    r->answered++;
    if (r->answered == r->n)
        apns_client_drain(r->client, on_drained);
}

static void on_log(apns_log_level level, const char *msg, void *ud)
{
    run *r = ud;
    if (level <= APNS_LOG_WARN || r->verbose)
        fprintf(stderr, "apns: [%lld ms, %u answered] %s\n", (long long)(th_now_ms() - r->t0),
                r->answered, msg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    run *r = arg;
    fprintf(stderr, "FAIL: timed out with %u of %u answered\n", r->answered, r->n);
    th_fail();
}

static void run_init(run *r, uint32_t n)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->at = calloc(n, sizeof *r->at);
    TH_CHECK(r->at, "oom");
    for (uint32_t i = 0; i < n; i++)
        make_token(i, r->at[i].token);
    r->payload = "{\"aps\":{\"alert\":\"hello from the binary interface\"}}";
    r->payload_len = strlen(r->payload);
    r->verbose = getenv("VERBOSE") != NULL;
    r->t0 = th_now_ms();
}

static void run_free(run *r)
{
    free(r->at);
}

static void gw_free(gateway *g)
{
    free(g->accepted);
    free(g->bad);
    for (int i = 0; i < MAX_CONNS; i++)
        free(g->seq[i]);
}

static void base_opts(apns_client_opts *o, run *r, uint16_t port, char *cert, char *key, char *ca)
{
    snprintf(cert, 1024, "%s/client.pem", th_certs());
    snprintf(key, 1024, "%s/client.key", th_certs());
    snprintf(ca, 1024, "%s/ca.pem", th_certs());
    apns_client_opts_init(o);
    o->env = APNS_ENV_CUSTOM;
    o->host = "127.0.0.1";
    o->port = port;
    o->transport = APNS_TRANSPORT_BINARY;
    o->cert_file = cert;
    o->key_file = key;
    o->ca_file = ca;
    o->on_result = on_result;
    o->on_credit = on_credit;
    o->on_log = on_log;
    o->ud = r;
}

/* Runs the client until every notification is answered and it drained. */
static int64_t drive(run *r, apns_client_opts *o, apns_client_stats *st)
{
    char detail[256];
    r->base = event_base_new();
    int rc = apns_client_new(&r->client, r->base, o, detail, sizeof detail);
    TH_CHECK(rc == 0, "client: %s (%s)", apns_strerror(rc), detail);
    struct event *dl = evtimer_new(r->base, on_deadline, r);
    struct timeval tv = {240, 0};
    evtimer_add(dl, &tv);
    int64_t t0 = r->t0 = th_now_ms();
    pump(r);
    event_base_dispatch(r->base);
    int64_t ms = th_now_ms() - t0;
    apns_client_stats_get(r->client, st);
    apns_client_free(r->client);
    event_free(dl);
    event_base_free(r->base);
    return ms;
}

static void check_seq(gateway *g, int conn, uint32_t from, uint32_t to, uint32_t skip)
{
    size_t k = 0;
    for (uint32_t i = from; i < to; i++) {
        if (i == skip)
            continue;
        if (k >= g->seq_len[conn] || g->seq[conn][k] != i) {
            fprintf(stderr, "FAIL: connection %d: position %zu holds %d, expected %u\n", conn, k,
                    k < g->seq_len[conn] ? (int)g->seq[conn][k] : -1, i);
            th_fail();
        }
        k++;
    }
    TH_CHECK(k == g->seq_len[conn], "connection %d: %zu accepted, expected %zu", conn,
             g->seq_len[conn], k);
}

/* ---- scenarios ------------------------------------------------------------- */

static int scenario_error(const char *name, int status, apns_binary_format fmt, int graceful,
                          uint32_t n, uint32_t slots, uint32_t at, int delay_ms, int64_t window)
{
    gateway g = {.n = n,
                 .trigger_status = status,
                 .trigger_index = at,
                 .delay_ms = delay_ms,
                 .graceful = graceful,
                 .ids_ok = 1};
    g.accepted = calloc(n, sizeof *g.accepted);
    g.bad = calloc(n, 1);
    g.bad[at] = status == 8;
    bts_server *srv = bts_start(gw_handler, &g);

    run r;
    run_init(&r, n);
    apns_client_opts o;
    char cert[1024], key[1024], ca[1024];
    base_opts(&o, &r, bts_port(srv), cert, key, ca);
    o.binary_format = fmt;
    o.max_pending = slots;
    o.binary_accept_window_ms = window;
    apns_client_stats st;
    int64_t ms = drive(&r, &o, &st);
    int conns = bts_connections(srv);
    bts_stop(srv);

    fprintf(stderr,
            "%s: %u answered in %lld ms: accepted %llu rejected %llu failed %llu resent %llu "
            "error packets %llu connects %llu; server: %llu frames, %llu bytes discarded, "
            "connection 0 accepted %zu, connection 1 accepted %zu\n",
            name, r.answered, (long long)ms, (unsigned long long)st.accepted,
            (unsigned long long)st.rejected, (unsigned long long)st.failed,
            (unsigned long long)st.resent, (unsigned long long)st.error_packets,
            (unsigned long long)st.connects, (unsigned long long)g.frames,
            (unsigned long long)g.discarded_bytes, g.seq_len[0], g.seq_len[1]);

    TH_CHECK(g.triggered, "the server never saw notification %u", at);
    TH_CHECK(g.bad_frames == 0, "the server could not decode %d frame(s)", g.bad_frames);
    TH_CHECK(g.fmt_seen == fmt, "format on the wire %d, expected %d", g.fmt_seen, fmt);
    TH_CHECK(g.ids_ok, "identifiers not consecutive from 1 on a connection");
    TH_CHECK(st.error_packets == 1, "error packets %llu", (unsigned long long)st.error_packets);
    for (uint32_t i = 0; i < n; i++) {
        TH_CHECK(r.at[i].calls == 1, "notification %u: %u results", i, r.at[i].calls);
        if (status == 8 && i == at) {
            TH_CHECK(r.at[i].outcome == APNS_OUTCOME_REJECTED, "%u: outcome %d", i,
                     r.at[i].outcome);
            TH_CHECK(r.at[i].binary_status == 8, "%u: binary_status %d", i, r.at[i].binary_status);
            TH_CHECK(r.at[i].reason == APNS_REASON_BAD_DEVICE_TOKEN, "%u: reason %s", i,
                     apns_reason_name(r.at[i].reason));
            TH_CHECK(r.at[i].action == APNS_ACTION_DEAD_TOKEN, "%u: action %s", i,
                     apns_action_name(r.at[i].action));
            TH_CHECK(g.accepted[i] == 0, "the server accepted the bad one");
            continue;
        }
        TH_CHECK(r.at[i].outcome == APNS_OUTCOME_ACCEPTED, "%u: outcome %d (error %s)", i,
                 r.at[i].outcome, apns_err_name(r.at[i].error));
        TH_CHECK(r.at[i].binary_status == 0 && r.at[i].action == APNS_ACTION_NONE, "%u: status %d",
                 i, r.at[i].binary_status);
        TH_CHECK(g.accepted[i] == 1, "notification %u accepted %u times by the server", i,
                 g.accepted[i]);
    }
    TH_CHECK(st.rejected == (status == 8 ? 1u : 0u), "rejected %llu",
             (unsigned long long)st.rejected);
    TH_CHECK(st.failed == 0, "failed %llu", (unsigned long long)st.failed);
    /* Connection 0 processed 0..at (the bad one not accepted); everything
     * after it came again on connection 1 in the original order, ahead of
     * the notifications submitted after the error (they follow). */
    check_seq(&g, 0, 0, at + 1, status == 8 ? at : UINT32_MAX);
    check_seq(&g, 1, at + 1, n, UINT32_MAX);
    TH_CHECK(conns == 2, "%d connections, expected 2", conns);
    TH_CHECK(st.resent >= slots - at - 1, "resent %llu, expected at least %u",
             (unsigned long long)st.resent, slots - at - 1);
    fprintf(stderr, "%s: ok\n", name);
    run_free(&r);
    gw_free(&g);
    return 0;
}

/* The same checks while the client writes at full speed when the server
 * closes, with no fixed expectation of where connection 0 stopped. */
static int scenario_busy(void)
{
    const uint32_t n = 200000, at = 20000;
    gateway g = {
        .n = n, .trigger_status = 8, .trigger_index = at, .delay_ms = 100, .stall = 1, .ids_ok = 1};
    g.accepted = calloc(n, sizeof *g.accepted);
    g.bad = calloc(n, 1);
    g.bad[at] = 1;
    bts_server *srv = bts_start(gw_handler, &g);
    run r;
    run_init(&r, n);
    apns_client_opts o;
    char cert[1024], key[1024], ca[1024];
    base_opts(&o, &r, bts_port(srv), cert, key, ca);
    o.max_pending = 50000;
    o.binary_accept_window_ms = 1000;
    apns_client_stats st;
    int64_t ms = drive(&r, &o, &st);
    bts_stop(srv);
    fprintf(stderr,
            "busy: %u answered in %lld ms: accepted %llu rejected %llu resent %llu connects %llu; "
            "server: %llu frames, %llu bytes discarded\n",
            r.answered, (long long)ms, (unsigned long long)st.accepted,
            (unsigned long long)st.rejected, (unsigned long long)st.resent,
            (unsigned long long)st.connects, (unsigned long long)g.frames,
            (unsigned long long)g.discarded_bytes);
    TH_CHECK(g.triggered && g.bad_frames == 0 && g.ids_ok, "server side");
    TH_CHECK(st.error_packets == 1, "error packets %llu", (unsigned long long)st.error_packets);
    for (uint32_t i = 0; i < n; i++) {
        TH_CHECK(r.at[i].calls == 1, "%u: %u results", i, r.at[i].calls);
        if (i == at) {
            TH_CHECK(r.at[i].outcome == APNS_OUTCOME_REJECTED && r.at[i].binary_status == 8 &&
                         r.at[i].action == APNS_ACTION_DEAD_TOKEN,
                     "the bad one: outcome %d status %d", r.at[i].outcome, r.at[i].binary_status);
            continue;
        }
        TH_CHECK(r.at[i].outcome == APNS_OUTCOME_ACCEPTED, "%u: outcome %d", i, r.at[i].outcome);
        TH_CHECK(g.accepted[i] == 1, "%u accepted %u times by the server", i, g.accepted[i]);
    }
    /* Connection 1 starts right after the bad one, in order. */
    check_seq(&g, 0, 0, at + 1, at);
    TH_CHECK(g.seq_len[1] > 0 && g.seq[1][0] == at + 1, "connection 1 starts with %d",
             g.seq_len[1] ? (int)g.seq[1][0] : -1);
    for (size_t k = 1; k < g.seq_len[1]; k++)
        TH_CHECK(g.seq[1][k] == g.seq[1][k - 1] + 1, "connection 1 out of order at %zu", k);
    fprintf(stderr, "busy: ok\n");
    run_free(&r);
    gw_free(&g);
    return 0;
}

/* Many bad tokens: every connection ends at its first one, and the
 * notifications after it are rewound again and again, more often than the
 * 10-hand-back limit; none may fail for that, none may be lost or doubled. */
static int scenario_many(void)
{
    const uint32_t n = 6000, nbad = 40;
    gateway g = {.n = n, .trigger_status = 8, .delay_ms = 10, .ids_ok = 1};
    g.accepted = calloc(n, sizeof *g.accepted);
    g.bad = calloc(n, 1);
    for (uint32_t k = 0; k < nbad; k++)
        g.bad[(k * 7919u + 13) % n] = 1;
    bts_server *srv = bts_start(gw_handler, &g);
    run r;
    run_init(&r, n);
    apns_client_opts o;
    char cert[1024], key[1024], ca[1024];
    base_opts(&o, &r, bts_port(srv), cert, key, ca);
    o.max_pending = 3000;
    o.binary_accept_window_ms = 500;
    apns_client_stats st;
    int64_t ms = drive(&r, &o, &st);
    int conns = bts_connections(srv);
    bts_stop(srv);
    fprintf(stderr,
            "many: %u answered in %lld ms: accepted %llu rejected %llu failed %llu resent %llu "
            "error packets %llu connects %llu (server: %d)\n",
            r.answered, (long long)ms, (unsigned long long)st.accepted,
            (unsigned long long)st.rejected, (unsigned long long)st.failed,
            (unsigned long long)st.resent, (unsigned long long)st.error_packets,
            (unsigned long long)st.connects, conns);
    TH_CHECK(g.bad_frames == 0 && g.ids_ok, "server side");
    TH_CHECK(g.triggered == (int)nbad && st.error_packets == nbad, "error packets %d / %llu",
             g.triggered, (unsigned long long)st.error_packets);
    TH_CHECK(st.resent > 10u * n, "resent %llu: the test should rewind often",
             (unsigned long long)st.resent);
    for (uint32_t i = 0; i < n; i++) {
        TH_CHECK(r.at[i].calls == 1, "%u: %u results", i, r.at[i].calls);
        if (g.bad[i]) {
            TH_CHECK(r.at[i].outcome == APNS_OUTCOME_REJECTED && r.at[i].binary_status == 8,
                     "bad %u: outcome %d status %d", i, r.at[i].outcome, r.at[i].binary_status);
            TH_CHECK(g.accepted[i] == 0, "bad %u accepted by the server", i);
            continue;
        }
        TH_CHECK(r.at[i].outcome == APNS_OUTCOME_ACCEPTED, "%u: outcome %d (%s)", i,
                 r.at[i].outcome, apns_err_name(r.at[i].error));
        TH_CHECK(g.accepted[i] == 1, "%u accepted %u times by the server", i, g.accepted[i]);
    }
    fprintf(stderr, "many: ok\n");
    run_free(&r);
    gw_free(&g);
    return 0;
}

/* The gateway refuses our certificate (TLS 1.3: after the client finished
 * its handshake, so the client may already have written): after three
 * refusals in a row every notification FAILS with APNS_ETLS, once. */
static int scenario_refused(void)
{
    const uint32_t n = 50;
    gateway g = {.n = n, .ids_ok = 1};
    g.accepted = calloc(n, sizeof *g.accepted);
    bts_server *srv = bts_start_ca(gw_handler, &g, "other-ca.pem");
    run r;
    run_init(&r, n);
    apns_client_opts o;
    char cert[1024], key[1024], ca[1024];
    base_opts(&o, &r, bts_port(srv), cert, key, ca);
    apns_client_stats st;
    int64_t ms = drive(&r, &o, &st);
    bts_stop(srv);
    fprintf(stderr, "refused: %u answered in %lld ms: failed %llu, connects %llu\n", r.answered,
            (long long)ms, (unsigned long long)st.failed, (unsigned long long)st.connects);
    for (uint32_t i = 0; i < n; i++) {
        TH_CHECK(r.at[i].calls == 1, "%u: %u results", i, r.at[i].calls);
        TH_CHECK(r.at[i].outcome == APNS_OUTCOME_FAILED && r.at[i].error == APNS_ETLS,
                 "%u: outcome %d error %s", i, r.at[i].outcome, apns_err_name(r.at[i].error));
        TH_CHECK(g.accepted[i] == 0, "%u reached the handler", i);
    }
    fprintf(stderr, "refused: ok\n");
    run_free(&r);
    gw_free(&g);
    return 0;
}

static int scenario_validate(void)
{
    run r;
    run_init(&r, 1);
    apns_client_opts o;
    char cert[1024], key[1024], ca[1024], detail[256];
    struct event_base *base = event_base_new();
    apns_client *c = NULL;

    /* Options client_new refuses. */
    base_opts(&o, &r, 9, cert, key, ca);
    o.cert_file = o.key_file = NULL;
    apns_signing_key *sk = NULL;
    char p8[1024];
    snprintf(p8, sizeof p8, "%s/AuthKey_ABC123DEFG.p8", th_certs());
    TH_CHECK(
        apns_signing_key_load_file(&sk, p8, "ABC123DEFG", "DEF123GHIJ", detail, sizeof detail) == 0,
        "key: %s", detail);
    apns_token_cache *tc = NULL;
    TH_CHECK(apns_token_cache_new(&tc, sk, 0) == 0, "token cache");
    o.tokens = tc;
    int rc = apns_client_new(&c, base, &o, detail, sizeof detail);
    TH_CHECK(rc == APNS_EINVAL && strstr(detail, "certificate"), "token auth: %s (%s)",
             apns_err_name(rc), detail);
    base_opts(&o, &r, 9, cert, key, ca);
    o.binary_format = (apns_binary_format)7;
    rc = apns_client_new(&c, base, &o, detail, sizeof detail);
    TH_CHECK(rc == APNS_EINVAL && strstr(detail, "format"), "format 7: %s (%s)", apns_err_name(rc),
             detail);
    base_opts(&o, &r, 9, cert, key, ca);
    o.transport = (apns_transport)5;
    rc = apns_client_new(&c, base, &o, detail, sizeof detail);
    TH_CHECK(rc == APNS_EINVAL, "transport 5: %s", apns_err_name(rc));

    /* What submit refuses, per format. Port 9 (discard): nothing connects,
     * and nothing is sent. */
    char big[3000];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    struct {
        apns_binary_format fmt;
        int simple;
        size_t payload, token_hex;
        int want;
    } cases[] = {
        {APNS_BINARY_ENHANCED, 0, 256, 64, 0},
        {APNS_BINARY_ENHANCED, 0, 257, 64, APNS_ETOOBIG},
        {APNS_BINARY_ENHANCED, 0, 100, 62, APNS_EBADTOKEN},
        {APNS_BINARY_ENHANCED, 0, 100, 66, APNS_EBADTOKEN},
        {APNS_BINARY_SIMPLE, 1, 257, 64, APNS_ETOOBIG},
        {APNS_BINARY_SIMPLE, 1, 100, 32, APNS_EBADTOKEN},
        {APNS_BINARY_FRAME, 0, 2048, 64, 0},
        {APNS_BINARY_FRAME, 0, 2049, 64, APNS_ETOOBIG},
        {APNS_BINARY_FRAME, 0, 100, 200, 0}, /* 100-byte token: the frame maximum */
        {APNS_BINARY_FRAME, 0, 100, 32, 0},
        {APNS_BINARY_SIMPLE, 0, 257, 64, 0}, /* zero format without binary_simple: frame */
    };
    char tok[256];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        base_opts(&o, &r, 9, cert, key, ca);
        o.binary_format = cases[k].fmt;
        o.binary_simple = cases[k].simple;
        rc = apns_client_new(&c, base, &o, detail, sizeof detail);
        TH_CHECK(rc == 0, "case %zu: client: %s", k, detail);
        memset(tok, 'a', sizeof tok);
        tok[cases[k].token_hex] = '\0';
        big[cases[k].payload - 1] = '}';
        apns_notification n;
        apns_notification_init(&n);
        n.token = tok;
        n.payload = big;
        n.payload_len = cases[k].payload;
        rc = apns_client_submit(c, &n);
        big[cases[k].payload - 1] = ' ';
        TH_CHECK(rc == cases[k].want, "case %zu (format %d, payload %zu, token %zu hex): %s", k,
                 cases[k].fmt, cases[k].payload, cases[k].token_hex, apns_err_name(rc));
        apns_client_free(c);
    }
    event_base_free(base);
    apns_token_cache_free(tc);
    apns_signing_key_free(sk);
    run_free(&r);
    fprintf(stderr, "validate: ok\n");
    return 0;
}

static int scenario_throughput(uint32_t n, int64_t window, uint32_t slots)
{
    gateway g = {.n = n, .count_only = 1, .ids_ok = 1};
    bts_server *srv = bts_start(gw_handler, &g);
    run r;
    run_init(&r, n);
    apns_client_opts o;
    char cert[1024], key[1024], ca[1024];
    base_opts(&o, &r, bts_port(srv), cert, key, ca);
    o.max_pending = slots;
    o.binary_accept_window_ms = window;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    apns_client_stats st;
    int64_t ms = drive(&r, &o, &st);
    getrusage(RUSAGE_SELF, &ru1);
    bts_stop(srv);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    uint64_t frames = atomic_load(&g.counted);
    /* The last window is silence by design; the send rate excludes it. */
    double send_s = (double)(ms - window) / 1000.0;
    fprintf(stderr,
            "throughput: %u notifications, %llu frames at the server, %lld ms total "
            "(%lld ms accept window): %.0f notifications/s sent; process CPU %.2f s "
            "(client + server thread), peak RSS %ld MB\n",
            n, (unsigned long long)frames, (long long)ms, (long long)window,
            send_s > 0 ? n / send_s : 0.0, cpu, ru1.ru_maxrss / 1024);
    TH_CHECK(frames == n, "server counted %llu", (unsigned long long)frames);
    TH_CHECK(st.accepted == n, "accepted %llu", (unsigned long long)st.accepted);
    run_free(&r);
    gw_free(&g);
    return 0;
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "";
    if (strcmp(s, "reject8") == 0) {
        apns_binary_format fmt = APNS_BINARY_FRAME;
        int graceful = 0;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "enhanced") == 0)
                fmt = APNS_BINARY_ENHANCED;
            else if (strcmp(argv[i], "graceful") == 0)
                graceful = 1;
        }
        return scenario_error("reject8", 8, fmt, graceful, 3000, 2000, 1399, 200, 1000);
    }
    if (strcmp(s, "shutdown10") == 0)
        return scenario_error("shutdown10", 10, APNS_BINARY_FRAME, 1, 3000, 2000, 1399, 200, 1000);
    if (strcmp(s, "busy") == 0)
        return scenario_busy();
    if (strcmp(s, "many") == 0)
        return scenario_many();
    if (strcmp(s, "refused") == 0)
        return scenario_refused();
    if (strcmp(s, "validate") == 0)
        return scenario_validate();
    if (strcmp(s, "throughput") == 0)
        return scenario_throughput(argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000,
                                   argc > 3 ? strtoll(argv[3], NULL, 10) : 200,
                                   argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 400000);
    fprintf(stderr, "usage: binary_client_test reject8 [enhanced] [graceful] | shutdown10 | busy | "
                    "many | refused "
                    "| validate | throughput [N [window_ms [slots]]]\n");
    return 2;
}
