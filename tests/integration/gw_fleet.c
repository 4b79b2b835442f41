/*
 * gw_fleet.c - a fleet of apnsd nodes on one NATS JetStream queue, end to
 * end: a real 3-node nats-server cluster (tests/support/nats_cluster.c), one
 * apns-sim (TLS, token auth, delivery log, 1% of the tokens unregistered,
 * each with its own 410 timestamp) and three apnsd processes started from
 * the SAME configuration file:
 *
 *   [queue] backend = jetstream, servers = the three nats-servers,
 *           prefix = fleet<random>, replicas = 3, ack_wait = 2s,
 *           op_timeout = 2s, chunk_tokens = 1000 (no `path`)
 *   [app shop]  token auth (team DEF123GHIJ), 2 connections to the sim
 *   [app other] the same team, 1 connection (unused: it only counts in the
 *               dispatcher's chunk cap)
 *
 * Work goes in through ALL THREE nodes' APIs: POST /v1/push batches of 500
 * tokens (jobs of 1..200 tokens) in slices of 5000 tokens dealt round-robin
 * to the nodes (one thread per node), and broadcasts through node 0, at the
 * same time. Every job's status is read through a node other than the one
 * that accepted it; GET /v1/apps/shop/dead-tokens is read from every node.
 *
 * Subcommands (one ctest test each):
 *
 *   kill_apnsd  100,000 tokens in batches + one 100,000-token broadcast
 *               (the 200k). At 30% of the valid tokens delivered, a
 *               node with notifications in flight gets SIGKILL. The two
 *               others finish the work (its chunks come back after
 *               ack_wait); then it is started again (a new process, same
 *               config) and answers GETs like the others. Checks: every
 *               valid token in the sim's delivery log at least once (zero
 *               loss), no unregistered token ever accepted by the sim,
 *               every delivery of a token with the same apns-id (its job's
 *               base + index), duplicates (extra log lines) counted and at
 *               most the killed node's chunk cap x chunk_tokens (dispatch.c
 *               count_apps: sum over apps of 2*ceil((max_in_flight/2)/
 *               chunk_tokens) + 2, clamped to 8..4096: 10 chunks here, so
 *               10,000 tokens), every job final with exact counts (accepted =
 *               valid, rejected = unregistered) and per-token outcomes for
 *               small jobs, the dead-token registry complete on every node.
 *   kill_nats   30,000 + a 70,000-token broadcast (70 chunks: its status is
 *               read with a KV watch, i.e. a consumer); at 25% delivered the
 *               nats-server leading the chunk stream is killed (SIGKILL) and
 *               stays down to the end. More pushes go to every node while
 *               it is down (503s while leaders move are retried with new
 *               tokens; those may still be delivered, docs/scaling.md case
 *               4). Nothing accepted is lost, delivery continues, same
 *               checks; with the server still down the broadcast's status is
 *               read through every node and the registry twice through each
 *               (an ephemeral consumer may be placed on the dead server:
 *               js_dead.c, js_status.c fall back to direct gets).
 *   nats_down   20,000 + a 10,000-token broadcast; at 20% delivered every
 *               nats-server is killed and stays down for 2 x ack_wait;
 *               every POST /v1/push to each node (every 500 ms) must answer
 *               503 storage_unavailable (JSON error): nothing is
 *               acknowledged that is not stored. The servers are started
 *               again (same stores); each node must accept pushes again by
 *               itself (no restart of apnsd) and all earlier accepted work
 *               completes. Same checks.
 *
 *   channels    channel publishes in a fleet (no faults, no token work): a
 *               channel created through node 0 (the record goes to the
 *               <prefix>_CHANNELS bucket) is listed and read through node
 *               1, 50 updates are published to it through node 1 (a publish
 *               to an unknown channel is 404 there), every one reaches the
 *               sim exactly once (50 `broadcast <id>` lines, 50 distinct
 *               request ids) and each job's status, read through node 2, is
 *               done and names the channel. Three nodes, 7 processes, a few
 *               seconds.
 *
 * In every case but channels the sim must have seen exactly one provider token (JWT) for
 * the team across all nodes and connections: its counters'
 * "provider_tokens_by_team" {"DEF123GHIJ": 1}. No wall-clock thresholds:
 * deadlines only for giving up. Times are printed. APNS_E2E_SCALE scales the
 * token counts (gw_scaled).
 *
 * usage: gw_fleet kill_apnsd|kill_nats|nats_down|channels [--batch N] [--broadcast N]
 * GW_FLEET_KEEP=1 keeps the temp dir (configs, logs, delivery log) after a
 * successful run too.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include "gw_work.h"
#include "nats_cluster.h"

#define NODES         3
#define UNREG_TS_BASE 1700000000000LL
#define CHUNK_TOKENS  1000
#define SHOP_CONNS    2
#define OTHER_CONNS   1 /* gw_write_config's default for GW_APP2 */
#define TEAM_ID       "DEF123GHIJ"
#define SLICE_TOKENS  5000  /* batch tokens per round-robin slice */
#define SPARE_TOKENS  60000 /* pushes during outages: 100 per attempt */

typedef struct fleet {
    char *dir;
    char ini[600], log[600], unreg[600], err[NODES][600];
    char prefix[32];
    nc_cluster nc;
    gw_proc sim;
    gw_proc gw[NODES];
    gw_http *h[NODES];
    int alive[NODES];
    gw_ledger *l;
    /* A push answered 503 (or no answer) "may still be delivered"
     * (docs/scaling.md, case 4): its tokens may show up in the log. */
    uint8_t *maybe;
    uint32_t spare_next, spare_end;
    /* w[k]: jobs accepted by node k; w[NODES]: broadcasts (node 0). */
    gw_work w[NODES + 1];
    int w_node[NODES + 1];
} fleet;

/* ---- the dispatcher's chunk cap (dispatch.c count_apps) --------------------- */

static uint32_t app_chunks(uint32_t conns, uint32_t max_in_flight, uint32_t ct)
{
    uint32_t slots = max_in_flight ? max_in_flight : 1000u * conns;
    uint32_t n_flights = 2 * slots;
    return 2 * ((n_flights / 2 + ct - 1) / ct) + 2;
}

static uint32_t chunk_cap(void)
{
    uint32_t cap =
        app_chunks(SHOP_CONNS, 0, CHUNK_TOKENS) + app_chunks(OTHER_CONNS, 0, CHUNK_TOKENS);
    return cap < 8 ? 8 : cap > 4096 ? 4096 : cap;
}

/* Duplicates after a storage outage (a nats-server killed, or all of them):
 * a chunk whose answers could not be recorded, or whose ack was lost, comes
 * back to another node and its open tokens are sent again, at most once
 * per chunk held anywhere at the event. A node holds at most twice its
 * lease budget (dispatch.c: an app holding nothing still leases past it). */
static uint32_t fleet_dup_bound(void)
{
    return NODES * 2 * chunk_cap() * CHUNK_TOKENS;
}

/* ---- nodes -------------------------------------------------------------------- */

static void wait_ready(fleet *f, int k, int timeout_ms)
{
    int64_t t0 = th_now_ms();
    for (;;) {
        gw_resp r;
        gw_http_do(f->h[k], "GET", "/readyz", NULL, NULL, 0, &r);
        int st = r.status;
        if (st == 200) {
            gw_resp_clear(&r);
            return;
        }
        if (th_now_ms() - t0 > timeout_ms) {
            fprintf(stderr, "FAIL: node %d not ready after %d ms: %d %.500s (stderr: %s)\n", k,
                    timeout_ms, st, r.body, f->err[k]);
            gw_fail();
        }
        gw_resp_clear(&r);
        gw_sleep_ms(100);
    }
}

static void start_node(fleet *f, int k)
{
    int64_t t0 = th_now_ms();
    gw_start_apnsd(&f->gw[k], f->ini, f->err[k]);
    f->h[k] = gw_http_new(f->gw[k].host, f->gw[k].port, 4);
    f->alive[k] = 1;
    wait_ready(f, k, 60000);
    fprintf(stderr, "node %d (pid %d, %s:%d) ready in %lld ms\n", k, (int)f->gw[k].pid,
            f->gw[k].host, f->gw[k].port, (long long)(th_now_ms() - t0));
}

/* A live node other than k (status is read there). */
static int other_node(const fleet *f, int k)
{
    for (int d = 1; d < NODES; d++)
        if (f->alive[(k + d) % NODES])
            return (k + d) % NODES;
    GW_CHECK(0, "no live node other than %d", k);
    return -1;
}

/* sim_extra: more apns-sim flags (NULL-terminated, or NULL); app_extra:
 * more lines for [app shop]. */
static void fleet_setup_with(fleet *f, const char *tag, uint32_t work_tokens,
                             const char *const *sim_extra, const char *app_extra)
{
    memset(f, 0, sizeof *f);
    f->dir = strdup(th_tmpdir(tag));
    snprintf(f->ini, sizeof f->ini, "%s/apnsd.ini", f->dir);
    snprintf(f->log, sizeof f->log, "%s/delivery.log", f->dir);
    snprintf(f->unreg, sizeof f->unreg, "%s/unregistered.txt", f->dir);
    for (int k = 0; k < NODES; k++)
        snprintf(f->err[k], sizeof f->err[k], "%s/apnsd%d.err", f->dir, k);
    uint32_t n = work_tokens + SPARE_TOKENS;
    f->l = gw_ledger_new(n);
    gw_ledger_unregister(f->l, 100, UNREG_TS_BASE, f->unreg);
    f->maybe = calloc(n, 1);
    GW_CHECK(f->maybe != NULL, "out of memory");
    /* Spare tokens (pushes during outages) start on a multiple of 100. */
    f->spare_next = (work_tokens + 99) / 100 * 100;
    f->spare_end = n;
    for (int i = 0; i <= NODES; i++) {
        gw_work_init(&f->w[i], f->l);
        f->w_node[i] = i < NODES ? i : 0;
    }

    char err[512];
    int64_t t0 = th_now_ms();
    GW_CHECK(nc_start(&f->nc, 3, 30000, err, sizeof err) == 0,
             "cannot start a 3-node nats-server cluster: %s", err);
    fprintf(stderr, "nats cluster up in %lld ms: %s (store %s)\n", (long long)(th_now_ms() - t0),
            f->nc.urls, f->nc.dir);

    const char *flags[32] = {"--unregistered", f->unreg};
    for (int i = 0; sim_extra != NULL && sim_extra[i] != NULL && i < 29; i++)
        flags[2 + i] = sim_extra[i];
    gw_start_sim(&f->sim, f->dir, f->log, flags);

    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)getpid();
    snprintf(f->prefix, sizeof f->prefix, "fleet%08x", rnd);
    char queue[1024];
    snprintf(queue, sizeof queue,
             "backend = jetstream\nservers = %s, %s, %s\nprefix = %s\nreplicas = 3\n"
             "ack_wait = 2s\nop_timeout = 2s\nchunk_tokens = %u\n",
             f->nc.url[0], f->nc.url[1], f->nc.url[2], f->prefix, CHUNK_TOKENS);
    char app[512];
    snprintf(app, sizeof app, "connections = %u\n%s", SHOP_CONNS, app_extra ? app_extra : "");
    gw_write_config(f->ini, f->sim.port, NULL, "drain_timeout = 10s\n", queue, app);
    /* One after the other: the first creates the stream, the consumer and
     * the buckets, the others bind to them. */
    for (int k = 0; k < NODES; k++)
        start_node(f, k);
    fprintf(stderr, "fleet: %d apnsd nodes on prefix %s; dir %s\n", NODES, f->prefix, f->dir);
}

static void fleet_setup(fleet *f, const char *tag, uint32_t work_tokens)
{
    fleet_setup_with(f, tag, work_tokens, NULL, NULL);
}

/* ---- submitting ------------------------------------------------------------------ */

typedef struct sub_thread {
    fleet *f;
    int node;
    uint32_t first, count, slice;
    pthread_t t;
} sub_thread;

static void *submit_slices(void *arg)
{
    sub_thread *s = arg;
    for (uint32_t k = 0, off = 0; off < s->count; k++, off += s->slice) {
        if (k % NODES != (uint32_t)s->node)
            continue;
        uint32_t n = s->count - off < s->slice ? s->count - off : s->slice;
        gw_work_submit_batches(&s->f->w[s->node], s->f->h[s->node], s->first + off, n, 500);
    }
    return NULL;
}

/* Batch tokens [first, first + batch) through every node (slices dealt
 * round-robin, one thread per node) and, at the same time, one broadcast
 * to [first + batch, + bcast) through node 0. Every request must get 202. */
static void submit_wave(fleet *f, uint32_t first, uint32_t batch, uint32_t bcast)
{
    sub_thread th[NODES];
    int64_t t0 = th_now_ms();
    /* Slices of 500..SLICE_TOKENS tokens, at least 2 per node when possible. */
    uint32_t slice = (batch / (2 * NODES) + 499) / 500 * 500;
    slice = slice < 500 ? 500 : slice > SLICE_TOKENS ? SLICE_TOKENS : slice;
    for (int k = 0; k < NODES; k++) {
        th[k] = (sub_thread){.f = f, .node = k, .first = first, .count = batch, .slice = slice};
        GW_CHECK(f->alive[k], "node %d is down", k);
        GW_CHECK(pthread_create(&th[k].t, NULL, submit_slices, &th[k]) == 0, "pthread_create");
    }
    if (bcast) {
        int b = f->w_node[NODES];
        gw_http *hb = gw_http_new(f->gw[b].host, f->gw[b].port, 1);
        gw_work_submit_broadcast(&f->w[NODES], hb, first + batch, bcast, NULL);
        gw_http_free(hb);
    }
    for (int k = 0; k < NODES; k++)
        pthread_join(th[k].t, NULL);
    size_t jobs = 0;
    for (int i = 0; i <= NODES; i++)
        jobs += f->w[i].njobs;
    fprintf(stderr,
            "submitted %u batch tokens through %d nodes + a %u-token broadcast through node %d "
            "in %lld ms (%zu jobs so far; per node: %zu, %zu, %zu)\n",
            batch, NODES, bcast, f->w_node[NODES], (long long)(th_now_ms() - t0), jobs,
            f->w[0].njobs, f->w[1].njobs, f->w[2].njobs);
}

/* `count` (<= 99) spare tokens starting on a multiple of 100, so never one
 * of the unregistered ones (i % 100 == 99): a 503'd push that is delivered
 * anyway never adds to the dead-token registry. */
static uint32_t spare(fleet *f, uint32_t count)
{
    GW_CHECK(count >= 1 && count <= 99, "spare count %u", count);
    uint32_t first = f->spare_next;
    GW_CHECK(first + 100 <= f->spare_end,
             "out of spare tokens (more than %u pushes refused during outages)",
             SPARE_TOKENS / 100);
    f->spare_next += 100;
    return first;
}

/* POST /v1/push of `count` new tokens through node k until it answers 202;
 * 503 (the cluster is failing over) and no answer are retried with new
 * tokens, which may still be delivered. Returns the attempts. */
static int push_until_accepted(fleet *f, int k, uint32_t count, int timeout_ms)
{
    int64_t t0 = th_now_ms();
    int last = 0;
    char body[300] = "";
    for (int attempt = 1;; attempt++) {
        uint32_t first = spare(f, count);
        gw_resp r;
        int st = gw_work_try_push(&f->w[k], f->h[k], first, count, &r);
        if (st == 202) {
            gw_resp_clear(&r);
            return attempt;
        }
        GW_CHECK(st == 503 || st == 0 || st == 429, "node %d: POST /v1/push: %d %.500s", k, st,
                 r.body);
        memset(f->maybe + first, 1, count);
        last = st;
        snprintf(body, sizeof body, "%s", r.body ? r.body : "");
        gw_resp_clear(&r);
        if (th_now_ms() - t0 > timeout_ms) {
            fprintf(stderr,
                    "FAIL: node %d did not accept a push within %d ms (%d attempts; last %d "
                    "%s; stderr %s)\n",
                    k, timeout_ms, attempt, last, body, f->err[k]);
            gw_fail();
        }
        gw_sleep_ms(500);
    }
}

/* ---- waiting and checking ---------------------------------------------------------- */

/* Every node that should be running still is (a crash is reported with its
 * exit status and the end of its stderr). */
static void check_running(fleet *f, const char *when)
{
    for (int k = 0; k < NODES; k++) {
        if (!f->alive[k])
            continue;
        pid_t pid = f->gw[k].pid;
        int st = gw_wait_exit(&f->gw[k], 0);
        if (st == -1)
            continue;
        char name[64];
        snprintf(name, sizeof name, "node %d", k);
        fprintf(stderr, "FAIL: node %d exited %s: ", k, when);
        gw_report_exit(name, pid, st, f->err[k]);
        gw_fail();
    }
}

static uint32_t valid_tokens(const fleet *f)
{
    return gw_work_valid(&f->w[0]); /* counts over the shared ledger */
}

/* Until the delivery log has `at` lines. */
static void wait_lines(fleet *f, uint64_t at, int timeout_ms)
{
    int64_t t0 = th_now_ms();
    uint64_t seen;
    while ((seen = gw_count_lines(f->log)) < at) {
        GW_CHECK(th_now_ms() - t0 < timeout_ms, "only %llu of %llu deliveries after %d ms",
                 (unsigned long long)seen, (unsigned long long)at, timeout_ms);
        check_running(f, "while deliveries were awaited");
        gw_sleep_ms(20);
    }
}

/* Until every valid submitted token is in the delivery log at least once. */
static void wait_delivered(fleet *f, int timeout_ms)
{
    int64_t t0 = th_now_ms(), last_print = t0;
    uint32_t valid = valid_tokens(f);
    wait_lines(f, valid, timeout_ms);
    for (;;) {
        gw_ledger_read_log(f->l, f->log);
        gw_tally t = gw_ledger_tally(f->l);
        if (t.missing == 0)
            return;
        int64_t now = th_now_ms();
        if (now - t0 > timeout_ms) {
            uint32_t shown = 0;
            for (uint32_t i = 0; i < f->l->n && shown < 10; i++)
                if (f->l->want_id[i][0] && !f->l->unreg[i] && f->l->seen[i] == 0) {
                    fprintf(stderr, "  token %u (apns-id %s) never delivered\n", i,
                            f->l->want_id[i]);
                    shown++;
                }
            GW_CHECK(0, "%u of %u valid tokens never delivered after %d ms", t.missing, valid,
                     timeout_ms);
        }
        check_running(f, "while deliveries were awaited");
        if (now - last_print >= 2000) {
            fprintf(stderr, "  %u of %u valid tokens not delivered yet\n", t.missing, valid);
            last_print = now;
        }
        gw_sleep_ms(500);
    }
}

/* The jobs of work set i read through every live node in turn. */
static void check_jobs_everywhere(fleet *f, int i)
{
    for (int k = 0; k < NODES; k++) {
        if (!f->alive[k])
            continue;
        for (size_t j = 0; j < f->w[i].njobs; j++)
            f->w[i].jobs[j].final = 0;
        fprintf(stderr, "status of %zu jobs accepted by node %d, read through node %d\n",
                f->w[i].njobs, f->w_node[i], k);
        gw_work_check_jobs(&f->w[i], f->h[k], 120000);
    }
}

/* Every job final with exact counts, read through a node other than the one
 * that accepted it. */
static void check_jobs(fleet *f)
{
    for (int i = 0; i <= NODES; i++) {
        if (f->w[i].njobs == 0)
            continue;
        int via = other_node(f, f->w_node[i]);
        fprintf(stderr, "status of %zu jobs accepted by node %d, read through node %d\n",
                f->w[i].njobs, f->w_node[i], via);
        gw_work_check_jobs(&f->w[i], f->h[via], 120000);
    }
}

/* The registry lists every unregistered submitted token, on every node
 * (`rounds` times each). */
static void check_dead_tokens(fleet *f, int rounds)
{
    uint32_t unreg_n = gw_work_unreg(&f->w[0]);
    for (int k = 0; k < NODES * rounds; k++) {
        int node = k % NODES;
        GW_CHECK(f->alive[node], "node %d is down", node);
        int64_t t0 = th_now_ms();
        fprintf(stderr, "dead-token registry through node %d: ", node);
        uint32_t n = gw_work_check_dead_tokens(&f->w[0], f->h[node], GW_APP, GW_KEY);
        GW_CHECK(n == unreg_n, "node %d lists %u dead tokens, %u unregistered were submitted", node,
                 n, unreg_n);
        fprintf(stderr, "  (%lld ms)\n", (long long)(th_now_ms() - t0));
    }
}

/* The sim saw one provider token for the team across every node. */
static json_int_t check_provider_tokens(fleet *f)
{
    json_t *sc = gw_sim_counters(&f->sim);
    json_t *pt = json_object_get(sc, "provider_tokens_by_team");
    char *dump = json_dumps(sc, JSON_COMPACT);
    GW_CHECK(json_is_object(pt),
             "apns-sim's counters have no \"provider_tokens_by_team\" object (distinct provider "
             "tokens per team across all connections), so one token per team per refresh "
             "window across the fleet is NOT verified: %s",
             dump);
    json_int_t n = json_integer_value(json_object_get(pt, TEAM_ID));
    fprintf(stderr, "sim: provider tokens by team %s\n", dump);
    GW_CHECK(n == 1, "the sim saw %lld distinct provider tokens for team %s, want 1: %s",
             (long long)n, TEAM_ID, dump);
    const char *team;
    json_t *v;
    json_object_foreach(pt, team, v)
        GW_CHECK(json_integer_value(v) == 1, "team %s: %lld provider tokens, want 1", team,
                 (long long)json_integer_value(v));
    json_int_t s_410 = json_integer_value(
        json_object_get(json_object_get(sc, "rejected_by_reason"), "Unregistered"));
    free(dump);
    json_decref(sc);
    return s_410;
}

typedef struct result {
    gw_tally t;
    uint32_t maybe_delivered; /* 503'd tokens delivered anyway */
    uint32_t unexpected;      /* lines for tokens never submitted nor 503'd */
} result;

/* Stops the nodes (SIGTERM: exit 0), the sim, the cluster; reads the log. */
static result fleet_finish(fleet *f)
{
    for (int k = 0; k < NODES; k++) {
        if (!f->alive[k])
            continue;
        pid_t pid = f->gw[k].pid;
        int st = gw_stop(&f->gw[k], 30000);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char name[64];
            snprintf(name, sizeof name, "node %d", k);
            fprintf(stderr, "FAIL: after SIGTERM, ");
            gw_report_exit(name, pid, st, f->err[k]);
            gw_fail();
        }
        f->alive[k] = 0;
        gw_http_free(f->h[k]);
        f->h[k] = NULL;
    }
    int st = gw_stop(&f->sim, 10000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apns-sim exit status %d", st);
    nc_stop(&f->nc);

    result res;
    memset(&res, 0, sizeof res);
    gw_ledger *l = f->l;
    gw_ledger_read_log(l, f->log);
    res.t = gw_ledger_tally(l);
    for (uint32_t i = 0; i < l->n; i++)
        if (!l->want_id[i][0] && l->seen[i]) {
            if (f->maybe[i])
                res.maybe_delivered++;
            else
                res.unexpected += l->seen[i];
        }
    fprintf(stderr,
            "delivery log: %u lines; %u valid tokens, %u missing, %u delivered more than once "
            "(%u extra lines), %u unregistered accepted, %u wrong apns-ids, %u strays, %u of "
            "the 503'd tokens delivered anyway, %u lines of tokens never pushed\n",
            l->lines, res.t.valid, res.t.missing, res.t.dup_tokens, res.t.dups,
            res.t.unreg_delivered, l->wrong_id, l->strays, res.maybe_delivered, res.unexpected);
    GW_CHECK(res.t.missing == 0, "%u accepted notifications lost", res.t.missing);
    GW_CHECK(res.t.unreg_delivered == 0, "%u unregistered tokens accepted by the sim",
             res.t.unreg_delivered);
    GW_CHECK(l->wrong_id == 0,
             "%u deliveries with an apns-id other than the token's own (duplicates must carry "
             "the same apns-id)",
             l->wrong_id);
    GW_CHECK(l->strays == 0 && res.unexpected == 0,
             "%u stray deliveries, %u of tokens never pushed", l->strays, res.unexpected);
    return res;
}

static void fleet_free(fleet *f)
{
    for (int i = 0; i <= NODES; i++)
        gw_work_free(&f->w[i]);
    gw_ledger_free(f->l);
    free(f->maybe);
    if (getenv("GW_FLEET_KEEP") == NULL)
        th_rmtree(f->dir);
    else
        fprintf(stderr, "kept %s (GW_FLEET_KEEP)\n", f->dir);
    free(f->dir);
}

static double metric_of(fleet *f, int k, const char *sample)
{
    return gw_metric(f->h[k], sample);
}

/* Common end of every case: everything delivered, status, registry,
 * provider tokens, then the delivery log. */
static result fleet_check_all(fleet *f, int64_t t_event, const char *event, int rounds)
{
    uint32_t valid = valid_tokens(f), unreg_n = gw_work_unreg(&f->w[0]);
    check_running(f, "before the end of the run");
    wait_delivered(f, 300000);
    check_running(f, "before the end of the run");
    fprintf(stderr, "every valid token (%u) delivered %lld ms after %s\n", valid,
            (long long)(th_now_ms() - t_event), event);
    check_jobs(f);
    if (rounds > 1 && f->w[NODES].njobs > 0)
        check_jobs_everywhere(f, NODES);
    check_dead_tokens(f, rounds);
    check_running(f, "before SIGTERM");
    json_int_t s_410 = check_provider_tokens(f);
    GW_CHECK(s_410 >= unreg_n, "the sim answered %lld 410s for %u unregistered tokens",
             (long long)s_410, unreg_n);
    return fleet_finish(f);
}

/* ---- kill -9 of one apnsd ------------------------------------------------------------ */

/* fleet_setup, the first wave (batch + broadcast) through the nodes, then
 * until pct % of its valid tokens are in the delivery log (0: no wait).
 * Returns when the wave started. */
static int64_t fleet_start(fleet *f, const char *tag, uint32_t batch, uint32_t bcast, unsigned pct)
{
    fleet_setup(f, tag, batch + bcast);
    int64_t t0 = th_now_ms();
    submit_wave(f, 0, batch, bcast);
    if (pct)
        wait_lines(f, (uint64_t)valid_tokens(f) * pct / 100, 300000);
    return t0;
}

static int run_kill_apnsd(uint32_t batch, uint32_t bcast)
{
    fleet f;
    int64_t t0 = fleet_start(&f, "fleet-kill-apnsd", batch, bcast, 0);
    uint32_t valid = valid_tokens(&f), unreg_n = gw_work_unreg(&f.w[0]);
    uint32_t cap = chunk_cap(), bound = cap * CHUNK_TOKENS;
    fprintf(stderr, "%u tokens: %u valid, %u unregistered; duplicate bound %u chunks x %u = %u\n",
            batch + bcast, valid, unreg_n, cap, CHUNK_TOKENS, bound);

    wait_lines(&f, (uint64_t)valid * 30 / 100, 300000);
    /* The victim: a node with notifications in flight right now (prefer
     * node 1: not the one that took the broadcast). */
    int victim = -1;
    double in_flight = 0, accepted = 0;
    for (int64_t tp = th_now_ms(); victim < 0 && th_now_ms() - tp < 10000;) {
        static const int order[NODES] = {1, 2, 0};
        for (int i = 0; i < NODES && victim < 0; i++) {
            int k = order[i];
            in_flight = metric_of(&f, k, "apnsd_in_flight{app=\"shop\"}");
            if (in_flight > 0) {
                victim = k;
                accepted = metric_of(
                    &f, k, "apnsd_notifications_total{app=\"shop\",outcome=\"accepted\"}");
            }
        }
        if (victim < 0)
            gw_sleep_ms(5);
    }
    GW_CHECK(victim >= 0, "no node had notifications in flight at %u%% delivered", 30);
    uint64_t lines_at_kill = gw_count_lines(f.log);
    gw_signal(&f.gw[victim], SIGKILL);
    int64_t t_kill = th_now_ms();
    int st = gw_wait_exit(&f.gw[victim], 10000);
    GW_CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
             "node %d did not die of SIGKILL (status %d)", victim, st);
    f.alive[victim] = 0;
    gw_http_free(f.h[victim]);
    f.h[victim] = NULL;
    gw_sleep_ms(300); /* the sim flushes its log every 100 ms */
    uint64_t after = gw_count_lines(f.log);
    fprintf(stderr,
            "kill -9 of node %d (%.0f notifications in flight, %.0f accepted by APNs through it) "
            "%lld ms into the run, with %llu of %u deliveries logged (%llu 300 ms later)\n",
            victim, in_flight, accepted, (long long)(t_kill - t0),
            (unsigned long long)lines_at_kill, valid, (unsigned long long)after);
    GW_CHECK(lines_at_kill < valid, "the kill came too late: everything was delivered already");

    /* The two others finish, the killed node's chunks included. */
    wait_delivered(&f, 300000);
    int64_t t_done = th_now_ms();
    fprintf(stderr, "the %d surviving nodes delivered every valid token %lld ms after the kill\n",
            NODES - 1, (long long)(t_done - t_kill));
    /* The killed node comes back as a new process and answers like the
     * others (status of jobs accepted elsewhere, the registry). */
    start_node(&f, victim);
    result res = fleet_check_all(&f, t_kill, "the kill", 1);
    GW_CHECK(res.t.valid == valid, "valid tokens %u, want %u", res.t.valid, valid);
    GW_CHECK(res.t.dups <= bound,
             "%u duplicate deliveries (%u tokens) after one kill -9; at most the killed node's "
             "chunks in flight: %u chunks x %u tokens = %u",
             res.t.dups, res.t.dup_tokens, cap, CHUNK_TOKENS, bound);
    printf("gw_fleet kill_apnsd: %u notifications (%u valid, %u unregistered) through %d nodes, "
           "node %d killed -9 mid-run: nothing lost; %u duplicate deliveries of %u tokens (bound "
           "%u), each with its first apns-id; all in %lld ms\n",
           batch + bcast, valid, unreg_n, NODES, victim, res.t.dups, res.t.dup_tokens, bound,
           (long long)(th_now_ms() - t0));
    fleet_free(&f);
    return 0;
}

/* ---- one nats-server killed ------------------------------------------------------------ */

/* Index of the server leading `stream` (server names are "n<i>"), or -1. */
static int stream_leader(nc_cluster *c, const char *stream)
{
    for (int i = 0; i < c->n; i++) {
        natsConnection *nc = NULL;
        natsOptions *o = NULL;
        jsCtx *js = NULL;
        jsStreamInfo *si = NULL;
        int leader = -1;
        if (c->pid[i] <= 0 || natsOptions_Create(&o) != NATS_OK)
            continue;
        natsOptions_SetURL(o, c->url[i]);
        natsOptions_SetTimeout(o, 1000);
        natsOptions_SetAllowReconnect(o, false);
        if (natsConnection_Connect(&nc, o) == NATS_OK &&
            natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
            js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK && si->Cluster != NULL &&
            si->Cluster->Leader != NULL && sscanf(si->Cluster->Leader, "n%d", &leader) == 1) {
            if (leader >= c->n)
                leader = -1;
        } else {
            leader = -1;
        }
        jsStreamInfo_Destroy(si);
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        natsOptions_Destroy(o);
        if (leader >= 0)
            return leader;
    }
    return -1;
}

static int run_kill_nats(uint32_t batch, uint32_t bcast)
{
    fleet f;
    int64_t t0 = fleet_start(&f, "fleet-kill-nats", batch, bcast, 25);
    uint32_t valid = valid_tokens(&f);

    char stream[64];
    snprintf(stream, sizeof stream, "%s_CHUNKS", f.prefix);
    int leader = stream_leader(&f.nc, stream);
    int victim = leader >= 0 ? leader : 0;
    uint64_t lines_at_kill = gw_count_lines(f.log);
    nc_kill(&f.nc, victim);
    int64_t t_kill = th_now_ms();
    fprintf(stderr,
            "killed nats-server n%d (%s of stream %s) with %llu of %u deliveries logged, %lld ms "
            "into the run\n",
            victim, leader >= 0 ? "the leader" : "leader unknown; a member", stream,
            (unsigned long long)lines_at_kill, valid, (long long)(t_kill - t0));

    /* More work through every node while one server is down. */
    int attempts = 0, pushes = 0;
    for (int round = 0; round < 5; round++)
        for (int k = 0; k < NODES; k++) {
            attempts += push_until_accepted(&f, k, 99, 90000);
            pushes++;
        }
    fprintf(stderr,
            "with one server down: %d pushes of 99 tokens accepted through the %d nodes (%d "
            "attempts; the others got 503 while leaders moved) %lld ms after the kill\n",
            pushes, NODES, attempts, (long long)(th_now_ms() - t_kill));
    uint64_t lines_now = gw_count_lines(f.log);
    GW_CHECK(lines_at_kill < valid, "the kill came too late: everything was delivered already");

    result res = fleet_check_all(&f, t_kill, "the server was killed", 2);
    GW_CHECK(res.t.dups <= fleet_dup_bound(),
             "%u duplicate deliveries (%u tokens) after a nats-server was killed; at most the "
             "tokens of every chunk the fleet held: %u",
             res.t.dups, res.t.dup_tokens, fleet_dup_bound());
    printf("gw_fleet kill_nats: %u notifications + %d pushes during the outage through %d nodes, "
           "nats-server n%d (%s) killed -9 mid-run: nothing lost, delivery continued (%llu "
           "deliveries logged at the kill, %llu after the pushes); %u duplicate deliveries of %u "
           "tokens (bound %u); %u of the 503'd tokens delivered anyway; all in %lld ms\n",
           batch + bcast, pushes, NODES, victim, leader >= 0 ? "stream leader" : "member",
           (unsigned long long)lines_at_kill, (unsigned long long)lines_now, res.t.dups,
           res.t.dup_tokens, fleet_dup_bound(), res.maybe_delivered, (long long)(th_now_ms() - t0));
    fleet_free(&f);
    return 0;
}

/* ---- every nats-server down, then back ---------------------------------------------------- */

static int run_nats_down(uint32_t batch, uint32_t bcast)
{
    fleet f;
    int64_t t0 = fleet_start(&f, "fleet-nats-down", batch, bcast, 20);
    uint32_t valid = valid_tokens(&f);

    uint64_t lines_at_kill = gw_count_lines(f.log);
    for (int i = 0; i < f.nc.n; i++)
        nc_kill(&f.nc, i);
    int64_t t_kill = th_now_ms();
    fprintf(stderr, "killed all %d nats-servers with %llu of %u deliveries logged\n", f.nc.n,
            (unsigned long long)lines_at_kill, valid);
    GW_CHECK(lines_at_kill < valid, "the kill came too late: everything was delivered already");

    /* Every node refuses new pushes: 503, a JSON error, nothing stored. The
     * cluster stays down for 2 x ack_wait (the nodes' chunk leases lapse),
     * every node asked every 500 ms. */
    int probes = 0;
    for (int round = 0; round == 0 || th_now_ms() - t_kill < 4000; round++) {
        for (int k = 0; k < NODES; k++) {
            uint32_t count = 1 + (uint32_t)(round % 3) * 10;
            uint32_t first = spare(&f, count);
            gw_resp r;
            int64_t tr = th_now_ms();
            int st = gw_work_try_push(&f.w[k], f.h[k], first, count, &r);
            memset(f.maybe + first, 1, count);
            GW_CHECK(st == 503,
                     "node %d with every nats-server down: POST /v1/push answered %d %.500s, "
                     "want 503",
                     k, st, r.body);
            json_t *j = gw_json(&r);
            const char *code =
                json_string_value(json_object_get(json_object_get(j, "error"), "code"));
            GW_CHECK(code && !strcmp(code, "storage_unavailable"),
                     "node %d: 503 without error code storage_unavailable: %.500s", k, r.body);
            if (round == 0)
                fprintf(stderr, "node %d: push -> 503 in %lld ms: %.300s\n", k,
                        (long long)(th_now_ms() - tr), r.body);
            json_decref(j);
            gw_resp_clear(&r);
            probes++;
        }
        gw_sleep_ms(500);
    }
    fprintf(stderr, "%d pushes while the cluster was down: every one 503 storage_unavailable\n",
            probes);
    for (int k = 0; k < NODES; k++) {
        gw_resp r;
        gw_http_do(f.h[k], "GET", "/readyz", NULL, NULL, 0, &r);
        fprintf(stderr, "node %d: GET /readyz while the cluster is down: %d %.300s\n", k, r.status,
                r.body);
        gw_resp_clear(&r);
    }

    /* The servers come back (same stores); the nodes recover by themselves. */
    int64_t t_up0 = th_now_ms();
    for (int i = 0; i < f.nc.n; i++)
        GW_CHECK(nc_restart(&f.nc, i) == 0, "cannot restart nats-server n%d", i);
    for (int i = 0; i < f.nc.n; i++)
        GW_CHECK(nc_wait_node(&f.nc, i, 60000) == 0, "nats-server n%d %s (log %s/n%d.log)", i,
                 f.nc.pid[i] <= 0 ? "exited after its restart"
                                  : "did not serve JetStream again within 60 s",
                 f.nc.dir, i);
    int64_t t_up = th_now_ms();
    fprintf(stderr, "cluster down for %lld ms; serving JetStream again %lld ms after the restart\n",
            (long long)(t_up0 - t_kill), (long long)(t_up - t_up0));
    int attempts = 0;
    for (int k = 0; k < NODES; k++) {
        int a = push_until_accepted(&f, k, 99, 120000);
        attempts += a;
        fprintf(stderr,
                "node %d accepts pushes again %lld ms after the cluster was back (%d "
                "attempts)\n",
                k, (long long)(th_now_ms() - t_up), a);
    }
    for (int k = 0; k < NODES; k++)
        push_until_accepted(&f, k, 99, 60000);

    result res = fleet_check_all(&f, t_up, "the cluster came back", 1);
    GW_CHECK(res.t.dups <= fleet_dup_bound(),
             "%u duplicate deliveries (%u tokens) after the cluster was down; at most the tokens "
             "of every chunk the fleet held: %u",
             res.t.dups, res.t.dup_tokens, fleet_dup_bound());
    printf("gw_fleet nats_down: %u notifications through %d nodes, every nats-server killed "
           "mid-run: 503 storage_unavailable from every node, every node serving again by itself "
           "once the cluster was back, nothing accepted lost; %u duplicate deliveries of %u "
           "tokens; %u of the 503'd tokens delivered anyway; all in %lld ms\n",
           batch + bcast, NODES, res.t.dups, res.t.dup_tokens, res.maybe_delivered,
           (long long)(th_now_ms() - t0));
    fleet_free(&f);
    return 0;
}

/* ---- channel publishes across nodes ------------------------------------------------------ */

/* A free loopback port for the sim's manage listener (bound, read, closed). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    GW_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
                 getsockname(fd, (struct sockaddr *)&a, &al) == 0,
             "no free port: %s", strerror(errno));
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* One request through node k; its JSON answer (caller decrefs), status in *st. */
static json_t *node_do(fleet *f, int k, const char *method, const char *path, const char *body,
                       int *st)
{
    gw_resp r;
    gw_http_do(f->h[k], method, path, GW_KEY, body, body ? strlen(body) : 0, &r);
    *st = r.status;
    json_t *j = gw_json(&r);
    if (j == NULL)
        fprintf(stderr, "node %d %s %s: %d %.300s\n", k, method, path, r.status, r.body);
    gw_resp_clear(&r);
    return j;
}

/* Lines "broadcast <ch> <request-id> <bytes>" of the delivery log: how many,
 * and how many distinct request ids. */
static void broadcast_lines(const char *log, const char *ch, size_t *n, size_t *distinct)
{
    char *text = th_read_file(log, NULL), *save = NULL;
    char **ids = NULL;
    size_t cap = 0;

    *n = *distinct = 0;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char kind[16], c[300], id[64];
        if (sscanf(line, "%15s %299s %63s", kind, c, id) != 3 || strcmp(kind, "broadcast") != 0 ||
            strcmp(c, ch) != 0)
            continue;
        int seen = 0;
        for (size_t i = 0; i < *distinct && !seen; i++)
            seen = strcmp(ids[i], id) == 0;
        (*n)++;
        if (seen)
            continue;
        if (*distinct == cap) {
            cap = cap ? 2 * cap : 64;
            ids = realloc(ids, cap * sizeof *ids);
            GW_CHECK(ids != NULL, "out of memory");
        }
        ids[*distinct] = strdup(id);
        GW_CHECK(ids[*distinct] != NULL, "out of memory");
        (*distinct)++;
    }
    for (size_t i = 0; i < *distinct; i++)
        free(ids[i]);
    free(ids);
    free(text);
}

static int run_channels(void)
{
    enum { UPDATES = 50 };
    fleet f;
    char mport[16], manage[64], app[128], path[512], enc[400], body[UPDATES * 160 + 64];
    char *ids[UPDATES];
    int st;

    snprintf(mport, sizeof mport, "%d", free_port());
    snprintf(manage, sizeof manage, "127.0.0.1:%s", mport);
    const char *sim_extra[] = {"--manage-listen", manage, "--broadcast-topics", GW_TOPIC, NULL};
    snprintf(app, sizeof app, "manage_port = %s\n", mport);
    fleet_setup_with(&f, "fleet-channels", 0, sim_extra, app);

    /* Created through node 0 ... */
    json_t *j = node_do(&f, 0, "POST", "/v1/apps/" GW_APP "/channels",
                        "{\"storage_policy\":1,\"label\":\"match 7\"}", &st);
    GW_CHECK(st == 201 && j && json_is_string(json_object_get(j, "id")), "create via node 0: %d",
             st);
    char *ch = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    size_t o = 0;
    for (const char *c = ch; *c; c++)
        o += (size_t)snprintf(enc + o, sizeof enc - o, strchr("+/=", *c) ? "%%%02X" : "%c",
                              (unsigned char)*c);

    /* ... listed and read through node 1 ... */
    j = node_do(&f, 1, "GET", "/v1/apps/" GW_APP "/channels", NULL, &st);
    json_t *list = j ? json_object_get(j, "channels") : NULL;
    GW_CHECK(st == 200 && json_array_size(list) == 1 &&
                 !strcmp(json_string_value(json_object_get(json_array_get(list, 0), "id")), ch),
             "list via node 1: %d", st);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/apps/" GW_APP "/channels/%s", enc);
    j = node_do(&f, 1, "GET", path, NULL, &st);
    GW_CHECK(st == 200 && !strcmp(json_string_value(json_object_get(j, "label")), "match 7"),
             "read via node 1: %d", st);
    json_decref(j);

    /* ... and published to through node 1 (an unknown channel: 404). */
    j = node_do(&f, 1, "POST", "/v1/push",
                "{\"app\":\"" GW_APP "\",\"channel\":\"bm9uZQ==\",\"live_activity\":"
                "{\"event\":\"update\",\"content_state\":{}}}",
                &st);
    GW_CHECK(st == 404 && j &&
                 !strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                         "channel_not_found"),
             "unknown channel via node 1: %d", st);
    json_decref(j);
    o = (size_t)snprintf(body, sizeof body, "{\"notifications\":[");
    for (int i = 0; i < UPDATES; i++)
        o += (size_t)snprintf(body + o, sizeof body - o,
                              "%s{\"app\":\"" GW_APP "\",\"channel\":\"%s\",\"live_activity\":"
                              "{\"event\":\"update\",\"content_state\":{\"home\":%d}}}",
                              i ? "," : "", ch, i);
    snprintf(body + o, sizeof body - o, "]}");
    j = node_do(&f, 1, "POST", "/v1/push", body, &st);
    list = j ? json_object_get(j, "notifications") : NULL;
    GW_CHECK(st == 202 && json_array_size(list) == UPDATES, "publish via node 1: %d", st);
    for (int i = 0; i < UPDATES; i++)
        ids[i] = strdup(json_string_value(json_object_get(json_array_get(list, i), "id")));
    json_decref(j);

    /* Each exactly once at the sim; each status final through node 2. */
    size_t n = 0, distinct = 0;
    int64_t t0 = th_now_ms();
    for (;;) {
        broadcast_lines(f.log, ch, &n, &distinct);
        if (n >= UPDATES || th_now_ms() - t0 > 60000)
            break;
        gw_sleep_ms(100);
    }
    gw_sleep_ms(300); /* the sim flushes its log every 100 ms: a late duplicate shows */
    broadcast_lines(f.log, ch, &n, &distinct);
    GW_CHECK(n == UPDATES && distinct == UPDATES,
             "%zu broadcast lines (%zu request ids) for the channel, want %d", n, distinct,
             UPDATES);
    for (int i = 0; i < UPDATES; i++) {
        snprintf(path, sizeof path, "/v1/notifications/%s", ids[i]);
        for (t0 = th_now_ms();; gw_sleep_ms(100)) {
            j = node_do(&f, 2, "GET", path, NULL, &st);
            const char *state = j ? json_string_value(json_object_get(j, "state")) : NULL;
            if (st == 200 && state && strcmp(state, "done") == 0)
                break;
            GW_CHECK(th_now_ms() - t0 < 30000, "job %s via node 2: %d %s", ids[i], st,
                     state ? state : "?");
            json_decref(j);
        }
        const char *c = json_string_value(json_object_get(j, "channel"));
        GW_CHECK(c && !strcmp(c, ch), "job %s names channel %s", ids[i], c ? c : "(none)");
        json_decref(j);
        free(ids[i]);
    }
    fprintf(stderr,
            "channel created via node 0, listed via node 1, %d publishes via node 1 "
            "delivered once each, statuses via node 2\n",
            UPDATES);
    free(ch);
    for (int k = 0; k < NODES; k++) {
        int s2 = gw_stop(&f.gw[k], 30000);
        GW_CHECK(WIFEXITED(s2) && WEXITSTATUS(s2) == 0, "node %d: exit status %d", k, s2);
        gw_http_free(f.h[k]);
        f.h[k] = NULL;
    }
    st = gw_stop(&f.sim, 10000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apns-sim exit status %d", st);
    nc_stop(&f.nc);
    fleet_free(&f);
    return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2) {
    usage:
        fprintf(stderr,
                "usage: %s kill_apnsd|kill_nats|nats_down|channels [--batch N] [--broadcast N]\n",
                argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    uint32_t batch, bcast;
    if (!strcmp(mode, "kill_apnsd")) {
        batch = gw_scaled(100000, 3000);
        bcast = gw_scaled(100000, 3000);
    } else if (!strcmp(mode, "kill_nats")) {
        batch = gw_scaled(30000, 3000);
        bcast = gw_scaled(70000, 2000);
    } else if (!strcmp(mode, "nats_down")) {
        batch = gw_scaled(20000, 3000);
        bcast = gw_scaled(10000, 1000);
    } else if (!strcmp(mode, "channels")) {
        batch = 0;
        bcast = 1; /* unused */
    } else {
        goto usage;
    }
    for (int a = 2; a < argc; a++) {
        if (!strcmp(argv[a], "--batch") && a + 1 < argc)
            batch = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--broadcast") && a + 1 < argc)
            bcast = (uint32_t)strtoul(argv[++a], NULL, 10);
        else
            goto usage;
    }
    if (batch + bcast == 0)
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    if (nc_server_path() == NULL) {
        fprintf(stderr, "FAIL: nats-server is not installed, so the apnsd fleet was NOT tested. "
                        "Run scripts/install-deps.sh (Debian package nats-server).\n");
        return 1;
    }
    fprintf(stderr, "gw_fleet %s: %u tokens in batches + a %u-token broadcast\n", mode, batch,
            bcast);
    int rc;
    if (!strcmp(mode, "kill_apnsd"))
        rc = run_kill_apnsd(batch, bcast);
    else if (!strcmp(mode, "kill_nats"))
        rc = run_kill_nats(batch, bcast);
    else if (!strcmp(mode, "channels"))
        rc = run_channels();
    else
        rc = run_nats_down(batch, bcast);
    nats_CloseAndWait(2000);
    return rc;
}
