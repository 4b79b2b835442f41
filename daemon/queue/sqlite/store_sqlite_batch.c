/*
 * store_sqlite_batch.c - group commit: every request the worker took at once
 * runs in ONE transaction, each inside its own SAVEPOINT.
 *
 * Design note. A request that fails (e.g. SQLITE_FULL while inserting a big
 * job) is rolled back to its savepoint and answered with its error; the
 * others in the batch still commit. If SQLite rolled the whole transaction
 * back by itself (it may for FULL, IOERR, BUSY, NOMEM: the connection is
 * back in autocommit), the request that caused it keeps its error and the
 * others run again in a fresh transaction (a bounded number of times). If
 * COMMIT fails, the batch is rolled back and every request that had
 * succeeded gets the COMMIT's error. Effects outside the database (the depth
 * counter, "new work" notifications, handing out leased chunks) are applied
 * by the front end only to requests without an error, so memory never runs
 * ahead of the file.
 *
 * Durability per batch: synchronous=FULL when the batch stores a job or
 * changes the dead-token registry (the API acknowledges those), NORMAL for
 * batches of outcomes, leases and queries: in WAL mode a NORMAL commit
 * survives a process crash (kill -9) and may only be lost on power failure
 * or an OS crash, which can only cause resends (the documented duplicate
 * window), never a lost job. gw_queue_sqlite_opts.outcome_sync_full makes
 * every batch FULL.
 *
 * Option changes (size limit, read-only) run between transactions, in order.
 *
 * The transaction statements (BEGIN, SAVEPOINT, RELEASE, COMMIT, ...) are
 * prepared once (tx()), not parsed again by sqlite3_exec for every request:
 * a batch of many small requests pays two of them per request.
 */
#include "store_sqlite.h"

#include "clock.h" /* common/ */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TX_BEGIN, TX_COMMIT, TX_ROLLBACK, TX_SAVEPOINT, TX_RELEASE, TX_ROLLBACK_TO };

/* Runs one transaction statement: SQLITE_OK or SQLite's error code. */
static int tx(gw_sq *sq, int which)
{
    static const char *const sql[] = {
        [TX_BEGIN] = "BEGIN",       [TX_COMMIT] = "COMMIT",
        [TX_ROLLBACK] = "ROLLBACK", [TX_SAVEPOINT] = "SAVEPOINT r",
        [TX_RELEASE] = "RELEASE r", [TX_ROLLBACK_TO] = "ROLLBACK TO r",
    };
    sqlite3_stmt **s = &sq->tx[which];
    int rc;

    if (*s == NULL) {
        rc = sqlite3_prepare_v3(sq->db, sql[which], -1, SQLITE_PREPARE_PERSISTENT, s, NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    rc = sqlite3_step(*s);
    sqlite3_reset(*s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* 1 when r's change must be synced before it is acknowledged. */
static int wants_full_sync(const gw_sq *sq, const gw_queue_req *r)
{
    if (sq->so.outcome_sync_full)
        return gw_queue__req_writes(r);
    return r->kind == GW_QUEUE_REQ_SUBMIT || r->kind == GW_QUEUE_REQ_DEAD_ADD ||
           r->kind == GW_QUEUE_REQ_IDEM || r->kind == GW_QUEUE_REQ_DEAD_DELETE ||
           r->kind == GW_QUEUE_REQ_CANCEL ||
           (r->kind == GW_QUEUE_REQ_CHANNEL && r->u.channel.op != GW_CHANNEL_OP_GET &&
            r->u.channel.op != GW_CHANNEL_OP_LIST);
}

static int needs_full_sync(const gw_sq *sq, const gw_req *head)
{
    if (sq->so.outcome_sync_full)
        return 1;
    for (const gw_req *g = head; g != NULL; g = g->next)
        if (wants_full_sync(sq, (const gw_queue_req *)g))
            return 1;
    return 0;
}

/* Each kind's operation, and what it does for "... during WHAT". */
static const struct {
    int (*run)(gw_sq *, gw_queue_req *);
    const char *what;
} ops[] = {
    [GW_QUEUE_REQ_SUBMIT] = {gw_sq_op_submit, "submit"},
    [GW_QUEUE_REQ_LEASE] = {gw_sq_op_lease, "lease"},
    [GW_QUEUE_REQ_RECORD] = {gw_sq_op_record, "record outcomes"},
    [GW_QUEUE_REQ_RELEASE] = {gw_sq_op_release, "release"},
    [GW_QUEUE_REQ_STATUS] = {gw_sq_op_status, "status"},
    [GW_QUEUE_REQ_DEAD_ADD] = {gw_sq_op_dead_add, "dead-token add"},
    [GW_QUEUE_REQ_DEAD_LIST] = {gw_sq_op_dead_list, "dead-token list"},
    [GW_QUEUE_REQ_DEAD_DELETE] = {gw_sq_op_dead_delete, "dead-token delete"},
    [GW_QUEUE_REQ_PURGE] = {gw_sq_op_purge, "retention"},
    [GW_QUEUE_REQ_WAKE] = {gw_sq_op_wake, "wake"},
    [GW_QUEUE_REQ_CHANNEL] = {gw_sq_op_channel, "channel records"},
    [GW_QUEUE_REQ_OUTBOX] = {gw_sq_op_outbox, "webhook outbox"},
    [GW_QUEUE_REQ_IDEM] = {gw_sq_op_idem, "idempotency record"},
    [GW_QUEUE_REQ_CANCEL] = {gw_sq_op_cancel, "cancel"},
};

static int known(const gw_queue_req *r)
{
    return (size_t)r->kind < sizeof(ops) / sizeof(ops[0]) && ops[r->kind].run != NULL;
}

static int run_op(gw_sq *sq, gw_queue_req *r)
{
    return known(r) ? ops[r->kind].run(sq, r) : APNS_EINVAL;
}

static const char *kind_name(const gw_queue_req *r)
{
    if (r->kind == GW_QUEUE_REQ_CONTROL)
        return r->u.control.op == SQ_SET_MAX_BYTES ? "size limit" : "read-only switch";
    return known(r) ? ops[r->kind].what : "request";
}

static int is_option(const gw_queue_req *r)
{
    return r->kind == GW_QUEUE_REQ_CONTROL;
}

static void run_option(gw_sq *sq, gw_queue_req *r)
{
    char sql[96];
    int rc;

    if (r->u.control.op == SQ_SET_MAX_BYTES) {
        /* 2^31-2 pages is SQLite's own upper bound: "no limit". */
        long long pages = r->u.control.value > 0 ? r->u.control.value / 4096 + 1 : 2147483646LL;
        snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld", pages);
    } else {
        snprintf(sql, sizeof(sql), "PRAGMA query_only=%d", r->u.control.value ? 1 : 0);
    }
    rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);
    r->err = rc == SQLITE_OK ? 0 : gw_sq_error(sq, rc, kind_name(r), r->detail, sizeof(r->detail));
}

/* Fails every request of [from, end) that has not failed yet. */
static void fail_all(gw_req *from, gw_req *end, int err, const char *detail)
{
    for (gw_req *g = from; g != end; g = g->next)
        gw_queue__fail((gw_queue_req *)g, err, detail);
}

/* SQLITE_OK, or SQLite's error (the mode is then unknown: set again next
 * time). */
static int set_sync(gw_sq *sq, int full)
{
    int rc;

    if (sq->sync_full == full)
        return SQLITE_OK;
    rc = sqlite3_exec(sq->db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL,
                      NULL, NULL);
    sq->sync_full = rc == SQLITE_OK ? full : -1;
    return rc;
}

/* Makes a request ready to run again after its transaction was lost. */
static void reset_for_retry(gw_queue_req *r)
{
    switch (r->kind) {
    case GW_QUEUE_REQ_LEASE:
        gw_queue__lease_discard(r);
        break;
    case GW_QUEUE_REQ_STATUS:
    case GW_QUEUE_REQ_CANCEL:
        free(r->u.status.outcomes);
        r->u.status.outcomes = NULL;
        memset(&r->u.status.st, 0, sizeof(r->u.status.st));
        break;
    case GW_QUEUE_REQ_DEAD_ADD:
    case GW_QUEUE_REQ_DEAD_LIST:
    case GW_QUEUE_REQ_DEAD_DELETE:
        free(r->u.dead.v);
        r->u.dead.v = NULL;
        r->u.dead.n = 0;
        r->u.dead.has_next = 0;
        r->u.dead.count = 0;
        break;
    case GW_QUEUE_REQ_IDEM:
        if (!r->u.idem.finish) {
            free(r->u.idem.body);
            r->u.idem.body = NULL;
            r->u.idem.state = r->u.idem.status = 0;
        }
        break;
    case GW_QUEUE_REQ_CHANNEL:
        free(r->u.channel.v);
        r->u.channel.v = NULL;
        r->u.channel.n = 0;
        r->u.channel.count = 0;
        r->u.channel.removed = 0;
        break;
    default:
        break;
    }
    r->work = 0;
    r->depth_add = 0;
    r->cancelled = 0;
    r->detail[0] = '\0';
}

enum { TXN_COMMITTED, TXN_FAILED, TXN_LOST };

/* The last request of g's group (g itself when it is in none). */
static gw_req *group_last(gw_req *g, gw_req *end)
{
    uint64_t group = ((gw_queue_req *)g)->group;

    while (group != 0 && g->next != end && ((gw_queue_req *)g->next)->group == group)
        g = g->next;
    return g;
}

/* Every member of [g, last] but bad fails with bad's error: nothing of the
 * group is stored. */
static void group_fail(gw_req *g, gw_req *last, const gw_queue_req *bad)
{
    for (;; g = g->next) {
        gw_queue_req *r = (gw_queue_req *)g;
        if (r != bad) {
            r->err = bad->err;
            snprintf(r->detail, sizeof(r->detail), "%s", bad->detail);
        }
        if (g == last)
            break;
    }
}

/* One attempt at [from, end): every request whose err is still 0 runs in
 * its own savepoint. TXN_LOST: SQLite rolled the whole transaction back
 * while running *culprit (which now carries the error); the others are
 * untouched and may run again. */
static int attempt(gw_sq *sq, gw_req *from, gw_req *end, gw_req **culprit)
{
    char detail[sizeof(((gw_queue_req *)0)->detail)];
    int rc, err;

    for (gw_req *g = from; g != end; g = g->next)
        if (((gw_queue_req *)g)->err == 0)
            reset_for_retry((gw_queue_req *)g);
    rc = tx(sq, TX_BEGIN);
    if (rc != SQLITE_OK) {
        err = gw_sq_error(sq, rc, "begin", detail, sizeof(detail));
        fail_all(from, end, err, detail);
        return TXN_FAILED;
    }
    for (gw_req *g = from; g != end; g = g->next) {
        gw_queue_req *r = (gw_queue_req *)g, *bad = NULL;
        gw_req *last = group_last(g, end);

        if (r->err != 0 && last == g)
            continue;
        rc = tx(sq, TX_SAVEPOINT);
        if (rc != SQLITE_OK) {
            r->err = gw_sq_error(sq, rc, kind_name(r), r->detail, sizeof(r->detail));
            group_fail(g, last, r);
            if (sqlite3_get_autocommit(sq->db)) {
                *culprit = g;
                return TXN_LOST;
            }
            g = last;
            continue;
        }
        /* One request, or a group (gw_queue_group_begin) in one savepoint:
         * the first failure of a member fails them all. */
        for (gw_req *x = g;; x = x->next) {
            gw_queue_req *xr = (gw_queue_req *)x;
            if (xr->err == 0)
                xr->err = run_op(sq, xr);
            if (xr->err != 0) {
                bad = xr;
                break;
            }
            if (x == last)
                break;
        }
        if (bad == NULL) {
            tx(sq, TX_RELEASE);
            g = last;
            continue;
        }
        if (bad->err != GW_QUEUE_ENOTFOUND && bad->err != APNS_EINVAL &&
            bad->err != GW_QUEUE_ELIMIT)
            gw_queue__log(sq->q, APNS_LOG_ERROR, "%s", bad->detail);
        group_fail(g, last, bad);
        if (sqlite3_get_autocommit(sq->db)) {
            *culprit = &bad->base;
            return TXN_LOST;
        }
        if (tx(sq, TX_ROLLBACK_TO) == SQLITE_OK)
            tx(sq, TX_RELEASE);
        g = last;
    }
    rc = tx(sq, TX_COMMIT);
    if (rc != SQLITE_OK) {
        err = gw_sq_error(sq, rc, "commit", detail, sizeof(detail));
        gw_queue__log(sq->q, APNS_LOG_ERROR, "%s", detail);
        tx(sq, TX_ROLLBACK);
        fail_all(from, end, err, detail);
        return TXN_FAILED;
    }
    return TXN_COMMITTED;
}

/* Reads (job status, dead-token lists) do not need a COMMIT that failed:
 * their answers come from what is already committed. So when a batch's
 * COMMIT fails (disk full, I/O error), each read that shared it runs again on
 * its own, and a full disk never fails a status query (docs/queue.md). */
static int is_read(const gw_queue_req *r)
{
    return r->kind == GW_QUEUE_REQ_STATUS || r->kind == GW_QUEUE_REQ_DEAD_LIST ||
           (r->kind == GW_QUEUE_REQ_CHANNEL &&
            (r->u.channel.op == GW_CHANNEL_OP_GET || r->u.channel.op == GW_CHANNEL_OP_LIST));
}

static void rerun_reads(gw_sq *sq, gw_req *from, gw_req *end)
{
    for (gw_req *g = from; g != end; g = g->next) {
        gw_queue_req *r = (gw_queue_req *)g;
        int rc;

        if (!is_read(r) || !gw_queue_err_unavailable(r->err))
            continue;
        reset_for_retry(r);
        rc = tx(sq, TX_BEGIN);
        if (rc != SQLITE_OK)
            continue; /* keeps the commit's error */
        r->err = run_op(sq, r);
        if (r->err == 0)
            r->detail[0] = '\0';
        if (tx(sq, TX_COMMIT) != SQLITE_OK)
            tx(sq, TX_ROLLBACK);
    }
}

/* Runs [from, end) (no option requests) as one transaction. When SQLite
 * rolls the whole transaction back because of one request (it may for
 * FULL, IOERR, BUSY, NOMEM), that request keeps its error and the others
 * run again in a new transaction; after MAX_ATTEMPTS such losses the rest
 * fail with the last error. */
#define MAX_ATTEMPTS 4

static void run_txn(gw_sq *sq, gw_req *from, gw_req *end)
{
    int outcome = TXN_FAILED, storage_err = 0, failed = 0;
    sqlite3_int64 changes = sqlite3_total_changes64(sq->db);

    for (int i = 0; i < MAX_ATTEMPTS; i++) {
        gw_req *culprit = NULL;

        outcome = attempt(sq, from, end, &culprit);
        if (outcome != TXN_LOST)
            break;
        storage_err = ((gw_queue_req *)culprit)->err;
        if (i == MAX_ATTEMPTS - 1)
            fail_all(from, end, storage_err, ((gw_queue_req *)culprit)->detail);
    }
    if (outcome != TXN_COMMITTED)
        rerun_reads(sq, from, end);
    for (gw_req *g = from; g != end; g = g->next) {
        int e = ((gw_queue_req *)g)->err;
        failed |= e != 0 && ((gw_queue_req *)g)->kind == GW_QUEUE_REQ_RECORD;
        if (gw_queue_err_unavailable(e))
            storage_err = e;
    }
    /* A record rolled back (or a transaction not committed) may have
     * replayed put-off dead-token entries (store_sqlite_dead.c): they are
     * back, so the next record looks again. */
    if ((outcome != TXN_COMMITTED || failed) && sq->dead_replay_at == 0)
        sq->dead_replay_at = 1;
    /* Only a commit that stored a change shows the store takes writes
     * again: a batch of reads commits on a read-only database too. */
    gw_queue__result(sq->q, outcome == TXN_COMMITTED, sqlite3_total_changes64(sq->db) > changes,
                     storage_err);
}

void gw_sq_batch(gw_req *head, void *be)
{
    gw_sq *sq = be;
    gw_req *g = head;
    int full = needs_full_sync(sq, head), rc = set_sync(sq, full);

    if (rc != SQLITE_OK && full) {
        /* Never a write acknowledged without the fsync it needs: the
         * requests that need it fail; the others run. */
        char detail[sizeof(((gw_queue_req *)0)->detail)];
        int err = gw_sq_error(sq, rc, "synchronous=FULL", detail, sizeof(detail));
        gw_queue__log(sq->q, APNS_LOG_ERROR, "%s", detail);
        for (gw_req *x = head; x != NULL; x = x->next)
            if (!is_option((gw_queue_req *)x) && wants_full_sync(sq, (gw_queue_req *)x))
                gw_queue__fail((gw_queue_req *)x, err, detail);
    }
    while (g != NULL) {
        gw_req *end;

        if (is_option((gw_queue_req *)g)) {
            run_option(sq, (gw_queue_req *)g);
            g = g->next;
            continue;
        }
        for (end = g; end != NULL && !is_option((gw_queue_req *)end); end = end->next)
            ;
        run_txn(sq, g, end);
        g = end;
    }
}

/* The retention pass: the delay until the next one. */
static int64_t purge_pass(gw_sq *sq)
{
    char detail[384];
    uint64_t jobs = 0;
    int more = 0, err, rc;

    rc = set_sync(sq, sq->so.outcome_sync_full != 0);
    if (rc == SQLITE_OK)
        rc = tx(sq, TX_BEGIN);
    if (rc != SQLITE_OK) {
        gw_sq_error(sq, rc, "retention", detail, sizeof(detail));
        gw_queue__log(sq->q, APNS_LOG_WARN, "%s", detail);
        return sq->q->o.purge_interval_ms;
    }
    err = gw_sq_purge_step(sq, 100, &jobs, &more, detail, sizeof(detail));
    if (err == 0) {
        rc = tx(sq, TX_COMMIT);
        if (rc != SQLITE_OK)
            err = gw_sq_error(sq, rc, "retention commit", detail, sizeof(detail));
    }
    if (err != 0) {
        if (!sqlite3_get_autocommit(sq->db))
            tx(sq, TX_ROLLBACK);
        gw_queue__log(sq->q, APNS_LOG_WARN, "%s", detail);
        return sq->q->o.purge_interval_ms;
    }
    if (jobs > 0)
        gw_queue__log(sq->q, APNS_LOG_INFO, "queue retention: deleted %llu finished jobs",
                      (unsigned long long)jobs);
    return more ? 0 : sq->q->o.purge_interval_ms;
}

/* Every SQ_IDLE_MS: the write probe while the store is failing
 * (store_sqlite_probe.c), and the retention pass when it is due. */
int64_t gw_sq_idle(void *be)
{
    gw_sq *sq = be;
    int64_t now, next = SQ_IDLE_MS;

    if (sq->read_only)
        return -1;
    if (gw_queue__failing(sq->q))
        gw_sq_write_probe(sq);
    if (sq->q->o.retention_ms < 0 || sq->q->o.purge_interval_ms < 0)
        return next;
    now = common_mono_ms();
    if (now >= sq->purge_due)
        sq->purge_due = now + purge_pass(sq);
    if (sq->purge_due - now < next)
        next = sq->purge_due > now ? sq->purge_due - now : 0;
    return next;
}
