/*
 * metrics.h - apnsd's Prometheus metrics: counters, gauges and latency
 * histograms, rendered as the Prometheus text format (version 0.0.4) for
 * GET /metrics.
 *
 * Metrics are declared once in a table in metrics.c (name, type, help,
 * label names, histogram buckets); callers use the GW_M_* ids below.
 *
 * Threading: every call on the loop thread (no locks). Code on other threads
 * (the queue's storage thread) reports through the loop first.
 *
 * Cost and memory: recording is a binary search over the metric's label
 * sets (apps and reasons are few) and allocates nothing once a label set
 * exists. A metric holds at most GW_METRICS_MAX_SERIES distinct
 * label sets; further new label sets are all counted in one overflow series
 * whose every label value is GW_METRICS_OTHER ("_other"), and a warning is
 * logged once per metric. Memory is thus bounded by the table, never by
 * notifications.
 *
 * Names, help texts and label names are the table's in metrics.c (each
 * GW_M_* id below notes its type and labels); docs/operations.md lists them
 * for operators.
 *
 * Histograms (both duration metrics) have the buckets 1ms, 2.5ms, 5ms, 10ms,
 * 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2.5s, 5s, 10s, 30s, 60s and +Inf,
 * rendered cumulatively with _bucket{le=...}, _sum and _count.
 *
 * Renamed metrics. A metric renamed to follow Prometheus' naming (the
 * histograms were ..._latency_seconds, now ..._duration_seconds) is also
 * rendered under its old name, with a HELP text saying so, for one release.
 *
 * Series from the start. Modules register the label sets they know when they
 * start (gw_metrics_register: an app's outcomes, a storage error kind...), so
 * a dashboard sees 0 instead of no series before the first event.
 *
 * Build and process. gw_metrics_new sets apnsd_build_info{version,commit} to
 * 1 (the commit is the build's, "unknown" outside a git checkout). Every
 * render ends with the process_* metrics of the Prometheus client
 * conventions, read from /proc at that moment (procfs.h); a file that cannot
 * be read leaves its metric out.
 *
 * Rendering order is deterministic: metrics in table order (the enum order
 * below), series sorted by their label values (byte order), then process_*.
 * A labelled metric without any series yet is left out; a metric without
 * labels is always present (0 until set).
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

struct evbuffer;

typedef enum gw_metric {
    GW_M_NOTIFICATIONS,     /* counter {app,outcome} */
    GW_M_CHANNEL_PUBLISHES, /* counter {app,result} */
    GW_M_REJECTIONS,        /* counter {app,reason} */
    GW_M_RETRIES,           /* counter {app} */
    GW_M_LATENCY,           /* histogram {app}: apnsd_delivery_duration_seconds */
    GW_M_API_REQUESTS,      /* counter {route,status} */
    GW_M_API_LATENCY,       /* histogram {route}: apnsd_api_request_duration_seconds */
    GW_M_QUEUE_DEPTH,       /* gauge {} */
    GW_M_IN_FLIGHT,         /* gauge {app} */
    GW_M_CONNECTIONS,       /* gauge {app,state} */
    GW_M_JWT_REFRESHES,     /* counter {team} */
    GW_M_GOAWAYS,           /* counter {app} */
    GW_M_APP_PAUSED,        /* gauge {app} */
    GW_M_DEAD_TOKENS,       /* counter {app,source} */
    GW_M_WEBHOOK,           /* counter {app,result} */
    GW_M_WEBHOOK_PENDING,   /* gauge {app} */
    GW_M_WEBHOOK_OUTBOX,    /* gauge {app}: events stored in the durable webhook outbox */
    GW_M_STORAGE_ERRORS,    /* counter {kind} */
    GW_M_JS_OPS,            /* counter {kind}: JetStream operations (backend = jetstream) */
    GW_M_QUEUE_ORPHANS,     /* counter {}: stored chunks of never-committed requests, dropped */
    GW_M_API_CONNECTIONS,   /* gauge {}: open HTTP API connections */
    GW_M_API_BODY_BYTES,    /* gauge {}: request-body bytes admitted (buffered or reserved) */
    GW_M_API_CONN_LIMITED,  /* counter {event}: connection-limit events */
    GW_M_API_IDLE_CLOSED,   /* counter {}: connections closed at [server] idle_timeout */
    GW_M_API_IDEMPOTENCY,   /* counter {result}: Idempotency-Key repeats (replayed, ...) */
    GW_M_API_RATE_LIMITED,  /* counter {app}: requests over an API key's rate limit (429) */
    GW_M_LOG_SUPPRESSED,    /* counter {component}: log lines not written (rate limit) */
    /* gauge {}: answers kept because recording them failed (dispatch) */
    GW_M_OUTCOMES_UNRECORDED,
    /* counter {}: kept answers recorded later */
    GW_M_OUTCOMES_RERECORDED,
    GW_M_BUILD_INFO, /* gauge {version,commit}: 1, set by gw_metrics_new */
    GW_M_APP_INFO,   /* gauge {app,provider}: 1 per configured app (apns, fcm) */
    GW_M_FCM_TOKENS, /* counter {account}: FCM access-token requests (one round trip each) */
    GW_M_CANCELLED,  /* counter {}: tokens a cancel stopped (gw_queue_stats.cancelled) */
    GW_M_COUNT
} gw_metric;

#define GW_METRICS_MAX_SERIES 1024     /* distinct label sets per metric */
#define GW_METRICS_OTHER      "_other" /* label value of the overflow series */

typedef struct gw_metrics gw_metrics;

/* Returns 0 or APNS_ENOMEM. Free with gw_metrics_free (NULL is fine). */
int gw_metrics_new(gw_metrics **out);
void gw_metrics_free(gw_metrics *m);

/*
 * Label values in the order the metric declares them (l2 NULL for one
 * label, both NULL for none; a NULL where a label is declared counts as "").
 * Strings are copied on first use of a label set. m may be NULL (no-op), so
 * components can run without metrics in tests.
 *
 * add: counters (on a gauge it adds n). set / gauge_add: gauges only.
 * observe: histograms only (seconds; NaN ignored). A call on the wrong kind
 * of metric, or when memory for a new label set runs out, is ignored.
 */
void gw_metrics_add(gw_metrics *m, gw_metric id, const char *l1, const char *l2, uint64_t n);
void gw_metrics_set(gw_metrics *m, gw_metric id, const char *l1, const char *l2, double v);
void gw_metrics_gauge_add(gw_metrics *m, gw_metric id, const char *l1, const char *l2,
                          double delta);
void gw_metrics_observe(gw_metrics *m, gw_metric id, const char *l1, double seconds);

/* Creates the series of a label set at 0 if it does not exist yet (a
 * label set known at start: rendered before its first event). Labels as
 * for gw_metrics_add. m may be NULL (no-op). Returns 0, or APNS_ENOMEM
 * (nothing created). A label set beyond GW_METRICS_MAX_SERIES registers the
 * overflow series. */
int gw_metrics_register(gw_metrics *m, gw_metric id, const char *l1, const char *l2);

/* The current value of one series: a counter's count, a gauge's value, a
 * histogram's _count; 0 when the series does not exist. Never creates a
 * series. For tests and for /readyz-style checks. */
double gw_metrics_get(const gw_metrics *m, gw_metric id, const char *l1, const char *l2);

/* Appends the whole exposition. Returns 0 or APNS_ENOMEM (out may then hold
 * part of it). */
int gw_metrics_render(gw_metrics *m, struct evbuffer *out);

/* The exposition's Content-Type header value. */
#define GW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
