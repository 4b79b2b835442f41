/*
 * test_queue_faults.c - I/O errors under the queue. A VFS shim wraps the
 * default unix VFS and, while armed, fails every write or every fsync with
 * SQLITE_IOERR. The queue must answer the affected requests with
 * GW_QUEUE_EIO and a detail naming the file, keep what was committed, and
 * serve again once the fault is gone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "test_queue_util.h"
#include "test_vfs_util.h"

#include "queue_backend.h" /* the storage thread, to hold it */
#include "store_worker.h"

/* ---- the shim (test_vfs_util.h): armed, it fails writes or syncs ---- */

static atomic_int fail_writes, fail_syncs, fail_sync_pragma;

static int fail_write(const tv_file *f, const void *data, int n, sqlite3_int64 off)
{
    (void)f;
    (void)data;
    (void)n;
    (void)off;
    return atomic_load(&fail_writes) ? SQLITE_IOERR_WRITE : 0;
}

static int fail_sync(const tv_file *f)
{
    (void)f;
    return atomic_load(&fail_syncs) ? SQLITE_IOERR_FSYNC : 0;
}

/* Armed, "PRAGMA synchronous=FULL" fails: SQLite hands every PRAGMA to the
 * database file's file control first, and an error there is the PRAGMA's. */
static int fail_pragma(const tv_file *f, int op, void *arg)
{
    char **a = arg;

    (void)f;
    if (op != SQLITE_FCNTL_PRAGMA || !atomic_load(&fail_sync_pragma) || a == NULL || a[1] == NULL ||
        sqlite3_stricmp(a[1], "synchronous") != 0 || a[2] == NULL ||
        sqlite3_stricmp(a[2], "FULL") != 0)
        return 0;
    return SQLITE_IOERR;
}

static void ff_install(void)
{
    tv_install();
    assert_non_null(tv_real_vfs);
    tv_on_write = fail_write;
    tv_on_sync = fail_sync;
    tv_on_control = fail_pragma;
}

/* ---- tests -------------------------------------------------------------- */

typedef struct fx {
    char *dir;
    char path[512];
    struct event_base *base;
    gw_queue_opts o;
    gw_queue *q;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    ff_install();
    atomic_store(&fail_writes, 0);
    atomic_store(&fail_syncs, 0);
    atomic_store(&fail_sync_pragma, 0);
    f->dir = tq_tmpdir();
    tq_db_path(f->dir, f->path, sizeof(f->path));
    f->base = event_base_new();
    tq_opts(&f->o, f->base, 0);
    f->o.chunk_tokens = 100;
    f->q = tq_open(&f->o, f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    atomic_store(&fail_writes, 0);
    atomic_store(&fail_syncs, 0);
    gw_queue_free(f->q);
    event_base_free(f->base);
    tq_rmdir(f->dir);
    free(f);
    return 0;
}

static void check_io_error(const tq_res *r, const char *path)
{
    assert_int_equal(r->err, GW_QUEUE_EIO);
    assert_true(gw_queue_err_unavailable(r->err));
    assert_non_null(strstr(r->detail, path));
    assert_non_null(strstr(r->detail, "SQLITE_IOERR"));
}

static void io_error_on_submit_then_recovery(void **state)
{
    fx *f = *state;
    tq_res a, b, r;
    gw_job j;

    tq_job(&j, "demo", 1, 250);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);

    for (int which = 0; which < 2; which++) {
        atomic_store(which == 0 ? &fail_writes : &fail_syncs, 1);
        tq_job(&j, "demo", 2, 5000);
        tq_submit(f->base, f->q, &j, &b);
        check_io_error(&b, f->path);
        assert_int_equal(gw_queue_depth(f->q), 250);
        atomic_store(which == 0 ? &fail_writes : &fail_syncs, 0);
        /* Committed work is readable and intact. */
        assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
        assert_int_equal(r.st.tokens, 250);
    }

    /* The fault is gone: the same request works, on the same connection. */
    tq_job(&j, "demo", 2, 5000);
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);
    gw_queue_free(f->q);
    f->q = tq_open(&f->o, f->path);
    assert_int_equal(gw_queue_depth(f->q), 5250);
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.st.tokens, 250);
    assert_int_equal(tq_status(f->base, f->q, b.id, &r), 0);
    assert_int_equal(r.st.tokens, 5000);
}

static void io_error_on_outcomes_resends(void **state)
{
    fx *f = *state;
    tq_res a, l, r;
    gw_job j;
    gw_outcome v[100];
    tq_res done = {0};

    tq_job(&j, "demo", 3, 100);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    gw_chunk *c = l.chunks[0];
    for (uint32_t i = 0; i < 100; i++) {
        memset(&v[i], 0, sizeof(v[i]));
        v[i].chunk = c;
        v[i].token = i;
        v[i].state = GW_TOKEN_ACCEPTED;
    }
    atomic_store(&fail_writes, 1);
    assert_int_equal(gw_queue_record(f->q, v, 100, tq_on_done, &done), 0);
    tq_run_until(f->base, &done.done);
    check_io_error(&done, f->path);
    assert_int_equal(gw_queue_depth(f->q), 100); /* nothing finished durably */
    atomic_store(&fail_writes, 0);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);

    /* The tokens whose answers were lost are pending again: resent. */
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_int_equal(l.n, 1);
    c = l.chunks[0];
    for (uint32_t i = 0; i < 100; i++) {
        assert_int_equal(c->state[i], GW_TOKEN_PENDING);
        v[i].chunk = c;
    }
    assert_int_equal(tq_record(f->base, f->q, v, 100), 0);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    assert_int_equal(gw_queue_depth(f->q), 0);
}

/* In one batch, a request that fails does not fail its neighbours. */
static void batch_neighbours_are_independent(void **state)
{
    fx *f = *state;
    tq_res a, big, st, lim;
    gw_job j;

    tq_job(&j, "demo", 4, 10);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    memset(&lim, 0, sizeof(lim));
    assert_int_equal(gw_queue_sqlite_set_max_bytes(f->q, 1, tq_on_done, &lim), 0);
    tq_run_until(f->base, &lim.done);

    memset(&big, 0, sizeof(big));
    memset(&st, 0, sizeof(st));
    tq_job(&j, "demo", 5, 30000);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &big), 0);
    assert_int_equal(gw_queue_status(f->q, a.id, tq_on_status, &st), 0);
    tq_run_until(f->base, &big.done);
    tq_run_until(f->base, &st.done);
    assert_int_equal(big.err, GW_QUEUE_EFULL);
    assert_int_equal(st.err, 0);
    assert_int_equal(st.st.tokens, 10);
}

/* A batch that needs synchronous=FULL (a submit) when the PRAGMA fails:
 * the submit fails (it is never acknowledged without its fsync), a status
 * query in the same batch is answered, and the next batch works. */
static void sync_pragma_failure_fails_the_submit(void **state)
{
    fx *f = *state;
    tq_res a, l, sub, st, again;
    gw_job j;

    tq_job(&j, "demo", 6, 10);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0); /* a NORMAL batch */
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], 0), 0);

    atomic_store(&fail_sync_pragma, 1);
    memset(&sub, 0, sizeof(sub));
    memset(&st, 0, sizeof(st));
    tq_job(&j, "demo", 7, 20);
    /* Held, the storage thread takes both as one batch. */
    gw_worker_hold(f->q->w, 1);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &sub), 0);
    assert_int_equal(gw_queue_status(f->q, a.id, tq_on_status, &st), 0);
    gw_worker_hold(f->q->w, 0);
    tq_run_until(f->base, &sub.done);
    tq_run_until(f->base, &st.done);
    atomic_store(&fail_sync_pragma, 0);
    check_io_error(&sub, f->path);
    assert_non_null(strstr(sub.detail, "synchronous=FULL"));
    assert_int_equal(st.err, 0);
    assert_int_equal(st.st.tokens, 10);
    assert_int_equal(gw_queue_depth(f->q), 10);

    tq_job(&j, "demo", 7, 20);
    assert_int_equal(tq_submit(f->base, f->q, &j, &again), 0);
    gw_queue_free(f->q);
    f->q = tq_open(&f->o, f->path);
    assert_int_equal(gw_queue_depth(f->q), 30);
}

/* ---- a failing dead-token write (SQLite-level fault) --------------------
 * A trigger made on a second connection fails every new entry of the
 * dead-token registry (RAISE(ABORT): the statement fails, the transaction
 * lives, like a constraint or a damaged index would make it). */

static void dead_fault(const char *path, int on)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db,
                                  on ? "CREATE TRIGGER dead_fault BEFORE INSERT ON dead_token "
                                       "BEGIN SELECT RAISE(ABORT, 'injected dead-token fault'); END"
                                     : "DROP TRIGGER dead_fault",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

/* Submits a one-token job of app demo (tokens of seed), leases it, records
 * its token accepted and hands the chunk back: a record with no dead token
 * of its own. */
static void record_one_accepted(fx *f, uint64_t seed)
{
    tq_res a, l;
    gw_outcome v;
    gw_job j;

    tq_job(&j, "demo", seed, 1);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    memset(&v, 0, sizeof(v));
    v.chunk = l.chunks[0];
    v.state = GW_TOKEN_ACCEPTED;
    assert_int_equal(tq_record(f->base, f->q, &v, 1), 0);
    assert_int_equal(tq_release(f->base, f->q, l.chunks[0], 0), 0);
}

/* The dead-token registry's entries of app demo (the first 10) into *d. */
static void dead_list(fx *f, tq_res *d)
{
    memset(d, 0, sizeof(*d));
    assert_int_equal(gw_queue_dead_list(f->q, "demo", 0, NULL, 10, tq_on_dead, d), 0);
    tq_run_until(f->base, &d->done);
}

/* A 410 Unregistered (rejected, and a dead token) and a cancel of its job
 * posted together while the dead-token write fails: APNs's answer is what
 * the job records (rejected, never cancelled), the token not yet sent is
 * cancelled, and the dead-token entry is written once the registry takes
 * writes again: nothing is lost. (Before: the record failed as a whole; its
 * answers waited in the dispatcher, which gives them up after a few tries,
 * and the chunk's release then cancelled the answered token.) */
static void dead_write_failure_keeps_apns_answer_over_cancel(void **state)
{
    fx *f = *state;
    tq_res a, l, r, rec = {0}, can = {0}, d = {0};
    gw_outcome v[2];
    char tok0[65];
    gw_job j;

    tq_job(&j, "demo", 6, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_int_equal(l.n, 1);
    gw_chunk *c = l.chunks[0];
    memset(v, 0, sizeof(v));
    v[0].chunk = c;
    v[0].token = 0;
    v[0].state = GW_TOKEN_REJECTED;
    v[0].status = 410;
    v[0].reason = APNS_REASON_UNREGISTERED;
    v[0].apns_ts_ms = 1700000000123LL;
    v[0].dead = GW_DEAD_UNREGISTERED;
    v[1].chunk = c;
    v[1].token = 1;
    v[1].state = GW_TOKEN_ACCEPTED;

    dead_fault(f->path, 1);
    /* Posted back to back: one storage batch when the worker takes both. */
    assert_int_equal(gw_queue_record(f->q, v, 2, tq_on_done, &rec), 0);
    assert_int_equal(gw_queue_cancel(f->q, a.id, tq_on_status, &can), 0);
    tq_run_until(f->base, &rec.done);
    tq_run_until(f->base, &can.done);
    assert_int_equal(can.err, 0);
    /* The chunk goes back (what the dispatcher does once its answers are
     * stored, or given up): the release cancels what is still open. */
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);

    assert_int_equal(tq_status(f->base, f->q, a.id, &r), 0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_REJECTED); /* before: CANCELLED */
    assert_int_equal(r.st.rejected, 1);
    assert_int_equal(r.st.accepted, 1);
    assert_int_equal(r.st.cancelled, 1);
    assert_int_equal(r.outcomes[1].state, GW_TOKEN_ACCEPTED);
    assert_int_equal(r.outcomes[2].state, GW_TOKEN_CANCELLED);
    assert_int_equal(gw_queue_depth(f->q), 0);
    assert_int_equal(rec.err, 0); /* the answers were durable at once */

    dead_list(f, &d);
    assert_int_equal(d.n, 0); /* not written yet */

    /* The registry takes writes again: the next record writes the entry. */
    dead_fault(f->path, 0);
    record_one_accepted(f, 7);
    dead_list(f, &d);
    assert_int_equal(d.n, 1);
    tq_token(6, 0, tok0);
    assert_string_equal(d.dead[0].token, tok0);
    assert_string_equal(d.dead[0].reason, "Unregistered");
    assert_int_equal(d.dead[0].apns_ts_ms, 1700000000123LL);
    assert_int_equal(d.dead[0].source, GW_DEAD_UNREGISTERED);

    /* Written once: a restart finds nothing left to write. */
    gw_queue_free(f->q);
    f->q = tq_open(&f->o, f->path);
    record_one_accepted(f, 8);
    dead_list(f, &d);
    assert_int_equal(d.n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(io_error_on_submit_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(io_error_on_outcomes_resends, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_neighbours_are_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_pragma_failure_fails_the_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(dead_write_failure_keeps_apns_answer_over_cancel, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
