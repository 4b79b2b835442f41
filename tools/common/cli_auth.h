/*
 * cli_auth.h - the connection and authentication flags the `apns` commands
 * share (push, channel, broadcast): token auth with a .p8 key, certificate
 * auth with PEM or PKCS#12, --env, --ca-file, --insecure, --h2c, --proxy.
 * One place for their rules and messages, so every command refuses the same
 * mistakes the same way.
 *
 * Program helpers: messages go to stderr prefixed with the program name.
 */
#ifndef APNS_TOOLS_CLI_AUTH_H
#define APNS_TOOLS_CLI_AUTH_H

#include "apns/client.h"
#include "apns/jwt.h"
#include "cli.h"

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

/* 1 for the libapns errors that mean a connection or credential problem
 * (exit code 3): TLS, verification, connect, proxy, key, ... */
int cli_is_conn_error(int err);

/* The --insecure warning, three lines on stderr. */
void cli_warn_insecure(const char *prog);

#endif
