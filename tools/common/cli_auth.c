/* cli_auth.c - the shared connection and authentication flags (cli_auth.h). */
#include "cli_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"

int cli_readable(const char *prog, const char *flag, const char *path)
{
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        cli_error(prog, "--%s %s: %s", flag, path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

int cli_parse_proxy(const char *prog, const char *s)
{
    const char *colon = strrchr(s, ':');
    int64_t port;

    if (colon == NULL || colon == s) {
        cli_error(prog, "--proxy: expected HOST:PORT, got '%s'", s);
        return -1;
    }
    return cli_parse_i64(prog, "proxy port", colon + 1, 1, 65535, &port);
}

int cli_parse_env(const char *prog, const char *env, apns_environment *out)
{
    if (env == NULL || strcmp(env, "production") == 0) {
        *out = APNS_ENV_PRODUCTION;
    } else if (strcmp(env, "sandbox") == 0 || strcmp(env, "development") == 0) {
        *out = APNS_ENV_SANDBOX;
    } else {
        cli_error(prog, "--env: expected production or sandbox, got '%s'", env);
        return -1;
    }
    return 0;
}

int cli_auth_check(const char *prog, const cli_auth_args *a, int h2c, int *token_auth)
{
    int token = a->key_file || a->key_id || a->team_id;
    int cert = a->cert || a->key;
    int p12 = a->p12 || a->p12_password;

    if (token + cert + p12 == 0) {
        cli_error(prog, "no credentials: give --key-file/--key-id/--team-id (token auth), "
                        "--cert [--key] or --p12 (certificate auth)");
        return -1;
    }
    if (token + cert + p12 > 1) {
        cli_error(prog, "give one kind of credentials: --key-file/--key-id/--team-id, "
                        "--cert/--key, or --p12/--p12-password");
        return -1;
    }
    if (token && (!a->key_file || !a->key_id || !a->team_id)) {
        cli_error(prog, "token auth needs all of --key-file, --key-id and --team-id");
        return -1;
    }
    if (cert && !a->cert) {
        cli_error(prog, "--key needs --cert (the certificate it belongs to)");
        return -1;
    }
    if (p12 && !a->p12) {
        cli_error(prog, "--p12-password needs --p12");
        return -1;
    }
    if (h2c && !token) {
        cli_error(prog, "--h2c has no TLS, so certificate auth cannot work; use token auth");
        return -1;
    }
    if (token && !cli_readable(prog, "key-file", a->key_file))
        return -1;
    if (a->cert && !cli_readable(prog, "cert", a->cert))
        return -1;
    if (a->key && !cli_readable(prog, "key", a->key))
        return -1;
    if (a->p12 && !cli_readable(prog, "p12", a->p12))
        return -1;
    *token_auth = token;
    return 0;
}

int cli_auth_load(const char *prog, const cli_auth_args *a, cli_auth *out)
{
    char detail[512] = "";
    int rc;

    memset(out, 0, sizeof(*out));
    out->cert_file = a->cert;
    out->key_file = a->key;
    out->p12_file = a->p12;
    out->p12_password = a->p12_password;
    if (a->p12 && !a->p12_password)
        out->p12_password = getenv("APNS_P12_PASSWORD");
    if (!a->key_file)
        return CLI_EXIT_OK;
    out->token = 1;
    rc = apns_signing_key_load_file(&out->key, a->key_file, a->key_id, a->team_id, detail,
                                    sizeof(detail));
    if (rc != 0) {
        cli_error(prog, "%s", detail[0] ? detail : apns_strerror(rc));
        return rc == APNS_EKEY ? CLI_EXIT_CONNECTION : CLI_EXIT_USAGE;
    }
    rc = apns_token_cache_new(&out->tokens, out->key, 0);
    if (rc != 0) {
        cli_error(prog, "%s", apns_strerror(rc));
        cli_auth_free(out);
        return CLI_EXIT_CONNECTION;
    }
    return CLI_EXIT_OK;
}

void cli_auth_free(cli_auth *au)
{
    apns_token_cache_free(au->tokens);
    apns_signing_key_free(au->key);
    au->tokens = NULL;
    au->key = NULL;
}

void cli_warn_insecure(const char *prog)
{
    fprintf(stderr,
            "%s: WARNING: --insecure: the server certificate is NOT verified. Anyone on the\n"
            "%s: WARNING: network path can impersonate the server and read the notifications\n"
            "%s: WARNING: and credentials. Use this only against a test server.\n",
            prog, prog, prog);
}

int cli_is_conn_error(int err)
{
    switch (err) {
    case APNS_ETLS:
    case APNS_EVERIFY:
    case APNS_EALPN:
    case APNS_ERESOLVE:
    case APNS_ECONNECT:
    case APNS_EPROXY:
    case APNS_ECLOSED:
    case APNS_ETIMEOUT:
    case APNS_EPROTO:
    case APNS_EGOAWAY:
    case APNS_ECERT:
    case APNS_EKEY:
    case APNS_ECRYPTO:
        return 1;
    default:
        return 0;
    }
}
