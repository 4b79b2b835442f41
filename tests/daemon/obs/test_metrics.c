/*
 * test_metrics.c - daemon/metrics.c: the Prometheus text exposition (golden
 * text with label escaping and cumulative histogram buckets), the table
 * (every GW_M_* id declared, names valid), the label-set cap with its
 * overflow series and one warning, and the recording rules.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "apns/error.h"
#include "log.h"
#include "metrics.h"

/* The unlabelled gauges of the HTTP API: always there, 0 until set. */
#define API_GAUGES                                                                                 \
    "# HELP apnsd_api_connections Open HTTP API connections.\n"                                    \
    "# TYPE apnsd_api_connections gauge\n"                                                         \
    "apnsd_api_connections 0\n"                                                                    \
    "# HELP apnsd_api_body_bytes Request-body bytes admitted now (declared by Content-Length or "  \
    "received chunked), bounded by [server] max_body_in_flight.\n"                                 \
    "# TYPE apnsd_api_body_bytes gauge\n"                                                          \
    "apnsd_api_body_bytes 0\n"

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

    char *text = render(m);
    const char *want =
        "# HELP apnsd_notifications_total Device tokens with a final outcome (accepted, "
        "rejected, failed, expired).\n"
        "# TYPE apnsd_notifications_total counter\n"
        "apnsd_notifications_total{app=\"a\\\"b\\\\c\\nd\",outcome=\"accepted\"} 1\n"
        "apnsd_notifications_total{app=\"shop\",outcome=\"accepted\"} 5\n"
        "apnsd_notifications_total{app=\"shop\",outcome=\"rejected\"} 1\n"
        "# HELP apnsd_delivery_latency_seconds Time from a notification being queued to the "
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
    char *a = render(m), *b = render(m);
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
    /* Only the metrics without labels are there, at 0. */
    assert_string_equal(text, "# HELP apnsd_queue_depth Device tokens in the queue without a "
                              "final outcome.\n"
                              "# TYPE apnsd_queue_depth gauge\n"
                              "apnsd_queue_depth 0\n" API_GAUGES);
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
    assert_int_equal(count_lines_starting(text, "# HELP apnsd_"), GW_M_COUNT);
    assert_int_equal(count_lines_starting(text, "# TYPE apnsd_"), GW_M_COUNT);
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
    assert_non_null(strstr(buf, "metric=apnsd_api_request_latency_seconds"));
    assert_non_null(strstr(buf, "level=warn"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),         cmocka_unit_test(test_empty_and_unlabelled),
        cmocka_unit_test(test_table_complete), cmocka_unit_test(test_recording_rules),
        cmocka_unit_test(test_special_values), cmocka_unit_test(test_label_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
