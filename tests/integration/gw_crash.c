/*
 * gw_crash.c - kill -9 of apnsd in the middle of the end-to-end run: nothing
 * accepted is lost, and the duplicates stay inside the documented window.
 *
 * The shape of gw_e2e, smaller: 50,000 tokens in POST /v1/push batches of
 * 500 plus one 50,000-token broadcast, 1% unregistered, GOAWAY every 1000
 * streams, 2% 503s. Once the sim's delivery log shows 30% of the valid
 * tokens delivered, apnsd gets SIGKILL; it is started again on the same
 * database and the same sim, and killed once more at 65%; the third start
 * finishes the work.
 *
 * Checks:
 *   - each kill came in the middle: some deliveries logged, not all;
 *   - every job reaches its final state with exact counts (accepted = valid,
 *     rejected = unregistered) and per-token outcomes, across the restarts;
 *   - every valid token is in the delivery log AT LEAST once, no
 *     unregistered token ever is;
 *   - every delivery of a token carries the same apns-id (the one derived
 *     from its job's apns_id and its index), so every duplicate is
 *     recognisable by apns-id;
 *   - duplicates are counted and printed, and bounded by the documented
 *     window (docs/queue.md: answered by APNs, outcome not yet recorded,
 *     "only for the chunks that were being sent at that moment"): per kill
 *     at most the chunks the dispatcher may hold leased, 8 chunks of 1000
 *     tokens with this config (2 connections x 1000 streams; dispatch.c:
 *     cap = max(8, 2 * in-flight window in chunks + 2));
 *   - the dead-token registry lists every unregistered token once, with the
 *     sim's timestamp.
 *
 * usage: gw_crash [--batch N] [--broadcast N] [--kills K]   (APNS_E2E_SCALE applies)
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gw_work.h"

#define UNREG_TS_BASE  1700000000000LL
#define CHUNK_TOKENS   1000
#define LEASED_CHUNKS  8 /* dispatch.c count_apps() for 2 x 1000 slots, chunk 1000 */
#define DUP_BOUND_KILL (LEASED_CHUNKS * CHUNK_TOKENS)

int main(int argc, char **argv)
{
    uint32_t batch = gw_scaled(50000, 2000), bcast = gw_scaled(50000, 2000), kills = 2;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--batch") && a + 1 < argc)
            batch = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--broadcast") && a + 1 < argc)
            bcast = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--kills") && a + 1 < argc)
            kills = (uint32_t)strtoul(argv[++a], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--batch N] [--broadcast N] [--kills K]\n", argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    gw_files f;
    gw_files_init(&f, "crash");
    fprintf(stderr, "gw_crash: %u tokens in batches + a %u-token broadcast, %u kill -9; dir %s\n",
            batch, bcast, kills, f.dir);

    uint32_t total = batch + bcast;
    gw_ledger *l = gw_ledger_new(total);
    gw_ledger_unregister(l, 100, UNREG_TS_BASE, f.unreg);
    gw_proc sim;
    const char *flags[] = {"--unregistered", f.unreg,       "--goaway-every",
                           "1000",           "--fail-rate", "503:0.02",
                           "--seed",         "11",          NULL};
    gw_start_sim(&sim, f.dir, f.log, flags);
    gw_write_config(f.ini, sim.port, f.db, "drain_timeout = 30s\n", "chunk_tokens = 1000\n",
                    "connections = 2\nmax_in_flight = 0\nretry_attempts = 12\n"
                    "retry_backoff = 10ms\nretry_backoff_max = 1s\n");

    gw_proc gw;
    gw_start_apnsd(&gw, f.ini, f.err);
    gw_http *h = gw_http_new(gw.host, gw.port, 4);
    gw_work w;
    gw_work_init(&w, l);
    gw_work_submit_batches(&w, h, 0, batch, 500);
    gw_work_submit_broadcast(&w, h, batch, bcast, NULL);
    uint32_t valid = gw_work_valid(&w), unreg_n = gw_work_unreg(&w);
    fprintf(stderr, "submitted %u tokens (%zu jobs): %u valid, %u unregistered\n", total, w.njobs,
            valid, unreg_n);

    for (uint32_t k = 0; k < kills; k++) {
        /* Kill at 30%, 65%, ... of the valid tokens delivered. */
        uint64_t at = (uint64_t)valid * (30 + 35 * k) / 100, seen = 0;
        int64_t t0 = th_now_ms();
        while ((seen = gw_count_lines(f.log)) < at) {
            GW_CHECK(th_now_ms() - t0 < 120000, "only %llu of %u delivered after 120 s",
                     (unsigned long long)seen, valid);
            gw_sleep_ms(10);
        }
        gw_signal(&gw, SIGKILL);
        int st = gw_wait_exit(&gw, 10000);
        GW_CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                 "apnsd did not die of SIGKILL (status %d)", st);
        gw_sleep_ms(300); /* the sim flushes its log every 100 ms */
        uint64_t after = gw_count_lines(f.log);
        fprintf(stderr,
                "kill -9 #%u with %llu delivery-log lines (%llu when the kill was "
                "decided); valid tokens %u\n",
                k + 1, (unsigned long long)after, (unsigned long long)seen, valid);
        GW_CHECK(after < valid, "the kill came too late: everything was delivered already");
        gw_http_free(h);
        /* Restart on the same database (and the same sim). */
        gw_start_apnsd(&gw, f.ini, f.err);
        h = gw_http_new(gw.host, gw.port, 4);
    }

    gw_work_wait_depth(h, 200000);
    gw_work_check_jobs(&w, h, 60000);
    uint32_t dead = gw_work_check_dead_tokens(&w, h, GW_APP, GW_KEY);
    GW_CHECK(dead == unreg_n, "%u dead tokens listed, %u unregistered submitted", dead, unreg_n);
    int st = gw_stop(&gw, 30000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apnsd exit status %d after SIGTERM", st);
    gw_http_free(h);
    st = gw_stop(&sim, 10000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apns-sim exit status %d", st);

    gw_tally t = gw_ledger_report(l, f.log);
    GW_CHECK(t.missing == 0, "%u accepted notifications lost", t.missing);
    GW_CHECK(t.unreg_delivered == 0, "%u unregistered tokens delivered", t.unreg_delivered);
    GW_CHECK(l->wrong_id == 0,
             "%u deliveries with an apns-id other than the token's first one (duplicates must "
             "carry the same apns-id)",
             l->wrong_id);
    GW_CHECK(l->strays == 0 && t.unsubmitted_delivered == 0, "%u stray deliveries", l->strays);
    GW_CHECK(t.dups <= kills * DUP_BOUND_KILL,
             "%u duplicates after %u kills; the documented window allows at most %u per kill",
             t.dups, kills, DUP_BOUND_KILL);
    printf("gw_crash: %u notifications, %u kill -9: nothing lost; %u duplicates (bound %u per "
           "kill), each with its first apns-id\n",
           total, kills, t.dups, DUP_BOUND_KILL);
    gw_work_free(&w);
    gw_ledger_free(l);
    th_rmtree(f.dir);

    return 0;
}
