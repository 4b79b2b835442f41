/*
 * fcm.c - FCM HTTP v1: the message rules, the builder, the request body and
 * the classification of answers (apns/fcm.h).
 *
 * Design note
 * ===========
 *
 * One set of rules. A message reaches the rules either as the caller's
 * fields JSON (apns_fcm_fields_validate: what a gateway receives, and what
 * apns_client_submit checks) or as an apns_fcm_message (the builder). The
 * builder renders its struct into the same jansson tree the JSON is parsed
 * into and runs the same walker over it, so the two can never disagree.
 * Field names are compared in snake_case: lowerCamel names (which Google
 * accepts, §3.1) are folded first. Every refusal names the field the way
 * FCM's BadRequest does ("message.android.ttl").
 *
 * The request body is written once, into the job's own buffer, at submit
 * (apns__fcm_body_write): the envelope, the escaped token, then the
 * members of the caller's object copied as they are; nothing is parsed or
 * re-serialised on the send path.
 *
 * Answers: a 200's {"name":"..."} is read by a small scanner without an
 * allocation (the send path's every answer); anything else (error answers,
 * a 200 of another shape) is parsed with jansson, bounded (64 KiB; the
 * HTTP/2 core keeps less).
 * The classification follows every Google SDK: FcmError.errorCode, then
 * error.status, then the HTTP status (§4.2), with this library's two
 * refinements of §4.4-4.5: an INVALID_ARGUMENT is the token's fault only when
 * a violation or the message names the token, and an UNAUTHENTICATED is our
 * access token's (refresh once) only when FCM says it was invalid or expired
 * (ErrorInfo ACCESS_TOKEN_EXPIRED). A bare 404 is never a dead token: with a
 * google.rpc.Status it is a wrong project (PAUSE), as an HTML page a front
 * end's hiccup (RETRY).
 */
#include "apns/fcm.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "apns/error.h"
#include "detail.h"
#include "fcm_int.h"

#define ANSWER_MAX (64 * 1024)

/* ---- small checks -------------------------------------------------------- */

int apns_fcm_token_check(const char *token, size_t len, char *d, size_t dl)
{
    if (token == NULL || len == 0) {
        apns__set_detail(d, dl, "registration token is empty");
        return APNS_EFCMTOKEN;
    }
    if (len > APNS_FCM_TOKEN_MAX) {
        apns__set_detail(d, dl, "registration token is %zu bytes; at most %d are allowed", len,
                         APNS_FCM_TOKEN_MAX);
        return APNS_EFCMTOKEN;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c < 0x21 || c > 0x7e) {
            apns__set_detail(d, dl,
                             "registration token has byte 0x%02x at offset %zu; only printable "
                             "ASCII without spaces is allowed",
                             c, i);
            return APNS_EFCMTOKEN;
        }
    }
    return 0;
}

int apns_fcm_project_check(const char *p, char *d, size_t dl)
{
    size_t len = p ? strlen(p) : 0;
    if (len == 0 || len > APNS_FCM_PROJECT_MAX) {
        apns__set_detail(d, dl, "fcm_project_id must be 1..%d bytes", APNS_FCM_PROJECT_MAX);
        return APNS_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':')) {
            apns__set_detail(d, dl, "fcm_project_id \"%.64s\" has '%c' at offset %zu", p,
                             isprint(c) ? c : '?', i);
            return APNS_EINVAL;
        }
    }
    return 0;
}

/* ---- the walker ---------------------------------------------------------- */

typedef struct vctx {
    char *d;
    size_t dl;
} vctx;

static int bad(vctx *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(vctx *v, const char *field, const char *fmt, ...)
{
    if (v->d && v->dl) {
        char what[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        apns__set_detail(v->d, v->dl, "%s: %s", field, what);
    }
    return APNS_EFCMMESSAGE;
}

/* lowerCamel to snake_case ("collapseKey" -> "collapse_key"); names longer
 * than the buffer come out cut, and then match nothing. */
static const char *snake(const char *k, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *k && n + 2 < cap; k++) {
        if (*k >= 'A' && *k <= 'Z') {
            buf[n++] = '_';
            buf[n++] = (char)(*k - 'A' + 'a');
        } else {
            buf[n++] = *k;
        }
    }
    buf[n] = '\0';
    return buf;
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

/* A protobuf Duration: digits, an optional fraction of 1..9 digits, "s".
 * *secs gets the whole seconds (saturated). */
static int duration_ok(const char *s, long long *secs)
{
    long long v = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return 0;
    for (; isdigit((unsigned char)*p); p++)
        v = v > 100000000000LL ? v : v * 10 + (*p - '0');
    if (*p == '.') {
        const char *f = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == f || p - f > 9)
            return 0;
    }
    if (p[0] != 's' || p[1] != '\0')
        return 0;
    if (secs)
        *secs = v;
    return 1;
}

static int check_string(vctx *v, const char *field, json_t *x)
{
    return json_is_string(x) ? 0 : bad(v, field, "must be a string");
}

/* data (message.data or message.android.data): string values, no reserved
 * key, keys + values at most APNS_FCM_DATA_MAX bytes. */
static int check_data(vctx *v, const char *field, json_t *obj)
{
    if (!json_is_object(obj))
        return bad(v, field, "must be an object of string values");
    size_t total = 0, i = 0;
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x)
    {
        char f[160];
        snprintf(f, sizeof f, "%s[%zu].value", field, i);
        if (!json_is_string(x))
            return bad(v, f, "value of \"%.64s\" is not a string", k);
        if (strcmp(k, "from") == 0 || strcmp(k, "message_type") == 0 ||
            strncmp(k, "google", 6) == 0 || strncmp(k, "gcm", 3) == 0)
            return bad(v, field, "key \"%.64s\" is reserved (from, message_type, google*, gcm*)",
                       k);
        total += strlen(k) + json_string_length(x);
        i++;
    }
    if (total > APNS_FCM_DATA_MAX)
        return bad(v, field, "keys and values are %zu bytes; at most %d are allowed", total,
                   APNS_FCM_DATA_MAX);
    return 0;
}

static int check_notification(vctx *v, json_t *obj)
{
    static const char *const names[] = {"title", "body", "image", NULL};
    if (!json_is_object(obj))
        return bad(v, "message.notification", "must be an object");
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x)
    {
        char f[128], sk[64];
        snake(k, sk, sizeof sk);
        snprintf(f, sizeof f, "message.notification.%.64s", k);
        if (!in_list(sk, names))
            return bad(v, f, "unknown field (title, body, image)");
        if (check_string(v, f, x))
            return APNS_EFCMMESSAGE;
    }
    return 0;
}

static int check_enum(vctx *v, const char *f, json_t *x, const char *const *vals)
{
    if (!json_is_string(x) || !in_list(json_string_value(x), vals))
        return bad(v, f, "must be one of %s%s%s...", vals[0], vals[1] ? ", " : "",
                   vals[1] ? vals[1] : "");
    return 0;
}

static int check_android_notification(vctx *v, json_t *obj)
{
    static const char *const strs[] = {
        "title",        "body",          "icon",       "sound",  "tag",   "click_action",
        "body_loc_key", "title_loc_key", "channel_id", "ticker", "image", NULL};
    static const char *const bools[] = {"sticky",
                                        "local_only",
                                        "default_sound",
                                        "default_vibrate_timings",
                                        "default_light_settings",
                                        "bypass_proxy_notification",
                                        NULL};
    static const char *const prio[] = {"PRIORITY_UNSPECIFIED",
                                       "PRIORITY_MIN",
                                       "PRIORITY_LOW",
                                       "PRIORITY_DEFAULT",
                                       "PRIORITY_HIGH",
                                       "PRIORITY_MAX",
                                       NULL};
    static const char *const vis[] = {"VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET",
                                      NULL};
    static const char *const proxy[] = {"PROXY_UNSPECIFIED", "ALLOW", "DENY", "IF_PRIORITY_LOWERED",
                                        NULL};
    if (!json_is_object(obj))
        return bad(v, "message.android.notification", "must be an object");
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x)
    {
        char f[128], sk[64];
        snake(k, sk, sizeof sk);
        snprintf(f, sizeof f, "message.android.notification.%.48s", k);
        if (in_list(sk, strs)) {
            if (check_string(v, f, x))
                return APNS_EFCMMESSAGE;
        } else if (in_list(sk, bools)) {
            if (!json_is_boolean(x))
                return bad(v, f, "must be true or false");
        } else if (strcmp(sk, "color") == 0) {
            const char *s = json_string_value(x);
            int ok = s && strlen(s) == 7 && s[0] == '#';
            for (int i = 1; ok && i < 7; i++)
                ok = isxdigit((unsigned char)s[i]);
            if (!ok)
                return bad(v, f, "must be \"#rrggbb\"");
        } else if (strcmp(sk, "body_loc_args") == 0 || strcmp(sk, "title_loc_args") == 0) {
            size_t i;
            json_t *e;
            if (!json_is_array(x))
                return bad(v, f, "must be an array of strings");
            json_array_foreach(x, i, e) if (!json_is_string(e)) return bad(
                v, f, "element %zu is not a string", i);
        } else if (strcmp(sk, "vibrate_timings") == 0) {
            size_t i;
            json_t *e;
            if (!json_is_array(x))
                return bad(v, f, "must be an array of durations");
            json_array_foreach(
                x, i, e) if (!json_is_string(e) ||
                             !duration_ok(
                                 json_string_value(e),
                                 NULL)) return bad(v, f, "element %zu is not a duration (\"0.5s\")",
                                                   i);
        } else if (strcmp(sk, "notification_priority") == 0) {
            if (check_enum(v, f, x, prio))
                return APNS_EFCMMESSAGE;
        } else if (strcmp(sk, "visibility") == 0) {
            if (check_enum(v, f, x, vis))
                return APNS_EFCMMESSAGE;
        } else if (strcmp(sk, "proxy") == 0) {
            if (check_enum(v, f, x, proxy))
                return APNS_EFCMMESSAGE;
        } else if (strcmp(sk, "event_time") == 0) {
            const char *s = json_string_value(x);
            size_t n = s ? strlen(s) : 0;
            if (n < 20 || s[n - 1] != 'Z' || s[4] != '-' || s[10] != 'T')
                return bad(v, f, "must be an RFC 3339 UTC time (\"2026-01-01T00:00:00Z\")");
        } else if (strcmp(sk, "notification_count") == 0) {
            if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                json_integer_value(x) > 2147483647)
                return bad(v, f, "must be a non-negative integer");
        } else if (strcmp(sk, "light_settings") == 0) {
            if (!json_is_object(x))
                return bad(v, f, "must be an object");
        } else {
            return bad(v, f, "unknown field of AndroidNotification");
        }
    }
    return 0;
}

static int check_android(vctx *v, json_t *obj)
{
    static const char *const bools[] = {"direct_boot_ok", "bandwidth_constrained_ok",
                                        "restricted_satellite_ok", NULL};
    if (!json_is_object(obj))
        return bad(v, "message.android", "must be an object");
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x)
    {
        char f[128], sk[64];
        snake(k, sk, sizeof sk);
        snprintf(f, sizeof f, "message.android.%.64s", k);
        int rc = 0;
        if (strcmp(sk, "collapse_key") == 0 || strcmp(sk, "restricted_package_name") == 0) {
            rc = check_string(v, f, x);
        } else if (strcmp(sk, "priority") == 0) {
            const char *s = json_string_value(x);
            if (!s || (strcasecmp(s, "normal") != 0 && strcasecmp(s, "high") != 0))
                rc = bad(v, "message.android.priority", "must be NORMAL or HIGH");
        } else if (strcmp(sk, "ttl") == 0) {
            long long secs = 0;
            const char *s = json_string_value(x);
            if (!s || !duration_ok(s, &secs))
                rc = bad(v, "message.android.ttl",
                         "must be a duration \"<seconds>[.<fraction>]s\" (\"3600s\")");
            else if (secs > APNS_FCM_TTL_MAX_S)
                rc = bad(v, "message.android.ttl", "%lld s is over the maximum of %d s (4 weeks)",
                         secs, APNS_FCM_TTL_MAX_S);
        } else if (strcmp(sk, "data") == 0) {
            rc = check_data(v, "message.android.data", x);
        } else if (strcmp(sk, "notification") == 0) {
            rc = check_android_notification(v, x);
        } else if (strcmp(sk, "fcm_options") == 0) {
            rc = json_is_object(x) ? 0 : bad(v, f, "must be an object");
        } else if (in_list(sk, bools)) {
            rc = json_is_boolean(x) ? 0 : bad(v, f, "must be true or false");
        } else {
            rc = bad(v, f, "unknown field of AndroidConfig");
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* The fields of a message, as a parsed object. */
static int check_fields(vctx *v, json_t *root)
{
    const char *k;
    json_t *x;
    json_object_foreach(root, k, x)
    {
        char f[128], sk[64];
        snake(k, sk, sizeof sk);
        snprintf(f, sizeof f, "message.%.64s", k);
        int rc = 0;
        if (strcmp(sk, "notification") == 0)
            rc = check_notification(v, x);
        else if (strcmp(sk, "data") == 0)
            rc = check_data(v, "message.data", x);
        else if (strcmp(sk, "android") == 0)
            rc = check_android(v, x);
        else if (strcmp(sk, "apns") == 0 || strcmp(sk, "webpush") == 0 ||
                 strcmp(sk, "fcm_options") == 0)
            rc = json_is_object(x) ? 0 : bad(v, f, "must be an object");
        else if (strcmp(sk, "token") == 0 || strcmp(sk, "topic") == 0 ||
                 strcmp(sk, "condition") == 0 || strcmp(sk, "fid") == 0)
            rc = bad(v, f, "the target is the notification's token; no other target may be given");
        else
            rc = bad(v, f,
                     "unknown field (notification, data, android, apns, webpush, "
                     "fcm_options)");
        if (rc)
            return rc;
    }
    return 0;
}

int apns_fcm_fields_validate(const char *json, size_t len, char *d, size_t dl)
{
    vctx v = {d, dl};
    if (d && dl)
        d[0] = '\0';
    if (json == NULL || len == 0) {
        apns__set_detail(d, dl, "message fields are empty (give at least \"{}\")");
        return APNS_ENOTOBJECT;
    }
    if (len > APNS_FCM_FIELDS_MAX) {
        apns__set_detail(d, dl, "message fields are %zu bytes; at most %d are allowed", len,
                         APNS_FCM_FIELDS_MAX);
        return APNS_ETOOBIG;
    }
    json_error_t err;
    json_t *root = json_loadb(json, len, 0, &err);
    if (!json_is_object(root)) {
        apns__set_detail(d, dl, "message fields are not one JSON object: %s (offset %d)",
                         root ? "not an object" : err.text, root ? 0 : err.position);
        json_decref(root);
        return APNS_ENOTOBJECT;
    }
    int rc = check_fields(&v, root);
    json_decref(root);
    return rc;
}

/* ---- the builder --------------------------------------------------------- */

void apns_fcm_message_init(apns_fcm_message *m)
{
    memset(m, 0, sizeof *m);
}

typedef struct bctx {
    int failed;
    char *d;
    size_t dl;
} bctx;

static void put_str(bctx *b, json_t *obj, const char *key, const char *val)
{
    if (!val || b->failed)
        return;
    json_t *s = json_string(val);
    if (!s) {
        b->failed = APNS_EINVAL;
        apns__set_detail(b->d, b->dl, "%s is not valid UTF-8", key);
        return;
    }
    json_object_set_new(obj, key, s);
}

static void put_true(bctx *b, json_t *obj, const char *key, int on)
{
    if (on && !b->failed)
        json_object_set_new(obj, key, json_true());
}

static json_t *kv_object(bctx *b, const char *what, const apns_fcm_kv *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n && !b->failed; i++) {
        json_t *s = kv[i].key && kv[i].value ? json_string(kv[i].value) : NULL;
        if (!s || json_object_set_new(o, kv[i].key, s) != 0) {
            b->failed = APNS_EINVAL;
            apns__set_detail(b->d, b->dl, "%s[%zu]: key or value missing or not valid UTF-8", what,
                             i);
        }
    }
    return o;
}

static void put_raw(bctx *b, json_t *obj, const char *key, const char *raw)
{
    if (!raw || b->failed)
        return;
    json_error_t err;
    json_t *x = json_loads(raw, 0, &err);
    if (!json_is_object(x)) {
        json_decref(x);
        b->failed = APNS_EINVAL;
        apns__set_detail(b->d, b->dl, "message.%s: not one JSON object", key);
        return;
    }
    json_object_set_new(obj, key, x);
}

static json_t *build(const apns_fcm_message *m, bctx *b)
{
    json_t *root = json_object();
    if (!root)
        return NULL;
    if (m->title || m->body || m->image) {
        json_t *n = json_object();
        put_str(b, n, "title", m->title);
        put_str(b, n, "body", m->body);
        put_str(b, n, "image", m->image);
        json_object_set_new(root, "notification", n);
    }
    if (m->ndata)
        json_object_set_new(root, "data", kv_object(b, "message.data", m->data, m->ndata));
    const apns_fcm_android *a = &m->android;
    const apns_fcm_android_notification *an = &a->notification;
    json_t *ao = json_object();
    if (a->priority == APNS_FCM_PRIORITY_NORMAL)
        put_str(b, ao, "priority", "NORMAL");
    else if (a->priority == APNS_FCM_PRIORITY_HIGH)
        put_str(b, ao, "priority", "HIGH");
    else if (a->priority != APNS_FCM_PRIORITY_UNSET)
        put_str(b, ao, "priority", "?"); /* refused by the walker, named */
    put_str(b, ao, "ttl", a->ttl);
    put_str(b, ao, "collapse_key", a->collapse_key);
    put_str(b, ao, "restricted_package_name", a->restricted_package_name);
    if (a->ndata)
        json_object_set_new(ao, "data", kv_object(b, "message.android.data", a->data, a->ndata));
    json_t *no = json_object();
    put_str(b, no, "title", an->title);
    put_str(b, no, "body", an->body);
    put_str(b, no, "icon", an->icon);
    put_str(b, no, "color", an->color);
    put_str(b, no, "sound", an->sound);
    put_str(b, no, "tag", an->tag);
    put_str(b, no, "click_action", an->click_action);
    put_str(b, no, "body_loc_key", an->body_loc_key);
    put_str(b, no, "title_loc_key", an->title_loc_key);
    put_str(b, no, "channel_id", an->channel_id);
    put_str(b, no, "ticker", an->ticker);
    put_str(b, no, "image", an->image);
    put_str(b, no, "visibility", an->visibility);
    put_str(b, no, "notification_priority", an->notification_priority);
    put_str(b, no, "event_time", an->event_time);
    if (an->notification_count > 0)
        json_object_set_new(no, "notification_count", json_integer(an->notification_count));
    put_true(b, no, "sticky", an->sticky);
    put_true(b, no, "local_only", an->local_only);
    put_true(b, no, "default_sound", an->default_sound);
    put_true(b, no, "default_vibrate_timings", an->default_vibrate_timings);
    if (json_object_size(no))
        json_object_set_new(ao, "notification", no);
    else
        json_decref(no);
    put_true(b, ao, "direct_boot_ok", a->direct_boot_ok);
    if (json_object_size(ao))
        json_object_set_new(root, "android", ao);
    else
        json_decref(ao);
    put_raw(b, root, "apns", m->apns);
    put_raw(b, root, "webpush", m->webpush);
    put_raw(b, root, "fcm_options", m->fcm_options);
    return root;
}

int apns_fcm_message_render(const apns_fcm_message *m, char *out, size_t out_len, size_t *len,
                            char *d, size_t dl)
{
    if (d && dl)
        d[0] = '\0';
    if (!m) {
        apns__set_detail(d, dl, "message is NULL");
        return APNS_EINVAL;
    }
    bctx b = {0, d, dl};
    json_t *root = build(m, &b);
    if (!root)
        return APNS_ENOMEM;
    int rc = b.failed;
    if (rc == 0) {
        vctx v = {d, dl};
        rc = check_fields(&v, root);
    }
    if (rc == 0) {
        size_t need = json_dumpb(root, NULL, 0, JSON_COMPACT);
        if (need == 0) {
            rc = APNS_ENOMEM;
        } else if (need > APNS_FCM_FIELDS_MAX) {
            apns__set_detail(d, dl, "message fields are %zu bytes; at most %d are allowed", need,
                             APNS_FCM_FIELDS_MAX);
            rc = APNS_ETOOBIG;
        } else if (out) {
            if (out_len < need + 1) {
                apns__set_detail(d, dl, "output buffer of %zu bytes; %zu are needed", out_len,
                                 need + 1);
                rc = APNS_EINVAL;
            } else {
                json_dumpb(root, out, need, JSON_COMPACT);
                out[need] = '\0';
                if (len)
                    *len = need;
            }
        } else if (len) {
            *len = need;
        }
    }
    json_decref(root);
    return rc;
}

int apns_fcm_message_validate(const apns_fcm_message *m, char *d, size_t dl)
{
    size_t n;
    return apns_fcm_message_render(m, NULL, 0, &n, d, dl);
}

/* ---- the request body ---------------------------------------------------- */

#define PRE_VALIDATE "{\"validate_only\":true,\"message\":{\"token\":\""
#define PRE          "{\"message\":{\"token\":\""

/* The members of the fields object: after its '{', and whether it has any. */
static const char *members(const char *f, size_t flen, size_t *mlen, int *empty)
{
    size_t i = 0;
    while (i < flen && f[i] != '{')
        i++;
    i = i < flen ? i + 1 : flen;
    *mlen = flen - i;
    size_t j = i;
    while (j < flen && (f[j] == ' ' || f[j] == '\t' || f[j] == '\n' || f[j] == '\r'))
        j++;
    *empty = j >= flen || f[j] == '}';
    return f + i;
}

size_t apns__fcm_body_size(const char *token, size_t tlen, size_t flen, int validate_only)
{
    size_t esc = 0;
    for (size_t i = 0; i < tlen; i++)
        esc += token[i] == '"' || token[i] == '\\';
    /* prefix, token, '"', then ',' + members + '}' or "}}" */
    return (validate_only ? sizeof PRE_VALIDATE : sizeof PRE) - 1 + tlen + esc + 1 + flen + 2;
}

size_t apns__fcm_body_write(char *out, const char *token, size_t tlen, const char *fields,
                            size_t flen, int validate_only)
{
    char *p = out;
    const char *pre = validate_only ? PRE_VALIDATE : PRE;
    size_t pl = strlen(pre);
    memcpy(p, pre, pl);
    p += pl;
    for (size_t i = 0; i < tlen; i++) {
        if (token[i] == '"' || token[i] == '\\')
            *p++ = '\\';
        *p++ = token[i];
    }
    *p++ = '"';
    size_t mlen;
    int empty;
    const char *m = members(fields, flen, &mlen, &empty);
    if (empty) {
        *p++ = '}';
    } else {
        *p++ = ',';
        memcpy(p, m, mlen); /* ends with the '}' that closes "message" */
        p += mlen;
    }
    *p++ = '}';
    return (size_t)(p - out);
}

/* ---- answers ------------------------------------------------------------- */

int64_t apns_fcm_retry_after(const char *v, size_t len, int64_t now_unix)
{
    char buf[64];
    if (!v || len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, v, len);
    buf[len] = '\0';
    char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    int64_t secs = 0;
    int ok = 0;
    if (isdigit((unsigned char)*s)) {
        char *end;
        unsigned long long x = strtoull(s, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end == '\0') {
            secs = x > 86400ULL * 365 ? 86400LL * 365 : (int64_t)x;
            ok = 1;
        }
    } else {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (end && *end == '\0') {
            secs = (int64_t)timegm(&tm) - now_unix;
            ok = 1;
        }
    }
    if (!ok)
        return 0;
    if (secs < 1) /* "0" or a date in the past: at once, but 0 means absent */
        secs = 1;
    return secs > 3600 ? 3600 : secs;
}

static void copy(char *dst, size_t cap, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The part of an "@type" after its last '/'. */
static const char *type_of(json_t *detail)
{
    const char *t = json_string_value(json_object_get(detail, "@type"));
    if (!t)
        return "";
    const char *slash = strrchr(t, '/');
    return slash ? slash + 1 : t;
}

static apns_reason by_status_name(const char *st, const apns_fcm_answer *a, int token_fault)
{
    if (strcmp(st, "INVALID_ARGUMENT") == 0)
        return token_fault ? APNS_REASON_FCM_INVALID_TOKEN : APNS_REASON_FCM_INVALID_ARGUMENT;
    if (strcmp(st, "UNAUTHENTICATED") == 0)
        return strcmp(a->error_info, "ACCESS_TOKEN_EXPIRED") == 0 ||
                       strncmp(a->message, "Request had invalid authentication credentials", 46) ==
                           0
                   ? APNS_REASON_FCM_ACCESS_TOKEN_EXPIRED
                   : APNS_REASON_FCM_UNAUTHENTICATED;
    if (strcmp(st, "PERMISSION_DENIED") == 0)
        return APNS_REASON_FCM_PERMISSION_DENIED;
    if (strcmp(st, "NOT_FOUND") == 0)
        return APNS_REASON_FCM_NOT_FOUND;
    if (strcmp(st, "RESOURCE_EXHAUSTED") == 0)
        return APNS_REASON_FCM_RESOURCE_EXHAUSTED;
    if (strcmp(st, "UNAVAILABLE") == 0)
        return APNS_REASON_FCM_UNAVAILABLE;
    if (strcmp(st, "INTERNAL") == 0)
        return APNS_REASON_FCM_INTERNAL;
    return APNS_REASON_NONE;
}

static apns_reason by_code(const char *code, int token_fault)
{
    static const struct {
        const char *code;
        apns_reason r;
    } codes[] = {
        {"UNREGISTERED", APNS_REASON_FCM_UNREGISTERED},
        {"SENDER_ID_MISMATCH", APNS_REASON_FCM_SENDER_ID_MISMATCH},
        {"THIRD_PARTY_AUTH_ERROR", APNS_REASON_FCM_THIRD_PARTY_AUTH_ERROR},
        {"APNS_AUTH_ERROR", APNS_REASON_FCM_APNS_AUTH_ERROR},
        {"QUOTA_EXCEEDED", APNS_REASON_FCM_QUOTA_EXCEEDED},
        {"UNAVAILABLE", APNS_REASON_FCM_UNAVAILABLE},
        {"INTERNAL", APNS_REASON_FCM_INTERNAL},
    };
    if (strcmp(code, "INVALID_ARGUMENT") == 0)
        return token_fault ? APNS_REASON_FCM_INVALID_TOKEN : APNS_REASON_FCM_INVALID_ARGUMENT;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i].code) == 0)
            return codes[i].r;
    return APNS_REASON_NONE; /* UNSPECIFIED_ERROR, or a code this library does not know */
}

static apns_reason by_http(int status, int is_json)
{
    switch (status) {
    case 400:
        return APNS_REASON_FCM_INVALID_ARGUMENT;
    case 401:
        return APNS_REASON_FCM_UNAUTHENTICATED;
    case 403:
        return APNS_REASON_FCM_PERMISSION_DENIED;
    case 404:
        return is_json ? APNS_REASON_FCM_NOT_FOUND : APNS_REASON_FCM_FRONTEND_ERROR;
    case 429:
        return APNS_REASON_FCM_RESOURCE_EXHAUSTED;
    case 500:
        return is_json ? APNS_REASON_FCM_INTERNAL : APNS_REASON_FCM_FRONTEND_ERROR;
    case 503:
        return is_json ? APNS_REASON_FCM_UNAVAILABLE : APNS_REASON_FCM_FRONTEND_ERROR;
    default:
        return status >= 500 && status <= 599 ? APNS_REASON_FCM_FRONTEND_ERROR
                                              : APNS_REASON_UNKNOWN;
    }
}

/* The 200 FCM sends, {"name":"<printable ASCII, no escapes>"} with optional
 * whitespace, read without an allocation: the send path's every answer.
 * Returns 1 when body is exactly that (out gets the name, cut at cap),
 * 0 for anything else (jansson decides). */
static int fast_name(const char *b, size_t len, char *out, size_t cap)
{
    const char *p = b, *e = b + len;
#define WS_                                                                                        \
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))                         \
    p++
    WS_;
    if (p >= e || *p++ != '{')
        return 0;
    WS_;
    if (e - p < 6 || memcmp(p, "\"name\"", 6) != 0)
        return 0;
    p += 6;
    WS_;
    if (p >= e || *p++ != ':')
        return 0;
    WS_;
    if (p >= e || *p++ != '"')
        return 0;
    const char *s = p;
    while (p < e && *p != '"' && *p != '\\' && *p >= 0x20 && *p <= 0x7e)
        p++;
    if (p >= e || *p != '"')
        return 0;
    size_t n = (size_t)(p++ - s);
    WS_;
    if (p >= e || *p++ != '}')
        return 0;
    WS_;
#undef WS_
    if (p != e)
        return 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

void apns_fcm_answer_parse(int status, const char *body, size_t len, const char *retry_after,
                           size_t ra_len, int64_t now_unix, apns_fcm_answer *a)
{
    memset(a, 0, sizeof *a);
    a->status = status;
    a->retry_after_s = apns_fcm_retry_after(retry_after, ra_len, now_unix);
    if (status >= 200 && status < 300 && body && fast_name(body, len, a->name, sizeof a->name)) {
        a->is_json = 1;
        a->reason = APNS_REASON_NONE;
        a->action = APNS_ACTION_NONE;
        return;
    }
    json_t *root = body && len > 0 && len <= ANSWER_MAX ? json_loadb(body, len, 0, NULL) : NULL;
    if (status >= 200 && status < 300) {
        const char *name = json_string_value(json_object_get(root, "name"));
        a->is_json = name != NULL;
        copy(a->name, sizeof a->name, name);
        a->reason = APNS_REASON_NONE;
        a->action = APNS_ACTION_NONE;
        json_decref(root);
        return;
    }
    json_t *err = json_object_get(root, "error");
    int token_fault = 0;
    if (json_is_object(err)) {
        a->is_json = 1;
        copy(a->status_name, sizeof a->status_name,
             json_string_value(json_object_get(err, "status")));
        copy(a->message, sizeof a->message, json_string_value(json_object_get(err, "message")));
        json_t *details = json_object_get(err, "details");
        size_t i;
        json_t *dt;
        json_array_foreach(details, i, dt)
        {
            const char *t = type_of(dt);
            if (strcmp(t, "google.firebase.fcm.v1.FcmError") == 0) {
                copy(a->fcm_code, sizeof a->fcm_code,
                     json_string_value(json_object_get(dt, "errorCode")));
            } else if (strcmp(t, "google.rpc.ErrorInfo") == 0) {
                copy(a->error_info, sizeof a->error_info,
                     json_string_value(json_object_get(dt, "reason")));
            } else if (strcmp(t, "google.rpc.BadRequest") == 0) {
                size_t j;
                json_t *fv;
                json_t *vs = json_object_get(dt, "fieldViolations");
                if (!vs)
                    vs = json_object_get(dt, "field_violations");
                json_array_foreach(vs, j, fv)
                {
                    const char *f = json_string_value(json_object_get(fv, "field"));
                    if (!f)
                        continue;
                    if (!a->field[0])
                        copy(a->field, sizeof a->field, f);
                    if (strcmp(f, "message.token") == 0 || strcmp(f, "token") == 0)
                        token_fault = 1;
                }
            }
        }
        if (strstr(a->message, "registration token"))
            token_fault = 1;
    }
    json_decref(root);
    apns_reason r = a->fcm_code[0] ? by_code(a->fcm_code, token_fault) : APNS_REASON_NONE;
    if (r == APNS_REASON_NONE && a->status_name[0])
        r = by_status_name(a->status_name, a, token_fault);
    if (r == APNS_REASON_NONE)
        r = by_http(status, a->is_json);
    /* Whatever the body says, a 429 asks to wait (§5.1). */
    if (status == 429 && apns_action_for(status, r) != APNS_ACTION_RETRY)
        r = APNS_REASON_FCM_RESOURCE_EXHAUSTED;
    a->reason = r;
    a->action = apns_action_for(status, r);
}
