/*
 * main.c - the apnsd binary: configuration, start-up in dependency order,
 * signals (drain on SIGTERM/SIGINT, reload on SIGHUP) and shutdown.
 *
 * Start: config -> log -> queue (its on_work kicks the dispatcher) ->
 * metrics -> dispatcher -> webhooks -> HTTP API; the dispatcher's final
 * results go to the API (?wait) and the webhooks. Then one stdout line
 * "apnsd listening on HOST:PORT" (the bound port, also after port 0) for
 * scripts, the log line "apnsd ready", and READY=1 to systemd's notify
 * socket (apnsd_service.h; then WATCHDOG=1 every WatchdogSec/2 if asked).
 * With a run directory, the pid file, and a verdict after every reload
 * for `apnsd --reload`.
 *
 * Stop (SIGTERM, SIGINT): STOPPING=1; the API answers new pushes 503, the
 * dispatcher drains (answers in flight are recorded, chunks handed back,
 * connections closed), the API's open requests finish, webhooks flush, all
 * within [server] drain_timeout; exit 0. A second signal exits at once with 3:
 * nothing durable is lost, the queue sends the rest after the restart.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "apnsd_keys.h"
#include "apnsd_service.h"
#include "clock.h"
#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "queue_jetstream.h"
#include "queue_keys.h"
#include "queue_sqlite.h"
#include "timer.h"
#include "webhook.h"

#define APNSD_VERSION "0.1.0"

/* The install's configuration (daemon/CMakeLists.txt: APNSD_CONFDIR). */
#ifndef APNSD_DEFAULT_CONFIG
#define APNSD_DEFAULT_CONFIG "/etc/apnsd/apnsd.ini"
#endif
/* Names the source of a configuration made of the environment alone. */
#define ENV_ONLY "environment (no file)"

enum {
    EXIT_OK = 0,     /* stopped after a drain; --check-config: valid */
    EXIT_START = 1,  /* start-up failed (database, listen address, credentials) */
    EXIT_CONFIG = 2, /* usage error or invalid configuration */
    EXIT_CUT = 3,    /* a second SIGTERM/SIGINT cut the drain short */
};

#define DEPTH_MS       1000  /* storage error and backend operation counters */
#define PENDING_MS     50    /* drain: polling the API's open requests */
#define RELOAD_WAIT_MS 30000 /* apnsd --reload: the longest wait for the verdict */

static const char usage[] =
    "usage: apnsd [--config FILE] [--run-dir DIR] [--check-config | --dump-config | --reload]\n"
    "\n"
    "apnsd is a push gateway for Apple Push Notification service: an HTTP API\n"
    "that stores notifications durably (SQLite) and sends them to APNs.\n"
    "\n"
    "  -c, --config FILE   the configuration file (default: $APNSD_CONFIG, else\n"
    "                      " APNSD_DEFAULT_CONFIG ")\n"
    "      --check-config  load and validate the configuration, print every\n"
    "                      problem, and exit (0 valid, 2 invalid)\n"
    "      --dump-config   print the effective configuration (defaults and\n"
    "                      environment overrides applied, secrets masked)\n"
    "      --reload        make the running apnsd reload its configuration and\n"
    "                      wait for its verdict: exit 0 applied, 2 refused (the\n"
    "                      running configuration stays), 1 no answer\n"
    "      --run-dir DIR   where apnsd writes its pid and reload verdicts and\n"
    "                      --reload reads them (default: $RUNTIME_DIRECTORY)\n"
    "  -V, --version       print the version\n"
    "  -h, --help          this text\n"
    "\n"
    "Without a file (none named and none at the default path) the environment\n"
    "alone may configure apnsd: APNSD_APPS=shop,watch declares the apps, with\n"
    "APNSD_APP_<NAME>_<KEY> and APNSD_<SECTION>_<KEY> for their keys.\n"
    "\n"
    "Runs in the foreground and logs to stderr ([log] format = logfmt|json).\n"
    "On start it prints one line to stdout: 'apnsd listening on HOST:PORT'.\n"
    "Under systemd (Type=notify) it sends READY=1 once its listeners and queue\n"
    "are open, STOPPING=1 when it drains, and WATCHDOG=1 if WatchdogSec= is set.\n"
    "\n"
    "Signals:\n"
    "  SIGTERM, SIGINT  drain: refuse new pushes, finish what is in flight, close\n"
    "                   connections, flush webhooks (within [server] drain_timeout),\n"
    "                   exit 0. A second signal exits at once (3); unsent work stays\n"
    "                   queued and is sent after the restart.\n"
    "  SIGHUP           reload the configuration file; on any error keep the running\n"
    "                   one. Unchanged apps keep their connections. The verdict is\n"
    "                   written to the run directory (apnsd --reload reads it).\n"
    "\n"
    "Exit status:\n"
    "  0  stopped after a drain, or --check-config found no error\n"
    "  1  start-up failed (queue database, listen address, key or certificate)\n"
    "  2  usage error or invalid configuration\n"
    "  3  a second SIGTERM/SIGINT cut the drain short\n"
    "\n"
    "Documentation: docs/operations.md, docs/configuration.md, docs/queue.md\n";

typedef struct apnsd {
    struct event_base *base;
    const char *path; /* named by --config or APNSD_CONFIG; NULL: the default */
    gw_config *cfg;
    gw_metrics *m;
    gw_queue *q;
    gw_dispatch *d;
    gw_webhooks *wh;
    gw_api *api;
    const char *run_dir; /* pid file and reload verdicts; NULL: none */
    uint64_t reloads;    /* verdicts written */
    struct event *sig_term, *sig_int, *sig_hup, *depth_ev, *pending_ev, *watchdog_ev;
    int64_t watchdog_ms;
    int draining;
    uint64_t failures_seen;                   /* queue transactions that failed, counted */
    uint64_t orphans_seen;                    /* orphan chunks dropped, counted */
    uint64_t cancelled_seen;                  /* tokens cancelled, counted */
    uint64_t ops_seen[GW_QUEUE_OP_KINDS_MAX]; /* backend operations, counted */
    int64_t drain_deadline;                   /* monotonic ms */
} apnsd;

static int64_t left_ms(const apnsd *s)
{
    int64_t left = s->drain_deadline - common_mono_ms();
    return left > 0 ? left : 0;
}

/* ---- wiring ----------------------------------------------------------------- */

/* Each call is a no-op while its module is not open yet (NULL). */
static void on_work(void *ud)
{
    gw_dispatch_kick(((apnsd *)ud)->d);
}

static void on_result(void *ud, const gw_token_result *r)
{
    apnsd *s = ud;
    gw_api_on_result(s->api, r);
    gw_webhooks_result(s->wh, r);
}

/* "GW_QUEUE_EFULL" -> "full", "APNS_ENOMEM" -> "nomem": the kind label. */
static const char *err_kind(int err, char *buf, size_t len)
{
    const char *n = gw_queue_err_name(err);
    const char *e = strstr(n, "_E");
    size_t i;

    n = e != NULL ? e + 2 : n;
    for (i = 0; n[i] != '\0' && i + 1 < len; i++)
        buf[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
    buf[i] = '\0';
    return buf;
}

/* Every second: failed storage transactions and the backend's operations
 * (the queue depth gauge is read when /metrics is scraped). */
static void depth_cb(int fd, short what, void *ud)
{
    apnsd *s = ud;
    gw_queue_stats st;
    char kind[32];

    gw_queue_stats_get(s->q, &st);
    if (st.failures > s->failures_seen)
        gw_metrics_add(
            s->m, GW_M_STORAGE_ERRORS,
            err_kind(st.last_err != 0 ? st.last_err : GW_QUEUE_ESTORE, kind, sizeof(kind)), NULL,
            st.failures - s->failures_seen);
    s->failures_seen = st.failures;
    if (st.orphans > s->orphans_seen)
        gw_metrics_add(s->m, GW_M_QUEUE_ORPHANS, NULL, NULL, st.orphans - s->orphans_seen);
    s->orphans_seen = st.orphans;
    if (st.cancelled > s->cancelled_seen)
        gw_metrics_add(s->m, GW_M_CANCELLED, NULL, NULL, st.cancelled - s->cancelled_seen);
    s->cancelled_seen = st.cancelled;
    /* The backend's own operation counters (JetStream: publish, ack, read,
     * fetch; SQLite keeps none). */
    gw_queue_op_count ops[GW_QUEUE_OP_KINDS_MAX];
    size_t n_ops = gw_queue_op_counts(s->q, ops, GW_QUEUE_OP_KINDS_MAX);
    for (size_t i = 0; i < n_ops; i++) {
        gw_metrics_add(s->m, GW_M_JS_OPS, ops[i].kind, NULL, ops[i].n - s->ops_seen[i]);
        s->ops_seen[i] = ops[i].n;
    }
}

/* The storage series at 0 from the start: every storage failure kind, and
 * the backend's operation kinds (JetStream). */
static int register_series(apnsd *s)
{
    static const int storage[] = {GW_QUEUE_EFULL,     GW_QUEUE_EIO,   GW_QUEUE_ECORRUPT,
                                  GW_QUEUE_EREADONLY, GW_QUEUE_EBUSY, GW_QUEUE_ESTORE};
    gw_queue_op_count ops[GW_QUEUE_OP_KINDS_MAX];
    size_t n_ops = gw_queue_op_counts(s->q, ops, GW_QUEUE_OP_KINDS_MAX);
    char kind[32];
    int rc = 0;

    for (size_t i = 0; i < sizeof(storage) / sizeof(storage[0]); i++)
        rc |= gw_metrics_register(s->m, GW_M_STORAGE_ERRORS,
                                  err_kind(storage[i], kind, sizeof(kind)), NULL);
    for (size_t i = 0; i < n_ops; i++)
        rc |= gw_metrics_register(s->m, GW_M_JS_OPS, ops[i].kind, NULL);
    rc |= gw_metrics_register(s->m, GW_M_QUEUE_ORPHANS, NULL, NULL);
    rc |= gw_metrics_register(s->m, GW_M_CANCELLED, NULL, NULL);
    return rc;
}

/* ---- drain --------------------------------------------------------------------- */

static void on_flushed(void *ud)
{
    apnsd *s = ud;
    gw_log(GW_LOG_INFO, "apnsd", "stopped", NULL);
    event_base_loopbreak(s->base);
}

static void pending_cb(int fd, short what, void *ud)
{
    apnsd *s = ud;
    if (gw_api_pending(s->api) > 0 && left_ms(s) > 0) {
        gw_timer_in(s->pending_ev, PENDING_MS);
        return;
    }
    gw_webhooks_flush(s->wh, left_ms(s) > 1000 ? left_ms(s) : 1000, on_flushed, s);
}

static void on_drained(void *ud)
{
    apnsd *s = ud;
    gw_log(GW_LOG_INFO, "apnsd", "dispatcher drained", NULL);
    pending_cb(-1, EV_TIMEOUT, s);
}

static void stop_cb(int sig, short what, void *ud)
{
    apnsd *s = ud;
    char t[32];

    if (s->draining) {
        gw_log(GW_LOG_WARN, "apnsd",
               "second signal: exiting now; unsent notifications stay queued for the restart",
               "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
        _exit(EXIT_CUT);
    }
    s->draining = 1;
    gw_apnsd_notify("STOPPING=1");
    int64_t timeout_ms = gw_apnsd_server_config_of(s->cfg)->drain_timeout_ms;

    s->drain_deadline = common_mono_ms() + timeout_ms;
    snprintf(t, sizeof(t), "%lldms", (long long)timeout_ms);
    gw_log(GW_LOG_INFO, "apnsd", "draining: new pushes are refused, in-flight work finishes",
           "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "timeout", t, NULL);
    gw_api_stop_accepting(s->api);
    gw_dispatch_drain(s->d, timeout_ms, on_drained, s);
}

/* ---- reload ---------------------------------------------------------------------- */

/* [log]: at start and on every reload that changes it. */
static void log_setup(const gw_config *cfg)
{
    const gw_apnsd_log_config *l = gw_apnsd_log_config_of(cfg);
    gw_log_setup(l->format, (gw_log_level)l->level);
}

static void log_config_errors(const gw_config_errors *e, gw_log_level level, const char *msg)
{
    for (unsigned i = 0; i < e->n; i++)
        if (level != GW_LOG_WARN || e->diag[i].warning)
            gw_log(e->diag[i].warning ? GW_LOG_WARN : level, "config", msg, "error",
                   e->diag[i].text, NULL);
}

/* Appends one line to the verdict's text (cut when full). */
static void say(char *text, size_t len, const char *line)
{
    size_t used = strlen(text);
    if (used + 1 < len)
        snprintf(text + used, len - used, "%s\n", line);
}

static void say_config_errors(const gw_config_errors *e, char *text, size_t len)
{
    for (unsigned i = 0; i < e->n; i++)
        say(text, len, e->diag[i].text);
}

/* The configuration: the file named (--config, APNSD_CONFIG), else the
 * default file, else, when that does not exist and APNSD_APPS is set, the
 * environment alone. *source: what was read, for messages. Returns 0 or
 * gw_config_load_*'s error (errs says why), or -1: no file named, none at
 * the default path, no APNSD_APPS (the caller says so). */
static int load_config(const apnsd *s, gw_config **out, gw_config_errors *errs, const char **source)
{
    const char *apps = getenv("APNSD_APPS");

    *source = s->path != NULL ? s->path : APNSD_DEFAULT_CONFIG;
    if (s->path == NULL && access(APNSD_DEFAULT_CONFIG, F_OK) != 0 && errno == ENOENT) {
        if (apps == NULL || apps[0] == '\0') {
            memset(errs, 0, sizeof(*errs));
            return -1;
        }
        *source = ENV_ONLY;
        return gw_config_load_buffer(&gw_apnsd_schema, "", 0, ENV_ONLY, NULL, out, errs);
    }
    return gw_config_load_file(&gw_apnsd_schema, *source, out, errs);
}

/* Reloads the configuration file: 1 applied, 0 refused (the running one
 * stays). The verdict's lines go to text. */
static int reload(apnsd *s, char *text, size_t len)
{
    gw_config *cfg = NULL;
    gw_config_errors errs;
    gw_config_diff diff;
    char detail[512] = "", line[768];
    const char *source;
    int rc;

    if (s->draining) {
        say(text, len, "refused: apnsd is draining (stopping)");
        return 0;
    }
    gw_log(GW_LOG_INFO, "apnsd", "SIGHUP: reloading the configuration", "file",
           s->path != NULL ? s->path : APNSD_DEFAULT_CONFIG, NULL);
    rc = load_config(s, &cfg, &errs, &source);
    if (rc == -1) {
        gw_log(GW_LOG_ERROR, "apnsd", "reload refused: the configuration file is gone", "file",
               APNSD_DEFAULT_CONFIG, NULL);
        say(text, len, "no configuration: " APNSD_DEFAULT_CONFIG " does not exist");
        return 0;
    }
    if (rc != 0) {
        log_config_errors(&errs, GW_LOG_ERROR, "reload refused: the running configuration stays");
        if (errs.n < errs.errors + errs.warnings)
            gw_log(GW_LOG_ERROR, "config", "more errors not shown", "count",
                   GW_LOG_INT(errs.errors + errs.warnings - errs.n), NULL);
        say_config_errors(&errs, text, len);
        return 0;
    }
    log_config_errors(&errs, GW_LOG_WARN, "configuration warning");
    say_config_errors(&errs, text, len);
    if (gw_config_diff_new(s->cfg, cfg, &diff) != 0) {
        gw_log(GW_LOG_ERROR, "apnsd", "reload failed: out of memory", NULL);
        say(text, len, "out of memory");
        gw_config_free(cfg);
        return 0;
    }
    /* The dispatcher loads keys and certificates: the step that can refuse
     * a valid-looking file. If it refuses, nothing has changed anywhere. */
    rc = gw_dispatch_reload(s->d, cfg, &diff, detail, sizeof(detail));
    if (rc != 0) {
        gw_log(GW_LOG_ERROR, "apnsd", "reload refused: the running configuration stays", "error",
               apns_err_name(rc), "detail", detail, NULL);
        snprintf(line, sizeof(line), "%s: %s", apns_err_name(rc), detail);
        say(text, len, line);
        gw_config_diff_free(&diff);
        gw_config_free(cfg);
        return 0;
    }
    gw_api_set_config(s->api, cfg);
    if (gw_webhooks_set_config(s->wh, cfg, detail, sizeof(detail)) != 0) {
        gw_log(GW_LOG_ERROR, "apnsd", "webhook settings not reloaded: the previous ones stay",
               "detail", detail, NULL);
        snprintf(line, sizeof(line), "webhook settings not reloaded: %s", detail);
        say(text, len, line);
    }
    if (diff.log_changed)
        log_setup(cfg);
    for (size_t i = 0; i < diff.n; i++)
        if (diff.apps[i].change != GW_CHANGE_SAME) {
            const char *change = gw_app_change_name(diff.apps[i].change);
            const char *key = diff.apps[i].key != NULL ? diff.apps[i].key : "";
            gw_log(GW_LOG_INFO, "apnsd", "app reloaded", "app", diff.apps[i].name, "change", change,
                   "key", key, NULL);
            snprintf(line, sizeof(line), "app %s: %s%s%s", diff.apps[i].name, change,
                     key[0] ? " " : "", key);
            say(text, len, line);
        }
    if (diff.restart_section != NULL) {
        gw_log(GW_LOG_WARN, "apnsd",
               "a [server] or [queue] key changed: it takes effect after a restart", "section",
               diff.restart_section, "key", diff.restart_key, NULL);
        snprintf(line, sizeof(line), "[%s] %s changed: it takes effect after a restart",
                 diff.restart_section, diff.restart_key);
        say(text, len, line);
    }
    gw_config_diff_free(&diff);
    gw_config_free(s->cfg);
    s->cfg = cfg;
    gw_log(GW_LOG_INFO, "apnsd", "configuration reloaded", NULL);
    return 1;
}

static void reload_cb(int sig, short what, void *ud)
{
    apnsd *s = ud;
    gw_apnsd_verdict v;

    memset(&v, 0, sizeof(v));
    v.ok = reload(s, v.text, sizeof(v.text));
    if (s->run_dir == NULL)
        return;
    v.pid = getpid();
    v.seq = ++s->reloads;
    if (gw_apnsd_verdict_write(s->run_dir, &v) != 0)
        gw_log(GW_LOG_ERROR, "apnsd", "cannot write the reload verdict", "dir", s->run_dir, "error",
               strerror(errno), NULL);
}

static void watchdog_cb(int fd, short what, void *ud)
{
    gw_apnsd_notify("WATCHDOG=1");
}

/* ---- start ---------------------------------------------------------------------- */

static int fail(const char *what, int rc, const char *detail)
{
    gw_log(GW_LOG_ERROR, "apnsd", what, "error", gw_queue_err_name(rc), "detail",
           detail != NULL && detail[0] ? detail : gw_queue_strerror(rc), NULL);
    return EXIT_START;
}

/* on_log's ud is the component name; the queue's opts share one ud with
 * on_work, so its log lines go through this adaptor. */
static void queue_log(apns_log_level level, const char *msg, void *ud)
{
    gw_log_apns(level, msg, (void *)"queue");
}

/* backend = jetstream: the fleet's shared queue on a NATS cluster. */
static int open_jetstream(apnsd *s, gw_queue_opts *o)
{
    const gw_queue_config *qc = gw_queue_config_of(s->cfg);
    gw_queue_jetstream_opts jo;
    char detail[512] = "";
    int rc;

    gw_queue_jetstream_opts_init(&jo);
    jo.servers = (const char *const *)qc->servers.v;
    jo.n_servers = qc->servers.n;
    jo.creds_file = qc->creds_file;
    jo.tls_ca_file = qc->tls_ca_file;
    jo.tls_cert_file = qc->tls_cert_file;
    jo.tls_key_file = qc->tls_key_file;
    jo.prefix = qc->prefix;
    jo.replicas = (int)qc->replicas;
    jo.ack_wait_ms = qc->ack_wait_ms;
    jo.max_deliveries = qc->max_deliveries;
    jo.op_timeout_ms = qc->op_timeout_ms;
    o->lease_ttl_ms = qc->lease_ttl_ms;
    rc = gw_queue_jetstream_open(&s->q, o, &jo, detail, sizeof(detail));
    return rc == 0 ? 0 : fail("cannot open the JetStream queue", rc, detail);
}

static int open_queue(apnsd *s)
{
    const gw_queue_config *qc = gw_queue_config_of(s->cfg);
    gw_queue_opts o;
    gw_queue_sqlite_opts so = {0};
    char detail[512] = "";
    int rc;

    gw_queue_opts_init(&o);
    o.base = s->base;
    o.chunk_tokens = qc->chunk_tokens;
    o.small_job_tokens = qc->small_job_tokens;
    o.max_depth = qc->max_depth;
    o.max_requests = qc->max_requests;
    o.retention_ms = qc->retention_ms;
    /* The backend runs the retention pass by itself on this interval. */
    o.purge_interval_ms = qc->purge_interval_ms;
    o.on_work = on_work;
    o.on_log = queue_log;
    o.ud = s;
    if (qc->backend == GW_QUEUE_BACKEND_JETSTREAM)
        return open_jetstream(s, &o);
    so.path = qc->path;
    so.max_db_bytes = (int64_t)qc->max_db_bytes;
    so.outcome_sync_full = qc->sync == GW_QUEUE_SYNC_FULL;
    rc = gw_queue_sqlite_open(&s->q, &o, &so, detail, sizeof(detail));
    return rc == 0 ? 0 : fail("cannot open the queue database", rc, detail);
}

static int start(apnsd *s)
{
    gw_dispatch_opts dopt = {0};
    gw_api_opts aopt = {0};
    char detail[512] = "";
    int rc;

    if (gw_metrics_new(&s->m) != 0)
        return fail("out of memory", APNS_ENOMEM, NULL);
    if (open_queue(s) != 0)
        return EXIT_START;
    if (register_series(s) != 0)
        return fail("out of memory", APNS_ENOMEM, NULL);
    dopt.base = s->base;
    dopt.q = s->q;
    dopt.m = s->m;
    dopt.on_result = on_result;
    dopt.ud = s;
    rc = gw_dispatch_new(&s->d, &dopt, s->cfg, detail, sizeof(detail));
    if (rc != 0)
        return fail("cannot start the dispatcher", rc, detail);
    rc = gw_webhooks_new(&s->wh, s->base, s->cfg, s->m, detail, sizeof(detail));
    if (rc != 0)
        return fail("cannot start the webhooks", rc, detail);
    /* Webhook events go through the queue's durable outbox (written with
     * the outcomes, so none is lost by a crash); set before the loop runs,
     * so the first outcome recorded already writes its event. */
    gw_webhooks_set_outbox(s->wh, s->q);
    aopt.base = s->base;
    aopt.cfg = s->cfg;
    aopt.q = s->q;
    aopt.m = s->m;
    aopt.d = s->d;
    rc = gw_api_new(&s->api, &aopt, detail, sizeof(detail));
    if (rc != 0)
        return fail("cannot start the HTTP API", rc, detail);
    return 0;
}

static void announce(apnsd *s)
{
    const gw_api_server_config *sv = gw_api_server_config_of(s->cfg);
    const gw_queue_config *qc = gw_queue_config_of(s->cfg);
    char addrs[1024] = "", one[300];
    size_t used = 0;

    for (size_t i = 0; i < sv->listen.n; i++) {
        const char *h = sv->listen_addrs[i].host;
        int v6 = strchr(h, ':') != NULL;
        snprintf(one, sizeof(one), "%s%s%s:%u", v6 ? "[" : "", h, v6 ? "]" : "",
                 (unsigned)gw_api_port(s->api, i));
        if (i == 0) {
            printf("apnsd listening on %s\n", one);
            fflush(stdout);
        }
        used += (size_t)snprintf(addrs + used, sizeof(addrs) - used, "%s%s", i ? "," : "", one);
        if (used >= sizeof(addrs))
            used = sizeof(addrs) - 1;
    }
    const char *queue = qc->path;
    if (qc->backend == GW_QUEUE_BACKEND_JETSTREAM)
        queue = qc->prefix ? qc->prefix : "apnsd";
    gw_log(GW_LOG_INFO, "apnsd", "apnsd ready", "listen", addrs, "apps", GW_LOG_INT(s->cfg->n_apps),
           "queue", queue, "backend",
           qc->backend == GW_QUEUE_BACKEND_JETSTREAM ? "jetstream" : "sqlite", "version",
           APNSD_VERSION, NULL);
}

static void shutdown_all(apnsd *s)
{
    /* Dispatcher first (its chunks go back to the queue, no more results),
     * then webhooks and the API; the queue last, with no loop turn between
     * (gw_api_free's contract). */
    gw_dispatch_free(s->d);
    gw_webhooks_free(s->wh);
    gw_api_free(s->api);
    gw_queue_free(s->q);
    gw_metrics_free(s->m);
    gw_config_free(s->cfg);
    gw_events_free((struct event *[]){s->sig_term, s->sig_int, s->sig_hup, s->depth_ev,
                                      s->pending_ev, s->watchdog_ev},
                   6);
    if (s->base != NULL)
        event_base_free(s->base);
}

/* apnsd --reload: signal the running apnsd, print its verdict. */
static int reload_running(const char *run_dir)
{
    gw_apnsd_verdict v;
    char msg[512];
    int rc = gw_apnsd_reload_request(run_dir, RELOAD_WAIT_MS, &v, msg, sizeof(msg));

    if (rc == GW_APNSD_RELOAD_ERROR) {
        fprintf(stderr, "apnsd: reload: %s\n", msg);
        return EXIT_START;
    }
    fprintf(rc == GW_APNSD_RELOAD_OK ? stdout : stderr, "apnsd: %s\n%s",
            rc == GW_APNSD_RELOAD_OK ? "configuration reloaded"
                                     : "reload refused: the running configuration stays",
            v.text);
    return rc == GW_APNSD_RELOAD_OK ? EXIT_OK : EXIT_CONFIG;
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"check-config", no_argument, NULL, 'k'},
        {"dump-config", no_argument, NULL, 'd'},   {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},          {"reload", no_argument, NULL, 'r'},
        {"run-dir", required_argument, NULL, 'R'}, {NULL, 0, NULL, 0},
    };
    apnsd s;
    gw_config_errors errs;
    const char *source;
    int check = 0, dump = 0, do_reload = 0, c, rc;

    memset(&s, 0, sizeof(s));
    s.path = getenv("APNSD_CONFIG");
    s.run_dir = getenv("RUNTIME_DIRECTORY"); /* systemd: RuntimeDirectory= */
    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            s.path = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'd':
            dump = 1;
            break;
        case 'r':
            do_reload = 1;
            break;
        case 'R':
            s.run_dir = optarg;
            break;
        case 'V':
            printf("apnsd %s\n", APNSD_VERSION);
            return EXIT_OK;
        case 'h':
            fputs(usage, stdout);
            return EXIT_OK;
        default:
            fputs("Try 'apnsd --help'.\n", stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "apnsd: unexpected argument '%s'\nTry 'apnsd --help'.\n", argv[optind]);
        return EXIT_CONFIG;
    }
    if (s.run_dir != NULL && s.run_dir[0] == '\0')
        s.run_dir = NULL;
    if (s.path != NULL && s.path[0] == '\0') /* an empty APNSD_CONFIG is not set */
        s.path = NULL;
    if (do_reload) /* needs no configuration: the running apnsd reads its own */
        return reload_running(s.run_dir);

    rc = load_config(&s, &s.cfg, &errs, &source);
    if (rc == -1) {
        fprintf(stderr,
                "apnsd: no configuration: %s does not exist.\n"
                "Name a file with --config FILE (or APNSD_CONFIG=FILE), or configure apnsd from\n"
                "the environment alone: APNSD_APPS=NAME,... and APNSD_APP_<NAME>_<KEY>\n"
                "(docs/configuration.md). Try 'apnsd --help'.\n",
                APNSD_DEFAULT_CONFIG);
        return EXIT_CONFIG;
    }
    if (rc != 0 || errs.n > 0)
        gw_config_errors_print(&errs, stderr);
    if (rc != 0) {
        if (rc == APNS_ENOMEM)
            fprintf(stderr, "apnsd: out of memory loading %s\n", source);
        return EXIT_CONFIG;
    }
    if (check) {
        printf("%s: configuration OK (%zu app%s)\n", source, s.cfg->n_apps,
               s.cfg->n_apps == 1 ? "" : "s");
        gw_config_free(s.cfg);
        return EXIT_OK;
    }
    if (dump) {
        rc = gw_config_dump(s.cfg, stdout);
        gw_config_free(s.cfg);
        return rc == 0 ? EXIT_OK : EXIT_START;
    }

    signal(SIGPIPE, SIG_IGN);
    log_setup(s.cfg);
    s.base = event_base_new();
    if (s.base == NULL) {
        gw_log(GW_LOG_ERROR, "apnsd", "cannot create the event loop", NULL);
        return EXIT_START;
    }
    rc = start(&s);
    if (rc != 0) {
        shutdown_all(&s);
        return rc;
    }
    s.sig_term = evsignal_new(s.base, SIGTERM, stop_cb, &s);
    s.sig_int = evsignal_new(s.base, SIGINT, stop_cb, &s);
    s.sig_hup = evsignal_new(s.base, SIGHUP, reload_cb, &s);
    s.depth_ev = event_new(s.base, -1, EV_PERSIST, depth_cb, &s);
    s.pending_ev = evtimer_new(s.base, pending_cb, &s);
    if (s.sig_term == NULL || s.sig_int == NULL || s.sig_hup == NULL || s.depth_ev == NULL ||
        s.pending_ev == NULL || evsignal_add(s.sig_term, NULL) != 0 ||
        evsignal_add(s.sig_int, NULL) != 0 || evsignal_add(s.sig_hup, NULL) != 0) {
        gw_log(GW_LOG_ERROR, "apnsd", "cannot install signal handlers", NULL);
        shutdown_all(&s);
        return EXIT_START;
    }
    gw_timer_in(s.depth_ev, DEPTH_MS);
    depth_cb(-1, EV_TIMEOUT, &s);
    announce(&s);
    /* Listeners bound and the queue open: ready (systemd Type=notify). */
    gw_apnsd_notify("READY=1");
    s.watchdog_ms = gw_apnsd_watchdog_ms();
    if (s.watchdog_ms > 0) {
        s.watchdog_ev = event_new(s.base, -1, EV_PERSIST, watchdog_cb, &s);
        if (s.watchdog_ev == NULL ||
            gw_timer_in(s.watchdog_ev, s.watchdog_ms > 1 ? s.watchdog_ms / 2 : 1) != 0)
            gw_log(GW_LOG_ERROR, "apnsd", "cannot start the watchdog timer", NULL);
        gw_apnsd_notify("WATCHDOG=1");
    }
    if (s.run_dir != NULL && gw_apnsd_pid_write(s.run_dir) != 0)
        gw_log(GW_LOG_WARN, "apnsd", "cannot write the pid file: apnsd --reload will not find me",
               "dir", s.run_dir, "error", strerror(errno), NULL);

    event_base_dispatch(s.base);
    if (s.run_dir != NULL)
        gw_apnsd_pid_remove(s.run_dir);
    shutdown_all(&s);
    return EXIT_OK;
}
