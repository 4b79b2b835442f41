/*
 * webhook_keys.h - the webhook keys of an [app NAME] section: where results
 * and dead tokens are posted, the HMAC key, batching, which events, the
 * outbox's retention. All live: a reload applies them in place.
 *
 * Keys, defaults and rules: webhook_keys.c; the reference in
 * docs/configuration.md.
 */
#ifndef GW_WEBHOOK_KEYS_H
#define GW_WEBHOOK_KEYS_H

#include <stdint.h>

#include "config.h"

typedef struct gw_webhook_app_config {
    char *webhook_url;    /* NULL: no webhook */
    char *webhook_secret; /* secret */
    uint32_t webhook_batch;
    int64_t webhook_interval_ms;
    int webhook_events;               /* 0 all, 1 rejections (gw_outbox_filter) */
    uint32_t webhook_retention;       /* events kept in the outbox at most */
    int64_t webhook_retention_age_ms; /* older events are dropped */
} gw_webhook_app_config;

extern const gw_config_part gw_webhook_app_part; /* of gw_config_app_section */

/* Borrowed from the app's config (loaded with gw_webhook_app_part). */
const gw_webhook_app_config *gw_webhook_app_config_of(const gw_config_app *app);

#endif
