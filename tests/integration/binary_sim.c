/*
 * binary_sim.c - apns-sim's legacy binary gateway and feedback service,
 * tested with a raw TLS client (OpenSSL in this program; frames encoded
 * with apns_binary_encode), so no libapns connection code is involved.
 *
 * Checks Apple's failure behaviour:
 *   - a bad notification in the middle of a stream (invalid token; token
 *     size, unknown command) -> exactly one 6-byte error packet with the
 *     right status and identifier, after the discard delay, then the end of
 *     the stream; nothing written after the bad one is delivered, even what
 *     was written during the delay;
 *   - the simple format: the connection just closes, no packet;
 *   - --binary-shutdown-every: status 10 naming the last delivered one;
 *   - notifications split across reads, and formats mixed on a connection;
 *   - feedback: tokens rejected with status 8 are never listed, nor are
 *     --unregistered tokens no push went to (the service's rows, uninstalled
 *     apps' tokens listed once, are binary_golden's);
 *   - --client-ca: no certificate, no delivery; the certificate's topic is
 *     in the delivery log.
 * After each simulator stops, its delivery log and counters are checked.
 *
 * usage: binary_sim                          the checks above (ctest)
 *        binary_sim --bench N [CONNS [THREADS]]
 *            pushes N frame-format notifications per connection as fast as
 *            one thread per connection can encrypt them, ends each stream
 *            with an invalid token and times the error packet: the sim has
 *            processed everything before it by then. Prints notifications/s.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apns/binary.h"
#include "binary_util.h"
#include "harness.h"

#define DELAY_MS    300 /* --binary-error-delay-ms for the checks */
#define UNREG_TS_MS 1700000000123LL

static const char *work, *ca, *cli_cert, *cli_key;

/* Token index ranges. Each scenario uses its own block of 100. */
enum {
    INVALID_FIRST = 5000, /* --invalid-tokens: 5000..5009 */
    OTHER_ENV_FIRST = 6000,
    UNREG_FIRST = 7000, /* --unregistered (never pushed to here) */
    UNREG_COUNT = 3,
    NTOKENS = 8000,
};

/* Expected deliveries, checked against the log when the sim stops. */
static uint8_t expect[NTOKENS]; /* 0 = must not appear, 1 = exactly once, 2 = don't care */

static void expect_range(uint32_t first, uint32_t count, uint8_t v)
{
    for (uint32_t i = first; i < first + count; i++)
        expect[i] = v;
}

static void check_log(const char *log, const char *what)
{
    size_t foreign = 0;
    uint8_t *got = bu_log_counts(log, NTOKENS, &foreign);
    int bad = 0;
    for (uint32_t i = 0; i < NTOKENS; i++) {
        if (expect[i] == 2 || got[i] == expect[i])
            continue;
        if (bad++ < 20)
            fprintf(stderr, "%s: token %u delivered %u times, want %u\n", what, i, got[i],
                    expect[i]);
    }
    free(got);
    TH_CHECK(bad == 0 && foreign == 0, "%s: %d wrong deliveries, %zu foreign lines", what, bad,
             foreign);
    printf("ok   %s: delivery log as expected\n", what);
}

static void connect_or_fail(bu_tls *t, int port, int with_cert)
{
    int rc = bu_tls_connect(t, port, ca, with_cert ? cli_cert : NULL, with_cert ? cli_key : NULL);
    TH_CHECK(rc == 0, "TLS connection to port %d failed", port);
}

/* Writes frames [first, first+count) in `fmt` (ids id0+k), with `bad`
 * replacing frame k = bad_at (raw bytes). */
static size_t build(uint8_t *buf, int fmt, uint32_t first, uint32_t count, uint32_t id0,
                    long bad_at, const uint8_t *bad, size_t bad_len)
{
    size_t len = 0;
    for (uint32_t k = 0; k < count; k++) {
        if ((long)k == bad_at) {
            memcpy(buf + len, bad, bad_len);
            len += bad_len;
        } else {
            bu_encode(fmt, first + k, id0 + k, buf, &len);
        }
    }
    return len;
}

/* Reads the answer to a bad notification: want_packet -> the 6 bytes
 * (status, id) then the end; else the end with no byte. Checks it did not
 * come before `min_ms` after t0. */
static void expect_answer(bu_tls *t, int64_t t0, int want_packet, uint8_t status, uint32_t id,
                          int min_ms, const char *what)
{
    uint8_t buf[64];
    int closed = 0;
    size_t n = bu_tls_read_all(t, buf, sizeof buf, 10000, &closed);
    int64_t took = th_now_ms() - t0;
    TH_CHECK(closed, "%s: the connection did not close (%zu bytes read)", what, n);
    if (want_packet) {
        uint8_t want[6];
        apns_binary_error_encode(status, id, want, sizeof want);
        TH_CHECK(n == 6 && memcmp(buf, want, 6) == 0,
                 "%s: want packet 08 %02x %08x, got %zu bytes (%02x %02x ...)", what, status, id, n,
                 n > 0 ? buf[0] : 0, n > 1 ? buf[1] : 0);
    } else {
        TH_CHECK(n == 0, "%s: the simple format must close silently, got %zu bytes", what, n);
    }
    TH_CHECK(took >= min_ms, "%s: answered after %lld ms, before the %d ms delay", what,
             (long long)took, min_ms);
    printf("ok   %s: %s after %lld ms, then closed\n", what,
           want_packet ? "error packet" : "no packet", (long long)took);
}

/* One connection: writes buf (len bytes), checks the answer (expect_answer). */
static void send_expect(int port, const uint8_t *buf, size_t len, int want_packet, uint8_t status,
                        uint32_t want_id, int min_ms, const char *what)
{
    bu_tls t;
    connect_or_fail(&t, port, 0);
    int64_t t0 = th_now_ms();
    TH_CHECK(bu_tls_write(&t, buf, len) == 0, "%s: write failed", what);
    expect_answer(&t, t0, want_packet, status, want_id, min_ms, what);
    bu_tls_close(&t);
}

/* One connection: `count` notifications from token `first`, a bad one at
 * bad_at, more written during the delay; checks the answer. */
static void bad_in_middle(int port, int fmt, uint32_t first, uint32_t count, uint32_t id0,
                          long bad_at, const uint8_t *bad, size_t bad_len, int want_packet,
                          uint8_t status, uint32_t want_id, const char *what)
{
    static uint8_t buf[1 << 16];
    bu_tls t;
    connect_or_fail(&t, port, 0);
    size_t len = build(buf, fmt, first, count, id0, bad_at, bad, bad_len);
    int64_t t0 = th_now_ms();
    TH_CHECK(bu_tls_write(&t, buf, len) == 0, "%s: write failed", what);
    /* During the delay: more notifications, which must be discarded too. */
    usleep(DELAY_MS / 3 * 1000);
    len = build(buf, fmt, first + count, 5, id0 + count, -1, NULL, 0);
    TH_CHECK(bu_tls_write(&t, buf, len) == 0, "%s: write during the delay failed", what);
    expect_answer(&t, t0, want_packet, status, want_id, DELAY_MS * 8 / 10, what);
    bu_tls_close(&t);
    expect_range(first, (uint32_t)bad_at, 1);
    expect_range(first + (uint32_t)bad_at, count + 5 - (uint32_t)bad_at, 0);
}

static void one_invalid(uint8_t *out, size_t *len, int fmt, uint32_t token_index, uint32_t id)
{
    *len = 0;
    bu_encode(fmt, token_index, id, out, len);
}

/* ---- sim A: failures, splits, feedback ------------------------------------ */

static void run_failures(void)
{
    const char *inv = th_path(work, "invalid.txt"), *env = th_path(work, "other-env.txt"),
               *unreg = th_path(work, "unregistered.txt"), *log = th_path(work, "a.log");
    bu_write_tokens(inv, INVALID_FIRST, 10, 0);
    bu_write_tokens(env, OTHER_ENV_FIRST, 10, 0);
    bu_write_tokens(unreg, UNREG_FIRST, UNREG_COUNT, UNREG_TS_MS);
    char delay[16];
    snprintf(delay, sizeof delay, "%d", DELAY_MS);
    const char *extra[] = {"--feedback-listen",
                           "127.0.0.1:0",
                           "--invalid-tokens",
                           inv,
                           "--other-env",
                           env,
                           "--unregistered",
                           unreg,
                           "--binary-error-delay-ms",
                           delay,
                           "--delivery-log",
                           log,
                           NULL};
    bu_sim s;
    bu_spawn_sim(&s, extra, th_path(work, "a.err"));
    uint8_t bad[APNS_BINARY_ENCODED_MAX];
    size_t bad_len;

    /* Enhanced: an --invalid-tokens token at position 10 of 20. */
    one_invalid(bad, &bad_len, APNS_BINARY_ENHANCED, INVALID_FIRST, 0x100 + 10);
    bad_in_middle(s.bin_port, APNS_BINARY_ENHANCED, 0, 20, 0x100, 10, bad, bad_len, 1,
                  APNS_BINARY_STATUS_INVALID_TOKEN, 0x100 + 10, "enhanced, invalid token");

    /* Frame: an --other-env token at position 5. */
    one_invalid(bad, &bad_len, APNS_BINARY_FRAME, OTHER_ENV_FIRST, 0xdead0005);
    bad_in_middle(s.bin_port, APNS_BINARY_FRAME, 100, 20, 0xdead0000, 5, bad, bad_len, 1,
                  APNS_BINARY_STATUS_INVALID_TOKEN, 0xdead0005, "frame, other-environment token");

    /* Simple: an --invalid-tokens token at position 7: silence, then the end. */
    one_invalid(bad, &bad_len, APNS_BINARY_SIMPLE, INVALID_FIRST + 2, 0);
    bad_in_middle(s.bin_port, APNS_BINARY_SIMPLE, 200, 20, 0, 7, bad, bad_len, 0, 0, 0,
                  "simple, invalid token");

    /* Enhanced, malformed: token length 31 -> status 5 with the identifier. */
    one_invalid(bad, &bad_len, APNS_BINARY_ENHANCED, 0, 0x303);
    bad[9] = 0, bad[10] = 31; /* the token length field */
    bad_in_middle(s.bin_port, APNS_BINARY_ENHANCED, 300, 10, 0x300, 3, bad, bad_len, 1,
                  APNS_BINARY_STATUS_INVALID_TOKEN_SIZE, 0x303, "enhanced, token size 31");

    /* Frame stream with an unknown command byte -> 128, identifier 0. */
    static const uint8_t unknown[] = {7, 0, 0, 0, 0, 0, 0, 0};
    bad_in_middle(s.bin_port, APNS_BINARY_FRAME, 400, 10, 1, 2, unknown, sizeof unknown, 1,
                  APNS_BINARY_STATUS_PROTOCOL_ERROR, 0, "frame, unknown command");

    /* Mixed formats on one connection, then an invalid frame (token 5001). */
    {
        static uint8_t buf[8192];
        size_t len = 0;
        for (uint32_t k = 0; k < 9; k++)
            bu_encode((int)(k % 3), 500 + k, 0x500 + k, buf, &len);
        bu_encode(APNS_BINARY_FRAME, INVALID_FIRST + 1, 0x777, buf, &len);
        bu_encode(APNS_BINARY_ENHANCED, 509, 0x509, buf, &len);
        send_expect(s.bin_port, buf, len, 1, APNS_BINARY_STATUS_INVALID_TOKEN, 0x777,
                    DELAY_MS * 8 / 10, "mixed formats, invalid frame");
        expect_range(500, 9, 1);
        expect_range(509, 1, 0);
    }

    /* Notifications split across reads: half a frame, a pause, the rest
     * and a second frame a few bytes per TLS record. */
    {
        uint8_t buf[512];
        size_t len = 0;
        bu_encode(APNS_BINARY_FRAME, 600, 1, buf, &len);
        size_t first_len = len;
        bu_encode(APNS_BINARY_ENHANCED, 601, 2, buf, &len);
        bu_tls t;
        connect_or_fail(&t, s.bin_port, 0);
        TH_CHECK(bu_tls_write(&t, buf, first_len / 2) == 0, "split: write");
        usleep(50000);
        for (size_t off = first_len / 2; off < len; off += 3) {
            size_t n = len - off < 3 ? len - off : 3;
            TH_CHECK(bu_tls_write(&t, buf + off, n) == 0, "split: write");
            if (off % 30 == 0)
                usleep(2000);
        }
        uint8_t x[8];
        TH_CHECK(bu_tls_read(&t, x, sizeof x, 300) < 0, "split: the sim answered valid frames");
        bu_tls_close(&t);
        expect_range(600, 2, 1);
        printf("ok   split notifications: no answer\n");
    }

    /* Feedback: four tokens were rejected with status 8 and no push went to
     * an --unregistered token, so there is nothing to list (Apple's service
     * listed uninstalled apps only, learned from pushes to them). */
    {
        uint8_t buf[256];
        bu_tls t;
        connect_or_fail(&t, s.fb_port, 0);
        int closed = 0;
        size_t n = bu_tls_read_all(&t, buf, sizeof buf, 10000, &closed);
        bu_tls_close(&t);
        TH_CHECK(closed && n == 0, "feedback: %zu bytes after status-8 rejections only, want none",
                 n);
        printf(
            "ok   feedback: status-8 rejections and unpushed --unregistered tokens not listed\n");
    }

    int status = bu_stop_sim(&s);
    TH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sim A did not exit cleanly");
    check_log(log, "sim A");
    TH_CHECK(bu_sim_counter(&s, "binary_error_packets") == 5, "binary_error_packets %lld",
             bu_sim_counter(&s, "binary_error_packets"));
    TH_CHECK(bu_sim_counter(&s, "binary_silent_closes") == 1, "binary_silent_closes %lld",
             bu_sim_counter(&s, "binary_silent_closes"));
    TH_CHECK(bu_sim_counter(&s, "binary_invalid_tokens") == 4, "binary_invalid_tokens %lld",
             bu_sim_counter(&s, "binary_invalid_tokens"));
    TH_CHECK(bu_sim_counter(&s, "feedback_tuples") == 0, "feedback_tuples %lld",
             bu_sim_counter(&s, "feedback_tuples"));
    printf("ok   sim A counters\n");
}

/* ---- sim B: --binary-shutdown-every ----------------------------------------- */

static void run_shutdown(void)
{
    const char *log = th_path(work, "b.log");
    memset(expect, 0, sizeof expect);
    const char *extra[] = {"--binary-shutdown-every", "5", "--delivery-log", log, NULL};
    bu_sim s;
    bu_spawn_sim(&s, extra, th_path(work, "b.err"));
    static const int fmts[] = {APNS_BINARY_FRAME, APNS_BINARY_ENHANCED, APNS_BINARY_SIMPLE};
    static const char *names[] = {"shutdown, frame", "shutdown, enhanced", "shutdown, simple"};
    for (int f = 0; f < 3; f++) {
        uint8_t buf[4096];
        uint32_t first = 1000 + 100 * (uint32_t)f;
        size_t len = build(buf, fmts[f], first, 8, 100, -1, NULL, 0);
        /* Apple: status 10 names the last notification processed (id 104). */
        send_expect(s.bin_port, buf, len, fmts[f] != APNS_BINARY_SIMPLE,
                    APNS_BINARY_STATUS_SHUTDOWN, 104, 0, names[f]);
        expect_range(first, 5, 1);
        expect_range(first + 5, 3, 0);
    }
    int status = bu_stop_sim(&s);
    TH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sim B did not exit cleanly");
    check_log(log, "sim B");
    TH_CHECK(bu_sim_counter(&s, "binary_shutdowns") == 3, "binary_shutdowns %lld",
             bu_sim_counter(&s, "binary_shutdowns"));
}

/* ---- sim C: certificate authentication --------------------------------------- */

static void run_client_cert(void)
{
    const char *log = th_path(work, "c.log");
    memset(expect, 0, sizeof expect);
    const char *extra[] = {"--feedback-listen", "127.0.0.1:0", "--client-ca", ca,
                           "--delivery-log",    log,           NULL};
    bu_sim s;
    bu_spawn_sim(&s, extra, th_path(work, "c.err"));
    uint8_t buf[512];
    size_t len = 0;
    bu_encode(APNS_BINARY_FRAME, 2000, 1, buf, &len);

    /* No certificate: the handshake fails, or (TLS 1.3) the server's alert
     * ends the connection at the first read. Nothing is delivered. */
    bu_tls t;
    if (bu_tls_connect(&t, s.bin_port, ca, NULL, NULL) == 0) {
        (void)bu_tls_write(&t, buf, len);
        int closed = 0;
        size_t n = bu_tls_read_all(&t, buf + 256, 64, 5000, &closed);
        TH_CHECK(closed && n == 0, "no client certificate: connection not refused");
        bu_tls_close(&t);
    }
    printf("ok   --client-ca: no certificate, refused\n");
    if (bu_tls_connect(&t, s.fb_port, ca, NULL, NULL) == 0) {
        int closed = 0;
        size_t n = bu_tls_read_all(&t, buf + 256, 64, 5000, &closed);
        TH_CHECK(closed && n == 0, "feedback without a client certificate: not refused");
        bu_tls_close(&t);
    }

    connect_or_fail(&t, s.bin_port, 1);
    TH_CHECK(bu_tls_write(&t, buf, len) == 0, "client cert: write");
    TH_CHECK(bu_tls_read(&t, buf + 256, 64, 300) < 0, "client cert: unexpected answer");
    bu_tls_close(&t);
    connect_or_fail(&t, s.fb_port, 1);
    int closed = 0;
    size_t n = bu_tls_read_all(&t, buf + 256, 64, 5000, &closed);
    TH_CHECK(closed && n == 0, "feedback with a certificate: want an empty list");
    bu_tls_close(&t);
    expect[2000] = 1;

    int status = bu_stop_sim(&s);
    TH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sim C did not exit cleanly");
    check_log(log, "sim C");
    char topic[300];
    TH_CHECK(bu_log_topic(log, 2000, topic, sizeof topic) == 0 &&
                 strcmp(topic, "com.example.app") == 0,
             "delivery log topic %s, want the certificate's com.example.app", topic);
    TH_CHECK(bu_sim_counter(&s, "tls_failures") >= 1, "tls_failures %lld",
             bu_sim_counter(&s, "tls_failures"));
    printf("ok   --client-ca: the certificate's topic is logged\n");
}

/* ---- --bench ------------------------------------------------------------- */

typedef struct blaster {
    int port;
    uint64_t n;
    const uint8_t *block; /* BLOCK_N frames */
    size_t block_len;
    uint8_t bad[APNS_BINARY_ENCODED_MAX];
    size_t bad_len;
    int64_t t0, t_end;
    int ok;
    pthread_t th;
} blaster;

#define BLOCK_N 1000

static void *blast(void *arg)
{
    blaster *b = arg;
    bu_tls t;
    if (bu_tls_connect(&t, b->port, ca, NULL, NULL) != 0)
        return NULL;
    b->t0 = th_now_ms();
    for (uint64_t sent = 0; sent < b->n; sent += BLOCK_N)
        if (bu_tls_write(&t, b->block, b->block_len) != 0)
            goto out;
    if (bu_tls_write(&t, b->bad, b->bad_len) != 0)
        goto out;
    uint8_t pkt[6];
    int closed = 0;
    size_t got = bu_tls_read_all(&t, pkt, sizeof pkt, 600000, &closed);
    b->t_end = th_now_ms();
    b->ok = got == 6 && pkt[0] == 8 && pkt[1] == 8;
out:
    bu_tls_close(&t);
    return NULL;
}

static int run_bench(uint64_t n, int conns, int threads, int with_log)
{
    const char *inv = th_path(work, "invalid.txt"), *log = th_path(work, "bench.log");
    bu_write_tokens(inv, INVALID_FIRST, 1, 0);
    char th[16];
    snprintf(th, sizeof th, "%d", threads);
    const char *extra[] = {"--threads",
                           th,
                           "--invalid-tokens",
                           inv,
                           "--binary-error-delay-ms",
                           "0",
                           with_log ? "--delivery-log" : NULL,
                           log,
                           NULL};
    bu_sim s;
    bu_spawn_sim(&s, extra, th_path(work, "bench.err"));

    static uint8_t block[BLOCK_N * 128];
    size_t block_len = 0;
    for (uint32_t i = 0; i < BLOCK_N; i++)
        bu_encode(APNS_BINARY_FRAME, i, i + 1, block, &block_len);
    blaster *b = calloc((size_t)conns, sizeof *b);
    uint64_t per = (n + BLOCK_N - 1) / BLOCK_N * BLOCK_N;
    for (int i = 0; i < conns; i++) {
        b[i].port = s.bin_port;
        b[i].n = per;
        b[i].block = block;
        b[i].block_len = block_len;
        one_invalid(b[i].bad, &b[i].bad_len, APNS_BINARY_FRAME, INVALID_FIRST, 0xffff);
        pthread_create(&b[i].th, NULL, blast, &b[i]);
    }
    int64_t t0 = INT64_MAX, t1 = 0;
    int ok = 1;
    for (int i = 0; i < conns; i++) {
        pthread_join(b[i].th, NULL);
        ok &= b[i].ok;
        if (b[i].t0 < t0)
            t0 = b[i].t0;
        if (b[i].t_end > t1)
            t1 = b[i].t_end;
    }
    bu_stop_sim(&s);
    long long accepted = bu_sim_counter(&s, "binary_accepted");
    double secs = (double)(t1 - t0) / 1000.0;
    printf("binary gateway: %d connection(s) x %llu frame-format notifications (%zu bytes each), "
           "sim --threads %d%s: %.3f s, %.0f notifications/s; sim accepted %lld%s\n",
           conns, (unsigned long long)per, block_len / BLOCK_N, threads,
           with_log ? ", delivery log on" : "", secs, (double)per * conns / secs, accepted,
           ok ? "" : " (SOME CONNECTIONS FAILED)");
    free(b);
    return ok && accepted == (long long)(per * (uint64_t)conns) ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    work = th_tmpdir("binsim");
    ca = th_cert("ca.pem");
    cli_cert = th_cert("client.pem");
    cli_key = th_cert("client.key");

    if (argc >= 3 && strcmp(argv[1], "--bench") == 0) {
        int conns = argc > 3 ? atoi(argv[3]) : 1, threads = argc > 4 ? atoi(argv[4]) : 1;
        int with_log = getenv("BENCH_LOG") != NULL;
        return run_bench(strtoull(argv[2], NULL, 10), conns > 0 ? conns : 1,
                         threads > 0 ? threads : 1, with_log);
    }
    run_failures();
    run_shutdown();
    run_client_cert();
    printf("all binary gateway and feedback checks passed\n");
    th_rmtree(work);
    return 0;
}
