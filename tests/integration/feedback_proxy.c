/*
 * feedback_proxy.c - apns_feedback through an HTTP CONNECT proxy
 * (apns_feedback_opts.proxy) against apns-sim's feedback service.
 *
 * apns-sim runs its binary gateway and feedback service (with --client-ca:
 * the fetch presents the provider certificate through the tunnel). The test
 * pushes NTUPLES notifications to --unregistered tokens on the gateway (raw
 * TLS, frame format), ending with one invalid token: its error packet says
 * the gateway processed everything before it, so each unregistered token is
 * on the feedback list. Then, in order:
 *
 *   refused   a proxy that answers 403: on_done with APNS_EPROXY, its
 *             status line in detail, no tuple; the sim saw no feedback
 *             connection, so the list is still there
 *   ok        a working proxy: exactly one "CONNECT 127.0.0.1:<feedback
 *             port> HTTP/1.1"; every pushed token exactly once, with a
 *             timestamp within the push; on_done(0) with the count
 *   bad       proxy "nohost" (not host:port): apns_feedback_new fails with
 *             APNS_EINVAL naming it, no callback
 *
 * and at the sim's exit: feedback_connections 1, feedback_tuples NTUPLES.
 * Exit status 0 when every check passed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <event2/event.h>

#include "apns/binary.h"
#include "apns/feedback.h"
#include "binary_util.h"
#include "harness.h"
#include "test_proxy.h"

#define NTUPLES     200
#define UNREG_FIRST 1000
#define INVALID_TOK 5000

static const char *work, *ca, *cli_cert, *cli_key;

typedef struct fetch {
    struct event_base *base;
    uint8_t seen[NTUPLES];
    size_t items, foreign, done_count;
    int done, err;
    uint32_t ts_min, ts_max;
    char detail[512];
} fetch;

static void on_item(apns_feedback *f, const apns_feedback_item *it, void *ud)
{
    fetch *r = ud;
    char want[65];
    r->items++;
    for (uint32_t i = 0; i < NTUPLES; i++) {
        th_token(UNREG_FIRST + i, want);
        if (it->token_len == 32 && strcmp(it->token, want) == 0) {
            r->seen[i]++;
            if (it->timestamp < r->ts_min)
                r->ts_min = it->timestamp;
            if (it->timestamp > r->ts_max)
                r->ts_max = it->timestamp;
            return;
        }
    }
    r->foreign++;
}

static void on_done(apns_feedback *f, size_t count, int err, const char *detail, void *ud)
{
    fetch *r = ud;
    r->done++;
    r->done_count = count;
    r->err = err;
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    event_base_loopexit(r->base, NULL);
}

/* One fetch through proxy at port fb_port; waits for on_done. */
static void run_fetch(fetch *r, int fb_port, const char *proxy)
{
    memset(r, 0, sizeof *r);
    r->ts_min = UINT32_MAX;
    r->base = event_base_new();
    TH_CHECK(r->base != NULL, "event_base_new");
    apns_feedback_opts o;
    apns_feedback_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = (uint16_t)fb_port;
    o.cert_file = cli_cert;
    o.key_file = cli_key;
    o.ca_file = ca;
    o.proxy = proxy;
    o.connect_timeout_ms = 10000;
    o.idle_timeout_ms = 10000;
    o.on_item = on_item;
    o.on_done = on_done;
    o.ud = r;
    apns_feedback *f = NULL;
    char detail[256];
    int rc = apns_feedback_new(&f, r->base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_feedback_new via %s: %s: %s", proxy, apns_err_name(rc), detail);
    event_base_dispatch(r->base);
    TH_CHECK(r->done == 1, "via %s: on_done fired %d times", proxy, r->done);
    apns_feedback_free(f);
    event_base_free(r->base);
    r->base = NULL;
}

/* Pushes the unregistered tokens and the invalid one; returns once the
 * invalid one's error packet says all were processed. */
static void push_unregistered(int bin_port, time_t *t0, time_t *t1)
{
    static uint8_t buf[(NTUPLES + 1) * APNS_BINARY_ENCODED_MAX];
    size_t len = 0;
    for (uint32_t i = 0; i < NTUPLES; i++)
        bu_encode(APNS_BINARY_FRAME, UNREG_FIRST + i, i + 1, buf, &len);
    bu_encode(APNS_BINARY_FRAME, INVALID_TOK, 0xbad, buf, &len);
    bu_tls t;
    TH_CHECK(bu_tls_connect(&t, bin_port, ca, cli_cert, cli_key) == 0, "gateway: TLS failed");
    *t0 = time(NULL);
    TH_CHECK(bu_tls_write(&t, buf, len) == 0, "gateway: write failed");
    uint8_t in[64], want[6];
    int closed = 0;
    size_t n = bu_tls_read_all(&t, in, sizeof in, 10000, &closed);
    *t1 = time(NULL);
    bu_tls_close(&t);
    apns_binary_error_encode(APNS_BINARY_STATUS_INVALID_TOKEN, 0xbad, want, sizeof want);
    TH_CHECK(closed && n == 6 && memcmp(in, want, 6) == 0,
             "gateway: want the error packet for the invalid token, got %zu bytes", n);
    printf("ok   gateway: %d notifications to unregistered tokens accepted\n", NTUPLES);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN); /* the test proxy relays with write(2) */
    work = th_tmpdir("fbproxy");
    ca = th_cert("ca.pem");
    cli_cert = th_cert("client.pem");
    cli_key = th_cert("client.key");

    const char *unreg = th_path(work, "unregistered.txt"), *inv = th_path(work, "invalid.txt");
    bu_write_tokens(unreg, UNREG_FIRST, NTUPLES, 0);
    bu_write_tokens(inv, INVALID_TOK, 1, 0);
    const char *extra[] = {"--feedback-listen",
                           "127.0.0.1:0",
                           "--client-ca",
                           ca,
                           "--unregistered",
                           unreg,
                           "--invalid-tokens",
                           inv,
                           "--binary-error-delay-ms",
                           "20",
                           NULL};
    bu_sim s;
    bu_spawn_sim(&s, extra, th_path(work, "sim.err"));
    time_t t0, t1; /* wall clock: the service's timestamps are UNIX seconds */
    push_unregistered(s.bin_port, &t0, &t1);

    tp_proxy no = {.refuse = 1}, yes = {0};
    tp_proxy_start(&no);
    tp_proxy_start(&yes);
    char addr[64], want[96];
    fetch r;

    /* refused */
    snprintf(addr, sizeof addr, "127.0.0.1:%u", no.port);
    run_fetch(&r, s.fb_port, addr);
    TH_CHECK(r.err == APNS_EPROXY && r.items == 0 && r.done_count == 0,
             "refused: err %s, %zu tuple(s), want APNS_EPROXY and none", apns_err_name(r.err),
             r.items);
    TH_CHECK(strstr(r.detail, TP_PROXY_REFUSED) != NULL, "refused: detail \"%s\"", r.detail);
    TH_CHECK(no.connects == 1, "refused: the proxy saw %d request(s), want 1", no.connects);
    printf("ok   refused: APNS_EPROXY (%s)\n", r.detail);

    /* ok */
    snprintf(addr, sizeof addr, "http://127.0.0.1:%u/", yes.port);
    run_fetch(&r, s.fb_port, addr);
    TH_CHECK(r.err == 0, "ok: err %s: %s", apns_err_name(r.err), r.detail);
    snprintf(want, sizeof want, "CONNECT 127.0.0.1:%d HTTP/1.1", s.fb_port);
    TH_CHECK(yes.connects == 1 && tp_proxy_count(&yes, want) == 1,
             "ok: the proxy saw %d request(s), last \"%s\", want one \"%s\"", yes.connects,
             yes.last_request, want);
    int missing = 0, twice = 0;
    for (uint32_t i = 0; i < NTUPLES; i++) {
        missing += r.seen[i] == 0;
        twice += r.seen[i] > 1;
    }
    TH_CHECK(r.items == NTUPLES && r.done_count == NTUPLES && missing == 0 && twice == 0 &&
                 r.foreign == 0,
             "ok: %zu tuple(s) (on_done %zu), %d missing, %d twice, %zu foreign; want %d", r.items,
             r.done_count, missing, twice, r.foreign, NTUPLES);
    TH_CHECK(r.ts_min >= (uint32_t)t0 && r.ts_max <= (uint32_t)t1,
             "ok: timestamps %u..%u outside the push %lld..%lld", r.ts_min, r.ts_max, (long long)t0,
             (long long)t1);
    printf("ok   through the proxy: %zu tuple(s), every pushed token once\n", r.items);

    /* bad */
    {
        struct event_base *base = event_base_new();
        apns_feedback_opts o;
        apns_feedback_opts_init(&o);
        o.env = APNS_ENV_CUSTOM;
        o.host = "127.0.0.1";
        o.cert_file = cli_cert;
        o.key_file = cli_key;
        o.proxy = "nohost";
        o.on_item = on_item;
        o.on_done = on_done;
        apns_feedback *f = NULL;
        char detail[256] = "";
        int rc = apns_feedback_new(&f, base, &o, detail, sizeof detail);
        TH_CHECK(rc == APNS_EINVAL && f == NULL && strstr(detail, "nohost") != NULL,
                 "bad proxy: %s \"%s\", want APNS_EINVAL naming it", apns_err_name(rc), detail);
        event_base_free(base);
        printf("ok   bad proxy: APNS_EINVAL (%s)\n", detail);
    }

    int status = bu_stop_sim(&s);
    TH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the sim did not exit cleanly");
    TH_CHECK(bu_sim_counter(&s, "feedback_connections") == 1 &&
                 bu_sim_counter(&s, "feedback_tuples") == NTUPLES,
             "sim: feedback_connections %lld feedback_tuples %lld, want 1 and %d",
             bu_sim_counter(&s, "feedback_connections"), bu_sim_counter(&s, "feedback_tuples"),
             NTUPLES);
    printf("all feedback proxy checks passed\n");
    th_rmtree(work);
    return 0;
}
