/*
 * gw_e2e.c - the gateway's acceptance test, end to end through the HTTP API:
 * the real apnsd binary (durable SQLite queue in a temp dir) sending to a
 * real apns-sim (TLS, token auth) that misbehaves the way APNs does.
 *
 *   apns-sim --unregistered (1% of the tokens, each with its own 410
 *            timestamp in ms) --goaway-every 1000 --fail-rate 503:0.02
 *            --seed 7 --delivery-log
 *   apnsd    one token-auth app at the sim (ca_file), retry backoff
 *            10ms..1s, retry_attempts 12 (2% 503s never exhaust it: a token
 *            would need 12 in a row, p = 4e-21)
 *
 * Workload: 100,000 device tokens in POST /v1/push batches of 500 tokens
 * (jobs of 1, 2, 5, 10, 50, 100, 132 and 200 tokens, builder fields) PLUS
 * one 100,000-token broadcast in a single request (raw payload, an explicit
 * apns_id whose last 48 bits wrap around during the broadcast).
 *
 * Checks:
 *   - every job reaches a final state (GET /v1/notifications/{id}, polled,
 *     bounded) with counts accepted = its valid tokens, rejected = its
 *     unregistered ones, nothing pending/failed/expired; jobs of <= 100
 *     tokens list every token's outcome with its derived apns-id, and the
 *     unregistered ones 410 Unregistered with the sim's timestamp;
 *   - the sim's delivery log holds every valid token EXACTLY once, with the
 *     apns-id derived from its job's apns_id and its index (the last 48 bits
 *     plus the index), and no unregistered token;
 *   - GET /v1/apps/shop/dead-tokens (paged with the cursor) lists exactly the
 *     unregistered tokens, each with the sim's 410 timestamp;
 *   - /metrics: apnsd_notifications_total accepted/rejected equal the valid
 *     and unregistered counts, failed/expired 0, rejections and dead tokens by
 *     reason, retries >= the 503s the sim injected, GOAWAYs counted;
 *   - the sim's own counters agree (accepted = valid, 410s = unregistered)
 *     and the faults really happened (GOAWAYs, injected 503s);
 *   - SIGTERM: apnsd drains and exits 0.
 *
 * APNS_E2E_SCALE=0.2 scales both counts down (for slow builds; every build
 * in CMake runs the numbers: about 9 s, 12 s under ASan).
 *
 * --sim-flag ARG (repeatable) appends ARG to the sim's fault flags, e.g. the
 * reasons APNs answers when it closes a connection (--shutdown-after N: 503
 * Shutdown per stream then GOAWAY; --idle-timeout S: GOAWAY IdleTimeout),
 * which libapns hands back and resends without losing or repeating anything.
 *
 * usage: gw_e2e [--batch N] [--broadcast N] [--per-request N] [--http-conns N]
 *               [--no-faults] [--sim-flag ARG]... [--bench [--raw-count N] [--warmup N]]
 * --bench (bench/e2e): no faults, no unregistered tokens; measures API in ->
 * the sim's delivery log holding every token (then -> every outcome durable;
 * the request bodies are built before the clock, the answers read after it,
 * and the sim writes its log every 10 ms),
 * and before that raw apns-bench against the same sim with the same payload
 * and connections; prints one JSON line per measurement on stdout.
 * --warmup N: apnsd first delivers N tokens in requests, off the clock
 * (warm_up).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw_work.h"

#define UNREG_TS_BASE 1700000000000LL
/* An apns-id base whose last 48 bits wrap to 0 at token 4096. */
#define BCAST_APNS_ID "5e1d0c2b-3a49-4876-9a5b-fffffffff000"
#define BCAST_PAYLOAD                                                                              \
    "{\"aps\":{\"alert\":\"Sale starts now\",\"sound\":\"default\"},\"campaign\":\"e2e\"}"

/* Counts the lines appended to a file since it was opened (incremental:
 * the delivery log of a big run is tens of MB). */
typedef struct log_follow {
    int fd;
    uint64_t lines;
} log_follow;

static void log_follow_open(log_follow *f, const char *path)
{
    f->fd = open(path, O_RDONLY | O_CREAT, 0644);
    GW_CHECK(f->fd >= 0, "open %s", path);
    lseek(f->fd, 0, SEEK_END);
    f->lines = 0;
}

static uint64_t log_follow_lines(log_follow *f)
{
    static char buf[1 << 16];
    ssize_t r;
    while ((r = read(f->fd, buf, sizeof buf)) > 0)
        for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + r - p))) != NULL; p++)
            f->lines++;
    return f->lines;
}

/* Until the log holds want lines more than at open (bounded: 200 s after t0). */
static void log_follow_wait(log_follow *f, uint64_t want, int64_t t0, const char *what)
{
    while (log_follow_lines(f) < want) {
        GW_CHECK(th_now_ms() - t0 < 200000, "%sonly %llu of %llu deliveries logged after 200 s",
                 what, (unsigned long long)f->lines, (unsigned long long)want);
        gw_sleep_ms(5);
    }
}

/* --warmup N (--bench): before the clock, N tokens in requests like the
 * batches' (tokens [first, first + N)), delivered and durable, so the round
 * measures a gateway that has run for a while (heap grown, SQLite's page
 * cache and the database file at size, finished jobs on file) rather than
 * its first notifications after start. */
static void warm_up(gw_work *w, gw_http *h, const char *log, uint32_t first, uint32_t n,
                    uint32_t per_request)
{
    gw_posts *p = gw_work_prepare_batches(w, first, n, per_request);
    log_follow lf;
    int64_t t0 = th_now_ms();

    log_follow_open(&lf, log);
    gw_work_send(h, p);
    log_follow_wait(&lf, n, t0, "warm-up: ");
    gw_work_wait_depth(h, 200000);
    gw_work_settle(p);
    close(lf.fd);
}

typedef struct opts {
    uint32_t batch, bcast, per_request, http_conns, raw_count, app_conns, warmup;
    int faults, bench;
    const char *sim_flags[16];
    int nsim_flags;
} opts;

static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

/* CPU-seconds of the process's main thread (the event loop: HTTP API,
 * dispatcher, libapns) and of all its other threads (the storage thread). */
static void proc_thread_cpu_s(pid_t pid, double *main_s, double *others_s)
{
    char path[64];
    *main_s = *others_s = 0;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        char tpath[96], buf[1024];
        snprintf(tpath, sizeof tpath, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
        FILE *f = fopen(tpath, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2) {
            double v = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
            if (tid == pid)
                *main_s += v;
            else
                *others_s += v;
        }
    }
    closedir(d);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Raw libapns through apns-bench against the same sim: same payload, same
 * connection count and stream window as apnsd's app. */
static void run_raw(const gw_proc *sim, const char *dir, uint32_t count, uint32_t conns,
                    double sim_cpu0)
{
    const char *ca = th_cert("ca.pem"), *p8 = th_cert("AuthKey_ABC123DEFG.p8"),
               *payload = th_path(dir, "payload.json"), *out = th_path(dir, "raw.json");
    char cnt[32], cn[32];
    snprintf(cnt, sizeof cnt, "%u", count);
    snprintf(cn, sizeof cn, "%u", conns);
    FILE *f = fopen(payload, "w");
    fputs(BCAST_PAYLOAD, f);
    fclose(f);
    char port[16];
    snprintf(port, sizeof port, "%d", sim->port);
    const char *argv[] = {gw_bin("apns-bench"),
                          "--host",
                          "127.0.0.1",
                          "--port",
                          port,
                          "--ca-file",
                          ca,
                          "--key-file",
                          p8,
                          "--key-id",
                          "ABC123DEFG",
                          "--team-id",
                          "DEF123GHIJ",
                          "--connections",
                          cn,
                          "--streams",
                          "1000",
                          "--tokens",
                          "100000",
                          "--count",
                          cnt,
                          "--payload-file",
                          payload,
                          "--json",
                          NULL};
    int64_t t0 = th_now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    int64_t ms = th_now_ms() - t0;
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double sim_cpu = proc_cpu_s(sim->pid) - sim_cpu0;
    GW_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "apns-bench failed (status %d)",
             status);
    char *js = th_read_file(out, NULL);
    json_t *j = js ? json_loads(js, 0, NULL) : NULL;
    double rate = 0;
    json_t *v = j ? json_object_get(j, "accepted_per_s") : NULL;
    if (v)
        rate = json_number_value(v);
    printf("{\"kind\":\"raw\",\"count\":%u,\"connections\":%u,\"wall_ms\":%lld,\"per_s\":%.0f,"
           "\"apns_bench_per_s\":%.0f,\"client_cpu_s\":%.2f,\"sim_cpu_s\":%.2f}\n",
           count, conns, (long long)ms, count * 1000.0 / (double)(ms ? ms : 1), rate, cpu, sim_cpu);
    fflush(stdout);
    json_decref(j);
    free(js);
}

int main(int argc, char **argv)
{
    opts o = {.batch = gw_scaled(100000, 1000),
              .bcast = gw_scaled(100000, 1000),
              .per_request = 500,
              .http_conns = 4,
              .app_conns = 2,
              .faults = 1};
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--batch") && a + 1 < argc)
            o.batch = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--broadcast") && a + 1 < argc)
            o.bcast = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--per-request") && a + 1 < argc)
            o.per_request = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--http-conns") && a + 1 < argc)
            o.http_conns = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--app-conns") && a + 1 < argc)
            o.app_conns = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--raw-count") && a + 1 < argc)
            o.raw_count = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--warmup") && a + 1 < argc)
            o.warmup = (uint32_t)strtoul(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--sim-flag") && a + 1 < argc && o.nsim_flags < 16)
            o.sim_flags[o.nsim_flags++] = argv[++a];
        else if (!strcmp(argv[a], "--no-faults"))
            o.faults = 0;
        else if (!strcmp(argv[a], "--bench"))
            o.bench = 1, o.faults = 0;
        else {
            fprintf(stderr,
                    "usage: %s [--batch N] [--broadcast N] [--per-request N] "
                    "[--http-conns N] [--app-conns N] [--no-faults] [--sim-flag ARG]... "
                    "[--bench [--raw-count N] [--warmup N]]\n",
                    argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    gw_files f;
    gw_files_init(&f, "e2e");
    fprintf(stderr, "gw_e2e: %u tokens in batches of %u + a %u-token broadcast; dir %s\n", o.batch,
            o.per_request, o.bcast, f.dir);

    uint32_t total = o.batch + o.bcast, warm = o.bench ? o.warmup : 0;
    gw_ledger *l = gw_ledger_new(total + warm);
    gw_ledger_unregister(l, o.bench ? 0 : 100, UNREG_TS_BASE, f.unreg);

    gw_proc sim;
    const char *fault_flags[8 + 16 + 1] = {"--unregistered", f.unreg,    "--goaway-every", "1000",
                                           "--fail-rate",    "503:0.02", "--seed",         "7"};
    for (int i = 0; i < o.nsim_flags; i++)
        fault_flags[8 + i] = o.sim_flags[i];
    /* --bench: the clock stops when the log holds every token, so the sim
     * writes it every 10 ms instead of every 100 (apns-sim's default). */
    const char *quiet_flags[] = {"--unregistered", f.unreg,
                                 o.bench ? "--delivery-log-flush-ms" : NULL, "10", NULL};
    gw_start_sim(&sim, f.dir, f.log, o.faults ? fault_flags : quiet_flags);

    if (o.bench && o.raw_count)
        run_raw(&sim, f.dir, o.raw_count, o.app_conns, proc_cpu_s(sim.pid));

    char app_extra[256];
    snprintf(app_extra, sizeof app_extra,
             "connections = %u\nretry_attempts = 12\nretry_backoff = 10ms\n"
             "retry_backoff_max = 1s\n",
             o.app_conns);
    gw_write_config(f.ini, sim.port, f.db, "max_wait = 10s\ndrain_timeout = 30s\n", NULL,
                    app_extra);
    gw_proc gw;
    gw_start_apnsd(&gw, f.ini, f.err);
    gw_http *h = gw_http_new(gw.host, gw.port, (int)o.http_conns);

    /* Wait for the app's connections (readyz) so timing starts with them up. */
    for (int i = 0;; i++) {
        gw_resp r;
        gw_http_do(h, "GET", "/readyz", NULL, NULL, 0, &r);
        int st = r.status;
        gw_resp_clear(&r);
        if (st == 200)
            break;
        GW_CHECK(i < 200, "apnsd not ready after 10 s (last %d)", st);
        gw_sleep_ms(50);
    }

    gw_work w;
    gw_work_init(&w, l);
    if (warm)
        warm_up(&w, h, f.log, total, warm, o.per_request);
    /* Every request body is built before the clock starts, and the 202s are
     * read after it stops: the clock and the client's CPU cover sending
     * them, as apns-bench's cover its sends (BENCHMARKS.md). */
    gw_posts *batches = o.batch ? gw_work_prepare_batches(&w, 0, o.batch, o.per_request) : NULL;
    gw_posts *bcast =
        o.bcast ? gw_work_prepare_broadcast(&w, o.batch, o.bcast, BCAST_APNS_ID) : NULL;
    log_follow lf;
    log_follow_open(&lf, f.log);
    double gw_cpu0 = proc_cpu_s(gw.pid), sim_cpu0 = proc_cpu_s(sim.pid), me_cpu0 = self_cpu_s();
    double gw_main0, gw_other0;
    proc_thread_cpu_s(gw.pid, &gw_main0, &gw_other0);
    int64_t t0 = th_now_ms();
    if (batches)
        gw_work_send(h, batches);
    int64_t t_batches = th_now_ms();
    if (bcast)
        gw_work_send(h, bcast);
    int64_t t_sub = th_now_ms();
    /* "Out": the sim's delivery log holds a line for each valid token
     * (it writes it every 100 ms, every 10 ms with --bench), then every
     * outcome is durable (depth 0). */
    uint32_t want_lines = total;
    for (uint32_t i = 0; i < total; i++)
        want_lines -= l->unreg[i];
    log_follow_wait(&lf, want_lines, t0, "");
    int64_t t_log = th_now_ms();
    gw_work_wait_depth(h, 200000);
    int64_t t_done = th_now_ms();
    double gw_cpu = proc_cpu_s(gw.pid) - gw_cpu0, sim_cpu = proc_cpu_s(sim.pid) - sim_cpu0,
           me_cpu = self_cpu_s() - me_cpu0;
    double gw_main, gw_other;
    proc_thread_cpu_s(gw.pid, &gw_main, &gw_other);
    gw_main -= gw_main0;
    gw_other -= gw_other0;
    if (batches)
        gw_work_settle(batches);
    if (bcast)
        gw_work_settle(bcast);
    fprintf(stderr, "submitted %u tokens in %u requests (%zu jobs) in %lld ms (batches %lld ms)\n",
            total, w.requests, w.njobs, (long long)(t_sub - t0), (long long)(t_batches - t0));
    fprintf(stderr,
            "all %u tokens in the delivery log %lld ms after the first POST (%.0f/s end to "
            "end), every outcome durable after %lld ms (cpu: apnsd %.2fs, sim %.2fs, test "
            "client %.2fs)\n",
            total, (long long)(t_log - t0), total * 1000.0 / (double)(t_log - t0),
            (long long)(t_done - t0), gw_cpu, sim_cpu, me_cpu);
    if (o.bench) {
        printf("{\"kind\":\"e2e\",\"count\":%u,\"batch\":%u,\"broadcast\":%u,\"warmup\":%u,"
               "\"connections\":%u,"
               "\"submit_ms\":%lld,\"wall_ms\":%lld,\"per_s\":%.0f,\"durable_ms\":%lld,"
               "\"durable_per_s\":%.0f,\"apnsd_cpu_s\":%.2f,\"apnsd_loop_cpu_s\":%.2f,"
               "\"apnsd_storage_cpu_s\":%.2f,\"sim_cpu_s\":%.2f,\"client_cpu_s\":%.2f}\n",
               total, o.batch, o.bcast, warm, o.app_conns, (long long)(t_sub - t0),
               (long long)(t_log - t0), total * 1000.0 / (double)(t_log - t0),
               (long long)(t_done - t0), total * 1000.0 / (double)(t_done - t0), gw_cpu, gw_main,
               gw_other, sim_cpu, me_cpu);
        fflush(stdout);
        GW_CHECK(gw_metric(h, "apnsd_notifications_total{app=\"shop\",outcome=\"accepted\"}") ==
                     total + warm,
                 "not every notification accepted");
        int st = gw_stop(&gw, 30000);
        GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apnsd exit status %d", st);
        gw_stop(&sim, 10000);
        gw_http_free(h);
        gw_work_free(&w);
        gw_ledger_free(l);
        th_rmtree(f.dir);

        return 0;
    }

    gw_work_check_jobs(&w, h, 60000);
    uint32_t valid = gw_work_valid(&w), unreg_n = gw_work_unreg(&w);
    uint32_t dead = gw_work_check_dead_tokens(&w, h, GW_APP, GW_KEY);
    GW_CHECK(dead == unreg_n, "%u dead tokens listed, %u unregistered submitted", dead, unreg_n);

    /* /metrics */
    gw_resp mr;
    gw_http_do(h, "GET", "/metrics", NULL, NULL, 0, &mr);
    GW_CHECK(mr.status == 200, "GET /metrics %d", mr.status);
    double m_acc =
        gw_metric_in(mr.body, "apnsd_notifications_total{app=\"shop\",outcome=\"accepted\"}");
    double m_rej =
        gw_metric_in(mr.body, "apnsd_notifications_total{app=\"shop\",outcome=\"rejected\"}");
    double m_fail =
        gw_metric_in(mr.body, "apnsd_notifications_total{app=\"shop\",outcome=\"failed\"}");
    double m_exp =
        gw_metric_in(mr.body, "apnsd_notifications_total{app=\"shop\",outcome=\"expired\"}");
    double m_unreg =
        gw_metric_in(mr.body, "apnsd_rejections_total{app=\"shop\",reason=\"Unregistered\"}");
    double m_dead = gw_metric_in(mr.body, "apnsd_dead_tokens_total{app=\"shop\",source=\"410\"}");
    double m_retries = gw_metric_in(mr.body, "apnsd_retries_total{app=\"shop\"}");
    double m_goaways = gw_metric_in(mr.body, "apnsd_goaways_total{app=\"shop\"}");
    double m_depth = gw_metric_in(mr.body, "apnsd_queue_depth");
    double m_202 = gw_metric_in(mr.body, "apnsd_api_requests_total{route=\"push\",status=\"202\"}");
    fprintf(stderr,
            "metrics: accepted %.0f rejected %.0f failed %.0f expired %.0f Unregistered %.0f "
            "dead(410) %.0f retries %.0f goaways %.0f depth %.0f push 202s %.0f\n",
            m_acc, m_rej, m_fail, m_exp, m_unreg, m_dead, m_retries, m_goaways, m_depth, m_202);
    GW_CHECK(m_acc == valid, "apnsd_notifications_total accepted %.0f, want %u", m_acc, valid);
    GW_CHECK(m_rej == unreg_n, "apnsd_notifications_total rejected %.0f, want %u", m_rej, unreg_n);
    GW_CHECK(m_fail == 0 && m_exp == 0, "failed %.0f expired %.0f, want 0", m_fail, m_exp);
    GW_CHECK(m_unreg == unreg_n, "apnsd_rejections_total Unregistered %.0f, want %u", m_unreg,
             unreg_n);
    GW_CHECK(m_dead == unreg_n, "apnsd_dead_tokens_total 410 %.0f, want %u", m_dead, unreg_n);
    GW_CHECK(m_depth == 0, "apnsd_queue_depth %.0f", m_depth);
    GW_CHECK(m_202 == w.requests, "push 202s %.0f, requests %u", m_202, w.requests);
    gw_resp_clear(&mr);

    /* The sim's counters, then a clean stop of both. */
    json_t *sc = gw_sim_counters(&sim);
    int st = gw_stop(&gw, 30000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apnsd exit status %d after SIGTERM", st);
    gw_http_free(h);
    st = gw_stop(&sim, 10000);
    GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "apns-sim exit status %d", st);
    json_decref(sc);
    sc = gw_sim_last_counters(&sim);
    json_int_t s_acc = json_integer_value(json_object_get(sc, "accepted"));
    json_int_t s_inj = json_integer_value(json_object_get(sc, "injected_failures"));
    json_int_t s_goaways = json_integer_value(json_object_get(sc, "goaways"));
    json_int_t s_410 = json_integer_value(
        json_object_get(json_object_get(sc, "rejected_by_reason"), "Unregistered"));
    fprintf(stderr,
            "sim: accepted %lld, 410 %lld, injected 503s %lld, goaways %lld, "
            "connections %lld\n",
            (long long)s_acc, (long long)s_410, (long long)s_inj, (long long)s_goaways,
            (long long)json_integer_value(json_object_get(sc, "connections")));
    GW_CHECK(s_goaways > 0 && m_goaways > 0,
             "no GOAWAYs (sim %lld, apnsd %.0f): fault not exercised", (long long)s_goaways,
             m_goaways);
    GW_CHECK(s_inj > 0, "no 503s injected: fault not exercised");
    for (int i = 0; i < o.nsim_flags; i++) {
        /* The extra faults asked for happened (their answers are not
         * retries: libapns resends them, apnsd never counts them). */
        if (!strcmp(o.sim_flags[i], "--shutdown-after"))
            GW_CHECK(json_integer_value(json_object_get(json_object_get(sc, "rejected_by_reason"),
                                                        "Shutdown")) > 0,
                     "no 503 Shutdown answered: fault not exercised");
        if (!strcmp(o.sim_flags[i], "--idle-timeout"))
            GW_CHECK(json_integer_value(json_object_get(sc, "idle_timeouts")) > 0,
                     "no GOAWAY IdleTimeout sent: fault not exercised");
    }
    GW_CHECK(m_retries >= (double)s_inj, "apnsd_retries_total %.0f < the sim's 503s %lld",
             m_retries, (long long)s_inj);
    GW_CHECK(s_acc == valid, "the sim accepted %lld, want %u", (long long)s_acc, valid);
    GW_CHECK(s_410 == unreg_n,
             "the sim answered %lld 410s, want %u (an unregistered token sent "
             "twice?)",
             (long long)s_410, unreg_n);
    json_decref(sc);

    gw_tally t = gw_ledger_report(l, f.log);
    GW_CHECK(t.missing == 0, "%u valid notifications never delivered", t.missing);
    GW_CHECK(t.dups == 0, "%u duplicate deliveries", t.dups);
    GW_CHECK(t.unreg_delivered == 0, "%u unregistered tokens delivered", t.unreg_delivered);
    GW_CHECK(l->wrong_id == 0, "%u deliveries with the wrong apns-id", l->wrong_id);
    GW_CHECK(l->strays == 0 && t.unsubmitted_delivered == 0, "%u stray deliveries", l->strays);
    GW_CHECK(l->lines == valid, "%u delivery-log lines, want %u", l->lines, valid);

    gw_work_free(&w);
    gw_ledger_free(l);
    th_rmtree(f.dir);

    printf("gw_e2e: %u notifications (%u valid, %u unregistered) through the API: every valid one "
           "delivered exactly once, every dead token registered\n",
           total, valid, unreg_n);
    return 0;
}
