/*
 * js_lease.c - leasing chunks (pull fetch), recording outcomes (outcome
 * records with compare-and-set), handing chunks back (ack / nak with a
 * delay), keeping leases alive (in-progress acks), and the depth estimate.
 * Leasing runs on the lease thread, the rest on the queue thread; the
 * design note is in queue_jetstream.c.
 *
 * Lease, per fetched message:
 *   1. decode the chunk; garbage is terminated (never redelivered);
 *   2. is its job committed? (cache, else a KV read); not yet: held on the
 *      waiting list with in-progress acks and looked at again by the next
 *      lease; aborted (or never committed within the grace time, which
 *      this node then settles with a compare-and-set): acked and dropped;
 *   3. a redelivery reads the outcome record (from the stream leader: a
 *      direct get may be answered by a replica that lags), and so does a
 *      first delivery JS_FIRST_READ_MS after the chunk was stored; all
 *      final: acked;
 *   4. unclean deliveries >= max_deliveries: parked (open tokens FAILED);
 *   5. not due (future send_at, or only retry tokens still waiting):
 *      deferred with a nak delay (hand-back count + 1 stored first);
 *   6. otherwise handed to the dispatcher as a gw_chunk.
 *
 * Lapsed leases. A chunk delivered again after a delivery that did not
 * end in a hand-back (delivered - 1 > rec.rel) had a holder that died,
 * hung or lost its lease: every server down for longer than ack_wait, or
 * the consumer's leader killed. A live holder may still keep answers APNs
 * gave it that it could not record yet; the dispatcher records them again
 * within its backoff (<= 2 s) once writes work (dispatch_record.c). A node
 * that sent the chunk's open tokens first would send those tokens twice.
 * So the node handed such a chunk HOLDS it once (step 5b) for
 * JS_PUT_OFF_DELAY_MS: on the waiting list, kept alive with in-progress
 * acks as leases run, remembered by stream sequence in a ring of
 * JS_PUT_OFF_MAX; then it reads the record again (from the leader) and
 * sends what is still open. A chunk of a node that really died waits
 * JS_PUT_OFF_DELAY_MS more than ack_wait. (A held chunk whose own lease
 * lapsed, its node having stopped leasing for ack_wait, is forgotten, not
 * sent: another node has it by then.)
 *   The hold writes nothing. It used to hand the chunk back with a nak
 * and store its hand-back count first; in a cluster nats-server 2.9 lets
 * two concurrent compare-and-set writes of one key both pass (see
 * queue_jetstream.c), and that count, written from the record as it was
 * before the live holder's last write, landed after it: the holder's
 * final answers were overwritten with open tokens, the holder acked the
 * message, and the job's status stayed in_flight for good (seen in about
 * 1 of 25 runs of it_gw_fleet_nats_down). For the same reason a holder
 * whose lease may have lapsed (lapsed) reads its record back from the
 * leader before it acks a finished chunk, and writes it again, merged, if
 * another node wrote after it (release_finished).
 */
#include "js_int.h"

#include "apns/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A chunk first delivered this long after it was stored reads its record
 * anyway (take, step 3): half the default first retry backoff, the
 * shortest delay after which a chunk handed back with answers comes back
 * (a retry; a pause or a lapsed lease take longer). nats-server 2.9 hands
 * out a message whose delivery failed as new (nats-io/nats-server#5305,
 * fixed in 2.10): a retried chunk came back with NumDelivered 1, its
 * record unread, its attempts at 0 (the contract test channel_publish,
 * 2 runs in 40). Costs one read per chunk only while chunks wait that long
 * for a node (a broadcast of 200 chunks: 128 reads more, +7% operations). */
#define JS_FIRST_READ_MS 500

static int64_t real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_js_lease_free(gw_js_lease *l)
{
    common_list_remove(&l->node);
    natsMsg_Destroy(l->msg);
    gw_js_rec_cleanup(&l->rec);
    if (l->mem != &l->one)
        free(l->mem);
    free(l);
}

enum { MSG_ACK, MSG_TERM, MSG_NAK, MSG_WPI };

/* Acks m, terminates it (never redelivered), naks it (redelivered after
 * delay_ms; <= 0 at once) or marks it in progress (MSG_WPI: the ack_wait
 * starts again): one counted ack operation. */
static natsStatus msg_ack(gw_js *js, natsMsg *m, int how, int64_t delay_ms)
{
    atomic_fetch_add(&js->op_ack, 1);
    if (how == MSG_ACK)
        return natsMsg_Ack(m, NULL);
    if (how == MSG_TERM)
        return natsMsg_Term(m, NULL);
    if (how == MSG_WPI)
        return natsMsg_InProgress(m, NULL);
    return delay_ms > 0 ? natsMsg_NakWithDelay(m, delay_ms, NULL) : natsMsg_Nak(m, NULL);
}

/* ---- committed jobs ------------------------------------------------------ */

static int cache_has(gw_js *js, const char *id)
{
    for (size_t i = 0; i < js->n_committed; i++)
        if (js->committed[i][0] != '\0' && memcmp(js->committed[i], id, GW_JOB_ID_LEN) == 0)
            return 1;
    return 0;
}

static void cache_add(gw_js *js, const char *id)
{
    memcpy(js->committed[js->committed_pos], id, GW_JOB_ID_LEN + 1);
    js->committed_pos = (js->committed_pos + 1) % js->n_committed;
}

/* 1 committed, 0 not yet (wait), -1 aborted, or a negative error code
 * below -1 (detail written). c: the message's job, or a pack's first job
 * (pack: its id is the pack's, and the key of the pack's header). */
static int job_committed(gw_js *js, const gw_js_chunk_msg *c, int pack, int64_t stored_ms,
                         uint8_t **hdr, size_t *hdr_len, char *detail, size_t dlen)
{
    if (c->group != NULL) /* a request's commit record decides (js_idem.c) */
        return gw_js_group_committed(js, c, stored_ms, detail, dlen);
    for (int attempt = 0; attempt < 3; attempt++) {
        uint8_t *val = NULL, *enc = NULL;
        size_t len = 0, elen = 0;
        int found = 0, conflict = 0, rc;
        gw_js_job j;

        if (cache_has(js, c->job_id))
            return 1;
        rc = gw_js_kv_get(js, js->kv[JS_JOBS], c->job_id, &val, &len, NULL, &found, "lease (job)",
                          detail, dlen);
        if (rc != 0)
            return rc;
        if (found) {
            int state;
            if (len > 4 && memcmp(val, JS_PACKHDR_MAGIC, 4) == 0) { /* a pack's header */
                state = val[4];
                if (pack && state == JS_JOB_COMMITTED && hdr != NULL) {
                    *hdr = val; /* its jobs' tokens: the caller's */
                    *hdr_len = len;
                    val = NULL;
                }
            } else {
                state = gw_js_job_decode(&j, val, len) == 0 ? j.state : JS_JOB_COMMITTED;
                gw_js_job_cleanup(&j);
            }
            free(val);
            if (state == JS_JOB_ABORTED) {
                if (pack) /* a request's stored chunks, as a commit record's (js_idem.c) */
                    atomic_fetch_add(&js->q->orphans, 1);
                return -1;
            }
            cache_add(js, c->job_id);
            return 1;
        }
        /* No header: the submit is still running, or it failed. */
        if (real_ms() - stored_ms < gw_js_commit_grace_ms(js))
            return 0;
        memset(&j, 0, sizeof(j));
        j.state = JS_JOB_ABORTED;
        memcpy(j.id, c->job_id, GW_JOB_ID_LEN + 1);
        memcpy(j.apns_id, c->apns_id, GW_JOB_ID_LEN + 1);
        snprintf(j.app, sizeof(j.app), "%.*s", (int)c->app_len, c->app);
        j.n = c->job_tokens;
        j.n_chunks = c->n_chunks;
        j.created = c->created;
        if ((pack ? gw_js_packhdr_encode(JS_JOB_ABORTED, NULL, 0, &enc, &elen)
                  : gw_js_job_encode(&j, &enc, &elen)) != 0)
            return APNS_ENOMEM;
        rc = gw_js_kv_cas(js, js->bucket[JS_JOBS], c->job_id, enc, elen, 0, 0, NULL, &conflict,
                          "lease (abort)", detail, dlen);
        free(enc);
        if (rc != 0)
            return rc;
        if (!conflict) {
            gw_queue__log(js->q, APNS_LOG_WARN,
                          "queue jetstream: %s %s was never committed (its submit failed); its "
                          "chunks are dropped",
                          pack ? "pack" : "job", c->job_id);
            if (pack)
                atomic_fetch_add(&js->q->orphans, 1);
            return -1;
        }
        /* The submitter committed (or someone aborted) meanwhile: read again. */
    }
    return 0;
}

/* ---- building a chunk -------------------------------------------------------- */

/* The gw_chunk of message (or pack member) m, whose tokens are rec's from
 * off on. */
static gw_chunk *build_chunk(const gw_js_chunk_msg *m, const gw_js_rec *rec, uint32_t off)
{
    gw_chunk *ch = gw_queue__chunk_new(m);

    if (ch == NULL)
        return NULL;
    memcpy(ch->state, rec->state + off, m->n);
    memcpy(ch->attempts, rec->attempts + off, m->n);
    memcpy(ch->retry_at_ms, rec->retry_at + off, m->n * sizeof(int64_t));
    return ch;
}

/* Hands out l's members with open tokens (every member of a chunk
 * message) as gw_chunks appended to r's lease (grown past its max for a
 * pack: a pack holds at most chunk_tokens tokens, as one chunk does), and
 * links l to the leases. 0 or APNS_ENOMEM (nothing handed out). */
static int hand_out(gw_js *js, gw_js_lease *l, const gw_js_chunk_msg *v, gw_queue_req *r)
{
    size_t n0 = r->u.lease.n, want = n0 + l->n_mem;

    if (want > r->u.lease.max) { /* max stays: the room for more messages */
        gw_chunk **c = realloc(r->u.lease.chunks, want * sizeof(*c));
        if (c == NULL)
            return APNS_ENOMEM;
        r->u.lease.chunks = c;
    }
    for (uint32_t i = 0; i < l->n_mem; i++) {
        gw_js_member *mb = &l->mem[i];
        gw_chunk *ch;

        if (l->pack && !gw_js_rec_open_in(&l->rec, mb->off, mb->n))
            continue; /* answered (a redelivery) or cancelled */
        ch = build_chunk(&v[i], &l->rec, mb->off);
        if (ch == NULL) {
            while (r->u.lease.n > n0)
                free(r->u.lease.chunks[--r->u.lease.n]);
            for (uint32_t k = 0; k < l->n_mem; k++)
                l->mem[k].out = 0;
            l->n_out = 0;
            return APNS_ENOMEM;
        }
        ch->priv.handle = (uint64_t)(uintptr_t)mb;
        mb->out = 1;
        l->n_out++;
        r->u.lease.chunks[r->u.lease.n++] = ch;
    }
    js->lease_msgs++;
    pthread_mutex_lock(&js->lease_mu);
    common_list_push_back(&js->leases, &l->node);
    pthread_mutex_unlock(&js->lease_mu);
    return 0;
}

/* ---- storing records ------------------------------------------------------------ */

/* Writes l's record with a compare-and-set on its revision (synchronously:
 * the lease thread has no publish group). When the revision moved (another
 * writer holds the chunk too: a lease that outlived ack_wait) it reads
 * theirs, merges (then calls merged, if any, to redo the caller's change
 * on the merged record) and writes again until the compare-and-set holds.
 * read_first: a write already met a moved revision. */
int gw_js_rec_store(gw_js *js, gw_js_lease *l, int read_first, gw_js_rec_merged_cb merged, void *ud,
                    char *detail, size_t dlen)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        const char *what = attempt > 0 || read_first ? "record outcomes" : "lease (record)";
        uint8_t *val = NULL, *buf = NULL;
        size_t len = 0, blen = 0;
        uint64_t new_rev = 0;
        int found = 0, conflict = 0, rc;

        if (attempt > 0 || read_first) {
            rc = gw_js_kv_get_leader(js, js->bucket[JS_OUT], l->key, &val, &len, &l->rev, &found,
                                     what, detail, dlen);
            if (rc != 0)
                return rc;
        }
        if (found) {
            gw_js_rec theirs;
            int drc = gw_js_rec_decode(&theirs, val, len);
            if (drc == 0) {
                gw_js_rec_merge(&l->rec, &theirs);
                if (merged != NULL)
                    merged(l, &theirs, ud);
                gw_js_rec_cleanup(&theirs);
            } else if (drc == GW_JS_ENEWER) { /* a newer node's record: not overwritten */
                snprintf(detail, dlen,
                         "queue jetstream: record %s has format version %d; this apnsd "
                         "(" APNS_VERSION ") reads versions up to %d: upgrade this node",
                         l->key, gw_js_format_version(val, len), JS_REC_FORMAT);
                free(val);
                return GW_QUEUE_ESTORE;
            }
            free(val);
        }
        if (gw_js_rec_encode(&l->rec, &buf, &blen) != 0)
            return APNS_ENOMEM;
        rc = gw_js_kv_cas(js, js->bucket[JS_OUT], l->key, buf, blen, l->rev, 0, &new_rev, &conflict,
                          what, detail, dlen);
        free(buf);
        if (rc != 0)
            return rc;
        if (!conflict) {
            l->rev = new_rev;
            l->dirty = 0;
            return 0;
        }
    }
    snprintf(detail, dlen, "queue jetstream %s: outcome record %s keeps changing under us",
             js->servers_text, l->key);
    return GW_QUEUE_ESTORE;
}

#define OOM_RECORDING "out of memory while recording outcomes"

/* Writes the records of leases[0..n) (pipelined) and settles conflicts;
 * a failure stays on its lease (err, detail). */
static void store_records(gw_js *js, gw_js_lease **v, size_t n)
{
    long *slot = calloc(n ? n : 1, sizeof(long));

    gw_js_pg_begin(js);
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        char subj[160];

        if (slot == NULL || gw_js_rec_encode(&v[i]->rec, &buf, &len) != 0) {
            v[i]->err = APNS_ENOMEM;
            snprintf(v[i]->detail, sizeof(v[i]->detail), OOM_RECORDING);
            continue;
        }
        snprintf(subj, sizeof(subj), "$KV.%s.%s", js->bucket[JS_OUT], v[i]->key);
        slot[i] = gw_js_pg_add(js, subj, buf, len, NULL, v[i]->rev ? v[i]->rev : JS_EXPECT_NONE);
        free(buf);
    }
    gw_js_pg_wait(js);
    for (size_t i = 0; i < n; i++) {
        gw_js_lease *l = v[i];
        const gw_js_pub *p;

        if (l->err != 0)
            continue;
        if (slot[i] < 0) {
            l->err = (int)slot[i];
            gw_js_error(js, NATS_ERR, 0, NULL, "record outcomes", l->detail, sizeof(l->detail));
            continue;
        }
        p = gw_js_pg_get(js, (size_t)slot[i]);
        if (p->st == NATS_OK) {
            l->rev = p->seq;
            l->dirty = 0;
        } else if (p->code == JSStreamWrongLastSequenceErr) {
            l->err = gw_js_rec_store(js, l, 1, NULL, NULL, l->detail, sizeof(l->detail));
        } else {
            l->err = gw_js_error(js, p->st, p->code, p->text, "record outcomes", l->detail,
                                 sizeof(l->detail));
        }
    }
    free(slot);
}

/* ---- lease ------------------------------------------------------------------------ */

static uint64_t rec_open(const gw_js_rec *r, int64_t *min_retry, uint64_t *pending)
{
    uint64_t c[4], retry, open;
    int64_t mr;

    gw_js_rec_counts(r, c, &retry, &open, &mr);
    if (min_retry != NULL)
        *min_retry = mr;
    if (pending != NULL)
        *pending = open - retry;
    return open;
}

/* Stores rec with one more hand-back and naks the message with a delay
 * (the nak stands even if the count was not stored). */
static void defer(gw_js *js, gw_js_lease *l, int64_t delay_ms, char *detail, size_t dlen)
{
    l->rec.rel++;
    l->rec.held_at = 0;
    gw_js_rec_store(js, l, 0, NULL, NULL, detail, dlen);
    msg_ack(js, l->msg, MSG_NAK, delay_ms);
}

static void park(gw_js *js, gw_js_lease *l, uint64_t unclean)
{
    char d[1][384] = {""};
    int err;
    uint32_t parked = 0;
    int64_t now = gw_queue__now(js->q);

    for (uint32_t i = 0; i < l->rec.n; i++)
        if (gw_js_rec_apply(&l->rec, i, GW_TOKEN_FAILED, 0, NULL, 0, 0))
            parked++;
    l->rec.done_ms = now;
    err = gw_js_rec_store(js, l, 0, NULL, NULL, d[0], sizeof(d[0]));
    msg_ack(js, l->msg, MSG_TERM, 0);
    gw_queue__depth_add(js->q, -(int64_t)parked);
    gw_queue__log(js->q, APNS_LOG_ERROR,
                  "queue jetstream: chunk %s was delivered %llu times without being handed back "
                  "(max_deliveries %u): parked, %u open tokens recorded failed%s%s",
                  l->key, (unsigned long long)unclean, js->jo.max_deliveries, parked,
                  err ? ": " : "", err ? d[0] : "");
}

/* 1 when this node puts the chunk at stream sequence sseq off (see
 * Lapsed leases above): the first time it sees it. Lease thread. */
static int put_off_once(gw_js *js, uint64_t sseq)
{
    if (sseq == 0)
        return 0;
    for (size_t i = 0; i < JS_PUT_OFF_MAX; i++)
        if (js->put_off[i] == sseq)
            return 0;
    js->put_off[js->put_off_pos] = sseq;
    js->put_off_pos = (js->put_off_pos + 1) % JS_PUT_OFF_MAX;
    return 1;
}

/* A lease's members: one for a chunk message, one per job of a pack. 0 or
 * APNS_ENOMEM. */
static int members_init(gw_js_lease *l, const gw_js_chunk_msg *v, size_t n, int pack)
{
    uint32_t off = 0;

    l->pack = pack;
    l->mem = n == 1 ? &l->one : calloc(n, sizeof(*l->mem));
    if (l->mem == NULL)
        return APNS_ENOMEM;
    l->n_mem = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        l->mem[i].l = l;
        l->mem[i].off = off;
        l->mem[i].n = v[i].n;
        memcpy(l->mem[i].job_id, v[i].job_id, sizeof(l->mem[i].job_id));
        off += v[i].n;
    }
    return 0;
}

/* Decodes a fetched message: a chunk (*v = one, *n = 1) or a pack (*v
 * malloc'd, one per member). 0, APNS_EINVAL, APNS_ENOMEM, GW_JS_ENEWER. */
static int decode_msg(natsMsg *msg, gw_js_chunk_msg *one, gw_js_chunk_msg **v, size_t *n, int *pack)
{
    const uint8_t *p = (const uint8_t *)natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);

    *pack = gw_js_is_pack(p, len);
    if (*pack)
        return gw_js_pack_decode(p, len, v, n);
    *v = one;
    *n = 1;
    return gw_js_chunk_decode(one, p, len);
}

/* A pack's jobs' tokens, which its header holds (js_submit.c): into v
 * (pointing into *jobs, which the caller frees with pack_jobs_free). hdr:
 * the header when the commit check read it (taken), else NULL (read
 * here). 0; APNS_EINVAL when the header does not hold these jobs with
 * their tokens (the message is terminated); or a mapped code (left to
 * ack_wait). */
static int pack_tokens(gw_js *js, const char *pack_id, gw_js_chunk_msg *v, size_t n, uint8_t *hdr,
                       size_t hdr_len, gw_js_job **jobs, size_t *n_jobs, char *detail, size_t dlen)
{
    int found = 1, state = 0, rc = 0;

    *jobs = NULL;
    *n_jobs = 0;
    if (hdr == NULL)
        rc = gw_js_kv_get(js, js->kv[JS_JOBS], pack_id, &hdr, &hdr_len, NULL, &found,
                          "lease (pack)", detail, dlen);
    if (rc == 0 && !found)
        rc = APNS_EINVAL;
    if (rc == 0)
        rc = gw_js_packhdr_jobs(hdr, hdr_len, &state, jobs, n_jobs);
    free(hdr);
    if (rc == GW_JS_ENEWER) { /* an upgraded node's: left for it */
        snprintf(detail, dlen,
                 "queue jetstream: pack %s has a header of a newer format: upgrade this node",
                 pack_id);
        return GW_QUEUE_ESTORE;
    }
    if (rc != 0)
        return rc;
    if (*n_jobs != n)
        return APNS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const gw_js_job *j = &(*jobs)[i];
        size_t pos = 0, k = 0, tl;
        int raw;

        if (v[i].tokens_len > 0)
            continue; /* carried by the message */
        if (strcmp(j->id, v[i].job_id) != 0 || j->n != v[i].n)
            return APNS_EINVAL;
        while (pos < j->tokens_len) { /* exactly n token records */
            size_t rl = gw_token_rec(j->tokens + pos, &tl, &raw);
            if (rl == 0 || pos + rl > j->tokens_len)
                return APNS_EINVAL;
            pos += rl;
            k++;
        }
        if (k != v[i].n)
            return APNS_EINVAL;
        v[i].tokens = j->tokens;
        v[i].tokens_len = j->tokens_len;
    }
    return 0;
}

static void pack_jobs_free(gw_js_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gw_js_job_cleanup(&jobs[i]);
    free(jobs);
}

/* Handles one fetched message (takes msg): its members go to r's lease.
 * Returns 0 (handed out, dropped or deferred) or an error code. */
static int take(gw_js *js, natsMsg *msg, gw_queue_req *r)
{
    char *detail = r->detail;
    size_t dlen = sizeof(r->detail);
    jsMsgMetaData *meta = NULL;
    gw_js_chunk_msg one, *v = NULL, m;
    size_t n_mem = 0;
    gw_js_lease *l;
    uint64_t delivered = 1;
    int64_t stored_ms = real_ms(), now = gw_queue__now(js->q), min_retry = 0;
    uint64_t pending = 0;
    int rc, committed, have = 0, pack = 0;
    uint8_t *hdr = NULL; /* a pack's header, read by its commit check */
    size_t hdr_len = 0, n_jobs = 0;
    gw_js_job *jobs = NULL; /* a pack's jobs: their tokens */

    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        delivered = meta->NumDelivered;
        stored_ms = meta->Timestamp / 1000000;
    }
    rc = decode_msg(msg, &one, &v, &n_mem, &pack);
    if (rc == GW_JS_ENEWER) {
        /* A newer node's chunk: left for it (never terminated), retried later. */
        gw_queue__log(js->q, APNS_LOG_ERROR,
                      "queue jetstream: message %llu of %s has chunk format version %d; this "
                      "apnsd (" APNS_VERSION ") reads versions up to %d: handed back for an "
                      "upgraded node (upgrade this one)",
                      meta ? (unsigned long long)meta->Sequence.Stream : 0ULL, js->stream,
                      gw_js_format_version((const uint8_t *)natsMsg_GetData(msg),
                                           (size_t)natsMsg_GetDataLength(msg)),
                      JS_CHUNK_FORMAT);
        msg_ack(js, msg, MSG_NAK, 30000);
        jsMsgMetaData_Destroy(meta);
        natsMsg_Destroy(msg);
        return 0;
    }
    if (rc == APNS_ENOMEM) {
        jsMsgMetaData_Destroy(meta);
        natsMsg_Destroy(msg); /* redelivered after ack_wait */
        snprintf(detail, dlen, "out of memory while leasing");
        return APNS_ENOMEM;
    }
    if (rc != 0) {
        gw_queue__log(js->q, APNS_LOG_ERROR,
                      "queue jetstream: message %llu of %s is not a chunk: terminated",
                      meta ? (unsigned long long)meta->Sequence.Stream : 0ULL, js->stream);
        msg_ack(js, msg, MSG_TERM, 0);
        jsMsgMetaData_Destroy(meta);
        natsMsg_Destroy(msg);
        return 0;
    }
    /* The message as a whole: a pack's first member stands for it (one
     * app, send_at and request), with the pack's token count. */
    m = v[0];
    for (size_t i = 1; i < n_mem; i++)
        m.n += v[i].n;
    l = calloc(1, sizeof(*l));
    if (l == NULL || members_init(l, v, n_mem, pack) != 0 || m.n > GW_JOB_TOKENS_MAX) {
        int oom = l == NULL || l->mem == NULL;
        jsMsgMetaData_Destroy(meta);
        if (l != NULL && l->mem != &l->one)
            free(l->mem);
        free(l);
        if (v != &one)
            free(v);
        if (!oom) { /* a pack of more tokens than a job may have */
            msg_ack(js, msg, MSG_TERM, 0);
            natsMsg_Destroy(msg);
            return 0;
        }
        natsMsg_Destroy(msg); /* redelivered after ack_wait */
        snprintf(detail, dlen, "out of memory while leasing");
        return APNS_ENOMEM;
    }
    l->msg = msg;
    l->sseq = meta ? meta->Sequence.Stream : 0;
    jsMsgMetaData_Destroy(meta);
    if (pack)
        gw_js_pack_key(m.job_id, l->key);
    else
        snprintf(l->key, sizeof(l->key), "%s.%u", m.job_id, m.seq);
    snprintf(l->app, sizeof(l->app), "%.*s", (int)m.app_len, m.app);
    l->first = m.first;
    l->send_at = m.send_at;
    l->progress_ms = l->wpi_ms = common_mono_ms();

    committed = job_committed(js, &m, pack, stored_ms, &hdr, &hdr_len, detail, dlen);
    if (committed == 1 && pack) {
        /* Its jobs' tokens are in its header. */
        rc = pack_tokens(js, m.job_id, v, n_mem, hdr, hdr_len, &jobs, &n_jobs, detail, dlen);
        hdr = NULL;
        if (rc == APNS_EINVAL) {
            gw_queue__log(js->q, APNS_LOG_ERROR,
                          "queue jetstream: pack %s: its header does not hold its jobs' tokens: "
                          "terminated",
                          m.job_id);
            msg_ack(js, msg, MSG_TERM, 0);
            gw_js_lease_free(l);
            rc = 0;
            goto out;
        }
        if (rc != 0) {
            gw_js_lease_free(l); /* not acked: comes back after ack_wait */
            goto out;
        }
    }
    free(hdr);
    hdr = NULL;
    if (committed < -1 || committed == 0) {
        /* Error: leave it to ack_wait. Not yet committed: hold it. */
        msg_ack(js, msg, MSG_WPI, 0);
        common_list_push_back(&js->waiting, &l->node);
        rc = committed < -1 ? committed : 0;
        goto out;
    }
    if (committed == -1) {
        msg_ack(js, msg, MSG_ACK, 0);
        gw_js_lease_free(l);
        rc = 0;
        goto out;
    }
    /* A first delivery has no record to read, but nats-server 2.9 hands
     * out a message again as if new (NumDelivered 1) after a delivery of it
     * failed (nats-io/nats-server#5305): a chunk stored a while ago may have
     * been delivered, answered and handed back before (JS_FIRST_READ_MS). */
    if (delivered > 1 || real_ms() - stored_ms >= JS_FIRST_READ_MS) {
        uint8_t *val = NULL;
        size_t len = 0;
        int found = 0;

        /* From the leader: a lagging replica may not have the record a
         * holder wrote before its ack was lost (one of three servers
         * killed), and would show sent tokens as open. */
        rc = gw_js_kv_get_leader(js, js->bucket[JS_OUT], l->key, &val, &len, &l->rev, &found,
                                 "lease (record)", detail, dlen);
        if (rc != 0) {
            gw_js_lease_free(l); /* not acked: comes back after ack_wait */
            goto out;
        }
        rc = found ? gw_js_rec_decode(&l->rec, val, len) : APNS_EINVAL;
        if (rc == GW_JS_ENEWER) { /* never rewritten by an older node */
            snprintf(detail, dlen,
                     "queue jetstream: record %s has format version %d; this apnsd (" APNS_VERSION
                     ") reads versions up to %d: upgrade this node",
                     l->key, gw_js_format_version(val, len), JS_REC_FORMAT);
            free(val);
            gw_js_lease_free(l); /* not acked: an upgraded node takes it */
            rc = GW_QUEUE_ESTORE;
            goto out;
        }
        have = rc == 0 && l->rec.n == m.n;
        free(val);
        if (found && !have) {
            gw_js_rec_cleanup(&l->rec);
            gw_queue__log(js->q, APNS_LOG_WARN, "queue jetstream: record %s unreadable: rewritten",
                          l->key);
        }
    }
    rc = 0;
    if (!have && gw_js_rec_init(&l->rec, m.n) != 0) {
        gw_js_lease_free(l);
        rc = APNS_ENOMEM;
        goto out;
    }

    if (gw_js_cancel_take(js, l, now)) { /* its job is cancelled (js_cancel.c) */
        gw_js_lease_free(l);
        goto out;
    }
    if (rec_open(&l->rec, &min_retry, &pending) == 0) {
        msg_ack(js, msg, MSG_ACK, 0); /* a holder finished it and died before its ack */
        gw_js_lease_free(l);
        goto out;
    }
    if (js->jo.max_deliveries > 0 && delivered > 1 + (uint64_t)l->rec.rel &&
        delivered - 1 - l->rec.rel >= js->jo.max_deliveries) {
        park(js, l, delivered - 1 - l->rec.rel);
        gw_js_lease_free(l);
        goto out;
    }
    /* 5b. A lapsed lease: its holder may still record kept answers. Held
     * here (no write, no nak), then read again (recheck_waiting). */
    if (delivered > 1 + (uint64_t)l->rec.rel && put_off_once(js, l->sseq)) {
        gw_js_rec_cleanup(&l->rec);
        l->hold_until = common_mono_ms() + JS_PUT_OFF_DELAY_MS;
        common_list_push_back(&js->waiting, &l->node);
        goto out;
    }
    if (m.send_at > now || (pending == 0 && min_retry > now)) {
        int64_t due = m.send_at > now ? m.send_at : min_retry;
        defer(js, l, due - now, detail, dlen);
        gw_js_lease_free(l);
        goto out;
    }
    rc = hand_out(js, l, v, r);
    if (rc != 0) {
        gw_js_lease_free(l);
        snprintf(detail, dlen, "out of memory while leasing");
    }
out:
    free(hdr);
    pack_jobs_free(jobs, n_jobs);
    if (v != &one)
        free(v);
    return rc;
}

/* take() into the lease's chunks; without room the message goes back to
 * the stream at once. */
static void take_into(gw_js *js, gw_queue_req *r, natsMsg *msg)
{
    if (js->lease_msgs >= r->u.lease.max) {
        msg_ack(js, msg, MSG_NAK, 0);
        natsMsg_Destroy(msg);
        return;
    }
    take(js, msg, r);
}

/* Looks at held chunks again: of jobs not committed yet, and lapsed
 * leases whose hold is over. Those this lease has no room for (it may be
 * smaller than the one that fetched them) stay held: handed back (a nak),
 * a chunk comes back to the fleet looking like a lapsed lease, which the
 * next node holds for JS_PUT_OFF_DELAY_MS; the last 1% of bench/fleet's
 * batch workload on 3 nodes then took 4-7 s in one round of two. */
static void recheck_waiting(gw_js *js, gw_queue_req *r)
{
    common_list held;
    int64_t mono = common_mono_ms();

    common_list_init(&held);
    common_list_splice(&held, &js->waiting); /* take() links them again */
    COMMON_LIST_FOREACH(it, tmp, &held)
    {
        gw_js_lease *l = COMMON_CONTAINER_OF(it, gw_js_lease, node);
        natsMsg *msg = l->msg;

        if (l->lapsed) { /* not acked: its next holder has it */
            gw_js_lease_free(l);
            continue;
        }
        if (js->lease_msgs >= r->u.lease.max || l->hold_until > mono) {
            common_list_remove(&l->node);
            common_list_push_back(&js->waiting, &l->node);
            continue;
        }
        l->msg = NULL;
        gw_js_lease_free(l);
        take_into(js, r, msg);
    }
}

#define JS_NOWAIT_MS 20 /* no-wait fetches: see fetch_into */

/* JS_WORK_FIRST for a job's first chunk (P.first.<n>), else JS_WORK_REST. */
static int chunk_kind(const gw_js *js, natsMsg *msg)
{
    const char *subj = natsMsg_GetSubject(msg);
    size_t fl = strlen(js->subj_first);

    return subj != NULL && strncmp(subj, js->subj_first, fl) == 0 && subj[fl] == '.' ? JS_WORK_FIRST
                                                                                     : JS_WORK_REST;
}

/* Fetches from sub until the lease took limit messages (or nothing more comes).
 * The first fetch may wait up to poll_ms (> 0) for a message (a long
 * poll). It asks for ONE chunk: a pull request for more than
 * the stream has holds what it got until it expires (nats-server 2.9 +
 * libnats 3.4), which stalled a node for a whole poll_ms at the end of
 * every burst (bench/fleet). The rest comes with no-wait fetches, more
 * rounds only while full batches come back. (libnats zeroes a list's Count
 * when it destroys it: read it first.)
 *
 * libnats 3.4 (Debian 12) writes past its message array when a fetch finds
 * messages already waiting in the subscription (late answers to an earlier
 * no-wait request) and asks the server for the rest: it then waits for
 * `batch - waiting` messages more, counting from `waiting` (nats.c #749,
 * fixed in 3.10). A fetch of ONE never asks for the rest, so while messages
 * wait they are taken one per round, from memory. (Only an answer that
 * arrives between the check and the fetch can still meet the bug. The
 * fetch also lowers fr.Batch: keep a copy.)
 *
 * *more: 1 when the consumer may hold more chunks: the last one fetched
 * said others were pending (its metadata's NumPending), or the last round
 * came back full. 0, or a mapped error when nothing was fetched at all. */
static int fetch_into(gw_js *js, natsSubscription *sub, gw_queue_req *r, size_t limit,
                      int64_t poll_ms, int *more)
{
    *more = 0;
    for (int round = 0; round < 8 && js->lease_msgs < limit; round++) {
        natsMsgList list = {0};
        jsFetchRequest fr;
        jsMsgMetaData *meta = NULL;
        natsStatus s;
        int want = (int)(limit - js->lease_msgs), waiting = 0, batch;
        int lp = poll_ms > 0 && round == 0;

        natsSubscription_GetPending(sub, &waiting, NULL);
        jsFetchRequest_Init(&fr);
        fr.Batch = batch = lp || waiting > 0 ? 1 : want;
        /* A no-wait request with an expiry is answered with the chunks
         * there are, but when there are none the server (2.9) holds it until
         * it expires instead of answering 404; without an expiry libnats
         * does not wait for the answer at all. So: a short expiry, long
         * enough for a loaded server's round trip (1 ms was not). */
        fr.Expires = (lp ? poll_ms : JS_NOWAIT_MS) * 1000000LL;
        if (!lp)
            fr.NoWait = true;
        atomic_fetch_add(&js->op_fetch, 1);
        s = natsSubscription_FetchRequest(&list, sub, &fr);
        if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) {
            natsMsgList_Destroy(&list);
            *more = 0;
            break; /* nothing available */
        }
        if (s != NATS_OK) {
            natsMsgList_Destroy(&list);
            if (r->u.lease.n > 0)
                break; /* hand out what we have; the next lease reports it */
            return gw_js_error(js, s, 0, nats_GetLastError(NULL), "lease", r->detail,
                               sizeof(r->detail));
        }
        int got = list.Count;
        *more = got == batch; /* unless the metadata says */
        if (got > 0 && natsMsg_GetMetaData(&meta, list.Msgs[got - 1]) == NATS_OK) {
            *more = meta->NumPending > 0;
            jsMsgMetaData_Destroy(meta);
        }
        for (int i = 0; i < got; i++) {
            take_into(js, r, list.Msgs[i]);
            list.Msgs[i] = NULL;
        }
        natsMsgList_Destroy(&list);
        if (got < batch)
            break;
    }
    return 0;
}

/* Keeps the held chunks (gw_js.waiting) alive: an in-progress ack every
 * ack_wait / 3, as each lease runs (a node that holds chunks is one whose
 * dispatcher leases). One whose last in-progress ack is ack_wait old may
 * be another node's by now: marked lapsed, and recheck_waiting forgets
 * it. Lease thread. *hold_next: when the first hold is over (mono;
 * INT64_MAX none); *uncommitted: 1 when a chunk of a job not committed yet
 * is held (looked at again by every lease). */
static void touch_waiting(gw_js *js, int64_t *hold_next, int *uncommitted)
{
    int64_t mono = common_mono_ms(), hb = js->jo.ack_wait_ms / 3;

    *hold_next = INT64_MAX;
    *uncommitted = 0;
    COMMON_LIST_FOREACH(it, tmp, &js->waiting)
    {
        gw_js_lease *l = COMMON_CONTAINER_OF(it, gw_js_lease, node);
        if (mono - l->wpi_ms >= js->jo.ack_wait_ms)
            l->lapsed = 1;
        else if (mono - l->wpi_ms >= hb && msg_ack(js, l->msg, MSG_WPI, 0) == NATS_OK)
            l->wpi_ms = mono;
        if (l->hold_until == 0)
            *uncommitted = 1;
        else if (l->hold_until < *hold_next)
            *hold_next = l->hold_until;
    }
}

/* Turn order (the SQLite backend's, docs/queue.md, as far as two consumers
 * allow): jobs' first chunks (P.first.*, their own consumer) are leased
 * before later chunks (P.chunk.*), so a login code submitted behind a
 * running broadcast goes out within the next leases, not after the
 * broadcast's queued chunks. Later chunks keep at least a quarter of each
 * lease (with one chunk per lease, every fourth lease asks them first), so
 * a stream of small jobs cannot starve a broadcast.
 *
 * An empty no-wait fetch costs JS_NOWAIT_MS (nats-server 2.9 holds it), so
 * a consumer is asked only when it may hold chunks (js->hint, JS_WORK_*):
 * work announced on P.work (a submit says whether its job has later chunks;
 * a hand-back, a wake or a cancel), the last chunk fetched from it saying
 * more are pending, or a look once a second (chunks that became due on
 * their own: a retry's delay, a deferred send_at, an expired ack_wait).
 * Asking both consumers in every lease cost a third of the rate of a
 * stream of one-chunk jobs (BENCHMARKS.md, "Fleet turn order").
 *
 * An idle node long-polls the first chunks' consumer: every new job has a
 * first chunk, published with its later chunks before the job commits, so
 * the node wakes for it, and the job's later chunks are there by its next
 * lease. A poll lasts a quarter of poll_ms (250 ms by default). */
int gw_js_op_lease(gw_js *js, gw_queue_req *r)
{
    int64_t mono = common_mono_ms(), hold_next;
    size_t max = r->u.lease.max, rest_min;
    int err, idle, ask, more = 0, keep = 0, uncommitted;

    err = gw_js_check_conn(js, "lease", r->detail, sizeof(r->detail));
    if (err != 0)
        return err;
    /* The lease's room is in messages: a pack's jobs come as several
     * chunks of one message (hand_out). */
    js->lease_msgs = 0;
    /* Held chunks: keep them alive, look again at those due. */
    touch_waiting(js, &hold_next, &uncommitted);
    recheck_waiting(js, r);
    touch_waiting(js, &hold_next, &uncommitted); /* what is held now */
    /* Idle: nothing leased and nothing to look at again before the poll
     * ends (a lapsed lease's hold ends the poll early). */
    idle = r->u.lease.n == 0 && !uncommitted;
    ask = atomic_exchange(&js->hint, 0);
    if (mono >= js->look_due) {
        ask = JS_WORK_ANY;
        js->look_due = mono + 1000;
    }
    rest_min = !(ask & JS_WORK_REST) ? 0 : max > 1 ? (max + 3) / 4 : js->lease_turn++ % 4 == 3;
    if ((ask & JS_WORK_FIRST) && max > js->lease_msgs + rest_min) {
        err = fetch_into(js, js->pull_first, r, max - rest_min, 0, &more);
        if (err != 0) {
            atomic_fetch_or(&js->hint, ask); /* asked again once it works */
            return err;
        }
        keep |= more ? JS_WORK_FIRST : 0;
    } else {
        keep |= ask & JS_WORK_FIRST; /* not asked: the share went to later chunks */
    }
    if (ask & JS_WORK_REST) {
        size_t n0 = r->u.lease.n;
        err = fetch_into(js, js->pull, r, max, 0, &more);
        if (err != 0 && n0 == 0) {
            atomic_fetch_or(&js->hint, ask | keep);
            return err;
        }
        keep |= more || err != 0 ? JS_WORK_REST : 0;
    }
    /* Room left: first chunks again if they may wait (the quarter kept for
     * later chunks was not needed); nothing at all: wait for new work. */
    if (js->lease_msgs < max && ((keep & JS_WORK_FIRST) || (idle && r->u.lease.n == 0))) {
        int64_t poll = js->jo.poll_ms / 4 > 0 ? js->jo.poll_ms / 4 : 1;
        if (hold_next != INT64_MAX && hold_next - mono < poll)
            poll = hold_next - mono > 1 ? hold_next - mono : 1;
        err = fetch_into(js, js->pull_first, r, max, idle && r->u.lease.n == 0 ? poll : 0, &more);
        if (err != 0 && r->u.lease.n == 0) {
            atomic_fetch_or(&js->hint, keep);
            return err;
        }
        keep = (keep & ~JS_WORK_FIRST) | (more || err != 0 ? JS_WORK_FIRST : 0);
    }
    if (keep != 0)
        atomic_fetch_or(&js->hint, keep); /* the next lease asks again */
    r->detail[0] = '\0';
    /* Cut at max, or chunks held for their commit: more now. Otherwise we
     * already waited poll_ms: the caller may ask again at once (a
     * continuous long poll costs one request per poll_ms). */
    r->u.lease.next_at = gw_queue__now(js->q);
    return 0;
}

/* ---- record and release ------------------------------------------------------------- */

static gw_js_member *member_of(uint64_t h)
{
    return (gw_js_member *)(uintptr_t)h;
}

static gw_js_lease *by_handle(uint64_t h)
{
    return member_of(h)->l;
}

/* This batch's notes on one answer of a record. */
typedef struct mark {
    gw_queue_req *r;          /* the record */
    const gw_queue_answer *o; /* the answer */
    gw_js_lease *l;           /* its lease */
    uint32_t idx;             /* its token in l->rec (a pack member's offset added) */
    uint8_t prev;             /* the token's state before it */
    uint8_t applied;          /* 1: it made the token final */
    long dead_slot;           /* publish slot of its registry entry */
    long ev_slot;             /* publish slot of its webhook event; -1 none */
} mark;

/* One mark per answer of the records in v[0..n), in order; NULL when out
 * of memory. */
static mark *marks_new(gw_queue_req **v, size_t n, size_t *n_marks)
{
    size_t total = 0, j = 0;
    mark *marks;

    for (size_t k = 0; k < n; k++)
        total += v[k]->kind == GW_QUEUE_REQ_RECORD ? v[k]->u.record.n : 0;
    marks = calloc(total ? total : 1, sizeof(mark));
    for (size_t k = 0; marks != NULL && k < n; k++)
        for (size_t i = 0; v[k]->kind == GW_QUEUE_REQ_RECORD && i < v[k]->u.record.n; i++) {
            marks[j].r = v[k];
            marks[j++].o = &v[k]->u.record.v[i];
        }
    *n_marks = total;
    return marks;
}

/* The answer's rejection reason as a string (in buf). */
static const char *answer_reason(const gw_queue_req *r, const gw_queue_answer *a,
                                 char buf[JS_REASON_MAX + 1])
{
    const uint8_t *tok;
    const char *reason;
    size_t tl, rl;

    buf[0] = '\0';
    if (!gw_queue__has_extra(a->state))
        return buf;
    gw_queue__answer_extra(r, a, &tok, &tl, &reason, &rl);
    snprintf(buf, JS_REASON_MAX + 1, "%.*s", (int)rl, reason);
    return buf;
}

static int dead_to_store(const mark *m)
{
    return m->o->dead != GW_DEAD_NONE && m->applied;
}

/* Undoes an applied answer whose side publish (its registry entry or its
 * webhook event, p; NULL when it never went out) failed: the token stays
 * open and is sent again, and the request's error names what failed. */
static void undo_answer(gw_js *js, const mark *m, const gw_js_pub *p, const char *what)
{
    gw_js_lease *l = m->l;

    l->rec.state[m->idx] = m->prev;
    l->new_finals--;
    l->rec.done_ms = 0;
    if (m->r->err == 0)
        m->r->err = gw_js_error(js, p ? p->st : NATS_ERR, p ? p->code : 0, p ? p->text : NULL, what,
                                m->r->detail, sizeof(m->r->detail));
}

/* The registry entries of the applied answers that name a dead token,
 * published together. Each carries the message id "dead.<chunk>.<token
 * number>": an answer stored again (kept answers recorded again after a
 * failure, or a lapsed holder answering a token its taker answered too)
 * within the bucket's duplicate window writes nothing, so the entry keeps
 * its place in the listing order instead of moving to the end under a
 * client that is paging through it. */
static void store_dead(gw_js *js, mark *marks, size_t n_marks)
{
    size_t n_dead = 0;

    gw_js_pg_begin(js);
    for (size_t j = 0; j < n_marks; j++) {
        mark *m = &marks[j];
        gw_js_lease *l = m->l;
        char hex[GW_TOKEN_TEXT_MAX], reason[JS_REASON_MAX + 1], msg_id[GW_JOB_ID_LEN + 32];
        int raw;
        const uint8_t *tok;
        const char *rs;
        size_t tl, rl;

        m->dead_slot = -1;
        if (!dead_to_store(m))
            continue;
        gw_queue__answer_extra(m->r, m->o, &tok, &tl, &rs, &rl);
        if ((raw = gw_queue__answer_raw(m->r, m->o)) != 0) { /* an FCM token, verbatim */
            memcpy(hex, tok, tl);
            hex[tl] = '\0';
        } else {
            gw_token_to_hex(tok, tl, hex);
        }
        snprintf(reason, sizeof(reason), "%.*s", (int)rl, rs);
        snprintf(msg_id, sizeof(msg_id), "dead.%.*s.%llu", GW_JOB_ID_LEN, l->key,
                 (unsigned long long)l->first + m->idx);
        m->dead_slot = gw_js_dead_put2(js, l->app, hex, raw, m->o->dead, reason, m->o->apns_ts, 1,
                                       msg_id, NULL, 0);
        n_dead++;
    }
    if (n_dead == 0)
        return;
    gw_js_pg_wait(js);
    for (size_t j = 0; j < n_marks; j++) {
        const mark *m = &marks[j];
        const gw_js_pub *p;

        if (!dead_to_store(m))
            continue;
        p = m->dead_slot >= 0 ? gw_js_pg_get(js, (size_t)m->dead_slot) : NULL;
        if (p != NULL && p->st == NATS_OK)
            continue;
        undo_answer(js, m, p, "dead-token registry");
    }
}

/* The webhook events of the answers that made their token final (and
 * were not undone by store_dead), published before the records are stored
 * (js_outbox.c); an event that could not be published undoes its answer
 * like a registry entry does. */
static void store_events(gw_js *js, mark *marks, size_t n_marks)
{
    size_t n_ev = 0;

    gw_js_pg_begin(js);
    for (size_t j = 0; j < n_marks; j++) {
        mark *m = &marks[j];
        gw_js_lease *l = m->l;
        const char *app, *json;
        char subj[320], msg_id[GW_JOB_ID_LEN + 32];

        m->ev_slot = -1;
        if (!m->applied || l->rec.state[m->idx] == m->prev ||
            !gw_queue__answer_event(m->r, (size_t)(m->o - m->r->u.record.v), &app, &json))
            continue;
        gw_js_outbox_subject(js, app, subj, sizeof(subj));
        snprintf(msg_id, sizeof(msg_id), "ev.%.*s.%llu", GW_JOB_ID_LEN, l->key,
                 (unsigned long long)l->first + m->idx);
        m->ev_slot = gw_js_pg_add(js, subj, json, strlen(json), msg_id, 0);
        n_ev++;
    }
    if (n_ev == 0)
        return;
    gw_js_pg_wait(js);
    for (size_t j = 0; j < n_marks; j++) {
        const mark *m = &marks[j];
        const gw_js_pub *p;

        if (m->ev_slot == -1)
            continue;
        p = m->ev_slot >= 0 ? gw_js_pg_get(js, (size_t)m->ev_slot) : NULL;
        if (p != NULL && p->st == NATS_OK)
            continue;
        undo_answer(js, m, p, "webhook outbox");
    }
}

/* Whether l's lease may have lapsed: an in-progress ack failed, or none
 * went out for ack_wait (another node may have been handed the chunk). */
static int maybe_lapsed(const gw_js *js, const gw_js_lease *l, int64_t mono)
{
    return l->lapsed || mono - l->wpi_ms >= js->jo.ack_wait_ms;
}

/* Before acking a finished chunk whose lease may have lapsed: is the
 * record stored as this node last wrote it? A node handed the chunk
 * meanwhile may have written after it, from the record as it was before
 * (two concurrent compare-and-sets can both pass: see Lapsed leases).
 * Reads it from the leader; when the revision moved, merges (a final
 * state wins) and writes again. 0: ack; otherwise the error (not acked:
 * the chunk comes back after ack_wait and its taker reads the record). */
static int release_finished(gw_js *js, gw_js_lease *l, char *detail, size_t dlen)
{
    uint8_t *val = NULL;
    size_t len = 0;
    uint64_t rev = 0;
    int found = 0, rc;

    rc = gw_js_kv_get_leader(js, js->bucket[JS_OUT], l->key, &val, &len, &rev, &found,
                             "release (record)", detail, dlen);
    free(val);
    if (rc != 0 || (found && rev == l->rev))
        return rc;
    gw_queue__log(js->q, APNS_LOG_WARN,
                  "queue jetstream: record %s was written by another node after this one's "
                  "last answers (its lease had lapsed): merged and written again",
                  l->key);
    return gw_js_rec_store(js, l, 1, NULL, NULL, detail, dlen);
}

void gw_js_op_outcomes(gw_js *js, gw_queue_req **v, size_t n)
{
    gw_js_lease **dirty;
    size_t n_dirty = 0;
    int64_t now = gw_queue__now(js->q), mono = common_mono_ms();
    size_t n_marks = 0, next_mark = 0;
    mark *marks = marks_new(v, n, &n_marks);
    uint8_t *last; /* per release: its lease's last member out (the hand-back) */
    int conn;
    char cdetail[384];

    dirty = calloc(n_marks + n, sizeof(*dirty)); /* at most one per answer or release */
    last = calloc(n ? n : 1, sizeof(*last));
    conn = gw_js_check_conn(js, "record outcomes", cdetail, sizeof(cdetail));
    if (conn == 0 && (marks == NULL || dirty == NULL || last == NULL)) {
        conn = APNS_ENOMEM; /* like a lost connection: nothing applied or acked */
        snprintf(cdetail, sizeof(cdetail), OOM_RECORDING);
    }
    /* Apply, in posting order. Not while disconnected: those records fail
     * (the tokens are sent again), and an outcome applied to the copy here
     * would be stored by the lease's next record or release anyway, a
     * rejection then without its dead-token registry entry (store_dead
     * never ran for it). */
    for (size_t k = 0; k < n; k++) {
        gw_queue_req *r = v[k];

        if (r->kind == GW_QUEUE_REQ_RECORD) {
            if (conn != 0)
                continue;
            for (size_t i = 0; i < r->u.record.n; i++) {
                const gw_queue_answer *o = &r->u.record.v[i];
                mark *m = &marks[next_mark++];
                gw_js_member *mb = member_of(o->chunk);
                gw_js_lease *l = mb->l;
                char reason[JS_REASON_MAX + 1];

                m->l = l;
                m->idx = o->idx < mb->n ? mb->off + o->idx : l->rec.n; /* out of range: ignored */
                m->prev = m->idx < l->rec.n ? l->rec.state[m->idx] : 0;
                m->applied =
                    (uint8_t)gw_js_rec_apply(&l->rec, m->idx, o->state, o->status,
                                             answer_reason(r, o, reason), o->apns_ts, o->retry_at);
                if (m->applied)
                    l->new_finals++;
                l->dirty = 1;
                l->rec.held_at = now;
                l->progress_ms = mono;
                if (rec_open(&l->rec, NULL, NULL) == 0 && l->rec.done_ms == 0)
                    l->rec.done_ms = now;
            }
        } else {
            gw_js_member *mb = member_of(r->u.release.chunk);
            gw_js_lease *l = mb->l;

            if (mb->out) {
                mb->out = 0;
                l->n_out--;
            }
            /* A pack's members share the hand-back: made by the last one
             * released, not before the latest not_before of them all. */
            if (last != NULL)
                last[k] = l->n_out == 0;
            if (r->u.release.not_before > l->not_before)
                l->not_before = r->u.release.not_before;
            if (l->n_out > 0)
                continue;
            if (conn == 0)
                gw_js_cancel_release(js, l, r, now); /* cancelled jobs' (js_cancel.c) */
            l->releasing = 1;
            if (conn == 0 && rec_open(&l->rec, NULL, NULL) > 0) {
                /* A clean hand-back: counted, so it is not taken for a
                 * crash (max_deliveries); no longer held (status). */
                l->rec.rel++;
                l->rec.held_at = 0;
                l->dirty = 1;
            }
        }
    }
    /* Collect the leases to store, each once. */
    for (size_t k = 0; k < n; k++) {
        gw_queue_req *r = v[k];
        size_t m = r->kind == GW_QUEUE_REQ_RECORD ? r->u.record.n : 1;

        for (size_t i = 0; i < m && dirty != NULL; i++) {
            gw_js_lease *l = by_handle(r->kind == GW_QUEUE_REQ_RECORD ? r->u.record.v[i].chunk
                                                                      : r->u.release.chunk);
            l->err = 0;
            if (l->dirty && !l->queued) {
                l->queued = 1;
                dirty[n_dirty++] = l;
            }
        }
    }
    for (size_t j = 0; j < n_dirty; j++)
        dirty[j]->queued = 0;
    /* Dead tokens first: a rejection whose registry entry could not be
     * stored is not stored either (it stays open and is sent again), so the
     * registry never misses a token the records call rejected. */
    if (conn == 0) {
        store_dead(js, marks, n_marks);
        store_events(js, marks, n_marks);
    }
    if (conn == 0 && n_dirty > 0) {
        store_records(js, dirty, n_dirty);
        /* Depth: tokens whose final state is now stored. */
        for (size_t j = 0; j < n_dirty; j++)
            if (dirty[j]->err == 0 && dirty[j]->new_finals > 0) {
                gw_queue__depth_add(js->q, -(int64_t)dirty[j]->new_finals);
                dirty[j]->new_finals = 0;
            }
    }
    /* Answer the records. */
    for (size_t k = 0; k < n; k++) {
        gw_queue_req *r = v[k];

        if (r->kind != GW_QUEUE_REQ_RECORD)
            continue;
        gw_queue__fail(r, conn, cdetail);
        for (size_t i = 0; i < r->u.record.n && r->err == 0; i++)
            gw_queue__fail(r, by_handle(r->u.record.v[i].chunk)->err,
                           by_handle(r->u.record.v[i].chunk)->detail);
    }
    /* Hand back. */
    for (size_t k = 0; k < n; k++) {
        gw_queue_req *r = v[k];
        gw_js_lease *l;
        int64_t min_retry = 0, delay;
        uint64_t pending = 0, open;

        if (r->kind != GW_QUEUE_REQ_RELEASE)
            continue;
        l = by_handle(r->u.release.chunk);
        /* Other members of its pack are out; or out of memory (conn says
         * so): left linked, the message comes back after ack_wait. */
        if (last == NULL || !last[k]) {
            gw_queue__fail(r, conn, cdetail);
            continue;
        }
        pthread_mutex_lock(&js->lease_mu);
        common_list_remove(&l->node);
        pthread_mutex_unlock(&js->lease_mu);
        if (conn != 0) {
            /* Not acked: the chunk comes back after ack_wait with what was
             * stored. */
            gw_queue__fail(r, conn, cdetail);
            gw_js_lease_free(l);
            continue;
        }
        open = rec_open(&l->rec, &min_retry, &pending);
        if (l->dirty) {
            /* Its record could not be stored: resend what is not stored. */
            gw_queue__fail(r, l->err, l->detail);
            msg_ack(js, l->msg, MSG_NAK, 5000);
            gw_js_lease_free(l);
            continue;
        }
        if (open == 0) {
            if (maybe_lapsed(js, l, mono)) {
                int err = release_finished(js, l, l->detail, sizeof(l->detail));
                if (err != 0) {
                    gw_queue__fail(r, err, l->detail);
                    gw_js_lease_free(l);
                    continue;
                }
            }
            msg_ack(js, l->msg, MSG_ACK, 0);
        } else {
            int64_t nb = l->not_before > now ? l->not_before : now;
            int64_t due = pending > 0 ? nb : (min_retry > nb ? min_retry : nb);
            delay = due - now;
            /* Held back by not_before alone (a paused app): held back, so a
             * wake can bring it forward (js_held.c). */
            if (due == l->not_before && gw_js_hold(js, l, due, now))
                continue;
            msg_ack(js, l->msg, MSG_NAK, delay);
            if (delay <= 0)
                r->work |= chunk_kind(js, l->msg);
        }
        gw_js_lease_free(l);
    }
    free(dirty);
    free(marks);
    free(last);
}

/* ---- touch, heartbeats, forgetting ------------------------------------------------------ */

int gw_js_op_touch(gw_js *js, gw_queue_req *r)
{
    gw_js_lease *l = by_handle(r->u.release.chunk);

    /* A touch posted before a release in the same batch: the release ran
     * first only if it was posted first, which cannot be (the chunk is
     * freed by release on the loop thread). */
    l->progress_ms = common_mono_ms();
    if (maybe_lapsed(js, l, l->progress_ms))
        l->lapsed = 1;
    if (msg_ack(js, l->msg, MSG_WPI, 0) == NATS_OK)
        l->wpi_ms = l->progress_ms;
    else
        l->lapsed = 1;
    return 0;
}

void gw_js_forget_leases(gw_js *js)
{
    common_list *lists[2] = {&js->leases, &js->waiting};

    for (int i = 0; i < 2; i++)
        while (!common_list_empty(lists[i]))
            gw_js_lease_free(COMMON_CONTAINER_OF(lists[i]->next, gw_js_lease, node));
}

void gw_js_refresh_depth(gw_js *js)
{
    jsStreamInfo *si = NULL;
    jsOptions o;
    jsErrCode code = 0;
    char filter[80];
    long long total = 0, held = 0;

    if (js->nc == NULL || natsConnection_Status(js->nc) != NATS_CONN_STATUS_CONNECTED)
        return;
    jsOptions_Init(&o);
    snprintf(filter, sizeof(filter), "%s.>", js->prefix); /* P.chunk.* and P.first.* */
    o.Stream.Info.SubjectsFilter = filter;
    o.Wait = js->jo.op_timeout_ms;
    atomic_fetch_add(&js->op_read, 1);
    if (js_GetStreamInfo(&si, js->js, js->stream, &o, &code) != NATS_OK) {
        jsStreamInfo_Destroy(si);
        return;
    }
    if (si->State.Subjects != NULL) {
        for (int i = 0; i < si->State.Subjects->Count; i++) {
            const jsStreamStateSubject *s = &si->State.Subjects->List[i];
            const char *dot = strrchr(s->Subject, '.'); /* "<P>.<kind>.<tokens>" */
            if (dot != NULL)
                total += (long long)s->Msgs * atoll(dot + 1);
        }
    } else {
        total = (long long)si->State.Msgs * js->q->o.chunk_tokens;
    }
    jsStreamInfo_Destroy(si);
    pthread_mutex_lock(&js->lease_mu);
    COMMON_LIST_FOREACH(it, tmp, &js->leases)
    {
        gw_js_lease *l = COMMON_CONTAINER_OF(it, gw_js_lease, node);
        held += (long long)(l->rec.n - rec_open(&l->rec, NULL, NULL));
    }
    pthread_mutex_unlock(&js->lease_mu);
    gw_queue__depth_rebase(js->q, total - held);
}

int64_t gw_js_idle(void *ud)
{
    gw_js *js = ud;
    int64_t mono = common_mono_ms(), hb = js->jo.ack_wait_ms / 3;

    if (hb < 100)
        hb = 100;
    if (mono >= js->hb_due) {
        pthread_mutex_lock(&js->lease_mu);
        COMMON_LIST_FOREACH(it, tmp, &js->leases)
        {
            gw_js_lease *l = COMMON_CONTAINER_OF(it, gw_js_lease, node);
            if (mono - l->progress_ms > js->q->o.lease_ttl_ms)
                continue; /* the dispatcher forgot it: let it come back */
            if (mono - l->wpi_ms >= hb) {
                if (maybe_lapsed(js, l, mono))
                    l->lapsed = 1;
                if (msg_ack(js, l->msg, MSG_WPI, 0) == NATS_OK) {
                    l->wpi_ms = mono;
                    l->lost = 0;
                } else if (!l->lost) {
                    l->lapsed = l->lost = 1;
                    gw_queue__log(
                        js->q, APNS_LOG_WARN,
                        "queue jetstream: in-progress ack for chunk %s failed: another node "
                        "may take it after ack_wait",
                        l->key);
                }
            }
        }
        pthread_mutex_unlock(&js->lease_mu);
        js->hb_due = mono + hb / 2;
    }
    gw_js_cancel_tick(js); /* held chunks of jobs cancelled elsewhere (js_cancel.c) */
    if (mono >= js->depth_due) {
        gw_js_refresh_depth(js);
        js->depth_due = mono + 1000;
    }
    {
        int64_t held = gw_js_held_tick(js, hb / 2), probe = gw_js_write_probe(js),
                next = js->hb_due < js->depth_due ? js->hb_due : js->depth_due;
        next -= mono;
        if (probe >= 0 && probe < next)
            next = probe;
        return held < next ? (held > 0 ? held : 0) : next;
    }
}
