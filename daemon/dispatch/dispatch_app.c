/*
 * dispatch_app.c - an app's runtime from its [app] section: credentials
 * through libapns (one signing key and token cache per team+key, shared;
 * certificates per app), the apns_client, and its end (retire, free).
 *
 * The client's options: environment, host, port, CA file, proxy,
 * connections, max_in_flight (its slots), connect and stream timeouts, and
 * retry.max_attempts = 1, because the dispatcher makes 429/5xx retries
 * durable itself (see the design note in dispatch.c).
 *
 * Channel publishes ride the same client (publish_host = push), or a
 * second one of the same options but publish_host, made at the app's first
 * channel publish (publish_host = broadcast: gw__d_client_for). It shares
 * the app's flights, rate limit and callbacks; it is drained with the app
 * (the app counts as drained once both are) and freed with it; a reload
 * that changes publish_host replaces the app, and with it both clients.
 */
#include "dispatch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "hash.h"
#include "rng.h"

/* ---- teams ----------------------------------------------------------------- */

static int streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The runtime team of a team identity's signing key (k: its same_key_as,
 * computed at load by dispatch_keys.c, which also makes sure every app of
 * it names the same key file and token_refresh). An earlier configuration's
 * team is reused when it holds the same key: the newest one (teams are kept
 * newest first, so a key re-read by a reload serves every app built after
 * it). */
void gw__d_team_free(gw_dteam *t)
{
    gw__d_fleet_stop(t); /* may hand the key to a request in progress */
    apns_token_cache_free(t->cache);
    apns_signing_key_free(t->key);
    free(t->label);
    free(t->team_id);
    free(t->key_id);
    free(t->key_file);
    free(t);
}

static int team_get(gw_dispatch *d, const gw_dispatch_team *k, const char *app, int fresh_key,
                    gw_dteam **out, char *detail, size_t detail_len)
{
    gw_dteam *t;
    char kd[256], label[32];
    int rc;

    /* fresh_key: the file changed, so only a key read by this very reload
     * (another app of the same key, replaced too) may be shared. */
    for (t = d->teams; t != NULL; t = t->next)
        if (streq(t->team_id, k->team_id) && streq(t->key_id, k->key_id) &&
            streq(t->key_file, k->key_file) && t->refresh_ms == k->token_refresh_ms &&
            (!fresh_key || t->gen == d->reload_gen)) {
            t->refs++;
            *out = t;
            return 0;
        }
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return APNS_ENOMEM;
    rc = apns_signing_key_load_file(&t->key, k->key_file, k->key_id, k->team_id, kd, sizeof(kd));
    if (rc != 0) {
        snprintf(detail, detail_len, "[app %s] key_file: %s", app, kd);
        free(t);
        return rc == APNS_ENOMEM ? rc : APNS_ECONFIG;
    }
    /* JetStream: the fleet's one token per team (dispatch_fleet.c). */
    if (gw_queue_has_token_store(d->o.q))
        rc = apns_token_cache_new_external(&t->cache);
    else
        rc = apns_token_cache_new(&t->cache, t->key, k->token_refresh_ms / 1000);
    snprintf(label, sizeof(label), "%s/%s", k->team_id, k->key_id);
    t->label = strdup(label);
    t->team_id = strdup(k->team_id);
    t->key_id = strdup(k->key_id);
    t->key_file = strdup(k->key_file);
    t->refresh_ms = k->token_refresh_ms;
    t->refs = 1;
    t->gen = d->reload_gen;
    if (rc != 0 || t->label == NULL || t->team_id == NULL || t->key_id == NULL ||
        t->key_file == NULL || (gw_queue_has_token_store(d->o.q) && gw__d_fleet_start(d, t) != 0)) {
        gw__d_team_free(t);
        return APNS_ENOMEM;
    }
    t->next = d->teams;
    d->teams = t;
    *out = t;
    return gw_metrics_register(d->o.m, GW_M_JWT_REFRESHES, t->label, NULL);
}

static void team_put(gw_dispatch *d, gw_dteam *t)
{
    if (t == NULL || --t->refs > 0)
        return;
    for (gw_dteam **pp = &d->teams; *pp != NULL; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    gw__d_team_free(t);
}

/* ---- the app --------------------------------------------------------------- */

/* libapns logs per event (a refused credential: once per notification);
 * the same line again within LOG_REPEAT_MS is counted, not written. */
#define LOG_REPEAT_MS 10000

/* The count of lines held back since the last one written, if any. */
static void log_repeats(gw_app *a)
{
    if (a->log_repeats > 0)
        gw_log((gw_log_level)a->log_level, "apns", "previous message repeated", "app", a->name,
               "times", GW_LOG_INT(a->log_repeats), NULL);
}

static void app_log(apns_log_level level, const char *msg, void *ud)
{
    gw_app *a = ud;
    uint64_t h = common_fnv1a_str(msg) ^ (uint64_t)level;
    int64_t now = gw__d_now();

    if (!gw_log_enabled((gw_log_level)level))
        return;
    if (h == a->log_last && now - a->log_at < LOG_REPEAT_MS) {
        a->log_repeats++;
        return;
    }
    log_repeats(a);
    a->log_last = h;
    a->log_at = now;
    a->log_level = (int)level;
    a->log_repeats = 0;
    gw_log((gw_log_level)level, "apns", msg, "app", a->name, NULL);
}

#if APNS_HAVE_LEGACY
static char *own(gw_app *a, int i, const char *s)
{
    if (s == NULL)
        return NULL;
    a->fb_own[i] = strdup(s);
    return a->fb_own[i];
}

/* The feedback service of a binary app: same certificate, CA file and proxy,
 * its own host. */
static void feedback_opts(gw_app *a, const gw_dispatch_app_config *ac,
                          const gw_dispatch_feedback_config *fc)
{
    apns_feedback_opts *o = &a->fb;

    apns_feedback_opts_init(o);
    a->fb_interval_ms = fc->feedback_interval_ms;
    o->env = (apns_environment)ac->environment;
    o->host = own(a, 0, fc->feedback_host != NULL ? fc->feedback_host : ac->host);
    o->port = fc->feedback_port;
    o->cert_file = own(a, 1, ac->cert_file);
    o->key_file = own(a, 2, ac->key_file);
    o->p12_file = own(a, 3, ac->p12_file);
    o->p12_password = own(a, 4, ac->p12_password);
    o->ca_file = own(a, 5, ac->ca_file);
    o->proxy = own(a, 6, ac->proxy); /* the app's proxy: gateway and feedback alike */
    o->connect_timeout_ms = ac->connect_timeout_ms;
}
#endif

/* The options of the app's clients (the push client, and the broadcast
 * client of channel publishes: the same but for publish_host). */
static void client_opts(gw_app *a, const gw_dispatch_app_config *ac, apns_client_opts *o)
{
    apns_client_opts co;

    apns_client_opts_init(&co);
    co.env = (apns_environment)ac->environment;
    co.host = ac->host;
    co.port = ac->port;
    if (a->fcm != NULL) { /* FCM HTTP v1: the account's access tokens */
        co.provider = APNS_PROVIDER_FCM;
        co.fcm_project_id = ac->fcm_project;
        co.host = ac->fcm_host;
        co.port = ac->fcm_port;
        co.tokens = a->fcm->cache;
    } else if (a->team != NULL) {
        co.tokens = a->team->cache;
    } else {
        co.cert_file = ac->cert_file;
        co.key_file = ac->key_file;
        co.p12_file = ac->p12_file;
        co.p12_password = ac->p12_password;
    }
    co.ca_file = ac->ca_file;
    co.proxy = ac->proxy;
    co.connections = ac->connections;
    co.max_pending = ac->max_in_flight;
    co.connect_timeout_ms = ac->connect_timeout_ms;
    co.stream_timeout_ms = ac->stream_timeout_ms;
    co.retry.max_attempts = 1; /* answered sends come back: retries are durable */
    co.retry.base_ms = ac->retry_backoff_ms;
    co.retry.max_ms = ac->retry_backoff_max_ms;
    co.transport = ac->transport == GW_DISPATCH_TRANSPORT_BINARY ? APNS_TRANSPORT_BINARY
                                                                 : APNS_TRANSPORT_HTTP2;
    co.on_result = gw__d_on_result;
    co.on_credit = gw__d_on_credit;
    co.on_log = app_log;
    co.ud = a;
    *o = co;
}

static char *pub_own(gw_app *a, int i, const char *s)
{
    if (s == NULL)
        return NULL;
    a->pub_own[i] = strdup(s);
    return a->pub_own[i];
}

static int client_new(gw_app *a, const gw_dispatch_app_config *ac, char *detail, size_t detail_len)
{
    apns_client_opts co;
    char cd[256] = "";
    int rc;

    client_opts(a, ac, &co);
    rc = apns_client_new(&a->client, a->d->o.base, &co, cd, sizeof(cd));
    if (rc != 0) {
        snprintf(detail, detail_len, "[app %s] %s", a->name, cd[0] ? cd : apns_strerror(rc));
        return rc == APNS_ENOMEM ? rc : APNS_ECONFIG;
    }
    if (ac->transport == GW_DISPATCH_TRANSPORT_BINARY ||
        ac->publish_host != APNS_PUBLISH_HOST_BROADCAST)
        return 0;
    /* publish_host = broadcast: the second client's options, kept (the app
     * outlives its config) for the first channel publish. */
    a->pub_separate = 1;
    a->pub_opts = co;
    a->pub_opts.publish_host = APNS_PUBLISH_HOST_BROADCAST;
    a->pub_opts.host = pub_own(a, 0, co.host);
    a->pub_opts.cert_file = pub_own(a, 1, co.cert_file);
    a->pub_opts.key_file = pub_own(a, 2, co.key_file);
    a->pub_opts.p12_file = pub_own(a, 3, co.p12_file);
    a->pub_opts.p12_password = pub_own(a, 4, co.p12_password);
    a->pub_opts.ca_file = pub_own(a, 5, co.ca_file);
    a->pub_opts.proxy = pub_own(a, 6, co.proxy);
    if ((co.host && !a->pub_opts.host) || (co.cert_file && !a->pub_opts.cert_file) ||
        (co.key_file && !a->pub_opts.key_file) || (co.p12_file && !a->pub_opts.p12_file) ||
        (co.p12_password && !a->pub_opts.p12_password) || (co.ca_file && !a->pub_opts.ca_file) ||
        (co.proxy && !a->pub_opts.proxy))
        return APNS_ENOMEM;
    return 0;
}

apns_client *gw__d_client_for(gw_app *a, const gw_chunk *c, char *detail, size_t detail_len)
{
    char cd[256] = "";
    int rc;

    if (c->channel == NULL || !a->pub_separate)
        return a->client;
    if (a->pub != NULL)
        return a->pub;
    rc = apns_client_new(&a->pub, a->d->o.base, &a->pub_opts, cd, sizeof(cd));
    if (rc != 0) {
        a->pub = NULL;
        snprintf(detail, detail_len, "[app %s] broadcast client (publish_host = broadcast): %s",
                 a->name, cd[0] ? cd : apns_strerror(rc));
        return NULL;
    }
    gw_log(GW_LOG_INFO, "dispatch",
           "broadcast client made for channel publishes (publish_host = broadcast)", "app", a->name,
           NULL);
    return a->pub;
}

/* The app's series at 0 from the start (docs/operations.md, Metrics): every
 * final outcome, every reason APNs rejects a token with, every dead-token
 * source the app can have. */
static int register_series(gw_app *a, const gw_dispatch_app_config *ac)
{
    static const gw_token_state outcomes[] = {GW_TOKEN_ACCEPTED, GW_TOKEN_REJECTED, GW_TOKEN_FAILED,
                                              GW_TOKEN_EXPIRED};
    static const gw_dead_source sources[] = {GW_DEAD_UNREGISTERED, GW_DEAD_BAD_DEVICE_TOKEN,
                                             GW_DEAD_NOT_FOR_TOPIC, GW_DEAD_FEEDBACK};
    gw_metrics *m = a->d->o.m;
    int rc = 0;

    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        rc |= gw_metrics_register(m, GW_M_NOTIFICATIONS, a->name, gw_token_state_name(outcomes[i]));
    int fcm = ac->provider == GW_DISPATCH_PROVIDER_FCM;
    for (int r = fcm ? APNS_REASON_FCM_FIRST : APNS_REASON_NONE + 1;
         r < (fcm ? APNS_REASON_UNKNOWN : APNS_REASON_FCM_FIRST); r++) {
        apns_action act = apns_action_for(apns_reason_status((apns_reason)r), (apns_reason)r);
        if (act == APNS_ACTION_DROP || act == APNS_ACTION_DEAD_TOKEN)
            rc |=
                gw_metrics_register(m, GW_M_REJECTIONS, a->name, apns_reason_name((apns_reason)r));
    }
    if (ac->transport != GW_DISPATCH_TRANSPORT_BINARY)
        for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
            rc |= gw_metrics_register(m, GW_M_CHANNEL_PUBLISHES, a->name,
                                      gw_token_state_name(outcomes[i]));
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        if (sources[i] != GW_DEAD_FEEDBACK || ac->transport == GW_DISPATCH_TRANSPORT_BINARY)
            rc |=
                gw_metrics_register(m, GW_M_DEAD_TOKENS, a->name, gw_dead_source_name(sources[i]));
    rc |= gw_metrics_register(m, GW_M_RETRIES, a->name, NULL);
    rc |= gw_metrics_register(m, GW_M_LATENCY, a->name, NULL);
    rc |= gw_metrics_register(m, GW_M_GOAWAYS, a->name, NULL);
    rc |= gw_metrics_register(m, GW_M_APP_PAUSED, a->name, NULL);
    rc |= gw_metrics_register(m, GW_M_IN_FLIGHT, a->name, NULL);
    rc |= gw_metrics_register(m, GW_M_CONNECTIONS, a->name, "up");
    rc |= gw_metrics_register(m, GW_M_CONNECTIONS, a->name, "connecting");
    rc |= gw_metrics_register(m, GW_M_APP_INFO, a->name, fcm ? "fcm" : "apns");
    gw_metrics_set(m, GW_M_APP_INFO, a->name, fcm ? "fcm" : "apns", 1);
    return rc != 0 ? APNS_ENOMEM : 0;
}

int gw__d_app_new(gw_dispatch *d, const gw_config *cfg, const gw_config_app *app, int fresh_key,
                  gw_app **out, char *detail, size_t detail_len)
{
    const gw_dispatch_app_config *ac = gw_dispatch_app_config_of(app);
    gw_app *a = calloc(1, sizeof(*a));
    size_t slots;
    int rc;

    *out = NULL;
    if (a == NULL)
        return APNS_ENOMEM;
    a->d = d;
    common_clist_init(&a->chunks);
    common_list_init(&a->ch_pending);
    a->name = strdup(app->name);
    a->topic = ac->topic != NULL ? strdup(ac->topic) : NULL;
    a->connections = ac->connections;
    a->rate_limit = ac->rate_limit;
    a->retry.max_attempts = (int)ac->retry_attempts;
    a->retry.base_ms = ac->retry_backoff_ms;
    a->retry.max_ms = ac->retry_backoff_max_ms;
    a->rng = common_rng_seed();
    a->bucket_ms = gw__d_now();
    slots = ac->max_in_flight > 0
                ? ac->max_in_flight
                : (ac->transport == GW_DISPATCH_TRANSPORT_BINARY ? 20000u : 1000u) *
                      (ac->connections > 0 ? ac->connections : 1);
    a->n_flights = slots;
    a->flights = calloc(a->n_flights, sizeof(*a->flights));
    a->feed_ev = event_new(d->o.base, -1, 0, gw__d_feed_cb, a);
    a->rate_ev = evtimer_new(d->o.base, gw__d_feed_cb, a);
    a->probe_ev = evtimer_new(d->o.base, gw__d_probe_cb, a);
    if (a->name == NULL || (ac->topic != NULL && a->topic == NULL) || a->flights == NULL ||
        a->feed_ev == NULL || a->rate_ev == NULL || a->probe_ev == NULL) {
        gw__d_app_free(a);
        return APNS_ENOMEM;
    }
    for (size_t i = a->n_flights; i-- > 0;) {
        a->flights[i].next = a->free_flights;
        a->free_flights = &a->flights[i];
    }
    if (ac->provider == GW_DISPATCH_PROVIDER_FCM) {
        rc = gw__d_fcm_get(d, cfg, app, fresh_key, &a->fcm, detail, detail_len);
        if (rc != 0) {
            gw__d_app_free(a);
            return rc;
        }
    } else if (ac->auth == GW_DISPATCH_AUTH_TOKEN) {
        rc = team_get(d, gw_dispatch_key_team_of(cfg, app), a->name, fresh_key, &a->team, detail,
                      detail_len);
        if (rc != 0) {
            gw__d_app_free(a);
            return rc;
        }
    }
    rc = client_new(a, ac, detail, detail_len);
    if (rc == 0)
        rc = gw__d_channel_init(a, ac);
    if (rc != 0) {
        gw__d_app_free(a);
        return rc;
    }
#if APNS_HAVE_LEGACY
    if (ac->transport == GW_DISPATCH_TRANSPORT_BINARY)
        feedback_opts(a, ac, gw_dispatch_feedback_config_of(app));
#endif
    if (register_series(a, ac) != 0) {
        gw__d_app_free(a);
        return APNS_ENOMEM;
    }
    *out = a;
    return 0;
}

void gw__d_app_update(gw_app *a, const gw_config_app *app)
{
    const gw_dispatch_app_config *ac = gw_dispatch_app_config_of(app);
    char *topic = ac->topic != NULL ? strdup(ac->topic) : NULL;

    if (ac->topic == NULL || topic != NULL) {
        free(a->topic);
        a->topic = topic;
    }
    if (a->rate_limit != ac->rate_limit) {
        a->rate_limit = ac->rate_limit;
        a->bucket = 0;
        a->bucket_ms = gw__d_now();
        gw__d_feed_soon(a);
    }
}

void gw__d_app_retire(gw_app *a)
{
    a->retiring = 1;
    evtimer_del(a->rate_ev);
    gw__d_feedback_stop(a);
    /* Its gauges go to 0 (a replacement of the same name sets them again). */
    gw_metrics_set(a->d->o.m, GW_M_APP_PAUSED, a->name, NULL, 0);
    gw_metrics_set(a->d->o.m, GW_M_CONNECTIONS, a->name, "up", 0);
    gw_metrics_set(a->d->o.m, GW_M_CONNECTIONS, a->name, "connecting", 0);
    gw_metrics_set(a->d->o.m, GW_M_IN_FLIGHT, a->name, NULL, 0);
    gw_timer_in(a->probe_ev, GW_D_RETIRE_MS); /* the retire deadline */
    gw__d_channel_retire(a);
    gw__d_app_check_chunks(a);
    apns_client_drain(a->client, gw__d_on_drained);
    if (a->pub != NULL)
        apns_client_drain(a->pub, gw__d_on_drained);
}

int gw__d_app_done(const gw_app *a)
{
    if (!a->drained && !a->retire_expired)
        return 0;
    for (gw_dchunk *dc = gw__d_chunk_next(a, NULL); dc != NULL; dc = gw__d_chunk_next(a, dc))
        if (dc->recording > 0)
            return 0; /* a record callback still refers to it */
    return a->retire_expired || (a->chunks.len == 0 && a->in_flight == 0);
}

void gw__d_app_free(gw_app *a)
{
    if (a == NULL)
        return;
    log_repeats(a);
    gw__d_feedback_stop(a);
    if (a->client != NULL)
        apns_client_free(a->client); /* no callbacks from here on */
    if (a->pub != NULL)
        apns_client_free(a->pub);
    for (size_t i = 0; i < sizeof(a->pub_own) / sizeof(a->pub_own[0]); i++)
        free(a->pub_own[i]);
    gw__d_channel_free(a);
    for (common_list *n; (n = common_clist_pop_front(&a->chunks)) != NULL;) {
        gw_dchunk *dc = COMMON_CONTAINER_OF(n, gw_dchunk, link);
        if (dc->c != NULL)
            gw__d_release_raw(a->d, dc->c, 0);
        free(dc);
    }
    team_put(a->d, a->team);
    gw__d_fcm_put(a->d, a->fcm);
    gw_events_free((struct event *[]){a->feed_ev, a->rate_ev, a->probe_ev}, 3);
    for (size_t i = 0; i < sizeof(a->fb_own) / sizeof(a->fb_own[0]); i++)
        free(a->fb_own[i]);
    free(a->flights);
    free(a->name);
    free(a->topic);
    free(a);
}

/* Every GW_D_STATS_MS: the apps' gauges and GOAWAYs, the teams' JWT refreshes. */
void gw__d_stats_cb(int fd, short what, void *ud)
{
    gw_dispatch *d = ud;

    for (gw_app *a = d->apps; a != NULL; a = a->next) {
        apns_client_stats s;
        apns_client_stats_get(a->client, &s);
        gw_metrics_set(d->o.m, GW_M_CONNECTIONS, a->name, "up", (double)s.connections_up);
        gw_metrics_set(
            d->o.m, GW_M_CONNECTIONS, a->name, "connecting",
            s.connections_up >= a->connections ? 0.0 : (double)(a->connections - s.connections_up));
        gw_metrics_set(d->o.m, GW_M_IN_FLIGHT, a->name, NULL, (double)a->in_flight);
        if (s.goaways > a->goaways_seen)
            gw_metrics_add(d->o.m, GW_M_GOAWAYS, a->name, NULL, s.goaways - a->goaways_seen);
        a->goaways_seen = s.goaways;
        if (a->pub != NULL) { /* the broadcast client's GOAWAYs count too */
            apns_client_stats_get(a->pub, &s);
            if (s.goaways > a->pub_goaways_seen)
                gw_metrics_add(d->o.m, GW_M_GOAWAYS, a->name, NULL,
                               s.goaways - a->pub_goaways_seen);
            a->pub_goaways_seen = s.goaways;
        }
    }
    gw__d_fcm_stats(d);
    for (gw_dteam *t = d->teams; t != NULL; t = t->next) {
        uint64_t r = apns_token_cache_refreshes(t->cache);
        if (r > t->refreshes_seen)
            gw_metrics_add(d->o.m, GW_M_JWT_REFRESHES, t->label, NULL, r - t->refreshes_seen);
        t->refreshes_seen = r;
    }
}
