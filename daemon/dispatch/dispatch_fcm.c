/*
 * dispatch_fcm.c - an FCM service account's runtime: the key file (loaded
 * through libapns), one external apns_token_cache that every client of the
 * account presents, and the apns_fcm_auth that keeps it filled.
 *
 * Design note. FCM takes an OAuth access token (valid about an hour) per
 * service account, fetched from Google's token endpoint. Fetching one per
 * app, or per connection, would multiply the round trips and the chances
 * of hitting the endpoint's quota, so the apps of one account (one key file
 * and one token endpoint, grouped at load by dispatch_keys.c) share one
 * gw_dfcm: one apns_fcm_auth refreshes before expiry (exactly one request
 * per refresh window) and after a 401 "expired" that a client reports on
 * the cache. Until the first token is in the cache the account's apps lease
 * nothing (gw__d_app_hungry), so no chunk waits on a process that cannot
 * send it; a token that cannot be had is retried by the auth with backoff
 * and logged here. A reload that re-reads the key file (its contents
 * changed) makes a new runtime; the old one lives while a retiring app
 * still uses it.
 *
 * A fleet (backend = jetstream): every node would otherwise fetch its own
 * token. The account's token then comes from the queue's shared token store
 * instead (as dispatch_fleet.c does for APNs provider tokens): a node that
 * finds no fresh token fetches one with apns_fcm_token_fetch() (in the
 * store's mint, on the queue's thread, over a private event loop: one round
 * trip per refresh window for the whole fleet) and stores it under a
 * compare-and-set; every node puts the stored token into its cache. It is
 * asked again at FLEET_REFRESH_MS of age (Google's tokens live an hour) or
 * after a 401 for an expired token.
 */
#include "dispatch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backoff.h"
#include "hash.h"
#include "rng.h"

#define FLEET_REFRESH_MS  (50 * 60 * 1000) /* a token's age when the fleet replaces it */
#define FLEET_JITTER_MS   5000
#define FLEET_RETRY_MS    1000
#define FLEET_RETRY_MAX   30000
#define FLEET_MIN_NEXT_MS 1000
#define FLEET_FETCH_MS    30000 /* the token request's deadline */

/* A fleet request in progress: what the mint needs, copied (the runtime may
 * go first: f is NULL then). */
typedef struct gw_dfcm_fetch {
    gw_dfcm *f;
    char *key_file, *token_url, *ca_file, *proxy;
    int minted;
} gw_dfcm_fetch;

static int streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void fetch_free(gw_dfcm_fetch *x)
{
    free(x->key_file);
    free(x->token_url);
    free(x->ca_file);
    free(x->proxy);
    free(x);
}

void gw__d_fcm_free(gw_dfcm *f)
{
    if (f == NULL)
        return;
    if (f->fleet) {
        apns_token_cache_set_expired_cb(f->cache, NULL, NULL);
        gw_events_free(&f->fleet_ev, 1);
        gw_events_free(&f->fleet_stale_ev, 1);
        if (f->fleet_fetch != NULL)
            f->fleet_fetch->f = NULL; /* its callback frees it */
    }
    apns_fcm_auth_free(f->auth); /* before the cache and the account it borrows */
    apns_token_cache_free(f->cache);
    apns_fcm_account_free(f->account);
    free(f->label);
    free(f->key_file);
    free(f->token_url);
    free(f->ca_file);
    free(f->proxy);
    free(f);
}

static void on_state(const apns_fcm_auth_event *ev, void *ud)
{
    gw_dfcm *f = ud;
    char secs[32];

    switch (ev->state) {
    case APNS_FCM_AUTH_READY:
        snprintf(secs, sizeof secs, "%llds", (long long)(ev->refresh_in_ms / 1000));
        gw_log(GW_LOG_INFO, "dispatch", "FCM access token ready", "account", f->label, "detail",
               ev->detail, "next_refresh_in", secs, NULL);
        if (!f->ready) {
            f->ready = 1;
            for (gw_app *a = f->d->apps; a != NULL; a = a->next)
                if (a->fcm == f)
                    gw__d_feed_soon(a);
            gw_dispatch_kick(f->d);
        }
        break;
    case APNS_FCM_AUTH_RETRYING:
        snprintf(secs, sizeof secs, "%llds", (long long)(ev->retry_in_ms / 1000));
        gw_log(f->ready ? GW_LOG_WARN : GW_LOG_ERROR, "dispatch",
               f->ready ? "cannot refresh the FCM access token: keeping the current one"
                        : "cannot get an FCM access token: the account's apps wait",
               "account", f->label, "error", apns_err_name(ev->err), "detail", ev->detail,
               "retry_in", secs, NULL);
        break;
    default:
        break;
    }
}

/* The token endpoint's connection lines, named by account. */
static void auth_log(apns_log_level level, const char *msg, void *ud)
{
    const gw_dfcm *f = ud;
    if (gw_log_enabled((gw_log_level)level))
        gw_log((gw_log_level)level, "fcm_auth", msg, "account", f->label, NULL);
}

/* ---- the fleet's token ------------------------------------------------------ */

typedef struct sync_fetch {
    int done, err;
    char *out;
    size_t out_len;
    int len;
    char detail[256];
} sync_fetch;

static void sync_cb(const apns_fcm_token_result *r, void *ud)
{
    sync_fetch *s = ud;
    s->done = 1;
    s->err = r->err;
    snprintf(s->detail, sizeof s->detail, "%s", r->detail ? r->detail : "");
    if (r->err == 0) {
        size_t n = strlen(r->access_token);
        if (n + 1 > s->out_len) {
            s->err = APNS_EINVAL;
            return;
        }
        memcpy(s->out, r->access_token, n + 1);
        s->len = (int)n;
    }
}

/* The store's mint (the queue's thread): one token request, waited for on a
 * private loop. Returns 0 (the token in jwt) or an error code. */
static int fleet_mint(void *ud, char *jwt, size_t jwt_len)
{
    gw_dfcm_fetch *x = ud;
    apns_fcm_account *acct = NULL;
    apns_fcm_conn_opts co;
    apns_fcm_fetch *ft = NULL;
    sync_fetch s = {.out = jwt, .out_len = jwt_len};
    char detail[300], host[256];
    struct event_base *base;
    int rc;

    if ((rc = apns_fcm_account_load_file(&acct, x->key_file, detail, sizeof detail)) != 0)
        return rc;
    if ((base = event_base_new()) == NULL) {
        apns_fcm_account_free(acct);
        return APNS_ENOMEM;
    }
    memset(&co, 0, sizeof co);
    co.token_url = x->token_url;
    co.ca_file = x->ca_file;
    co.request_timeout_ms = FLEET_FETCH_MS;
    if (x->proxy != NULL &&
        gw_config_split_hostport(x->proxy, host, sizeof host, &co.proxy_port) == 0)
        co.proxy_host = host;
    rc = apns_fcm_token_fetch(&ft, base, acct, &co, sync_cb, &s, detail, sizeof detail);
    while (rc == 0 && !s.done)
        event_base_loop(base, EVLOOP_ONCE);
    event_base_free(base);
    apns_fcm_account_free(acct);
    if (rc != 0)
        return rc;
    if (s.err == 0)
        x->minted = 1;
    return s.err; /* 0: the token is in jwt */
}

static void fleet_fetch(gw_dfcm *f, const char *stale);

static void fleet_on_token(int err, const char *detail, const char *jwt, int64_t issued_ms,
                           int minted, void *ud)
{
    gw_dfcm_fetch *x = ud;
    gw_dfcm *f = x->f;
    int64_t now = gw__d_now(), next;

    if (f != NULL && x->minted) { /* this node asked Google (counted at once) */
        f->fleet_mints++;
        gw_metrics_add(f->d->o.m, GW_M_FCM_TOKENS, f->label, NULL, 1);
    }
    fetch_free(x);
    if (f == NULL)
        return; /* the runtime went first */
    f->fleet_fetch = NULL;
    if (err != 0) {
        if (err == GW_QUEUE_ECLOSED)
            return;
        gw_log(f->fleet_fails == 0 ? GW_LOG_WARN : GW_LOG_DEBUG, "dispatch",
               f->fleet_issued_ms ? "cannot refresh the fleet's FCM access token: keeping the "
                                    "current one"
                                  : "cannot get the fleet's FCM access token: the account's apps "
                                    "wait",
               "account", f->label, "error", gw_queue_err_name(err), "detail", detail, NULL);
        gw_timer_in(f->fleet_ev, common_backoff_ms(FLEET_RETRY_MS, FLEET_RETRY_MAX,
                                                   ++f->fleet_fails, &f->fleet_rng));
        return;
    }
    f->fleet_fails = 0;
    if (apns_token_cache_put(f->cache, jwt, issued_ms / 1000) != 0) {
        gw_log(GW_LOG_ERROR, "dispatch", "the fleet's FCM access token is unusable (too long)",
               "account", f->label, NULL);
        gw_timer_in(f->fleet_ev, FLEET_RETRY_MAX);
        return;
    }
    if (issued_ms != f->fleet_issued_ms)
        gw_log(GW_LOG_INFO, "dispatch",
               minted ? "FCM access token fetched for the fleet"
                      : "FCM access token from the fleet",
               "account", f->label, "age_s", GW_LOG_INT((now - issued_ms) / 1000), NULL);
    f->fleet_issued_ms = issued_ms;
    next = issued_ms + FLEET_REFRESH_MS + (int64_t)common_rng_below(&f->fleet_rng, FLEET_JITTER_MS);
    gw_timer_in(f->fleet_ev, next - now < FLEET_MIN_NEXT_MS ? FLEET_MIN_NEXT_MS : next - now);
    if (!f->ready) {
        f->ready = 1;
        for (gw_app *a = f->d->apps; a != NULL; a = a->next)
            if (a->fcm == f)
                gw__d_feed_soon(a);
        gw_dispatch_kick(f->d);
    }
}

static char *dup0(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void fleet_fetch(gw_dfcm *f, const char *stale)
{
    gw_dfcm_fetch *x;
    int rc;

    if (f->fleet_fetch != NULL)
        return;
    x = calloc(1, sizeof *x);
    if (x == NULL || (x->key_file = strdup(f->key_file)) == NULL ||
        (f->token_url && (x->token_url = strdup(f->token_url)) == NULL) ||
        (f->ca_file && (x->ca_file = dup0(f->ca_file)) == NULL) ||
        (f->proxy && (x->proxy = dup0(f->proxy)) == NULL)) {
        if (x != NULL)
            fetch_free(x);
        gw_timer_in(f->fleet_ev, FLEET_RETRY_MS);
        return;
    }
    x->f = f;
    rc = gw_queue_token_get(f->d->o.q, "fcm", f->fleet_key, FLEET_REFRESH_MS, stale, fleet_mint, x,
                            fleet_on_token, x);
    if (rc != 0) {
        fetch_free(x);
        if (f->fleet_fails++ == 0)
            gw_log(GW_LOG_WARN, "dispatch", "cannot ask for the fleet's FCM access token",
                   "account", f->label, "error", gw_queue_err_name(rc), NULL);
        gw_timer_in(f->fleet_ev, FLEET_RETRY_MS);
        return;
    }
    f->fleet_fetch = x;
}

static void fleet_cb(int fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    fleet_fetch(ud, NULL);
}

/* A 401 for an expired access token: the cache calls this with its lock
 * held, so it only schedules fleet_stale_cb (which reads the cache). */
static void fleet_expired(apns_token_cache *c, uint64_t generation, void *ud)
{
    gw_dfcm *f = ud;
    (void)c;
    (void)generation;
    event_active(f->fleet_stale_ev, EV_TIMEOUT, 0);
}

static void fleet_stale_cb(int fd, short what, void *ud)
{
    gw_dfcm *f = ud;
    apns_token tok;

    (void)fd;
    (void)what;
    memset(&tok, 0, sizeof tok);
    if (apns_token_cache_get(f->cache, gw__d_now() / 1000, &tok) != 0)
        return;
    gw_log(GW_LOG_INFO, "dispatch", "FCM access token refused as expired: replacing the fleet's",
           "account", f->label, NULL);
    fleet_fetch(f, tok.jwt);
}

static int fleet_start(gw_dispatch *d, gw_dfcm *f)
{
    uint64_t h = common_fnv1a_str(f->label);
    f->fleet = 1;
    f->fleet_rng = common_rng_seed();
    snprintf(f->fleet_key, sizeof f->fleet_key, "a%016llx", (unsigned long long)h);
    f->fleet_ev = evtimer_new(d->o.base, fleet_cb, f);
    f->fleet_stale_ev = event_new(d->o.base, -1, 0, fleet_stale_cb, f);
    if (f->fleet_ev == NULL || f->fleet_stale_ev == NULL)
        return APNS_ENOMEM;
    apns_token_cache_set_expired_cb(f->cache, fleet_expired, f);
    fleet_fetch(f, NULL);
    return 0;
}

int gw__d_fcm_get(gw_dispatch *d, const gw_config *cfg, const gw_config_app *app, int fresh,
                  gw_dfcm **out, char *detail, size_t detail_len)
{
    const gw_dispatch_account *ac = gw_dispatch_account_of(cfg, app);
    apns_fcm_auth_opts o;
    char ad[300] = "", proxy_host[256];
    uint16_t proxy_port = 0;
    gw_dfcm *f;
    int rc;

    if (ac == NULL) {
        snprintf(detail, detail_len, "[app %s]: no service account", app->name);
        return APNS_ECONFIG;
    }
    for (f = d->fcms; f != NULL; f = f->next)
        if (streq(f->key_file, ac->key_file) && streq(f->token_url, ac->token_url) &&
            streq(f->ca_file, ac->ca_file) && streq(f->proxy, ac->proxy) &&
            (!fresh || f->gen == d->reload_gen)) {
            f->refs++;
            *out = f;
            return 0;
        }
    if ((f = calloc(1, sizeof(*f))) == NULL)
        return APNS_ENOMEM;
    f->d = d;
    f->refs = 1;
    f->gen = d->reload_gen;
    f->label = strdup(ac->id);
    f->key_file = strdup(ac->key_file);
    f->token_url = ac->token_url ? strdup(ac->token_url) : NULL;
    f->ca_file = ac->ca_file ? strdup(ac->ca_file) : NULL;
    f->proxy = ac->proxy ? strdup(ac->proxy) : NULL;
    if (f->label == NULL || f->key_file == NULL || (ac->token_url && !f->token_url) ||
        (ac->ca_file && !f->ca_file) || (ac->proxy && !f->proxy)) {
        gw__d_fcm_free(f);
        return APNS_ENOMEM;
    }
    rc = apns_fcm_account_load_file(&f->account, f->key_file, ad, sizeof ad);
    if (rc != 0) {
        snprintf(detail, detail_len, "[app %s] service_account_file: %s", app->name, ad);
        gw__d_fcm_free(f);
        return rc == APNS_ENOMEM ? rc : APNS_ECONFIG;
    }
    if ((rc = apns_token_cache_new_external(&f->cache)) != 0) {
        gw__d_fcm_free(f);
        return APNS_ENOMEM;
    }
    if (gw_queue_has_token_store(d->o.q)) { /* the fleet's token */
        if (fleet_start(d, f) != 0) {
            gw__d_fcm_free(f);
            return APNS_ENOMEM;
        }
        f->next = d->fcms;
        d->fcms = f;
        *out = f;
        return gw_metrics_register(d->o.m, GW_M_FCM_TOKENS, f->label, NULL);
    }
    apns_fcm_auth_opts_init(&o);
    o.account = f->account;
    o.cache = f->cache;
    o.conn.token_url = f->token_url;
    o.conn.ca_file = f->ca_file;
    if (f->proxy != NULL &&
        gw_config_split_hostport(f->proxy, proxy_host, sizeof proxy_host, &proxy_port) == 0) {
        o.conn.proxy_host = proxy_host;
        o.conn.proxy_port = proxy_port;
    }
    o.on_state = on_state;
    o.on_log = auth_log;
    o.ud = f;
    rc = apns_fcm_auth_new(&f->auth, d->o.base, &o, ad, sizeof ad);
    if (rc != 0) {
        snprintf(detail, detail_len, "[app %s] FCM access tokens: %s", app->name,
                 ad[0] ? ad : apns_strerror(rc));
        gw__d_fcm_free(f);
        return rc == APNS_ENOMEM ? rc : APNS_ECONFIG;
    }
    f->next = d->fcms;
    d->fcms = f;
    *out = f;
    return gw_metrics_register(d->o.m, GW_M_FCM_TOKENS, f->label, NULL);
}

void gw__d_fcm_put(gw_dispatch *d, gw_dfcm *f)
{
    if (f == NULL || --f->refs > 0)
        return;
    for (gw_dfcm **pp = &d->fcms; *pp != NULL; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    gw__d_fcm_free(f);
}

void gw__d_fcm_stats(gw_dispatch *d)
{
    for (gw_dfcm *f = d->fcms; f != NULL; f = f->next) {
        apns_fcm_auth_stats s;
        if (f->fleet || apns_fcm_auth_get_stats(f->auth, &s) != 0)
            continue; /* a fleet's: counted when fetched */
        if (s.requests > f->requests_seen)
            gw_metrics_add(d->o.m, GW_M_FCM_TOKENS, f->label, NULL, s.requests - f->requests_seen);
        f->requests_seen = s.requests;
    }
}
