/*
 * test_metrics.c - daemon/metrics.c: the Prometheus text exposition (golden
 * text with label escaping and cumulative histogram buckets), the table
 * (every GW_M_* id declared, names valid), the label-set cap with its
 * overflow series and one warning, and the recording rules; label sets
 * registered at 0, the renamed histograms under both names, apnsd_build_info,
 * and the process_* metrics from /proc (values checked against getrusage,
 * getrlimit and the clock, never against a fixed number).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "apns/error.h"
#include "log.h"
#include "apns/version.h"
#include "metrics.h"
#include "procfs.h"

/* The unlabelled gauges of the HTTP API: always there, 0 until set. */
#define API_GAUGES                                                                                 \
    "# HELP apnsd_queue_orphans_total Stored chunks of requests that were never committed "        \
    "(backend = jetstream: a request cut off before its commit record), dropped unsent by this "   \
    "node.\n"                                                                                      \
    "# TYPE apnsd_queue_orphans_total counter\n"                                                   \
    "apnsd_queue_orphans_total 0\n"                                                                \
    "# HELP apnsd_api_connections Open HTTP API connections.\n"                                    \
    "# TYPE apnsd_api_connections gauge\n"                                                         \
    "apnsd_api_connections 0\n"                                                                    \
    "# HELP apnsd_api_body_bytes Request-body bytes admitted now (declared by Content-Length or "  \
    "received chunked), bounded by [server] max_body_in_flight.\n"                                 \
    "# TYPE apnsd_api_body_bytes gauge\n"                                                          \
    "apnsd_api_body_bytes 0\n"                                                                     \
    "# HELP apnsd_api_idle_closed_total HTTP API connections closed with no request in progress "  \
    "after [server] idle_timeout.\n"                                                               \
    "# TYPE apnsd_api_idle_closed_total counter\n"                                                 \
    "apnsd_api_idle_closed_total 0\n" REREC_METRICS

/* The dispatcher's unlabelled ones: answers kept to be recorded again. */
#define REREC_METRICS                                                                              \
    "# HELP apnsd_outcomes_unrecorded APNs answers whose record failed, kept in memory (their "    \
    "chunks held) to be recorded again.\n"                                                         \
    "# TYPE apnsd_outcomes_unrecorded gauge\n"                                                     \
    "apnsd_outcomes_unrecorded 0\n"                                                                \
    "# HELP apnsd_outcomes_rerecorded_total Kept APNs answers recorded on a later attempt (their " \
    "notifications were not sent again).\n"                                                        \
    "# TYPE apnsd_outcomes_rerecorded_total counter\n"                                             \
    "apnsd_outcomes_rerecorded_total 0\n"

/* The exposition as a NUL-terminated string (caller frees). */
static char *render(gw_metrics *m)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    assert_int_equal(gw_metrics_render(m, b), 0);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

/* The exposition of the table's metrics: the text before apnsd_build_info
 * (the table's last entry, followed by the process_* metrics). */
static char *table_part(char *text)
{
    char *b = strstr(text, "# HELP apnsd_build_info ");
    assert_non_null(b);
    *b = '\0';
    return text;
}

static size_t count_lines_starting(const char *text, const char *prefix)
{
    size_t n = 0, pl = strlen(prefix);
    for (const char *p = text; *p;) {
        if (strncmp(p, prefix, pl) == 0)
            n++;
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return n;
}

static void test_golden(void **state)
{
    gw_metrics *m;
    assert_int_equal(gw_metrics_new(&m), 0);
    gw_metrics_add(m, GW_M_NOTIFICATIONS, "shop", "accepted", 3);
    gw_metrics_add(m, GW_M_NOTIFICATIONS, "shop", "rejected", 1);
    /* Backslash, quote and newline are escaped in label values. */
    gw_metrics_add(m, GW_M_NOTIFICATIONS, "a\"b\\c\nd", "accepted", 1);
    gw_metrics_add(m, GW_M_NOTIFICATIONS, "shop", "accepted", 2);
    /* Exactly representable values; 0.25 lands in le="0.25" (inclusive),
     * 128 only in +Inf. */
    gw_metrics_observe(m, GW_M_LATENCY, "shop", 0.00390625);
    gw_metrics_observe(m, GW_M_LATENCY, "shop", 0.25);
    gw_metrics_observe(m, GW_M_LATENCY, "shop", 128);
    gw_metrics_set(m, GW_M_QUEUE_DEPTH, NULL, NULL, 42);
    gw_metrics_set(m, GW_M_IN_FLIGHT, "shop", NULL, 2.5);
    gw_metrics_gauge_add(m, GW_M_IN_FLIGHT, "news", NULL, 1);
    gw_metrics_gauge_add(m, GW_M_IN_FLIGHT, "news", NULL, 0.1);

    char *text = table_part(render(m));
    const char *want =
        "# HELP apnsd_notifications_total Device tokens with a final outcome (accepted, "
        "rejected, failed, expired).\n"
        "# TYPE apnsd_notifications_total counter\n"
        "apnsd_notifications_total{app=\"a\\\"b\\\\c\\nd\",outcome=\"accepted\"} 1\n"
        "apnsd_notifications_total{app=\"shop\",outcome=\"accepted\"} 5\n"
        "apnsd_notifications_total{app=\"shop\",outcome=\"rejected\"} 1\n"
        "# HELP apnsd_delivery_duration_seconds Time from a notification being queued to the "
        "APNs answer.\n"
        "# TYPE apnsd_delivery_duration_seconds histogram\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.001\"} 0\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.0025\"} 0\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.005\"} 1\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.01\"} 1\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.025\"} 1\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.05\"} 1\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.1\"} 1\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.25\"} 2\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"0.5\"} 2\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"1\"} 2\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"2.5\"} 2\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"5\"} 2\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"10\"} 2\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"30\"} 2\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"60\"} 2\n"
        "apnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"+Inf\"} 3\n"
        "apnsd_delivery_duration_seconds_sum{app=\"shop\"} 128.25390625\n"
        "apnsd_delivery_duration_seconds_count{app=\"shop\"} 3\n"
        "# HELP apnsd_delivery_latency_seconds Deprecated: renamed "
        "apnsd_delivery_duration_seconds; "
        "this name goes away in the next release. Time from a notification being queued to the "
        "APNs answer.\n"
        "# TYPE apnsd_delivery_latency_seconds histogram\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.001\"} 0\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.0025\"} 0\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.005\"} 1\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.01\"} 1\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.025\"} 1\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.05\"} 1\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.1\"} 1\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.25\"} 2\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"0.5\"} 2\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"1\"} 2\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"2.5\"} 2\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"5\"} 2\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"10\"} 2\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"30\"} 2\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"60\"} 2\n"
        "apnsd_delivery_latency_seconds_bucket{app=\"shop\",le=\"+Inf\"} 3\n"
        "apnsd_delivery_latency_seconds_sum{app=\"shop\"} 128.25390625\n"
        "apnsd_delivery_latency_seconds_count{app=\"shop\"} 3\n"
        "# HELP apnsd_queue_depth Device tokens in the queue without a final outcome.\n"
        "# TYPE apnsd_queue_depth gauge\n"
        "apnsd_queue_depth 42\n"
        "# HELP apnsd_in_flight Notifications sent to APNs and not yet answered.\n"
        "# TYPE apnsd_in_flight gauge\n"
        "apnsd_in_flight{app=\"news\"} 1.1\n"
        "apnsd_in_flight{app=\"shop\"} 2.5\n" API_GAUGES;
    assert_string_equal(text, want);
    free(text);

    /* Rendering twice gives the same text (nothing reset, nothing moved). */
    char *a = table_part(render(m)), *b = table_part(render(m));
    assert_string_equal(a, b);
    free(a);
    free(b);
    gw_metrics_free(m);
}

static void test_empty_and_unlabelled(void **state)
{
    gw_metrics *m;
    assert_int_equal(gw_metrics_new(&m), 0);
    char *text = render(m);
    /* Only the metrics without labels are there, at 0, then the build's and
     * the process's. */
    const char *build = strstr(text, "# HELP apnsd_build_info ");
    assert_non_null(build);
    assert_memory_equal(text,
                        "# HELP apnsd_queue_depth Device tokens in the queue without a "
                        "final outcome.\n"
                        "# TYPE apnsd_queue_depth gauge\n"
                        "apnsd_queue_depth 0\n" API_GAUGES,
                        (size_t)(build - text));
    free(text);
    gw_metrics_free(m);
    gw_metrics_free(NULL);
}

/* Every id has a table entry: touching each one renders HELP and TYPE lines
 * with a valid metric name; counters end in _total. */
static void test_table_complete(void **state)
{
    gw_metrics *m;
    assert_int_equal(gw_metrics_new(&m), 0);
    for (int i = 0; i < GW_M_COUNT; i++) {
        gw_metrics_add(m, (gw_metric)i, "x", "y", 1);
        gw_metrics_set(m, (gw_metric)i, "x", "y", 1);
        gw_metrics_observe(m, (gw_metric)i, "x", 0.5);
    }
    char *text = render(m);
    /* Each id once, the two renamed histograms under their old names too. */
    assert_int_equal(count_lines_starting(text, "# HELP apnsd_"), GW_M_COUNT + 2);
    assert_int_equal(count_lines_starting(text, "# TYPE apnsd_"), GW_M_COUNT + 2);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (strncmp(p, "# TYPE ", 7) == 0) {
            char name[128], type[32];
            assert_int_equal(sscanf(p, "# TYPE %127s %31s", name, type), 2);
            for (const char *c = name; *c; c++)
                assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
            if (strcmp(type, "counter") == 0) {
                size_t n = strlen(name);
                assert_true(n > 6 && strcmp(name + n - 6, "_total") == 0);
            } else {
                assert_true(strcmp(type, "gauge") == 0 || strcmp(type, "histogram") == 0);
            }
        } else if (p[0] != '#') {
            /* sample: name[{...}] value */
            const char *sp = memchr(p, ' ', (size_t)(nl - p));
            assert_non_null(sp);
            const char *close = memchr(p, '}', (size_t)(nl - p));
            if (close != NULL)
                assert_true(close < nl && close + 1 == sp);
        }
        p = nl + 1;
    }
    free(text);
    gw_metrics_free(m);
}

static void test_recording_rules(void **state)
{
    gw_metrics *m;
    assert_int_equal(gw_metrics_new(&m), 0);
    /* Wrong kind: ignored. */
    gw_metrics_set(m, GW_M_RETRIES, "shop", NULL, 5);
    gw_metrics_observe(m, GW_M_RETRIES, "shop", 1);
    gw_metrics_add(m, GW_M_LATENCY, "shop", NULL, 1);
    assert_true(gw_metrics_get(m, GW_M_RETRIES, "shop", NULL) == 0);
    assert_true(gw_metrics_get(m, GW_M_LATENCY, "shop", NULL) == 0);
    /* add on a gauge adds. */
    gw_metrics_add(m, GW_M_APP_PAUSED, "shop", NULL, 1);
    assert_true(gw_metrics_get(m, GW_M_APP_PAUSED, "shop", NULL) == 1);
    /* Extra labels beyond the declared ones are ignored; missing ones are "". */
    gw_metrics_add(m, GW_M_RETRIES, "shop", "ignored", 2);
    assert_true(gw_metrics_get(m, GW_M_RETRIES, "shop", NULL) == 2);
    gw_metrics_add(m, GW_M_REJECTIONS, "shop", NULL, 1);
    assert_true(gw_metrics_get(m, GW_M_REJECTIONS, "shop", "") == 1);
    /* Large counters stay exact in the text. */
    gw_metrics_add(m, GW_M_GOAWAYS, "shop", NULL, UINT64_C(9007199254740993));
    char *text = render(m);
    assert_non_null(strstr(text, "apnsd_goaways_total{app=\"shop\"} 9007199254740993\n"));
    assert_non_null(strstr(text, "apnsd_rejections_total{app=\"shop\",reason=\"\"} 1\n"));
    free(text);
    /* NaN observations are ignored; get() never creates a series. */
    gw_metrics_observe(m, GW_M_API_LATENCY, "/v1/push", NAN);
    assert_true(gw_metrics_get(m, GW_M_API_LATENCY, "/v1/push", NULL) == 0);
    assert_true(gw_metrics_get(m, GW_M_JWT_REFRESHES, "team", NULL) == 0);
    text = render(m);
    assert_null(strstr(text, "jwt_refreshes"));
    assert_null(strstr(text, "api_request_latency"));
    assert_null(strstr(text, "api_request_duration"));
    free(text);
    /* NULL metrics: every call is a no-op. */
    gw_metrics_add(NULL, GW_M_RETRIES, "x", NULL, 1);
    gw_metrics_set(NULL, GW_M_QUEUE_DEPTH, NULL, NULL, 1);
    gw_metrics_observe(NULL, GW_M_LATENCY, "x", 1);
    gw_metrics_gauge_add(NULL, GW_M_IN_FLIGHT, "x", NULL, 1);
    assert_true(gw_metrics_get(NULL, GW_M_RETRIES, "x", NULL) == 0);
    gw_metrics_free(m);
}

static void test_special_values(void **state)
{
    gw_metrics *m;
    assert_int_equal(gw_metrics_new(&m), 0);
    gw_metrics_set(m, GW_M_IN_FLIGHT, "a", NULL, INFINITY);
    gw_metrics_set(m, GW_M_IN_FLIGHT, "b", NULL, -INFINITY);
    gw_metrics_set(m, GW_M_IN_FLIGHT, "c", NULL, NAN);
    gw_metrics_set(m, GW_M_IN_FLIGHT, "d", NULL, 0.1);
    gw_metrics_set(m, GW_M_IN_FLIGHT, "e", NULL, 1e21);
    gw_metrics_set(m, GW_M_IN_FLIGHT, "f", NULL, -0.3);
    char *text = render(m);
    assert_non_null(strstr(text, "apnsd_in_flight{app=\"a\"} +Inf\n"));
    assert_non_null(strstr(text, "apnsd_in_flight{app=\"b\"} -Inf\n"));
    assert_non_null(strstr(text, "apnsd_in_flight{app=\"c\"} NaN\n"));
    assert_non_null(strstr(text, "apnsd_in_flight{app=\"d\"} 0.1\n"));
    assert_non_null(strstr(text, "apnsd_in_flight{app=\"e\"} 1e+21\n"));
    assert_non_null(strstr(text, "apnsd_in_flight{app=\"f\"} -0.3\n"));
    free(text);
    gw_metrics_free(m);
}

/* 1024 label sets are interned; the rest share the "_other" series, and one
 * warning is logged. */
static void test_label_cap(void **state)
{
    char path[] = "/tmp/test_metrics_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int old = gw_log_set_fd(fd);
    gw_log_setup(0, GW_LOG_INFO);

    gw_metrics *m;
    assert_int_equal(gw_metrics_new(&m), 0);
    char app[32];
    for (int i = 0; i < GW_METRICS_MAX_SERIES + 10; i++) {
        snprintf(app, sizeof(app), "app%05d", i);
        gw_metrics_add(m, GW_M_REJECTIONS, app, "BadDeviceToken", 1);
        gw_metrics_add(m, GW_M_REJECTIONS, app, "BadDeviceToken", 1);
    }
    /* Existing label sets keep counting after the cap. */
    gw_metrics_add(m, GW_M_REJECTIONS, "app00000", "BadDeviceToken", 1);
    assert_true(gw_metrics_get(m, GW_M_REJECTIONS, "app00000", "BadDeviceToken") == 3);
    assert_true(gw_metrics_get(m, GW_M_REJECTIONS, "app01023", "BadDeviceToken") == 2);
    assert_true(gw_metrics_get(m, GW_M_REJECTIONS, "app01024", "BadDeviceToken") == 0);
    assert_true(gw_metrics_get(m, GW_M_REJECTIONS, GW_METRICS_OTHER, GW_METRICS_OTHER) == 20);
    /* Histograms overflow the same way. */
    for (int i = 0; i < GW_METRICS_MAX_SERIES + 3; i++) {
        snprintf(app, sizeof(app), "r%d", i);
        gw_metrics_observe(m, GW_M_API_LATENCY, app, 0.01);
    }
    assert_true(gw_metrics_get(m, GW_M_API_LATENCY, GW_METRICS_OTHER, NULL) == 3);

    char *text = render(m);
    assert_int_equal(count_lines_starting(text, "apnsd_rejections_total{"),
                     GW_METRICS_MAX_SERIES + 1);
    assert_non_null(strstr(text, "apnsd_rejections_total{app=\"_other\",reason=\"_other\"} 20\n"));
    free(text);
    gw_metrics_free(m);

    /* One warning per metric, naming it. */
    gw_log_set_fd(old);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    close(fd);
    assert_int_equal(count_lines_starting(buf, "ts="), 2);
    assert_non_null(strstr(buf, "metric=apnsd_rejections_total"));
    assert_non_null(strstr(buf, "metric=apnsd_api_request_duration_seconds"));
    assert_non_null(strstr(buf, "level=warn"));
}

/* Registered label sets are rendered at 0 before any event, keep what was
 * counted when registered again, and are not created for NULL metrics. */
static void test_register(void **state)
{
    gw_metrics *m;
    assert_int_equal(gw_metrics_new(&m), 0);
    assert_int_equal(gw_metrics_register(m, GW_M_RETRIES, "shop", NULL), 0);
    assert_int_equal(gw_metrics_register(m, GW_M_WEBHOOK, "shop", "ok"), 0);
    assert_int_equal(gw_metrics_register(m, GW_M_LATENCY, "shop", NULL), 0);
    assert_int_equal(gw_metrics_register(m, GW_M_APP_PAUSED, "shop", NULL), 0);
    gw_metrics_add(m, GW_M_WEBHOOK, "shop", "ok", 4);
    assert_int_equal(gw_metrics_register(m, GW_M_WEBHOOK, "shop", "ok"), 0);
    char *text = render(m);
    assert_non_null(strstr(text, "\napnsd_retries_total{app=\"shop\"} 0\n"));
    assert_non_null(
        strstr(text, "\napnsd_webhook_deliveries_total{app=\"shop\",result=\"ok\"} 4\n"));
    assert_non_null(strstr(text, "\napnsd_app_paused{app=\"shop\"} 0\n"));
    assert_non_null(
        strstr(text, "\napnsd_delivery_duration_seconds_bucket{app=\"shop\",le=\"+Inf\"} 0\n"));
    assert_non_null(strstr(text, "\napnsd_delivery_duration_seconds_count{app=\"shop\"} 0\n"));
    assert_non_null(strstr(text, "\napnsd_delivery_latency_seconds_count{app=\"shop\"} 0\n"));
    free(text);
    assert_int_equal(gw_metrics_register(NULL, GW_M_RETRIES, "x", NULL), 0);
    gw_metrics_free(m);
}

/* The value of the sample line "name value" in text; NaN when absent. */
static double sample_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return NAN;
}

static double cpu_now(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* apnsd_build_info names this version with a commit; process_* hold this
 * process's values, each in the bounds the kernel's other interfaces give. */
static void test_build_and_process(void **state)
{
    volatile uint64_t spin = 0;
    /* Some CPU time first, so process_cpu_seconds_total is above 0 (the
     * kernel counts in ticks). Bounded by work, not by time. */
    for (uint64_t i = 0; i < UINT64_C(4000000000) && cpu_now() < 0.05; i++)
        for (int j = 0; j < 100000; j++)
            spin += (uint64_t)j;
    double cpu0 = cpu_now();
    int fd = dup(0); /* one more descriptor than before */
    assert_true(fd >= 0);

    gw_metrics *m;
    assert_int_equal(gw_metrics_new(&m), 0);
    char *text = render(m);
    double cpu1 = cpu_now();

    assert_non_null(strstr(text,
                           "# TYPE apnsd_build_info gauge\napnsd_build_info{version=\"" APNS_VERSION
                           "\",commit=\""));
    const char *c = strstr(text, "apnsd_build_info{");
    const char *commit = strstr(c, "commit=\"") + 8, *end = strchr(commit, '"');
    assert_true(end > commit);
    assert_true(strncmp(end, "\"} 1\n", 5) == 0);

    double v = sample_value(text, "process_cpu_seconds_total");
    assert_true(v > 0 && v >= cpu0 - 0.02 && v <= cpu1 + 0.02);
    v = sample_value(text, "process_resident_memory_bytes");
    assert_true(v > 0 && v <= sample_value(text, "process_virtual_memory_bytes"));
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_true(sample_value(text, "process_max_fds") == (double)rl.rlim_cur);
    v = sample_value(text, "process_open_fds");
    assert_true(v >= (double)fd + 1 && v <= (double)rl.rlim_cur);
    v = sample_value(text, "process_start_time_seconds");
    assert_true(v > 0 && v <= (double)time(NULL) + 1);
    assert_true(v >= (double)time(NULL) - 3600); /* this test started within the hour */
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "# TYPE process_open_fds gauge\n"));
    free(text);
    close(fd);
    gw_metrics_free(m);
}

/* The /proc parsers on kernel-shaped text: a command name with spaces and
 * parentheses, and malformed lines. */
static void test_procfs_parse(void **state)
{
    static const char stat[] = "8261 (a) b (c)) R 8250 8250 30684 0 -1 4194304 102 0 0 0 "
                               "17 3 0 0 20 0 1 0 7397658 3133440 394 18446744073709551615 0\n";
    gw_metrics_proc_stat st;
    assert_int_equal(gw_metrics_proc_parse_stat(stat, strlen(stat), &st), 0);
    assert_true(st.utime == 17 && st.stime == 3 && st.starttime == 7397658 && st.vsize == 3133440 &&
                st.rss == 394);
    assert_int_equal(gw_metrics_proc_parse_stat("8261 cat R 1 2", 14, &st), -1);
    assert_int_equal(gw_metrics_proc_parse_stat("1 (x) R 1 2 3", 13, &st), -1); /* too short */
    assert_int_equal(gw_metrics_proc_parse_stat(stat, 40, &st), -1);
    static const char ps[] = "cpu 1 2 3\nctxt 5\nbtime 1796399744\nprocesses 9\n";
    uint64_t bt = 0;
    assert_int_equal(gw_metrics_proc_parse_btime(ps, strlen(ps), &bt), 0);
    assert_true(bt == 1796399744);
    assert_int_equal(gw_metrics_proc_parse_btime("cpu 1\nbtimex 3\n", 16, &bt), -1);
    assert_int_equal(gw_metrics_proc_parse_btime("btime x\n", 8, &bt), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),         cmocka_unit_test(test_empty_and_unlabelled),
        cmocka_unit_test(test_table_complete), cmocka_unit_test(test_recording_rules),
        cmocka_unit_test(test_special_values), cmocka_unit_test(test_label_cap),
        cmocka_unit_test(test_register),       cmocka_unit_test(test_build_and_process),
        cmocka_unit_test(test_procfs_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
