/*
 * config.h - apnsd's configuration: an INI file, environment overrides,
 * validation that reports every problem at once, and reload diffs.
 *
 * One table of keys per section (daemon/config_keys.c) states each key once:
 * its name, type, default, single-field rule, reload class and doc line. The
 * parser, the defaults, the environment overrides, the dump and the key
 * reference in docs/configuration.md all come from it.
 *
 * Precedence, lowest first: the table's default, the file, the environment
 * (APNSD_<SECTION>_<KEY>, APNSD_APP_<NAME>_<KEY>). An empty value means "not
 * set" (the default applies), so an environment variable set to "" clears a
 * file value.
 *
 * A loaded gw_config is immutable and self-contained: every string is
 * owned by it; free it with gw_config_free(). Loading reads the files the
 * configuration names (password_file, api_keys_file) and checks that the key
 * and certificate files are readable regular files, but never parses keys or
 * certificates: the daemon does that through libapns.
 *
 * Thread-safety: loading is reentrant (no global state); a loaded config may
 * be read from any thread.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apns/client.h"
#include "apns/error.h"
#include "log.h" /* gw_log_format */

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* values                                                                 */

/* A list of strings (list-valued keys). Owned by the config. */
typedef struct gw_strv {
    size_t n;
    char **v;
} gw_strv;

/* One [server] listen address, parsed from "host:port" or "[v6]:port". */
typedef struct gw_listen_addr {
    char *host; /* "127.0.0.1", "::1", "0.0.0.0", "localhost" (no brackets) */
    uint16_t port;
} gw_listen_addr;

typedef enum gw_backend {
    GW_BACKEND_SQLITE = 0,
    GW_BACKEND_JETSTREAM, /* NATS JetStream (daemon/queue_jetstream.h) */
} gw_backend;

typedef enum gw_sync {
    GW_SYNC_NORMAL = 0, /* outcome batches with synchronous=NORMAL (jobs are always FULL) */
    GW_SYNC_FULL,       /* outcome batches with synchronous=FULL too */
} gw_sync;

typedef enum gw_auth {
    GW_AUTH_TOKEN = 0,   /* .p8 key, key id, team id: ES256 provider tokens */
    GW_AUTH_CERTIFICATE, /* TLS client certificate (PEM or PKCS#12) */
} gw_auth;

typedef enum gw_transport {
    GW_TRANSPORT_HTTP2 = 0,
    GW_TRANSPORT_BINARY, /* legacy binary interface; certificate auth only */
} gw_transport;

/* Durations are milliseconds, sizes bytes. Enumerations are stored as int so
 * the table can fill them generically; the comment names the enum type. */

typedef struct gw_server_config {
    gw_strv listen;               /* as written: "127.0.0.1:8080" */
    gw_listen_addr *listen_addrs; /* listen.n entries, parsed */
    uint64_t max_body;            /* request body limit (413 above it) */
    uint32_t max_tokens;          /* device tokens per request (400 above it) */
    int64_t request_timeout_ms;   /* reading a request */
    int64_t max_wait_ms;          /* cap on ?wait=SECONDS */
    int64_t drain_timeout_ms;     /* SIGTERM: finish in-flight work within this */
    int metrics;                  /* serve GET /metrics */
} gw_server_config;

typedef struct gw_queue_config {
    /* Field names follow gw_queue_opts / gw_queue_sqlite_opts (daemon/queue.h). */
    int backend; /* gw_backend */
    char *path;  /* sqlite database file */
    uint32_t chunk_tokens;
    uint32_t small_job_tokens;
    uint64_t max_depth; /* unfinished tokens before 429; 0 = unlimited */
    uint32_t max_requests;
    int64_t retention_ms;
    int64_t purge_interval_ms;
    uint64_t max_db_bytes; /* 0 = no limit */
    int sync;              /* gw_sync: GW_SYNC_FULL = outcome_sync_full */
    /* backend = jetstream: gw_queue_jetstream_opts (daemon/queue_jetstream.h) */
    gw_strv servers; /* "nats://host:4222", "tls://host:4222" */
    char *creds_file;
    char *tls_ca_file, *tls_cert_file, *tls_key_file;
    char *prefix; /* stream and bucket names: <prefix>_CHUNKS, ... */
    uint32_t replicas;
    int64_t ack_wait_ms;
    int64_t lease_ttl_ms; /* gw_queue_opts.lease_ttl_ms */
    uint32_t max_deliveries;
    int64_t op_timeout_ms;
} gw_queue_config;

typedef struct gw_log_config {
    int format; /* gw_log_format */
    int level;  /* apns_log_level */
} gw_log_config;

struct gw__meta;

/* One [app NAME] section. */
typedef struct gw_app_config {
    char *name;     /* as written after "app " */
    char *env_name; /* NAME for environment variables: upper-case, non-alnum -> '_' */
    int line;       /* line of the section header; 0 if none */

    char *topic;    /* bundle id: the default apns-topic */
    gw_strv topics; /* further topics the app may send to (.voip, ...) */
    int auth;       /* gw_auth */
    char *key_file; /* token: the .p8; certificate: PEM private key (optional) */
    char *key_id;   /* token auth */
    char *team_id;  /* token auth */
    int64_t token_refresh_ms;
    char *cert_file;    /* certificate auth: PEM certificate (chain) ... */
    char *p12_file;     /* ... or PKCS#12 */
    char *password;     /* the [app] password key as written (secret) */
    char *password_env; /* name of an environment variable holding it */
    char *password_file;
    int environment; /* apns_environment */
    char *host;      /* custom environment */
    uint16_t port;   /* resolved at load: unset = 443 (binary: 2195) */
    char *ca_file;   /* NULL = system trust store */
    char *proxy;     /* "host:port" of an HTTP CONNECT proxy */
    int transport;   /* gw_transport */
    uint32_t connections;
    uint32_t max_in_flight; /* resolved at load: 0 in the file = 1000 per connection */
    uint32_t rate_limit;    /* notifications per second; 0 = unlimited */
    int64_t connect_timeout_ms;
    int64_t stream_timeout_ms;
    uint32_t retry_attempts;
    int64_t retry_backoff_ms;
    int64_t retry_backoff_max_ms;
    gw_strv api_keys; /* the api_keys key as written (secrets) */
    char *api_keys_file;
    char *webhook_url;
    char *webhook_secret; /* secret */
    uint32_t webhook_batch;
    int64_t webhook_interval_ms;
    int64_t feedback_interval_ms; /* binary: 0 = never poll; resolved: unset = 1h */
    char *feedback_host;          /* binary + custom; NULL = host */
    uint16_t feedback_port;       /* binary; resolved: unset = 2196 */

    /* Resolved at load (not keys of their own). */
    const char *p12_password; /* from password, password_env or password_file; NULL if
                                 none. Borrowed from the config. Secret. */
    gw_strv all_api_keys;     /* api_keys + the keys read from api_keys_file */
    int team;                 /* index into gw_config.teams; -1 for certificate auth */

    struct gw__meta *meta_; /* internal: where each value came from */
} gw_app_config;

/*
 * A team identity: the token-auth apps that share one provider-token cache
 * and one set of connections, i.e. the same (team_id, key_id, environment,
 * host, port). Apps of one team+key in different environments are different
 * identities but sign with the same key: they may share an apns_token_cache
 * (a JWT is valid in both environments); group them with same_key_as.
 */
typedef struct gw_team_identity {
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
} gw_team_identity;

typedef struct gw_config {
    char *source; /* file name as given to the loader, used in messages */
    gw_server_config server;
    gw_queue_config queue;
    gw_log_config log;
    size_t n_apps;
    gw_app_config *apps; /* in file order */
    size_t n_teams;
    gw_team_identity *teams; /* in order of first appearance */

    struct gw__meta *meta_; /* internal: [server], [queue], [log] origins */
} gw_config;

/* ---------------------------------------------------------------------- */
/* diagnostics                                                            */

#define GW_CONFIG_DIAG_MAX 48  /* messages kept; the rest are only counted */
#define GW_CONFIG_MSG_MAX  320 /* bytes per message, NUL included */

typedef struct gw_config_diag {
    int warning; /* 0 = error, 1 = warning */
    int line;    /* line in the file, 0 if none (environment, whole file) */
    /* A whole sentence naming where, the section and the key:
     *   apnsd.ini:12: [app shop] key_id: must be 10 characters [A-Z0-9], got "ABC"
     *   env APNSD_SERVER_LISTEN: [server] listen: ...
     * Secrets (api keys, passwords, webhook secrets) never appear. */
    char text[GW_CONFIG_MSG_MAX];
} gw_config_diag;

/* What a load found wrong. Caller-owned (embed it or put it on the stack);
 * the loader initialises it. Errors come sorted by line, those without a
 * line (environment, file-level) last. */
typedef struct gw_config_errors {
    unsigned errors;   /* errors found (may exceed what is kept) */
    unsigned warnings; /* warnings found */
    unsigned n;        /* entries in diag[] */
    gw_config_diag diag[GW_CONFIG_DIAG_MAX];
} gw_config_errors;

/* Writes every kept message, one per line, then "... and N more not shown"
 * if some were dropped. */
void gw_config_errors_print(const gw_config_errors *e, FILE *f);

/* ---------------------------------------------------------------------- */
/* loading                                                                */

/*
 * Reads and validates the INI file at path, then applies the process
 * environment (APNSD_*). On success *out is the caller's (gw_config_free)
 * and errs may still hold warnings. On failure *out is NULL and errs holds
 * every error found (up to GW_CONFIG_DIAG_MAX kept). errs may be NULL.
 * Returns 0, APNS_ECONFIG (see errs), APNS_EIO (file unreadable; also in
 * errs), APNS_ENOMEM, APNS_EINVAL (NULL path or out).
 */
int gw_config_load_file(const char *path, gw_config **out, gw_config_errors *errs);

/* Same from NUL-terminated text; `name` stands for the file in messages
 * ("apnsd.ini"; NULL = "<string>"). Uses the process environment. */
int gw_config_load_string(const char *text, const char *name, gw_config **out,
                          gw_config_errors *errs);

/* The general form: `len` bytes of text (NUL bytes are reported as errors),
 * and an explicit environment `envp` ("NAME=value" strings, NULL-terminated;
 * NULL = the process environment). */
int gw_config_load_buffer(const char *text, size_t len, const char *name, char *const *envp,
                          gw_config **out, gw_config_errors *errs);

void gw_config_free(gw_config *c);

/* The app called name, or NULL. Borrowed from c. */
const gw_app_config *gw_config_find_app(const gw_config *c, const char *name);

/* ---------------------------------------------------------------------- */
/* reload                                                                 */

typedef enum gw_app_change {
    GW_CHANGE_SAME = 0, /* nothing differs: keep everything */
    GW_CHANGE_ADDED,    /* only in the new config */
    GW_CHANGE_REMOVED,  /* only in the old config: drain and close */
    GW_CHANGE_UPDATED,  /* only live settings differ (api keys, topics, rate limit,
                           webhook): apply in place, keep the connections */
    GW_CHANGE_REPLACED, /* connection settings differ (credentials, environment,
                           transport, connections, a key or certificate file's
                           contents, ...): build a new pool, drain the old one */
} gw_app_change;

typedef struct gw_app_diff {
    const char *name; /* borrowed from old or new */
    gw_app_change change;
    const gw_app_config *old_app; /* NULL when ADDED */
    const gw_app_config *new_app; /* NULL when REMOVED */
    const char *key;              /* UPDATED/REPLACED: the first key that differs (static) */
} gw_app_diff;

typedef struct gw_config_diff {
    size_t n;
    gw_app_diff *apps; /* new config's apps in order, then the removed ones */
    /* The first [server] or [queue] key that differs (static strings), or
     * NULL: these sections are applied at start only, so a reload that
     * changes them needs a restart (log it, keep running the old values). */
    const char *restart_section;
    const char *restart_key;
    int log_changed; /* [log] differs: may be applied at once */
} gw_config_diff;

/*
 * Compares two loaded configs for a SIGHUP reload. The diff borrows from old
 * and new: free it (gw_config_diff_free) before either. Returns 0,
 * APNS_ENOMEM, APNS_EINVAL.
 */
int gw_config_diff_new(const gw_config *old_cfg, const gw_config *new_cfg, gw_config_diff *out);
void gw_config_diff_free(gw_config_diff *d);

/* "same", "added", "removed", "updated", "replaced". Static string. */
const char *gw_app_change_name(gw_app_change c);

/* ---------------------------------------------------------------------- */
/* output                                                                 */

/*
 * Writes the effective configuration as INI (every key, defaults included),
 * each value followed by where it came from ("; default", "; line 12",
 * "; env APNSD_QUEUE_PATH"). Secrets are masked ("********"). Returns 0 or
 * APNS_EIO.
 */
int gw_config_dump(const gw_config *c, FILE *f);

/*
 * Writes the key reference (Markdown tables, one per section) that
 * docs/configuration.md embeds between its "BEGIN/END CONFIG REFERENCE"
 * markers; a unit test keeps the two identical. Returns 0 or APNS_EIO.
 */
int gw_config_write_reference(FILE *f);

/* ====================================================================== */
/* Internal: shared by daemon/config*.c and the tests. Not an API.         */
#ifdef GW_CONFIG_INTERNAL

typedef enum gw__type {
    GW__T_STR,      /* char * */
    GW__T_PATH,     /* char *; a file name */
    GW__T_BOOL,     /* int */
    GW__T_ENUM,     /* int: index into choices */
    GW__T_COUNT,    /* uint32_t, plain decimal */
    GW__T_COUNT64,  /* uint64_t, plain decimal */
    GW__T_PORT,     /* uint16_t */
    GW__T_SIZE,     /* uint64_t bytes: 4096, 4KiB, 16MiB, 1GB */
    GW__T_DURATION, /* int64_t ms: 500ms, 30s, 5m, 1h30m, 7d; a bare number is seconds */
    GW__T_LIST,     /* gw_strv: comma-separated; repeating the key appends */
} gw__type;

#define GW__K_REQUIRED 0x01u /* must be set in every instance of the section */
#define GW__K_SECRET   0x02u /* never printed: masked in dumps and messages */
#define GW__K_RESERVED 0x04u /* documented but refused (not yet supported) */
#define GW__K_LIVE     0x08u /* [app]: a change applies without new connections */
#define GW__K_FILE     0x10u /* a readable regular file when the key is in use */

/* Extra single-field rule on the text of one value (one list element).
 * Returns 0, or writes what is wrong ("must be 10 characters [A-Z0-9]",
 * without the value) and returns -1. */
typedef int (*gw__check_fn)(const char *v, char *why, size_t why_len);

typedef struct gw__key {
    const char *name;
    gw__type type;
    const char *def;     /* default, in file syntax; NULL = unset */
    const char *def_doc; /* the default as the docs show it when def is NULL */
    size_t off;          /* offset of the field in the section's struct */
    int64_t min, max;    /* numbers: range (ms, bytes); 0/0 = none */
    const char *choices; /* ENUM: "a|b|c", index = stored value */
    gw__check_fn check;
    unsigned flags;  /* GW__K_* */
    const char *aka; /* space-separated names people may mean ("bundle_id"): suggestions */
    const char *doc; /* one line for the reference */
} gw__key;

typedef struct gw__section {
    const char *name; /* "server", "queue", "log", "app" */
    const gw__key *keys;
    size_t n_keys;
    const char *doc;
} gw__section;

enum { GW__SEC_SERVER, GW__SEC_QUEUE, GW__SEC_LOG, GW__SEC_APP, GW__SEC_COUNT };
extern const gw__section gw__sections[GW__SEC_COUNT];

/* Index of a key by name in section s, or -1. */
int gw__key_find(const gw__section *s, const char *name);

/* The closest key name of section s to name (edit distance, aliases), or NULL. */
const char *gw__key_suggest(const gw__section *s, const char *name);
/* The closest of `n` words to `word`, or NULL. */
const char *gw__suggest(const char *word, const char *const *words, size_t n);
/* Case-insensitive edit distance. */
int gw__edit_distance(const char *a, const char *b);

/* Parses text for key k into the field at `field` (replacing, or for a list
 * appending). Empty text clears the field. Returns 0, or -1 with `why`
 * (without the value), or APNS_ENOMEM. */
int gw__value_set(const gw__key *k, void *field, const char *text, char *why, size_t why_len);
void gw__value_clear(const gw__key *k, void *field);
int gw__value_is_set(const gw__key *k, const void *field);
int gw__value_equal(const gw__key *k, const void *a, const void *b);
/* The value in file syntax, for dumps; secrets masked. Returns the length
 * that the whole value needs (like snprintf). */
int gw__value_format(const gw__key *k, const void *field, char *buf, size_t len);

/* Number parsers (exposed for the tests). Return 0 or -1. */
int gw__parse_duration_ms(const char *s, int64_t *out);
int gw__parse_size(const char *s, uint64_t *out);

/* Split "host:port" / "[v6]:port" into host (no brackets) and port. */
int gw__split_hostport(const char *s, char *host, size_t host_len, uint16_t *port);

/* Where one key's value came from, per section instance. */
typedef struct gw__origin {
    int line;  /* line in the file of the (last) assignment; 0 = not from the file */
    char *env; /* environment variable that set it, or NULL */
    int set;   /* holds an explicit (non-empty) value from the file or the environment */
    int bad;   /* an assignment was refused (already reported: no follow-up errors) */
    int have_fp;
    uint64_t fp_dev, fp_ino, fp_size;
    int64_t fp_mtime_ns; /* fingerprint of a K_FILE key's file, taken at load */
} gw__origin;

struct gw__meta {
    int line;           /* section header line; 0 = section absent */
    gw__origin *origin; /* n_keys entries */
};

#endif /* GW_CONFIG_INTERNAL */

#ifdef __cplusplus
}
#endif
#endif
