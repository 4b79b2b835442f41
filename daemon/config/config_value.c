/*
 * config_value.c - the value types of configuration keys: parsing with
 * units (durations, sizes), ranges, choices and lists; formatting for the
 * dump; equality for reload diffs; key lookup and did-you-mean suggestions;
 * and the host, host:port and URL rules that several modules' checks use.
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KiB  ((int64_t)1024)
#define MiB  (1024 * KiB)
#define GiB  (1024 * MiB)
#define SEC  ((int64_t)1000)
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

static void whyf(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void whyf(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* hosts and URLs                                                         */

int gw_config_host_ok(const char *h)
{
    size_t n = strlen(h);
    unsigned char buf[16];
    if (n == 0 || n > 253)
        return 0;
    if (strchr(h, ':'))
        return inet_pton(AF_INET6, h, buf) == 1;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
            return 0;
    return h[0] != '.' && h[0] != '-';
}

int gw_config_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
    const char *colon, *h = s;
    size_t hn;
    char *end;
    unsigned long p;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        h = s + 1;
        hn = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return -1; /* none, or a bare IPv6 address without brackets */
        hn = (size_t)(colon - s);
    }
    if (hn == 0 || hn >= host_len)
        return -1;
    memcpy(host, h, hn);
    host[hn] = '\0';
    if (!gw_config_host_ok(host))
        return -1;
    if (!isdigit((unsigned char)colon[1]))
        return -1;
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

int gw_config_url_ok(const char *v, const char *schemes, size_t max, const char *forbid)
{
    const char *rest = NULL;
    size_t n = strlen(v);
    for (const char *p = schemes; p && rest == NULL;) {
        const char *bar = strchr(p, '|');
        size_t sn = bar ? (size_t)(bar - p) : strlen(p);
        if (strncasecmp(v, p, sn) == 0 && strncmp(v + sn, "://", 3) == 0)
            rest = v + sn + 3;
        p = bar ? bar + 1 : NULL;
    }
    int ok = rest != NULL && *rest != '\0' && *rest != '/' && *rest != ':' && n <= max;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f && !strchr(forbid, v[i]);
    return ok;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------- */
/* lookups and suggestions                                                */

int gw__key_find(const gw__sec *s, const char *name)
{
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i].k->name, name) == 0)
            return (int)i;
    return -1;
}

int gw__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int close_enough(const char *word, int d)
{
    size_t n = strlen(word);
    return d <= (n <= 4 ? 1 : n <= 8 ? 2 : 3);
}

const char *gw_config_suggest(const char *word, const char *const *words, size_t n)
{
    const char *best = NULL;
    int bestd = 99;
    for (size_t i = 0; i < n; i++) {
        int d = gw__edit_distance(word, words[i]);
        if (d < bestd) {
            bestd = d;
            best = words[i];
        }
    }
    return best && close_enough(word, bestd) ? best : NULL;
}

/* Does `word` match one of the space-separated names in aka (case-insensitive,
 * ignoring '-' vs '_')? */
static int aka_match(const char *aka, const char *word)
{
    size_t wn = strlen(word);
    while (aka && *aka) {
        const char *sp = strchr(aka, ' ');
        size_t n = sp ? (size_t)(sp - aka) : strlen(aka);
        if (n == wn) {
            size_t i = 0;
            for (; i < n; i++) {
                char a = (char)tolower((unsigned char)aka[i]),
                     w = (char)tolower((unsigned char)word[i]);
                if (a == '-')
                    a = '_';
                if (w == '-')
                    w = '_';
                if (a != w)
                    break;
            }
            if (i == n)
                return 1;
        }
        aka = sp ? sp + 1 : NULL;
    }
    return 0;
}

const char *gw__key_suggest(const gw__sec *s, const char *name)
{
    const char *best = NULL;
    int bestd = 99;
    for (size_t i = 0; i < s->n_keys; i++)
        if (aka_match(s->keys[i].k->aka, name))
            return s->keys[i].k->name;
    for (size_t i = 0; i < s->n_keys; i++) {
        int d = gw__edit_distance(name, s->keys[i].k->name);
        if (d < bestd) {
            bestd = d;
            best = s->keys[i].k->name;
        }
    }
    return best && close_enough(name, bestd) ? best : NULL;
}

/* ---------------------------------------------------------------------- */
/* numbers with units                                                     */

static int parse_u64(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *sp = s;
    *out = v;
    return 0;
}

int gw_config_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", SEC}, {"m", MIN}, {"h", HOUR}, {"d", DAY}};
    const int64_t limit = 100 * 365 * DAY;
    int64_t total = 0;
    uint64_t v;
    const char *p = s;

    if (parse_u64(&p, &v) != 0)
        return -1;
    if (*p == '\0') { /* a bare number: seconds */
        if (v > (uint64_t)(limit / SEC))
            return -1;
        *out = (int64_t)v * SEC;
        return 0;
    }
    p = s;
    while (*p) {
        size_t best = 0, ui = 0;
        if (parse_u64(&p, &v) != 0)
            return -1;
        for (size_t i = 0; i < N(units); i++) {
            size_t n = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, n) == 0 && n > best &&
                !(n == 1 && p[0] == 'm' && p[1] == 's')) {
                best = n;
                ui = i;
            }
        }
        if (best == 0)
            return -1;
        p += best;
        if (v > (uint64_t)(limit / units[ui].ms) || total > limit - (int64_t)v * units[ui].ms)
            return -1;
        total += (int64_t)v * units[ui].ms;
    }
    *out = total;
    return 0;
}

int gw_config_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"kb", 1000},
                 {"mb", 1000000},
                 {"gb", 1000000000},
                 {"kib", 1024},
                 {"mib", 1024 * 1024},
                 {"gib", 1 << 30}};
    uint64_t v;
    const char *p = s;
    if (parse_u64(&p, &v) != 0)
        return -1;
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < N(units); i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mult)
                return -1;
            *out = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static void fmt_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", DAY}, {"h", HOUR}, {"m", MIN}, {"s", SEC}, {"ms", 1}};
    size_t o = 0;
    if (ms == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < N(units) && ms > 0 && o < len; i++) {
        if (ms >= units[i].ms) {
            int n = snprintf(buf + o, len - o, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            if (n < 0)
                return;
            o += (size_t)n;
            ms %= units[i].ms;
        }
    }
}

static void fmt_size(uint64_t v, char *buf, size_t len)
{
    if (v >= (uint64_t)GiB && v % (uint64_t)GiB == 0)
        snprintf(buf, len, "%" PRIu64 "GiB", v / (uint64_t)GiB);
    else if (v >= (uint64_t)MiB && v % (uint64_t)MiB == 0)
        snprintf(buf, len, "%" PRIu64 "MiB", v / (uint64_t)MiB);
    else if (v >= (uint64_t)KiB && v % (uint64_t)KiB == 0)
        snprintf(buf, len, "%" PRIu64 "KiB", v / (uint64_t)KiB);
    else
        snprintf(buf, len, "%" PRIu64, v);
}

/* "a|b|c" -> index of word, or -1. Case-insensitive. */
static int choice_index(const char *choices, const char *word)
{
    int i = 0;
    size_t wn = strlen(word);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == wn && strncasecmp(p, word, n) == 0)
            return i;
        p = bar ? bar + 1 : NULL;
        i++;
    }
    return -1;
}

/* The index'th word of choices into buf. */
const char *gw__choice_name(const char *choices, int index, char *buf, size_t len)
{
    int i = 0;
    for (const char *p = choices; p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (i == index) {
            if (n >= len)
                n = len - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            return buf;
        }
        p = bar ? bar + 1 : NULL;
    }
    snprintf(buf, len, "?");
    return buf;
}

static void enum_why(const char *choices, const char *word, char *why, size_t len)
{
    char names[8][32];
    const char *ptrs[8];
    size_t n = 0, o = 0;
    for (const char *p = choices; p && n < 8;) {
        const char *bar = strchr(p, '|');
        size_t wn = bar ? (size_t)(bar - p) : strlen(p);
        if (wn > 31)
            wn = 31;
        memcpy(names[n], p, wn);
        names[n][wn] = '\0';
        ptrs[n] = names[n];
        n++;
        p = bar ? bar + 1 : NULL;
    }
    o += (size_t)snprintf(why, len, "must be one of");
    for (size_t i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(why + o, len - o, "%s %s", i ? "," : "", names[i]);
    const char *s = gw_config_suggest(word, ptrs, n);
    if (s && o < len)
        snprintf(why + o, len - o, " (did you mean %s?)", s);
}

/* ---------------------------------------------------------------------- */
/* values                                                                 */

void gw_config_strv_clear(gw_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

int gw_config_strv_push(gw_strv *v, const char *s, size_t len)
{
    char **nv = realloc(v->v, (v->n + 1) * sizeof *nv);
    char *copy = malloc(len + 1);
    if (nv == NULL || copy == NULL) {
        free(copy);
        if (nv)
            v->v = nv;
        return APNS_ENOMEM;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    v->v = nv;
    v->v[v->n++] = copy;
    return 0;
}

void gw_config_value_clear(const gw_config_key *k, void *field)
{
    switch (k->type) {
    case GW_CONFIG_T_STR:
    case GW_CONFIG_T_PATH:
        free(*(char **)field);
        *(char **)field = NULL;
        break;
    case GW_CONFIG_T_LIST:
        gw_config_strv_clear(field);
        break;
    case GW_CONFIG_T_BOOL:
    case GW_CONFIG_T_ENUM:
        *(int *)field = 0;
        break;
    case GW_CONFIG_T_COUNT:
        *(uint32_t *)field = 0;
        break;
    case GW_CONFIG_T_COUNT64:
        *(uint64_t *)field = 0;
        break;
    case GW_CONFIG_T_PORT:
        *(uint16_t *)field = 0;
        break;
    case GW_CONFIG_T_SIZE:
        *(uint64_t *)field = 0;
        break;
    case GW_CONFIG_T_DURATION:
        *(int64_t *)field = 0;
        break;
    }
}

int gw_config_value_is_set(const gw_config_key *k, const void *field)
{
    switch (k->type) {
    case GW_CONFIG_T_STR:
    case GW_CONFIG_T_PATH:
        return *(char *const *)field != NULL;
    case GW_CONFIG_T_LIST:
        return ((const gw_strv *)field)->n > 0;
    default:
        return 1;
    }
}

void gw__range_text(const gw_config_key *k, char *lo, char *hi, size_t len)
{
    if (k->type == GW_CONFIG_T_DURATION) {
        fmt_duration(k->min, lo, len);
        fmt_duration(k->max, hi, len);
    } else if (k->type == GW_CONFIG_T_SIZE) {
        fmt_size((uint64_t)k->min, lo, len);
        fmt_size((uint64_t)k->max, hi, len);
    } else {
        snprintf(lo, len, "%" PRId64, k->min);
        snprintf(hi, len, "%" PRId64, k->max);
    }
}

static int range_check(const gw_config_key *k, int64_t v, char *why, size_t len)
{
    char lo[32], hi[32];
    if ((k->min == 0 && k->max == 0) || (v >= k->min && v <= k->max))
        return 0;
    gw__range_text(k, lo, hi, sizeof lo);
    whyf(why, len, "must be between %s and %s", lo, hi);
    return -1;
}

int gw_config_value_set(const gw_config_key *k, void *field, const char *text, char *why,
                        size_t why_len)
{
    uint64_t u;
    int64_t d;
    int i;

    if (*text == '\0') { /* empty: not set (the caller applies the default) */
        gw_config_value_clear(k, field);
        return 0;
    }
    switch (k->type) {
    case GW_CONFIG_T_STR:
    case GW_CONFIG_T_PATH: {
        if (k->check && k->check(text, why, why_len) != 0)
            return -1;
        char *copy = strdup(text);
        if (copy == NULL)
            return APNS_ENOMEM;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case GW_CONFIG_T_LIST: {
        /* Elements are checked first; the list is only appended to when all
         * of them are good. */
        gw_strv add = {0, NULL};
        const char *p = text;
        for (;;) {
            const char *comma = strchr(p, ',');
            const char *e = comma ? comma : p + strlen(p);
            const char *b = p;
            while (b < e && (*b == ' ' || *b == '\t'))
                b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e == b) {
                gw_config_strv_clear(&add);
                whyf(why, why_len, "has an empty element (elements are comma-separated)");
                return -1;
            }
            if (gw_config_strv_push(&add, b, (size_t)(e - b)) != 0) {
                gw_config_strv_clear(&add);
                return APNS_ENOMEM;
            }
            if (k->check && k->check(add.v[add.n - 1], why, why_len) != 0) {
                /* Report the element: the caller quotes `why`'s subject. */
                if (!(k->flags & GW_CONFIG_K_SECRET)) {
                    size_t wl = strlen(why);
                    char q[80];
                    size_t qn = 0;
                    const char *el = add.v[add.n - 1];
                    for (size_t j = 0; el[j] && qn < 60; j++)
                        q[qn++] = (unsigned char)el[j] >= 0x20 && el[j] != '"' ? el[j] : '?';
                    q[qn] = '\0';
                    if (wl < why_len)
                        snprintf(why + wl, why_len - wl, " (element \"%s%s\")", q,
                                 strlen(el) > 60 ? "..." : "");
                }
                gw_config_strv_clear(&add);
                return -1;
            }
            if (!comma)
                break;
            p = comma + 1;
        }
        gw_strv *v = field;
        char **nv = realloc(v->v, (v->n + add.n) * sizeof *nv);
        if (nv == NULL) {
            gw_config_strv_clear(&add);
            return APNS_ENOMEM;
        }
        v->v = nv;
        for (size_t j = 0; j < add.n; j++)
            v->v[v->n++] = add.v[j];
        free(add.v);
        return 0;
    }
    case GW_CONFIG_T_BOOL:
        if (choice_index("yes|true|on|1", text) >= 0)
            *(int *)field = 1;
        else if (choice_index("no|false|off|0", text) >= 0)
            *(int *)field = 0;
        else {
            whyf(why, why_len, "must be yes or no (also true/false, on/off, 1/0)");
            return -1;
        }
        return 0;
    case GW_CONFIG_T_ENUM:
        i = choice_index(k->choices, text);
        if (i < 0) {
            enum_why(k->choices, text, why, why_len);
            return -1;
        }
        *(int *)field = i;
        return 0;
    case GW_CONFIG_T_COUNT:
    case GW_CONFIG_T_COUNT64:
    case GW_CONFIG_T_PORT: {
        const char *p = text;
        if (parse_u64(&p, &u) != 0 || *p != '\0' || u > INT64_MAX) {
            whyf(why, why_len, "must be a whole number");
            return -1;
        }
        if (k->type == GW_CONFIG_T_PORT) {
            if (u < 1 || u > 65535) {
                whyf(why, why_len, "must be a port between 1 and 65535");
                return -1;
            }
            *(uint16_t *)field = (uint16_t)u;
            return 0;
        }
        if (range_check(k, (int64_t)u, why, why_len) != 0)
            return -1;
        if (k->type == GW_CONFIG_T_COUNT64) {
            *(uint64_t *)field = u;
            return 0;
        }
        if (u > UINT32_MAX) {
            whyf(why, why_len, "is too large");
            return -1;
        }
        *(uint32_t *)field = (uint32_t)u;
        return 0;
    }
    case GW_CONFIG_T_SIZE:
        if (gw_config_parse_size(text, &u) != 0 || u > INT64_MAX) {
            whyf(why, why_len, "must be a size like 4096, 64KiB, 16MiB or 1GB");
            return -1;
        }
        if (range_check(k, (int64_t)u, why, why_len) != 0)
            return -1;
        *(uint64_t *)field = u;
        return 0;
    case GW_CONFIG_T_DURATION:
        if (gw_config_parse_duration_ms(text, &d) != 0) {
            whyf(why, why_len,
                 "must be a duration like 500ms, 30s, 5m, 1h30m or 7d (a bare number is seconds)");
            return -1;
        }
        if (range_check(k, d, why, why_len) != 0)
            return -1;
        *(int64_t *)field = d;
        return 0;
    }
    whyf(why, why_len, "has an unknown type");
    return -1;
}

int gw_config_value_equal(const gw_config_key *k, const void *a, const void *b)
{
    switch (k->type) {
    case GW_CONFIG_T_STR:
    case GW_CONFIG_T_PATH: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return (x == NULL && y == NULL) || (x && y && strcmp(x, y) == 0);
    }
    case GW_CONFIG_T_LIST: {
        const gw_strv *x = a, *y = b;
        if (x->n != y->n)
            return 0;
        for (size_t i = 0; i < x->n; i++)
            if (strcmp(x->v[i], y->v[i]) != 0)
                return 0;
        return 1;
    }
    case GW_CONFIG_T_BOOL:
    case GW_CONFIG_T_ENUM:
        return *(const int *)a == *(const int *)b;
    case GW_CONFIG_T_COUNT:
        return *(const uint32_t *)a == *(const uint32_t *)b;
    case GW_CONFIG_T_PORT:
        return *(const uint16_t *)a == *(const uint16_t *)b;
    case GW_CONFIG_T_SIZE:
    case GW_CONFIG_T_COUNT64:
        return *(const uint64_t *)a == *(const uint64_t *)b;
    case GW_CONFIG_T_DURATION:
        return *(const int64_t *)a == *(const int64_t *)b;
    }
    return 0;
}

int gw_config_value_format(const gw_config_key *k, const void *field, char *buf, size_t len)
{
    char tmp[64];
    if (len > 0)
        buf[0] = '\0';
    if (!gw_config_value_is_set(k, field))
        return 0;
    if (k->flags & GW_CONFIG_K_SECRET)
        return snprintf(buf, len, "********");
    switch (k->type) {
    case GW_CONFIG_T_STR:
    case GW_CONFIG_T_PATH:
        return snprintf(buf, len, "%s", *(char *const *)field);
    case GW_CONFIG_T_LIST: {
        const gw_strv *v = field;
        size_t o = 0;
        for (size_t i = 0; i < v->n; i++) {
            int n = snprintf(o < len ? buf + o : NULL, o < len ? len - o : 0, "%s%s", i ? ", " : "",
                             v->v[i]);
            o += (size_t)n;
        }
        return (int)o;
    }
    case GW_CONFIG_T_BOOL:
        return snprintf(buf, len, "%s", *(const int *)field ? "yes" : "no");
    case GW_CONFIG_T_ENUM:
        return snprintf(buf, len, "%s",
                        gw__choice_name(k->choices, *(const int *)field, tmp, sizeof tmp));
    case GW_CONFIG_T_COUNT:
        return snprintf(buf, len, "%" PRIu32, *(const uint32_t *)field);
    case GW_CONFIG_T_COUNT64:
        return snprintf(buf, len, "%" PRIu64, *(const uint64_t *)field);
    case GW_CONFIG_T_PORT:
        return snprintf(buf, len, "%u", (unsigned)*(const uint16_t *)field);
    case GW_CONFIG_T_SIZE:
        fmt_size(*(const uint64_t *)field, tmp, sizeof tmp);
        return snprintf(buf, len, "%s", tmp);
    case GW_CONFIG_T_DURATION:
        fmt_duration(*(const int64_t *)field, tmp, sizeof tmp);
        return snprintf(buf, len, "%s", tmp);
    }
    return 0;
}
