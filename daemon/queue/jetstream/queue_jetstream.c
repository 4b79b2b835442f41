/*
 * queue_jetstream.c - the fleet queue backend: NATS JetStream behind the
 * gw_queue vtable (queue.h), so many apnsd nodes share one durable queue.
 *
 * Design note
 * -----------
 * What is stored where (P = the prefix, "apnsd" by default):
 *
 *   stream P_CHUNKS     WorkQueue retention, R = replicas (RAFT), file
 *                       storage. One message per CHUNK (the SQLite unit:
 *                       chunk_tokens tokens, 1000 by default) on subject
 *                       P.chunk.<tokens in it>, with the job's push fields and
 *                       payload copied in, so a chunk is self-contained and a
 *                       node never reads anything else to send it. Msg-Id
 *                       "<job>.<seq>" makes a resend of a publish idempotent
 *                       (2-minute duplicate window). A 1M-token broadcast is
 *                       ~1000 messages (~33 KB each).
 *   consumer P_workers  ONE durable pull consumer shared by every node:
 *                       explicit ack, ack_wait, no server-side MaxDeliver,
 *                       ack-pending up to 1,000,000 (chunks delayed by a nak
 *                       wait there). A fetch hands a message to one node at
 *                       a time: that is the LEASE.
 *   KV P_JOBS           "<job>" -> the job header (app, apns-id base, token
 *                       count, chunk count and size, created, send_at; the
 *                       tokens themselves for small jobs, for per-token
 *                       status). Its existence is the job's COMMIT record.
 *   KV P_OUT            "<job>.<seq>" -> the chunk's OUTCOME RECORD: one state
 *                       byte and one attempt count per token, retry-at times,
 *                       rejection details, hand-back count. The truth about a
 *                       chunk's tokens; written with compare-and-set.
 *   KV P_DEAD           "<app>.<token hex>" -> the dead-token registry entry.
 *   KV P_TOKENS         "<team>.<key id>" -> the fleet's provider token
 *                       (js_token.c).
 *   subject P.work      core NATS (not stored): "new work is due", so idle
 *                       nodes lease at once instead of at their next poll.
 *   P_JOBS and P_OUT have TTL = retention: the servers expire job status, so
 *   gw_queue_purge() is a no-op here.
 *
 * Submit (js_submit.c). Every job of a worker batch is written in two
 * pipelined phases: (1) all chunk messages, published asynchronously, then
 * one wait for all their acks; (2) the job headers, each created with
 * "expected last subject sequence = 0" (compare-and-set on absence). The API
 * gets 0 only after both are stored on a quorum: DURABLE. A node that leases
 * a chunk whose header does not exist yet holds it (in-progress acks) until
 * the header appears; after a grace time (2 x op_timeout + 5 s of stream age)
 * it creates the header itself as ABORTED with the same compare-and-set and
 * drops the job's chunks. Exactly one of the submitter's commit and a
 * node's abort wins, so a job whose submit failed is never half sent, and a
 * job that was acknowledged is never dropped.
 *
 * Lease = fetch from the shared pull consumer, on a thread of its own (a
 * fetch with nothing available waits up to poll_ms: a long poll, so new
 * work reaches an idle node at once, at one request per poll_ms; next_at is
 * always "now": lease again). For each message: the job must be committed
 * (a per-node cache of committed job ids: one KV read per job per node); a
 * redelivered message (num_delivered > 1) also reads its outcome record, so
 * tokens already answered are not sent again; a chunk whose record says
 * every token is final is acked at once. A first delivery skips that read
 * (no one can have written a record before the first delivery).
 *
 * Record. The worker applies every outcome of a batch to its copy of the
 * leased chunks' records (queue.c's rules: a final state never changes) and
 * writes each touched record ONCE per batch, all pipelined, with "expected
 * last subject sequence = the revision we read". On a conflict (a second
 * holder, see below) it reads the other record, merges (a final state wins;
 * the first final answer stays), and writes again. The record callback says
 * 0 when the record is stored on a quorum.
 *
 * Touch. A node keeps its chunks alive with in-progress acks ("+WPI") every
 * ack_wait/3, as long as the dispatcher recorded or touched the chunk within
 * lease_ttl; gw_queue_touch() also sends one at once. A chunk whose node
 * died, hangs, or stopped touching it comes back after ack_wait.
 *
 * Release. Every token final in the STORED record: ack (the message is
 * deleted). Otherwise: nak with a delay (pending tokens: max(now,
 * not_before); only retry tokens: the earliest retry-at), after storing the
 * record with its hand-back count + 1. Nak-with-delay keeps ONE message per
 * chunk for its whole life (no copies, so no two nodes ever hold two copies
 * of one chunk); a delayed chunk waits in the consumer's ack-pending set,
 * which is why that set is so large (1,000,000; the servers' default of
 * 1000 would stall the whole fleet behind 1000 delayed chunks). A chunk
 * whose job has a future send_at is deferred the same way by the node that
 * fetched it.
 *
 * Parking (max_deliveries). Server-side MaxDeliver would count hand-backs
 * (every retry and every pause probe is a delivery) and would then leave the
 * message stuck. Instead a node computes unclean deliveries = num_delivered
 * - 1 - hand-backs (deliveries whose holder never handed the chunk back:
 * crashes, hangs); at max_deliveries the chunk is PARKED: its open tokens
 * are recorded FAILED and the message is terminated, with an error log.
 *
 * Depth. Approximate for the fleet: the stream's per-subject message counts
 * (the subject carries the chunk's token count) minus answers in the chunks
 * this node holds, refreshed every second, plus what this node submitted or
 * finished since (exact for one node between refreshes). Partly answered
 * chunks that wait for a retry count whole.
 *
 * Status (js_status.c): the header plus the job's outcome records, read on
 * demand and summed (small jobs: direct reads; large ones: one KV watch over
 * "<job>.*"). Counters are never updated concurrently, so they cannot
 * drift: a record IS the chunk's truth, written by whoever holds the chunk,
 * and a status is the sum of records. A 1M-token job's status reads ~1000
 * records (~2 MB): fine for an API call, too much for a tight poll loop.
 *
 * What a crash does (kill -9 of a node, at any moment):
 *  - a submit acknowledged with 0 is stored on a quorum: not lost;
 *  - the node's leased chunks are redelivered to other nodes after ack_wait;
 *    their outcome records say which tokens were answered: only the others
 *    are sent again: AT-LEAST-ONCE;
 *  - the duplicate window: APNs answered a token and the node died before
 *    the record holding that answer was stored. The resend has the same
 *    apns-id (gw_apns_id_derive), so the app can drop it. At most the tokens
 *    of the chunks in flight on the dead node, answered in the last batch;
 *  - a node that is alive but lost its lease (it stalled past ack_wait, or
 *    a network partition hid its in-progress acks) may still write while the
 *    new holder works: the compare-and-set merge keeps both nodes' answers,
 *    and tokens both sent are the same duplicates (same apns-id).
 *
 * Compare-and-set on nats-server 2.9. In a cluster the servers check a
 * per-key "expected last subject sequence" only against APPLIED writes, so
 * two concurrent updates of one key can both pass (measured here: 2 of 5
 * races). Creates ("expected: no message") are checked at apply time
 * and are exact, and so is "expected last sequence" of the whole stream. So:
 * job commit and abort are creates; the fleet's provider token uses the
 * bucket stream's last sequence (js_token.c); outcome records use per-key
 * updates, which race only when two nodes hold one chunk (a lease that
 * outlived ack_wait), where the worst case is an answer lost from the
 * record: the token is sent again (same apns-id), never lost.
 *
 * Errors: js_conn.c. Lost connections, timeouts, no quorum: GW_QUEUE_EIO
 * (503). The client library reconnects forever; the queue serves again as
 * soon as a quorum of the cluster is back. A submit whose answer was an
 * error while the connection was failing MAY still be delivered (its
 * publishes can be flushed after the reconnect): a 503 means "not known to
 * be stored", and an app that retries it should pass the same apns-id.
 *
 * Threads: like the SQLite backend, with two workers (store_worker.c). The
 * loop thread builds requests and posts them; the queue thread runs
 * submits, records, releases, touches, status and registry requests in
 * batches with blocking NATS calls (each bounded by op_timeout) and keeps
 * leases alive between batches; the lease thread runs fetches (long polls)
 * so they never hold up the rest. Leased chunks are linked by the lease
 * thread and unlinked by the queue thread under lease_mu. Completions run
 * on the loop thread. The libnats threads only file publish
 * acknowledgments (js_conn.c) and turn P.work notices into a request that
 * calls on_work on the loop.
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static const gw_queue_ops gw_js_ops;

/* ---- requests ------------------------------------------------------------ */

static void complete(gw_req *g, int deliver);

static gw_js_req *req_new(gw_js *js, gw_js_kind kind, int bounded, void (*cb)(void), void *ud)
{
    gw_js_req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->base.bounded = bounded;
    r->base.complete = complete;
    r->js = js;
    r->kind = kind;
    r->cb = cb;
    r->ud = ud;
    return r;
}

void gw_js__notice_init(gw_js_req *r, gw_js *js)
{
    r->base.complete = complete;
    r->js = js;
    r->kind = JS_NOTICE;
}

static void lease_discard(gw_js_req *r)
{
    for (size_t i = 0; i < r->u.lease.n; i++)
        free(r->u.lease.chunks[i]);
    r->u.lease.n = 0;
}

static void req_free(gw_js_req *r)
{
    switch (r->kind) {
    case JS_SUBMIT:
        free(r->u.submit.strings);
        gw_token_list_cleanup(&r->u.submit.tokens);
        break;
    case JS_LEASE:
        /* Chunks not handed over (shutdown): their gw_js_lease halves are
         * dropped by gw_js_forget_leases. */
        lease_discard(r);
        free(r->u.lease.chunks);
        break;
    case JS_RECORD:
        free(r->u.record.v);
        free(r->u.record.extra);
        break;
    case JS_STATUS:
        free(r->u.status.outcomes);
        break;
    case JS_DEAD_ADD:
    case JS_DEAD_LIST:
    case JS_DEAD_DELETE:
        free(r->u.dead.app);
        free(r->u.dead.v);
        break;
    default:
        break;
    }
    free(r);
}

static int post(gw_js *js, gw_js_req *r)
{
    int rc = gw_worker_post(js->w, &r->base);

    if (rc != 0)
        req_free(r);
    return rc;
}

static void deliver_result(gw_js_req *r)
{
    const char *d = r->err != 0 ? r->detail : "";

    switch (r->kind) {
    case JS_SUBMIT:
        ((gw_submit_cb)r->cb)(r->err, d, r->u.submit.id, r->ud);
        break;
    case JS_LEASE:
        for (size_t i = 0; i < r->u.lease.n; i++)
            gw__leased_add(&r->js->leased, r->u.lease.chunks[i]);
        ((gw_lease_cb)r->cb)(r->err, d, r->u.lease.chunks, r->u.lease.n, r->u.lease.next_at, r->ud);
        r->u.lease.n = 0; /* handed over */
        break;
    case JS_STATUS:
        ((gw_status_cb)r->cb)(r->err, d, r->err == 0 ? &r->u.status.st : NULL, r->ud);
        break;
    case JS_DEAD_LIST:
        ((gw_dead_list_cb)r->cb)(r->err, d, r->u.dead.v, r->err == 0 ? r->u.dead.n : 0,
                                 r->u.dead.has_next ? r->u.dead.next : NULL, r->ud);
        break;
    case JS_DEAD_DELETE:
        if (r->cb != NULL)
            ((gw_count_cb)r->cb)(r->err, d, r->u.dead.count, r->ud);
        break;
    case JS_PURGE:
        if (r->cb != NULL)
            ((gw_count_cb)r->cb)(r->err, d, r->u.purge.count, r->ud);
        break;
    case JS_TOKEN:
        ((gw_queue_token_cb)r->cb)(r->err, d, r->err == 0 ? r->u.token.jwt : NULL,
                                   r->u.token.issued, r->u.token.minted, r->ud);
        break;
    case JS_TOUCH:
    case JS_NOTICE:
        break;
    default:
        if (r->cb != NULL)
            ((gw_done_cb)r->cb)(r->err, d, r->ud);
        break;
    }
}

static void complete(gw_req *g, int deliver)
{
    gw_js_req *r = (gw_js_req *)g;
    gw_js *js = r->js;

    if (r->kind == JS_NOTICE) {
        atomic_store(&js->notice_pending, 0);
        if (deliver && js->o.on_work != NULL)
            js->o.on_work(js->o.ud);
        free(r);
        return;
    }
    if (!deliver && r->kind == JS_TOKEN) {
        /* Closing: the token's caller still gets its one callback, so it
         * can free what it passed as ud (queue_jetstream.h). */
        ((gw_queue_token_cb)r->cb)(GW_QUEUE_ECLOSED, "the queue is closing", NULL, 0, 0, r->ud);
    } else if (deliver) {
        deliver_result(r);
        if (r->err == 0 && r->work && js->o.on_work != NULL)
            js->o.on_work(js->o.ud);
    }
    req_free(r);
}

/* ---- the batch (worker thread) --------------------------------------------- */

#define MAX_BATCH_KIND 4096

void gw_js_batch(gw_req *head, void *ud)
{
    gw_js *js = ud;
    gw_js_req **sub = NULL, **out = NULL;
    size_t n_sub = 0, n_out = 0, n = 0;
    int storage_err = 0, did = 0;

    for (gw_req *g = head; g != NULL; g = g->next)
        n++;
    sub = malloc(n * sizeof(*sub));
    out = malloc(n * sizeof(*out));
    if (sub == NULL || out == NULL) {
        for (gw_req *g = head; g != NULL; g = g->next) {
            gw_js_req *r = (gw_js_req *)g;
            r->err = APNS_ENOMEM;
            snprintf(r->detail, sizeof(r->detail), "out of memory in the queue thread");
        }
        free(sub);
        free(out);
        return;
    }
    for (gw_req *g = head; g != NULL; g = g->next) {
        gw_js_req *r = (gw_js_req *)g;
        if (r->kind == JS_SUBMIT)
            sub[n_sub++] = r;
        else if (r->kind == JS_RECORD || r->kind == JS_RELEASE)
            out[n_out++] = r;
    }
    /* Touches first (one posted before a release in this batch must not
     * run after it), then outcomes (a status posted after a record sees
     * it), then submits, then the rest in posting order. */
    for (gw_req *g = head; g != NULL; g = g->next)
        if (((gw_js_req *)g)->kind == JS_TOUCH)
            gw_js_op_touch(js, (gw_js_req *)g);
    if (n_out > 0) {
        gw_js_op_outcomes(js, out, n_out);
        did = 1;
    }
    if (n_sub > 0) {
        gw_js_op_submit_batch(js, sub, n_sub);
        did = 1;
    }
    for (gw_req *g = head; g != NULL; g = g->next) {
        gw_js_req *r = (gw_js_req *)g;

        switch (r->kind) {
        case JS_STATUS:
            r->err = gw_js_op_status(js, r);
            did = 1;
            break;
        case JS_DEAD_ADD:
            r->err = gw_js_op_dead_add(js, r);
            did = 1;
            break;
        case JS_DEAD_LIST:
            r->err = gw_js_op_dead_list(js, r);
            did = 1;
            break;
        case JS_DEAD_DELETE:
            r->err = gw_js_op_dead_delete(js, r);
            did = 1;
            break;
        case JS_TOKEN:
            r->err = gw_js_op_token(js, r);
            did = 1;
            break;
        case JS_PURGE:
            r->u.purge.count = 0; /* the servers expire entries (bucket TTL) */
            break;
        default:
            break;
        }
    }
    for (gw_req *g = head; g != NULL; g = g->next) {
        int e = ((gw_js_req *)g)->err;
        if (gw_queue_err_unavailable(e))
            storage_err = e;
    }
    if (storage_err != 0) {
        atomic_fetch_add(&js->failures, 1);
        atomic_store(&js->last_err, storage_err);
    } else if (did) {
        atomic_fetch_add(&js->commits, 1);
        atomic_store(&js->last_err, 0);
    }
    free(sub);
    free(out);
}

/* The lease thread: fetches are long polls (up to poll_ms when nothing is
 * available), so they never hold up submits and outcomes. */
void gw_js_lease_batch(gw_req *head, void *ud)
{
    gw_js *js = ud;

    for (gw_req *g = head; g != NULL; g = g->next) {
        gw_js_req *r = (gw_js_req *)g;
        r->err = gw_js_op_lease(js, r);
        if (gw_queue_err_unavailable(r->err)) {
            atomic_fetch_add(&js->failures, 1);
            atomic_store(&js->last_err, r->err);
        }
    }
}

/* ---- the vtable (loop thread) ----------------------------------------------- */

static char *dup_into(char **p, const char *s, size_t n)
{
    char *out = *p;

    memcpy(out, s, n);
    out[n] = '\0';
    *p += n + 1;
    return out;
}

static uint64_t depth_now(gw_js *js)
{
    long long d = atomic_load(&js->depth_base) + atomic_load(&js->depth_local);

    if (d < 0)
        d = 0;
    return (uint64_t)d + (uint64_t)atomic_load(&js->depth_reserved);
}

static int jsb_submit(void *be, gw_job *job, char job_id[GW_JOB_ID_LEN + 1], gw_submit_cb cb,
                      void *ud)
{
    gw_js *js = be;
    size_t n = job->tokens.count;
    size_t la = strlen(job->app), lt = job->topic ? strlen(job->topic) : 0;
    size_t lc = job->collapse_id ? strlen(job->collapse_id) : 0;
    gw_js_req *r;
    char *p;
    int rc;

    if (js->o.max_depth > 0 && depth_now(js) + n > js->o.max_depth) {
        gw_token_list_cleanup(&job->tokens);
        return GW_QUEUE_EDEPTH;
    }
    if (la >= 128 || lt > 65000 || lc > 65000) {
        gw_token_list_cleanup(&job->tokens);
        return APNS_EINVAL;
    }
    r = req_new(js, JS_SUBMIT, 1, (void (*)(void))cb, ud);
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
    /* Reserved now so a burst of submits sees itself; the worker turns it
     * into the depth (stored) or gives it back (failed). */
    atomic_fetch_add(&js->depth_reserved, (long long)n);
    if (job_id != NULL)
        memcpy(job_id, r->u.submit.id, GW_JOB_ID_LEN + 1);
    rc = post(js, r);
    if (rc != 0) {
        atomic_fetch_sub(&js->depth_reserved, (long long)n);
        if (job_id != NULL)
            job_id[0] = '\0';
    }
    return rc;
}

static int jsb_lease(void *be, size_t max_chunks, gw_lease_cb cb, void *ud)
{
    gw_js *js = be;
    gw_js_req *r = req_new(js, JS_LEASE, 0, (void (*)(void))cb, ud);
    int rc;

    if (r == NULL)
        return APNS_ENOMEM;
    if (max_chunks > 1024)
        max_chunks = 1024; /* one fetch; next_at = now says there may be more */
    r->u.lease.max = max_chunks;
    r->u.lease.chunks = calloc(max_chunks, sizeof(gw_chunk *));
    if (r->u.lease.chunks == NULL) {
        req_free(r);
        return APNS_ENOMEM;
    }
    rc = gw_worker_post(js->lw, &r->base);
    if (rc != 0)
        req_free(r);
    return rc;
}

static int jsb_record(void *be, const gw_outcome *v, size_t n, gw_done_cb cb, void *ud)
{
    gw_js *js = be;
    gw_js_req *r = req_new(js, JS_RECORD, 0, (void (*)(void))cb, ud);
    size_t extra = 0, pos = 0;

    if (r == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (v[i].state == GW_TOKEN_REJECTED && v[i].dead != GW_DEAD_NONE)
            extra += 2 * gw_chunk_token(v[i].chunk, v[i].token, NULL) + 1;
    r->u.record.v = malloc((n ? n : 1) * sizeof(gw_js_outcome));
    r->u.record.extra = malloc(extra ? extra : 1);
    if (r->u.record.v == NULL || r->u.record.extra == NULL) {
        req_free(r);
        return APNS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const gw_outcome *o = &v[i];
        gw_js_outcome *s = &r->u.record.v[i];
        const char *reason = o->reason_str != NULL ? o->reason_str : apns_reason_name(o->reason);

        memset(s, 0, sizeof(*s));
        s->handle = o->chunk->priv.handle;
        s->idx = o->token;
        s->state = (uint8_t)o->state;
        s->status = (int16_t)o->status;
        s->apns_ts = o->apns_ts_ms;
        s->retry_at = o->retry_at_ms;
        s->dead = (uint8_t)(o->state == GW_TOKEN_REJECTED ? o->dead : GW_DEAD_NONE);
        if (o->state == GW_TOKEN_REJECTED)
            snprintf(s->reason, sizeof(s->reason), "%s", reason != NULL ? reason : "");
        if (s->dead != GW_DEAD_NONE) {
            s->hex_off = (uint32_t)pos;
            gw_chunk_token_hex(o->chunk, o->token, r->u.record.extra + pos);
            pos += strlen(r->u.record.extra + pos) + 1;
        }
    }
    r->u.record.n = n;
    return post(js, r);
}

static int jsb_touch(void *be, gw_chunk *c)
{
    gw_js *js = be;
    gw_js_req *r = req_new(js, JS_TOUCH, 0, NULL, NULL);

    if (r == NULL)
        return APNS_ENOMEM;
    r->u.release.handle = c->priv.handle;
    return post(js, r);
}

static int jsb_release(void *be, gw_chunk *c, int64_t not_before_ms, gw_done_cb cb, void *ud)
{
    gw_js *js = be;
    gw_js_req *r;

    gw__leased_remove(&js->leased, c);
    r = req_new(js, JS_RELEASE, 0, (void (*)(void))cb, ud);
    if (r != NULL) {
        r->u.release.handle = c->priv.handle;
        r->u.release.not_before = not_before_ms;
    }
    free(c);
    return r == NULL ? APNS_ENOMEM : post(js, r);
}

static int jsb_status(void *be, const char *job_id, gw_status_cb cb, void *ud)
{
    gw_js *js = be;
    gw_js_req *r = req_new(js, JS_STATUS, 1, (void (*)(void))cb, ud);

    if (r == NULL)
        return APNS_ENOMEM;
    snprintf(r->u.status.id, sizeof(r->u.status.id), "%s", job_id);
    return post(js, r);
}

static int hex_token_ok(const char *hex)
{
    size_t n = strlen(hex);

    if (n < APNS_TOKEN_HEX_MIN || n > APNS_TOKEN_HEX_MAX || n % 2 != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f') ||
              (hex[i] >= 'A' && hex[i] <= 'F')))
            return 0;
    return 1;
}

static int dead_req(gw_js_req *r, const char *app, const char *token_hex)
{
    if (!hex_token_ok(token_hex))
        return APNS_EBADTOKEN;
    if (strlen(app) >= 128)
        return APNS_EINVAL;
    for (size_t i = 0; token_hex[i]; i++)
        r->u.dead.hex[i] =
            (char)(token_hex[i] >= 'A' && token_hex[i] <= 'F' ? token_hex[i] - 'A' + 'a'
                                                              : token_hex[i]);
    r->u.dead.app = strdup(app);
    return r->u.dead.app == NULL ? APNS_ENOMEM : 0;
}

static int jsb_dead_add(void *be, const char *app, const char *token_hex, gw_dead_source src,
                        const char *reason, int64_t apns_ts_ms, gw_done_cb cb, void *ud)
{
    gw_js *js = be;
    gw_js_req *r = req_new(js, JS_DEAD_ADD, 1, (void (*)(void))cb, ud);
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
    return post(js, r);
}

static int jsb_dead_list(void *be, const char *app, int64_t since_ms, const char *cursor,
                         size_t limit, gw_dead_list_cb cb, void *ud)
{
    gw_js *js = be;
    unsigned long long after = 0;
    gw_js_req *r;

    if (cursor != NULL && cursor[0] != '\0') {
        char *end;
        after = strtoull(cursor, &end, 10);
        if (end == cursor || *end != '\0' || after == 0)
            return APNS_EINVAL;
    }
    if (strlen(app) >= 128)
        return APNS_EINVAL;
    r = req_new(js, JS_DEAD_LIST, 1, (void (*)(void))cb, ud);
    if (r == NULL || (r->u.dead.app = strdup(app)) == NULL) {
        if (r != NULL)
            req_free(r);
        return APNS_ENOMEM;
    }
    r->u.dead.since = since_ms;
    r->u.dead.after = after;
    r->u.dead.limit = limit;
    return post(js, r);
}

static int jsb_dead_delete(void *be, const char *app, const char *token_hex, gw_count_cb cb,
                           void *ud)
{
    gw_js *js = be;
    gw_js_req *r = req_new(js, JS_DEAD_DELETE, 1, (void (*)(void))cb, ud);
    int rc;

    if (r == NULL)
        return APNS_ENOMEM;
    rc = dead_req(r, app, token_hex);
    if (rc != 0) {
        req_free(r);
        return rc;
    }
    return post(js, r);
}

static int jsb_purge(void *be, size_t max_jobs, gw_count_cb cb, void *ud)
{
    gw_js *js = be;
    gw_js_req *r = req_new(js, JS_PURGE, 1, (void (*)(void))cb, ud);

    (void)max_jobs;
    if (r == NULL)
        return APNS_ENOMEM;
    return post(js, r);
}

static void jsb_stats(void *be, gw_queue_stats *s)
{
    gw_js *js = be;

    s->depth = depth_now(js);
    s->requests = gw_worker_outstanding(js->w) + gw_worker_outstanding(js->lw);
    s->commits = atomic_load(&js->commits);
    s->failures = atomic_load(&js->failures);
    s->leased = js->leased.n;
    s->last_err = atomic_load(&js->last_err);
}

static void gw_js_destroy(gw_js *js)
{
    if (js->box != NULL) {
        pthread_mutex_lock(&js->box->mu);
        js->box->w = NULL;
        pthread_mutex_unlock(&js->box->mu);
    }
    if (js->lw != NULL)
        gw_worker_free(js->lw); /* a long poll ends within poll_ms */
    if (js->w != NULL)
        gw_worker_free(js->w); /* runs what was posted, joins the thread */
    /* The worker is gone: its lists are ours now. Leases end without an
     * ack, as if this node had died: their chunks come back after
     * ack_wait (the dispatcher releases every chunk before a clean stop). */
    gw_js_forget_leases(js);
    gw__leased_free_all(&js->leased);
    gw_js_disconnect(js);
    for (size_t i = 0; js->servers != NULL && i < js->jo.n_servers; i++)
        free(js->servers[i]);
    free(js->servers);
    free(js->servers_text);
    for (size_t i = 0; i < sizeof(js->strings) / sizeof(js->strings[0]); i++)
        free(js->strings[i]);
    free(js->pg);
    free(js->committed);
    pthread_mutex_destroy(&js->pg_mu);
    pthread_cond_destroy(&js->pg_cv);
    pthread_mutex_destroy(&js->lease_mu);
    free(js);
}

static void jsb_free(void *be)
{
    gw_js_destroy(be);
}

static size_t jsb_op_counts(void *be, gw_queue_op_count *v, size_t max)
{
    gw_js *js = be;
    const gw_queue_op_count all[] = {
        {"publish", atomic_load(&js->op_pub)},
        {"ack", atomic_load(&js->op_ack)},
        {"read", atomic_load(&js->op_read)},
        {"fetch", atomic_load(&js->op_fetch)},
    };
    size_t n = sizeof(all) / sizeof(all[0]) < max ? sizeof(all) / sizeof(all[0]) : max;

    memcpy(v, all, n * sizeof(*v));
    return n;
}

static const gw_queue_ops gw_js_ops = {
    .name = "jetstream",
    .submit = jsb_submit,
    .lease = jsb_lease,
    .record = jsb_record,
    .touch = jsb_touch,
    .release = jsb_release,
    .status = jsb_status,
    .dead_add = jsb_dead_add,
    .dead_list = jsb_dead_list,
    .dead_delete = jsb_dead_delete,
    .purge = jsb_purge,
    .stats = jsb_stats,
    .free = jsb_free,
    .token_get = gw_js__token_get,
    .op_counts = jsb_op_counts,
};

static int is_jetstream(const gw_queue *q)
{
    return q != NULL && q->ops == &gw_js_ops;
}

void gw_queue_jetstream_op_stats(gw_queue *q, gw_js_op_stats *s)
{
    gw_js *js;

    memset(s, 0, sizeof(*s));
    if (!is_jetstream(q))
        return;
    js = q->be;
    s->publishes = atomic_load(&js->op_pub);
    s->acks = atomic_load(&js->op_ack);
    s->reads = atomic_load(&js->op_read);
    s->fetches = atomic_load(&js->op_fetch);
}

int gw_js__post_token(gw_js *js, gw_js_req **out, gw_queue_token_cb cb, void *ud)
{
    *out = req_new(js, JS_TOKEN, 1, (void (*)(void))cb, ud);
    return *out == NULL ? APNS_ENOMEM : 0;
}

int gw_js__post(gw_js *js, gw_js_req *r)
{
    return post(js, r);
}

/* ---- open and options ------------------------------------------------------------ */

void gw_queue_jetstream_opts_init(gw_queue_jetstream_opts *jo)
{
    memset(jo, 0, sizeof(*jo));
}

static void apply_defaults(gw_queue_opts *o, gw_queue_jetstream_opts *jo)
{
    if (o->chunk_tokens == 0)
        o->chunk_tokens = 1000;
    if (o->small_job_tokens == 0)
        o->small_job_tokens = 100;
    if (o->max_requests == 0)
        o->max_requests = 10000;
    if (o->retention_ms == 0)
        o->retention_ms = 7LL * 24 * 3600 * 1000;
    if (o->lease_ttl_ms == 0)
        o->lease_ttl_ms = 300000;
    if (jo->replicas == 0)
        jo->replicas = 3;
    if (jo->ack_wait_ms == 0)
        jo->ack_wait_ms = 30000;
    if (jo->op_timeout_ms == 0)
        jo->op_timeout_ms = 5000;
    if (jo->connect_timeout_ms == 0)
        jo->connect_timeout_ms = 10000;
    if (jo->poll_ms == 0)
        jo->poll_ms = 1000;
}

static int prefix_ok(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
            return 0;
    return 1;
}

static int copy_strings(gw_js *js, const gw_queue_jetstream_opts *jo)
{
    const char *in[5] = {jo->creds_file, jo->tls_ca_file, jo->tls_cert_file, jo->tls_key_file,
                         jo->node_name};
    const char **outp[5] = {&js->jo.creds_file, &js->jo.tls_ca_file, &js->jo.tls_cert_file,
                            &js->jo.tls_key_file, &js->jo.node_name};
    size_t text = 0;
    char host[64] = "apnsd", name[128];

    for (int i = 0; i < 5; i++) {
        *outp[i] = NULL;
        if (in[i] == NULL || in[i][0] == '\0')
            continue;
        js->strings[i] = strdup(in[i]);
        if (js->strings[i] == NULL)
            return APNS_ENOMEM;
        *outp[i] = js->strings[i];
    }
    if (js->jo.node_name == NULL) {
        gethostname(host, sizeof(host) - 1);
        snprintf(name, sizeof(name), "apnsd %s.%d", host, (int)getpid());
        js->strings[4] = strdup(name);
        if (js->strings[4] == NULL)
            return APNS_ENOMEM;
        js->jo.node_name = js->strings[4];
    }
    js->servers = calloc(jo->n_servers, sizeof(char *));
    if (js->servers == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < jo->n_servers; i++) {
        js->servers[i] = strdup(jo->servers[i]);
        if (js->servers[i] == NULL)
            return APNS_ENOMEM;
        text += strlen(jo->servers[i]) + 2;
    }
    js->servers_text = calloc(1, text + 1);
    if (js->servers_text == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < jo->n_servers; i++) {
        if (i > 0)
            strcat(js->servers_text, ", ");
        strcat(js->servers_text, jo->servers[i]);
    }
    js->jo.servers = (const char *const *)js->servers;
    return 0;
}

int gw_queue_jetstream_open(gw_queue **out, const gw_queue_opts *o,
                            const gw_queue_jetstream_opts *jo, char *detail, size_t detail_len)
{
    char scratch[256];
    const char *prefix;
    gw_js *js;
    int rc;

    if (detail == NULL || detail_len == 0) {
        detail = scratch;
        detail_len = sizeof(scratch);
    }
    detail[0] = '\0';
    if (out == NULL)
        return APNS_EINVAL;
    *out = NULL;
    if (o == NULL || o->base == NULL || jo == NULL || jo->servers == NULL || jo->n_servers == 0) {
        snprintf(detail, detail_len, "queue jetstream: an event base and servers are required");
        return APNS_EINVAL;
    }
    for (size_t i = 0; i < jo->n_servers; i++)
        if (jo->servers[i] == NULL || jo->servers[i][0] == '\0') {
            snprintf(detail, detail_len, "queue jetstream: server %zu is empty", i + 1);
            return APNS_EINVAL;
        }
    prefix = jo->prefix != NULL && jo->prefix[0] != '\0' ? jo->prefix : "apnsd";
    if (!prefix_ok(prefix) || jo->replicas < 0 || jo->replicas > 5 ||
        (jo->tls_cert_file != NULL) != (jo->tls_key_file != NULL)) {
        snprintf(detail, detail_len,
                 "queue jetstream: bad options (prefix 1..32 of [A-Za-z0-9_-], replicas 1..5, a "
                 "client certificate needs its key)");
        return APNS_EINVAL;
    }
    js = calloc(1, sizeof(*js));
    if (js == NULL)
        return APNS_ENOMEM;
    pthread_mutex_init(&js->pg_mu, NULL);
    pthread_cond_init(&js->pg_cv, NULL);
    pthread_mutex_init(&js->lease_mu, NULL);
    js->o = *o;
    js->jo = *jo;
    apply_defaults(&js->o, &js->jo);
    snprintf(js->prefix, sizeof(js->prefix), "%s", prefix);
    snprintf(js->stream, sizeof(js->stream), "%s_CHUNKS", prefix);
    snprintf(js->consumer, sizeof(js->consumer), "%s_workers", prefix);
    snprintf(js->subj_chunk, sizeof(js->subj_chunk), "%s.chunk", prefix);
    snprintf(js->subj_work, sizeof(js->subj_work), "%s.work", prefix);
    snprintf(js->b_jobs, sizeof(js->b_jobs), "%s_JOBS", prefix);
    snprintf(js->b_out, sizeof(js->b_out), "%s_OUT", prefix);
    snprintf(js->b_dead, sizeof(js->b_dead), "%s_DEAD", prefix);
    snprintf(js->b_tok, sizeof(js->b_tok), "%s_TOKENS", prefix);
    js->n_committed = 4096;
    js->committed = calloc(js->n_committed, sizeof(*js->committed));
    if (js->committed == NULL || copy_strings(js, jo) != 0) {
        gw_js_destroy(js);
        return APNS_ENOMEM;
    }
    if (getrandom(&js->node, sizeof(js->node), 0) != sizeof(js->node))
        js->node = (uint64_t)(uintptr_t)js ^ (uint64_t)gw_js_mono();
    atomic_init(&js->depth_base, 0);
    atomic_init(&js->depth_local, 0);
    atomic_init(&js->depth_reserved, 0);

    rc = gw_js_connect(js, detail, detail_len);
    if (rc == 0) {
        gw_js_refresh_depth(js);
        rc = gw_worker_new(&js->w, o->base, js->o.max_requests, gw_js_batch, gw_js_idle, 0, js);
        if (rc == 0)
            rc = gw_worker_new(&js->lw, o->base, js->o.max_requests, gw_js_lease_batch, NULL, -1,
                               js);
        if (rc != 0)
            snprintf(detail, detail_len, "queue jetstream: cannot start the queue thread");
    }
    if (rc != 0) {
        gw_js_destroy(js);
        return rc;
    }
    pthread_mutex_lock(&js->box->mu);
    js->box->w = js->w;
    pthread_mutex_unlock(&js->box->mu);
    js->q.ops = &gw_js_ops;
    js->q.be = js;
    gw_js_log(js, APNS_LOG_INFO,
              "queue jetstream %s open: stream %s (R%d), ack_wait %lld ms, about %llu unfinished "
              "tokens",
              js->servers_text, js->stream, js->jo.replicas, (long long)js->jo.ack_wait_ms,
              (unsigned long long)depth_now(js));
    *out = &js->q;
    return 0;
}
