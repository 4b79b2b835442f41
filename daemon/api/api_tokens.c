/*
 * api_tokens.c - device-token arrays lifted out of a push body before
 * jansson parses it, and field paths for byte offsets.
 *
 * Design note
 * -----------
 * jansson turns every JSON string into its own allocation: a 1,000,000-token
 * broadcast (67 MB of JSON) costs about 0.9 s and 130 MB of heap as a
 * jansson tree, only to be converted and thrown away. So the body takes two
 * passes instead:
 *
 *  1. apns_json_check_object() (libapns's strict, allocation-free checker)
 *     proves the whole body is one well-formed object, with the offset and a
 *     reason when it is not.
 *  2. This scanner, knowing the body is valid, walks only the structure that
 *     can hold tokens: the top-level "tokens" array of a single notification,
 *     and "tokens" of each object in the top-level "notifications" array.
 *     Each such array is decoded straight into a binary gw_token_list and
 *     written as [] into a copy of the body; every other value is skipped.
 *
 * jansson then parses the small remainder (strict, duplicates rejected), and
 * the parser takes each notification's lifted list. Anything this scanner
 * does not recognise (a key spelled with escapes, "tokens" that is not an
 * array) is left in the copy, so jansson and the parser's slow path handle
 * it with the same rules: the scanner only ever makes parsing cheaper, never
 * different. Offsets jansson reports in the copy map back to the body
 * through `map`, and gw__json_path_at() names the field at an offset.
 */
#include "api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/fcm.h"
#include "apns/notification.h"
#include "hex.h"

#define PATH_DEPTH_MAX 128

static const char *ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"': returns the byte after the closing quote; *esc set when the
 * string holds a backslash. memchr does the scanning (tokens are long). */
static const char *str_end(const char *p, const char *e, int *esc)
{
    const char *q = p + 1;

    while (q < e) {
        const char *quote = memchr(q, '"', (size_t)(e - q)), *bs;
        if (quote == NULL)
            return e;
        bs = memchr(q, '\\', (size_t)(quote - q));
        if (bs == NULL)
            return quote + 1;
        if (esc != NULL)
            *esc = 1;
        q = bs + 2; /* the escaped character cannot end the string */
    }
    return e;
}

/* Past the whitespace and the ',' after a value: at the next key or element,
 * or at the closing bracket. */
static const char *next_item(const char *p, const char *e)
{
    p = ws(p, e);
    return p < e && *p == ',' ? ws(p + 1, e) : p;
}

static const char *skip_value(const char *p, const char *e)
{
    int depth = 0;

    if (p >= e)
        return e;
    if (*p == '"')
        return str_end(p, e, NULL);
    if (*p != '{' && *p != '[') {
        while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
               *p != '\n' && *p != '\r')
            p++;
        return p;
    }
    while (p < e) {
        char c = *p;
        if (c == '"') {
            p = str_end(p, e, NULL);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return e;
}

static int key_is(const char *ks, const char *kend, int esc, const char *name)
{
    size_t n = strlen(name);
    return !esc && (size_t)(kend - ks) == n + 2 && memcmp(ks + 1, name, n) == 0;
}

/* ---- adding one token ---------------------------------------------------- */

static size_t unescape(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o < cap; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < len) {
            c = s[++i];
            if (c == 'u' && i + 4 < len) {
                unsigned v = 0;
                for (int k = 1; k <= 4; k++) {
                    int h = common_hex_val(s[i + k]);
                    v = v * 16 + (unsigned)(h > 0 ? h : 0);
                }
                i += 4;
                c = v > 0 && v < 0x80 ? (char)v : '?';
            }
        }
        out[o++] = c;
    }
    return o;
}

int gw__token_add(gw_token_list *l, const char *s, size_t len, int escaped, const char *field,
                  gw_api_error *err)
{
    char buf[2 * APNS_TOKEN_HEX_MAX + 2];
    const char *hex = s;
    size_t n = len;
    int rc;

    if (escaped) {
        n = unescape(s, len, buf, sizeof buf - 1);
        hex = buf;
    }
    rc = gw_token_list_add_hex(l, hex, n);
    if (rc == 0)
        return 0;
    if (rc == APNS_EINVAL)
        return gw_api_error_set(err, GW_API_E_TOO_MANY_TOKENS, field,
                                "one notification may name at most %u device tokens",
                                GW_JOB_TOKENS_MAX);
    if (rc == APNS_ENOMEM)
        return gw_api_error_set(err, GW_API_E_INTERNAL, field, "out of memory");

    /* The sentence comes from libapns's own check of the token. */
    {
        char tok[2 * APNS_TOKEN_HEX_MAX + 2], detail[200];
        apns_notification nt;

        if (n >= sizeof tok)
            return gw_api_error_set(err, GW_API_E_BAD_TOKEN, field,
                                    "device token has %zu characters; it must have %d to %d hex "
                                    "digits",
                                    n, APNS_TOKEN_HEX_MIN, APNS_TOKEN_HEX_MAX);
        memcpy(tok, hex, n);
        tok[n] = '\0';
        if (memchr(tok, '\0', n) != NULL)
            return gw_api_error_set(err, GW_API_E_BAD_TOKEN, field,
                                    "device token holds a NUL character");
        apns_notification_init(&nt);
        nt.token = tok;
        nt.topic = "t";
        nt.payload = "{}";
        nt.payload_len = 2;
        if (apns_notification_validate(&nt, 0, detail, sizeof detail) == 0)
            snprintf(detail, sizeof detail, "%s", apns_strerror(APNS_EBADTOKEN));
        return gw_api_error_set(err, GW_API_E_BAD_TOKEN, field, "%s", detail);
    }
}

int gw__token_add_raw(gw_token_list *l, const char *s, size_t len, int escaped, const char *field,
                      gw_api_error *err)
{
    char *buf = NULL, detail[200];
    const char *tok = s;
    size_t n = len;
    int rc;

    if (escaped) {
        if ((buf = malloc(len + 1)) == NULL)
            return gw_api_error_set(err, GW_API_E_INTERNAL, field, "out of memory");
        n = unescape(s, len, buf, len);
        tok = buf;
    }
    rc = gw_token_list_add_raw(l, tok, n);
    if (rc == APNS_EFCMTOKEN) {
        if (apns_fcm_token_check(tok, n, detail, sizeof detail) == 0)
            snprintf(detail, sizeof detail, "%s", apns_strerror(APNS_EFCMTOKEN));
    }
    free(buf);
    if (rc == 0)
        return 0;
    if (rc == APNS_EINVAL)
        return gw_api_error_set(err, GW_API_E_TOO_MANY_TOKENS, field,
                                "one notification may name at most %u device tokens",
                                GW_JOB_TOKENS_MAX);
    if (rc == APNS_ENOMEM)
        return gw_api_error_set(err, GW_API_E_INTERNAL, field, "out of memory");
    return gw_api_error_set(err, GW_API_E_BAD_TOKEN, field, "%s", detail);
}

int gw__lifted_raw(const gw__lifted *lf, size_t idx, gw_token_list *out, gw_api_error *err)
{
    const char *p = ws(lf->start + 1, lf->end);
    size_t j = 0;

    while (p < lf->end && *p == '"') {
        int esc = 0;
        const char *se = str_end(p, lf->end, &esc);
        char f[64], field[96];

        snprintf(f, sizeof f, "tokens[%zu]", j++);
        gw__api_field(field, sizeof field, idx, f);
        if (gw__token_add_raw(out, p + 1, (size_t)(se - 1 - (p + 1)), esc, field, err) != 0)
            return -1;
        p = next_item(se, lf->end);
    }
    return 0;
}

/* ---- the scanner --------------------------------------------------------- */

const char *gw__api_field(char *out, size_t len, size_t idx, const char *name)
{
    if (idx == GW__TOKENS_TOP)
        snprintf(out, len, "%.80s", name);
    else
        snprintf(out, len, "notifications[%zu].%.56s", idx, name);
    return out;
}

typedef struct scan {
    const char *body, *end;
    size_t max_tokens;
    gw__scan *s;
    gw_api_error *err;
    size_t copied; /* body bytes up to here are in s->copy */
    size_t copy_cap;
} scan;

static int copy_append(scan *x, const char *p, size_t n)
{
    gw__scan *s = x->s;

    if (s->copy_len + n > x->copy_cap) {
        size_t cap = x->copy_cap ? x->copy_cap * 2 : 4096;
        char *c;
        while (cap < s->copy_len + n)
            cap *= 2;
        c = realloc(s->copy, cap);
        if (c == NULL)
            return -1;
        s->copy = c;
        x->copy_cap = cap;
    }
    memcpy(s->copy + s->copy_len, p, n);
    s->copy_len += n;
    return 0;
}

static int oom(scan *x)
{
    return gw_api_error_set(x->err, GW_API_E_INTERNAL, NULL, "out of memory");
}

/* p at '[' of a tokens array of notification idx. Returns the byte after
 * the array, or NULL with x->err. */
static const char *lift(scan *x, const char *p, size_t idx)
{
    gw__scan *s = x->s;
    gw__lifted *lf;
    const char *start = p;
    char field[96];
    size_t j = 0;

    if (gw__scan_find(s, idx) != NULL) {
        gw__api_field(field, sizeof field, idx, "tokens");
        gw_api_error_set(x->err, GW_API_E_DUPLICATE_KEY, field, "the key \"tokens\" appears twice");
        return NULL;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        gw__lifted *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL)
            return oom(x), NULL;
        s->v = v;
        s->cap = cap;
    }
    lf = &s->v[s->n++];
    memset(lf, 0, sizeof(*lf));
    lf->notification = idx;
    lf->start = p;
    gw_token_list_init(&lf->list);

    p = ws(p + 1, x->end);
    while (p < x->end && *p != ']') {
        const char *se;
        int esc = 0;

        if (*p != '"') {
            char f[64];
            snprintf(f, sizeof f, "tokens[%zu]", j);
            gw__api_field(field, sizeof field, idx, f);
            gw_api_error_set(x->err, GW_API_E_INVALID_FIELD, field,
                             "must be a string of hex digits");
            return NULL;
        }
        if (s->total >= x->max_tokens) {
            gw__api_field(field, sizeof field, idx, "tokens");
            gw_api_error_set(x->err, GW_API_E_TOO_MANY_TOKENS, field,
                             "the request names more than %zu device tokens ([server] "
                             "max_tokens)",
                             x->max_tokens);
            return NULL;
        }
        se = str_end(p, x->end, &esc);
        if (!lf->bad && gw_token_list_add_hex(&lf->list, p + 1, (size_t)(se - 1 - (p + 1))) != 0) {
            /* Slow path (escapes, a bad token): the same rule again, with
             * libapns's sentence and the field. Not an APNs token: an
             * error only if the notification is for an APNs app (an FCM
             * app's tokens are read again from the array, verbatim). */
            char f[64];
            snprintf(f, sizeof f, "tokens[%zu]", j);
            gw__api_field(field, sizeof field, idx, f);
            if (gw__token_add(&lf->list, p + 1, (size_t)(se - 1 - (p + 1)), esc, field,
                              &lf->bad_err) != 0) {
                if (strcmp(lf->bad_err.code, "bad_token") != 0) {
                    *x->err = lf->bad_err;
                    return NULL;
                }
                lf->bad = 1;
            }
        }
        s->total++;
        j++;
        p = next_item(se, x->end);
    }
    p = p < x->end ? p + 1 : p;
    lf->end = p;

    /* The copy: the body so far, then [] for this array. */
    if (copy_append(x, x->body + x->copied, (size_t)(start - (x->body + x->copied))) != 0 ||
        copy_append(x, "[]", 2) != 0)
        return oom(x), NULL;
    x->copied = (size_t)(p - x->body);
    {
        struct gw__span *m = realloc(s->map, (s->n_map + 1) * sizeof(*m));
        if (m == NULL)
            return oom(x), NULL;
        s->map = m;
        s->map[s->n_map].copy_off = s->copy_len;
        s->map[s->n_map].orig_off = x->copied;
        s->n_map++;
    }
    return p;
}

/* p at '{': one object; `notification` is its index when it is an element
 * of "notifications", GW__TOKENS_TOP for the top level. */
static const char *object(scan *x, const char *p, size_t notification, int top)
{
    int seen_batch = 0;

    p = ws(p + 1, x->end);
    while (p < x->end && *p == '"') {
        int esc = 0;
        const char *ks = p, *kend = str_end(p, x->end, &esc);

        p = ws(kend, x->end);
        p = ws(p + 1, x->end); /* ':' */
        if (*p == '[' && key_is(ks, kend, esc, "tokens")) {
            p = lift(x, p, notification);
        } else if (top && *p == '[' && key_is(ks, kend, esc, "notifications")) {
            size_t i = 0;
            if (seen_batch++) {
                gw_api_error_set(x->err, GW_API_E_DUPLICATE_KEY, "notifications",
                                 "the key \"notifications\" appears twice");
                return NULL;
            }
            p = ws(p + 1, x->end);
            while (p != NULL && p < x->end && *p != ']') {
                p = *p == '{' ? object(x, p, i, 0) : skip_value(p, x->end);
                if (p == NULL)
                    return NULL;
                i++;
                p = next_item(p, x->end);
            }
            p = p < x->end ? p + 1 : p;
        } else {
            p = skip_value(p, x->end);
        }
        if (p == NULL)
            return NULL;
        p = next_item(p, x->end);
    }
    return p < x->end ? p + 1 : p;
}

int gw__scan_tokens(const char *body, size_t len, size_t max_tokens, gw__scan *s, gw_api_error *err)
{
    scan x = {.body = body, .end = body + len, .max_tokens = max_tokens, .s = s, .err = err};
    const char *p;

    memset(s, 0, sizeof(*s));
    s->map = malloc(sizeof(*s->map));
    if (s->map == NULL)
        return oom(&x);
    s->map[0].copy_off = 0;
    s->map[0].orig_off = 0;
    s->n_map = 1;

    p = ws(body, x.end);
    if (p >= x.end || *p != '{')
        return 0; /* not an object: the checker said so already */
    if (object(&x, p, GW__TOKENS_TOP, 1) == NULL) {
        gw__scan_free(s);
        return -1;
    }
    if (s->n > 0 && copy_append(&x, body + x.copied, len - x.copied) != 0) {
        gw__scan_free(s);
        return oom(&x);
    }
    return 0;
}

void gw__scan_free(gw__scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i].taken)
            gw_token_list_cleanup(&s->v[i].list);
    free(s->v);
    free(s->copy);
    free(s->map);
    memset(s, 0, sizeof(*s));
}

gw__lifted *gw__scan_find(gw__scan *s, size_t notification)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].notification == notification)
            return &s->v[i];
    return NULL;
}

size_t gw__scan_orig_offset(const gw__scan *s, size_t copy_off)
{
    size_t k = 0;

    for (size_t i = 0; i < s->n_map; i++)
        if (s->map[i].copy_off <= copy_off)
            k = i;
    if (s->n_map == 0)
        return copy_off;
    return copy_off - s->map[k].copy_off + s->map[k].orig_off;
}

/* ---- field paths --------------------------------------------------------- */

static void path_add(char *out, size_t cap, size_t *o, const char *fmt, const char *s, size_t n,
                     size_t idx)
{
    int w;

    if (*o >= cap)
        return;
    if (s != NULL)
        w = snprintf(out + *o, cap - *o, fmt, (int)(n > 40 ? 40 : n), s);
    else
        w = snprintf(out + *o, cap - *o, fmt, idx);
    if (w > 0)
        *o += (size_t)w;
    if (*o >= cap)
        *o = cap - 1;
}

static void walk(const char *p, const char *e, const char *t, char *out, size_t cap, size_t *o,
                 int depth)
{
    if (p >= e || depth > PATH_DEPTH_MAX)
        return;
    if (*p == '{') {
        p = ws(p + 1, e);
        while (p < e && *p == '"') {
            const char *ks = p, *kend = str_end(p, e, NULL), *vs, *ve;
            vs = ws(ws(kend, e) + 1, e);
            ve = skip_value(vs, e);
            if (t >= ks && t < ve) {
                path_add(out, cap, o, *o == 0 ? "%.*s" : ".%.*s", ks + 1,
                         (size_t)(kend - 1 - (ks + 1)), 0);
                if (t >= vs)
                    walk(vs, e, t, out, cap, o, depth + 1);
                return;
            }
            p = next_item(ve, e);
        }
    } else if (*p == '[') {
        size_t i = 0;
        p = ws(p + 1, e);
        while (p < e && *p != ']') {
            const char *ve = skip_value(p, e);
            if (t >= p && t < ve) {
                path_add(out, cap, o, "[%zu]", NULL, 0, i);
                walk(p, e, t, out, cap, o, depth + 1);
                return;
            }
            i++;
            p = next_item(ve, e);
        }
    }
}

void gw__json_path_at(const char *body, size_t len, size_t off, char *out, size_t out_len)
{
    size_t o = 0;

    if (out_len == 0)
        return;
    out[0] = '\0';
    if (off >= len)
        off = len ? len - 1 : 0;
    walk(ws(body, body + len), body + len, body + off, out, out_len, &o, 0);
    out[o < out_len ? o : out_len - 1] = '\0';
}
