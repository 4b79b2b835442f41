/*
 * test_store_sqlite_vfs.c - the queue database's VFS (store_sqlite_vfs.c):
 * a WAL commit's frames reach the file in one write once the WAL has
 * wrapped, every commit is in the file for other connections and after a
 * crash, and a commit whose frames could not be written is rolled back and
 * never seen, not even after a crash.
 *
 * Under it, a recording VFS (installed as the default before the queue's
 * VFS is first asked for, so the queue's VFS wraps it) counts the writes
 * that reach each -wal file and, while armed, fails them with
 * SQLITE_IOERR_WRITE. The database is used with plain SQL through the
 * queue's VFS; the checks read it with a second connection on the
 * recording VFS, or reopen it in a child that stopped without closing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <sys/wait.h>

#include "store_sqlite.h"
#include "test_queue_util.h"
#include "test_vfs_util.h"

/* ---- the recording VFS under the queue's (test_vfs_util.h) ---- */

static atomic_int wal_writes, fail_wal_writes;

/* fail_commit_header: while > 0, counts down the -wal writes of a commit
 * frame's header alone (24 bytes, bytes 4-7 not 0) and fails the one that
 * brings it to 0. */
static atomic_int fail_commit_header;

static int on_write(const tv_file *f, const void *data, int n, sqlite3_int64 off)
{
    const unsigned char *b = data;

    if (!(f->flags & SQLITE_OPEN_WAL))
        return 0;
    if (atomic_load(&fail_wal_writes))
        return SQLITE_IOERR_WRITE;
    if (n == 24 && off >= 32 && (b[4] | b[5] | b[6] | b[7]) != 0 &&
        atomic_load(&fail_commit_header) > 0 && atomic_fetch_sub(&fail_commit_header, 1) == 1)
        return SQLITE_IOERR_WRITE;
    atomic_fetch_add(&wal_writes, 1);
    return 0;
}

/* Installs the recording VFS as the default, then asks for the queue's
 * (which then wraps it). */
static const char *queue_vfs(void)
{
    tv_install();
    assert_non_null(tv_real_vfs);
    tv_on_write = on_write;
    const char *name = gw_sq_vfs();
    assert_non_null(name);
    assert_non_null(sqlite3_vfs_find(name));
    return name;
}

/* ---- helpers ---------------------------------------------------------------- */

typedef struct fx {
    char *dir;
    char path[512];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    queue_vfs();
    atomic_store(&fail_wal_writes, 0);
    atomic_store(&fail_commit_header, 0);
    f->dir = tq_tmpdir();
    tq_db_path(f->dir, f->path, sizeof(f->path));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    atomic_store(&fail_wal_writes, 0);
    tq_rmdir(f->dir);
    free(f);
    return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(rc));
}

/* Opens path through the queue's VFS (queue) or the recording one. */
static sqlite3 *open_db(const char *path, int queue)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     queue ? queue_vfs() : "test-vfs"),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* PRAGMA integrity_check reports problems as rows: exactly one "ok". */
static void integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
}

static int64_t count_rows(sqlite3 *db, const char *where)
{
    char sql[160];
    sqlite3_stmt *s = NULL;
    int64_t n;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE %s", where);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

static int frames_in_wal;
static int on_wal(void *ud, sqlite3 *db, const char *name, int frames)
{
    (void)ud;
    (void)db;
    (void)name;
    frames_in_wal = frames;
    return SQLITE_OK;
}

/* One transaction of `rows` rows of 3,000 bytes (a page each) with tag. */
static int insert_rows(sqlite3 *db, int tag, int rows)
{
    char sql[200];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<%d)"
             " INSERT INTO t(tag, v) SELECT %d, randomblob(3000) FROM n",
             rows, tag);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* A database in WAL mode with table t, its commits seen by on_wal, and no
 * automatic checkpoints (the WAL stays as the test makes it). */
static sqlite3 *wal_db(const char *path)
{
    sqlite3 *db = open_db(path, 1);

    /* wal_autocheckpoint sets a WAL hook of its own: on_wal goes after. */
    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                " PRAGMA synchronous=NORMAL");
    sqlite3_wal_hook(db, on_wal, NULL);
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, tag INTEGER, v BLOB)");
    return db;
}

/* wal_db whose WAL has wrapped: its frames were all checkpointed and the
 * WAL restarted, so the next commits write over bytes already in the file
 * (the case where frames wait). 81 rows of tag 0. */
static sqlite3 *wrapped_db(const char *path)
{
    sqlite3 *db = wal_db(path);

    for (int i = 0; i < 4; i++)
        assert_int_equal(insert_rows(db, 0, 20), SQLITE_OK);
    exec_ok(db, "PRAGMA wal_checkpoint(PASSIVE)");
    /* The first commit after it restarts the WAL (writing, and syncing, a
     * new WAL header); this one row is that commit. */
    assert_int_equal(insert_rows(db, 0, 1), SQLITE_OK);
    return db;
}

/* Runs child(path) in a child process that ends without closing anything,
 * as kill -9 would leave it; asserts that it returned 0. */
static void in_child(const char *path, int (*child)(const char *path))
{
    pid_t pid = fork();
    int st;

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child(path));
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- tests ------------------------------------------------------------------- */

/* Once the WAL has wrapped, a commit of 20-odd frames reaches the file in
 * one write (two per frame without the queue's VFS), and before the WAL
 * wraps, every frame goes through at once (growing writes never wait). */
static void one_write_per_commit(void **state)
{
    fx *f = *state;
    sqlite3 *db = wal_db(f->path);
    int before;

    int created = frames_in_wal;
    before = atomic_load(&wal_writes);
    assert_int_equal(insert_rows(db, 1, 20), SQLITE_OK);
    int grown = frames_in_wal;
    assert_true(grown - created >= 20);
    /* The WAL grew: a write per frame header and per page, as they came. */
    assert_true(atomic_load(&wal_writes) - before >= 2 * (grown - created));
    for (int i = 0; i < 3; i++)
        assert_int_equal(insert_rows(db, 1, 20), SQLITE_OK);
    exec_ok(db, "PRAGMA wal_checkpoint(PASSIVE)");

    for (int round = 0; round < 3; round++) {
        before = atomic_load(&wal_writes);
        frames_in_wal = 0;
        assert_int_equal(insert_rows(db, 2, 20), SQLITE_OK);
        assert_true(frames_in_wal >= 20);
        /* The WAL restarted at the first commit after the checkpoint. */
        if (round == 0)
            assert_true(frames_in_wal <= grown + 2);
        /* The first commit of a restarted WAL also writes its header, and
         * SQLite may sync or size the WAL there: at most two writes. */
        int n = atomic_load(&wal_writes) - before;
        assert_true(n >= 1 && n <= (round == 0 ? 2 : 1));
    }
    assert_int_equal(count_rows(db, "tag=2"), 60);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* After each commit, with synchronous NORMAL (no sync) or FULL, another
 * connection reads exactly what was committed, and the file is sound. */
static void readers_see_each_commit(void **state)
{
    fx *f = *state;
    sqlite3 *db = wrapped_db(f->path);
    sqlite3 *other = open_db(f->path, 0);

    for (int i = 1; i <= 30; i++) {
        exec_ok(db, i % 3 == 0 ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        assert_int_equal(insert_rows(db, 3, i % 5 + 1), SQLITE_OK);
        int64_t want = 0;
        for (int k = 1; k <= i; k++)
            want += k % 5 + 1;
        assert_int_equal(count_rows(other, "tag=3"), want);
        assert_int_equal(count_rows(other, "length(v)=3000"), want + 81);
    }
    integrity_ok(other);
    assert_int_equal(sqlite3_close(other), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* A process that dies without closing (kill -9) keeps every commit. */
static int commit_and_die(const char *path)
{
    sqlite3 *db = wrapped_db(path);

    for (int i = 0; i < 10; i++)
        if (insert_rows(db, 4, 7) != SQLITE_OK)
            return 3;
    return 0; /* no close, no checkpoint */
}

static void crash_keeps_commits(void **state)
{
    fx *f = *state;

    in_child(f->path, commit_and_die);
    sqlite3 *db = open_db(f->path, 0);
    assert_int_equal(count_rows(db, "tag=4"), 70);
    assert_int_equal(count_rows(db, "1"), 151);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* A commit whose frames cannot be written fails, with synchronous FULL or
 * NORMAL (the write of its commit frame writes them, before SQLite
 * publishes the commit), SQLite rolls it back, and its frames never reach
 * the file: not when the disk works again, not after a crash. */
static int fail_commits_and_die(const char *path)
{
    sqlite3 *db = wrapped_db(path);

    for (int full = 1; full >= 0; full--) {
        exec_ok(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        atomic_store(&fail_wal_writes, 1);
        if (insert_rows(db, 5, 10) == SQLITE_OK)
            return 3;
        atomic_store(&fail_wal_writes, 0);
        /* The disk works again: the next operation (a read, which writes
         * whatever waits first) must not write the rolled-back frames. If
         * it did, they would be a valid commit in the WAL, and the recovery
         * after this crash would bring the rows back. */
        if (count_rows(db, "tag=5") != 0)
            return 4;
    }
    return 0;
}

static void failed_commit_stays_rolled_back(void **state)
{
    fx *f = *state;

    in_child(f->path, fail_commits_and_die);
    sqlite3 *db = open_db(f->path, 1);
    assert_int_equal(count_rows(db, "tag=5"), 0);
    assert_int_equal(count_rows(db, "1"), 81);
    integrity_ok(db);
    /* And the file takes commits again. */
    assert_int_equal(insert_rows(db, 6, 1), SQLITE_OK);
    assert_int_equal(count_rows(db, "tag=6"), 1);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The same with a reader on another connection, which must never see the
 * failed commit (it was never published), and a writer that goes on at
 * once when the disk works again. */
static void failed_commit_never_seen(void **state)
{
    fx *f = *state;
    sqlite3 *db = wrapped_db(f->path);
    sqlite3 *other = open_db(f->path, 0);

    atomic_store(&fail_wal_writes, 1);
    assert_int_equal(insert_rows(db, 7, 10) & 0xff, SQLITE_IOERR);
    assert_int_equal(count_rows(other, "tag=7"), 0);
    assert_int_equal(count_rows(other, "1"), 81);
    atomic_store(&fail_wal_writes, 0);

    assert_int_equal(count_rows(db, "tag=7"), 0);
    assert_int_equal(insert_rows(db, 8, 3), SQLITE_OK);
    assert_int_equal(count_rows(other, "tag=7"), 0);
    assert_int_equal(count_rows(other, "tag=8"), 3);
    integrity_ok(other);
    assert_int_equal(sqlite3_close(other), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* A transaction that spills pages and then changes them again makes SQLite
 * overwrite its own frames and rewrite the checksums at the commit, the
 * commit frame's header last, alone (after reading the frame back). When
 * that write fails, the commit fails (even with synchronous NORMAL, where
 * no sync follows to report it) and nobody sees it. */
static void rewritten_commit_header_fails_the_commit(void **state)
{
    fx *f = *state;
    sqlite3 *db = wrapped_db(f->path);
    sqlite3 *other = open_db(f->path, 0);

    exec_ok(db, "PRAGMA cache_size=2; PRAGMA cache_spill=1");
    for (int full = 0; full <= 1; full++) {
        exec_ok(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        exec_ok(db, "BEGIN");
        assert_int_equal(insert_rows(db, 10, 30), SQLITE_OK);
        exec_ok(db, "UPDATE t SET v=randomblob(3000) WHERE tag=10");
        /* Below the queue's VFS a commit frame's header comes alone only as
         * the rewrite (its first write went out with the commit's other
         * frames): that write fails. */
        atomic_store(&fail_commit_header, 1);
        int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        int left = atomic_load(&fail_commit_header);
        atomic_store(&fail_commit_header, 0);
        if (!sqlite3_get_autocommit(db))
            exec_ok(db, "ROLLBACK");
        assert_int_equal(left, 0); /* the rewrite happened, and failed */
        assert_int_equal(rc & 0xff, SQLITE_IOERR);
        assert_int_equal(count_rows(other, "tag=10"), 0);
        assert_int_equal(count_rows(db, "tag=10"), 0);
    }
    integrity_ok(other);
    assert_int_equal(insert_rows(db, 11, 2), SQLITE_OK);
    assert_int_equal(count_rows(other, "tag=11"), 2);
    assert_int_equal(sqlite3_close(other), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_write_per_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(readers_see_each_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_keeps_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_commit_stays_rolled_back, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_commit_never_seen, setup, teardown),
        cmocka_unit_test_setup_teardown(rewritten_commit_header_fails_the_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
