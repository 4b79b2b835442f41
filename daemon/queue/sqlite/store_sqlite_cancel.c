/*
 * store_sqlite_cancel.c - a job's cancel (gw_queue_cancel) on the SQLite
 * store.
 *
 * Design note. The cancel mark is job.cancelled (the time it was stored;
 * NULL: none). Storing it and stopping the job's work are one transaction:
 * every chunk of the job that is not leased and has open tokens gets its
 * state blob rewritten by the SQL function apnsd_cancel_st (pending and
 * retry bytes become GW_TOKEN_CANCELLED), n_open 0 and next_at NULL (never
 * leased again), its retry rows go, and the job's counts move by the sums:
 * a fixed number of statements whatever the job's size, never a statement
 * per token. A chunk leased at that moment is left to its holder: tokens
 * already sent are answered and recorded as usual, and its release
 * (store_sqlite_lease.c) runs the same statements for the job once the
 * lease is cleared. If the process stops before that release, the next
 * open (gw_sq_cancel_recover, after the leases are cleared) runs them for
 * every cancelled job that still has open tokens, so a cancelled job is
 * never resumed by a restart. The mark is durable like a submit (synchronous=FULL),
 * and a cancelled job is finished like any other once no token is open.
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* apnsd_cancel_st(st): st with every PENDING and RETRY byte CANCELLED. */
static void cancel_st(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const uint8_t *st = sqlite3_value_blob(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    uint8_t *out;

    (void)argc;
    if (n <= 0) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    out = sqlite3_malloc(n);
    if (out == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    for (int i = 0; i < n; i++)
        out[i] = st[i] == GW_TOKEN_PENDING || st[i] == GW_TOKEN_RETRY ? (uint8_t)GW_TOKEN_CANCELLED
                                                                      : st[i];
    sqlite3_result_blob(ctx, out, n, sqlite3_free);
}

int gw_sq_cancel_register(gw_sq *sq, char *detail, size_t detail_len)
{
    int rc = sqlite3_create_function_v2(sq->db, "apnsd_cancel_st", 1,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                        NULL, cancel_st, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : gw_sq_error(sq, rc, "open (functions)", detail, detail_len);
}

int gw_sq_cancel_open(gw_sq *sq, gw_queue_req *r, int64_t job, int64_t now, int64_t *n)
{
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_CANCEL_COUNT, "i", job);
    int64_t open = 0, retries = 0;
    int rc = sqlite3_step(s), err;

    if (rc == SQLITE_ROW) {
        open = sqlite3_column_int64(s, 0);
        retries = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return gw_sq_error(sq, rc, "cancel (count)", r->detail, sizeof(r->detail));
    if (n != NULL)
        *n = open;
    if (open == 0)
        return 0;
    err = gw_sq_run(sq, r->detail, sizeof(r->detail), "cancel (retries)", SQS_CANCEL_RETRIES, "i",
                    job);
    if (err == 0)
        err = gw_sq_run(sq, r->detail, sizeof(r->detail), "cancel (chunks)", SQS_CANCEL_CHUNKS, "i",
                        job);
    if (err == 0)
        err = gw_sq_run(sq, r->detail, sizeof(r->detail), "cancel (job)", SQS_JOB_CANCEL_COUNTS,
                        "iii", job, open, retries);
    if (err == 0)
        err = gw_sq_run(sq, r->detail, sizeof(r->detail), "cancel (finish)", SQS_JOB_FINISH, "ii",
                        job, now);
    if (err == 0) {
        r->depth_add -= open;
        r->cancelled += (uint64_t)open;
    }
    return err;
}

int gw_sq_cancel_recover(gw_sq *sq, char *detail, size_t detail_len)
{
    static const char sql[] = "SELECT DISTINCT job FROM chunk WHERE n_open > 0 AND job IN "
                              "(SELECT id FROM job WHERE cancelled IS NOT NULL)";
    gw_queue_req *r = calloc(1, sizeof(*r));
    int64_t now = gw_queue__now(sq->q), *jobs = NULL, n = 0;
    size_t cap = 0;
    sqlite3_stmt *s = NULL;
    int rc, err = 0;

    if (r == NULL)
        return snprintf(detail, detail_len, "out of memory"), APNS_ENOMEM;
    rc = sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((size_t)n == cap) {
            int64_t *v = realloc(jobs, (cap = cap ? 2 * cap : 16) * sizeof(*v));
            if (v == NULL) {
                err = APNS_ENOMEM;
                snprintf(detail, detail_len, "out of memory");
                break;
            }
            jobs = v;
        }
        jobs[n++] = sqlite3_column_int64(s, 0);
    }
    if (err == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = gw_sq_error(sq, rc, "open (cancelled jobs)", detail, detail_len);
    sqlite3_finalize(s);
    if (err == 0 && n > 0) {
        err = sqlite3_exec(sq->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
                  ? 0
                  : gw_sq_error(sq, sqlite3_errcode(sq->db), "open (cancelled jobs)", detail,
                                detail_len);
        for (int64_t i = 0; err == 0 && i < n; i++)
            if ((err = gw_sq_cancel_open(sq, r, jobs[i], now, NULL)) != 0)
                snprintf(detail, detail_len, "%s", r->detail);
        if (err == 0 && sqlite3_exec(sq->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            err = gw_sq_error(sq, sqlite3_errcode(sq->db), "open (cancelled jobs)", detail,
                              detail_len);
        if (err != 0)
            sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
        else
            gw_queue__log(sq->q, APNS_LOG_INFO,
                          "queue database %s: %lld cancelled job(s) were still open at the last "
                          "stop: their open tokens are cancelled",
                          sq->path, (long long)n);
    }
    free(jobs);
    free(r);
    return err;
}

int gw_sq_op_cancel(gw_sq *sq, gw_queue_req *r)
{
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_JOB_BY_UID, "t", r->u.status.id);
    int64_t now = gw_queue__now(sq->q), job;
    int rc = sqlite3_step(s), err;

    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        if (rc == SQLITE_DONE) {
            snprintf(r->detail, sizeof(r->detail), "no job %s", r->u.status.id);
            return GW_QUEUE_ENOTFOUND;
        }
        return gw_sq_error(sq, rc, "cancel", r->detail, sizeof(r->detail));
    }
    job = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    err = gw_sq_run(sq, r->detail, sizeof(r->detail), "cancel (mark)", SQS_JOB_CANCEL_MARK, "ii",
                    job, now);
    if (err == 0)
        err = gw_sq_cancel_open(sq, r, job, now, NULL);
    return err != 0 ? err : gw_sq_op_status(sq, r);
}
