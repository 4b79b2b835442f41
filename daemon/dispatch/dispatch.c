/*
 * dispatch.c - the dispatcher: the lease loop, lifecycle and reload.
 *
 * Design note
 * -----------
 * Shape. One gw_app per [app] section: its own apns_client (HTTP/2 or the
 * binary interface), its own credit, rate limit and pause state. Token-auth
 * apps that sign with the same team id + key id share one apns_signing_key
 * and one apns_token_cache (gw_dteam), so a team mints one JWT however many
 * apps and environments it serves. (dispatch_app.c)
 *
 * Leasing. gw_queue_lease() hands out due chunks of any app, by turn (a
 * job's first chunk before any job's second: a small job never waits for
 * the rest of a broadcast; docs/queue.md, Scheduling), then oldest first.
 * The dispatcher leases only while some app is HUNGRY (its client has more
 * free slots than the tokens it already holds beyond its cursors) and holds
 * at most `cap` chunks in all (twice the in-flight window of every app, in
 * chunks of at most CAP_CHUNK_TOKENS tokens, plus slack), so memory is
 * bounded by the config, never by the queue. Counting the window in full
 * chunks starved small jobs: 8 chunks of ~60 tokens kept a 2,000-stream
 * window a quarter busy, each chunk held until its outcomes commit. One
 * lease still takes at most the window in full chunks, and the tokens held
 * are bounded too (cap_tokens: every app's window plus two full chunks
 * each), so big chunks do not pile up while some other app is hungry.
 * One app's broadcast can fill that budget alone, so past it an app that
 * holds nothing still gets one chunk leased per kick (never past twice the
 * budget): a second app's new job is not held back until the broadcast's
 * chunks drain (gw__d_maybe_lease).
 * A lease is started by a kick (the queue's on_work: a submit or a release
 * made work due now), by the wake timer (the earliest next_at the queue or
 * our own releases announced), or when a lease was cut at its maximum. Each
 * leased chunk is routed by its app name: to its app, or back to the queue
 * at once (app paused: at its probe time; app not in the config: in a
 * minute, with a warning).
 *
 * Feeding. An app walks its chunks by turn (a chunk it takes goes before
 * the held chunks of later turns), then in lease order, with a cursor: a token
 * that is not due (final, or retry-at still ahead) is skipped; an EXPIRED
 * one (expiration < now) is recorded EXPIRED and never sent; the others go
 * to apns_client_submit() with the apns-id derived from the job's base and
 * the token's index, within the rate limit (a token bucket) and the client's
 * credit (APNS_EAGAIN -> wait for on_credit). (dispatch_send.c)
 *
 * What happens to a token at each answer (the reason table's action):
 *   200                          -> ACCEPTED
 *   DROP (BadTopic, 413, ...)    -> REJECTED with status and reason
 *   DEAD_TOKEN                   -> REJECTED + dead-token registry: 410 with
 *                                   Apple's timestamp, BadDeviceToken,
 *                                   DeviceTokenNotForTopic (binary status 8)
 *   RETRY (429, 500, 503)        -> RETRY with a durable retry-at = now +
 *                                   apns_retry_backoff_ms(app policy, n);
 *                                   FAILED once retry_attempts sends got one
 *   RECONNECT (Shutdown, Idle-   -> resent by libapns on a new connection /
 *   Timeout), REFRESH_TOKEN         with a new token, without touching any
 *   (ExpiredProviderToken)          retry budget; only what libapns gives up
 *                                   on (its loop guard, a fleet token that
 *                                   cannot be minted here) comes back, and
 *                                   is treated as RETRY
 *   PAUSE (InvalidProviderToken, -> the APP is paused (error log line,
 *   BadCertificate, ...; also       apnsd_app_paused{app} = 1); the token is
 *   connections refused at TLS)     left pending: it did nothing wrong and
 *                                   its retry budget is untouched
 *   no answer: handed back       -> the client resends on another
 *   (GOAWAY, reset, timeout)        connection by itself
 *   no answer 10 times (FAILED   -> RETRY with backoff, like a 5xx
 *   APNS_ERETRIES)
 *   not sendable (binary token   -> REJECTED, status 0, reason = the libapns
 *   length, payload > 2 KB)         error name; never sent
 *
 * The retry split: one owner for each resend (docs/architecture.md).
 * libapns owns connection-level resends, which have nothing to do with the
 * token and must be immediate: hand-backs of unanswered streams (GOAWAY,
 * reset, stream timeout, lost connection) and RECONNECT / REFRESH_TOKEN
 * answers; they never count against a retry budget. The dispatcher owns the
 * DURABLE retries of 429/5xx answers: the client runs with
 * retry.max_attempts = 1, so every such answer comes back here and gets a
 * retry-at in the queue (it survives a restart and holds no client slot
 * while it waits: a 15-minute backoff must not pin memory or credit). Only
 * those answers, and a notification libapns gave up resending
 * (APNS_ERETRIES: it broke every connection it touched), consume the app's
 * retry_attempts.
 *
 * Pause and probe. After a PAUSE answer the app sends nothing until
 * probe_at (now + probe interval, 60 s by default); its held chunks go back
 * to the queue as they go idle, with not_before = probe_at. At probe_at
 * ONE token goes out (from a held or freshly leased chunk). Any answer that
 * is not PAUSE resumes the app (a 410 or a 503 also proves the credentials);
 * PAUSE again (or no answer) waits another interval. A reload probes a
 * paused app at once; a replaced app starts fresh. Either way the chunks it
 * handed back until probe_at are made due now (gw_queue_wake; SQLite only:
 * JetStream's delayed naks come at their time).
 *
 * Outcomes are batched: every outcome of one loop turn (or 1024) goes into
 * one gw_queue_record(). When the record callback says 0, on_result fires
 * for each FINAL outcome (accepted, rejected, expired, failed), exactly
 * once per answer. A chunk is released when its cursor has passed every
 * token (or its app stopped), nothing of it is in flight and all its
 * outcomes are durable; pending tokens then come back at max(now,
 * not_before), retry tokens at their retry-at. (dispatch_record.c)
 *
 * Where duplicates come from (the same apns-id every time, so the app can
 * drop them):
 *  1. the crash window: APNs answered, the outcome batch had not committed
 *     (milliseconds; docs/queue.md);
 *  2. a drain that timed out, or a second SIGTERM: what was in flight is
 *     pending in the database and is sent again after the restart;
 *  3. a connection lost after APNs processed a request but before its answer
 *     was read: the client resends it (at-least-once, like any provider);
 *     on the binary interface, a close without an error packet resends the
 *     whole accept window;
 *  4. an outcome batch that failed to commit (disk full, I/O error): its
 *     chunk is released and its tokens are re-leased after 5 s.
 *
 * Hold. When recording answers fails (disk full, I/O error, a JetStream
 * cluster electing new leaders), every answer that arrives now is lost and
 * its token will be sent again: sending more would only multiply
 * duplicates. So the dispatcher holds: no leasing, no feeding for 1 s,
 * doubling up to 8 s while records keep failing; in-flight answers are
 * still recorded (or fail). After a hold each app sends at most 64 at a
 * time from the chunks it holds, until a record succeeds: that ends it.
 * (dispatch_record.c)
 *
 * Drain: see dispatch_drain.c.
 */
#include "dispatch_int.h"
#include "queue_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

int64_t gw__d_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static gw_app *find_app(const gw_dispatch *d, const char *name)
{
    for (gw_app *a = d->apps; a != NULL; a = a->next)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* The chunk size the cap assumes (the design note): small jobs' chunks. */
#define CAP_CHUNK_TOKENS 32

static void count_apps(gw_dispatch *d)
{
    size_t cap = 0, per_lease = 0;
    uint64_t cap_tokens = 0;
    uint32_t ct = d->chunk_tokens, small = ct < CAP_CHUNK_TOKENS ? ct : CAP_CHUNK_TOKENS;

    for (gw_app *a = d->apps; a != NULL; a = a->next) {
        cap += 2 * ((a->n_flights / 2 + small - 1) / small) + 2;
        per_lease += 2 * ((a->n_flights / 2 + ct - 1) / ct) + 2;
        cap_tokens += (uint64_t)a->n_flights + 2 * (uint64_t)ct;
    }
    /* In tokens, about what the cap in full chunks held before it counted
     * small chunks: many small chunks, or a few big ones, never thousands
     * of a broadcast's big chunks leased for an idle app's hunger. */
    d->cap_tokens = cap_tokens < 8 * (uint64_t)ct ? 8 * (uint64_t)ct : cap_tokens;
    d->cap = cap < 8 ? 8 : cap > 4096 ? 4096 : cap;
    /* One lease takes no more than the window in full chunks, as before:
     * hungry apps lease again for small chunks, a broadcast's big chunks
     * do not pile up ahead of later work. */
    d->lease_cap = per_lease < 8 ? 8 : per_lease > d->cap ? d->cap : per_lease;
}

/* ---- the wake timer ------------------------------------------------------ */

void gw__d_wake_at(gw_dispatch *d, int64_t at_ms)
{
    if (at_ms >= d->wake_at && event_pending(d->wake_ev, EV_TIMEOUT, NULL))
        return;
    d->wake_at = at_ms;
    gw_timer_in(d->wake_ev, at_ms - gw__d_now());
}

static void wake_cb(int fd, short what, void *ud)
{
    gw_dispatch *d = ud;

    d->wake_at = INT64_MAX;
    d->more = 1;
    gw__d_maybe_lease(d);
}

/* ---- leasing ------------------------------------------------------------- */

static int any_hungry(gw_dispatch *d)
{
    for (gw_app *a = d->apps; a != NULL; a = a->next)
        if (gw__d_app_hungry(a))
            return 1;
    return 0;
}

/* Whether a hungry app holds no chunk at all (gw__d_maybe_lease). */
static int any_empty_and_hungry(gw_dispatch *d)
{
    for (gw_app *a = d->apps; a != NULL; a = a->next)
        if (a->chunks.len == 0 && gw__d_app_hungry(a))
            return 1;
    return 0;
}

static void on_lease(int err, const char *detail, gw_chunk **chunks, size_t n, int64_t next_at,
                     void *ud)
{
    gw_dlease *l = ud;
    gw_dispatch *d = l->d;
    int64_t now = gw__d_now();

    if (d == NULL) { /* the dispatcher was freed meanwhile */
        for (size_t i = 0; i < n; i++)
            gw_queue_release(l->q, chunks[i], 0, NULL, NULL);
        free(l);
        return;
    }
    d->lease = NULL;
    if (err != 0) {
        gw_log(GW_LOG_ERROR, "dispatch", "lease failed", "error", gw_queue_err_name(err), "detail",
               detail, NULL);
        gw__d_wake_at(d, now + GW_D_LEASE_ERROR_MS);
        free(l);
        gw__d_check_drain(d);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        gw_chunk *c = chunks[i];
        gw_app *a = d->draining ? NULL : find_app(d, c->app);

        d->leased++;
        d->leased_tokens += c->n_tokens;
        if (d->draining) {
            gw__d_release_raw(d, c, 0);
        } else if (a == NULL) {
            /* Once a minute per app name, not per chunk. */
            if (now - d->unknown_warned_at >= d->unknown_ms ||
                strcmp(d->unknown_warned, c->app) != 0) {
                gw_log(GW_LOG_WARN, "dispatch", "work for an app that is not configured: held back",
                       "app", c->app, "job", c->job_id, NULL);
                d->unknown_warned_at = now;
                snprintf(d->unknown_warned, sizeof(d->unknown_warned), "%s", c->app);
            }
            gw__d_release_raw(d, c, now + d->unknown_ms);
        } else if (a->paused == GW_D_PAUSED) {
            gw__d_release_raw(d, c, a->probe_at);
        } else {
            gw__d_app_take(a, c);
        }
    }
    if (n >= l->max || d->kick_gen != l->kick_gen)
        d->more = 1;
    else /* the queue announces only work due now: look again by then */
        gw__d_wake_at(d, next_at < now + GW_D_IDLE_POLL_MS ? next_at : now + GW_D_IDLE_POLL_MS);
    free(l);
    gw__d_maybe_lease(d);
    gw__d_check_drain(d);
}

void gw__d_maybe_lease(gw_dispatch *d)
{
    size_t max;
    gw_dlease *l;
    int rc;

    if (d->lease != NULL || d->draining || !d->more || !any_hungry(d))
        return;
    if (d->leased >= d->cap || d->leased_tokens >= d->cap_tokens) {
        /* Past the budget, which one app's broadcast can fill alone: an app
         * that holds nothing still gets one chunk leased per kick (a submit,
         * or work due again), the first in the lease's order, where a new
         * job's first chunk stands before any later chunk (docs/queue.md,
         * Scheduling); without it a second app's job waited until the
         * broadcast's held chunks drained (9,374 of its answers, test
         * second_app_not_held_back_by_a_broadcast). Bounded: one chunk per
         * kick, never past twice the budget, and an idle app (hungry while
         * the queue has nothing for it) costs at most a chunk per kick. */
        if (d->over_kick == d->kick_gen || d->leased >= 2 * d->cap ||
            d->leased_tokens >= 2 * d->cap_tokens || !any_empty_and_hungry(d))
            return;
        d->over_kick = d->kick_gen;
        max = 1;
    } else {
        max = d->cap - d->leased;
        if (max > d->lease_cap)
            max = d->lease_cap;
    }
    if (max > GW_D_LEASE_MAX)
        max = GW_D_LEASE_MAX;
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        gw__d_wake_at(d, gw__d_now() + GW_D_LEASE_ERROR_MS);
        return;
    }
    l->d = d;
    l->q = d->o.q;
    l->max = max;
    l->kick_gen = d->kick_gen;
    rc = gw_queue_lease(d->o.q, max, on_lease, l);
    if (rc != 0) {
        free(l);
        gw_log(GW_LOG_ERROR, "dispatch", "lease refused", "error", gw_queue_err_name(rc), NULL);
        gw__d_wake_at(d, gw__d_now() + GW_D_LEASE_ERROR_MS);
        return;
    }
    d->lease = l;
    d->more = 0;
}

void gw_dispatch_kick(gw_dispatch *d)
{
    if (d == NULL)
        return;
    d->kick_gen++;
    d->more = 1;
    gw__d_maybe_lease(d);
}

/* ---- retiring apps --------------------------------------------------------- */

static void reap_cb(int fd, short what, void *ud)
{
    gw_dispatch *d = ud;
    gw_app **pp = &d->retiring;

    while (*pp != NULL) {
        gw_app *a = *pp;
        if (gw__d_app_done(a)) {
            *pp = a->next;
            gw_log(GW_LOG_INFO, "dispatch", "app connections closed", "app", a->name, NULL);
            gw__d_app_free(a);
        } else {
            pp = &a->next;
        }
    }
}

void gw__d_reap_soon(gw_dispatch *d)
{
    event_active(d->reap_ev, EV_TIMEOUT, 0);
}

/* ---- the app list (start, reload) ------------------------------------------ */

static void free_apps(gw_app *list)
{
    while (list != NULL) {
        gw_app *n = list->next;
        gw__d_app_free(list);
        list = n;
    }
}

/* Takes the app called name out of a list; NULL when it is not there. */
static gw_app *unlink_app(gw_app **list, const char *name)
{
    for (gw_app **pp = list; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->name, name) == 0) {
            gw_app *a = *pp;
            *pp = a->next;
            a->next = NULL;
            return a;
        }
    return NULL;
}

static void on_woken(int err, const char *detail, uint64_t n, void *ud)
{
    if (err != 0)
        gw_log(GW_LOG_ERROR, "dispatch", "bringing a paused app's work forward failed", "error",
               gw_queue_err_name(err), "detail", detail, NULL);
}

/* A reload reaches a paused app (new credentials, or a probe at once): the
 * chunks it handed back until its probe time are due now (the queue's
 * on_work kicks the lease), so its work does not wait for the old probe
 * time. */
static void wake_held(gw_dispatch *d, const gw_app *a)
{
    int rc;

    if (!a->paused)
        return;
    rc = gw_queue_wake(d->o.q, a->name, a->probe_at, on_woken, NULL);
    if (rc != 0)
        on_woken(rc, gw_queue_strerror(rc), 0, NULL);
}

/* The apps of cfg become d's (diff NULL: every app is new, at start; else
 * the diff lists cfg's apps first, in order). On error nothing changes. */
static int install(gw_dispatch *d, const gw_config *cfg, const gw_config_diff *diff, char *detail,
                   size_t detail_len)
{
    gw_app *fresh = NULL, **ftail = &fresh;
    gw_app *list = NULL, **ltail = &list;

    /* 1. Build everything new; on any failure nothing changes. */
    for (size_t i = 0; i < cfg->n_apps; i++) {
        const gw_app_diff *x = diff != NULL ? &diff->apps[i] : NULL;
        gw_app_change change = x != NULL ? x->change : GW_CHANGE_ADDED;
        int fresh_key;
        gw_app *a;
        int rc;

        if (change != GW_CHANGE_ADDED && change != GW_CHANGE_REPLACED)
            continue;
        fresh_key =
            change == GW_CHANGE_REPLACED && x->key != NULL && strcmp(x->key, "key_file") == 0;
        rc = gw__d_app_new(d, cfg, &cfg->apps[i], fresh_key, &a, detail, detail_len);
        if (rc != 0) {
            free_apps(fresh);
            return rc;
        }
        *ftail = a;
        ftail = &a->next;
    }

    /* 2. The new list in the new config's order: a fresh app, or the
     * running one (unchanged or updated in place). */
    for (size_t i = 0; i < cfg->n_apps; i++) {
        const gw_config_app *ac = &cfg->apps[i];
        gw_app *a = unlink_app(&fresh, ac->name);

        if (a == NULL) {
            a = unlink_app(&d->apps, ac->name);
            if (a == NULL)
                continue; /* cannot happen: the diff lists every added app */
            gw__d_app_update(a, ac);
            wake_held(d, a);
            if (a->paused)
                gw__d_probe_now(a);
        } else {
            gw_metrics_set(d->o.m, GW_M_APP_PAUSED, a->name, NULL, 0);
            gw__d_feedback_start(a);
        }
        *ltail = a;
        ltail = &a->next;
    }
    /* 3. What is left of the old list (removed, replaced) retires: it
     * finishes what it holds. */
    while (d->apps != NULL) {
        gw_app *a = d->apps;
        d->apps = a->next;
        wake_held(d, a); /* replaced (or removed: nothing leases it then) */
        a->next = d->retiring;
        d->retiring = a;
        gw__d_app_retire(a);
    }
    free_apps(fresh); /* only if the diff and cfg disagree */
    d->apps = list;
    count_apps(d);
    d->more = 1;
    gw__d_maybe_lease(d);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------- */

int gw_dispatch_new(gw_dispatch **out, const gw_dispatch_opts *o, const gw_config *cfg,
                    char *detail, size_t detail_len)
{
    gw_dispatch *d;
    int rc;

    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if (out == NULL || o == NULL || o->base == NULL || o->q == NULL || cfg == NULL)
        return APNS_EINVAL;
    *out = NULL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return APNS_ENOMEM;
    d->o = *o;
    d->probe_ms = o->probe_interval_ms > 0 ? o->probe_interval_ms : GW_D_PROBE_MS;
    d->unknown_ms = o->unknown_app_ms > 0 ? o->unknown_app_ms : GW_D_UNKNOWN_APP_MS;
    d->chunk_tokens = gw_queue_config_of(cfg)->chunk_tokens;
    if (d->chunk_tokens == 0)
        d->chunk_tokens = 1000;
    d->wake_at = INT64_MAX;
    d->more = 1;
    common_list_init(&d->outstanding);
    d->wake_ev = evtimer_new(o->base, wake_cb, d);
    d->flush_ev = event_new(o->base, -1, 0, gw__d_flush_cb, d);
    d->reap_ev = event_new(o->base, -1, 0, reap_cb, d);
    d->stats_ev = event_new(o->base, -1, EV_PERSIST, gw__d_stats_cb, d);
    d->hold_ev = evtimer_new(o->base, gw__d_hold_cb, d);
    if (d->wake_ev == NULL || d->flush_ev == NULL || d->reap_ev == NULL || d->stats_ev == NULL ||
        d->hold_ev == NULL) {
        gw_dispatch_free(d);
        return APNS_ENOMEM;
    }
    rc = install(d, cfg, NULL, detail, detail_len);
    if (rc != 0) {
        gw_dispatch_free(d);
        return rc;
    }
    gw_timer_in(d->stats_ev, GW_D_STATS_MS);
    *out = d;
    return 0;
}

void gw_dispatch_free(gw_dispatch *d)
{
    if (d == NULL)
        return;
    /* Apps first: their clients go without callbacks, their chunks back to
     * the queue (pending tokens are leasable again). */
    free_apps(d->apps);
    free_apps(d->retiring);
    if (d->lease != NULL)
        d->lease->d = NULL; /* its callback hands the chunks back */
    /* Outcomes posted but not yet confirmed: the callback frees the batch. */
    COMMON_LIST_FOREACH(it, tmp, &d->outstanding)
    {
        COMMON_CONTAINER_OF(it, gw_dbatch, link)->d = NULL;
    }
    if (d->cur != NULL) /* never posted: those tokens are simply pending */
        gw__d_batch_free(d->cur);
    gw__d_record_free(d); /* kept answers not yet stored: those tokens are pending */
    while (d->fcms != NULL) {
        gw_dfcm *f = d->fcms;
        d->fcms = f->next;
        gw__d_fcm_free(f);
    }
    while (d->teams != NULL) {
        gw_dteam *t = d->teams;
        d->teams = t->next;
        gw__d_team_free(t);
    }
    gw_events_free((struct event *[]){d->wake_ev, d->flush_ev, d->reap_ev, d->stats_ev, d->hold_ev,
                                      d->drain_timer, d->done_ev},
                   7);
    free(d);
}

/* ---- queries --------------------------------------------------------------- */

int gw_dispatch_ready(const gw_dispatch *d)
{
    if (d == NULL)
        return 0;
    for (const gw_app *a = d->apps; a != NULL; a = a->next) {
        apns_client_stats s;
        if (a->paused)
            continue;
        apns_client_stats_get(a->client, &s);
        if (s.connections_up == 0)
            return 0;
    }
    return 1;
}

int gw_dispatch_app_paused(const gw_dispatch *d, const char *app)
{
    const gw_app *a = d != NULL && app != NULL ? find_app(d, app) : NULL;
    return a != NULL && a->paused;
}

void gw_dispatch_stats_get(const gw_dispatch *d, gw_dispatch_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (d == NULL)
        return;
    s->leased = d->leased;
    s->held = gw__d_held(d);
    for (const gw_app *a = d->apps; a != NULL; a = a->next) {
        s->apps++;
        s->paused += a->paused != 0;
        s->in_flight += a->in_flight;
    }
    for (const gw_app *a = d->retiring; a != NULL; a = a->next) {
        s->retiring++;
        s->in_flight += a->in_flight;
    }
}

int gw_dispatch_reload(gw_dispatch *d, const gw_config *cfg, const gw_config_diff *diff,
                       char *detail, size_t detail_len)
{
    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if (d == NULL || cfg == NULL || diff == NULL)
        return APNS_EINVAL;
    if (d->draining)
        return APNS_ESHUTDOWN;
    d->reload_gen++;
    return install(d, cfg, diff, detail, detail_len);
}
