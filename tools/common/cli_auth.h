/*
 * cli_auth.h - the connection and authentication flags the `apns` commands
 * share (push, channel, broadcast): token auth with a .p8 key, certificate
 * auth with PEM or PKCS#12, --env, --ca-file, --insecure, --h2c, --proxy.
 * One place for their rules and messages, so every command refuses the same
 * mistakes the same way.
 *
 * FCM (`apns fcm ...`, apns-bench --fcm): a service-account key file loaded,
 * the token endpoint's connection settings, and an apns_fcm_auth that keeps
 * an external token cache filled for an FCM apns_client. The first access
 * token is fetched before anything is sent, so a refused key or an
 * unreachable endpoint is one clear error (exit 3), not a queue of
 * notifications waiting for a token that never comes.
 *
 * Program helpers: messages go to stderr prefixed with the program name.
 */
#ifndef APNS_TOOLS_CLI_AUTH_H
#define APNS_TOOLS_CLI_AUTH_H

#include <event2/event.h>

#include "apns/client.h"
#include "apns/fcm_auth.h"
#include "apns/jwt.h"
#include "cli.h"
#include "cli_log.h"

typedef struct cli_auth_args {
    const char *key_file, *key_id, *team_id; /* token auth */
    const char *cert, *key;                  /* certificate auth, PEM */
    const char *p12, *p12_password;          /* certificate auth, PKCS#12 */
} cli_auth_args;

/* The cli_opt entries of the authentication flags, writing into a
 * cli_auth_args `a` (an lvalue). */
#define CLI_AUTH_OPTS(a)                                                                           \
    {"key-file", CLI_STRING, &(a).key_file, 0}, {"key-id", CLI_STRING, &(a).key_id, 0},            \
        {"team-id", CLI_STRING, &(a).team_id, 0}, {"cert", CLI_STRING, &(a).cert, 0},              \
        {"key", CLI_STRING, &(a).key, 0}, {"p12", CLI_STRING, &(a).p12, 0},                        \
    {                                                                                              \
        "p12-password", CLI_STRING, &(a).p12_password, 0                                           \
    }

/* The --help lines of the authentication flags. */
#define CLI_AUTH_HELP                                                                              \
    "Authentication (one of):\n"                                                                   \
    "  --key-file FILE --key-id KEYID --team-id TEAMID\n"                                          \
    "                            token auth with a .p8 signing key\n"                              \
    "  --cert FILE [--key FILE]  certificate auth, PEM (key defaults to inside FILE)\n"            \
    "  --p12 FILE [--p12-password PW]\n"                                                           \
    "                            certificate auth, PKCS#12; the password may also come\n"          \
    "                            from the environment variable APNS_P12_PASSWORD\n"

/* The credentials, loaded. */
typedef struct cli_auth {
    int token;                /* token auth (else a certificate) */
    apns_signing_key *key;    /* token auth: owned */
    apns_token_cache *tokens; /* token auth: owned */
    const char *cert_file, *key_file, *p12_file, *p12_password; /* borrowed */
} cli_auth;

/* 1 when `path` can be opened for reading; else 0 after printing
 * "PROG: --FLAG PATH: reason". */
int cli_readable(const char *prog, const char *flag, const char *path);

/* Checks a --proxy value (HOST:PORT). 0, or -1 after printing. */
int cli_parse_proxy(const char *prog, const char *s);

/* --env production|sandbox (also "development"; NULL: production). 0, or -1
 * after printing. */
int cli_parse_env(const char *prog, const char *env, apns_environment *out);

/* Checks the flags: exactly one kind of credentials, complete, files
 * readable, no certificate with h2c. Returns 0, or -1 after printing (a
 * usage error). Sets *token_auth. */
int cli_auth_check(const char *prog, const cli_auth_args *a, int h2c, int *token_auth);

/* Loads what cli_auth_check() accepted into *out (zeroed first). Returns
 * CLI_EXIT_OK, or after printing CLI_EXIT_CONNECTION (an unusable key) or
 * CLI_EXIT_USAGE (a key file that is no key). Free with cli_auth_free(). */
int cli_auth_load(const char *prog, const cli_auth_args *a, cli_auth *out);

void cli_auth_free(cli_auth *au);

/* ---- FCM ------------------------------------------------------------- */

/* Loads a service-account key file given as --FLAG. Returns CLI_EXIT_OK, or
 * after printing CLI_EXIT_USAGE (unreadable file, not a key file: the
 * library's detail names the file and the field) or CLI_EXIT_CONNECTION (a
 * private key that is unusable, APNS_EKEY). *out is the caller's
 * (apns_fcm_account_free). */
int cli_fcm_account_load(const char *prog, const char *flag, const char *path,
                         apns_fcm_account **out);

/* The token endpoint's connection settings; strings borrowed from argv
 * except the proxy host (kept here). */
typedef struct cli_fcm_conn {
    apns_fcm_conn_opts o;
    char proxy_host[256];
    char token_url[512];
} cli_fcm_conn;

/* Fills c: token_url (NULL: when host is set, https://HOST:PORT/token,
 * the simulator's endpoint on the same listener; else the key file's
 * token_uri), ca_file, proxy ("HOST:PORT" or NULL). Returns 0, or -1 after
 * printing. */
int cli_fcm_conn_init(const char *prog, cli_fcm_conn *c, const char *token_url, const char *host,
                      unsigned port, const char *ca_file, const char *proxy);

/* A running apns_fcm_auth feeding an external cache. */
typedef struct cli_fcm_auth {
    const char *prog;
    apns_token_cache *cache; /* owned: what the FCM client reads */
    apns_fcm_auth *auth;     /* owned */
    apns_fcm_auth_state state;
    int ready_once; /* a token came */
    int err;        /* the first failure before any token, else 0 */
    char error[512];
    cli_logger *log; /* optional: refresh failures after the first token */
} cli_fcm_auth;

/* Starts fetching tokens for account on base and runs the loop until the
 * first token is in the cache, or the first request failed. Returns
 * CLI_EXIT_OK, or CLI_EXIT_CONNECTION after printing "cannot get an access
 * token: <the endpoint's answer>". Later failures (refreshes) are retried
 * by the library and printed as warnings. Free with cli_fcm_auth_free()
 * after the client that reads the cache. */
int cli_fcm_auth_start(cli_fcm_auth *fa, const char *prog, struct event_base *base,
                       const apns_fcm_account *account, const cli_fcm_conn *conn);
void cli_fcm_auth_free(cli_fcm_auth *fa);

/* 1 for the libapns errors that mean a connection or credential problem
 * (exit code 3): TLS, verification, connect, proxy, key, ... */
int cli_is_conn_error(int err);

/* The --insecure warning, three lines on stderr. */
void cli_warn_insecure(const char *prog);

#endif
