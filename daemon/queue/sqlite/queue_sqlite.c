/*
 * queue_sqlite.c - the embedded queue backend: SQLite (WAL) on its own
 * thread, behind the gw_queue vtable (queue.h).
 *
 * Design note
 * -----------
 * Layout. One database file holds jobs, chunks (the tokens of a job, packed,
 * with one state byte per token), sparse retry rows, rejection rows and the
 * dead-token registry (schema in store_sqlite_db.c). A 1M-token broadcast is
 * one job row and ~1,000 chunk rows, inserted in one transaction.
 *
 * Threads. The loop thread only builds requests and posts them
 * (store_worker.c: a mutex held for a list link, never across I/O). The
 * storage thread takes every waiting request as one batch and runs it as one
 * transaction (store_sqlite_batch.c: group commit, a SAVEPOINT per request
 * so one failing request does not fail its neighbours). Completions come
 * back through a pipe watched by the loop and run there, in posting order.
 * API requests (submit, status, registry) count against max_requests
 * (GW_QUEUE_EBACKLOG past it: backpressure); the dispatcher's lease, record
 * and release are not bounded by it, since their volume is already bounded
 * by the chunks it holds.
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
 * Leases. A lease is a column (lease_owner, lease_until) plus the loop
 * thread's list of chunks handed out; at open every lease is cleared, since
 * only one process can have the file open (flock on "<path>-lock"). A
 * multi-node backend uses lease_until / touch (JetStream: ack wait and
 * in-progress acks); here touch is a no-op, because a lease lasts until
 * released or until the process ends.
 *
 * Errors. Every SQLite failure reaches the request's callback as a
 * GW_QUEUE_E* code with "queue database PATH: MESSAGE (SQLITE_X, code N)
 * during WHAT", and is logged. Nothing committed is touched by a failed
 * batch (it is rolled back), and the next batch simply tries again, so the
 * queue serves again as soon as the disk has room or the file is writable.
 */
#include "store_sqlite.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const gw_queue_ops gw_sq_ops;

/* ---- requests ---------------------------------------------------------- */

static void complete(gw_req *g, int deliver);

static gw_sq_req *req_new(gw_sq *sq, gw_sq_kind kind, int bounded, void (*cb)(void), void *ud)
{
    gw_sq_req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->base.bounded = bounded;
    r->base.complete = complete;
    r->sq = sq;
    r->kind = kind;
    r->cb = cb;
    r->ud = ud;
    return r;
}

static void req_free(gw_sq_req *r)
{
    switch (r->kind) {
    case SQ_SUBMIT:
        free(r->u.submit.strings);
        gw_token_list_cleanup(&r->u.submit.tokens);
        break;
    case SQ_LEASE:
        gw_sq_lease_discard(r);
        free(r->u.lease.chunks);
        break;
    case SQ_RECORD:
        free(r->u.record.v);
        free(r->u.record.extra);
        break;
    case SQ_STATUS:
        free(r->u.status.outcomes);
        break;
    case SQ_DEAD_ADD:
    case SQ_DEAD_LIST:
    case SQ_DEAD_DELETE:
        free(r->u.dead.app);
        free(r->u.dead.v);
        break;
    default:
        break;
    }
    free(r);
}

static int post(gw_sq *sq, gw_sq_req *r)
{
    int rc = gw_worker_post(sq->w, &r->base);

    if (rc != 0)
        req_free(r);
    return rc;
}

static void deliver_result(gw_sq_req *r)
{
    const char *d = r->err != 0 ? r->detail : "";

    switch (r->kind) {
    case SQ_SUBMIT:
        ((gw_submit_cb)r->cb)(r->err, d, r->u.submit.id, r->ud);
        break;
    case SQ_LEASE:
        for (size_t i = 0; i < r->u.lease.n; i++)
            gw__leased_add(&r->sq->leased, r->u.lease.chunks[i]);
        ((gw_lease_cb)r->cb)(r->err, d, r->u.lease.chunks, r->u.lease.n, r->u.lease.next_at, r->ud);
        r->u.lease.n = 0; /* handed over */
        break;
    case SQ_STATUS:
        ((gw_status_cb)r->cb)(r->err, d, r->err == 0 ? &r->u.status.st : NULL, r->ud);
        break;
    case SQ_DEAD_LIST:
        ((gw_dead_list_cb)r->cb)(r->err, d, r->u.dead.v, r->err == 0 ? r->u.dead.n : 0,
                                 r->u.dead.has_next ? r->u.dead.next : NULL, r->ud);
        break;
    case SQ_DEAD_DELETE:
        if (r->cb != NULL)
            ((gw_count_cb)r->cb)(r->err, d, r->u.dead.count, r->ud);
        break;
    case SQ_PURGE:
        if (r->cb != NULL)
            ((gw_count_cb)r->cb)(r->err, d, r->u.purge.count, r->ud);
        break;
    default:
        if (r->cb != NULL)
            ((gw_done_cb)r->cb)(r->err, d, r->ud);
        break;
    }
}

/* A refused release would leave its chunk leased until a restart (leases
 * are not durable, but they are not re-leased while the process lives): the
 * release is kept and posted again every second until the storage takes it. */
static void release_retry_cb(evutil_socket_t fd, short what, void *arg);

static void release_retry_add(gw_sq *sq, int64_t chunk, int64_t not_before)
{
    if (sq->n_release_retry == sq->cap_release_retry) {
        size_t cap = sq->cap_release_retry ? 2 * sq->cap_release_retry : 16;
        struct gw_sq_release_retry *v = realloc(sq->release_retry, cap * sizeof *v);
        if (v == NULL) {
            gw_sq_log(sq, APNS_LOG_ERROR,
                      "queue database %s: out of memory keeping a refused release; chunk %lld "
                      "stays leased until restart",
                      sq->path, (long long)chunk);
            return;
        }
        sq->release_retry = v;
        sq->cap_release_retry = cap;
    }
    sq->release_retry[sq->n_release_retry].chunk = chunk;
    sq->release_retry[sq->n_release_retry].not_before = not_before;
    sq->n_release_retry++;
    if (sq->release_retry_ev == NULL)
        sq->release_retry_ev = evtimer_new(sq->o.base, release_retry_cb, sq);
    if (sq->release_retry_ev != NULL && !evtimer_pending(sq->release_retry_ev, NULL)) {
        struct timeval one_s = {1, 0};
        evtimer_add(sq->release_retry_ev, &one_s);
    }
}

static void release_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_sq *sq = arg;
    size_t n = sq->n_release_retry;

    sq->n_release_retry = 0;
    for (size_t i = 0; i < n; i++) {
        struct gw_sq_release_retry rr = sq->release_retry[i];
        gw_sq_req *r = req_new(sq, SQ_RELEASE, 0, NULL, NULL);
        if (r != NULL) {
            r->u.release.chunk = rr.chunk;
            r->u.release.not_before = rr.not_before;
        }
        if (r == NULL || post(sq, r) != 0)
            release_retry_add(sq, rr.chunk, rr.not_before); /* try again next second */
    }
}

static void complete(gw_req *g, int deliver)
{
    gw_sq_req *r = (gw_sq_req *)g;
    gw_sq *sq = r->sq;

    if (deliver) {
        deliver_result(r);
        if (r->err == 0 && r->work && sq->o.on_work != NULL)
            sq->o.on_work(sq->o.ud);
        if (r->kind == SQ_RELEASE && r->err != 0 && gw_queue_err_unavailable(r->err))
            release_retry_add(sq, r->u.release.chunk, r->u.release.not_before);
    }
    req_free(r);
}

/* ---- the vtable --------------------------------------------------------- */

static char *dup_into(char **p, const char *s, size_t n)
{
    char *out = *p;

    memcpy(out, s, n);
    out[n] = '\0';
    *p += n + 1;
    return out;
}

static int sqb_submit(void *be, gw_job *job, char job_id[GW_JOB_ID_LEN + 1], gw_submit_cb cb,
                      void *ud)
{
    gw_sq *sq = be;
    size_t n = job->tokens.count;
    size_t la = strlen(job->app), lt = job->topic ? strlen(job->topic) : 0;
    size_t lc = job->collapse_id ? strlen(job->collapse_id) : 0;
    gw_sq_req *r;
    char *p;
    int rc;

    if (sq->o.max_depth > 0 && atomic_load(&sq->depth) + n > sq->o.max_depth) {
        gw_token_list_cleanup(&job->tokens);
        return GW_QUEUE_EDEPTH;
    }
    r = req_new(sq, SQ_SUBMIT, 1, (void (*)(void))cb, ud);
    if (r != NULL)
        r->u.submit.strings = malloc(la + lt + lc + job->payload_len + 4);
    if (r == NULL || r->u.submit.strings == NULL) {
        if (r != NULL)
            req_free(r);
        gw_token_list_cleanup(&job->tokens);
        return APNS_ENOMEM;
    }
    p = r->u.submit.strings;
    r->u.submit.app = dup_into(&p, job->app, la);
    r->u.submit.topic = job->topic ? dup_into(&p, job->topic, lt) : NULL;
    r->u.submit.collapse_id = job->collapse_id ? dup_into(&p, job->collapse_id, lc) : NULL;
    r->u.submit.payload = dup_into(&p, job->payload, job->payload_len);
    r->u.submit.payload_len = job->payload_len;
    r->u.submit.push_type = job->push_type;
    r->u.submit.priority = job->priority;
    r->u.submit.expiration = job->expiration;
    r->u.submit.send_at = job->send_at_ms;
    r->u.submit.tokens = job->tokens;
    gw_token_list_init(&job->tokens);
    if (apns_uuid_generate(r->u.submit.id) != 0) {
        req_free(r);
        return APNS_ENOMEM;
    }
    if (job->apns_id != NULL && job->apns_id[0] != '\0')
        gw_apns_id_derive(job->apns_id, 0, r->u.submit.apns_id); /* lower-cases */
    else
        memcpy(r->u.submit.apns_id, r->u.submit.id, sizeof(r->u.submit.apns_id));

    /* Reserve the depth now so a burst of submits sees itself; given back
     * if the job is not stored (store_sqlite_batch.c). */
    r->depth_delta = (int64_t)n;
    atomic_fetch_add(&sq->depth, n);
    if (job_id != NULL)
        memcpy(job_id, r->u.submit.id, GW_JOB_ID_LEN + 1);
    rc = post(sq, r);
    if (rc != 0) {
        atomic_fetch_sub(&sq->depth, n);
        if (job_id != NULL)
            job_id[0] = '\0';
    }
    return rc;
}

static int sqb_lease(void *be, size_t max_chunks, gw_lease_cb cb, void *ud)
{
    gw_sq *sq = be;
    gw_sq_req *r = req_new(sq, SQ_LEASE, 0, (void (*)(void))cb, ud);

    if (r == NULL)
        return APNS_ENOMEM;
    r->u.lease.max = max_chunks;
    r->u.lease.chunks = calloc(max_chunks, sizeof(gw_chunk *));
    if (r->u.lease.chunks == NULL) {
        req_free(r);
        return APNS_ENOMEM;
    }
    return post(sq, r);
}

static size_t extra_size(const gw_outcome *o, const char **reason)
{
    *reason = o->reason_str != NULL ? o->reason_str : apns_reason_name(o->reason);
    size_t rl = strlen(*reason);
    return 2 + gw_chunk_token(o->chunk, o->token, NULL) + (rl > 47 ? 47 : rl);
}

static int sqb_record(void *be, const gw_outcome *v, size_t n, gw_done_cb cb, void *ud)
{
    gw_sq *sq = be;
    gw_sq_req *r = req_new(sq, SQ_RECORD, 0, (void (*)(void))cb, ud);
    size_t extra = 0, pos = 0;
    const char *reason;

    if (r == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (v[i].state == GW_TOKEN_REJECTED)
            extra += extra_size(&v[i], &reason);
    r->u.record.v = malloc((n ? n : 1) * sizeof(gw_sq_outcome));
    r->u.record.extra = malloc(extra ? extra : 1);
    if (r->u.record.v == NULL || r->u.record.extra == NULL) {
        req_free(r);
        return APNS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const gw_outcome *o = &v[i];
        gw_sq_outcome *s = &r->u.record.v[i];

        s->chunk = (int64_t)o->chunk->priv.handle;
        s->idx = o->token;
        s->state = (uint8_t)o->state;
        s->status = (int16_t)o->status;
        s->apns_ts = o->apns_ts_ms;
        s->retry_at = o->retry_at_ms;
        s->dead = (uint8_t)o->dead;
        s->extra = (uint32_t)pos;
        if (o->state == GW_TOKEN_REJECTED) {
            const uint8_t *tok;
            size_t tl = gw_chunk_token(o->chunk, o->token, &tok), rl;
            uint8_t *p = r->u.record.extra + pos;

            extra_size(o, &reason);
            rl = strlen(reason) > 47 ? 47 : strlen(reason);
            p[0] = (uint8_t)tl;
            memcpy(p + 1, tok, tl);
            p[1 + tl] = (uint8_t)rl;
            memcpy(p + 2 + tl, reason, rl);
            pos += 2 + tl + rl;
        }
    }
    r->u.record.n = n;
    return post(sq, r);
}

static int sqb_touch(void *be, gw_chunk *c)
{
    return 0; /* one process owns the file: a lease lasts until released */
}

static int sqb_release(void *be, gw_chunk *c, int64_t not_before_ms, gw_done_cb cb, void *ud)
{
    gw_sq *sq = be;
    gw_sq_req *r;

    gw__leased_remove(&sq->leased, c);
    r = req_new(sq, SQ_RELEASE, 0, (void (*)(void))cb, ud);
    if (r != NULL) {
        r->u.release.chunk = (int64_t)c->priv.handle;
        r->u.release.not_before = not_before_ms;
    }
    free(c);
    return r == NULL ? APNS_ENOMEM : post(sq, r);
}

static int sqb_status(void *be, const char *job_id, gw_status_cb cb, void *ud)
{
    gw_sq *sq = be;
    gw_sq_req *r = req_new(sq, SQ_STATUS, 1, (void (*)(void))cb, ud);

    if (r == NULL)
        return APNS_ENOMEM;
    snprintf(r->u.status.id, sizeof(r->u.status.id), "%s", job_id);
    return post(sq, r);
}

/* Fills r->u.dead.app and the binary token. */
static int dead_req(gw_sq_req *r, const char *app, const char *token_hex)
{
    gw_token_list l;
    int rc;

    gw_token_list_init(&l);
    rc = gw_token_list_add_hex(&l, token_hex, strlen(token_hex));
    if (rc == 0) {
        r->u.dead.tok_len = l.buf[0];
        memcpy(r->u.dead.tok, l.buf + 1, l.buf[0]);
    }
    gw_token_list_cleanup(&l);
    if (rc != 0)
        return rc;
    r->u.dead.app = strdup(app);
    return r->u.dead.app == NULL ? APNS_ENOMEM : 0;
}

static int sqb_dead_add(void *be, const char *app, const char *token_hex, gw_dead_source src,
                        const char *reason, int64_t apns_ts_ms, gw_done_cb cb, void *ud)
{
    gw_sq *sq = be;
    gw_sq_req *r = req_new(sq, SQ_DEAD_ADD, 1, (void (*)(void))cb, ud);
    int rc;

    if (r == NULL)
        return APNS_ENOMEM;
    rc = dead_req(r, app, token_hex);
    if (rc != 0) {
        req_free(r);
        return rc;
    }
    r->u.dead.source = src;
    snprintf(r->u.dead.reason, sizeof(r->u.dead.reason), "%s", reason ? reason : "");
    r->u.dead.apns_ts = apns_ts_ms;
    return post(sq, r);
}

static int parse_cursor(const char *s, int64_t *recorded, int64_t *id)
{
    char *end;
    long long a, b;

    if (s == NULL || s[0] == '\0') {
        *recorded = INT64_MIN;
        *id = 0;
        return 0;
    }
    a = strtoll(s, &end, 10);
    if (end == s || *end != '.')
        return APNS_EINVAL;
    s = end + 1;
    b = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        return APNS_EINVAL;
    *recorded = a;
    *id = b;
    return 0;
}

static int sqb_dead_list(void *be, const char *app, int64_t since_ms, const char *cursor,
                         size_t limit, gw_dead_list_cb cb, void *ud)
{
    gw_sq *sq = be;
    gw_sq_req *r;
    int64_t rec, id;

    if (parse_cursor(cursor, &rec, &id) != 0)
        return APNS_EINVAL;
    r = req_new(sq, SQ_DEAD_LIST, 1, (void (*)(void))cb, ud);
    if (r == NULL || (r->u.dead.app = strdup(app)) == NULL) {
        if (r != NULL)
            req_free(r);
        return APNS_ENOMEM;
    }
    r->u.dead.since = since_ms;
    r->u.dead.after_recorded = rec;
    r->u.dead.after_id = id;
    r->u.dead.limit = limit;
    return post(sq, r);
}

static int sqb_dead_delete(void *be, const char *app, const char *token_hex, gw_count_cb cb,
                           void *ud)
{
    gw_sq *sq = be;
    gw_sq_req *r = req_new(sq, SQ_DEAD_DELETE, 1, (void (*)(void))cb, ud);
    int rc;

    if (r == NULL)
        return APNS_ENOMEM;
    rc = dead_req(r, app, token_hex);
    if (rc != 0) {
        req_free(r);
        return rc;
    }
    return post(sq, r);
}

static int sqb_purge(void *be, size_t max_jobs, gw_count_cb cb, void *ud)
{
    gw_sq *sq = be;
    gw_sq_req *r = req_new(sq, SQ_PURGE, 1, (void (*)(void))cb, ud);

    if (r == NULL)
        return APNS_ENOMEM;
    r->u.purge.max_jobs = max_jobs;
    return post(sq, r);
}

static void sqb_stats(void *be, gw_queue_stats *s)
{
    gw_sq *sq = be;

    s->depth = atomic_load(&sq->depth);
    s->requests = gw_worker_outstanding(sq->w);
    s->commits = atomic_load(&sq->commits);
    s->failures = atomic_load(&sq->failures);
    s->leased = sq->leased.n;
    s->last_err = atomic_load(&sq->last_err);
}

static void gw_sq_destroy(gw_sq *sq)
{
    if (sq->w != NULL)
        gw_worker_free(sq->w);
    if (sq->release_retry_ev != NULL)
        event_free(sq->release_retry_ev);
    free(sq->release_retry); /* a restart clears the leases they hold */
    gw__leased_free_all(&sq->leased);
    gw_sq_db_close(sq);
    free(sq->path);
    free(sq);
}

static void sqb_free(void *be)
{
    gw_sq_destroy(be);
}

static const gw_queue_ops gw_sq_ops = {
    .name = "sqlite",
    .submit = sqb_submit,
    .lease = sqb_lease,
    .record = sqb_record,
    .touch = sqb_touch,
    .release = sqb_release,
    .status = sqb_status,
    .dead_add = sqb_dead_add,
    .dead_list = sqb_dead_list,
    .dead_delete = sqb_dead_delete,
    .purge = sqb_purge,
    .stats = sqb_stats,
    .free = sqb_free,
};

/* ---- open and options --------------------------------------------------- */

static void apply_defaults(gw_queue_opts *o)
{
    if (o->chunk_tokens == 0)
        o->chunk_tokens = 1000;
    if (o->small_job_tokens == 0)
        o->small_job_tokens = 100;
    if (o->max_requests == 0)
        o->max_requests = 10000;
    if (o->retention_ms == 0)
        o->retention_ms = 7LL * 24 * 3600 * 1000;
    if (o->purge_interval_ms == 0)
        o->purge_interval_ms = 60000;
    if (o->lease_ttl_ms == 0)
        o->lease_ttl_ms = 300000;
}

int gw_queue_sqlite_open(gw_queue **out, const gw_queue_opts *o, const gw_queue_sqlite_opts *so,
                         char *detail, size_t detail_len)
{
    char scratch[256];
    gw_sq *sq;
    int rc;

    if (detail == NULL || detail_len == 0) {
        detail = scratch;
        detail_len = sizeof(scratch);
    }
    detail[0] = '\0';
    if (out == NULL)
        return APNS_EINVAL;
    *out = NULL;
    if (o == NULL || o->base == NULL || so == NULL || so->path == NULL || so->path[0] == '\0') {
        snprintf(detail, detail_len, "queue: an event base and a database path are required");
        return APNS_EINVAL;
    }
    sq = calloc(1, sizeof(*sq));
    if (sq == NULL || (sq->path = strdup(so->path)) == NULL) {
        free(sq);
        return APNS_ENOMEM;
    }
    sq->o = *o;
    apply_defaults(&sq->o);
    sq->so = *so;
    sq->so.path = sq->path;
    if (getrandom(&sq->owner, sizeof(sq->owner), 0) != sizeof(sq->owner))
        sq->owner = (uint64_t)(uintptr_t)sq ^ (uint64_t)gw_sq_now(sq);
    sq->owner &= INT64_MAX;
    atomic_init(&sq->depth, 0);
    atomic_init(&sq->commits, 0);
    atomic_init(&sq->failures, 0);
    atomic_init(&sq->last_err, 0);

    rc = gw_sq_db_open(sq, detail, detail_len);
    if (rc == 0) {
        int64_t first_idle = sq->read_only || sq->o.retention_ms < 0 || sq->o.purge_interval_ms < 0
                                 ? -1
                                 : sq->o.purge_interval_ms;
        rc = gw_worker_new(&sq->w, o->base, sq->o.max_requests, gw_sq_batch, gw_sq_idle, first_idle,
                           sq);
        if (rc != 0)
            snprintf(detail, detail_len, "queue database %s: cannot start the storage thread",
                     sq->path);
    }
    if (rc != 0) {
        gw_sq_destroy(sq);
        return rc;
    }
    sq->q.ops = &gw_sq_ops;
    sq->q.be = sq;
    gw_sq_log(sq, APNS_LOG_INFO, "queue database %s open: %llu unfinished tokens%s", sq->path,
              (unsigned long long)atomic_load(&sq->depth), sq->read_only ? " (read-only)" : "");
    *out = &sq->q;
    return 0;
}

static int post_option(gw_queue *q, gw_sq_kind kind, int64_t value, gw_done_cb cb, void *ud)
{
    gw_sq *sq;
    gw_sq_req *r;

    if (q == NULL || q->ops != &gw_sq_ops)
        return APNS_EINVAL;
    sq = q->be;
    r = req_new(sq, kind, 0, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    r->u.set.value = value;
    return post(sq, r);
}

int gw_queue_sqlite_set_max_bytes(gw_queue *q, int64_t max_db_bytes, gw_done_cb cb, void *ud)
{
    return post_option(q, SQ_SET_MAX_BYTES, max_db_bytes, cb, ud);
}

int gw_queue_sqlite_set_read_only(gw_queue *q, int read_only, gw_done_cb cb, void *ud)
{
    return post_option(q, SQ_SET_READ_ONLY, read_only, cb, ud);
}
