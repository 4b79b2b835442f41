/*
 * queue_jetstream.c - the fleet queue backend: NATS JetStream behind the
 * queue's front end (queue.c; internal/queue_backend.h), so many apnsd
 * nodes share one durable queue. This file is the ops table, the batch and
 * the opening; the js_*.c files do the NATS work.
 *
 * Design note
 * -----------
 * What is stored where (P = the prefix, "apnsd" by default):
 *
 *   stream P_CHUNKS     WorkQueue retention, R = replicas (RAFT), file
 *                       storage. One message per CHUNK (the SQLite unit:
 *                       chunk_tokens tokens, 1000 by default) on subject
 *                       P.first.<tokens in it> (a job's first chunk) or
 *                       P.chunk.<tokens in it>, with the job's push fields and
 *                       payload copied in, so a chunk is self-contained and a
 *                       node never reads anything else to send it. Msg-Id
 *                       "<job>.<seq>" makes a resend of a publish idempotent
 *                       (2-minute duplicate window). A 1M-token broadcast is
 *                       ~1000 messages (~33 KB each).
 *   consumer P_workers  a durable pull consumer of P.chunk.* shared by every
 *                       node (P_first: the same for P.first.*, leased first:
 *                       turn order, js_lease.c): explicit ack, ack_wait, no
 *                       server-side MaxDeliver, ack-pending up to 1,000,000
 *                       (chunks delayed by a nak wait there). A fetch hands
 *                       a message to one node at a time: that is the LEASE.
 *   KV P_JOBS           "<job>" -> the job header (app, apns-id base, token
 *                       count, chunk count and size, created, send_at; the
 *                       tokens themselves for small jobs, for per-token
 *                       status). Its existence is the job's COMMIT record.
 *   KV P_OUT            "<job>.<seq>" -> the chunk's OUTCOME RECORD: one state
 *                       byte and one attempt count per token, retry-at times,
 *                       rejection details, hand-back count. The truth about a
 *                       chunk's tokens; written with compare-and-set.
 *   KV P_DEAD           "<app>.<token hex>" -> the dead-token registry entry.
 *   KV P_CHANNELS       "<app>.<env>.<channel id hex>" -> a broadcast channel record
 *                       (js_channel.c).
 *   KV P_TOKENS         "<team>.<key id>" -> the fleet's provider token
 *                       (js_token.c).
 *   KV P_IDEM           idempotency-key reservations (TTL idempotency_ttl, at
 *                       most idempotency_max, oldest dropped); P_JOBS also
 *                       holds the commit records of requests of several jobs
 *                       or with a key, written last ("g.*", "i.*"; js_idem.c).
 *   KV P_CANCEL         "<job>" -> the job's cancel mark (js_cancel.c); "p.<pack>"
 *                       -> a pack's flag: one of its jobs has a mark.
 *   PACKS               the small jobs of one request (each at most chunk_tokens
 *                       / 2 tokens, one app and send_at: queue_pack.c) share ONE
 *                       chunk message ("AJC4": each job's own chunk inside,
 *                       without its tokens, on P.first.<tokens>, Msg-Id
 *                       "<pack>.0"), ONE header in P_JOBS (key "<pack>" = member
 *                       0's id, "AJK1": each job's header inside, WITH its
 *                       tokens: the lease reads the header for the commit
 *                       anyway, a status for the per-token outcomes, and the
 *                       tokens cross RAFT once) and ONE outcome record "<pack>.0" whose
 *                       tokens are the jobs' in order. A job's id carries its
 *                       pack and index, so its status reads that header and its
 *                       part of that record. A lease hands each job out as a
 *                       gw_chunk of its own (gw_js_member) sharing the lease;
 *                       the message is acked or nak'd when the last of them is
 *                       released, and a job whose tokens are all final is not
 *                       handed out again. The header is the commit record of
 *                       a request that is one pack (no group record); an
 *                       orphan pack's header is created aborted ("AJK1", no
 *                       jobs). Ten 100-token jobs: 2 publishes at submit
 *                       instead of 21, one record and one ack.
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
 * the header appears; after a grace time (gw_js_commit_grace_ms: 3 x (op_timeout + 2 s) + 5 s of
 * stream age) it creates the header itself as ABORTED with the same compare-and-set and drops the
 * job's chunks. Exactly one of the submitter's commit and a node's abort wins, so a job whose
 * submit failed is never half sent, and a job that was acknowledged is never dropped.
 *
 * Lease = fetch from the shared pull consumers (first chunks, then later
 * ones: js_lease.c), on a thread of its own (an idle node's fetch waits up
 * to poll_ms / 4 on the first chunks' consumer: a long poll, so new work
 * reaches an idle node at once; next_at is always "now": lease again). For each message: the job
 * must be committed (a per-node cache of committed job ids: one KV read per job per node); a
 * redelivered message (num_delivered > 1) also reads its outcome record, so
 * tokens already answered are not sent again; a chunk whose record says
 * every token is final is acked at once. A first delivery skips that read
 * (no one can have written a record before the first delivery), unless
 * the chunk waited 500 ms or more since it was stored: nats-server 2.9 can
 * hand out a redelivery as a first one (js_lease.c, JS_FIRST_READ_MS).
 *
 * Record. The worker applies every outcome of a batch to its copy of the
 * leased chunks' records (the front end's rules: a final state never changes) and
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
 * record: the token is sent again (same apns-id), never lost. A chunk
 * acked as finished on such a record would be lost from the books (its
 * status in_flight for good), so a holder whose lease may have lapsed
 * reads its record back before that ack, and a node handed a lapsed
 * lease writes nothing while it waits for the old holder (js_lease.c,
 * Lapsed leases).
 *
 * Errors: js_conn.c. Lost connections, timeouts, no quorum: GW_QUEUE_EIO
 * (503). The client library reconnects forever; the queue serves again as
 * soon as a quorum of the cluster is back. A submit whose answer was an
 * error while the connection was failing MAY still be delivered (its
 * publishes can be flushed after the reconnect): a 503 means "not known to
 * be stored", and an app that retries it should pass the same apns-id.
 *
 * Threads: the front end's two (store_worker.c): this backend declares a
 * lease thread of its own (lease_batch). The front end builds requests on
 * the loop thread and posts them; the queue thread runs submits, records,
 * releases, touches, status and registry requests in batches with blocking
 * NATS calls (each bounded by op_timeout) and keeps leases alive between
 * batches (idle); the lease thread runs fetches (long polls) so they never
 * hold up the rest. Leased chunks are linked by the lease thread and
 * unlinked by the queue thread under lease_mu. Completions run on the loop
 * thread. The libnats threads only file publish acknowledgments
 * (js_conn.c) and turn P.work notices into gw_queue__notice (on_work on
 * the loop).
 *
 * Abilities declared in the ops table: a token store (js_token.c), leases
 * that expire (ack_wait: touch is an in-progress ack, a refused release is
 * left to expire), operation counters, and the limits of the message
 * formats (app names up to 127 bytes, topics and collapse ids up to 65000,
 * 1024 chunks per fetch).
 */
#include "js_int.h"

#include "rng.h" /* common/ */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the batch (queue thread) ------------------------------------------------ */

/* The requests that run one by one, in posting order, after the others,
 * each once the connection is checked ("... during WHAT"). */
static const struct {
    int (*run)(gw_js *, gw_queue_req *);
    const char *what;
} run_alone[] = {
    [GW_QUEUE_REQ_STATUS] = {gw_js_op_status, "status"},
    [GW_QUEUE_REQ_DEAD_ADD] = {gw_js_op_dead_add, "dead-token add"},
    [GW_QUEUE_REQ_DEAD_LIST] = {gw_js_op_dead_list, "dead-token list"},
    [GW_QUEUE_REQ_DEAD_DELETE] = {gw_js_op_dead_delete, "dead-token delete"},
    [GW_QUEUE_REQ_TOKEN] = {gw_js_op_token, "provider token"},
    [GW_QUEUE_REQ_CHANNEL] = {gw_js_op_channel, "channel records"},
    [GW_QUEUE_REQ_OUTBOX] = {gw_js_op_outbox, "webhook outbox"},
    [GW_QUEUE_REQ_IDEM] = {gw_js_op_idem, "idempotency record"},
    [GW_QUEUE_REQ_CANCEL] = {gw_js_op_cancel, "cancel"},
};

/* An idempotency answer posted in a group: the group's commit record,
 * written with its jobs (js_idem.c). */
static int group_answer(const gw_queue_req *r)
{
    return r->kind == GW_QUEUE_REQ_IDEM && r->group != 0 && r->u.idem.finish;
}

static void js_batch(gw_req *head, void *be)
{
    gw_js *js = be;
    gw_queue_req **sub = NULL, **out = NULL;
    size_t n_sub = 0, n_out = 0, n = 0;
    int storage_err = 0, did = 0, wrote = 0;

    for (gw_req *g = head; g != NULL; g = g->next)
        n++;
    sub = malloc(2 * n * sizeof(*sub));
    if (sub == NULL) {
        for (gw_req *g = head; g != NULL; g = g->next)
            gw_queue__fail((gw_queue_req *)g, APNS_ENOMEM, "out of memory in the queue thread");
        return;
    }
    out = sub + n;
    for (gw_req *g = head; g != NULL; g = g->next) {
        gw_queue_req *r = (gw_queue_req *)g;
        if (r->kind == GW_QUEUE_REQ_SUBMIT || group_answer(r))
            sub[n_sub++] = r;
        else if (r->kind == GW_QUEUE_REQ_RECORD || r->kind == GW_QUEUE_REQ_RELEASE)
            out[n_out++] = r;
    }
    /* Touches first (one posted before a release in this batch must not
     * run after it), then outcomes (a status posted after a record sees
     * it), then submits, then the rest in posting order. */
    for (gw_req *g = head; g != NULL; g = g->next)
        if (((gw_queue_req *)g)->kind == GW_QUEUE_REQ_TOUCH)
            gw_js_op_touch(js, (gw_queue_req *)g);
    if (n_out > 0) {
        gw_js_op_outcomes(js, out, n_out);
        did = 1;
    }
    if (n_sub > 0) {
        gw_js_op_submit_batch(js, sub, n_sub);
        did = 1;
    }
    for (gw_req *g = head; g != NULL; g = g->next) {
        gw_queue_req *r = (gw_queue_req *)g;

        if ((size_t)r->kind < sizeof(run_alone) / sizeof(run_alone[0]) && run_alone[r->kind].run &&
            !group_answer(r)) {
            r->err = gw_js_check_conn(js, run_alone[r->kind].what, r->detail, sizeof(r->detail));
            if (r->err == 0)
                r->err = run_alone[r->kind].run(js, r);
            did = 1;
        } else if (r->kind == GW_QUEUE_REQ_PURGE) {
            r->u.purge.count = 0; /* the servers expire entries (bucket TTL) */
        } else if (r->kind == GW_QUEUE_REQ_WAKE) {
            /* Held-back hand-backs come back at once (a delayed nak cannot be
             * called back: those wait for their time). */
            r->u.wake.count = gw_js_wake_held(js, r->u.wake.app, r->u.wake.until);
            r->work = r->u.wake.count > 0 ? JS_WORK_ANY : 0;
        }
    }
    for (gw_req *g = head; g != NULL; g = g->next) {
        const gw_queue_req *r = (const gw_queue_req *)g;
        if (gw_queue_err_unavailable(r->err))
            storage_err = r->err;
        else if (r->err == 0 && gw_queue__req_writes(r))
            wrote = 1;
    }
    gw_queue__result(js->q, did && storage_err == 0, wrote, storage_err);
    free(sub); /* and out */
}

/* The lease thread: fetches are long polls (up to poll_ms when nothing is
 * available), so they never hold up submits and outcomes. */
static void js_lease_batch(gw_req *head, void *be)
{
    gw_js *js = be;

    for (gw_req *g = head; g != NULL; g = g->next) {
        gw_queue_req *r = (gw_queue_req *)g;
        r->err = gw_js_op_lease(js, r);
        if (gw_queue_err_unavailable(r->err))
            gw_queue__result(js->q, 0, 0, r->err);
    }
}

/* ---- the ops table ------------------------------------------------------------- */

/* The stream sequence of the last entry of the previous page. */
static int js_dead_cursor(const char *cursor, int64_t after[2])
{
    unsigned long long seq = 0;

    if (cursor != NULL && cursor[0] != '\0') {
        char *end;
        seq = strtoull(cursor, &end, 10);
        if (end == cursor || *end != '\0' || seq == 0)
            return APNS_EINVAL;
    }
    after[0] = (int64_t)seq;
    after[1] = 0;
    return 0;
}

static size_t js_op_counts(void *be, gw_queue_op_count *v, size_t max)
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

/* Where P.work notices go: to q (on_work), or nowhere (NULL). */
static void notices_to(gw_js *js, gw_queue *q)
{
    if (js->box == NULL)
        return;
    pthread_mutex_lock(&js->box->mu);
    js->box->q = q;
    pthread_mutex_unlock(&js->box->mu);
}

static void js_stop(void *be)
{
    notices_to(be, NULL);
}

static void js_free(void *be)
{
    gw_js *js = be;

    /* The storage threads are gone: the lease lists are ours now. Leases
     * end without an ack, as if this node had died: their chunks come back
     * after ack_wait (the dispatcher releases every chunk before a clean
     * stop). */
    gw_js_forget_leases(js);
    gw_js_held_forget(js);
    gw_js_disconnect(js);
    free(js->servers);
    free(js->strings);
    free(js->pg);
    free(js->committed);
    gw_js_idem_free(js);
    gw_js_cancel_free(js);
    pthread_mutex_destroy(&js->pg_mu);
    pthread_cond_destroy(&js->pg_cv);
    pthread_mutex_destroy(&js->lease_mu);
    free(js);
}

/* ---- open and options ------------------------------------------------------------ */

void gw_queue_jetstream_opts_init(gw_queue_jetstream_opts *jo)
{
    memset(jo, 0, sizeof(*jo));
}

static void apply_defaults(gw_queue_jetstream_opts *jo)
{
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

static const char *prefix_of(const gw_queue_jetstream_opts *jo)
{
    return jo->prefix != NULL && jo->prefix[0] != '\0' ? jo->prefix : "apnsd";
}

static int js_check(const gw_queue_opts *o, const void *bo, char *detail, size_t detail_len)
{
    const gw_queue_jetstream_opts *jo = bo;

    if (o == NULL || o->base == NULL || jo == NULL || jo->servers == NULL || jo->n_servers == 0) {
        snprintf(detail, detail_len, "queue jetstream: an event base and servers are required");
        return APNS_EINVAL;
    }
    for (size_t i = 0; i < jo->n_servers; i++)
        if (jo->servers[i] == NULL || jo->servers[i][0] == '\0') {
            snprintf(detail, detail_len, "queue jetstream: server %zu is empty", i + 1);
            return APNS_EINVAL;
        }
    if (!gw_queue__name_ok(prefix_of(jo), 32) || jo->replicas < 0 || jo->replicas > 5 ||
        (jo->tls_cert_file != NULL) != (jo->tls_key_file != NULL)) {
        snprintf(detail, detail_len,
                 "queue jetstream: bad options (prefix 1..32 of [A-Za-z0-9_-], replicas 1..5, a "
                 "client certificate needs its key)");
        return APNS_EINVAL;
    }
    return 0;
}

/* Copies jo's strings ("" as NULL), the servers, their list for details
 * and the default node name into one block (js->strings) for js->jo. */
static int copy_strings(gw_js *js, const gw_queue_jetstream_opts *jo)
{
    const char **str[5] = {&js->jo.creds_file, &js->jo.tls_ca_file, &js->jo.tls_cert_file,
                           &js->jo.tls_key_file, &js->jo.node_name};
    char host[64] = "apnsd", name[128];
    size_t size = 1;
    char *p;

    if (jo->node_name == NULL || jo->node_name[0] == '\0') {
        gethostname(host, sizeof(host) - 1);
        snprintf(name, sizeof(name), "apnsd %s.%d", host, (int)getpid());
        js->jo.node_name = name;
    }
    for (int i = 0; i < 5; i++)
        size += *str[i] != NULL ? strlen(*str[i]) + 1 : 0;
    for (size_t i = 0; i < jo->n_servers; i++)
        size += 2 * strlen(jo->servers[i]) + 3; /* the copy, and "s, " in the list */
    js->servers = calloc(jo->n_servers, sizeof(char *));
    js->strings = p = malloc(size);
    if (js->servers == NULL || p == NULL)
        return APNS_ENOMEM;
    for (int i = 0; i < 5; i++)
        if (*str[i] != NULL)
            *str[i] = (*str[i])[0] ? gw_queue__copy_str(&p, *str[i], strlen(*str[i])) : NULL;
    for (size_t i = 0; i < jo->n_servers; i++)
        js->servers[i] = gw_queue__copy_str(&p, jo->servers[i], strlen(jo->servers[i]));
    js->servers_text = p;
    for (size_t i = 0; i < jo->n_servers; i++)
        p += sprintf(p, "%s%s", i > 0 ? ", " : "", jo->servers[i]);
    js->jo.servers = js->servers;
    return 0;
}

static int js_open(gw_queue *q, const void *bo, char *detail, size_t detail_len)
{
    static const char *const bucket_names[JS_BUCKETS] = {"JOBS",   "OUT",      "DEAD",
                                                         "TOKENS", "CHANNELS", "CANCEL"};
    const gw_queue_jetstream_opts *jo = bo;
    const char *prefix = prefix_of(jo);
    gw_js *js = calloc(1, sizeof(*js));
    int rc;

    if (js == NULL)
        return APNS_ENOMEM;
    pthread_mutex_init(&js->pg_mu, NULL);
    pthread_cond_init(&js->pg_cv, NULL);
    pthread_mutex_init(&js->lease_mu, NULL);
    common_list_init(&js->leases);
    common_list_init(&js->waiting);
    common_list_init(&js->held_back);
    q->be = js;
    js->q = q;
    js->jo = *jo;
    apply_defaults(&js->jo);
    snprintf(js->prefix, sizeof(js->prefix), "%s", prefix);
    snprintf(js->stream, sizeof(js->stream), "%s_CHUNKS", prefix);
    snprintf(js->consumer, sizeof(js->consumer), "%s_workers", prefix);
    snprintf(js->subj_chunk, sizeof(js->subj_chunk), "%s.chunk", prefix);
    snprintf(js->consumer_first, sizeof(js->consumer_first), "%s_first", prefix);
    snprintf(js->subj_first, sizeof(js->subj_first), "%s.first", prefix);
    snprintf(js->subj_work, sizeof(js->subj_work), "%s.work", prefix);
    for (int i = 0; i < JS_BUCKETS; i++)
        snprintf(js->bucket[i], sizeof(js->bucket[i]), "%s_%s", prefix, bucket_names[i]);
    js->n_committed = 4096;
    js->committed = calloc(js->n_committed, sizeof(*js->committed));
    if (js->committed == NULL || copy_strings(js, jo) != 0 || gw_js_idem_init(js) != 0 ||
        gw_js_cancel_init(js) != 0)
        return APNS_ENOMEM;
    js->node = common_rng_seed();
    q->first_idle_ms = 0; /* heartbeats and the depth from the start */
    rc = gw_js_connect(js, detail, detail_len);
    if (rc == 0) {
        /* Small jobs of one request share a message (queue_pack.c), in half
         * of what the servers take: room for the pack's fixed fields. */
        int64_t mp = natsConnection_GetMaxPayload(js->nc);
        q->pack_bytes = mp > 0 ? (size_t)mp / 2 : 0;
        gw_js_refresh_depth(js);
    }
    return rc;
}

static void js_opened(void *be, int err, char *detail, size_t detail_len)
{
    gw_js *js = be;

    if (err != 0) {
        snprintf(detail, detail_len, "queue jetstream: cannot start the queue thread");
        return;
    }
    notices_to(js, js->q); /* from other nodes, to on_work now */
    gw_queue__log(js->q, APNS_LOG_INFO,
                  "queue jetstream %s open: stream %s (R%d), ack_wait %lld ms, about %llu "
                  "unfinished tokens",
                  js->servers_text, js->stream, js->jo.replicas, (long long)js->jo.ack_wait_ms,
                  (unsigned long long)gw_queue_depth(js->q));
}

static const gw_queue_ops gw_js_ops = {
    .name = "jetstream",
    .check = js_check,
    .open = js_open,
    .opened = js_opened,
    .stop = js_stop,
    .free = js_free,
    .batch = js_batch,
    .lease_batch = js_lease_batch,
    .idle = gw_js_idle,
    .notify_work = gw_js_notify_work,
    .dead_cursor = js_dead_cursor,
    .op_counts = js_op_counts,
    .token_store = 1,
    .idempotency = 1,
    .leases_expire = 1,
    .lease_max = 1024, /* one fetch */
    .app_max = 127,
    .field_max = 65000,
};

int gw_queue_jetstream_open(gw_queue **out, const gw_queue_opts *o,
                            const gw_queue_jetstream_opts *jo, char *detail, size_t detail_len)
{
    return gw_queue__open(out, &gw_js_ops, o, jo, detail, detail_len);
}
