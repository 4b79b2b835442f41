/*
 * binary_formats.c - "show the difference": the same workload over the
 * legacy binary interface's simple, enhanced and frame formats, through
 * apns_client (APNS_TRANSPORT_BINARY, certificate auth) against apns-sim's
 * binary gateway, which fails the way APNs did: after a bad token it reads
 * and discards everything for --binary-error-delay-ms, then sends the error
 * packet (enhanced, frame) or nothing (simple) and closes.
 *
 * For each format: a fresh apns-sim (its own delivery log), N notifications
 * (token th_token(i), one per notification, so the delivery log identifies
 * them), a fraction of them with tokens on the sim's --invalid-tokens list
 * (spread pseudo-randomly, the same ones for every format). Then a table:
 *
 *   offered          notifications submitted
 *   delivered        distinct notifications in the sim's delivery log
 *   reported invalid results REJECTED by the client (status 8 from the
 *                    sim's error packet)
 *   lost             valid notifications never delivered
 *   duplicated       notifications delivered more than once
 *
 * The simple format runs as the naive provider Apple's documentation
 * produced (binary_simple + binary_assume_delivered): it believes what it
 * wrote was delivered, so the notifications the gateway discarded after a
 * bad token are lost without a word. Enhanced and frame use the sent list:
 * the error packet names the bad notification, everything after it is
 * resent on a new connection.
 *
 * usage: binary_formats [--count N] [--invalid-pct P] [--delay-ms MS]
 *                       [--connections C] [--max-pending N] [--window-ms MS]
 *                       [--formats simple,enhanced,frame]
 *                       [--check]
 *   defaults: 100000 notifications, 1 % invalid, 500 ms (Apple's delay),
 *   1 connection, all three formats; --max-pending and --window-ms set the
 *   client's slots and accept window (its defaults otherwise). The "rate"
 *   column is offered / time.
 *   --check: exit 1 unless the enhanced and frame formats lose nothing,
 *   duplicate nothing and report exactly the invalid ones, and the simple
 *   format loses some (the demonstration must be real). ctest runs this.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "apns/client.h"
#include "binary_util.h"
#include "harness.h"
#include "push_run.h"

typedef struct run {
    pr_run pr;
    const uint8_t *invalid; /* per notification: token on the invalid list */
    uint8_t *outcome;       /* per notification: 0 none, 1 accepted, 2 rejected, 3 failed */
    uint32_t accepted, rejected, failed, rejected_wrong, callbacks_extra;
} run;

typedef struct row {
    const char *name;
    uint32_t offered, invalid, delivered, reported, lost, duplicated, failed, invalid_delivered;
    uint64_t connects, error_packets, resent;
    double seconds;
} row;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int on_result(pr_run *pr, uint32_t i, const apns_result *res)
{
    run *r = pr->ud;
    if (r->outcome[i]) {
        r->callbacks_extra++;
        return 0;
    }
    switch (res->outcome) {
    case APNS_OUTCOME_ACCEPTED:
        r->outcome[i] = 1;
        r->accepted++;
        break;
    case APNS_OUTCOME_REJECTED:
        r->outcome[i] = 2;
        r->rejected++;
        if (!r->invalid[i] || res->binary_status != 8 || res->action != APNS_ACTION_DEAD_TOKEN)
            r->rejected_wrong++;
        break;
    default:
        r->outcome[i] = 3;
        r->failed++;
        if (getenv("APNS_TEST_VERBOSE"))
            fprintf(stderr, "notification %u failed: %s\n", i, apns_err_name(res->error));
        break;
    }
    return 1;
}

typedef struct tuning {
    int delay_ms;
    unsigned connections;
    unsigned max_pending;     /* 0 = the client's default */
    int64_t accept_window_ms; /* 0 = the client's default */
} tuning;

static void run_format(row *out, const char *name, uint32_t count, const uint8_t *invalid,
                       const tuning *tu, const char *dir)
{
    int delay_ms = tu->delay_ms;
    unsigned connections = tu->connections;
    const char *ca = th_cert("ca.pem"), *inv = th_path(dir, "invalid.txt");
    char log[700], err[700], delay[16];
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    snprintf(err, sizeof err, "%s/%s.err", dir, name);
    snprintf(delay, sizeof delay, "%d", delay_ms);
    const char *extra[] = {
        "--delivery-log",          log,   "--client-ca", ca, "--invalid-tokens", inv,
        "--binary-error-delay-ms", delay, NULL};
    bu_sim s;
    bu_spawn_sim(&s, extra, err);

    run r = {0};
    r.pr.count = count;
    r.pr.log_level = APNS_LOG_ERROR;
    r.pr.on_result = on_result;
    r.pr.ud = &r;
    r.invalid = invalid;
    r.outcome = calloc(count, 1);
    r.pr.base = event_base_new();
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = (uint16_t)s.bin_port;
    o.cert_file = th_cert("client.pem");
    o.key_file = th_cert("client.key");
    o.ca_file = ca;
    o.connections = connections;
    o.max_pending = tu->max_pending;
    o.binary_accept_window_ms = tu->accept_window_ms;
    o.transport = APNS_TRANSPORT_BINARY;
    if (strcmp(name, "simple") == 0) {
        o.binary_simple = 1;
        o.binary_assume_delivered = 1; /* the naive provider */
    } else {
        o.binary_format = strcmp(name, "enhanced") == 0 ? APNS_BINARY_ENHANCED : APNS_BINARY_FRAME;
    }
    pr_client_opts(&r.pr, &o);
    char detail[256] = "";
    int rc = apns_client_new(&r.pr.client, r.pr.base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_client_new: %s: %s", apns_strerror(rc), detail);

    /* Generous: each bad token costs one delay on one connection. */
    uint32_t ninvalid = 0;
    for (uint32_t i = 0; i < count; i++)
        ninvalid += invalid[i];
    int64_t limit_ms = 120000 + (int64_t)ninvalid * (delay_ms + 200) * 2 / connections;
    double secs = (double)pr_run_all(&r.pr, limit_ms) / 1000.0;
    apns_client_stats st;
    apns_client_stats_get(r.pr.client, &st);
    apns_client_free(r.pr.client);
    event_base_free(r.pr.base);
    int status = bu_stop_sim(&s);
    TH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: apns-sim did not exit cleanly",
             name);

    size_t foreign = 0;
    uint8_t *got = bu_log_counts(log, count, &foreign);
    TH_CHECK(foreign == 0, "%s: %zu delivery-log lines name no notification of this run", name,
             foreign);
    TH_CHECK(r.callbacks_extra == 0, "%s: %u notifications got more than one result", name,
             r.callbacks_extra);
    TH_CHECK(r.rejected_wrong == 0, "%s: %u rejections were not status 8 for an invalid token",
             name, r.rejected_wrong);
    memset(out, 0, sizeof *out);
    out->name = name;
    out->offered = count;
    out->invalid = ninvalid;
    for (uint32_t i = 0; i < count; i++) {
        if (got[i])
            out->delivered++;
        if (got[i] > 1)
            out->duplicated++;
        if (invalid[i] && got[i])
            out->invalid_delivered++;
        if (!invalid[i] && !got[i])
            out->lost++;
    }
    TH_CHECK(out->invalid_delivered == 0, "%s: the sim delivered %u invalid tokens", name,
             out->invalid_delivered);
    out->reported = r.rejected;
    out->failed = r.failed;
    out->connects = st.connects;
    out->error_packets = st.error_packets;
    out->resent = st.resent;
    out->seconds = secs;
    free(got);
    free(r.outcome);
    fprintf(stderr, "%s: done in %.1f s, %llu connections\n", name, secs,
            (unsigned long long)st.connects);
}

int main(int argc, char **argv)
{
    uint32_t count = 100000;
    double pct = 1.0;
    int check = 0;
    tuning tu = {.delay_ms = 500, .connections = 1};
    const char *formats = "simple,enhanced,frame";
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--count") && a + 1 < argc)
            count = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--invalid-pct") && a + 1 < argc)
            pct = atof(argv[++a]);
        else if (!strcmp(argv[a], "--delay-ms") && a + 1 < argc)
            tu.delay_ms = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--connections") && a + 1 < argc)
            tu.connections = (unsigned)atoi(argv[++a]);
        else if (!strcmp(argv[a], "--max-pending") && a + 1 < argc)
            tu.max_pending = (unsigned)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--window-ms") && a + 1 < argc)
            tu.accept_window_ms = atoll(argv[++a]);
        else if (!strcmp(argv[a], "--formats") && a + 1 < argc)
            formats = argv[++a];
        else if (!strcmp(argv[a], "--check"))
            check = 1;
        else {
            fprintf(
                stderr,
                "usage: %s [--count N] [--invalid-pct P] [--delay-ms MS] [--connections C]\n"
                "          [--max-pending N] [--window-ms MS] [--formats simple,enhanced,frame]\n"
                "          [--check]\n",
                argv[0]);
            return 2;
        }
    }
    if (count == 0 || tu.connections == 0)
        return 2;

    const char *dir = th_tmpdir("binformats");
    uint8_t *invalid = calloc(count, 1);
    char path[700];
    snprintf(path, sizeof path, "%s/invalid.txt", dir);
    FILE *f = fopen(path, "w");
    TH_CHECK(f != NULL, "cannot write %s", path);
    uint64_t threshold = (uint64_t)(pct / 100.0 * 18446744073709551615.0);
    uint32_t ninvalid = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (pct > 0 && mix(i ^ 0x5eed) <= threshold) {
            char t[65];
            th_token(i, t);
            fprintf(f, "%s\n", t);
            invalid[i] = 1;
            ninvalid++;
        }
    }
    fclose(f);

    static const char *all[] = {"simple", "enhanced", "frame"};
    row rows[3];
    int nrows = 0;
    for (int k = 0; k < 3; k++)
        if (strstr(formats, all[k]))
            run_format(&rows[nrows++], all[k], count, invalid, &tu, dir);

    printf("%u notifications, %u (%.2f%%) with invalid tokens; apns-sim --binary-error-delay-ms "
           "%d; apns_client over TLS, %u connection%s\n\n",
           count, ninvalid, 100.0 * ninvalid / count, tu.delay_ms, tu.connections,
           tu.connections == 1 ? "" : "s");
    printf("| format   | offered | delivered | reported invalid |   lost | duplicated | "
           "connections |    time |      rate |\n");
    printf("|----------|--------:|----------:|-----------------:|-------:|-----------:|"
           "------------:|--------:|----------:|\n");
    for (int k = 0; k < nrows; k++) {
        row *w = &rows[k];
        printf("| %-8s | %7u | %9u | %16u | %6u | %10u | %11llu | %5.1f s | %7.0f/s |\n", w->name,
               w->offered, w->delivered, w->reported, w->lost, w->duplicated,
               (unsigned long long)w->connects, w->seconds,
               w->seconds > 0 ? w->offered / w->seconds : 0.0);
    }

    int bad = 0;
    if (check) {
        for (int k = 0; k < nrows; k++) {
            row *w = &rows[k];
            if (strcmp(w->name, "simple") == 0) {
                if (ninvalid > 0 && w->lost == 0) {
                    fprintf(stderr, "FAIL: simple format lost nothing: the demonstration is not "
                                    "real\n");
                    bad = 1;
                }
                continue;
            }
            if (w->lost || w->duplicated || w->reported != ninvalid || w->failed ||
                w->delivered != count - ninvalid) {
                fprintf(stderr,
                        "FAIL: %s: lost %u, duplicated %u, reported %u of %u invalid, failed %u, "
                        "delivered %u of %u valid\n",
                        w->name, w->lost, w->duplicated, w->reported, ninvalid, w->failed,
                        w->delivered, count - ninvalid);
                bad = 1;
            }
        }
        if (!bad)
            printf("\nok: enhanced and frame delivered every valid notification exactly once "
                   "and reported every invalid one; simple lost some\n");
    }
    free(invalid);
    if (!bad)
        th_rmtree(dir);
    return bad;
}
