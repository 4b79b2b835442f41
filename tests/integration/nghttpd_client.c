/*
 * nghttpd_client.c - pushes notifications through apns_client to a server
 * no one here wrote (nghttpd, or anything that answers POST /3/device/<token>
 * with 200) and checks every one is answered exactly once with the expected
 * status. Used by test_nghttpd.sh; also handy by hand:
 *
 *   nghttpd_client --port 8443 --ca certs/ca.pem --cert certs/client.pem \
 *                  --key certs/client.key --count 1000
 *
 * Exit status 0 when every notification got the expected outcome.
 *
 * --test-proxy ok      runs a tiny HTTP CONNECT proxy (test_proxy.h) in a thread
 *                      of this process and sends everything through it
 *                      (checks the proxy saw "CONNECT 127.0.0.1:PORT").
 * --test-proxy refuse  the proxy answers 403: expects APNS_EPROXY with the
 *                      status line, then every notification FAILED.
 * --expect-error NAME  every notification must FAIL with that error
 *                      (e.g. APNS_ETLS when the server refuses the handshake).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "apns/client.h"
#include "apns/jwt.h"
#include "test_proxy.h"

static const char *tokens[] = {
    "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0",
    "1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7F809",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
};

struct run {
    struct event_base *base;
    apns_client *client;
    long count, submitted, answered, ok, bad;
    int expect_status;
    const char *expect_error; /* "APNS_E...": every one must FAIL with it */
    unsigned char *seen;
    int verbose;
    int drained;
    long credits;
};

static void pump(struct run *r);
static int saw_proxy_error;

static void on_result(apns_client *c, const apns_notification *n, const apns_result *res, void *ud)
{
    struct run *r = ud;
    long i = (long)(intptr_t)n->user_data;
    r->answered++;
    if (i < 0 || i >= r->count || r->seen[i]++) {
        fprintf(stderr, "notification %ld answered twice (or unknown)\n", i);
        r->bad++;
        return;
    }
    if (r->expect_error) {
        if (res->outcome == APNS_OUTCOME_FAILED &&
            strcmp(apns_err_name(res->error), r->expect_error) == 0)
            r->ok++;
        else
            r->bad++;
        return;
    }
    int good = res->status == r->expect_status &&
               (r->expect_status == 200 ? res->outcome == APNS_OUTCOME_ACCEPTED : 1);
    if (good) {
        r->ok++;
    } else {
        r->bad++;
        if (r->bad < 10)
            fprintf(stderr, "notification %ld: outcome %d status %d reason \"%s\" error %s\n", i,
                    res->outcome, res->status, res->reason_str, apns_err_name(res->error));
    }
}

static void on_credit(apns_client *c, size_t credit, void *ud)
{
    struct run *r = ud;
    r->credits++;
    pump(r);
}

static void on_drained(apns_client *c, void *ud)
{
    struct run *r = ud;
    r->drained = 1;
    event_base_loopexit(r->base, NULL);
}

static void on_log(apns_log_level level, const char *msg, void *ud)
{
    struct run *r = ud;
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (r->verbose || level <= APNS_LOG_WARN)
        fprintf(stderr, "[%s] %s\n", names[level], msg);
    if (strstr(msg, "APNS_EPROXY") && strstr(msg, TP_PROXY_REFUSED))
        saw_proxy_error = 1;
}

static void pump(struct run *r)
{
    static const char payload[] = "{\"aps\":{\"alert\":\"hello from libapns\"}}";
    while (r->submitted < r->count) {
        apns_notification n;
        apns_notification_init(&n);
        n.token = tokens[r->submitted % 3];
        n.topic = "com.example.app";
        n.payload = payload;
        n.payload_len = sizeof payload - 1;
        n.user_data = (void *)(intptr_t)r->submitted;
        int rc = apns_client_submit(r->client, &n);
        if (rc == APNS_EAGAIN)
            return; /* on_credit resumes */
        if (rc) {
            fprintf(stderr, "submit: %s\n", apns_strerror(rc));
            exit(1);
        }
        r->submitted++;
    }
    apns_client_drain(r->client, on_drained);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    fprintf(stderr, "timed out: %ld of %ld answered\n", r->answered, r->count);
    event_base_loopexit(r->base, NULL);
}

int main(int argc, char **argv)
{
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    struct run r = {.count = 1000, .expect_status = 200};
    const char *p8 = NULL, *kid = NULL, *team = NULL;
    int timeout_s = 60;
    static struct option lo[] = {{"host", 1, 0, 'H'},
                                 {"port", 1, 0, 'p'},
                                 {"ca", 1, 0, 'a'},
                                 {"cert", 1, 0, 'c'},
                                 {"key", 1, 0, 'k'},
                                 {"p12", 1, 0, 'P'},
                                 {"pass", 1, 0, 'w'},
                                 {"p8", 1, 0, '8'},
                                 {"kid", 1, 0, 'i'},
                                 {"team", 1, 0, 't'},
                                 {"count", 1, 0, 'n'},
                                 {"connections", 1, 0, 'C'},
                                 {"max-pending", 1, 0, 'm'},
                                 {"proxy", 1, 0, 'x'},
                                 {"expect-status", 1, 0, 's'},
                                 {"h2c", 0, 0, 'z'},
                                 {"insecure", 0, 0, 'I'},
                                 {"timeout", 1, 0, 'T'},
                                 {"verbose", 0, 0, 'v'},
                                 {"test-proxy", 1, 0, 'X'},
                                 {"expect-error", 1, 0, 'E'},
                                 {0, 0, 0, 0}};
    const char *test_proxy = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            o.port = (uint16_t)atoi(optarg);
            break;
        case 'a':
            o.ca_file = optarg;
            break;
        case 'c':
            o.cert_file = optarg;
            break;
        case 'k':
            o.key_file = optarg;
            break;
        case 'P':
            o.p12_file = optarg;
            break;
        case 'w':
            o.p12_password = optarg;
            break;
        case '8':
            p8 = optarg;
            break;
        case 'i':
            kid = optarg;
            break;
        case 't':
            team = optarg;
            break;
        case 'n':
            r.count = atol(optarg);
            break;
        case 'C':
            o.connections = (unsigned)atoi(optarg);
            break;
        case 'm':
            o.max_pending = (unsigned)atoi(optarg);
            break;
        case 'x':
            o.proxy = optarg;
            break;
        case 's':
            r.expect_status = atoi(optarg);
            break;
        case 'z':
            o.h2c = 1;
            break;
        case 'I':
            o.insecure_skip_verify = 1;
            break;
        case 'T':
            timeout_s = atoi(optarg);
            break;
        case 'v':
            r.verbose = 1;
            break;
        case 'X':
            test_proxy = optarg;
            break;
        case 'E':
            r.expect_error = optarg;
            break;
        default:
            fprintf(stderr, "usage: see the comment at the top of nghttpd_client.c\n");
            return 2;
        }
    }
    apns_signing_key *key = NULL;
    apns_token_cache *cache = NULL;
    char detail[512];
    if (p8) {
        int rc = apns_signing_key_load_file(&key, p8, kid, team, detail, sizeof detail);
        if (rc || apns_token_cache_new(&cache, key, 0)) {
            fprintf(stderr, "signing key: %s\n", detail);
            return 1;
        }
        o.tokens = cache;
    }
    tp_proxy px = {0};
    char proxy_addr[64];
    signal(SIGPIPE, SIG_IGN); /* the test proxy writes with write(2) */
    if (test_proxy) {
        px.refuse = strcmp(test_proxy, "refuse") == 0;
        tp_proxy_start(&px);
        snprintf(proxy_addr, sizeof proxy_addr, "127.0.0.1:%u", px.port);
        o.proxy = proxy_addr;
    }
    r.seen = calloc((size_t)r.count, 1);
    r.base = event_base_new();
    o.on_result = on_result;
    o.on_credit = on_credit;
    o.on_log = on_log;
    o.ud = &r;
    int rc = apns_client_new(&r.client, r.base, &o, detail, sizeof detail);
    if (rc) {
        fprintf(stderr, "apns_client_new: %s: %s\n", apns_err_name(rc), detail);
        return 1;
    }
    struct event *deadline = evtimer_new(r.base, on_deadline, &r);
    struct timeval tv = {timeout_s, 0};
    evtimer_add(deadline, &tv);
    pump(&r);
    event_base_dispatch(r.base);

    apns_client_stats st;
    apns_client_stats_get(r.client, &st);
    printf("submitted %ld answered %ld ok %ld bad %ld; stats: accepted %llu rejected %llu "
           "failed %llu resent %llu retried %llu connects %llu goaways %llu credits %ld\n",
           r.submitted, r.answered, r.ok, r.bad, (unsigned long long)st.accepted,
           (unsigned long long)st.rejected, (unsigned long long)st.failed,
           (unsigned long long)st.resent, (unsigned long long)st.retried,
           (unsigned long long)st.connects, (unsigned long long)st.goaways, r.credits);
    int pass = r.drained && r.ok == r.count && r.bad == 0 && r.answered == r.count &&
               apns_client_pending(r.client) == 0;
    if (test_proxy) {
        char want[64];
        snprintf(want, sizeof want, "CONNECT %s:%u HTTP/1.1", o.host, o.port);
        printf("proxy: %d CONNECT(s), last \"%s\"\n", px.connects, px.last_request);
        if (strcmp(px.last_request, want) != 0)
            pass = 0;
        if (px.refuse) /* APNS_EPROXY with the status line in the log */
            pass = pass && saw_proxy_error;
    }
    apns_client_free(r.client);
    event_free(deadline);
    event_base_free(r.base);
    apns_token_cache_free(cache);
    apns_signing_key_free(key);
    free(r.seen);
    if (!pass) {
        fprintf(stderr, "FAIL\n");
        return 1;
    }
    printf("PASS\n");
    return 0;
}
