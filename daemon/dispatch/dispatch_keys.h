/*
 * dispatch_keys.h - the dispatcher's keys of an [app NAME] section: the
 * app's topics, where and how it connects to APNs (environment, transport,
 * credentials, connections, timeouts), its retries, and the legacy feedback
 * service; and the team identities computed from them.
 *
 * provider = fcm apps (Android, Firebase Cloud Messaging HTTP v1) have keys
 * of their own (service_account_file, project_id, fcm_host, fcm_port,
 * token_url) and share the neutral ones (ca_file, proxy, connections,
 * max_in_flight, rate_limit, timeouts, retries); the apps of one service
 * account share one access token (gw_dispatch_account).
 *
 * A team identity is the token-auth apps of one (team_id, key_id,
 * environment, host, port). Apps of one team id and key id sign with one
 * key and share one provider-token cache, in every environment (a token is
 * valid in both): the loader makes sure they name one key file and one
 * token_refresh, and gw_dispatch_team.same_key_as groups their identities.
 * Each app keeps its own apns_client (connections, CA file, proxy).
 *
 * Keys, defaults and rules: dispatch_keys.c; the reference in
 * docs/configuration.md.
 */
#ifndef GW_DISPATCH_KEYS_H
#define GW_DISPATCH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef enum gw_dispatch_auth {
    GW_DISPATCH_AUTH_TOKEN = 0,   /* .p8 key, key id, team id: ES256 provider tokens */
    GW_DISPATCH_AUTH_CERTIFICATE, /* TLS client certificate (PEM or PKCS#12) */
} gw_dispatch_auth;

/* Which service an app pushes through: Apple's APNs, or Firebase Cloud
 * Messaging HTTP v1 (Android; apns/fcm.h). Each has its own keys; a key of
 * the other one is an error naming it. */
typedef enum gw_dispatch_provider {
    GW_DISPATCH_PROVIDER_APNS = 0,
    GW_DISPATCH_PROVIDER_FCM,
} gw_dispatch_provider;

typedef enum gw_dispatch_transport {
    GW_DISPATCH_TRANSPORT_HTTP2 = 0,
    GW_DISPATCH_TRANSPORT_BINARY, /* legacy binary interface; certificate auth only */
} gw_dispatch_transport;

typedef struct gw_dispatch_app_config {
    int provider;    /* gw_dispatch_provider */
    char *topic;     /* bundle id: the default apns-topic */
    gw_strv topics;  /* further topics the app may send to (.voip, ...) */
    int environment; /* apns_environment */
    char *host;      /* custom environment */
    uint16_t port;   /* resolved at load: unset = 443 (binary: 2195) */
    char *ca_file;   /* NULL = system trust store */
    char *proxy;     /* "host:port" of an HTTP CONNECT proxy */
    int transport;   /* gw_dispatch_transport */
    int auth;        /* gw_dispatch_auth */
    char *key_file;  /* token: the .p8; certificate: PEM private key (optional) */
    char *key_id;    /* token auth */
    char *team_id;   /* token auth */
    int64_t token_refresh_ms;
    char *cert_file;    /* certificate auth: PEM certificate (chain) ... */
    char *p12_file;     /* ... or PKCS#12 */
    char *password;     /* the password key as written (secret) */
    char *password_env; /* name of an environment variable holding it */
    char *password_file;
    uint32_t connections;
    uint32_t max_in_flight; /* resolved at load: 0 in the file = 1000 per connection */
    uint32_t rate_limit;    /* notifications per second; 0 = unlimited */
    int64_t connect_timeout_ms;
    int64_t stream_timeout_ms;
    uint32_t retry_attempts;
    int64_t retry_backoff_ms;
    int64_t retry_backoff_max_ms;

    /* Broadcast channels (iOS 18 Live Activities, §4 of the protocol notes). */
    char *manage_host;     /* channel-management service; NULL = Apple's for the
                              environment (custom: host) */
    uint16_t manage_port;  /* resolved at load: 2196 production, 2195 sandbox;
                              custom: 0 when unset (channels refused until set) */
    uint32_t max_channels; /* channel records kept, at most Apple's 10,000 */
    int publish_host;      /* apns_publish_host: where channel publishes go */

    /* provider = fcm */
    char *service_account_file; /* Google's JSON key file (required) */
    char *project_id;           /* NULL = the key file's project_id */
    char *fcm_host;             /* tests: a simulator; NULL = fcm.googleapis.com */
    uint16_t fcm_port;          /* resolved at load: unset = 443 */
    char *token_url;            /* tests: the token endpoint; NULL = the key file's token_uri */

    /* Resolved at load (not keys of their own). */
    char *fcm_project;  /* provider = fcm: the project messages go to */
    char *fcm_email;    /* provider = fcm: the service account's client_email */
    int account;        /* provider = fcm: index into gw_dispatch_teams.accounts, else -1 */
    char *p12_password; /* from password, password_env or password_file; NULL if none. Secret. */
    int team;           /* index into gw_dispatch_teams; -1 for certificate auth */
} gw_dispatch_app_config;

/* transport = binary: the feedback service that reports dead tokens. */
typedef struct gw_dispatch_feedback_config {
    int64_t feedback_interval_ms; /* 0 = never poll; resolved: unset = 1h (binary) */
    char *feedback_host;          /* custom; NULL = host */
    uint16_t feedback_port;       /* resolved: unset = 2196 (binary) */
} gw_dispatch_feedback_config;

typedef struct gw_dispatch_team {
    char *id;             /* "DEF123GHIJ/ABC123DEFG@sandbox", "...@custom:127.0.0.1:8443" */
    const char *team_id;  /* borrowed from the first app */
    const char *key_id;   /* borrowed from the first app */
    const char *key_file; /* the .p8 (one file per team+key, enforced) */
    int64_t token_refresh_ms;
    int environment;  /* apns_environment */
    const char *host; /* custom: borrowed; else NULL */
    uint16_t port;    /* 443, 2197 or the custom port */
    size_t n_apps;
    size_t *apps;    /* indices into gw_config.apps */
    int same_key_as; /* index of the first team with this team_id+key_id (may be itself) */
} gw_dispatch_team;

/* The FCM apps of one service account (one key file, one token endpoint):
 * they share one access token (one apns_fcm_auth feeding one cache). */
typedef struct gw_dispatch_account {
    char *id;              /* "<client_email>" or "<client_email>@<token_url>" */
    const char *key_file;  /* borrowed from the first app */
    const char *token_url; /* borrowed; NULL = the key file's token_uri */
    const char *ca_file;   /* borrowed from the first app; NULL = system store */
    const char *proxy;     /* borrowed from the first app; NULL = none */
    size_t n_apps;
    size_t *apps; /* indices into gw_config.apps */
} gw_dispatch_account;

typedef struct gw_dispatch_teams {
    size_t n;
    gw_dispatch_team *v; /* in order of first appearance */
    size_t n_accounts;
    gw_dispatch_account *accounts; /* FCM service accounts, in order of first appearance */
} gw_dispatch_teams;

/* Parts of gw_config_app_section. The feedback keys are a part of their
 * own so that they come last in the section; their rules run with
 * gw_dispatch_app_part's, which needs it in the schema. */
extern const gw_config_part gw_dispatch_app_part;
extern const gw_config_part gw_dispatch_feedback_part;

/* Borrowed from the config (loaded with these parts). */
const gw_dispatch_app_config *gw_dispatch_app_config_of(const gw_config_app *app);
const gw_dispatch_feedback_config *gw_dispatch_feedback_config_of(const gw_config_app *app);
const gw_dispatch_teams *gw_dispatch_teams_of(const gw_config *c);
/* The team identity whose provider-token cache app signs with (its
 * same_key_as), or NULL for certificate auth. */
const gw_dispatch_team *gw_dispatch_key_team_of(const gw_config *c, const gw_config_app *app);
/* The service account of an FCM app, or NULL for an APNs app. */
const gw_dispatch_account *gw_dispatch_account_of(const gw_config *c, const gw_config_app *app);
/* 1 for provider = fcm. */
int gw_dispatch_app_is_fcm(const gw_config_app *app);

#endif
