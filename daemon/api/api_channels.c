/*
 * api_channels.c - Live Activity broadcast channels (iOS 18) as a resource:
 *
 *   POST   /v1/apps/{app}/channels        {"storage_policy":0|1,"label":"..."} -> 201 record
 *   GET    /v1/apps/{app}/channels        apnsd's records of the app's channels
 *   GET    /v1/apps/{app}/channels/{id}   one record (404 when none)
 *   DELETE /v1/apps/{app}/channels/{id}   delete at APNs, then the record -> 204
 *   POST   /v1/apps/{app}/channels:sync   records := APNs' list (all-channels) -> 200
 *
 * Design note
 * -----------
 * APNs is the truth about channels; apnsd keeps its own durable record of
 * each one (queue.h, gw_queue_channel_*: both backends, so a fleet shares
 * them) with what APNs does not keep: the caller's label and when it was
 * made. A create therefore takes three steps, each a callback: count the
 * records (Apple's bound of 10,000 per app and environment, [app]
 * max_channels, is checked before APNs is asked), create at APNs through
 * the dispatcher's channel-management client, store the record (fsync'd)
 * and only then answer 201. If the record cannot be stored (the bound was
 * reached meanwhile by another node, storage failing), the channel is
 * deleted at APNs again (best effort) and the error answered. A delete
 * goes the other way: APNs first (ChannelNotRegistered counts as gone),
 * then the record. A sync lists APNs' channels and makes the records match.
 *
 * Channel ids are base64 ('+', '/', '='): in a path they are
 * percent-encoded (%2B, %2F, %3D); apnsd decodes them.
 *
 * APNs' answers: CannotCreateChannelConfig is 409 channel_limit (the same
 * code as apnsd's own bound), ChannelNotRegistered on a read is 404, any
 * other refusal 502 apns_rejected naming APNs' status and reason, no usable
 * answer (connection, retries spent) 503 apns_unavailable.
 */
#include "api_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

typedef struct gw__chan {
    int policy;
    char label[GW_CHANNEL_LABEL_MAX + 1];
    char env[GW_CHANNEL_ENV_MAX + 1];
    uint32_t max;
    char id[APNS_CHANNEL_ID_MAX + 1];
    int apple_gone;     /* delete: APNs said ChannelNotRegistered */
    int64_t created_ms; /* create: the record's time */
    size_t n_apple;     /* sync: channels APNs listed */
} gw__chan;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *env_name(int env)
{
    return env == APNS_ENV_PRODUCTION ? "production"
           : env == APNS_ENV_SANDBOX  ? "sandbox"
                                      : "custom";
}

const char *gw__api_channel_env(const gw_config_app *app)
{
    return env_name(gw_dispatch_app_config_of(app)->environment);
}

/* The app of the path and a fresh state for r; NULL after answering. */
static gw__chan *begin(gw_api_req *r)
{
    const gw_config_app *app = gw__api_path_app(r);
    const gw_dispatch_app_config *ac;

    if (app == NULL)
        return NULL;
    ac = gw_dispatch_app_config_of(app);
    r->chan = calloc(1, sizeof(*r->chan));
    if (r->chan == NULL) {
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    snprintf(r->chan->env, sizeof r->chan->env, "%s", env_name(ac->environment));
    r->chan->max = ac->max_channels;
    return r->chan;
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10);
}

/* The {id} of the path, percent-decoded, into c->id; -1 after answering. */
static int path_id(gw_api_req *r, gw__chan *c)
{
    const char *s = r->arg[1];
    size_t o = 0;

    for (size_t i = 0; s[i] != '\0'; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%' && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            ch = hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]);
            i += 2;
        }
        if (o + 1 >= sizeof c->id)
            break;
        c->id[o++] = (char)ch;
    }
    c->id[o] = '\0';
    if (!gw_channel_id_ok(c->id)) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_FIELD, "id",
                             "not a channel id (APNs' base64 id, percent-encoded in the path: "
                             "%%2B for '+', %%2F for '/', %%3D for '=')");
        return -1;
    }
    return 0;
}

static json_t *record_json(const char *app, const char *env, const gw_channel *v)
{
    return json_pack("{s:s, s:o, s:o, s:I, s:s, s:s}", "id", v->id, "storage_policy",
                     v->storage_policy >= 0 ? json_integer(v->storage_policy) : json_null(),
                     "label", v->label[0] ? json_string(v->label) : json_null(), "created_ms",
                     (json_int_t)v->created_ms, "app", app, "environment", env);
}

/* APNs' answer to a channel operation as an error reply (not accepted). */
static void reply_apns(gw_api_req *r, const apns_channel_result *res, const char *what)
{
    if (res->outcome == APNS_OUTCOME_REJECTED &&
        res->reason == APNS_REASON_CANNOT_CREATE_CHANNEL_CONFIG)
        gw__api_reply_errorf(r, GW_API_E_CHANNEL_LIMIT, NULL,
                             "APNs answered %d CannotCreateChannelConfig to %s for app \"%s\": "
                             "the app holds the most channels APNs allows in this environment "
                             "(10,000): delete some (POST /v1/apps/%s/channels:sync lists them)",
                             res->status, what, r->arg[0], r->arg[0]);
    else if (res->outcome == APNS_OUTCOME_REJECTED)
        gw__api_reply_errorf(r, GW_API_E_APNS_REJECTED, NULL, "APNs answered %d %s to %s",
                             res->status, res->reason_str[0] ? res->reason_str : "(no reason)",
                             what);
    else
        gw__api_reply_errorf(r, GW_API_E_APNS_UNAVAILABLE, NULL,
                             "no answer from APNs' channel-management service to %s: %s", what,
                             apns_strerror(res->error));
}

/* gw_dispatch_channel's refusal as a reply. */
static void reply_dispatch(gw_api_req *r, int rc, const char *detail)
{
    if (rc == APNS_ECONFIG)
        gw__api_reply_errorf(r, GW_API_E_CHANNELS_UNAVAILABLE, "app", "%s", detail);
    else if (rc == APNS_EAGAIN)
        gw__api_reply_errorf(r, GW_API_E_BUSY, NULL,
                             "too many channel operations in progress for app \"%s\"; retry",
                             r->arg[0]);
    else if (rc == APNS_ESHUTDOWN)
        gw__api_reply_errorf(r, GW_API_E_DRAINING, NULL, "%s", detail);
    else if (rc == APNS_ENOMEM)
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
    else
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "app", "%s", detail);
}

/* Posts a dispatcher operation for r; on refusal answers. */
static void post_channel(gw_api_req *r, apns_channel_op op, int policy, const char *id,
                         gw_dispatch_channel_cb cb)
{
    char detail[256] = "";
    int rc;

    if (r->api->d == NULL) {
        gw__api_reply_errorf(r, GW_API_E_CHANNELS_UNAVAILABLE, NULL,
                             "this gateway sends nothing to APNs (no dispatcher)");
        return;
    }
    rc = gw_dispatch_channel(r->api->d, r->arg[0], op, (apns_storage_policy)policy, id, cb, r,
                             detail, sizeof detail);
    if (rc == 0)
        r->pending++;
    else
        reply_dispatch(r, rc, detail);
}

/* ---- POST /v1/apps/{app}/channels ---------------------------------------- */

static void ignore_delete(const apns_channel_result *res, void *ud)
{
    (void)res;
    (void)ud;
}

static void on_create_stored(int err, const char *detail, void *ud)
{
    gw_api_req *r = ud;
    gw__chan *c = r->chan;
    gw_channel v;
    char d[8];

    if (!gw__api_req_resume(r))
        return;
    if (err != 0 && r->api->d != NULL) /* no record, no channel: undo at APNs */
        (void)gw_dispatch_channel(r->api->d, r->arg[0], APNS_CHANNEL_DELETE, 0, c->id,
                                  ignore_delete, NULL, d, sizeof d);
    if (err == GW_QUEUE_ELIMIT) {
        gw__api_reply_errorf(r, GW_API_E_CHANNEL_LIMIT, NULL,
                             "CannotCreateChannelConfig: %s ([app %s] max_channels; Apple allows "
                             "10,000 per app and environment)",
                             detail, r->arg[0]);
        return;
    }
    if (err != 0) {
        gw__api_reply_queue_error(r, err, detail, "storing the channel record");
        return;
    }
    memset(&v, 0, sizeof v);
    snprintf(v.id, sizeof v.id, "%s", c->id);
    v.storage_policy = c->policy;
    snprintf(v.label, sizeof v.label, "%s", c->label);
    v.created_ms = c->created_ms;
    gw__api_reply_json(r, 201, record_json(r->arg[0], c->env, &v));
}

static void on_created(const apns_channel_result *res, void *ud)
{
    gw_api_req *r = ud;
    gw__chan *c = r->chan;
    gw_channel v;
    int rc;

    /* A client that left gets no record made for it: the channel exists at
     * APNs only, and the next sync records it. */
    if (!gw__api_req_resume(r))
        return;
    if (res->outcome != APNS_OUTCOME_ACCEPTED) {
        reply_apns(r, res, "the channel create");
        return;
    }
    c->created_ms = now_ms();
    memset(&v, 0, sizeof v);
    v.created_ms = c->created_ms;
    snprintf(v.id, sizeof v.id, "%s", res->channel_id ? res->channel_id : "");
    snprintf(c->id, sizeof c->id, "%s", v.id);
    v.storage_policy = c->policy;
    snprintf(v.label, sizeof v.label, "%s", c->label);
    rc = gw_queue_channel_put(r->api->q, r->arg[0], c->env, &v, c->max, on_create_stored, r);
    gw__api_posted(r, rc, "storing the channel record");
}

static void on_create_count(int err, const char *detail, const gw_channel *v, size_t n, void *ud)
{
    gw_api_req *r = ud;
    gw__chan *c = r->chan;

    (void)v;
    if (!gw__api_req_resume(r))
        return;
    if (err != 0) {
        gw__api_reply_queue_error(r, err, detail, "counting the channel records");
        return;
    }
    if (n >= c->max) {
        gw__api_reply_errorf(r, GW_API_E_CHANNEL_LIMIT, NULL,
                             "CannotCreateChannelConfig: app \"%s\" (%s) already holds %zu "
                             "channels, the most allowed ([app %s] max_channels %u; Apple allows "
                             "10,000 per app and environment): delete one first",
                             r->arg[0], c->env, n, r->arg[0], c->max);
        return;
    }
    post_channel(r, APNS_CHANNEL_CREATE, c->policy, NULL, on_created);
}

void gw__api_h_channel_create(gw_api_req *r)
{
    struct evbuffer *in = r->body;
    size_t len = in != NULL ? evbuffer_get_length(in) : 0;
    json_t *root, *pol, *label;
    json_error_t je;
    const char *k;
    json_t *v;
    gw__chan *c;

    if (r->api->draining) {
        gw__api_reply_errorf(r, GW_API_E_DRAINING, NULL, "the gateway is shutting down");
        return;
    }
    if ((c = begin(r)) == NULL)
        return;
    root = json_loadb(len > 0 ? (const char *)evbuffer_pullup(in, -1) : "{}", len > 0 ? len : 2,
                      JSON_REJECT_DUPLICATES, &je);
    if (root == NULL || !json_is_object(root)) {
        gw__api_reply_errorf(r, GW_API_E_MALFORMED_JSON, NULL,
                             "the body is not one JSON object: %s",
                             root == NULL ? je.text : "not an object");
        json_decref(root);
        return;
    }
    json_object_foreach(root, k, v)
    {
        if (strcmp(k, "storage_policy") != 0 && strcmp(k, "label") != 0) {
            char f[64];
            snprintf(f, sizeof f, "%.60s", k);
            gw__api_reply_errorf(r, GW_API_E_UNKNOWN_FIELD, f,
                                 "unknown key (storage_policy, label)");
            json_decref(root);
            return;
        }
    }
    pol = json_object_get(root, "storage_policy");
    label = json_object_get(root, "label");
    if (pol == NULL || !json_is_integer(pol) ||
        (json_integer_value(pol) != 0 && json_integer_value(pol) != 1)) {
        gw__api_reply_errorf(r, pol == NULL ? GW_API_E_MISSING_FIELD : GW_API_E_INVALID_FIELD,
                             "storage_policy",
                             "required: 0 (No Message Stored: publish with expiration 0) or 1 "
                             "(Most Recent Message Stored, up to 8 hours)");
        json_decref(root);
        return;
    }
    if (label != NULL && !json_is_null(label) &&
        (!json_is_string(label) || json_string_length(label) > GW_CHANNEL_LABEL_MAX)) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_FIELD, "label",
                             "must be a string of at most %d bytes", GW_CHANNEL_LABEL_MAX);
        json_decref(root);
        return;
    }
    c->policy = (int)json_integer_value(pol);
    if (json_is_string(label))
        snprintf(c->label, sizeof c->label, "%s", json_string_value(label));
    json_decref(root);
    gw__api_posted(r, gw_queue_channel_list(r->api->q, r->arg[0], c->env, on_create_count, r),
                   "counting the channel records");
}

/* ---- GET ------------------------------------------------------------------- */

static void on_list(int err, const char *detail, const gw_channel *v, size_t n, void *ud)
{
    gw_api_req *r = ud;
    json_t *list;

    if (!gw__api_req_resume(r))
        return;
    if (err != 0) {
        gw__api_reply_queue_error(r, err, detail, "reading the channel records");
        return;
    }
    list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, record_json(r->arg[0], r->chan->env, &v[i]));
    gw__api_reply_json(r, 200,
                       json_pack("{s:o, s:I, s:I}", "channels", list, "count", (json_int_t)n, "max",
                                 (json_int_t)r->chan->max));
}

void gw__api_h_channel_list(gw_api_req *r)
{
    gw__chan *c = begin(r);

    if (c != NULL)
        gw__api_posted(r, gw_queue_channel_list(r->api->q, r->arg[0], c->env, on_list, r),
                       "reading the channel records");
}

static void on_get(int err, const char *detail, const gw_channel *v, size_t n, void *ud)
{
    gw_api_req *r = ud;

    if (!gw__api_req_resume(r))
        return;
    if (err == GW_QUEUE_ENOTFOUND || (err == 0 && n == 0))
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "id",
                             "app \"%s\" has no record of channel %s (POST "
                             "/v1/apps/%s/channels:sync records the channels APNs holds)",
                             r->arg[0], r->chan->id, r->arg[0]);
    else if (err != 0)
        gw__api_reply_queue_error(r, err, detail, "reading the channel record");
    else
        gw__api_reply_json(r, 200, record_json(r->arg[0], r->chan->env, &v[0]));
}

void gw__api_h_channel_get(gw_api_req *r)
{
    gw__chan *c = begin(r);

    if (c != NULL && path_id(r, c) == 0)
        gw__api_posted(r, gw_queue_channel_get(r->api->q, r->arg[0], c->env, c->id, on_get, r),
                       "reading the channel record");
}

/* ---- DELETE ------------------------------------------------------------------ */

static void on_record_deleted(int err, const char *detail, uint64_t count, void *ud)
{
    gw_api_req *r = ud;

    if (!gw__api_req_resume(r))
        return;
    if (err != 0)
        gw__api_reply_queue_error(r, err, detail, "deleting the channel record");
    else if (count == 0 && r->chan->apple_gone)
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "id",
                             "APNs has no channel %s of app \"%s\" and apnsd no record of it",
                             r->chan->id, r->arg[0]);
    else
        gw__api_reply_json(r, 204, NULL);
}

static void on_deleted(const apns_channel_result *res, void *ud)
{
    gw_api_req *r = ud;
    int gone =
        res->outcome == APNS_OUTCOME_REJECTED && res->reason == APNS_REASON_CHANNEL_NOT_REGISTERED;
    int rc;

    if (!gw__api_req_resume(r))
        return;
    if (res->outcome != APNS_OUTCOME_ACCEPTED && !gone) {
        reply_apns(r, res, "the channel delete");
        return;
    }
    r->chan->apple_gone = gone;
    rc = gw_queue_channel_delete(r->api->q, r->arg[0], r->chan->env, r->chan->id, on_record_deleted,
                                 r);
    gw__api_posted(r, rc, "deleting the channel record");
}

void gw__api_h_channel_delete(gw_api_req *r)
{
    gw__chan *c = begin(r);

    if (c != NULL && path_id(r, c) == 0)
        post_channel(r, APNS_CHANNEL_DELETE, 0, c->id, on_deleted);
}

/* ---- POST /v1/apps/{app}/channels:sync ------------------------------------- */

static void on_synced(int err, const char *detail, uint64_t added, uint64_t removed, void *ud)
{
    gw_api_req *r = ud;

    if (!gw__api_req_resume(r))
        return;
    if (err != 0) {
        gw__api_reply_queue_error(r, err, detail, "updating the channel records");
        return;
    }
    gw__api_reply_json(r, 200,
                       json_pack("{s:I, s:I, s:I}", "added", (json_int_t)added, "removed",
                                 (json_int_t)removed, "channels", (json_int_t)r->chan->n_apple));
}

static void on_apple_list(const apns_channel_result *res, void *ud)
{
    gw_api_req *r = ud;
    gw__chan *c = r->chan;
    int rc;

    if (!gw__api_req_resume(r))
        return;
    if (res->outcome != APNS_OUTCOME_ACCEPTED) {
        reply_apns(r, res, "the channel list");
        return;
    }
    if (res->nchannels > c->max) {
        gw__api_reply_errorf(r, GW_API_E_CHANNEL_LIMIT, NULL,
                             "APNs lists %zu channels of app \"%s\", more than [app %s] "
                             "max_channels (%u): raise it (at most 10,000) to record them",
                             res->nchannels, r->arg[0], r->arg[0], c->max);
        return;
    }
    for (size_t i = 0; i < res->nchannels; i++)
        if (!gw_channel_id_ok(res->channels[i])) {
            gw__api_reply_errorf(r, GW_API_E_APNS_REJECTED, NULL,
                                 "APNs listed a channel id apnsd cannot record (%zu bytes)",
                                 strlen(res->channels[i]));
            return;
        }
    c->n_apple = res->nchannels;
    rc = gw_queue_channel_sync(r->api->q, r->arg[0], c->env, res->channels, res->nchannels, c->max,
                               on_synced, r);
    gw__api_posted(r, rc, "updating the channel records");
}

void gw__api_h_channel_sync(gw_api_req *r)
{
    gw__chan *c = begin(r);

    if (c != NULL)
        post_channel(r, APNS_CHANNEL_LIST, 0, NULL, on_apple_list);
}
