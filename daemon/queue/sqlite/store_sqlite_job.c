/*
 * store_sqlite_job.c - storing a job: one job row plus one chunk row per
 * chunk_tokens tokens, all in the batch transaction.
 *
 * A chunk row holds a state blob of one zero (pending) byte per token,
 * n_open = n and next_at = send_at; its chunk_token row holds its tokens as
 * one blob of packed [len][bytes] records (the gw_token_list format, so a
 * chunk is a slice of the list: no copy), written once and only read after
 * (store_sqlite_db.c). A 1,000,000-token broadcast is one job row, 1,000
 * chunk rows of ~1 KB and 1,000 chunk_token rows of ~33 KB.
 */
#include "store_sqlite.h"

#include <string.h>

static int insert_job(gw_sq *sq, gw_queue_req *r, int64_t now, int64_t send_at, int64_t *job)
{
    const gw_queue_chunk_fields *f = &r->u.submit.f;
    uint32_t per = sq->q->o.chunk_tokens;
    size_t n = r->u.submit.tokens.count;
    int rc;

    rc = gw_sq_run(sq, r->detail, sizeof(r->detail), "submit (job)", SQS_JOB_INSERT,
                   "tttiiittbiiiit", f->job_id, f->app, f->topic, (int64_t)f->push_type,
                   (int64_t)f->priority, f->expiration, f->collapse_id, f->apns_id,
                   (const void *)f->payload, f->payload_len, send_at, now, (int64_t)n,
                   (int64_t)((n + per - 1) / per), f->channel);
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
        size_t start = pos, cnt = l->count - done < per ? l->count - done : per;

        for (size_t k = 0; k < cnt; k++) {
            size_t tl;
            int raw;
            pos += gw_token_rec(l->buf + pos, &tl, &raw);
        }
        rc = gw_sq_run(sq, r->detail, sizeof(r->detail), "submit (chunk)", SQS_CHUNK_INSERT,
                       "iiiii", job, (int64_t)seq, (int64_t)done, (int64_t)cnt, send_at);
        if (rc == 0)
            rc = gw_sq_run(sq, r->detail, sizeof(r->detail), "submit (chunk tokens)",
                           SQS_CHUNK_TOKEN_INSERT, "ib", (int64_t)sqlite3_last_insert_rowid(sq->db),
                           (const void *)(l->buf + start), pos - start);
        if (rc != 0)
            return rc;
        done += cnt;
    }
    r->work = send_at <= now;
    return 0;
}
