/*
 * dispatch_drain.c - stopping the dispatcher (SIGTERM): stop leasing and
 * feeding; answers still arriving are recorded; each chunk is handed back
 * once idle; then every client drains (GOAWAY) and `done` fires from the
 * loop. At the timeout the held chunks go back at once (what was in flight
 * is pending in the database and sent after the restart, with the same
 * apns-ids) and `done` fires anyway.
 */
#include "dispatch_int.h"

#include <event2/event.h>

/* ---- drain ----------------------------------------------------------------- */

static void done_cb(int fd, short what, void *ud)
{
    gw_dispatch *d = ud;
    void (*done)(void *) = d->drain_done;

    d->drain_done = NULL;
    if (d->drain_timer != NULL)
        evtimer_del(d->drain_timer);
    if (done != NULL)
        done(d->drain_ud);
}

static void finish_drain(gw_dispatch *d)
{
    if (d->drain_phase == 3)
        return;
    d->drain_phase = 3;
    event_active(d->done_ev, EV_TIMEOUT, 0);
}

/* Every active app's client has closed its connections. */
static int all_drained(const gw_dispatch *d)
{
    for (const gw_app *a = d->apps; a != NULL; a = a->next)
        if (!a->drained)
            return 0;
    return 1;
}

void gw__d_on_drained(apns_client *c, void *ud)
{
    gw_app *a = ud;
    gw_dispatch *d = a->d;

    /* An app with a broadcast client is drained once both are. */
    if (c == a->pub)
        a->pub_drained = 1;
    else
        a->client_drained = 1;
    if (!a->client_drained || (a->pub != NULL && !a->pub_drained))
        return;
    a->drained = 1;
    if (a->retiring)
        gw__d_reap_soon(d);
    else if (d->drain_phase == 2 && all_drained(d))
        finish_drain(d);
}

void gw__d_check_drain(gw_dispatch *d)
{
    if (!d->draining || d->drain_phase != 1)
        return;
    if (d->lease != NULL || d->cur != NULL || !common_list_empty(&d->outstanding))
        return;
    for (gw_app *a = d->apps; a != NULL; a = a->next)
        if (a->chunks.len > 0 || a->in_flight > 0)
            return;
    /* Every answer is recorded and every chunk handed back: close the
     * connections politely. */
    d->drain_phase = 2;
    for (gw_app *a = d->apps; a != NULL; a = a->next) {
        apns_client_drain(a->client, gw__d_on_drained); /* on_drained comes from the loop */
        if (a->pub != NULL)
            apns_client_drain(a->pub, gw__d_on_drained);
    }
    if (d->apps == NULL)
        finish_drain(d);
}

static void drain_timeout_cb(int fd, short what, void *ud)
{
    gw_dispatch *d = ud;
    size_t in_flight = 0;

    if (d->drain_phase == 3)
        return;
    for (gw_app *a = d->apps; a != NULL; a = a->next) {
        in_flight += a->in_flight;
        gw__d_force_release(a);
    }
    gw__d_flush(d);
    if (in_flight > 0)
        gw_log(GW_LOG_WARN, "dispatch",
               "drain timed out: unanswered notifications stay queued and are sent after the "
               "restart (same apns-id)",
               "in_flight", GW_LOG_INT(in_flight), NULL);
    else
        gw_log(GW_LOG_WARN, "dispatch", "drain timed out while closing connections", NULL);
    finish_drain(d);
}

void gw_dispatch_drain(gw_dispatch *d, int64_t timeout_ms, void (*done)(void *ud), void *ud)
{

    if (d == NULL)
        return;
    d->drain_done = done;
    d->drain_ud = ud;
    if (d->done_ev == NULL)
        d->done_ev = event_new(d->o.base, -1, 0, done_cb, d);
    if (d->drain_timer == NULL)
        d->drain_timer = evtimer_new(d->o.base, drain_timeout_cb, d);
    if (d->draining) { /* already draining: just the new callback */
        if (d->drain_phase == 3)
            event_active(d->done_ev, EV_TIMEOUT, 0);
        return;
    }
    d->draining = 1;
    d->drain_phase = 1;
    gw_timer_in(d->drain_timer, timeout_ms);
    evtimer_del(d->wake_ev);
    for (gw_app *a = d->apps; a != NULL; a = a->next) {
        if (a->probe_ev != NULL)
            evtimer_del(a->probe_ev);
        gw__d_feedback_stop(a);
        gw__d_app_check_chunks(a);
    }
    gw__d_flush(d);
    gw__d_check_drain(d);
}
