/*
 * apnsd_keys.h - apnsd's configuration: the schema (every module's parts,
 * in the order the sections and the reference list them), and the keys only
 * main.c reads: [server] drain_timeout and the [log] section (daemon/obs
 * sits below daemon/config and cannot declare keys).
 */
#ifndef GW_APNSD_KEYS_H
#define GW_APNSD_KEYS_H

#include <stdint.h>

#include "config.h"

typedef struct gw_apnsd_server_config {
    int64_t drain_timeout_ms; /* SIGTERM: finish in-flight work within this */
    int insecure_secrets;     /* GW_APNSD_SECRETS_*: read by the config loader */
} gw_apnsd_server_config;

enum { GW_APNSD_SECRETS_WARN, GW_APNSD_SECRETS_REFUSE };

typedef struct gw_apnsd_log_config {
    int format; /* gw_log_format */
    int level;  /* gw_log_level (the same values as apns_log_level) */
} gw_apnsd_log_config;

extern const gw_config_part gw_apnsd_server_part; /* of gw_api_server_section */
extern const gw_config_part gw_apnsd_log_part;

/* [server], [queue], [log], [app NAME] of apnsd, with every module's keys. */
extern const gw_config_schema gw_apnsd_schema;

/* Borrowed from c (loaded with gw_apnsd_schema). */
const gw_apnsd_server_config *gw_apnsd_server_config_of(const gw_config *c);
const gw_apnsd_log_config *gw_apnsd_log_config_of(const gw_config *c);

#endif
