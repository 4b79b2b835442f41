/*
 * test_queue_util.h - helpers shared by the queue tests (and the API and
 * dispatcher tests that use a queue): a temp directory, a fake clock, and
 * synchronous wrappers that post a request and run the event loop until its
 * callback fired (asserting it fired on this thread).
 */
#ifndef TEST_QUEUE_UTIL_H
#define TEST_QUEUE_UTIL_H

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "queue_sqlite.h"

static pthread_t tq_loop_thread;
static atomic_llong tq_clock = 1700000000000LL;

static inline int64_t tq_clock_ms(void *ud)
{
    (void)ud;
    return atomic_load(&tq_clock);
}

static inline double tq_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int tq_small(void)
{
    const char *s = getenv("APNSD_TEST_SMALL");
    return s != NULL && s[0] != '\0' && s[0] != '0';
}

static inline char *tq_tmpdir(void)
{
    char *d = strdup("/tmp/apnsd-queue-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static inline void tq_rmdir(char *d)
{
    DIR *dir = opendir(d);
    struct dirent *e;
    char p[512];

    while (dir != NULL && (e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
        unlink(p);
    }
    if (dir != NULL)
        closedir(dir);
    rmdir(d);
    free(d);
}

static inline void tq_db_path(const char *dir, char *out, size_t len)
{
    snprintf(out, len, "%s/queue.db", dir);
}

/* Token i of a test job: 32 bytes derived from (seed, i), as hex. */
static inline void tq_token(uint64_t seed, uint64_t i, char out[65])
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + i + 1;
    static const char digits[] = "0123456789abcdef";

    for (int k = 0; k < 64; k += 16) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        for (int b = 0; b < 16; b++)
            out[k + b] = digits[(x >> (b * 4)) & 15];
    }
    out[64] = '\0';
}

static inline void tq_job(gw_job *j, const char *app, uint64_t seed, size_t n)
{
    static const char payload[] = "{\"aps\":{\"alert\":\"hello\"}}";
    char tok[65];

    gw_job_init(j);
    j->app = app;
    j->topic = "com.example.app";
    j->payload = payload;
    j->payload_len = sizeof(payload) - 1;
    for (size_t i = 0; i < n; i++) {
        tq_token(seed, i, tok);
        assert_int_equal(gw_token_list_add_hex(&j->tokens, tok, 64), 0);
    }
}

/* Deadline for one callback (ms; 0 = none). A test that sets one keeps a
 * timer on its loop, so that the loop wakes up to look at the clock. */
static int tq_wait_ms;

static inline void tq_run_until(struct event_base *base, volatile int *flag)
{
    double deadline = tq_secs() + tq_wait_ms / 1000.0;

    while (!*flag) {
        if (tq_wait_ms > 0 && tq_secs() > deadline)
            fail_msg("no callback within %d ms", tq_wait_ms);
        event_base_loop(base, EVLOOP_ONCE);
    }
}

/* ---- synchronous wrappers ---- */

typedef struct tq_res {
    volatile int done;
    int err;
    char detail[512];
    char id[GW_JOB_ID_LEN + 1];
    uint64_t count;
    gw_chunk *chunks[1024];
    size_t n;
    int64_t next_at;
    gw_job_status st;
    gw_token_outcome *outcomes; /* tq_store(): tokens may be 4096 bytes (FCM), */
    gw_dead_token *dead;        /* too large for a result on the stack */
    char cursor[GW_DEAD_CURSOR_MAX];
    int has_cursor;
} tq_res;

/* Static room for the outcomes and dead tokens of the last few results
 * (rotating: a test holds at most two or three results at once). */
#define TQ_STORES 4
static inline void *tq_store(int dead)
{
    static gw_token_outcome outcomes[TQ_STORES][128];
    static gw_dead_token deads[TQ_STORES][1000];
    static unsigned next[2];
    unsigned i = next[dead]++ % TQ_STORES;
    return dead ? (void *)deads[i] : (void *)outcomes[i];
}

static inline void tq_mark(tq_res *r, int err, const char *detail)
{
    assert_true(pthread_equal(pthread_self(), tq_loop_thread));
    r->err = err;
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    r->done = 1;
}

static inline void tq_on_submit(int err, const char *detail, const char *id, void *ud)
{
    tq_res *r = ud;
    snprintf(r->id, sizeof(r->id), "%s", id);
    tq_mark(r, err, detail);
}

static inline void tq_on_done(int err, const char *detail, void *ud)
{
    tq_mark(ud, err, detail);
}

static inline void tq_on_count(int err, const char *detail, uint64_t count, void *ud)
{
    ((tq_res *)ud)->count = count;
    tq_mark(ud, err, detail);
}

static inline void tq_on_lease(int err, const char *detail, gw_chunk **chunks, size_t n,
                               int64_t next_at, void *ud)
{
    tq_res *r = ud;
    assert_true(n <= 1024);
    memcpy(r->chunks, chunks, n * sizeof(*chunks));
    r->n = n;
    r->next_at = next_at;
    tq_mark(r, err, detail);
}

static inline void tq_on_status(int err, const char *detail, const gw_job_status *st, void *ud)
{
    tq_res *r = ud;
    if (st != NULL) {
        r->st = *st;
        r->n = st->n_outcomes;
        assert_true(st->n_outcomes <= 128);
        r->outcomes = tq_store(0);
        if (st->n_outcomes > 0)
            memcpy(r->outcomes, st->outcomes, st->n_outcomes * sizeof(*st->outcomes));
        r->st.outcomes = r->outcomes;
    }
    tq_mark(r, err, detail);
}

static inline void tq_on_dead(int err, const char *detail, const gw_dead_token *v, size_t n,
                              const char *next, void *ud)
{
    tq_res *r = ud;
    assert_true(n <= 1000);
    r->dead = tq_store(1);
    memcpy(r->dead, v, n * sizeof(*v));
    r->n = n;
    r->has_cursor = next != NULL;
    snprintf(r->cursor, sizeof(r->cursor), "%s", next ? next : "");
    tq_mark(r, err, detail);
}

static inline int tq_submit(struct event_base *b, gw_queue *q, gw_job *j, tq_res *r)
{
    int rc;
    memset(r, 0, sizeof(*r));
    rc = gw_queue_submit(q, j, NULL, tq_on_submit, r);
    if (rc != 0)
        return rc;
    tq_run_until(b, &r->done);
    return r->err;
}

static inline int tq_lease(struct event_base *b, gw_queue *q, size_t max, tq_res *r)
{
    int rc;
    memset(r, 0, sizeof(*r));
    rc = gw_queue_lease(q, max, tq_on_lease, r);
    if (rc != 0)
        return rc;
    tq_run_until(b, &r->done);
    return r->err;
}

static inline int tq_record(struct event_base *b, gw_queue *q, const gw_outcome *v, size_t n)
{
    tq_res r = {0};
    int rc = gw_queue_record(q, v, n, tq_on_done, &r);
    if (rc != 0)
        return rc;
    tq_run_until(b, &r.done);
    return r.err;
}

static inline int tq_release(struct event_base *b, gw_queue *q, gw_chunk *c, int64_t not_before)
{
    tq_res r = {0};
    int rc = gw_queue_release(q, c, not_before, tq_on_done, &r);
    if (rc != 0)
        return rc;
    tq_run_until(b, &r.done);
    return r.err;
}

static inline int tq_status(struct event_base *b, gw_queue *q, const char *id, tq_res *r)
{
    char copy[GW_JOB_ID_LEN + 1];
    int rc;
    snprintf(copy, sizeof(copy), "%s", id); /* id may point into r */
    memset(r, 0, sizeof(*r));
    rc = gw_queue_status(q, copy, tq_on_status, r);
    if (rc != 0)
        return rc;
    tq_run_until(b, &r->done);
    return r->err;
}

static inline void tq_log(apns_log_level lvl, const char *msg, void *ud)
{
    (void)ud;
    if (lvl <= APNS_LOG_WARN && getenv("APNSD_TEST_VERBOSE") != NULL)
        fprintf(stderr, "[queue] %s\n", msg);
}

static inline void tq_opts(gw_queue_opts *o, struct event_base *base, int fake_clock)
{
    gw_queue_opts_init(o);
    o->base = base;
    o->purge_interval_ms = -1;
    o->on_log = tq_log;
    if (fake_clock)
        o->clock_ms = tq_clock_ms;
}

static inline gw_queue *tq_open(const gw_queue_opts *o, const char *path)
{
    gw_queue_sqlite_opts so = {0};
    gw_queue *q = NULL;
    char detail[512];

    so.path = path;
    if (gw_queue_sqlite_open(&q, o, &so, detail, sizeof(detail)) != 0)
        fail_msg("open %s: %s", path, detail);
    tq_loop_thread = pthread_self();
    return q;
}

#endif
