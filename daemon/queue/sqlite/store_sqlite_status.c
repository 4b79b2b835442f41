/*
 * store_sqlite_status.c - the status of one job: its state, counts per
 * outcome, next retry time, and per-token outcomes for small jobs.
 *
 * Counts come from the job row (kept by store_sqlite_outcome.c), so a status
 * query on a 1M-token job reads one row plus an index probe, never the
 * tokens. Only jobs of at most small_job_tokens tokens get per-token
 * outcomes, built from their chunks' state blobs, retry rows and rejection
 * rows.
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t one_int(gw_sq *sq, enum gw_sq_stmt id, int64_t job, int64_t dflt, int *err,
                       gw_queue_req *r)
{
    sqlite3_stmt *s = gw_sq_stmt(sq, id, "i", job);
    int64_t v = dflt;
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        *err = gw_sq_error(sq, rc, "status", r->detail, sizeof(r->detail));
    sqlite3_reset(s);
    return v;
}

static int load_tokens(gw_sq *sq, gw_queue_req *r, int64_t job, gw_token_outcome *out, size_t total)
{
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_JOB_CHUNKS, "i", job);
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t first = sqlite3_column_int64(s, 0), n = sqlite3_column_int64(s, 1);
        const uint8_t *tok = sqlite3_column_blob(s, 2), *st = sqlite3_column_blob(s, 3);
        size_t tok_len = (size_t)sqlite3_column_bytes(s, 2);
        size_t st_len = (size_t)sqlite3_column_bytes(s, 3), pos = 0;

        for (int64_t i = 0; i < n && first + i < (int64_t)total; i++) {
            gw_token_outcome *o = &out[first + i];
            if (pos < tok_len)
                pos += gw_token_rec_text(tok + pos, tok_len - pos, o->token);
            o->state = (size_t)i < st_len ? (gw_token_state)st[i] : GW_TOKEN_PENDING;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0
                             : gw_sq_error(sq, rc, "status (tokens)", r->detail, sizeof(r->detail));
}

static int load_details(gw_sq *sq, gw_queue_req *r, int64_t job, gw_token_outcome *out,
                        size_t total)
{
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_JOB_REJECTIONS, "i", job);
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t idx = sqlite3_column_int64(s, 0);
        if (idx < 0 || idx >= (int64_t)total)
            continue;
        out[idx].status = sqlite3_column_int(s, 1);
        snprintf(out[idx].reason, sizeof(out[idx].reason), "%s",
                 sqlite3_column_type(s, 2) == SQLITE_NULL
                     ? ""
                     : (const char *)sqlite3_column_text(s, 2));
        out[idx].apns_ts_ms = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return gw_sq_error(sq, rc, "status (rejections)", r->detail, sizeof(r->detail));

    s = gw_sq_stmt(sq, SQS_JOB_RETRIES, "i", job);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t idx = sqlite3_column_int64(s, 0);
        if (idx < 0 || idx >= (int64_t)total)
            continue;
        out[idx].retry_at_ms = sqlite3_column_int64(s, 1);
        out[idx].attempts = sqlite3_column_int(s, 2);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE
               ? 0
               : gw_sq_error(sq, rc, "status (retries)", r->detail, sizeof(r->detail));
}

int gw_sq_op_status(gw_sq *sq, gw_queue_req *r)
{
    gw_job_status *st = &r->u.status.st;
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_JOB_BY_UID, "t", r->u.status.id);
    int64_t job;
    int rc = sqlite3_step(s), err = 0;

    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        if (rc == SQLITE_DONE) {
            snprintf(r->detail, sizeof(r->detail), "no job %s", r->u.status.id);
            return GW_QUEUE_ENOTFOUND;
        }
        return gw_sq_error(sq, rc, "status", r->detail, sizeof(r->detail));
    }
    job = sqlite3_column_int64(s, 0);
    snprintf(st->job_id, sizeof(st->job_id), "%s", (const char *)sqlite3_column_text(s, 1));
    snprintf(st->app, sizeof(st->app), "%s", (const char *)sqlite3_column_text(s, 2));
    snprintf(st->apns_id, sizeof(st->apns_id), "%s", (const char *)sqlite3_column_text(s, 3));
    st->tokens = (uint64_t)sqlite3_column_int64(s, 4);
    st->accepted = (uint64_t)sqlite3_column_int64(s, 5);
    st->rejected = (uint64_t)sqlite3_column_int64(s, 6);
    st->expired = (uint64_t)sqlite3_column_int64(s, 7);
    st->failed = (uint64_t)sqlite3_column_int64(s, 8);
    st->retrying = (uint64_t)sqlite3_column_int64(s, 9);
    st->created_ms = sqlite3_column_int64(s, 10);
    st->send_at_ms = sqlite3_column_int64(s, 11);
    r->u.status.finished = sqlite3_column_type(s, 12) != SQLITE_NULL;
    st->finished_ms = sqlite3_column_int64(s, 12); /* 0 for NULL */
    if (sqlite3_column_type(s, 13) != SQLITE_NULL)
        snprintf(st->channel, sizeof(st->channel), "%s", (const char *)sqlite3_column_text(s, 13));
    st->cancelled = (uint64_t)sqlite3_column_int64(s, 14);
    st->cancelled_ms = sqlite3_column_int64(s, 15); /* 0 for NULL */
    sqlite3_reset(s);
    r->u.status.leased = (int)one_int(sq, SQS_JOB_LEASED, job, 0, &err, r);
    if (err == 0 && st->retrying > 0)
        st->next_retry_ms = one_int(sq, SQS_JOB_NEXT_RETRY, job, 0, &err, r);
    if (err != 0)
        return err;

    if (st->tokens > sq->q->o.small_job_tokens)
        return 0;
    r->u.status.outcomes = calloc(st->tokens ? st->tokens : 1, sizeof(gw_token_outcome));
    if (r->u.status.outcomes == NULL) {
        snprintf(r->detail, sizeof(r->detail), "out of memory for job status");
        return APNS_ENOMEM;
    }
    err = load_tokens(sq, r, job, r->u.status.outcomes, st->tokens);
    return err != 0 ? err : load_details(sq, r, job, r->u.status.outcomes, st->tokens);
}
