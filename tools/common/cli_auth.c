/* cli_auth.c - the shared connection and authentication flags (cli_auth.h). */
#include "cli_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"
#include "apns/fcm.h"

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

/* ---- FCM ------------------------------------------------------------- */

int cli_fcm_account_load(const char *prog, const char *flag, const char *path,
                         apns_fcm_account **out)
{
    char detail[512] = "";
    int rc;

    *out = NULL;
    if (!cli_readable(prog, flag, path))
        return CLI_EXIT_USAGE;
    rc = apns_fcm_account_load_file(out, path, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(prog, "--%s %s", flag, detail[0] ? detail : apns_strerror(rc));
        return rc == APNS_EKEY ? CLI_EXIT_CONNECTION : CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int cli_fcm_conn_init(const char *prog, cli_fcm_conn *c, const char *token_url, const char *host,
                      unsigned port, const char *ca_file, const char *proxy)
{
    memset(c, 0, sizeof(*c));
    if (token_url) {
        if (strncmp(token_url, "https://", 8) != 0 || token_url[8] == '\0') {
            cli_error(prog, "--token-url: expected https://HOST[:PORT]/PATH, got '%s'", token_url);
            return -1;
        }
        c->o.token_url = token_url;
    } else if (host) {
        if (strchr(host, ':')) /* an IPv6 literal: [addr]:port */
            snprintf(c->token_url, sizeof(c->token_url), "https://[%s]:%u/token", host,
                     port ? port : 443);
        else
            snprintf(c->token_url, sizeof(c->token_url), "https://%s:%u/token", host,
                     port ? port : 443);
        c->o.token_url = c->token_url;
    }
    c->o.ca_file = ca_file;
    if (proxy) {
        const char *colon = strrchr(proxy, ':');
        int64_t v;
        if (cli_parse_proxy(prog, proxy) != 0)
            return -1;
        if ((size_t)(colon - proxy) >= sizeof(c->proxy_host)) {
            cli_error(prog, "--proxy: host name too long");
            return -1;
        }
        memcpy(c->proxy_host, proxy, (size_t)(colon - proxy));
        cli_parse_i64(prog, "proxy port", colon + 1, 1, 65535, &v);
        c->o.proxy_host = c->proxy_host;
        c->o.proxy_port = (uint16_t)v;
    }
    return 0;
}

static void fcm_on_state(const apns_fcm_auth_event *ev, void *ud)
{
    cli_fcm_auth *fa = ud;

    fa->state = ev->state;
    if (ev->state == APNS_FCM_AUTH_READY) {
        fa->ready_once = 1;
    } else if (ev->state == APNS_FCM_AUTH_RETRYING) {
        if (!fa->ready_once && fa->err == 0) {
            fa->err = ev->err ? ev->err : APNS_EUNAVAILABLE;
            snprintf(fa->error, sizeof(fa->error), "%s",
                     ev->detail && *ev->detail ? ev->detail : apns_strerror(fa->err));
        } else if (fa->ready_once) {
            char msg[700];
            snprintf(msg, sizeof(msg), "access token refresh failed: %s (retry in %lld ms)",
                     ev->detail ? ev->detail : "", (long long)ev->retry_in_ms);
            if (fa->log)
                cli_log_line(fa->log, APNS_LOG_WARN, msg);
            else
                cli_error(fa->prog, "warning: %s", msg);
        }
    }
}

int cli_fcm_auth_start(cli_fcm_auth *fa, const char *prog, struct event_base *base,
                       const apns_fcm_account *account, const cli_fcm_conn *conn)
{
    apns_fcm_auth_opts o;
    char detail[512] = "";
    cli_logger *log = fa->log;
    int rc;

    memset(fa, 0, sizeof(*fa));
    fa->prog = prog;
    fa->log = log;
    rc = apns_token_cache_new_external(&fa->cache);
    if (rc != 0) {
        cli_error(prog, "cannot make the token cache: %s", apns_strerror(rc));
        return CLI_EXIT_CONNECTION;
    }
    apns_fcm_auth_opts_init(&o);
    o.account = account;
    o.cache = fa->cache;
    o.conn = conn->o;
    o.on_state = fcm_on_state;
    o.ud = fa;
    rc = apns_fcm_auth_new(&fa->auth, base, &o, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(prog, "%s", detail[0] ? detail : apns_strerror(rc));
        return rc == APNS_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_CONNECTION;
    }
    while (!fa->ready_once && fa->err == 0)
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            break;
    if (!fa->ready_once) {
        cli_error(prog, "cannot get an access token for %s: %s (%s)",
                  apns_fcm_account_client_email(account),
                  fa->error[0] ? fa->error : "event loop failed", apns_err_name(fa->err));
        return CLI_EXIT_CONNECTION;
    }
    return CLI_EXIT_OK;
}

void cli_fcm_auth_free(cli_fcm_auth *fa)
{
    apns_fcm_auth_free(fa->auth);
    apns_token_cache_free(fa->cache);
    fa->auth = NULL;
    fa->cache = NULL;
}
