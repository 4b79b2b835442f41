/*
 * js_held.c - chunks a paused app handed back, kept on this node until
 * their time or until the app is woken (gw_queue_wake).
 *
 * Design note
 * -----------
 * A paused app (a credential error) hands its chunks back with not_before
 * = its probe time, up to an hour away. A nak with that delay cannot be
 * called back: a reload that fixes the credentials would leave the work
 * waiting for the old probe time (58 s observed) while SQLite's wake
 * brings it forward at once. So such a hand-back (due by not_before alone,
 * at least HOLD_MIN_MS away) is held back instead: the message stays leased
 * by this node, kept alive with in-progress acks like a lease, and
 *   - at its time, naked without delay (redelivered at once);
 *   - on a wake of its app (GW_QUEUE_REQ_WAKE, the dispatcher's reload of
 *     a paused app), naked at once too, and the request says work, so the
 *     loop leases again (the lease thread's long poll takes the message);
 *   - when the node stops or dies: not acked, back after ack_wait, like
 *     any lease (its hand-back count was stored before holding it).
 * At most HOLD_MAX messages are held back; past it the delayed nak is used.
 * Queue thread only (hand-back, wake, idle, free): no lock.
 */
#include "js_int.h"

#include <stdlib.h>
#include <string.h>

#define HOLD_MIN_MS 2000
#define HOLD_MAX    4096

static natsStatus held_ack(gw_js *js, natsMsg *m, int wpi)
{
    atomic_fetch_add(&js->op_ack, 1);
    return wpi ? natsMsg_InProgress(m, NULL) : natsMsg_Nak(m, NULL);
}

int gw_js_hold(gw_js *js, gw_js_lease *l, int64_t due, int64_t now)
{
    if (due - now < HOLD_MIN_MS || js->n_held_back >= HOLD_MAX)
        return 0;
    l->not_before = due;
    l->wpi_ms = common_mono_ms();
    common_list_push_back(&js->held_back, &l->node);
    js->n_held_back++;
    return 1;
}

/* Naks l without delay (redelivered at once) and forgets it. */
static void release_held(gw_js *js, gw_js_lease *l)
{
    held_ack(js, l->msg, 0);
    gw_js_lease_free(l);
    js->n_held_back--;
}

uint64_t gw_js_wake_held(gw_js *js, const char *app, int64_t until)
{
    uint64_t n = 0;

    COMMON_LIST_FOREACH(it, tmp, &js->held_back)
    {
        gw_js_lease *l = COMMON_CONTAINER_OF(it, gw_js_lease, node);
        if (strcmp(l->app, app) == 0 && l->not_before <= until) {
            release_held(js, l);
            n++;
        }
    }
    return n;
}

int64_t gw_js_held_tick(gw_js *js, int64_t hb)
{
    int64_t now = gw_queue__now(js->q), mono = common_mono_ms(), next = hb;

    COMMON_LIST_FOREACH(it, tmp, &js->held_back)
    {
        gw_js_lease *l = COMMON_CONTAINER_OF(it, gw_js_lease, node);
        if (l->not_before <= now) {
            release_held(js, l);
            continue;
        }
        if (mono - l->wpi_ms >= hb && held_ack(js, l->msg, 1) == NATS_OK)
            l->wpi_ms = mono;
        if (l->not_before - now < next)
            next = l->not_before - now;
    }
    return next;
}

void gw_js_held_forget(gw_js *js)
{
    while (!common_list_empty(&js->held_back))
        gw_js_lease_free(COMMON_CONTAINER_OF(js->held_back.next, gw_js_lease, node));
    js->n_held_back = 0;
}
