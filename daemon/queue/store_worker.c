/*
 * store_worker.c - the storage thread and its two lists (store_worker.h).
 *
 * Design note. Two singly linked FIFO lists under one mutex: `todo` (posted,
 * not yet taken) and `done` (ran, not yet delivered). The worker swaps the
 * whole todo list out in O(1), so a burst of submits that arrives while an
 * fsync is in progress becomes the next batch: that is the group commit.
 * The loop is woken by one byte on a non-blocking pipe, written only when
 * the done list goes from empty to non-empty, so a busy queue costs one
 * write and one read per batch, not per request. The pipe works with any
 * event_base (no evthread setup needed by the daemon).
 *
 * Lazy requests (gw_worker_set_window): while todo holds only lazy
 * requests, the worker sleeps until the first of them is window_ms old (or
 * max_lazy are waiting, or an eager request comes), and a lazy post into a
 * non-empty todo does not signal: a steady trickle of outcome batches
 * costs one wake-up and one transaction per window instead of one per post.
 *
 * Waking the worker (issue 16). The worker sleeps in poll() on an eventfd,
 * having said so in `sleeping` under the mutex; a post that needs it awake
 * clears `sleeping` and writes the eventfd after unlocking. So a wake-up is
 * one write and one read, only when the worker really sleeps, and the woken
 * worker never finds the mutex held by its waker (a condition variable,
 * signalled under the mutex, made each wake-up a burst of futex calls and
 * context switches on both threads). Posts from the loop thread do not
 * write at once: the write waits for an active event, which libevent runs
 * after the callbacks already active when the first post came, so what
 * they post (a delivery's follow-up leases and releases, several API
 * requests read together) is one batch, not a wake-up for the first and a
 * second batch for the rest. A post while the worker is held (a group)
 * wakes nobody: gw_worker_hold(0) does. Other threads write at once.
 */
#include "store_worker.h"

#include "queue_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

struct gw_worker {
    pthread_mutex_t mu;
    int sleeping; /* the worker waits (or is about to) on wake_fd */
    int kick;     /* a loop-thread post wants the worker awake: kick_ev is active */
    gw_req *todo_head, *todo_tail;
    gw_req *done_head, *done_tail;
    size_t bounded, max_bounded;
    int hold; /* gw_worker_hold: todo is not taken while > 0 */
    size_t todo_lazy, todo_eager;
    int64_t lazy_since; /* monotonic ms of the first lazy request in todo */
    int64_t window_ms;
    size_t max_lazy;
    atomic_size_t outstanding;
    int stop;

    gw_worker_batch_fn batch;
    gw_worker_idle_fn idle;
    int64_t idle_due; /* monotonic ms; < 0 never */
    void *ud;

    pthread_t thread;
    pthread_t loop; /* the loop thread (gw_worker_new's caller) */
    int fds[2];
    int wake_fd; /* eventfd the sleeping worker polls */
    struct event *ev;
    struct event *kick_ev;
};

/* Writes n bytes to a non-blocking fd, again after EINTR. EAGAIN needs
 * nothing more: the pipe is full or the eventfd's counter at its maximum,
 * so the reader is due to wake anyway. */
static void poke(int fd, const void *b, size_t n)
{
    ssize_t r;

    do
        r = write(fd, b, n);
    while (r < 0 && errno == EINTR);
}

static void wake_worker(gw_worker *w)
{
    uint64_t one = 1;

    poke(w->wake_fd, &one, sizeof(one));
}

enum { WAKE_NONE, WAKE_NOW, WAKE_SOON };

/* Under mu: todo has something the worker must take. Nothing to do unless
 * it sleeps; on the loop thread the wake-up waits for the end of the loop's
 * round (WAKE_SOON: activate kick_ev, once per round); on another thread it
 * is at once (WAKE_NOW: the caller writes the eventfd after unlocking). */
static int want_worker(gw_worker *w)
{
    if (!w->sleeping)
        return WAKE_NONE;
    if (!pthread_equal(pthread_self(), w->loop)) {
        w->sleeping = 0; /* woken: no second write for it */
        return WAKE_NOW;
    }
    if (w->kick)
        return WAKE_NONE;
    w->kick = 1;
    return WAKE_SOON;
}

/* After unlocking mu: acts on want_worker's answer. */
static void wake_now_or_soon(gw_worker *w, int wake)
{
    if (wake == WAKE_NOW)
        wake_worker(w);
    else if (wake == WAKE_SOON)
        event_active(w->kick_ev, EV_TIMEOUT, 0);
}

/* The worker's sleep: up to wait_ms (< 0: until woken), mu not held. */
static void sleep_worker(gw_worker *w, int64_t wait_ms)
{
    struct pollfd p = {.fd = w->wake_fd, .events = POLLIN};
    uint64_t n;

    /* A failed poll (EINTR; nothing else can happen to one valid fd) only
     * makes the caller look at todo again. */
    if (poll(&p, 1, wait_ms < 0 ? -1 : wait_ms > INT32_MAX ? INT32_MAX : (int)wait_ms) > 0)
        while (read(w->wake_fd, &n, sizeof(n)) < 0 && errno == EINTR)
            ;
}

static void wake_loop(gw_worker *w)
{
    char b = 1;

    poke(w->fds[1], &b, 1);
}

static void finish_batch(gw_worker *w, gw_req *head)
{
    gw_req *tail = head;
    size_t bounded = 0;
    int was_empty;

    for (gw_req *r = head; r != NULL; r = r->next) {
        tail = r;
        bounded += r->bounded != 0;
    }
    pthread_mutex_lock(&w->mu);
    w->bounded -= bounded;
    was_empty = w->done_head == NULL;
    if (w->done_tail != NULL)
        w->done_tail->next = head;
    else
        w->done_head = head;
    w->done_tail = tail;
    pthread_mutex_unlock(&w->mu);
    if (was_empty)
        wake_loop(w);
}

/* Under mu: may the worker take todo now? Otherwise *wait_ms (>= 0) says
 * how long its lazy requests may still wait (-1: nothing to take). */
static int todo_ready(const gw_worker *w, int64_t now, int64_t *wait_ms)
{
    *wait_ms = -1;
    if (w->todo_head == NULL || w->hold != 0)
        return 0;
    if (w->todo_eager > 0 || w->window_ms <= 0 || w->todo_lazy >= w->max_lazy)
        return 1;
    *wait_ms = w->lazy_since + w->window_ms - now;
    return *wait_ms <= 0;
}

static void *worker_main(void *arg)
{
    gw_worker *w = arg;

    for (;;) {
        gw_req *head = NULL;
        int run_idle = 0, take = 0;

        pthread_mutex_lock(&w->mu);
        for (;;) {
            int64_t now = common_mono_ms(), wait, idle_wait = -1;

            take = todo_ready(w, now, &wait);
            if (take || w->stop)
                break;
            if (w->idle != NULL && w->idle_due >= 0) {
                idle_wait = w->idle_due - now;
                if (idle_wait <= 0) {
                    run_idle = 1;
                    break;
                }
            }
            if (wait < 0 || (idle_wait >= 0 && idle_wait < wait))
                wait = idle_wait;
            w->sleeping = 1;
            pthread_mutex_unlock(&w->mu);
            sleep_worker(w, wait);
            pthread_mutex_lock(&w->mu);
            w->sleeping = 0;
        }
        if (take || w->stop) {
            head = w->todo_head;
            w->todo_head = w->todo_tail = NULL;
            w->todo_lazy = w->todo_eager = 0;
        }
        if (head == NULL && w->stop) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        pthread_mutex_unlock(&w->mu);

        if (head != NULL) {
            w->batch(head, w->ud);
            finish_batch(w, head);
            /* Idle work that is overdue runs between batches too, so a
             * steady stream of requests cannot starve it. */
            run_idle = w->idle != NULL && w->idle_due >= 0 && common_mono_ms() >= w->idle_due;
        }
        if (run_idle) {
            int64_t next = w->idle(w->ud);
            w->idle_due = next < 0 ? -1 : common_mono_ms() + next;
        }
    }
    return NULL;
}

static void deliver(gw_worker *w, int deliver_cbs)
{
    gw_req *r;

    pthread_mutex_lock(&w->mu);
    r = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (r != NULL) {
        gw_req *next = r->next;
        atomic_fetch_sub(&w->outstanding, 1);
        r->complete(r, deliver_cbs);
        r = next;
    }
}

static void on_pipe(evutil_socket_t fd, short what, void *arg)
{
    gw_worker *w = arg;
    char buf[64];

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    deliver(w, 1);
}

/* The end of a loop round that posted: wake the worker once for all of it. */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    gw_worker *w = arg;
    int wake;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&w->mu);
    w->kick = 0;
    wake = w->sleeping; /* it may have woken by itself meanwhile */
    w->sleeping = 0;
    pthread_mutex_unlock(&w->mu);
    if (wake)
        wake_worker(w);
}

/* Frees what gw_worker_new made (no thread running). */
static void destroy(gw_worker *w)
{
    if (w->ev != NULL)
        event_free(w->ev);
    if (w->kick_ev != NULL)
        event_free(w->kick_ev);
    close(w->fds[0]);
    close(w->fds[1]);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int gw_worker_new(gw_worker **out, struct event_base *base, size_t max_bounded,
                  gw_worker_batch_fn batch, gw_worker_idle_fn idle, int64_t first_idle_ms, void *ud)
{
    gw_worker *w;

    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return APNS_ENOMEM;
    w->max_bounded = max_bounded;
    w->batch = batch;
    w->idle = idle;
    w->idle_due = first_idle_ms < 0 ? -1 : common_mono_ms() + first_idle_ms;
    w->ud = ud;
    atomic_init(&w->outstanding, 0);
    w->loop = pthread_self();
    if (pipe2(w->fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(w);
        return APNS_EIO;
    }
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&w->mu, NULL);
    w->ev = event_new(base, w->fds[0], EV_READ | EV_PERSIST, on_pipe, w);
    w->kick_ev = event_new(base, -1, 0, on_kick, w);
    if (w->wake_fd < 0 || w->ev == NULL || w->kick_ev == NULL || event_add(w->ev, NULL) != 0)
        goto fail;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        goto fail;
    *out = w;
    return 0;
fail:
    destroy(w);
    return APNS_EIO;
}

int gw_worker_post(gw_worker *w, gw_req *r)
{
    int signal, wake;

    pthread_mutex_lock(&w->mu);
    if (w->stop) {
        pthread_mutex_unlock(&w->mu);
        return GW_QUEUE_ECLOSED;
    }
    if (r->bounded && w->bounded >= w->max_bounded) {
        pthread_mutex_unlock(&w->mu);
        return GW_QUEUE_EBACKLOG;
    }
    w->bounded += r->bounded != 0;
    r->next = NULL;
    if (w->todo_tail != NULL)
        w->todo_tail->next = r;
    else
        w->todo_head = r;
    w->todo_tail = r;
    atomic_fetch_add(&w->outstanding, 1);
    /* A lazy request joining a list the worker already knows about (it is
     * sleeping until the window ends, or busy) needs no signal. */
    if (r->lazy && w->window_ms > 0) {
        if (w->todo_lazy++ == 0)
            w->lazy_since = common_mono_ms();
        signal = w->todo_lazy == 1 || w->todo_lazy == w->max_lazy;
    } else {
        w->todo_eager++;
        signal = 1;
    }
    wake = signal && w->hold == 0 ? want_worker(w) : WAKE_NONE;
    pthread_mutex_unlock(&w->mu);
    wake_now_or_soon(w, wake);
    return 0;
}

void gw_worker_set_window(gw_worker *w, int64_t window_ms, size_t max_lazy)
{
    pthread_mutex_lock(&w->mu);
    w->window_ms = window_ms > 0 ? window_ms : 0;
    w->max_lazy = max_lazy > 0 ? max_lazy : 1;
    pthread_mutex_unlock(&w->mu);
}

void gw_worker_hold(gw_worker *w, int on)
{
    int wake = WAKE_NONE;

    pthread_mutex_lock(&w->mu);
    w->hold += on ? 1 : -1;
    if (w->hold == 0 && w->todo_head != NULL)
        wake = want_worker(w);
    pthread_mutex_unlock(&w->mu);
    wake_now_or_soon(w, wake);
}

size_t gw_worker_outstanding(gw_worker *w)
{
    return atomic_load(&w->outstanding);
}

int gw_worker_asleep(gw_worker *w)
{
    int asleep;

    pthread_mutex_lock(&w->mu);
    asleep = w->sleeping && !w->kick;
    pthread_mutex_unlock(&w->mu);
    return asleep;
}

void gw_worker_free(gw_worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_mutex_unlock(&w->mu);
    wake_worker(w);
    pthread_join(w->thread, NULL);
    deliver(w, 0);
    destroy(w);
}
