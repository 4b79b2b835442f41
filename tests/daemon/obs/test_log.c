/*
 * test_log.c - daemon/log.c: golden lines in both formats (the timestamp is
 * checked for shape, then cut off), escaping of every awkward byte, invalid
 * UTF-8, NULL values, truncation of long values and long lines (the line
 * stays parseable), level filtering and parsing, the libapns adaptor, and
 * concurrent logging from threads (every line parses: none interleave).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "log.h"

/* Log output goes to an unlinked temporary file; take() returns what was
 * written since the last call. */
static int g_fd = -1;
static off_t g_off;
static char g_buf[1 << 16];

static int setup(void **state)
{
    char path[] = "/tmp/test_log_XXXXXX";
    g_fd = mkstemp(path);
    assert_true(g_fd >= 0);
    unlink(path);
    g_off = 0;
    gw_log_set_fd(g_fd);
    return 0;
}

static int teardown(void **state)
{
    gw_log_set_fd(2);
    gw_log_setup(GW_LOG_FORMAT_LOGFMT, GW_LOG_INFO);
    close(g_fd);
    return 0;
}

static const char *take(void)
{
    ssize_t n = pread(g_fd, g_buf, sizeof(g_buf) - 1, g_off);
    assert_true(n >= 0);
    g_buf[n] = '\0';
    g_off += n;
    return g_buf;
}

/* "2026-11-25T17:45:01.123Z" */
static int is_ts(const char *s)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

/* One logfmt line without its "ts=... " prefix. */
static const char *logfmt_rest(const char *line)
{
    assert_true(strncmp(line, "ts=", 3) == 0);
    assert_true(is_ts(line + 3));
    assert_int_equal(line[3 + 24], ' ');
    return line + 3 + 24 + 1;
}

/* One JSON line without its {"ts":"...", prefix. */
static const char *json_rest(const char *line)
{
    assert_true(strncmp(line, "{\"ts\":\"", 7) == 0);
    assert_true(is_ts(line + 7));
    assert_true(strncmp(line + 7 + 24, "\",", 2) == 0);
    return line + 7 + 24 + 2;
}

static void test_logfmt_golden(void **state)
{
    gw_log_setup(GW_LOG_FORMAT_LOGFMT, GW_LOG_INFO);
    gw_log(GW_LOG_INFO, "dispatch", "app paused", "app", "shop", "reason", "InvalidProviderToken",
           NULL);
    assert_string_equal(logfmt_rest(take()),
                        "level=info component=dispatch msg=\"app paused\" app=shop "
                        "reason=InvalidProviderToken\n");

    gw_log(GW_LOG_WARN, "api", "odd values", "eq", "a=b", "quote", "say \"hi\"", "bs",
           "back\\slash", "nl", "x\ny", "empty", "", "ctl", "a\001b\x7f", "tab", "a\tb", "utf8",
           "h\xc3\xa9llo", "bad",
           "a\xff"
           "b",
           "null", (const char *)NULL, "k e=y", "v", NULL);
    assert_string_equal(logfmt_rest(take()),
                        "level=warn component=api msg=\"odd values\" eq=\"a=b\" "
                        "quote=\"say \\\"hi\\\"\" bs=back\\slash nl=\"x\\ny\" empty=\"\" "
                        "ctl=\"a\\u0001b\\u007f\" tab=\"a\\tb\" utf8=\"h\xc3\xa9llo\" "
                        "bad=\"a\xef\xbf\xbd"
                        "b\" null=null k_e_y=v\n");
}

static void test_json_golden(void **state)
{
    gw_log_setup(GW_LOG_FORMAT_JSON, GW_LOG_DEBUG);
    gw_log(GW_LOG_INFO, "dispatch", "app paused", "app", "shop", "reason", "InvalidProviderToken",
           NULL);
    assert_string_equal(json_rest(take()),
                        "\"level\":\"info\",\"component\":\"dispatch\",\"msg\":\"app paused\","
                        "\"app\":\"shop\",\"reason\":\"InvalidProviderToken\"}\n");

    gw_log(GW_LOG_DEBUG, "q", "say \"hi\"\n", "bs", "a\\b", "ctl", "\001\b\f\r\t\x1f\x7f", "utf8",
           "h\xc3\xa9llo \xe2\x82\xac", "bad", "\xc3(\xed\xa0\x80", "null", (const char *)NULL,
           "k\"ey", "v", NULL);
    const char *line = take();
    assert_string_equal(json_rest(line),
                        "\"level\":\"debug\",\"component\":\"q\",\"msg\":\"say \\\"hi\\\"\\n\","
                        "\"bs\":\"a\\\\b\",\"ctl\":\"\\u0001\\b\\f\\r\\t\\u001f\\u007f\","
                        "\"utf8\":\"h\xc3\xa9llo \xe2\x82\xac\","
                        "\"bad\":\"\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
                        "\"null\":null,\"k\\\"ey\":\"v\"}\n");
    /* And a strict parser agrees. */
    json_error_t err;
    json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "say \"hi\"\n");
    assert_string_equal(json_string_value(json_object_get(j, "ctl")), "\001\b\f\r\t\x1f\x7f");
    assert_true(json_is_null(json_object_get(j, "null")));
    json_decref(j);
}

/* GW_LOG_INT / GW_LOG_DOUBLE values are JSON numbers (and bare in logfmt);
 * a caller's string that looks like a number stays a string. */
static void test_numbers(void **state)
{
    gw_log_setup(GW_LOG_FORMAT_JSON, GW_LOG_INFO);
    gw_log(GW_LOG_INFO, "webhook", "delivered", "results", GW_LOG_INT(3), "neg",
           GW_LOG_INT(-9007199254740993LL), "ms", GW_LOG_DOUBLE(0.25), "inf",
           GW_LOG_DOUBLE(1.0 / 0.0), "text", "42", NULL);
    const char *line = take();
    assert_string_equal(json_rest(line),
                        "\"level\":\"info\",\"component\":\"webhook\",\"msg\":\"delivered\","
                        "\"results\":3,\"neg\":-9007199254740993,\"ms\":0.25,\"inf\":null,"
                        "\"text\":\"42\"}\n");
    json_error_t err;
    json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(j);
    assert_true(json_is_integer(json_object_get(j, "results")));
    assert_int_equal(json_integer_value(json_object_get(j, "results")), 3);
    assert_true(json_is_real(json_object_get(j, "ms")));
    assert_true(json_is_string(json_object_get(j, "text")));
    json_decref(j);

    gw_log_setup(GW_LOG_FORMAT_LOGFMT, GW_LOG_INFO);
    gw_log(GW_LOG_INFO, "webhook", "delivered", "results", GW_LOG_INT(3), "ms", GW_LOG_DOUBLE(0.25),
           "app", "shop", NULL);
    assert_string_equal(logfmt_rest(take()),
                        "level=info component=webhook msg=delivered results=3 ms=0.25 app=shop\n");
}

static void test_levels(void **state)
{
    gw_log_setup(GW_LOG_FORMAT_LOGFMT, GW_LOG_WARN);
    assert_true(gw_log_enabled(GW_LOG_ERROR));
    assert_true(gw_log_enabled(GW_LOG_WARN));
    assert_false(gw_log_enabled(GW_LOG_INFO));
    gw_log(GW_LOG_DEBUG, "c", "no", NULL);
    gw_log(GW_LOG_INFO, "c", "no", NULL);
    gw_log(GW_LOG_WARN, "c", "yes", NULL);
    gw_log(GW_LOG_ERROR, "c", "yes", NULL);
    const char *out = take();
    const char *l1 = out, *l2 = strchr(out, '\n') + 1;
    assert_true(strncmp(logfmt_rest(l1), "level=warn component=c msg=yes\n", 31) == 0);
    assert_string_equal(logfmt_rest(l2), "level=error component=c msg=yes\n");

    gw_log_setup(GW_LOG_FORMAT_LOGFMT, GW_LOG_ERROR);
    gw_log(GW_LOG_WARN, "c", "no", NULL);
    assert_string_equal(take(), "");

    assert_int_equal(gw_log_level_parse("error"), GW_LOG_ERROR);
    assert_int_equal(gw_log_level_parse("WARN"), GW_LOG_WARN);
    assert_int_equal(gw_log_level_parse("warning"), GW_LOG_WARN);
    assert_int_equal(gw_log_level_parse("info"), GW_LOG_INFO);
    assert_int_equal(gw_log_level_parse("debug"), GW_LOG_DEBUG);
    assert_int_equal(gw_log_level_parse("trace"), -1);
    assert_int_equal(gw_log_level_parse(""), -1);
    assert_int_equal(gw_log_level_parse(NULL), -1);
    assert_string_equal(gw_log_level_name(GW_LOG_DEBUG), "debug");
    assert_string_equal(gw_log_level_name((gw_log_level)9), "?");
}

static void test_apns_adaptor(void **state)
{
    gw_log_setup(GW_LOG_FORMAT_LOGFMT, GW_LOG_DEBUG);
    gw_log_apns(APNS_LOG_WARN, "GOAWAY received", "pool");
    assert_string_equal(logfmt_rest(take()), "level=warn component=pool msg=\"GOAWAY received\"\n");
    gw_log_apns(APNS_LOG_DEBUG, "x", NULL);
    assert_string_equal(logfmt_rest(take()), "level=debug component=apns msg=x\n");
    gw_log_apns(APNS_LOG_ERROR, "e", "tls");
    assert_string_equal(logfmt_rest(take()), "level=error component=tls msg=e\n");
    gw_log_setup(GW_LOG_FORMAT_LOGFMT, GW_LOG_INFO);
    gw_log_apns(APNS_LOG_DEBUG, "hidden", "pool");
    assert_string_equal(take(), "");
}

/* A huge value is cut (marked "..."); too many fields end the line with a
 * truncation marker; both formats stay parseable. */
static void test_truncation(void **state)
{
    char *big = malloc(GW_LOG_VALUE_MAX * 3);
    assert_non_null(big);
    memset(big, 'x', GW_LOG_VALUE_MAX * 3 - 1);
    big[GW_LOG_VALUE_MAX * 3 - 1] = '\0';
    /* a 2-byte character straddling the cut is not split */
    big[GW_LOG_VALUE_MAX - 1] = '\xc3';
    big[GW_LOG_VALUE_MAX] = '\xa9';

    gw_log_setup(GW_LOG_FORMAT_JSON, GW_LOG_INFO);
    gw_log(GW_LOG_INFO, "c", "m", "big", big, "after", "ok", NULL);
    const char *line = take();
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    assert_non_null(j);
    const char *v = json_string_value(json_object_get(j, "big"));
    assert_int_equal(strlen(v), GW_LOG_VALUE_MAX - 1 + 3);
    assert_string_equal(v + GW_LOG_VALUE_MAX - 1, "...");
    assert_string_equal(json_string_value(json_object_get(j, "after")), "ok");
    assert_null(json_object_get(j, "truncated"));
    json_decref(j);

    /* Five big fields cannot fit in one line. */
    gw_log(GW_LOG_INFO, "c", "m", "a", big, "b", big, "c", big, "d", big, "e", big, NULL);
    line = take();
    assert_true(strlen(line) <= GW_LOG_LINE_MAX);
    assert_int_equal(line[strlen(line) - 1], '\n');
    assert_true(strchr(line, '\n') == line + strlen(line) - 1); /* one line */
    j = json_loads(line, 0, &err);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_non_null(json_object_get(j, "a"));
    assert_null(json_object_get(j, "e"));
    json_decref(j);

    gw_log_setup(GW_LOG_FORMAT_LOGFMT, GW_LOG_INFO);
    gw_log(GW_LOG_INFO, "c", "m", "a", big, "b", big, "c", big, "d", big, "e", big, NULL);
    line = take();
    assert_true(strlen(line) <= GW_LOG_LINE_MAX);
    assert_non_null(strstr(line, " truncated=true\n"));
    assert_null(strstr(line, " e="));
    free(big);
}

/* ---------------------------------------------------------------------- */
/* threads                                                                */

#define THREADS 8
#define LINES   1000
#define PAD                                                                                        \
    2000 /* three pads: lines of ~6 KB, above PIPE_BUF, so a pipe                                  \
            write may be split and interleave unless serialised */

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char tid[16], seq[16], pad[PAD + 1];
    snprintf(tid, sizeof(tid), "%d", id);
    memset(pad, 'a' + id, PAD);
    pad[PAD] = '\0';
    for (int i = 0; i < LINES; i++) {
        snprintf(seq, sizeof(seq), "%d", i);
        gw_log(GW_LOG_INFO, "thread", "line", "thread", tid, "seq", seq, "p1", pad, "p2", pad, "p3",
               pad, "q", "\"quoted\"\n", NULL);
    }
    return NULL;
}

typedef struct sink {
    int fd;
    char *buf;
    size_t len, cap;
} sink;

static void *reader(void *arg)
{
    sink *s = arg;
    for (;;) {
        if (s->cap - s->len < 65536) {
            s->cap = s->cap * 2 + 65536;
            s->buf = realloc(s->buf, s->cap);
            if (s->buf == NULL)
                abort();
        }
        ssize_t n = read(s->fd, s->buf + s->len, s->cap - s->len - 1);
        if (n <= 0)
            break;
        s->len += (size_t)n;
    }
    s->buf[s->len] = '\0';
    return NULL;
}

static void test_threads(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    /* The smallest pipe: every ~6 KB line waits for the reader mid-write,
     * which is where unserialised writers interleave. */
    (void)fcntl(p[1], F_SETPIPE_SZ, 4096);
    sink s = {.fd = p[0]};
    pthread_t rt;
    assert_int_equal(pthread_create(&rt, NULL, reader, &s), 0);
    gw_log_set_fd(p[1]);
    gw_log_setup(GW_LOG_FORMAT_JSON, GW_LOG_INFO);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    gw_log_set_fd(g_fd);
    close(p[1]);
    pthread_join(rt, NULL);
    close(p[0]);

    int next[THREADS] = {0};
    size_t lines = 0;
    for (char *q = s.buf, *nl; *q; q = nl + 1) {
        nl = strchr(q, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t err;
        json_t *j = json_loads(q, JSON_REJECT_DUPLICATES, &err);
        if (j == NULL)
            fail_msg("line %zu does not parse: %s", lines, err.text);
        int id = atoi(json_string_value(json_object_get(j, "thread")));
        int seq = atoi(json_string_value(json_object_get(j, "seq")));
        assert_true(id >= 0 && id < THREADS);
        assert_int_equal(seq, next[id]); /* each thread's lines in order, none lost */
        next[id]++;
        const char *names[] = {"p1", "p2", "p3"};
        for (int k = 0; k < 3; k++) {
            const char *pad = json_string_value(json_object_get(j, names[k]));
            assert_non_null(pad);
            assert_int_equal(strlen(pad), PAD);
            assert_int_equal(strspn(pad, (char[]){(char)('a' + id), 0}), PAD);
        }
        assert_string_equal(json_string_value(json_object_get(j, "q")), "\"quoted\"\n");
        json_decref(j);
        lines++;
    }
    assert_int_equal(lines, THREADS * LINES);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(next[i], LINES);
    free(s.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_logfmt_golden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_golden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apns_adaptor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
