/*
 * fcm_auth.c - FCM access tokens: one fetch from the token endpoint, and
 * the source that keeps an external token cache filled.
 *
 * Design note
 * ===========
 *
 * One fetch is one HTTP/1.1 request on its own connection (Connection:
 * close): an apns__transport (DNS, TCP, HTTP CONNECT proxy, TLS with the
 * server verified, the connect timeout) around a one-request core that is
 * the fetch itself, driven through this file's core class (core.h) the way
 * the feedback reader is. Its flush writes the request once; its recv keeps
 * every byte (bounded) and asks fcm_auth_answer.c whether the answer is
 * complete; then is_finished() makes the transport close, and on_closed
 * judges the answer and calls back. A server that closes right after the
 * answer (APNS_ECLOSED) is fine when the answer was complete. The request
 * deadline (connect to the end of the answer) is the core's deadline. A
 * token endpoint is called about once an hour, so a connection per fetch
 * costs nothing that matters, and no pooled connection can go stale.
 *
 * The source (apns_fcm_auth) has three states: FETCHING (one fetch in
 * flight, never two), READY (a timer for the next refresh), RETRYING (a
 * timer for the backoff). A token of lifetime L, requested at t0 (monotonic),
 * is refreshed at t0 + L - lead, lead = max(5 min, L/10), but never before
 * t0 + L/2 (short test lifetimes): one request per refresh window. A refresh
 * is timed from when the request was sent, not answered, so the token is
 * never older than believed. The token in the cache stays while retries
 * run: it may still be good, and clients fail on it no worse than on none.
 *
 * apns_token_cache_expired() on the cache (an FCM 401 for an expired access
 * token) calls set_expired_cb's callback, once per generation and from any
 * thread, with the cache lock held: it only records the generation
 * (atomic) and activates an event on the auth's loop. There, if the
 * generation is still the one this auth put and the auth is READY, it
 * refreshes at once: one early request per generation, whatever the number
 * of connections that saw the 401. In FETCHING or RETRYING a request is
 * already coming and nothing more is done.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "apns/error.h"
#include "apns/fcm_auth.h"
#include "backoff.h"
#include "clock.h"
#include "detail.h"
#include "endpoint.h"
#include "fcm_auth_int.h"
#include "rng.h"
#include "transport.h"

#define DEFAULT_REQUEST_TIMEOUT_MS 30000
#define GRANT_RETRY_BASE_MS        60000
#define GRANT_RETRY_CAP_MS         (15 * 60 * 1000)
#define REFRESH_LEAD_MIN_S         300
#define HOST_MAX                   256
#define PATH_MAX_LEN               1024

/* ---- one fetch --------------------------------------------------------------- */

struct apns_fcm_fetch {
    apns__endpoint own_ep; /* apns_fcm_token_fetch's; unused when borrowed */
    const apns__endpoint *ep;
    apns__transport *t;
    char *req; /* the whole request */
    size_t req_len;
    int sent;
    uint8_t *rx; /* every byte received, bounded */
    size_t rx_len;
    int done; /* 1: the answer is complete or malformed: close */
    int64_t deadline_ms;
    int64_t issued_at;
    apns_fcm_token_cb cb;
    apns_log_cb on_log;
    void *log_ud; /* on_log's: the caller's ud (not the auth's own, which cb gets) */
    void *ud;
};

static void fetch_free(apns_fcm_fetch *f)
{
    if (f == NULL)
        return;
    apns__transport_free(f->t);
    if (f->ep == &f->own_ep)
        apns__endpoint_cleanup(&f->own_ep);
    if (f->req) {
        memset(f->req, 0, f->req_len); /* the grant is a credential for an hour */
        free(f->req);
    }
    free(f->rx);
    free(f);
}

static int core_recv(void *ud, const uint8_t *d, size_t n, int64_t now)
{
    apns_fcm_fetch *f = ud;
    apns__h1_answer a;
    (void)now;
    if (f->done)
        return 0;
    if (n > APNS__H1_ANSWER_MAX + 1 - f->rx_len)
        n = APNS__H1_ANSWER_MAX + 1 - f->rx_len; /* over the bound: the parser says so */
    memcpy(f->rx + f->rx_len, d, n);
    f->rx_len += n;
    int rc = apns__h1_answer_parse(f->rx, f->rx_len, 0, &a, NULL, 0);
    apns__h1_answer_clear(&a);
    if (rc != 0)
        f->done = 1;
    return 0;
}
static int core_flush(void *ud, apns__buf *out)
{
    apns_fcm_fetch *f = ud;
    if (f->sent)
        return 0;
    f->sent = 1;
    return apns__buf_append(out, f->req, f->req_len);
}
static int64_t core_next_deadline(const void *ud)
{
    return ((const apns_fcm_fetch *)ud)->deadline_ms;
}
static int core_tick(void *ud, int64_t now)
{
    return now >= ((apns_fcm_fetch *)ud)->deadline_ms ? APNS_ETIMEOUT : 0;
}
static int core_finished(const void *ud)
{
    return ((const apns_fcm_fetch *)ud)->done;
}

static const apns__core_class fetch_class = {
    .name = "OAuth token request",
    .eof_is_close = 1, /* Connection: close; with or without close_notify */
    .finished = "token answer received",
    .recv = core_recv,
    .flush = core_flush,
    .next_deadline = core_next_deadline,
    .tick = core_tick,
    .is_finished = core_finished,
    APNS__CORE_NO_JOBS,
};

static void t_on_log(void *ud, apns_log_level level, const char *msg)
{
    apns_fcm_fetch *f = ud;
    if (f->on_log)
        f->on_log(level, msg, f->log_ud);
}

static void t_on_closed(void *ud, apns__transport *t, int err, const char *tdetail)
{
    apns_fcm_fetch *f = ud;
    char detail[768] = "", hdetail[256] = "";
    apns__h1_answer a = {0};
    apns__fcm_answer *ans = calloc(1, sizeof *ans);
    apns_fcm_token_result r = {.detail = detail, .oauth_error = "", .oauth_error_description = ""};
    (void)t;

    int hrc =
        f->rx_len ? apns__h1_answer_parse(f->rx, f->rx_len, 1, &a, hdetail, sizeof hdetail) : 0;
    if (ans == NULL) {
        r.err = APNS_ENOMEM;
        snprintf(detail, sizeof detail, "out of memory");
    } else if (hrc == 1) {
        r.http_status = a.status;
        r.err =
            apns__fcm_token_answer_parse(a.status, a.body, a.body_len, ans, detail, sizeof detail);
        if (r.err == 0) {
            r.access_token = ans->access_token;
            r.expires_in = ans->expires_in;
            r.issued_at = f->issued_at;
        } else if (r.err == APNS_EGRANT) {
            r.oauth_error = ans->error;
            r.oauth_error_description = ans->error_description;
        } else if (r.err == APNS_EUNAVAILABLE) {
            r.retry_after_s = a.retry_after_s;
        }
    } else if (hrc < 0) {
        r.err = hrc;
        snprintf(detail, sizeof detail, "token endpoint %s:%u: malformed HTTP answer: %s",
                 f->ep->host, f->ep->port, hdetail);
    } else {
        r.err = err ? err : APNS_ECLOSED;
        snprintf(detail, sizeof detail, "token endpoint %s:%u: %s", f->ep->host, f->ep->port,
                 err == APNS_ETIMEOUT && f->sent ? "no answer before the request timeout"
                 : tdetail && tdetail[0]         ? tdetail
                                                 : apns_strerror(r.err));
    }
    apns__h1_answer_clear(&a);
    apns__transport_free(f->t);
    f->t = NULL;
    f->cb(&r, f->ud);
    if (ans) {
        memset(ans->access_token, 0, sizeof ans->access_token);
        free(ans);
    }
    fetch_free(f);
}

/* Signs a grant and starts the request on f->ep (borrowed from the auth,
 * or the fetch's own, already set up). Nothing calls back from inside:
 * the transport starts from the loop. On failure the caller frees f. */
static int fetch_start(apns_fcm_fetch *f, const apns_fcm_account *acct, const char *path,
                       const char *proxy_host, uint16_t proxy_port, int64_t timeout_ms,
                       char *detail, size_t dl)
{
    char grant[APNS_FCM_ASSERTION_MAX];
    char hosthdr[HOST_MAX + 16];
    int64_t now = (int64_t)time(NULL);

    int gl = apns_fcm_assertion_sign(acct, now, grant, sizeof grant);
    if (gl < 0) {
        apns__set_detail(detail, dl, "cannot sign the grant for %s: %s",
                         apns_fcm_account_client_email(acct), apns_strerror(gl));
        return gl;
    }
    f->issued_at = now;
    if (strchr(f->ep->host, ':'))
        snprintf(hosthdr, sizeof hosthdr, "[%s]", f->ep->host);
    else
        snprintf(hosthdr, sizeof hosthdr, "%s", f->ep->host);
    if (f->ep->port != 443)
        snprintf(hosthdr + strlen(hosthdr), sizeof hosthdr - strlen(hosthdr), ":%u", f->ep->port);
    static const char form[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                               "&assertion=";
    size_t body_len = sizeof form - 1 + (size_t)gl;
    size_t cap = body_len + strlen(path) + strlen(hosthdr) + 256;
    f->req = malloc(cap);
    f->rx = malloc(APNS__H1_ANSWER_MAX + 1);
    if (f->req == NULL || f->rx == NULL) {
        memset(grant, 0, sizeof grant);
        apns__set_detail(detail, dl, "out of memory");
        return APNS_ENOMEM;
    }
    int n = snprintf(f->req, cap,
                     "POST %s HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Accept: application/json\r\nUser-Agent: libapns/%s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s%s",
                     path, hosthdr, APNS_VERSION, body_len, form, grant);
    memset(grant, 0, sizeof grant);
    if (n < 0 || (size_t)n >= cap) {
        apns__set_detail(detail, dl, "cannot build the token request");
        return APNS_EINVAL;
    }
    f->req_len = (size_t)n;
    f->deadline_ms =
        apns__transport_now_ms() + (timeout_ms > 0 ? timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS);
    apns__transport_opts topts = {.ep = f->ep,
                                  .proxy_host = proxy_host,
                                  .proxy_port = proxy_port,
                                  .cls = &fetch_class,
                                  .core = f};
    apns__transport_callbacks cb = {.core = {.on_log = t_on_log}, .on_closed = t_on_closed};
    int rc = apns__transport_new(&f->t, &topts, &cb, f);
    if (rc) {
        apns__set_detail(detail, dl, "cannot start the connection: %s", apns_strerror(rc));
        return rc;
    }
    return 0;
}

/* The endpoint of a token URL: host and port from the URL, TLS verified
 * (ca_file or the system store), no ALPN (HTTP/1.1). */
static int endpoint_for(apns__endpoint *ep, struct event_base *base, const apns_fcm_account *acct,
                        const apns_fcm_conn_opts *o, char *path, size_t path_len, char *detail,
                        size_t dl)
{
    char host[HOST_MAX];
    uint16_t port;
    const char *url = o->token_url ? o->token_url : apns_fcm_account_token_uri(acct);
    int rc = apns__fcm_url_parse(url, host, sizeof host, &port, path, path_len, detail, dl);
    if (rc)
        return rc;
    if (apns__endpoint_init(ep, base, host, port) != 0) {
        apns__set_detail(detail, dl, "out of memory");
        return APNS_ENOMEM;
    }
    ep->connect_timeout_ms = o->connect_timeout_ms;
    apns__tls_opts tls = {.ca_file = o->ca_file, .no_alpn = 1};
    return apns__endpoint_setup(ep, &tls, detail, dl);
}

int apns_fcm_token_fetch(apns_fcm_fetch **out, struct event_base *base,
                         const apns_fcm_account *account, const apns_fcm_conn_opts *o,
                         apns_fcm_token_cb cb, void *ud, char *detail, size_t dl)
{
    char path[PATH_MAX_LEN];
    static const apns_fcm_conn_opts none;

    apns__set_detail(detail, dl, "%s", "");
    if (out)
        *out = NULL;
    if (base == NULL || account == NULL || cb == NULL) {
        apns__set_detail(detail, dl, "base, account and cb are required");
        return APNS_EINVAL;
    }
    if (o == NULL)
        o = &none;
    apns_fcm_fetch *f = calloc(1, sizeof *f);
    if (f == NULL) {
        apns__set_detail(detail, dl, "out of memory");
        return APNS_ENOMEM;
    }
    f->ep = &f->own_ep;
    f->cb = cb;
    f->ud = ud;
    int rc = endpoint_for(&f->own_ep, base, account, o, path, sizeof path, detail, dl);
    if (rc == 0)
        rc = fetch_start(f, account, path, o->proxy_host, o->proxy_port, o->request_timeout_ms,
                         detail, dl);
    if (rc) {
        fetch_free(f);
        return rc;
    }
    if (out)
        *out = f;
    return 0;
}

void apns_fcm_fetch_cancel(apns_fcm_fetch *f)
{
    fetch_free(f);
}

/* ---- the refreshing source ----------------------------------------------------- */

struct apns_fcm_auth {
    struct event_base *base;
    apns__endpoint ep;
    char path[PATH_MAX_LEN];
    char *proxy_host;
    uint16_t proxy_port;
    int64_t request_timeout_ms;
    const apns_fcm_account *account;
    apns_token_cache *cache;
    struct event *timer; /* the next request: refresh or retry */
    struct event *wake;  /* the cache's expired callback */
    apns_fcm_fetch *inflight;
    _Atomic uint64_t expired_gen; /* set by the cache's callback, any thread */
    uint64_t put_gen;             /* the generation of the token this auth put last */
    int64_t req_started_ms;
    int attempt;
    uint64_t rng;
    int64_t retry_base_ms, retry_cap_ms;
    apns_fcm_auth_stats st;
    apns_fcm_auth_state_cb on_state;
    apns_log_cb on_log;
    void *ud;
};

const char *apns_fcm_auth_state_name(apns_fcm_auth_state s)
{
    switch (s) {
    case APNS_FCM_AUTH_FETCHING:
        return "fetching";
    case APNS_FCM_AUTH_READY:
        return "ready";
    case APNS_FCM_AUTH_RETRYING:
        return "retrying";
    }
    return "?";
}

void apns_fcm_auth_opts_init(apns_fcm_auth_opts *o)
{
    if (o)
        memset(o, 0, sizeof *o);
}

static void emit(apns_fcm_auth *a, const apns_fcm_auth_event *ev)
{
    a->st.state = ev->state;
    if (a->on_state)
        a->on_state(ev, a->ud);
}

static void auth_request(apns_fcm_auth *a, const char *why);

static void schedule(apns_fcm_auth *a, int64_t delay_ms)
{
    struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
    evtimer_add(a->timer, &tv);
}

static void failed(apns_fcm_auth *a, int err, const char *detail, int64_t retry_after_s)
{
    a->st.failures++;
    a->st.last_err = err;
    snprintf(a->st.last_error, sizeof a->st.last_error, "%s", detail);
    a->attempt++;
    int64_t d =
        err == APNS_EGRANT
            ? common_backoff_ms(GRANT_RETRY_BASE_MS, GRANT_RETRY_CAP_MS, a->attempt, &a->rng)
            : common_backoff_ms(a->retry_base_ms, a->retry_cap_ms, a->attempt, &a->rng);
    if (retry_after_s > 0 && retry_after_s * 1000 > d)
        d = retry_after_s * 1000;
    schedule(a, d);
    apns_fcm_auth_event ev = {
        .state = APNS_FCM_AUTH_RETRYING, .err = err, .detail = detail, .retry_in_ms = d};
    emit(a, &ev);
}

static void on_fetched(const apns_fcm_token_result *r, void *ud)
{
    apns_fcm_auth *a = ud;
    a->inflight = NULL;
    if (r->err) {
        failed(a, r->err, r->detail, r->retry_after_s);
        return;
    }
    int rc = apns_token_cache_put(a->cache, r->access_token, r->issued_at);
    if (rc) {
        failed(a, APNS_EFORMAT, "the access token does not fit the token cache", 0);
        return;
    }
    apns_token tok = {0};
    if (apns_token_cache_get(a->cache, r->issued_at, &tok) == 0)
        a->put_gen = tok.generation;
    memset(tok.jwt, 0, sizeof tok.jwt);
    a->st.tokens++;
    a->attempt = 0;
    a->st.expires_at = r->issued_at + r->expires_in;
    /* lead = max(5 min, L/10), at most L/2: refresh at t0 + L - lead */
    int64_t life_ms = r->expires_in * 1000;
    int64_t lead_ms =
        life_ms / 10 > REFRESH_LEAD_MIN_S * 1000 ? life_ms / 10 : REFRESH_LEAD_MIN_S * 1000;
    if (lead_ms > life_ms / 2)
        lead_ms = life_ms / 2;
    int64_t due = a->req_started_ms + life_ms - lead_ms - common_mono_ms();
    if (due < 0)
        due = 0;
    schedule(a, due);
    char detail[96];
    snprintf(detail, sizeof detail, "access token valid for %lld s", (long long)r->expires_in);
    apns_fcm_auth_event ev = {.state = APNS_FCM_AUTH_READY,
                              .detail = detail,
                              .expires_at = a->st.expires_at,
                              .refresh_in_ms = due,
                              .generation = a->put_gen};
    emit(a, &ev);
}

static void auth_request(apns_fcm_auth *a, const char *why)
{
    char detail[512];
    if (a->inflight)
        return; /* never two in flight */
    evtimer_del(a->timer);
    apns_fcm_fetch *f = calloc(1, sizeof *f);
    if (f == NULL) {
        a->st.requests++;
        failed(a, APNS_ENOMEM, "out of memory", 0);
        return;
    }
    f->ep = &a->ep;
    f->cb = on_fetched;
    f->on_log = a->on_log;
    f->log_ud = a->ud;
    f->ud = a;
    a->req_started_ms = common_mono_ms();
    a->st.requests++;
    int rc = fetch_start(f, a->account, a->path, a->proxy_host, a->proxy_port,
                         a->request_timeout_ms, detail, sizeof detail);
    if (rc) {
        fetch_free(f);
        failed(a, rc, detail, 0);
        return;
    }
    a->inflight = f;
    apns_fcm_auth_event ev = {.state = APNS_FCM_AUTH_FETCHING, .detail = why};
    emit(a, &ev);
}

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
    apns_fcm_auth *a = ud;
    (void)fd;
    (void)what;
    auth_request(a, a->st.tokens == 0 && a->st.failures == 0 ? "first access token"
                    : a->st.state == APNS_FCM_AUTH_RETRYING  ? "retry after a failure"
                                                             : "refresh before expiry");
}

static void on_wake(evutil_socket_t fd, short what, void *ud)
{
    apns_fcm_auth *a = ud;
    (void)fd;
    (void)what;
    uint64_t gen = atomic_exchange(&a->expired_gen, 0);
    if (gen == 0 || gen != a->put_gen || a->st.state != APNS_FCM_AUTH_READY || a->inflight)
        return;
    a->st.expired_refreshes++;
    auth_request(a, "the access token was refused as expired");
}

/* From any thread, with the cache's lock held (jwt.h). */
static void on_cache_expired(apns_token_cache *c, uint64_t generation, void *ud)
{
    apns_fcm_auth *a = ud;
    (void)c;
    atomic_store(&a->expired_gen, generation);
    event_active(a->wake, 0, 0);
}

void apns_fcm_auth_free(apns_fcm_auth *a)
{
    if (a == NULL)
        return;
    if (a->cache)
        (void)apns_token_cache_set_expired_cb(a->cache, NULL, NULL); /* barrier: see jwt.h */
    fetch_free(a->inflight);
    if (a->timer)
        event_free(a->timer);
    if (a->wake)
        event_free(a->wake);
    apns__endpoint_cleanup(&a->ep);
    free(a->proxy_host);
    free(a);
}

int apns_fcm_auth_new(apns_fcm_auth **out, struct event_base *base, const apns_fcm_auth_opts *o,
                      char *detail, size_t dl)
{
    apns__set_detail(detail, dl, "%s", "");
    if (out)
        *out = NULL;
    if (out == NULL || base == NULL || o == NULL || o->account == NULL || o->cache == NULL) {
        apns__set_detail(detail, dl, "out, base, account and cache are required");
        return APNS_EINVAL;
    }
    apns_fcm_auth *a = calloc(1, sizeof *a);
    if (a == NULL) {
        apns__set_detail(detail, dl, "out of memory");
        return APNS_ENOMEM;
    }
    a->base = base;
    a->account = o->account;
    a->proxy_port = o->conn.proxy_port;
    a->request_timeout_ms = o->conn.request_timeout_ms;
    a->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 1000;
    a->retry_cap_ms = o->retry_cap_ms > 0 ? o->retry_cap_ms : 60000;
    a->on_state = o->on_state;
    a->on_log = o->on_log;
    a->ud = o->ud;
    a->rng = common_rng_seed();
    int rc = endpoint_for(&a->ep, base, o->account, &o->conn, a->path, sizeof a->path, detail, dl);
    if (rc)
        goto fail;
    if (o->conn.proxy_host && (a->proxy_host = strdup(o->conn.proxy_host)) == NULL)
        goto nomem;
    a->timer = evtimer_new(base, on_timer, a);
    a->wake = event_new(base, -1, 0, on_wake, a);
    if (a->timer == NULL || a->wake == NULL)
        goto nomem;
    /* The cache must be external and not fed by another auth. */
    rc = apns_token_cache_set_expired_cb(o->cache, on_cache_expired, a);
    if (rc) {
        apns__set_detail(detail, dl,
                         "the token cache must be external (apns_token_cache_new_external)");
        goto fail;
    }
    a->cache = o->cache;
    event_active(a->timer, 0, 0); /* the first request, from the loop */
    *out = a;
    return 0;
nomem:
    apns__set_detail(detail, dl, "out of memory");
    rc = APNS_ENOMEM;
fail:
    apns_fcm_auth_free(a);
    return rc;
}

int apns_fcm_auth_get_stats(const apns_fcm_auth *a, apns_fcm_auth_stats *out)
{
    if (a == NULL || out == NULL)
        return APNS_EINVAL;
    *out = a->st;
    return 0;
}
