/*
 * queue_sqlite.c - the embedded queue backend: SQLite (WAL) on the
 * queue's storage thread. This file is its ops table and its opening; the
 * front end (queue.c, queue_req.c) does everything that is not SQL.
 *
 * Design note
 * -----------
 * Layout. One database file holds jobs, chunks (the tokens of a job, packed,
 * with one state byte per token), sparse retry rows, rejection rows and the
 * dead-token registry (schema in store_sqlite_db.c). A 1M-token broadcast is
 * one job row and ~1,000 chunk rows, inserted in one transaction.
 *
 * Threads. The front end builds requests on the loop thread and posts them
 * (store_worker.c: a mutex held for a list link, never across I/O). The
 * storage thread takes every waiting request as one batch and runs it as one
 * transaction (store_sqlite_batch.c: group commit, a SAVEPOINT per request
 * so one failing request does not fail its neighbours).
 *
 * Durability. A submit is acknowledged after a COMMIT with synchronous=FULL.
 * Outcome batches commit with synchronous=NORMAL unless outcome_sync_full:
 * in WAL mode that survives kill -9 of the process and can only lose the
 * last outcome batches on power loss, which resends those tokens (with the
 * same apns-ids) and never loses a job.
 *
 * Crash and restart (kill -9 at any moment):
 *  - a job whose submit callback said 0 is in the file; a job whose COMMIT
 *    did not return was never acknowledged (the API did not answer 202, so
 *    the app retries it: that retry is a second job, not a duplicate send);
 *  - every token whose outcome batch committed keeps its outcome;
 *  - every other token is pending (or waits for its committed retry-at) and
 *    is leased again: AT-LEAST-ONCE. Leases are cleared at open;
 *  - the duplicate window is exactly: APNs answered, the outcome was not yet
 *    committed. The resend has the same apns-id (gw_apns_id_derive of the
 *    job's base and the token's index), so the app can drop it.
 *
 * Leases. A lease is a column (lease_owner, lease_until) plus the front
 * end's list of chunks handed out; at open every lease is cleared, since
 * only one process can have the file open (flock on "<path>-lock"). A lease
 * lasts until released or until the process ends (the ops table does not
 * declare leases_expire): touch is a no-op, and the front end posts a
 * release the storage refused again until it is taken.
 *
 * Errors. Every SQLite failure reaches the request's callback as a
 * GW_QUEUE_E* code with "queue database PATH: MESSAGE (SQLITE_X, code N)
 * during WHAT", and is logged. Nothing committed is touched by a failed
 * batch (it is rolled back), and the next batch simply tries again, so the
 * queue serves again as soon as the disk has room or the file is writable.
 */
#include "store_sqlite.h"

#include "clock.h" /* common/ */
#include "rng.h"   /* common/ */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sq_check(const gw_queue_opts *o, const void *bo, char *detail, size_t detail_len)
{
    const gw_queue_sqlite_opts *so = bo;

    if (o == NULL || o->base == NULL || so == NULL || so->path == NULL || so->path[0] == '\0') {
        snprintf(detail, detail_len, "queue: an event base and a database path are required");
        return APNS_EINVAL;
    }
    return 0;
}

static void sq_free(void *be)
{
    gw_sq *sq = be;

    gw_sq_db_close(sq);
    free(sq->path);
    free(sq);
}

static int sq_open(gw_queue *q, const void *bo, char *detail, size_t detail_len)
{
    const gw_queue_sqlite_opts *so = bo;
    gw_sq *sq = calloc(1, sizeof(*sq));
    int rc;

    if (sq == NULL || (sq->path = strdup(so->path)) == NULL) {
        free(sq);
        return APNS_ENOMEM;
    }
    q->be = sq;
    sq->q = q;
    sq->so = *so;
    sq->so.path = sq->path;
    sq->owner = common_rng_seed() & INT64_MAX;
    rc = gw_sq_db_open(sq, detail, detail_len);
    if (rc == 0 && !sq->read_only) {
        /* The write probe and the retention pass (gw_sq_idle). */
        q->first_idle_ms = SQ_IDLE_MS;
        sq->purge_due =
            common_mono_ms() + (q->o.purge_interval_ms > 0 ? q->o.purge_interval_ms : 0);
    }
    return rc;
}

static void sq_opened(void *be, int err, char *detail, size_t detail_len)
{
    gw_sq *sq = be;

    if (err != 0)
        snprintf(detail, detail_len, "queue database %s: cannot start the storage thread",
                 sq->path);
    else
        gw_queue__log(sq->q, APNS_LOG_INFO, "queue database %s open: %llu unfinished tokens%s",
                      sq->path, (unsigned long long)gw_queue_depth(sq->q),
                      sq->read_only ? " (read-only)" : "");
}

/* "<recorded>.<id>" of the last entry of the previous page. */
static int sq_dead_cursor(const char *s, int64_t after[2])
{
    long long a = INT64_MIN, b = 0;
    int end = 0;

    if (s != NULL && s[0] != '\0' &&
        (sscanf(s, "%lld.%lld%n", &a, &b, &end) != 2 || s[end] != '\0'))
        return APNS_EINVAL;
    after[0] = a;
    after[1] = b;
    return 0;
}

static const gw_queue_ops gw_sq_ops = {
    .name = "sqlite",
    .check = sq_check,
    .open = sq_open,
    .opened = sq_opened,
    .free = sq_free,
    .batch = gw_sq_batch,
    .idle = gw_sq_idle,
    .dead_cursor = sq_dead_cursor,
    .idempotency = 1,
    /* Every commit writes its pages to the WAL again: outcomes of one
     * window share one (BENCHMARKS.md, apnsd end to end). */
    .record_window_ms = 10,
};

int gw_queue_sqlite_open(gw_queue **out, const gw_queue_opts *o, const gw_queue_sqlite_opts *so,
                         char *detail, size_t detail_len)
{
    return gw_queue__open(out, &gw_sq_ops, o, so, detail, detail_len);
}

int gw_queue_sqlite_set_max_bytes(gw_queue *q, int64_t max_db_bytes, gw_done_cb cb, void *ud)
{
    return gw_queue__control(q, &gw_sq_ops, SQ_SET_MAX_BYTES, max_db_bytes, cb, ud);
}

int gw_queue_sqlite_set_read_only(gw_queue *q, int read_only, gw_done_cb cb, void *ud)
{
    return gw_queue__control(q, &gw_sq_ops, SQ_SET_READ_ONLY, read_only, cb, ud);
}
