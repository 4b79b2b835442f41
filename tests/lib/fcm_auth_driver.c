/*
 * fcm_auth_driver.c - drives lib/fcm_auth.c against a token endpoint for
 * fcm_auth_sim.py, which starts fcm-sim and judges the outcome with its own
 * eyes (fcm-sim's counters, a messages:send of its own). Prints one JSON
 * line per event on stdout; the last line is the summary. Exits 0 when the
 * run got as far as the mode needs, 1 otherwise (the safety timer: 120 s).
 *
 * usage: fcm_auth_driver MODE TOKEN_URL CA_FILE|- KEY_FILE [N]
 *   fetch    one apns_fcm_token_fetch(); its result
 *   refresh  an apns_fcm_auth until N tokens were put into the cache
 *   expired  an apns_fcm_auth: after the first token, 5 x
 *            apns_token_cache_expired() for its generation (one callback),
 *            then until the second token, then once more for the first
 *            generation (stale: nothing)
 *   expired-thread  the same, the five calls from another thread (libevent
 *            made thread-aware with evthread_use_pthreads, as fcm_auth.h says)
 *   failing  an apns_fcm_auth until its first RETRYING
 * env FCM_AUTH_PROXY=host:port: connect through that HTTP CONNECT proxy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "apns/apns.h"

static struct event_base *base;
static apns_token_cache *cache;
static apns_fcm_auth *auth;
static const char *mode;
static int want, readies, ok;
static uint64_t first_gen;

static void line(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(j);
}

static void on_fetch(const apns_fcm_token_result *r, void *ud)
{
    (void)ud;
    line(json_pack("{s:s,s:s,s:i,s:s,s:I,s:s,s:s,s:I}", "event", "fetch", "err",
                   apns_err_name(r->err), "status", r->http_status, "token",
                   r->access_token ? r->access_token : "", "expires_in", (json_int_t)r->expires_in,
                   "oauth_error", r->oauth_error, "oauth_error_description",
                   r->oauth_error_description, "issued_at", (json_int_t)r->issued_at));
    json_t *d = json_pack("{s:s,s:s}", "event", "detail", "detail", r->detail);
    line(d);
    ok = 1;
    event_base_loopbreak(base);
}

static int x_first, x_others;

/* What five connections do when FCM answers 401 for the current token. */
static void *five_401s(void *arg)
{
    (void)arg;
    x_first = apns_token_cache_expired(cache, first_gen, (int64_t)time(NULL));
    for (int i = 0; i < 4; i++)
        x_others += apns_token_cache_expired(cache, first_gen, (int64_t)time(NULL));
    return NULL;
}

static void on_state(const apns_fcm_auth_event *ev, void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    line(json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "event", "state", "state",
                   apns_fcm_auth_state_name(ev->state), "err", apns_err_name(ev->err), "detail",
                   ev->detail ? ev->detail : "", "generation", (json_int_t)ev->generation,
                   "refresh_in_ms", (json_int_t)ev->refresh_in_ms, "mono_ms",
                   (json_int_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000)));
    if (strcmp(mode, "failing") == 0 && ev->state == APNS_FCM_AUTH_RETRYING) {
        ok = 1;
        event_base_loopbreak(base);
        return;
    }
    if (ev->state != APNS_FCM_AUTH_READY)
        return;
    readies++;
    if (strcmp(mode, "refresh") == 0 && readies == want) {
        ok = 1;
        event_base_loopbreak(base);
    } else if (strncmp(mode, "expired", 7) == 0 && readies == 1) {
        /* Five connections see a 401 for this token: one callback. */
        first_gen = ev->generation;
        if (strcmp(mode, "expired-thread") == 0) {
            pthread_t th;
            pthread_create(&th, NULL, five_401s, NULL);
            pthread_join(th, NULL);
        } else {
            five_401s(NULL);
        }
        line(json_pack("{s:s,s:i,s:i}", "event", "expired", "first", x_first, "others", x_others));
    } else if (strncmp(mode, "expired", 7) == 0 && readies == 2) {
        /* main() runs the loop once more before the stats: a refresh this
         * woke would show there as a third request. */
        int stale = apns_token_cache_expired(cache, first_gen, (int64_t)time(NULL));
        line(json_pack("{s:s,s:i}", "event", "stale", "result", stale));
        ok = 1;
        event_base_loopbreak(base);
    }
}

static void on_safety(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    (void)ud;
    line(json_pack("{s:s}", "event", "safety-timeout"));
    event_base_loopbreak(base);
}

static void on_log(apns_log_level level, const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "log %d: %s\n", (int)level, msg);
}

int main(int argc, char **argv)
{
    char detail[512];
    apns_fcm_account *acct;

    if (argc < 5) {
        fprintf(stderr, "usage: fcm_auth_driver MODE TOKEN_URL CA_FILE|- KEY_FILE [N]\n");
        return 2;
    }
    mode = argv[1];
    want = argc > 5 ? atoi(argv[5]) : 1;
    if (apns_fcm_account_load_file(&acct, argv[4], detail, sizeof detail) != 0) {
        fprintf(stderr, "%s\n", detail);
        return 2;
    }
    if (strcmp(mode, "expired-thread") == 0)
        evthread_use_pthreads();
    base = event_base_new();
    struct event *safety = evtimer_new(base, on_safety, NULL);
    struct timeval tv = {120, 0};
    evtimer_add(safety, &tv);
    apns_fcm_conn_opts conn = {.token_url = argv[2],
                               .ca_file = strcmp(argv[3], "-") == 0 ? NULL : argv[3]};
    /* FCM_AUTH_PROXY=host:port: through an HTTP CONNECT proxy */
    char proxy[256] = "";
    const char *pe = getenv("FCM_AUTH_PROXY");
    if (pe && *pe && strlen(pe) < sizeof proxy && strrchr(pe, ':')) {
        strcpy(proxy, pe);
        *strrchr(proxy, ':') = '\0';
        conn.proxy_host = proxy;
        conn.proxy_port = (uint16_t)atoi(strrchr(pe, ':') + 1);
    }
    int rc;
    if (strcmp(mode, "fetch") == 0) {
        rc = apns_fcm_token_fetch(NULL, base, acct, &conn, on_fetch, NULL, detail, sizeof detail);
    } else {
        apns_token_cache_new_external(&cache);
        apns_fcm_auth_opts o;
        apns_fcm_auth_opts_init(&o);
        o.account = acct;
        o.cache = cache;
        o.conn = conn;
        o.on_state = on_state;
        o.on_log = on_log;
        rc = apns_fcm_auth_new(&auth, base, &o, detail, sizeof detail);
    }
    if (rc) {
        fprintf(stderr, "start: %s: %s\n", apns_err_name(rc), detail);
        return 2;
    }
    event_base_dispatch(base);
    event_base_loop(base, EVLOOP_NONBLOCK); /* what the last callback may have woken */
    if (auth) {
        apns_fcm_auth_stats st;
        apns_token tok = {0};
        apns_fcm_auth_get_stats(auth, &st);
        int have = apns_token_cache_get(cache, (int64_t)time(NULL), &tok) == 0;
        line(json_pack("{s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:I,s:I}", "event", "stats", "requests",
                       (json_int_t)st.requests, "tokens", (json_int_t)st.tokens, "failures",
                       (json_int_t)st.failures, "expired_refreshes",
                       (json_int_t)st.expired_refreshes, "last_err", apns_err_name(st.last_err),
                       "last_error", st.last_error, "token", have ? tok.jwt : "", "generation",
                       (json_int_t)tok.generation, "cache_refreshes",
                       (json_int_t)apns_token_cache_refreshes(cache)));
        apns_fcm_auth_free(auth);
        apns_token_cache_free(cache);
    }
    event_free(safety);
    event_base_free(base);
    apns_fcm_account_free(acct);
    return ok ? 0 : 1;
}
