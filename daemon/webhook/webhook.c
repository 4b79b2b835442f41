/*
 * webhook.c - per-app webhook batching, signing and delivery over libcurl's
 * multi interface, driven by the daemon's libevent loop. See webhook.h for
 * the contract.
 *
 * Design note
 * -----------
 * Each app with a webhook_url is a small state machine:
 *
 *   IDLE --(batch full | oldest waited webhook_interval | draining)--> SENDING
 *   SENDING --2xx--> IDLE (batch done)        SENDING --error/non-2xx--> BACKOFF
 *   BACKOFF --(timer: jittered 1s..5min)--> IDLE --> SENDING (the same batch)
 *
 * Results wait in a list of pre-rendered JSON objects (one jansson dump per
 * result, so the escaping is jansson's) bounded by max_pending; when it is
 * full the oldest waiting result is dropped and counted. Starting a delivery
 * moves up to webhook_batch results out of that list into the app's "fly"
 * batch, which stays intact until a 2xx answer: every retry sends the same
 * body with the same X-Apnsd-Delivery id (no loss, and no duplicates unless
 * a 2xx answer itself is lost). Memory per app is thus bounded by
 * max_pending + webhook_batch results.
 *
 * Outbox mode (gw_webhooks_set_outbox) replaces the waiting list with the
 * queue's durable outbox and adds two states:
 *
 *   IDLE --(hints >= batch | interval passed | draining)--> READING
 *   READING --events--> SENDING (the fly batch)   READING --none--> IDLE
 *   SENDING --2xx--> ACKING --acknowledged--> IDLE (read again at once)
 *
 * The fly batch keeps its events' ids; the delivery id is a hash of its
 * body (the stored events), so the batch read again after a restart has
 * the same id. A second timer
 * per app posts a retention read (max 0) every interval while no read is
 * in flight: the outbox's bound and the depth gauge stay current while a
 * batch is retried, and a retention drop during a backoff forgets the held
 * batch (its oldest events are gone) for a fresh read. Queue callbacks find
 * their app through a ticket that app_free clears; gw_webhooks_free frees
 * the tickets (the queue is freed next, with no loop turn, so they are
 * never answered).
 *
 * HTTP is libcurl's: one multi handle per gw_webhooks, one easy handle per
 * app's target (URL + ca_file), at most one transfer per app. libcurl
 * resolves names with the system resolver (getaddrinfo on a thread, so
 * nsswitch and /etc/hosts apply and the loop never blocks), takes proxies
 * from the environment, verifies TLS, and keeps connections in the multi
 * handle's cache: consecutive batches to one receiver share a connection.
 *
 * The multi handle runs on the loop through two callbacks (the pattern of
 * curl's docs/examples/multi-event.c): the socket callback keeps one
 * libevent event per socket libcurl wants watched (made, changed, freed on
 * CURL_POLL_REMOVE), the timer callback keeps one libevent timer. Both
 * events call curl_multi_socket_action and then reap finished transfers.
 * libcurl's callbacks only touch those events (and count answer bytes); the
 * state machine runs after curl_multi_socket_action has returned, and it
 * adds and removes transfers only from its own events and the public calls
 * (libcurl must not be called from inside its callbacks).
 *
 * Cancelling a delivery (reload, drain deadline, free) is
 * curl_multi_remove_handle: the unfinished transfer's connection is closed
 * and nothing calls back. CURLOPT_QUICK_EXIT keeps that true while a name
 * lookup is still running: libcurl then detaches the lookup thread, which
 * frees its own state when getaddrinfo returns, instead of joining it on
 * the loop thread. gw_webhooks_free removes the transfers, closes the cached
 * connections (curl_multi_cleanup) and frees every event, so nothing is left
 * for a later loop turn.
 *
 * curl_global_init runs once per process, from gw_webhooks_new under
 * pthread_once. The daemon's other threads exist by then; that is safe
 * because libcurl >= 7.84 built with CURL_VERSION_THREADSAFE (Debian 12's
 * is) initialises under its own lock, and OpenSSL 3, the one library it
 * shares with those threads, initialises itself thread-safely.
 * curl_global_cleanup is never called: libcurl lives as long as the process.
 */
#include "webhook.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "apns/error.h"
#include "backoff.h"
#include "clock.h"
#include "hex.h"
#include "list.h"
#include "log.h"
#include "queue.h"
#include "rng.h"
#include "timer.h"

#define USER_AGENT        "apnsd/0.1"
#define MAX_RESPONSE_BODY (1u << 20)

/* ---------------------------------------------------------------------- */
/* types                                                                  */

typedef struct entry {
    common_list link; /* app.wait or app.fly */
    int64_t at_ms;    /* monotonic arrival time */
    char json[];      /* one result object, compact */
} entry;

/* A checked webhook URL and the easy handle that sends to it. */
typedef struct target {
    char *url;     /* as configured (compared on reload) */
    char *ca_file; /* as configured, NULL = none */
    char *host;    /* for log lines: no brackets */
    char *log_url; /* scheme://host[:port]/path: no user info, no query */
    int host_is_ip;
    CURL *easy; /* set up for url and ca_file; not in the multi handle */
} target;

enum { ST_IDLE, ST_SENDING, ST_BACKOFF, ST_READING, ST_ACKING };

/* A queue request of an app's in progress (outbox mode): the callback
 * finds its app through it, or NULL when the app went away meanwhile. */
typedef struct ticket {
    common_list link; /* w->tickets */
    struct app *a;
} ticket;

typedef struct app {
    gw_webhooks *w;
    char *name;
    char *name_json; /* the name as a JSON string */
    target t;
    char *secret;
    uint32_t batch;
    int64_t interval_ms;

    common_clist wait; /* waiting results (entry.link), oldest first */
    common_clist fly;  /* the batch being delivered */
    char *body;        /* the fly batch's JSON, built at its first attempt */
    size_t body_len;
    char delivery_id[33];
    unsigned attempt; /* failed attempts of the fly batch */

    int state;
    int in_multi;               /* t.easy is in the multi handle (SENDING) */
    struct curl_slist *headers; /* of the transfer in flight */
    size_t answer_len;          /* response body bytes read */
    char errbuf[CURL_ERROR_SIZE];
    struct event *timer; /* interval / backoff; at 0 ms: a deferred step */

    int dropping; /* in a drop episode (logged once) */
    uint64_t dropped_episode;
    int failing; /* last attempt failed (for the recovery log line) */

    /* outbox mode (w->q): the fly batch's event ids, the app's settings,
     * what the last read said */
    uint64_t *ids;
    size_t n_ids;
    gw_outbox_filter filter;
    uint64_t max_events;
    int64_t max_age_ms;
    uint64_t hints;     /* results reported since the last read */
    int64_t next_read;  /* mono ms: the next read of a partial batch */
    int reads;          /* outbox reads in flight (a batch read, a retention read) */
    int empty;          /* the last batch read found nothing */
    uint64_t depth;     /* outbox depth as of the last read */
    struct event *trim; /* periodic retention read (also during a backoff) */
} app;

/* A socket libcurl asked the loop to watch. */
typedef struct sock {
    gw_webhooks *w;
    struct event *ev;
    common_list link; /* w->socks */
} sock;

struct gw_webhooks {
    struct event_base *base;
    gw_metrics *m;
    CURLM *multi;
    struct event *curl_timer;
    common_list socks;
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

    gw_queue *q;         /* outbox mode: events come from the queue's outbox */
    common_list tickets; /* queue requests in flight */
};

/* ---------------------------------------------------------------------- */
/* small helpers                                                          */

static int streq0(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static void metric(app *a, const char *result, uint64_t n)
{
    if (n > 0)
        gw_metrics_add(a->w->m, GW_M_WEBHOOK, a->name, result, n);
}

static void update_pending(app *a)
{
    if (a->w->q != NULL) {
        gw_metrics_set(a->w->m, GW_M_WEBHOOK_PENDING, a->name, NULL, (double)a->depth);
        gw_metrics_set(a->w->m, GW_M_WEBHOOK_OUTBOX, a->name, NULL, (double)a->depth);
        return;
    }
    gw_metrics_set(a->w->m, GW_M_WEBHOOK_PENDING, a->name, NULL,
                   (double)(a->wait.len + a->fly.len));
}

/* ---------------------------------------------------------------------- */
/* signing                                                                */

int gw_webhook_sign(const char *secret, long long timestamp, const char *body, size_t len,
                    char out[65])
{
    const char *key = secret ? secret : "";
    unsigned char *msg = malloc(32 + len), mac[32];
    unsigned int ml = 0;

    out[0] = '\0';
    if (msg == NULL)
        return APNS_ECRYPTO;
    int n = snprintf((char *)msg, 32, "%lld.", timestamp);
    if (len > 0)
        memcpy(msg + n, body, len);
    /* An empty key is legal for HMAC. */
    int ok = HMAC(EVP_sha256(), key, (int)strlen(key), msg, (size_t)n + len, mac, &ml) != NULL &&
             ml == sizeof(mac);
    free(msg);
    if (!ok)
        return APNS_ECRYPTO;
    common_bin_to_hex(mac, sizeof(mac), out);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* targets: URL checks and easy handles                                   */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    g_curl_init = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void target_clear(target *t)
{
    free(t->url);
    free(t->ca_file);
    free(t->host);
    free(t->log_url);
    curl_easy_cleanup(t->easy); /* NULL is fine */
    memset(t, 0, sizeof(*t));
}

/* What the webhooks read of one [app NAME]: its webhook keys
 * (webhook_keys.h), its name, and its ca_file (dispatch_keys.h). */
typedef struct app_conf {
    const char *name, *ca_file, *webhook_url, *webhook_secret;
    uint32_t webhook_batch;
    int64_t webhook_interval_ms;
    int webhook_events;
    uint32_t webhook_retention;
    int64_t webhook_retention_age_ms;
} app_conf;

static app_conf conf_of(const gw_config_app *ca)
{
    const gw_webhook_app_config *wc = gw_webhook_app_config_of(ca);
    app_conf c = {ca->name,
                  gw_dispatch_app_config_of(ca)->ca_file,
                  wc->webhook_url,
                  wc->webhook_secret,
                  wc->webhook_batch,
                  wc->webhook_interval_ms,
                  wc->webhook_events,
                  wc->webhook_retention,
                  wc->webhook_retention_age_ms};
    return c;
}

/* The answer's body is not used; reading more than MAX_RESPONSE_BODY fails
 * the transfer (CURLE_WRITE_ERROR). */
static size_t on_answer(char *data, size_t size, size_t nmemb, void *arg)
{
    app *a = arg;
    a->answer_len += size * nmemb;
    return a->answer_len <= MAX_RESPONSE_BODY ? size * nmemb : 0;
}

/* Checks the webhook URL, the way libcurl will read it. 0 or APNS_ECONFIG
 * (detail written); the parts are set in t. */
static int target_url(target *t, const app_conf *ac, char *detail, size_t dlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    int rc = APNS_ECONFIG;
    CURLUcode uc = u ? curl_url_set(u, CURLUPART_URL, ac->webhook_url, 0) : CURLUE_OUT_OF_MEMORY;
    if (uc == CURLUE_OUT_OF_MEMORY) {
        rc = APNS_ENOMEM;
        goto out;
    }
    if (uc != CURLUE_OK) {
        snprintf(detail, dlen, "[app %s] webhook_url: not a valid URL (%s)", ac->name,
                 curl_url_strerror(uc));
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(detail, dlen, "[app %s] webhook_url: must start with http:// or https://",
                 ac->name);
        goto out;
    }
    /* libcurl also reads "http:/x" and "http:///x" as host x; we do not. */
    const char *colon = strchr(ac->webhook_url, ':');
    if (colon == NULL || strncmp(colon, "://", 3) != 0 || colon[3] == '/' ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(detail, dlen, "[app %s] webhook_url: has no host", ac->name);
        goto out;
    }
    uc = curl_url_get(u, CURLUPART_PORT, &port, 0);
    if (uc != CURLUE_NO_PORT && (uc != CURLUE_OK || atoi(port) < 1 || atoi(port) > 65535)) {
        snprintf(detail, dlen, "[app %s] webhook_url: port must be 1..65535", ac->name);
        goto out;
    }
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    rc = APNS_ENOMEM;
    size_t hl = strlen(host);
    int v6 = host[0] == '[' && hl >= 2;
    t->host = v6 ? strndup(host + 1, hl - 2) : strdup(host);
    if (t->host == NULL)
        goto out;
    unsigned char bin[4];
    t->host_is_ip = v6 || inet_pton(AF_INET, t->host, bin) == 1;
    size_t ll = strlen(scheme) + hl + (port ? strlen(port) : 0) + (path ? strlen(path) : 0) + 8;
    t->log_url = malloc(ll);
    if (t->log_url == NULL)
        goto out;
    snprintf(t->log_url, ll, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
             path ? path : "/");
    t->url = strdup(ac->webhook_url);
    t->ca_file = ac->ca_file != NULL ? strdup(ac->ca_file) : NULL;
    if (t->url != NULL && (ac->ca_file == NULL || t->ca_file != NULL))
        rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

/* The app's ca_file must load, as libcurl will load it (X509_STORE_load_file).
 * 0 or APNS_ECONFIG (detail written). */
static int check_ca_file(const app_conf *ac, char *detail, size_t dlen)
{
    X509_STORE *st = X509_STORE_new();
    ERR_clear_error();
    int ok = st != NULL && X509_STORE_load_file(st, ac->ca_file) == 1;
    X509_STORE_free(st);
    if (ok)
        return 0;
    char why[160] = "no detail";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, why, sizeof(why));
    ERR_clear_error();
    snprintf(detail, dlen, "[app %s] ca_file %s: cannot load CA certificates for the webhook: %s",
             ac->name, ac->ca_file, why);
    return APNS_ECONFIG;
}

/* Checks the app's webhook_url (and ca_file for https) and sets up the easy
 * handle that sends to it. 0, APNS_ECONFIG (detail written) or
 * APNS_ENOMEM. */
static int target_init(target *t, const app_conf *ac, char *detail, size_t dlen)
{
    memset(t, 0, sizeof(*t));
    int rc = target_url(t, ac, detail, dlen);
    if (rc == 0 && ac->ca_file != NULL && strncmp(t->log_url, "https:", 6) == 0)
        rc = check_ca_file(ac, detail, dlen);
    if (rc == 0 && (t->easy = curl_easy_init()) == NULL)
        rc = APNS_ENOMEM;
    CURL *e = t->easy;
    /* Verification stays on (libcurl's default, stated here): the system
     * store, plus the app's ca_file: CAINFO names that file while CAPATH
     * keeps libcurl's default directory (Debian's /etc/ssl/certs). */
    if (rc == 0 &&
        (curl_easy_setopt(e, CURLOPT_URL, t->url) != CURLE_OK ||
         curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
         curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
         curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
         curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
         (t->ca_file != NULL && curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file) != CURLE_OK) ||
         curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK ||
         curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
         curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK ||
         curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer) != CURLE_OK))
        rc = APNS_ENOMEM;
    if (rc == APNS_ENOMEM)
        snprintf(detail, dlen, "[app %s] webhook: out of memory", ac->name);
    if (rc != 0)
        target_clear(t);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* entries: the waiting list and the fly batch                           */

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("?"); /* not UTF-8 (never for hex ids) */
}

static entry *make_entry(const gw_token_result *r)
{
    /* A channel publish names its channel (as the outbox's events do). */
    json_t *o = json_pack(
        "{s:o, s:I, s:o, s:o, s:s, s:o*, s:o*, s:o*, s:b, s:s*}", "job_id", jstr(r->job_id),
        "index", (json_int_t)r->index, r->channel != NULL ? "channel" : "token",
        jstr(r->channel != NULL ? r->channel : r->token), "apns_id", jstr(r->apns_id), "state",
        gw_token_state_name(r->state), "status", r->status != 0 ? json_integer(r->status) : NULL,
        "reason", r->reason != NULL && r->reason[0] != '\0' ? jstr(r->reason) : NULL, "timestamp",
        r->apns_ts_ms != 0 ? json_integer(r->apns_ts_ms) : NULL, "dead", r->dead != GW_DEAD_NONE,
        "dead_source", r->dead != GW_DEAD_NONE ? gw_dead_source_name(r->dead) : NULL);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    size_t len = s != NULL ? strlen(s) : 0;
    entry *e = s != NULL ? malloc(sizeof(*e) + len + 1) : NULL;
    if (e != NULL) {
        memset(&e->link, 0, sizeof(e->link));
        e->at_ms = common_mono_ms();
        memcpy(e->json, s, len + 1);
    }
    free(s);
    return e;
}

/* Frees every entry of l; returns how many. */
static size_t entries_free(common_clist *l)
{
    size_t n = l->len;
    for (common_list *it; (it = common_clist_pop_front(l)) != NULL;)
        free(COMMON_CONTAINER_OF(it, entry, link));
    return n;
}

/* At the pending limit the oldest waiting result is dropped (max_pending is
 * never 0: gw_webhooks_set_limits keeps the value for a 0). */
static void wait_push(app *a, entry *e)
{
    while (a->wait.len >= a->w->lim.max_pending) {
        free(COMMON_CONTAINER_OF(common_clist_pop_front(&a->wait), entry, link));
        metric(a, "dropped", 1);
        a->dropped_episode++;
        if (!a->dropping) {
            a->dropping = 1;
            gw_log(GW_LOG_WARN, "webhook", "pending limit reached; dropping the oldest results",
                   "app", a->name, "url", a->t.log_url, "limit", GW_LOG_INT(a->w->lim.max_pending),
                   NULL);
        }
    }
    common_clist_push_back(&a->wait, &e->link);
}

static void fly_clear(app *a)
{
    entries_free(&a->fly);
    free(a->body);
    a->body = NULL;
    a->body_len = 0;
    a->attempt = 0;
    free(a->ids);
    a->ids = NULL;
    a->n_ids = 0;
}

/* Drops everything the app holds (counted). Returns how many. In outbox
 * mode nothing is lost: the batch in memory is forgotten and its events,
 * still in the outbox, are sent at the next read (or the next start). */
static size_t drop_all(app *a)
{
    if (a->w->q != NULL) {
        fly_clear(a);
        return 0;
    }
    size_t n = a->fly.len + entries_free(&a->wait);
    metric(a, "dropped", n);
    fly_clear(a);
    update_pending(a);
    return n;
}

/* ---------------------------------------------------------------------- */
/* libcurl on the loop (see the design note)                              */

static void reap(gw_webhooks *w);

static void sock_free(sock *s)
{
    common_list_remove(&s->link);
    event_free(s->ev);
    free(s);
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    gw_webhooks *w = ((sock *)arg)->w; /* the call below may free the sock */
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(w->multi, fd, flags, &running);
    reap(w);
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
    gw_webhooks *w = arg;
    int running;
    curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    reap(w);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl asks, or stop. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    gw_webhooks *w = arg;
    sock *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL)
            sock_free(s);
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->w = w;
        s->ev = event_new(w->base, fd, 0, on_sock_event, s);
        if (s->ev == NULL) {
            free(s);
            return -1;
        }
        common_list_push_front(&w->socks, &s->link);
        curl_multi_assign(w->multi, fd, s);
    }
    short ev =
        EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    event_del(s->ev);
    event_assign(s->ev, w->base, fd, ev, on_sock_event, s);
    return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle. */
static int on_curl_timeout(CURLM *multi, long timeout_ms, void *arg)
{
    gw_webhooks *w = arg;
    if (timeout_ms < 0)
        evtimer_del(w->curl_timer);
    else
        gw_timer_in(w->curl_timer, timeout_ms);
    return 0;
}

/* Takes the app's transfer out of the multi handle: a running one is
 * cancelled, without callback. */
static void transfer_end(app *a)
{
    if (a->in_multi) {
        curl_multi_remove_handle(a->w->multi, a->t.easy);
        a->in_multi = 0;
    }
    curl_slist_free_all(a->headers);
    a->headers = NULL;
}

/* Cancels the app's request or backoff: IDLE, the batch ready to go again. */
static void to_idle(app *a)
{
    transfer_end(a);
    evtimer_del(a->timer);
    a->state = ST_IDLE;
}

/* ---------------------------------------------------------------------- */
/* delivery                                                               */

static int all_idle(const gw_webhooks *w)
{
    for (size_t i = 0; i < w->n_apps; i++) {
        const app *a = w->apps[i];
        if (a->wait.len > 0 || a->fly.len > 0 || a->state == ST_SENDING)
            return 0;
        if (w->q != NULL && (a->state != ST_IDLE || !a->empty))
            return 0; /* reading, acknowledging, or the outbox not seen empty */
    }
    return 1;
}

static void check_done(gw_webhooks *w)
{
    if (w->done_pending && all_idle(w))
        event_active(w->done_ev, 0, 0);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_webhooks *w = arg;
    if (!w->done_pending || (!w->deadline_passed && !all_idle(w)))
        return;
    w->done_pending = 0;
    evtimer_del(w->deadline_ev);
    void (*done)(void *) = w->done;
    w->done = NULL;
    if (done != NULL)
        done(w->done_ud); /* may free w */
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_webhooks *w = arg;
    w->deadline_passed = 1;
    for (size_t i = 0; i < w->n_apps; i++) {
        app *a = w->apps[i];
        to_idle(a);
        size_t n = drop_all(a);
        if (n > 0)
            gw_log(GW_LOG_WARN, "webhook", "drain deadline reached; undelivered results dropped",
                   "app", a->name, "url", a->t.log_url, "results", GW_LOG_INT(n), NULL);
        else if (w->q != NULL && !a->empty)
            gw_log(GW_LOG_INFO, "webhook",
                   "drain deadline reached; undelivered events stay in the outbox for the next "
                   "start",
                   "app", a->name, "url", a->t.log_url, "outbox", GW_LOG_INT(a->depth), NULL);
    }
    if (w->done_pending)
        event_active(w->done_ev, 0, 0);
}

/* The fly batch was not delivered: back off and send it again (or, after
 * the drain deadline, drop it). */
static void attempt_failed(app *a, const char *why)
{
    gw_webhooks *w = a->w;
    metric(a, "retry", a->fly.len);
    a->attempt++;
    a->failing = 1;
    evtimer_del(a->timer);
    if (w->deadline_passed) {
        size_t n = drop_all(a);
        gw_log(GW_LOG_WARN, "webhook",
               w->q != NULL ? "delivery failed after the drain deadline; left in the outbox"
                            : "delivery failed after the drain deadline; dropped",
               "app", a->name, "url", a->t.log_url, "error", why, "results", GW_LOG_INT(n), NULL);
        a->state = ST_IDLE;
        check_done(w);
        return;
    }
    int64_t d =
        common_backoff_ms(w->lim.backoff_min_ms, w->lim.backoff_max_ms, (int)a->attempt, &w->rng);
    gw_log(GW_LOG_WARN, "webhook", "delivery failed; will retry", "app", a->name, "url",
           a->t.log_url, "error", why, "attempt", GW_LOG_INT(a->attempt), "retry_in_ms",
           GW_LOG_INT(d), "results", GW_LOG_INT(a->fly.len), NULL);
    a->state = ST_BACKOFF;
    gw_timer_in(a->timer, d);
}

static void ack_batch(app *a);

static void attempt_ok(app *a)
{
    metric(a, "ok", a->fly.len);
    if (a->failing || a->dropping)
        gw_log(GW_LOG_INFO, "webhook", "delivery recovered", "app", a->name, "url", a->t.log_url,
               "attempts", GW_LOG_INT(a->attempt + 1), "dropped", GW_LOG_INT(a->dropped_episode),
               NULL);
    a->failing = 0;
    a->dropping = 0;
    a->dropped_episode = 0;
    if (a->w->q != NULL) {
        ack_batch(a); /* deleted from the outbox, then the next batch */
        return;
    }
    fly_clear(a);
    update_pending(a);
    a->state = ST_IDLE;
    gw_timer_in(a->timer, 0); /* the next batch, or the interval */
}

/* A sentence for a transfer that ended without an HTTP answer, in the words
 * the log has always used (operators grep for them), with libcurl's detail
 * where it adds something. */
static void describe_failure(app *a, CURLcode rc, char *buf, size_t len)
{
    const char *detail = a->errbuf[0] ? a->errbuf : curl_easy_strerror(rc);
    long os = 0, vr = 0;
    curl_off_t lookup_us = 0;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        curl_easy_getinfo(a->t.easy, CURLINFO_NAMELOOKUP_TIME_T, &lookup_us);
        if (lookup_us == 0 && !a->t.host_is_ip)
            snprintf(buf, len, "cannot resolve %s: timeout (no answer)", a->t.host);
        else
            snprintf(buf, len, "timeout (no answer)");
        return;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(buf, len, "cannot resolve %s: no address for the name", a->t.host);
        return;
    case CURLE_COULDNT_CONNECT: /* detail names the address: the receiver's or a proxy's */
        curl_easy_getinfo(a->t.easy, CURLINFO_OS_ERRNO, &os);
        snprintf(buf, len, "connection failed: %s (%s)", os ? strerror((int)os) : "no detail",
                 detail);
        return;
    case CURLE_PEER_FAILED_VERIFICATION:
        curl_easy_getinfo(a->t.easy, CURLINFO_SSL_VERIFYRESULT, &vr);
        /* libcurl records OpenSSL's verdict when it failed the handshake;
         * after a good chain it checks the name itself and leaves the
         * result at its initial value, X509_V_ERR_UNSPECIFIED. */
        if (vr != X509_V_OK && vr != X509_V_ERR_UNSPECIFIED)
            snprintf(buf, len, "TLS certificate verification failed: %s",
                     X509_verify_cert_error_string(vr));
        else
            snprintf(buf, len, "TLS certificate verification failed: %s mismatch (%s)",
                     a->t.host_is_ip ? "IP address" : "Hostname", detail);
        return;
    case CURLE_WRITE_ERROR: /* on_answer refused more */
        snprintf(buf, len, "answer too large");
        return;
    default:
        snprintf(buf, len, "request failed: %s", detail);
        return;
    }
}

/* A transfer of the app's ended (from reap, after libcurl returned). */
static void transfer_done(app *a, CURLcode rc)
{
    long code = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(a->t.easy, CURLINFO_RESPONSE_CODE, &code);
    transfer_end(a);
    if (a->state != ST_SENDING)
        return;
    if (code >= 200 && code < 300) {
        attempt_ok(a);
        return;
    }
    char why[CURL_ERROR_SIZE + 100];
    if (rc == CURLE_OK)
        snprintf(why, sizeof(why), "HTTP %ld", code);
    else
        describe_failure(a, rc, why, sizeof(why));
    attempt_failed(a, why);
}

/* Hands every finished transfer to its app. */
static void reap(gw_webhooks *w)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *a = NULL;
        CURLcode rc = msg->data.result; /* msg dies with the removal */
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &a);
        if (a != NULL)
            transfer_done((app *)a, rc);
    }
}

/* The fly batch's body: {"app":<name>,"results":[<entry>,...]}. 0 or -1. */
static int build_body(app *a)
{
    FILE *f = open_memstream(&a->body, &a->body_len);

    if (f == NULL)
        return -1;
    fprintf(f, "{\"app\":%s,\"results\":[", a->name_json);
    COMMON_LIST_FOREACH(it, tmp, &a->fly.head)
    {
        fprintf(f, "%s%s", it != a->fly.head.next ? "," : "",
                COMMON_CONTAINER_OF(it, entry, link)->json);
    }
    fputs("]}", f);
    if (fclose(f) == 0)
        return 0;
    free(a->body); /* out of memory */
    a->body = NULL;
    return -1;
}

/* Moves up to `batch` waiting results into the fly batch. */
static void take_batch(app *a)
{
    while (a->fly.len < a->batch && a->wait.len > 0)
        common_clist_push_back(&a->fly, common_clist_pop_front(&a->wait));
    a->attempt = 0;
    uint64_t id[2] = {common_rng_next(&a->w->rng), common_rng_next(&a->w->rng)};
    common_bin_to_hex((const uint8_t *)id, sizeof(id), a->delivery_id);
}

/* The signed request headers of one attempt. NULL when memory ran out. */
static struct curl_slist *request_headers(app *a, const char *sig, long long ts)
{
    char l[3][128];
    const char *lines[] = {"Content-Type: application/json",
                           "Expect:", /* no 100-continue round trip for large batches */
                           l[0], l[1], l[2]};
    struct curl_slist *h = NULL, *next;
    snprintf(l[0], sizeof(l[0]), "X-Apnsd-Timestamp: %lld", ts);
    snprintf(l[1], sizeof(l[1]), "X-Apnsd-Signature: sha256=%s", sig);
    snprintf(l[2], sizeof(l[2]), "X-Apnsd-Delivery: %s", a->delivery_id);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++, h = next)
        if ((next = curl_slist_append(h, lines[i])) == NULL) {
            curl_slist_free_all(h);
            return NULL;
        }
    return h;
}

/* Sends the fly batch (state IDLE -> SENDING, or straight to BACKOFF). The
 * answer comes through reap. */
static void send_batch(app *a)
{
    gw_webhooks *w = a->w;
    a->state = ST_SENDING;
    long long ts = (long long)time(NULL);
    char sig[65];
    if ((a->body == NULL && build_body(a) != 0) ||
        gw_webhook_sign(a->secret, ts, a->body, a->body_len, sig) != 0) {
        attempt_failed(a, "cannot build or sign the body");
        return;
    }
    a->headers = request_headers(a, sig, ts);
    if (a->headers == NULL) {
        attempt_failed(a, "out of memory");
        return;
    }
    CURL *e = a->t.easy;
    a->errbuf[0] = '\0';
    a->answer_len = 0;
    if (curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)a) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, a) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->headers) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->body_len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->lim.request_timeout_ms) != CURLE_OK ||
        curl_multi_add_handle(w->multi, e) != CURLM_OK) {
        transfer_end(a);
        attempt_failed(a, "cannot start the request");
        return;
    }
    a->in_multi = 1;
}

static void step_outbox(app *a);

static void step(app *a)
{
    gw_webhooks *w = a->w;
    if (a->state != ST_IDLE)
        return;
    if (w->q != NULL) {
        step_outbox(a);
        return;
    }
    if (a->fly.len == 0) {
        if (a->wait.len == 0) {
            evtimer_del(a->timer);
            check_done(w);
            return;
        }
        entry *oldest = COMMON_CONTAINER_OF(common_list_first(&a->wait.head), entry, link);
        int64_t due = oldest->at_ms + a->interval_ms;
        int64_t now = common_mono_ms();
        if (a->wait.len < a->batch && !w->flushing && now < due) {
            gw_timer_in(a->timer, due - now);
            return;
        }
        take_batch(a);
    }
    send_batch(a);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    app *a = arg;
    if (a->state == ST_BACKOFF)
        a->state = ST_IDLE;
    step(a);
}

/* ---------------------------------------------------------------------- */
/* outbox mode: batches read from the queue's durable outbox              */

enum { TK_BATCH, TK_TRIM, TK_ACK };

static ticket *ticket_new(app *a)
{
    ticket *t = calloc(1, sizeof(*t));
    if (t != NULL) {
        t->a = a;
        common_list_push_back(&a->w->tickets, &t->link);
    }
    return t;
}

/* The app of a finished request (NULL when it went away); frees t. */
static app *ticket_take(ticket *t)
{
    app *a = t->a;
    common_list_remove(&t->link);
    free(t);
    return a;
}

/* Events removed by the outbox's retention: counted, logged once per
 * episode (until a delivery succeeds). */
static void note_dropped(app *a, uint64_t dropped)
{
    if (dropped == 0)
        return;
    metric(a, "dropped", dropped);
    a->dropped_episode += dropped;
    if (!a->dropping) {
        a->dropping = 1;
        gw_log(GW_LOG_WARN, "webhook",
               "outbox retention reached; dropping the oldest undelivered events", "app", a->name,
               "url", a->t.log_url, "events", GW_LOG_INT(dropped), "webhook_retention",
               GW_LOG_INT(a->max_events), "webhook_retention_age_ms", GW_LOG_INT(a->max_age_ms),
               NULL);
    }
}

/* The delivery id of the fly batch: the first 128 bits of SHA-256 over its
 * body, which holds the events as stored (ids, job ids, token indexes), so
 * a batch read again after a restart (the same events) carries the same id,
 * and another queue's batch (ids start again at 1) does not. */
static void outbox_delivery_id(app *a)
{
    unsigned char md[EVP_MAX_MD_SIZE];

    if (build_body(a) != 0 || EVP_Digest(a->body, a->body_len, md, NULL, EVP_sha256(), NULL) != 1) {
        /* out of memory: a random id (the events' ids still identify them) */
        uint64_t id[2] = {common_rng_next(&a->w->rng), common_rng_next(&a->w->rng)};
        memcpy(md, id, sizeof(id));
    }
    common_bin_to_hex(md, 16, a->delivery_id);
}

/* The fly batch from the events read: {"event_id":ID, ...the event...}. 0
 * or -1 (out of memory: the batch is forgotten, read again later). */
static int fill_fly(app *a, const gw_outbox_event *v, size_t n)
{
    a->ids = malloc(n * sizeof(*a->ids));
    if (a->ids == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char head[40];
        int hl = snprintf(head, sizeof(head), "{\"event_id\":%llu%s", (unsigned long long)v[i].id,
                          v[i].len > 2 ? "," : "");
        size_t rest = v[i].len > 0 ? v[i].len - 1 : 0; /* the event without its '{' */
        entry *e = malloc(sizeof(*e) + (size_t)hl + rest + 2);
        if (e == NULL) {
            fly_clear(a);
            return -1;
        }
        memset(&e->link, 0, sizeof(e->link));
        e->at_ms = common_mono_ms();
        memcpy(e->json, head, (size_t)hl);
        if (v[i].len > 2)
            memcpy(e->json + hl, v[i].json + 1, rest);
        else
            memcpy(e->json + hl, "}", (rest = 1));
        e->json[hl + rest] = '\0';
        common_clist_push_back(&a->fly, &e->link);
        a->ids[a->n_ids++] = v[i].id;
    }
    outbox_delivery_id(a);
    a->attempt = 0;
    return 0;
}

static void on_read(int err, const char *detail, const gw_outbox_event *v, size_t n, uint64_t depth,
                    uint64_t dropped, void *ud, int batch)
{
    app *a = ticket_take(ud);
    if (a == NULL)
        return;
    a->reads--;
    if (err == 0) {
        a->depth = depth;
        update_pending(a);
        note_dropped(a, dropped);
        if (dropped > 0 && a->state == ST_BACKOFF) {
            /* Retention removed the oldest events, those of the batch held
             * for its retry among them: read a fresh batch instead. */
            fly_clear(a);
            a->state = ST_IDLE;
        }
    }
    if (!batch || a->state != ST_READING)
        return; /* a retention read, or cancelled meanwhile (reload, drain deadline) */
    a->state = ST_IDLE;
    a->next_read = common_mono_ms() + a->interval_ms;
    if (err != 0) {
        if (!a->failing)
            gw_log(GW_LOG_WARN, "webhook", "cannot read the webhook outbox; will retry", "app",
                   a->name, "error", gw_queue_err_name(err), "detail", detail, NULL);
        a->failing = 1;
        gw_timer_in(a->timer, a->interval_ms);
        return;
    }
    a->empty = n == 0;
    if (n == 0 || fill_fly(a, v, n) != 0) {
        gw_timer_in(a->timer, a->interval_ms);
        check_done(a->w);
        return;
    }
    send_batch(a);
}

static void on_read_batch(int err, const char *detail, const gw_outbox_event *v, size_t n,
                          uint64_t depth, uint64_t dropped, void *ud)
{
    on_read(err, detail, v, n, depth, dropped, ud, 1);
}

static void on_read_trim(int err, const char *detail, const gw_outbox_event *v, size_t n,
                         uint64_t depth, uint64_t dropped, void *ud)
{
    on_read(err, detail, v, n, depth, dropped, ud, 0);
}

/* Posts a read of up to max events (0: retention and depth only). */
static int post_read(app *a, size_t max)
{
    ticket *t = ticket_new(a);
    if (t == NULL)
        return APNS_ENOMEM;
    int rc = gw_queue_outbox_read(a->w->q, a->name, max, a->max_events, a->max_age_ms,
                                  max > 0 ? on_read_batch : on_read_trim, t);
    if (rc != 0) {
        ticket_take(t);
        return rc;
    }
    a->reads++;
    return 0;
}

static void step_outbox(app *a)
{
    gw_webhooks *w = a->w;
    if (a->fly.len > 0) {
        send_batch(a); /* after a backoff: the same batch */
        return;
    }
    int64_t now = common_mono_ms();
    if (w->deadline_passed) {
        check_done(w);
        return;
    }
    if (a->hints < a->batch && !w->flushing && now < a->next_read) {
        gw_timer_in(a->timer, a->next_read - now);
        check_done(w);
        return;
    }
    a->hints = 0;
    int rc = post_read(a, a->batch);
    if (rc != 0) {
        gw_log(GW_LOG_WARN, "webhook", "cannot read the webhook outbox; will retry", "app", a->name,
               "error", gw_queue_err_name(rc), NULL);
        a->next_read = now + a->interval_ms;
        gw_timer_in(a->timer, a->interval_ms);
        return;
    }
    a->state = ST_READING;
}

static void on_ack(int err, const char *detail, void *ud)
{
    app *a = ticket_take(ud);
    if (a == NULL || a->state != ST_ACKING)
        return;
    if (err != 0)
        gw_log(GW_LOG_WARN, "webhook",
               "delivered events could not be removed from the outbox; they will be sent again "
               "(same event ids)",
               "app", a->name, "error", gw_queue_err_name(err), "detail", detail, NULL);
    fly_clear(a);
    a->state = ST_IDLE;
    a->next_read = 0; /* the next batch at once: a backlog drains at full speed */
    gw_timer_in(a->timer, err != 0 ? a->interval_ms : 0);
}

static void ack_batch(app *a)
{
    ticket *t = ticket_new(a);
    int rc = t != NULL ? gw_queue_outbox_ack(a->w->q, a->name, a->ids, a->n_ids, on_ack, t)
                       : APNS_ENOMEM;
    if (rc != 0) {
        if (t != NULL)
            ticket_take(t);
        fly_clear(a); /* read and sent again: duplicates, never a loss */
        a->state = ST_IDLE;
        gw_timer_in(a->timer, a->interval_ms);
        return;
    }
    a->state = ST_ACKING;
}

/* Every interval: the outbox's retention and depth, also while a batch is
 * retried (the receiver down) or delivered. */
static void on_trim(evutil_socket_t fd, short what, void *arg)
{
    app *a = arg;
    if (a->w->q != NULL && a->reads == 0)
        post_read(a, 0);
    gw_timer_in(a->trim, a->interval_ms);
}

/* Tells the queue which apps' outcomes write events, and how filtered. */
static void push_outbox_apps(gw_webhooks *w)
{
    gw_outbox_app *v = calloc(w->n_apps ? w->n_apps : 1, sizeof(*v));
    int rc = APNS_ENOMEM;
    if (v != NULL) {
        for (size_t i = 0; i < w->n_apps; i++) {
            v[i].app = w->apps[i]->name;
            v[i].filter = w->apps[i]->filter;
        }
        rc = gw_queue_outbox_apps(w->q, v, w->n_apps);
    }
    free(v);
    if (rc != 0)
        gw_log(GW_LOG_ERROR, "webhook", "cannot set the apps of the webhook outbox", "error",
               gw_queue_err_name(rc), NULL);
}

/* ---------------------------------------------------------------------- */
/* apps                                                                   */

static void secret_free(char *s)
{
    if (s != NULL)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static void app_free(app *a)
{
    if (a == NULL)
        return;
    transfer_end(a);
    gw_events_free(&a->timer, 1);
    gw_events_free(&a->trim, 1);
    COMMON_LIST_FOREACH(it, tmp, &a->w->tickets)
    {
        ticket *t = COMMON_CONTAINER_OF(it, ticket, link);
        if (t->a == a)
            t->a = NULL; /* its callback finds no app */
    }
    fly_clear(a);
    entries_free(&a->wait);
    target_clear(&a->t);
    secret_free(a->secret);
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
    common_clist_init(&a->wait);
    common_clist_init(&a->fly);
    int rc = target_init(&a->t, ac, detail, dlen);
    if (rc != 0) {
        app_free(a);
        return rc;
    }
    json_t *js = json_string(ac->name);
    a->name = strdup(ac->name);
    a->name_json = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    a->timer = evtimer_new(w->base, on_timer, a);
    a->trim = evtimer_new(w->base, on_trim, a);
    /* The app's series at 0 from the start. */
    if (a->name == NULL || a->name_json == NULL || a->timer == NULL || a->trim == NULL ||
        gw_metrics_register(w->m, GW_M_WEBHOOK, a->name, "ok") != 0 ||
        gw_metrics_register(w->m, GW_M_WEBHOOK, a->name, "retry") != 0 ||
        gw_metrics_register(w->m, GW_M_WEBHOOK, a->name, "dropped") != 0 ||
        gw_metrics_register(w->m, GW_M_WEBHOOK_PENDING, a->name, NULL) != 0 ||
        gw_metrics_register(w->m, GW_M_WEBHOOK_OUTBOX, a->name, NULL) != 0) {
        app_free(a);
        goto oom;
    }
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
        } else if (!streq0(x->old->t.url, ac->webhook_url) ||
                   !streq0(x->old->t.ca_file, ac->ca_file)) {
            rc = target_init(&x->t, ac, detail, detail_len);
            x->retarget = rc == 0;
        }
        if (rc != 0)
            goto fail;
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
        app *a = x->fresh != NULL ? x->fresh : x->old;
        x->fresh = NULL;
        apps[i] = a;
        if (x->retarget) {
            to_idle(a); /* cancels a request in flight: the batch goes to the new URL */
            target_clear(&a->t);
            a->t = x->t;
            memset(&x->t, 0, sizeof(x->t));
            x->retarget = 0;
        }
        secret_free(a->secret);
        a->secret = x->secret;
        x->secret = NULL;
        a->batch = x->ac.webhook_batch ? x->ac.webhook_batch : 100;
        a->interval_ms = x->ac.webhook_interval_ms > 0 ? x->ac.webhook_interval_ms : 1000;
        a->filter = x->ac.webhook_events == 1 ? GW_OUTBOX_REJECTIONS : GW_OUTBOX_ALL;
        a->max_events = x->ac.webhook_retention;
        a->max_age_ms = x->ac.webhook_retention_age_ms;
        if (a->state == ST_IDLE)
            gw_timer_in(a->timer, 0);
        if (w->q != NULL)
            gw_timer_in(a->trim, a->interval_ms);
    }
    for (size_t i = 0; i < w->n_apps; i++) {
        app *a = w->apps[i];
        int kept = 0;
        for (size_t j = 0; j < np && !kept; j++)
            kept = apps[j] == a;
        if (kept)
            continue;
        size_t n = drop_all(a);
        if (n > 0)
            gw_log(GW_LOG_WARN, "webhook", "webhook removed by reload; pending results dropped",
                   "app", a->name, "results", GW_LOG_INT(n), NULL);
        app_free(a);
    }
    free(w->apps);
    w->apps = apps;
    w->n_apps = np;
    free(p);
    /* Room in the connection cache for one idle connection per app (libcurl's
     * default counts only the transfers running). */
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)np + 4);
    if (w->q != NULL)
        push_outbox_apps(w);
    check_done(w);
    return 0;
fail:
    for (size_t i = 0; p != NULL && i < np; i++) {
        app_free(p[i].fresh);
        target_clear(&p[i].t);
        secret_free(p[i].secret);
    }
    free(p);
    free(apps);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* public                                                                 */

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
    common_list_init(&w->socks);
    common_list_init(&w->tickets);
    w->lim.max_pending = GW_WEBHOOK_MAX_PENDING;
    w->lim.backoff_min_ms = 1000;
    w->lim.backoff_max_ms = 300000;
    w->lim.request_timeout_ms = 10000;
    w->rng = common_rng_seed();
    w->deadline_ev = evtimer_new(base, deadline_cb, w);
    w->done_ev = event_new(base, -1, 0, done_cb, w);
    w->curl_timer = evtimer_new(base, on_curl_timer, w);
    pthread_once(&g_curl_once, curl_init_once);
    w->multi = g_curl_init == CURLE_OK ? curl_multi_init() : NULL;
    if (w->deadline_ev == NULL || w->done_ev == NULL || w->curl_timer == NULL || w->multi == NULL ||
        curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w) != CURLM_OK ||
        curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout) != CURLM_OK ||
        curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w) != CURLM_OK) {
        if (detail != NULL && detail_len > 0)
            snprintf(detail, detail_len, "webhooks: cannot set up libcurl (%s)",
                     g_curl_init == CURLE_OK ? "out of memory" : curl_easy_strerror(g_curl_init));
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
    if (w->q != NULL) {
        /* The event is in the outbox already (written with the outcome):
         * this is only a hint that a batch may be ready. */
        if (a->filter == GW_OUTBOX_REJECTIONS && r->state != GW_TOKEN_REJECTED)
            return;
        a->hints++;
        a->empty = 0;
        if (a->state == ST_IDLE && (a->hints >= a->batch || a->w->flushing))
            gw_timer_in(a->timer, 0);
        return;
    }
    entry *e = make_entry(r);
    if (e == NULL) {
        metric(a, "dropped", 1);
        return;
    }
    wait_push(a, e);
    update_pending(a);
    if (a->state == ST_IDLE)
        gw_timer_in(a->timer, 0); /* step(): send now, or arm the interval timer */
}

size_t gw_webhooks_pending(const gw_webhooks *w, const char *app_name)
{
    if (w == NULL || app_name == NULL)
        return 0;
    app *a = find_app(w, app_name);
    if (a != NULL && w->q != NULL)
        return (size_t)a->depth;
    return a ? a->wait.len + a->fly.len : 0;
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
    gw_timer_in(w->deadline_ev, timeout_ms);
    for (size_t i = 0; i < w->n_apps; i++) {
        app *a = w->apps[i];
        if (a->state == ST_BACKOFF)
            to_idle(a);
        if (a->state == ST_IDLE)
            gw_timer_in(a->timer, 0);
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
    /* Requests still in the queue: their callbacks never run (the queue is
     * freed with no loop turn after this, webhook.h). */
    while (!common_list_empty(&w->tickets))
        ticket_take(COMMON_CONTAINER_OF(common_list_first(&w->tickets), ticket, link));
    gw_events_free((struct event *[]){w->deadline_ev, w->done_ev}, 2);
    /* Closes the cached connections; their sockets' events go with the
     * CURL_POLL_REMOVE calls, and whatever libcurl did not remove here. */
    curl_multi_cleanup(w->multi); /* NULL is fine */
    while (!common_list_empty(&w->socks))
        sock_free(COMMON_CONTAINER_OF(common_list_first(&w->socks), sock, link));
    gw_events_free(&w->curl_timer, 1);
    free(w);
}

void gw_webhooks_set_outbox(gw_webhooks *w, gw_queue *q)
{
    if (w == NULL || q == NULL || w->q != NULL)
        return;
    for (size_t i = 0; i < w->n_apps; i++) {
        app *a = w->apps[i];
        drop_all(a); /* nothing is held before the outbox takes over */
        a->depth = 0;
        a->next_read = 0;
        a->empty = 0;
    }
    w->q = q;
    push_outbox_apps(w);
    for (size_t i = 0; i < w->n_apps; i++) {
        app *a = w->apps[i];
        update_pending(a);
        if (a->state == ST_IDLE)
            gw_timer_in(a->timer, 0); /* what a previous run left is sent at once */
        gw_timer_in(a->trim, a->interval_ms);
    }
}
