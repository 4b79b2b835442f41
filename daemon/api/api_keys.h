/*
 * api_keys.h - the configuration the HTTP API reads: the [server] section
 * (listen addresses, limits, /metrics) and, in each [app NAME], the bearer
 * keys clients authenticate with.
 *
 * Keys, defaults and rules: api_keys.c; the reference in
 * docs/configuration.md.
 */
#ifndef GW_API_KEYS_H
#define GW_API_KEYS_H

#include <stdint.h>

#include "config.h"

/* One [server] listen address, parsed from "host:port" or "[v6]:port". */
typedef struct gw_api_listen_addr {
    char *host; /* "127.0.0.1", "::1", "0.0.0.0", "localhost" (no brackets) */
    uint16_t port;
} gw_api_listen_addr;

typedef struct gw_api_server_config {
    gw_strv listen;                   /* as written: "127.0.0.1:8080" */
    gw_api_listen_addr *listen_addrs; /* listen.n entries, parsed at load */
    uint64_t max_body;                /* request body limit (413 above it) */
    uint32_t max_tokens;              /* device tokens per request (400 above it) */
    int64_t request_timeout_ms;       /* reading a request */
    int64_t max_wait_ms;              /* cap on ?wait=SECONDS */
    int metrics;                      /* serve GET /metrics */
} gw_api_server_config;

/* The API's keys of one [app NAME]. */
typedef struct gw_api_app_config {
    gw_strv api_keys; /* the api_keys key as written (secrets) */
    char *api_keys_file;
    gw_strv all_api_keys; /* resolved at load: api_keys + the keys read from api_keys_file */
} gw_api_app_config;

/* [server]: the HTTP API and process-wide limits; changes need a restart. */
extern const gw_config_section gw_api_server_section;
extern const gw_config_part gw_api_server_part;
extern const gw_config_part gw_api_app_part; /* of gw_config_app_section */

/* Borrowed from the config (loaded with these parts). */
const gw_api_server_config *gw_api_server_config_of(const gw_config *c);
const gw_api_app_config *gw_api_app_config_of(const gw_config_app *app);

#endif
