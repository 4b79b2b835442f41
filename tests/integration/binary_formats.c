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
 * and another fraction to uninstalled apps (the sim's --unregistered list;
 * both spread pseudo-randomly, the same ones for every format). After the
 * run the provider reads the feedback service (apns_feedback). Then a table:
 *
 *   offered          notifications submitted
 *   delivered        distinct notifications in the sim's delivery log
 *   reported invalid results REJECTED by the client (status 8 from the
 *                    sim's error packet)
 *   lost             valid notifications never delivered (neither invalid
 *                    nor uninstalled)
 *   duplicated       notifications delivered more than once
 *   uninstalled      notifications to uninstalled apps, and how many of
 *                    those tokens the feedback service listed: the gateway
 *                    accepts them without a word (no error packet, no
 *                    close, not delivered), so feedback is the only way a
 *                    provider learns of them
 *
 * The simple format runs as the naive provider Apple's documentation
 * produced (binary_simple + binary_assume_delivered): it believes what it
 * wrote was delivered, so the notifications the gateway discarded after a
 * bad token are lost without a word. Enhanced and frame use the sent list:
 * the error packet names the bad notification, everything after it is
 * resent on a new connection.
 *
 * usage: binary_formats [--count N] [--invalid-pct P] [--uninstalled-pct P] [--delay-ms MS]
 *                       [--connections C] [--max-pending N] [--window-ms MS]
 *                       [--formats simple,enhanced,frame]
 *                       [--check]
 *   defaults: 100000 notifications, 1 % invalid, 1 % uninstalled, 500 ms (Apple's delay),
 *   1 connection, all three formats; --max-pending and --window-ms set the
 *   client's slots and accept window (its defaults otherwise). The "rate"
 *   column is offered / time.
 *   --check: exit 1 unless the enhanced and frame formats lose nothing,
 *   duplicate nothing, report exactly the invalid ones (one error packet
 *   each) and find every uninstalled app's token in the feedback service,
 *   the simple format loses some (the demonstration must be real), and in
 *   every format no uninstalled app's notification is delivered, rejected
 *   or listed twice, and feedback lists nothing else. ctest runs this.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "apns/client.h"
#include "apns/feedback.h"
#include "binary_util.h"
#include "harness.h"
#include "push_run.h"

/* Per notification: the kind of its token. */
enum { TOK_VALID = 0, TOK_INVALID = 1, TOK_UNINSTALLED = 2 };

typedef struct run {
    pr_run pr;
    const uint8_t *kind; /* per notification: TOK_* */
    uint8_t *outcome;    /* per notification: 0 none, 1 accepted, 2 rejected, 3 failed */
    uint32_t accepted, rejected, failed, rejected_wrong, callbacks_extra;
} run;

typedef struct row {
    const char *name;
    uint32_t offered, invalid, delivered, reported, lost, duplicated, failed, invalid_delivered;
    uint32_t uninstalled, uninstalled_delivered, in_feedback, feedback_wrong;
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
        if (r->kind[i] != TOK_INVALID || res->binary_status != 8 ||
            res->action != APNS_ACTION_DEAD_TOKEN)
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

/* ---- the feedback service, read as a provider reads it ---------------------- */

typedef struct fb_read {
    const char *const *hex; /* sorted hex tokens of the uninstalled notifications */
    size_t n;
    uint8_t *seen; /* per hex[] entry: how often listed */
    uint32_t wrong;
    int done, err;
} fb_read;

static int cmp_hex(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void on_fb_item(apns_feedback *f, const apns_feedback_item *it, void *ud)
{
    fb_read *r = ud;
    const char *const *hit = bsearch(&it->token, r->hex, r->n, sizeof *r->hex, cmp_hex);
    if (!hit || r->seen[hit - r->hex]++)
        r->wrong++; /* not an uninstalled app's token, or listed twice */
}

static void on_fb_done(apns_feedback *f, size_t count, int err, const char *detail, void *ud)
{
    fb_read *r = ud;
    r->done = 1;
    r->err = err;
    if (err)
        fprintf(stderr, "feedback: %s: %s\n", apns_err_name(err), detail);
}

/* One feedback read: how many uninstalled tokens it listed (out->in_feedback)
 * and how many tuples were anything else (out->feedback_wrong). */
static void read_feedback(row *out, struct event_base *base, int port, const char *ca,
                          const char *const *hex, size_t n)
{
    fb_read r = {.hex = hex, .n = n, .seen = calloc(n ? n : 1, 1)};
    apns_feedback_opts o;
    apns_feedback_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = (uint16_t)port;
    o.cert_file = th_cert("client.pem");
    o.key_file = th_cert("client.key");
    o.ca_file = ca;
    o.on_item = on_fb_item;
    o.on_done = on_fb_done;
    o.ud = &r;
    apns_feedback *f = NULL;
    char detail[256] = "";
    int rc = apns_feedback_new(&f, base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_feedback_new: %s: %s", apns_strerror(rc), detail);
    while (!r.done)
        event_base_loop(base, EVLOOP_ONCE);
    apns_feedback_free(f);
    TH_CHECK(r.err == 0, "the feedback read failed");
    for (size_t k = 0; k < n; k++)
        out->in_feedback += r.seen[k] > 0;
    out->feedback_wrong = r.wrong;
    free(r.seen);
}

typedef struct tuning {
    int delay_ms;
    unsigned connections;
    unsigned max_pending;     /* 0 = the client's default */
    int64_t accept_window_ms; /* 0 = the client's default */
} tuning;

static void run_format(row *out, const char *name, uint32_t count, const uint8_t *kind,
                       const char *const *uninstalled_hex, const tuning *tu, const char *dir)
{
    int delay_ms = tu->delay_ms;
    unsigned connections = tu->connections;
    const char *ca = th_cert("ca.pem");
    char log[700], err[700], delay[16], inv[700], unreg[700];
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    snprintf(err, sizeof err, "%s/%s.err", dir, name);
    snprintf(delay, sizeof delay, "%d", delay_ms);
    snprintf(inv, sizeof inv, "%s/invalid.txt", dir);
    snprintf(unreg, sizeof unreg, "%s/uninstalled.txt", dir);
    const char *extra[] = {"--delivery-log",
                           log,
                           "--client-ca",
                           ca,
                           "--invalid-tokens",
                           inv,
                           "--unregistered",
                           unreg,
                           "--feedback-listen",
                           "127.0.0.1:0",
                           "--binary-error-delay-ms",
                           delay,
                           NULL};
    bu_sim s;
    bu_spawn_sim(&s, extra, err);

    run r = {0};
    r.pr.count = count;
    r.pr.log_level = APNS_LOG_ERROR;
    r.pr.on_result = on_result;
    r.pr.ud = &r;
    r.kind = kind;
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
    uint32_t ninvalid = 0, nuninstalled = 0;
    for (uint32_t i = 0; i < count; i++) {
        ninvalid += kind[i] == TOK_INVALID;
        nuninstalled += kind[i] == TOK_UNINSTALLED;
    }
    int64_t limit_ms = 120000 + (int64_t)ninvalid * (delay_ms + 200) * 2 / connections;
    double secs = (double)pr_run_all(&r.pr, limit_ms) / 1000.0;
    apns_client_stats st;
    apns_client_stats_get(r.pr.client, &st);
    apns_client_free(r.pr.client);
    memset(out, 0, sizeof *out);
    read_feedback(out, r.pr.base, s.fb_port, ca, uninstalled_hex, nuninstalled);
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
    out->name = name;
    out->offered = count;
    out->invalid = ninvalid;
    out->uninstalled = nuninstalled;
    for (uint32_t i = 0; i < count; i++) {
        if (got[i])
            out->delivered++;
        if (got[i] > 1)
            out->duplicated++;
        if (kind[i] == TOK_INVALID && got[i])
            out->invalid_delivered++;
        if (kind[i] == TOK_UNINSTALLED && got[i])
            out->uninstalled_delivered++;
        if (kind[i] == TOK_VALID && !got[i])
            out->lost++;
    }
    TH_CHECK(out->invalid_delivered == 0, "%s: the sim delivered %u invalid tokens", name,
             out->invalid_delivered);
    TH_CHECK(out->uninstalled_delivered == 0,
             "%s: the sim delivered %u notifications to "
             "uninstalled apps",
             name, out->uninstalled_delivered);
    TH_CHECK(out->feedback_wrong == 0,
             "%s: the feedback service listed %u tuples that are not "
             "uninstalled apps' tokens, or listed one twice",
             name, out->feedback_wrong);
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
    double pct = 1.0, upct = 1.0;
    int check = 0;
    tuning tu = {.delay_ms = 500, .connections = 1};
    const char *formats = "simple,enhanced,frame";
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--count") && a + 1 < argc)
            count = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--invalid-pct") && a + 1 < argc)
            pct = atof(argv[++a]);
        else if (!strcmp(argv[a], "--uninstalled-pct") && a + 1 < argc)
            upct = atof(argv[++a]);
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
                "usage: %s [--count N] [--invalid-pct P] [--uninstalled-pct P] [--delay-ms MS]\n"
                "          [--connections C]\n"
                "          [--max-pending N] [--window-ms MS] [--formats simple,enhanced,frame]\n"
                "          [--check]\n",
                argv[0]);
            return 2;
        }
    }
    if (count == 0 || tu.connections == 0)
        return 2;

    const char *dir = th_tmpdir("binformats");
    uint8_t *kind = calloc(count, 1);
    const char **uninstalled_hex = calloc(count, sizeof *uninstalled_hex);
    char *hexes = malloc((size_t)count * 65);
    TH_CHECK(kind && uninstalled_hex && hexes, "out of memory");
    char path[700], upath[700];
    snprintf(path, sizeof path, "%s/invalid.txt", dir);
    snprintf(upath, sizeof upath, "%s/uninstalled.txt", dir);
    FILE *f = fopen(path, "w"), *uf = fopen(upath, "w");
    TH_CHECK(f != NULL && uf != NULL, "cannot write %s", dir);
    uint64_t threshold = (uint64_t)(pct / 100.0 * 18446744073709551615.0);
    uint64_t uthreshold = (uint64_t)(upct / 100.0 * 18446744073709551615.0);
    uint32_t ninvalid = 0, nuninstalled = 0;
    for (uint32_t i = 0; i < count; i++) {
        char *t = hexes + (size_t)i * 65;
        th_token(i, t);
        if (pct > 0 && mix(i ^ 0x5eed) <= threshold) {
            fprintf(f, "%s\n", t);
            kind[i] = TOK_INVALID;
            ninvalid++;
        } else if (upct > 0 && mix(i ^ 0x90e) <= uthreshold) {
            fprintf(uf, "%s\n", t);
            kind[i] = TOK_UNINSTALLED;
            uninstalled_hex[nuninstalled++] = t;
        }
    }
    TH_CHECK(fclose(f) == 0 && fclose(uf) == 0, "cannot write %s", dir);
    qsort(uninstalled_hex, nuninstalled, sizeof *uninstalled_hex, cmp_hex);

    static const char *all[] = {"simple", "enhanced", "frame"};
    row rows[3];
    int nrows = 0;
    for (int k = 0; k < 3; k++)
        if (strstr(formats, all[k]))
            run_format(&rows[nrows++], all[k], count, kind, uninstalled_hex, &tu, dir);

    printf("%u notifications, %u (%.2f%%) with invalid tokens, %u (%.2f%%) to uninstalled apps; "
           "apns-sim --binary-error-delay-ms %d; apns_client over TLS, %u connection%s\n\n",
           count, ninvalid, 100.0 * ninvalid / count, nuninstalled, 100.0 * nuninstalled / count,
           tu.delay_ms, tu.connections, tu.connections == 1 ? "" : "s");
    printf("| format   | offered | delivered | reported invalid |   lost | duplicated | "
           "connections |    time |      rate | uninstalled: in feedback |\n");
    printf("|----------|--------:|----------:|-----------------:|-------:|-----------:|"
           "------------:|--------:|----------:|-------------------------:|\n");
    for (int k = 0; k < nrows; k++) {
        row *w = &rows[k];
        char fb[32];
        snprintf(fb, sizeof fb, "%u of %u", w->in_feedback, w->uninstalled);
        printf("| %-8s | %7u | %9u | %16u | %6u | %10u | %11llu | %5.1f s | %7.0f/s | %24s |\n",
               w->name, w->offered, w->delivered, w->reported, w->lost, w->duplicated,
               (unsigned long long)w->connects, w->seconds,
               w->seconds > 0 ? w->offered / w->seconds : 0.0, fb);
    }

    int bad = 0;
    if (check) {
        uint32_t valid = count - ninvalid - nuninstalled;
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
                w->delivered != valid || w->error_packets != ninvalid ||
                w->in_feedback != nuninstalled) {
                fprintf(stderr,
                        "FAIL: %s: lost %u, duplicated %u, reported %u of %u invalid (%llu error "
                        "packets), failed %u, delivered %u of %u valid, %u of %u uninstalled "
                        "apps' tokens in feedback\n",
                        w->name, w->lost, w->duplicated, w->reported, ninvalid,
                        (unsigned long long)w->error_packets, w->failed, w->delivered, valid,
                        w->in_feedback, nuninstalled);
                bad = 1;
            }
        }
        if (!bad)
            printf("\nok: enhanced and frame delivered every valid notification exactly once, "
                   "reported every invalid one (one error packet each) and learned every "
                   "uninstalled app from the feedback service alone; simple lost some\n");
    }
    free(kind);
    free(uninstalled_hex);
    free(hexes);
    if (!bad)
        th_rmtree(dir);
    return bad;
}
