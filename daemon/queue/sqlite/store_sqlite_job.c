/*
 * store_sqlite_job.c - storing a job: one job row plus one chunk row per
 * chunk_tokens tokens, all in the batch transaction.
 *
 * A chunk row holds its tokens as one blob of packed [len][bytes] records
 * (the gw_token_list format, so a chunk is a slice of the list: no copy),
 * a state blob of one zero (pending) byte per token, n_open = n and
 * next_at = send_at. A 1,000,000-token broadcast is one job row and 1,000
 * chunk rows of ~33 KB.
 */
#include "store_sqlite.h"

#include <string.h>

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v != NULL && v[0] != '\0')
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static int insert_job(gw_sq *sq, gw_queue_req *r, int64_t now, int64_t send_at, int64_t *job)
{
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_JOB_INSERT);
    uint32_t per = sq->q->o.chunk_tokens;
    size_t n = r->u.submit.tokens.count;
    int rc;

    sqlite3_bind_text(s, 1, r->u.submit.f.job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->u.submit.f.app, -1, SQLITE_STATIC);
    bind_text_or_null(s, 3, r->u.submit.f.topic);
    sqlite3_bind_int(s, 4, r->u.submit.f.push_type);
    sqlite3_bind_int(s, 5, r->u.submit.f.priority);
    sqlite3_bind_int64(s, 6, r->u.submit.f.expiration);
    bind_text_or_null(s, 7, r->u.submit.f.collapse_id);
    sqlite3_bind_text(s, 8, r->u.submit.f.apns_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 9, r->u.submit.f.payload, (int)r->u.submit.f.payload_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 10, send_at);
    sqlite3_bind_int64(s, 11, now);
    sqlite3_bind_int64(s, 12, (int64_t)n);
    sqlite3_bind_int64(s, 13, (int64_t)((n + per - 1) / per));
    rc = gw_sq_done(sq, s, "submit (job)", r->detail, sizeof(r->detail));
    if (rc != 0)
        return rc;
    *job = sqlite3_last_insert_rowid(sq->db);
    return 0;
}

int gw_sq_op_submit(gw_sq *sq, gw_queue_req *r)
{
    const gw_token_list *l = &r->u.submit.tokens;
    uint32_t per = sq->q->o.chunk_tokens;
    int64_t now = gw_queue__now(sq->q), send_at, job = 0;
    size_t pos = 0, done = 0;
    int err, rc;

    send_at = r->u.submit.f.send_at > 0 ? r->u.submit.f.send_at : now;
    err = insert_job(sq, r, now, send_at, &job);
    if (err != 0)
        return err;
    for (uint32_t seq = 0; done < l->count; seq++) {
        sqlite3_stmt *s = gw_sq_stmt(sq, SQS_CHUNK_INSERT);
        size_t start = pos, cnt = l->count - done < per ? l->count - done : per;

        for (size_t k = 0; k < cnt; k++)
            pos += 1 + (size_t)l->buf[pos];
        sqlite3_bind_int64(s, 1, job);
        sqlite3_bind_int64(s, 2, seq);
        sqlite3_bind_int64(s, 3, (int64_t)done);
        sqlite3_bind_int64(s, 4, (int64_t)cnt);
        sqlite3_bind_blob(s, 5, l->buf + start, (int)(pos - start), SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, send_at);
        rc = gw_sq_done(sq, s, "submit (chunk)", r->detail, sizeof(r->detail));
        if (rc != 0)
            return rc;
        done += cnt;
    }
    r->work = send_at <= now;
    return 0;
}
