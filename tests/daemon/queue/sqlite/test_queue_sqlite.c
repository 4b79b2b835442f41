/* test_queue_sqlite.c - the SQLite queue backend: the queue's contract
 * (../queue_contract.c) on a database file in a temporary directory, then
 * what only this backend has: retention passes, storage errors (disk full,
 * read-only), one process per file, a corrupt file, file modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "test_queue_util.h"

typedef struct tq_backend_fx {
    char *dir;
    char path[512];
} tq_backend_fx;

#include "queue_contract.c"

/* The queue's clock decides when a chunk is due; the depth is exact. */
static const tq_traits sqlite_traits = {
    .real_time = 0, .exact_next_at = 1, .exact_depth = 1, .token_store = 0, .wait_ms = 0};

static void qc_backend_setup(fx *f)
{
    f->t = &sqlite_traits;
    f->b.dir = tq_tmpdir();
    tq_db_path(f->b.dir, f->b.path, sizeof(f->b.path));
}

static gw_queue *qc_backend_open(fx *f)
{
    return tq_open(&f->o, f->b.path);
}

static void qc_backend_teardown(fx *f)
{
    tq_rmdir(f->b.dir);
}

/* ---- this backend only ------------------------------------------------------------ */

static void retention(void **state)
{
    fx *f = *state;
    tq_res r, l, a, b;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock);

    f->o.retention_ms = 1000;
    f->o.chunk_tokens = 2;
    qc_reopen(f);

    tq_job(&j, "demo", 6, 5); /* 3 chunks */
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    tq_job(&j, "demo", 7, 1); /* stays unfinished */
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);
    assert_int_equal(tq_lease(f->base, f->q, 10, &l), 0);
    assert_int_equal(l.n, 4);
    for (size_t k = 0; k < l.n; k++) {
        gw_chunk *c = l.chunks[k];
        if (strcmp(c->job_id, a.id) == 0) {
            for (uint32_t i = 0; i < c->n_tokens; i++) {
                gw_outcome o = outcome(c, i, i == 0 ? GW_TOKEN_REJECTED : GW_TOKEN_ACCEPTED);
                assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
            }
        }
        assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    }
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_PARTIAL);

    memset(&r, 0, sizeof(r));
    atomic_store(&tq_clock, t0 + 999);
    assert_int_equal(gw_queue_purge(f->q, 10, tq_on_count, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.count, 0);

    memset(&r, 0, sizeof(r));
    atomic_store(&tq_clock, t0 + 1001);
    assert_int_equal(gw_queue_purge(f->q, 10, tq_on_count, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.count, 1);
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), GW_QUEUE_ENOTFOUND);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_QUEUED);
    assert_int_equal(gw_queue_depth(f->q), 1);
}

static void background_retention(void **state)
{
    fx *f = *state;
    tq_res r, l, a;
    gw_job j;

    f->o.retention_ms = 1;
    f->o.purge_interval_ms = 20;
    qc_reopen(f);
    tq_job(&j, "demo", 8, 1);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, &o, 1), 0);
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], 0), 0);
    atomic_fetch_add(&tq_clock, 10);
    for (int i = 0; i < 200; i++) {
        usleep(10000);
        if (tq_status(f->base, f->q, a.id, &r) == GW_QUEUE_ENOTFOUND)
            return;
    }
    fail_msg("the background retention pass never deleted the job");
}

static void disk_full(void **state)
{
    fx *f = *state;
    tq_res a, b, r, l;
    gw_job j;
    gw_queue_stats st;

    tq_job(&j, "demo", 12, 10);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);

    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_sqlite_set_max_bytes(f->q, 1, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);

    tq_job(&j, "demo", 13, 20000);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), GW_QUEUE_EFULL);
    assert_true(gw_queue_err_unavailable(b.err));
    assert_non_null(strstr(b.detail, f->b.path));
    assert_non_null(strstr(b.detail, "SQLITE_FULL"));
    assert_non_null(strstr(b.detail, "submit"));
    assert_int_equal(gw_queue_depth(f->q), 10); /* the reservation was given back */
    gw_queue_stats_get(f->q, &st);
    assert_int_equal(st.last_err, GW_QUEUE_EFULL);
    assert_true(st.failures > 0);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), GW_QUEUE_ENOTFOUND);
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.st.tokens, 10);

    /* Outcomes still fit (they rewrite pages in place) or fail cleanly. */
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_int_equal(l.n, 1);
    gw_outcome o = outcome(l.chunks[0], 0, GW_TOKEN_ACCEPTED);
    int rec = tq_record(f->base, f->q, &o, 1);
    assert_true(rec == 0 || rec == GW_QUEUE_EFULL);
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], 0), 0);

    /* Space comes back: the same request works and nothing was lost. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_sqlite_set_max_bytes(f->q, 0, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    tq_job(&j, "demo", 13, 20000);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);
    gw_queue_stats_get(f->q, &st);
    assert_int_equal(st.last_err, 0);
    qc_reopen(f);
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.st.tokens, 10);
    assert_int_equal(r.st.accepted, rec == 0 ? 1 : 0);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), 0);
    assert_int_equal(r.st.tokens, 20000);
    assert_int_equal(gw_queue_depth(f->q), 20010 - (rec == 0));
}

static void read_only(void **state)
{
    fx *f = *state;
    tq_res a, b, r;
    gw_job j;

    tq_job(&j, "demo", 14, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);

    /* The connection refuses writes (as a read-only remount would). */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_sqlite_set_read_only(f->q, 1, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    tq_job(&j, "demo", 15, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), GW_QUEUE_EREADONLY);
    assert_non_null(strstr(b.detail, f->b.path));
    assert_true(gw_queue_err_unavailable(b.err));
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0); /* reads still work */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_sqlite_set_read_only(f->q, 0, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    tq_job(&j, "demo", 15, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);
    gw_queue_free(f->q);
    f->q = NULL;

    /* Opened read-only: queries work, submits get a clear error. */
    gw_queue_sqlite_opts so = {0};
    char detail[512];
    so.path = f->b.path;
    so.read_only = 1;
    assert_int_equal(gw_queue_sqlite_open(&f->q, &f->o, &so, detail, sizeof(detail)), 0);
    assert_int_equal(gw_queue_depth(f->q), 6);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), 0);
    assert_int_equal(r.st.tokens, 3);
    tq_job(&j, "demo", 16, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), GW_QUEUE_EREADONLY);
    assert_non_null(strstr(r.detail, "readonly"));
    gw_queue_free(f->q);
    f->q = NULL;

    /* A file the process may not write (meaningless for root). */
    if (geteuid() != 0) {
        chmod(f->b.path, 0444);
        f->q = qc_open(f);
        tq_job(&j, "demo", 17, 3);
        assert_int_equal(tq_submit(f->base, f->q, &j, &r), GW_QUEUE_EREADONLY);
        gw_queue_free(f->q);
        f->q = NULL;
        chmod(f->b.path, 0644);
    }
    f->q = qc_open(f);
}

static void one_process_per_file(void **state)
{
    fx *f = *state;
    gw_queue_sqlite_opts so = {0};
    gw_queue *q2 = NULL;
    char detail[512];

    so.path = f->b.path;
    assert_int_equal(gw_queue_sqlite_open(&q2, &f->o, &so, detail, sizeof(detail)), GW_QUEUE_EBUSY);
    assert_null(q2);
    assert_non_null(strstr(detail, f->b.path));
}

static void corrupt_file(void **state)
{
    fx *f = *state;
    char path[600];
    gw_queue_sqlite_opts so = {0};
    gw_queue *q2 = NULL;
    char detail[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/garbage.db", f->b.dir);
    fp = fopen(path, "w");
    for (int i = 0; i < 2000; i++)
        fputs("this is not a database ", fp);
    fclose(fp);
    so.path = path;
    assert_int_equal(gw_queue_sqlite_open(&q2, &f->o, &so, detail, sizeof(detail)),
                     GW_QUEUE_ECORRUPT);
    assert_non_null(strstr(detail, path));
}

/* The database holds every payload and token: a new file and its -wal and
 * -shm files are 0600 even under umask 0 (issue 12: they were 0644). */
static void files_private(void **state)
{
    fx *f = *state;
    static const char *const suffix[] = {"", "-wal", "-shm"};
    gw_queue_sqlite_opts so = {0};
    gw_queue *q2 = NULL;
    char path[600], p[620], detail[512];
    mode_t old = umask(0);
    struct stat st;

    snprintf(path, sizeof(path), "%s/private.db", f->b.dir);
    so.path = path;
    assert_int_equal(gw_queue_sqlite_open(&q2, &f->o, &so, detail, sizeof(detail)), 0);
    umask(old);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        assert_int_equal(stat(p, &st), 0);
        if ((st.st_mode & 07777) != 0600)
            fail_msg("%s has mode %04o, want 0600", p, (unsigned)(st.st_mode & 07777));
    }
    gw_queue_free(q2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        QC_CONTRACT_TESTS(qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(retention, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(background_retention, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(disk_full, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(read_only, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(one_process_per_file, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(corrupt_file, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(files_private, qc_setup, qc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
