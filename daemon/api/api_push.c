/*
 * api_push.c - gw_push_parse(): a POST /v1/push body to validated jobs.
 *
 * Design note
 * -----------
 * Three steps, each with its own kind of error:
 *   1. apns_json_check_object(): is this one well-formed JSON object?
 *      (malformed_json, with the byte offset and libapns's reason)
 *   2. gw__scan_tokens() (api_tokens.c): lift every "tokens" array out of
 *      the body as binary token lists (bad_token, too_many_tokens), so that
 *      jansson only ever sees a small document.
 *   3. jansson (duplicate keys rejected) and the field table below: every
 *      key a notification may hold, with its JSON types and its handler,
 *      stated once. Handlers run in table order whatever the key order in
 *      the body, so the same body always gives the same first error.
 *
 * Rules come from libapns, never re-stated here: apns_notification_validate()
 * checks the finished notification once (topic, push type, priority,
 * collapse id, apns-id, expiration, payload object and size), each token
 * goes through gw_token_list_add_hex() (libapns's token rule; its sentence
 * comes from apns_notification_validate() when a token is bad), and builder
 * fields go through apns_payload_*. Checking the notification once instead
 * of once per token keeps a 1,000,000-token broadcast linear in its bytes.
 *
 * Live Activities: the "live_activity" object's keys are builder calls
 * (apns_payload_set_event, _content_state, ...); the finished payload of a
 * liveactivity push, built or raw, goes through apns_live_activity_check()
 * and its sentence is the 400. Topics: a push type with a topic suffix
 * (apns_push_type_topic_suffix) goes to bundle id + suffix, which the app
 * must list in topics; otherwise a 400 at submit names the topic to add.
 *
 * Channel publish: "channel" instead of tokens (f_channel) makes the
 * notification an iOS 18 broadcast to that channel: the bundle id as topic,
 * priority 10 and expiration 0 by default, libapns's broadcast rules
 * (apns_notification_validate with channel_id: a broadcast never starts an
 * activity), 5120 payload bytes, a job of one entry. Whether the app has a
 * record of the channel is asked of the queue after parsing (api_submit.c).
 *
 * A key holding null is treated as absent.
 */
#include "api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apns/fcm.h"
#include "apns/notification.h"
#include "apns/payload.h"

enum { T_STR = 1, T_INT = 2, T_BOOL = 4, T_OBJ = 8, T_ARR = 16, T_NUM = 32 };

typedef struct pctx pctx;
typedef int (*field_fn)(pctx *c, json_t *v);
typedef int (*str_setter)(apns_payload *, const char *);

typedef struct field {
    const char *name;
    unsigned types;
    int builder; /* a payload builder field (exclusive with "payload") */
    int absent;  /* fn runs when the key is absent too (v NULL): defaults, required keys */
    field_fn fn; /* NULL: a builder field that is one setter call below */
    str_setter str;
    int (*flag)(apns_payload *, int);
    int (*num)(apns_payload *, double);
} field;

#define N_FIELDS    23
#define F_RELEVANCE 19
#define F_LIVE      21
#define F_CHANNEL   22

struct pctx {
    const gw_config *cfg;
    const uint8_t *key; /* digest, or NULL: any app */
    gw_api_error *err;
    gw__scan *scan;
    size_t idx; /* notification index, GW__TOKENS_TOP for a single one */
    size_t *extra_tokens;
    json_t *slot[N_FIELDS];

    const gw_config_app *app;
    apns_push_type push_type;
    int priority, priority_set;
    int64_t expiration, send_at_ms;
    const char *topic, *collapse_id, *apns_id;
    const char *channel; /* a channel publish: the channel id (no tokens) */
    gw_token_list tokens;
    apns_payload *builder;
    char *payload;
    size_t payload_len;
};

static int fail(pctx *c, gw_api_errcode code, const char *name, const char *fmt, const char *a)
{
    char f[96];
    return gw_api_error_set(c->err, code, gw__api_field(f, sizeof f, c->idx, name), fmt, a);
}

static int oom(pctx *c)
{
    return gw_api_error_set(c->err, GW_API_E_INTERNAL, NULL, "out of memory");
}

static int is_bool(json_t *v)
{
    return json_is_boolean(v) ||
           (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1));
}

static int bool_value(json_t *v)
{
    return json_is_true(v) || (json_is_integer(v) && json_integer_value(v) == 1);
}

static int type_ok(json_t *v, unsigned types)
{
    return ((types & T_STR) && json_is_string(v)) || ((types & T_INT) && json_is_integer(v)) ||
           ((types & T_BOOL) && is_bool(v)) || ((types & T_OBJ) && json_is_object(v)) ||
           ((types & T_ARR) && json_is_array(v)) || ((types & T_NUM) && json_is_number(v));
}

static const char *type_words(unsigned types)
{
    switch (types) {
    case T_STR:
        return "must be a string";
    case T_INT:
        return "must be an integer";
    case T_BOOL:
        return "must be true or false";
    case T_OBJ:
        return "must be an object";
    case T_ARR:
        return "must be an array";
    case T_NUM:
        return "must be a number";
    case T_STR | T_OBJ:
        return "must be a string or an object";
    default:
        return "has the wrong type";
    }
}

/* ---- push fields --------------------------------------------------------- */

static int f_app(pctx *c, json_t *v)
{
    const char *name;

    if (v == NULL)
        return fail(c, GW_API_E_MISSING_FIELD, "app", "%s",
                    "required: the name of the app ([app NAME] in the configuration)");
    name = json_string_value(v);
    c->app = gw_config_find_app(c->cfg, name);
    if (c->app == NULL) {
        char q[80];
        snprintf(q, sizeof q, "%.64s", name);
        return fail(c, GW_API_E_UNKNOWN_APP, "app", "no app \"%s\" is configured", q);
    }
    if (c->key != NULL && !gw__api_app_allows(c->app, c->key))
        return fail(c, GW_API_E_FORBIDDEN, "app", "the API key does not belong to app \"%s\"",
                    c->app->name);
    return 0;
}

static int f_tokens(pctx *c, json_t *v)
{
    uint32_t max = gw_api_server_config_of(c->cfg)->max_tokens;
    json_t *one = c->slot[1]; /* "token" */
    gw__lifted *lf = gw__scan_find(c->scan, c->idx);
    char f[96];

    if (c->slot[F_CHANNEL] != NULL) {
        /* A channel publish: the channel's subscribers, no device tokens. */
        if (v != NULL || one != NULL || lf != NULL)
            return fail(c, GW_API_E_INVALID_FIELD, v != NULL || lf != NULL ? "tokens" : "token",
                        "%s",
                        "a channel publish (\"channel\") names no device tokens: give \"channel\" "
                        "or \"tokens\", not both");
        return 0;
    }
    if (v != NULL && one != NULL)
        return fail(c, GW_API_E_INVALID_FIELD, "token", "%s",
                    "give \"token\" or \"tokens\", not both");
    if (lf != NULL && lf->bad) {
        *c->err = lf->bad_err; /* a token that is not an APNs token */
        return -1;
    } else if (lf != NULL) {
        c->tokens = lf->list; /* moved */
        lf->taken = 1;
    } else if (v != NULL) {
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t)
        {
            char sub[48];
            snprintf(sub, sizeof sub, "tokens[%zu]", i);
            if (!json_is_string(t))
                return fail(c, GW_API_E_INVALID_FIELD, sub, "%s", "must be a string of hex digits");
            if (c->scan->total + *c->extra_tokens >= max) {
                gw_api_error_set(c->err, GW_API_E_TOO_MANY_TOKENS,
                                 gw__api_field(f, sizeof f, c->idx, "tokens"),
                                 "the request names more than %u device tokens ([server] "
                                 "max_tokens)",
                                 max);
                return -1;
            }
            if (gw__token_add(&c->tokens, json_string_value(t), json_string_length(t), 0,
                              gw__api_field(f, sizeof f, c->idx, sub), c->err) != 0)
                return -1;
            (*c->extra_tokens)++;
        }
    } else if (one != NULL) {
        if (c->scan->total + *c->extra_tokens >= max)
            return fail(c, GW_API_E_TOO_MANY_TOKENS, "token", "%s",
                        "the request names more device tokens than [server] max_tokens");
        if (gw__token_add(&c->tokens, json_string_value(one), json_string_length(one), 0,
                          gw__api_field(f, sizeof f, c->idx, "token"), c->err) != 0)
            return -1;
        (*c->extra_tokens)++;
    } else {
        return fail(c, GW_API_E_MISSING_FIELD, "tokens", "%s",
                    "required: \"tokens\": [hex, ...] or \"token\": hex");
    }
    if (c->tokens.count == 0)
        return fail(c, GW_API_E_INVALID_FIELD, "tokens", "%s",
                    "must name at least one device token");
    return 0;
}

static int f_token(pctx *c, json_t *v)
{
    return 0; /* handled with "tokens" */
}

static int f_push_type(pctx *c, json_t *v)
{
    char names[200] = "";

    /* live_activity without push_type: a Live Activity push. */
    c->push_type = v == NULL && (c->slot[F_LIVE] != NULL || c->slot[F_CHANNEL] != NULL)
                       ? APNS_PUSH_LIVEACTIVITY
                       : APNS_PUSH_ALERT;
    if (v == NULL || apns_push_type_parse(json_string_value(v), &c->push_type) == 0)
        return 0;
    for (int t = 0; t < APNS_PUSH_TYPE_COUNT; t++) {
        size_t o = strlen(names);
        snprintf(names + o, sizeof names - o, "%s%s", t ? ", " : "",
                 apns_push_type_name((apns_push_type)t));
    }
    return fail(c, GW_API_E_INVALID_FIELD, "push_type", "must be one of %s", names);
}

static int f_priority(pctx *c, json_t *v)
{
    json_int_t p;

    p = json_integer_value(v);
    if (p != 10 && p != 5 && p != 1)
        return fail(c, GW_API_E_INVALID_FIELD, "priority", "%s", "must be 10, 5 or 1");
    c->priority = (int)p;
    c->priority_set = 1;
    return 0;
}

static int f_expiration(pctx *c, json_t *v)
{
    c->expiration = APNS_EXPIRATION_NONE;
    if (v == NULL)
        return 0;
    if (!gw_job_expiration_ok(json_integer_value(v)) || json_integer_value(v) < 0)
        return fail(c, GW_API_E_INVALID_FIELD, "expiration", "%s",
                    "must be 0 (do not store) or a UNIX time in seconds up to 253402300799 "
                    "(9999-12-31)");
    c->expiration = json_integer_value(v);
    return 0;
}

static int f_collapse_id(pctx *c, json_t *v)
{
    if (json_string_length(v) > 0)
        c->collapse_id = json_string_value(v);
    return 0;
}

static int f_apns_id(pctx *c, json_t *v)
{
    if (!apns_uuid_is_valid(json_string_value(v)))
        return fail(c, GW_API_E_INVALID_FIELD, "apns_id", "%s",
                    "must be a canonical UUID (8-4-4-4-12 hex digits)");
    c->apns_id = json_string_value(v);
    return 0;
}

static int topic_allowed(const gw_dispatch_app_config *a, const char *t)
{
    if (strcmp(a->topic, t) == 0)
        return 1;
    for (size_t i = 0; i < a->topics.n; i++)
        if (strcmp(a->topics.v[i], t) == 0)
            return 1;
    return 0;
}

/* The topic a push type needs: the bundle id plus libapns's suffix for the
 * type (apns_push_type_topic_suffix: ".voip", ".push-type.liveactivity",
 * ...). APNs refuses the type on any other topic, so a push the app's
 * configuration cannot address is refused here, at submit, naming the
 * topic to add, instead of failing later with BadTopic. */
static int f_topic(pctx *c, json_t *v)
{
    const gw_dispatch_app_config *a = gw_dispatch_app_config_of(c->app);
    const char *suffix = apns_push_type_topic_suffix(c->push_type);
    size_t ns = suffix != NULL ? strlen(suffix) : 0;
    char need[APNS_TOPIC_MAX + 64], msg[256];

    if (c->slot[F_CHANNEL] != NULL) {
        /* A channel publish goes to /4/broadcasts/apps/<bundle id>: the
         * app's topic, no suffix, no apns-topic header. */
        if (v != NULL)
            return fail(c, GW_API_E_INVALID_FIELD, "topic", "%s",
                        "a channel publish is posted to the app's bundle id ([app] topic): omit "
                        "\"topic\"");
        c->topic = a->topic;
        return 0;
    }
    snprintf(need, sizeof need, "%s%s", a->topic, ns ? suffix : "");
    if (v == NULL) {
        c->topic = a->topic;
        if (ns == 0)
            return 0;
        for (size_t i = 0; i < a->topics.n; i++)
            if (strcmp(a->topics.v[i], need) == 0) {
                c->topic = a->topics.v[i];
                return 0;
            }
        snprintf(msg, sizeof msg,
                 "push type %s is sent to the topic \"%.100s\", which app \"%s\" does not list: "
                 "add it to topics in [app %s]",
                 apns_push_type_name(c->push_type), need, c->app->name, c->app->name);
        return fail(c, GW_API_E_INVALID_FIELD, "topic", "%s", msg);
    }
    if (!topic_allowed(a, json_string_value(v))) {
        snprintf(msg, sizeof msg, "is not a topic of app \"%s\" (topic and topics in [app %s])",
                 c->app->name, c->app->name);
        return fail(c, GW_API_E_INVALID_FIELD, "topic", "%s", msg);
    }
    c->topic = json_string_value(v);
    if (ns > 0 &&
        (strlen(c->topic) <= ns || strcmp(c->topic + strlen(c->topic) - ns, suffix) != 0)) {
        snprintf(msg, sizeof msg,
                 "push type %s needs a topic ending in \"%s\" (e.g. \"%.100s\"), not \"%.100s\"",
                 apns_push_type_name(c->push_type), suffix, need, c->topic);
        return fail(c, GW_API_E_INVALID_FIELD, "topic", "%s", msg);
    }
    return 0;
}

static int f_send_at(pctx *c, json_t *v)
{
    json_int_t s;

    s = json_integer_value(v);
    if (s < 0 || s > GW_JOB_TIME_MAX)
        return fail(c, GW_API_E_INVALID_FIELD, "send_at", "%s",
                    "must be a UNIX time in seconds (0 = now) up to 253402300799 (9999-12-31)");
    c->send_at_ms = (int64_t)s * 1000;
    return 0;
}

static int f_payload(pctx *c, json_t *v)
{
    c->payload = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (c->payload == NULL)
        return oom(c);
    c->payload_len = strlen(c->payload);
    return 0;
}

/* ---- builder fields ---------------------------------------------------- */

/* A setter's result: 0, or bad_payload naming the field with libapns's
 * sentence. */
static int set_rc(pctx *c, int rc, const char *name)
{
    if (rc == 0)
        return 0;
    if (rc == APNS_ENOMEM)
        return oom(c);
    return fail(c, GW_API_E_BAD_PAYLOAD, name, "%s",
                apns_payload_detail(c->builder)[0] ? apns_payload_detail(c->builder)
                                                   : apns_strerror(rc));
}

/* A JSON array of strings as a borrowed vector (valid while v lives), for
 * loc-args. Returns 0, or -1 with the error set. *out is freed by the caller. */
static int str_args(pctx *c, json_t *v, const char *sub, const char ***out, size_t *n)
{
    size_t i;
    json_t *x;

    *out = NULL;
    *n = 0;
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return fail(c, GW_API_E_INVALID_FIELD, sub, "%s", "must be an array of strings");
    *out = calloc(json_array_size(v) + 1, sizeof(**out));
    if (*out == NULL)
        return oom(c);
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x)) {
            char s2[96];
            snprintf(s2, sizeof s2, "%.70s[%zu]", sub, i);
            return fail(c, GW_API_E_INVALID_FIELD, s2, "%s", "must be a string");
        }
        (*out)[i] = json_string_value(x);
    }
    *n = json_array_size(v);
    return 0;
}

typedef int (*loc_setter)(apns_payload *, const char *, const char *const *, size_t);

/* One localization: key (a string) and its optional args, through `fn`.
 * args without key is refused naming key_name. */
static int set_loc(pctx *c, json_t *key, json_t *args, const char *key_name, const char *args_name,
                   loc_setter fn)
{
    const char **argv = NULL;
    size_t n = 0;
    int rc;

    if (key == NULL && args == NULL)
        return 0;
    if (key == NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "required with %.60s (the string its args fill)", args_name);
        return fail(c, GW_API_E_MISSING_FIELD, key_name, "%s", msg);
    }
    if (!json_is_string(key))
        return fail(c, GW_API_E_INVALID_FIELD, key_name, "%s", "must be a string");
    if (str_args(c, args, args_name, &argv, &n) != 0) {
        free(argv);
        return -1;
    }
    rc = set_rc(c, fn(c->builder, json_string_value(key), argv, n), key_name);
    free(argv);
    return rc;
}

/* The alert dictionary: plain strings, the localization keys of the
 * notification form (loc_key, title_loc_key, ...), and the Live Activity
 * form where title/subtitle/body is itself {"loc_key":..,"loc_args":[..]}. */
static int b_alert(pctx *c, json_t *v)
{
    static const struct {
        const char *key;
        str_setter fn;  /* a string value */
        loc_setter loc; /* an object value {loc_key, loc_args} (NULL: string only) */
        int pair;       /* 1..3: a *_loc_key / *_loc_args key of pair n (handled after) */
    } keys[] = {
        {"title", apns_payload_set_alert_title, apns_payload_set_alert_title_localized, 0},
        {"subtitle", apns_payload_set_alert_subtitle, apns_payload_set_alert_subtitle_localized, 0},
        {"body", apns_payload_set_alert_body, apns_payload_set_alert_body_localized, 0},
        {"launch_image", apns_payload_set_alert_launch_image, NULL, 0},
        {"sound", apns_payload_set_alert_sound, NULL, 0},
        {"loc_key", NULL, NULL, 1},
        {"loc_args", NULL, NULL, 1},
        {"title_loc_key", NULL, NULL, 2},
        {"title_loc_args", NULL, NULL, 2},
        {"subtitle_loc_key", NULL, NULL, 3},
        {"subtitle_loc_args", NULL, NULL, 3},
    };
    static const loc_setter pair_fn[3] = {apns_payload_set_alert_loc,
                                          apns_payload_set_alert_title_loc,
                                          apns_payload_set_alert_subtitle_loc};
    /* The pairs' keys and their paths in errors, per pair. */
    static const char *const pair_key[3] = {"loc_key", "title_loc_key", "subtitle_loc_key"};
    static const char *const pair_args[3] = {"loc_args", "title_loc_args", "subtitle_loc_args"};
    static const char *const pair_key_path[3] = {"alert.loc_key", "alert.title_loc_key",
                                                 "alert.subtitle_loc_key"};
    static const char *const pair_args_path[3] = {"alert.loc_args", "alert.title_loc_args",
                                                  "alert.subtitle_loc_args"};
    const char *k;
    json_t *x;
    char sub[80];

    if (json_is_string(v))
        return set_rc(c, apns_payload_set_alert_text(c->builder, json_string_value(v)), "alert");
    json_object_foreach(v, k, x)
    {
        size_t i = 0;
        snprintf(sub, sizeof sub, "alert.%.60s", k);
        for (; i < sizeof keys / sizeof keys[0]; i++)
            if (strcmp(k, keys[i].key) == 0)
                break;
        if (i == sizeof keys / sizeof keys[0])
            return fail(c, GW_API_E_UNKNOWN_FIELD, sub, "%s",
                        "unknown alert key (title, subtitle, body, launch_image, sound, loc_key, "
                        "loc_args, title_loc_key, title_loc_args, subtitle_loc_key, "
                        "subtitle_loc_args)");
        if (json_is_null(x) || keys[i].pair != 0)
            continue;
        if (json_is_object(x) && keys[i].loc != NULL) {
            /* {"loc_key":"..","loc_args":[..]}: nothing else. */
            const char *k2;
            json_t *y;
            char kn[96], an[96];
            json_object_foreach(x, k2, y)
            {
                if (strcmp(k2, "loc_key") != 0 && strcmp(k2, "loc_args") != 0) {
                    char s2[96];
                    snprintf(s2, sizeof s2, "%.60s.%.30s", sub, k2);
                    return fail(c, GW_API_E_UNKNOWN_FIELD, s2, "%s",
                                "unknown key (loc_key, loc_args)");
                }
            }
            snprintf(kn, sizeof kn, "%s.loc_key", sub);
            snprintf(an, sizeof an, "%s.loc_args", sub);
            if (json_object_get(x, "loc_key") == NULL)
                return fail(c, GW_API_E_MISSING_FIELD, kn, "%s",
                            "required: the localization key of the string");
            if (set_loc(c, json_object_get(x, "loc_key"), json_object_get(x, "loc_args"), kn, an,
                        keys[i].loc) != 0)
                return -1;
            continue;
        }
        if (!json_is_string(x))
            return fail(c, GW_API_E_INVALID_FIELD, sub, "%s",
                        keys[i].loc ? "must be a string or {\"loc_key\":..,\"loc_args\":[..]}"
                                    : "must be a string");
        if (set_rc(c, keys[i].fn(c->builder, json_string_value(x)), sub) != 0)
            return -1;
    }
    for (int p = 0; p < 3; p++) {
        json_t *key = json_object_get(v, pair_key[p]), *args = json_object_get(v, pair_args[p]);
        if (json_is_null(key))
            key = NULL;
        if (json_is_null(args))
            args = NULL;
        if (set_loc(c, key, args, pair_key_path[p], pair_args_path[p], pair_fn[p]) != 0)
            return -1;
    }
    return 0;
}

static int b_badge(pctx *c, json_t *v)
{
    if (json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return fail(c, GW_API_E_INVALID_FIELD, "badge", "%s", "must be 0..2147483647");
    return set_rc(c, apns_payload_set_badge(c->builder, json_integer_value(v)), "badge");
}

static int b_sound(pctx *c, json_t *v)
{
    json_t *crit, *name, *vol;
    const char *k;
    json_t *x;

    if (json_is_string(v))
        return set_rc(c, apns_payload_set_sound(c->builder, json_string_value(v)), "sound");
    /* The critical-alert dictionary {"critical":1,"name":"x.caf","volume":0.8}. */
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "critical") != 0 && strcmp(k, "name") != 0 && strcmp(k, "volume") != 0) {
            char sub[80];
            snprintf(sub, sizeof sub, "sound.%.60s", k);
            return fail(c, GW_API_E_UNKNOWN_FIELD, sub, "%s",
                        "unknown sound key (critical, name, volume)");
        }
    }
    crit = json_object_get(v, "critical");
    name = json_object_get(v, "name");
    vol = json_object_get(v, "volume");
    if (!json_is_string(name))
        return fail(c, GW_API_E_INVALID_FIELD, "sound.name", "%s",
                    "required: the sound file name as a string");
    if (crit != NULL && !is_bool(crit))
        return fail(c, GW_API_E_INVALID_FIELD, "sound.critical", "%s", "must be true or false");
    if (vol != NULL && !json_is_number(vol))
        return fail(c, GW_API_E_INVALID_FIELD, "sound.volume", "%s", "must be a number 0..1");
    return set_rc(c,
                  apns_payload_set_sound_dict(c->builder, crit ? bool_value(crit) : 0,
                                              json_string_value(name),
                                              vol ? json_number_value(vol) : 1.0),
                  "sound");
}

/* A builder field that is one setter call: a string, a flag or a number. */
static int b_simple(pctx *c, json_t *v, const field *f)
{
    return set_rc(c,
                  f->str    ? f->str(c->builder, json_string_value(v))
                  : f->flag ? f->flag(c->builder, bool_value(v))
                            : f->num(c->builder, json_number_value(v)),
                  f->name);
}

static int b_custom(pctx *c, json_t *v)
{
    const char *k;
    json_t *x;

    json_object_foreach(v, k, x)
    {
        char sub[80];
        char *s = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        int rc;
        if (s == NULL)
            return oom(c);
        snprintf(sub, sizeof sub, "custom.%.60s", k);
        rc = apns_payload_set_custom(c->builder, k, s, strlen(s));
        free(s);
        if (set_rc(c, rc, sub) != 0)
            return -1;
    }
    return 0;
}

/* "live_activity": the aps keys of a Live Activity push (ActivityKit),
 * handled in this table's order whatever the key order in the body.
 * "timestamp" defaults to the time of submit (Apple requires one on every
 * push; the device drops updates older than the one it shows). Apple's rules
 * on the finished payload (what "start" needs, what only "start" may carry)
 * are libapns's apns_live_activity_check(), run after rendering. */
static int b_live_activity(pctx *c, json_t *v)
{
    enum { LA_STR, LA_OBJ, LA_INT, LA_NUM, LA_BOOL };
    static const struct {
        const char *key;
        int kind;
        str_setter str;
        int (*obj)(apns_payload *, const char *, size_t);
        int (*i64)(apns_payload *, int64_t);
    } keys[] = {
        {"event", LA_STR, apns_payload_set_event, NULL, NULL},
        {"timestamp", LA_INT, NULL, NULL, apns_payload_set_timestamp},
        {"content_state", LA_OBJ, NULL, apns_payload_set_content_state, NULL},
        {"stale_date", LA_INT, NULL, NULL, apns_payload_set_stale_date},
        {"dismissal_date", LA_INT, NULL, NULL, apns_payload_set_dismissal_date},
        {"relevance_score", LA_NUM, NULL, NULL, NULL},
        {"attributes_type", LA_STR, apns_payload_set_attributes_type, NULL, NULL},
        {"attributes", LA_OBJ, NULL, apns_payload_set_attributes, NULL},
        {"input_push_token", LA_BOOL, NULL, NULL, NULL},
        {"input_push_channel", LA_STR, apns_payload_set_input_push_channel, NULL, NULL},
    };
    static const char *const words[] = {"must be a string", "must be an object",
                                        "must be an integer (UNIX seconds)", "must be a number",
                                        "must be true or false"};
    enum { NK = sizeof keys / sizeof keys[0] };
    const char *k;
    json_t *x, *val[NK] = {0};
    char sub[80];

    if (c->push_type != APNS_PUSH_LIVEACTIVITY)
        return fail(c, GW_API_E_INVALID_FIELD, "push_type", "%s",
                    "must be liveactivity (or omitted) when live_activity is given");
    json_object_foreach(v, k, x)
    {
        size_t i = 0;
        snprintf(sub, sizeof sub, "live_activity.%.50s", k);
        for (; i < NK; i++)
            if (strcmp(k, keys[i].key) == 0)
                break;
        if (i == NK)
            return fail(c, GW_API_E_UNKNOWN_FIELD, sub, "%s",
                        "unknown Live Activity key (event, timestamp, content_state, stale_date, "
                        "dismissal_date, relevance_score, attributes_type, attributes, "
                        "input_push_token, input_push_channel)");
        if (json_is_null(x))
            continue;
        int good = keys[i].kind == LA_STR   ? json_is_string(x)
                   : keys[i].kind == LA_OBJ ? json_is_object(x)
                   : keys[i].kind == LA_INT ? json_is_integer(x)
                   : keys[i].kind == LA_NUM ? json_is_number(x)
                                            : is_bool(x);
        if (!good)
            return fail(c, GW_API_E_INVALID_FIELD, sub, "%s", words[keys[i].kind]);
        val[i] = x;
    }
    if (val[5] != NULL && c->slot[F_RELEVANCE] != NULL)
        return fail(c, GW_API_E_INVALID_FIELD, "live_activity.relevance_score", "%s",
                    "give relevance_score once: here or beside live_activity, not both");
    for (size_t i = 0; i < NK; i++) {
        int rc;
        x = val[i];
        snprintf(sub, sizeof sub, "live_activity.%s", keys[i].key);
        if (x == NULL) {
            if (i != 1)
                continue;
            rc = apns_payload_set_timestamp(c->builder, (int64_t)time(NULL));
        } else if (keys[i].str != NULL) {
            rc = keys[i].str(c->builder, json_string_value(x));
        } else if (keys[i].obj != NULL) {
            char *j = json_dumps(x, JSON_COMPACT | JSON_REAL_PRECISION(15));
            if (j == NULL)
                return oom(c);
            rc = keys[i].obj(c->builder, j, strlen(j));
            free(j);
        } else if (keys[i].i64 != NULL) {
            rc = keys[i].i64(c->builder, (int64_t)json_integer_value(x));
        } else if (keys[i].kind == LA_NUM) {
            rc = apns_payload_set_relevance_score(c->builder, json_number_value(x));
        } else {
            rc = apns_payload_set_input_push_token(c->builder, bool_value(x));
        }
        if (set_rc(c, rc, sub) != 0)
            return -1;
    }
    return 0;
}

/* "channel": a channel publish (iOS 18 Live Activity broadcast) to a
 * channel of the app. Whether apnsd has a record of it (and its storage
 * policy, for "expiration") is looked up after parsing (api_submit.c).
 * Apple requires apns-priority and apns-expiration on a broadcast: they
 * default to 10 and 0 (no storage; what every channel accepts). */
static int f_channel(pctx *c, json_t *v)
{
    if (!gw_channel_id_ok(json_string_value(v)))
        return fail(c, GW_API_E_INVALID_FIELD, "channel", "%s",
                    "must be a channel id (APNs' base64 id, as POST /v1/apps/{app}/channels "
                    "answered)");
    if (c->push_type != APNS_PUSH_LIVEACTIVITY)
        return fail(c, GW_API_E_INVALID_FIELD, "push_type", "%s",
                    "must be liveactivity (or omitted) for a channel publish");
    if (gw_dispatch_app_config_of(c->app)->transport == GW_DISPATCH_TRANSPORT_BINARY)
        return fail(c, GW_API_E_CHANNELS_UNAVAILABLE, "channel", "%s",
                    "the app uses transport = binary, which has no channel publishes");
    c->channel = json_string_value(v);
    if (!c->priority_set)
        c->priority = 10;
    if (c->expiration == APNS_EXPIRATION_NONE)
        c->expiration = 0;
    return 0;
}

/* The table: every key a notification may hold, handled in this order
 * (app first: topic and auth need it; push_type before topic). */
static const field fields[N_FIELDS] = {
    {"app", T_STR, 0, .absent = 1, .fn = f_app},
    {"token", T_STR, 0, .fn = f_token}, /* index 1: read by f_tokens */
    {"tokens", T_ARR, 0, .absent = 1, .fn = f_tokens},
    {"push_type", T_STR, 0, .absent = 1, .fn = f_push_type},
    {"priority", T_INT, 0, .fn = f_priority},
    {"expiration", T_INT, 0, .absent = 1, .fn = f_expiration},
    {"collapse_id", T_STR, 0, .fn = f_collapse_id},
    {"apns_id", T_STR, 0, .fn = f_apns_id},
    {"topic", T_STR, 0, .absent = 1, .fn = f_topic},
    {"send_at", T_INT, 0, .fn = f_send_at},
    {"payload", T_OBJ, 0, .fn = f_payload},
    {"alert", T_STR | T_OBJ, 1, .fn = b_alert},
    {"badge", T_INT, 1, .fn = b_badge},
    {"sound", T_STR | T_OBJ, 1, .fn = b_sound},
    {"category", T_STR, 1, .str = apns_payload_set_category},
    {"thread_id", T_STR, 1, .str = apns_payload_set_thread_id},
    {"content_available", T_BOOL, 1, .flag = apns_payload_set_content_available},
    {"mutable_content", T_BOOL, 1, .flag = apns_payload_set_mutable_content},
    {"interruption_level", T_STR, 1, .str = apns_payload_set_interruption_level},
    {"relevance_score", T_NUM, 1, .num = apns_payload_set_relevance_score},
    {"custom", T_OBJ, 1, .fn = b_custom},
    {"live_activity", T_OBJ, 1, .fn = b_live_activity},
    {"channel", T_STR, 0, .fn = f_channel}, /* F_CHANNEL: read by f_tokens, f_topic */
};
#define F_PAYLOAD 10

/* The JSON Schema words for a field's types (docs/openapi.json states them). */
const char *gw_push_field_info(size_t i, const char **name)
{
    if (i >= N_FIELDS)
        return NULL;
    *name = fields[i].name;
    switch (fields[i].types) {
    case T_STR:
        return "string";
    case T_INT:
        return "integer";
    case T_BOOL:
        return "boolean integer"; /* true/false, or 0/1 (is_bool) */
    case T_OBJ:
        return "object";
    case T_ARR:
        return "array";
    case T_NUM:
        return "number";
    case T_STR | T_OBJ:
        return "string object";
    default:
        return "?"; /* a new combination: name it here */
    }
}

static int unknown_key(pctx *c, const char *k)
{
    const char *names[N_FIELDS];
    const char *s;
    char sub[80], msg[160];

    for (size_t i = 0; i < N_FIELDS; i++)
        names[i] = fields[i].name;
    s = strlen(k) <= 64 ? gw_config_suggest(k, names, N_FIELDS) : NULL;
    snprintf(sub, sizeof sub, "%.60s", k);
    if (s != NULL)
        snprintf(msg, sizeof msg, "unknown key (did you mean \"%s\"?)", s);
    else
        snprintf(msg, sizeof msg, "unknown key (docs/api.md lists the notification fields)");
    return fail(c, GW_API_E_UNKNOWN_FIELD, sub, "%s", msg);
}

/* ---- one notification -------------------------------------------------- */

static const struct {
    int rc;
    const char *field;
    gw_api_errcode code;
} validate_map[] = {
    {APNS_EBADTOKEN, "tokens[0]", GW_API_E_BAD_TOKEN},
    {APNS_ENOTOPIC, "topic", GW_API_E_INVALID_FIELD},
    {APNS_ETOPIC, "topic", GW_API_E_INVALID_FIELD},
    {APNS_EPUSHTYPE, "push_type", GW_API_E_INVALID_FIELD},
    {APNS_EPRIORITY, "priority", GW_API_E_INVALID_FIELD},
    {APNS_EBGPRIORITY, "priority", GW_API_E_INVALID_FIELD},
    {APNS_ECOLLAPSEID, "collapse_id", GW_API_E_INVALID_FIELD},
    {APNS_EAPNSID, "apns_id", GW_API_E_INVALID_FIELD},
    {APNS_EEXPIRATION, "expiration", GW_API_E_INVALID_FIELD},
    {APNS_EPAYLOADEMPTY, "payload", GW_API_E_BAD_PAYLOAD},
    {APNS_ENOTOBJECT, "payload", GW_API_E_BAD_PAYLOAD},
    {APNS_ETOOBIG, "payload", GW_API_E_PAYLOAD_TOO_LARGE},
};

static int validate(pctx *c)
{
    apns_notification n;
    const uint8_t *rec = c->tokens.buf;
    char hex[APNS_TOKEN_HEX_MAX + 1], detail[256];
    int rc;

    apns_notification_init(&n);
    if (c->channel != NULL) {
        n.channel_id = c->channel; /* libapns's broadcast rules (§4.3) */
    } else {
        gw_token_to_hex(rec + 1, rec[0], hex);
        n.token = hex;
    }
    n.topic = c->topic;
    n.push_type = c->push_type;
    n.priority = c->priority;
    n.expiration = c->expiration;
    n.collapse_id = c->collapse_id;
    if (c->apns_id != NULL)
        snprintf(n.apns_id, sizeof n.apns_id, "%s", c->apns_id);
    n.payload = c->payload;
    n.payload_len = c->payload_len;
    rc = apns_notification_validate(&n, 1, detail, sizeof detail);
    if (rc == 0)
        return 0;
    if (rc == APNS_ENOMEM)
        return oom(c);
    if (rc == APNS_ELIVEACTIVITY) /* e.g. "start": a broadcast cannot start an activity */
        return fail(c, GW_API_E_BAD_PAYLOAD,
                    c->slot[F_PAYLOAD] != NULL ? "payload" : "live_activity", "%s", detail);
    if (rc == APNS_ECHANNELID)
        return fail(c, GW_API_E_INVALID_FIELD, "channel", "%s", detail);
    for (size_t i = 0; i < sizeof validate_map / sizeof validate_map[0]; i++)
        if (validate_map[i].rc == rc)
            return fail(c, validate_map[i].code, validate_map[i].field, "%s", detail);
    return fail(c, GW_API_E_INVALID_FIELD, "payload", "%s", detail);
}

static int render(pctx *c)
{
    char detail[256];
    int any_builder = c->builder != NULL, rc;

    if (c->slot[F_PAYLOAD] != NULL && any_builder)
        return fail(c, GW_API_E_INVALID_FIELD, "payload", "%s",
                    "give either \"payload\" or builder fields (alert, badge, sound, ...), not "
                    "both");
    if (c->slot[F_PAYLOAD] != NULL)
        return 0;
    if (!any_builder)
        return fail(c, GW_API_E_MISSING_FIELD, "payload", "%s",
                    "required: \"payload\" (the whole APNs JSON) or builder fields (alert, "
                    "badge, sound, content_available, custom, ...)");
    rc = apns_payload_render(c->builder,
                             c->channel != NULL ? APNS_PAYLOAD_MAX_BROADCAST
                                                : apns_payload_limit(c->push_type),
                             &c->payload, &c->payload_len, detail, sizeof detail);
    if (rc == APNS_ETOOBIG)
        return fail(c, GW_API_E_PAYLOAD_TOO_LARGE, "payload", "%s", detail);
    if (rc == APNS_ENOMEM)
        return oom(c);
    if (rc != 0)
        return fail(c, GW_API_E_BAD_PAYLOAD, "payload", "%s", detail);
    return 0;
}

/* A liveactivity push to a device token: libapns's Live Activity rules on
 * the finished payload (built or raw), its sentence as the 400. */
static int live_activity_rules(pctx *c)
{
    char detail[256];
    int rc;

    if (c->push_type != APNS_PUSH_LIVEACTIVITY || c->channel != NULL)
        return 0; /* a channel publish: checked by validate() (APNS_LA_CHANNEL) */
    rc =
        apns_live_activity_check(c->payload, c->payload_len, APNS_LA_DEVICE, detail, sizeof detail);
    if (rc == 0)
        return 0;
    if (rc == APNS_ENOMEM)
        return oom(c);
    return fail(c, GW_API_E_BAD_PAYLOAD, c->slot[F_PAYLOAD] != NULL ? "payload" : "live_activity",
                "%s", detail);
}

/* Copies the strings the job keeps into one allocation owned by the item. */
static int fill_item(pctx *c, gw_push_item *it)
{
    const char *src[5] = {c->app->name, c->topic, c->collapse_id, c->apns_id, c->channel};
    const char **dst[5] = {&it->job.app, &it->job.topic, &it->job.collapse_id, &it->job.apns_id,
                           &it->job.channel};
    size_t need = 0, o = 0;

    for (int i = 0; i < 5; i++)
        need += src[i] ? strlen(src[i]) + 1 : 0;
    it->strings = malloc(need ? need : 1);
    if (it->strings == NULL)
        return oom(c);
    gw_job_init(&it->job);
    for (int i = 0; i < 5; i++) {
        if (src[i] == NULL) {
            *dst[i] = NULL;
            continue;
        }
        size_t n = strlen(src[i]) + 1;
        memcpy(it->strings + o, src[i], n);
        *dst[i] = it->strings + o;
        o += n;
    }
    it->job.push_type = c->push_type;
    it->job.priority = c->priority;
    it->job.expiration = c->expiration;
    it->job.send_at_ms = c->send_at_ms;
    it->payload_buf = c->payload;
    it->job.payload = c->payload;
    it->job.payload_len = c->payload_len;
    c->payload = NULL;
    it->job.tokens = c->tokens;
    it->n_tokens = c->channel != NULL ? 1 : c->tokens.count; /* a channel publish: one entry */
    gw_token_list_init(&c->tokens);
    return 0;
}

/* ---- an FCM app's notification ---------------------------------------- */

/* The keys of a notification for an app with provider = fcm: the target
 * (token/tokens: registration tokens, verbatim), send_at, and the v1
 * message's fields, checked together by libapns's apns_fcm_fields_validate
 * (fcm-protocol.md §3) and stored as the job's payload: the fields JSON the
 * FCM client sends beside the token. */
static const char *const fcm_fields[] = {"notification", "data",    "android",
                                         "apns",         "webpush", "fcm_options"};
#define N_FCM_FIELDS (sizeof fcm_fields / sizeof fcm_fields[0])

/* Every key of an FCM notification with the JSON types it takes (the
 * message fields' inner rules are libapns's). */
static const struct {
    const char *name, *types;
} fcm_keys[] = {
    {"app", "string"},         {"token", "string"},        {"tokens", "array"},
    {"send_at", "integer"},    {"notification", "object"}, {"data", "object"},
    {"android", "object"},     {"apns", "object"},         {"webpush", "object"},
    {"fcm_options", "object"},
};

const char *gw_push_fcm_field_info(size_t i, const char **name)
{
    if (i >= sizeof fcm_keys / sizeof fcm_keys[0])
        return NULL;
    *name = fcm_keys[i].name;
    return fcm_keys[i].types;
}

static int fcm_tokens(pctx *c, json_t *tokens, json_t *one)
{
    uint32_t max = gw_api_server_config_of(c->cfg)->max_tokens;
    gw__lifted *lf = gw__scan_find(c->scan, c->idx);
    char f[96];

    if (tokens != NULL && one != NULL)
        return fail(c, GW_API_E_INVALID_FIELD, "token", "%s",
                    "give \"token\" or \"tokens\", not both");
    if (lf != NULL) {
        int rc = gw__lifted_raw(lf, c->idx, &c->tokens, c->err);
        gw_token_list_cleanup(&lf->list); /* the APNs reading of the array */
        lf->taken = 1;
        if (rc != 0)
            return -1;
    } else if (tokens != NULL) {
        size_t i;
        json_t *t;
        json_array_foreach(tokens, i, t)
        {
            char sub[48];
            snprintf(sub, sizeof sub, "tokens[%zu]", i);
            if (!json_is_string(t))
                return fail(c, GW_API_E_INVALID_FIELD, sub, "%s",
                            "must be a string (an FCM registration token)");
            if (c->scan->total + *c->extra_tokens >= max)
                return fail(c, GW_API_E_TOO_MANY_TOKENS, "tokens", "%s",
                            "the request names more device tokens than [server] max_tokens");
            if (gw__token_add_raw(&c->tokens, json_string_value(t), json_string_length(t), 0,
                                  gw__api_field(f, sizeof f, c->idx, sub), c->err) != 0)
                return -1;
            (*c->extra_tokens)++;
        }
    } else if (one != NULL) {
        if (!json_is_string(one))
            return fail(c, GW_API_E_INVALID_FIELD, "token", "%s",
                        "must be a string (an FCM registration token)");
        if (c->scan->total + *c->extra_tokens >= max)
            return fail(c, GW_API_E_TOO_MANY_TOKENS, "token", "%s",
                        "the request names more device tokens than [server] max_tokens");
        if (gw__token_add_raw(&c->tokens, json_string_value(one), json_string_length(one), 0,
                              gw__api_field(f, sizeof f, c->idx, "token"), c->err) != 0)
            return -1;
        (*c->extra_tokens)++;
    } else {
        return fail(c, GW_API_E_MISSING_FIELD, "tokens", "%s",
                    "required: \"tokens\": [registration token, ...] or \"token\"");
    }
    if (c->tokens.count == 0)
        return fail(c, GW_API_E_INVALID_FIELD, "tokens", "%s",
                    "must name at least one registration token");
    return 0;
}

/* libapns names the field as FCM does ("message.android.ttl: ..."): the
 * 400 names it as the request does ("android.ttl"). */
static int fcm_invalid(pctx *c, const char *detail)
{
    char name[80] = "notification";
    const char *colon = strstr(detail, ": "), *f = detail;

    if (strncmp(f, "message.", 8) == 0)
        f += 8;
    if (colon != NULL && colon > f && (size_t)(colon - f) < sizeof name)
        snprintf(name, sizeof name, "%.*s", (int)(colon - f), f);
    return fail(c, GW_API_E_INVALID_FIELD, name, "%s", detail);
}

static int fcm_notification(pctx *c, json_t *obj, gw_push_item *it)
{
    json_t *msgf = NULL, *v;
    const char *k;
    char detail[256], msg[200];
    int rc = -1, r;

    json_object_foreach(obj, k, v)
    {
        size_t i;
        int ok = strcmp(k, "app") == 0 || strcmp(k, "token") == 0 || strcmp(k, "tokens") == 0 ||
                 strcmp(k, "send_at") == 0;
        for (i = 0; i < N_FCM_FIELDS && !ok; i++)
            ok = strcmp(k, fcm_fields[i]) == 0;
        if (ok)
            continue;
        for (i = 0; i < N_FIELDS; i++)
            if (strcmp(k, fields[i].name) == 0)
                break;
        if (i == N_FIELDS)
            return unknown_key(c, k);
        snprintf(msg, sizeof msg,
                 "an APNs field: app \"%.40s\" is an FCM app (provider = fcm), whose "
                 "notifications take notification, data, android, apns, webpush",
                 c->app->name);
        return fail(c, GW_API_E_UNKNOWN_FIELD, k, "%s", msg);
    }
    if ((v = json_object_get(obj, "send_at")) != NULL && !json_is_null(v)) {
        if (!json_is_integer(v))
            return fail(c, GW_API_E_INVALID_FIELD, "send_at", "%s", "must be an integer");
        if (f_send_at(c, v) != 0)
            return -1;
    }
    if (fcm_tokens(c, json_object_get(obj, "tokens"), json_object_get(obj, "token")) != 0)
        goto out;
    if ((msgf = json_object()) == NULL) {
        oom(c);
        goto out;
    }
    for (size_t i = 0; i < N_FCM_FIELDS; i++)
        if ((v = json_object_get(obj, fcm_fields[i])) != NULL && !json_is_null(v))
            json_object_set(msgf, fcm_fields[i], v);
    c->payload = json_dumps(msgf, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (c->payload == NULL) {
        oom(c);
        goto out;
    }
    c->payload_len = strlen(c->payload);
    r = apns_fcm_fields_validate(c->payload, c->payload_len, detail, sizeof detail);
    if (r == APNS_ETOOBIG) {
        fail(c, GW_API_E_PAYLOAD_TOO_LARGE, "notification", "%s", detail);
        goto out;
    }
    if (r != 0) {
        fcm_invalid(c, detail);
        goto out;
    }
    c->topic = NULL;
    c->push_type = APNS_PUSH_ALERT;
    c->priority = 0;
    c->expiration = APNS_EXPIRATION_NONE;
    if (fill_item(c, it) != 0)
        goto out;
    rc = 0;
out:
    json_decref(msgf);
    free(c->payload);
    c->payload = NULL;
    gw_token_list_cleanup(&c->tokens);
    return rc;
}

static int notification(pctx *c, json_t *obj, gw_push_item *it)
{
    const char *k;
    json_t *v;
    int rc = -1;

    /* An FCM app's notification has fields of its own. */
    v = json_object_get(obj, "app");
    if (json_is_string(v) && (c->app = gw_config_find_app(c->cfg, json_string_value(v))) != NULL &&
        gw_dispatch_app_is_fcm(c->app)) {
        if (f_app(c, v) != 0)
            return -1;
        return fcm_notification(c, obj, it);
    }
    c->app = NULL;

    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        for (; i < N_FIELDS; i++)
            if (strcmp(k, fields[i].name) == 0)
                break;
        if (i == N_FIELDS)
            return unknown_key(c, k);
        if (json_is_null(v))
            continue;
        if (!type_ok(v, fields[i].types))
            return fail(c, GW_API_E_INVALID_FIELD, k, "%s", type_words(fields[i].types));
        c->slot[i] = v;
    }
    /* One builder for the builder fields' handlers, if any is given. */
    for (size_t i = 0; i < N_FIELDS && c->builder == NULL; i++)
        if (fields[i].builder && c->slot[i] != NULL && apns_payload_new(&c->builder) != 0) {
            c->builder = NULL;
            return oom(c);
        }
    for (size_t i = 0; i < N_FIELDS; i++)
        if ((c->slot[i] != NULL || fields[i].absent) &&
            (fields[i].fn ? fields[i].fn(c, c->slot[i]) : b_simple(c, c->slot[i], &fields[i])) != 0)
            goto out;
    /* APNs wants 5 or 1 for background pushes; omitted means 10 there. */
    if (!c->priority_set && c->push_type == APNS_PUSH_BACKGROUND)
        c->priority = 5;
    if (render(c) != 0 || validate(c) != 0 || live_activity_rules(c) != 0 || fill_item(c, it) != 0)
        goto out;
    rc = 0;
out:
    apns_payload_free(c->builder);
    c->builder = NULL;
    free(c->payload);
    c->payload = NULL;
    gw_token_list_cleanup(&c->tokens);
    return rc;
}

/* ---- the request --------------------------------------------------------- */

static int parse_root(json_t *root, const gw_config *cfg, const uint8_t *key, gw__scan *scan,
                      gw_push_request *out, gw_api_error *err)
{
    json_t *list = json_object_get(root, "notifications");
    size_t extra = 0, n = 1; /* without "notifications": the body is one notification */
    const char *k;
    json_t *v;

    if (list != NULL) {
        out->batch = 1;
        json_object_foreach(root, k, v)
        {
            if (strcmp(k, "notifications") != 0) {
                char f[80];
                snprintf(f, sizeof f, "%.60s", k);
                return gw_api_error_set(err, GW_API_E_UNKNOWN_FIELD, f,
                                        "beside \"notifications\" the body holds nothing: each "
                                        "notification carries its own fields");
            }
        }
        if (!json_is_array(list))
            return gw_api_error_set(err, GW_API_E_INVALID_FIELD, "notifications",
                                    "must be an array of notification objects");
        n = json_array_size(list);
        if (n == 0)
            return gw_api_error_set(err, GW_API_E_INVALID_FIELD, "notifications",
                                    "must hold at least one notification");
        if (n > GW_PUSH_MAX_NOTIFICATIONS)
            return gw_api_error_set(err, GW_API_E_TOO_MANY_NOTIFICATIONS, "notifications",
                                    "%zu notifications; one request takes at most %d (put the "
                                    "tokens of one payload into one notification's \"tokens\")",
                                    n, GW_PUSH_MAX_NOTIFICATIONS);
    }
    out->items = calloc(n, sizeof(*out->items));
    if (out->items == NULL)
        return gw_api_error_set(err, GW_API_E_INTERNAL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        pctx c = {.cfg = cfg,
                  .key = key,
                  .err = err,
                  .scan = scan,
                  .idx = list != NULL ? i : GW__TOKENS_TOP,
                  .extra_tokens = &extra};
        json_t *o = list != NULL ? json_array_get(list, i) : root;
        if (!json_is_object(o)) {
            char f[48];
            snprintf(f, sizeof f, "notifications[%zu]", i);
            return gw_api_error_set(err, GW_API_E_INVALID_FIELD, f, "must be an object");
        }
        if (notification(&c, o, &out->items[i]) != 0)
            return -1;
        out->n = i + 1;
    }
    return 0;
}

/* A request of more tokens than [queue] max_depth can never be stored,
 * even into an empty queue: a permanent 413, not the 429 of a full queue.
 * (--check-config refuses max_tokens above max_depth; this holds whatever
 * the configuration.) */
static int fits_queue(const gw_push_request *r, uint64_t max_depth, gw_api_error *err)
{
    uint64_t n = 0;

    for (size_t i = 0; i < r->n; i++)
        n += r->items[i].n_tokens;
    if (max_depth == 0 || n <= max_depth)
        return 0;
    return gw_api_error_set(err, GW_API_E_TOO_MANY_TOKENS_FOR_QUEUE,
                            r->batch ? "notifications" : "tokens",
                            "%llu device tokens; the queue holds at most %llu ([queue] max_depth), "
                            "so this request can never be queued: split it",
                            (unsigned long long)n, (unsigned long long)max_depth);
}

int gw_push_parse(const char *body, size_t len, const gw_config *cfg, const char *api_key,
                  gw_push_request *out, gw_api_error *err)
{
    uint8_t digest[GW__API_DIGEST];

    if (api_key != NULL)
        gw__api_key_digest(api_key, strlen(api_key), digest);
    return gw__push_parse(body, len, cfg, api_key ? digest : NULL, out, err);
}

int gw__push_parse(const char *body, size_t len, const gw_config *cfg, const uint8_t *key,
                   gw_push_request *out, gw_api_error *err)
{
    gw__scan scan;
    json_error_t je;
    json_t *root;
    size_t off = 0;
    const char *why = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (body == NULL)
        len = 0;
    if (cfg == NULL)
        return gw_api_error_set(err, GW_API_E_INTERNAL, NULL, "no configuration");
    if (len == 0)
        return gw_api_error_set(err, GW_API_E_MALFORMED_JSON, NULL,
                                "the body is empty: send one notification object or "
                                "{\"notifications\":[...]}");
    if (!apns_json_check_object(body, len, &off, &why))
        return gw_api_error_set(err, GW_API_E_MALFORMED_JSON, NULL,
                                "the body is not one JSON object: %s at byte %zu",
                                why ? why : "invalid JSON", off);
    if (gw__scan_tokens(body, len, gw_api_server_config_of(cfg)->max_tokens, &scan, err) != 0)
        return -1;

    root = json_loadb(scan.copy ? scan.copy : body, scan.copy ? scan.copy_len : len,
                      JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        char path[96];
        size_t at = je.position > 0 ? (size_t)je.position - 1 : 0;
        enum json_error_code code = json_error_code(&je);
        if (scan.copy != NULL)
            at = gw__scan_orig_offset(&scan, at);
        gw__json_path_at(body, len, at, path, sizeof path);
        gw__scan_free(&scan);
        if (code == json_error_duplicate_key)
            return gw_api_error_set(err, GW_API_E_DUPLICATE_KEY, path,
                                    "this key appears twice in its object");
        if (code == json_error_null_character)
            return gw_api_error_set(err, GW_API_E_MALFORMED_JSON, path,
                                    "strings must not contain \\u0000");
        if (code == json_error_numeric_overflow)
            return gw_api_error_set(err, GW_API_E_MALFORMED_JSON, path,
                                    "number out of range (integers must fit in 64 bits)");
        return gw_api_error_set(err, GW_API_E_MALFORMED_JSON, path, "invalid JSON: %s", je.text);
    }
    rc = parse_root(root, cfg, key, &scan, out, err);
    json_decref(root);
    gw__scan_free(&scan);
    if (rc == 0)
        rc = fits_queue(out, gw_queue_config_of(cfg)->max_depth, err);
    if (rc != 0)
        gw_push_request_free(out);
    return rc;
}

void gw_push_request_free(gw_push_request *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        gw_token_list_cleanup(&r->items[i].job.tokens);
        free(r->items[i].payload_buf);
        free(r->items[i].strings);
    }
    free(r->items);
    memset(r, 0, sizeof(*r));
}
