/*
 * metrics.c - the metric table, label-set interning and the Prometheus text
 * exposition (format 0.0.4). See metrics.h for the contract.
 *
 * Design note
 * -----------
 * Each metric (a "family") keeps its series in one array sorted by label
 * values: recording finds its series by binary search (a metric has at most
 * GW_METRICS_MAX_SERIES, in practice a few dozen), rendering walks it in a
 * deterministic order. A series is one allocation: the struct, the
 * histogram's bucket counters, then the label values. Creating a series is the only allocation on
 * the recording path; the first GW_METRICS_MAX_SERIES label sets are interned, later new ones share
 * the overflow series ("_other" for every label), which itself does not count against the cap.
 * Nothing is ever removed: a label set that once existed stays (Prometheus counters must not go
 * back).
 *
 * Histograms keep non-cumulative per-bucket counts (recording touches one
 * counter) and are summed into Prometheus' cumulative buckets at render.
 *
 * A renamed metric keeps its old name for one release: the table holds both
 * (mdef.old_name) and the family is rendered twice, which costs nothing on
 * the recording path.
 *
 * Loop thread only: no locks.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "apns/error.h"
#include "apns/version.h"
#include "gw_build_commit.h" /* generated: GW_BUILD_COMMIT */
#include "log.h"
#include "procfs.h"

/* ---------------------------------------------------------------------- */
/* the table                                                              */

typedef enum mtype { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM } mtype;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

/* Every histogram's buckets: seconds, log-spaced 1ms..60s (1-2.5-5 steps);
 * +Inf is implied. */
static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,      2.5,   5,    10,    30,   60};
#define N_LATENCY (sizeof(latency_buckets) / sizeof(latency_buckets[0]))

typedef struct mdef {
    const char *name;
    mtype type;
    const char *label1, *label2; /* label names; NULL when fewer */
    const char *help;
    const char *old_name; /* the name before a rename, rendered as well for one release */
} mdef;

static const mdef defs[GW_M_COUNT] = {
    [GW_M_NOTIFICATIONS] = {"apnsd_notifications_total", MT_COUNTER, "app", "outcome",
                            "Device tokens with a final outcome (accepted, rejected, failed, "
                            "expired)."},
    [GW_M_REJECTIONS] = {"apnsd_rejections_total", MT_COUNTER, "app", "reason",
                         "Tokens rejected by APNs, by APNs reason."},
    [GW_M_RETRIES] = {"apnsd_retries_total", MT_COUNTER, "app", NULL,
                      "Sends scheduled again after 429, 5xx or a lost connection."},
    [GW_M_LATENCY] = {"apnsd_delivery_duration_seconds", MT_HISTOGRAM, "app", NULL,
                      "Time from a notification being queued to the APNs answer.",
                      "apnsd_delivery_latency_seconds"},
    [GW_M_API_REQUESTS] = {"apnsd_api_requests_total", MT_COUNTER, "route", "status",
                           "HTTP API requests answered, by route and status."},
    [GW_M_API_LATENCY] = {"apnsd_api_request_duration_seconds", MT_HISTOGRAM, "route", NULL,
                          "Time to answer an HTTP API request.",
                          "apnsd_api_request_latency_seconds"},
    [GW_M_QUEUE_DEPTH] = {"apnsd_queue_depth", MT_GAUGE, NULL, NULL,
                          "Device tokens in the queue without a final outcome."},
    [GW_M_IN_FLIGHT] = {"apnsd_in_flight", MT_GAUGE, "app", NULL,
                        "Notifications sent to APNs and not yet answered."},
    [GW_M_CONNECTIONS] = {"apnsd_connections", MT_GAUGE, "app", "state",
                          "Connections to APNs by state (up, connecting)."},
    [GW_M_JWT_REFRESHES] = {"apnsd_jwt_refreshes_total", MT_COUNTER, "team", NULL,
                            "Provider tokens (JWT) signed."},
    [GW_M_GOAWAYS] = {"apnsd_goaways_total", MT_COUNTER, "app", NULL,
                      "HTTP/2 GOAWAY frames received from APNs."},
    [GW_M_APP_PAUSED] = {"apnsd_app_paused", MT_GAUGE, "app", NULL,
                         "1 while an app is paused on a credential error."},
    [GW_M_DEAD_TOKENS] = {"apnsd_dead_tokens_total", MT_COUNTER, "app", "source",
                          "Device tokens entered into the dead-token registry."},
    [GW_M_CHANNEL_PUBLISHES] = {"apnsd_channel_publishes_total", MT_COUNTER, "app", "result",
                                "Channel publishes (Live Activity broadcasts) with a final "
                                "outcome (accepted, rejected, failed, expired)."},
    [GW_M_WEBHOOK] = {"apnsd_webhook_deliveries_total", MT_COUNTER, "app", "result",
                      "Webhook results: ok (delivered), retry (in a failed attempt), dropped "
                      "(removed from the outbox by webhook_retention)."},
    [GW_M_WEBHOOK_PENDING] = {"apnsd_webhook_pending", MT_GAUGE, "app", NULL,
                              "Webhook events not yet delivered (the outbox depth)."},
    [GW_M_WEBHOOK_OUTBOX] = {"apnsd_webhook_outbox_depth", MT_GAUGE, "app", NULL,
                             "Webhook events stored in the durable outbox, not yet delivered (as "
                             "of the last outbox read)."},
    [GW_M_STORAGE_ERRORS] = {"apnsd_storage_errors_total", MT_COUNTER, "kind", NULL,
                             "Queue storage errors, by kind."},
    [GW_M_JS_OPS] = {"apnsd_jetstream_ops_total", MT_COUNTER, "kind", NULL,
                     "JetStream operations issued by this node (backend = jetstream): publish "
                     "(chunks and KV writes), ack, read, fetch."},
    [GW_M_QUEUE_ORPHANS] = {"apnsd_queue_orphans_total", MT_COUNTER, NULL, NULL,
                            "Stored chunks of requests that were never committed (backend = "
                            "jetstream: a request cut off before its commit record), dropped "
                            "unsent by this node."},
    [GW_M_API_CONNECTIONS] = {"apnsd_api_connections", MT_GAUGE, NULL, NULL,
                              "Open HTTP API connections."},
    [GW_M_API_BODY_BYTES] = {"apnsd_api_body_bytes", MT_GAUGE, NULL, NULL,
                             "Request-body bytes admitted now (declared by Content-Length or "
                             "received chunked), bounded by [server] max_body_in_flight."},
    [GW_M_API_CONN_LIMITED] = {"apnsd_api_connection_limit_total", MT_COUNTER, "event", NULL,
                               "Connection-limit events: closed_idle (an idle connection closed "
                               "for a new one), refused (none idle: 503 and closed), "
                               "out_of_descriptors (accept paused with a backoff)."},
    [GW_M_API_IDLE_CLOSED] = {"apnsd_api_idle_closed_total", MT_COUNTER, NULL, NULL,
                              "HTTP API connections closed with no request in progress after "
                              "[server] idle_timeout."},
    [GW_M_API_IDEMPOTENCY] = {"apnsd_api_idempotency_total", MT_COUNTER, "result", NULL,
                              "POST /v1/push repeats of an Idempotency-Key (or apns_id): "
                              "replayed (the first answer sent again), key_reused (422), "
                              "in_progress (409)."},
    [GW_M_API_RATE_LIMITED] = {"apnsd_api_rate_limited_total", MT_COUNTER, "app", NULL,
                               "API requests answered 429 rate_limited: their key was over its "
                               "app's api_rate_limit."},
    [GW_M_LOG_SUPPRESSED] = {"apnsd_log_suppressed_total", MT_COUNTER, "component", NULL,
                             "Log lines not written because a repeated event is logged at most "
                             "once per interval."},
    [GW_M_CANCELLED] = {"apnsd_notifications_cancelled_total", MT_COUNTER, NULL, NULL,
                        "Device tokens a cancel (DELETE /v1/notifications/{id}) stopped before "
                        "they were sent, counted by the node that cancelled them."},
    [GW_M_OUTCOMES_UNRECORDED] = {"apnsd_outcomes_unrecorded", MT_GAUGE, NULL, NULL,
                                  "APNs answers whose record failed, kept in memory (their "
                                  "chunks held) to be recorded again."},
    [GW_M_OUTCOMES_RERECORDED] = {"apnsd_outcomes_rerecorded_total", MT_COUNTER, NULL, NULL,
                                  "Kept APNs answers recorded on a later attempt (their "
                                  "notifications were not sent again)."},
    [GW_M_BUILD_INFO] = {"apnsd_build_info", MT_GAUGE, "version", "commit",
                         "1, labelled with the version and the commit apnsd was built from."},
    [GW_M_APP_INFO] = {"apnsd_app_info", MT_GAUGE, "app", "provider",
                       "1 for each configured app, with its provider (apns or fcm): join on app "
                       "to split any per-app series by provider."},
    [GW_M_FCM_TOKENS] = {"apnsd_fcm_token_requests_total", MT_COUNTER, "account", NULL,
                         "FCM access-token requests sent to Google's token endpoint, per service "
                         "account (about one per refresh window)."},
};

static unsigned def_nlabels(const mdef *d)
{
    return d->label1 == NULL ? 0 : d->label2 == NULL ? 1 : 2;
}

/* The label values as a series keeps them: "" where none is declared or
 * given. */
static void label_values(const mdef *d, const char *l1, const char *l2, const char **a,
                         const char **b)
{
    unsigned nl = def_nlabels(d);
    *a = nl >= 1 && l1 != NULL ? l1 : "";
    *b = nl >= 2 && l2 != NULL ? l2 : "";
}

/* ---------------------------------------------------------------------- */
/* series and families                                                    */

typedef struct series {
    const char *lv[2]; /* point into the same allocation; "" when unused */
    union {
        uint64_t u; /* counter */
        double d;   /* gauge */
    } v;
    double sum;     /* histogram */
    uint64_t count; /* histogram */
    uint64_t b[];   /* histogram: N_LATENCY + 1 (+Inf) non-cumulative counts */
} series;

typedef struct family {
    series **sorted; /* n series sorted by label values */
    uint32_t n, cap;
    uint32_t interned; /* series counted against the cap (all but the overflow one) */
    int warned;
} family;

struct gw_metrics {
    family f[GW_M_COUNT];
};

static int series_cmp(const series *s, const char *a, const char *b)
{
    int c = strcmp(s->lv[0], a);
    return c != 0 ? c : strcmp(s->lv[1], b);
}

/* Binary search: the series with these label values, or NULL; *at is its
 * place in the sorted array (where a new one goes). */
static series *find(const family *f, const char *a, const char *b, uint32_t *at)
{
    uint32_t lo = 0, hi = f->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = series_cmp(f->sorted[mid], a, b);
        if (c == 0)
            return f->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return NULL;
}

static series *create(family *f, const mdef *d, uint32_t at, const char *a, const char *b)
{
    if (f->n == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 8;
        series **v = realloc(f->sorted, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        f->sorted = v;
        f->cap = cap;
    }
    size_t nb = d->type == MT_HISTOGRAM ? N_LATENCY + 1 : 0;
    size_t la = strlen(a) + 1, lb = strlen(b) + 1;
    size_t head = sizeof(series) + nb * sizeof(uint64_t);
    series *s = calloc(1, head + la + lb);
    if (s == NULL)
        return NULL;
    char *p = (char *)s + head;
    memcpy(p, a, la);
    memcpy(p + la, b, lb);
    s->lv[0] = p;
    s->lv[1] = p + la;
    memmove(f->sorted + at + 1, f->sorted + at, (f->n - at) * sizeof(series *));
    f->sorted[at] = s;
    f->n++;
    return s;
}

/* The series for a label set, created (or the overflow one) as needed. */
static series *get(gw_metrics *m, gw_metric id, const char *l1, const char *l2)
{
    const mdef *d = &defs[id];
    family *f = &m->f[id];
    const char *a, *b;
    uint32_t at;
    label_values(d, l1, l2, &a, &b);
    series *s = find(f, a, b, &at);
    if (s != NULL)
        return s;
    int other = f->interned >= GW_METRICS_MAX_SERIES;
    if (other) {
        if (!f->warned) {
            f->warned = 1;
            gw_log(GW_LOG_WARN, "metrics",
                   "label set limit reached; new label sets go to the overflow series", "metric",
                   d->name, "limit", GW_LOG_INT(GW_METRICS_MAX_SERIES), "label_value",
                   GW_METRICS_OTHER, NULL);
        }
        label_values(d, GW_METRICS_OTHER, GW_METRICS_OTHER, &a, &b);
        if ((s = find(f, a, b, &at)) != NULL)
            return s;
    }
    s = create(f, d, at, a, b);
    f->interned += s != NULL && !other;
    return s;
}

int gw_metrics_new(gw_metrics **out)
{
    *out = NULL;
    gw_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return APNS_ENOMEM;
    for (int i = 0; i < GW_M_COUNT; i++) {
        if (defs[i].name == NULL) { /* a GW_M_* id without a table entry */
            gw_metrics_free(m);
            return APNS_EINVAL;
        }
        /* A metric without labels always has its one series. */
        if (def_nlabels(&defs[i]) == 0 && get(m, (gw_metric)i, NULL, NULL) == NULL) {
            gw_metrics_free(m);
            return APNS_ENOMEM;
        }
    }
    series *b = get(m, GW_M_BUILD_INFO, APNS_VERSION, GW_BUILD_COMMIT);
    if (b == NULL) {
        gw_metrics_free(m);
        return APNS_ENOMEM;
    }
    b->v.d = 1;
    *out = m;
    return 0;
}

void gw_metrics_free(gw_metrics *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < GW_M_COUNT; i++) {
        family *f = &m->f[i];
        for (uint32_t j = 0; j < f->n; j++)
            free(f->sorted[j]);
        free(f->sorted);
    }
    free(m);
}

/* ---------------------------------------------------------------------- */
/* recording                                                              */

static int valid(const gw_metrics *m, gw_metric id)
{
    return m != NULL && (unsigned)id < GW_M_COUNT;
}

void gw_metrics_add(gw_metrics *m, gw_metric id, const char *l1, const char *l2, uint64_t n)
{
    if (!valid(m, id) || defs[id].type == MT_HISTOGRAM)
        return;
    series *s = get(m, id, l1, l2);
    if (s == NULL)
        return;
    if (defs[id].type == MT_COUNTER)
        s->v.u += n;
    else
        s->v.d += (double)n;
}

/* A gauge's value: v, or its current value + v. */
static void gauge(gw_metrics *m, gw_metric id, const char *l1, const char *l2, double v, int add)
{
    series *s = valid(m, id) && defs[id].type == MT_GAUGE ? get(m, id, l1, l2) : NULL;
    if (s != NULL)
        s->v.d = add ? s->v.d + v : v;
}

void gw_metrics_set(gw_metrics *m, gw_metric id, const char *l1, const char *l2, double v)
{
    gauge(m, id, l1, l2, v, 0);
}

void gw_metrics_gauge_add(gw_metrics *m, gw_metric id, const char *l1, const char *l2, double delta)
{
    gauge(m, id, l1, l2, delta, 1);
}

void gw_metrics_observe(gw_metrics *m, gw_metric id, const char *l1, double seconds)
{
    if (!valid(m, id) || defs[id].type != MT_HISTOGRAM || isnan(seconds))
        return;
    series *s = get(m, id, l1, NULL);
    if (s == NULL)
        return;
    unsigned i = 0;
    while (i < N_LATENCY && seconds > latency_buckets[i])
        i++;
    s->b[i]++; /* i == N_LATENCY: only +Inf */
    s->sum += seconds;
    s->count++;
}

int gw_metrics_register(gw_metrics *m, gw_metric id, const char *l1, const char *l2)
{
    if (!valid(m, id))
        return 0;
    return get(m, id, l1, l2) != NULL ? 0 : APNS_ENOMEM;
}

double gw_metrics_get(const gw_metrics *m, gw_metric id, const char *l1, const char *l2)
{
    if (!valid(m, id))
        return 0;
    const mdef *d = &defs[id];
    const char *a, *b;
    uint32_t at;
    label_values(d, l1, l2, &a, &b);
    const series *s = find(&m->f[id], a, b, &at);
    if (s == NULL)
        return 0;
    switch (d->type) {
    case MT_COUNTER:
        return (double)s->v.u;
    case MT_GAUGE:
        return s->v.d;
    default:
        return (double)s->count;
    }
}

/* ---------------------------------------------------------------------- */
/* rendering                                                              */

/* Shortest "%g" text that reads back as the same double; Prometheus'
 * spellings for the special values. */
static void fmt_double(char *buf, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* A label value escaped: backslash, quote, newline. (HELP texts are the
 * table's, with none of them.) */
static int add_escaped(struct evbuffer *out, const char *s)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (*p == '"')
            rep = "\\\"";
        else if (*p != '\0')
            continue;
        if (p > run && evbuffer_add(out, run, (size_t)(p - run)) != 0)
            return -1;
        if (rep == NULL)
            return 0;
        if (evbuffer_add(out, rep, 2) != 0)
            return -1;
        run = p + 1;
    }
}

/* {a="x",b="y"[,le="..."]} or nothing when there are no labels at all. */
static int add_labels(struct evbuffer *out, const mdef *d, const series *s, const char *le)
{
    unsigned nl = def_nlabels(d);
    if (nl == 0 && le == NULL)
        return 0;
    if (evbuffer_add(out, "{", 1) != 0)
        return -1;
    for (unsigned i = 0; i < nl; i++) {
        if (evbuffer_add_printf(out, "%s%s=\"", i ? "," : "", i ? d->label2 : d->label1) < 0 ||
            add_escaped(out, s->lv[i]) != 0 || evbuffer_add(out, "\"", 1) != 0)
            return -1;
    }
    if (le != NULL && evbuffer_add_printf(out, "%sle=\"%s\"", nl ? "," : "", le) < 0)
        return -1;
    return evbuffer_add(out, "}", 1);
}

/* One sample line: the name with its suffix, the labels (and le), the value. */
static int sample(struct evbuffer *out, const char *name, const mdef *d, const series *s,
                  const char *suffix, const char *le, const char *value)
{
    if (evbuffer_add_printf(out, "%s%s", name, suffix) < 0 || add_labels(out, d, s, le) != 0 ||
        evbuffer_add_printf(out, " %s\n", value) < 0)
        return -1;
    return 0;
}

static int render_series(struct evbuffer *out, const char *name, const mdef *d, const series *s)
{
    char num[40], le[40];
    uint64_t cum = 0;

    if (d->type != MT_HISTOGRAM) {
        if (d->type == MT_COUNTER)
            snprintf(num, sizeof(num), "%" PRIu64, s->v.u);
        else
            fmt_double(num, sizeof(num), s->v.d);
        return sample(out, name, d, s, "", NULL, num);
    }
    for (unsigned i = 0; i <= N_LATENCY; i++) {
        cum += s->b[i];
        fmt_double(le, sizeof(le), i < N_LATENCY ? latency_buckets[i] : INFINITY);
        snprintf(num, sizeof(num), "%" PRIu64, cum);
        if (sample(out, name, d, s, "_bucket", le, num) != 0)
            return -1;
    }
    fmt_double(num, sizeof(num), s->sum);
    if (sample(out, name, d, s, "_sum", NULL, num) != 0)
        return -1;
    snprintf(num, sizeof(num), "%" PRIu64, s->count);
    return sample(out, name, d, s, "_count", NULL, num);
}

/* One family under one name: HELP, TYPE, its series. */
static int render_family(struct evbuffer *out, const char *name, const char *help_pre,
                         const mdef *d, const family *f)
{
    if (evbuffer_add_printf(out, "# HELP %s %s%s\n# TYPE %s %s\n", name, help_pre, d->help, name,
                            type_names[d->type]) < 0)
        return -1;
    for (uint32_t j = 0; j < f->n; j++)
        if (render_series(out, name, d, f->sorted[j]) != 0)
            return -1;
    return 0;
}

/* A process_* sample with its HELP and TYPE; nothing when v is NaN. */
static int process_metric(struct evbuffer *out, const char *name, const char *type,
                          const char *help, double v)
{
    char num[40];

    if (isnan(v))
        return 0;
    fmt_double(num, sizeof(num), v);
    return evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, type,
                               name, num) < 0
               ? -1
               : 0;
}

static int render_process(struct evbuffer *out)
{
    gw_metrics_proc p;

    gw_metrics_proc_read(&p);
    return process_metric(out, "process_cpu_seconds_total", "counter",
                          "Total user and system CPU time spent in seconds.", p.cpu_seconds) ||
                   process_metric(out, "process_open_fds", "gauge",
                                  "Number of open file descriptors.", p.open_fds) ||
                   process_metric(out, "process_max_fds", "gauge",
                                  "Maximum number of open file descriptors.", p.max_fds) ||
                   process_metric(out, "process_virtual_memory_bytes", "gauge",
                                  "Virtual memory size in bytes.", p.virtual_bytes) ||
                   process_metric(out, "process_resident_memory_bytes", "gauge",
                                  "Resident memory size in bytes.", p.resident_bytes) ||
                   process_metric(out, "process_start_time_seconds", "gauge",
                                  "Start time of the process since unix epoch in seconds.",
                                  p.start_time)
               ? -1
               : 0;
}

int gw_metrics_render(gw_metrics *m, struct evbuffer *out)
{
    char dep[160];

    if (m == NULL || out == NULL)
        return APNS_EINVAL;
    for (int i = 0; i < GW_M_COUNT; i++) {
        const mdef *d = &defs[i];
        const family *f = &m->f[i];
        if (f->n == 0)
            continue;
        if (render_family(out, d->name, "", d, f) != 0)
            return APNS_ENOMEM;
        if (d->old_name == NULL)
            continue;
        snprintf(dep, sizeof(dep),
                 "Deprecated: renamed %s; this name goes away in the next "
                 "release. ",
                 d->name);
        if (render_family(out, d->old_name, dep, d, f) != 0)
            return APNS_ENOMEM;
    }
    return render_process(out) != 0 ? APNS_ENOMEM : 0;
}
