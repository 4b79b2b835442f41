/*
 * client.c - a pool of APNs connections with bounded memory, over any
 * protocol core (core.h): HTTP/2, or the legacy binary interface.
 *
 * Design notes
 *
 * Slots. max_pending jobs are allocated once. A job is always in exactly one
 * place: the free list, the send queue (FIFO), the retry heap (waiting for
 * its backoff), or one connection's in-flight book (inside the core). Its
 * payload buffer grows to the largest payload it has carried and is then
 * reused, so steady state allocates nothing per notification. The retry heap
 * is an array of max_pending pointers with one timer for its earliest entry.
 *
 * One protocol, as data. The client picks the core class for the
 * transport the options name (apns__core_class_find) and from then on
 * knows only what the class declares: default host, port and slots, the
 * option checks, whether a handshake proves a connection. The cores decide
 * the outcome and action of every answer, so HTTP/2 and binary results
 * take the same path below.
 *
 * What happens to an answer (the action comes from the reason table):
 *   NONE, DROP, DEAD_TOKEN, PAUSE  -> the caller's on_result, slot freed
 *   RETRY          -> retry heap after apns_retry_backoff_ms(); the answer
 *                     counts against retry.max_attempts (job->retries), and
 *                     the one that reaches it is final
 *   RECONNECT      -> front of the queue at once; the connection is retired
 *                     (GOAWAY, finishes its streams) and replaced
 *   REFRESH_TOKEN  -> apns_token_cache_expired(): when a new token will be
 *                     minted, front of the queue at once; when the cache
 *                     will not mint (already replaced, or too young: clock
 *                     skew), only waiting is left: like RETRY, counted
 * A job the server never answered (hand-back: GOAWAY, REFUSED_STREAM,
 * reset, stream deadline, lost connection, binary rewind) goes to the front
 * of the queue at once. Hand-backs and the RECONNECT / minted REFRESH_TOKEN
 * resends are connection-level (core.h, "Who resends what"): they never
 * count against max_attempts. A loop guard of MAX_RESENDS of them
 * (job->resends) keeps a notification that kills every connection it
 * touches from looping forever; binary DISCARDED hand-backs are exempt
 * (apns__handback_guarded: every error packet settles the one it names, so
 * with many bad tokens an innocent notification can be rewound many times,
 * and always with progress).
 *
 * Hand-backs keep their order. A core hands back in send order (a binary
 * rewind after an error packet: hundreds of notifications, oldest first).
 * They are appended to c->handed and the whole run is spliced in front of
 * the queue before the queue is next read (requeue_handed(), O(1)), so they
 * are resent in their original order, ahead of anything newer. Pushing each
 * one to the front as it came would reverse them.
 *
 * Connections. `connections` slots each keep one connection up. A closed
 * one is replaced after a jittered exponential backoff (100 ms doubling to
 * 30 s, reset when the closed connection was healthy: it got an answer or
 * lived a minute), so a server that refuses us never sees a tight loop. A
 * connection that gets GOAWAY or a RECONNECT answer leaves its slot
 * (retiring: it finishes its answered streams, then closes) and the slot
 * opens a replacement. A healthy connection that ended gracefully while
 * still in its slot (err 0: the server ended it the protocol's normal way,
 * a binary error packet that settled something) is replaced at once,
 * without the backoff: that is how the binary interface routinely ends a
 * connection, and the rewound tail is waiting for the new one.
 *
 * FCM (apns/fcm.h). provider APNS_PROVIDER_FCM changes four things, nothing
 * of the book: submit checks the registration token and the message's
 * fields (fcm.c) instead of APNs' rules and writes the whole request body
 * into the slot's payload buffer once (the token, up to 4 KB, goes after it
 * in the same buffer: job.h), as op APNS__OP_FCM_SEND; a RETRY answer waits
 * at least its Retry-After, and a 429 without one at least 60 s
 * (fcm-protocol.md §5.1); a REFRESH_TOKEN answer (our access token expired)
 * calls apns_token_cache_expired() (once per token generation: every stream
 * in flight with it gets the same 401) and parks the job on c->token_wait
 * until the cache holds a newer generation than the one the job carried
 * (polled every 100 ms; the cache's owner puts the new token), then resends
 * it in front of the queue; a second such answer for the same job, or no new
 * token within token_wait_ms, is final with action PAUSE.
 *
 * Callbacks. on_result fires from the loop only (never inside submit).
 * Submits only queue and activate a deferred dispatch; dispatch also runs
 * right after a connection read bytes (capacity may have grown), before that
 * connection writes, so replies and new requests share one write. on_credit
 * and on_drained fire from their own deferred events, as the last thing
 * those events do, so apns_client_free() may be called from them.
 */
#include "apns/client.h"
#include "apns/fcm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backoff.h"
#include "core.h"
#include "detail.h"
#include "endpoint.h"
#include "fcm_int.h"
#include "job.h"
#include "client_int.h"
#include "notification_int.h"
#include "rng.h"
#include "token.h" /* common/ */
#include "transport.h"

#define MAX_RESENDS          10 /* the loop guard: connection-level resends of one job */
#define RECONNECT_BASE_MS    100
#define RECONNECT_MAX_MS     30000
#define HEALTHY_AFTER_MS     60000
#define DEFAULT_MAX_ATTEMPTS 5
#define TLS_FAILS_TO_GIVE_UP 3       /* refused setups in a row before queued jobs fail */
#define FCM_QUOTA_MIN_MS     60000   /* a 429 without Retry-After waits this much (§5.1) */
#define RETRY_AFTER_MAX_MS   3600000 /* Retry-After is clamped to an hour */
#define TOKEN_POLL_MS        100     /* FCM: look for a newer access token this often */

struct conn;

struct slot {
    apns_client *c;
    struct conn *active;
    struct event *timer;
    int failures; /* reconnects since the last healthy connection */
};

struct conn {
    apns_client *c;
    apns__transport *t;
    common_list link; /* on c->conns */
    int slot;         /* index into c->slots, -1 once retiring */
    int healthy;
    int proven; /* the protocol's handshake completed (HTTP/2 SETTINGS): TLS works */
    int up;
    int64_t up_at;
};

struct apns_client {
    struct event_base *base;
    apns__endpoint ep; /* host, port, TLS context, resolver, connect timeout */

    const apns__core_class *cls; /* the protocol (core.h) */
    void *cfg;                   /* its settings (cls->config_new) */
    char *proxy_host;
    uint16_t proxy_port;
    apns_retry_policy retry;
    int max_attempts;

    apns_token_cache *tokens;
    apns_token tok;

    int fcm;                   /* provider APNS_PROVIDER_FCM */
    int fcm_validate_only;     /* every send a dry run */
    apns__job_list token_wait; /* FCM: waiting for a newer access token */
    uint64_t expired_gen;      /* FCM: the generation expired() was called for last */
    struct event *token_timer;
    int64_t token_wait_ms;

    /* The last payload that passed the JSON check (see apns_client_submit). */
    char checked_payload[APNS_PAYLOAD_MAX_VOIP];
    size_t checked_payload_len;

    apns_result_cb on_result;
    apns_credit_cb on_credit;
    apns_log_cb on_log;
    void *ud;

    apns__job *jobs;
    size_t njobs;
    apns__job_list free_list, queue;
    apns__job_list handed; /* handed back, in order, not yet in front of the queue */
    apns__job **heap;      /* retry waits, min-heap on deadline_ms */
    size_t heap_len;
    struct event *retry_timer;

    struct slot *slots;
    unsigned nslots;
    unsigned rr;       /* round-robin start for dispatch */
    common_list conns; /* every live connection, active and retiring */

    struct event *ev_dispatch, *ev_credit, *ev_drain;
    int dispatch_scheduled, credit_wanted, credit_scheduled;
    int draining, drained;
    void (*on_drained)(apns_client *c, void *ud);
    int freeing;

    apns_client_stats stats;
    uint64_t handbacks[APNS__HB_END];    /* by reason (stats: refused, timeouts) */
    uint64_t peer_ends[APNS__END_KINDS]; /* by kind (stats: goaways, error packets) */
    uint64_t rng;
    int tls_fails; /* connections in a row that failed TLS before any answer */
};

/* --- small helpers ------------------------------------------------------- */

static void clog_(apns_client *c, apns_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void clog_(apns_client *c, apns_log_level lvl, const char *fmt, ...)
{
    if (!c->on_log)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->on_log(lvl, msg, c->ud);
}

static void make_uuid(apns_client *c, char out[APNS_UUID_LEN + 1])
{
    uint8_t b[16];
    uint64_t a = common_rng_next(&c->rng), z = common_rng_next(&c->rng);
    memcpy(b, &a, 8);
    memcpy(b + 8, &z, 8);
    apns__uuid_format(b, out);
}

static void schedule_dispatch(apns_client *c)
{
    if (!c->dispatch_scheduled && !c->freeing) {
        c->dispatch_scheduled = 1;
        event_active(c->ev_dispatch, 0, 0);
    }
}

static size_t pending(const apns_client *c)
{
    return c->njobs - c->free_list.len;
}

static void check_drained(apns_client *c)
{
    if (c->draining && !c->drained && pending(c) == 0)
        event_active(c->ev_drain, 0, 0);
}

/* Puts the jobs handed back since the queue was last read in front of it,
 * in the order they came. */
static void requeue_handed(apns_client *c)
{
    common_clist_splice_front(&c->queue, &c->handed);
}

/* Frees j's slot; submit clears the rest of it for the next notification. */
static void release_job(apns_client *c, apns__job *j)
{
    j->n.user_data = NULL;
    apns__job_list_push(&c->free_list, j);
    if (c->credit_wanted && !c->credit_scheduled && c->on_credit) {
        c->credit_scheduled = 1;
        event_active(c->ev_credit, 0, 0);
    }
    check_drained(c);
}

/* Delivers the final result for j and frees its slot. */
static void finish(apns_client *c, apns__job *j, const apns_result *r)
{
    apns_result res = *r;
    res.attempts = j->attempts;
    if (!res.reason_str)
        res.reason_str = "";
    if (!res.apns_id[0])
        memcpy(res.apns_id, j->n.apns_id, sizeof res.apns_id);
    switch (res.outcome) {
    case APNS_OUTCOME_ACCEPTED:
        c->stats.accepted++;
        break;
    case APNS_OUTCOME_REJECTED:
        c->stats.rejected++;
        break;
    default:
        c->stats.failed++;
        break;
    }
    c->on_result(c, &j->n, &res, c->ud);
    release_job(c, j);
}

static void fail_job(apns_client *c, apns__job *j, int err)
{
    apns_result r;
    memset(&r, 0, sizeof r);
    r.outcome = APNS_OUTCOME_FAILED;
    r.reason = APNS_REASON_NONE;
    r.reason_str = "";
    r.action = APNS_ACTION_NONE;
    r.error = err;
    finish(c, j, &r);
}

/* --- retry heap ---------------------------------------------------------- */

static void arm_retry(apns_client *c)
{
    if (!c->heap_len) {
        evtimer_del(c->retry_timer);
        return;
    }
    int64_t d = c->heap[0]->deadline_ms - apns__transport_now_ms();
    if (d < 0)
        d = 0;
    struct timeval tv = {.tv_sec = (time_t)(d / 1000), .tv_usec = (suseconds_t)(d % 1000) * 1000};
    evtimer_add(c->retry_timer, &tv);
}

static void heap_push(apns_client *c, apns__job *j)
{
    size_t i = c->heap_len++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (c->heap[p]->deadline_ms <= j->deadline_ms)
            break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = j;
    if (i == 0)
        arm_retry(c);
}

static apns__job *heap_pop(apns_client *c)
{
    apns__job *top = c->heap[0];
    apns__job *last = c->heap[--c->heap_len];
    size_t i = 0, n = c->heap_len;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t md = last->deadline_ms;
        if (l < n && c->heap[l]->deadline_ms < md) {
            m = l;
            md = c->heap[l]->deadline_ms;
        }
        if (r < n && c->heap[r]->deadline_ms < md)
            m = r;
        if (m == i)
            break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n)
        c->heap[i] = last;
    return top;
}

static void wait_retry(apns_client *c, apns__job *j, int retries, int64_t min_ms)
{
    int64_t d = apns_retry_backoff_ms(&c->retry, retries, &c->rng);
    if (d < min_ms)
        d = min_ms;
    j->deadline_ms = apns__transport_now_ms() + d;
    heap_push(c, j);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    apns_client *c = arg;
    int64_t now = apns__transport_now_ms();
    while (c->heap_len && c->heap[0]->deadline_ms <= now)
        apns__job_list_push(&c->queue, heap_pop(c));
    arm_retry(c);
    schedule_dispatch(c);
}

/* --- dispatch ------------------------------------------------------------ */

static void finish(apns_client *c, apns__job *j, const apns_result *r);

/* FCM: the jobs parked for a newer access token go back in front of the
 * queue, in their order, once the cache has one; those that waited
 * token_wait_ms are final. Polls again in TOKEN_POLL_MS while any wait. */
static void release_token_waiters(apns_client *c)
{
    if (!c->token_wait.len)
        return;
    apns_token_cache_get(c->tokens, (int64_t)time(NULL), &c->tok);
    int64_t now = apns__transport_now_ms();
    apns__job_list ready;
    common_clist_init(&ready);
    for (common_list *n = common_list_first(&c->token_wait.head); n;) {
        common_list *next = common_list_next(&c->token_wait.head, n);
        apns__job *j = apns__job_of(n);
        if (c->tok.generation > j->token_generation) {
            apns__job_list_remove(&c->token_wait, j);
            apns__job_list_push(&ready, j);
        } else if (now >= j->deadline_ms) {
            apns__job_list_remove(&c->token_wait, j);
            apns_result r;
            memset(&r, 0, sizeof r);
            r.outcome = APNS_OUTCOME_REJECTED;
            r.status = 401;
            r.reason = APNS_REASON_FCM_ACCESS_TOKEN_EXPIRED;
            r.reason_str = apns_reason_name(r.reason);
            r.action = APNS_ACTION_PAUSE;
            clog_(c, APNS_LOG_ERROR,
                  "no new access token within %lld ms after FCM refused the last one",
                  (long long)c->token_wait_ms);
            finish(c, j, &r);
        }
        n = next;
    }
    common_clist_splice_front(&c->queue, &ready);
    if (c->token_wait.len) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = TOKEN_POLL_MS * 1000};
        evtimer_add(c->token_timer, &tv);
    }
}

static void on_token_timer(evutil_socket_t fd, short what, void *arg)
{
    apns_client *c = arg;
    (void)fd;
    (void)what;
    schedule_dispatch(c);
}

static void dispatch(apns_client *c)
{
    requeue_handed(c);
    release_token_waiters(c);
    if (!c->queue.len || c->freeing)
        return;
    if (c->tokens) {
        int rc = apns_token_cache_get(c->tokens, (int64_t)time(NULL), &c->tok);
        if (rc == APNS_EAGAIN) {
            /* An external cache without its first token: keep everything
             * queued and look again soon (the retry timer re-arms itself
             * for the heap when it fires). */
            int64_t d = c->heap_len ? c->heap[0]->deadline_ms - apns__transport_now_ms() : 100;
            if (d > 100)
                d = 100;
            if (d < 0)
                d = 0;
            struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)d * 1000};
            evtimer_add(c->retry_timer, &tv);
            return;
        }
        if (rc) {
            clog_(c, APNS_LOG_ERROR, "cannot mint a provider token: %s; failing %zu queued",
                  apns_strerror(rc), c->queue.len);
            apns__job *j;
            while ((j = apns__job_list_pop(&c->queue)))
                fail_job(c, j, rc);
            return;
        }
    }
    const apns_token *tok = c->tokens ? &c->tok : NULL;
    /* Round-robin over open connections with capacity: one job to each per
     * pass, which fills the least-loaded ones first when capacities differ
     * only by what is in flight. */
    unsigned start = c->rr++ % c->nslots; /* no connection is always first */
    for (;;) {
        int progress = 0;
        for (unsigned n = 0; n < c->nslots && c->queue.len; n++) {
            struct conn *k = c->slots[(start + n) % c->nslots].active;
            if (!k || !apns__transport_capacity(k->t))
                continue;
            apns__job *j = apns__job_list_pop(&c->queue);
            int before = j->attempts;
            int rc = apns__transport_submit(k->t, j, tok);
            if (apns__transport_job_error(rc)) {
                j->attempts = before;
                fail_job(c, j, rc);
                progress = 1;
                continue;
            }
            if (rc) {
                j->attempts = before;
                apns__job_list_push_front(&c->queue, j);
                if (rc != APNS_EAGAIN)
                    clog_(c, APNS_LOG_WARN, "cannot open a stream on %s: %s",
                          apns__transport_peer(k->t), apns_strerror(rc));
                continue;
            }
            progress = 1;
        }
        if (!progress || !c->queue.len)
            break;
    }
}

static void on_dispatch(evutil_socket_t fd, short what, void *arg)
{
    apns_client *c = arg;
    c->dispatch_scheduled = 0;
    dispatch(c);
}

static void on_credit_ev(evutil_socket_t fd, short what, void *arg)
{
    apns_client *c = arg;
    c->credit_scheduled = 0;
    if (!c->credit_wanted || !c->free_list.len || c->draining || !c->on_credit)
        return;
    c->credit_wanted = 0;
    c->on_credit(c, c->free_list.len, c->ud); /* last: may free c */
}

/* --- connections --------------------------------------------------------- */

static void conn_on_result(void *ud, apns__job *job, const apns_result *r);
static void conn_on_handback(void *ud, apns__job *job, apns__handback why);
static void conn_on_peer_end(void *ud, const apns__peer_end *e);
static void conn_on_log(void *ud, apns_log_level level, const char *msg);
static void conn_on_up(void *ud, apns__transport *t);
static void conn_on_ready(void *ud, apns__transport *t);
static void conn_on_closed(void *ud, apns__transport *t, int err, const char *detail);

static void schedule_reconnect(struct slot *s);

static void open_conn(struct slot *s)
{
    apns_client *c = s->c;
    if (c->drained || c->freeing)
        return;
    struct conn *k = calloc(1, sizeof *k);
    if (!k) {
        clog_(c, APNS_LOG_ERROR, "out of memory opening a connection");
        schedule_reconnect(s);
        return;
    }
    k->c = c;
    k->slot = (int)(s - c->slots);
    apns__transport_opts o = {
        .ep = &c->ep,
        .proxy_host = c->proxy_host,
        .proxy_port = c->proxy_port,
        .cls = c->cls,
        .cfg = c->cfg,
    };
    apns__transport_callbacks cb = {
        .core = {.on_result = conn_on_result,
                 .on_handback = conn_on_handback,
                 .on_peer_end = conn_on_peer_end,
                 .on_log = conn_on_log},
        .on_up = conn_on_up,
        .on_ready = conn_on_ready,
        .on_closed = conn_on_closed,
    };
    int rc = apns__transport_new(&k->t, &o, &cb, k);
    if (rc) {
        free(k);
        clog_(c, APNS_LOG_ERROR, "cannot start a connection: %s", apns_strerror(rc));
        schedule_reconnect(s);
        return;
    }
    common_list_push_front(&c->conns, &k->link);
    s->active = k;
}

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
    open_conn(arg);
}

static void schedule_reconnect(struct slot *s)
{
    apns_client *c = s->c;
    if (c->drained || c->freeing)
        return;
    int64_t d = common_backoff_ms(RECONNECT_BASE_MS, RECONNECT_MAX_MS, ++s->failures, &c->rng);
    struct timeval tv = {.tv_sec = (time_t)(d / 1000), .tv_usec = (suseconds_t)(d % 1000) * 1000};
    clog_(c, APNS_LOG_DEBUG, "connection slot %d: reconnecting in %lld ms", (int)(s - c->slots),
          (long long)d);
    evtimer_add(s->timer, &tv);
}

static int conn_healthy(const struct conn *k)
{
    return k->healthy || (k->up && apns__transport_now_ms() - k->up_at >= HEALTHY_AFTER_MS);
}

/* Takes k out of its slot (it keeps running until it finishes) and lets the
 * slot open a replacement. */
static void conn_detach(struct conn *k)
{
    if (k->slot < 0)
        return;
    apns_client *c = k->c;
    struct slot *s = &c->slots[k->slot];
    k->slot = -1;
    s->active = NULL;
    if (conn_healthy(k))
        s->failures = 0;
    schedule_reconnect(s);
}

static void conn_retire(struct conn *k)
{
    conn_detach(k);
    apns__transport_shutdown(k->t);
}

static void conn_on_up(void *ud, apns__transport *t)
{
    struct conn *k = ud;
    apns_client *c = k->c;
    k->up = 1;
    k->up_at = apns__transport_now_ms();
    c->stats.connects++;
    c->stats.connections_up++;
    /* A core without a handshake (binary) takes notifications as soon as
     * TLS is up; the transport writes after. */
    if ((c->queue.len || c->handed.len) && apns__transport_capacity(t))
        dispatch(c);
}

static void conn_on_ready(void *ud, apns__transport *t)
{
    struct conn *k = ud;
    if (!k->proven && k->c->cls->handshake && apns__transport_is_open(t)) {
        k->proven = 1;
        k->c->tls_fails = 0;
    }
    if (k->c->queue.len || k->c->handed.len)
        dispatch(k->c);
}

static void conn_on_closed(void *ud, apns__transport *t, int err, const char *detail)
{
    struct conn *k = ud;
    apns_client *c = k->c;
    if (k->up) {
        c->stats.connections_up--;
        c->stats.disconnects++;
    }
    if (err) {
        apns_log_level lvl = APNS_LOG_WARN;
        if (err == APNS_EVERIFY || err == APNS_EALPN || err == APNS_ECERT)
            lvl = APNS_LOG_ERROR;
        clog_(c, lvl, "connection to %s:%u closed: %s (%s)", c->ep.host, c->ep.port, detail,
              apns_err_name(err));
    } else {
        clog_(c, APNS_LOG_INFO, "connection to %s:%u closed: %s", c->ep.host, c->ep.port, detail);
    }
    common_list_remove(&k->link);
    int healthy = conn_healthy(k) || k->proven;
    int slot = k->slot;
    conn_detach(k);
    apns__transport_free(t);
    free(k);
    if (healthy && err == 0 && slot >= 0 && !c->slots[slot].active) {
        /* The server ended a healthy connection the protocol's normal way
         * while it was still in its slot: a binary error packet, which
         * settles the notification it names (so this cannot spin). Replace
         * it at once: the rewound tail is waiting. */
        evtimer_del(c->slots[slot].timer);
        open_conn(&c->slots[slot]);
    }
    if (healthy) {
        c->tls_fails = 0;
    } else if (err == APNS_EVERIFY || err == APNS_EALPN || err == APNS_ETLS || err == APNS_EPROXY) {
        /* APNs (or whoever answers) refuses us at the TLS level: revoked or
         * wrong certificate, untrusted server, no HTTP/2; or the proxy
         * refuses CONNECT. Waiting will not help, so after a few attempts
         * in a row the queued notifications fail with that error instead of
         * waiting forever; later submits still get their chance on the next
         * attempts. Network trouble (DNS, connect, timeouts) keeps waiting. */
        requeue_handed(c);
        if (++c->tls_fails >= TLS_FAILS_TO_GIVE_UP && c->stats.connections_up == 0 &&
            c->queue.len) {
            clog_(c, APNS_LOG_ERROR,
                  "connection refused %d times in a row: failing %zu queued "
                  "notification(s) with %s",
                  c->tls_fails, c->queue.len, apns_err_name(err));
            apns__job *j;
            while ((j = apns__job_list_pop(&c->queue)))
                fail_job(c, j, err);
            return;
        }
    }
    if (c->queue.len || c->handed.len)
        schedule_dispatch(c);
}

static void conn_on_log(void *ud, apns_log_level level, const char *msg)
{
    struct conn *k = ud;
    if (k->c->on_log)
        k->c->on_log(level, msg, k->c->ud);
}

static void conn_on_peer_end(void *ud, const apns__peer_end *e)
{
    struct conn *k = ud;
    apns_client *c = k->c;
    if (c->freeing)
        return;
    c->peer_ends[e->kind]++;
    clog_(c, e->level, "%s from %s: replacing the connection", e->text, apns__transport_peer(k->t));
    /* A finishing connection answers what the notice spares, then closes:
     * the slot opens a replacement now. Otherwise the transport closes it
     * right after the per-job callbacks, and on_closed replaces it. */
    if (e->finishing)
        conn_detach(k);
}

/* The loop guard: 1 when job may be resent once more for a
 * connection-level reason (and counts it), 0 when it has used MAX_RESENDS. */
static int may_resend(apns__job *job)
{
    if (job->resends >= MAX_RESENDS)
        return 0;
    job->resends++;
    return 1;
}

/* An answer that blames the connection or the credential: 1 when job goes
 * to the front of the queue (loop guard permitting), 0 when it is final. */
static int resend_now(apns_client *c, apns__job *job)
{
    if (!may_resend(job))
        return 0;
    c->stats.retried++;
    apns__job_list_push_front(&c->queue, job);
    schedule_dispatch(c);
    return 1;
}

/* A retryable answer (RETRY, or a REFRESH_TOKEN that can only wait): 1 when
 * the job waits for another try (counted), 0 when it used retry.max_attempts
 * and the answer is final. */
static int may_retry(apns_client *c, apns__job *job, int64_t min_ms)
{
    if (++job->retries >= c->max_attempts)
        return 0;
    c->stats.retried++;
    wait_retry(c, job, job->retries, min_ms);
    return 1;
}

int64_t apns__client_min_wait_ms(int fcm, const apns_result *r)
{
    if (r->retry_after_s > 0)
        return r->retry_after_s * 1000 > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS
                                                            : r->retry_after_s * 1000;
    return fcm && r->status == 429 ? FCM_QUOTA_MIN_MS : 0;
}

/* FCM: our access token was refused. 1 when job waits for a newer one
 * (apns_token_cache_expired() called once), 0 when the answer is final. */
static int fcm_refresh(apns_client *c, apns__job *job)
{
    if (job->refreshed || !may_resend(job))
        return 0;
    job->refreshed = 1;
    /* Every stream in flight with that token gets the same 401: tell the
     * cache once per generation. */
    if (job->token_generation != c->expired_gen) {
        c->expired_gen = job->token_generation;
        int minted =
            apns_token_cache_expired(c->tokens, job->token_generation, (int64_t)time(NULL));
        clog_(c, APNS_LOG_INFO,
              "FCM refused access token generation %llu: %s; waiting for a newer one",
              (unsigned long long)job->token_generation,
              minted ? "a new one will be minted" : "the cache's owner replaces it");
    }
    c->stats.retried++;
    job->deadline_ms = apns__transport_now_ms() + c->token_wait_ms;
    apns__job_list_push(&c->token_wait, job);
    schedule_dispatch(c);
    return 1;
}

static void conn_on_handback(void *ud, apns__job *job, apns__handback why)
{
    struct conn *k = ud;
    apns_client *c = k->c;
    if (c->freeing)
        return;
    c->handbacks[why]++;
    job->conn = NULL;
    job->stream_id = 0;
    if (apns__handback_guarded(why) && !may_resend(job)) {
        clog_(c, APNS_LOG_WARN,
              "notification %s to %.16s... was sent %d times without an answer: giving up",
              job->n.apns_id,
              job->n.channel_id ? job->channel_id
              : job->n.token    ? job->n.token
                                : "",
              job->attempts);
        fail_job(c, job, APNS_ERETRIES);
        return;
    }
    c->stats.resent++;
    apns__job_list_push(&c->handed, job);
    schedule_dispatch(c);
}

static void conn_on_result(void *ud, apns__job *job, const apns_result *r)
{
    struct conn *k = ud;
    apns_client *c = k->c;
    if (c->freeing)
        return;
    k->healthy = 1;
    job->conn = NULL;
    job->stream_id = 0;
    apns_result final;
    switch (r->action) {
    case APNS_ACTION_RETRY:
        if (may_retry(c, job, apns__client_min_wait_ms(c->fcm, r)))
            return;
        break;
    case APNS_ACTION_RECONNECT:
        conn_retire(k);
        if (resend_now(c, job))
            return;
        break;
    case APNS_ACTION_REFRESH_TOKEN:
        if (!c->tokens)
            break;
        if (c->fcm) {
            if (fcm_refresh(c, job))
                return;
            /* refused again after a refresh: the credentials are wrong */
            final = *r;
            final.action = APNS_ACTION_PAUSE;
            finish(c, job, &final);
            return;
        }
        if (apns_token_cache_expired(c->tokens, job->token_generation, (int64_t)time(NULL))) {
            clog_(c, APNS_LOG_INFO, "ExpiredProviderToken: minting a new provider token");
            if (resend_now(c, job))
                return;
            break;
        }
        /* Already replaced, or too young to replace (clock skew?): only
         * waiting is left. */
        if (may_retry(c, job, 0))
            return;
        break;
    case APNS_ACTION_PAUSE:
        clog_(c, APNS_LOG_ERROR, "%s refused the credentials: %d %s", c->fcm ? "FCM" : "APNs",
              r->status, r->reason_str ? r->reason_str : "");
        break;
    default:
        break;
    }
    finish(c, job, r);
}

/* --- public API ---------------------------------------------------------- */

void apns_client_opts_init(apns_client_opts *o)
{
    memset(o, 0, sizeof *o);
}

static void client_destroy(apns_client *c)
{
    c->freeing = 1;
    for (common_list *n; (n = common_list_first(&c->conns)) != NULL;) {
        struct conn *k = COMMON_CONTAINER_OF(n, struct conn, link);
        common_list_remove(n);
        apns__transport_free(k->t);
        free(k);
    }
    for (unsigned i = 0; c->slots && i < c->nslots; i++)
        if (c->slots[i].timer)
            event_free(c->slots[i].timer);
    if (c->ev_dispatch)
        event_free(c->ev_dispatch);
    if (c->ev_credit)
        event_free(c->ev_credit);
    if (c->ev_drain)
        event_free(c->ev_drain);
    if (c->retry_timer)
        event_free(c->retry_timer);
    if (c->token_timer)
        event_free(c->token_timer);
    apns__endpoint_cleanup(&c->ep);
    for (size_t i = 0; c->jobs && i < c->njobs; i++)
        free(c->jobs[i].payload);
    free(c->jobs);
    free(c->heap);
    free(c->slots);
    if (c->cfg)
        c->cls->config_free(c->cfg);
    free(c->proxy_host);
    free(c);
}

static void on_drain_ev(evutil_socket_t fd, short what, void *arg);

int apns_client_new(apns_client **out, struct event_base *base, const apns_client_opts *o,
                    char *detail, size_t detail_len)
{
    *out = NULL;
    if (detail && detail_len)
        detail[0] = '\0';
    if (!base || !o || !o->on_result) {
        apns__set_detail(detail, detail_len, "on_result is required");
        return APNS_EINVAL;
    }
    int cert_auth = o->cert_file || o->p12_file;
    if (!!o->tokens == !!cert_auth) {
        apns__set_detail(detail, detail_len,
                         o->tokens ? "give either a token cache or a client certificate, not both"
                                   : "no credentials: give a token cache or a client certificate");
        return APNS_EINVAL;
    }
    if (o->provider != APNS_PROVIDER_APNS && o->provider != APNS_PROVIDER_FCM) {
        apns__set_detail(detail, detail_len, "provider %d is not a known value", (int)o->provider);
        return APNS_EINVAL;
    }
    const int fcm = o->provider == APNS_PROVIDER_FCM;
    if (fcm && (cert_auth || o->transport != APNS_TRANSPORT_HTTP2)) {
        apns__set_detail(detail, detail_len,
                         cert_auth ? "FCM takes a token cache (OAuth2 access tokens), not a "
                                     "client certificate"
                                   : "FCM speaks HTTP/2 only");
        return APNS_EINVAL;
    }
    if (o->h2c && cert_auth) {
        apns__set_detail(detail, detail_len, "h2c (plaintext) cannot carry a client certificate");
        return APNS_EINVAL;
    }
    const apns__core_class *cls;
    int rc = apns__core_class_find(o->transport, &cls, detail, detail_len);
    if (rc)
        return rc;
    unsigned nslots = o->connections ? o->connections : 1;
    size_t njobs = o->max_pending ? o->max_pending : (size_t)cls->slots * nslots;
    void *cfg = NULL;
    rc = cls->config_new(&cfg, o, njobs, detail, detail_len);
    if (rc)
        return rc;
    const int bc = o->publish_host == APNS_PUBLISH_HOST_BROADCAST && cls->host_broadcast_production;
    if (o->publish_host != APNS_PUBLISH_HOST_PUSH &&
        o->publish_host != APNS_PUBLISH_HOST_BROADCAST) {
        cls->config_free(cfg);
        apns__set_detail(detail, detail_len, "publish_host %d is not a known value",
                         (int)o->publish_host);
        return APNS_EINVAL;
    }
    const char *host =
        fcm ? apns__endpoint_host(o->env, o->host, APNS_FCM_HOST, APNS_FCM_HOST, detail, detail_len)
            : apns__endpoint_host(
                  o->env, o->host, bc ? cls->host_broadcast_production : cls->host_production,
                  bc ? cls->host_broadcast_sandbox : cls->host_sandbox, detail, detail_len);
    apns_client *c = host ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        cls->config_free(cfg);
        return host ? APNS_ENOMEM : APNS_EINVAL;
    }
    common_clist_init(&c->free_list);
    common_clist_init(&c->queue);
    common_clist_init(&c->handed);
    common_clist_init(&c->token_wait);
    common_list_init(&c->conns);
    c->fcm = fcm;
    c->fcm_validate_only = fcm && o->fcm_validate_only;
    c->token_wait_ms = 2 * (o->stream_timeout_ms > 0 ? o->stream_timeout_ms : 30000);
    c->base = base;
    c->cls = cls;
    c->cfg = cfg;
    c->nslots = nslots;
    c->njobs = njobs;
    rc = apns__endpoint_init(&c->ep, base, host, o->port ? o->port : cls->port);
    if (rc)
        goto fail;
    rc = APNS_ENOMEM;
    if (o->proxy && *o->proxy) {
        rc = apns__transport_proxy_parse(o->proxy, &c->proxy_host, &c->proxy_port);
        if (rc) {
            apns__set_detail(detail, detail_len, "proxy \"%s\": expected host:port", o->proxy);
            goto fail;
        }
    }
    c->ep.insecure_skip_verify = o->insecure_skip_verify;
    c->ep.connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
    c->retry = o->retry;
    c->max_attempts = o->retry.max_attempts > 0 ? o->retry.max_attempts : DEFAULT_MAX_ATTEMPTS;
    c->tokens = o->tokens;
    c->on_result = o->on_result;
    c->on_credit = o->on_credit;
    c->on_log = o->on_log;
    c->ud = o->ud;
    c->rng = common_rng_seed();

    apns__tls_opts tls = APNS__TLS_OPTS_OF(o, !cls->alpn_h2);
    rc = apns__endpoint_setup(&c->ep, o->h2c ? NULL : &tls, detail, detail_len);
    if (rc)
        goto fail;
    rc = APNS_ENOMEM;

    c->jobs = calloc(c->njobs, sizeof *c->jobs);
    c->heap = calloc(c->njobs, sizeof *c->heap);
    c->slots = calloc(c->nslots, sizeof *c->slots);
    c->ev_dispatch = event_new(base, -1, 0, on_dispatch, c);
    c->ev_credit = event_new(base, -1, 0, on_credit_ev, c);
    c->ev_drain = event_new(base, -1, 0, on_drain_ev, c);
    c->retry_timer = evtimer_new(base, on_retry_timer, c);
    c->token_timer = evtimer_new(base, on_token_timer, c);
    if (!c->jobs || !c->heap || !c->slots || !c->ev_dispatch || !c->ev_credit || !c->ev_drain ||
        !c->retry_timer || !c->token_timer)
        goto fail;
    for (size_t i = 0; i < c->njobs; i++)
        apns__job_list_push(&c->free_list, &c->jobs[i]);
    for (unsigned i = 0; i < c->nslots; i++) {
        struct slot *s = &c->slots[i];
        s->c = c;
        s->failures = 0;
        s->timer = evtimer_new(base, on_reconnect_timer, s);
        if (!s->timer)
            goto fail;
    }
    for (unsigned i = 0; i < c->nslots; i++)
        open_conn(&c->slots[i]);
    clog_(c, APNS_LOG_INFO, "%s client for %s:%u%s%s: %u connection(s), %zu slots, %s auth%s%s",
          fcm ? "FCM" : "APNs", c->ep.host, c->ep.port, c->proxy_host ? " via proxy " : "",
          c->proxy_host ? c->proxy_host : "", c->nslots, c->njobs,
          c->tokens ? "token" : "certificate", cls->label ? ", " : "",
          cls->label ? cls->label(cfg) : "");
    *out = c;
    return 0;
fail:
    if (rc == APNS_ENOMEM && detail && detail_len && !detail[0])
        apns__set_detail(detail, detail_len, "out of memory");
    client_destroy(c);
    return rc;
}

static int enqueue(apns_client *c, const apns_notification *n, apns__op op);
static int enqueue_job(apns_client *c, apns__job *j);

static int submit_fcm(apns_client *c, const apns_notification *n)
{
    char detail[256];
    char *d = c->on_log ? detail : NULL;
    size_t tlen = n->token ? strnlen(n->token, APNS_FCM_TOKEN_MAX + 1) : 0;
    int rc = apns_fcm_token_check(n->token, tlen, d, sizeof detail);
    if (rc == 0) {
        int same = n->payload != NULL && n->payload_len == c->checked_payload_len &&
                   memcmp(n->payload, c->checked_payload, n->payload_len) == 0;
        if (!same) {
            rc = apns_fcm_fields_validate(n->payload, n->payload_len, d, sizeof detail);
            if (rc == 0 && n->payload_len <= sizeof c->checked_payload) {
                memcpy(c->checked_payload, n->payload, n->payload_len);
                c->checked_payload_len = n->payload_len;
            }
        }
    }
    if (rc) {
        if (d)
            clog_(c, APNS_LOG_DEBUG, "submit refused: %s", detail);
        return rc;
    }
    return enqueue(c, n, APNS__OP_FCM_SEND);
}

int apns_client_submit(apns_client *c, const apns_notification *n)
{
    if (c->draining || c->freeing)
        return APNS_ESHUTDOWN;
    if (c->fcm)
        return submit_fcm(c, n);
    char detail[256];
    /* A broadcast submits the same payload bytes for every token: the JSON
     * check (a fifth of the submit path's instructions) runs once per
     * distinct payload, a memcmp decides whether it is the same one. */
    int same_payload = n->payload != NULL && n->payload_len == c->checked_payload_len &&
                       memcmp(n->payload, c->checked_payload, n->payload_len) == 0;
    int rc = apns__notification_validate(n, c->tokens != NULL, same_payload,
                                         c->on_log ? detail : NULL, sizeof detail);
    if (rc == 0 && !same_payload && n->payload_len <= sizeof c->checked_payload) {
        memcpy(c->checked_payload, n->payload, n->payload_len);
        c->checked_payload_len = n->payload_len;
    }
    if (rc) {
        if (c->on_log)
            clog_(c, APNS_LOG_DEBUG, "submit refused: %s", detail);
        return rc;
    }
    if (c->cls->check) {
        rc = c->cls->check(c->cfg, n, c->on_log ? detail : NULL, sizeof detail);
        if (rc) {
            clog_(c, APNS_LOG_DEBUG, "submit refused: %s", detail);
            return rc;
        }
    }
    return enqueue(c, n, APNS__OP_PUSH);
}

/* Copies n into a free slot and queues it (n already checked). */
/* Copies an FCM notification into slot j: the request body, then the token
 * (job.h). Returns 0 or APNS_ENOMEM. */
static int fill_fcm(apns_client *c, apns__job *j, const apns_notification *n, size_t tlen)
{
    size_t blen = apns__fcm_body_size(n->token, tlen, n->payload_len, c->fcm_validate_only);
    size_t need = blen + 1 + tlen + 1;
    if (j->payload_cap < need) {
        size_t cap = (need + 511) & ~(size_t)511;
        char *p = realloc(j->payload, cap);
        if (!p)
            return APNS_ENOMEM;
        j->payload = p;
        j->payload_cap = cap;
    }
    void *ud = n->user_data;
    memset(&j->n, 0, sizeof j->n);
    j->n.user_data = ud;
    j->n.expiration = APNS_EXPIRATION_NONE;
    memcpy(j->n.apns_id, n->apns_id, sizeof j->n.apns_id);
    j->n.apns_id[APNS_UUID_LEN] = '\0';
    blen = apns__fcm_body_write(j->payload, n->token, tlen, n->payload, n->payload_len,
                                c->fcm_validate_only);
    j->payload[blen] = '\0';
    memcpy(j->payload + blen + 1, n->token, tlen);
    j->payload[blen + 1 + tlen] = '\0';
    j->n.payload = j->payload;
    j->n.payload_len = blen;
    j->n.token = j->payload + blen + 1;
    return 0;
}

static int enqueue(apns_client *c, const apns_notification *n, apns__op op)
{
    if (op == APNS__OP_FCM_SEND) {
        size_t tlen = strlen(n->token);
        apns__job *j = apns__job_list_pop(&c->free_list);
        if (!j) {
            c->credit_wanted = 1;
            return APNS_EAGAIN;
        }
        if (fill_fcm(c, j, n, tlen) != 0) {
            apns__job_list_push_front(&c->free_list, j);
            return APNS_ENOMEM;
        }
        j->op = op;
        return enqueue_job(c, j);
    }
    size_t tlen = n->token ? strlen(n->token) : 0;
    size_t plen = n->topic ? strlen(n->topic) : 0;
    size_t clen = n->collapse_id ? strlen(n->collapse_id) : 0;
    size_t hlen = n->channel_id ? strlen(n->channel_id) : 0;
    if (tlen > APNS_TOKEN_HEX_MAX || plen > APNS_TOPIC_MAX || clen > APNS_COLLAPSE_ID_MAX ||
        hlen > APNS_CHANNEL_ID_MAX)
        return APNS_EINVAL; /* validate() already refuses these */
    apns__job *j = apns__job_list_pop(&c->free_list);
    if (!j) {
        c->credit_wanted = 1;
        return APNS_EAGAIN;
    }
    if (j->payload_cap < n->payload_len) {
        size_t cap = (n->payload_len + 511) & ~(size_t)511;
        char *p = realloc(j->payload, cap);
        if (!p) {
            apns__job_list_push_front(&c->free_list, j);
            return APNS_ENOMEM;
        }
        j->payload = p;
        j->payload_cap = cap;
    }
    j->n = *n;
    j->op = op;
    /* Lower case: the token is validated hex (common/token.h). */
    common_token_lower(n->token, tlen, j->token);
    j->token[tlen] = '\0';
    j->n.token = n->token ? j->token : NULL;
    if (n->topic) {
        memcpy(j->topic, n->topic, plen + 1);
        j->n.topic = j->topic;
    }
    if (n->collapse_id) {
        memcpy(j->collapse_id, n->collapse_id, clen + 1);
        j->n.collapse_id = j->collapse_id;
    }
    if (n->channel_id) {
        memcpy(j->channel_id, n->channel_id, hlen + 1);
        j->n.channel_id = j->channel_id;
    }
    if (n->payload_len)
        memcpy(j->payload, n->payload, n->payload_len);
    j->n.payload = j->payload;
    return enqueue_job(c, j);
}

/* Resets the per-send state of a filled slot and queues it. */
static int enqueue_job(apns_client *c, apns__job *j)
{
    if (!j->n.apns_id[0])
        make_uuid(c, j->n.apns_id);
    j->refreshed = 0;
    j->attempts = 0;
    j->token_generation = 0;
    j->stream_id = 0;
    j->body_sent = 0;
    j->deadline_ms = 0;
    j->conn = NULL;
    j->resends = 0;
    j->retries = 0;
    apns__job_list_push(&c->queue, j);
    c->stats.submitted++;
    schedule_dispatch(c);
    return 0;
}

int apns__client_submit_op(apns_client *c, const apns_notification *n, apns__op op)
{
    if (c->draining || c->freeing)
        return APNS_ESHUTDOWN;
    return enqueue(c, n, op);
}

size_t apns_client_credit(const apns_client *c)
{
    return (c->draining || c->freeing) ? 0 : c->free_list.len;
}

size_t apns_client_pending(const apns_client *c)
{
    return pending(c);
}

void apns_client_stats_get(const apns_client *c, apns_client_stats *s)
{
    *s = c->stats;
    s->refused_streams = c->handbacks[APNS__HB_REFUSED];
    s->stream_timeouts = c->handbacks[APNS__HB_TIMEOUT];
    s->goaways = c->peer_ends[APNS__END_GOAWAY];
    s->error_packets = c->peer_ends[APNS__END_ERROR_PACKET];
    s->in_flight = 0;
    for (common_list *n = common_list_first(&c->conns); n; n = common_list_next(&c->conns, n))
        s->in_flight += apns__transport_in_flight(COMMON_CONTAINER_OF(n, struct conn, link)->t);
}

static void on_drain_ev(evutil_socket_t fd, short what, void *arg)
{
    apns_client *c = arg;
    if (c->drained || pending(c) != 0)
        return;
    c->drained = 1;
    clog_(c, APNS_LOG_INFO, "drained: closing %u connection(s)", c->stats.connections_up);
    for (common_list *n; (n = common_list_first(&c->conns)) != NULL;) {
        struct conn *k = COMMON_CONTAINER_OF(n, struct conn, link);
        common_list_remove(n);
        if (k->up) {
            c->stats.connections_up--;
            c->stats.disconnects++;
        }
        apns__transport_free(k->t);
        free(k);
    }
    for (unsigned i = 0; i < c->nslots; i++) {
        c->slots[i].active = NULL;
        evtimer_del(c->slots[i].timer);
    }
    evtimer_del(c->retry_timer);
    if (c->on_drained)
        c->on_drained(c, c->ud); /* last: may free c */
}

void apns_client_drain(apns_client *c, void (*on_drained)(apns_client *c, void *ud))
{
    if (c->draining)
        return;
    c->draining = 1;
    c->on_drained = on_drained;
    clog_(c, APNS_LOG_INFO, "draining: %zu notification(s) pending", pending(c));
    check_drained(c);
}

void apns_client_free(apns_client *c)
{
    if (c)
        client_destroy(c);
}
