/* test_store_worker.c - the storage thread's lists (store_worker.c): lazy
 * requests (outcomes, hand-backs) wait for company, so they share one batch
 * (one transaction) instead of one each. Counted by batches, never timed:
 * the window is an hour where a test must not depend on it ending. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "store_worker.h"

#define HOUR_MS 3600000
#define MAX_REQ 64

typedef struct item {
    gw_req base;
    int id;
} item;

typedef struct fx {
    struct event_base *base;
    gw_worker *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* signalled after each batch */
    int batches;                   /* batches the worker ran */
    int sizes[MAX_REQ];            /* requests in batch k */
    int order[MAX_REQ], n_ordered; /* ids in the order the batches held them */
    int delivered, freed;          /* complete(deliver = 1 / 0) calls */
    item v[MAX_REQ];
} fx;

static fx *cur;

static void on_batch(gw_req *head, void *ud)
{
    fx *f = ud;
    int n = 0;

    pthread_mutex_lock(&f->mu);
    for (gw_req *g = head; g != NULL; g = g->next, n++)
        if (f->n_ordered < MAX_REQ)
            f->order[f->n_ordered++] = ((item *)g)->id;
    if (f->batches < MAX_REQ)
        f->sizes[f->batches] = n;
    f->batches++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void on_complete(gw_req *r, int deliver)
{
    (void)r;
    if (deliver)
        cur->delivered++;
    else
        cur->freed++;
}

static int setup(void **state)
{
    static fx f;

    memset(&f, 0, sizeof(f));
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    f.base = event_base_new();
    assert_non_null(f.base);
    assert_int_equal(gw_worker_new(&f.w, f.base, 100, on_batch, NULL, -1, &f), 0);
    cur = &f;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    gw_worker_free(f->w);
    event_base_free(f->base);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    return 0;
}

static void post(fx *f, int id, int lazy)
{
    item *it = &f->v[id];

    it->id = id;
    it->base.lazy = lazy;
    it->base.complete = on_complete;
    assert_int_equal(gw_worker_post(f->w, &it->base), 0);
}

/* The batches run so far, after giving the worker up to ms to run one
 * more. Used only to show that none ran: with an hour's window the answer
 * does not depend on ms (without the window the worker would have taken
 * the request at once). */
static int batches_after(fx *f, int ms)
{
    struct timespec ts;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&f->mu);
    if (f->batches == 0)
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    n = f->batches;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static void run_until_delivered(fx *f, int n)
{
    while (f->delivered < n)
        event_base_loop(f->base, EVLOOP_ONCE);
}

/* max_lazy outcome batches posted one by one become ONE batch (one
 * transaction), in posting order; before the change each post woke the
 * worker, which took what was there. */
static void lazy_share_one_batch(void **state)
{
    fx *f = *state;

    gw_worker_set_window(f->w, HOUR_MS, 8);
    post(f, 0, 1);
    assert_int_equal(batches_after(f, 200), 0);
    for (int i = 1; i < 8; i++)
        post(f, i, 1);
    run_until_delivered(f, 8);
    assert_int_equal(f->batches, 1);
    assert_int_equal(f->sizes[0], 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(f->order[i], i);
}

/* An eager request (a submit, a lease) takes the waiting lazy ones along,
 * and later lazy ones wait for the next company again. */
static void eager_takes_lazy_along(void **state)
{
    fx *f = *state;

    gw_worker_set_window(f->w, HOUR_MS, 100);
    post(f, 0, 1);
    post(f, 1, 1);
    post(f, 2, 1);
    post(f, 3, 0);
    run_until_delivered(f, 4);
    assert_int_equal(f->batches, 1);
    assert_int_equal(f->sizes[0], 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f->order[i], i);

    post(f, 4, 1);
    post(f, 5, 0);
    run_until_delivered(f, 6);
    assert_int_equal(f->batches, 2);
    assert_int_equal(f->sizes[1], 2);
    assert_int_equal(f->order[4], 4);
    assert_int_equal(f->order[5], 5);
}

/* Alone, a lazy request still runs once its window is over. */
static void window_ends(void **state)
{
    fx *f = *state;

    gw_worker_set_window(f->w, 2, 100);
    post(f, 0, 1);
    run_until_delivered(f, 1);
    assert_int_equal(f->batches, 1);
    assert_int_equal(f->sizes[0], 1);
}

/* Without a window (the default, e.g. JetStream) lazy means nothing. */
static void no_window_no_wait(void **state)
{
    fx *f = *state;

    post(f, 0, 1);
    run_until_delivered(f, 1);
    assert_int_equal(f->batches, 1);
}

/* The requests of one loop callback are one batch: the sleeping worker is
 * woken when the loop's round is over, not by the first of them (which it
 * would take alone, leaving the rest to a second batch). */
typedef struct round {
    fx *f;
    int first, n;
} round;

static void post_round(evutil_socket_t fd, short what, void *arg)
{
    round *r = arg;

    (void)fd;
    (void)what;
    for (int i = 0; i < r->n; i++)
        post(r->f, r->first + i, 0);
}

/* Liveness bounds only (a hang becomes a failure, not a 300 s ctest
 * timeout): the worker falls asleep in microseconds. */
#define LIVENESS_S 30

static void wait_asleep(fx *f)
{
    time_t give_up = time(NULL) + LIVENESS_S;

    while (!gw_worker_asleep(f->w)) {
        if (time(NULL) > give_up)
            fail_msg("the worker never went to sleep");
        sched_yield();
    }
}

static void one_round_one_batch(void **state)
{
    fx *f = *state;
    round r = {f, 0, 5};
    struct event *ev = event_new(f->base, -1, 0, post_round, &r);

    assert_non_null(ev);
    for (int k = 0; k < 3; k++) {
        wait_asleep(f);
        event_active(ev, EV_TIMEOUT, 0);
        run_until_delivered(f, r.first + r.n);
        assert_int_equal(f->batches, k + 1);
        assert_int_equal(f->sizes[k], r.n);
        r.first += r.n;
    }
    for (int i = 0; i < r.first; i++)
        assert_int_equal(f->order[i], i);
    event_free(ev);
}

/* A post from another thread (a JetStream callback's notice) wakes the
 * worker at once: that thread has no loop round to wait for. */
static void *post_from_thread(void *arg)
{
    fx *f = arg;

    post(f, 0, 0);
    return NULL;
}

static void other_thread_wakes_at_once(void **state)
{
    fx *f = *state;
    pthread_t t;

    wait_asleep(f);
    assert_int_equal(pthread_create(&t, NULL, post_from_thread, f), 0);
    pthread_join(t, NULL);
    /* Taken without the loop running (the batch runs on the worker). */
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += LIVENESS_S;
    pthread_mutex_lock(&f->mu);
    while (f->batches == 0 && rc == 0)
        rc = pthread_cond_timedwait(&f->cv, &f->mu, &until);
    pthread_mutex_unlock(&f->mu);
    if (f->batches == 0)
        fail_msg("a post from another thread did not wake the worker");
    run_until_delivered(f, 1);
    assert_int_equal(f->sizes[0], 1);
}

/* Stopping runs what waits: nothing posted is lost to the window. */
static void stop_runs_waiting(void **state)
{
    fx *f = *state;

    gw_worker_set_window(f->w, HOUR_MS, 100);
    post(f, 0, 1);
    post(f, 1, 1);
    gw_worker_free(f->w);
    assert_int_equal(f->batches, 1);
    assert_int_equal(f->sizes[0], 2);
    assert_int_equal(f->freed, 2);
    assert_int_equal(f->delivered, 0);
    /* teardown frees a fresh one */
    assert_int_equal(gw_worker_new(&f->w, f->base, 100, on_batch, NULL, -1, f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lazy_share_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(eager_takes_lazy_along, setup, teardown),
        cmocka_unit_test_setup_teardown(window_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(no_window_no_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_runs_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(one_round_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(other_thread_wakes_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
