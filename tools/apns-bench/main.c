/*
 * main.c - apns-bench: drives libapns (apns_client) as fast as it goes and
 * reports throughput, latency, CPU and memory.
 *
 * Design: one notification template and one payload buffer are reused for
 * every submit; only the token pointer changes (a pool of tokens, generated
 * deterministically or read from a file, used round-robin). The submit time
 * rides in the notification's user_data (nanoseconds since the start, taken
 * once per batch of submits), so latency (submit to answer) needs no storage
 * per notification; answers go into a fixed-size log-linear histogram. The
 * memory used is therefore the token pool plus the client's max_pending
 * slots, whatever the count: 10 million notifications take no more than ten
 * thousand.
 *
 * Flow: submit until APNS_EAGAIN, resume in on_credit (the client's credit
 * backpressure). In --count mode submitting stops at the count; in
 * --duration mode at the deadline. The run ends when every submitted
 * notification is answered; the client is then drained (GOAWAY) and the
 * report is printed: a table on stdout, or one JSON object with --json.
 *
 * --fcm: the same load model against FCM HTTP v1 (fcm-sim): the client is
 * made with provider APNS_PROVIDER_FCM, the payload is the message's fields
 * ({"data":{"m":"..."}}), the tokens are sent as registration tokens, and
 * the bearer comes from a service-account key file: one access token is
 * fetched before the clock starts (tools/common/cli_auth.c), then refreshed
 * by apns_fcm_auth on the same loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "apns/client.h"
#include "apns/error.h"
#include "apns/fcm.h"
#include "apns/fcm_auth.h"
#include "apns/jwt.h"
#include "apns/notification.h"
#include "apns/reason.h"
#include "cli.h"
#include "cli_auth.h"
#include "cli_log.h"
#include "pump.h"
#include "histo.h"
#include "rng.h"

#define PROG              "apns-bench"
#define POOL_MAX          1000000 /* generated tokens */
#define PAYLOAD_FILE_MAX  (64 * 1024)
#define NOAUTH_KEY_ID     "BENCH00000"
#define NOAUTH_TEAM_ID    "BENCH00000"
#define DEFAULT_PORT      2197
#define DEFAULT_FCM_PORT  8443 /* fcm-sim's */
#define DEFAULT_COUNT     100000
#define DEFAULT_STREAMS   100
#define DEFAULT_PAYLOAD   120
#define DEFAULT_TOKENS    1000
#define ERR_SLOTS         128 /* -APNS_E* codes are below this */
#define DEFAULT_STALL_S   30
#define DEFAULT_CONNECT_S 10

static void usage(FILE *f)
{
    fputs("usage: apns-bench [connection] [auth] [workload] [output]\n"
          "\n"
          "Drives libapns at full speed against a server (apns-sim, nghttpd, ...) and\n"
          "reports sent/s, accepted/s, rejections by reason, latency percentiles (submit\n"
          "to answer), client CPU-seconds per million notifications and peak RSS.\n"
          "Memory stays flat whatever the count (fixed slots, fixed histogram).\n"
          "\n"
          "Connection:\n"
          "  --host HOST            server (default 127.0.0.1)\n"
          "  --port PORT            server port (default 2197, apns-sim's)\n"
          "  --ca-file FILE         trust these CA certificates (TLS)\n"
          "  --insecure             do not verify the server certificate\n"
          "  --h2c                  plaintext HTTP/2 (prior knowledge) instead of TLS\n"
          "  --connections N        connections (default 1)\n"
          "  --streams N            concurrent streams per connection, a cap on the\n"
          "                         server's SETTINGS_MAX_CONCURRENT_STREAMS (default 100)\n"
          "  --max-pending N        notifications the client holds at once (queued + in\n"
          "                         flight; default 2 * connections * streams)\n"
          "  --connect-timeout S    give up when no connection is up after S seconds\n"
          "                         (default 10)\n"
          "  --stall-timeout S      give up when no answer came for S seconds (default 30)\n"
          "  --binary FORMAT        the legacy binary interface instead of HTTP/2:\n"
          "                         simple, enhanced or frame (certificate auth only;\n"
          "                         apns-sim --binary-listen). --streams does not apply\n"
          "  --binary-window MS     binary: silence this long after a send means accepted\n"
          "                         (default 2000); with --max-pending it bounds the rate:\n"
          "                         at most max_pending / window notifications per second\n"
          "\n"
          "Authentication (one of):\n"
          "  --key-file FILE --key-id KEYID --team-id TEAMID   token auth (.p8)\n"
          "  --cert FILE [--key FILE]                           certificate auth (PEM)\n"
          "  --p12 FILE [--p12-password PW]                     certificate auth (PKCS#12)\n"
          "  --no-auth              sign tokens with a throw-away key made at start (key id\n"
          "                         " NOAUTH_KEY_ID "): for servers that check nothing\n"
          "                         (apns-sim without --auth-keys, nghttpd)\n"
          "\n"
          "FCM (Android) instead of APNs:\n"
          "  --fcm                  send FCM HTTP v1 messages (fcm-sim; default port 8443):\n"
          "                         the payload is the message's fields, generated as\n"
          "                         {\"data\":{\"m\":\"...\"}} of --payload-size bytes\n"
          "  --service-account FILE the service account's JSON key file (required)\n"
          "  --project ID           the project (default: the key file's project_id)\n"
          "  --token-url URL        the token endpoint (default https://HOST:PORT/token,\n"
          "                         fcm-sim's); one token is fetched before the clock starts\n"
          "\n"
          "Workload:\n"
          "  --count N              notifications to send (default 100000)\n"
          "  --duration SECONDS     send for this long instead of a count\n"
          "  --tokens N             generate N distinct device tokens, used round-robin\n"
          "                         (default 1000; deterministic for a --seed)\n"
          "  --seed N               seed for generated tokens (default 1)\n"
          "  --tokens-file FILE     device tokens from FILE (one per line) instead\n"
          "  --payload-size BYTES   generated payload {\"aps\":{\"alert\":\"...\"}} of exactly\n"
          "                         this size (default 120; at least 20)\n"
          "  --payload-file FILE    the payload from a file instead\n"
          "  --topic TOPIC          apns-topic (default com.example.app)\n"
          "  --push-type TYPE       apns-push-type (default alert)\n"
          "  --priority 10|5|1      apns-priority (default: omitted)\n"
          "\n"
          "Output:\n"
          "  --json                 one JSON object on stdout instead of the table\n"
          "  --progress             a line per second on stderr (rate, answers, RSS)\n"
          "  --verbose              the client's log on stderr (default: warnings)\n"
          "\n"
          "Helpers for comparisons (write and exit, no connection):\n"
          "  --write-tokens FILE    write the generated tokens, one per line\n"
          "  --write-payload FILE   write the generated payload (no newline)\n"
          "\n"
          "Exit status: 0 all accepted; 1 some rejected or failed; 2 usage error;\n"
          "3 no connection, or the run stalled.\n",
          f);
}

/* ---------------------------------------------------------------------- */
/* run state                                                              */

typedef struct bench {
    struct event_base *base;
    apns_client *client;
    apns_notification tmpl;

    const char **tok; /* pool, used round-robin */
    size_t ntok, tok_next;

    uint64_t count;      /* 0: duration mode */
    int64_t duration_ns; /* duration mode */
    int stopping;        /* no more submits */
    cli_pump pump;       /* submit loop and finish sequence (tools/common/pump.c) */
    int64_t batch_ns;    /* when the current pump run started: its notifications' submit time */
    int progress;
    int64_t connect_timeout_ns, stall_timeout_ns;

    uint64_t submitted, answered, accepted, rejected, failed;
    uint64_t by_reason[APNS_REASON_COUNT];
    uint64_t by_error[ERR_SLOTS];
    histo lat; /* nanoseconds, submit to answer */

    struct timespec t0;
    int64_t t_end_ns, t_first_up_ns;
    int64_t last_answer_ns; /* for the stall check */
    uint64_t last_tick_answered;
    int64_t last_tick_ns;
    int gave_up;           /* CLI_EXIT_CONNECTION */
    cli_logger log;        /* the client's log on stderr, repeats counted */
    cli_fcm_auth fcm_auth; /* --fcm: the access tokens (owns o.tokens' cache) */

    struct event *ev_tick, *ev_sigint, *ev_sigterm, *ev_deadline;
} bench;

static int64_t now_ns(const bench *b)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)(t.tv_sec - b->t0.tv_sec) * 1000000000 + (t.tv_nsec - b->t0.tv_nsec);
}

static void maybe_finish(bench *b)
{
    if (b->stopping && b->answered == b->submitted) {
        if (!b->t_end_ns)
            b->t_end_ns = now_ns(b);
        cli_pump_finish(&b->pump);
    }
}

/* The token pool is used round-robin until the count is reached or the run
 * is stopping. */
static int next_notification(void *ud, apns_notification *n)
{
    bench *b = ud;

    if (b->stopping || (b->count && b->submitted >= b->count))
        return 0;
    *n = b->tmpl;
    n->token = b->tok[b->tok_next];
    n->user_data = (void *)(uintptr_t)b->batch_ns;
    return 1;
}

static void sent(void *ud, const apns_notification *n, int rc)
{
    bench *b = ud;

    (void)n;
    if (rc != 0) {
        cli_error(PROG, "submit refused: %s (%s)", apns_strerror(rc), apns_err_name(rc));
        b->gave_up = CLI_EXIT_USAGE;
        b->stopping = 1;
        return;
    }
    b->submitted++;
    if (++b->tok_next == b->ntok)
        b->tok_next = 0;
}

/* One clock read per run: the whole batch is queued now. */
static void pump(bench *b)
{
    b->batch_ns = now_ns(b);
    cli_pump_run(&b->pump);
    if (b->count && b->submitted >= b->count)
        b->stopping = 1;
    maybe_finish(b);
}

static void on_credit(apns_client *c, size_t credit, void *ud)
{
    (void)c;
    (void)credit;
    pump(ud);
}

static void on_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    bench *b = ud;
    int64_t t = now_ns(b);
    (void)c;

    histo_record(&b->lat, (uint64_t)(t - (int64_t)(uintptr_t)n->user_data));
    b->answered++;
    b->last_answer_ns = t;
    switch (r->outcome) {
    case APNS_OUTCOME_ACCEPTED:
        b->accepted++;
        break;
    case APNS_OUTCOME_REJECTED:
        b->rejected++;
        b->by_reason[(unsigned)r->reason < APNS_REASON_COUNT ? r->reason : APNS_REASON_UNKNOWN]++;
        break;
    default:
        b->failed++;
        b->by_error[(r->error < 0 && -r->error < ERR_SLOTS) ? -r->error : 0]++;
        break;
    }
    if (b->stopping && b->answered == b->submitted) {
        b->t_end_ns = t;
        cli_pump_finish(&b->pump);
    }
}

/* The client's log on stderr (tools/common/cli_log.c). */
static void on_log(apns_log_level level, const char *msg, void *ud)
{
    bench *b = ud;
    cli_log_line(&b->log, level, msg);
}

static long rss_kb_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = 0;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Once a second: duration deadline, progress line, connection and stall
 * watchdogs. */
static void tick_cb(evutil_socket_t fd, short what, void *ud)
{
    bench *b = ud;
    int64_t t = now_ns(b);
    apns_client_stats st;
    (void)fd;
    (void)what;

    apns_client_stats_get(b->client, &st);
    if (st.connects > 0 && !b->t_first_up_ns)
        b->t_first_up_ns = t;
    if (b->progress) {
        double dt = (double)(t - b->last_tick_ns) / 1e9;
        fprintf(stderr,
                "%s: %6.1f s  answered %" PRIu64 "  %.0f/s  pending %zu  in flight %zu  conns %u  "
                "rss %ld KiB\n",
                PROG, (double)t / 1e9, b->answered,
                dt > 0 ? (double)(b->answered - b->last_tick_answered) / dt : 0.0,
                apns_client_pending(b->client), st.in_flight, st.connections_up, rss_kb_now());
    }
    b->last_tick_answered = b->answered;
    b->last_tick_ns = t;
    if (st.connects == 0 && b->connect_timeout_ns && t >= b->connect_timeout_ns) {
        cli_error(PROG, "no connection after %.0f s; giving up%s%s%s",
                  (double)b->connect_timeout_ns / 1e9, b->log.last[0] ? " (last: " : "",
                  b->log.last, b->log.last[0] ? ")" : "");
        b->gave_up = CLI_EXIT_CONNECTION;
        event_base_loopbreak(b->base);
        return;
    }
    if (st.connects > 0 && b->answered < b->submitted && b->stall_timeout_ns &&
        t - (b->last_answer_ns > b->t_first_up_ns ? b->last_answer_ns : b->t_first_up_ns) >=
            b->stall_timeout_ns) {
        cli_error(PROG, "no answer for %.0f s with %" PRIu64 " pending; giving up%s%s%s",
                  (double)b->stall_timeout_ns / 1e9, b->submitted - b->answered,
                  b->log.last[0] ? " (last: " : "", b->log.last, b->log.last[0] ? ")" : "");
        b->gave_up = CLI_EXIT_CONNECTION;
        event_base_loopbreak(b->base);
    }
}

/* --duration reached: stop submitting; the run ends with the last answer. */
static void deadline_cb(evutil_socket_t fd, short what, void *ud)
{
    bench *b = ud;
    (void)fd;
    (void)what;
    if (!b->stopping) {
        b->stopping = 1;
        maybe_finish(b);
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *ud)
{
    bench *b = ud;
    (void)what;
    if (b->stopping) {
        cli_error(PROG, "interrupted again; reporting what was answered");
        if (!b->t_end_ns)
            b->t_end_ns = now_ns(b);
        event_base_loopbreak(b->base);
        return;
    }
    cli_error(PROG, "%s: sending no more; waiting for %" PRIu64 " answers",
              sig == SIGINT ? "interrupted" : "terminated", b->submitted - b->answered);
    b->stopping = 1;
    maybe_finish(b);
}

/* ---------------------------------------------------------------------- */
/* tokens and payload                                                     */

/* Token i of seed: 64 lower-case hex characters (32 bytes, as iOS issues),
 * a pure function of (seed, i). `out` holds 65 bytes. */
static void gen_token(uint64_t seed, uint64_t i, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t s = seed * 0xD1B54A32D192ED03ULL + i * 0x9E3779B97F4A7C15ULL;
    for (int w = 0; w < 4; w++) {
        uint64_t v = common_rng_next(&s);
        for (int k = 0; k < 16; k++) {
            out[w * 16 + k] = hex[v >> 60];
            v <<= 4;
        }
    }
    out[64] = '\0';
}

/* {"aps":{"alert":"apns-bench xxxx"}} of exactly `size` bytes (>= 20); with
 * fcm the message fields {"data":{"m":"apns-bench xxxx"}}. */
static char *gen_payload(size_t size, int fcm)
{
    const char *head = fcm ? "{\"data\":{\"m\":\"" : "{\"aps\":{\"alert\":\"", tail[] = "\"}}";
    static const char fill[] = "apns-bench ";
    size_t hl = strlen(head), tl = sizeof tail - 1, n = size - hl - tl;
    char *p = malloc(size + 1);
    if (!p)
        return NULL;
    memcpy(p, head, hl);
    for (size_t i = 0; i < n; i++)
        p[hl + i] = i < sizeof fill - 1 ? fill[i] : 'x';
    memcpy(p + hl + n, tail, tl);
    p[size] = '\0';
    return p;
}

static int write_file(const char *flag, const char *path, const char *data, size_t len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || (f != stdout && fclose(f) != 0)) {
        cli_error(PROG, "--%s %s: %s", flag, path, strerror(errno));
        return -1;
    }
    if (f == stdout)
        fflush(stdout);
    return 0;
}

/* A throw-away P-256 key for --no-auth. */
static int ephemeral_key(apns_signing_key **out)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL, detail[256];
    long len;
    int rc = -1;

    if (pk && bio && PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) == 1 &&
        (len = BIO_get_mem_data(bio, &pem)) > 0 &&
        apns_signing_key_load_pem(out, pem, (size_t)len, NOAUTH_KEY_ID, NOAUTH_TEAM_ID, detail,
                                  sizeof detail) == 0)
        rc = 0;
    else
        cli_error(PROG, "--no-auth: cannot make a throw-away key");
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* report                                                                 */

typedef struct report {
    double elapsed_s, cpu_user_s, cpu_sys_s, cpu_per_million;
    long peak_rss_kb;
    apns_client_stats st;
} report;

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static void print_json(const bench *b, const report *r, const apns_client_opts *o, const char *auth,
                       size_t payload_len)
{
    FILE *f = stdout;
    double el = r->elapsed_s > 0 ? r->elapsed_s : 1e-9;

    fputs("{\"tool\":\"apns-bench\",\"host\":", f);
    cli_json_string(f, o->host);
    fprintf(f, ",\"port\":%u,\"tls\":%s,\"auth\":\"%s\"", o->port, o->h2c ? "false" : "true", auth);
    fprintf(f, ",\"provider\":\"%s\"", o->provider == APNS_PROVIDER_FCM ? "fcm" : "apns");
    fprintf(f, ",\"transport\":\"%s\"",
            o->transport != APNS_TRANSPORT_BINARY      ? "http2"
            : o->binary_simple                         ? "binary-simple"
            : o->binary_format == APNS_BINARY_ENHANCED ? "binary-enhanced"
                                                       : "binary-frame");
    fprintf(f, ",\"connections\":%u,\"streams\":%u,\"max_pending\":%u", o->connections,
            o->max_streams, o->max_pending);
    fprintf(f, ",\"payload_bytes\":%zu,\"push_type\":\"%s\",\"topic\":", payload_len,
            apns_push_type_name(b->tmpl.push_type));
    cli_json_string(f, b->tmpl.topic);
    fprintf(f, ",\"tokens\":%zu", b->ntok);
    fprintf(f, ",\"elapsed_s\":%.6f", r->elapsed_s);
    fprintf(f,
            ",\"submitted\":%" PRIu64 ",\"answered\":%" PRIu64 ",\"accepted\":%" PRIu64
            ",\"rejected\":%" PRIu64 ",\"failed\":%" PRIu64,
            b->submitted, b->answered, b->accepted, b->rejected, b->failed);
    fprintf(f, ",\"sent\":%" PRIu64, r->st.submitted + r->st.resent + r->st.retried);
    fprintf(f, ",\"sent_per_s\":%.1f,\"accepted_per_s\":%.1f",
            (double)(r->st.submitted + r->st.resent + r->st.retried) / el,
            (double)b->accepted / el);
    fputs(",\"rejected_by_reason\":{", f);
    int first = 1;
    for (int i = 0; i < APNS_REASON_COUNT; i++) {
        if (!b->by_reason[i])
            continue;
        fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",",
                i == APNS_REASON_NONE ? "(none)" : apns_reason_name((apns_reason)i),
                b->by_reason[i]);
        first = 0;
    }
    fputs("},\"failed_by_error\":{", f);
    first = 1;
    for (int i = 0; i < ERR_SLOTS; i++) {
        if (!b->by_error[i])
            continue;
        fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", i ? apns_err_name(-i) : "unknown",
                b->by_error[i]);
        first = 0;
    }
    fprintf(f,
            "},\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99_9\":%.1f,"
            "\"max\":%.1f,\"mean\":%.1f}",
            us(histo_percentile(&b->lat, 50)), us(histo_percentile(&b->lat, 90)),
            us(histo_percentile(&b->lat, 99)), us(histo_percentile(&b->lat, 99.9)),
            us(b->lat.total ? b->lat.max : 0), histo_mean(&b->lat) / 1000.0);
    fprintf(f,
            ",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"cpu_s_per_million\":%.3f,"
            "\"peak_rss_kb\":%ld",
            r->cpu_user_s, r->cpu_sys_s, r->cpu_per_million, r->peak_rss_kb);
    fprintf(f,
            ",\"resent\":%" PRIu64 ",\"retried\":%" PRIu64 ",\"goaways\":%" PRIu64
            ",\"connects\":%" PRIu64 ",\"disconnects\":%" PRIu64 "}\n",
            r->st.resent, r->st.retried, r->st.goaways, r->st.connects, r->st.disconnects);
}

static void print_table(const bench *b, const report *r, const apns_client_opts *o,
                        const char *auth, size_t payload_len)
{
    FILE *f = stdout;
    double el = r->elapsed_s > 0 ? r->elapsed_s : 1e-9;
    uint64_t sent = r->st.submitted + r->st.resent + r->st.retried;

    if (o->transport == APNS_TRANSPORT_BINARY)
        fprintf(f,
                "apns-bench: %s:%u over TLS, binary %s format, %s auth, %u connection%s, "
                "window %lld ms, max_pending %u\n",
                o->host, o->port,
                o->binary_simple                           ? "simple"
                : o->binary_format == APNS_BINARY_ENHANCED ? "enhanced"
                                                           : "frame",
                auth, o->connections, o->connections == 1 ? "" : "s",
                (long long)(o->binary_accept_window_ms ? o->binary_accept_window_ms : 2000),
                o->max_pending);
    else
        fprintf(
            f, "apns-bench: %s:%u over %s, %s auth, %u connection%s x %u streams, max_pending %u\n",
            o->host, o->port,
            o->h2c                             ? "h2c (plaintext)"
            : o->provider == APNS_PROVIDER_FCM ? "TLS (FCM HTTP v1)"
                                               : "TLS",
            auth, o->connections, o->connections == 1 ? "" : "s", o->max_streams, o->max_pending);
    if (o->provider == APNS_PROVIDER_FCM)
        fprintf(f, "            message fields %zu bytes, project %s, %zu distinct tokens\n\n",
                payload_len, o->fcm_project_id, b->ntok);
    else
        fprintf(f, "            payload %zu bytes, push type %s, topic %s, %zu distinct tokens\n\n",
                payload_len, apns_push_type_name(b->tmpl.push_type), b->tmpl.topic, b->ntok);
    fprintf(f, "  %-22s %12.3f s\n", "elapsed", r->elapsed_s);
    fprintf(f, "  %-22s %12" PRIu64 "  %12.0f /s\n", "sent (incl. resends)", sent,
            (double)sent / el);
    fprintf(f, "  %-22s %12" PRIu64 "  %12.0f /s\n", "accepted", b->accepted,
            (double)b->accepted / el);
    fprintf(f, "  %-22s %12" PRIu64 "\n", "rejected", b->rejected);
    for (int i = 0; i < APNS_REASON_COUNT; i++)
        if (b->by_reason[i])
            fprintf(f, "    %-20s %12" PRIu64 "\n",
                    i == APNS_REASON_NONE ? "(no reason)" : apns_reason_name((apns_reason)i),
                    b->by_reason[i]);
    fprintf(f, "  %-22s %12" PRIu64 "\n", "failed", b->failed);
    for (int i = 0; i < ERR_SLOTS; i++)
        if (b->by_error[i])
            fprintf(f, "    %-20s %12" PRIu64 "\n", i ? apns_err_name(-i) : "unknown",
                    b->by_error[i]);
    if (r->st.resent || r->st.retried || r->st.goaways || r->st.disconnects > r->st.connects)
        fprintf(f, "  %-22s resent %" PRIu64 ", retried %" PRIu64 ", goaways %" PRIu64 "\n",
                "recovery", r->st.resent, r->st.retried, r->st.goaways);
    fprintf(f, "  %-22s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
            "latency (ms)", us(histo_percentile(&b->lat, 50)) / 1000,
            us(histo_percentile(&b->lat, 90)) / 1000, us(histo_percentile(&b->lat, 99)) / 1000,
            us(histo_percentile(&b->lat, 99.9)) / 1000, us(b->lat.total ? b->lat.max : 0) / 1000,
            histo_mean(&b->lat) / 1e6);
    fprintf(f, "  %-22s user %.2f s + sys %.2f s = %.2f s  (%.2f CPU-s per million)\n",
            "client CPU", r->cpu_user_s, r->cpu_sys_s, r->cpu_user_s + r->cpu_sys_s,
            r->cpu_per_million);
    fprintf(f, "  %-22s %.1f MiB\n", "peak RSS", (double)r->peak_rss_kb / 1024.0);
}

/* ---------------------------------------------------------------------- */

typedef struct bench_args {
    const char *host, *port, *ca_file, *connections, *streams, *max_pending;
    const char *connect_timeout, *stall_timeout;
    int insecure, h2c, no_auth, json, progress, verbose;
    const char *key_file, *key_id, *team_id, *cert, *key, *p12, *p12_password;
    const char *count, *duration, *tokens, *seed, *tokens_file, *payload_size, *payload_file;
    const char *topic, *push_type, *priority;
    const char *write_tokens, *write_payload;
    const char *binary, *binary_window;
    int fcm;
    const char *service_account, *project, *token_url;
} bench_args;

static int parse_u(const char *flag, const char *s, int64_t min, int64_t max, int64_t *v)
{
    return cli_parse_i64(PROG, flag, s, min, max, v);
}

int main(int argc, char **argv)
{
    bench_args a;
    memset(&a, 0, sizeof a);
    cli_opt opts[] = {
        {"host", CLI_STRING, &a.host, 0},
        {"port", CLI_STRING, &a.port, 0},
        {"ca-file", CLI_STRING, &a.ca_file, 0},
        {"insecure", CLI_FLAG, &a.insecure, 0},
        {"h2c", CLI_FLAG, &a.h2c, 0},
        {"connections", CLI_STRING, &a.connections, 0},
        {"streams", CLI_STRING, &a.streams, 0},
        {"max-pending", CLI_STRING, &a.max_pending, 0},
        {"connect-timeout", CLI_STRING, &a.connect_timeout, 0},
        {"stall-timeout", CLI_STRING, &a.stall_timeout, 0},
        {"key-file", CLI_STRING, &a.key_file, 0},
        {"key-id", CLI_STRING, &a.key_id, 0},
        {"team-id", CLI_STRING, &a.team_id, 0},
        {"cert", CLI_STRING, &a.cert, 0},
        {"key", CLI_STRING, &a.key, 0},
        {"p12", CLI_STRING, &a.p12, 0},
        {"p12-password", CLI_STRING, &a.p12_password, 0},
        {"no-auth", CLI_FLAG, &a.no_auth, 0},
        {"count", CLI_STRING, &a.count, 0},
        {"duration", CLI_STRING, &a.duration, 0},
        {"tokens", CLI_STRING, &a.tokens, 0},
        {"seed", CLI_STRING, &a.seed, 0},
        {"tokens-file", CLI_STRING, &a.tokens_file, 0},
        {"payload-size", CLI_STRING, &a.payload_size, 0},
        {"payload-file", CLI_STRING, &a.payload_file, 0},
        {"topic", CLI_STRING, &a.topic, 0},
        {"push-type", CLI_STRING, &a.push_type, 0},
        {"priority", CLI_STRING, &a.priority, 0},
        {"json", CLI_FLAG, &a.json, 0},
        {"progress", CLI_FLAG, &a.progress, 0},
        {"verbose", CLI_FLAG, &a.verbose, 0},
        {"write-tokens", CLI_STRING, &a.write_tokens, 0},
        {"write-payload", CLI_STRING, &a.write_payload, 0},
        {"binary", CLI_STRING, &a.binary, 0},
        {"binary-window", CLI_STRING, &a.binary_window, 0},
        {"fcm", CLI_FLAG, &a.fcm, 0},
        {"service-account", CLI_STRING, &a.service_account, 0},
        {"project", CLI_STRING, &a.project, 0},
        {"token-url", CLI_STRING, &a.token_url, 0},
        {NULL, CLI_FLAG, NULL, 0},
    };
    static bench b; /* large (histogram): not on the stack */
    apns_client_opts o;
    apns_signing_key *key = NULL;
    apns_token_cache *cache = NULL;
    apns_fcm_account *acct = NULL;
    cli_fcm_conn fconn;
    cli_tokens ftok = {0};
    char *pool = NULL, *payload = NULL, detail[512];
    size_t payload_len = 0;
    int help = 0, code = CLI_EXIT_USAGE, rc;
    int64_t v, ntok = DEFAULT_TOKENS, seed = 1, streams = DEFAULT_STREAMS, conns = 1;
    const char *auth = "token";

    memset(&b, 0, sizeof b);
    histo_init(&b.lat);
    apns_client_opts_init(&o);
    apns_notification_init(&b.tmpl);

    if (cli_parse(PROG, opts, argc - 1, argv + 1, &help) != 0)
        goto out;
    if (help) {
        usage(stdout);
        code = CLI_EXIT_OK;
        goto out;
    }

    if (!a.fcm && (a.service_account || a.project || a.token_url)) {
        cli_error(PROG, "--service-account, --project and --token-url need --fcm");
        goto out;
    }
    ftok.fcm = a.fcm;

    /* --- workload -------------------------------------------------------- */
    if (a.count && a.duration) {
        cli_error(PROG, "give --count or --duration, not both");
        goto out;
    }
    b.count = DEFAULT_COUNT;
    if (a.count) {
        if (parse_u("count", a.count, 1, INT64_MAX, &v) != 0)
            goto out;
        b.count = (uint64_t)v;
    }
    if (a.duration) {
        if (parse_u("duration", a.duration, 1, 86400, &v) != 0)
            goto out;
        b.count = 0;
        b.duration_ns = v * 1000000000;
    }
    if (a.tokens && a.tokens_file) {
        cli_error(PROG, "give --tokens or --tokens-file, not both");
        goto out;
    }
    if (a.tokens && parse_u("tokens", a.tokens, 1, POOL_MAX, &ntok) != 0)
        goto out;
    if (a.seed && parse_u("seed", a.seed, 0, INT64_MAX, &seed) != 0)
        goto out;
    if (a.tokens_file) {
        FILE *f = strcmp(a.tokens_file, "-") == 0 ? stdin : fopen(a.tokens_file, "r");
        if (!f) {
            cli_error(PROG, "--tokens-file %s: %s", a.tokens_file, strerror(errno));
            goto out;
        }
        rc = cli_tokens_read(PROG, &ftok, f, a.tokens_file);
        if (f != stdin)
            fclose(f);
        if (rc != 0)
            goto out;
        if (ftok.n == 0) {
            cli_error(PROG, "--tokens-file %s: no tokens", a.tokens_file);
            goto out;
        }
        b.tok = (const char **)ftok.v;
        b.ntok = ftok.n;
    } else {
        pool = malloc((size_t)ntok * 65);
        b.tok = malloc((size_t)ntok * sizeof *b.tok);
        if (!pool || !b.tok) {
            cli_error(PROG, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < ntok; i++) {
            gen_token((uint64_t)seed, (uint64_t)i, pool + i * 65);
            b.tok[i] = pool + i * 65;
        }
        b.ntok = (size_t)ntok;
    }

    if (a.payload_size && a.payload_file) {
        cli_error(PROG, "give --payload-size or --payload-file, not both");
        goto out;
    }
    if (a.payload_file) {
        if (cli_read_file(PROG, "--payload-file", a.payload_file, PAYLOAD_FILE_MAX, &payload,
                          &payload_len) != 0)
            goto out;
        while (payload_len &&
               (payload[payload_len - 1] == '\n' || payload[payload_len - 1] == '\r'))
            payload[--payload_len] = '\0';
    } else {
        v = DEFAULT_PAYLOAD;
        if (a.payload_size &&
            parse_u("payload-size", a.payload_size, 20, APNS_PAYLOAD_MAX_VOIP, &v) != 0)
            goto out;
        payload_len = (size_t)v;
        payload = gen_payload(payload_len, a.fcm);
        if (!payload) {
            cli_error(PROG, "out of memory");
            goto out;
        }
    }

    if (a.write_tokens || a.write_payload) {
        if (a.write_payload && write_file("write-payload", a.write_payload, payload, payload_len))
            goto out;
        if (a.write_tokens) {
            FILE *f = strcmp(a.write_tokens, "-") == 0 ? stdout : fopen(a.write_tokens, "w");
            if (!f) {
                cli_error(PROG, "--write-tokens %s: %s", a.write_tokens, strerror(errno));
                goto out;
            }
            for (size_t i = 0; i < b.ntok; i++)
                fprintf(f, "%s\n", b.tok[i]);
            if (f == stdout ? fflush(f) != 0 : fclose(f) != 0) {
                cli_error(PROG, "--write-tokens %s: %s", a.write_tokens, strerror(errno));
                goto out;
            }
        }
        code = CLI_EXIT_OK;
        goto out;
    }

    b.tmpl.topic = a.topic ? a.topic : "com.example.app";
    if (a.push_type && apns_push_type_parse(a.push_type, &b.tmpl.push_type) != 0) {
        cli_error(PROG, "--push-type: unknown type '%s'", a.push_type);
        goto out;
    }
    if (a.priority) {
        if (parse_u("priority", a.priority, 1, 10, &v) != 0)
            goto out;
        b.tmpl.priority = (int)v;
    }
    b.tmpl.payload = payload;
    b.tmpl.payload_len = payload_len;
    /* Check the template once with the first token: a bad flag must fail
     * here, not as a million identical refusals. */
    b.tmpl.token = b.tok[0];
    if (a.fcm) {
        if (apns_fcm_fields_validate(payload, payload_len, detail, sizeof detail) != 0) {
            cli_error(PROG, "message: %s", detail);
            goto out;
        }
    } else if (apns_notification_validate(&b.tmpl, 1, detail, sizeof detail) != 0) {
        cli_error(PROG, "notification: %s", detail);
        goto out;
    }

    /* --- connection ------------------------------------------------------ */
    o.env = APNS_ENV_CUSTOM;
    o.host = a.host ? a.host : "127.0.0.1";
    o.port = a.fcm ? DEFAULT_FCM_PORT : DEFAULT_PORT;
    if (a.port) {
        if (parse_u("port", a.port, 1, 65535, &v) != 0)
            goto out;
        o.port = (uint16_t)v;
    }
    if (a.h2c && (a.ca_file || a.insecure)) {
        cli_error(PROG, "--h2c is plaintext; --ca-file and --insecure do not apply");
        goto out;
    }
    o.ca_file = a.ca_file;
    o.insecure_skip_verify = a.insecure;
    o.h2c = a.h2c;
    if (a.connections && parse_u("connections", a.connections, 1, 1000, &conns) != 0)
        goto out;
    if (a.streams && parse_u("streams", a.streams, 1, 100000, &streams) != 0)
        goto out;
    o.connections = (unsigned)conns;
    o.max_streams = (unsigned)streams;
    o.max_pending = (unsigned)(2 * conns * streams);
    if (a.max_pending) {
        if (parse_u("max-pending", a.max_pending, 1, 10000000, &v) != 0)
            goto out;
        o.max_pending = (unsigned)v;
    }
    if (a.binary) {
        o.transport = APNS_TRANSPORT_BINARY;
        if (strcmp(a.binary, "frame") == 0) {
            o.binary_format = APNS_BINARY_FRAME;
        } else if (strcmp(a.binary, "enhanced") == 0) {
            o.binary_format = APNS_BINARY_ENHANCED;
        } else if (strcmp(a.binary, "simple") == 0) {
            o.binary_format = APNS_BINARY_SIMPLE;
            o.binary_simple = 1;
        } else {
            cli_error(PROG, "--binary: unknown format '%s' (simple, enhanced or frame)", a.binary);
            goto out;
        }
        if (a.h2c || a.streams) {
            cli_error(PROG, "--binary is TLS without HTTP/2: --h2c and --streams do not apply");
            goto out;
        }
        if (!a.max_pending)
            o.max_pending = 0; /* the client's binary default */
    } else if (a.binary_window) {
        cli_error(PROG, "--binary-window needs --binary");
        goto out;
    }
    if (a.binary_window) {
        if (parse_u("binary-window", a.binary_window, 1, 600000, &v) != 0)
            goto out;
        o.binary_accept_window_ms = v;
    }
    v = DEFAULT_CONNECT_S;
    if (a.connect_timeout && parse_u("connect-timeout", a.connect_timeout, 0, 86400, &v) != 0)
        goto out;
    b.connect_timeout_ns = v * 1000000000;
    v = DEFAULT_STALL_S;
    if (a.stall_timeout && parse_u("stall-timeout", a.stall_timeout, 0, 86400, &v) != 0)
        goto out;
    b.stall_timeout_ns = v * 1000000000;

    /* --- authentication -------------------------------------------------- */
    if (a.fcm) {
        if (a.key_file || a.key_id || a.team_id || a.cert || a.key || a.p12 || a.p12_password ||
            a.no_auth || a.h2c || a.binary) {
            cli_error(PROG, "--fcm takes --service-account (no APNs credentials, --no-auth, "
                            "--h2c or --binary)");
            goto out;
        }
        if (!a.service_account) {
            cli_error(PROG, "--fcm needs --service-account FILE (the JSON key file)");
            goto out;
        }
        if (cli_fcm_conn_init(PROG, &fconn, a.token_url, o.host, o.port, a.ca_file, NULL) != 0)
            goto out;
        code = cli_fcm_account_load(PROG, "service-account", a.service_account, &acct);
        if (code != CLI_EXIT_OK)
            goto out;
        code = CLI_EXIT_USAGE;
        o.provider = APNS_PROVIDER_FCM;
        o.fcm_project_id = a.project ? a.project : apns_fcm_account_project_id(acct);
        if (apns_fcm_project_check(o.fcm_project_id, detail, sizeof detail) != 0) {
            cli_error(PROG, "--project: %s", detail);
            goto out;
        }
        auth = "service-account";
    }
    int token_auth = a.key_file || a.key_id || a.team_id;
    int cert_auth = a.cert || a.key;
    int p12_auth = a.p12 || a.p12_password;
    if (!a.fcm && token_auth + cert_auth + p12_auth + a.no_auth != 1) {
        cli_error(PROG, "give exactly one of --key-file/--key-id/--team-id, --cert [--key], "
                        "--p12, or --no-auth (see --help)");
        goto out;
    }
    if (token_auth) {
        if (!a.key_file || !a.key_id || !a.team_id) {
            cli_error(PROG, "token auth needs --key-file, --key-id and --team-id");
            goto out;
        }
        if (apns_signing_key_load_file(&key, a.key_file, a.key_id, a.team_id, detail,
                                       sizeof detail) != 0) {
            cli_error(PROG, "%s", detail);
            goto out;
        }
    } else if (a.no_auth) {
        if (ephemeral_key(&key) != 0)
            goto out;
        auth = "none (throw-away key)";
    } else if (cert_auth) {
        if (!a.cert) {
            cli_error(PROG, "--key needs --cert");
            goto out;
        }
        o.cert_file = a.cert;
        o.key_file = a.key;
        auth = "certificate";
    } else if (p12_auth) {
        if (!a.p12) {
            cli_error(PROG, "--p12-password needs --p12");
            goto out;
        }
        o.p12_file = a.p12;
        o.p12_password = a.p12_password;
        auth = "certificate";
    }
    if (key && apns_token_cache_new(&cache, key, 0) != 0) {
        cli_error(PROG, "out of memory");
        goto out;
    }
    if (!a.fcm)
        o.tokens = cache;
    b.log.prog = PROG;
    b.log.verbose = a.verbose;
    b.progress = a.progress;
    o.on_result = on_result;
    o.on_credit = on_credit;
    o.on_log = on_log;
    o.ud = &b;

    /* --- run ------------------------------------------------------------- */
    signal(SIGPIPE, SIG_IGN);
    b.base = event_base_new();
    if (!b.base) {
        cli_error(PROG, "cannot create the event loop");
        code = CLI_EXIT_CONNECTION;
        goto out;
    }
    if (a.fcm) {
        /* The first access token before the clock starts. */
        b.fcm_auth.log = &b.log;
        code = cli_fcm_auth_start(&b.fcm_auth, PROG, b.base, acct, &fconn);
        if (code != CLI_EXIT_OK)
            goto out;
        code = CLI_EXIT_USAGE;
        o.tokens = b.fcm_auth.cache;
    }
    clock_gettime(CLOCK_MONOTONIC, &b.t0);
    if (cli_pump_init(&b.pump, b.base, next_notification, sent, &b) != 0) {
        cli_error(PROG, "out of memory");
        code = CLI_EXIT_CONNECTION;
        goto out;
    }
    rc = apns_client_new(&b.client, b.base, &o, detail, sizeof detail);
    if (rc != 0) {
        cli_error(PROG, "%s%s%s", apns_strerror(rc), detail[0] ? ": " : "", detail);
        code = (rc == APNS_EINVAL) ? CLI_EXIT_USAGE : CLI_EXIT_CONNECTION;
        goto out;
    }
    b.ev_tick = event_new(b.base, -1, EV_PERSIST, tick_cb, &b);
    b.pump.client = b.client;
    b.ev_sigint = evsignal_new(b.base, SIGINT, signal_cb, &b);
    b.ev_sigterm = evsignal_new(b.base, SIGTERM, signal_cb, &b);
    b.ev_deadline = evtimer_new(b.base, deadline_cb, &b);
    if (!b.ev_tick || !b.pump.ev_finish || !b.ev_sigint || !b.ev_sigterm || !b.ev_deadline) {
        cli_error(PROG, "out of memory");
        code = CLI_EXIT_CONNECTION;
        goto out;
    }
    static const struct timeval one_s = {1, 0};
    event_add(b.ev_tick, &one_s);
    event_add(b.ev_sigint, NULL);
    event_add(b.ev_sigterm, NULL);
    if (b.duration_ns) {
        struct timeval d = {(time_t)(b.duration_ns / 1000000000), 0};
        event_add(b.ev_deadline, &d);
    }

    pump(&b);
    event_base_dispatch(b.base);
    if (!b.t_end_ns)
        b.t_end_ns = now_ns(&b);
    cli_log_flush(&b.log);

    /* --- report ---------------------------------------------------------- */
    report r;
    struct rusage ru;
    memset(&r, 0, sizeof r);
    getrusage(RUSAGE_SELF, &ru);
    apns_client_stats_get(b.client, &r.st);
    r.elapsed_s = (double)b.t_end_ns / 1e9;
    r.cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    r.cpu_sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    r.cpu_per_million =
        b.answered ? (r.cpu_user_s + r.cpu_sys_s) / ((double)b.answered / 1e6) : 0.0;
    r.peak_rss_kb = ru.ru_maxrss;
    if (a.json)
        print_json(&b, &r, &o, a.no_auth ? "none" : auth, payload_len);
    else
        print_table(&b, &r, &o, auth, payload_len);
    fflush(stdout);

    if (b.gave_up)
        code = b.gave_up;
    else if (b.accepted == b.submitted && b.answered == b.submitted)
        code = CLI_EXIT_OK;
    else
        code = CLI_EXIT_REJECTED;

out:
    if (b.client)
        apns_client_free(b.client);
    if (b.ev_tick)
        event_free(b.ev_tick);
    cli_pump_cleanup(&b.pump);
    if (b.ev_sigint)
        event_free(b.ev_sigint);
    if (b.ev_sigterm)
        event_free(b.ev_sigterm);
    if (b.ev_deadline)
        event_free(b.ev_deadline);
    cli_fcm_auth_free(&b.fcm_auth); /* after the client, before the loop */
    if (b.base)
        event_base_free(b.base);
    apns_token_cache_free(cache);
    apns_signing_key_free(key);
    apns_fcm_account_free(acct);
    if (!a.tokens_file)
        free(b.tok);
    free(pool);
    free(payload);
    cli_tokens_free(&ftok);
    return code;
}
