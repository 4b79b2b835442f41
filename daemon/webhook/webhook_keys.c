/*
 * webhook_keys.c - the webhook keys of an [app NAME] section and their rule:
 * a webhook_url needs a webhook_secret (every delivery is signed); the
 * other webhook keys mean nothing without a URL.
 */
#include "webhook_keys.h"

#include <stddef.h>
#include <string.h>

#define F(f) offsetof(gw_webhook_app_config, f)

static int check_url(const char *v, char *why, size_t len)
{
    return gw_config_why(
        gw_config_url_ok(v, "http|https", 2048, ""), why, len,
        "must be an http:// or https:// URL with a host (no spaces, at most 2048)");
}

static int check_secret(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    int ok = n >= 16 && n <= 1024;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
    return gw_config_why(ok, why, len, "must be 16..1024 printable characters (this one has %zu)",
                         n);
}

static const gw_config_key keys[] = {
    {.name = "webhook_url",
     .type = GW_CONFIG_T_STR,
     .off = F(webhook_url),
     .check = check_url,
     .flags = GW_CONFIG_K_LIVE,
     .aka = "webhook callback_url",
     .doc = "URL that receives results and dead tokens in batches (POST, JSON)."},
    {.name = "webhook_secret",
     .def_doc = "required with `webhook_url`",
     .type = GW_CONFIG_T_STR,
     .off = F(webhook_secret),
     .check = check_secret,
     .flags = GW_CONFIG_K_SECRET | GW_CONFIG_K_LIVE,
     .aka = "hmac_secret webhook_key",
     .doc = "Key of the HMAC-SHA256 signature on every webhook request (16..1024 "
            "characters); required with `webhook_url`."},
    {.name = "webhook_batch",
     .type = GW_CONFIG_T_COUNT,
     .def = "100",
     .off = F(webhook_batch),
     .min = 1,
     .max = 10000,
     .flags = GW_CONFIG_K_LIVE,
     .doc = "Events per webhook request at most."},
    {.name = "webhook_interval",
     .type = GW_CONFIG_T_DURATION,
     .def = "1s",
     .off = F(webhook_interval_ms),
     .min = 10,
     .max = 1 * GW_CONFIG_HOUR,
     .flags = GW_CONFIG_K_LIVE,
     .doc = "A partial batch is sent after this long."},
    {.name = "webhook_events",
     .type = GW_CONFIG_T_ENUM,
     .def = "all",
     .off = F(webhook_events),
     .choices = "all|rejections",
     .flags = GW_CONFIG_K_LIVE,
     .doc = "`all` (every final per-token result) or `rejections` (only tokens APNs rejected, "
            "dead tokens included)."},
    {.name = "webhook_retention",
     .type = GW_CONFIG_T_COUNT,
     .def = "1000000",
     .off = F(webhook_retention),
     .min = 1,
     .max = 100000000,
     .flags = GW_CONFIG_K_LIVE,
     .doc = "Undelivered events kept in the durable outbox at most; past it the oldest are "
            "dropped (counted in `apnsd_webhook_deliveries_total{result=\"dropped\"}`)."},
    {.name = "webhook_retention_age",
     .type = GW_CONFIG_T_DURATION,
     .def = "7d",
     .off = F(webhook_retention_age_ms),
     .min = 1000,
     .max = 365 * 24 * GW_CONFIG_HOUR,
     .flags = GW_CONFIG_K_LIVE,
     .doc = "Undelivered events older than this are dropped from the outbox (counted)."},
};

static void rules(gw_config_rules *r, void *part)
{
    (void)part;
    if (!gw_config_has(r, "webhook_url"))
        gw_config_each(r, GW_CONFIG_ERROR,
                       "webhook_secret webhook_batch webhook_interval webhook_events "
                       "webhook_retention webhook_retention_age",
                       "only used with webhook_url");
    else
        gw_config_each(r, GW_CONFIG_MISSING, "webhook_secret",
                       "required with webhook_url (every delivery is signed with HMAC-SHA256)");
}

const gw_config_part gw_webhook_app_part = {
    .section = &gw_config_app_section,
    .keys = keys,
    .n_keys = sizeof(keys) / sizeof(keys[0]),
    .size = sizeof(gw_webhook_app_config),
    .rules = rules,
};

const gw_webhook_app_config *gw_webhook_app_config_of(const gw_config_app *app)
{
    return gw_config_app_part(app, &gw_webhook_app_part);
}
