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
 */
#include "dispatch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

void gw__d_fcm_free(gw_dfcm *f)
{
    if (f == NULL)
        return;
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

/* The token endpoint's connection lines. (libapns hands the auth's own
 * pointer as ud here, not the one given in its options: so no account
 * label; the state events above name it.) */
static void auth_log(apns_log_level level, const char *msg, void *ud)
{
    (void)ud;
    if (gw_log_enabled((gw_log_level)level))
        gw_log((gw_log_level)level, "fcm_auth", msg, NULL);
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
        if (apns_fcm_auth_get_stats(f->auth, &s) != 0)
            continue;
        if (s.requests > f->requests_seen)
            gw_metrics_add(d->o.m, GW_M_FCM_TOKENS, f->label, NULL, s.requests - f->requests_seen);
        f->requests_seen = s.requests;
    }
}
