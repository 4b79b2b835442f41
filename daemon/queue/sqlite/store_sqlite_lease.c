/*
 * store_sqlite_lease.c - leasing due chunks and handing them back.
 *
 * Lease: select up to max chunks with next_at <= now that no one holds,
 * copy each into one allocation (gw_queue__chunk_new: gw_chunk + arrays +
 * tokens + the job's strings), then mark them leased (lease_owner,
 * lease_until) in a second pass so the scan never walks rows it is
 * changing. Only the selected chunks are ever in memory: a 1M-token job is
 * leased chunk by chunk.
 *
 * Lease ORDER (docs/queue.md, Scheduling): by turn, then by due time. A
 * chunk's turn is its position in its job (seq): the first chunk of every
 * due job is leased before the second chunk of any, the second before any
 * third, and so on; among chunks of one turn the earliest due first. So a
 * job's first chunk waits only for first chunks due before it (never for
 * the rest of a broadcast, whatever its size), jobs that came later catch
 * up with a running broadcast and then share the lease with it one chunk
 * each, and two apps' jobs interleave. (A chunk handed back for a retry
 * keeps its turn.) The walk: index chunk_turn(seq, next_at) over the
 * leasable rows; LEASE_TURN finds the next turn that has leasable rows,
 * LEASE_SELECT takes its due ones in due order: two index seeks per turn,
 * at most one turn per position a job can have (1,000,000 tokens /
 * chunk_tokens, 1,000 by default), however many rows wait in a turn (a million
 * notifications scheduled for tomorrow are one turn skipped by one seek).
 *
 * AGE RULE (docs/queue.md, Scheduling): a chunk due for longer than
 * SQ_AGE_MS is leased as if in the first turn, among such chunks by due
 * time, so a steady stream of small jobs cannot keep a broadcast's later
 * chunks back for ever. Taken literally that would put every remaining
 * chunk of a broadcast that has run for 5 s ahead of a new login code
 * (they were all due when it was submitted), undoing the turns whenever a
 * broadcast runs long; so aged chunks take at most every other slot while
 * younger work is due (a lease of max m gives them (m + age_phase) / 2
 * slots first, age_phase alternating the odd slot between leases, so a
 * lease of one alternates), and any slot the turns leave empty. The aged
 * chunks are one index range (chunk_due, by next_at: LEASE_OLD); the
 * turn walk leaves them out with next_at > now - SQ_AGE_MS on the same
 * index chunk_turn range. The bound: 5 s is far beyond a due chunk's usual
 * wait when the sender keeps up (one lease round, milliseconds), and short
 * next to a broadcast's run, so it acts only when turn-1 work saturates
 * the sender; the dispatcher feeds with the same bound (gw__d_app_take).
 *
 * Release: clear the lease and compute when the chunk is due again: now (or
 * the caller's not_before) while tokens are pending, the earliest retry-at
 * when only retry tokens are open, never (NULL) when every token is final.
 * The outcome batch that makes every token final already ends the lease
 * (store_sqlite_outcome.c, CHUNK_SET_ST), so the usual release of a
 * finished chunk (every small job's) reads its row and writes nothing.
 * A chunk of a cancelled job (store_sqlite_cancel.c) is handed back as
 * never due and its open tokens are cancelled in the same transaction.
 *
 * Wake: an app's chunks put off by a not_before up to `until` (a paused
 * app's hand-backs) are due now again, unless their job's send_at is ahead
 * or only retry tokens are open (those keep their retry-at).
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQ_AGE_MS GW_QUEUE_AGE_MS

/* Column col of s as *len bytes (not NUL-terminated); NULL for SQL NULL. */
static const char *col_text(sqlite3_stmt *s, int col, size_t *len)
{
    const char *v = NULL;

    *len = 0;
    if (sqlite3_column_type(s, col) != SQLITE_NULL) {
        v = sqlite3_column_blob(s, col);
        *len = (size_t)sqlite3_column_bytes(s, col);
    }
    return v;
}

/* Builds a chunk from the current LEASE_SELECT row `c` and JOB_FIELDS row
 * `j`. Returns NULL on allocation failure. */
static gw_chunk *build_chunk(sqlite3_stmt *c, sqlite3_stmt *j)
{
    gw_queue_chunk_fields f = {
        .seq = (uint32_t)sqlite3_column_int64(c, 2),
        .first = (uint32_t)sqlite3_column_int64(c, 3),
        .n = (uint32_t)sqlite3_column_int64(c, 4),
        .push_type = sqlite3_column_int(j, 3),
        .priority = sqlite3_column_int(j, 4),
        .expiration = sqlite3_column_int64(j, 5),
        .send_at = sqlite3_column_int64(j, 9),
        .created = sqlite3_column_int64(j, 10),
        .job_tokens = (uint32_t)sqlite3_column_int64(j, 11),
    };
    size_t st_len;
    gw_chunk *ch;

    snprintf(f.job_id, sizeof(f.job_id), "%s", (const char *)sqlite3_column_text(j, 0));
    snprintf(f.apns_id, sizeof(f.apns_id), "%s", (const char *)sqlite3_column_text(j, 7));
    f.tokens = (const uint8_t *)col_text(c, 5, &f.tokens_len);
    f.app = col_text(j, 1, &f.app_len);
    f.topic = col_text(j, 2, &f.topic_len);
    f.collapse_id = col_text(j, 6, &f.collapse_len);
    f.payload = col_text(j, 8, &f.payload_len);
    f.channel = col_text(j, 12, &f.channel_len); /* NULL: a device push */
    ch = gw_queue__chunk_new(&f);
    if (ch == NULL)
        return NULL;
    st_len = (size_t)sqlite3_column_bytes(c, 6);
    memcpy(ch->state, sqlite3_column_blob(c, 6), st_len < f.n ? st_len : f.n);
    ch->priv.handle = (uint64_t)sqlite3_column_int64(c, 0);
    return ch;
}

/* A chunk's retry rows (retry-at, attempts). A row exists only for a token
 * in RETRY (store_sqlite_outcome.c writes both in one transaction, and
 * deletes the row when the token leaves RETRY; a cancel deletes both), so a
 * chunk whose state has no RETRY byte (nearly every first lease: a small
 * job's one chunk) costs no statement (issue 16). */
static int load_retries(gw_sq *sq, gw_chunk *ch, gw_queue_req *r)
{
    sqlite3_stmt *s;
    int rc;

    if (memchr(ch->state, GW_TOKEN_RETRY, ch->n_tokens) == NULL)
        return 0;
    s = gw_sq_stmt(sq, SQS_RETRY_BY_CHUNK, "i", (int64_t)ch->priv.handle);

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t idx = sqlite3_column_int64(s, 0);
        if (idx >= 0 && idx < ch->n_tokens) {
            ch->retry_at_ms[idx] = sqlite3_column_int64(s, 1);
            ch->attempts[idx] = (uint8_t)sqlite3_column_int(s, 2);
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0
                             : gw_sq_error(sq, rc, "lease (retries)", r->detail, sizeof(r->detail));
}

/* The first turn >= from that has leasable rows: 0 and *turn, 1 when there
 * is none, or an error. */
static int next_turn(gw_sq *sq, gw_queue_req *r, int64_t from, int64_t *turn)
{
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_LEASE_TURN, "i", from);
    int rc = sqlite3_step(s), ret;

    if (rc != SQLITE_ROW)
        ret = gw_sq_error(sq, rc, "lease (turn)", r->detail, sizeof(r->detail));
    else if (sqlite3_column_type(s, 0) == SQLITE_NULL)
        ret = 1;
    else {
        *turn = sqlite3_column_int64(s, 0);
        ret = 0;
    }
    sqlite3_reset(s);
    return ret;
}

/* Leases the rows of c (LEASE_SELECT or LEASE_OLD, bound), up to the
 * lease's max. */
static int select_rows(gw_sq *sq, gw_queue_req *r, sqlite3_stmt *c)
{
    sqlite3_stmt *j = NULL;
    int64_t cur_job = -1;
    int rc, err = 0;

    while ((rc = sqlite3_step(c)) == SQLITE_ROW) {
        int64_t job = sqlite3_column_int64(c, 1);
        gw_chunk *ch;

        if (job != cur_job) {
            j = gw_sq_stmt(sq, SQS_JOB_FIELDS, "i", job);
            rc = sqlite3_step(j);
            if (rc != SQLITE_ROW) {
                /* A chunk without its job cannot be sent: skip it. */
                gw_queue__log(sq->q, APNS_LOG_ERROR,
                              "queue database %s: chunk %lld has no job %lld", sq->path,
                              (long long)sqlite3_column_int64(c, 0), (long long)job);
                if (rc != SQLITE_DONE) {
                    err = gw_sq_error(sq, rc, "lease (job)", r->detail, sizeof(r->detail));
                    break;
                }
                cur_job = -1;
                continue;
            }
            cur_job = job;
        }
        ch = build_chunk(c, j);
        if (ch == NULL) {
            err = APNS_ENOMEM;
            snprintf(r->detail, sizeof(r->detail), "out of memory while leasing");
            break;
        }
        r->u.lease.chunks[r->u.lease.n++] = ch;
        err = load_retries(sq, ch, r);
        if (err != 0)
            break;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = gw_sq_error(sq, rc, "lease", r->detail, sizeof(r->detail));
    sqlite3_reset(c);
    sqlite3_reset(sq->st[SQS_JOB_FIELDS]);
    return err;
}

/* Leases the due chunks of one turn that are not aged. */
static int select_turn(gw_sq *sq, gw_queue_req *r, int64_t now, int64_t turn)
{
    return select_rows(sq, r,
                       gw_sq_stmt(sq, SQS_LEASE_SELECT, "iiii", turn, now,
                                  (int64_t)(r->u.lease.max - r->u.lease.n), now - SQ_AGE_MS - 1));
}

/* Leases up to max aged chunks (due for longer than SQ_AGE_MS), skipping
 * the first `skip` of them (taken already by this lease). */
static int select_aged(gw_sq *sq, gw_queue_req *r, int64_t now, size_t max, size_t skip)
{
    return max == 0 ? 0
                    : select_rows(sq, r,
                                  gw_sq_stmt(sq, SQS_LEASE_OLD, "iii", now - SQ_AGE_MS - 1,
                                             (int64_t)max, (int64_t)skip));
}

static int select_chunks(gw_sq *sq, gw_queue_req *r, int64_t now)
{
    size_t share = (r->u.lease.max + (size_t)sq->age_phase) / 2, aged;
    int64_t turn = 0;
    int rc;

    /* The aged chunks' share first (the age rule, top of file). */
    rc = select_aged(sq, r, now, share, 0);
    if (rc != 0)
        return rc;
    aged = r->u.lease.n;
    sq->age_phase = (int)((r->u.lease.max + (size_t)sq->age_phase) % 2);
    while (r->u.lease.n < r->u.lease.max) {
        rc = next_turn(sq, r, turn, &turn);
        if (rc < 0)
            return rc;
        if (rc > 0)
            break;
        rc = select_turn(sq, r, now, turn);
        if (rc != 0)
            return rc;
        turn++;
    }
    /* Slots the turns left empty: more aged chunks, if any. */
    if (aged == share)
        return select_aged(sq, r, now, r->u.lease.max - r->u.lease.n, aged);
    return 0;
}

int gw_sq_op_lease(gw_sq *sq, gw_queue_req *r)
{
    int64_t now = gw_queue__now(sq->q);
    int err = select_chunks(sq, r, now);

    for (size_t i = 0; err == 0 && i < r->u.lease.n; i++)
        err = gw_sq_run(sq, r->detail, sizeof(r->detail), "lease (mark)", SQS_CHUNK_LEASE, "iii",
                        (int64_t)r->u.lease.chunks[i]->priv.handle, (int64_t)sq->owner,
                        now + sq->q->o.lease_ttl_ms);
    if (err == 0 && r->u.lease.n < r->u.lease.max) {
        sqlite3_stmt *s = gw_sq_stmt(sq, SQS_LEASE_NEXT, "");
        int rc = sqlite3_step(s);

        if (rc == SQLITE_ROW)
            r->u.lease.next_at =
                sqlite3_column_type(s, 0) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(s, 0);
        else
            err = gw_sq_error(sq, rc, "lease (next)", r->detail, sizeof(r->detail));
        sqlite3_reset(s);
    } else {
        r->u.lease.next_at = now;
    }
    return err;
}

int gw_sq_op_release(gw_sq *sq, gw_queue_req *r)
{
    int64_t chunk = (int64_t)r->u.release.chunk, now = gw_queue__now(sq->q), n_open, n_retry;
    int64_t not_before = r->u.release.not_before > now ? r->u.release.not_before : now;
    int64_t min_at = 0, next_at, job;
    int cancelled, leased, err;
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_CHUNK_RELEASE_INFO, "i", chunk);
    int rc = sqlite3_step(s);

    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        if (rc == SQLITE_DONE)
            return 0; /* gone (retention): nothing to hand back */
        return gw_sq_error(sq, rc, "release", r->detail, sizeof(r->detail));
    }
    n_open = sqlite3_column_int64(s, 0);
    leased = sqlite3_column_int(s, 1);
    job = sqlite3_column_int64(s, 2);
    cancelled = sqlite3_column_type(s, 3) != SQLITE_NULL;
    sqlite3_reset(s);

    /* Every token final: the outcomes that made it so ended the lease and
     * the due time (CHUNK_SET_ST), so there is nothing to write. */
    if (n_open <= 0 && !leased)
        return 0;
    if (cancelled) { /* the lease ends first: then its open tokens are cancelled */
        err = gw_sq_run(sq, r->detail, sizeof(r->detail), "release", SQS_CHUNK_RELEASE, "i", chunk);
        return err != 0 || n_open <= 0 ? err : gw_sq_cancel_open(sq, r, job, now, NULL);
    }

    if (n_open <= 0) /* every token final: never due again (next_at NULL) */
        return gw_sq_run(sq, r->detail, sizeof(r->detail), "release", SQS_CHUNK_RELEASE, "i",
                         chunk);
    s = gw_sq_stmt(sq, SQS_CHUNK_RETRY_INFO, "i", chunk);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return gw_sq_error(sq, rc, "release", r->detail, sizeof(r->detail));
    }
    n_retry = sqlite3_column_int64(s, 0);
    if (sqlite3_column_type(s, 1) != SQLITE_NULL)
        min_at = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    next_at = n_open > n_retry ? not_before : (min_at > not_before ? min_at : not_before);
    r->work = next_at <= now;
    return gw_sq_run(sq, r->detail, sizeof(r->detail), "release", SQS_CHUNK_RELEASE, "ii", chunk,
                     next_at);
}

int gw_sq_op_wake(gw_sq *sq, gw_queue_req *r)
{
    int64_t now = gw_queue__now(sq->q);
    int err = gw_sq_run(sq, r->detail, sizeof(r->detail), "wake", SQS_CHUNK_WAKE, "iit", now,
                        r->u.wake.until, r->u.wake.app);

    if (err == 0) {
        r->u.wake.count = (uint64_t)sqlite3_changes(sq->db);
        r->work = r->u.wake.count > 0;
    }
    return err;
}
