/*
 * store_sqlite_purge.c - retention: deleting finished jobs older than
 * retention_ms, a little at a time.
 *
 * Design note. One step deletes at most CHUNK_BUDGET chunk rows and
 * REJECTION_BUDGET rejection rows, so a step is a short transaction even
 * when the job to delete is a 1M-token broadcast (1,000 chunks of ~33 KB):
 * such a job takes a few steps, and its job row goes last, so a half-purged
 * job is simply picked up again by the next step. Between steps the storage
 * thread serves waiting requests (store_worker.c), so retention never holds
 * the write lock for long.
 */
#include "store_sqlite.h"

#define CHUNK_BUDGET     256
#define REJECTION_BUDGET 5000

/* Deletes up to *budget rows of the job and takes them from *budget. */
static int delete_some(gw_sq *sq, enum gw_sq_stmt id, int64_t job, int *budget, char *detail,
                       size_t len)
{
    int rc = gw_sq_run(sq, detail, len, "retention", id, "ii", job, (int64_t)*budget);

    if (rc != 0)
        return rc;
    *budget -= sqlite3_changes(sq->db);
    return 0;
}

int gw_sq_purge_step(gw_sq *sq, size_t max_jobs, uint64_t *jobs, int *more, char *detail,
                     size_t len)
{
    int64_t ids[128];
    size_t n = 0;
    int chunk_budget = CHUNK_BUDGET, rej_budget = REJECTION_BUDGET, rc, err;
    sqlite3_stmt *s;

    *jobs = 0;
    *more = 0;
    if (sq->q->o.retention_ms < 0)
        return 0;
    if (max_jobs > sizeof(ids) / sizeof(ids[0]))
        max_jobs = sizeof(ids) / sizeof(ids[0]);
    s = gw_sq_stmt(sq, SQS_PURGE_PICK, "ii", gw_queue__now(sq->q) - sq->q->o.retention_ms,
                   (int64_t)max_jobs);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return gw_sq_error(sq, rc, "retention", detail, len);

    for (size_t i = 0; i < n; i++) {
        /* A budget used up: the job may have rows left; the next step. */
        err = delete_some(sq, SQS_PURGE_CHUNKS, ids[i], &chunk_budget, detail, len);
        if (err == 0 && chunk_budget > 0)
            err = delete_some(sq, SQS_PURGE_REJECTIONS, ids[i], &rej_budget, detail, len);
        if (err != 0)
            return err;
        if (chunk_budget <= 0 || rej_budget <= 0) {
            *more = 1;
            break;
        }
        rc = gw_sq_run(sq, detail, len, "retention", SQS_PURGE_JOB, "i", ids[i]);
        if (rc != 0)
            return rc;
        (*jobs)++;
    }
    if (n == max_jobs)
        *more = 1;
    return 0;
}

int gw_sq_op_purge(gw_sq *sq, gw_queue_req *r)
{
    int more;

    return gw_sq_purge_step(sq, r->u.purge.max_jobs, &r->u.purge.count, &more, r->detail,
                            sizeof(r->detail));
}
