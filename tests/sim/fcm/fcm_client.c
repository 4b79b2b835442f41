/*
 * fcm_client.c - libapns' FCM send path (apns_client with provider
 * APNS_PROVIDER_FCM) against the real fcm-sim, on loopback with TLS.
 *
 * The access token comes from fcm-sim's /token endpoint through
 * fcm_token.py (an RS256 grant signed by openssl, nothing of libapns) and is
 * put into an external apns_token_cache, as the gateway's token source does.
 *
 *   fcm_client zero-loss COUNT
 *       COUNT messages (each to its own token; every 100th token on the
 *       sim's --unregistered list) through a sim with --goaway-every 1000,
 *       --fail-rate 503:0.02 and a project quota small enough to answer
 *       429 bursts (--quota, with Retry-After). Checks: every message gets
 *       exactly one result; every valid one is ACCEPTED with the message
 *       name the sim logged for its token; every unregistered one REJECTED
 *       404 UNREGISTERED with the dead-token action; the delivery log holds
 *       every valid token exactly once and no unregistered one; the faults
 *       happened (GOAWAYs, 503s and 429s counted by the sim, retries made).
 *   fcm_client refresh
 *       The cache first holds an access token the sim never issued: FCM
 *       answers 401 ACCESS_TOKEN_EXPIRED. Every message must then wait
 *       (no result yet; the client called apns_token_cache_expired() for
 *       that token, once, and logged it) until the test puts a real token,
 *       and then be delivered, once, on its second attempt. Then "refresh
 *       once" (fcm-protocol.md §4.4): 5 more messages meet a stale token,
 *       wait, meet another stale one after the put, and are final: 401,
 *       action pause, two attempts, not delivered.
 *   fcm_client dry-run
 *       fcm_validate_only: every valid message is ACCEPTED with FCM's dry-run
 *       name (".../fake_message_id", fcm-protocol.md §1.4), unregistered ones
 *       still rejected, and nothing is in the delivery log.
 */
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apns/client.h"
#include "apns/fcm.h"
#include "apns/jwt.h"
#include "harness.h"

#define UNREG_EVERY 100
#define PROJECT     "fcm-demo"

typedef struct run {
    struct event_base *base;
    apns_client *c;
    apns_token_cache *cache;
    uint32_t count, next, done;
    uint32_t limit; /* submit up to here (refresh mode: 20, then all) */
    int phase;      /* refresh mode: 1 until the real token is put, 2 after */
    int put_stale;  /* refresh phase 2: the second stale token was put */
    uint8_t *calls;
    char **names; /* fcm_name per message */
    int failures;
    int refresh_logs; /* "FCM refused access token" lines */
    int put_real;     /* refresh mode: the real token was put */
    int dry;          /* dry-run mode */
    int results_before_put;
    char real_token[512];
    struct event *poll;
} run;

static void token_of(uint32_t i, char *out, size_t cap)
{
    /* registration-token-like: "<id>:APA91b<base64url-ish>", ~150 bytes */
    snprintf(out, cap, "c%08x:APA91b%016llx_%0120u", i, (unsigned long long)th_mix64(i), i);
}

static int is_unreg(uint32_t i)
{
    return i % UNREG_EVERY == UNREG_EVERY - 1;
}

static void fetch_token(const th_proc *sim, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/fcm_token.py %d %s demo", APNS_FCM_TEST_DIR,
             sim->port, th_certs());
    FILE *p = popen(cmd, "r");
    TH_CHECK(p != NULL, "popen %s", cmd);
    char line[1024] = "";
    TH_CHECK(fgets(line, sizeof line, p) != NULL, "no token from %s", cmd);
    TH_CHECK(pclose(p) == 0, "%s failed", cmd);
    char *sp = strchr(line, ' ');
    TH_CHECK(sp != NULL, "bad token line %s", line);
    *sp = '\0';
    snprintf(out, cap, "%s", line);
}

static void on_log(apns_log_level lvl, const char *msg, void *ud)
{
    run *r = ud;
    if (strstr(msg, "FCM refused access token"))
        r->refresh_logs++;
    if (lvl <= APNS_LOG_WARN && getenv("FCM_CLIENT_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static void submit_more(run *r)
{
    char tok[256], fields[64];
    while (r->next < r->limit) {
        uint32_t i = r->next;
        token_of(i, tok, sizeof tok);
        int fl = snprintf(fields, sizeof fields, "{\"data\":{\"i\":\"%u\"}}", i);
        apns_notification n;
        apns_notification_init(&n);
        n.token = tok;
        n.payload = fields;
        n.payload_len = (size_t)fl;
        n.user_data = (void *)(uintptr_t)i;
        int rc = apns_client_submit(r->c, &n);
        if (rc == APNS_EAGAIN)
            return;
        TH_CHECK(rc == 0, "submit %u: %s", i, apns_err_name(rc));
        r->next++;
    }
}

static void on_credit(apns_client *c, size_t credit, void *ud)
{
    (void)c;
    (void)credit;
    submit_more(ud);
}

static void on_result(apns_client *c, const apns_notification *n, const apns_result *res, void *ud)
{
    (void)c;
    run *r = ud;
    uint32_t i = (uint32_t)(uintptr_t)n->user_data;
    TH_CHECK(i < r->count, "result for unknown message %u", i);
    r->calls[i]++;
    r->done++;
    char tok[256];
    token_of(i, tok, sizeof tok);
    if (strcmp(n->token, tok) != 0) {
        fprintf(stderr, "message %u: token %.40s..., want %.40s...\n", i, n->token, tok);
        r->failures++;
    }
    if (r->phase == 2 && i >= 20) {
        if (res->outcome != APNS_OUTCOME_REJECTED || res->status != 401 ||
            res->reason != APNS_REASON_FCM_ACCESS_TOKEN_EXPIRED ||
            res->action != APNS_ACTION_PAUSE || res->attempts != 2) {
            fprintf(stderr,
                    "message %u (stale twice): outcome %d status %d reason %s action %s "
                    "attempts %d\n",
                    i, res->outcome, res->status, res->reason_str, apns_action_name(res->action),
                    res->attempts);
            r->failures++;
        }
    } else if (is_unreg(i)) {
        if (res->outcome != APNS_OUTCOME_REJECTED || res->status != 404 ||
            res->reason != APNS_REASON_FCM_UNREGISTERED || res->action != APNS_ACTION_DEAD_TOKEN) {
            fprintf(stderr, "message %u (unregistered): outcome %d status %d reason %s action %s\n",
                    i, res->outcome, res->status, res->reason_str, apns_action_name(res->action));
            r->failures++;
        }
    } else if (res->outcome != APNS_OUTCOME_ACCEPTED || res->status != 200 || !res->fcm_name) {
        fprintf(stderr, "message %u: outcome %d status %d reason %s error %s attempts %d\n", i,
                res->outcome, res->status, res->reason_str, apns_err_name(res->error),
                res->attempts);
        r->failures++;
    } else {
        free(r->names[i]);
        r->names[i] = strdup(res->fcm_name);
        if (r->put_real && res->attempts != 2) {
            fprintf(stderr, "message %u: %d attempts, want 2 (401, then the new token)\n", i,
                    res->attempts);
            r->failures++;
        }
    }
    if (r->done == r->limit)
        event_base_loopexit(r->base, NULL);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run *r = arg;
    apns_client_stats st;
    apns_client_stats_get(r->c, &st);
    if (r->phase == 1 && !r->put_real && st.retried >= r->limit) {
        /* every message was refused and waits: now the owner replaces the token */
        r->results_before_put = (int)r->done;
        TH_CHECK(apns_token_cache_put(r->cache, r->real_token, (int64_t)time(NULL)) == 0, "put");
        r->put_real = 1;
        return;
    }
    if (r->phase == 2 && !r->put_stale && st.retried >= r->limit) {
        /* the "new" token is stale as well: the second 401 must be final */
        TH_CHECK(apns_token_cache_put(r->cache, "ya29.stale-again", (int64_t)time(NULL)) == 0,
                 "put");
        r->put_stale = 1;
        return;
    }
    struct timeval tv = {0, 20000};
    evtimer_add(r->poll, &tv);
}

/* "fcm-sim listening on HOST:PORT" */
static int on_sim_line(char *line, void *ud)
{
    th_proc *p = ud;
    const char *at = strstr(line, "listening on ");
    if (!at)
        return 0;
    at += 13;
    const char *colon = strrchr(at, ':');
    if (!colon)
        return 0;
    snprintf(p->host, sizeof p->host, "%.*s", (int)(colon - at), at);
    p->port = atoi(colon + 1);
    return p->port > 0;
}

static const char *counter(const char *json, const char *key, char *buf, size_t cap)
{
    snprintf(buf, cap, "\"%s\":", key);
    const char *p = json ? strstr(json, buf) : NULL;
    return p ? p + strlen(buf) : NULL;
}

static long long counter_val(const char *json, const char *key)
{
    char b[64];
    const char *p = counter(json, key, b, sizeof b);
    return p ? atoll(p) : 0;
}

int main(int argc, char **argv)
{
    TH_CHECK(argc >= 2, "usage: fcm_client zero-loss COUNT | refresh | dry-run");
    int refresh = strcmp(argv[1], "refresh") == 0;
    int dry = strcmp(argv[1], "dry-run") == 0;
    run r;
    memset(&r, 0, sizeof r);
    r.dry = dry;
    r.count = refresh ? 25 : dry ? 200 : (uint32_t)atoi(argc > 2 ? argv[2] : "10000");
    r.limit = refresh ? 20 : r.count;
    r.phase = 1;
    TH_CHECK(r.count > 0, "bad count");
    r.calls = calloc(r.count, 1);
    r.names = calloc(r.count, sizeof *r.names);

    const char *dir = th_tmpdir("fcm-client");
    const char *unreg = th_path(dir, "unregistered.txt");
    const char *dlog = th_path(dir, "delivered.log");
    const char *serr = th_path(dir, "sim.err");
    FILE *f = fopen(unreg, "w");
    TH_CHECK(f != NULL, "%s", unreg);
    char tok[256];
    for (uint32_t i = 0; i < r.count; i++)
        if (is_unreg(i)) {
            token_of(i, tok, sizeof tok);
            fprintf(f, "%s\n", tok);
        }
    fclose(f);

    char simbin[512], quota[32];
    th_bin("fcm-sim", simbin, sizeof simbin);
    /* a project quota of a third of the messages per 2 s window: 429 bursts */
    snprintf(quota, sizeof quota, "%u/2", r.count / 3 > 0 ? r.count / 3 : 1);
    char *sargv[40];
    int na = 0;
    sargv[na++] = simbin;
    sargv[na++] = "--listen";
    sargv[na++] = "127.0.0.1:0";
    sargv[na++] = "--tls-cert";
    sargv[na++] = (char *)th_cert("server.pem");
    sargv[na++] = "--tls-key";
    sargv[na++] = (char *)th_cert("server.key");
    sargv[na++] = "--service-accounts";
    sargv[na++] = (char *)th_cert("fcm/accounts");
    sargv[na++] = "--unregistered";
    sargv[na++] = (char *)unreg;
    sargv[na++] = "--delivery-log";
    sargv[na++] = (char *)dlog;
    sargv[na++] = "--seed";
    sargv[na++] = "7";
    if (!refresh && !dry) {
        sargv[na++] = "--goaway-every";
        sargv[na++] = "1000";
        sargv[na++] = "--fail-rate";
        sargv[na++] = "503:0.02";
        sargv[na++] = "--quota";
        sargv[na++] = quota;
    }
    sargv[na] = NULL;
    th_proc sim;
    th_spawn(&sim, sargv, serr);
    TH_CHECK(th_read_lines(&sim, 15000, on_sim_line, &sim) == 0, "fcm-sim did not start (%s)",
             serr);

    fetch_token(&sim, r.real_token, sizeof r.real_token);
    TH_CHECK(apns_token_cache_new_external(&r.cache) == 0, "cache");
    TH_CHECK(apns_token_cache_put(r.cache, refresh ? "ya29.never-issued-by-the-sim" : r.real_token,
                                  (int64_t)time(NULL)) == 0,
             "put");

    r.base = event_base_new();
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.provider = APNS_PROVIDER_FCM;
    o.fcm_project_id = PROJECT;
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = (uint16_t)sim.port;
    o.ca_file = th_cert("ca.pem");
    o.tokens = r.cache;
    o.fcm_validate_only = dry;
    o.connections = 2;
    o.max_pending = 1000;
    o.retry.max_attempts = 40;
    o.retry.base_ms = 50;
    o.retry.max_ms = 1000;
    o.on_result = on_result;
    o.on_credit = on_credit;
    o.on_log = on_log;
    o.ud = &r;
    char detail[256];
    int rc = apns_client_new(&r.c, r.base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_client_new: %s %s", apns_err_name(rc), detail);
    if (refresh) {
        r.poll = evtimer_new(r.base, on_poll, &r);
        struct timeval tv = {0, 20000};
        evtimer_add(r.poll, &tv);
    }
    submit_more(&r);
    struct timeval limit = {300, 0};
    event_base_loopexit(r.base, &limit);
    event_base_dispatch(r.base);
    if (refresh) {
        TH_CHECK(r.done == r.limit, "%u of %u messages answered", r.done, r.limit);
        r.phase = 2;
        r.limit = r.count;
        TH_CHECK(apns_token_cache_put(r.cache, "ya29.stale", (int64_t)time(NULL)) == 0, "put");
        struct timeval tv = {0, 20000};
        evtimer_add(r.poll, &tv);
        submit_more(&r);
        event_base_loopexit(r.base, &limit);
        event_base_dispatch(r.base);
    }

    apns_client_stats st;
    apns_client_stats_get(r.c, &st);
    TH_CHECK(r.done == r.count, "%u of %u messages answered", r.done, r.count);
    apns_client_free(r.c);
    if (r.poll)
        event_free(r.poll);
    event_base_free(r.base);
    TH_CHECK(th_stop(&sim) == 0, "fcm-sim did not exit cleanly");

    for (uint32_t i = 0; i < r.count; i++)
        TH_CHECK(r.calls[i] == 1, "message %u got %d results", i, r.calls[i]);
    TH_CHECK(r.failures == 0, "%d wrong results", r.failures);

    /* the delivery log: "<message-id> <target> <project> <bytes>" */
    size_t len = 0;
    char *log = th_read_file(dlog, &len);
    TH_CHECK(log != NULL, "no delivery log %s", dlog);
    uint32_t *seen = calloc(r.count, sizeof *seen);
    uint32_t lines = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        char id[128], target[512], project[64];
        TH_CHECK(sscanf(line, "%127s %511s %63s", id, target, project) == 3, "log line %s", line);
        unsigned idx = 0;
        TH_CHECK(sscanf(target, "c%08x:", &idx) == 1 && idx < r.count, "log target %s", target);
        token_of(idx, tok, sizeof tok);
        TH_CHECK(strcmp(target, tok) == 0, "log target %s is not message %u's token", target, idx);
        TH_CHECK(strcmp(project, PROJECT) == 0, "log project %s", project);
        char want[256];
        snprintf(want, sizeof want, "projects/%s/messages/%s", PROJECT, id);
        TH_CHECK(!dry, "a dry run in the delivery log: %s", line);
        TH_CHECK(r.names[idx] && strcmp(r.names[idx], want) == 0,
                 "message %u: name %s, the sim logged %s", idx, r.names[idx] ? r.names[idx] : "-",
                 want);
        seen[idx]++;
        lines++;
    }
    uint32_t valid = 0;
    for (uint32_t i = 0; i < r.count; i++) {
        TH_CHECK(seen[i] == (is_unreg(i) || dry || (refresh && i >= 20) ? 0u : 1u),
                 "message %u in the delivery log %u times", i, seen[i]);
        if (dry && !is_unreg(i))
            TH_CHECK(r.names[i] &&
                         strcmp(r.names[i], "projects/" PROJECT "/messages/fake_message_id") == 0,
                     "dry run %u: name %s", i, r.names[i] ? r.names[i] : "-");
        valid += !is_unreg(i) && !(refresh && i >= 20);
    }
    TH_CHECK(lines == (dry ? 0 : valid), "%u log lines, %u valid messages", lines, valid);

    /* the sim's counters (its last stderr line at exit) */
    char *errs = th_read_file(serr, NULL);
    TH_CHECK(errs != NULL, "%s", serr);
    const char *stats = NULL;
    for (const char *q = errs; (q = strstr(q, "{\"connections\"")) != NULL; q++)
        stats = q;
    TH_CHECK(stats != NULL, "no counters from fcm-sim in %s", serr);
    if (refresh) {
        TH_CHECK(r.put_real, "the real token was never put");
        TH_CHECK(r.results_before_put == 0, "%d results before the new token",
                 r.results_before_put);
        TH_CHECK(r.put_stale, "the second stale token was never put");
        TH_CHECK(r.refresh_logs == 2,
                 "%d expired() calls logged, want 2 (one per stale token "
                 "that was refreshed)",
                 r.refresh_logs);
        printf("ok: 20 messages refused with a stale access token, expired() called once for "
               "it, all resent and delivered once after the new token was put; 5 refused "
               "again after a refresh are final (401, pause)\n");
    } else if (dry) {
        printf("ok: %u dry runs, %u accepted as fake_message_id, none delivered, %u unregistered "
               "rejected\n",
               r.count, valid, r.count - valid);
    } else {
        TH_CHECK(st.goaways > 0, "no GOAWAY seen");
        TH_CHECK(st.retried > 0, "no retries");
        long long n503 = counter_val(stats, "UNAVAILABLE");
        long long n429 = counter_val(stats, "PROJECT_QUOTA");
        long long nga = counter_val(stats, "goaways");
        TH_CHECK(n503 > 0 && n429 > 0 && nga > 0, "faults: %lld 503, %lld 429, %lld GOAWAY", n503,
                 n429, nga);
        TH_CHECK(st.retried >= (uint64_t)(n503 + n429), "%llu retries for %lld 503 and %lld 429",
                 (unsigned long long)st.retried, n503, n429);
        printf(
            "ok: %u messages, %u delivered exactly once, %u unregistered rejected as dead "
            "tokens; %llu GOAWAYs, %llu resent, %llu retried; the sim answered %lld 503 and %lld "
            "429\n",
            r.count, valid, r.count - valid, (unsigned long long)st.goaways,
            (unsigned long long)st.resent, (unsigned long long)st.retried, n503, n429);
    }
    for (uint32_t i = 0; i < r.count; i++)
        free(r.names[i]);
    free(r.names);
    free(r.calls);
    free(seen);
    free(log);
    free(errs);
    apns_token_cache_free(r.cache);
    th_rmtree(dir);
    return 0;
}
