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

#define N(a) (sizeof(a) / sizeof((a)[0]))

int gw_config_why(int ok, char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (ok)
        return 0;
    if (why != NULL && len > 0) {
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int gw_config_chars_ok(const char *v, size_t min, size_t max, const char *set)
{
    size_t n = strlen(v);
    return n >= min && n <= max && strspn(v, set) == n;
}

/* The words of a list ("a|b|c" with sep '|', "a b c" with ' '): returns the
 * word at *p (its length in *n) and moves *p past it; NULL at the end. */
static const char *next_word(const char **p, int sep, size_t *n)
{
    const char *w = *p, *e = w ? strchr(w, sep) : NULL;
    if (w == NULL)
        return NULL;
    *n = e ? (size_t)(e - w) : strlen(w);
    *p = e ? e + 1 : NULL;
    return w;
}

char *gw__recase(const char *s, int upper, char *buf, size_t len)
{
    size_t i = 0;
    for (unsigned char c; (c = (unsigned char)s[i]) != '\0' && i + 1 < len; i++)
        buf[i] = !upper ? (char)tolower(c) : isalnum(c) ? (char)toupper(c) : '_';
    buf[i] = '\0';
    return buf;
}

/* Decimal digits at *sp (no sign, no blank), moving *sp past them. */
static int parse_u64(const char **sp, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)**sp))
        return -1;
    errno = 0;
    *out = strtoull(*sp, &end, 10);
    *sp = end;
    return errno == ERANGE ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/* hosts and URLs                                                         */

int gw_config_host_ok(const char *h)
{
    unsigned char buf[16];
    if (strchr(h, ':'))
        return strlen(h) <= 253 && inet_pton(AF_INET6, h, buf) == 1;
    return gw_config_chars_ok(h, 1, 253, GW_CONFIG_ALNUM ".-_") && h[0] != '.' && h[0] != '-';
}

int gw_config_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
    const char *colon, *h = s;
    size_t hn;
    uint64_t p;

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
    colon++;
    if (!gw_config_host_ok(host) || parse_u64(&colon, &p) != 0 || *colon != '\0' || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

int gw_config_url_ok(const char *v, const char *schemes, size_t max, const char *forbid)
{
    const char *rest = NULL, *w;
    size_t sn, n = strlen(v);
    while (rest == NULL && (w = next_word(&schemes, '|', &sn)) != NULL)
        if (strncasecmp(v, w, sn) == 0 && strncmp(v + sn, "://", 3) == 0)
            rest = v + sn + 3;
    int ok = rest != NULL && *rest != '\0' && *rest != '/' && *rest != ':' && n <= max;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f && !strchr(forbid, v[i]);
    return ok;
}

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
    size_t wl = strlen(word);
    return best && bestd <= (wl <= 4 ? 1 : wl <= 8 ? 2 : 3) ? best : NULL;
}

/* Index of word in a list ("a|b|c" with sep '|', "a b c" with ' '),
 * case-insensitive; -1 if absent. */
static int word_index(const char *list, int sep, const char *word)
{
    size_t n, wn = strlen(word);
    int i = 0;
    for (const char *w; (w = next_word(&list, sep, &n)) != NULL; i++)
        if (n == wn && strncasecmp(w, word, n) == 0)
            return i;
    return -1;
}

const char *gw__key_suggest(const gw__sec *s, const char *name)
{
    const char *names[s->n_keys + 1];
    char u[64]; /* name with '-' as '_' */
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof u; i++)
        u[i] = name[i] == '-' ? '_' : name[i];
    u[i] = '\0';
    for (i = 0; i < s->n_keys; i++) {
        names[i] = s->keys[i].k->name;
        if (word_index(s->keys[i].k->aka, ' ', u) >= 0)
            return names[i];
    }
    return gw_config_suggest(name, names, s->n_keys);
}

/* ---------------------------------------------------------------------- */
/* numbers with units                                                     */

/* Duration units, largest first (the order of the formatted value). */
static const struct {
    const char *unit;
    int64_t ms;
} dur_units[] = {{"d", GW_CONFIG_DAY},
                 {"h", GW_CONFIG_HOUR},
                 {"m", GW_CONFIG_MIN},
                 {"s", GW_CONFIG_SEC},
                 {"ms", 1}};

int gw_config_parse_duration_ms(const char *s, int64_t *out)
{
    const int64_t limit = 100 * 365 * GW_CONFIG_DAY;
    int64_t total = 0;
    uint64_t v;
    const char *p = s;

    do {
        int64_t unit = GW_CONFIG_SEC; /* a bare number (the whole text): seconds */
        size_t best = 0;
        if (parse_u64(&p, &v) != 0)
            return -1;
        for (size_t i = 0; i < N(dur_units); i++) {
            size_t n = strlen(dur_units[i].unit);
            if (strncmp(p, dur_units[i].unit, n) == 0 && n > best) {
                best = n;
                unit = dur_units[i].ms;
            }
        }
        if (best == 0 && s[strspn(s, GW_CONFIG_DIGIT)] != '\0')
            return -1;
        p += best;
        if (v > (uint64_t)(limit / unit) || total > limit - (int64_t)v * unit)
            return -1;
        total += (int64_t)v * unit;
    } while (*p);
    *out = total;
    return 0;
}

/* Size units, matched case-insensitively; the binary ones first (a
 * formatted size uses them, else no unit). */
static const struct {
    const char *unit;
    uint64_t mult;
} size_units[] = {{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1024},   {"", 1},
                  {"b", 1},         {"kb", 1000},     {"mb", 1000000}, {"gb", 1000000000}};

int gw_config_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    const char *p = s;
    if (parse_u64(&p, &v) != 0)
        return -1;
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < N(size_units); i++) {
        if (strcasecmp(p, size_units[i].unit) == 0) {
            if (v > UINT64_MAX / size_units[i].mult)
                return -1;
            *out = v * size_units[i].mult;
            return 0;
        }
    }
    return -1;
}

/* Each unit that fits, largest first ("1h30m"); 0 is "0s". */
static void fmt_duration(int64_t ms, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "%s", ms == 0 ? "0s" : "");
    for (size_t i = 0; i < N(dur_units) && o < len; i++)
        if (ms >= dur_units[i].ms) {
            o += (size_t)snprintf(buf + o, len - o, "%" PRId64 "%s", ms / dur_units[i].ms,
                                  dur_units[i].unit);
            ms %= dur_units[i].ms;
        }
}

static void fmt_size(uint64_t v, char *buf, size_t len)
{
    size_t i = 0;
    while (i < 3 && !(v >= size_units[i].mult && v % size_units[i].mult == 0))
        i++;
    snprintf(buf, len, "%" PRIu64 "%s", v / size_units[i].mult, size_units[i].unit);
}

/* The index'th word of choices into buf. */
static const char *choice_name(const char *choices, int index, char *buf, size_t len)
{
    size_t n;
    const char *w;
    for (int i = 0; (w = next_word(&choices, '|', &n)) != NULL; i++)
        if (i == index) {
            snprintf(buf, len, "%.*s", (int)n, w);
            return buf;
        }
    snprintf(buf, len, "?");
    return buf;
}

void gw__choices_text(const char *choices, const char *lead, const char *q, char *buf, size_t len)
{
    size_t n, o = (size_t)snprintf(buf, len, "%s", lead);
    for (const char *w, *sep = ""; o < len && (w = next_word(&choices, '|', &n)) != NULL; sep = ",")
        o += (size_t)snprintf(buf + o, len - o, "%s %s%.*s%s", sep, q, (int)n, w, q);
}

static int enum_why(const char *choices, const char *word, char *why, size_t len)
{
    char names[8][32];
    const char *ptrs[8], *s;
    size_t n = 0, o;
    gw__choices_text(choices, "must be one of", "", why, len);
    for (; n < 8 && strcmp(choice_name(choices, (int)n, names[n], 32), "?") != 0; n++)
        ptrs[n] = names[n];
    if ((s = gw_config_suggest(word, ptrs, n)) != NULL && (o = strlen(why)) < len)
        snprintf(why + o, len - o, " (did you mean %s?)", s);
    return -1;
}

/* ---------------------------------------------------------------------- */
/* values                                                                 */

/* Bytes of a number's field (BOOL..DURATION); 0 for strings and lists. */
static const size_t num_size[] = {
    [GW_CONFIG_T_BOOL] = sizeof(int),         [GW_CONFIG_T_ENUM] = sizeof(int),
    [GW_CONFIG_T_COUNT] = sizeof(uint32_t),   [GW_CONFIG_T_COUNT64] = sizeof(uint64_t),
    [GW_CONFIG_T_PORT] = sizeof(uint16_t),    [GW_CONFIG_T_SIZE] = sizeof(uint64_t),
    [GW_CONFIG_T_DURATION] = sizeof(int64_t), [GW_CONFIG_T_LIST] = 0,
};

/* A number's field as int64_t (sizes and counts never exceed INT64_MAX;
 * BOOL and ENUM fields, int, hold small values: read as uint32_t). */
static int64_t num_get(const gw_config_key *k, const void *field)
{
    switch (num_size[k->type]) {
    case sizeof(uint16_t):
        return *(const uint16_t *)field;
    case sizeof(uint32_t):
        return *(const uint32_t *)field;
    default:
        return *(const int64_t *)field;
    }
}

static void num_put(const gw_config_key *k, void *field, int64_t v)
{
    switch (num_size[k->type]) {
    case sizeof(uint16_t):
        *(uint16_t *)field = (uint16_t)v;
        break;
    case sizeof(uint32_t):
        *(uint32_t *)field = (uint32_t)v;
        break;
    default:
        *(int64_t *)field = v;
    }
}

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
    char **nv = realloc(v->v, (v->n + 1) * sizeof *nv), *copy = nv ? strndup(s, len) : NULL;
    if (nv)
        v->v = nv;
    if (copy == NULL)
        return APNS_ENOMEM;
    v->v[v->n++] = copy;
    return 0;
}

int gw_config_strv_equal(const gw_strv *a, const gw_strv *b)
{
    int same = a->n == b->n;
    for (size_t i = 0; same && i < a->n; i++)
        same = strcmp(a->v[i], b->v[i]) == 0;
    return same;
}

void gw_config_value_clear(const gw_config_key *k, void *field)
{
    if (k->type == GW_CONFIG_T_LIST) {
        gw_config_strv_clear(field);
    } else if (num_size[k->type] == 0) {
        free(*(char **)field);
        *(char **)field = NULL;
    } else {
        memset(field, 0, num_size[k->type]);
    }
}

int gw_config_value_is_set(const gw_config_key *k, const void *field)
{
    if (k->type == GW_CONFIG_T_LIST)
        return ((const gw_strv *)field)->n > 0;
    return num_size[k->type] > 0 ? num_get(k, field) != 0 : *(char *const *)field != NULL;
}

/* A number of k's type in file syntax ("1KiB", "1h30m", "5"). */
static void num_text(const gw_config_key *k, int64_t v, char *buf, size_t len)
{
    if (k->type == GW_CONFIG_T_DURATION)
        fmt_duration(v, buf, len);
    else if (k->type == GW_CONFIG_T_SIZE)
        fmt_size((uint64_t)v, buf, len);
    else
        snprintf(buf, len, "%" PRId64, v);
}

void gw__range_text(const gw_config_key *k, char *lo, char *hi, size_t len)
{
    num_text(k, k->min, lo, len);
    num_text(k, k->max, hi, len);
}

/* A list's text: its elements are appended one by one and checked; on the
 * first bad one those of this text are taken back. */
static int list_append(const gw_config_key *k, gw_strv *v, const char *text, char *why,
                       size_t why_len)
{
    size_t n0 = v->n;
    int rc = 0;
    for (const char *p = text, *comma; rc == 0 && p; p = comma ? comma + 1 : NULL) {
        comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p), *b = p;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == b)
            rc = gw_config_why(0, why, why_len,
                               "has an empty element (elements are comma-separated)");
        else if ((rc = gw_config_strv_push(v, b, (size_t)(e - b))) == 0 && k->check &&
                 (rc = k->check(v->v[v->n - 1], why, why_len)) != 0 &&
                 !(k->flags & GW_CONFIG_K_SECRET)) {
            /* Report the element: the caller quotes `why`'s subject. */
            size_t wl = strlen(why);
            char q[80];
            size_t qn = 0;
            const char *el = v->v[v->n - 1];
            for (size_t j = 0; el[j] && qn < 60; j++)
                q[qn++] = (unsigned char)el[j] >= 0x20 && el[j] != '"' ? el[j] : '?';
            q[qn] = '\0';
            if (wl < why_len)
                snprintf(why + wl, why_len - wl, " (element \"%s%s\")", q,
                         strlen(el) > 60 ? "..." : "");
        }
    }
    while (rc != 0 && v->n > n0)
        free(v->v[--v->n]);
    return rc;
}

int gw_config_value_set(const gw_config_key *k, void *field, const char *text, char *why,
                        size_t why_len)
{
    const char *p = text;
    uint64_t u;
    int64_t v = 0;
    char lo[32], hi[32];

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
    case GW_CONFIG_T_LIST:
        return list_append(k, field, text, why, why_len);
    case GW_CONFIG_T_BOOL:
        v = word_index("yes|true|on|1", '|', text) >= 0    ? 1
            : word_index("no|false|off|0", '|', text) >= 0 ? 0
                                                           : -1;
        if (v < 0)
            return gw_config_why(0, why, why_len,
                                 "must be yes or no (also true/false, on/off, 1/0)");
        break;
    case GW_CONFIG_T_ENUM:
        if ((v = word_index(k->choices, '|', text)) < 0)
            return enum_why(k->choices, text, why, why_len);
        break;
    case GW_CONFIG_T_COUNT:
    case GW_CONFIG_T_COUNT64:
    case GW_CONFIG_T_PORT:
        if (parse_u64(&p, &u) != 0 || *p != '\0' || u > INT64_MAX)
            return gw_config_why(0, why, why_len, "must be a whole number");
        if (k->type == GW_CONFIG_T_PORT && (u < 1 || u > 65535))
            return gw_config_why(0, why, why_len, "must be a port between 1 and 65535");
        v = (int64_t)u;
        break;
    case GW_CONFIG_T_SIZE:
        if (gw_config_parse_size(text, &u) != 0 || u > INT64_MAX)
            return gw_config_why(0, why, why_len, "must be a size like 4096, 64KiB, 16MiB or 1GB");
        v = (int64_t)u;
        break;
    case GW_CONFIG_T_DURATION:
        if (gw_config_parse_duration_ms(text, &v) != 0)
            return gw_config_why(0, why, why_len,
                                 "must be a duration like 500ms, 30s, 5m, 1h30m or 7d (a bare "
                                 "number is seconds)");
        break;
    }
    if ((k->min || k->max) && (v < k->min || v > k->max)) {
        gw__range_text(k, lo, hi, sizeof lo);
        return gw_config_why(0, why, why_len, "must be between %s and %s", lo, hi);
    }
    if (k->type == GW_CONFIG_T_COUNT && v > UINT32_MAX)
        return gw_config_why(0, why, why_len, "is too large");
    num_put(k, field, v);
    return 0;
}

int gw_config_value_equal(const gw_config_key *k, const void *a, const void *b)
{
    if (k->type == GW_CONFIG_T_LIST)
        return gw_config_strv_equal(a, b);
    if (num_size[k->type] > 0)
        return memcmp(a, b, num_size[k->type]) == 0;
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    return (x == NULL && y == NULL) || (x && y && strcmp(x, y) == 0);
}

void gw__value_print(const gw_config_key *k, const void *field, FILE *f)
{
    const gw_strv *v = field;
    char tmp[64];
    if (num_size[k->type] == 0 && !gw_config_value_is_set(k, field))
        return;
    if (k->flags & GW_CONFIG_K_SECRET) {
        fputs("********", f);
        return;
    }
    switch (k->type) {
    case GW_CONFIG_T_STR:
    case GW_CONFIG_T_PATH:
        fputs(*(char *const *)field, f);
        return;
    case GW_CONFIG_T_LIST:
        for (size_t i = 0; i < v->n; i++)
            fprintf(f, "%s%s", i ? ", " : "", v->v[i]);
        return;
    case GW_CONFIG_T_BOOL:
        snprintf(tmp, sizeof tmp, "%s", num_get(k, field) ? "yes" : "no");
        break;
    case GW_CONFIG_T_ENUM:
        choice_name(k->choices, (int)num_get(k, field), tmp, sizeof tmp);
        break;
    default:
        num_text(k, num_get(k, field), tmp, sizeof tmp);
    }
    fputs(tmp, f);
}
