/* test_dispatch.c - the dispatcher against a real SQLite queue and a real
 * apns-sim process (TLS with the test CA, token auth): broadcasts and
 * batches with dead tokens, 503s with durable retries, expiration, send_at,
 * a paused app (InvalidProviderToken) that resumes on reload, a drain
 * with work in flight followed by a second dispatcher that finishes it, and
 * the legacy binary interface with its feedback service, directly and
 * through the app's HTTP CONNECT proxy.
 *
 * Needs APNS_TEST_CERTS (ctest sets it) and apns-sim: $APNS_BIN_DIR/apns-sim,
 * else next to this test binary (both live in the build directory). A
 * missing simulator FAILS the test with a message; it never skips. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>

#include <event2/buffer.h>

#include "apns/features.h" /* APNS_HAVE_LEGACY */
#include "test_queue_util.h"

#include "test_proxy.c" /* tests/support/: an HTTP CONNECT proxy in threads */

#include "apnsd_keys.h"
#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"

#define TOPIC "com.example.app"

/* ---- the simulator ---------------------------------------------------------- */

typedef struct sim {
    pid_t pid;
    int out_fd;
    int port, bin_port, fb_port; /* HTTP/2, binary gateway, feedback service */
    char log[600];
    char err[600]; /* its stderr: the counters at exit */
} sim;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *certs(void)
{
    const char *d = getenv("APNS_TEST_CERTS");
    if (d == NULL || d[0] == '\0')
        fail_msg("APNS_TEST_CERTS is not set: it names the directory tests/certs/gen.sh "
                 "writes (ctest sets it)");
    return d;
}

static void sim_path(char *out, size_t len)
{
    const char *d = getenv("APNS_BIN_DIR");
    char self[512];
    ssize_t n;

    if (d != NULL && d[0] != '\0') {
        snprintf(out, len, "%s/apns-sim", d);
    } else {
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            fail_msg("cannot find apns-sim: set APNS_BIN_DIR to the build directory");
        self[n] = '\0';
        snprintf(out, len, "%s/apns-sim", dirname(self));
    }
    if (access(out, X_OK) != 0)
        fail_msg("apns-sim not found at %s: build it (target apns-sim) or set APNS_BIN_DIR to "
                 "the directory holding it. This test does not skip.",
                 out);
}

/* Starts apns-sim with TLS and token auth; extra: NULL-terminated options. */
static void sim_start(sim *s, const char *dir, const char *const *extra)
{
    char bin[600], cert[600], key[600], keys[600], unreg[600], line[512];
    const char *argv[40];
    int argc = 0, fds[2], want_bin = 0, want_fb = 0, cert_auth = 0;
    size_t used = 0;
    int64_t deadline;

    sim_path(bin, sizeof(bin));
    snprintf(cert, sizeof(cert), "%s/server.pem", certs());
    snprintf(key, sizeof(key), "%s/server.key", certs());
    snprintf(keys, sizeof(keys), "%s/keys", certs());
    snprintf(unreg, sizeof(unreg), "%s/unregistered.txt", dir);
    snprintf(s->log, sizeof(s->log), "%s/delivery.log", dir);
    snprintf(s->err, sizeof(s->err), "%s/sim.err", dir);
    argv[argc++] = bin;
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--tls-cert";
    argv[argc++] = cert;
    argv[argc++] = "--tls-key";
    argv[argc++] = key;
    for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
        want_bin |= strcmp(extra[i], "--binary-listen") == 0;
        want_fb |= strcmp(extra[i], "--feedback-listen") == 0;
        cert_auth |= strcmp(extra[i], "--client-ca") == 0;
    }
    if (!cert_auth) {
        argv[argc++] = "--auth-keys";
        argv[argc++] = keys;
    }
    argv[argc++] = "--topics";
    argv[argc++] = TOPIC;
    argv[argc++] = "--delivery-log";
    argv[argc++] = s->log;
    if (access(unreg, R_OK) == 0) {
        argv[argc++] = "--unregistered";
        argv[argc++] = unreg;
    }
    for (int i = 0; extra != NULL && extra[i] != NULL; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    assert_int_equal(pipe(fds), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        int e = open(s->err, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (e >= 0 && !getenv("APNSD_TEST_VERBOSE"))
            dup2(e, 2);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    s->out_fd = fds[0];
    deadline = now_ms() + 15000;
    /* "apns-sim listening on H:P", then the binary and feedback lines. */
    while (s->port == 0 || (want_bin && s->bin_port == 0) || (want_fb && s->fb_port == 0)) {
        struct pollfd p = {.fd = s->out_fd, .events = POLLIN};
        char *nl;
        ssize_t n;

        if (now_ms() > deadline)
            fail_msg("apns-sim did not print its ports within 15 s");
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = read(s->out_fd, line + used, sizeof(line) - 1 - used);
        if (n <= 0)
            fail_msg("apns-sim exited before listening (see its stderr above)");
        used += (size_t)n;
        line[used] = '\0';
        while ((nl = strchr(line, '\n')) != NULL) {
            char *at = strstr(line, "listening on ");
            *nl = '\0';
            if (at != NULL) {
                int port = atoi(strrchr(at, ':') + 1);
                if (strstr(line, "binary listening") != NULL)
                    s->bin_port = port;
                else if (strstr(line, "feedback listening") != NULL)
                    s->fb_port = port;
                else
                    s->port = port;
            }
            used -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, used + 1);
        }
    }
    assert_true(s->port > 0);
}

static void sim_stop(sim *s)
{
    int status;
    int64_t deadline = now_ms() + 10000;

    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    while (waitpid(s->pid, &status, WNOHANG) != s->pid) {
        if (now_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    close(s->out_fd);
    s->pid = 0;
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *all = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&all, &len);
    char buf[4096];
    size_t n;

    while (fp != NULL && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
        fwrite(buf, 1, n, m);
    if (fp != NULL)
        fclose(fp);
    fclose(m);
    return all;
}

/* ---- the delivery log --------------------------------------------------------- */

typedef struct dlog {
    char (*ids)[37];
    size_t n;
} dlog;

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void dlog_read(const char *path, dlog *l)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t cap = 1024;

    l->n = 0;
    l->ids = malloc(cap * sizeof(*l->ids));
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strlen(line) < 36)
            continue;
        if (l->n == cap) {
            cap *= 2;
            l->ids = realloc(l->ids, cap * sizeof(*l->ids));
        }
        memcpy(l->ids[l->n], line, 36);
        l->ids[l->n][36] = '\0';
        for (int i = 0; i < 36; i++)
            l->ids[l->n][i] = (char)tolower((unsigned char)l->ids[l->n][i]);
        l->n++;
    }
    if (f != NULL)
        fclose(f);
    qsort(l->ids, l->n, sizeof(*l->ids), cmp_id);
}

/* How often id appears. */
static size_t dlog_count(const dlog *l, const char *id)
{
    size_t lo = 0, hi = l->n, n = 0;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(l->ids[mid], id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo + n < l->n && strcmp(l->ids[lo + n], id) == 0)
        n++;
    return n;
}

/* ---- the fixture ---------------------------------------------------------------- */

typedef struct tjob {
    char id[GW_JOB_ID_LEN + 1];
    char app[32];
    uint64_t seed;
    uint32_t n;
    uint8_t *seen;  /* on_result calls per token */
    uint8_t *state; /* last state reported */
    int64_t first_result_ms;
    uint64_t results_at_first; /* the fixture's results (any job) before its first */
} tjob;

typedef struct fx {
    char *dir;
    char db[600];
    sim s;
    struct event_base *base;
    gw_queue *q;
    gw_metrics *m;
    gw_config *cfg;
    gw_dispatch *d;
    tjob jobs[64];
    size_t n_jobs;
    uint64_t results, dups, bad;
    volatile int drained;
    int64_t probe_ms; /* 0: 300 ms */
} fx;

static void on_work(void *ud)
{
    fx *f = ud;
    if (f->d != NULL)
        gw_dispatch_kick(f->d);
}

static void on_result(void *ud, const gw_token_result *r)
{
    fx *f = ud;
    char tok[65], id[GW_JOB_ID_LEN + 1];

    f->results++;
    for (size_t i = 0; i < f->n_jobs; i++) {
        tjob *j = &f->jobs[i];
        if (strcmp(j->id, r->job_id) != 0)
            continue;
        if (r->index >= j->n || strcmp(r->app, j->app) != 0) {
            f->bad++;
            return;
        }
        tq_token(j->seed, r->index, tok);
        gw_apns_id_derive(j->id, r->index, id);
        if (strcmp(tok, r->token) != 0 || strcmp(id, r->apns_id) != 0)
            f->bad++;
        if (j->seen[r->index]++ > 0)
            f->dups++;
        j->state[r->index] = (uint8_t)r->state;
        if (j->first_result_ms == 0) {
            j->first_result_ms = now_ms();
            j->results_at_first = f->results - 1;
        }
        return;
    }
    f->bad++;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static const char *app_section(char *buf, size_t len, const char *name, int port,
                               const char *key_id, const char *team_id, const char *extra)
{
    snprintf(buf, len,
             "[app %s]\n"
             "topic = " TOPIC "\n"
             "environment = custom\n"
             "host = 127.0.0.1\n"
             "port = %d\n"
             "ca_file = %s/ca.pem\n"
             "auth = token\n"
             "key_file = %s/AuthKey_%s.p8\n"
             "key_id = %s\n"
             "team_id = %s\n"
             "connections = 2\n"
             "retry_backoff = 10ms\n"
             "retry_attempts = 10\n"
             "api_keys = test-api-key-%s-0123456789\n"
             "%s\n",
             name, port, certs(), certs(), key_id, key_id, team_id, name, extra ? extra : "");
    return buf;
}

static gw_config *load(fx *f, const char *apps)
{
    char text[10000];
    gw_config_errors errs;
    gw_config *cfg = NULL;

    snprintf(text, sizeof(text), "[queue]\npath = %s\nchunk_tokens = 1000\n[log]\nlevel = warn\n%s",
             f->db, apps);
    if (gw_config_load_string(&gw_apnsd_schema, text, "test.ini", &cfg, &errs) != 0) {
        gw_config_errors_print(&errs, stderr);
        fail_msg("test config refused");
    }
    return cfg;
}

static void start_dispatch(fx *f)
{
    gw_dispatch_opts o = {0};
    char detail[512];

    o.base = f->base;
    o.q = f->q;
    o.m = f->m;
    o.on_result = on_result;
    o.result_ids = 1;
    o.ud = f;
    o.probe_interval_ms = f->probe_ms > 0 ? f->probe_ms : 300;
    o.unknown_app_ms = 300;
    if (gw_dispatch_new(&f->d, &o, f->cfg, detail, sizeof(detail)) != 0)
        fail_msg("gw_dispatch_new: %s", detail);
}

/* A config for apps given as "NAME:KEYID:TEAMID" (NULL-terminated; NULL =
 * just "demo"), all pointing at the simulator. */
static gw_config *config_for(fx *f, const char *const *apps)
{
    static const char *const demo[] = {"demo:ABC123DEFG:DEF123GHIJ", NULL};
    char text[8192] = "", sec[1024], name[64], kid[16], team[16];

    for (int i = 0; (apps ? apps : demo)[i] != NULL; i++) {
        const char *spec = (apps ? apps : demo)[i];
        assert_int_equal(sscanf(spec, "%63[^:]:%15[^:]:%15s", name, kid, team), 3);
        strncat(text, app_section(sec, sizeof(sec), name, f->s.port, kid, team, NULL),
                sizeof(text) - strlen(text) - 1);
    }
    return load(f, text);
}

/* SIGHUP, as apnsd does it. */
static void reload(fx *f, const char *const *apps)
{
    gw_config *cfg = config_for(f, apps);
    gw_config_diff diff;
    char detail[256];

    assert_int_equal(gw_config_diff_new(f->cfg, cfg, &diff), 0);
    if (gw_dispatch_reload(f->d, cfg, &diff, detail, sizeof(detail)) != 0)
        fail_msg("reload: %s", detail);
    gw_config_diff_free(&diff);
    gw_config_free(f->cfg);
    f->cfg = cfg;
}

/* Starts the simulator (extra options), opens the queue and the metrics. */
static void start_sim_queue(fx *f, const char *const *sim_extra)
{
    gw_queue_opts o;
    gw_queue_sqlite_opts so = {0};
    char detail[512];

    sim_start(&f->s, f->dir, sim_extra);
    tq_opts(&o, f->base, 0);
    o.on_work = on_work;
    o.ud = f;
    so.path = f->db;
    if (gw_queue_sqlite_open(&f->q, &o, &so, detail, sizeof(detail)) != 0)
        fail_msg("queue: %s", detail);
    tq_loop_thread = pthread_self();
    assert_int_equal(gw_metrics_new(&f->m), 0);
}

/* ... and a dispatcher for `apps` (see config_for). */
static void start(fx *f, const char *const *sim_extra, const char *const *apps)
{
    start_sim_queue(f, sim_extra);
    f->cfg = config_for(f, apps);
    start_dispatch(f);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    f->dir = tq_tmpdir();
    snprintf(f->db, sizeof(f->db), "%s/queue.db", f->dir);
    f->base = event_base_new();
    gw_log_setup(GW_LOG_FORMAT_LOGFMT, getenv("APNSD_TEST_VERBOSE") ? GW_LOG_DEBUG : GW_LOG_ERROR);
    *state = f;
    return 0;
}

static void on_drained(void *ud)
{
    ((fx *)ud)->drained = 1;
}

/* Drains the dispatcher (clean shutdown) and frees it. */
static void stop_dispatch(fx *f)
{
    if (f->d == NULL)
        return;
    f->drained = 0;
    gw_dispatch_drain(f->d, 10000, on_drained, f);
    tq_run_until(f->base, &f->drained);
    gw_dispatch_free(f->d);
    f->d = NULL;
}

static int teardown(void **state)
{
    fx *f = *state;

    stop_dispatch(f);
    gw_queue_free(f->q);
    gw_metrics_free(f->m);
    gw_config_free(f->cfg);
    sim_stop(&f->s);
    event_base_free(f->base);
    for (size_t i = 0; i < f->n_jobs; i++) {
        free(f->jobs[i].seen);
        free(f->jobs[i].state);
    }
    tq_rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- jobs and waiting --------------------------------------------------------- */

typedef struct jopt {
    int64_t expiration; /* 0 = none */
    int64_t send_at_ms;
} jopt;

static tjob *submit(fx *f, const char *app, uint64_t seed, uint32_t n, const jopt *jo)
{
    tjob *j = &f->jobs[f->n_jobs++];
    gw_job job;
    tq_res r;

    tq_job(&job, app, seed, n);
    if (jo != NULL && jo->expiration != 0)
        job.expiration = jo->expiration;
    if (jo != NULL)
        job.send_at_ms = jo->send_at_ms;
    assert_int_equal(tq_submit(f->base, f->q, &job, &r), 0);
    snprintf(j->id, sizeof(j->id), "%s", r.id);
    snprintf(j->app, sizeof(j->app), "%s", app);
    j->seed = seed;
    j->n = n;
    j->seen = calloc(n, 1);
    j->state = calloc(n, 1);
    return j;
}

static void status(fx *f, const tjob *j, gw_job_status *st)
{
    tq_res r;
    assert_int_equal(tq_status(f->base, f->q, j->id, &r), 0);
    *st = r.st;
}

static void tick_cb(int fd, short what, void *ud)
{
    *(volatile int *)ud = 1;
}

/* Runs the loop for ms milliseconds. */
static void run_for(fx *f, int64_t ms)
{
    volatile int done = 0;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    struct event *ev = evtimer_new(f->base, tick_cb, (void *)&done);

    evtimer_add(ev, &tv);
    tq_run_until(f->base, &done);
    event_free(ev);
}

/* Runs until every submitted job is finished and every final result has
 * been reported, or fails after timeout_ms. */
static void run_until_done(fx *f, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        int all = 1;
        run_for(f, 50);
        for (size_t i = 0; i < f->n_jobs && all; i++) {
            gw_job_status st;
            status(f, &f->jobs[i], &st);
            all = st.finished_ms != 0;
        }
        if (all)
            return;
        if (now_ms() > deadline) {
            for (size_t i = 0; i < f->n_jobs; i++) {
                gw_job_status st;
                status(f, &f->jobs[i], &st);
                fprintf(stderr,
                        "job %zu %s: %s pending %llu accepted %llu rejected %llu retrying %llu "
                        "failed %llu\n",
                        i, f->jobs[i].id, gw_job_state_name(st.state),
                        (unsigned long long)st.pending, (unsigned long long)st.accepted,
                        (unsigned long long)st.rejected, (unsigned long long)st.retrying,
                        (unsigned long long)st.failed);
            }
            fail_msg("jobs not finished within %lld ms", (long long)timeout_ms);
        }
    }
}

static char *metrics_text(fx *f)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *s;

    assert_int_equal(gw_metrics_render(f->m, b), 0);
    n = evbuffer_get_length(b);
    s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

/* The value of one series line ("name{labels}"), or -1 if absent. */
static double metric(fx *f, const char *series)
{
    char *text = metrics_text(f), *p = text;
    double v = -1;
    size_t len = strlen(series);

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[len] == ' ') {
            v = strtod(p + len + 1, NULL);
            break;
        }
        p += len;
    }
    free(text);
    return v;
}

static void check_once(fx *f, const tjob *j)
{
    for (uint32_t i = 0; i < j->n; i++)
        if (j->seen[i] != 1)
            fail_msg("job %s token %u: on_result called %u times", j->id, i, j->seen[i]);
}

/* ---- tests ------------------------------------------------------------------------ */

/* A 10,000-token broadcast with 1% unregistered tokens, small jobs, and a
 * second app of another team: every token answered once, the dead ones in
 * the registry with Apple's timestamp, each accepted one delivered once. */
static void broadcast_and_dead_tokens(void **state)
{
    fx *f = *state;
    static const char *const two[] = {"demo:ABC123DEFG:DEF123GHIJ", "other:XYZ987WVUT:TEAM000002",
                                      NULL};
    char path[700], tok[65], *unreg = malloc(200 * 100);
    size_t off = 0;
    const int64_t ts0 = 1700000000000LL;
    tjob *b, *small[10], *other;
    gw_job_status st;
    dlog log;
    tq_res r;
    size_t dead = 0, pages = 0;

    /* Every 100th token of the broadcast (seed 1) is unregistered. */
    for (uint32_t i = 0; i < 10000; i += 100) {
        tq_token(1, i, tok);
        off += (size_t)sprintf(unreg + off, "%s %lld\n", tok, (long long)(ts0 + i));
    }
    snprintf(path, sizeof(path), "%s/unregistered.txt", f->dir);
    write_file(path, unreg);
    free(unreg);
    start(f, NULL, two);
    b = submit(f, "demo", 1, 10000, NULL);
    for (int i = 0; i < 10; i++)
        small[i] = submit(f, "demo", 100 + (uint64_t)i, 5, NULL);
    other = submit(f, "other", 7, 300, NULL);
    run_until_done(f, 60000);

    status(f, b, &st);
    assert_int_equal(st.accepted, 9900);
    assert_int_equal(st.rejected, 100);
    assert_int_equal(st.state, GW_JOB_PARTIAL);
    check_once(f, b);
    for (uint32_t i = 0; i < 10000; i++)
        assert_int_equal(b->state[i], i % 100 == 0 ? GW_TOKEN_REJECTED : GW_TOKEN_ACCEPTED);
    for (int i = 0; i < 10; i++) {
        status(f, small[i], &st);
        assert_int_equal(st.accepted, 5);
        check_once(f, small[i]);
    }
    status(f, other, &st);
    assert_int_equal(st.accepted, 300);
    check_once(f, other);
    assert_int_equal(f->dups, 0);
    assert_int_equal(f->bad, 0);
    assert_int_equal(f->results, 10000 + 50 + 300);

    /* The registry: 100 entries, source 410, Apple's timestamps. */
    const char *cursor = NULL;
    char cur[GW_DEAD_CURSOR_MAX];
    do {
        memset(&r, 0, sizeof(r));
        assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, cursor, 30, tq_on_dead, &r), 0);
        tq_run_until(f->base, &r.done);
        assert_int_equal(r.err, 0);
        for (size_t i = 0; i < r.n; i++) {
            int found = 0;
            assert_int_equal(r.dead[i].source, GW_DEAD_UNREGISTERED);
            assert_string_equal(r.dead[i].reason, "Unregistered");
            for (uint32_t k = 0; k < 10000 && !found; k += 100) {
                tq_token(1, k, tok);
                if (strcmp(tok, r.dead[i].token) == 0) {
                    assert_int_equal(r.dead[i].apns_ts_ms, ts0 + k);
                    found = 1;
                }
            }
            assert_true(found);
        }
        dead += r.n;
        pages++;
        snprintf(cur, sizeof(cur), "%s", r.cursor);
        cursor = r.has_cursor ? cur : NULL;
    } while (cursor != NULL);
    assert_int_equal(dead, 100);
    assert_true(pages >= 4);

    /* Metrics. */
    assert_true(metric(f, "apnsd_notifications_total{app=\"demo\",outcome=\"accepted\"}") == 9950);
    assert_true(metric(f, "apnsd_notifications_total{app=\"demo\",outcome=\"rejected\"}") == 100);
    assert_true(metric(f, "apnsd_rejections_total{app=\"demo\",reason=\"Unregistered\"}") == 100);
    assert_true(metric(f, "apnsd_dead_tokens_total{app=\"demo\",source=\"410\"}") == 100);
    assert_true(metric(f, "apnsd_notifications_total{app=\"other\",outcome=\"accepted\"}") == 300);
    assert_true(metric(f, "apnsd_app_paused{app=\"demo\"}") == 0);

    /* The simulator's delivery log: each accepted token exactly once. */
    stop_dispatch(f);
    sim_stop(&f->s);
    dlog_read(f->s.log, &log);
    assert_int_equal(log.n, 9900 + 50 + 300);
    for (uint32_t i = 0; i < 10000; i++) {
        char id[GW_JOB_ID_LEN + 1];
        gw_apns_id_derive(b->id, i, id);
        assert_int_equal(dlog_count(&log, id), i % 100 == 0 ? 0 : 1);
    }
    free(log.ids);
}

/* 5% of answers are 503 (plus GOAWAYs): durable retries until every token
 * is accepted, each delivered exactly once. */
static void retries_after_503(void **state)
{
    fx *f = *state;
    const char *extra[] = {"--fail-rate", "503:0.05", "--goaway-every", "700", "--seed", "7", NULL};
    tjob *j;
    gw_job_status st;
    dlog log;

    start(f, extra, NULL);
    j = submit(f, "demo", 2, 3000, NULL);
    run_until_done(f, 60000);
    status(f, j, &st);
    assert_int_equal(st.accepted, 3000);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.state, GW_JOB_DONE);
    check_once(f, j);
    assert_int_equal(f->bad, 0);
    assert_true(metric(f, "apnsd_retries_total{app=\"demo\"}") > 50);

    stop_dispatch(f);
    sim_stop(&f->s);
    dlog_read(f->s.log, &log);
    assert_int_equal(log.n, 3000);
    for (uint32_t i = 0; i < 3000; i++) {
        char id[GW_JOB_ID_LEN + 1];
        gw_apns_id_derive(j->id, i, id);
        assert_int_equal(dlog_count(&log, id), 1);
    }
    free(log.ids);
}

static void set_read_only(fx *f, int on)
{
    tq_res r = {0};

    assert_int_equal(gw_queue_sqlite_set_read_only(f->q, on, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);
}

static int sending(const gw_dispatch_stats *s)
{
    return s->in_flight > 0;
}

static int held(const gw_dispatch_stats *s)
{
    return s->held;
}

static int idle(const gw_dispatch_stats *s)
{
    return s->in_flight == 0;
}

/* Runs the loop until ok(stats) (fails after 30 s). */
static void wait_stats(fx *f, int (*ok)(const gw_dispatch_stats *), const char *what)
{
    gw_dispatch_stats ds;
    int64_t deadline = now_ms() + 30000;

    for (;;) {
        gw_dispatch_stats_get(f->d, &ds);
        if (ok(&ds))
            return;
        if (now_ms() > deadline)
            fail_msg("the dispatcher never got %s", what);
        run_for(f, 10);
    }
}

/* Answers that cannot be recorded are lost (their tokens go out again), so
 * while recording fails the dispatcher holds: nothing new is sent, then
 * at most GW_D_HOLD_PROBE (64) at a time until a record succeeds. Without
 * the hold it would keep its whole window (max_in_flight) busy sending
 * notifications whose answers are thrown away. */
static void hold_while_records_fail(void **state)
{
    fx *f = *state;
    gw_dispatch_stats ds;
    gw_job_status st;
    tjob *j;
    size_t max_in_flight = 0, samples = 0;

    start(f, NULL, NULL);
    j = submit(f, "demo", 11, 40000, NULL);
    wait_stats(f, sending, "to send");
    set_read_only(f, 1);         /* the database refuses writes */
    wait_stats(f, held, "held"); /* the first failed record starts the hold */
    wait_stats(f, idle, "idle"); /* the answers on their way came back */
    /* From then on, through holds and probes, never more than 64. */
    for (int64_t end = now_ms() + 4000; now_ms() < end; samples++) {
        run_for(f, 5);
        gw_dispatch_stats_get(f->d, &ds);
        if (ds.in_flight > max_in_flight)
            max_in_flight = ds.in_flight;
    }
    print_message("hold: max %zu in flight over %zu samples while records failed\n", max_in_flight,
                  samples);
    assert_true(max_in_flight <= 64);
    /* Writable again: the first stored record ends it, everything goes. */
    set_read_only(f, 0);
    run_until_done(f, 120000);
    status(f, j, &st);
    assert_int_equal(st.accepted, 40000);
    assert_int_equal(st.state, GW_JOB_DONE);
    gw_dispatch_stats_get(f->d, &ds);
    assert_false(ds.held);
    stop_dispatch(f);
}

/* Answers that could not be recorded are kept and recorded again once the
 * database is writable: the tokens APNs answered while records failed are
 * NOT sent again (each apns-id reaches the sim exactly once), every outcome
 * ends recorded and reported once, and the gauge of kept answers is back
 * to 0 with the re-recorded ones counted. */
static void rerecord_after_failures(void **state)
{
    fx *f = *state;
    gw_job_status st;
    tjob *j;
    dlog log;
    double kept_mid;
    const uint32_t n = 20000;

    start(f, NULL, NULL);
    j = submit(f, "demo", 13, n, NULL);
    wait_stats(f, sending, "to send");
    set_read_only(f, 1);
    wait_stats(f, held, "held");
    wait_stats(f, idle, "idle");
    run_for(f, 2500); /* past the first hold: probes are answered, not stored */
    kept_mid = metric(f, "apnsd_outcomes_unrecorded");
    set_read_only(f, 0);
    run_until_done(f, 120000);
    status(f, j, &st);
    assert_int_equal(st.accepted, n);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.state, GW_JOB_DONE);
    check_once(f, j);
    stop_dispatch(f);
    sim_stop(&f->s);
    dlog_read(f->s.log, &log);
    for (uint32_t i = 0; i < n; i++) {
        char id[GW_JOB_ID_LEN + 1];
        gw_apns_id_derive(j->id, i, id);
        if (dlog_count(&log, id) != 1)
            fail_msg("token %u (apns-id %s) sent %zu times, want 1", i, id, dlog_count(&log, id));
    }
    assert_int_equal(log.n, n);
    free(log.ids);
    print_message("rerecord: %.0f answers kept while the database was read-only\n", kept_mid);
    assert_true(kept_mid > 0);
    assert_true(metric(f, "apnsd_outcomes_unrecorded") == 0);
    assert_true(metric(f, "apnsd_outcomes_rerecorded_total") >= kept_mid);
}

/* A drain while answers are kept (the database still read-only) waits for
 * them until its timeout, then gives them up: the gauge is back to 0, every
 * chunk handed back, and after a restart on a writable database every
 * token ends accepted, reported once; the given-up ones are sent again
 * (at-least-once, same apns-id). */
static void rerecord_given_up_at_drain_timeout(void **state)
{
    fx *f = *state;
    gw_dispatch_stats ds;
    gw_job_status st;
    tjob *j;
    dlog log;
    double kept;
    const uint32_t n = 20000;

    start(f, NULL, NULL);
    j = submit(f, "demo", 14, n, NULL);
    wait_stats(f, sending, "to send");
    set_read_only(f, 1);
    wait_stats(f, held, "held");
    wait_stats(f, idle, "idle");
    run_for(f, 2500);
    kept = metric(f, "apnsd_outcomes_unrecorded");
    assert_true(kept > 0);
    f->drained = 0;
    gw_dispatch_drain(f->d, 1000, on_drained, f);
    tq_run_until(f->base, &f->drained);
    gw_dispatch_stats_get(f->d, &ds);
    assert_int_equal(ds.leased, 0);
    assert_true(metric(f, "apnsd_outcomes_unrecorded") == 0);
    gw_dispatch_free(f->d);
    f->d = NULL;

    set_read_only(f, 0);
    start_dispatch(f);
    run_until_done(f, 120000);
    status(f, j, &st);
    assert_int_equal(st.accepted, n);
    check_once(f, j);
    stop_dispatch(f);
    sim_stop(&f->s);
    dlog_read(f->s.log, &log);
    for (uint32_t i = 0; i < n; i++) {
        char id[GW_JOB_ID_LEN + 1];
        gw_apns_id_derive(j->id, i, id);
        assert_true(dlog_count(&log, id) >= 1);
    }
    assert_true((double)(log.n - n) >= kept); /* the given-up ones went out again */
    free(log.ids);
}

/* An expired notification is reported expired and never sent; a later
 * send_at is not sent before its time. */
static void expiration_and_send_at(void **state)
{
    fx *f = *state;
    jopt old = {.expiration = now_ms() / 1000 - 60};
    jopt later = {.send_at_ms = now_ms() + 1500};
    tjob *ex, *ok, *sched;
    gw_job_status st;
    dlog log;

    start(f, NULL, NULL);
    ex = submit(f, "demo", 3, 20, &old);
    ok = submit(f, "demo", 4, 20, NULL);
    sched = submit(f, "demo", 5, 20, &later);

    run_for(f, 1000);
    assert_int_equal(sched->first_result_ms, 0); /* nothing before send_at */
    status(f, sched, &st);
    assert_int_equal(st.pending, 20);

    run_until_done(f, 20000);
    assert_true(sched->first_result_ms >= later.send_at_ms);
    status(f, ex, &st);
    assert_int_equal(st.expired, 20);
    assert_int_equal(st.state, GW_JOB_EXPIRED);
    for (uint32_t i = 0; i < 20; i++)
        assert_int_equal(ex->state[i], GW_TOKEN_EXPIRED);
    check_once(f, ex);
    check_once(f, ok);
    check_once(f, sched);
    status(f, sched, &st);
    assert_int_equal(st.accepted, 20);
    assert_true(metric(f, "apnsd_notifications_total{app=\"demo\",outcome=\"expired\"}") == 20);

    stop_dispatch(f);
    sim_stop(&f->s);
    dlog_read(f->s.log, &log);
    assert_int_equal(log.n, 40);
    for (uint32_t i = 0; i < 20; i++) {
        char id[GW_JOB_ID_LEN + 1];
        gw_apns_id_derive(ex->id, i, id);
        assert_int_equal(dlog_count(&log, id), 0);
        gw_apns_id_derive(sched->id, i, id);
        assert_int_equal(dlog_count(&log, id), 1);
    }
    free(log.ids);
}

/* App "bad" signing with AuthKey_UNKNOWN000.p8 (not in --auth-keys), and
 * the same app with the right key. */
static const char *const with_bad[] = {"demo:ABC123DEFG:DEF123GHIJ", "bad:UNKNOWN000:DEF123GHIJ",
                                       NULL};
static const char *const fixed[] = {"demo:ABC123DEFG:DEF123GHIJ", "bad:ABC123DEFG:DEF123GHIJ",
                                    NULL};

/* A key APNs does not know: InvalidProviderToken pauses the app (tokens
 * wait, none failed), probes keep it paused, the other app is unaffected;
 * a reload with the right key resumes it and everything is delivered. */
static void invalid_provider_token_pauses(void **state)
{
    fx *f = *state;
    tjob *bad, *good;
    gw_job_status st;

    start(f, NULL, NULL);
    /* Add app "bad", signing with AuthKey_UNKNOWN000.p8 (not in --auth-keys). */
    reload(f, with_bad);
    bad = submit(f, "bad", 6, 50, NULL);
    good = submit(f, "demo", 8, 50, NULL);
    run_for(f, 1500); /* the pause, then a few probes 300 ms apart */

    assert_true(gw_dispatch_app_paused(f->d, "bad"));
    assert_false(gw_dispatch_app_paused(f->d, "demo"));
    assert_true(metric(f, "apnsd_app_paused{app=\"bad\"}") == 1);
    status(f, bad, &st);
    assert_int_equal(st.tokens, 50);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.accepted, 0);
    assert_int_equal(st.pending + st.retrying, 50);
    for (uint32_t i = 0; i < 50; i++)
        assert_int_equal(bad->seen[i], 0);
    status(f, good, &st);
    assert_int_equal(st.accepted, 50);

    /* The operator fixes the key: SIGHUP -> replaced app, fresh client. */
    reload(f, fixed);
    assert_false(gw_dispatch_app_paused(f->d, "bad"));
    run_until_done(f, 20000);
    status(f, bad, &st);
    assert_int_equal(st.accepted, 50);
    check_once(f, bad);
    check_once(f, good);
    assert_true(metric(f, "apnsd_app_paused{app=\"bad\"}") == 0);
}

/* Issue 12 (point 13): the reload that fixes a paused app's credentials
 * releases its work at once. The probe interval is an hour, so the old
 * probe time cannot come during the test: the pause, then every chunk
 * handed back to the queue (held until the probe time), then the reload,
 * then all 50 accepted, each once. */
static void reload_fix_releases_held_work(void **state)
{
    fx *f = *state;
    int64_t deadline;
    gw_dispatch_stats ds;
    gw_job_status st;
    tjob *bad;

    f->probe_ms = 3600 * 1000;
    start(f, NULL, NULL);
    reload(f, with_bad);
    bad = submit(f, "bad", 6, 50, NULL);
    /* Paused, and nothing held any more: every chunk is back in the queue. */
    deadline = now_ms() + 20000;
    do {
        run_for(f, 50);
        gw_dispatch_stats_get(f->d, &ds);
    } while ((!gw_dispatch_app_paused(f->d, "bad") || ds.leased > 0 || ds.in_flight > 0) &&
             now_ms() < deadline);
    assert_true(gw_dispatch_app_paused(f->d, "bad"));
    assert_int_equal(ds.leased, 0);
    status(f, bad, &st);
    assert_int_equal(st.accepted, 0);
    assert_int_equal(st.pending + st.retrying, 50);

    reload(f, fixed);
    run_until_done(f, 20000); /* fails unless done long before the probe time */
    status(f, bad, &st);
    assert_int_equal(st.accepted, 50);
    check_once(f, bad);
    assert_false(gw_dispatch_app_paused(f->d, "bad"));
}

/* Small jobs fill the window: 60 one-token jobs against answers delayed by
 * a second, on an app of 2 connections (2,000 streams). The dispatcher
 * holds a chunk until its outcomes are stored; it used to hold at most 8
 * chunks (the window counted in 1,000-token chunks), so 8 tokens were in
 * flight at most. Counted in small chunks, more than that are sent before
 * the first answer, and each token is still answered exactly once. */
static void small_jobs_fill_the_window(void **state)
{
    fx *f = *state;
    const char *extra[] = {"--latency-ms", "1000", NULL};
    gw_dispatch_stats ds;
    tjob *j[60];
    uint64_t max_in_flight = 0;

    start(f, extra, NULL);
    for (int i = 0; i < 60; i++)
        j[i] = submit(f, "demo", 500 + (uint64_t)i, 1, NULL);
    for (int k = 0; f->results < 60 && k < 6000; k++) {
        run_for(f, 5);
        gw_dispatch_stats_get(f->d, &ds);
        if (ds.in_flight > max_in_flight)
            max_in_flight = ds.in_flight;
    }
    assert_int_equal(f->results, 60);
    for (int i = 0; i < 60; i++)
        check_once(f, j[i]);
    assert_true(max_in_flight > 8);
    assert_true(max_in_flight <= 60);
}

/* Two apps, "demo" and "other", against a sim answering after 200 ms. */
static void start_two_apps(fx *f)
{
    static const char *const two[] = {"demo:ABC123DEFG:DEF123GHIJ", "other:XYZ987WVUT:TEAM000002",
                                      NULL};
    const char *extra[] = {"--latency-ms", "200", NULL};

    start(f, extra, two);
}

/* An idle app is always hungry; that must not let the dispatcher lease a
 * busy app's broadcast chunk after chunk. Here two apps of 2 connections
 * (2 x 1,000 streams each), chunks of 1,000 tokens, "other" idle, a
 * 30,000-token broadcast for "demo": the dispatcher holds at most every
 * app's window plus two full chunks each (2 x (2,000 + 2,000) = 8,000
 * tokens) before a lease, and one lease adds at most the window in full
 * chunks (4 per app): never more than 16 chunks. (It held all 30 when the
 * cap counted only chunks of 32 tokens.) */
static void idle_app_does_not_pile_up_chunks(void **state)
{
    fx *f = *state;
    gw_dispatch_stats ds;
    size_t max_leased = 0;
    tjob *b;

    start_two_apps(f);
    b = submit(f, "demo", 21, 30000, NULL);
    for (int k = 0; f->results < 30000 && k < 12000; k++) {
        run_for(f, 5);
        gw_dispatch_stats_get(f->d, &ds);
        if (ds.leased > max_leased)
            max_leased = ds.leased;
    }
    assert_int_equal(f->results, 30000);
    check_once(f, b);
    assert_int_equal(f->dups, 0);
    print_message("idle app: at most %zu chunks held\n", max_leased);
    assert_true(max_leased >= 2);
    assert_true(max_leased <= 16);
}

/* Apps share the dispatcher's budget: one app's broadcast holds all the
 * tokens the dispatcher may lease (every app's window plus two chunks each,
 * 8,000 here), and a one-token job of a second app, idle until then, is
 * leased at its submit anyway (one chunk past the budget per submit, for an
 * app that holds nothing; the lease's turn order hands out its first chunk
 * first) instead of waiting until the broadcast's held chunks drain below
 * the budget. Judged by order: how many of the broadcast's answers came
 * between the job's submit and its answer. */
static void second_app_not_held_back_by_a_broadcast(void **state)
{
    fx *f = *state;
    gw_dispatch_stats ds;
    uint64_t at_submit;
    tjob *b, *o;

    start_two_apps(f);
    b = submit(f, "demo", 31, 30000, NULL);
    for (int k = 0; k < 12000; k++) { /* the broadcast holds the budget */
        run_for(f, 5);
        gw_dispatch_stats_get(f->d, &ds);
        if (f->results >= 2000 && ds.leased >= 8)
            break;
    }
    assert_true(f->results >= 2000);
    at_submit = f->results;
    o = submit(f, "other", 32, 1, NULL);
    for (int k = 0; f->results < 30001 && k < 12000; k++)
        run_for(f, 5);
    assert_int_equal(f->results, 30001);
    check_once(f, b);
    check_once(f, o);
    assert_int_equal(f->dups, 0);
    print_message("second app: answered after %llu of the broadcast's answers since its submit\n",
                  (unsigned long long)(o->results_at_first - at_submit));
    assert_true(o->results_at_first - at_submit <= 4000);
}

/* SIGTERM-style drain while answers are outstanding: every answer that
 * arrives is recorded, nothing fails, chunks go back; a second dispatcher
 * finishes the rest, and every token is delivered exactly once. */
static void drain_with_work_in_flight(void **state)
{
    fx *f = *state;
    const char *extra[] = {"--latency-ms", "300", NULL};
    gw_dispatch_stats ds;
    gw_job_status st;
    tjob *j;
    dlog log;
    uint64_t before;

    start(f, extra, NULL);
    j = submit(f, "demo", 9, 6000, NULL);
    while (j->first_result_ms == 0)
        run_for(f, 10);
    gw_dispatch_stats_get(f->d, &ds);
    assert_true(ds.in_flight > 0);

    f->drained = 0;
    gw_dispatch_drain(f->d, 10000, on_drained, f);
    tq_run_until(f->base, &f->drained);
    gw_dispatch_stats_get(f->d, &ds);
    assert_int_equal(ds.in_flight, 0);
    assert_int_equal(ds.leased, 0);
    status(f, j, &st);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.rejected, 0);
    assert_true(st.accepted > 0);
    assert_true(st.pending > 0); /* the drain stopped feeding */
    assert_int_equal(st.accepted + st.pending, 6000);
    before = f->results;
    assert_int_equal(before, st.accepted); /* every durable answer was reported */
    gw_dispatch_free(f->d);
    f->d = NULL;

    /* A restart on the same queue finishes the job. */
    start_dispatch(f);
    run_until_done(f, 30000);
    status(f, j, &st);
    assert_int_equal(st.accepted, 6000);
    check_once(f, j);

    stop_dispatch(f);
    sim_stop(&f->s);
    dlog_read(f->s.log, &log);
    assert_int_equal(log.n, 6000);
    for (uint32_t i = 0; i < 6000; i++) {
        char id[GW_JOB_ID_LEN + 1];
        gw_apns_id_derive(j->id, i, id);
        assert_int_equal(dlog_count(&log, id), 1);
    }
    free(log.ids);
}

/* The legacy binary interface (certificate auth): bad tokens end a
 * connection with an error packet, what followed is resent; the bad ones are
 * dead tokens (BadDeviceToken). A push to an uninstalled app is accepted in
 * silence, as Apple's gateway did, and only the feedback service reports it
 * (with the time of the push); it never lists the invalid ones. With
 * via_proxy, the app's `proxy` is an HTTP CONNECT proxy (test_proxy.h) and
 * both the gateway connections and the feedback fetches go through it. */
#if APNS_HAVE_LEGACY
static void binary_run(void **state, int via_proxy)
{
    fx *f = *state;
    static tp_proxy px; /* its threads outlive the test */
    char proxy_line[64] = "", want[96];
    const char *extra[] = {"--binary-listen",
                           "127.0.0.1:0",
                           "--feedback-listen",
                           "127.0.0.1:0",
                           "--client-ca",
                           NULL,
                           "--invalid-tokens",
                           NULL,
                           "--binary-error-delay-ms",
                           "100",
                           NULL};
    char ca[600], inv[600], path[600], text[4096], tok[65], line[1024];
    const uint32_t bad[] = {50, 150, 250}, gone = 77;
    int64_t t0 = (int64_t)time(NULL) * 1000;
    tjob *j;
    gw_job_status st;
    tq_res r;
    FILE *fp;
    size_t lines = 0;

    snprintf(ca, sizeof(ca), "%s/ca.pem", certs());
    snprintf(inv, sizeof(inv), "%s/invalid.txt", f->dir);
    extra[5] = ca;
    extra[7] = inv;
    fp = fopen(inv, "w");
    for (int i = 0; i < 3; i++) {
        tq_token(11, bad[i], tok);
        fprintf(fp, "%s\n", tok);
    }
    fclose(fp);
    /* One uninstalled app: known only through the feedback service. */
    snprintf(path, sizeof(path), "%s/unregistered.txt", f->dir);
    fp = fopen(path, "w");
    tq_token(11, gone, tok);
    fprintf(fp, "%s 1600000000000\n", tok);
    fclose(fp);

    start_sim_queue(f, extra);
    if (via_proxy) {
        memset(&px, 0, sizeof(px));
        tp_proxy_start(&px);
        snprintf(proxy_line, sizeof(proxy_line), "proxy = 127.0.0.1:%u\n", px.port);
    }
    snprintf(text, sizeof(text),
             "[app bin]\n"
             "topic = " TOPIC "\n"
             "environment = custom\n"
             "host = 127.0.0.1\n"
             "port = %d\n"
             "ca_file = %s\n"
             "transport = binary\n"
             "auth = certificate\n"
             "cert_file = %s/client.pem\n"
             "key_file = %s/client.key\n"
             "connections = 1\n"
             "feedback_port = %d\n"
             "feedback_interval = 1s\n"
             "api_keys = test-api-key-bin-0123456789\n",
             f->s.bin_port, ca, certs(), certs(), f->s.fb_port);
    strcat(text, proxy_line); /* the last key of [app bin] */
    f->cfg = load(f, text);
    start_dispatch(f);

    j = submit(f, "bin", 11, 300, NULL);
    run_until_done(f, 30000);
    status(f, j, &st);
    assert_int_equal(st.accepted, 297); /* 296 delivered + the uninstalled app's */
    assert_int_equal(st.rejected, 3);
    check_once(f, j);
    assert_int_equal(f->bad, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(j->state[bad[i]], GW_TOKEN_REJECTED);
    assert_int_equal(j->state[gone], GW_TOKEN_ACCEPTED); /* no error packet for it */
    run_for(f, 1500);                                    /* a feedback fetch after the rejections */

    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_dead_list(f->q, "bin", 0, NULL, 100, tq_on_dead, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 4); /* 3 rejected (status 8) + 1 from feedback only */
    tq_token(11, gone, tok);
    for (size_t i = 0; i < r.n; i++) {
        if (strcmp(r.dead[i].token, tok) == 0) {
            /* The time APNs learned it: the push, not the file's value. */
            assert_int_equal(r.dead[i].source, GW_DEAD_FEEDBACK);
            assert_true(r.dead[i].apns_ts_ms >= t0 &&
                        r.dead[i].apns_ts_ms <= (int64_t)time(NULL) * 1000);
        } else {
            assert_int_equal(r.dead[i].source, GW_DEAD_BAD_DEVICE_TOKEN);
        }
    }
    assert_true(metric(f, "apnsd_dead_tokens_total{app=\"bin\",source=\"feedback\"}") == 1);
    assert_true(metric(f, "apnsd_dead_tokens_total{app=\"bin\",source=\"BadDeviceToken\"}") == 3);
    if (via_proxy) {
        /* A tunnel for each gateway connection (the first and one after each
         * error packet) and for each feedback fetch; nothing else. */
        int gw, fb;
        snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%d HTTP/1.1", f->s.bin_port);
        gw = tp_proxy_count(&px, want);
        snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%d HTTP/1.1", f->s.fb_port);
        fb = tp_proxy_count(&px, want);
        assert_true(gw >= 4); /* 3 error packets: 4 connections at least */
        assert_true(fb >= 1);
        assert_int_equal(gw + fb, px.connects);
    }

    /* Each accepted token delivered exactly once (ids are synthetic here:
     * match tokens). */
    stop_dispatch(f);
    sim_stop(&f->s);
    fp = fopen(f->s.log, "r");
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp) != NULL)
        lines++;
    fclose(fp);
    assert_int_equal(lines, 296);
    {
        char *all = read_text(f->s.log);
        for (uint32_t i = 0; i < 300; i++) {
            char *p = all;
            int n = 0;
            tq_token(11, i, tok);
            while ((p = strstr(p, tok)) != NULL) {
                n++;
                p += 64;
            }
            assert_int_equal(n, i == 50 || i == 150 || i == 250 || i == gone ? 0 : 1);
        }
        free(all);
    }
}

static void binary_transport_and_feedback(void **state)
{
    binary_run(state, 0);
}

static void binary_through_a_proxy(void **state)
{
    binary_run(state, 1);
}
#endif

/* SIGHUP removes an app with answers outstanding: they are recorded, its
 * connections close, its queued work waits (nothing fails); the app that
 * stays keeps its connections; adding the app back finishes the job, each
 * token delivered once. */
static void reload_removes_and_adds_an_app(void **state)
{
    fx *f = *state;
    static const char *const both[] = {"demo:ABC123DEFG:DEF123GHIJ", "other:XYZ987WVUT:TEAM000002",
                                       NULL};
    static const char *const one[] = {"demo:ABC123DEFG:DEF123GHIJ", NULL};
    const char *extra[] = {"--latency-ms", "200", NULL};
    gw_dispatch_stats ds;
    gw_job_status st;
    tjob *j, *k;
    dlog log;
    char *err;

    start(f, extra, both);
    k = submit(f, "demo", 12, 10, NULL);
    run_until_done(f, 10000);
    j = submit(f, "other", 13, 5000, NULL);
    while (j->first_result_ms == 0)
        run_for(f, 10);

    reload(f, one);
    gw_dispatch_stats_get(f->d, &ds);
    assert_int_equal(ds.apps, 1);
    assert_int_equal(ds.retiring, 1);
    run_for(f, 1500);
    gw_dispatch_stats_get(f->d, &ds);
    assert_int_equal(ds.retiring, 0); /* drained and freed */
    status(f, j, &st);
    assert_int_equal(st.failed, 0);
    assert_true(st.accepted > 0);
    assert_true(st.pending > 0);
    assert_int_equal(st.accepted + st.pending, 5000);
    assert_int_equal(f->results - 10, st.accepted);
    assert_true(metric(f, "apnsd_connections{app=\"other\",state=\"up\"}") == 0);
    assert_true(metric(f, "apnsd_connections{app=\"demo\",state=\"up\"}") == 2);

    reload(f, both);
    run_until_done(f, 30000);
    status(f, j, &st);
    assert_int_equal(st.accepted, 5000);
    check_once(f, j);
    check_once(f, k);

    stop_dispatch(f);
    sim_stop(&f->s);
    /* "demo" kept its two connections through both reloads: 2 + 2 for
     * "other", 2 for "other" again. */
    err = read_text(f->s.err);
    assert_non_null(strstr(err, "\"connections\":6,"));
    free(err);
    dlog_read(f->s.log, &log);
    assert_int_equal(log.n, 5010);
    for (uint32_t i = 0; i < 5000; i++) {
        char id[GW_JOB_ID_LEN + 1];
        gw_apns_id_derive(j->id, i, id);
        assert_int_equal(dlog_count(&log, id), 1);
    }
    free(log.ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(broadcast_and_dead_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(small_jobs_fill_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_app_does_not_pile_up_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(second_app_not_held_back_by_a_broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(retries_after_503, setup, teardown),
        cmocka_unit_test_setup_teardown(hold_while_records_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(rerecord_after_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(rerecord_given_up_at_drain_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(expiration_and_send_at, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_provider_token_pauses, setup, teardown),
        cmocka_unit_test_setup_teardown(reload_fix_releases_held_work, setup, teardown),
        cmocka_unit_test_setup_teardown(drain_with_work_in_flight, setup, teardown),
#if APNS_HAVE_LEGACY
        cmocka_unit_test_setup_teardown(binary_transport_and_feedback, setup, teardown),
        cmocka_unit_test_setup_teardown(binary_through_a_proxy, setup, teardown),
#endif
        cmocka_unit_test_setup_teardown(reload_removes_and_adds_an_app, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
