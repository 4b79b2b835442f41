/*
 * dispatch_send.c - feeding an app's client and judging its answers.
 *
 * Feed: the held chunks by turn (gw__d_app_take), each from its cursor: not
 * due -> skip;
 * an expiration the API never accepts (a store written by something else)
 * -> FAILED "invalid_expiration", never sent; expired -> EXPIRED, never
 * sent; else submit within the rate limit (token
 * bucket, burst of a tenth of a second) and the client's credit
 * (APNS_EAGAIN -> on_credit). A paused app sends nothing, except one probe
 * token once its probe time has come.
 *
 * Answers: see the table in dispatch.c. Every outcome is queued for the
 * next record batch before the flight ends, so a chunk is never released
 * with an answer not yet on its way to the queue.
 */
#include "dispatch_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

void gw__d_feed_soon(gw_app *a)
{
    event_active(a->feed_ev, EV_TIMEOUT, 0);
}

int gw__d_app_hungry(gw_app *a)
{
    if (a->retiring || a->d->draining || gw__d_held(a->d))
        return 0;
    if (a->d->hold_ms != 0 && a->chunks.len > 0)
        return 0; /* after a hold: the chunks held are enough to probe with */
    if (a->team != NULL && !gw__d_fleet_ready(a->team))
        return 0; /* no provider token from the fleet yet */
    if (a->fcm != NULL && !a->fcm->ready)
        return 0; /* no FCM access token yet */
    if (a->paused)
        return a->paused == GW_D_PROBING && a->chunks.len == 0;
    return a->unsent < apns_client_credit(a->client);
}

/* A held chunk's turn in the feed order (gw__d_app_take): its seq, 0 for a
 * later chunk due since before `aged` (then *is_aged is 1). */
static uint32_t feed_turn(const gw_chunk *c, int64_t aged, int *is_aged)
{
    const int64_t due = c->send_at_ms > c->created_ms ? c->send_at_ms : c->created_ms;
    const int old = c->seq > 0 && due < aged;

    if (is_aged != NULL)
        *is_aged = old;
    return old ? 0u : c->seq;
}

/* Whether the held chunk before p is a job's first chunk. */
static int first_before(const gw_app *a, const common_list *p)
{
    const gw_dchunk *o;

    if (p->prev == &a->chunks.head)
        return 0;
    o = COMMON_CONTAINER_OF(p->prev, gw_dchunk, link);
    return o->c != NULL && o->c->seq == 0;
}

void gw__d_app_take(gw_app *a, gw_chunk *c)
{
    gw_dchunk *dc = calloc(1, sizeof(*dc));

    if (dc == NULL) {
        gw__d_release_raw(a->d, c, gw__d_now() + GW_D_LEASE_ERROR_MS);
        return;
    }
    dc->c = c;
    dc->app = a;
    /* By turn, like the lease (docs/queue.md, Scheduling): after the held
     * chunks of its turn or an earlier one, before those of later turns,
     * so a job's first chunk does not wait for a broadcast's chunks this
     * app already holds (at most cap: the walk is short). The age rule of
     * the lease: a later chunk due for longer than GW_QUEUE_AGE_MS (from its
     * job's send_at or submit; a retried chunk counts from there too) is in
     * the first turn, and a first chunk passes such an aged chunk only
     * where no first chunk stands right before it: aged chunks and new
     * first chunks alternate, so first chunks coming all the time never keep
     * a held chunk back for ever, and a broadcast that has run for 5 s does
     * not put all its held chunks before a new login code. Turns are read
     * at each take: a held chunk that aged since its own take is no longer
     * passed over by later turns. */
    const int64_t aged = gw__d_now() - GW_QUEUE_AGE_MS;
    const uint32_t turn = feed_turn(c, aged, NULL);
    common_list *at = &a->chunks.head;
    for (common_list *p = at->prev; p != &a->chunks.head; p = p->prev) {
        const gw_dchunk *o = COMMON_CONTAINER_OF(p, gw_dchunk, link);
        int o_aged;

        if (o->c == NULL)
            break;
        if (feed_turn(o->c, aged, &o_aged) <= turn &&
            !(c->seq == 0 && o_aged && !first_before(a, p)))
            break;
        at = p;
    }
    common_list_insert_before(at, &dc->link);
    a->chunks.len++;
    a->unsent += c->n_tokens;
    gw__d_feed_soon(a);
}

/* ---- flights ------------------------------------------------------------- */

static void end_flight(gw_app *a, gw_flight *f)
{
    gw_dchunk *dc = f->dc;

    f->dc = NULL;
    f->next = a->free_flights;
    a->free_flights = f;
    dc->in_flight--;
    a->in_flight--;
    if (a->starved)
        gw__d_feed_soon(a);
    gw__d_chunk_check(dc);
}

/* A channel publish goes to its channel (POST /4/broadcasts/apps/<bundle
 * id>) through gw__d_client_for's client; its entry's token is the queue's
 * placeholder, never sent. */
static int submit(gw_app *a, gw_flight *f)
{
    const gw_chunk *c = f->dc->c;
    char tok[GW_TOKEN_TEXT_MAX], detail[320];
    apns_notification n;
    apns_client *client = gw__d_client_for(a, c, detail, sizeof detail);

    if (client == NULL) {
        if (!a->pub_failed)
            gw_log(GW_LOG_ERROR, "dispatch", detail, "app", a->name, NULL);
        a->pub_failed = 1;
        return APNS_ECONFIG;
    }
    apns_notification_init(&n);
    if (c->channel != NULL) {
        n.channel_id = c->channel;
    } else {
        /* An FCM app's tokens are registration tokens, kept verbatim, and
         * its payload the message's fields (apns/fcm.h); topic and the rest
         * unused. */
        if ((a->fcm != NULL) != gw_chunk_token_raw(c, f->idx) ||
            gw_chunk_token_text(c, f->idx, tok, sizeof tok) == 0)
            return APNS_EBADTOKEN;
        n.token = tok;
    }
    n.topic = c->topic != NULL ? c->topic : a->topic;
    n.push_type = c->push_type;
    n.priority = c->priority;
    n.expiration = c->expiration;
    n.collapse_id = c->collapse_id;
    gw_apns_id_at(&f->dc->feed_id, c->apns_id_base, (uint64_t)c->first + f->idx, n.apns_id);
    n.payload = c->payload;
    n.payload_len = c->payload_len;
    n.user_data = f;
    return apns_client_submit(client, &n);
}

/* ---- rate limit ------------------------------------------------------------ */

static int rate_ok(gw_app *a, int64_t now)
{
    double burst, need;

    if (a->rate_limit == 0)
        return 1;
    burst = a->rate_limit / 10.0;
    if (burst < 1)
        burst = 1;
    if (now > a->bucket_ms)
        a->bucket += (double)(now - a->bucket_ms) * a->rate_limit / 1000.0;
    a->bucket_ms = now;
    if (a->bucket > burst)
        a->bucket = burst;
    if (a->bucket >= 1)
        return 1;
    need = ceil((1 - a->bucket) * 1000.0 / a->rate_limit);
    if (!evtimer_pending(a->rate_ev, NULL))
        gw_timer_in(a->rate_ev, need < 1 ? 1 : (int64_t)need);
    return 0;
}

/* ---- feeding ----------------------------------------------------------------- */

static void advance(gw_dchunk *dc)
{
    dc->cursor++;
    dc->app->unsent--;
}

void gw__d_feed_cb(int fd, short what, void *ud)
{
    gw_app *a = ud;
    gw_dispatch *d = a->d;
    int64_t now = gw__d_now();
    int budget = GW_D_FEED_MAX;
    gw_dchunk *dc;

    a->starved = 0;
    if (gw__d_held(d))
        return; /* answers cannot be stored now: the hold's end feeds again */
    if (a->retiring || d->draining || (a->paused && a->paused != GW_D_PROBING))
        return;

    for (dc = gw__d_chunk_next(a, NULL); dc != NULL && budget > 0;) {
        gw_chunk *c = dc->c;
        uint32_t i;
        gw_flight *f;
        int rc;

        if (c == NULL || dc->cursor >= c->n_tokens) {
            dc = gw__d_chunk_next(a, dc);
            continue;
        }
        i = dc->cursor;
        if (!gw_chunk_token_due(c, i, now)) {
            advance(dc);
            continue;
        }
        budget--;
        if (!gw_job_expiration_ok(c->expiration)) {
            /* Never from the API (it refuses such a job): a store written
             * otherwise. Failed with a reason, never sent, never retried. */
            if (!dc->parked) {
                dc->parked = 1;
                gw_log(GW_LOG_ERROR, "dispatch",
                       "job cannot be sent (expiration out of range): its tokens fail", "app",
                       a->name, "job", c->job_id, NULL);
            }
            gw__d_emit(d, dc, i, GW_TOKEN_FAILED, 0, APNS_REASON_NONE, GW_D_REASON_EXPIRATION, 0, 0,
                       GW_DEAD_NONE);
            advance(dc);
            continue;
        }
        /* Expired? (expiration is at most GW_JOB_TIME_MAX: no overflow) */
        if (c->expiration > 0 && now > c->expiration * 1000) {
            gw__d_emit(d, dc, i, GW_TOKEN_EXPIRED, 0, APNS_REASON_NONE, NULL, 0, 0, GW_DEAD_NONE);
            advance(dc);
            continue;
        }
        if (!rate_ok(a, now))
            break;
        if (d->hold_ms != 0 && a->in_flight >= GW_D_HOLD_PROBE) {
            /* After a hold: a few notifications until an answer is stored. */
            break;
        }
        f = a->free_flights;
        if (f == NULL) {
            a->starved = 1;
            break;
        }
        f->dc = dc;
        f->idx = i;
        f->probe = a->paused != 0;
        rc = submit(a, f);
        if (rc == APNS_EAGAIN) {
            a->starved = 1;
            break;
        }
        if (rc == APNS_ENOMEM) { /* a slot's buffer could not grow: try again soon */
            gw_timer_in(a->rate_ev, 100);
            break;
        }
        advance(dc);
        if (rc != 0) { /* cannot be sent as it is (binary limits...): never sent */
            gw__d_emit(d, dc, i, GW_TOKEN_REJECTED, 0, APNS_REASON_NONE, apns_err_name(rc), 0, 0,
                       GW_DEAD_NONE);
            continue;
        }
        a->free_flights = f->next;
        f->next = NULL;
        dc->in_flight++;
        a->in_flight++;
        if (a->rate_limit > 0)
            a->bucket -= 1;
        if (a->paused) {
            a->paused = GW_D_PROBE_SENT;
            gw_log(GW_LOG_INFO, "dispatch", "probing a paused app with one notification", "app",
                   a->name, NULL);
            break;
        }
    }
    if (budget == 0)
        gw__d_feed_soon(a); /* yield to the loop, then go on */

    gw__d_app_check_chunks(a); /* chunks the cursor went through may be done */
    gw__d_maybe_lease(d);
}

void gw__d_on_credit(apns_client *c, size_t credit, void *ud)
{
    gw_app *a = ud;

    gw__d_feed_soon(a);
    gw__d_maybe_lease(a->d);
}

/* ---- pause and probe --------------------------------------------------------- */

static void resume(gw_app *a)
{
    gw_dispatch *d = a->d;

    if (a->retiring)
        return; /* probe_ev is its retire deadline now */
    a->paused = 0;
    evtimer_del(a->probe_ev);
    gw_log(GW_LOG_INFO, "dispatch", "app resumed: APNs accepts its credentials again", "app",
           a->name, NULL);
    gw_metrics_set(d->o.m, GW_M_APP_PAUSED, a->name, NULL, 0);
    gw__d_feed_soon(a);
    d->more = 1;
    gw__d_maybe_lease(d);
}

/* A credential error (f: the flight it came with, or NULL). */
static void pause_app(gw_app *a, const gw_flight *f, const char *reason)
{
    gw_dispatch *d = a->d;
    char secs[32];

    if (a->retiring)
        return; /* it is going away; the token stays pending for its successor */
    if (d->probe_ms % 1000 == 0)
        snprintf(secs, sizeof(secs), "%llds", (long long)(d->probe_ms / 1000));
    else
        snprintf(secs, sizeof(secs), "%lldms", (long long)d->probe_ms);
    if (a->paused && (f == NULL || !f->probe))
        return; /* an answer to a send from before the pause */
    if (a->paused)
        gw_log(GW_LOG_WARN, "dispatch", "probe refused: app stays paused", "app", a->name, "reason",
               reason, "next_probe_in", secs, NULL);
    else
        gw_log(GW_LOG_ERROR, "dispatch",
               "app paused: APNs refused its credentials; its notifications wait (not failed) "
               "until a probe succeeds or the config is reloaded",
               "app", a->name, "reason", reason, "next_probe_in", secs, NULL);
    a->paused = GW_D_PAUSED;
    snprintf(a->pause_reason, sizeof(a->pause_reason), "%s", reason);
    a->probe_at = gw__d_now() + d->probe_ms;
    gw_timer_in(a->probe_ev, d->probe_ms);
    gw_metrics_set(d->o.m, GW_M_APP_PAUSED, a->name, NULL, 1);
    gw__d_app_check_chunks(a);
}

/* The probe came back with no verdict on the credentials (no answer). */
static void probe_inconclusive(gw_app *a, const gw_flight *f)
{
    if (f->probe && a->paused)
        pause_app(a, f, a->pause_reason);
}

static void probe_passed(gw_app *a, const gw_flight *f)
{
    if (f->probe && a->paused)
        resume(a);
}

void gw__d_probe_cb(int fd, short what, void *ud)
{
    gw_app *a = ud;
    gw_dispatch *d = a->d;

    if (a->retiring) { /* the retire deadline */
        if (a->in_flight > 0 || a->chunks.len > 0)
            gw_log(GW_LOG_WARN, "dispatch",
                   "removed app did not finish in time: its unanswered notifications are sent "
                   "again",
                   "app", a->name, NULL);
        gw__d_force_release(a);
        a->retire_expired = 1;
        gw__d_reap_soon(d);
        return;
    }
    if (!a->paused || d->draining)
        return;
    a->paused = GW_D_PROBING; /* never after the probe went: nothing arms the timer then */
    if (a->chunks.len > 0) {
        gw__d_feed_soon(a);
    } else {
        d->more = 1;
        gw__d_maybe_lease(d);
    }
}

void gw__d_probe_now(gw_app *a)
{
    if (!a->paused || a->paused == GW_D_PROBE_SENT)
        return;
    evtimer_del(a->probe_ev);
    a->probe_at = gw__d_now();
    gw__d_probe_cb(-1, EV_TIMEOUT, a);
}

/* ---- answers ----------------------------------------------------------------- */

static gw_dead_source dead_source(const apns_result *r)
{
    switch (r->reason) {
    case APNS_REASON_UNREGISTERED:
    case APNS_REASON_EXPIRED_TOKEN:
        return GW_DEAD_UNREGISTERED;
    case APNS_REASON_BAD_DEVICE_TOKEN:
        return GW_DEAD_BAD_DEVICE_TOKEN;
    case APNS_REASON_DEVICE_TOKEN_NOT_FOR_TOPIC:
        return GW_DEAD_NOT_FOR_TOPIC;
    case APNS_REASON_FCM_UNREGISTERED: /* FCM: the app was uninstalled, the token expired */
        return GW_DEAD_UNREGISTERED;
    case APNS_REASON_FCM_INVALID_TOKEN: /* FCM: INVALID_ARGUMENT naming the token */
        return GW_DEAD_BAD_DEVICE_TOKEN;
    default:
        return r->status == 410 ? GW_DEAD_UNREGISTERED : GW_DEAD_NONE;
    }
}

/* 429 / 5xx / no answer: a durable retry-at, or FAILED once the app's
 * retry_attempts sends got a retryable answer. */
/* FCM (fcm-protocol.md §4-5): Retry-After when the answer gave one, and at
 * least 60 s after a 429 without one. */
#define FCM_QUOTA_MIN_MS 60000
#define RETRY_AFTER_MAX  3600

static void retry_or_fail(gw_app *a, gw_flight *f, int status, apns_reason reason,
                          const char *reason_str, int64_t now, int64_t retry_after_s)
{
    gw_chunk *c = f->dc->c;
    int n = c->attempts[f->idx] + 1; /* retryable answers, this one included */

    if (n >= a->retry.max_attempts) {
        gw__d_emit(a->d, f->dc, f->idx, GW_TOKEN_FAILED, status, reason, reason_str, 0, 0,
                   GW_DEAD_NONE);
    } else {
        int64_t wait = apns_retry_backoff_ms(&a->retry, n, &a->rng), least = 0;
        if (retry_after_s > 0)
            least = (retry_after_s < RETRY_AFTER_MAX ? retry_after_s : RETRY_AFTER_MAX) * 1000;
        else if (a->fcm != NULL && status == 429)
            least = FCM_QUOTA_MIN_MS;
        int64_t at = now + (wait > least ? wait : least);
        gw__d_emit(a->d, f->dc, f->idx, GW_TOKEN_RETRY, status, reason, reason_str, 0, at,
                   GW_DEAD_NONE);
    }
}

static void on_rejected(gw_app *a, gw_flight *f, const apns_result *r, int64_t now)
{
    gw_dispatch *d = a->d;
    const char *rs = r->reason_str != NULL && r->reason_str[0] ? r->reason_str : NULL;

    switch (r->action) {
    case APNS_ACTION_DEAD_TOKEN: /* a channel is never a dead token */
        gw__d_emit(d, f->dc, f->idx, GW_TOKEN_REJECTED, r->status, r->reason, rs, r->timestamp_ms,
                   0, f->dc->c->channel != NULL ? GW_DEAD_NONE : dead_source(r));
        break;
    case APNS_ACTION_RETRY:
        retry_or_fail(a, f, r->status, r->reason, rs, now, r->retry_after_s);
        break;
    case APNS_ACTION_RECONNECT:
    case APNS_ACTION_REFRESH_TOKEN:
        /* libapns resent these itself (a new connection, a new token) and
         * gave up: its loop guard, or a token cache that cannot mint. In a
         * fleet the cache is the fleet's: ask for the next token. Then it is
         * a retry like a 5xx. */
        if (r->action == APNS_ACTION_REFRESH_TOKEN && a->team != NULL && a->team->fleet)
            gw__d_fleet_expired(a->team);
        retry_or_fail(a, f, r->status, r->reason, rs, now, r->retry_after_s);
        probe_inconclusive(a, f);
        return;
    case APNS_ACTION_PAUSE:
        pause_app(a, f, rs != NULL ? rs : apns_reason_name(r->reason));
        return; /* the token stays pending */
    default:    /* DROP (and NONE, which an error answer never has) */
        gw__d_emit(d, f->dc, f->idx, GW_TOKEN_REJECTED, r->status, r->reason, rs, 0, 0,
                   GW_DEAD_NONE);
        break;
    }
    probe_passed(a, f); /* an answer that is not PAUSE proves the credentials */
}

static void on_failed(gw_app *a, gw_flight *f, const apns_result *r, int64_t now)
{
    switch (r->error) {
    case APNS_ESHUTDOWN: /* the client is closing: the token stays pending */
        return;
    case APNS_EVERIFY:
    case APNS_EALPN:
    case APNS_ETLS:
    case APNS_EPROXY:
    case APNS_ECRYPTO:
    case APNS_ECERT:
        /* Connections refused at the TLS or proxy level, or no provider
         * token: the app's credentials or trust settings, not the token. */
        pause_app(a, f, apns_err_name(r->error));
        return;
    case APNS_EINVAL:
        gw__d_emit(a->d, f->dc, f->idx, GW_TOKEN_FAILED, 0, APNS_REASON_NONE,
                   apns_err_name(r->error), 0, 0, GW_DEAD_NONE);
        break;
    default: /* APNS_ERETRIES: handed back unanswered too often */
        retry_or_fail(a, f, r->status, r->reason, apns_err_name(r->error), now, 0);
        break;
    }
    probe_inconclusive(a, f);
}

void gw__d_on_result(apns_client *client, const apns_notification *n, const apns_result *r,
                     void *ud)
{
    gw_app *a = ud;
    gw_flight *f = n->user_data;
    gw_chunk *c = f->dc->c;
    int64_t now = gw__d_now();

    if (c == NULL) { /* handed back at a drain timeout */
        end_flight(a, f);
        return;
    }
    if (r->outcome != APNS_OUTCOME_FAILED && a->d->o.m != NULL) {
        int64_t from = c->send_at_ms > c->created_ms ? c->send_at_ms : c->created_ms;
        gw_metrics_observe(a->d->o.m, GW_M_LATENCY, a->name,
                           now > from ? ((double)now - (double)from) / 1000.0 : 0.0);
    }
    switch (r->outcome) {
    case APNS_OUTCOME_ACCEPTED:
        gw__d_emit(a->d, f->dc, f->idx, GW_TOKEN_ACCEPTED, r->status, APNS_REASON_NONE, NULL, 0, 0,
                   GW_DEAD_NONE);
        probe_passed(a, f);
        break;
    case APNS_OUTCOME_REJECTED:
        on_rejected(a, f, r, now);
        break;
    default:
        on_failed(a, f, r, now);
        break;
    }
    end_flight(a, f);
}
