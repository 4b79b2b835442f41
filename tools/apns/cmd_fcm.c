/*
 * cmd_fcm.c - `apns fcm`: Firebase Cloud Messaging (Android) from the shell.
 *
 *   apns fcm push   one message to many registration tokens (cmd_push.c: the
 *                   same run, output and exit codes as `apns push`)
 *   apns fcm token  one OAuth2 access token for a service-account key file,
 *                   to debug credentials (apns_fcm_token_fetch: one round
 *                   trip, no retry). The token goes to stdout alone, so a
 *                   script can take it ($(apns fcm token ...)); stderr says it
 *                   is a secret and when it expires.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "apns/error.h"
#include "apns/fcm_auth.h"
#include "apns_cli.h"
#include "cli.h"
#include "cli_auth.h"

#define TOKEN_PROG "apns fcm token"

void apns_cmd_fcm_usage(FILE *f)
{
    fputs("usage: apns fcm push [options]    send to FCM registration tokens (Android)\n"
          "       apns fcm token [options]   print an OAuth2 access token for a key file\n"
          "\n"
          "Run 'apns fcm push --help' or 'apns fcm token --help' for the options.\n",
          f);
}

static void token_usage(FILE *f)
{
    fputs(
        "usage: apns fcm token --service-account FILE [--token-url URL] [--ca-file FILE]\n"
        "                      [--proxy HOST:PORT] [--timeout SECONDS]\n"
        "\n"
        "Fetches one OAuth2 access token for the service account (an RS256 JWT grant\n"
        "sent to the token endpoint) and prints it on stdout, alone on its line; its\n"
        "lifetime and a reminder that it is a secret go to stderr. Useful to check a key\n"
        "file, and for other HTTP clients: authorization: Bearer <token>.\n"
        "\n"
        "  --service-account FILE    the service account's JSON key file\n"
        "  --token-url URL           the token endpoint, https://HOST[:PORT]/PATH (default:\n"
        "                            the key file's token_uri; fcm-sim: https://HOST:PORT/token)\n"
        "  --ca-file FILE            trust these CA certificates (default: system store)\n"
        "  --proxy HOST:PORT         connect through an HTTP CONNECT proxy\n"
        "  --timeout SECONDS         give up after this long (default 30)\n"
        "\n"
        "Exit status: 0 token printed; 2 usage error, unreadable or invalid key file;\n"
        "3 the endpoint refused the grant (its error is printed), or could not be reached.\n",
        f);
}

typedef struct token_run {
    int done, err, http_status;
    char detail[600];
    char token[APNS_FCM_ACCESS_TOKEN_MAX + 1];
    int64_t expires_in;
} token_run;

static void on_token(const apns_fcm_token_result *r, void *ud)
{
    token_run *t = ud;

    t->done = 1;
    t->err = r->err;
    t->http_status = r->http_status;
    snprintf(t->detail, sizeof(t->detail), "%s", r->detail ? r->detail : "");
    if (r->err == 0) {
        snprintf(t->token, sizeof(t->token), "%s", r->access_token);
        t->expires_in = r->expires_in;
    }
}

static int cmd_token(int argc, char **argv)
{
    const char *sa = NULL, *token_url = NULL, *ca_file = NULL, *proxy = NULL, *timeout = NULL;
    cli_opt opts[] = {
        {"service-account", CLI_STRING, &sa, 0}, {"token-url", CLI_STRING, &token_url, 0},
        {"ca-file", CLI_STRING, &ca_file, 0},    {"proxy", CLI_STRING, &proxy, 0},
        {"timeout", CLI_STRING, &timeout, 0},    {NULL, CLI_FLAG, NULL, 0},
    };
    apns_fcm_account *acct = NULL;
    struct event_base *base = NULL;
    cli_fcm_conn conn;
    token_run t;
    char detail[512] = "";
    int help = 0, code = CLI_EXIT_USAGE, rc;
    int64_t timeout_s = 30;

    memset(&t, 0, sizeof(t));
    if (cli_parse(TOKEN_PROG, opts, argc, argv, &help) != 0)
        goto out;
    if (help) {
        token_usage(stdout);
        code = CLI_EXIT_OK;
        goto out;
    }
    if (!sa) {
        cli_error(TOKEN_PROG, "--service-account FILE is required");
        goto out;
    }
    if (timeout && cli_parse_i64(TOKEN_PROG, "timeout", timeout, 1, 3600, &timeout_s) != 0)
        goto out;
    if (ca_file && !cli_readable(TOKEN_PROG, "ca-file", ca_file))
        goto out;
    if (cli_fcm_conn_init(TOKEN_PROG, &conn, token_url, NULL, 0, ca_file, proxy) != 0)
        goto out;
    conn.o.request_timeout_ms = timeout_s * 1000;
    code = cli_fcm_account_load(TOKEN_PROG, "service-account", sa, &acct);
    if (code != CLI_EXIT_OK)
        goto out;
    code = CLI_EXIT_CONNECTION;
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (base == NULL) {
        cli_error(TOKEN_PROG, "cannot create the event loop");
        goto out;
    }
    rc = apns_fcm_token_fetch(NULL, base, acct, &conn.o, on_token, &t, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(TOKEN_PROG, "%s", detail[0] ? detail : apns_strerror(rc));
        code = rc == APNS_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_CONNECTION;
        goto out;
    }
    while (!t.done)
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            break;
    if (!t.done || t.err != 0) {
        cli_error(TOKEN_PROG, "no access token for %s: %s (%s)",
                  apns_fcm_account_client_email(acct), t.detail[0] ? t.detail : "no answer",
                  apns_err_name(t.done ? t.err : APNS_ETIMEOUT));
        goto out;
    }
    printf("%s\n", t.token);
    fflush(stdout);
    fprintf(stderr,
            "%s: this access token is a SECRET: whoever holds it can send to project %s "
            "until it expires in %" PRId64 " s. Do not log or share it.\n",
            TOKEN_PROG, apns_fcm_account_project_id(acct), t.expires_in);
    code = CLI_EXIT_OK;
out:
    if (base)
        event_base_free(base);
    apns_fcm_account_free(acct);
    memset(t.token, 0, sizeof(t.token));
    return code;
}

int apns_cmd_fcm(int argc, char **argv)
{
    if (argc < 1) {
        apns_cmd_fcm_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
        strcmp(argv[0], "help") == 0) {
        apns_cmd_fcm_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[0], "push") == 0)
        return apns_cmd_fcm_push(argc - 1, argv + 1);
    if (strcmp(argv[0], "token") == 0)
        return cmd_token(argc - 1, argv + 1);
    cli_error("apns fcm", "unknown command '%s' (commands: push, token)", argv[0]);
    return CLI_EXIT_USAGE;
}
