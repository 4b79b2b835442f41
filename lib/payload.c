/*
 * payload.c - the notification body builder (apns/payload.h), on jansson.
 *
 * Design note. The builder keeps two jansson objects: `aps` and `custom`
 * (the app's top-level keys). Render assembles a fresh root {aps?, custom...}
 * so "aps" is always first and left out while empty, and jansson (>= 2.8)
 * keeps insertion order. Output is produced with json_dumpb into a buffer we
 * malloc ourselves, so the caller's free() is right even if someone installs
 * jansson allocator hooks.
 *
 * Strings are checked for UTF-8 here (json_string would fail with NULL,
 * which cannot be told apart from out-of-memory) and then stored with
 * json_string_nocheck. The rendered text is finally run through
 * apns_json_check_object(), so a payload the builder hands out always passes
 * apns_notification_validate()'s JSON check (jansson allows deeper nesting
 * than APNs' 64 levels).
 *
 * Setter errors are sticky (p->err): see the header.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apns/error.h"
#include "apns/notification.h"
#include "apns/payload.h"
#include "detail.h"

#define DETAIL_MAX   256
#define RENDER_STACK APNS_PAYLOAD_MAX_VOIP   /* APNs' largest payload */
#define REAL_FLAGS   JSON_REAL_PRECISION(15) /* 0.1 prints as 0.1, not 0.10000000000000001 */

struct apns_payload {
    json_t *aps;    /* object, always present */
    json_t *custom; /* object of top-level keys other than "aps" */
    int err;        /* first setter error, or 0 */
    char detail[DETAIL_MAX];
};

__attribute__((format(printf, 3, 4))) static int fail(apns_payload *p, int err, const char *fmt,
                                                      ...)
{
    if (p->err == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->detail, sizeof p->detail, fmt, ap);
        va_end(ap);
        p->err = err;
    }
    return err;
}

/* Unicode Table 3-7 well-formed UTF-8, NUL-terminated. */
static int utf8_ok(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned char c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        int n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return 0;
        }
        if (s[1] < lo || s[1] > hi)
            return 0; /* also catches the NUL terminator */
        for (int i = 2; i < n; i++)
            if (s[i] < 0x80 || s[i] > 0xBF)
                return 0;
        s += n;
    }
    return 1;
}

/* New string value for `what`, or NULL after recording the error in *rc. */
static json_t *str_value(apns_payload *p, const char *what, const char *s, int *rc)
{
    if (!utf8_ok(s)) {
        *rc = fail(p, APNS_EPAYLOADKEY, "%s is not valid UTF-8", what);
        return NULL;
    }
    json_t *v = json_string_nocheck(s);
    if (v == NULL)
        *rc = fail(p, APNS_ENOMEM, "out of memory setting %s", what);
    return v;
}

/* Sets obj[key] = v (steals v). */
static int put(apns_payload *p, json_t *obj, const char *key, json_t *v)
{
    if (v == NULL)
        return fail(p, APNS_ENOMEM, "out of memory setting \"%s\"", key);
    if (json_object_set_new_nocheck(obj, key, v) != 0)
        return fail(p, APNS_ENOMEM, "out of memory setting \"%s\"", key);
    return 0;
}

static int begin(apns_payload *p)
{
    if (p == NULL)
        return APNS_EINVAL;
    return p->err;
}

/* aps[key] = string s, or removed when s is NULL. */
static int set_aps_string(apns_payload *p, const char *key, const char *s)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (s == NULL) {
        json_object_del(p->aps, key);
        return 0;
    }
    json_t *v = str_value(p, key, s, &rc);
    return v ? put(p, p->aps, key, v) : rc;
}

static int set_aps_flag(apns_payload *p, const char *key, int on)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (!on) {
        json_object_del(p->aps, key);
        return 0;
    }
    return put(p, p->aps, key, json_integer(1));
}

static int set_aps_time(apns_payload *p, const char *key, int64_t t)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (t < 0)
        return fail(p, APNS_EPAYLOADKEY, "%s %lld is negative; it must be UNIX seconds", key,
                    (long long)t);
    return put(p, p->aps, key, json_integer((json_int_t)t));
}

/* Parses JSON text for `what`; with want_object, it must be an object. */
static json_t *parse_value(apns_payload *p, const char *what, const char *json, size_t len,
                           int want_object, int *rc)
{
    json_error_t e;
    json_t *v = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (v == NULL) {
        *rc = fail(p, APNS_EPAYLOADKEY, "%s is not valid JSON: %s at byte %d", what, e.text,
                   e.position);
        return NULL;
    }
    if (want_object && !json_is_object(v)) {
        json_decref(v);
        *rc = fail(p, APNS_EPAYLOADKEY, "%s must be a JSON object", what);
        return NULL;
    }
    return v;
}

static int set_aps_object(apns_payload *p, const char *key, const char *json, size_t len)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (json == NULL) {
        json_object_del(p->aps, key);
        return 0;
    }
    json_t *v = parse_value(p, key, json, len, 1, &rc);
    return v ? put(p, p->aps, key, v) : rc;
}

/* The alert dictionary, created, or converted from a plain-string alert. */
static json_t *alert_dict(apns_payload *p, int *rc)
{
    json_t *a = json_object_get(p->aps, "alert");
    if (json_is_object(a))
        return a;
    json_t *d = json_object();
    if (d == NULL) {
        *rc = fail(p, APNS_ENOMEM, "out of memory setting alert");
        return NULL;
    }
    if (json_is_string(a) && json_object_set_nocheck(d, "body", a) != 0) {
        json_decref(d);
        *rc = fail(p, APNS_ENOMEM, "out of memory setting alert");
        return NULL;
    }
    if ((*rc = put(p, p->aps, "alert", d)) != 0)
        return NULL;
    return d;
}

/* Removes alert keys k1 and k2 (may be NULL); an alert dictionary left empty
 * is removed too, so no "alert":{} is sent. */
static void drop_alert_key(apns_payload *p, const char *k1, const char *k2)
{
    json_t *a = json_object_get(p->aps, "alert");
    if (!json_is_object(a))
        return;
    json_object_del(a, k1);
    if (k2)
        json_object_del(a, k2);
    if (json_object_size(a) == 0)
        json_object_del(p->aps, "alert");
}

static int set_alert_string(apns_payload *p, const char *key, const char *s)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    json_t *a = json_object_get(p->aps, "alert");
    if (s == NULL) {
        drop_alert_key(p, key, NULL);
        return 0;
    }
    char what[48];
    snprintf(what, sizeof what, "alert %s", key);
    json_t *v = str_value(p, what, s, &rc);
    if (v == NULL)
        return rc;
    if ((a = alert_dict(p, &rc)) == NULL) {
        json_decref(v);
        return rc;
    }
    return put(p, a, key, v);
}

/* A loc-args array: nargs strings, none NULL (APNS_EINVAL, kept). */
static int check_args(apns_payload *p, const char *what, const char *const *args, size_t nargs)
{
    if (nargs > 0 && args == NULL)
        return fail(p, APNS_EINVAL, "alert %s: %zu arguments but no array", what, nargs);
    for (size_t i = 0; i < nargs; i++)
        if (args[i] == NULL)
            return fail(p, APNS_EINVAL, "alert %s[%zu] is NULL", what, i);
    return 0;
}

static int set_alert_loc(apns_payload *p, const char *prefix, const char *key,
                         const char *const *args, size_t nargs)
{
    char kname[32], aname[32];
    int rc = begin(p);
    if (rc != 0)
        return rc;
    snprintf(kname, sizeof kname, "%sloc-key", prefix);
    snprintf(aname, sizeof aname, "%sloc-args", prefix);
    if (key == NULL) {
        drop_alert_key(p, kname, aname);
        return 0;
    }
    if ((rc = check_args(p, aname, args, nargs)) != 0)
        return rc;

    json_t *k = str_value(p, kname, key, &rc);
    if (k == NULL)
        return rc;
    json_t *arr = NULL;
    if (nargs > 0) {
        if ((arr = json_array()) == NULL) {
            json_decref(k);
            return fail(p, APNS_ENOMEM, "out of memory setting alert %s", aname);
        }
        for (size_t i = 0; i < nargs; i++) {
            char what[80];
            snprintf(what, sizeof what, "alert %s[%zu]", aname, i);
            json_t *v = str_value(p, what, args[i], &rc);
            if (v == NULL || json_array_append_new(arr, v) != 0) {
                json_decref(k);
                json_decref(arr);
                return v ? fail(p, APNS_ENOMEM, "out of memory setting alert %s", aname) : rc;
            }
        }
    }
    json_t *a = alert_dict(p, &rc);
    if (a == NULL) {
        json_decref(k);
        json_decref(arr);
        return rc;
    }
    if ((rc = put(p, a, kname, k)) != 0) {
        json_decref(arr);
        return rc;
    }
    if (arr)
        return put(p, a, aname, arr);
    json_object_del(a, aname);
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

int apns_payload_new(apns_payload **out)
{
    if (out == NULL)
        return APNS_EINVAL;
    *out = NULL;
    apns_payload *p = calloc(1, sizeof *p);
    if (p == NULL)
        return APNS_ENOMEM;
    p->aps = json_object();
    p->custom = json_object();
    if (p->aps == NULL || p->custom == NULL) {
        apns_payload_free(p);
        return APNS_ENOMEM;
    }
    *out = p;
    return 0;
}

void apns_payload_free(apns_payload *p)
{
    if (p == NULL)
        return;
    json_decref(p->aps);
    json_decref(p->custom);
    free(p);
}

const char *apns_payload_detail(const apns_payload *p)
{
    return p ? p->detail : "";
}

/* ---- alert --------------------------------------------------------------- */

int apns_payload_set_alert_text(apns_payload *p, const char *text)
{
    return set_aps_string(p, "alert", text);
}

int apns_payload_set_alert_title(apns_payload *p, const char *title)
{
    return set_alert_string(p, "title", title);
}

int apns_payload_set_alert_subtitle(apns_payload *p, const char *subtitle)
{
    return set_alert_string(p, "subtitle", subtitle);
}

int apns_payload_set_alert_body(apns_payload *p, const char *body)
{
    return set_alert_string(p, "body", body);
}

int apns_payload_set_alert_launch_image(apns_payload *p, const char *launch_image)
{
    return set_alert_string(p, "launch-image", launch_image);
}

int apns_payload_set_alert_title_loc(apns_payload *p, const char *key, const char *const *args,
                                     size_t nargs)
{
    return set_alert_loc(p, "title-", key, args, nargs);
}

int apns_payload_set_alert_subtitle_loc(apns_payload *p, const char *key, const char *const *args,
                                        size_t nargs)
{
    return set_alert_loc(p, "subtitle-", key, args, nargs);
}

int apns_payload_set_alert_loc(apns_payload *p, const char *key, const char *const *args,
                               size_t nargs)
{
    return set_alert_loc(p, "", key, args, nargs);
}

/* ---- aps keys ------------------------------------------------------------ */

int apns_payload_set_badge(apns_payload *p, int64_t badge)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (badge < 0)
        return fail(p, APNS_EPAYLOADKEY, "badge %lld is negative", (long long)badge);
    return put(p, p->aps, "badge", json_integer((json_int_t)badge));
}

int apns_payload_set_sound(apns_payload *p, const char *name)
{
    return set_aps_string(p, "sound", name);
}

int apns_payload_set_sound_dict(apns_payload *p, int critical, const char *name, double volume)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (name == NULL)
        return fail(p, APNS_EINVAL, "sound name is NULL");
    if (critical != 0 && critical != 1)
        return fail(p, APNS_EPAYLOADKEY, "sound critical %d is not 0 or 1", critical);
    if (!(volume >= 0.0 && volume <= 1.0)) /* also rejects NaN */
        return fail(p, APNS_EPAYLOADKEY, "sound volume %g is not within 0.0..1.0", volume);
    json_t *v = str_value(p, "sound name", name, &rc);
    if (v == NULL)
        return rc;
    json_t *d = json_object();
    if (d == NULL || json_object_set_new_nocheck(d, "critical", json_integer(critical)) != 0 ||
        json_object_set_new_nocheck(d, "name", v) != 0 ||
        json_object_set_new_nocheck(d, "volume", json_real(volume)) != 0) {
        json_decref(d);
        return fail(p, APNS_ENOMEM, "out of memory setting sound");
    }
    return put(p, p->aps, "sound", d);
}

int apns_payload_set_thread_id(apns_payload *p, const char *thread_id)
{
    return set_aps_string(p, "thread-id", thread_id);
}

int apns_payload_set_category(apns_payload *p, const char *category)
{
    return set_aps_string(p, "category", category);
}

int apns_payload_set_target_content_id(apns_payload *p, const char *id)
{
    return set_aps_string(p, "target-content-id", id);
}

int apns_payload_set_filter_criteria(apns_payload *p, const char *criteria)
{
    return set_aps_string(p, "filter-criteria", criteria);
}

int apns_payload_set_interruption_level(apns_payload *p, const char *level)
{
    static const char *const ok[] = {"passive", "active", "time-sensitive", "critical"};
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (level != NULL) {
        size_t i;
        for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
            if (strcmp(level, ok[i]) == 0)
                break;
        if (i == sizeof ok / sizeof ok[0])
            return fail(p, APNS_EPAYLOADKEY,
                        "interruption-level \"%.64s\" is not passive, active, time-sensitive or "
                        "critical",
                        utf8_ok(level) ? level : "(not UTF-8)");
    }
    return set_aps_string(p, "interruption-level", level);
}

int apns_payload_set_content_available(apns_payload *p, int on)
{
    return set_aps_flag(p, "content-available", on);
}

int apns_payload_set_mutable_content(apns_payload *p, int on)
{
    return set_aps_flag(p, "mutable-content", on);
}

int apns_payload_set_relevance_score(apns_payload *p, double score)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (!isfinite(score))
        return fail(p, APNS_EPAYLOADKEY, "relevance-score %g is not a finite number", score);
    return put(p, p->aps, "relevance-score", json_real(score));
}

/* ---- Live Activity ------------------------------------------------------- */

int apns_payload_set_stale_date(apns_payload *p, int64_t unix_seconds)
{
    return set_aps_time(p, "stale-date", unix_seconds);
}

int apns_payload_set_timestamp(apns_payload *p, int64_t unix_seconds)
{
    return set_aps_time(p, "timestamp", unix_seconds);
}

int apns_payload_set_dismissal_date(apns_payload *p, int64_t unix_seconds)
{
    return set_aps_time(p, "dismissal-date", unix_seconds);
}

int apns_payload_set_event(apns_payload *p, const char *event)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (event != NULL && strcmp(event, "start") != 0 && strcmp(event, "update") != 0 &&
        strcmp(event, "end") != 0)
        return fail(p, APNS_EPAYLOADKEY, "event \"%.64s\" is not start, update or end",
                    utf8_ok(event) ? event : "(not UTF-8)");
    return set_aps_string(p, "event", event);
}

int apns_payload_set_content_state(apns_payload *p, const char *json, size_t len)
{
    return set_aps_object(p, "content-state", json, len);
}

int apns_payload_set_attributes(apns_payload *p, const char *json, size_t len)
{
    return set_aps_object(p, "attributes", json, len);
}

int apns_payload_set_attributes_type(apns_payload *p, const char *type)
{
    return set_aps_string(p, "attributes-type", type);
}

int apns_payload_set_input_push_channel(apns_payload *p, const char *channel_id)
{
    return set_aps_string(p, "input-push-channel", channel_id);
}

int apns_payload_set_input_push_token(apns_payload *p, int on)
{
    return set_aps_flag(p, "input-push-token", on);
}

/* "title" / "subtitle" / "body" as a {"loc-key","loc-args"} object. */
static int set_alert_localized(apns_payload *p, const char *field, const char *key,
                               const char *const *args, size_t nargs)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (key == NULL) {
        drop_alert_key(p, field, NULL);
        return 0;
    }
    char what[80];
    snprintf(what, sizeof what, "%s loc-args", field);
    if ((rc = check_args(p, what, args, nargs)) != 0)
        return rc;
    snprintf(what, sizeof what, "alert %s loc-key", field);
    json_t *k = str_value(p, what, key, &rc);
    if (k == NULL)
        return rc;
    json_t *obj = json_object();
    if (obj == NULL || json_object_set_new_nocheck(obj, "loc-key", k) != 0) {
        if (obj == NULL)
            json_decref(k);
        json_decref(obj);
        return fail(p, APNS_ENOMEM, "out of memory setting alert %s", field);
    }
    if (nargs > 0) {
        json_t *arr = json_array();
        if (arr == NULL || json_object_set_new_nocheck(obj, "loc-args", arr) != 0) {
            json_decref(obj);
            return fail(p, APNS_ENOMEM, "out of memory setting alert %s", field);
        }
        for (size_t i = 0; i < nargs; i++) {
            snprintf(what, sizeof what, "alert %s loc-args[%zu]", field, i);
            json_t *v = str_value(p, what, args[i], &rc);
            if (v == NULL || json_array_append_new(arr, v) != 0) {
                json_decref(obj);
                return v ? fail(p, APNS_ENOMEM, "out of memory setting alert %s", field) : rc;
            }
        }
    }
    json_t *a = alert_dict(p, &rc);
    if (a == NULL) {
        json_decref(obj);
        return rc;
    }
    return put(p, a, field, obj);
}

int apns_payload_set_alert_title_localized(apns_payload *p, const char *key,
                                           const char *const *args, size_t nargs)
{
    return set_alert_localized(p, "title", key, args, nargs);
}

int apns_payload_set_alert_subtitle_localized(apns_payload *p, const char *key,
                                              const char *const *args, size_t nargs)
{
    return set_alert_localized(p, "subtitle", key, args, nargs);
}

int apns_payload_set_alert_body_localized(apns_payload *p, const char *key, const char *const *args,
                                          size_t nargs)
{
    return set_alert_localized(p, "body", key, args, nargs);
}

int apns_payload_set_alert_sound(apns_payload *p, const char *name)
{
    return set_alert_string(p, "sound", name);
}

/* ---- Live Activity rules ------------------------------------------------- */

/* Writes the sentence into detail and gives err. */
#define LA_FAIL(err, d, dl, ...) (apns__set_detail((d), (dl), __VA_ARGS__), (err))

/* aps[key] absent, or a JSON integer >= 0. */
static int la_time_ok(const json_t *aps, const char *key)
{
    const json_t *v = json_object_get(aps, key);
    return v == NULL || (json_is_integer(v) && json_integer_value(v) >= 0);
}

static int la_rules(const json_t *aps, apns_live_activity_target target, char *d, size_t dl)
{
    const int E = APNS_ELIVEACTIVITY;
    const json_t *ts = json_object_get(aps, "timestamp");
    if (ts == NULL)
        return LA_FAIL(E, d, dl, "aps.timestamp is missing; every Live Activity push carries it");
    if (!la_time_ok(aps, "timestamp"))
        return LA_FAIL(E, d, dl, "aps.timestamp must be an integer of UNIX seconds (>= 0)");
    const json_t *ev = json_object_get(aps, "event");
    if (ev == NULL)
        return LA_FAIL(E, d, dl, "aps.event is missing; it must be start, update or end");
    const char *e = json_string_value(ev);
    if (e == NULL || (strcmp(e, "start") != 0 && strcmp(e, "update") != 0 && strcmp(e, "end") != 0))
        return LA_FAIL(E, d, dl, "aps.event must be \"start\", \"update\" or \"end\"");
    int start = strcmp(e, "start") == 0;
    if (start && target == APNS_LA_CHANNEL)
        return LA_FAIL(E, d, dl,
                       "aps.event \"start\" on a broadcast channel: broadcast pushes cannot "
                       "start a Live Activity (send it to a push-to-start token)");
    const json_t *cs = json_object_get(aps, "content-state");
    if (cs != NULL && !json_is_object(cs))
        return LA_FAIL(E, d, dl, "aps.content-state must be a JSON object");
    if (cs == NULL && strcmp(e, "update") == 0)
        return LA_FAIL(E, d, dl, "aps.content-state is missing; an update carries it");
    if (start) {
        const json_t *at = json_object_get(aps, "attributes-type");
        if (!json_is_string(at))
            return LA_FAIL(E, d, dl,
                           at ? "aps.attributes-type must be a string"
                              : "aps.attributes-type is missing; a start carries it");
        const json_t *a = json_object_get(aps, "attributes");
        if (!json_is_object(a))
            return LA_FAIL(E, d, dl,
                           a ? "aps.attributes must be a JSON object"
                             : "aps.attributes is missing; a start carries it");
        if (json_object_get(aps, "alert") == NULL)
            return LA_FAIL(E, d, dl, "aps.alert is missing; a start carries it");
    }
    const json_t *ipc = json_object_get(aps, "input-push-channel");
    const json_t *ipt = json_object_get(aps, "input-push-token");
    if ((ipc || ipt) && !start)
        return LA_FAIL(E, d, dl, "aps.%s belongs to event \"start\" only",
                       ipc ? "input-push-channel" : "input-push-token");
    if (ipc && !json_is_string(ipc))
        return LA_FAIL(E, d, dl, "aps.input-push-channel must be a string (a base64 channel id)");
    if (ipt && !(json_is_integer(ipt) && json_integer_value(ipt) == 1))
        return LA_FAIL(E, d, dl, "aps.input-push-token must be 1");
    if (ipc && ipt)
        return LA_FAIL(E, d, dl,
                       "aps.input-push-channel and aps.input-push-token together; a start "
                       "takes one of them");
    if (!la_time_ok(aps, "stale-date"))
        return LA_FAIL(E, d, dl, "aps.stale-date must be an integer of UNIX seconds (>= 0)");
    if (!la_time_ok(aps, "dismissal-date"))
        return LA_FAIL(E, d, dl, "aps.dismissal-date must be an integer of UNIX seconds (>= 0)");
    const json_t *rs = json_object_get(aps, "relevance-score");
    if (rs != NULL && !json_is_number(rs))
        return LA_FAIL(E, d, dl, "aps.relevance-score must be a number");
    return 0;
}

int apns_live_activity_check(const char *json, size_t len, apns_live_activity_target target,
                             char *detail, size_t detail_len)
{
    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if ((json == NULL && len > 0) || (target != APNS_LA_DEVICE && target != APNS_LA_CHANNEL))
        return LA_FAIL(APNS_EINVAL, detail, detail_len, "apns_live_activity_check: bad argument");
    size_t off = 0;
    const char *why = "empty input";
    if (json == NULL || !apns_json_check_object(json, len, &off, &why))
        return LA_FAIL(APNS_ENOTOBJECT, detail, detail_len,
                       "payload is not a JSON object: %s at byte %zu", why, off);
    json_error_t e;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &e);
    if (root == NULL) /* passed the strict check: only memory can fail here */
        return LA_FAIL(APNS_ENOMEM, detail, detail_len, "cannot parse the payload: %s", e.text);
    const json_t *aps = json_object_get(root, "aps");
    int rc = json_is_object(aps)
                 ? la_rules(aps, target, detail, detail_len)
                 : LA_FAIL(APNS_ELIVEACTIVITY, detail, detail_len, "payload has no \"aps\" object");
    json_decref(root);
    return rc;
}

/* ---- custom keys --------------------------------------------------------- */

int apns_payload_set_custom(apns_payload *p, const char *key, const char *json, size_t len)
{
    int rc = begin(p);
    if (rc != 0)
        return rc;
    if (key == NULL)
        return fail(p, APNS_EINVAL, "custom key is NULL");
    if (!utf8_ok(key))
        return fail(p, APNS_EPAYLOADKEY, "custom key is not valid UTF-8");
    if (strcmp(key, "aps") == 0)
        return fail(p, APNS_EPAYLOADKEY,
                    "custom key \"aps\" is reserved; use the apns_payload_set_* aps setters");
    if (json == NULL) {
        json_object_del(p->custom, key);
        return 0;
    }
    char what[96];
    snprintf(what, sizeof what, "custom key \"%.64s\"", key);
    json_t *v = parse_value(p, what, json, len, 0, &rc);
    return v ? put(p, p->custom, key, v) : rc;
}

/* ---- render -------------------------------------------------------------- */

static int render_fail(apns_payload *p, int err, char *detail, size_t detail_len, const char *msg)
{
    snprintf(p->detail, sizeof p->detail, "%s", msg);
    if (detail != NULL && detail_len > 0)
        snprintf(detail, detail_len, "%s", msg);
    return err;
}

int apns_payload_render(apns_payload *p, size_t limit, char **out, size_t *len, char *detail,
                        size_t detail_len)
{
    char msg[DETAIL_MAX];

    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if (p == NULL || out == NULL || len == NULL) {
        if (detail != NULL && detail_len > 0)
            snprintf(detail, detail_len, "apns_payload_render: NULL argument");
        return APNS_EINVAL;
    }
    if (p->err != 0) {
        if (detail != NULL && detail_len > 0)
            snprintf(detail, detail_len, "%s", p->detail);
        return p->err;
    }
    p->detail[0] = '\0';

    json_t *root = json_object();
    if (root == NULL)
        return render_fail(p, APNS_ENOMEM, detail, detail_len, "out of memory rendering payload");
    int bad = json_object_size(p->aps) > 0 && json_object_set_nocheck(root, "aps", p->aps) != 0;
    const char *k;
    json_t *v;
    json_object_foreach(p->custom, k, v)
    {
        if (!bad && json_object_set_nocheck(root, k, v) != 0)
            bad = 1;
    }
    if (bad) {
        json_decref(root);
        return render_fail(p, APNS_ENOMEM, detail, detail_len, "out of memory rendering payload");
    }

    /* One dump into a stack buffer that holds any payload APNs takes (a
     * second, sized dump only beyond it): the API renders one per job. */
    size_t flags = JSON_COMPACT | REAL_FLAGS;
    char small[RENDER_STACK];
    size_t n = json_dumpb(root, small, sizeof small, flags);
    char *buf = n > 0 ? malloc(n + 1) : NULL;
    if (buf != NULL && n <= sizeof small)
        memcpy(buf, small, n);
    else if (buf == NULL || json_dumpb(root, buf, n, flags) != n) {
        free(buf);
        json_decref(root);
        return render_fail(p, APNS_ENOMEM, detail, detail_len, "out of memory rendering payload");
    }
    json_decref(root);
    buf[n] = '\0';

    if (limit > 0 && n > limit) {
        free(buf);
        snprintf(msg, sizeof msg, "payload is %zu bytes; the limit is %zu", n, limit);
        return render_fail(p, APNS_ETOOBIG, detail, detail_len, msg);
    }
    size_t off;
    const char *why;
    if (!apns_json_check_object(buf, n, &off, &why)) {
        free(buf);
        snprintf(msg, sizeof msg, "rendered payload would be rejected: %s at byte %zu", why, off);
        return render_fail(p, APNS_EPAYLOADKEY, detail, detail_len, msg);
    }
    *out = buf;
    *len = n;
    return 0;
}
