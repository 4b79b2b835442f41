/*
 * cmd_push.c - `apns push`: one notification to many device tokens.
 *
 * Everything the user gave is checked before connecting (flags, files,
 * credentials files, payload, every device token), so a typo never sends a
 * partial batch. Then the tokens are fed to an apns_client on a libevent
 * loop: submit until APNS_EAGAIN, resume in on_credit. Each answer is printed
 * as one JSON line on stdout as it arrives; every token gets exactly one
 * outcome: accepted or rejected (APNs answered), failed (no answer: the
 * client gave up, --timeout, a second Ctrl-C), or not_sent (never handed to
 * the client: Ctrl-C, --timeout, --connect-timeout came first). --only
 * filters the lines printed, never the counting. Progress (--progress) and a
 * summary go to stderr.
 *
 * Finishing. The run ends when every token handed to the client has its
 * answer and nothing more will be handed over (all tokens, or stopping).
 * That is judged from our own counters (n_answered == next), never from
 * apns_client_pending(): on_result runs before the client releases the
 * job, so inside the last answer's callback the client still counts it as
 * pending, and a check there that waited for zero never fired (the old
 * "Ctrl-C needs a second Ctrl-C" hang). cli_pump_finish() then drains the
 * client from the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "apns/client.h"
#include "apns/error.h"
#include "apns/fcm.h"
#include "apns/fcm_auth.h"
#include "apns/jwt.h"
#include "apns/notification.h"
#include "apns/payload.h"
#include "apns/reason.h"
#include "apns_cli.h"
#include "cli.h"
#include "cli_auth.h"
#include "cli_log.h"
#include "pump.h"

/* The program name in messages: "apns push" or "apns fcm push". */
static const char *PROG = "apns push";

#define PAYLOAD_FILE_MAX (1024 * 1024) /* read limit; APNs' own limit is checked after */

void apns_cmd_push_usage(FILE *f)
{
    fputs(
        "usage: apns push [connection] [auth] --topic BUNDLE_ID [notification] [payload] [tokens]\n"
        "\n"
        "Sends one notification to every device token given and prints one JSON line per\n"
        "token on stdout as APNs answers, e.g.\n"
        "  {\"token\":\"a1b2..\",\"apns_id\":\"..\",\"status\":200,\"outcome\":\"accepted\"}\n"
        "  {\"token\":\"c3d4..\",\"apns_id\":\"..\",\"status\":410,\"outcome\":\"rejected\","
        "\"reason\":\"Unregistered\",\n"
        "   \"timestamp\":1700000000000,\"action\":\"dead-token\"}\n"
        "  {\"token\":\"e5f6..\",\"status\":0,\"outcome\":\"failed\",\"error\":\"APNS_ECONNECT\"}\n"
        "  {\"token\":\"0a1b..\",\"status\":0,\"outcome\":\"not_sent\"}\n"
        "and a summary on stderr. All input is checked before connecting.\n"
        "Outcomes: accepted, rejected (APNs said no), failed (no answer), not_sent\n"
        "(never sent: interrupted, or --timeout / --connect-timeout came first).\n"
        "\n"
        "Connection:\n"
        "  --env production|sandbox  APNs environment (default production)\n"
        "  --host HOST               another server instead (e.g. apns-sim); not with --env\n"
        "  --port PORT               server port (default 443; APNs also listens on 2197)\n"
        "  --ca-file FILE            trust these CA certificates (default: system store)\n"
        "  --insecure                do NOT verify the server certificate (tests only)\n"
        "  --h2c                     plaintext HTTP/2 without TLS (profiling only)\n"
        "  --proxy HOST:PORT         connect through an HTTP CONNECT proxy\n"
        "  --connections N           connections to open (default 1)\n"
        "  --concurrency N           notifications held at once (default 1000 per connection)\n"
        "  --max-attempts N          sends per notification, retries included (default 5)\n"
        "  --timeout SECONDS         give up on unanswered tokens after this long (default: wait)\n"
        "  --connect-timeout SECONDS give up when no connection could be made for this long\n"
        "                            (default 30; 0 = keep trying)\n"
        "  --verbose                 also print the client's informational log on stderr\n"
        "\n"
        "Output:\n"
        "  --only LIST               print only these outcomes on stdout, comma-separated\n"
        "                            (accepted, rejected, failed, not_sent); e.g.\n"
        "                            --only rejected,failed. The summary still counts all.\n"
        "  --progress, --no-progress once a second on stderr: sent, answered, rate, ETA\n"
        "                            (default: on when stderr is a terminal)\n"
        "\n"
        "Authentication (one of):\n"
        "  --key-file FILE --key-id KEYID --team-id TEAMID\n"
        "                            token auth with a .p8 signing key (--topic required)\n"
        "  --cert FILE [--key FILE]  certificate auth, PEM (key defaults to inside FILE)\n"
        "  --p12 FILE [--p12-password PW]\n"
        "                            certificate auth, PKCS#12; the password may also come\n"
        "                            from the environment variable APNS_P12_PASSWORD\n"
        "\n"
        "Notification:\n"
        "  --topic TOPIC             apns-topic: the bundle id, plus the push type's suffix\n"
        "                            (voip .voip, complication .complication, location\n"
        "                            .location-query, fileprovider .pushkit.fileprovider,\n"
        "                            liveactivity .push-type.liveactivity, pushtotalk\n"
        "                            .voip-ptt, controls .push-type.controls, widgets\n"
        "                            .push-type.widgets); a missing suffix is refused\n"
        "  --push-type TYPE          alert (default), background, location, voip, complication,\n"
        "                            fileprovider, mdm, liveactivity, pushtotalk, controls, "
        "widgets\n"
        "  --priority 10|5|1         apns-priority (default: omitted, i.e. 10; 5 for background)\n"
        "  --expiration SECONDS      apns-expiration, UNIX seconds; 0 = try once, don't store\n"
        "  --collapse-id ID          apns-collapse-id (at most 64 bytes)\n"
        "  --apns-id UUID            apns-id (default: a new random UUID per notification)\n"
        "\n"
        "Payload (one of):\n"
        "  --payload JSON            the body as given (a JSON object)\n"
        "  --payload-file FILE       the body from a file\n"
        "  built from: --title T --subtitle S --body B --badge N --sound NAME --category C\n"
        "              --thread-id ID --content-available --mutable-content\n"
        "\n"
        "Device tokens (hex, 16..200 characters):\n"
        "  --token HEX               a device token; may be repeated\n"
        "  --tokens-file FILE        one token per line; blank lines and #comments skipped\n"
        "                            (FILE '-' is stdin)\n"
        "  (neither)                 read tokens from stdin, one per line\n"
        "  Invalid tokens stop the command before anything is sent; each is reported\n"
        "  with its line number (the first 20, then a count of the rest).\n"
        "\n"
        "Exit status:\n"
        "  0  every notification accepted\n"
        "  1  some notifications rejected by APNs, failed or not sent (see the JSON\n"
        "     lines); also after Ctrl-C or SIGTERM, once the answers in flight are in\n"
        "  2  usage error or bad input: bad flag value, unreadable file, invalid device\n"
        "     token (with its line number), bad payload JSON, a topic without the push\n"
        "     type's suffix; nothing was sent\n"
        "  3  connection or credential problem: cannot connect, TLS or certificate failure,\n"
        "     an unusable key or certificate, credentials refused by APNs, or --timeout /\n"
        "     --connect-timeout reached with answers missing\n"
        "\n"
        "Ctrl-C (or SIGTERM) stops sending, waits for the answers in flight, prints\n"
        "the rest as not_sent and the summary, and exits; a second one quits at once.\n",
        f);
}

/* ---------------------------------------------------------------------- */
/* run state                                                              */

enum { ANS_NONE = 0, ANS_DONE = 1 };

/* Outcomes, in the order of their names (--only bits). */
enum { OUT_ACCEPTED, OUT_REJECTED, OUT_FAILED, OUT_NOT_SENT, OUT_COUNT };
static const char *const outcome_names[] = {"accepted", "rejected", "failed", "not_sent", NULL};

#define RATE_WINDOW 5 /* seconds of answers the progress rate averages */

typedef struct push_run {
    struct event_base *base;
    apns_client *client;
    apns_notification tmpl;
    cli_tokens tokens;
    unsigned char *answered;   /* per token: ANS_* */
    size_t next;               /* next token to submit */
    size_t n_answered;         /* tokens with an outcome */
    size_t count[OUT_COUNT];   /* ... by outcome */
    unsigned only;             /* outcomes printed on stdout (bits) */
    int progress;              /* a progress line on stderr once a second */
    struct timespec t0;        /* start of sending */
    size_t win_n[RATE_WINDOW]; /* n_answered at the last RATE_WINDOW progress ticks */
    double win_t[RATE_WINDOW]; /* ... and when (seconds since t0) */
    unsigned ticks;
    int conn_problem; /* a connection or credential failure was seen */
    int stopping;     /* no more submits (interrupted) */
    int timed_out;
    cli_pump pump;             /* submit loop and finish sequence (tools/common/pump.c) */
    int gave_up;               /* no connection for connect_timeout_s */
    int64_t connect_timeout_s; /* 0 = never give up */
    struct timespec last_up;   /* last time a connection was up (or the start) */
    cli_logger log;            /* the client's log on stderr, repeats counted */
    int fcm;                   /* `apns fcm push`: FCM answers and tokens */
    cli_fcm_auth fcm_auth;     /* fcm: the access tokens (owns the cache o.tokens) */
    struct event *ev_sigint, *ev_sigterm, *ev_timeout, *ev_watch;
} push_run;

/* Counts one outcome and prints its line unless --only leaves it out. */
typedef struct line_extra {
    const char *unique_id; /* APNs: apns-unique-id (sandbox) */
    const char *fcm_name;  /* FCM 200: the message name */
    const char *fcm_field; /* FCM 400: the field named */
} line_extra;

static void print_line(push_run *p, const char *token, const char *apns_id, int status, int outcome,
                       const char *reason, int64_t timestamp_ms, const char *action,
                       const char *error, const line_extra *x)
{
    FILE *o = stdout;

    p->count[outcome]++;
    if (!(p->only & (1u << outcome)))
        return;
    if (p->fcm) {
        /* Registration tokens are opaque printable bytes: '"' and '\\' may
         * occur, so they are escaped. FCM has no request id. */
        fputs("{\"token\":", o);
        cli_json_string(o, token);
        apns_id = NULL;
        if (x && x->fcm_name && *x->fcm_name) {
            fputs(",\"name\":", o);
            cli_json_string(o, x->fcm_name);
        }
    } else {
        fputs("{\"token\":\"", o);
        fputs(token, o); /* checked hex: nothing to escape (a million lines after Ctrl-C) */
        fputc('"', o);
    }
    if (apns_id && *apns_id) {
        fputs(",\"apns_id\":", o);
        cli_json_string(o, apns_id);
    }
    fprintf(o, ",\"status\":%d,\"outcome\":\"%s\"", status, outcome_names[outcome]);
    if (reason && *reason) {
        fputs(",\"reason\":", o);
        cli_json_string(o, reason);
    }
    if (timestamp_ms)
        fprintf(o, ",\"timestamp\":%" PRId64, timestamp_ms);
    if (action && *action) {
        fputs(",\"action\":", o);
        cli_json_string(o, action);
    }
    if (x && x->fcm_field && *x->fcm_field) {
        fputs(",\"field\":", o);
        cli_json_string(o, x->fcm_field);
    }
    if (error && *error)
        fprintf(o, ",\"error\":\"%s\"", error);
    if (x && x->unique_id && *x->unique_id) {
        fputs(",\"apns_unique_id\":", o);
        cli_json_string(o, x->unique_id);
    }
    fputs("}\n", o);
}

/* A token without an answer from APNs: failed (err says why: submit
 * refused, timeout, no connection, quit) or, with err 0, never sent. */
static void mark_unanswered(push_run *p, size_t idx, int err)
{
    if (p->answered[idx] != ANS_NONE)
        return;
    p->answered[idx] = ANS_DONE;
    p->n_answered++;
    if (err == 0)
        print_line(p, p->tokens.v[idx], NULL, 0, OUT_NOT_SENT, NULL, 0, NULL, NULL, NULL);
    else
        print_line(p, p->tokens.v[idx], p->tmpl.apns_id, 0, OUT_FAILED, NULL, 0, NULL,
                   apns_err_name(err), NULL);
}

/* Done when every token handed to the client is answered and nothing more
 * will be handed over. Not apns_client_pending(): see the note on top. */
static void maybe_finish(push_run *p)
{
    if (p->n_answered == p->tokens.n || (p->stopping && p->n_answered >= p->next))
        cli_pump_finish(&p->pump);
}

static int next_token(void *ud, apns_notification *n)
{
    push_run *p = ud;

    if (p->stopping || p->next >= p->tokens.n)
        return 0;
    *n = p->tmpl;
    n->token = p->tokens.v[p->next];
    n->user_data = (void *)(uintptr_t)p->next;
    return 1;
}

static void sent(void *ud, const apns_notification *n, int rc)
{
    push_run *p = ud;
    size_t idx = p->next++;

    (void)n;
    if (rc != 0) {
        /* No callback will come for it; after a drain it was never sent. */
        mark_unanswered(p, idx, rc == APNS_ESHUTDOWN ? 0 : rc);
        if (rc == APNS_ESHUTDOWN)
            p->stopping = 1;
    }
}

static void pump(push_run *p)
{
    cli_pump_run(&p->pump);
    maybe_finish(p);
}

static void on_credit(apns_client *c, size_t credit, void *ud)
{
    (void)c;
    (void)credit;
    pump(ud);
}

static void on_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    push_run *p = ud;
    size_t idx = (size_t)(uintptr_t)n->user_data;
    const char *action = NULL, *error = NULL;
    int outcome;

    (void)c;
    if (idx >= p->tokens.n || p->answered[idx] != ANS_NONE)
        return; /* not ours, or a second answer: ignore */
    p->answered[idx] = ANS_DONE;
    p->n_answered++;

    switch (r->outcome) {
    case APNS_OUTCOME_ACCEPTED:
        outcome = OUT_ACCEPTED;
        break;
    case APNS_OUTCOME_REJECTED:
        outcome = OUT_REJECTED;
        if (r->action == APNS_ACTION_PAUSE)
            p->conn_problem = 1; /* credentials refused */
        break;
    default:
        outcome = OUT_FAILED;
        error = apns_err_name(r->error);
        if (cli_is_conn_error(r->error) || r->action == APNS_ACTION_PAUSE)
            p->conn_problem = 1;
        break;
    }
    if (r->outcome != APNS_OUTCOME_ACCEPTED && r->action != APNS_ACTION_NONE)
        action = apns_action_name(r->action);
    line_extra x = {r->apns_unique_id, r->fcm_name, r->fcm_field};
    print_line(p, p->tokens.v[idx], r->apns_id[0] ? r->apns_id : n->apns_id, r->status, outcome,
               r->reason_str, r->timestamp_ms, action, error, &x);
    maybe_finish(p);
}

/* The client's log on stderr (tools/common/cli_log.c). */
static void on_log(apns_log_level level, const char *msg, void *ud)
{
    push_run *p = ud;
    cli_log_line(&p->log, level, msg);
}

/* The APNS_E* code named at the end of the last client log message, as in
 * "... (APNS_EVERIFY)"; APNS_ECONNECT when there is none. */
static int last_log_error(const push_run *p)
{
    const char *s = strrchr(p->log.last, '(');
    size_t n;

    if (s != NULL && strncmp(s + 1, "APNS_E", 6) == 0) {
        s++;
        n = strcspn(s, ")");
        for (int e = -1; e >= -100; e--) {
            const char *name = apns_err_name(e);
            if (strlen(name) == n && strncmp(name, s, n) == 0)
                return e;
        }
    }
    return APNS_ECONNECT;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* "1h02m", "3m05s", "42s". */
static void fmt_duration(char *buf, size_t len, double secs)
{
    uint64_t s = secs < 0 ? 0 : secs > 1e9 ? 1000000000 : (uint64_t)(secs + 0.5);

    if (s >= 3600)
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else
        snprintf(buf, len, "%" PRIu64 "s", s);
}

/* One progress line: the rate is the answers of the last RATE_WINDOW
 * seconds, the ETA what is left at that rate. */
static void print_progress(push_run *p, const apns_client_stats *st)
{
    double now = seconds_since(&p->t0), rate = 0;
    unsigned span = ++p->ticks < RATE_WINDOW ? p->ticks : RATE_WINDOW;
    unsigned j = (p->ticks - span) % RATE_WINDOW;
    char tail[96];

    if (now > p->win_t[j])
        rate = (double)(p->n_answered - p->win_n[j]) / (now - p->win_t[j]);
    p->win_n[p->ticks % RATE_WINDOW] = p->n_answered;
    p->win_t[p->ticks % RATE_WINDOW] = now;
    if (p->stopping) {
        snprintf(tail, sizeof(tail), "stopping: %zu answers to wait for", p->next - p->n_answered);
    } else if (rate > 0) {
        char eta[32];
        fmt_duration(eta, sizeof(eta), (double)(p->tokens.n - p->n_answered) / rate);
        snprintf(tail, sizeof(tail), "ETA %s", eta);
    } else {
        snprintf(tail, sizeof(tail), "ETA unknown");
    }
    fprintf(stderr,
            "%s: progress: %zu/%zu sent, %zu answered (%zu accepted, %zu rejected, %zu failed), "
            "%zu in flight, %.0f/s, %s%s\n",
            PROG, p->next, p->tokens.n, p->n_answered, p->count[OUT_ACCEPTED],
            p->count[OUT_REJECTED], p->count[OUT_FAILED], st->in_flight, rate, tail,
            st->connections_up ? "" : ", no connection");
}

/* Once a second: progress, and give up when no connection has been up for
 * --connect-timeout seconds (the client itself keeps reconnecting). */
static void watch_cb(evutil_socket_t fd, short what, void *ud)
{
    push_run *p = ud;
    apns_client_stats st;

    (void)fd;
    (void)what;
    apns_client_stats_get(p->client, &st);
    if (p->progress) {
        cli_log_flush(&p->log);
        print_progress(p, &st);
    }
    if (st.connections_up > 0) {
        clock_gettime(CLOCK_MONOTONIC, &p->last_up);
        return;
    }
    if (p->connect_timeout_s > 0 && seconds_since(&p->last_up) >= (double)p->connect_timeout_s) {
        cli_log_flush(&p->log);
        cli_error(PROG, "no connection to the server for %" PRId64 " s; giving up%s%s%s",
                  p->connect_timeout_s, p->log.last[0] ? " (last: " : "", p->log.last,
                  p->log.last[0] ? ")" : "");
        p->gave_up = 1;
        p->conn_problem = 1;
        event_base_loopbreak(p->base);
    }
}

static void timeout_cb(evutil_socket_t fd, short what, void *ud)
{
    push_run *p = ud;

    (void)fd;
    (void)what;
    cli_error(PROG, "--timeout reached with %zu of %zu tokens unanswered",
              p->tokens.n - p->n_answered, p->tokens.n);
    p->timed_out = 1;
    p->conn_problem = 1;
    event_base_loopbreak(p->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *ud)
{
    push_run *p = ud;

    (void)what;
    if (p->stopping) {
        cli_error(PROG, "interrupted again; quitting without waiting");
        event_base_loopbreak(p->base);
        return;
    }
    p->stopping = 1;
    cli_error(PROG, "%s: sending no more; waiting for %zu answers (again to quit now)",
              sig == SIGINT ? "interrupted" : "terminated", p->next - p->n_answered);
    maybe_finish(p);
}

/* ---------------------------------------------------------------------- */
/* input                                                                  */

/* The flags both `apns push` and `apns fcm push` take for running a send:
 * one struct, one option table (RUN_OPTS), one parser (run_args_apply). */
typedef struct run_args {
    const char *connections, *concurrency, *max_attempts, *timeout, *connect_timeout;
    const char *only;
    int progress, no_progress;
} run_args;

/* clang-format off */
#define RUN_OPTS(r)                                                                                \
    {"connections", CLI_STRING, &(r).connections, 0},                                              \
    {"concurrency", CLI_STRING, &(r).concurrency, 0},                                              \
    {"max-attempts", CLI_STRING, &(r).max_attempts, 0},                                            \
    {"timeout", CLI_STRING, &(r).timeout, 0},                                                      \
    {"connect-timeout", CLI_STRING, &(r).connect_timeout, 0},                                      \
    {"only", CLI_STRING, &(r).only, 0},                                                            \
    {"progress", CLI_FLAG, &(r).progress, 0},                                                      \
    {"no-progress", CLI_FLAG, &(r).no_progress, 0}
/* clang-format on */

/* Applies the run flags to the client options, the run and the overall
 * timeout (left as is when not given). Returns 0, or -1 after printing. */
static int run_args_apply(const run_args *r, apns_client_opts *o, push_run *p, int64_t *timeout_s)
{
    int64_t v;

    if (r->connections) {
        if (cli_parse_i64(PROG, "connections", r->connections, 1, 1000, &v) != 0)
            return -1;
        o->connections = (unsigned)v;
    }
    if (r->concurrency) {
        if (cli_parse_i64(PROG, "concurrency", r->concurrency, 1, 10000000, &v) != 0)
            return -1;
        o->max_pending = (unsigned)v;
    }
    if (r->max_attempts) {
        if (cli_parse_i64(PROG, "max-attempts", r->max_attempts, 1, 100, &v) != 0)
            return -1;
        o->retry.max_attempts = (int)v;
    }
    if (r->timeout && cli_parse_i64(PROG, "timeout", r->timeout, 1, 86400 * 7, timeout_s) != 0)
        return -1;
    p->only = ~0u;
    if (r->only && cli_parse_set(PROG, "only", r->only, outcome_names, &p->only) != 0)
        return -1;
    if (r->progress && r->no_progress) {
        cli_error(PROG, "give --progress or --no-progress, not both");
        return -1;
    }
    p->progress = r->progress || (!r->no_progress && isatty(STDERR_FILENO));
    p->connect_timeout_s = 30;
    if (r->connect_timeout && cli_parse_i64(PROG, "connect-timeout", r->connect_timeout, 0,
                                            86400 * 7, &p->connect_timeout_s) != 0)
        return -1;
    return 0;
}

typedef struct push_args {
    const char *env, *host, *port, *ca_file, *proxy;
    int insecure, h2c, verbose;
    cli_auth_args auth;
    const char *topic, *push_type, *priority, *expiration, *collapse_id, *apns_id;
    const char *payload, *payload_file;
    const char *title, *subtitle, *body, *badge, *sound, *category, *thread_id;
    int content_available, mutable_content;
    cli_strlist token;
    const char *tokens_file;
    run_args run;
} push_args;

/* Length of topic without the push-type suffix it ends in, if any. */
static size_t bundle_len(const char *topic, const char **which)
{
    size_t tl = strlen(topic), best = 0;

    *which = NULL;
    for (int t = 0; t < APNS_PUSH_TYPE_COUNT; t++) {
        const char *sfx = apns_push_type_topic_suffix((apns_push_type)t);
        size_t sl = strlen(sfx);
        if (sl > best && tl > sl && strcmp(topic + tl - sl, sfx) == 0) {
            best = sl;
            *which = sfx;
        }
    }
    return tl - best;
}

/* The topic a push type goes to is the bundle id plus the type's suffix
 * (apns-protocol.md 1.5; the suffixes are libapns' table). A topic without
 * it would go out and come back refused, so it is refused before
 * anything is sent. Returns 0 or -1 after printing. A
 * type without a suffix takes the bundle id as is; a topic ending in
 * another type's suffix then gets a warning only, since a bundle id may
 * end that way. */
static int check_topic_suffix(const char *topic, apns_push_type type)
{
    const char *suffix = apns_push_type_topic_suffix(type), *has;
    size_t bl;

    if (topic == NULL || suffix == NULL)
        return 0; /* no topic: a single-topic certificate's subject is used */
    bl = bundle_len(topic, &has);
    if (suffix[0] == '\0') {
        if (has != NULL && type != APNS_PUSH_MDM) {
            apns_push_type other = APNS_PUSH_ALERT;
            for (int t = 0; t < APNS_PUSH_TYPE_COUNT; t++)
                if (strcmp(apns_push_type_topic_suffix((apns_push_type)t), has) == 0)
                    other = (apns_push_type)t;
            fprintf(stderr,
                    "%s: warning: --topic %s ends in %s, the suffix of %s pushes, but this is "
                    "a%s %s push (--push-type %s if that is what you mean)\n",
                    PROG, topic, has, apns_push_type_name(other),
                    type == APNS_PUSH_ALERT ? "n" : "", apns_push_type_name(type),
                    apns_push_type_name(other));
        }
        return 0;
    }
    if (has != NULL && strcmp(has, suffix) == 0 && topic[bl - 1] != '.')
        return 0;
    cli_error(PROG,
              "--topic %s: a %s push goes to the topic <bundle id>%s (e.g. --topic %.*s%s); "
              "APNs refuses other topics for it",
              topic, apns_push_type_name(type), suffix, (int)bl, topic, suffix);
    return -1;
}

/* Builds the payload from --payload, --payload-file or the builder flags.
 * Returns 0 and a heap *out, or -1 after printing. */
static int make_payload(const push_args *a, apns_push_type type, char **out, size_t *len)
{
    int builder = a->title || a->subtitle || a->body || a->badge || a->sound || a->category ||
                  a->thread_id || a->content_available || a->mutable_content;
    int sources = (a->payload != NULL) + (a->payload_file != NULL) + (builder != 0);
    size_t off = 0;
    const char *why = NULL;

    *out = NULL;
    *len = 0;
    if (sources == 0) {
        cli_error(PROG, "no payload: give --payload JSON, --payload-file FILE, or "
                        "--title/--body/--badge/... (see --help)");
        return -1;
    }
    if (sources > 1) {
        cli_error(PROG, "give only one of --payload, --payload-file, or the payload builder "
                        "options (--title, --body, ...)");
        return -1;
    }
    if (a->payload != NULL || a->payload_file != NULL) {
        const char *what = a->payload ? "--payload" : "--payload-file";
        if (a->payload) {
            *len = strlen(a->payload);
            *out = strdup(a->payload);
            if (*out == NULL) {
                cli_error(PROG, "out of memory");
                return -1;
            }
        } else if (cli_read_file(PROG, "--payload-file", a->payload_file, PAYLOAD_FILE_MAX, out,
                                 len) != 0) {
            return -1;
        }
        /* A trailing newline from an editor is not part of the JSON. */
        while (*len > 0 && ((*out)[*len - 1] == '\n' || (*out)[*len - 1] == '\r'))
            (*out)[--*len] = '\0';
        if (!apns_json_check_object(*out, *len, &off, &why)) {
            cli_error(PROG, "%s%s%s: not a valid JSON object: %s at byte %zu", what,
                      a->payload_file ? " " : "", a->payload_file ? a->payload_file : "",
                      why ? why : "invalid JSON", off);
            free(*out);
            *out = NULL;
            return -1;
        }
        return 0;
    }

    apns_payload *pl;
    char detail[256];
    int rc = apns_payload_new(&pl);
    if (rc != 0) {
        cli_error(PROG, "cannot build the payload: %s", apns_strerror(rc));
        return -1;
    }
    if (a->title)
        apns_payload_set_alert_title(pl, a->title);
    if (a->subtitle)
        apns_payload_set_alert_subtitle(pl, a->subtitle);
    if (a->body)
        apns_payload_set_alert_body(pl, a->body);
    if (a->badge) {
        int64_t b;
        if (cli_parse_i64(PROG, "badge", a->badge, 0, INT32_MAX, &b) != 0) {
            apns_payload_free(pl);
            return -1;
        }
        apns_payload_set_badge(pl, b);
    }
    if (a->sound)
        apns_payload_set_sound(pl, a->sound);
    if (a->category)
        apns_payload_set_category(pl, a->category);
    if (a->thread_id)
        apns_payload_set_thread_id(pl, a->thread_id);
    if (a->content_available)
        apns_payload_set_content_available(pl, 1);
    if (a->mutable_content)
        apns_payload_set_mutable_content(pl, 1);
    /* Setter errors are kept on the builder and returned by render. */
    rc = apns_payload_render(pl, apns_payload_limit(type), out, len, detail, sizeof(detail));
    apns_payload_free(pl);
    if (rc != 0) {
        cli_error(PROG, "payload: %s", detail[0] ? detail : apns_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */

static void push_run_cleanup(push_run *p)
{
    if (p->client)
        apns_client_free(p->client);
    cli_fcm_auth_free(&p->fcm_auth); /* after the client (it reads the cache), before the loop */
    if (p->ev_sigint)
        event_free(p->ev_sigint);
    if (p->ev_sigterm)
        event_free(p->ev_sigterm);
    if (p->ev_timeout)
        event_free(p->ev_timeout);
    cli_pump_cleanup(&p->pump);
    if (p->ev_watch)
        event_free(p->ev_watch);
    if (p->base)
        event_base_free(p->base);
    free(p->answered);
    cli_tokens_free(&p->tokens);
}

/* ---------------------------------------------------------------------- */
/* sending: shared by `apns push` and `apns fcm push`                     */

/*
 * Connects and sends p->tokens with p->tmpl through a client made from o
 * (its callbacks are set here). With fcm_account, the first access token is
 * fetched (cli_fcm_auth_start) before the client is made, and o->tokens is
 * the cache it keeps filled. Prints the JSON lines and the summary; returns
 * the exit code. p is cleaned up by the caller (push_run_cleanup).
 */
static int push_send(push_run *p, apns_client_opts *o, int64_t timeout_s, int insecure, int verbose,
                     const apns_fcm_account *fcm_account, const cli_fcm_conn *fconn)
{
    char detail[512];
    int rc;

    if (insecure)
        cli_warn_insecure(PROG);
    signal(SIGPIPE, SIG_IGN);
    p->log.prog = PROG;
    p->log.verbose = verbose;
    p->base = event_base_new();
    if (p->base == NULL) {
        cli_error(PROG, "cannot create the event loop");
        return CLI_EXIT_CONNECTION;
    }
    if (cli_pump_init(&p->pump, p->base, next_token, sent, p) != 0)
        p->pump.ev_finish = NULL;
    p->ev_watch = event_new(p->base, -1, EV_PERSIST, watch_cb, p);
    p->ev_sigint = evsignal_new(p->base, SIGINT, signal_cb, p);
    p->ev_sigterm = evsignal_new(p->base, SIGTERM, signal_cb, p);
    if (!p->pump.ev_finish || !p->ev_watch || !p->ev_sigint || !p->ev_sigterm) {
        cli_error(PROG, "out of memory");
        return CLI_EXIT_CONNECTION;
    }
    if (fcm_account) {
        /* Before the signal events: Ctrl-C while the first token is
         * fetched ends the program (nothing was sent yet). */
        p->fcm_auth.log = &p->log;
        rc = cli_fcm_auth_start(&p->fcm_auth, PROG, p->base, fcm_account, fconn);
        if (rc != CLI_EXIT_OK)
            return rc;
        o->tokens = p->fcm_auth.cache;
    }
    event_add(p->ev_sigint, NULL);
    event_add(p->ev_sigterm, NULL);
    if (timeout_s > 0) {
        struct timeval tv = {(time_t)timeout_s, 0};
        p->ev_timeout = evtimer_new(p->base, timeout_cb, p);
        if (p->ev_timeout == NULL) {
            cli_error(PROG, "out of memory");
            return CLI_EXIT_CONNECTION;
        }
        event_add(p->ev_timeout, &tv);
    }

    o->on_result = on_result;
    o->on_credit = on_credit;
    o->on_log = on_log;
    o->ud = p;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    detail[0] = '\0';
    rc = apns_client_new(&p->client, p->base, o, detail, sizeof(detail));
    p->pump.client = p->client;
    if (rc != 0) {
        cli_error(PROG, "%s", detail[0] ? detail : apns_strerror(rc));
        p->client = NULL;
        return (rc == APNS_EINVAL || rc == APNS_ECONFIG) ? CLI_EXIT_USAGE : CLI_EXIT_CONNECTION;
    }

    clock_gettime(CLOCK_MONOTONIC, &p->last_up);
    {
        static const struct timeval second = {1, 0};
        event_add(p->ev_watch, &second);
    }
    pump(p);
    event_base_dispatch(p->base);
    cli_log_flush(&p->log);

    /* Every token gets a line, answered or not: handed to the client and
     * unanswered is failed (why: err), never handed over is not_sent. */
    {
        int err = p->gave_up ? last_log_error(p) : p->timed_out ? APNS_ETIMEOUT : APNS_ESHUTDOWN;
        for (size_t i = 0; i < p->tokens.n; i++)
            if (p->answered[i] == ANS_NONE)
                mark_unanswered(p, i, i < p->next ? err : 0);
    }
    fflush(stdout);

    {
        apns_client_stats st;
        double secs = seconds_since(&p->t0);
        size_t answered = p->count[OUT_ACCEPTED] + p->count[OUT_REJECTED];
        apns_client_stats_get(p->client, &st);
        if (st.connects == 0 && p->n_answered > answered)
            p->conn_problem = 1; /* never connected: failures are connection failures */
        fprintf(stderr,
                "%s: %zu token%s: %zu accepted, %zu rejected, %zu failed, %zu not sent in %.2f s "
                "(%.0f/s; %" PRIu64 " connects, %" PRIu64 " resent, %" PRIu64 " retried)%s\n",
                PROG, p->tokens.n, p->tokens.n == 1 ? "" : "s", p->count[OUT_ACCEPTED],
                p->count[OUT_REJECTED], p->count[OUT_FAILED], p->count[OUT_NOT_SENT], secs,
                secs > 0 ? (double)answered / secs : 0.0, st.connects, st.resent, st.retried,
                o->fcm_validate_only ? " (dry run: nothing delivered)" : "");
    }
    if (p->conn_problem)
        return CLI_EXIT_CONNECTION;
    if (p->n_answered > p->count[OUT_ACCEPTED])
        return CLI_EXIT_REJECTED;
    return CLI_EXIT_OK;
}

int apns_cmd_push(int argc, char **argv)
{
    push_args a;
    memset(&a, 0, sizeof(a));
    cli_opt opts[] = {
        {"env", CLI_STRING, &a.env, 0},
        {"host", CLI_STRING, &a.host, 0},
        {"port", CLI_STRING, &a.port, 0},
        {"ca-file", CLI_STRING, &a.ca_file, 0},
        {"insecure", CLI_FLAG, &a.insecure, 0},
        {"h2c", CLI_FLAG, &a.h2c, 0},
        {"proxy", CLI_STRING, &a.proxy, 0},
        CLI_AUTH_OPTS(a.auth),
        {"topic", CLI_STRING, &a.topic, 0},
        {"push-type", CLI_STRING, &a.push_type, 0},
        {"priority", CLI_STRING, &a.priority, 0},
        {"expiration", CLI_STRING, &a.expiration, 0},
        {"collapse-id", CLI_STRING, &a.collapse_id, 0},
        {"apns-id", CLI_STRING, &a.apns_id, 0},
        {"payload", CLI_STRING, &a.payload, 0},
        {"payload-file", CLI_STRING, &a.payload_file, 0},
        {"title", CLI_STRING, &a.title, 0},
        {"subtitle", CLI_STRING, &a.subtitle, 0},
        {"body", CLI_STRING, &a.body, 0},
        {"badge", CLI_STRING, &a.badge, 0},
        {"sound", CLI_STRING, &a.sound, 0},
        {"category", CLI_STRING, &a.category, 0},
        {"thread-id", CLI_STRING, &a.thread_id, 0},
        {"content-available", CLI_FLAG, &a.content_available, 0},
        {"mutable-content", CLI_FLAG, &a.mutable_content, 0},
        {"token", CLI_LIST, &a.token, 0},
        {"tokens-file", CLI_STRING, &a.tokens_file, 0},
        {"verbose", CLI_FLAG, &a.verbose, 0},
        RUN_OPTS(a.run),
        {NULL, CLI_FLAG, NULL, 0},
    };
    push_run p;
    apns_client_opts o;
    cli_auth auth;
    char *payload = NULL;
    size_t payload_len = 0;
    char detail[512];
    int help = 0, rc, code = CLI_EXIT_USAGE, token_auth = 0;
    int64_t v, timeout_s = 0;

    memset(&p, 0, sizeof(p));
    memset(&auth, 0, sizeof(auth));
    apns_client_opts_init(&o);
    apns_notification_init(&p.tmpl);

    if (cli_parse(PROG, opts, argc, argv, &help) != 0)
        goto out;
    if (help) {
        apns_cmd_push_usage(stdout);
        code = CLI_EXIT_OK;
        goto out;
    }

    /* --- where to connect ---------------------------------------------- */
    if (a.host && a.env) {
        cli_error(PROG, "give --env or --host, not both");
        goto out;
    }
    if (a.host) {
        if (*a.host == '\0') {
            cli_error(PROG, "--host is empty");
            goto out;
        }
        o.env = APNS_ENV_CUSTOM;
        o.host = a.host;
    } else if (cli_parse_env(PROG, a.env, &o.env) != 0) {
        goto out;
    }
    if (a.port) {
        if (cli_parse_i64(PROG, "port", a.port, 1, 65535, &v) != 0)
            goto out;
        o.port = (uint16_t)v;
    }
    if (a.proxy && cli_parse_proxy(PROG, a.proxy) != 0)
        goto out;
    o.proxy = a.proxy;
    if (a.h2c && (a.ca_file || a.insecure)) {
        cli_error(PROG, "--h2c is plaintext; --ca-file and --insecure do not apply");
        goto out;
    }
    if (a.ca_file && !cli_readable(PROG, "ca-file", a.ca_file))
        goto out;
    o.ca_file = a.ca_file;
    o.insecure_skip_verify = a.insecure;
    o.h2c = a.h2c;
    if (run_args_apply(&a.run, &o, &p, &timeout_s) != 0)
        goto out;

    /* --- credentials (files checked here, loaded below) ----------------- */
    if (cli_auth_check(PROG, &a.auth, a.h2c, &token_auth) != 0)
        goto out;

    /* --- the notification ---------------------------------------------- */
    if (token_auth && !a.topic) {
        cli_error(PROG, "--topic is required with token auth (your app's bundle id)");
        goto out;
    }
    p.tmpl.topic = a.topic;
    if (a.push_type && apns_push_type_parse(a.push_type, &p.tmpl.push_type) != 0) {
        cli_error(PROG,
                  "--push-type: unknown type '%s' (alert, background, location, voip, "
                  "complication, fileprovider, mdm, liveactivity, pushtotalk, controls, widgets)",
                  a.push_type);
        goto out;
    }
    if (check_topic_suffix(a.topic, p.tmpl.push_type) != 0)
        goto out;
    if (a.priority) {
        if (cli_parse_i64(PROG, "priority", a.priority, 1, 10, &v) != 0)
            goto out;
        if (v != 10 && v != 5 && v != 1) {
            cli_error(PROG, "--priority: expected 10, 5 or 1, got %s", a.priority);
            goto out;
        }
        p.tmpl.priority = (int)v;
    } else if (p.tmpl.push_type == APNS_PUSH_BACKGROUND) {
        p.tmpl.priority = 5; /* APNs' default 10 is an error for background */
    }
    if (a.expiration) {
        if (cli_parse_i64(PROG, "expiration", a.expiration, 0, INT64_MAX, &v) != 0)
            goto out;
        p.tmpl.expiration = v;
    }
    p.tmpl.collapse_id = a.collapse_id;
    if (a.apns_id) {
        if (!apns_uuid_is_valid(a.apns_id)) {
            cli_error(PROG,
                      "--apns-id: '%s' is not a UUID (8-4-4-4-12 hex digits, e.g. "
                      "123e4567-e89b-12d3-a456-4266554400a0)",
                      a.apns_id);
            goto out;
        }
        for (size_t i = 0; i < APNS_UUID_LEN; i++) {
            char c = a.apns_id[i];
            p.tmpl.apns_id[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
        }
        p.tmpl.apns_id[APNS_UUID_LEN] = '\0';
    }
    if (make_payload(&a, p.tmpl.push_type, &payload, &payload_len) != 0)
        goto out;
    p.tmpl.payload = payload;
    p.tmpl.payload_len = payload_len;

    /* Everything but the token, checked with a stand-in token. */
    p.tmpl.token = "00000000000000000000000000000000";
    rc = apns_notification_validate(&p.tmpl, token_auth, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(PROG, "%s", detail[0] ? detail : apns_strerror(rc));
        goto out;
    }
    p.tmpl.token = NULL;

    /* --- device tokens --------------------------------------------------- */
    rc = 0;
    for (size_t i = 0; i < a.token.n; i++) /* every bad one reported */
        if (cli_tokens_add(PROG, &p.tokens, a.token.v[i], strlen(a.token.v[i]), "--token") != 0)
            rc = -1;
    if (rc != 0)
        goto out;
    if (a.tokens_file || a.token.n == 0) {
        const char *name = a.tokens_file && strcmp(a.tokens_file, "-") != 0 ? a.tokens_file : NULL;
        FILE *f = stdin;
        if (name) {
            f = fopen(name, "r");
            if (f == NULL) {
                cli_error(PROG, "--tokens-file %s: %s", name, strerror(errno));
                goto out;
            }
        } else if (isatty(STDIN_FILENO)) {
            cli_error(PROG, "reading device tokens from stdin, one per line "
                            "(end with Ctrl-D; or use --token / --tokens-file)");
        }
        rc = cli_tokens_read(PROG, &p.tokens, f, name ? name : "<stdin>");
        if (name)
            fclose(f);
        if (rc != 0)
            goto out;
    }
    if (p.tokens.n == 0) {
        cli_error(PROG, "no device tokens given (--token, --tokens-file, or stdin)");
        goto out;
    }
    p.answered = calloc(p.tokens.n, 1);
    if (p.answered == NULL) {
        cli_error(PROG, "out of memory");
        goto out;
    }

    /* --- credentials loaded ---------------------------------------------- */
    code = cli_auth_load(PROG, &a.auth, &auth);
    if (code != CLI_EXIT_OK)
        goto out;
    code = CLI_EXIT_USAGE;
    o.tokens = auth.tokens;
    o.cert_file = auth.cert_file;
    o.key_file = auth.key_file;
    o.p12_file = auth.p12_file;
    o.p12_password = auth.p12_password;

    /* --- connect and send ------------------------------------------------ */
    code = push_send(&p, &o, timeout_s, a.insecure, a.verbose, NULL, NULL);

out:
    push_run_cleanup(&p); /* frees the client before the token cache it borrows */
    cli_auth_free(&auth);
    free(payload);
    cli_strlist_free(&a.token);
    return code;
}

/* ---------------------------------------------------------------------- */
/* apns fcm push                                                          */

void apns_cmd_fcm_push_usage(FILE *f)
{
    fputs(
        "usage: apns fcm push --service-account FILE [connection] [message] [tokens]\n"
        "\n"
        "Sends one message to every FCM registration token given (Firebase Cloud Messaging\n"
        "HTTP v1, Android) and prints one JSON line per token on stdout as FCM answers, e.g.\n"
        "  {\"token\":\"dXk..\",\"name\":\"projects/p/messages/0:17..\",\"status\":200,"
        "\"outcome\":\"accepted\"}\n"
        "  "
        "{\"token\":\"eFg..\",\"status\":404,\"outcome\":\"rejected\",\"reason\":\"UNREGISTERED\","
        "\"action\":\"dead-token\"}\n"
        "  {\"token\":\"hIj..\",\"status\":0,\"outcome\":\"failed\",\"error\":\"APNS_ECONNECT\"}\n"
        "  {\"token\":\"kLm..\",\"status\":0,\"outcome\":\"not_sent\"}\n"
        "and a summary on stderr. All input is checked before connecting; then one access\n"
        "token is fetched for the service account (refreshed before it expires).\n"
        "Outcomes: accepted, rejected (FCM said no; \"action\" says what to do: dead-token =\n"
        "forget the token, drop, retry, pause), failed (no answer), not_sent.\n"
        "\n"
        "Credentials:\n"
        "  --service-account FILE    the service account's JSON key file (Firebase console:\n"
        "                            Project settings, Service accounts)\n"
        "  --project ID              the Firebase project id or number (default: the key\n"
        "                            file's project_id)\n"
        "\n"
        "Connection:\n"
        "  --host HOST               another server instead of fcm.googleapis.com (fcm-sim)\n"
        "  --port PORT               server port (default 443)\n"
        "  --token-url URL           the OAuth2 token endpoint, https://HOST[:PORT]/PATH\n"
        "                            (default: the key file's token_uri; with --host,\n"
        "                            https://HOST:PORT/token, fcm-sim's)\n"
        "  --ca-file FILE            trust these CA certificates, for both (default: system)\n"
        "  --proxy HOST:PORT         connect through an HTTP CONNECT proxy (both)\n"
        "  --connections N           connections to open (default 1)\n"
        "  --concurrency N           messages held at once (default 1000 per connection)\n"
        "  --max-attempts N          sends per message, retries included (default 5)\n"
        "  --timeout SECONDS         give up on unanswered tokens after this long\n"
        "  --connect-timeout SECONDS give up when no connection could be made for this long\n"
        "                            (default 30; 0 = keep trying)\n"
        "  --verbose                 also print the client's informational log on stderr\n"
        "\n"
        "Output:\n"
        "  --only LIST               print only these outcomes (accepted, rejected, failed,\n"
        "                            not_sent), comma-separated; the summary counts all\n"
        "  --progress, --no-progress once a second on stderr (default: on at a terminal)\n"
        "  --dry-run                 FCM validates each message (validate_only) and\n"
        "                            delivers nothing\n"
        "\n"
        "Message (the flags, or --message-json):\n"
        "  --title T --body B --image URL   message.notification\n"
        "  --data KEY=VALUE          message.data; may be repeated (string values; keys\n"
        "                            from, message_type, google*, gcm* are reserved;\n"
        "                            at most 4096 bytes of keys and values)\n"
        "  --android-priority normal|high   android.priority\n"
        "  --ttl SECONDS             android.ttl: how long FCM keeps the message, at most\n"
        "                            2419200 (4 weeks); \"3600\" or a duration \"3.5s\"\n"
        "  --collapse-key KEY        android.collapse_key\n"
        "  --message-json FILE       the whole message but its target, as a JSON object\n"
        "                            (notification, data, android, apns, webpush,\n"
        "                            fcm_options), checked as FCM would\n"
        "\n"
        "Registration tokens (opaque, 1..4096 printable characters, no spaces):\n"
        "  --token TOKEN             may be repeated\n"
        "  --tokens-file FILE        one per line; blank lines and #comments skipped\n"
        "                            ('-' is stdin)\n"
        "  (neither)                 read tokens from stdin, one per line\n"
        "  Invalid tokens stop the command before anything is sent; each is reported\n"
        "  with its line number (the first 20, then a count of the rest).\n"
        "\n"
        "Exit status (as apns push):\n"
        "  0  every message accepted\n"
        "  1  some messages rejected by FCM (e.g. UNREGISTERED), failed or not sent;\n"
        "     also after Ctrl-C or SIGTERM, once the answers in flight are in\n"
        "  2  usage error or bad input: bad flag value, unreadable or invalid key file,\n"
        "     invalid token (with its line number), bad --data pair, ttl or priority,\n"
        "     a message FCM would refuse; nothing was sent\n"
        "  3  connection or credential problem: cannot connect, TLS failure, no access\n"
        "     token (key refused by the token endpoint), credentials or project refused\n"
        "     by FCM, or --timeout / --connect-timeout reached with answers missing\n"
        "\n"
        "Ctrl-C (or SIGTERM) stops sending, waits for the answers in flight, prints\n"
        "the rest as not_sent and the summary, and exits; a second one quits at once.\n",
        f);
}

typedef struct fcm_args {
    const char *service_account, *project, *host, *port, *token_url, *ca_file, *proxy;
    const char *title, *body, *image, *android_priority, *ttl, *collapse_key, *message_json;
    cli_strlist data, token;
    const char *tokens_file;
    run_args run;
    int dry_run, verbose;
} fcm_args;

/* Builds the message fields from the flags or --message-json. Returns 0 and
 * a heap *out, or -1 after printing (the library's detail names the field as
 * FCM would). */
static int make_fcm_fields(const fcm_args *a, char **out, size_t *len)
{
    int flags = a->title || a->body || a->image || a->data.n || a->android_priority || a->ttl ||
                a->collapse_key;
    char detail[512] = "", ttl[64];
    apns_fcm_message m;
    apns_fcm_kv *kv = NULL;
    int rc = -1;

    *out = NULL;
    *len = 0;
    if (a->message_json) {
        if (flags) {
            cli_error(PROG, "give --message-json or the message flags (--title, --body, "
                            "--data, ...), not both");
            return -1;
        }
        if (strcmp(a->message_json, "-") == 0) {
            /* stdin is for tokens when none are given on the command line */
            cli_error(PROG, "--message-json -: not supported; give a file");
            return -1;
        }
        if (cli_read_file(PROG, "--message-json", a->message_json, APNS_FCM_FIELDS_MAX + 2, out,
                          len) != 0)
            return -1;
        while (*len > 0 && ((*out)[*len - 1] == '\n' || (*out)[*len - 1] == '\r'))
            (*out)[--*len] = '\0';
        rc = apns_fcm_fields_validate(*out, *len, detail, sizeof(detail));
        if (rc != 0) {
            cli_error(PROG, "--message-json %s: %s", a->message_json,
                      detail[0] ? detail : apns_strerror(rc));
            free(*out);
            *out = NULL;
            return -1;
        }
        return 0;
    }
    if (!flags) {
        cli_error(PROG, "no message: give --title/--body/--image/--data/... or "
                        "--message-json FILE (see --help)");
        return -1;
    }
    apns_fcm_message_init(&m);
    m.title = a->title;
    m.body = a->body;
    m.image = a->image;
    if (a->data.n) {
        kv = calloc(a->data.n, sizeof(*kv));
        if (kv == NULL) {
            cli_error(PROG, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < a->data.n; i++) {
            const char *eq = strchr(a->data.v[i], '=');
            if (eq == NULL || eq == a->data.v[i]) {
                cli_error(PROG, "--data '%s': expected KEY=VALUE with a non-empty key",
                          a->data.v[i]);
                goto out;
            }
            /* The key is split off in place: argv is ours. */
            *(char *)eq = '\0';
            kv[i].key = a->data.v[i];
            kv[i].value = eq + 1;
            for (size_t j = 0; j < i; j++)
                if (strcmp(kv[j].key, kv[i].key) == 0) {
                    cli_error(PROG, "--data: key '%s' given twice", kv[i].key);
                    goto out;
                }
        }
        m.data = kv;
        m.ndata = a->data.n;
    }
    if (a->android_priority) {
        if (strcmp(a->android_priority, "normal") == 0)
            m.android.priority = APNS_FCM_PRIORITY_NORMAL;
        else if (strcmp(a->android_priority, "high") == 0)
            m.android.priority = APNS_FCM_PRIORITY_HIGH;
        else {
            cli_error(PROG, "--android-priority: expected normal or high, got '%s'",
                      a->android_priority);
            goto out;
        }
    }
    if (a->ttl) {
        size_t n = strspn(a->ttl, "0123456789");
        if (n > 0 && a->ttl[n] == '\0') { /* plain seconds: the Duration "<n>s" */
            int64_t v;
            if (cli_parse_i64(PROG, "ttl", a->ttl, 0, APNS_FCM_TTL_MAX_S, &v) != 0)
                goto out;
            snprintf(ttl, sizeof(ttl), "%" PRId64 "s", v);
            m.android.ttl = ttl;
        } else {
            m.android.ttl = a->ttl; /* "3.5s"; the builder checks it */
        }
    }
    m.android.collapse_key = a->collapse_key;
    *out = malloc(APNS_FCM_FIELDS_MAX + 1);
    if (*out == NULL) {
        cli_error(PROG, "out of memory");
        goto out;
    }
    rc = apns_fcm_message_render(&m, *out, APNS_FCM_FIELDS_MAX + 1, len, detail, sizeof(detail));
    if (rc != 0) {
        cli_error(PROG, "message: %s", detail[0] ? detail : apns_strerror(rc));
        free(*out);
        *out = NULL;
        rc = -1;
        goto out;
    }
    rc = 0;
out:
    free(kv);
    return rc;
}

/* Reads the registration tokens: --token, --tokens-file, or stdin. Every
 * bad one is reported (with its line number) before anything is sent. */
static int read_tokens(cli_tokens *t, const cli_strlist *given, const char *tokens_file,
                       const char *kind)
{
    int rc = 0;

    for (size_t i = 0; i < given->n; i++)
        if (cli_tokens_add(PROG, t, given->v[i], strlen(given->v[i]), "--token") != 0)
            rc = -1;
    if (rc != 0)
        return -1;
    if (tokens_file || given->n == 0) {
        const char *name = tokens_file && strcmp(tokens_file, "-") != 0 ? tokens_file : NULL;
        FILE *f = stdin;
        if (name) {
            f = fopen(name, "r");
            if (f == NULL) {
                cli_error(PROG, "--tokens-file %s: %s", name, strerror(errno));
                return -1;
            }
        } else if (isatty(STDIN_FILENO)) {
            cli_error(PROG,
                      "reading %s tokens from stdin, one per line "
                      "(end with Ctrl-D; or use --token / --tokens-file)",
                      kind);
        }
        rc = cli_tokens_read(PROG, t, f, name ? name : "<stdin>");
        if (name)
            fclose(f);
        if (rc != 0)
            return -1;
    }
    if (t->n == 0) {
        cli_error(PROG, "no %s tokens given (--token, --tokens-file, or stdin)", kind);
        return -1;
    }
    return 0;
}

int apns_cmd_fcm_push(int argc, char **argv)
{
    fcm_args a;
    memset(&a, 0, sizeof(a));
    cli_opt opts[] = {
        {"service-account", CLI_STRING, &a.service_account, 0},
        {"project", CLI_STRING, &a.project, 0},
        {"host", CLI_STRING, &a.host, 0},
        {"port", CLI_STRING, &a.port, 0},
        {"token-url", CLI_STRING, &a.token_url, 0},
        {"ca-file", CLI_STRING, &a.ca_file, 0},
        {"proxy", CLI_STRING, &a.proxy, 0},
        {"title", CLI_STRING, &a.title, 0},
        {"body", CLI_STRING, &a.body, 0},
        {"image", CLI_STRING, &a.image, 0},
        {"data", CLI_LIST, &a.data, 0},
        {"android-priority", CLI_STRING, &a.android_priority, 0},
        {"ttl", CLI_STRING, &a.ttl, 0},
        {"collapse-key", CLI_STRING, &a.collapse_key, 0},
        {"message-json", CLI_STRING, &a.message_json, 0},
        {"dry-run", CLI_FLAG, &a.dry_run, 0},
        {"token", CLI_LIST, &a.token, 0},
        {"tokens-file", CLI_STRING, &a.tokens_file, 0},
        {"verbose", CLI_FLAG, &a.verbose, 0},
        RUN_OPTS(a.run),
        {NULL, CLI_FLAG, NULL, 0},
    };
    push_run p;
    apns_client_opts o;
    apns_fcm_account *acct = NULL;
    cli_fcm_conn fconn;
    char *fields = NULL, detail[512];
    size_t fields_len = 0;
    int help = 0, code = CLI_EXIT_USAGE;
    int64_t v, timeout_s = 0;

    PROG = "apns fcm push";
    memset(&p, 0, sizeof(p));
    p.fcm = 1;
    p.tokens.fcm = 1;
    apns_client_opts_init(&o);
    apns_notification_init(&p.tmpl);
    o.provider = APNS_PROVIDER_FCM;

    if (cli_parse(PROG, opts, argc, argv, &help) != 0)
        goto out;
    if (help) {
        apns_cmd_fcm_push_usage(stdout);
        code = CLI_EXIT_OK;
        goto out;
    }
    if (!a.service_account) {
        cli_error(PROG, "--service-account FILE is required (the service account's JSON key "
                        "file)");
        goto out;
    }
    if (a.host) {
        if (*a.host == '\0') {
            cli_error(PROG, "--host is empty");
            goto out;
        }
        o.env = APNS_ENV_CUSTOM;
        o.host = a.host;
    }
    if (a.port) {
        if (cli_parse_i64(PROG, "port", a.port, 1, 65535, &v) != 0)
            goto out;
        o.port = (uint16_t)v;
    }
    if (a.proxy && cli_parse_proxy(PROG, a.proxy) != 0)
        goto out;
    o.proxy = a.proxy;
    if (a.ca_file && !cli_readable(PROG, "ca-file", a.ca_file))
        goto out;
    o.ca_file = a.ca_file;
    if (cli_fcm_conn_init(PROG, &fconn, a.token_url, a.host, o.port, a.ca_file, a.proxy) != 0)
        goto out;
    if (run_args_apply(&a.run, &o, &p, &timeout_s) != 0)
        goto out;
    o.fcm_validate_only = a.dry_run;

    /* --- the message, then the tokens, then the key file ---------------- */
    if (make_fcm_fields(&a, &fields, &fields_len) != 0)
        goto out;
    p.tmpl.payload = fields;
    p.tmpl.payload_len = fields_len;
    if (read_tokens(&p.tokens, &a.token, a.tokens_file, "registration") != 0)
        goto out;
    p.answered = calloc(p.tokens.n, 1);
    if (p.answered == NULL) {
        cli_error(PROG, "out of memory");
        goto out;
    }
    code = cli_fcm_account_load(PROG, "service-account", a.service_account, &acct);
    if (code != CLI_EXIT_OK)
        goto out;
    code = CLI_EXIT_USAGE;
    o.fcm_project_id = a.project ? a.project : apns_fcm_account_project_id(acct);
    if (apns_fcm_project_check(o.fcm_project_id, detail, sizeof(detail)) != 0) {
        cli_error(PROG, "--project: %s", detail);
        goto out;
    }

    /* --- connect and send ------------------------------------------------ */
    code = push_send(&p, &o, timeout_s, 0, a.verbose, acct, &fconn);

out:
    push_run_cleanup(&p);
    apns_fcm_account_free(acct);
    free(fields);
    cli_strlist_free(&a.token);
    cli_strlist_free(&a.data);
    return code;
}
