/*
 * dispatch_record.c - outcomes into the queue, results out to the hooks,
 * chunks back to the queue.
 *
 * Every outcome of one loop turn goes into one batch (at most 1024; a full
 * batch is posted at once): one gw_queue_record() call, one transaction in
 * the storage thread's group commit. When its callback says 0 the outcomes
 * are durable: metrics count them and on_result fires for each final one.
 *
 * If it fails, nothing of it is durable. A FINAL outcome (APNs answered:
 * accepted, rejected; or expired, failed) is KEPT: copied into the list of
 * kept batches (`unrec`, at most GW_D_UNREC_MAX outcomes), its chunk stays
 * held (dc->recording still counts it), and the kept batches are recorded
 * again, oldest first and one at a time, after a backoff (250 ms doubling to
 * 2 s while they fail; at once when any record succeeds: storage is back).
 * So a token APNs already answered is not sent again just because its
 * answer could not be stored at first. A retry outcome is not kept (the
 * token is sent again anyway): its chunk goes back with not_before = now +
 * 5 s. An outcome is GIVEN UP (not stored; the token is pending in the
 * database and sent again, same apns-id: at-least-once) when the list is
 * full, when the error says the lease or the queue is gone, when its batch
 * failed GW_D_REREC_TRIES times while other records succeeded (storage works,
 * this batch does not), and at a drain timeout or a retire deadline
 * (gw__d_force_release, with a log line counting them). At the cap the
 * dispatcher sends nothing (gw__d_held) until kept outcomes are stored.
 *
 * Leases while outcomes are kept: each re-record first touches the kept
 * chunks (gw_queue_touch). SQLite leases last until released. JetStream
 * extends a lease by in-progress acks, which need a server: when every
 * server is down for longer than ack_wait the message is redelivered once
 * the cluster is back, and the node that gets it may send a kept token
 * again before our re-record lands (its record read merges: the first final
 * answer wins). That window is what remains of the duplicates.
 *
 * A chunk is released when nothing of it is in flight, all its outcomes
 * are durable (or given up), and its app is done with it (the cursor passed
 * every token, or the app paused / retired / the dispatcher drains). The
 * wake timer is set to the chunk's next due time (its earliest retry-at, or
 * not_before) since the queue announces only work that is due now.
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
    d->leased_tokens -= d->leased_tokens >= c->n_tokens ? c->n_tokens : d->leased_tokens;
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
    /* A cancelled job's chunk goes back once its flights ended: the queue
     * cancels what it did not send. */
    stop = d->draining || a->retiring || a->paused == GW_D_PAUSED || c->cancelled;
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

static size_t unrec_drop(gw_dispatch *d, const gw_app *a);

void gw__d_force_release(gw_app *a)
{
    size_t dropped;

    gw__d_flush(a->d); /* outcomes already decided go out with their chunks */
    dropped = unrec_drop(a->d, a);
    if (dropped > 0)
        gw_log(GW_LOG_WARN, "dispatch",
               "answers that could not be recorded are given up: those notifications are sent "
               "again after the restart (same apns-id)",
               "app", a->name, "outcomes", GW_LOG_INT(dropped), NULL);
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

/* Room for one more outcome in b. 0 or APNS_ENOMEM. */
static int batch_grow(gw_dbatch *b)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        gw_outcome *v = realloc(b->v, cap * sizeof(*v));
        gw_dentry *e;
        if (v == NULL)
            return APNS_ENOMEM;
        b->v = v;
        e = realloc(b->e, cap * sizeof(*e));
        if (e == NULL)
            return APNS_ENOMEM;
        b->e = e;
        b->cap = cap;
    }
    return 0;
}

static gw_dbatch *batch_room(gw_dispatch *d)
{
    gw_dbatch *b = d->cur;

    if (b == NULL) {
        b = d->spare;
        d->spare = NULL;
        if (b == NULL)
            b = calloc(1, sizeof(*b));
        if (b == NULL)
            return NULL;
        b->d = d;
        d->cur = b;
    }
    return batch_grow(b) == 0 ? b : NULL;
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
    /* Reason names are static; a reason string is borrowed: copied. */
    e->rs = reason_str != NULL ? NULL : apns_reason_name(reason);
    if (reason_str != NULL)
        snprintf(e->reason, sizeof(e->reason), "%s", reason_str);
    b->n++;
    dc->recording++;
    if (b->n >= GW_D_BATCH_MAX)
        gw__d_flush(d);
    else
        event_active(d->flush_ev, EV_TIMEOUT, 0);
}

/* A run of equal counter increments (one series), added at once: a
 * recorded batch's answers are mostly one app's accepted tokens, and a
 * labelled series is looked up per add (~170 instructions). */
typedef struct tally {
    gw_metric id;
    const char *app, *label;
    uint64_t n;
} tally;

static void tally_flush(gw_dispatch *d, tally *t)
{
    if (t->n > 0)
        gw_metrics_add(d->o.m, t->id, t->app, t->label, t->n);
    t->n = 0;
}

static void tally_add(gw_dispatch *d, tally *t, gw_metric id, const char *app, const char *label)
{
    if (t->n > 0 && (t->id != id || t->app != app || t->label != label))
        tally_flush(d, t);
    t->id = id;
    t->app = app;
    t->label = label;
    t->n++;
}

static void count(gw_dispatch *d, tally *t, const char *app, const gw_outcome *o,
                  const char *reason)
{
    if (d->o.m == NULL)
        return;
    if (o->state == GW_TOKEN_RETRY) {
        tally_add(d, t, GW_M_RETRIES, app, NULL);
        return;
    }
    if (o->chunk->channel != NULL) { /* counted apart from device tokens */
        tally_add(d, t, GW_M_CHANNEL_PUBLISHES, app, gw_token_state_name(o->state));
        return;
    }
    tally_add(d, t, GW_M_NOTIFICATIONS, app, gw_token_state_name(o->state));
    if (o->state == GW_TOKEN_REJECTED)
        gw_metrics_add(d->o.m, GW_M_REJECTIONS, app, reason, 1);
    if (o->dead != GW_DEAD_NONE)
        gw_metrics_add(d->o.m, GW_M_DEAD_TOKENS, app, gw_dead_source_name(o->dead), 1);
}

static void report(gw_dispatch *d, const gw_chunk *c, const gw_outcome *o, const gw_dentry *e)
{
    char tok[GW_TOKEN_TEXT_MAX], id[GW_JOB_ID_LEN + 1];
    gw_token_result r = {.app = c->app,
                         .job_id = c->job_id,
                         .index = (uint64_t)c->first + o->token,
                         .token = c->channel != NULL ? c->channel : tok,
                         .channel = c->channel,
                         .apns_id = id,
                         .state = o->state,
                         .status = o->status,
                         .reason = o->state == GW_TOKEN_REJECTED || o->state == GW_TOKEN_FAILED
                                       ? gw__d_dentry_reason(e)
                                       : "",
                         .apns_ts_ms = o->apns_ts_ms,
                         .dead = o->dead};

    if (!d->o.result_ids) {
        r.token = c->channel;
        r.apns_id = NULL;
    } else {
        if (gw_chunk_token_text(c, o->token, tok, sizeof tok) == 0)
            tok[0] = '\0';
        gw_apns_id_at(&e->dc->result_id, c->apns_id_base, r.index, id);
    }
    d->o.on_result(d->o.ud, &r);
}

/* ---- hold: answers cannot be stored ---------------------------------------- */

int gw__d_held(const gw_dispatch *d)
{
    return d->hold_until != 0 || d->n_unrec >= GW_D_UNREC_MAX;
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

/* ---- kept outcomes: recorded again ------------------------------------------ */

static void unrec_gauge(gw_dispatch *d)
{
    if (d->o.m != NULL)
        gw_metrics_set(d->o.m, GW_M_OUTCOMES_UNRECORDED, NULL, NULL, (double)d->n_unrec);
}

static void rerec_cb(int fd, short what, void *ud);

/* Copies a failed outcome into the kept batches (dc->recording still counts
 * it). 0 or APNS_ENOMEM. */
static int keep(gw_dispatch *d, const gw_outcome *o, const gw_dentry *e)
{
    gw_dbatch *t = d->unrec_tail;

    if (d->rerec_ev == NULL) {
        d->rerec_ev = evtimer_new(d->o.base, rerec_cb, d);
        if (d->rerec_ev == NULL)
            return APNS_ENOMEM;
    }
    if (t == NULL || t->n >= GW_D_BATCH_MAX) {
        t = calloc(1, sizeof(*t));
        if (t == NULL)
            return APNS_ENOMEM;
        t->d = d;
        t->rerecord = 1;
        if (d->unrec_tail != NULL)
            d->unrec_tail->next = t;
        else
            d->unrec = t;
        d->unrec_tail = t;
    }
    if (batch_grow(t) != 0)
        return APNS_ENOMEM;
    t->v[t->n] = *o;
    t->e[t->n] = *e;
    t->n++;
    d->n_unrec++;
    return 0;
}

/* Errors after which recording the same outcomes again cannot succeed. */
static int keepable(int err)
{
    return err != GW_QUEUE_ELEASE && err != GW_QUEUE_ECLOSED && err != APNS_EINVAL;
}

/* The next kept batch goes out now (ok: a record just succeeded) or after
 * the backoff. */
static void rerec_schedule(gw_dispatch *d, int ok)
{
    if (d->unrec == NULL || d->rerec_ev == NULL)
        return;
    if (ok) {
        d->rerec_ms = 0;
        gw_timer_in(d->rerec_ev, 0);
    } else if (d->rerec_busy == 0 && !evtimer_pending(d->rerec_ev, NULL)) {
        gw_timer_in(d->rerec_ev, d->rerec_ms != 0 ? d->rerec_ms : GW_D_REREC_MS);
    }
}

static void on_recorded(int err, const char *detail, void *ud);
static void refused_cb(int fd, short what, void *ud);

/* Posts the oldest kept batch, after touching every kept chunk (a JetStream
 * lease is extended; SQLite's last until released). */
static void rerec_cb(int fd, short what, void *ud)
{
    gw_dispatch *d = ud;
    uint64_t serial = ++d->batch_serial;
    struct timeval zero = {0, 0};
    gw_dbatch *b = d->unrec;
    int rc;

    if (b == NULL || (d->rerec_ms != 0 && d->rerec_busy > 0))
        return;
    for (gw_dbatch *t = b; t != NULL; t = t->next)
        for (size_t k = 0; k < t->n; k++) {
            gw_dchunk *dc = t->e[k].dc;
            if (dc->c != NULL && dc->mark != serial) {
                dc->mark = serial;
                (void)gw_queue_touch(d->o.q, dc->c); /* best effort */
            }
        }
    /* Failing: the oldest batch alone probes. Storage is back: all at once,
     * before another node is handed one of these chunks again. */
    do {
        b = d->unrec;
        d->unrec = b->next;
        if (d->unrec == NULL)
            d->unrec_tail = NULL;
        b->next = NULL;
        b->err = 0;
        b->ok_at = d->ok_serial;
        for (size_t k = 0; k < b->n; k++)
            b->v[k].reason_str = gw__d_dentry_reason(&b->e[k]);
        d->rerec_busy++;
        common_list_push_front(&d->outstanding, &b->link);
        rc = gw_queue_record(d->o.q, b->v, b->n, on_recorded, b);
        if (rc != 0) {
            b->err = rc;
            if (event_base_once(d->o.base, -1, EV_TIMEOUT, refused_cb, b, &zero) != 0)
                on_recorded(rc, gw_queue_strerror(rc), b); /* from a timer: safe */
            break;
        }
    } while (d->rerec_ms == 0 && d->unrec != NULL);
}

/* Drops the kept outcomes of app a; returns how many. Those of a re-record
 * in flight are given up too: they leave n_unrec now (b->gone), and when
 * the batch comes back their chunks, handed back by then, keep nothing
 * (rerec_requeue), so a drain that times out ends with nothing kept. */
static size_t unrec_drop(gw_dispatch *d, const gw_app *a)
{
    gw_dbatch **pp = &d->unrec;
    size_t dropped = 0;

    COMMON_LIST_FOREACH(it, tmp, &d->outstanding)
    {
        gw_dbatch *b = COMMON_CONTAINER_OF(it, gw_dbatch, link);
        size_t mine = 0;
        if (!b->rerecord)
            continue;
        /* dc->c is set to NULL once the chunk is handed back, right after
         * this: a second forced release does not count it again */
        for (size_t k = 0; k < b->n; k++)
            mine += b->e[k].dc->app == a && b->e[k].dc->c != NULL;
        b->gone += mine;
        d->n_unrec -= mine;
        dropped += mine;
    }

    d->unrec_tail = NULL;
    while (*pp != NULL) {
        gw_dbatch *b = *pp;
        size_t n = 0;

        for (size_t k = 0; k < b->n; k++) {
            if (b->e[k].dc->app == a) {
                b->e[k].dc->recording--;
                dropped++;
            } else {
                b->v[n] = b->v[k];
                b->e[n] = b->e[k];
                n++;
            }
        }
        b->n = n;
        if (n == 0) {
            *pp = b->next;
            gw__d_batch_free(b);
        } else {
            d->unrec_tail = b;
            pp = &b->next;
        }
    }
    d->n_unrec -= dropped;
    if (dropped > 0)
        unrec_gauge(d);
    return dropped;
}

void gw__d_record_free(gw_dispatch *d)
{
    while (d->unrec != NULL) {
        gw_dbatch *b = d->unrec;
        d->unrec = b->next;
        gw__d_batch_free(b);
    }
    d->unrec_tail = NULL;
    d->n_unrec = 0;
    if (d->spare != NULL)
        gw__d_batch_free(d->spare);
    d->spare = NULL;
    if (d->rerec_ev != NULL)
        event_free(d->rerec_ev);
    d->rerec_ev = NULL;
}

/* A kept batch failed again: back to the front of the list, without the
 * outcomes whose chunk was handed back meanwhile (a forced release). */
static void rerec_requeue(gw_dispatch *d, gw_dbatch *b)
{
    gw_dchunk **gone = NULL;
    size_t n = 0, n_gone = 0;

    for (size_t k = 0; k < b->n; k++) {
        gw_dchunk *dc = b->e[k].dc;
        if (dc->c != NULL) {
            b->v[n] = b->v[k];
            b->e[n] = b->e[k];
            n++;
            continue;
        }
        dc->recording--;
        if (gone == NULL)
            gone = malloc(b->n * sizeof(*gone));
        if (gone != NULL)
            gone[n_gone++] = dc;
    }
    b->n = n;
    d->n_unrec += n;
    if (n > 0) {
        b->next = d->unrec;
        d->unrec = b;
        if (d->unrec_tail == NULL)
            d->unrec_tail = b;
    } else {
        gw__d_batch_free(b);
    }
    unrec_gauge(d);
    /* Handed-back chunks are freed once idle: each checked once (a check
     * may free it). */
    for (size_t k = 0; k < n_gone; k++) {
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = gone[j] == gone[k];
        if (!dup)
            gw__d_chunk_check(gone[k]);
    }
    free(gone);
}

static void recorded(gw_dbatch *b, int err, const char *detail)
{
    gw_dispatch *d = b->d;
    uint64_t serial = ++d->batch_serial;
    size_t unique = 0, kept = 0, given_up = 0;
    int rerec = b->rerecord, was_full;
    size_t counted = rerec ? b->n - b->gone : 0; /* its outcomes still in n_unrec */
    tally t = {0};

    if (rerec) { /* its outcomes are counted again below if kept again */
        d->rerec_busy--;
        d->n_unrec -= counted;
        b->gone = 0;
        if (err != 0 && d->ok_serial != b->ok_at)
            b->tries++; /* other records succeed: this one is the problem */
    }
    was_full = d->n_unrec + counted >= GW_D_UNREC_MAX;
    if (rerec && err != 0 && keepable(err) && b->tries < GW_D_REREC_TRIES) {
        d->rerec_ms = d->rerec_ms == 0                      ? GW_D_REREC_MS
                      : d->rerec_ms * 2 > GW_D_REREC_MAX_MS ? GW_D_REREC_MAX_MS
                                                            : d->rerec_ms * 2;
        hold(d);
        rerec_requeue(d, b);
        rerec_schedule(d, 0);
        if (d->retiring != NULL)
            gw__d_reap_soon(d);
        gw__d_check_drain(d);
        return;
    }
    if (err != 0) {
        if (!rerec)
            gw_log(GW_LOG_ERROR, "dispatch",
                   "recording answers failed: the answers are kept and recorded again", "outcomes",
                   GW_LOG_INT(b->n), "error", gw_queue_err_name(err), "detail", detail, NULL);
        hold(d);
    } else {
        d->ok_serial++;
        if (d->n_unrec == 0)
            d->rerec_ms = 0; /* the next episode's backoff starts afresh */
        /* The hold ends once every kept answer is stored: until then apps
         * holding chunks lease nothing more (gw__d_app_hungry), so this node
         * is not handed back a chunk whose answers are still only here. */
        if (d->hold_ms != 0 && d->hold_until == 0 && d->n_unrec == 0) {
            d->hold_ms = 0;
            gw_log(GW_LOG_INFO, "dispatch", "answers are recorded again: sending", NULL);
            send_again(d);
        }
    }
    for (size_t k = 0; k < b->n; k++) {
        gw_dentry *e = &b->e[k];
        gw_dchunk *dc = e->dc;
        const gw_outcome *o = &b->v[k];

        dc->recording--;
        if (err != 0) {
            if (dc->c != NULL && gw_token_state_final(o->state) && keepable(err) &&
                b->tries < GW_D_REREC_TRIES && d->n_unrec < GW_D_UNREC_MAX && keep(d, o, e) == 0) {
                dc->recording++; /* held by the kept copy */
                kept++;
            } else {
                int64_t nb = gw__d_now() + GW_D_RECORD_RETRY_MS;
                if (dc->not_before < nb)
                    dc->not_before = nb;
                given_up += gw_token_state_final(o->state);
            }
        } else if (dc->c != NULL) {
            count(d, &t, dc->c->app, o, gw__d_dentry_reason(e));
            if (d->o.on_result != NULL && gw_token_state_final(o->state))
                report(d, dc->c, o, e);
        }
        if (dc->mark != serial) { /* each chunk once below: a check may free it */
            dc->mark = serial;
            b->e[unique++].dc = dc; /* unique <= k: entries already read */
        }
    }
    tally_flush(d, &t);
    if (rerec && err == 0 && d->o.m != NULL)
        gw_metrics_add(d->o.m, GW_M_OUTCOMES_RERECORDED, NULL, NULL, b->n);
    if (given_up > 0)
        gw_log(GW_LOG_WARN, "dispatch",
               "answers that could not be recorded are given up: those notifications are sent "
               "again (same apns-id)",
               "outcomes", GW_LOG_INT(given_up), "kept", GW_LOG_INT(d->n_unrec), "error",
               gw_queue_err_name(err), NULL);
    if (rerec || kept > 0)
        unrec_gauge(d);
    for (size_t k = 0; k < unique; k++)
        gw__d_chunk_check(b->e[k].dc);
    if (d->spare == NULL && !rerec) { /* its arrays serve the next batch */
        b->n = 0;
        b->err = 0;
        b->tries = 0;
        b->ok_at = 0;
        b->next = NULL;
        d->spare = b;
    } else {
        gw__d_batch_free(b);
    }
    if (was_full && d->n_unrec < GW_D_UNREC_MAX)
        send_again(d);
    rerec_schedule(d, err == 0);
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
        b->v[k].reason_str = gw__d_dentry_reason(&b->e[k]);
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
