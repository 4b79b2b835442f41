/*
 * dispatch_record.c - outcomes into the queue, results out to the hooks,
 * chunks back to the queue.
 *
 * Every outcome of one loop turn goes into one batch (at most 1024; a full
 * batch is posted at once): one gw_queue_record() call, one transaction in
 * the storage thread's group commit. When its callback says 0 the outcomes
 * are durable: metrics count them and on_result fires for each final one.
 * If it fails, nothing of it is durable: those tokens are pending in the
 * database, so their chunk goes back with not_before = now + 5 s and they
 * are sent again (same apns-id) when it is leased again.
 *
 * A chunk is released when nothing of it is in flight, all its outcomes
 * are durable, and its app is done with it (the cursor passed every token,
 * or the app paused / retired / the dispatcher drains). The wake timer is
 * set to the chunk's next due time (its earliest retry-at, or not_before)
 * since the queue announces only work that is due now.
 */
#include "dispatch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* ---- releasing ------------------------------------------------------------- */

static void release_cb(int err, const char *detail, void *ud)
{
    if (err != 0)
        gw_log(GW_LOG_ERROR, "dispatch", "releasing a chunk failed", "error",
               gw_queue_err_name(err), "detail", detail, NULL);
}

void gw__d_release_raw(gw_dispatch *d, gw_chunk *c, int64_t not_before)
{
    int rc;

    if (d->leased > 0)
        d->leased--;
    rc = gw_queue_release(d->o.q, c, not_before, release_cb, NULL);
    if (rc != 0)
        gw_log(GW_LOG_ERROR, "dispatch", "releasing a chunk failed", "error", gw_queue_err_name(rc),
               NULL);
}

/* When the chunk's open tokens are due again, judged from the dispatcher's
 * copy of their states. INT64_MAX when every token is final. */
static int64_t next_due(const gw_chunk *c, int64_t not_before, int64_t now)
{
    int64_t best = INT64_MAX, floor = not_before > now ? not_before : now;

    for (uint32_t i = 0; i < c->n_tokens; i++) {
        int64_t t;
        if (c->state[i] == GW_TOKEN_PENDING)
            t = floor;
        else if (c->state[i] == GW_TOKEN_RETRY)
            t = c->retry_at_ms[i] > floor ? c->retry_at_ms[i] : floor;
        else
            continue;
        if (t < best)
            best = t;
    }
    return best;
}

static void unlink_chunk(gw_app *a, gw_dchunk *dc)
{
    common_clist_remove(&a->chunks, &dc->link);
    if (dc->c != NULL && dc->cursor < dc->c->n_tokens)
        a->unsent -= dc->c->n_tokens - dc->cursor;
}

void gw__d_chunk_check(gw_dchunk *dc)
{
    gw_app *a = dc->app;
    gw_dispatch *d = a->d;
    gw_chunk *c = dc->c;
    int64_t now, nb, next;
    int stop;

    if (dc->in_flight > 0 || dc->recording > 0)
        return;
    if (c == NULL) { /* handed back already (drain timeout, retire deadline) */
        unlink_chunk(a, dc);
        free(dc);
        return;
    }
    stop = d->draining || a->retiring || a->paused == GW_D_PAUSED;
    if (!stop && dc->cursor < c->n_tokens)
        return;
    now = gw__d_now();
    nb = dc->not_before;
    if (a->paused == GW_D_PAUSED && !a->retiring && !d->draining && a->probe_at > nb)
        nb = a->probe_at;
    next = next_due(c, nb, now);
    unlink_chunk(a, dc);
    free(dc);
    gw__d_release_raw(d, c, nb);
    if (next != INT64_MAX && next > now && !d->draining)
        gw__d_wake_at(d, next);
    if (a->retiring)
        gw__d_reap_soon(d);
    gw__d_maybe_lease(d);
    gw__d_check_drain(d);
}

void gw__d_app_check_chunks(gw_app *a)
{
    for (gw_dchunk *dc = gw__d_chunk_next(a, NULL), *next; dc != NULL; dc = next) {
        next = gw__d_chunk_next(a, dc);
        gw__d_chunk_check(dc);
    }
}

void gw__d_force_release(gw_app *a)
{
    gw__d_flush(a->d); /* outcomes already decided go out with their chunks */
    for (gw_dchunk *dc = gw__d_chunk_next(a, NULL), *next; dc != NULL; dc = next) {
        next = gw__d_chunk_next(a, dc);
        if (dc->c != NULL) {
            gw_chunk *c = dc->c;
            if (c->n_tokens > dc->cursor)
                a->unsent -= c->n_tokens - dc->cursor;
            dc->cursor = c->n_tokens;
            dc->c = NULL;
            gw__d_release_raw(a->d, c, 0);
        }
        gw__d_chunk_check(dc); /* handed back: freed once idle */
    }
}

/* ---- outcome batches ----------------------------------------------------------- */

void gw__d_batch_free(gw_dbatch *b)
{
    free(b->v);
    free(b->e);
    free(b);
}

static gw_dbatch *batch_room(gw_dispatch *d)
{
    gw_dbatch *b = d->cur;

    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        if (b == NULL)
            return NULL;
        b->d = d;
        d->cur = b;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        gw_outcome *v = realloc(b->v, cap * sizeof(*v));
        gw_dentry *e;
        if (v == NULL)
            return NULL;
        b->v = v;
        e = realloc(b->e, cap * sizeof(*e));
        if (e == NULL)
            return NULL;
        b->e = e;
        b->cap = cap;
    }
    return b;
}

void gw__d_emit(gw_dispatch *d, gw_dchunk *dc, uint32_t idx, gw_token_state st, int status,
                apns_reason reason, const char *reason_str, int64_t apns_ts_ms, int64_t retry_at_ms,
                gw_dead_source dead)
{
    gw_dbatch *b;
    gw_dentry *e;

    if (dc->c == NULL)
        return;
    b = batch_room(d);
    if (b == NULL) { /* the token stays pending and is sent again later */
        gw_log(GW_LOG_ERROR, "dispatch", "out of memory recording an outcome", NULL);
        return;
    }
    b->v[b->n] = (gw_outcome){.chunk = dc->c,
                              .token = idx,
                              .state = st,
                              .status = status,
                              .reason = reason,
                              .apns_ts_ms = apns_ts_ms,
                              .retry_at_ms = retry_at_ms,
                              .dead = dead};
    e = &b->e[b->n];
    e->dc = dc;
    snprintf(e->reason, sizeof(e->reason), "%s",
             reason_str != NULL ? reason_str : apns_reason_name(reason));
    b->n++;
    dc->recording++;
    if (b->n >= GW_D_BATCH_MAX)
        gw__d_flush(d);
    else
        event_active(d->flush_ev, EV_TIMEOUT, 0);
}

static void count(gw_dispatch *d, const char *app, const gw_outcome *o, const char *reason)
{
    if (d->o.m == NULL)
        return;
    if (o->state == GW_TOKEN_RETRY) {
        gw_metrics_add(d->o.m, GW_M_RETRIES, app, NULL, 1);
        return;
    }
    if (o->chunk->channel != NULL) { /* counted apart from device tokens */
        gw_metrics_add(d->o.m, GW_M_CHANNEL_PUBLISHES, app, gw_token_state_name(o->state), 1);
        return;
    }
    gw_metrics_add(d->o.m, GW_M_NOTIFICATIONS, app, gw_token_state_name(o->state), 1);
    if (o->state == GW_TOKEN_REJECTED)
        gw_metrics_add(d->o.m, GW_M_REJECTIONS, app, reason, 1);
    if (o->dead != GW_DEAD_NONE)
        gw_metrics_add(d->o.m, GW_M_DEAD_TOKENS, app, gw_dead_source_name(o->dead), 1);
}

static void report(gw_dispatch *d, const gw_chunk *c, const gw_outcome *o, const gw_dentry *e)
{
    char tok[GW_TOKEN_TEXT_MAX], id[GW_JOB_ID_LEN + 1];
    gw_token_result r = {
        .app = c->app,
        .job_id = c->job_id,
        .index = (uint64_t)c->first + o->token,
        .token = c->channel != NULL ? c->channel : tok,
        .channel = c->channel,
        .apns_id = id,
        .state = o->state,
        .status = o->status,
        .reason = o->state == GW_TOKEN_REJECTED || o->state == GW_TOKEN_FAILED ? e->reason : "",
        .apns_ts_ms = o->apns_ts_ms,
        .dead = o->dead};

    if (gw_chunk_token_text(c, o->token, tok, sizeof tok) == 0)
        tok[0] = '\0';
    gw_chunk_apns_id(c, o->token, id);
    d->o.on_result(d->o.ud, &r);
}

/* ---- hold: answers cannot be stored ---------------------------------------- */

int gw__d_held(const gw_dispatch *d)
{
    return d->hold_until != 0;
}

/* Sends may go on: every app feeds, the dispatcher leases. */
static void send_again(gw_dispatch *d)
{
    for (gw_app *a = d->apps; a != NULL; a = a->next)
        gw__d_feed_soon(a);
    d->more = 1;
    gw__d_maybe_lease(d);
}

void gw__d_hold_cb(int fd, short what, void *ud)
{
    gw_dispatch *d = ud;

    d->hold_until = 0;
    send_again(d);
}

/* A record failed: hold (or keep holding) sends. One hold per episode of
 * failures: batches failing during a hold do not extend it. */
static void hold(gw_dispatch *d)
{
    if (d->hold_until != 0)
        return;
    d->hold_ms = d->hold_ms == 0 ? GW_D_HOLD_MS : d->hold_ms * 2;
    if (d->hold_ms > GW_D_HOLD_MAX_MS)
        d->hold_ms = GW_D_HOLD_MAX_MS;
    d->hold_until = gw__d_now() + d->hold_ms;
    gw_timer_in(d->hold_ev, d->hold_ms);
    gw_log(GW_LOG_WARN, "dispatch",
           "answers cannot be recorded: holding sends (no new notifications go out)", "hold_ms",
           GW_LOG_INT(d->hold_ms), NULL);
}

static void recorded(gw_dbatch *b, int err, const char *detail)
{
    gw_dispatch *d = b->d;
    uint64_t serial = ++d->batch_serial;
    size_t unique = 0;

    if (err != 0) {
        gw_log(GW_LOG_ERROR, "dispatch",
               "recording answers failed: those notifications are sent again (same apns-id)",
               "outcomes", GW_LOG_INT(b->n), "error", gw_queue_err_name(err), "detail", detail,
               NULL);
        hold(d);
    } else if (d->hold_ms != 0 && d->hold_until == 0) {
        d->hold_ms = 0;
        gw_log(GW_LOG_INFO, "dispatch", "answers are recorded again: sending", NULL);
        send_again(d);
    }
    for (size_t k = 0; k < b->n; k++) {
        gw_dentry *e = &b->e[k];
        gw_dchunk *dc = e->dc;
        const gw_outcome *o = &b->v[k];

        dc->recording--;
        if (err != 0) {
            int64_t nb = gw__d_now() + GW_D_RECORD_RETRY_MS;
            if (dc->not_before < nb)
                dc->not_before = nb;
        } else if (dc->c != NULL) {
            count(d, dc->c->app, o, e->reason);
            if (d->o.on_result != NULL && gw_token_state_final(o->state))
                report(d, dc->c, o, e);
        }
        if (dc->mark != serial) { /* each chunk once below: a check may free it */
            dc->mark = serial;
            b->e[unique++].dc = dc; /* unique <= k: entries already read */
        }
    }
    for (size_t k = 0; k < unique; k++)
        gw__d_chunk_check(b->e[k].dc);
    gw__d_batch_free(b);
    if (d->retiring != NULL)
        gw__d_reap_soon(d);
    gw__d_check_drain(d);
}

static void on_recorded(int err, const char *detail, void *ud)
{
    gw_dbatch *b = ud;

    if (b->d == NULL) { /* the dispatcher is gone */
        gw__d_batch_free(b);
        return;
    }
    common_list_remove(&b->link);
    recorded(b, err, detail);
}

/* record() refused the batch at once: report it from the loop, never from
 * inside the emit that filled it (its caller still holds the chunk). */
static void refused_cb(int fd, short what, void *ud)
{
    gw_dbatch *b = ud;
    on_recorded(b->err, gw_queue_strerror(b->err), b);
}

void gw__d_flush(gw_dispatch *d)
{
    struct timeval zero = {0, 0};
    gw_dbatch *b = d->cur;
    int rc;

    if (b == NULL)
        return;
    d->cur = NULL;
    for (size_t k = 0; k < b->n; k++)
        b->v[k].reason_str = b->e[k].reason;
    common_list_push_front(&d->outstanding, &b->link);
    rc = gw_queue_record(d->o.q, b->v, b->n, on_recorded, b);
    if (rc != 0) {
        b->err = rc;
        if (event_base_once(d->o.base, -1, EV_TIMEOUT, refused_cb, b, &zero) != 0) {
            common_list_remove(&b->link);
            recorded(b, rc, gw_queue_strerror(rc)); /* out of memory: no better way */
        }
    }
}

void gw__d_flush_cb(int fd, short what, void *ud)
{
    gw__d_flush(ud);
}
