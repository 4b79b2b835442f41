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
    uint64_t max_body_in_flight;      /* request-body bytes admitted at once (503 above) */
    uint32_t max_connections;         /* 0: derived from RLIMIT_NOFILE */
    int64_t request_timeout_ms;       /* a whole request: first byte to last body byte */
    int64_t idle_timeout_ms;          /* no request in progress: closed after it */
    int64_t max_wait_ms;              /* cap on ?wait=SECONDS */
    int64_t idempotency_ttl_ms;       /* Idempotency-Key records kept this long */
    uint32_t idempotency_max;         /* ... and at most this many per API key */
    int metrics;                      /* serve GET /metrics */
} gw_api_server_config;

#define GW_API_KEY_DIGEST 32 /* SHA-256 of a bearer key */

/* A set of key digests: an open-addressing hash table indexed by the
 * digest's own first bytes (SHA-256 output is uniform, so no second hash),
 * probed linearly and compared in full with CRYPTO_memcmp. A lookup costs
 * the same whatever the number of keys. */
typedef struct gw_api_keyset {
    uint8_t (*d)[GW_API_KEY_DIGEST]; /* n digests */
    size_t n;
    uint32_t *slot; /* mask + 1 slots: 0 empty, else index + 1 into d */
    size_t mask;
} gw_api_keyset;

/* Builds s from n digests (copied). dup (may be NULL) gets the 1-based
 * indexes of the first digest found twice (the earlier one first), or
 * {0, 0}. Returns 0 or APNS_ENOMEM (s empty). */
int gw_api_keyset_build(gw_api_keyset *s, const uint8_t (*d)[GW_API_KEY_DIGEST], size_t n,
                        size_t dup[2]);
/* 1 when digest is in s. */
int gw_api_keyset_has(const gw_api_keyset *s, const uint8_t digest[GW_API_KEY_DIGEST]);
/* The 0-based index of digest in s (for a digest built twice, the earlier
 * one), or -1 when it is not there. */
long gw_api_keyset_find(const gw_api_keyset *s, const uint8_t digest[GW_API_KEY_DIGEST]);
void gw_api_keyset_clear(gw_api_keyset *s);
/* SHA-256 of key (all zero on an OpenSSL failure: no key has that digest). */
void gw_api_key_sha256(const char *key, size_t len, uint8_t out[GW_API_KEY_DIGEST]);

/* The API's keys of one [app NAME]. */
typedef struct gw_api_app_config {
    gw_strv api_keys; /* the api_keys key as written (secrets) */
    char *api_keys_file;
    gw_strv all_api_keys; /* resolved at load: api_keys + the keys read from api_keys_file */
    gw_api_keyset keyset; /* the digests of all_api_keys, built at load */
    /* Request rate limit of EACH of these keys (a token bucket per key):
     * api_rate_limit as written ("100/s", "600/min", "10/h"; NULL: none),
     * parsed into requests per second (0: none); the bucket's size
     * (api_rate_burst, or one second of the rate, at least 1). */
    char *api_rate_limit;
    double api_rate;
    uint32_t api_rate_burst;
} gw_api_app_config;

/* Parses a rate "N/s", "N/min" or "N/h" (also /sec, /second, /minute,
 * /hour; a bare N is per second) with N in 0..1000000 into requests per
 * second (0: no limit). Returns 0, or -1 with the reason in why. */
int gw_api_rate_parse(const char *v, double *per_s, char *why, size_t why_len);

/* [server]: the HTTP API and process-wide limits; changes need a restart. */
extern const gw_config_section gw_api_server_section;
extern const gw_config_part gw_api_server_part;
extern const gw_config_part gw_api_app_part; /* of gw_config_app_section */

/* Borrowed from the config (loaded with these parts). */
const gw_api_server_config *gw_api_server_config_of(const gw_config *c);
const gw_api_app_config *gw_api_app_config_of(const gw_config_app *app);

#endif
