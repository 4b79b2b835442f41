/*
 * log.c - structured log lines (JSON or logfmt) on one file descriptor. See
 * log.h for the format and escaping rules.
 *
 * Design note
 * -----------
 * A line is built in a fixed buffer on the caller's stack (GW_LOG_LINE_MAX),
 * so logging never allocates and a huge value cannot make a huge line. A
 * field that does not fit is rolled back whole and the line ends with a
 * truncation marker, for which room is always reserved, so every line stays
 * parseable. The settings (format, level, fd) are atomics, read without the
 * lock; the mutex only serialises the write(2) of finished lines, which is
 * what keeps lines from different threads from interleaving.
 */
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int g_format = GW_LOG_FORMAT_LOGFMT;
static atomic_int g_level = GW_LOG_INFO;
static atomic_int g_fd = 2;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

_Static_assert((int)GW_LOG_ERROR == (int)APNS_LOG_ERROR && (int)GW_LOG_WARN == (int)APNS_LOG_WARN &&
                   (int)GW_LOG_INFO == (int)APNS_LOG_INFO &&
                   (int)GW_LOG_DEBUG == (int)APNS_LOG_DEBUG,
               "gw_log_level mirrors apns_log_level");

void gw_log_setup(int format, gw_log_level min_level)
{
    atomic_store(&g_format,
                 format == GW_LOG_FORMAT_JSON ? GW_LOG_FORMAT_JSON : GW_LOG_FORMAT_LOGFMT);
    if (min_level < GW_LOG_ERROR)
        min_level = GW_LOG_ERROR;
    if (min_level > GW_LOG_DEBUG)
        min_level = GW_LOG_DEBUG;
    atomic_store(&g_level, (int)min_level);
}

int gw_log_level_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return GW_LOG_WARN;
    return -1;
}

const char *gw_log_level_name(gw_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

int gw_log_enabled(gw_log_level level)
{
    return (int)level <= atomic_load_explicit(&g_level, memory_order_relaxed);
}

int gw_log_set_fd(int fd)
{
    return atomic_exchange(&g_fd, fd);
}

/* ---------------------------------------------------------------------- */
/* line builder                                                           */

#define RESERVE 32 /* room kept for the truncation marker and the line end */

typedef struct line {
    char buf[GW_LOG_LINE_MAX];
    size_t len;
    size_t lim; /* GW_LOG_LINE_MAX - RESERVE */
    int full;   /* a write did not fit */
} line;

static void put(line *l, const char *s, size_t n)
{
    if (l->full || n > l->lim - l->len) {
        l->full = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return k;
}

/* Escaped body of a string (no quotes): JSON string rules, which logfmt's
 * quoted values share. Invalid UTF-8 becomes U+FFFD. */
static void put_escaped(line *l, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char c = p[i];
        /* JSON's short escapes: the character, then the letter after '\\'. */
        static const char short_esc[] = "\"\"\\\\\nn\rr\tt\bb\ff";
        const char *rep = NULL, *e = c != 0 ? strchr(short_esc, c) : NULL;
        char u[8];
        size_t adv = 1;
        if (e != NULL && (e - short_esc) % 2 == 0) {
            snprintf(u, sizeof(u), "\\%c", e[1]);
            rep = u;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(u, sizeof(u), "\\u%04x", c);
            rep = u;
        } else if (c >= 0x80) {
            adv = utf8_len(p + i, n - i);
            if (adv == 0) {
                rep = "\xef\xbf\xbd"; /* U+FFFD */
                adv = 1;
            }
        }
        if (rep == NULL) {
            i += adv;
            continue;
        }
        put(l, s + run, i - run);
        puts_(l, rep);
        i += adv;
        run = i;
    }
    put(l, s + run, n - run);
}

/* A value cut at GW_LOG_VALUE_MAX on a UTF-8 boundary; *cut set if so. */
static size_t value_len(const char *v, int *cut)
{
    size_t n = strnlen(v, GW_LOG_VALUE_MAX + 1);
    *cut = 0;
    if (n > GW_LOG_VALUE_MAX) {
        n = GW_LOG_VALUE_MAX;
        while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
            n--;
        *cut = 1;
    }
    return n;
}

static int logfmt_needs_quotes(const char *v, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= ' ' || c == '=' || c == '"' || c >= 0x7f)
            return 1;
    }
    return 0;
}

/* A value: a JSON string, or a logfmt value (quoted only when it must be);
 * a number (from GW_LOG_INT/GW_LOG_DOUBLE) as it is. */
static void put_value(line *l, const char *v, int json, int number)
{
    if (number && v != NULL) {
        puts_(l, v);
        return;
    }
    if (v == NULL) {
        puts_(l, "null");
        return;
    }
    int cut;
    size_t n = value_len(v, &cut);
    int quote = json || logfmt_needs_quotes(v, n);
    if (quote) {
        put(l, "\"", 1);
        put_escaped(l, v, n);
    } else {
        put(l, v, n);
    }
    if (cut)
        puts_(l, "...");
    if (quote)
        put(l, "\"", 1);
}

static void put_logfmt_key(line *l, const char *k)
{
    if (k[0] == '\0')
        put(l, "_", 1);
    for (; *k != '\0'; k++)
        put(l, isalnum((unsigned char)*k) || strchr("_.-", *k) != NULL ? k : "_", 1);
}

/* One field, or nothing (and l->full set) when it does not fit. */
static void field(line *l, int json, const char *k, const char *v, int number, int first)
{
    size_t mark = l->len;
    if (!first)
        put(l, json ? "," : " ", 1);
    if (json)
        put_value(l, k, 1, 0);
    else
        put_logfmt_key(l, k);
    put(l, json ? ":" : "=", 1);
    put_value(l, v, json, number);
    if (l->full)
        l->len = mark;
}

static void timestamp(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void write_line(const char *buf, size_t len)
{
    pthread_mutex_lock(&g_lock);
    int fd = atomic_load(&g_fd);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break; /* nowhere to report it */
        }
        off += (size_t)w;
    }
    pthread_mutex_unlock(&g_lock);
}

void gw_log(gw_log_level level, const char *component, const char *msg, ...)
{
    if (!gw_log_enabled(level))
        return;
    int json = atomic_load_explicit(&g_format, memory_order_relaxed) == GW_LOG_FORMAT_JSON;
    char ts[32];
    timestamp(ts);

    line l;
    l.len = 0;
    l.lim = sizeof(l.buf) - RESERVE;
    l.full = 0;
    if (json)
        put(&l, "{", 1);
    field(&l, json, "ts", ts, 0, 1);
    field(&l, json, "level", gw_log_level_name(level), 0, 0);
    field(&l, json, "component", component ? component : "apnsd", 0, 0);
    field(&l, json, "msg", msg ? msg : "", 0, 0);
    int truncated = l.full;
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL)
            break;
        const char *v = va_arg(ap, const char *);
        int number = v == gw_log_number;
        if (number)
            v = va_arg(ap, const char *);
        if (truncated)
            continue;
        field(&l, json, k, v, number, 0);
        truncated = l.full;
    }
    va_end(ap);
    /* The reserve always holds the marker and the line end. */
    l.full = 0;
    l.lim = sizeof(l.buf);
    if (truncated)
        puts_(&l, json ? ",\"truncated\":true" : " truncated=true");
    puts_(&l, json ? "}\n" : "\n");
    write_line(l.buf, l.len);
}

const char gw_log_number[] = "(number)";

const char *gw_log_int(char buf[24], long long v)
{
    snprintf(buf, 24, "%lld", v);
    return buf;
}

const char *gw_log_double(char buf[32], double v)
{
    if (!isfinite(v)) {
        snprintf(buf, 32, "null");
        return buf;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

void gw_log_apns(apns_log_level level, const char *msg, void *ud)
{
    gw_log_level l = (unsigned)level <= APNS_LOG_DEBUG ? (gw_log_level)level : GW_LOG_DEBUG;
    gw_log(l, ud != NULL ? (const char *)ud : "apns", msg, NULL);
}
