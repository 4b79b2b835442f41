/*
 * webhook.c - per-app webhook batching, signing and delivery over libevent's
 * evhttp client (http and https). See webhook.h for the contract.
 *
 * Design note
 * -----------
 * Each app with a webhook_url is a small state machine:
 *
 *   IDLE --(batch full | oldest waited webhook_interval | draining)--> SENDING
 *   SENDING --2xx--> IDLE (batch done)        SENDING --error/non-2xx--> BACKOFF
 *   BACKOFF --(timer: jittered 1s..5min)--> IDLE --> SENDING (the same batch)
 *
 * Results wait in a ring of pre-rendered JSON objects (one jansson dump per
 * result, so the escaping is jansson's) bounded by max_pending; when it is
 * full the oldest waiting result is dropped and counted. Starting a delivery
 * moves up to webhook_batch results out of the ring into the app's "fly"
 * batch, which stays intact until a 2xx answer: every retry sends the same
 * body with the same X-Apnsd-Delivery id (no loss, and no duplicates unless
 * a 2xx answer itself is lost). Memory per app is thus bounded by
 * max_pending + webhook_batch results.
 *
 * libevent rules this code keeps: an evhttp_connection is never freed from
 * inside one of its own callbacks (the request callback can even run inside
 * evhttp_make_request, when connect() fails at once). The request callback
 * only records the outcome, marks the connection dead when it failed, and
 * arms the app's timer or activates its "kick" event; connections are freed
 * and requests started only from those events or from the public calls.
 * Freeing a connection cancels its request without calling back, which is
 * how the request timeout safety net, the drain deadline and a reload cancel
 * a delivery. A connection is reused for the next batch while the server
 * keeps it open (keep-alive); once it closes or fails, the next delivery
 * gets a fresh one (with TLS, a fresh SSL object: bufferevent_openssl cannot
 * reconnect an SSL object).
 *
 * Host names are resolved here, not by evhttp: a connection is always made
 * to a numeric address (evhttp_connection_base_bufferevent_new with no
 * evdns_base, so libevent does no lookup of its own), while the Host header,
 * SNI and the certificate's host name check use the URL's host. A name is
 * looked up in /etc/hosts, else with plain A and AAAA requests on an
 * evdns_base (created on first need; DNS never blocks the loop), once per
 * new connection; IPv4 first, as libevent's getaddrinfo would order them.
 *
 * Why not evhttp's own lookup or evdns_getaddrinfo: in libevent 2.1 a lookup
 * that is cancelled, or failed by evdns_base_free(.., 1), is only released by
 * deferred callbacks, i.e. on a later loop turn (evhttp's even keeps its
 * bufferevent alive until then). The daemon frees the loop right after
 * gw_webhooks_free, with no turn in between, so every lookup pending at that
 * moment leaked. A plain A/AAAA request still in flight is released at once,
 * with no callback, by evdns_base_free(dns, 0); so lookups are never
 * cancelled: a lookup no longer wanted (reload, drain deadline, timeout,
 * free) is only abandoned, and gw_webhooks_free releases whatever is still
 * in flight that way. The requests' callback argument is an id, not a
 * pointer: an answer that was read just before the free (its deferred
 * callback queued) finds no lookup for its id and touches nothing.
 */
#include "webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "apns/error.h"
#include "log.h"
#include "queue.h"

#define USER_AGENT         "apnsd/0.1"
#define MAX_RESPONSE_BODY  (1u << 20)
#define MAX_RESPONSE_HEADS (64u << 10)
#define SAFETY_SLACK_MS    2000 /* our own timer behind libevent's timeouts */
#ifndef _PATH_HOSTS
#define _PATH_HOSTS "/etc/hosts"
#endif

/* ---------------------------------------------------------------------- */
/* types                                                                  */

typedef struct entry {
    char *json; /* one result object, compact */
    size_t len;
    int64_t at_ms; /* monotonic arrival time */
} entry;

/* A parsed webhook URL and its TLS context. */
typedef struct target {
    char *url;     /* as configured (compared on reload) */
    char *ca_file; /* as configured, NULL = none */
    int https;
    char *host;        /* for connect/verify: no brackets */
    char *host_header; /* Host: value */
    uint16_t port;
    char *path;    /* path[?query], at least "/" */
    char *auth;    /* "Basic ..." or NULL */
    char *log_url; /* scheme://host[:port]/path: no user info, no query */
    int host_is_ip;
    SSL_CTX *ssl_ctx; /* https only */
} target;

/* RESOLVING: the fly batch waits for its host name's address (a->lk). */
enum { ST_IDLE, ST_RESOLVING, ST_SENDING, ST_BACKOFF };

typedef struct lookup lookup;

typedef struct app {
    gw_webhooks *w;
    char *name;
    char *name_json; /* the name as a JSON string */
    target t;
    char *secret;
    uint32_t batch;
    int64_t interval_ms;

    entry *ring; /* waiting results */
    size_t cap, head, n;
    entry *fly; /* the batch being delivered */
    size_t fly_n;
    char delivery_id[33];
    unsigned attempt; /* failed attempts of the fly batch */

    int state;
    lookup *lk;                  /* the lookup this app waits for, or NULL */
    char addr[INET6_ADDRSTRLEN]; /* for the next connection, when have_addr */
    int have_addr;
    struct evhttp_connection *conn;
    int conn_dead;
    int req_error;       /* enum evhttp_request_error + 1 from the error callback, 0 = none */
    struct event *timer; /* interval / backoff / request safety net */
    struct event *kick;  /* deferred step */

    int dropping; /* in a drop episode (logged once) */
    uint64_t dropped_episode;
    int failing; /* last attempt failed (for the recovery log line) */
} app;

struct gw_webhooks {
    struct event_base *base;
    gw_metrics *m;
    struct evdns_base *dns;
    gw_webhook_limits lim;
    app **apps;
    size_t n_apps;
    uint64_t rng;

    int flushing;
    int deadline_passed;
    int done_pending;
    void (*done)(void *ud);
    void *done_ud;
    struct event *deadline_ev;
    struct event *done_ev;
};

/* ---------------------------------------------------------------------- */
/* small helpers                                                          */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_ms(int64_t ms)
{
    if (ms < 0)
        ms = 0;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

static void arm(struct event *ev, int64_t ms)
{
    struct timeval tv = tv_ms(ms);
    evtimer_add(ev, &tv);
}

static int streq0(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

static uint64_t rng_next(gw_webhooks *w)
{
    /* xorshift64* */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 2685821657736338717ull;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void metric(app *a, const char *result, uint64_t n)
{
    if (n > 0)
        gw_metrics_add(a->w->m, GW_M_WEBHOOK, a->name, result, n);
}

static void update_pending(app *a)
{
    gw_metrics_set(a->w->m, GW_M_WEBHOOK_PENDING, a->name, NULL, (double)(a->n + a->fly_n));
}

/* ---------------------------------------------------------------------- */
/* signing                                                                */

static EVP_MAC *g_hmac;
static pthread_once_t g_hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* A MAC context ready for "<timestamp>." followed by the body. */
static EVP_MAC_CTX *sign_begin(const char *secret, long long timestamp)
{
    pthread_once(&g_hmac_once, hmac_fetch);
    if (g_hmac == NULL)
        return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(g_hmac);
    if (ctx == NULL)
        return NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    const char *key = secret ? secret : "";
    char prefix[32];
    int n = snprintf(prefix, sizeof(prefix), "%lld.", timestamp);
    /* An empty key is legal for HMAC; OpenSSL wants a non-NULL pointer. */
    if (EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)n) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int sign_end(EVP_MAC_CTX *ctx, char out[65])
{
    unsigned char mac[32];
    size_t len = 0;
    int ok = EVP_MAC_final(ctx, mac, &len, sizeof(mac)) == 1 && len == sizeof(mac);
    EVP_MAC_CTX_free(ctx);
    if (!ok)
        return APNS_ECRYPTO;
    hex(mac, sizeof(mac), out);
    return 0;
}

int gw_webhook_sign(const char *secret, long long timestamp, const char *body, size_t len,
                    char out[65])
{
    out[0] = '\0';
    EVP_MAC_CTX *ctx = sign_begin(secret, timestamp);
    if (ctx == NULL)
        return APNS_ECRYPTO;
    if (len > 0 && EVP_MAC_update(ctx, (const unsigned char *)body, len) != 1) {
        EVP_MAC_CTX_free(ctx);
        return APNS_ECRYPTO;
    }
    return sign_end(ctx, out);
}

/* ---------------------------------------------------------------------- */
/* targets: URL parsing and TLS contexts                                  */

static void target_clear(target *t)
{
    free(t->url);
    free(t->ca_file);
    free(t->host);
    free(t->host_header);
    free(t->path);
    free(t->auth);
    free(t->log_url);
    if (t->ssl_ctx != NULL)
        SSL_CTX_free(t->ssl_ctx);
    memset(t, 0, sizeof(*t));
}

static void openssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "no detail");
    ERR_clear_error();
}

/* What the webhooks read of one [app NAME]: its webhook keys
 * (webhook_keys.h), its name, and its ca_file (dispatch_keys.h). */
typedef struct app_conf {
    const char *name, *ca_file, *webhook_url, *webhook_secret;
    uint32_t webhook_batch;
    int64_t webhook_interval_ms;
} app_conf;

static app_conf conf_of(const gw_config_app *ca)
{
    const gw_webhook_app_config *wc = gw_webhook_app_config_of(ca);
    app_conf c = {ca->name,          gw_dispatch_app_config_of(ca)->ca_file,
                  wc->webhook_url,   wc->webhook_secret,
                  wc->webhook_batch, wc->webhook_interval_ms};
    return c;
}

/* Parses the app's webhook_url and, for https, builds its SSL_CTX. 0,
 * APNS_ECONFIG (detail written) or APNS_ENOMEM. */
static int target_init(target *t, const app_conf *ac, char *detail, size_t dlen)
{
    memset(t, 0, sizeof(*t));
    const char *name = ac->name;
    struct evhttp_uri *u = evhttp_uri_parse(ac->webhook_url);
    int rc = APNS_ECONFIG;
    if (u == NULL) {
        snprintf(detail, dlen, "[app %s] webhook_url: not a valid URL", name);
        return APNS_ECONFIG;
    }
    const char *scheme = evhttp_uri_get_scheme(u);
    const char *host = evhttp_uri_get_host(u);
    int port = evhttp_uri_get_port(u);
    const char *path = evhttp_uri_get_path(u);
    const char *query = evhttp_uri_get_query(u);
    const char *userinfo = evhttp_uri_get_userinfo(u);
    if (scheme == NULL || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(detail, dlen, "[app %s] webhook_url: must start with http:// or https://", name);
        goto out;
    }
    if (host == NULL || host[0] == '\0' || strcmp(host, "[]") == 0) {
        snprintf(detail, dlen, "[app %s] webhook_url: has no host", name);
        goto out;
    }
    if (port == 0 || port > 65535) {
        snprintf(detail, dlen, "[app %s] webhook_url: port must be 1..65535", name);
        goto out;
    }
    t->https = strcasecmp(scheme, "https") == 0;
    t->port = (uint16_t)(port < 0 ? (t->https ? 443 : 80) : port);

    rc = APNS_ENOMEM;
    size_t hl = strlen(host);
    int bracketed = host[0] == '[' && hl >= 2 && host[hl - 1] == ']';
    t->host = bracketed ? strndup(host + 1, hl - 2) : strdup(host);
    if (t->host == NULL)
        goto out;
    unsigned char addr[16];
    t->host_is_ip =
        inet_pton(AF_INET, t->host, addr) == 1 || inet_pton(AF_INET6, t->host, addr) == 1;
    if (bracketed && !t->host_is_ip) {
        snprintf(detail, dlen, "[app %s] webhook_url: bad IPv6 address", name);
        rc = APNS_ECONFIG;
        goto out;
    }

    char buf[2300];
    if (port < 0)
        snprintf(buf, sizeof(buf), "%s", host);
    else
        snprintf(buf, sizeof(buf), "%s:%d", host, port);
    t->host_header = strdup(buf);
    const char *p = path && path[0] ? path : "/";
    int n = snprintf(buf, sizeof(buf), "%s%s%s", p, query ? "?" : "", query ? query : "");
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        snprintf(detail, dlen, "[app %s] webhook_url: too long", name);
        rc = APNS_ECONFIG;
        goto out;
    }
    t->path = strdup(buf);
    snprintf(buf, sizeof(buf), "%s://%s%s", t->https ? "https" : "http", t->host_header, p);
    t->log_url = strdup(buf);
    t->url = strdup(ac->webhook_url);
    t->ca_file = dup0(ac->ca_file);
    if (t->host_header == NULL || t->path == NULL || t->log_url == NULL || t->url == NULL ||
        (ac->ca_file != NULL && t->ca_file == NULL))
        goto out;

    if (userinfo != NULL && userinfo[0] != '\0') {
        char *plain = evhttp_uridecode(userinfo, 0, NULL);
        if (plain == NULL)
            goto out;
        size_t pl = strlen(plain);
        size_t bl = 4 * ((pl + 2) / 3) + 1;
        t->auth = malloc(6 + bl);
        if (t->auth == NULL) {
            free(plain);
            goto out;
        }
        memcpy(t->auth, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)t->auth + 6, (const unsigned char *)plain, (int)pl);
        OPENSSL_cleanse(plain, pl);
        free(plain);
    }

    if (t->https) {
        t->ssl_ctx = SSL_CTX_new(TLS_client_method());
        if (t->ssl_ctx == NULL)
            goto out;
        SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_default_verify_paths(t->ssl_ctx); /* the system store; may be empty */
        ERR_clear_error();
        if (ac->ca_file != NULL &&
            SSL_CTX_load_verify_locations(t->ssl_ctx, ac->ca_file, NULL) != 1) {
            char why[160];
            openssl_reason(why, sizeof(why));
            snprintf(detail, dlen,
                     "[app %s] ca_file %s: cannot load CA certificates for the "
                     "webhook: %s",
                     name, ac->ca_file, why);
            rc = APNS_ECONFIG;
            goto out;
        }
    }
    rc = 0;
out:
    evhttp_uri_free(u);
    if (rc == APNS_ENOMEM)
        snprintf(detail, dlen, "[app %s] webhook: out of memory", name);
    if (rc != 0)
        target_clear(t);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* entries and the ring                                                   */

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("?"); /* not UTF-8 (never for hex ids) */
}

static int make_entry(const gw_token_result *r, entry *e)
{
    json_t *o = json_object();
    if (o == NULL)
        return -1;
    int bad = 0;
    bad |= json_object_set_new(o, "job_id", jstr(r->job_id));
    bad |= json_object_set_new(o, "index", json_integer((json_int_t)r->index));
    bad |= json_object_set_new(o, "token", jstr(r->token));
    bad |= json_object_set_new(o, "apns_id", jstr(r->apns_id));
    bad |= json_object_set_new(o, "state", json_string(gw_token_state_name(r->state)));
    if (r->status != 0)
        bad |= json_object_set_new(o, "status", json_integer(r->status));
    if (r->reason != NULL && r->reason[0] != '\0')
        bad |= json_object_set_new(o, "reason", jstr(r->reason));
    if (r->apns_ts_ms != 0)
        bad |= json_object_set_new(o, "timestamp", json_integer(r->apns_ts_ms));
    bad |= json_object_set_new(o, "dead", json_boolean(r->dead != GW_DEAD_NONE));
    if (r->dead != GW_DEAD_NONE)
        bad |= json_object_set_new(o, "dead_source", json_string(gw_dead_source_name(r->dead)));
    char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s == NULL)
        return -1;
    e->json = s;
    e->len = strlen(s);
    e->at_ms = now_ms();
    return 0;
}

static entry *ring_at(app *a, size_t i)
{
    return &a->ring[(a->head + i) % a->cap];
}

static void drop_oldest(app *a)
{
    entry *e = ring_at(a, 0);
    free(e->json);
    a->head = (a->head + 1) % a->cap;
    a->n--;
    metric(a, "dropped", 1);
    a->dropped_episode++;
    if (!a->dropping) {
        a->dropping = 1;
        char lim[24];
        snprintf(lim, sizeof(lim), "%zu", a->w->lim.max_pending);
        gw_log(GW_LOG_WARN, "webhook", "pending limit reached; dropping the oldest results", "app",
               a->name, "url", a->t.log_url, "limit", lim, NULL);
    }
}

/* 0, or -1 when memory ran out (the entry is then dropped, counted). */
static int ring_push(app *a, entry e)
{
    size_t max = a->w->lim.max_pending ? a->w->lim.max_pending : 1;
    while (a->n >= max)
        drop_oldest(a);
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        if (cap > max)
            cap = max;
        if (cap <= a->cap)
            cap = a->cap + 1;
        entry *v = malloc(cap * sizeof(*v));
        if (v == NULL) {
            free(e.json);
            metric(a, "dropped", 1);
            return -1;
        }
        for (size_t i = 0; i < a->n; i++)
            v[i] = *ring_at(a, i);
        free(a->ring);
        a->ring = v;
        a->cap = cap;
        a->head = 0;
    }
    a->ring[(a->head + a->n) % a->cap] = e;
    a->n++;
    return 0;
}

static void fly_clear(app *a)
{
    for (size_t i = 0; i < a->fly_n; i++)
        free(a->fly[i].json);
    free(a->fly);
    a->fly = NULL;
    a->fly_n = 0;
    a->attempt = 0;
}

/* Drops everything the app holds (counted). Returns how many. */
static size_t drop_all(app *a)
{
    size_t n = a->fly_n + a->n;
    metric(a, "dropped", n);
    fly_clear(a);
    while (a->n > 0) {
        entry *e = ring_at(a, 0);
        free(e->json);
        a->head = (a->head + 1) % a->cap;
        a->n--;
    }
    update_pending(a);
    return n;
}

/* ---------------------------------------------------------------------- */
/* delivery                                                               */

static void step(app *a);
static void check_done(gw_webhooks *w);

static void conn_free(app *a)
{
    if (a->conn != NULL) {
        struct evhttp_connection *c = a->conn;
        a->conn = NULL;
        evhttp_connection_free(c); /* cancels a request in progress, without callback */
    }
    a->conn_dead = 0;
}

static void on_close(struct evhttp_connection *c, void *arg)
{
    app *a = arg;
    if (a->conn == c)
        a->conn_dead = 1;
}

static int ensure_dns(gw_webhooks *w)
{
    if (w->dns == NULL)
        w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                             EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    return w->dns != NULL ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* host name lookups (see the design note)                                */

static void attempt_failed(app *a, const char *why);

/* One lookup: an A and an AAAA request. Registered (process-wide: webhooks
 * of several loops may exist) from its start until its last request's
 * callback, or until gw_webhooks_free released the requests still in
 * flight. */
struct lookup {
    uintptr_t id; /* the requests' callback argument is id << 1 | is_aaaa */
    lookup *next; /* registry */
    gw_webhooks *w;
    app *a;          /* the app waiting for it; NULL once abandoned */
    int outstanding; /* requests whose callback has not come */
    int done4, done6;
    int err4, err6; /* DNS_ERR_*, -1 for an answer without addresses */
    char addr4[INET_ADDRSTRLEN];
    char addr6[INET6_ADDRSTRLEN];
};

static pthread_mutex_t g_lk_mu = PTHREAD_MUTEX_INITIALIZER;
static lookup *g_lookups;
static uintptr_t g_lk_next_id = 1;

static void lookup_register(lookup *lk)
{
    pthread_mutex_lock(&g_lk_mu);
    lk->id = g_lk_next_id++;
    lk->next = g_lookups;
    g_lookups = lk;
    pthread_mutex_unlock(&g_lk_mu);
}

/* The lookup with this id, or NULL. A lookup is freed only on its loop's
 * thread, where its callbacks run too, so it stays valid after the unlock. */
static lookup *lookup_find(uintptr_t id)
{
    pthread_mutex_lock(&g_lk_mu);
    lookup *lk = g_lookups;
    while (lk != NULL && lk->id != id)
        lk = lk->next;
    pthread_mutex_unlock(&g_lk_mu);
    return lk;
}

static void lookup_release(lookup *lk)
{
    pthread_mutex_lock(&g_lk_mu);
    for (lookup **p = &g_lookups; *p != NULL; p = &(*p)->next) {
        if (*p == lk) {
            *p = lk->next;
            break;
        }
    }
    pthread_mutex_unlock(&g_lk_mu);
    free(lk);
}

/* After evdns_base_free(w->dns, 0): no callback comes for w's lookups any
 * more (one whose answer was already queued finds no id). */
static void lookups_release_all(gw_webhooks *w)
{
    pthread_mutex_lock(&g_lk_mu);
    for (lookup **p = &g_lookups; *p != NULL;) {
        lookup *lk = *p;
        if (lk->w == w) {
            *p = lk->next;
            free(lk);
        } else {
            p = &lk->next;
        }
    }
    pthread_mutex_unlock(&g_lk_mu);
}

/* The app stops waiting; the requests run on and their callbacks only
 * count down (nothing is cancelled: see the design note). */
static void lookup_abandon(app *a)
{
    if (a->lk != NULL) {
        a->lk->a = NULL;
        a->lk = NULL;
    }
}

/* The app has an address for its next connection: send from the kick. */
static void use_address(app *a, const char *addr)
{
    snprintf(a->addr, sizeof(a->addr), "%s", addr);
    a->have_addr = 1;
    evtimer_del(a->timer);
    a->state = ST_IDLE;
    event_active(a->kick, 0, 0);
}

static const char *lookup_error(const lookup *lk)
{
    int e = lk->err4 > 0 ? lk->err4 : lk->err6;
    return e > 0 ? evdns_err_to_string(e) : "no address for the name";
}

/* Hands the outcome to the waiting app once it is known: an IPv4 address
 * as soon as there is one, else an IPv6 one once A has failed. */
static void lookup_decide(lookup *lk)
{
    app *a = lk->a;
    const char *addr = NULL;
    if (lk->addr4[0] != '\0')
        addr = lk->addr4;
    else if (!lk->done4)
        return;
    else if (lk->addr6[0] != '\0')
        addr = lk->addr6;
    else if (!lk->done6)
        return;
    lookup_abandon(a);
    if (addr != NULL) {
        use_address(a, addr);
        return;
    }
    char why[200];
    snprintf(why, sizeof(why), "cannot resolve %s: %s", a->t.host, lookup_error(lk));
    attempt_failed(a, why);
}

/* evdns' callback (from the loop, never from inside a request call). */
static void on_resolved(int result, char type, int count, int ttl, void *addresses, void *arg)
{
    uintptr_t key = (uintptr_t)arg;
    lookup *lk = lookup_find(key >> 1);
    if (lk == NULL)
        return; /* its webhooks were freed */
    int v6 = (int)(key & 1);
    if (result == DNS_ERR_NONE && type != (v6 ? DNS_IPv6_AAAA : DNS_IPv4_A))
        return; /* not the answer (newer libevent adds a CNAME callback) */
    int err = result != DNS_ERR_NONE ? result : count > 0 && addresses != NULL ? 0 : -1;
    if (v6) {
        lk->done6 = 1;
        lk->err6 = err;
        if (err == 0)
            inet_ntop(AF_INET6, addresses, lk->addr6, sizeof(lk->addr6));
    } else {
        lk->done4 = 1;
        lk->err4 = err;
        if (err == 0)
            inet_ntop(AF_INET, addresses, lk->addr4, sizeof(lk->addr4));
    }
    lk->outstanding--;
    if (lk->a != NULL)
        lookup_decide(lk);
    if (lk->outstanding == 0)
        lookup_release(lk);
}

/* The first address for name in the hosts file, IPv4 first. 1 found, 0 not. */
static int hosts_lookup(const char *name, char *out, size_t len)
{
    FILE *f = fopen(_PATH_HOSTS, "re");
    if (f == NULL)
        return 0;
    char line[1024], v6[INET6_ADDRSTRLEN] = "";
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "#")] = '\0';
        char *save = NULL;
        const char *addr = strtok_r(line, " \t\r\n", &save);
        unsigned char bin[16];
        int fam = addr == NULL                          ? 0
                  : inet_pton(AF_INET, addr, bin) == 1  ? AF_INET
                  : inet_pton(AF_INET6, addr, bin) == 1 ? AF_INET6
                                                        : 0;
        if (fam == 0)
            continue;
        for (const char *n; (n = strtok_r(NULL, " \t\r\n", &save)) != NULL;) {
            if (strcasecmp(n, name) != 0)
                continue;
            if (fam == AF_INET) {
                snprintf(out, len, "%s", addr);
                found = 1;
            } else if (v6[0] == '\0') {
                snprintf(v6, sizeof(v6), "%s", addr);
            }
            break;
        }
    }
    fclose(f);
    if (!found && v6[0] != '\0') {
        snprintf(out, len, "%s", v6);
        found = 1;
    }
    return found;
}

/* Finds the address for the app's next connection. 0: a->addr is set (from
 * the hosts file); 1: a lookup is under way (state RESOLVING; it ends in
 * use_address or attempt_failed); -1: failed, why says why. */
static int resolve(app *a, char *why, size_t len)
{
    gw_webhooks *w = a->w;
    if (hosts_lookup(a->t.host, a->addr, sizeof(a->addr))) {
        a->have_addr = 1;
        return 0;
    }
    lookup *lk = ensure_dns(w) == 0 ? calloc(1, sizeof(*lk)) : NULL;
    if (lk == NULL) {
        snprintf(why, len, "cannot resolve %s: no DNS resolver (out of memory)", a->t.host);
        return -1;
    }
    lk->w = w;
    lk->a = a;
    lookup_register(lk);
    void *k4 = (void *)(lk->id << 1), *k6 = (void *)(lk->id << 1 | 1);
    /* Neither calls back from inside the call. */
    if (evdns_base_resolve_ipv4(w->dns, a->t.host, 0, on_resolved, k4) != NULL)
        lk->outstanding++;
    else
        lk->done4 = 1, lk->err4 = DNS_ERR_UNKNOWN;
    if (evdns_base_resolve_ipv6(w->dns, a->t.host, 0, on_resolved, k6) != NULL)
        lk->outstanding++;
    else
        lk->done6 = 1, lk->err6 = DNS_ERR_UNKNOWN;
    if (lk->outstanding == 0) {
        lookup_release(lk);
        snprintf(why, len, "cannot resolve %s: cannot start the lookup", a->t.host);
        return -1;
    }
    a->lk = lk;
    a->state = ST_RESOLVING;
    a->req_error = 0;
    arm(a->timer, w->lim.request_timeout_ms);
    return 1;
}

/* ---------------------------------------------------------------------- */
/* connections                                                            */

/* A connection to the numeric address (the URL's, or the one just
 * resolved); TLS is set up for the URL's host. */
static int conn_open(app *a)
{
    gw_webhooks *w = a->w;
    const char *addr = a->t.host_is_ip ? a->t.host : a->addr;
    if (!a->t.host_is_ip && !a->have_addr)
        return -1;
    struct bufferevent *bev = NULL;
    if (a->t.https) {
        SSL *ssl = SSL_new(a->t.ssl_ctx);
        if (ssl == NULL)
            return -1;
        int ok = 1;
        if (a->t.host_is_ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), a->t.host) == 1;
        } else {
            ok =
                SSL_set_tlsext_host_name(ssl, a->t.host) == 1 && SSL_set1_host(ssl, a->t.host) == 1;
        }
        if (!ok) {
            SSL_free(ssl);
            return -1;
        }
        bev = bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (bev == NULL)
            return -1;
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    }
    /* No evdns_base: the address is numeric, libevent resolves nothing. */
    a->conn = evhttp_connection_base_bufferevent_new(w->base, NULL, bev, addr, a->t.port);
    if (a->conn == NULL) {
        if (bev != NULL)
            bufferevent_free(bev);
        return -1;
    }
    a->have_addr = 0; /* the next connection looks the name up again */
    struct timeval tv = tv_ms(w->lim.request_timeout_ms);
    evhttp_connection_set_timeout_tv(a->conn, &tv);
    evhttp_connection_set_retries(a->conn, 0);
    evhttp_connection_set_max_body_size(a->conn, MAX_RESPONSE_BODY);
    evhttp_connection_set_max_headers_size(a->conn, MAX_RESPONSE_HEADS);
    evhttp_connection_set_closecb(a->conn, on_close, a);
    a->conn_dead = 0;
    return 0;
}

static int64_t backoff_ms(app *a)
{
    const gw_webhook_limits *l = &a->w->lim;
    double d = (double)l->backoff_min_ms;
    for (unsigned i = 1; i < a->attempt && d < (double)l->backoff_max_ms; i++)
        d *= 2;
    double u = (double)(rng_next(a->w) >> 11) / 9007199254740992.0; /* [0,1) */
    d *= 0.75 + 0.5 * u;
    if (d > (double)l->backoff_max_ms)
        d = (double)l->backoff_max_ms;
    return (int64_t)d;
}

/* The fly batch was not delivered: back off and send it again (or, after
 * the drain deadline, drop it). */
static void attempt_failed(app *a, const char *why)
{
    gw_webhooks *w = a->w;
    metric(a, "retry", a->fly_n);
    a->attempt++;
    a->failing = 1;
    evtimer_del(a->timer);
    if (w->deadline_passed) {
        size_t n = drop_all(a);
        char cnt[24];
        snprintf(cnt, sizeof(cnt), "%zu", n);
        gw_log(GW_LOG_WARN, "webhook", "delivery failed after the drain deadline; dropped", "app",
               a->name, "url", a->t.log_url, "error", why, "results", cnt, NULL);
        a->state = ST_IDLE;
        check_done(w);
        return;
    }
    int64_t d = backoff_ms(a);
    char att[16], ms[24], cnt[24];
    snprintf(att, sizeof(att), "%u", a->attempt);
    snprintf(ms, sizeof(ms), "%" PRId64, d);
    snprintf(cnt, sizeof(cnt), "%zu", a->fly_n);
    gw_log(GW_LOG_WARN, "webhook", "delivery failed; will retry", "app", a->name, "url",
           a->t.log_url, "error", why, "attempt", att, "retry_in_ms", ms, "results", cnt, NULL);
    a->state = ST_BACKOFF;
    arm(a->timer, d);
}

static void attempt_ok(app *a)
{
    metric(a, "ok", a->fly_n);
    if (a->failing || a->dropping) {
        char att[16], drop[24];
        snprintf(att, sizeof(att), "%u", a->attempt + 1);
        snprintf(drop, sizeof(drop), "%" PRIu64, a->dropped_episode);
        gw_log(GW_LOG_INFO, "webhook", "delivery recovered", "app", a->name, "url", a->t.log_url,
               "attempts", att, "dropped", drop, NULL);
    }
    a->failing = 0;
    a->dropping = 0;
    a->dropped_episode = 0;
    fly_clear(a);
    update_pending(a);
    evtimer_del(a->timer);
    a->state = ST_IDLE;
    event_active(a->kick, 0, 0);
}

static const char *req_error_name(int e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timeout";
    case EVREQ_HTTP_EOF:
        return "connection closed before the answer";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid HTTP answer";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection error";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "answer too large";
    default:
        return "request failed";
    }
}

/* A sentence for a failed attempt without an HTTP status. */
static void describe_failure(app *a, char *buf, size_t len)
{
    const char *what = a->req_error ? req_error_name(a->req_error - 1) : "connection failed";
    struct bufferevent *cbev = a->conn ? evhttp_connection_get_bufferevent(a->conn) : NULL;
    if (a->t.https && a->conn != NULL) {
        struct bufferevent *bev = cbev;
        SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (vr != X509_V_OK) {
            snprintf(buf, len, "TLS certificate verification failed: %s",
                     X509_verify_cert_error_string(vr));
            return;
        }
        unsigned long e = bev ? bufferevent_get_openssl_error(bev) : 0;
        if (e != 0) {
            char es[120];
            ERR_error_string_n(e, es, sizeof(es));
            snprintf(buf, len, "TLS error: %s", es);
            while (bufferevent_get_openssl_error(bev) != 0)
                ;
            return;
        }
    }
    int err = errno;
    if (!a->req_error && (err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH ||
                          err == ENETUNREACH || err == ECONNRESET))
        snprintf(buf, len, "%s: %s", what, strerror(err));
    else
        snprintf(buf, len, "%s", what);
}

static void on_req_error(enum evhttp_request_error e, void *arg)
{
    app *a = arg;
    a->req_error = (int)e + 1;
}

/* evhttp's request callback; may run inside evhttp_make_request. Records
 * the outcome only (see the design note). */
static void on_done(struct evhttp_request *req, void *arg)
{
    app *a = arg;
    if (a->state != ST_SENDING)
        return;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code >= 200 && code < 300) {
        attempt_ok(a);
        return;
    }
    char why[200];
    if (code > 0)
        snprintf(why, sizeof(why), "HTTP %d", code);
    else
        describe_failure(a, why, sizeof(why));
    if (code == 0)
        a->conn_dead = 1;
    attempt_failed(a, why);
}

/* Builds the body into out and signs it. 0 or -1. */
static int build_body(app *a, struct evbuffer *out, long long ts, char sig[65])
{
    EVP_MAC_CTX *ctx = sign_begin(a->secret, ts);
    if (ctx == NULL)
        return -1;
    int bad = 0;
#define ADD(p, n)                                                                                  \
    do {                                                                                           \
        bad |= evbuffer_add(out, (p), (n)) != 0;                                                   \
        bad |= EVP_MAC_update(ctx, (const unsigned char *)(p), (n)) != 1;                          \
    } while (0)
    ADD("{\"app\":", 7);
    ADD(a->name_json, strlen(a->name_json));
    ADD(",\"results\":[", 12);
    for (size_t i = 0; i < a->fly_n && !bad; i++) {
        if (i > 0)
            ADD(",", 1);
        ADD(a->fly[i].json, a->fly[i].len);
    }
    ADD("]}", 2);
#undef ADD
    if (bad) {
        EVP_MAC_CTX_free(ctx);
        return -1;
    }
    return sign_end(ctx, sig) == 0 ? 0 : -1;
}

/* Moves up to `batch` waiting results into the fly batch. */
static int take_batch(app *a)
{
    size_t k = a->n < a->batch ? a->n : a->batch;
    a->fly = malloc(k * sizeof(entry));
    if (a->fly == NULL)
        return -1;
    for (size_t i = 0; i < k; i++)
        a->fly[i] = *ring_at(a, i);
    a->head = (a->head + k) % a->cap;
    a->n -= k;
    a->fly_n = k;
    a->attempt = 0;
    unsigned char id[16];
    if (RAND_bytes(id, sizeof(id)) != 1) {
        uint64_t r1 = rng_next(a->w), r2 = rng_next(a->w);
        memcpy(id, &r1, 8);
        memcpy(id + 8, &r2, 8);
    }
    hex(id, sizeof(id), a->delivery_id);
    return 0;
}

/* Sends the fly batch (state IDLE -> SENDING, or straight to BACKOFF; or
 * RESOLVING first when a new connection needs the host name's address). */
static void send_batch(app *a)
{
    gw_webhooks *w = a->w;
    if (a->conn != NULL && a->conn_dead)
        conn_free(a);
    if (a->conn == NULL && !a->t.host_is_ip && !a->have_addr) {
        char why[200];
        int rc = resolve(a, why, sizeof(why));
        if (rc > 0)
            return; /* continued by use_address (from the kick) or attempt_failed */
        if (rc < 0) {
            a->state = ST_SENDING;
            attempt_failed(a, why);
            return;
        }
    }
    if (a->conn == NULL && conn_open(a) != 0) {
        a->state = ST_SENDING;
        attempt_failed(a, "cannot open a connection (out of memory or TLS setup)");
        return;
    }
    struct evhttp_request *req = evhttp_request_new(on_done, a);
    if (req == NULL) {
        a->state = ST_SENDING;
        attempt_failed(a, "out of memory");
        return;
    }
    evhttp_request_set_error_cb(req, on_req_error);
    long long ts = (long long)time(NULL);
    char sig[65], sigh[72], tss[24];
    if (build_body(a, evhttp_request_get_output_buffer(req), ts, sig) != 0) {
        evhttp_request_free(req);
        a->state = ST_SENDING;
        attempt_failed(a, "cannot build or sign the body");
        return;
    }
    snprintf(sigh, sizeof(sigh), "sha256=%s", sig);
    snprintf(tss, sizeof(tss), "%lld", ts);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    int bad = 0;
    bad |= evhttp_add_header(h, "Host", a->t.host_header);
    bad |= evhttp_add_header(h, "User-Agent", USER_AGENT);
    bad |= evhttp_add_header(h, "Content-Type", "application/json");
    bad |= evhttp_add_header(h, "X-Apnsd-Timestamp", tss);
    bad |= evhttp_add_header(h, "X-Apnsd-Signature", sigh);
    bad |= evhttp_add_header(h, "X-Apnsd-Delivery", a->delivery_id);
    if (a->t.auth != NULL)
        bad |= evhttp_add_header(h, "Authorization", a->t.auth);
    if (bad) {
        evhttp_request_free(req);
        a->state = ST_SENDING;
        attempt_failed(a, "out of memory");
        return;
    }
    a->state = ST_SENDING;
    a->req_error = 0;
    /* Safety net behind libevent's own timeouts (TLS handshakes, DNS). */
    arm(a->timer, w->lim.request_timeout_ms + SAFETY_SLACK_MS);
    errno = 0;
    if (evhttp_make_request(a->conn, req, EVHTTP_REQ_POST, a->t.path) != 0) {
        /* No callback ran; libevent owns (and frees) the request. */
        a->conn_dead = 1;
        if (a->state == ST_SENDING)
            attempt_failed(a, "cannot start the request");
    }
    /* on_done may already have run (immediate connect failure). */
}

static void step(app *a)
{
    gw_webhooks *w = a->w;
    if (a->state != ST_IDLE)
        return;
    if (a->conn != NULL && a->conn_dead)
        conn_free(a);
    if (a->fly_n == 0) {
        if (a->n == 0) {
            evtimer_del(a->timer);
            check_done(w);
            return;
        }
        int64_t due = ring_at(a, 0)->at_ms + a->interval_ms;
        int64_t now = now_ms();
        if (a->n < a->batch && !w->flushing && now < due) {
            arm(a->timer, due - now);
            return;
        }
        if (take_batch(a) != 0) {
            arm(a->timer, 100); /* out of memory: try again shortly */
            return;
        }
    }
    send_batch(a);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    app *a = arg;
    switch (a->state) {
    case ST_RESOLVING: {
        /* No A answer in time: an AAAA one already in is good enough. */
        if (a->lk != NULL && a->lk->addr6[0] != '\0') {
            char addr[INET6_ADDRSTRLEN];
            snprintf(addr, sizeof(addr), "%s", a->lk->addr6);
            lookup_abandon(a);
            use_address(a, addr);
            break;
        }
        char why[200];
        snprintf(why, sizeof(why), "cannot resolve %s: timeout (no answer)", a->t.host);
        lookup_abandon(a);
        attempt_failed(a, why);
        break;
    }
    case ST_SENDING:
        /* libevent did not finish the request in time: cancel it. */
        conn_free(a);
        attempt_failed(a, "timeout (no answer)");
        break;
    case ST_BACKOFF:
        a->state = ST_IDLE;
        step(a);
        break;
    default:
        step(a);
        break;
    }
}

/* ---------------------------------------------------------------------- */
/* apps                                                                   */

static void app_free(app *a)
{
    if (a == NULL)
        return;
    lookup_abandon(a);
    conn_free(a);
    if (a->timer)
        event_free(a->timer);
    if (a->kick)
        event_free(a->kick);
    fly_clear(a);
    while (a->n > 0) {
        free(ring_at(a, 0)->json);
        a->head = (a->head + 1) % a->cap;
        a->n--;
    }
    free(a->ring);
    target_clear(&a->t);
    if (a->secret != NULL) {
        OPENSSL_cleanse(a->secret, strlen(a->secret));
        free(a->secret);
    }
    free(a->name);
    free(a->name_json);
    free(a);
}

static app *find_app(const gw_webhooks *w, const char *name)
{
    for (size_t i = 0; i < w->n_apps; i++)
        if (strcmp(w->apps[i]->name, name) == 0)
            return w->apps[i];
    return NULL;
}

static int app_new(gw_webhooks *w, const app_conf *ac, app **out, char *detail, size_t dlen)
{
    *out = NULL;
    app *a = calloc(1, sizeof(*a));
    if (a == NULL)
        goto oom;
    a->w = w;
    int rc = target_init(&a->t, ac, detail, dlen);
    if (rc != 0) {
        app_free(a);
        return rc;
    }
    json_t *js = json_string(ac->name);
    a->name = strdup(ac->name);
    a->name_json = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    a->secret = strdup(ac->webhook_secret ? ac->webhook_secret : "");
    a->timer = evtimer_new(w->base, on_timer, a);
    a->kick = event_new(w->base, -1, 0, on_kick, a);
    if (a->name == NULL || a->name_json == NULL || a->secret == NULL || a->timer == NULL ||
        a->kick == NULL) {
        app_free(a);
        goto oom;
    }
    a->batch = ac->webhook_batch ? ac->webhook_batch : 100;
    a->interval_ms = ac->webhook_interval_ms > 0 ? ac->webhook_interval_ms : 1000;
    *out = a;
    return 0;
oom:
    snprintf(detail, dlen, "[app %s] webhook: out of memory", ac->name);
    return APNS_ENOMEM;
}

/* What a reload prepares for one app with a webhook, before anything
 * changes. */
typedef struct prep {
    app_conf ac;
    app *old;     /* existing app, or NULL */
    app *fresh;   /* new app (when old == NULL) */
    target t;     /* new target when the URL or ca_file changed */
    int retarget; /* t is set */
    char *secret;
} prep;

int gw_webhooks_set_config(gw_webhooks *w, const gw_config *cfg, char *detail, size_t detail_len)
{
    char dummy[8];
    if (detail == NULL || detail_len == 0) {
        detail = dummy;
        detail_len = sizeof(dummy);
    }
    detail[0] = '\0';
    if (w == NULL || cfg == NULL)
        return APNS_EINVAL;
    size_t np = 0;
    prep *p = calloc(cfg->n_apps ? cfg->n_apps : 1, sizeof(*p));
    app **apps = calloc(cfg->n_apps ? cfg->n_apps : 1, sizeof(*apps));
    int rc = 0;
    if (p == NULL || apps == NULL) {
        snprintf(detail, detail_len, "webhooks: out of memory");
        rc = APNS_ENOMEM;
        goto fail;
    }
    /* 1. Prepare everything that can fail. */
    for (size_t i = 0; i < cfg->n_apps; i++) {
        app_conf c = conf_of(&cfg->apps[i]);
        const app_conf *ac = &c;
        if (ac->webhook_url == NULL || ac->webhook_url[0] == '\0')
            continue;
        prep *x = &p[np++];
        x->ac = c;
        x->old = find_app(w, ac->name);
        if (x->old == NULL) {
            rc = app_new(w, ac, &x->fresh, detail, detail_len);
            if (rc != 0)
                goto fail;
            continue;
        }
        if (!streq0(x->old->t.url, ac->webhook_url) || !streq0(x->old->t.ca_file, ac->ca_file)) {
            rc = target_init(&x->t, ac, detail, detail_len);
            if (rc != 0)
                goto fail;
            x->retarget = 1;
        }
        x->secret = strdup(ac->webhook_secret ? ac->webhook_secret : "");
        if (x->secret == NULL) {
            snprintf(detail, detail_len, "[app %s] webhook: out of memory", ac->name);
            rc = APNS_ENOMEM;
            goto fail;
        }
    }
    /* 2. Commit: nothing below fails. */
    for (size_t i = 0; i < np; i++) {
        prep *x = &p[i];
        if (x->fresh != NULL) {
            apps[i] = x->fresh;
            x->fresh = NULL;
            continue;
        }
        app *a = x->old;
        apps[i] = a;
        if (x->retarget) {
            conn_free(a); /* cancels a request in flight: the batch goes to the new URL */
            lookup_abandon(a);
            a->have_addr = 0;
            target_clear(&a->t);
            a->t = x->t;
            memset(&x->t, 0, sizeof(x->t));
            x->retarget = 0;
            if (a->state != ST_IDLE) {
                evtimer_del(a->timer);
                a->state = ST_IDLE;
            }
        }
        OPENSSL_cleanse(a->secret, strlen(a->secret));
        free(a->secret);
        a->secret = x->secret;
        x->secret = NULL;
        a->batch = x->ac.webhook_batch ? x->ac.webhook_batch : 100;
        a->interval_ms = x->ac.webhook_interval_ms > 0 ? x->ac.webhook_interval_ms : 1000;
        if (a->state == ST_IDLE)
            event_active(a->kick, 0, 0);
    }
    for (size_t i = 0; i < w->n_apps; i++) {
        app *a = w->apps[i];
        int kept = 0;
        for (size_t j = 0; j < np && !kept; j++)
            kept = apps[j] == a;
        if (kept)
            continue;
        size_t n = drop_all(a);
        if (n > 0) {
            char cnt[24];
            snprintf(cnt, sizeof(cnt), "%zu", n);
            gw_log(GW_LOG_WARN, "webhook", "webhook removed by reload; pending results dropped",
                   "app", a->name, "results", cnt, NULL);
        }
        app_free(a);
    }
    free(w->apps);
    w->apps = apps;
    w->n_apps = np;
    free(p);
    check_done(w);
    return 0;
fail:
    for (size_t i = 0; p != NULL && i < np; i++) {
        app_free(p[i].fresh);
        target_clear(&p[i].t);
        free(p[i].secret);
    }
    free(p);
    free(apps);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* public                                                                 */

static void done_cb(evutil_socket_t fd, short what, void *arg);
static void deadline_cb(evutil_socket_t fd, short what, void *arg);

int gw_webhooks_new(gw_webhooks **out, struct event_base *base, const gw_config *cfg, gw_metrics *m,
                    char *detail, size_t detail_len)
{
    if (out == NULL)
        return APNS_EINVAL;
    *out = NULL;
    if (base == NULL || cfg == NULL)
        return APNS_EINVAL;
    gw_webhooks *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return APNS_ENOMEM;
    w->base = base;
    w->m = m;
    w->lim.max_pending = GW_WEBHOOK_MAX_PENDING;
    w->lim.backoff_min_ms = 1000;
    w->lim.backoff_max_ms = 300000;
    w->lim.request_timeout_ms = 10000;
    if (RAND_bytes((unsigned char *)&w->rng, sizeof(w->rng)) != 1 || w->rng == 0)
        w->rng = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() ^ 1u;
    w->deadline_ev = evtimer_new(base, deadline_cb, w);
    w->done_ev = event_new(base, -1, 0, done_cb, w);
    if (w->deadline_ev == NULL || w->done_ev == NULL) {
        gw_webhooks_free(w);
        return APNS_ENOMEM;
    }
    int rc = gw_webhooks_set_config(w, cfg, detail, detail_len);
    if (rc != 0) {
        gw_webhooks_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void gw_webhooks_set_limits(gw_webhooks *w, const gw_webhook_limits *l)
{
    if (w == NULL || l == NULL)
        return;
    if (l->max_pending > 0)
        w->lim.max_pending = l->max_pending;
    if (l->backoff_min_ms > 0)
        w->lim.backoff_min_ms = l->backoff_min_ms;
    if (l->backoff_max_ms > 0)
        w->lim.backoff_max_ms = l->backoff_max_ms;
    if (w->lim.backoff_max_ms < w->lim.backoff_min_ms)
        w->lim.backoff_max_ms = w->lim.backoff_min_ms;
    if (l->request_timeout_ms > 0)
        w->lim.request_timeout_ms = l->request_timeout_ms;
}

void gw_webhooks_result(gw_webhooks *w, const gw_token_result *r)
{
    if (w == NULL || r == NULL || r->app == NULL)
        return;
    app *a = find_app(w, r->app);
    if (a == NULL)
        return;
    entry e;
    if (make_entry(r, &e) != 0) {
        metric(a, "dropped", 1);
        return;
    }
    ring_push(a, e);
    update_pending(a);
    if (a->state != ST_IDLE)
        return;
    if (a->n >= a->batch || w->flushing)
        event_active(a->kick, 0, 0);
    else if (!evtimer_pending(a->timer, NULL))
        arm(a->timer, ring_at(a, 0)->at_ms + a->interval_ms - now_ms());
}

size_t gw_webhooks_pending(const gw_webhooks *w, const char *app_name)
{
    if (w == NULL || app_name == NULL)
        return 0;
    app *a = find_app(w, app_name);
    return a ? a->n + a->fly_n : 0;
}

static int all_idle(const gw_webhooks *w)
{
    for (size_t i = 0; i < w->n_apps; i++) {
        const app *a = w->apps[i];
        if (a->n > 0 || a->fly_n > 0 || a->state == ST_SENDING || a->state == ST_RESOLVING)
            return 0;
    }
    return 1;
}

static void check_done(gw_webhooks *w)
{
    if (w->done_pending && all_idle(w))
        event_active(w->done_ev, 0, 0);
}

static void fire_done(gw_webhooks *w)
{
    w->done_pending = 0;
    evtimer_del(w->deadline_ev);
    event_del(w->done_ev);
    void (*done)(void *) = w->done;
    void *ud = w->done_ud;
    w->done = NULL;
    w->done_ud = NULL;
    if (done != NULL)
        done(ud); /* may free w */
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_webhooks *w = arg;
    if (w->done_pending && (w->deadline_passed || all_idle(w)))
        fire_done(w);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_webhooks *w = arg;
    w->deadline_passed = 1;
    for (size_t i = 0; i < w->n_apps; i++) {
        app *a = w->apps[i];
        if (a->state == ST_SENDING)
            conn_free(a);
        lookup_abandon(a);
        evtimer_del(a->timer);
        a->state = ST_IDLE;
        size_t n = drop_all(a);
        if (n > 0) {
            char cnt[24];
            snprintf(cnt, sizeof(cnt), "%zu", n);
            gw_log(GW_LOG_WARN, "webhook", "drain deadline reached; undelivered results dropped",
                   "app", a->name, "url", a->t.log_url, "results", cnt, NULL);
        }
    }
    /* done on the next loop turn, after the callbacks libevent queued while
     * the connections above were freed (a bufferevent with a deferred
     * callback queued is only released by it): the daemon frees the loop
     * right after done, with no turn in between. */
    if (w->done_pending) {
        struct timeval now = {0, 0};
        event_add(w->done_ev, &now);
    }
}

void gw_webhooks_flush(gw_webhooks *w, int64_t timeout_ms, void (*done)(void *ud), void *ud)
{
    if (w == NULL)
        return;
    w->flushing = 1;
    w->deadline_passed = 0;
    w->done = done;
    w->done_ud = ud;
    w->done_pending = 1;
    arm(w->deadline_ev, timeout_ms < 0 ? 0 : timeout_ms);
    for (size_t i = 0; i < w->n_apps; i++) {
        app *a = w->apps[i];
        if (a->state == ST_BACKOFF) {
            evtimer_del(a->timer);
            a->state = ST_IDLE;
        }
        if (a->state == ST_IDLE)
            event_active(a->kick, 0, 0);
    }
    check_done(w);
}

void gw_webhooks_free(gw_webhooks *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n_apps; i++)
        app_free(w->apps[i]);
    free(w->apps);
    if (w->deadline_ev)
        event_free(w->deadline_ev);
    if (w->done_ev)
        event_free(w->done_ev);
    /* fail_requests = 0: requests still in flight (abandoned lookups) are
     * freed now, without callbacks; failing them (1) would only queue
     * callbacks for a loop turn that may never come (see the design note).
     * Then no callback can reach w's lookups any more. */
    if (w->dns)
        evdns_base_free(w->dns, 0);
    lookups_release_all(w);
    free(w);
}
