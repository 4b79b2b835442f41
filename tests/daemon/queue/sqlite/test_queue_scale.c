/* test_queue_scale.c - a 1,000,000-token broadcast is one job of ~1,000
 * chunk rows; leasing, recording 1M outcomes and purging it stay bounded.
 * Timings are printed, never asserted. APNSD_TEST_SMALL=1: 100,000 tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "test_queue_util.h"

static int64_t count_rows(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t n = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

typedef struct pending {
    volatile int left;
    int err;
} pending;

static void on_recorded(int err, const char *detail, void *ud)
{
    pending *p = ud;
    assert_true(pthread_equal(pthread_self(), tq_loop_thread));
    if (err != 0 && p->err == 0) {
        p->err = err;
        fprintf(stderr, "record: %s\n", detail);
    }
    p->left--;
}

static void broadcast(void **state)
{
    size_t n = tq_small() ? 100000 : 1000000;
    char *dir = tq_tmpdir(), path[512];
    struct event_base *base = event_base_new();
    gw_queue_opts o;
    gw_queue *q;
    gw_job j;
    tq_res r, l;
    double t, t_build, t_submit, t_out, t_purge, worst_step = 0;
    size_t leased = 0, tokens = 0, lease_calls = 0;
    gw_outcome *v;
    pending p = {0};

    tq_db_path(dir, path, sizeof(path));
    atomic_store(&tq_clock, 1700000000000LL);
    tq_opts(&o, base, 1);
    o.retention_ms = 1;
    q = tq_open(&o, path);

    t = tq_secs();
    tq_job(&j, "big", 42, n);
    t_build = tq_secs() - t;
    t = tq_secs();
    assert_int_equal(tq_submit(base, q, &j, &r), 0);
    t_submit = tq_secs() - t;
    assert_int_equal(gw_queue_depth(q), n);
    assert_int_equal(count_rows(path, "SELECT count(*) FROM job"), 1);
    assert_int_equal(count_rows(path, "SELECT count(*) FROM chunk"), (int64_t)((n + 999) / 1000));
    printf("# %zu-token broadcast: built in %.3f s, submitted (one job, %lld chunk rows, "
           "durable) in %.3f s\n",
           n, t_build, (long long)count_rows(path, "SELECT count(*) FROM chunk"), t_submit);

    /* Lease 50 chunks at a time; record every token (1% dead) and release,
     * without waiting in between: group commit does the batching. */
    v = calloc(1000, sizeof(*v));
    t = tq_secs();
    for (;;) {
        assert_int_equal(tq_lease(base, q, 50, &l), 0);
        lease_calls++;
        if (l.n == 0)
            break;
        assert_true(l.n <= 50); /* bounded memory */
        leased += l.n;
        for (size_t k = 0; k < l.n; k++) {
            gw_chunk *c = l.chunks[k];
            for (uint32_t i = 0; i < c->n_tokens; i++) {
                memset(&v[i], 0, sizeof(v[i]));
                v[i].chunk = c;
                v[i].token = i;
                if ((c->first + i) % 100 == 7) {
                    v[i].state = GW_TOKEN_REJECTED;
                    v[i].status = 410;
                    v[i].reason = APNS_REASON_UNREGISTERED;
                    v[i].apns_ts_ms = 1690000000000LL;
                    v[i].dead = GW_DEAD_UNREGISTERED;
                } else {
                    v[i].state = GW_TOKEN_ACCEPTED;
                }
            }
            tokens += c->n_tokens;
            p.left++;
            assert_int_equal(gw_queue_record(q, v, c->n_tokens, on_recorded, &p), 0);
            assert_int_equal(gw_queue_release(q, c, 0, NULL, NULL), 0);
        }
    }
    while (p.left > 0)
        event_base_loop(base, EVLOOP_ONCE);
    t_out = tq_secs() - t;
    free(v);
    assert_int_equal(p.err, 0);
    assert_int_equal(tokens, n);
    assert_int_equal(leased, (n + 999) / 1000);
    printf("# recorded %zu outcomes (%zu chunks, %zu lease calls) in %.3f s: %.0f outcomes/s\n",
           tokens, leased, lease_calls, t_out, (double)tokens / t_out);

    assert_int_equal(gw_queue_depth(q), 0);
    t = tq_secs();
    assert_int_equal(tq_status(base, q, r.id, &r), 0);
    printf("# status of the finished job in %.4f s\n", tq_secs() - t);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);
    assert_int_equal(r.st.accepted, n - n / 100);
    assert_int_equal(r.st.rejected, n / 100);
    assert_int_equal(r.st.n_outcomes, 0); /* not a small job */
    assert_int_equal(count_rows(path, "SELECT count(*) FROM dead_token"), (int64_t)(n / 100));

    /* Retention deletes it in short steps. */
    atomic_fetch_add(&tq_clock, 10);
    t = tq_secs();
    int steps = 0;
    for (;;) {
        double s = tq_secs();
        memset(&r, 0, sizeof(r));
        assert_int_equal(gw_queue_purge(q, 10, tq_on_count, &r), 0);
        tq_run_until(base, &r.done);
        assert_int_equal(r.err, 0);
        s = tq_secs() - s;
        worst_step = s > worst_step ? s : worst_step;
        steps++;
        if (r.count == 1)
            break;
        assert_true(steps < 100);
    }
    t_purge = tq_secs() - t;
    assert_int_equal(count_rows(path, "SELECT count(*) FROM chunk"), 0);
    printf("# purged it in %d steps, %.3f s (longest step %.3f s)\n", steps, t_purge, worst_step);

    gw_queue_free(q);
    event_base_free(base);
    tq_rmdir(dir);
}

typedef struct subs {
    volatile int left;
    int err;
} subs;

static void on_small_submit(int err, const char *detail, const char *id, void *ud)
{
    subs *s = ud;
    if (err != 0)
        s->err = err;
    s->left--;
}

/* Many 1-token jobs, pipelined: group commit turns thousands of durable
 * submits into a few fsyncs. Then one record call per answer. */
static void small_jobs(void **state)
{
    size_t n = tq_small() ? 5000 : 20000;
    char *dir = tq_tmpdir(), path[512];
    struct event_base *base = event_base_new();
    gw_queue_opts o;
    gw_queue *q;
    gw_queue_stats st;
    subs s = {0};
    pending p = {0};
    tq_res l;
    double t, t_sub, t_out;
    size_t answered = 0;

    tq_db_path(dir, path, sizeof(path));
    tq_opts(&o, base, 0);
    q = tq_open(&o, path);
    t = tq_secs();
    for (size_t i = 0; i < n; i++) {
        gw_job j;
        tq_job(&j, "small", 1000 + i, 1);
        while (s.left >= 5000) /* stay under max_requests */
            event_base_loop(base, EVLOOP_ONCE);
        s.left++;
        assert_int_equal(gw_queue_submit(q, &j, NULL, on_small_submit, &s), 0);
    }
    while (s.left > 0)
        event_base_loop(base, EVLOOP_ONCE);
    t_sub = tq_secs() - t;
    assert_int_equal(s.err, 0);
    gw_queue_stats_get(q, &st);
    printf("# %zu one-token jobs submitted (each durable, synchronous=FULL) in %.3f s: "
           "%.0f jobs/s in %llu transactions\n",
           n, t_sub, (double)n / t_sub, (unsigned long long)st.commits);

    t = tq_secs();
    for (;;) {
        assert_int_equal(tq_lease(base, q, 500, &l), 0);
        if (l.n == 0)
            break;
        for (size_t k = 0; k < l.n; k++) {
            gw_outcome v = {0};
            v.chunk = l.chunks[k];
            v.state = GW_TOKEN_ACCEPTED;
            p.left++;
            assert_int_equal(gw_queue_record(q, &v, 1, on_recorded, &p), 0);
            assert_int_equal(gw_queue_release(q, l.chunks[k], 0, NULL, NULL), 0);
            answered++;
        }
    }
    while (p.left > 0)
        event_base_loop(base, EVLOOP_ONCE);
    t_out = tq_secs() - t;
    assert_int_equal(p.err, 0);
    assert_int_equal(answered, n);
    assert_int_equal(gw_queue_depth(q), 0);
    printf("# %zu single-outcome record calls (lease + record + release per job) in %.3f s: "
           "%.0f outcomes/s\n",
           n, t_out, (double)n / t_out);
    gw_queue_free(q);
    event_base_free(base);
    tq_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broadcast),
        cmocka_unit_test(small_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
