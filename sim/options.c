/* options.c - apns-sim command-line parsing and --help. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: apns-sim [OPTIONS]\n"
    "An Apple Push Notification service stand-in for tests, demos and benchmarks: the\n"
    "HTTP/2 provider API, and optionally the legacy binary gateway and feedback\n"
    "service. See docs/apns-sim.md.\n"
    "\n"
    "Listening:\n"
    "  --listen ADDR:PORT        address to listen on (default 127.0.0.1:2197; port 0 picks\n"
    "                            a free port). IPv6 as [::1]:PORT. When ready, prints\n"
    "                            'apns-sim listening on ADDR:PORT' on stdout.\n"
    "  --tls-cert FILE           server certificate chain (PEM); required unless --h2c\n"
    "  --tls-key FILE            server private key (PEM); required unless --h2c\n"
    "  --h2c                     plaintext HTTP/2 with prior knowledge (no TLS)\n"
    "  --threads N               N event loops sharing the port (SO_REUSEPORT; default 1)\n"
    "\n"
    "Authentication (default: open mode, no credentials checked):\n"
    "  --auth-keys DIR           token auth: DIR holds KEYID_TEAMID.pem (public key, or a\n"
    "                            private .p8 key) files; every request needs\n"
    "                            'authorization: bearer <ES256 JWT>'\n"
    "  --token-max-age SECS      oldest accepted JWT iat (default 3600)\n"
    "  --token-min-interval SECS least time between two token changes on one connection\n"
    "                            (default 1200); faster gives 429 TooManyProviderTokenUpdates\n"
    "  --team-token-interval SECS  fleet-wide: a token new to the whole process (every\n"
    "                            connection, every thread) within SECS of its team's\n"
    "                            current token gets 429 TooManyProviderTokenUpdates; tokens\n"
    "                            already seen stay accepted (default 0 = off; distinct\n"
    "                            tokens per team are counted either way)\n"
    "  --max-streams N           SETTINGS_MAX_CONCURRENT_STREAMS (default 1000; with token\n"
    "                            auth 1 until the first request with a valid token)\n"
    "  --client-ca FILE          certificate auth: require a client certificate signed by\n"
    "                            FILE; its subject UID (or CN) is an allowed topic\n"
    "  --topics A,B,...          allowed bundle ids (push-type suffixes are added\n"
    "                            automatically); default any\n"
    "\n"
    "Device tokens:\n"
    "  --unregistered FILE       lines 'token [timestamp_ms]': 410 Unregistered (binary\n"
    "                            gateway: uninstalled apps, see --feedback-listen)\n"
    "  --other-topic FILE        one token a line: 400 DeviceTokenNotForTopic\n"
    "  --other-env FILE          tokens of the other environment: 400 BadDeviceToken\n"
    "  --expired-tokens FILE     lines 'token [timestamp_ms]': 410 ExpiredToken\n"
    "  --forbidden-tokens FILE   one token a line: 403 Forbidden\n"
    "  --environment ENV         sandbox or production (default production); sandbox adds\n"
    "                            an apns-unique-id header to every 200; a client\n"
    "                            certificate of the other one: 403 BadCertificateEnvironment\n"
    "  --other-env-keys K1,K2    key ids (of --auth-keys) of the other environment: 403\n"
    "                            BadEnvironmentKeyIdInToken\n"
    "\n"
    "Fault injection (all off by default):\n"
    "  --seed N                  make the random faults below deterministic\n"
    "  --goaway-every N          after N streams on a connection send GOAWAY (NO_ERROR,\n"
    "                            {\"reason\":\"Shutdown\"}), answer streams up to that one,\n"
    "                            ignore the rest, then close\n"
    "  --reset-every N           after N streams on a connection answer those N, then\n"
    "                            abort the TCP connection (RST) without answering more\n"
    "  --fail-rate STATUS:RATE   answer this fraction of otherwise accepted requests with\n"
    "                            429 TooManyRequests, 500 InternalServerError or 503\n"
    "                            ServiceUnavailable (repeatable, one per status)\n"
    "  --latency-ms N            delay every answer by N ms\n"
    "  --no-answer-rate R        never answer this fraction of streams\n"
    "  --shrink-streams-after N:M  after N streams on a connection lower\n"
    "                            SETTINGS_MAX_CONCURRENT_STREAMS to M (excess new streams\n"
    "                            get RST_STREAM REFUSED_STREAM)\n"
    "  --idle-timeout SECS       a connection without a request for SECS (decimals allowed)\n"
    "                            gets GOAWAY {\"reason\":\"IdleTimeout\"} and is closed\n"
    "  --shutdown-after N        after N streams on a connection answer the next to complete\n"
    "                            503 Shutdown, send GOAWAY {\"reason\":\"Shutdown\"} naming it\n"
    "                            (later streams are never answered), close\n"
    "\n"
    "Broadcast push (Live Activities, iOS 18; see docs/apns-sim.md):\n"
    "  --manage-listen ADDR:PORT channel-management service (/1/apps/<bundle>/channels,\n"
    "                            /all-channels), HTTP/2 with the same TLS and auth as\n"
    "                            --listen, no fault injection. Prints 'apns-sim manage\n"
    "                            listening on ADDR:PORT' after the other lines. Broadcast\n"
    "                            publish (/4/broadcasts/apps/<bundle>) is on --listen\n"
    "  --channel-limit N         channels per app (default 10000, as APNs); one more is\n"
    "                            400 CannotCreateChannelConfig\n"
    "  --broadcast-topics A,B,...  bundle ids with the broadcast capability; others get\n"
    "                            400 FeatureNotEnabled (default: every allowed bundle id)\n"
    "\n"
    "Legacy binary interface (see docs/apns-sim.md):\n"
    "  --binary-listen ADDR:PORT gateway for the simple (0), enhanced (1) and frame (2)\n"
    "                            formats, TLS with --tls-cert/--tls-key (client certificate\n"
    "                            required with --client-ca). Prints 'apns-sim binary\n"
    "                            listening on ADDR:PORT' after the HTTP/2 line\n"
    "  --feedback-listen ADDR:PORT  feedback service: serves, as tuples, once, then closes,\n"
    "                            the --unregistered tokens the gateway took pushes for\n"
    "                            (uninstalled apps: accepted, delivered to nobody).\n"
    "                            Prints 'apns-sim feedback listening on ADDR:PORT'\n"
    "  --invalid-tokens FILE     one token a line: status 8 (Invalid token) on the binary\n"
    "                            gateway (so are --other-topic, --other-env)\n"
    "  --binary-error-delay-ms N after a bad notification, read and discard for N ms, then\n"
    "                            send the error packet and close (default 500)\n"
    "  --binary-shutdown-every N after N notifications on a binary connection send status\n"
    "                            10 (Shutdown) naming the last one, then close\n"
    "\n"
    "Output:\n"
    "  --delivery-log FILE       append '<apns-id> <token> <topic> <payload-bytes>' for\n"
    "                            every accepted notification, 'broadcast <channel-id>\n"
    "                            <request-id> <payload-bytes>' for every accepted\n"
    "                            broadcast publish\n"
    "  --delivery-log-flush-ms N write the delivery log at least every N ms (1..10000,\n"
    "                            default 100; also when a thread's buffer fills, and\n"
    "                            at exit)\n"
    "  -h, --help                this text\n"
    "  --version                 print the version\n"
    "\n"
    "Counters are printed as one JSON object on stderr on SIGUSR1 and on exit\n"
    "(SIGINT/SIGTERM exit cleanly with status 0).\n";

enum {
    OPT_LISTEN = 256,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_H2C,
    OPT_THREADS,
    OPT_AUTH_KEYS,
    OPT_TOKEN_MAX_AGE,
    OPT_TOKEN_MIN_INTERVAL,
    OPT_TEAM_TOKEN_INTERVAL,
    OPT_MAX_STREAMS,
    OPT_CLIENT_CA,
    OPT_TOPICS,
    OPT_UNREGISTERED,
    OPT_OTHER_TOPIC,
    OPT_OTHER_ENV,
    OPT_ENVIRONMENT,
    OPT_SEED,
    OPT_GOAWAY_EVERY,
    OPT_RESET_EVERY,
    OPT_FAIL_RATE,
    OPT_LATENCY_MS,
    OPT_NO_ANSWER_RATE,
    OPT_SHRINK,
    OPT_EXPIRED_TOKENS,
    OPT_FORBIDDEN_TOKENS,
    OPT_OTHER_ENV_KEYS,
    OPT_IDLE_TIMEOUT,
    OPT_SHUTDOWN_AFTER,
    OPT_DELIVERY_LOG,
    OPT_DELIVERY_LOG_FLUSH,
    OPT_BINARY_LISTEN,
    OPT_FEEDBACK_LISTEN,
    OPT_INVALID_TOKENS,
    OPT_BINARY_ERROR_DELAY,
    OPT_BINARY_SHUTDOWN_EVERY,
    OPT_MANAGE_LISTEN,
    OPT_CHANNEL_LIMIT,
    OPT_BROADCAST_TOPICS,
    OPT_VERSION,
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"h2c", no_argument, NULL, OPT_H2C},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"auth-keys", required_argument, NULL, OPT_AUTH_KEYS},
    {"token-max-age", required_argument, NULL, OPT_TOKEN_MAX_AGE},
    {"token-min-interval", required_argument, NULL, OPT_TOKEN_MIN_INTERVAL},
    {"team-token-interval", required_argument, NULL, OPT_TEAM_TOKEN_INTERVAL},
    {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
    {"client-ca", required_argument, NULL, OPT_CLIENT_CA},
    {"topics", required_argument, NULL, OPT_TOPICS},
    {"unregistered", required_argument, NULL, OPT_UNREGISTERED},
    {"other-topic", required_argument, NULL, OPT_OTHER_TOPIC},
    {"other-env", required_argument, NULL, OPT_OTHER_ENV},
    {"environment", required_argument, NULL, OPT_ENVIRONMENT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"goaway-every", required_argument, NULL, OPT_GOAWAY_EVERY},
    {"reset-every", required_argument, NULL, OPT_RESET_EVERY},
    {"fail-rate", required_argument, NULL, OPT_FAIL_RATE},
    {"latency-ms", required_argument, NULL, OPT_LATENCY_MS},
    {"no-answer-rate", required_argument, NULL, OPT_NO_ANSWER_RATE},
    {"shrink-streams-after", required_argument, NULL, OPT_SHRINK},
    {"expired-tokens", required_argument, NULL, OPT_EXPIRED_TOKENS},
    {"forbidden-tokens", required_argument, NULL, OPT_FORBIDDEN_TOKENS},
    {"other-env-keys", required_argument, NULL, OPT_OTHER_ENV_KEYS},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"shutdown-after", required_argument, NULL, OPT_SHUTDOWN_AFTER},
    {"delivery-log", required_argument, NULL, OPT_DELIVERY_LOG},
    {"delivery-log-flush-ms", required_argument, NULL, OPT_DELIVERY_LOG_FLUSH},
    {"binary-listen", required_argument, NULL, OPT_BINARY_LISTEN},
    {"feedback-listen", required_argument, NULL, OPT_FEEDBACK_LISTEN},
    {"invalid-tokens", required_argument, NULL, OPT_INVALID_TOKENS},
    {"binary-error-delay-ms", required_argument, NULL, OPT_BINARY_ERROR_DELAY},
    {"binary-shutdown-every", required_argument, NULL, OPT_BINARY_SHUTDOWN_EVERY},
    {"manage-listen", required_argument, NULL, OPT_MANAGE_LISTEN},
    {"channel-limit", required_argument, NULL, OPT_CHANNEL_LIMIT},
    {"broadcast-topics", required_argument, NULL, OPT_BROADCAST_TOPICS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const char *option_name(int val)
{
    for (const struct option *lo = long_options; lo->name; lo++)
        if (lo->val == val)
            return lo->name;
    return "?";
}

static int bad(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "apns-sim: --%s %s: %s (see --help)\n", opt, val, why);
    return -1;
}

/* Unsigned decimal in [min, max]; the whole string must be digits. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_rate(const char *s, double *out)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

static int parse_addr(const char *s, char *out_host, size_t host_size, int *out_port)
{
    const char *colon;
    const char *host = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
    }
    uint64_t port;
    if (hlen == 0 || hlen >= host_size || parse_u64(colon + 1, 0, 65535, &port) != 0)
        return -1;
    memcpy(out_host, host, hlen);
    out_host[hlen] = '\0';
    *out_port = (int)port;
    return 0;
}

static void free_list(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

/* A comma-separated list of non-empty items (empty items are skipped). */
static int parse_list(char ***list, size_t *count, const char *s)
{
    free_list(list, count);
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    *list = calloc(n, sizeof **list);
    if (!*list)
        return -1;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            (*list)[*count] = strndup(p, len);
            if (!(*list)[*count])
                return -1;
            (*count)++;
        }
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return *count > 0 ? 0 : -1;
}

static int parse_fail_rate(sim_options *o, const char *s)
{
    /* STATUS names the reason: the one of these with that status. */
    static const sim_reason kinds[] = {
        SIM_REASON_TOO_MANY_REQUESTS,
        SIM_REASON_INTERNAL_SERVER_ERROR,
        SIM_REASON_SERVICE_UNAVAILABLE,
    };
    const char *colon = strchr(s, ':');
    if (!colon || colon - s != 3)
        return -1;
    int status = atoi(s);
    double rate;
    if (parse_rate(colon + 1, &rate) != 0)
        return -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (sim_reasons[kinds[i]].status != status)
            continue;
        for (int j = 0; j < o->nfail; j++) {
            if (o->fail[j].status == status) {
                o->fail[j].rate = rate;
                return 0;
            }
        }
        o->fail[o->nfail++] = (sim_fail_rule){status, kinds[i], rate};
        return 0;
    }
    return -1;
}

static int parse_shrink(sim_options *o, const char *s)
{
    char buf[64];
    const char *colon = strchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(colon - s));
    buf[colon - s] = '\0';
    uint64_t n, m;
    if (parse_u64(buf, 1, UINT32_MAX, &n) != 0 || parse_u64(colon + 1, 0, UINT32_MAX, &m) != 0)
        return -1;
    o->shrink_after = (uint32_t)n;
    o->shrink_to = (uint32_t)m;
    return 0;
}

static void set_defaults(sim_options *o)
{
    memset(o, 0, sizeof *o);
    strcpy(o->listen_host, "127.0.0.1");
    o->listen_port = 2197;
    o->threads = 1;
    o->token_max_age_s = 3600;
    o->token_min_interval_s = 1200;
    o->max_streams = 1000;
    o->binary_error_delay_ms = 500;
    o->delivery_log_flush_ms = 100;
    o->channel_limit = SIM_BC_CHANNEL_LIMIT;
}

static int check_combination(const sim_options *o)
{
    if (!o->h2c && (!o->tls_cert || !o->tls_key)) {
        fprintf(stderr, "apns-sim: --tls-cert and --tls-key are required unless --h2c\n");
        return -1;
    }
    if (o->h2c && o->client_ca) {
        fprintf(stderr, "apns-sim: --client-ca needs TLS; it cannot be used with --h2c\n");
        return -1;
    }
    if (o->team_token_interval_s > 0 && !o->auth_keys) {
        fprintf(stderr, "apns-sim: --team-token-interval needs token auth (--auth-keys)\n");
        return -1;
    }
    if (o->nother_env_keys > 0 && !o->auth_keys) {
        fprintf(stderr, "apns-sim: --other-env-keys needs token auth (--auth-keys)\n");
        return -1;
    }
    if (o->client_ca && o->auth_keys) {
        fprintf(stderr, "apns-sim: choose one of --client-ca (certificate auth) and "
                        "--auth-keys (token auth)\n");
        return -1;
    }
    double sum = 0;
    for (int i = 0; i < o->nfail; i++)
        sum += o->fail[i].rate;
    if (sum > 1.0) {
        fprintf(stderr, "apns-sim: the --fail-rate rates add up to more than 1\n");
        return -1;
    }
    return 0;
}

int sim_options_parse(sim_options *o, int argc, char **argv)
{
    set_defaults(o);
    int c;
    uint64_t v;
    const char *name;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        name = option_name(c);
        switch (c) {
        case OPT_LISTEN:
            if (parse_addr(optarg, o->listen_host, sizeof o->listen_host, &o->listen_port) != 0)
                return bad(name, optarg, "expected ADDR:PORT");
            break;
        case OPT_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            o->tls_key = optarg;
            break;
        case OPT_H2C:
            o->h2c = 1;
            break;
        case OPT_THREADS:
            if (parse_u64(optarg, 1, 256, &v) != 0)
                return bad(name, optarg, "expected 1..256");
            o->threads = (int)v;
            break;
        case OPT_AUTH_KEYS:
            o->auth_keys = optarg;
            break;
        case OPT_TOKEN_MAX_AGE:
            if (parse_u64(optarg, 1, INT32_MAX, &v) != 0)
                return bad(name, optarg, "expected seconds > 0");
            o->token_max_age_s = (int64_t)v;
            break;
        case OPT_TOKEN_MIN_INTERVAL:
            if (parse_u64(optarg, 0, INT32_MAX, &v) != 0)
                return bad(name, optarg, "expected seconds >= 0");
            o->token_min_interval_s = (int64_t)v;
            break;
        case OPT_TEAM_TOKEN_INTERVAL:
            if (parse_u64(optarg, 0, INT32_MAX, &v) != 0)
                return bad(name, optarg, "expected seconds >= 0 (0 = off)");
            o->team_token_interval_s = (int64_t)v;
            break;
        case OPT_MAX_STREAMS:
            if (parse_u64(optarg, 1, INT32_MAX, &v) != 0)
                return bad(name, optarg, "expected a count > 0");
            o->max_streams = (uint32_t)v;
            break;
        case OPT_CLIENT_CA:
            o->client_ca = optarg;
            break;
        case OPT_TOPICS:
            if (parse_list(&o->topics, &o->ntopics, optarg) != 0)
                return bad(name, optarg, "expected a comma-separated list of bundle ids");
            break;
        case OPT_UNREGISTERED:
            o->unregistered_file = optarg;
            break;
        case OPT_OTHER_TOPIC:
            o->other_topic_file = optarg;
            break;
        case OPT_OTHER_ENV:
            o->other_env_file = optarg;
            break;
        case OPT_ENVIRONMENT:
            if (strcmp(optarg, "sandbox") == 0 || strcmp(optarg, "development") == 0)
                o->sandbox = 1;
            else if (strcmp(optarg, "production") == 0)
                o->sandbox = 0;
            else
                return bad(name, optarg, "expected sandbox or production");
            break;
        case OPT_SEED:
            if (parse_u64(optarg, 0, UINT64_MAX, &v) != 0)
                return bad(name, optarg, "expected an unsigned integer");
            o->seed = v;
            o->have_seed = 1;
            break;
        case OPT_GOAWAY_EVERY:
            if (parse_u64(optarg, 1, INT32_MAX, &v) != 0)
                return bad(name, optarg, "expected a stream count > 0");
            o->goaway_every = (uint32_t)v;
            break;
        case OPT_RESET_EVERY:
            if (parse_u64(optarg, 1, INT32_MAX, &v) != 0)
                return bad(name, optarg, "expected a stream count > 0");
            o->reset_every = (uint32_t)v;
            break;
        case OPT_FAIL_RATE:
            if (parse_fail_rate(o, optarg) != 0)
                return bad(name, optarg, "expected 429|500|503:RATE with RATE in 0..1");
            break;
        case OPT_LATENCY_MS:
            if (parse_u64(optarg, 0, 3600 * 1000, &v) != 0)
                return bad(name, optarg, "expected milliseconds");
            o->latency_ms = (int)v;
            break;
        case OPT_NO_ANSWER_RATE:
            if (parse_rate(optarg, &o->no_answer_rate) != 0)
                return bad(name, optarg, "expected a rate in 0..1");
            break;
        case OPT_SHRINK:
            if (parse_shrink(o, optarg) != 0)
                return bad(name, optarg, "expected N:M (streams, new limit)");
            break;
        case OPT_EXPIRED_TOKENS:
            o->expired_file = optarg;
            break;
        case OPT_FORBIDDEN_TOKENS:
            o->forbidden_file = optarg;
            break;
        case OPT_OTHER_ENV_KEYS:
            if (parse_list(&o->other_env_keys, &o->nother_env_keys, optarg) != 0)
                return bad(name, optarg, "expected a comma-separated list of key ids");
            break;
        case OPT_IDLE_TIMEOUT: {
            double secs;
            char *end;
            errno = 0;
            secs = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(secs >= 0.001 && secs <= 86400))
                return bad(name, optarg, "expected seconds, 0.001..86400");
            o->idle_timeout_ms = (int64_t)(secs * 1000 + 0.5);
            break;
        }
        case OPT_SHUTDOWN_AFTER:
            if (parse_u64(optarg, 1, INT32_MAX, &v) != 0)
                return bad(name, optarg, "expected a stream count > 0");
            o->shutdown_after = (uint32_t)v;
            break;
        case OPT_DELIVERY_LOG:
            o->delivery_log = optarg;
            break;
        case OPT_DELIVERY_LOG_FLUSH:
            if (parse_u64(optarg, 1, 10000, &v) != 0)
                return bad(name, optarg, "expected milliseconds, 1..10000");
            o->delivery_log_flush_ms = (int)v;
            break;
        case OPT_BINARY_LISTEN:
            if (parse_addr(optarg, o->binary_host, sizeof o->binary_host, &o->binary_port) != 0)
                return bad(name, optarg, "expected ADDR:PORT");
            break;
        case OPT_FEEDBACK_LISTEN:
            if (parse_addr(optarg, o->feedback_host, sizeof o->feedback_host, &o->feedback_port) !=
                0)
                return bad(name, optarg, "expected ADDR:PORT");
            break;
        case OPT_INVALID_TOKENS:
            o->invalid_tokens_file = optarg;
            break;
        case OPT_BINARY_ERROR_DELAY:
            if (parse_u64(optarg, 0, 3600 * 1000, &v) != 0)
                return bad(name, optarg, "expected milliseconds");
            o->binary_error_delay_ms = (int)v;
            break;
        case OPT_BINARY_SHUTDOWN_EVERY:
            if (parse_u64(optarg, 1, UINT32_MAX, &v) != 0)
                return bad(name, optarg, "expected a notification count > 0");
            o->binary_shutdown_every = (uint32_t)v;
            break;
        case OPT_MANAGE_LISTEN:
            if (parse_addr(optarg, o->manage_host, sizeof o->manage_host, &o->manage_port) != 0)
                return bad(name, optarg, "expected ADDR:PORT");
            break;
        case OPT_CHANNEL_LIMIT:
            if (parse_u64(optarg, 1, 10000000, &v) != 0)
                return bad(name, optarg, "expected a channel count, 1..10000000");
            o->channel_limit = (uint32_t)v;
            break;
        case OPT_BROADCAST_TOPICS:
            if (parse_list(&o->bc_topics, &o->nbc_topics, optarg) != 0)
                return bad(name, optarg, "expected a comma-separated list of bundle ids");
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        case OPT_VERSION:
            puts("apns-sim 0.1.0");
            return 1;
        default:
            if (optopt >= 256)
                fprintf(stderr, "apns-sim: --%s needs a value (see --help)\n", option_name(optopt));
            else
                fprintf(stderr, "apns-sim: unknown option %s (see --help)\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "apns-sim: unexpected argument %s (see --help)\n", argv[optind]);
        return -1;
    }
    return check_combination(o);
}

void sim_options_cleanup(sim_options *o)
{
    free_list(&o->topics, &o->ntopics);
    free_list(&o->other_env_keys, &o->nother_env_keys);
    free_list(&o->bc_topics, &o->nbc_topics);
}
