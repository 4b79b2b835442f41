/*
 * js_status.c - the status of one job from any node: its header (P_JOBS)
 * plus the sum of its chunks' outcome records (P_OUT).
 *
 * Nothing is counted concurrently: each record is written by the node that
 * holds its chunk (compare-and-set), and the status adds them up when asked,
 * so concurrent nodes can never make a counter drift. A chunk without a
 * record has every token pending. Reading (gw_js_scan_run): up to 64
 * chunks with direct gets; more with one ordered consumer over the latest
 * value of each "<job>.*" key, falling back to direct gets when it fails:
 * O(chunks) data, about 2 KB per 1000-token chunk. (The bucket keeps one
 * revision per key, so a direct-get scan should see each record once.)
 *
 * Each key is counted once all the same. Direct gets are answered by any
 * replica, and after every server of a cluster was killed (nats-server 2.9)
 * replicas were seen to disagree on stream sequences (one record at 224 on
 * two of them, 223 on the third): "next from 1" answered by one replica
 * and "next from 224" by another met the record twice, and a 1-token job
 * read accepted 2, pending -1, partially_failed (it_gw_fleet_nats_down).
 * So a key met again is not added, and the direct-get scan that met one is
 * read again through an ordered consumer (last value per key, from the
 * stream leader).
 *
 * A cancelled job (js_cancel.c: its mark in <P>_CANCEL) counts the open
 * tokens of every chunk no node holds as cancelled, also of chunks without
 * a record: they will never be sent, whenever a lease writes that down.
 * For JS_CANCEL_SETTLE_MS after the cancel it counts only what the records
 * say, in flight: a node may hold a chunk it has no record for yet.
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct agg {
    gw_js *js;
    gw_queue_req *r;
    const gw_js_job *job;
    uint32_t seen;     /* chunks with a record */
    uint64_t in_seen;  /* their tokens */
    int64_t cancel_ms; /* the job's cancel mark; 0 = none */
    int derive;        /* the mark settled: open tokens no node holds count cancelled */
    int all_done, leased;
    int open_seen; /* a record had open tokens (before a cancel counted them) */
    int64_t finished;
    int64_t now;
    uint8_t *seen_key; /* one bit per chunk: its record was added */
    int twice;         /* a key was met again (and not added) */
} agg;

/* Starts the sum: the status holds the header's fields, no counts. */
static void agg_begin(agg *a, gw_js *js, gw_queue_req *r, const gw_js_job *job)
{
    gw_job_status *st = &r->u.status.st;
    int64_t cancel_ms = a->cancel_ms;
    int derive = a->derive;
    uint8_t *seen_key = a->seen_key;

    memset(a, 0, sizeof(*a));
    a->cancel_ms = cancel_ms;
    a->derive = derive;
    a->seen_key = seen_key;
    if (seen_key != NULL)
        memset(seen_key, 0, job->n_chunks / 8 + 1);
    a->js = js;
    a->r = r;
    a->job = job;
    a->all_done = 1;
    a->now = gw_queue__now(js->q);
    memset(st, 0, sizeof(*st));
    memcpy(st->job_id, job->id, sizeof(st->job_id));
    memcpy(st->apns_id, job->apns_id, sizeof(st->apns_id));
    snprintf(st->app, sizeof(st->app), "%s", job->app);
    memcpy(st->channel, job->channel, sizeof(st->channel));
    st->tokens = job->n;
    st->created_ms = job->created;
    st->send_at_ms = job->send_at;
}

static void add_record(agg *a, uint32_t seq, const gw_js_rec *rec)
{
    gw_job_status *st = &a->r->u.status.st;
    uint64_t c[4], retry, open;
    int64_t min_retry;
    uint32_t first = seq * a->job->per;

    int held = rec->held_at != 0 && a->now - rec->held_at < a->js->q->o.lease_ttl_ms;
    int stop = a->derive && !held; /* its open tokens are cancelled */

    gw_js_rec_counts(rec, c, &retry, &open, &min_retry);
    if (open > 0)
        a->open_seen = 1;
    st->accepted += c[0];
    st->rejected += c[1];
    st->expired += c[2];
    st->failed += c[3];
    st->cancelled += rec->n - c[0] - c[1] - c[2] - c[3] - open;
    if (stop) {
        st->cancelled += open;
        open = retry = 0;
    }
    st->retrying += retry;
    if (retry > 0 && (st->next_retry_ms == 0 || min_retry < st->next_retry_ms))
        st->next_retry_ms = min_retry;
    if (open > 0)
        a->all_done = 0;
    else if (rec->done_ms > a->finished)
        a->finished = rec->done_ms;
    if (held)
        a->leased = 1;
    a->seen++;
    a->in_seen += rec->n;
    if (a->r->u.status.outcomes == NULL)
        return;
    for (uint32_t i = 0; i < rec->n && first + i < a->job->n; i++) {
        gw_token_outcome *o = &a->r->u.status.outcomes[first + i];
        const gw_js_rej *x;

        o->state = (gw_token_state)rec->state[i];
        if (stop && !gw_token_state_final(o->state))
            o->state = GW_TOKEN_CANCELLED;
        o->attempts = rec->attempts[i];
        if (o->state == GW_TOKEN_RETRY)
            o->retry_at_ms = rec->retry_at[i];
        if (gw_queue__has_extra(o->state) && (x = gw_js_rec_rej(rec, i)) != NULL) {
            o->status = x->status;
            o->apns_ts_ms = x->apns_ts;
            snprintf(o->reason, sizeof(o->reason), "%s", x->reason);
        }
    }
}

/* One outcome record (a gw_js_scan visit): "$KV.P_OUT.<job>.<seq>". */
static int add_value(void *ud, natsMsg *m, uint64_t sseq)
{
    agg *a = ud;
    const char *subj = NULL, *dot;
    unsigned long seq;
    gw_js_rec rec;

    (void)sseq;
    if (m == NULL) { /* start again */
        agg_begin(a, a->js, a->r, a->job);
        return 0;
    }
    /* A direct get's answer names the subject in a header. */
    if (natsMsgHeader_Get(m, "Nats-Subject", &subj) != NATS_OK || subj == NULL)
        subj = natsMsg_GetSubject(m);
    if (subj == NULL || (dot = strrchr(subj, '.')) == NULL)
        return 0;
    seq = strtoul(dot + 1, NULL, 10);
    if (seq >= a->job->n_chunks)
        return 0;
    if (a->seen_key[seq / 8] & (1u << (seq % 8))) {
        a->twice = 1;
        return 0;
    }
    if (gw_js_rec_decode(&rec, (const uint8_t *)natsMsg_GetData(m),
                         (size_t)natsMsg_GetDataLength(m)) != 0)
        return 0;
    a->seen_key[seq / 8] |= (uint8_t)(1u << (seq % 8));
    add_record(a, (uint32_t)seq, &rec);
    gw_js_rec_cleanup(&rec);
    return 0;
}

/* A packed job's part of its pack's one record "<pack>.0" (none yet:
 * every token pending). 0 or a mapped code. */
static int add_pack_record(gw_js *js, agg *a, const gw_js_job *job, char *detail, size_t dlen)
{
    char key[GW_JOB_ID_LEN + 3];
    uint8_t *val = NULL;
    size_t len = 0;
    int found = 0, rc;
    gw_js_rec rec, part;

    gw_js_pack_key(job->id, key);
    rc = gw_js_kv_get(js, js->kv[JS_OUT], key, &val, &len, NULL, &found, "status", detail, dlen);
    if (rc != 0 || !found) {
        free(val);
        return rc;
    }
    rc = gw_js_rec_decode(&rec, val, len);
    free(val);
    if (rc != 0)
        return rc == APNS_ENOMEM ? rc : 0; /* unreadable: as none (it is rewritten) */
    rc = gw_js_rec_slice(&rec, job->pack_off, job->n, &part);
    gw_js_rec_cleanup(&rec);
    if (rc == APNS_EINVAL)
        return 0;
    if (rc != 0) {
        snprintf(detail, dlen, "out of memory for job status");
        return rc;
    }
    add_record(a, 0, &part);
    gw_js_rec_cleanup(&part);
    return 0;
}

int gw_js_job_read(gw_js *js, const char *id, gw_js_job *job, const char *what, char *detail,
                   size_t dlen)
{
    uint8_t *val = NULL;
    size_t len = 0;
    int found = 0, rc;
    char pack[GW_JOB_ID_LEN + 1];

    memset(job, 0, sizeof(*job));
    if (gw_queue__pack_of(id, pack) >= 0) {
        /* A packed job: its header is in its pack's (queue_pack.c). */
        int state = 0;
        uint32_t off = 0;

        rc = gw_js_kv_get(js, js->kv[JS_JOBS], pack, &val, &len, NULL, &found, what, detail, dlen);
        if (rc != 0)
            return rc;
        if (found && len >= 4 && memcmp(val, JS_PACKHDR_MAGIC, 4) == 0) {
            rc = gw_js_packhdr_find(val, len, id, &state, job, &off);
            free(val);
            if (rc == APNS_ENOMEM)
                return rc;
            if (rc != 0 || state != JS_JOB_COMMITTED) {
                gw_js_job_cleanup(job);
                snprintf(detail, dlen, "no job %s", id);
                return GW_QUEUE_ENOTFOUND;
            }
            job->packed = 1;
            job->pack_off = off;
            rc = 1;
            goto group;
        }
        /* Not a pack: a job stored before packs whose id happens to carry
         * the mark (half of them did), read by its own key. */
        free(val);
        val = NULL;
        found = 0;
    }
    rc = gw_js_kv_get(js, js->kv[JS_JOBS], id, &val, &len, NULL, &found, what, detail, dlen);
    if (rc != 0)
        return rc;
    if (found && gw_js_job_decode(job, val, len) == 0 && job->state == JS_JOB_COMMITTED)
        rc = 1;
    free(val);
group:
    if (rc == 1 && job->group[0] != '\0') {
        /* A job of a request with a commit record exists once that record
         * says committed. An aborted request, or one never committed
         * within the grace, is no such job, as with SQLite, which never
         * stores a failed request's jobs; this also settles a request no
         * lease ever will (none of its chunks is left in the stream). */
        rc = gw_js_group_status(js, job->group, gw_queue__now(js->q) - job->created, detail, dlen);
        if (rc < 0) {
            gw_js_job_cleanup(job);
            return rc;
        }
    }
    if (rc != 1) {
        gw_js_job_cleanup(job);
        snprintf(detail, dlen, "no job %s", id);
        return GW_QUEUE_ENOTFOUND;
    }
    return 0;
}

int gw_js_op_status(gw_js *js, gw_queue_req *r)
{
    gw_job_status *st = &r->u.status.st;
    int rc;
    gw_js_job job;
    agg a = {0};
    char filter[GW_JOB_ID_LEN + 96], stream[96];
    gw_js_scan sc = {.stream = stream,
                     .filter = filter,
                     .what = "status",
                     .last_per_subject = 1,
                     .visit = add_value,
                     .ud = &a};

    rc = gw_js_job_read(js, r->u.status.id, &job, "status", r->detail, sizeof(r->detail));
    if (rc != 0)
        return rc;
    if (job.per == 0)
        job.per = js->q->o.chunk_tokens;
    if (job.n <= js->q->o.small_job_tokens && job.tokens != NULL) {
        size_t pos = 0;

        r->u.status.outcomes = calloc(job.n ? job.n : 1, sizeof(gw_token_outcome));
        if (r->u.status.outcomes == NULL) {
            gw_js_job_cleanup(&job);
            snprintf(r->detail, sizeof(r->detail), "out of memory for job status");
            return APNS_ENOMEM;
        }
        for (uint32_t i = 0; i < job.n && pos < job.tokens_len; i++) {
            size_t rl = gw_token_rec_text(job.tokens + pos, job.tokens_len - pos,
                                          r->u.status.outcomes[i].token);
            if (rl == 0)
                break;
            pos += rl;
        }
    }
    rc = gw_js_cancel_get(js, job.id, &a.cancel_ms, r->detail, sizeof(r->detail));
    if (rc != 0) {
        gw_js_job_cleanup(&job);
        return rc;
    }
    /* Settled: every node has looked at the mark (js_cancel.c) and marked
     * the records of the chunks it holds. Before, a node may hold a chunk
     * it has not written a record for yet: nothing is counted cancelled
     * that a record does not say, and the job is in flight. */
    a.derive = a.cancel_ms != 0 && gw_queue__now(js->q) - a.cancel_ms >= JS_CANCEL_SETTLE_MS;
    /* Chunks without a record: every token pending, or cancelled. */
    for (uint32_t i = 0; a.derive && r->u.status.outcomes != NULL && i < job.n; i++)
        r->u.status.outcomes[i].state = GW_TOKEN_CANCELLED;
    a.seen_key = calloc(job.n_chunks / 8 + 1, 1);
    if (a.seen_key == NULL) {
        gw_js_job_cleanup(&job);
        snprintf(r->detail, sizeof(r->detail), "out of memory for job status");
        return APNS_ENOMEM;
    }
    agg_begin(&a, js, r, &job);
    if (job.packed) {
        rc = add_pack_record(js, &a, &job, r->detail, sizeof(r->detail));
        goto summed;
    }
    snprintf(filter, sizeof(filter), "$KV.%s.%s.*", js->bucket[JS_OUT], job.id);
    snprintf(stream, sizeof(stream), "KV_%s", js->bucket[JS_OUT]);
    sc.direct = job.n_chunks <= 64;
    rc = gw_js_scan_run(js, &sc, r->detail, sizeof(r->detail));
    if (rc == 0 && a.twice && sc.direct) {
        gw_queue__log(js->q, APNS_LOG_WARN,
                      "queue jetstream %s: status of job %s: direct gets met an outcome record "
                      "twice (the replicas disagree); reading it again from the stream leader",
                      js->servers_text, job.id);
        agg_begin(&a, js, r, &job);
        sc.direct = 0;
        rc = gw_js_scan_run(js, &sc, r->detail, sizeof(r->detail));
    }
summed:
    free(a.seen_key);
    if (rc != 0) {
        gw_js_job_cleanup(&job);
        return rc;
    }
    if (a.seen < job.n_chunks && !a.derive)
        a.all_done = 0;
    st->cancelled_ms = a.cancel_ms;
    if (a.derive) {
        st->cancelled += job.n > a.in_seen ? job.n - a.in_seen : 0;
        /* A job that was finished before its cancel keeps its finish
         * time (and its state: nothing was left to cancel), as SQLite. */
        if ((a.open_seen || a.seen < job.n_chunks) && a.cancel_ms > a.finished)
            a.finished = a.cancel_ms;
    } else if (a.cancel_ms != 0 && !a.all_done) {
        a.leased = 1; /* being stopped */
    }
    st->finished_ms = a.all_done ? a.finished : 0;
    r->u.status.leased = a.leased;
    r->u.status.finished = a.all_done;
    gw_js_job_cleanup(&job);
    return 0;
}
