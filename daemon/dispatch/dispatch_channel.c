/*
 * dispatch_channel.c - an app's broadcast channel-management client
 * (libapns's apns_channel_client, include/apns/channel.h) and the channel
 * operations the API asks for (gw_dispatch_channel).
 *
 * The client is made at an app's first channel operation, not at start: an
 * app that never uses channels opens no connection to the management host
 * (and an app of environment custom needs manage_port, apns-sim's
 * --manage-listen, only once it does). Its options come from the app's
 * config, copied at app creation (the app outlives the config it was built
 * from): the environment decides Apple's host and port (2196 production,
 * 2195 sandbox) unless manage_host / manage_port say otherwise; the
 * credentials are the app's (token auth: the team's shared token cache).
 *
 * Every operation holds a small context on the app's list until libapns
 * calls back (exactly once). A retiring app drains its client, so pending
 * operations are still answered; an app freed (the dispatcher freed, or a
 * retire that timed out) frees the contexts without calling back: the API,
 * which outlives the dispatcher, answers what is left when it is freed.
 */
#include "dispatch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gw_dchan {
    gw_dispatch_channel_cb cb;
    void *ud;
    gw_app *a;
    common_list link; /* gw_app.ch_pending */
} gw_dchan;

static char *dup_or_null(const char *s, int *oom)
{
    char *c;

    if (s == NULL)
        return NULL;
    c = strdup(s);
    if (c == NULL)
        *oom = 1;
    return c;
}

int gw__d_channel_init(gw_app *a, const gw_dispatch_app_config *ac)
{
    apns_channel_opts *o = &a->ch_opts;
    int oom = 0;

    apns_channel_opts_init(o);
    if (ac->transport == GW_DISPATCH_TRANSPORT_BINARY) {
        snprintf(a->ch_why, sizeof a->ch_why,
                 "[app %s] uses transport = binary, which has no broadcast channels", a->name);
        return 0;
    }
    o->env = (apns_environment)ac->environment;
    if (ac->manage_host != NULL || o->env == APNS_ENV_CUSTOM) {
        /* an explicit host: custom (apns-sim), or Apple's behind a proxy name */
        o->host = a->ch_own[0] = dup_or_null(ac->manage_host ? ac->manage_host : ac->host, &oom);
        if (o->env != APNS_ENV_CUSTOM)
            o->env = APNS_ENV_CUSTOM;
    }
    o->port = ac->manage_port;
    if (o->env == APNS_ENV_CUSTOM && o->port == 0) {
        snprintf(a->ch_why, sizeof a->ch_why,
                 "[app %s] has no manage_port: set the channel-management service's port "
                 "(apns-sim: --manage-listen)",
                 a->name);
        return oom ? APNS_ENOMEM : 0;
    }
    if (a->team != NULL) {
        o->tokens = a->team->cache;
    } else {
        o->cert_file = a->ch_own[1] = dup_or_null(ac->cert_file, &oom);
        o->key_file = a->ch_own[2] = dup_or_null(ac->key_file, &oom);
        o->p12_file = a->ch_own[3] = dup_or_null(ac->p12_file, &oom);
        o->p12_password = a->ch_own[4] = dup_or_null(ac->p12_password, &oom);
    }
    o->ca_file = a->ch_own[5] = dup_or_null(ac->ca_file, &oom);
    o->proxy = a->ch_own[6] = dup_or_null(ac->proxy, &oom);
    o->connect_timeout_ms = ac->connect_timeout_ms;
    o->stream_timeout_ms = ac->stream_timeout_ms;
    o->retry.max_attempts = (int)ac->retry_attempts;
    o->retry.base_ms = ac->retry_backoff_ms;
    o->retry.max_ms = ac->retry_backoff_max_ms;
    a->ch_usable = 1;
    return oom ? APNS_ENOMEM : 0;
}

static void on_channel(apns_channel_client *cc, const apns_channel_result *r, void *ud)
{
    gw_dchan *c = ud;

    (void)cc;
    common_list_remove(&c->link);
    c->cb(r, c->ud);
    free(c);
}

static gw_app *find_app(gw_dispatch *d, const char *name)
{
    for (gw_app *a = d->apps; a != NULL; a = a->next)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

int gw_dispatch_channel(gw_dispatch *d, const char *app, apns_channel_op op,
                        apns_storage_policy policy, const char *id, gw_dispatch_channel_cb cb,
                        void *ud, char *detail, size_t detail_len)
{
    gw_app *a;
    gw_dchan *c;
    char cd[256] = "";
    int rc;

    if (d == NULL || app == NULL || cb == NULL) {
        snprintf(detail, detail_len, "no dispatcher");
        return APNS_EINVAL;
    }
    if (d->draining) {
        snprintf(detail, detail_len, "the gateway is shutting down");
        return APNS_ESHUTDOWN;
    }
    a = find_app(d, app);
    if (a == NULL) {
        snprintf(detail, detail_len, "app \"%.64s\" is not running", app);
        return APNS_EINVAL;
    }
    if (!a->ch_usable) {
        snprintf(detail, detail_len, "%s", a->ch_why);
        return APNS_ECONFIG;
    }
    if (a->ch == NULL) {
        a->ch_opts.on_log = NULL;
        rc = apns_channel_client_new(&a->ch, d->o.base, &a->ch_opts, cd, sizeof cd);
        if (rc != 0) {
            a->ch = NULL;
            snprintf(detail, detail_len, "[app %s] channel-management client: %s", a->name,
                     cd[0] ? cd : apns_strerror(rc));
            return rc == APNS_ENOMEM ? rc : APNS_ECONFIG;
        }
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(detail, detail_len, "out of memory");
        return APNS_ENOMEM;
    }
    c->cb = cb;
    c->ud = ud;
    c->a = a;
    switch (op) {
    case APNS_CHANNEL_CREATE:
        rc = apns_channel_create(a->ch, a->topic, policy, NULL, on_channel, c);
        break;
    case APNS_CHANNEL_READ:
        rc = apns_channel_read(a->ch, a->topic, id, NULL, on_channel, c);
        break;
    case APNS_CHANNEL_LIST:
        rc = apns_channel_list(a->ch, a->topic, NULL, on_channel, c);
        break;
    case APNS_CHANNEL_DELETE:
        rc = apns_channel_delete(a->ch, a->topic, id, NULL, on_channel, c);
        break;
    default:
        rc = APNS_EINVAL;
        break;
    }
    if (rc != 0) {
        free(c);
        snprintf(detail, detail_len, "%s", apns_strerror(rc));
        return rc;
    }
    common_list_push_back(&a->ch_pending, &c->link);
    return 0;
}

void gw__d_channel_retire(gw_app *a)
{
    if (a->ch != NULL)
        apns_channel_client_drain(a->ch, NULL, NULL);
}

void gw__d_channel_free(gw_app *a)
{
    common_list *n;

    if (a->ch != NULL)
        apns_channel_client_free(a->ch); /* no callbacks from here on */
    a->ch = NULL;
    if (a->ch_pending.next != NULL)
        while ((n = common_list_first(&a->ch_pending)) != NULL) {
            common_list_remove(n);
            free(COMMON_CONTAINER_OF(n, gw_dchan, link));
        }
    for (size_t i = 0; i < sizeof(a->ch_own) / sizeof(a->ch_own[0]); i++) {
        free(a->ch_own[i]);
        a->ch_own[i] = NULL;
    }
}
