/*
 * store_sqlite_outcome.c - recording per-token answers in batches.
 *
 * Design note. Outcomes are grouped by chunk (sorted, keeping the order of
 * answers for the same token): each touched chunk has its state blob read,
 * changed in memory and written back once per batch, so 1,000 answers for
 * one chunk cost one row update, and a group commit carries many of those.
 * Transition rules, the same as the front end (queue.c) applies to the
 * dispatcher's copy:
 *  - a final state (accepted, rejected, expired, failed) never changes: a
 *    second answer for the token (a duplicate send) is ignored;
 *  - RETRY upserts the sparse retry row (retry-at, attempts + 1);
 *  - leaving RETRY deletes that row;
 *  - REJECTED and FAILED add a rejection row (token, status, reason, APNs
 *    timestamp: what status reports) and, for dead tokens, upserts the dead-token registry in the
 * same transaction. APNs's answer wins over the registry: when that upsert fails while the
 * transaction lives, the entry is put off (store_sqlite_dead.c, dead_pending) and the answer is
 * stored all the same, so a job cancelled meanwhile can never turn a token APNs answered into
 * "cancelled" (its chunk's release cancels only tokens still open). Job counters (per outcome,
 * retrying) move by the deltas and, when every token of a job is final, job.finished is set, in one
 * statement; a chunk whose last open token becomes final loses its due time and its lease in its
 * row write (its release then writes nothing, store_sqlite_lease.c). The depth
 * goes down by the tokens that became final, after COMMIT. An answer that makes its token final and
 * carries a webhook event writes it to the outbox in the same transaction (store_sqlite_outbox.c).
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job_delta {
    int64_t job;
    int64_t counts[4]; /* accepted, rejected, expired, failed */
    int64_t retry;
    int used;
} job_delta;

static int by_chunk(const void *a, const void *b, void *arg)
{
    const gw_queue_answer *v = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int64_t cx = v[x].chunk, cy = v[y].chunk;

    if (cx != cy)
        return cx < cy ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* A job's counters move by the batch's deltas, and the job is finished
 * (finished = now) when they cover every token: one statement. */
static int flush_job(gw_sq *sq, job_delta *d, int64_t now, gw_queue_req *r)
{
    if (!d->used)
        return 0;
    d->used = 0;
    return gw_sq_run(sq, r->detail, sizeof(r->detail), "record outcomes (job)", SQS_JOB_ADD_COUNTS,
                     "iiiiiii", d->job, d->counts[0], d->counts[1], d->counts[2], d->counts[3],
                     d->retry, now);
}

static int reject(gw_sq *sq, gw_queue_req *r, const gw_queue_answer *o, int64_t job, int64_t first,
                  int64_t now)
{
    const uint8_t *tok;
    const char *reason;
    size_t tok_len, reason_len;
    char why[48];
    sqlite3_stmt *s;
    int err;

    gw_queue__answer_extra(r, o, &tok, &tok_len, &reason, &reason_len);
    snprintf(why, sizeof(why), "%.*s", (int)reason_len, reason);
    err = gw_sq_run(sq, r->detail, sizeof(r->detail), "record outcomes (rejection)",
                    SQS_REJECT_INSERT, gw_queue__answer_raw(r, o) ? "iixitii" : "iibitii", job,
                    first + o->idx, (const void *)tok, tok_len, (int64_t)o->status, why, o->apns_ts,
                    now);
    if (err != 0 || o->dead == GW_DEAD_NONE)
        return err;

    s = gw_sq_stmt(sq, SQS_JOB_APP, "i", job);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return 0; /* no job (cannot happen within one transaction) */
    }
    err = gw_sq_dead_record(sq, r, (const char *)sqlite3_column_text(s, 0), tok, tok_len,
                            gw_queue__answer_raw(r, o), o->dead, why, o->apns_ts, now);
    sqlite3_reset(s);
    return err;
}

static int apply_one(gw_sq *sq, gw_queue_req *r, const gw_queue_answer *o, uint8_t *st, int64_t job,
                     int64_t first, int64_t now, job_delta *d, int64_t *n_open)
{
    uint8_t old = st[o->idx];
    int err;

    if (gw_token_state_final((gw_token_state)old))
        return 0;
    if (old == GW_TOKEN_RETRY && o->state != GW_TOKEN_RETRY) {
        err = gw_sq_run(sq, r->detail, sizeof(r->detail), "record outcomes (retry)",
                        SQS_RETRY_DELETE, "ii", (int64_t)o->chunk, (int64_t)o->idx);
        if (err != 0)
            return err;
        d->retry--;
    }
    if (o->state == GW_TOKEN_RETRY) {
        err = gw_sq_run(sq, r->detail, sizeof(r->detail), "record outcomes (retry)",
                        SQS_RETRY_UPSERT, "iii", (int64_t)o->chunk, (int64_t)o->idx, o->retry_at);
        if (err != 0)
            return err;
        if (old != GW_TOKEN_RETRY)
            d->retry++;
    } else {
        d->counts[o->state - GW_TOKEN_ACCEPTED]++;
        (*n_open)--;
        r->depth_add--;
        if (gw_queue__has_extra(o->state) && (err = reject(sq, r, o, job, first, now)) != 0)
            return err;
        if ((err = gw_sq_outbox_put(sq, r, o, now)) != 0)
            return err;
    }
    st[o->idx] = o->state;
    return 0;
}

/* Applies the outcomes order[from..to) (all for one chunk). */
static int apply_chunk(gw_sq *sq, gw_queue_req *r, const uint32_t *order, size_t from, size_t to,
                       int64_t now, job_delta *d, uint8_t **buf, size_t *cap)
{
    const gw_queue_answer *v = r->u.record.v;
    int64_t chunk = v[order[from]].chunk, job, first, n_open;
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_CHUNK_ST, "i", chunk);
    size_t n, st_len;
    int rc = sqlite3_step(s), err;

    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return rc == SQLITE_DONE
                   ? 0
                   : gw_sq_error(sq, rc, "record outcomes", r->detail, sizeof(r->detail));
    }
    job = sqlite3_column_int64(s, 0);
    n = (size_t)sqlite3_column_int64(s, 1);
    st_len = (size_t)sqlite3_column_bytes(s, 2);
    n_open = sqlite3_column_int64(s, 3);
    first = sqlite3_column_int64(s, 4);
    if (n > *cap) {
        uint8_t *p = realloc(*buf, n);
        if (p == NULL) {
            sqlite3_reset(s);
            return APNS_ENOMEM;
        }
        *buf = p;
        *cap = n;
    }
    memset(*buf, 0, n);
    memcpy(*buf, sqlite3_column_blob(s, 2), st_len < n ? st_len : n);
    sqlite3_reset(s);

    if (d->used && d->job != job && (err = flush_job(sq, d, now, r)) != 0)
        return err;
    if (!d->used) {
        memset(d, 0, sizeof(*d));
        d->job = job;
        d->used = 1;
    }
    for (size_t k = from; k < to; k++) {
        const gw_queue_answer *o = &v[order[k]];
        if (o->idx >= n)
            continue;
        err = apply_one(sq, r, o, *buf, job, first, now, d, &n_open);
        if (err != 0)
            return err;
    }
    return gw_sq_run(sq, r->detail, sizeof(r->detail), "record outcomes (chunk)", SQS_CHUNK_SET_ST,
                     "ibi", chunk, (const void *)*buf, n, n_open);
}

int gw_sq_op_record(gw_sq *sq, gw_queue_req *r)
{
    size_t n = r->u.record.n, from = 0, cap = 0;
    uint32_t *order;
    uint8_t *buf = NULL;
    job_delta d = {0};
    int64_t now = gw_queue__now(sq->q);
    int err = 0, sorted = 1;

    if (n == 0)
        return 0;
    if (sq->dead_replay_at != 0 && now >= sq->dead_replay_at &&
        (err = gw_sq_dead_replay(sq, r, now)) != 0)
        return err;
    order = malloc(n * sizeof(*order));
    if (order == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = r->u.record.v[i - 1].chunk <= r->u.record.v[i].chunk;
    /* Answers mostly come chunk by chunk already (a chunk's streams end in
     * order): then the sort, about 200 instructions per answer, is skipped.
     * The sort is for fewer row writes (one per chunk), not correctness:
     * apply_chunk reads the chunk's state as the transaction left it. */
    if (!sorted)
        qsort_r(order, n, sizeof(*order), by_chunk, r->u.record.v);
    while (err == 0 && from < n) {
        size_t to = from + 1;
        while (to < n && r->u.record.v[order[to]].chunk == r->u.record.v[order[from]].chunk)
            to++;
        err = apply_chunk(sq, r, order, from, to, now, &d, &buf, &cap);
        from = to;
    }
    if (err == 0)
        err = flush_job(sq, &d, now, r);
    if (err == APNS_ENOMEM)
        snprintf(r->detail, sizeof(r->detail), "out of memory while recording outcomes");
    free(order);
    free(buf);
    return err;
}
