/* test_queue_sqlite.c - the SQLite queue backend: the queue's contract
 * (../queue_contract.c) on a database file in a temporary directory, then
 * what only this backend has: retention passes, storage errors (disk full,
 * read-only), one process per file, a corrupt file, file modes, and schema
 * versions: a database written by the previous release's schema (version 1,
 * its literal DDL below) is migrated in place and served; a newer one is
 * refused naming both versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "apns/version.h"
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

static int db_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int v = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void db_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

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
    /* The purged chunks' tokens went with them; the queued job's stayed. */
    assert_int_equal(db_int(f->b.path, "SELECT count(*) FROM chunk_token"), 1);
    assert_int_equal(db_int(f->b.path, "SELECT count(*) FROM chunk_token t JOIN chunk c "
                                       "ON c.id=t.id JOIN job j ON j.id=c.job WHERE j.n=1"),
                     1);
}

/* The lease order (docs/queue.md, Scheduling): by turn (a chunk's position
 * in its job), then by due time. A one-token job submitted behind a
 * 10-chunk broadcast is leased with the broadcast's FIRST chunk, not after
 * its tenth; a job that comes while the broadcast runs catches up with it
 * (its second chunk before the broadcast's third), then they share; a job
 * scheduled for later holds no turn up. The broadcast is ten times longer
 * than the lease and the order is the same at any length: no count here
 * depends on it. */
static void lease_turns(void **state)
{
    fx *f = *state;
    tq_res a, b, c, s, l;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock);

    f->o.chunk_tokens = 2;
    qc_reopen(f);

    tq_job(&j, "demo", 30, 20); /* the broadcast: 10 chunks */
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    atomic_store(&tq_clock, t0 + 1); /* due after every chunk of it */
    tq_job(&j, "other", 31, 1);      /* the login code (another app alike) */
    assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);

    assert_int_equal(tq_lease(f->base, f->q, 3, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.chunks[0]->job_id, a.id);
    assert_int_equal(l.chunks[0]->seq, 0);
    assert_string_equal(l.chunks[1]->job_id, b.id); /* second, not eleventh */
    assert_string_equal(l.chunks[2]->job_id, a.id);
    assert_int_equal(l.chunks[2]->seq, 1);
    for (size_t k = 0; k < l.n; k++)
        assert_int_equal(tq_release(f->base, f->q, l.chunks[k], 0), 0);

    /* Released untouched, they keep their turns: leased again first. */
    assert_int_equal(tq_lease(f->base, f->q, 3, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.chunks[0]->job_id, a.id);
    assert_int_equal(l.chunks[0]->seq, 0);
    assert_string_equal(l.chunks[1]->job_id, b.id);
    assert_int_equal(l.chunks[2]->seq, 1);

    /* A job scheduled for later does not hold turn 0 up; a job of two
     * chunks that comes now catches up: both its chunks before the
     * broadcast's third. */
    atomic_store(&tq_clock, t0 + 2);
    tq_job(&j, "demo", 32, 1);
    j.send_at_ms = t0 + 3600 * 1000;
    assert_int_equal(tq_submit(f->base, f->q, &j, &s), 0);
    tq_job(&j, "demo", 33, 3);
    assert_int_equal(tq_submit(f->base, f->q, &j, &c), 0);
    assert_int_equal(tq_lease(f->base, f->q, 4, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.chunks[0]->job_id, c.id);
    assert_int_equal(l.chunks[0]->seq, 0);
    assert_string_equal(l.chunks[1]->job_id, c.id);
    assert_int_equal(l.chunks[1]->seq, 1);
    assert_string_equal(l.chunks[2]->job_id, a.id);
    assert_int_equal(l.chunks[2]->seq, 2);
    assert_string_equal(l.chunks[3]->job_id, a.id);
    assert_int_equal(l.chunks[3]->seq, 3);
    for (size_t k = 0; k < l.n; k++)
        assert_string_not_equal(l.chunks[k]->job_id, s.id);
}

/* The age rule (docs/queue.md, Scheduling): small jobs submitted every
 * second keep turn 1 busy; a broadcast's later chunks wait while they are
 * young, and once due for longer than 5 s they take every other slot of
 * the lease, oldest first, while the small jobs still get the rest. (Before:
 * no later chunk of the broadcast was ever leased while small jobs came.) */
static void lease_aged_chunks(void **state)
{
    fx *f = *state;
    tq_res a, b, l;
    gw_job j;
    int64_t t0 = atomic_load(&tq_clock);
    uint32_t next_seq = 1;

    f->o.chunk_tokens = 2;
    qc_reopen(f);
    tq_job(&j, "demo", 40, 20); /* the broadcast: 10 chunks, due at t0 */
    assert_int_equal(tq_submit(f->base, f->q, &j, &a), 0);
    assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
    assert_string_equal(l.chunks[0]->job_id, a.id);
    assert_int_equal(l.chunks[0]->seq, 0);

    for (int k = 1; k <= 9; k++) {
        size_t broadcast = 0, small = 0;

        atomic_store(&tq_clock, t0 + 1000 * k);
        for (int m = 0; m < 2; m++) {
            tq_job(&j, "other", 100 + 2 * k + m, 1);
            assert_int_equal(tq_submit(f->base, f->q, &j, &b), 0);
        }
        assert_int_equal(tq_lease(f->base, f->q, 2, &l), 0);
        assert_int_equal(l.n, 2);
        for (size_t i = 0; i < l.n; i++) {
            if (strcmp(l.chunks[i]->job_id, a.id) == 0) {
                assert_int_equal(l.chunks[i]->seq, next_seq); /* in order */
                next_seq++;
                broadcast++;
            } else {
                assert_int_equal(l.chunks[i]->seq, 0);
                small++;
            }
        }
        if (k <= 5) { /* due for 5 s at most: the turns alone */
            assert_int_equal(broadcast, 0);
            assert_int_equal(small, 2);
        } else { /* aged: every other slot */
            assert_int_equal(broadcast, 1);
            assert_int_equal(small, 1);
        }
    }
    assert_int_equal(next_seq, 5);
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

/* Schema version 1 exactly as apnsd 0.1.0 created it (git 6727862,
 * daemon/store_sqlite_db.c), never this file's code. */
static const char v1_schema[] =
    "CREATE TABLE IF NOT EXISTS job("
    " id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, app TEXT NOT NULL, topic TEXT,"
    " push_type INTEGER NOT NULL, priority INTEGER NOT NULL, expiration INTEGER NOT NULL,"
    " collapse_id TEXT, apns_id TEXT NOT NULL, payload BLOB NOT NULL,"
    " send_at INTEGER NOT NULL, created INTEGER NOT NULL, n INTEGER NOT NULL,"
    " n_chunks INTEGER NOT NULL, n_accepted INTEGER NOT NULL DEFAULT 0,"
    " n_rejected INTEGER NOT NULL DEFAULT 0, n_expired INTEGER NOT NULL DEFAULT 0,"
    " n_failed INTEGER NOT NULL DEFAULT 0, n_retry INTEGER NOT NULL DEFAULT 0,"
    " finished INTEGER);"
    "CREATE INDEX IF NOT EXISTS job_finished ON job(finished) WHERE finished IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS chunk("
    " id INTEGER PRIMARY KEY, job INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " first INTEGER NOT NULL, n INTEGER NOT NULL, tokens BLOB NOT NULL, st BLOB NOT NULL,"
    " n_open INTEGER NOT NULL, next_at INTEGER, lease_owner INTEGER, lease_until INTEGER,"
    " UNIQUE(job, seq));"
    "CREATE INDEX IF NOT EXISTS chunk_due ON chunk(next_at)"
    " WHERE next_at IS NOT NULL AND lease_owner IS NULL;"
    "CREATE TABLE IF NOT EXISTS retry("
    " chunk INTEGER NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, PRIMARY KEY(chunk, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rejection("
    " job INTEGER NOT NULL, idx INTEGER NOT NULL, token BLOB NOT NULL, status INTEGER,"
    " reason TEXT, apns_ts INTEGER, recorded INTEGER, PRIMARY KEY(job, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS dead_token("
    " id INTEGER PRIMARY KEY, app TEXT NOT NULL, token BLOB NOT NULL, source INTEGER NOT NULL,"
    " reason TEXT, apns_ts INTEGER, recorded INTEGER NOT NULL, UNIQUE(app, token));"
    "CREATE INDEX IF NOT EXISTS dead_token_page ON dead_token(app, recorded, id);"
    "PRAGMA user_version=1;";

#define V1_JOB "6f1c2a4e-0b7d-4c1e-9a55-3d2f1e0c9b8a"
#define V1_TOK1                                                                                    \
    "a1b2c3d4"                                                                                     \
    "00000000000000000000000000000000000000000000000000000001"
#define V1_TOK2                                                                                    \
    "a1b2c3d4"                                                                                     \
    "00000000000000000000000000000000000000000000000000000002"
#define V1_DEAD                                                                                    \
    "a1b2c3d4"                                                                                     \
    "00000000000000000000000000000000000000000000000000000003"

/* A few rows as apnsd 0.1.0 stored them: a job of two queued tokens in one
 * chunk (tokens as [32][32 bytes] records, one state byte each), a
 * dead token. */
static const char v1_rows[] =
    "INSERT INTO job(id,uid,app,topic,push_type,priority,expiration,collapse_id,apns_id,payload,"
    " send_at,created,n,n_chunks) VALUES(1,'" V1_JOB "','demo','com.example.app',0,10,-1,NULL,"
    " '" V1_JOB "',CAST('{\"aps\":{\"alert\":\"v1\"}}' AS BLOB),0,1000,2,1);"
    "INSERT INTO chunk(job,seq,first,n,tokens,st,n_open,next_at) VALUES(1,0,0,2,"
    " X'20" V1_TOK1 "20" V1_TOK2 "',X'0000',2,0);"
    "INSERT INTO dead_token(app,token,source,reason,apns_ts,recorded)"
    " VALUES('demo',X'" V1_DEAD "',1,'Unregistered',1764092701123,1000);";

static void schema_v1_migrated(void **state)
{
    fx *f = *state;
    char path[600], hex[APNS_TOKEN_HEX_MAX + 1];
    tq_res r, l, d;

    snprintf(path, sizeof(path), "%s/v1.db", f->b.dir);
    db_exec(path, v1_schema);
    db_exec(path, v1_rows);
    assert_int_equal(db_int(path, "PRAGMA user_version"), 1);

    gw_queue *q = tq_open(&f->o, path);
    /* Served: the job's status, its tokens leased, the registry listed. */
    assert_int_equal(tq_status(f->base, q, V1_JOB, &r), 0);
    assert_true(r.st.tokens == 2 && r.st.pending == 2);
    assert_string_equal(r.st.app, "demo");
    assert_int_equal(tq_lease(f->base, q, 10, &l), 0);
    assert_int_equal(l.n, 1);
    gw_chunk *c = l.chunks[0];
    assert_int_equal(c->n_tokens, 2);
    assert_string_equal(c->job_id, V1_JOB);
    assert_int_equal(gw_chunk_token_hex(c, 0, hex), 0);
    assert_string_equal(hex, V1_TOK1);
    assert_int_equal(gw_chunk_token_hex(c, 1, hex), 0);
    assert_string_equal(hex, V1_TOK2);
    assert_int_equal(c->payload_len, strlen("{\"aps\":{\"alert\":\"v1\"}}"));
    gw_outcome o[2] = {outcome(c, 0, GW_TOKEN_ACCEPTED), outcome(c, 1, GW_TOKEN_ACCEPTED)};
    assert_int_equal(tq_record(f->base, q, o, 2), 0);
    assert_int_equal(tq_release(f->base, q, c, 0), 0);
    assert_int_equal(tq_status(f->base, q, V1_JOB, &r), 0);
    assert_true(r.st.accepted == 2 && r.st.state == GW_JOB_DONE);
    memset(&d, 0, sizeof(d));
    assert_int_equal(gw_queue_dead_list(q, "demo", 0, NULL, 10, tq_on_dead, &d), 0);
    tq_run_until(f->base, &d.done);
    assert_int_equal(d.err, 0);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.dead[0].token, V1_DEAD);
    assert_string_equal(d.dead[0].reason, "Unregistered");
    gw_queue_free(q);

    /* Migrated in place: version 7 (meta, the channel records, the webhook
     * outbox, then job.channel, NULL for the job it held, then the cancel
     * columns, then the tokens in chunk_token, the chunk rows without
     * them), this apnsd recorded as the writer. */
    assert_int_equal(db_int(path, "PRAGMA user_version"), 7);
    assert_int_equal(db_int(path, "SELECT count(*) FROM pragma_table_info('chunk') WHERE "
                                  "name='tokens'"),
                     0);
    assert_int_equal(db_int(path, "SELECT count(*) FROM chunk_token"), 1);
    assert_int_equal(db_int(path, "SELECT length(tokens) FROM chunk_token"), 2 * 33);
    assert_int_equal(db_int(path, "SELECT count(*) FROM sqlite_master WHERE name='outbox'"), 1);
    assert_int_equal(db_int(path, "SELECT count(*) FROM sqlite_master WHERE name='channel'"), 1);
    assert_int_equal(db_int(path, "SELECT count(*) FROM pragma_table_info('job') WHERE "
                                  "name='channel'"),
                     1);
    assert_int_equal(db_int(path, "SELECT count(*) FROM job WHERE channel IS NULL"), 1);
    assert_int_equal(
        db_int(path,
               "SELECT count(*) FROM meta WHERE key='written_by' AND value='" APNS_VERSION "'"),
        1);
    /* And opened again as it is now. */
    q = tq_open(&f->o, path);
    assert_int_equal(tq_status(f->base, q, V1_JOB, &r), 0);
    assert_true(r.st.accepted == 2);
    gw_queue_free(q);
}

/* Version 3 as apnsd wrote it before the webhook outbox (its literal DDL:
 * version 1's tables, meta, channel). */
static const char v3_extra[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS channel("
    " app TEXT NOT NULL, env TEXT NOT NULL, id TEXT NOT NULL, policy INTEGER NOT NULL,"
    " label TEXT, created INTEGER NOT NULL, PRIMARY KEY(app, env, id)) WITHOUT ROWID;"
    "INSERT INTO meta VALUES('written_by','0.1.0');"
    "PRAGMA user_version=3;";

/* A version 3 file is migrated to 6 in place: its queued job is served and
 * its outcomes write webhook events into the new outbox table. */
static void schema_v3_migrated(void **state)
{
    fx *f = *state;
    char path[600];
    tq_res l;
    qc_ev e;

    snprintf(path, sizeof(path), "%s/v3.db", f->b.dir);
    db_exec(path, v1_schema);
    db_exec(path, v3_extra);
    db_exec(path, v1_rows);
    assert_int_equal(db_int(path, "PRAGMA user_version"), 3);

    gw_queue *q = tq_open(&f->o, path);
    assert_int_equal(gw_queue_outbox_apps(q, (gw_outbox_app[]){{"demo", GW_OUTBOX_ALL}}, 1), 0);
    assert_int_equal(tq_lease(f->base, q, 10, &l), 0);
    assert_int_equal(l.n, 1);
    gw_chunk *c = l.chunks[0];
    gw_outcome o[2] = {outcome(c, 0, GW_TOKEN_ACCEPTED), outcome(c, 1, GW_TOKEN_ACCEPTED)};
    assert_int_equal(tq_record(f->base, q, o, 2), 0);
    assert_int_equal(tq_release(f->base, q, c, 0), 0);
    gw_queue_free(q);

    assert_int_equal(db_int(path, "PRAGMA user_version"), 7);
    assert_int_equal(db_int(path, "SELECT count(*) FROM outbox WHERE app='demo'"), 2);
    /* Opened again: the events are there, oldest first. */
    q = tq_open(&f->o, path);
    qc_read(f, q, "demo", 10, 0, &e);
    assert_int_equal(e.n, 2);
    assert_non_null(
        strstr(e.json[0], "\"job_id\":\"" V1_JOB "\",\"index\":0,\"token\":\"" V1_TOK1));
    assert_non_null(strstr(e.json[1], "\"index\":1,\"token\":\"" V1_TOK2));
    gw_queue_free(q);
}

/* Schema version 5 exactly as apnsd wrote it before cancels (git 5851a90,
 * daemon/queue/sqlite/store_sqlite_db.c), never this file's code. */
static const char v5_schema[] =
    "CREATE TABLE IF NOT EXISTS job("
    " id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, app TEXT NOT NULL, topic TEXT,"
    " push_type INTEGER NOT NULL, priority INTEGER NOT NULL, expiration INTEGER NOT NULL,"
    " collapse_id TEXT, apns_id TEXT NOT NULL, payload BLOB NOT NULL,"
    " send_at INTEGER NOT NULL, created INTEGER NOT NULL, n INTEGER NOT NULL,"
    " n_chunks INTEGER NOT NULL, n_accepted INTEGER NOT NULL DEFAULT 0,"
    " n_rejected INTEGER NOT NULL DEFAULT 0, n_expired INTEGER NOT NULL DEFAULT 0,"
    " n_failed INTEGER NOT NULL DEFAULT 0, n_retry INTEGER NOT NULL DEFAULT 0,"
    " finished INTEGER, channel TEXT);"
    "CREATE INDEX IF NOT EXISTS job_finished ON job(finished) WHERE finished IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS chunk("
    " id INTEGER PRIMARY KEY, job INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " first INTEGER NOT NULL, n INTEGER NOT NULL, tokens BLOB NOT NULL, st BLOB NOT NULL,"
    " n_open INTEGER NOT NULL, next_at INTEGER, lease_owner INTEGER, lease_until INTEGER,"
    " UNIQUE(job, seq));"
    "CREATE INDEX IF NOT EXISTS chunk_due ON chunk(next_at)"
    " WHERE next_at IS NOT NULL AND lease_owner IS NULL;"
    "CREATE TABLE IF NOT EXISTS retry("
    " chunk INTEGER NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, PRIMARY KEY(chunk, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rejection("
    " job INTEGER NOT NULL, idx INTEGER NOT NULL, token BLOB NOT NULL, status INTEGER,"
    " reason TEXT, apns_ts INTEGER, recorded INTEGER, PRIMARY KEY(job, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS dead_token("
    " id INTEGER PRIMARY KEY, app TEXT NOT NULL, token BLOB NOT NULL, source INTEGER NOT NULL,"
    " reason TEXT, apns_ts INTEGER, recorded INTEGER NOT NULL, UNIQUE(app, token));"
    "CREATE INDEX IF NOT EXISTS dead_token_page ON dead_token(app, recorded, id);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT "
    "ROWID;"
    "CREATE TABLE IF NOT EXISTS channel("
    " app TEXT NOT NULL, env TEXT NOT NULL, id TEXT NOT NULL, policy INTEGER NOT NULL,"
    " label TEXT, created INTEGER NOT NULL, PRIMARY KEY(app, env, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS outbox("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, at INTEGER NOT NULL,"
    " event TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS outbox_app ON outbox(app, id);"
    "INSERT INTO meta VALUES('written_by','0.2.0');"
    "PRAGMA user_version=5;";

/* A cancel stored while a chunk of the job is leased, then the process
 * stops before that chunk is handed back (its lease is never released):
 * the next open cancels what the chunk still had open, so a restart never
 * resumes a cancelled job (docs/api.md). */
static void cancel_survives_a_stop_while_leased(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    char id[GW_JOB_ID_LEN + 1];

    f->o.chunk_tokens = 10;
    qc_reopen(f);
    tq_job(&j, "demo", 11, 25); /* chunks of 10, 10 and 5 */
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    snprintf(id, sizeof(id), "%s", r.id);
    assert_int_equal(qc_lease_wait(f, f->q, 1, &l, 5000), 1);
    assert_int_equal(qc_cancel(f, f->q, id, &r), 0);
    assert_int_equal(r.st.cancelled, 15); /* the two chunks no one held */
    /* The stop: the queue goes (freeing the chunk it lent), the lease is
     * never released. */
    gw_queue_free(f->q);
    f->q = qc_open(f);
    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.cancelled, 25);
    assert_int_equal(r.st.pending, 0);
    assert_int_equal(r.st.state, GW_JOB_CANCELLED);
    qc_counts_add_up(&r.st);
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 0), 0);
    assert_int_equal(qc_depth_settled(f, 0), 0);
}

/* PRAGMA data_version of an open connection: it changes when another
 * connection commits a change to the file. */
static int data_version(sqlite3 *db)
{
    sqlite3_stmt *s;
    int v = -1;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The outcomes that make every token of a chunk final end its lease in
 * the same row write, so the release that follows (every small job's)
 * commits no change to the file; a chunk with open tokens is still handed
 * back with a write. Judged from a second connection to the file. */
static void finished_chunk_release_writes_nothing(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    sqlite3 *db;
    int v0, v1;
    char id[GW_JOB_ID_LEN + 1];

    tq_job(&j, "demo", 12, 2);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    snprintf(id, sizeof(id), "%s", r.id);
    tq_job(&j, "demo", 13, 2);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    assert_int_equal(qc_lease_wait(f, f->q, 2, &l, 5000), 2);
    gw_chunk *done = strcmp(l.chunks[0]->job_id, id) == 0 ? l.chunks[0] : l.chunks[1];
    gw_chunk *open = done == l.chunks[0] ? l.chunks[1] : l.chunks[0];
    gw_outcome v[3] = {outcome(done, 0, GW_TOKEN_ACCEPTED), outcome(done, 1, GW_TOKEN_ACCEPTED),
                       outcome(open, 0, GW_TOKEN_ACCEPTED)};
    assert_int_equal(tq_record(f->base, f->q, v, 3), 0);
    assert_int_equal(db_int(f->b.path, "SELECT count(*) FROM chunk WHERE lease_owner IS NULL AND "
                                       "next_at IS NULL AND n_open=0"),
                     1);
    assert_int_equal(sqlite3_open(f->b.path, &db), SQLITE_OK);
    v0 = data_version(db);
    assert_int_equal(tq_release(f->base, f->q, done, 0), 0);
    v1 = data_version(db);
    if (v1 != v0)
        fail_msg("releasing a chunk whose tokens are all final committed a change (data_version "
                 "%d -> %d)",
                 v0, v1);
    assert_int_equal(tq_release(f->base, f->q, open, 0), 0);
    assert_true(data_version(db) != v1); /* the check sees a release that writes */
    sqlite3_close(db);
    assert_int_equal(tq_status(f->base, f->q, id, &r), 0);
    assert_int_equal(r.st.state, GW_JOB_DONE);
    /* The open chunk is due again; the finished one never. */
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 1);
    assert_int_equal(l.chunks[0]->state[0], GW_TOKEN_ACCEPTED);
    assert_int_equal(l.chunks[0]->state[1], GW_TOKEN_PENDING);
    assert_int_equal(qc_finish(f, f->q, l.chunks[0]), 0);
}

/* Bytes of the file's write-ahead log (frames are appended until a
 * checkpoint, which runs at 1,000 frames: far more than these tests write). */
static long wal_bytes(const char *path)
{
    char wal[600];
    struct stat sb;
    snprintf(wal, sizeof(wal), "%s-wal", path);
    return stat(wal, &sb) == 0 ? (long)sb.st_size : -1;
}

/* A chunk's tokens are written once: leasing a 1,000-token chunk and
 * recording its outcomes rewrite its small chunk row (state bytes, counts,
 * lease), not its 33 KB of tokens. With the tokens in the chunk row (schema
 * 6) every such update rewrote the whole row: its 8 overflow pages and its
 * leaf, 9+ pages per write (issue 16). */
static void chunk_updates_leave_tokens_alone(void **state)
{
    fx *f = *state;
    tq_res r, l;
    gw_job j;
    gw_outcome *o = calloc(1000, sizeof(*o));
    assert_non_null(o);

    f->o.chunk_tokens = 1000;
    qc_reopen(f);
    tq_job(&j, "demo", 21, 1000);
    assert_int_equal(tq_submit(f->base, f->q, &j, &r), 0);
    long frame = 24 + db_int(f->b.path, "PRAGMA page_size"), w0 = wal_bytes(f->b.path);
    assert_int_equal(qc_lease_wait(f, f->q, 10, &l, 5000), 1);
    gw_chunk *c = l.chunks[0];
    assert_int_equal(c->n_tokens, 1000);
    long w1 = wal_bytes(f->b.path);
    for (uint32_t i = 0; i < 1000; i++)
        o[i] = outcome(c, i, i == 7 ? GW_TOKEN_REJECTED : GW_TOKEN_ACCEPTED);
    assert_int_equal(tq_record(f->base, f->q, o, 1000), 0);
    assert_int_equal(tq_release(f->base, f->q, c, 0), 0);
    long w2 = wal_bytes(f->b.path);
    assert_true(w0 > 0 && w1 >= w0 && w2 >= w1);
    long lease_pages = (w1 - w0) / frame, record_pages = (w2 - w1) / frame;
    printf("# 1,000-token chunk: lease wrote %ld pages, outcomes %ld\n", lease_pages, record_pages);
    if (lease_pages > 4 || record_pages > 6)
        fail_msg("a chunk update rewrote its tokens: lease %ld pages, outcomes %ld pages "
                 "(a chunk row without its tokens is one leaf page)",
                 lease_pages, record_pages);
    assert_int_equal(tq_status(f->base, f->q, r.id, &r), 0);
    assert_true(r.st.accepted == 999 && r.st.rejected == 1);
    free(o);
}

/* A version 5 file is migrated to 6 in place: its queued job has no cancel
 * mark and can be cancelled, and the cancel survives a restart. */
static void schema_v5_migrated(void **state)
{
    fx *f = *state;
    char path[600];
    tq_res r;

    snprintf(path, sizeof(path), "%s/v5.db", f->b.dir);
    db_exec(path, v5_schema);
    db_exec(path, v1_rows);
    assert_int_equal(db_int(path, "PRAGMA user_version"), 5);

    gw_queue *q = tq_open(&f->o, path);
    assert_int_equal(tq_status(f->base, q, V1_JOB, &r), 0);
    assert_true(r.st.tokens == 2 && r.st.pending == 2 && r.st.cancelled == 0);
    assert_int_equal(r.st.cancelled_ms, 0);
    assert_int_equal(gw_queue_depth(q), 2);
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_queue_cancel(q, V1_JOB, tq_on_status, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.st.cancelled, 2);
    assert_int_equal(r.st.state, GW_JOB_CANCELLED);
    assert_int_equal(gw_queue_depth(q), 0);
    gw_queue_free(q);

    assert_int_equal(db_int(path, "PRAGMA user_version"), 7);
    assert_int_equal(db_int(path, "SELECT n_cancelled FROM job"), 2);
    assert_int_equal(db_int(path, "SELECT count(*) FROM chunk WHERE next_at IS NOT NULL"), 0);
    q = tq_open(&f->o, path);
    assert_int_equal(tq_status(f->base, q, V1_JOB, &r), 0);
    assert_int_equal(r.st.cancelled, 2);
    assert_int_equal(r.st.state, GW_JOB_CANCELLED);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.outcomes[0].state, GW_TOKEN_CANCELLED);
    assert_int_equal(r.outcomes[1].state, GW_TOKEN_CANCELLED);
    assert_int_equal(gw_queue_depth(q), 0);
    gw_queue_free(q);
}

/* A database of a newer schema (a later apnsd wrote it) is refused, the
 * detail naming its version, its writer and this apnsd's. */
static void schema_newer_refused(void **state)
{
    fx *f = *state;
    char path[600], detail[512];
    gw_queue_sqlite_opts so = {0};
    gw_queue *q = NULL;

    snprintf(path, sizeof(path), "%s/v9.db", f->b.dir);
    db_exec(path, v1_schema);
    db_exec(path, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
                  "INSERT INTO meta VALUES('written_by','9.9.9'); PRAGMA user_version=9;");
    so.path = path;
    assert_int_equal(gw_queue_sqlite_open(&q, &f->o, &so, detail, sizeof(detail)), GW_QUEUE_ESTORE);
    assert_null(q);
    assert_non_null(strstr(detail, path));
    assert_non_null(strstr(detail, "schema version 9 (written by apnsd 9.9.9)"));
    assert_non_null(strstr(detail, "this apnsd (" APNS_VERSION ") reads schema versions up to 7"));
    /* Untouched. */
    assert_int_equal(db_int(path, "PRAGMA user_version"), 9);
}

/* ---- groups and idempotency records (queue_idem.c) ---- */

static void on_idem(int err, const char *detail, int state, int status, const char *body, void *ud)
{
    tq_res *r = ud;
    r->count = (uint64_t)state;
    r->n = (size_t)status;
    snprintf(r->id, sizeof(r->id), "%.36s", body != NULL ? body : "");
    tq_mark(r, err, detail);
}

static int idem_begin(fx *f, const char *key, const char *body, tq_res *r)
{
    uint8_t h[GW_IDEM_HASH] = {0};
    memcpy(h, body, strlen(body) < sizeof h ? strlen(body) : sizeof h);
    memset(r, 0, sizeof(*r));
    assert_int_equal(gw_queue_idem_begin(f->q, "scope", key, h, 60000, 0, on_idem, r), 0);
    tq_run_until(f->base, &r->done);
    return r->err;
}

/* A group commits whole or not at all: a member the storage refuses (a
 * channel record over its bound: GW_QUEUE_ELIMIT, decided in the
 * transaction) fails the jobs posted before and after it, and nothing of
 * them is stored; a group abandoned while posting fails every member. The
 * idempotency answer posted in a group is stored with its jobs. */
static void group_all_or_nothing(void **state)
{
    fx *f = *state;
    tq_res a, c, ch, st, i1, i2;
    gw_job j;
    gw_channel rec = {.id = "dHdmLWJyb2FkY2FzdC1jaGFubmVs", .storage_policy = 1};
    gw_channel rec2 = {.id = "c2Vjb25kLWNoYW5uZWwtcmVjb3Jk", .storage_policy = 1};

    memset(&ch, 0, sizeof(ch));
    assert_int_equal(gw_queue_channel_put(f->q, "demo", "production", &rec, 1, tq_on_done, &ch), 0);
    tq_run_until(f->base, &ch.done);
    assert_int_equal(ch.err, 0);

    /* job, refused member, job */
    assert_int_equal(gw_queue_group_begin(f->q), 0);
    assert_int_equal(gw_queue_group_begin(f->q), APNS_EINVAL); /* one at a time */
    memset(&a, 0, sizeof(a));
    memset(&c, 0, sizeof(c));
    memset(&ch, 0, sizeof(ch));
    tq_job(&j, "demo", 40, 10);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &a), 0);
    assert_int_equal(gw_queue_channel_put(f->q, "demo", "production", &rec2, 1, tq_on_done, &ch),
                     0);
    tq_job(&j, "demo", 41, 5);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &c), 0);
    gw_queue_group_end(f->q, 0, NULL);
    tq_run_until(f->base, &a.done);
    tq_run_until(f->base, &c.done);
    tq_run_until(f->base, &ch.done);
    assert_int_equal(ch.err, GW_QUEUE_ELIMIT);
    assert_int_equal(a.err, GW_QUEUE_ELIMIT);
    assert_int_equal(c.err, GW_QUEUE_ELIMIT);
    assert_int_equal(tq_status(f->base, f->q, a.id, &st), GW_QUEUE_ENOTFOUND);
    assert_int_equal(tq_status(f->base, f->q, c.id, &st), GW_QUEUE_ENOTFOUND);
    assert_int_equal(gw_queue_depth(f->q), 0);

    /* abandoned while posting */
    assert_int_equal(gw_queue_group_begin(f->q), 0);
    memset(&a, 0, sizeof(a));
    tq_job(&j, "demo", 42, 3);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &a), 0);
    gw_queue_group_end(f->q, GW_QUEUE_EDEPTH, "queue depth limit reached");
    tq_run_until(f->base, &a.done);
    assert_int_equal(a.err, GW_QUEUE_EDEPTH);
    assert_int_equal(tq_status(f->base, f->q, a.id, &st), GW_QUEUE_ENOTFOUND);
    assert_int_equal(gw_queue_depth(f->q), 0);

    /* reserve, then two jobs and the answer in one group: all stored */
    assert_int_equal(idem_begin(f, "k1", "body-1", &i1), 0);
    assert_int_equal(i1.count, GW_IDEM_NEW);
    assert_int_equal(idem_begin(f, "k1", "body-1", &i2), 0);
    assert_int_equal(i2.count, GW_IDEM_BUSY);
    assert_int_equal(gw_queue_group_begin(f->q), 0);
    memset(&a, 0, sizeof(a));
    memset(&c, 0, sizeof(c));
    memset(&i2, 0, sizeof(i2));
    tq_job(&j, "demo", 43, 2);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &a), 0);
    tq_job(&j, "demo", 44, 2);
    assert_int_equal(gw_queue_submit(f->q, &j, NULL, tq_on_submit, &c), 0);
    assert_int_equal(gw_queue_idem_finish(f->q, "scope", "k1", 202, "{\"first\":1}", on_idem, &i2),
                     0);
    gw_queue_group_end(f->q, 0, NULL);
    tq_run_until(f->base, &a.done);
    tq_run_until(f->base, &c.done);
    tq_run_until(f->base, &i2.done);
    assert_int_equal(a.err, 0);
    assert_int_equal(c.err, 0);
    assert_int_equal(i2.err, 0);
    assert_int_equal(gw_queue_depth(f->q), 4);

    /* after a reopen: the answer is replayed; another body is a mismatch */
    qc_reopen(f);
    assert_int_equal(idem_begin(f, "k1", "body-1", &i1), 0);
    assert_int_equal(i1.count, GW_IDEM_REPLAY);
    assert_int_equal(i1.n, 202);
    assert_string_equal(i1.id, "{\"first\":1}");
    assert_int_equal(idem_begin(f, "k1", "body-2", &i1), 0);
    assert_int_equal(i1.count, GW_IDEM_MISMATCH);
    /* a reservation never answered is gone after a reopen */
    assert_int_equal(idem_begin(f, "k2", "body-1", &i1), 0);
    assert_int_equal(i1.count, GW_IDEM_NEW);
    qc_reopen(f);
    assert_int_equal(idem_begin(f, "k2", "body-1", &i1), 0);
    assert_int_equal(i1.count, GW_IDEM_NEW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        QC_CONTRACT_TESTS(qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(retention, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(lease_turns, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(lease_aged_chunks, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(background_retention, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(disk_full, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(read_only, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(one_process_per_file, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(corrupt_file, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(files_private, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(schema_v1_migrated, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(schema_v3_migrated, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(schema_v5_migrated, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(cancel_survives_a_stop_while_leased, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(finished_chunk_release_writes_nothing, qc_setup,
                                        qc_teardown),
        cmocka_unit_test_setup_teardown(chunk_updates_leave_tokens_alone, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(schema_newer_refused, qc_setup, qc_teardown),
        cmocka_unit_test_setup_teardown(group_all_or_nothing, qc_setup, qc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
