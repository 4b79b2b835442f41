/*
 * sim_zero_loss.c - the foundation's proof: libapns loses nothing and sends
 * nothing twice while apns-sim misbehaves the way APNs does.
 *
 * Starts apns-sim (TLS, token auth) with the fault flags given after "--",
 * pushes COUNT notifications through apns_client with token auth, where
 * every UNREG-th token is on the sim's unregistered list, then checks:
 *   - every notification got exactly one result callback;
 *   - every valid one was ACCEPTED, every unregistered one REJECTED with
 *     410 Unregistered and the timestamp from the sim's file;
 *   - the sim's delivery log holds every valid notification exactly once
 *     and no unregistered one;
 *   - the faults really happened (GOAWAYs seen, retries made), so a quiet
 *     run cannot pass for a robust one.
 *
 * usage: sim_zero_loss COUNT UNREG CONNECTIONS [--expect-goaways] [--expect-retries]
 *                      [--expect-resent] [--allow-dups] [--stream-timeout MS] -- SIM_FLAGS...
 *
 * --allow-dups is for abortive connection resets only: an answer the sim
 * wrote but the kernel discarded with the RST never reaches the client, so
 * the client resends a notification the sim already logged. That is the
 * documented at-least-once window; the count is printed, loss still fails.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/client.h"
#include "apns/jwt.h"
#include "harness.h"
#include "push_run.h"

#define UNREG_TS_MS 1700000000123LL

typedef struct run {
    pr_run pr;
    uint32_t unreg_every;
    uint8_t *calls; /* result callbacks per notification */
    uint8_t *accepted;
    int failures;
} run;

static int is_unreg(const run *r, uint32_t i)
{
    return r->unreg_every && i % r->unreg_every == r->unreg_every - 1;
}

static void fill(pr_run *pr, uint32_t i, apns_notification *n)
{
    char id[37];
    th_apns_id(i, id);
    n->topic = "com.example.app";
    n->push_type = APNS_PUSH_ALERT;
    memcpy(n->apns_id, id, sizeof id);
}

static int on_result(pr_run *pr, uint32_t i, const apns_result *res)
{
    run *r = pr->ud;
    r->calls[i]++;
    char id[37];
    th_apns_id(i, id);
    if (strcmp(res->apns_id, id) != 0) {
        fprintf(stderr, "notification %u: apns-id %s, want %s\n", i, res->apns_id, id);
        r->failures++;
    }
    if (is_unreg(r, i)) {
        if (res->outcome != APNS_OUTCOME_REJECTED || res->status != 410 ||
            res->reason != APNS_REASON_UNREGISTERED || res->timestamp_ms != UNREG_TS_MS ||
            res->action != APNS_ACTION_DEAD_TOKEN) {
            fprintf(stderr,
                    "notification %u (unregistered): outcome %d status %d reason %s ts %lld\n", i,
                    res->outcome, res->status, res->reason_str, (long long)res->timestamp_ms);
            r->failures++;
        }
    } else if (res->outcome != APNS_OUTCOME_ACCEPTED || res->status != 200) {
        fprintf(stderr, "notification %u: outcome %d status %d reason %s error %s attempts %d\n", i,
                res->outcome, res->status, res->reason_str, apns_err_name(res->error),
                res->attempts);
        r->failures++;
    } else {
        r->accepted[i] = 1;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s COUNT UNREG CONNECTIONS [--expect-*] -- SIM_FLAGS...\n",
                argv[0]);
        return 2;
    }
    run r = {0};
    r.pr.count = (uint32_t)strtoul(argv[1], NULL, 10);
    r.pr.log_level = APNS_LOG_WARN;
    r.pr.fill = fill;
    r.pr.on_result = on_result;
    r.pr.ud = &r;
    r.unreg_every = (uint32_t)strtoul(argv[2], NULL, 10);
    unsigned conns = (unsigned)strtoul(argv[3], NULL, 10);
    int expect_goaways = 0, expect_retries = 0, expect_resent = 0, allow_dups = 0;
    int64_t stream_timeout_ms = 0;
    int a = 4;
    for (; a < argc && strcmp(argv[a], "--") != 0; a++) {
        if (!strcmp(argv[a], "--expect-goaways"))
            expect_goaways = 1;
        else if (!strcmp(argv[a], "--expect-retries"))
            expect_retries = 1;
        else if (!strcmp(argv[a], "--expect-resent"))
            expect_resent = 1;
        else if (!strcmp(argv[a], "--allow-dups"))
            allow_dups = 1; /* abortive resets: answers lost in flight are resent */
        else if (!strcmp(argv[a], "--stream-timeout") && a + 1 < argc)
            stream_timeout_ms = atoll(argv[++a]);
    }
    a++; /* skip "--" */

    const char *dir = th_tmpdir("zeroloss");
    const char *unreg_path = th_path(dir, "unregistered.txt"),
               *log_path = th_path(dir, "delivery.log");

    FILE *uf = fopen(unreg_path, "w");
    TH_CHECK(uf != NULL, "cannot write %s", unreg_path);
    for (uint32_t i = 0; i < r.pr.count; i++) {
        if (is_unreg(&r, i)) {
            char t[65];
            th_token(i, t);
            fprintf(uf, "%s %lld\n", t, UNREG_TS_MS);
        }
    }
    fclose(uf);

    const char *extra[64] = {"--auth-keys",    th_cert("keys"), "--topics",       "com.example.app",
                             "--unregistered", unreg_path,      "--delivery-log", log_path};
    for (int n = 8; a < argc && n < 63; a++)
        extra[n++] = argv[a];
    char *sim_argv[80];
    th_sim_argv(sim_argv, 80, extra);
    th_proc sim;
    th_spawn_server(&sim, sim_argv);

    char detail[256] = "";
    apns_signing_key *sk = NULL;
    int rc = apns_signing_key_load_file(&sk, th_cert("AuthKey_ABC123DEFG.p8"), "ABC123DEFG",
                                        "DEF123GHIJ", detail, sizeof detail);
    TH_CHECK(rc == 0, "load key: %s", detail);
    apns_token_cache *tc = NULL;
    TH_CHECK(apns_token_cache_new(&tc, sk, 0) == 0, "token cache");

    r.calls = calloc(r.pr.count, 1);
    r.accepted = calloc(r.pr.count, 1);
    r.pr.base = event_base_new();
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = sim.host;
    o.port = (uint16_t)sim.port;
    o.tokens = tc;
    o.ca_file = th_cert("ca.pem");
    o.connections = conns;
    o.stream_timeout_ms = stream_timeout_ms;
    o.retry.max_attempts = 12;
    o.retry.base_ms = 5;
    o.retry.max_ms = 100;
    pr_client_opts(&r.pr, &o);
    rc = apns_client_new(&r.pr.client, r.pr.base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "client: %s (%s)", apns_strerror(rc), detail);

    /* A generous bound so a hang fails instead of eating the CI budget. */
    int64_t ms = pr_run_all(&r.pr, 240000);

    apns_client_stats st;
    apns_client_stats_get(r.pr.client, &st);
    fprintf(stderr,
            "answered %u/%u in %lld ms: accepted %llu rejected %llu failed %llu resent %llu "
            "retried %llu goaways %llu refused %llu timeouts %llu connects %llu\n",
            r.pr.answered, r.pr.count, (long long)ms, (unsigned long long)st.accepted,
            (unsigned long long)st.rejected, (unsigned long long)st.failed,
            (unsigned long long)st.resent, (unsigned long long)st.retried,
            (unsigned long long)st.goaways, (unsigned long long)st.refused_streams,
            (unsigned long long)st.stream_timeouts, (unsigned long long)st.connects);
    apns_client_free(r.pr.client);
    event_base_free(r.pr.base);

    int status = th_stop(&sim);
    TH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "apns-sim exit status %d", status);

    for (uint32_t i = 0; i < r.pr.count; i++)
        if (r.calls[i] != 1) {
            fprintf(stderr, "notification %u got %u result callbacks\n", i, r.calls[i]);
            r.failures++;
        }

    /* The sim's delivery log: "<apns-id> <token> <topic> <bytes>" per line. */
    size_t len = 0;
    char *logtxt = th_read_file(log_path, &len);
    TH_CHECK(logtxt != NULL, "no delivery log at %s", log_path);
    uint8_t *seen = calloc(r.pr.count, 1);
    uint32_t lines = 0, dups = 0, strays = 0;
    for (char *line = logtxt; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char id[64], token[256];
        if (sscanf(line, "%63s %255s", id, token) == 2) {
            lines++;
            long i = th_apns_id_index(id);
            char want[65];
            if (i < 0 || (uint32_t)i >= r.pr.count) {
                strays++;
            } else {
                th_token((uint32_t)i, want);
                if (strcmp(want, token) != 0 || is_unreg(&r, (uint32_t)i))
                    strays++;
                else if (seen[i]++)
                    dups++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    uint32_t valid = 0, missing = 0;
    for (uint32_t i = 0; i < r.pr.count; i++) {
        if (is_unreg(&r, i))
            continue;
        valid++;
        if (!seen[i])
            missing++;
    }
    fprintf(stderr,
            "delivery log: %u lines, %u valid expected, %u missing, %u duplicated, %u stray\n",
            lines, valid, missing, dups, strays);
    TH_CHECK(missing == 0, "%u valid notifications never reached the sim", missing);
    if (!allow_dups)
        TH_CHECK(dups == 0, "%u notifications delivered more than once", dups);
    TH_CHECK(strays == 0, "%u unexpected deliveries", strays);
    TH_CHECK(r.failures == 0, "%d notifications had the wrong result", r.failures);
    TH_CHECK(r.pr.answered == r.pr.count, "answered %u of %u", r.pr.answered, r.pr.count);
    if (expect_goaways)
        TH_CHECK(st.goaways > 0 && st.resent > 0, "no GOAWAY hand-backs: fault not exercised");
    if (expect_retries)
        TH_CHECK(st.retried > 0, "no retries: fault not exercised");
    if (expect_resent)
        TH_CHECK(st.resent > 0, "nothing was resent: fault not exercised");

    apns_token_cache_free(tc);
    apns_signing_key_free(sk);
    free(seen);
    free(logtxt);
    free(r.calls);
    free(r.accepted);
    printf("sim_zero_loss: %u notifications, zero lost, zero duplicated\n", r.pr.count);
    th_rmtree(dir);
    return 0;
}
