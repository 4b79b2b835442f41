/*
 * cmd_channel.c - `apns channel create|read|list|delete` and `apns
 * broadcast`: Live Activity broadcast channels (iOS 18) from the shell.
 *
 * Both are one request each: everything is checked before connecting (flags,
 * files, credentials, channel id, payload), then one request goes out on a
 * libevent loop and its answer is printed as one JSON line on stdout:
 *   {"op":"create","topic":"..","request_id":"..","status":201,
 *    "outcome":"accepted","channel_id":"..","storage_policy":1}
 *   {"op":"broadcast","topic":"..","channel_id":"..","request_id":"..",
 *    "status":400,"outcome":"rejected","reason":"ChannelNotRegistered","action":".."}
 * Outcomes and exit codes are apns push's: accepted 0, rejected or failed 1,
 * a connection or credential problem 3, bad input 2 (nothing sent).
 *
 * Hosts. Channels are managed on Apple's channel-management service
 * (apns/channel.h: api-manage-broadcast[.sandbox].push.apple.com, ports
 * 2196 production / 2195 sandbox); --manage-host/--manage-port replace it.
 * Publishes go to the device-push host or to api-broadcast.* (Apple's
 * pages disagree; apns/client.h, apns_publish_host): --publish-host push or
 * broadcast, or --host/--port for another server (apns-sim).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "apns/channel.h"
#include "apns/client.h"
#include "apns/error.h"
#include "apns/notification.h"
#include "apns/payload.h"
#include "apns/reason.h"
#include "apns_cli.h"
#include "cli.h"
#include "cli_auth.h"
#include "cli_log.h"

#define PAYLOAD_FILE_MAX (1024 * 1024) /* read limit; APNs' own limit is checked after */

/* --- shared ---------------------------------------------------------------- */

#define CONN_HELP                                                                                  \
    "  --env production|sandbox  APNs environment (default production)\n"                          \
    "  --ca-file FILE            trust these CA certificates (default: system store)\n"            \
    "  --insecure                do NOT verify the server certificate (tests only)\n"              \
    "  --h2c                     plaintext HTTP/2 without TLS (tests only; token auth)\n"          \
    "  --proxy HOST:PORT         connect through an HTTP CONNECT proxy\n"                          \
    "  --max-attempts N          sends of the request, retries included (default 5)\n"             \
    "  --timeout SECONDS         give up when no answer came by then (default 60)\n"               \
    "  --verbose                 also print the client's informational log on stderr\n"

#define EXIT_HELP                                                                                  \
    "Exit status:\n"                                                                               \
    "  0  accepted\n"                                                                              \
    "  1  rejected by APNs, or failed (no answer; see the JSON line)\n"                            \
    "  2  usage error or bad input (flag value, file, channel id, payload); nothing sent\n"        \
    "  3  connection or credential problem: cannot connect, TLS or certificate failure,\n"         \
    "     an unusable key or certificate, credentials refused by APNs, or --timeout\n"

/* The flags both commands take. */
typedef struct common_args {
    const char *env, *ca_file, *proxy, *max_attempts, *timeout, *topic;
    int insecure, h2c, verbose;
    cli_auth_args auth;
} common_args;

#define COMMON_OPTS(c)                                                                             \
    {"env", CLI_STRING, &(c).env, 0}, {"ca-file", CLI_STRING, &(c).ca_file, 0},                    \
        {"insecure", CLI_FLAG, &(c).insecure, 0}, {"h2c", CLI_FLAG, &(c).h2c, 0},                  \
        {"proxy", CLI_STRING, &(c).proxy, 0}, {"max-attempts", CLI_STRING, &(c).max_attempts, 0},  \
        {"timeout", CLI_STRING, &(c).timeout, 0}, {"verbose", CLI_FLAG, &(c).verbose, 0},          \
        {"topic", CLI_STRING, &(c).topic, 0}, CLI_AUTH_OPTS((c).auth)

/* The checked common flags. */
typedef struct common {
    apns_environment env;
    int token_auth;
    int max_attempts;  /* 0: the library's default */
    int64_t timeout_s; /* whole seconds */
    cli_auth auth;     /* loaded by common_load() */
    cli_logger log;
    struct event_base *base;
    struct event *ev_timeout;
    int done, timed_out;
    int conn_problem;
} common;

static int common_check(const char *prog, const common_args *a, common *c)
{
    int64_t v;

    if (cli_parse_env(prog, a->env, &c->env) != 0)
        return -1;
    if (a->proxy && cli_parse_proxy(prog, a->proxy) != 0)
        return -1;
    if (a->h2c && (a->ca_file || a->insecure)) {
        cli_error(prog, "--h2c is plaintext; --ca-file and --insecure do not apply");
        return -1;
    }
    if (a->ca_file && !cli_readable(prog, "ca-file", a->ca_file))
        return -1;
    if (a->max_attempts) {
        if (cli_parse_i64(prog, "max-attempts", a->max_attempts, 1, 100, &v) != 0)
            return -1;
        c->max_attempts = (int)v;
    }
    c->timeout_s = 60;
    if (a->timeout && cli_parse_i64(prog, "timeout", a->timeout, 1, 86400, &c->timeout_s) != 0)
        return -1;
    if (cli_auth_check(prog, &a->auth, a->h2c, &c->token_auth) != 0)
        return -1;
    if (!a->topic || !*a->topic) {
        cli_error(prog, "--topic is required: the app's bundle id (no .push-type.liveactivity "
                        "suffix)");
        return -1;
    }
    return 0;
}

static void on_timeout(evutil_socket_t fd, short what, void *ud)
{
    common *c = ud;
    (void)fd;
    (void)what;
    c->timed_out = 1;
    event_base_loopbreak(c->base);
}

/* Loads the credentials and makes the loop. Returns CLI_EXIT_OK or the
 * exit code after printing. */
static int common_load(const char *prog, const common_args *a, common *c)
{
    int code = cli_auth_load(prog, &a->auth, &c->auth);
    if (code != CLI_EXIT_OK)
        return code;
    if (a->insecure)
        cli_warn_insecure(prog);
    signal(SIGPIPE, SIG_IGN);
    c->log.prog = prog;
    c->log.verbose = a->verbose;
    c->base = event_base_new();
    c->ev_timeout = c->base ? evtimer_new(c->base, on_timeout, c) : NULL;
    if (!c->ev_timeout) {
        cli_error(prog, "cannot create the event loop");
        return CLI_EXIT_CONNECTION;
    }
    return CLI_EXIT_OK;
}

/* The connection options both kinds of client take (apns_channel_client_opts
 * and apns_client_opts name them alike): credentials, TLS, proxy, attempts. */
#define CONN_OPTS_FILL(o, args, com)                                                               \
    do {                                                                                           \
        (o).tokens = (com).auth.tokens;                                                            \
        (o).cert_file = (com).auth.cert_file;                                                      \
        (o).key_file = (com).auth.key_file;                                                        \
        (o).p12_file = (com).auth.p12_file;                                                        \
        (o).p12_password = (com).auth.p12_password;                                                \
        (o).ca_file = (args).ca_file;                                                              \
        (o).insecure_skip_verify = (args).insecure;                                                \
        (o).h2c = (args).h2c;                                                                      \
        (o).proxy = (args).proxy;                                                                  \
        (o).retry.max_attempts = (com).max_attempts;                                               \
    } while (0)

/* Runs the loop until the answer came or --timeout. */
static void common_run(common *c)
{
    struct timeval tv = {(time_t)c->timeout_s, 0};
    event_add(c->ev_timeout, &tv);
    while (!c->done && !c->timed_out)
        if (event_base_loop(c->base, EVLOOP_ONCE) < 0)
            break;
    cli_log_flush(&c->log);
}

static void common_free(common *c)
{
    if (c->ev_timeout)
        event_free(c->ev_timeout);
    if (c->base)
        event_base_free(c->base);
    cli_auth_free(&c->auth);
}

static void on_log(apns_log_level level, const char *msg, void *ud)
{
    common *c = ud;
    cli_log_line(&c->log, level, msg);
}

/* The fields every answer line has after "op" and its own leading fields:
 * request id, status, outcome, reason, action, error. Sets c->conn_problem
 * as apns push does (credentials refused, a connection error). */
static void print_outcome(common *c, const char *request_id, apns_outcome outcome, int status,
                          const char *reason, apns_action action, int error)
{
    static const char *const names[] = {"accepted", "rejected", "failed"};
    FILE *o = stdout;
    if (request_id && *request_id) {
        fputs(",\"request_id\":", o);
        cli_json_string(o, request_id);
    }
    fprintf(o, ",\"status\":%d,\"outcome\":\"%s\"", status,
            (unsigned)outcome < 3 ? names[outcome] : "failed");
    if (reason && *reason) {
        fputs(",\"reason\":", o);
        cli_json_string(o, reason);
    }
    if (outcome != APNS_OUTCOME_ACCEPTED && action != APNS_ACTION_NONE)
        fprintf(o, ",\"action\":\"%s\"", apns_action_name(action));
    if (outcome == APNS_OUTCOME_FAILED)
        fprintf(o, ",\"error\":\"%s\"", apns_err_name(error));
    if (action == APNS_ACTION_PAUSE || (outcome == APNS_OUTCOME_FAILED && cli_is_conn_error(error)))
        c->conn_problem = 1;
}

static int exit_code(const common *c, int accepted)
{
    if (c->conn_problem || c->timed_out)
        return CLI_EXIT_CONNECTION;
    return accepted ? CLI_EXIT_OK : CLI_EXIT_REJECTED;
}

/* Checks a channel id as libapns will (APNS_ECHANNELID), naming the flag. */
static int check_channel_id(const char *prog, const char *id)
{
    apns_notification n;
    apns_notification_init(&n);
    n.channel_id = id;
    n.topic = "x";
    n.push_type = APNS_PUSH_LIVEACTIVITY;
    n.priority = 10;
    n.expiration = 0;
    n.payload = "{}";
    n.payload_len = 2;
    char detail[256] = "";
    if (apns_notification_validate(&n, 1, detail, sizeof detail) == APNS_ECHANNELID) {
        cli_error(prog,
                  "--channel: '%s' is not a channel id (base64, as create or list "
                  "print it)%s%s",
                  id, detail[0] ? ": " : "", detail);
        return -1;
    }
    return 0;
}

/* --- apns channel ---------------------------------------------------------- */

#define CH_PROG "apns channel"

void apns_cmd_channel_usage(FILE *f)
{
    fputs(
        "usage: apns channel create [connection] [auth] --topic BUNDLE_ID [--storage-policy P]\n"
        "       apns channel read   [connection] [auth] --topic BUNDLE_ID --channel ID\n"
        "       apns channel list   [connection] [auth] --topic BUNDLE_ID\n"
        "       apns channel delete [connection] [auth] --topic BUNDLE_ID --channel ID\n"
        "\n"
        "Manages the broadcast channels of an app (Live Activities, iOS 18) on APNs'\n"
        "channel-management service, and prints the answer as one JSON line, e.g.\n"
        "  {\"op\":\"create\",\"topic\":\"com.example.app\",\"request_id\":\"..\",\"status\":201,\n"
        "   \"outcome\":\"accepted\",\"channel_id\":\"dHN0LTEyMzQ1Ng==\"}\n"
        "  {\"op\":\"read\",..,\"status\":200,\"outcome\":\"accepted\",\"channel_id\":\"..\","
        "\"storage_policy\":1}\n"
        "  "
        "{\"op\":\"list\",..,\"status\":200,\"outcome\":\"accepted\",\"channels\":[\"..\",\"..\"]}"
        "\n"
        "  {\"op\":\"delete\",..,\"status\":400,\"outcome\":\"rejected\","
        "\"reason\":\"ChannelNotRegistered\",..}\n"
        "An app holds at most 10000 channels per environment (CannotCreateChannelConfig).\n"
        "Deleting is irreversible.\n"
        "\n"
        "Channel:\n"
        "  --topic BUNDLE_ID         the app's bundle id (without .push-type.liveactivity)\n"
        "  --channel ID              read, delete: the channel id (base64) create printed\n"
        "  --storage-policy P        create: none (0, No Message Stored: publish with\n"
        "                            expiration 0) or most-recent (1, Most Recent Message\n"
        "                            Stored, the default); fixed for the channel's life\n"
        "  --request-id UUID         apns-request-id (default: a new random UUID)\n"
        "\n"
        "Connection:\n"
        "  --manage-host HOST        the channel-management server (default per --env:\n"
        "                            " APNS_MANAGE_HOST_PRODUCTION "\n"
        "                            or " APNS_MANAGE_HOST_SANDBOX ")\n"
        "  --manage-port PORT        its port (default 2196 production, 2195 sandbox;\n"
        "                            443 with --manage-host)\n" CONN_HELP "\n" CLI_AUTH_HELP
        "\n" EXIT_HELP,
        f);
}

typedef struct channel_args {
    common_args c;
    const char *manage_host, *manage_port, *channel, *storage_policy, *request_id;
} channel_args;

static void on_channel(apns_channel_client *cc, const apns_channel_result *r, void *ud)
{
    common *c = ud;
    FILE *o = stdout;
    (void)cc;
    fprintf(o, "{\"op\":\"%s\",\"topic\":", apns_channel_op_name(r->op));
    cli_json_string(o, r->bundle_id ? r->bundle_id : "");
    print_outcome(c, r->request_id, r->outcome, r->status, r->reason_str, r->action, r->error);
    if (r->channel_id) {
        fputs(",\"channel_id\":", o);
        cli_json_string(o, r->channel_id);
    }
    if (r->op == APNS_CHANNEL_READ && r->outcome == APNS_OUTCOME_ACCEPTED)
        fprintf(o, ",\"storage_policy\":%d", r->storage_policy);
    if (r->op == APNS_CHANNEL_LIST && r->outcome == APNS_OUTCOME_ACCEPTED) {
        fputs(",\"channels\":[", o);
        for (size_t i = 0; i < r->nchannels; i++) {
            if (i)
                fputc(',', o);
            cli_json_string(o, r->channels[i]);
        }
        fputc(']', o);
    }
    fputs("}\n", o);
    fflush(o);
    c->done = r->outcome == APNS_OUTCOME_ACCEPTED ? 1 : 2;
    event_base_loopbreak(c->base);
}

int apns_cmd_channel(int argc, char **argv)
{
    static const char *const ops[] = {"create", "read", "list", "delete", NULL};
    channel_args a;
    memset(&a, 0, sizeof(a));
    cli_opt opts[] = {
        COMMON_OPTS(a.c),
        {"manage-host", CLI_STRING, &a.manage_host, 0},
        {"manage-port", CLI_STRING, &a.manage_port, 0},
        {"channel", CLI_STRING, &a.channel, 0},
        {"storage-policy", CLI_STRING, &a.storage_policy, 0},
        {"request-id", CLI_STRING, &a.request_id, 0},
        {NULL, CLI_FLAG, NULL, 0},
    };
    common c;
    apns_channel_opts o;
    apns_channel_client *cc = NULL;
    int help = 0, op = -1, code = CLI_EXIT_USAGE, policy = APNS_STORAGE_MOST_RECENT, rc;
    int64_t v;
    char detail[512] = "";

    memset(&c, 0, sizeof(c));
    if (argc >= 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
        apns_cmd_channel_usage(stdout);
        return CLI_EXIT_OK;
    }
    for (int i = 0; argc >= 1 && ops[i]; i++)
        if (strcmp(argv[0], ops[i]) == 0)
            op = i;
    if (op < 0) {
        if (argc < 1)
            cli_error(CH_PROG, "missing operation: create, read, list or delete "
                               "(see 'apns channel --help')");
        else
            cli_error(CH_PROG, "unknown operation '%s' (create, read, list or delete)", argv[0]);
        return CLI_EXIT_USAGE;
    }
    if (cli_parse(CH_PROG, opts, argc - 1, argv + 1, &help) != 0)
        goto out;
    if (help) {
        apns_cmd_channel_usage(stdout);
        code = CLI_EXIT_OK;
        goto out;
    }
    if (common_check(CH_PROG, &a.c, &c) != 0)
        goto out;
    apns_channel_opts_init(&o);
    o.env = c.env;
    if (a.manage_host) {
        if (!*a.manage_host) {
            cli_error(CH_PROG, "--manage-host is empty");
            goto out;
        }
        o.env = APNS_ENV_CUSTOM;
        o.host = a.manage_host;
    }
    if (a.manage_port) {
        if (cli_parse_i64(CH_PROG, "manage-port", a.manage_port, 1, 65535, &v) != 0)
            goto out;
        o.port = (uint16_t)v;
    }
    if ((op == APNS_CHANNEL_READ || op == APNS_CHANNEL_DELETE) && !a.channel) {
        cli_error(CH_PROG, "%s needs --channel ID (the id create or list printed)", ops[op]);
        goto out;
    }
    if ((op == APNS_CHANNEL_CREATE || op == APNS_CHANNEL_LIST) && a.channel) {
        cli_error(CH_PROG, "%s takes no --channel (%s)", ops[op],
                  op == APNS_CHANNEL_CREATE ? "APNs picks the id" : "it lists every channel");
        goto out;
    }
    if (a.channel && check_channel_id(CH_PROG, a.channel) != 0)
        goto out;
    if (a.storage_policy) {
        if (op != APNS_CHANNEL_CREATE) {
            cli_error(CH_PROG, "--storage-policy is for create only (a channel keeps its policy)");
            goto out;
        }
        if (strcmp(a.storage_policy, "none") == 0 || strcmp(a.storage_policy, "0") == 0) {
            policy = APNS_STORAGE_NONE;
        } else if (strcmp(a.storage_policy, "most-recent") == 0 ||
                   strcmp(a.storage_policy, "1") == 0) {
            policy = APNS_STORAGE_MOST_RECENT;
        } else {
            cli_error(CH_PROG, "--storage-policy: expected none (0) or most-recent (1), got '%s'",
                      a.storage_policy);
            goto out;
        }
    }
    if (a.request_id && !apns_uuid_is_valid(a.request_id)) {
        cli_error(CH_PROG, "--request-id: '%s' is not a UUID (8-4-4-4-12 hex digits)",
                  a.request_id);
        goto out;
    }

    code = common_load(CH_PROG, &a.c, &c);
    if (code != CLI_EXIT_OK)
        goto out;
    CONN_OPTS_FILL(o, a.c, c);
    o.max_pending = 1;
    o.on_log = on_log;
    o.log_ud = &c;
    rc = apns_channel_client_new(&cc, c.base, &o, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(CH_PROG, "%s", detail[0] ? detail : apns_strerror(rc));
        code = (rc == APNS_EINVAL || rc == APNS_ECONFIG) ? CLI_EXIT_USAGE : CLI_EXIT_CONNECTION;
        goto out;
    }
    switch (op) {
    case APNS_CHANNEL_CREATE:
        rc = apns_channel_create(cc, a.c.topic, (apns_storage_policy)policy, a.request_id,
                                 on_channel, &c);
        break;
    case APNS_CHANNEL_READ:
        rc = apns_channel_read(cc, a.c.topic, a.channel, a.request_id, on_channel, &c);
        break;
    case APNS_CHANNEL_LIST:
        rc = apns_channel_list(cc, a.c.topic, a.request_id, on_channel, &c);
        break;
    default:
        rc = apns_channel_delete(cc, a.c.topic, a.channel, a.request_id, on_channel, &c);
        break;
    }
    if (rc != 0) {
        cli_error(CH_PROG, "--topic %s: %s", a.c.topic, apns_strerror(rc));
        code = CLI_EXIT_USAGE;
        goto out;
    }
    common_run(&c);
    if (!c.done) {
        fprintf(stdout, "{\"op\":\"%s\",\"topic\":", ops[op]);
        cli_json_string(stdout, a.c.topic);
        fputs(",\"status\":0,\"outcome\":\"failed\",\"error\":\"APNS_ETIMEOUT\"}\n", stdout);
        cli_error(CH_PROG, "no answer within %" PRId64 " s (--timeout)", c.timeout_s);
    }
    code = exit_code(&c, c.done == 1);

out:
    apns_channel_client_free(cc);
    common_free(&c);
    return code;
}

/* --- apns broadcast -------------------------------------------------------- */

#define BC_PROG "apns broadcast"

void apns_cmd_broadcast_usage(FILE *f)
{
    fputs("usage: apns broadcast [connection] [auth] --topic BUNDLE_ID --channel ID [headers]\n"
          "                      [payload]\n"
          "\n"
          "Publishes one Live Activity update or end to every activity subscribed to a\n"
          "broadcast channel (POST /4/broadcasts/apps/BUNDLE_ID, iOS 18) and prints the\n"
          "answer as one JSON line, e.g.\n"
          "  {\"op\":\"broadcast\",\"topic\":\"com.example.app\",\"channel_id\":\"..\","
          "\"request_id\":\"..\",\n"
          "   \"status\":200,\"outcome\":\"accepted\",\"apns_unique_id\":\"..\"}\n"
          "A broadcast cannot start an activity (event start is refused).\n"
          "\n"
          "Channel and headers:\n"
          "  --topic BUNDLE_ID         the app's bundle id (without .push-type.liveactivity)\n"
          "  --channel ID              the channel id (base64) apns channel create printed\n"
          "  --priority 10|5|1         apns-priority (default 10)\n"
          "  --expiration SECONDS      apns-expiration, UNIX seconds; 0 (the default) is\n"
          "                            required by a channel with storage policy none\n"
          "  --request-id UUID         apns-request-id (default: a new random UUID)\n"
          "\n"
          "Payload (one of):\n"
          "  --payload JSON            the body as given (a Live Activity JSON object)\n"
          "  --payload-file FILE       the body from a file\n"
          "  built from:\n"
          "  --event update|end        the Live Activity event (default update)\n"
          "  --content-state JSON      the activity's new state (a JSON object; required\n"
          "                            for update)\n"
          "  --timestamp SECONDS       when the state was true, UNIX seconds (default: now)\n"
          "  --stale-date SECONDS      when the system marks the activity outdated\n"
          "  --dismissal-date SECONDS  end: when the ended activity leaves the Lock Screen\n"
          "  --relevance-score N       ordering among the app's activities (a number)\n"
          "  --title T --body B        an alert shown with the update\n"
          "  --sound NAME              the alert's sound\n"
          "\n"
          "Connection:\n"
          "  --publish-host push|broadcast\n"
          "                            with --env: api[.sandbox].push.apple.com (push, the\n"
          "                            default) or api-broadcast[.sandbox].push.apple.com;\n"
          "                            Apple's pages name both\n"
          "  --host HOST               another server instead (e.g. apns-sim); not with\n"
          "                            --env or --publish-host\n"
          "  --port PORT               server port (default 443)\n" CONN_HELP "\n" CLI_AUTH_HELP
          "\n" EXIT_HELP,
          f);
}

typedef struct broadcast_args {
    common_args c;
    const char *host, *port, *publish_host, *channel, *priority, *expiration, *request_id;
    const char *payload, *payload_file, *event, *content_state, *timestamp, *stale_date,
        *dismissal_date, *relevance_score, *title, *body, *sound;
} broadcast_args;

static void on_publish(apns_client *cl, const apns_notification *n, const apns_result *r, void *ud)
{
    common *c = ud;
    FILE *o = stdout;
    (void)cl;
    if (c->done)
        return;
    fputs("{\"op\":\"broadcast\",\"topic\":", o);
    cli_json_string(o, n->topic);
    fputs(",\"channel_id\":", o);
    cli_json_string(o, n->channel_id);
    print_outcome(c, r->apns_id[0] ? r->apns_id : n->apns_id, r->outcome, r->status, r->reason_str,
                  r->action, r->error);
    if (r->apns_unique_id[0]) {
        fputs(",\"apns_unique_id\":", o);
        cli_json_string(o, r->apns_unique_id);
    }
    fputs("}\n", o);
    fflush(o);
    c->done = r->outcome == APNS_OUTCOME_ACCEPTED ? 1 : 2;
    event_base_loopbreak(c->base);
}

/* Sets a date-like key from a flag's value (UNIX seconds). */
static int set_seconds(const char *flag, const char *s, apns_payload *p,
                       int (*set)(apns_payload *, int64_t))
{
    int64_t v;
    if (cli_parse_i64(BC_PROG, flag, s, 0, INT64_MAX, &v) != 0)
        return -1;
    set(p, v);
    return 0;
}

/* Builds the payload from --payload, --payload-file or the builder flags.
 * Returns 0 and a heap *out, or -1 after printing. */
static int make_la_payload(const broadcast_args *a, char **out, size_t *len)
{
    int built = a->event || a->content_state || a->timestamp || a->stale_date ||
                a->dismissal_date || a->relevance_score || a->title || a->body || a->sound;
    if ((a->payload != NULL) + (a->payload_file != NULL) + (built != 0) > 1) {
        cli_error(BC_PROG, "give one payload: --payload, --payload-file, or the builder flags "
                           "(--event, --content-state, ...)");
        return -1;
    }
    if (a->payload) {
        *len = strlen(a->payload);
        *out = malloc(*len + 1);
        if (!*out) {
            cli_error(BC_PROG, "out of memory");
            return -1;
        }
        memcpy(*out, a->payload, *len + 1);
        return 0;
    }
    if (a->payload_file)
        return cli_read_file(BC_PROG, "--payload-file", a->payload_file, PAYLOAD_FILE_MAX, out,
                             len);
    if (!built) {
        cli_error(BC_PROG, "no payload: give --content-state JSON (an update), --event end, "
                           "--payload or --payload-file");
        return -1;
    }
    const char *event = a->event ? a->event : "update";
    if (strcmp(event, "update") != 0 && strcmp(event, "end") != 0) {
        cli_error(BC_PROG, "--event: expected update or end, got '%s'%s", event,
                  strcmp(event, "start") == 0 ? " (a broadcast cannot start an activity)" : "");
        return -1;
    }
    apns_payload *p;
    if (apns_payload_new(&p) != 0) {
        cli_error(BC_PROG, "out of memory");
        return -1;
    }
    int rc = -1;
    int64_t ts = (int64_t)time(NULL);
    if (a->timestamp && cli_parse_i64(BC_PROG, "timestamp", a->timestamp, 0, INT64_MAX, &ts) != 0)
        goto done;
    apns_payload_set_timestamp(p, ts);
    apns_payload_set_event(p, event);
    if (a->content_state &&
        apns_payload_set_content_state(p, a->content_state, strlen(a->content_state)) != 0) {
        cli_error(BC_PROG, "--content-state: %s", apns_payload_detail(p));
        goto done;
    }
    if (a->stale_date && set_seconds("stale-date", a->stale_date, p, apns_payload_set_stale_date))
        goto done;
    if (a->dismissal_date &&
        set_seconds("dismissal-date", a->dismissal_date, p, apns_payload_set_dismissal_date))
        goto done;
    if (a->relevance_score) {
        char *end;
        errno = 0;
        double d = strtod(a->relevance_score, &end);
        if (errno || end == a->relevance_score || *end) {
            cli_error(BC_PROG, "--relevance-score: expected a number, got '%s'",
                      a->relevance_score);
            goto done;
        }
        apns_payload_set_relevance_score(p, d);
    }
    if (a->title)
        apns_payload_set_alert_title(p, a->title);
    if (a->body)
        apns_payload_set_alert_body(p, a->body);
    if (a->sound)
        apns_payload_set_alert_sound(p, a->sound);
    char detail[256] = "";
    if (apns_payload_render(p, APNS_PAYLOAD_MAX_BROADCAST, out, len, detail, sizeof detail) != 0) {
        cli_error(BC_PROG, "payload: %s", detail[0] ? detail : apns_payload_detail(p));
        goto done;
    }
    rc = 0;
done:
    apns_payload_free(p);
    return rc;
}

int apns_cmd_broadcast(int argc, char **argv)
{
    broadcast_args a;
    memset(&a, 0, sizeof(a));
    cli_opt opts[] = {
        COMMON_OPTS(a.c),
        {"host", CLI_STRING, &a.host, 0},
        {"port", CLI_STRING, &a.port, 0},
        {"publish-host", CLI_STRING, &a.publish_host, 0},
        {"channel", CLI_STRING, &a.channel, 0},
        {"priority", CLI_STRING, &a.priority, 0},
        {"expiration", CLI_STRING, &a.expiration, 0},
        {"request-id", CLI_STRING, &a.request_id, 0},
        {"payload", CLI_STRING, &a.payload, 0},
        {"payload-file", CLI_STRING, &a.payload_file, 0},
        {"event", CLI_STRING, &a.event, 0},
        {"content-state", CLI_STRING, &a.content_state, 0},
        {"timestamp", CLI_STRING, &a.timestamp, 0},
        {"stale-date", CLI_STRING, &a.stale_date, 0},
        {"dismissal-date", CLI_STRING, &a.dismissal_date, 0},
        {"relevance-score", CLI_STRING, &a.relevance_score, 0},
        {"title", CLI_STRING, &a.title, 0},
        {"body", CLI_STRING, &a.body, 0},
        {"sound", CLI_STRING, &a.sound, 0},
        {NULL, CLI_FLAG, NULL, 0},
    };
    common c;
    apns_client_opts o;
    apns_client *cl = NULL;
    apns_notification n;
    char *payload = NULL;
    size_t payload_len = 0;
    int help = 0, code = CLI_EXIT_USAGE, rc;
    int64_t v;
    char detail[512] = "";

    memset(&c, 0, sizeof(c));
    apns_client_opts_init(&o);
    apns_notification_init(&n);
    if (cli_parse(BC_PROG, opts, argc, argv, &help) != 0)
        goto out;
    if (help) {
        apns_cmd_broadcast_usage(stdout);
        code = CLI_EXIT_OK;
        goto out;
    }
    if (a.host && (a.c.env || a.publish_host)) {
        cli_error(BC_PROG, "give --host, or --env/--publish-host, not both");
        goto out;
    }
    if (common_check(BC_PROG, &a.c, &c) != 0)
        goto out;
    o.env = c.env;
    if (a.host) {
        if (!*a.host) {
            cli_error(BC_PROG, "--host is empty");
            goto out;
        }
        o.env = APNS_ENV_CUSTOM;
        o.host = a.host;
    }
    if (a.publish_host) {
        if (strcmp(a.publish_host, "push") == 0) {
            o.publish_host = APNS_PUBLISH_HOST_PUSH;
        } else if (strcmp(a.publish_host, "broadcast") == 0) {
            o.publish_host = APNS_PUBLISH_HOST_BROADCAST;
        } else {
            cli_error(BC_PROG,
                      "--publish-host: expected push (api.push.apple.com) or broadcast "
                      "(api-broadcast.push.apple.com), got '%s' (use --host for another server)",
                      a.publish_host);
            goto out;
        }
    }
    if (a.port) {
        if (cli_parse_i64(BC_PROG, "port", a.port, 1, 65535, &v) != 0)
            goto out;
        o.port = (uint16_t)v;
    }
    if (!a.channel) {
        cli_error(BC_PROG, "--channel ID is required (the id 'apns channel create' printed)");
        goto out;
    }
    if (check_channel_id(BC_PROG, a.channel) != 0)
        goto out;
    n.channel_id = a.channel;
    n.topic = a.c.topic;
    n.push_type = APNS_PUSH_LIVEACTIVITY;
    n.priority = 10;
    if (a.priority) {
        if (cli_parse_i64(BC_PROG, "priority", a.priority, 1, 10, &v) != 0)
            goto out;
        if (v != 10 && v != 5 && v != 1) {
            cli_error(BC_PROG, "--priority: expected 10, 5 or 1, got %s", a.priority);
            goto out;
        }
        n.priority = (int)v;
    }
    n.expiration = 0;
    if (a.expiration) {
        if (cli_parse_i64(BC_PROG, "expiration", a.expiration, 0, INT64_MAX, &v) != 0)
            goto out;
        n.expiration = v;
    }
    if (a.request_id) {
        if (!apns_uuid_is_valid(a.request_id)) {
            cli_error(BC_PROG, "--request-id: '%s' is not a UUID (8-4-4-4-12 hex digits)",
                      a.request_id);
            goto out;
        }
        for (size_t i = 0; i < APNS_UUID_LEN; i++) {
            char ch = a.request_id[i];
            n.apns_id[i] = (ch >= 'A' && ch <= 'F') ? (char)(ch - 'A' + 'a') : ch;
        }
        n.apns_id[APNS_UUID_LEN] = '\0';
    }
    if (make_la_payload(&a, &payload, &payload_len) != 0)
        goto out;
    n.payload = payload;
    n.payload_len = payload_len;
    rc = apns_notification_validate(&n, 1, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(BC_PROG, "%s", detail[0] ? detail : apns_strerror(rc));
        goto out;
    }

    code = common_load(BC_PROG, &a.c, &c);
    if (code != CLI_EXIT_OK)
        goto out;
    CONN_OPTS_FILL(o, a.c, c);
    o.connections = 1;
    o.on_result = on_publish;
    o.on_log = on_log;
    o.ud = &c;
    rc = apns_client_new(&cl, c.base, &o, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(BC_PROG, "%s", detail[0] ? detail : apns_strerror(rc));
        code = (rc == APNS_EINVAL || rc == APNS_ECONFIG) ? CLI_EXIT_USAGE : CLI_EXIT_CONNECTION;
        goto out;
    }
    rc = apns_client_submit(cl, &n);
    if (rc != 0) {
        cli_error(BC_PROG, "%s", apns_strerror(rc));
        code = CLI_EXIT_USAGE;
        goto out;
    }
    common_run(&c);
    if (!c.done) {
        fputs("{\"op\":\"broadcast\",\"topic\":", stdout);
        cli_json_string(stdout, a.c.topic);
        fputs(",\"channel_id\":", stdout);
        cli_json_string(stdout, a.channel);
        fputs(",\"status\":0,\"outcome\":\"failed\",\"error\":\"APNS_ETIMEOUT\"}\n", stdout);
        cli_error(BC_PROG, "no answer within %" PRId64 " s (--timeout)", c.timeout_s);
    }
    code = exit_code(&c, c.done == 1);

out:
    apns_client_free(cl);
    common_free(&c);
    free(payload);
    return code;
}
