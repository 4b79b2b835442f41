/*
 * store_worker.h - one storage thread fed by a request queue, with
 * completions delivered back on a libevent loop (internal to the queue: the
 * front end, queue_req.c, runs each backend's batches on it).
 *
 * The loop thread posts requests; the worker thread takes EVERY request
 * waiting at that moment as one batch and hands it to the batch function
 * (a backend runs it as one transaction: group commit). A sleeping worker is
 * woken by the loop's posts only after the callbacks already active when
 * the first of them came (an active event), so what those callbacks post is
 * one batch. Finished
 * requests go onto a completion list and a byte on a pipe wakes the loop,
 * which calls each request's complete() in posting order. The mutex is held
 * only to link and unlink lists, never during storage work, so posting never
 * blocks the loop on I/O.
 *
 * Between batches the worker calls the backend's idle function when it is
 * due (retention passes), so periodic work runs in its own short
 * transactions and never delays requests for long.
 */
#ifndef GW_STORE_WORKER_H
#define GW_STORE_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct gw_req gw_req;
struct gw_req {
    gw_req *next;
    int bounded; /* counts against max_bounded (API requests) */
    int lazy;    /* may wait up to the worker's window for company (gw_worker_set_window):
                    work nobody is waiting for, e.g. recording outcomes */
    /* On the loop thread after the batch ran: deliver (deliver = 1) or only
     * free (deliver = 0, at shutdown). Must free the request. */
    void (*complete)(gw_req *r, int deliver);
};

/* Runs a batch (a list in posting order, linked by next) on the worker
 * thread. Must not unlink requests. */
typedef void (*gw_worker_batch_fn)(gw_req *head, void *ud);
/* Periodic work on the worker thread; returns ms until it is due again
 * (0 = as soon as no request is waiting). */
typedef int64_t (*gw_worker_idle_fn)(void *ud);

typedef struct gw_worker gw_worker;

/* Starts the thread. idle may be NULL; first_idle_ms: delay before the first
 * idle call (< 0 = never). Must be called on the thread that runs base:
 * posts from that thread wake the worker through an event on base, so they
 * are taken once the loop turns (or at gw_worker_free). Returns 0,
 * APNS_ENOMEM, APNS_EIO (pipe, eventfd, event or thread). */
int gw_worker_new(gw_worker **out, struct event_base *base, size_t max_bounded,
                  gw_worker_batch_fn batch, gw_worker_idle_fn idle, int64_t first_idle_ms,
                  void *ud);

/* Queues r. Returns 0, GW_QUEUE_EBACKLOG (bounded and max_bounded are
 * waiting), GW_QUEUE_ECLOSED (stopping). On error r is untouched (the
 * caller frees it). */
int gw_worker_post(gw_worker *w, gw_req *r);

/* Lets lazy requests (gw_req.lazy) wait: the worker takes a todo list of
 * only lazy requests once the oldest of them has waited window_ms, or max_lazy
 * of them are waiting, or any other request is posted (which takes them all
 * along), so outcomes trickling in become one transaction per window, not one
 * per wake-up; posting a lazy request into such a list wakes nobody.
 * window_ms 0 (the default) takes every request at once. Loop thread, before
 * the first post. */
void gw_worker_set_window(gw_worker *w, int64_t window_ms, size_t max_lazy);

/* Requests posted and not yet completed on the loop. Any thread. */
size_t gw_worker_outstanding(gw_worker *w);
/* For tests: 1 when the worker sleeps with nothing it may take yet (and
 * nobody has woken it), 0 when it runs, is about to, or has been woken.
 * Any thread. */
int gw_worker_asleep(gw_worker *w);
/* on = 1: the worker takes nothing posted from now until the matching
 * on = 0, so requests posted in between (a group) run in one batch. Loop
 * thread; never blocks. */
void gw_worker_hold(gw_worker *w, int on);

/* Runs every posted request, joins the thread, frees requests without
 * delivering them, frees w. Loop thread, outside callbacks. */
void gw_worker_free(gw_worker *w);

#endif
