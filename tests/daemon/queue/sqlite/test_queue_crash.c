/*
 * test_queue_crash.c - kill -9 at random moments. A child process submits
 * jobs and records outcomes in a loop, logging what the queue acknowledged
 * (a job after its submit callback, outcomes after their record callback).
 * The parent SIGKILLs it at random points, several times on the same file,
 * and after each kill checks:
 *   - every acknowledged job is present with all its tokens;
 *   - every acknowledged outcome is in the file, unchanged;
 *   - every token is either final, waiting for a retry, or pending, and the
 *     job counters, chunk counters, retry rows and rejection rows agree with
 *     the per-token states (nothing half-written);
 * and at the end drains the queue: every token of every job gets an answer
 * (no token lost, no lease left behind).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "test_queue_util.h"

#define CHUNK 100

/* ---- the child ---------------------------------------------------------- */

typedef struct child {
    struct event_base *base;
    gw_queue *q;
    int log;
    unsigned seed;
    uint64_t jobs;
    int submits, leasing;
    size_t chunks_out;
} child;

typedef struct rec_ctx {
    child *ch;
    gw_chunk *c;
    size_t n;
    uint32_t idx[CHUNK];
    uint8_t state[CHUNK];
} rec_ctx;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "crash child: %s: %s\n", what, detail);
    _exit(3);
}

static void log_write(child *ch, const char *buf, size_t len)
{
    if (write(ch->log, buf, len) != (ssize_t)len)
        die("log", "short write");
}

typedef struct sub_ctx {
    child *ch;
    size_t n;
} sub_ctx;

static void on_child_submit(int err, const char *detail, const char *id, void *ud)
{
    sub_ctx *sc = ud;
    child *ch = sc->ch;
    char line[128];
    int n;

    ch->submits--;
    if (err != 0)
        die("submit", detail);
    n = snprintf(line, sizeof(line), "J %s %zu\n", id, sc->n);
    free(sc);
    log_write(ch, line, (size_t)n);
}

static void maybe_lease(child *ch);

static void on_child_record(int err, const char *detail, void *ud)
{
    rec_ctx *rc = ud;
    child *ch = rc->ch;
    char buf[CHUNK * 64];
    size_t len = 0;

    if (err != 0)
        die("record", detail);
    for (size_t i = 0; i < rc->n; i++)
        if (gw_token_state_final((gw_token_state)rc->state[i]))
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "O %s %u %u\n", rc->c->job_id,
                                    rc->idx[i], rc->state[i]);
    if (len > 0)
        log_write(ch, buf, len);
    if (gw_queue_release(ch->q, rc->c, 0, NULL, NULL) != 0)
        die("release", "");
    free(rc);
    if (--ch->chunks_out == 0) {
        ch->leasing = 0;
        maybe_lease(ch);
    }
}

static void on_child_lease(int err, const char *detail, gw_chunk **chunks, size_t n,
                           int64_t next_at, void *ud)
{
    child *ch = ud;
    struct timespec ts;
    int64_t now;
    gw_outcome v[CHUNK];

    if (err != 0)
        die("lease", detail);
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    ch->chunks_out = n;
    if (n == 0) {
        ch->leasing = 0;
        return;
    }
    for (size_t k = 0; k < n; k++) {
        gw_chunk *c = chunks[k];
        rec_ctx *rc = calloc(1, sizeof(*rc));
        size_t m = 0;

        rc->ch = ch;
        rc->c = c;
        for (uint32_t i = 0; i < c->n_tokens; i++) {
            unsigned x = (unsigned)rand_r(&ch->seed) % 100;
            gw_outcome *o = &v[m];

            if (!gw_chunk_token_due(c, i, now))
                continue;
            memset(o, 0, sizeof(*o));
            o->chunk = c;
            o->token = i;
            if (x < 70) {
                o->state = GW_TOKEN_ACCEPTED;
            } else if (x < 80) {
                o->state = GW_TOKEN_REJECTED;
                o->status = 410;
                o->reason = APNS_REASON_UNREGISTERED;
                o->apns_ts_ms = now;
                o->dead = GW_DEAD_UNREGISTERED;
            } else if (x < 85) {
                o->state = GW_TOKEN_EXPIRED;
            } else {
                o->state = GW_TOKEN_RETRY;
                o->status = 429;
                o->retry_at_ms = now + x % 30;
            }
            rc->idx[m] = c->first + i;
            rc->state[m] = (uint8_t)o->state;
            m++;
        }
        rc->n = m;
        if (gw_queue_record(ch->q, v, m, on_child_record, rc) != 0)
            die("record", "post");
    }
}

static void maybe_lease(child *ch)
{
    if (ch->leasing)
        return;
    ch->leasing = 1;
    if (gw_queue_lease(ch->q, 3, on_child_lease, ch) != 0)
        die("lease", "post");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    child *ch = arg;

    while (ch->submits < 3) {
        gw_job j;
        sub_ctx *sc = malloc(sizeof(*sc));
        /* Mostly small jobs; one in 20 spans 40 chunks in one transaction. */
        size_t n = rand_r(&ch->seed) % 20 == 0 ? 4000 : 1 + (size_t)rand_r(&ch->seed) % 150;

        sc->ch = ch;
        sc->n = n;
        tq_job(&j, "crash", ch->seed * 1000003ull + ch->jobs++, n);
        if (gw_queue_submit(ch->q, &j, NULL, on_child_submit, sc) != 0)
            die("submit", "post");
        ch->submits++;
    }
    maybe_lease(ch);
}

static void child_main(const char *path, const char *log_path, unsigned seed)
{
    child ch = {0};
    gw_queue_opts o;
    gw_queue_sqlite_opts so = {0};
    char detail[512];
    struct timeval tv = {0, 1000};
    struct event *tick;

    ch.seed = seed;
    ch.base = event_base_new();
    ch.log = open(log_path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    gw_queue_opts_init(&o);
    o.base = ch.base;
    o.chunk_tokens = CHUNK;
    o.purge_interval_ms = -1;
    so.path = path;
    if (ch.log < 0 || gw_queue_sqlite_open(&ch.q, &o, &so, detail, sizeof(detail)) != 0)
        die("open", detail);
    tick = event_new(ch.base, -1, EV_PERSIST, on_tick, &ch);
    event_add(tick, &tv);
    event_base_dispatch(ch.base);
    _exit(0);
}

/* ---- the parent's checks ------------------------------------------------ */

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    return s;
}

/* Consistency of every job with its chunks; returns unfinished tokens. */
static int64_t check_consistency(sqlite3 *db, int64_t *leased_chunks)
{
    sqlite3_stmt *jobs = prep(db, "SELECT id,n,n_accepted,n_rejected,n_expired,n_failed,"
                                  "n_retry,finished,n_chunks FROM job");
    sqlite3_stmt *chunks = prep(db, "SELECT id,n,st,n_open,lease_owner,seq,first "
                                    "FROM chunk WHERE job=?1 ORDER BY seq");
    sqlite3_stmt *retries = prep(db, "SELECT count(*) FROM retry WHERE chunk=?1");
    sqlite3_stmt *rej = prep(db, "SELECT count(*) FROM rejection WHERE job=?1");
    int64_t open_total = 0;

    *leased_chunks = 0;
    while (sqlite3_step(jobs) == SQLITE_ROW) {
        int64_t job = sqlite3_column_int64(jobs, 0), n = sqlite3_column_int64(jobs, 1);
        int64_t counts[GW_TOKEN_STATE_COUNT] = {0}, tokens = 0, nchunks = 0;

        sqlite3_bind_int64(chunks, 1, job);
        while (sqlite3_step(chunks) == SQLITE_ROW) {
            int64_t cid = sqlite3_column_int64(chunks, 0), cn = sqlite3_column_int64(chunks, 1);
            const uint8_t *st = sqlite3_column_blob(chunks, 2);
            int64_t open = 0, retry = 0;

            assert_int_equal(sqlite3_column_bytes(chunks, 2), cn);
            assert_int_equal(sqlite3_column_int64(chunks, 5), nchunks);
            assert_int_equal(sqlite3_column_int64(chunks, 6), tokens);
            for (int64_t i = 0; i < cn; i++) {
                assert_true(st[i] < GW_TOKEN_STATE_COUNT);
                counts[st[i]]++;
                open += !gw_token_state_final((gw_token_state)st[i]);
                retry += st[i] == GW_TOKEN_RETRY;
            }
            assert_int_equal(sqlite3_column_int64(chunks, 3), open);
            *leased_chunks += sqlite3_column_type(chunks, 4) != SQLITE_NULL;
            sqlite3_bind_int64(retries, 1, cid);
            assert_int_equal(sqlite3_step(retries), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int64(retries, 0), retry);
            sqlite3_reset(retries);
            tokens += cn;
            nchunks++;
        }
        sqlite3_reset(chunks);
        assert_int_equal(tokens, n);
        assert_int_equal(nchunks, sqlite3_column_int64(jobs, 8));
        assert_int_equal(counts[GW_TOKEN_ACCEPTED], sqlite3_column_int64(jobs, 2));
        assert_int_equal(counts[GW_TOKEN_REJECTED], sqlite3_column_int64(jobs, 3));
        assert_int_equal(counts[GW_TOKEN_EXPIRED], sqlite3_column_int64(jobs, 4));
        assert_int_equal(counts[GW_TOKEN_FAILED], sqlite3_column_int64(jobs, 5));
        assert_int_equal(counts[GW_TOKEN_RETRY], sqlite3_column_int64(jobs, 6));
        sqlite3_bind_int64(rej, 1, job);
        assert_int_equal(sqlite3_step(rej), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(rej, 0), counts[GW_TOKEN_REJECTED]);
        sqlite3_reset(rej);
        int64_t open = counts[GW_TOKEN_PENDING] + counts[GW_TOKEN_RETRY];
        assert_int_equal(sqlite3_column_type(jobs, 7) != SQLITE_NULL, open == 0);
        open_total += open;
    }
    sqlite3_finalize(jobs);
    sqlite3_finalize(chunks);
    sqlite3_finalize(retries);
    sqlite3_finalize(rej);
    return open_total;
}

/* Every acknowledged job and outcome logged from byte *from on is in the
 * file; *from moves to the end of the log. */
static void check_log(sqlite3 *db, const char *log_path, long *from, size_t *jobs_out,
                      size_t *outcomes_out)
{
    FILE *fp = fopen(log_path, "r");
    sqlite3_stmt *job = prep(db, "SELECT n FROM job WHERE uid=?1");
    sqlite3_stmt *st = prep(db, "SELECT st FROM chunk c JOIN job j ON c.job=j.id "
                                "WHERE j.uid=?1 AND c.seq=?2");
    char line[256], id[64];
    unsigned idx, state;
    size_t n;

    assert_non_null(fp);
    fseek(fp, *from, SEEK_SET);
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (sscanf(line, "J %63s %zu", id, &n) == 2) {
            sqlite3_bind_text(job, 1, id, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(job) != SQLITE_ROW)
                fail_msg("acknowledged job %s is missing", id);
            assert_int_equal(sqlite3_column_int64(job, 0), n);
            sqlite3_reset(job);
            (*jobs_out)++;
        } else if (sscanf(line, "O %63s %u %u", id, &idx, &state) == 3) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(st, 2, (int)(idx / CHUNK));
            if (sqlite3_step(st) != SQLITE_ROW)
                fail_msg("job %s chunk %u is missing", id, idx / CHUNK);
            const uint8_t *b = sqlite3_column_blob(st, 0);
            if (b[idx % CHUNK] != state)
                fail_msg("job %s token %u: acknowledged %u, stored %u", id, idx, state,
                         b[idx % CHUNK]);
            sqlite3_reset(st);
            (*outcomes_out)++;
        } else {
            fail_msg("torn log line: %s", line);
        }
    }
    *from = ftell(fp);
    fclose(fp);
    sqlite3_finalize(job);
    sqlite3_finalize(st);
}

typedef struct drain_ctx {
    volatile int left;
    int err;
} drain_ctx;

static void on_drain_done(int err, const char *detail, void *ud)
{
    drain_ctx *d = ud;
    if (err != 0)
        d->err = err;
    d->left--;
}

/* Answers every token (accepted), pipelining records and releases. */
static void drain(struct event_base *base, const char *path)
{
    gw_queue_opts o;
    gw_queue *q;
    tq_res l;
    gw_outcome *v = calloc(CHUNK, sizeof(*v));
    double until = tq_secs() + 60;
    drain_ctx d = {0};

    tq_opts(&o, base, 0);
    o.chunk_tokens = CHUNK;
    q = tq_open(&o, path);
    while (gw_queue_depth(q) > 0) {
        struct timespec ts;
        int64_t now;

        assert_true(tq_secs() < until);
        assert_int_equal(tq_lease(base, q, 200, &l), 0);
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (l.n == 0) {
            assert_true(l.next_at != INT64_MAX); /* something is waiting: a retry */
            usleep(5000);
            continue;
        }
        for (size_t k = 0; k < l.n; k++) {
            gw_chunk *c = l.chunks[k];
            size_t m = 0;
            for (uint32_t i = 0; i < c->n_tokens; i++) {
                if (!gw_chunk_token_due(c, i, now))
                    continue;
                memset(&v[m], 0, sizeof(v[m]));
                v[m].chunk = c;
                v[m].token = i;
                v[m].state = GW_TOKEN_ACCEPTED;
                m++;
            }
            d.left += 2;
            assert_int_equal(gw_queue_record(q, v, m, on_drain_done, &d), 0);
            assert_int_equal(gw_queue_release(q, c, 0, on_drain_done, &d), 0);
        }
        while (d.left > 0)
            event_base_loop(base, EVLOOP_ONCE);
        assert_int_equal(d.err, 0);
    }
    free(v);
    gw_queue_free(q);
}

static void kill_nine(void **state)
{
    char *dir = tq_tmpdir(), path[512], log_path[512];
    struct event_base *base = event_base_new();
    const char *seed_env = getenv("APNSD_TEST_SEED"); /* to replay a failing run */
    unsigned seed = seed_env != NULL ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
    int rounds = tq_small() ? 4 : 8;
    size_t jobs = 0, outcomes = 0;
    long from = 0;

    tq_db_path(dir, path, sizeof(path));
    snprintf(log_path, sizeof(log_path), "%s/acks.log", dir);
    printf("# seed %u\n", seed);
    for (int round = 0; round < rounds; round++) {
        unsigned wait_ms = 150 + (unsigned)rand_r(&seed) % 350;
        int64_t leased, open;
        sqlite3 *db;
        int status;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_main(path, log_path, seed + (unsigned)round * 7919u);
        usleep(wait_ms * 1000);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("child exited with %d before the kill", WEXITSTATUS(status));

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        check_log(db, log_path, &from, &jobs, &outcomes);
        open = check_consistency(db, &leased);
        sqlite3_close(db);
        printf("# round %d: killed after %u ms; %zu jobs and %zu outcomes acknowledged so far, "
               "all present; %lld tokens open; %lld chunks were leased at the kill (only their "
               "answered-but-uncommitted tokens can be sent twice)\n",
               round, wait_ms, jobs, outcomes, (long long)open, (long long)leased);
    }
    assert_true(jobs > 0);
    assert_true(outcomes > 0);

    /* Reopen with the queue and answer everything: nothing is stuck. */
    drain(base, path);
    {
        sqlite3 *db;
        int64_t leased;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(check_consistency(db, &leased), 0);
        assert_int_equal(leased, 0);
        /* Answers acknowledged before any kill are still the stored ones. */
        from = 0;
        jobs = outcomes = 0;
        check_log(db, log_path, &from, &jobs, &outcomes);
        sqlite3_close(db);
    }
    event_base_free(base);
    tq_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_nine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
