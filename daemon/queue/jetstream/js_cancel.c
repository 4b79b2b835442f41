/*
 * js_cancel.c - cancels on the JetStream backend (gw_queue_cancel): the
 * fleet-wide, durable cancel mark and what every node does about it.
 *
 * Design note
 * -----------
 * The mark is an entry of KV <P>_CANCEL, key "<job>", value "AJX1" and the
 * cancel time (ms, 64-bit little-endian), created with compare-and-set on
 * absence: the first cancel's time stays, a repeat changes nothing. The
 * bucket has the job buckets' TTL (retention). Storing it is the commit of
 * the cancel: the API answers after it is stored on a quorum.
 *
 * Nobody can reach into the work queue to delete a job's chunk messages,
 * so the chunks are stopped where they pass:
 *  - LEASE (gw_js_cancel_take, every chunk a node is about to hand out):
 *    the mark is read (a per-node cache of jobs known cancelled, else one
 *    KV read; never a cached "not cancelled"), and for a cancelled job the
 *    chunk's open tokens are recorded GW_TOKEN_CANCELLED (compare-and-set,
 *    merged with a concurrent writer) and the message acked: the node that
 *    fetches a cancelled job's chunk finishes it in one record write, never
 *    a write per token. The fleet keeps fetching, so the job's queued
 *    chunks drain at lease speed; a chunk delayed by a nak (send_at, retry)
 *    is finished when its delay ends.
 *  - HELD CHUNKS (gw_js_cancel_tick, once a second from ops->idle): a node
 *    reads the marks of the jobs whose chunks it holds; for a cancelled one
 *    the front end marks the chunks (gw_queue__cancel_notice ->
 *    gw_chunk.cancelled) so the dispatcher submits nothing more of them and
 *    hands them back once its flights end: a node holding chunks of a job
 *    another node cancelled stops within about a second. The node that
 *    stored the cancel marks its own chunks at once (the front end, when
 *    the cancel is delivered).
 *  - RELEASE (gw_js_cancel_release): a hand-back of a cancelled job's
 *    chunk records its open tokens cancelled with the release's record
 *    write, and the message is acked.
 *
 * Status (js_status.c) reads the mark too: a cancelled job's open tokens
 * in chunks no node holds are counted cancelled at once (they will never
 * be sent), before the lease that writes it down comes. A node marks the
 * records of the chunks it holds (held_at) when it learns of the cancel, so
 * they count as in flight until handed back. Before that can have happened
 * (JS_CANCEL_SETTLE_MS after the cancel: more than a node needs to learn
 * of it) a chunk fetched just before the cancel may have no record yet:
 * until then the status counts only what the records say, in flight.
 *
 * Versions: a record holding a cancelled token is written as version 2
 * (JS_REC_FORMAT), so a node of an earlier version never rewrites it; such
 * a node does not read the marks either (it would go on sending a
 * cancelled job's chunks it fetches): upgrade every node before using
 * cancels (docs/operations.md).
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_CANCEL_CACHE 256
#define JS_CANCEL_LEN   12 /* "AJX1" + u64 */

typedef struct gw_js_cancels {
    pthread_mutex_t mu;
    char id[JS_CANCEL_CACHE][GW_JOB_ID_LEN + 3]; /* jobs (and pack flags) known cancelled */
    int64_t ms[JS_CANCEL_CACHE];
    size_t pos;
    int64_t tick_due; /* queue thread: mono ms of the next look at held chunks */
    size_t tick_pos;  /* queue thread: where the last look stopped (budget) */
} gw_js_cancels;

int gw_js_cancel_init(gw_js *js)
{
    js->cancels = calloc(1, sizeof(*js->cancels));
    if (js->cancels == NULL)
        return APNS_ENOMEM;
    pthread_mutex_init(&js->cancels->mu, NULL);
    return 0;
}

void gw_js_cancel_free(gw_js *js)
{
    if (js->cancels == NULL)
        return;
    pthread_mutex_destroy(&js->cancels->mu);
    free(js->cancels);
    js->cancels = NULL;
}

static void encode(int64_t ms, uint8_t out[JS_CANCEL_LEN])
{
    memcpy(out, "AJX1", 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)((uint64_t)ms >> (8 * i));
}

/* The time of a mark; 1 (not 0: still a mark) for one this node cannot
 * read (a later version's). */
static int64_t decode(const uint8_t *p, size_t len)
{
    uint64_t v = 0;

    if (len < JS_CANCEL_LEN || memcmp(p, "AJX", 3) != 0)
        return 1;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[4 + i] << (8 * i);
    return v > 0 && v < (uint64_t)INT64_MAX ? (int64_t)v : 1;
}

static int64_t cache_find(gw_js *js, const char *id)
{
    gw_js_cancels *c = js->cancels;
    int64_t ms = 0;

    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < JS_CANCEL_CACHE && ms == 0; i++)
        if (c->id[i][0] != '\0' && strcmp(c->id[i], id) == 0)
            ms = c->ms[i];
    pthread_mutex_unlock(&c->mu);
    return ms;
}

static void cache_add(gw_js *js, const char *id, int64_t ms)
{
    gw_js_cancels *c = js->cancels;

    pthread_mutex_lock(&c->mu);
    snprintf(c->id[c->pos], sizeof(c->id[c->pos]), "%s", id);
    c->ms[c->pos] = ms;
    c->pos = (c->pos + 1) % JS_CANCEL_CACHE;
    pthread_mutex_unlock(&c->mu);
}

int gw_js_cancel_get(gw_js *js, const char *job_id, int64_t *ms, char *detail, size_t dlen)
{
    uint8_t *val = NULL;
    size_t len = 0;
    int found = 0, rc;

    *ms = cache_find(js, job_id);
    if (*ms != 0)
        return 0;
    rc = gw_js_kv_get(js, js->kv[JS_CANCEL], job_id, &val, &len, NULL, &found, "cancel (read)",
                      detail, dlen);
    if (rc != 0)
        return rc;
    if (found) {
        *ms = decode(val, len);
        cache_add(js, job_id, *ms);
    }
    free(val);
    return 0;
}

int gw_js_op_cancel(gw_js *js, gw_queue_req *r)
{
    uint8_t mark[JS_CANCEL_LEN];
    int conflict = 0, rc;
    int64_t ms = 0;
    gw_js_job job;
    char pack[GW_JOB_ID_LEN + 1], flag[GW_JOB_ID_LEN + 3];

    rc = gw_js_job_read(js, r->u.status.id, &job, "cancel", r->detail, sizeof(r->detail));
    if (rc != 0)
        return rc;
    gw_js_job_cleanup(&job);
    encode(gw_queue__now(js->q), mark);
    rc = gw_js_kv_cas(js, js->bucket[JS_CANCEL], r->u.status.id, mark, sizeof(mark), 0, 0, NULL,
                      &conflict, "cancel", r->detail, sizeof(r->detail));
    if (rc != 0)
        return rc;
    if (!conflict) /* ours is the mark; else the first one's stays */
        cache_add(js, r->u.status.id, decode(mark, sizeof(mark)));
    if (gw_queue__pack_of(r->u.status.id, pack) >= 0) {
        /* A packed job: its pack's flag too, after the mark, so a node
         * that sees no flag reads no member's mark (the first flag stays). */
        gw_js_cancel_flag_key(pack, flag);
        rc = gw_js_kv_cas(js, js->bucket[JS_CANCEL], flag, mark, sizeof(mark), 0, 0, NULL,
                          &conflict, "cancel", r->detail, sizeof(r->detail));
        if (rc != 0)
            return rc;
    }
    rc = gw_js_cancel_get(js, r->u.status.id, &ms, r->detail, sizeof(r->detail));
    if (rc != 0)
        return rc;
    r->work = JS_WORK_ANY; /* the fleet's leases finish the queued chunks */
    return gw_js_op_status(js, r);
}

void gw_js_cancel_flag_key(const char *pack_id, char out[GW_JOB_ID_LEN + 3])
{
    snprintf(out, GW_JOB_ID_LEN + 3, "p.%.*s", GW_JOB_ID_LEN, pack_id);
}

/* Makes every open token of rec in [off, off + n) CANCELLED; returns how
 * many. The record is finished (done_ms) when nothing of it is left open. */
static uint32_t cancel_range(gw_js_rec *rec, uint32_t off, uint32_t n, int64_t now)
{
    uint32_t k = 0;

    for (uint32_t i = off; i < off + n && i < rec->n; i++)
        if (!gw_token_state_final((gw_token_state)rec->state[i]))
            k += (uint32_t)gw_js_rec_apply(rec, i, GW_TOKEN_CANCELLED, 0, NULL, 0, 0);
    if (!gw_js_rec_open_in(rec, 0, rec->n)) {
        if (k > 0 || rec->done_ms == 0)
            rec->done_ms = now;
        rec->held_at = 0;
    }
    return k;
}

/* Cancels the open tokens of l's members marked in hit (NULL: all). */
static uint32_t cancel_members(gw_js_lease *l, const uint8_t *hit, int64_t now)
{
    uint32_t k = 0;

    for (uint32_t i = 0; i < l->n_mem; i++)
        if (hit == NULL || hit[i])
            k += cancel_range(&l->rec, l->mem[i].off, l->mem[i].n, now);
    return k;
}

typedef struct recount {
    uint32_t *k;
    int64_t now;
    const uint8_t *hit;
} recount;

/* gw_js_rec_store's merged hook: a concurrent writer's cancelled tokens and
 * answers are theirs (a final state wins the merge), so ours are counted
 * again: the tokens open in theirs that this record cancels. */
static void cancel_again(gw_js_lease *l, const gw_js_rec *theirs, void *ud)
{
    recount *c = ud;

    *c->k = 0;
    for (uint32_t m = 0; m < l->n_mem; m++) {
        if (c->hit != NULL && !c->hit[m])
            continue;
        for (uint32_t i = l->mem[m].off;
             i < l->mem[m].off + l->mem[m].n && i < theirs->n && i < l->rec.n; i++)
            *c->k += !gw_token_state_final((gw_token_state)theirs->state[i]) &&
                     l->rec.state[i] == GW_TOKEN_CANCELLED;
    }
    cancel_members(l, c->hit, c->now);
}

/* Which of l's jobs are cancelled: *hit (malloc'd, one byte per member;
 * NULL when none is). A pack reads its flag first, and its members' marks
 * only when the flag is set. 0 or a mapped code (detail written). */
static int cancelled_members(gw_js *js, const gw_js_lease *l, uint8_t **hit, char *detail,
                             size_t dlen)
{
    int64_t ms = 0;
    int any = 0, rc;

    *hit = NULL;
    if (l->pack) {
        char flag[GW_JOB_ID_LEN + 3];
        gw_js_cancel_flag_key(l->key, flag);
        rc = gw_js_cancel_get(js, flag, &ms, detail, dlen);
        if (rc != 0 || ms == 0)
            return rc;
    }
    *hit = calloc(l->n_mem, 1);
    if (*hit == NULL) {
        snprintf(detail, dlen, "out of memory while reading cancel marks");
        return APNS_ENOMEM;
    }
    for (uint32_t i = 0; i < l->n_mem; i++) {
        rc = gw_js_cancel_get(js, l->mem[i].job_id, &ms, detail, dlen);
        if (rc != 0) {
            free(*hit);
            *hit = NULL;
            return rc;
        }
        (*hit)[i] = ms != 0;
        any |= ms != 0;
    }
    if (!any) {
        free(*hit);
        *hit = NULL;
    }
    return 0;
}

int gw_js_cancel_take(gw_js *js, gw_js_lease *l, int64_t now)
{
    char detail[384];
    uint8_t *hit = NULL;
    uint32_t k;
    int rc;

    if (cancelled_members(js, l, &hit, detail, sizeof(detail)) != 0) {
        /* Cannot tell: handed out (fail open). Kept back, the chunk would
         * come back after ack_wait, each time counted toward
         * max_deliveries, and a long outage of the bucket alone would park
         * chunks nobody cancelled; handed out, a cancelled job's chunk is
         * stopped by the once-a-second look (gw_js_cancel_tick) when the
         * mark can be read again. */
        gw_queue__log(js->q, APNS_LOG_WARN,
                      "%s (the chunk is sent: its cancel mark is read again "
                      "within a second)",
                      detail);
        return 0;
    }
    if (hit == NULL)
        return 0;
    k = cancel_members(l, hit, now);
    recount c = {&k, now, hit};
    rc = gw_js_rec_store(js, l, 0, cancel_again, &c, detail, sizeof(detail));
    free(hit);
    if (rc != 0) {
        gw_queue__log(js->q, APNS_LOG_WARN, "%s", detail);
        return 1; /* not acked: back after ack_wait */
    }
    gw_queue__depth_add(js->q, -(int64_t)k);
    gw_queue__cancelled_add(js->q, k);
    if (gw_js_rec_open_in(&l->rec, 0, l->rec.n))
        return 0; /* a pack with jobs not cancelled: those are handed out */
    atomic_fetch_add(&js->op_ack, 1);
    natsMsg_Ack(l->msg, NULL);
    return 1;
}

void gw_js_cancel_release(gw_js *js, gw_js_lease *l, gw_queue_req *r, int64_t now)
{
    char detail[384];
    uint8_t *hit = NULL;
    uint32_t k;

    if (!gw_js_rec_open_in(&l->rec, 0, l->rec.n) ||
        cancelled_members(js, l, &hit, detail, sizeof(detail)) != 0 || hit == NULL)
        return; /* nothing open; a failed read: handed back as usual, finished at its next lease */
    k = cancel_members(l, hit, now);
    free(hit);
    if (k == 0)
        return;
    l->new_finals += k;
    l->dirty = 1;
    r->cancelled += k;
}

/* Stores l's record as it is (compare-and-set; a concurrent writer's
 * answers merged in). 0 or a mapped code. */
static int store_held(gw_js *js, gw_js_lease *l, char *detail, size_t dlen)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        uint8_t *buf = NULL, *val = NULL;
        size_t blen = 0, len = 0;
        uint64_t new_rev = 0;
        int conflict = 0, found = 0, rc;

        if (gw_js_rec_encode(&l->rec, &buf, &blen) != 0)
            return APNS_ENOMEM;
        rc = gw_js_kv_cas(js, js->bucket[JS_OUT], l->key, buf, blen, l->rev, 0, &new_rev, &conflict,
                          "cancel (held)", detail, dlen);
        free(buf);
        if (rc != 0 || !conflict) {
            if (rc == 0)
                l->rev = new_rev;
            return rc;
        }
        rc = gw_js_kv_get(js, js->kv[JS_OUT], l->key, &val, &len, &l->rev, &found, "cancel (held)",
                          detail, dlen);
        if (rc != 0)
            return rc;
        if (found) {
            gw_js_rec theirs;
            if (gw_js_rec_decode(&theirs, val, len) == 0) {
                gw_js_rec_merge(&l->rec, &theirs);
                gw_js_rec_cleanup(&theirs);
            }
        }
        free(val);
    }
    return GW_QUEUE_ESTORE;
}

/* Orders held leases by their key (it starts with the job or pack id), so
 * a job's mark is read once per look. */
static int by_job(const void *a, const void *b)
{
    const gw_js_lease *x = *(gw_js_lease *const *)a, *y = *(gw_js_lease *const *)b;

    return strncmp(x->key, y->key, GW_JOB_ID_LEN);
}

/* A look reads at most this long (ms); the next one goes on from there. */
#define TICK_BUDGET_MS  100
/* After a failed read (the servers are out of reach: each read would wait
 * for op_timeout) the next look is this much later. */
#define TICK_BACKOFF_MS 5000

void gw_js_cancel_tick(gw_js *js)
{
    gw_js_lease **v = NULL;
    size_t n = 0, cap = 0;
    int64_t mono = common_mono_ms(), now = gw_queue__now(js->q);
    char key[GW_JOB_ID_LEN + 1] = "", detail[384];
    int any = 0;

    if (js->cancels == NULL || mono < js->cancels->tick_due)
        return;
    js->cancels->tick_due = mono + 1000;
    /* The leases this node holds (only this thread unlinks and frees them). */
    pthread_mutex_lock(&js->lease_mu);
    COMMON_LIST_FOREACH(it, tmp, &js->leases)
    {
        if (n == cap) {
            size_t c2 = cap ? 2 * cap : 16;
            void *p = realloc(v, c2 * sizeof(*v));
            if (p == NULL)
                break;
            v = p;
            cap = c2;
        }
        v[n++] = COMMON_CONTAINER_OF(it, gw_js_lease, node);
    }
    pthread_mutex_unlock(&js->lease_mu);
    if (n > 1)
        qsort(v, n, sizeof(*v), by_job);
    /* One read per job (a pack: its flag, and its members' marks only when
     * it is set), within the budget, going on where the last look stopped;
     * a failed read ends the look (the queue thread must not wait
     * op_timeout once per held job while the servers are out of reach:
     * submits and status reads wait behind it). */
    for (size_t k = 0, start = n ? js->cancels->tick_pos % n : 0; k < n; k++) {
        size_t i = (start + k) % n;
        gw_js_lease *l = v[i];

        if (strncmp(key, l->key, GW_JOB_ID_LEN) != 0) {
            uint8_t *hit = NULL;

            if (common_mono_ms() - mono > TICK_BUDGET_MS) {
                js->cancels->tick_pos = i;
                break;
            }
            snprintf(key, sizeof(key), "%.*s", GW_JOB_ID_LEN, l->key);
            if (cancelled_members(js, l, &hit, detail, sizeof(detail)) != 0) {
                js->cancels->tick_due = common_mono_ms() + TICK_BACKOFF_MS;
                js->cancels->tick_pos = i;
                break;
            }
            any = hit != NULL;
            for (uint32_t m = 0; hit != NULL && m < l->n_mem; m++)
                if (hit[m])
                    gw_queue__cancel_notice(js->q, l->mem[m].job_id);
            free(hit);
        }
        /* A held chunk of a cancelled job says so in its record until it is
         * handed back, so a status read anywhere counts it in flight (its
         * sent tokens are still being answered). */
        if (any && !l->dirty && !l->releasing &&
            (l->rec.held_at == 0 || now - l->rec.held_at > js->q->o.lease_ttl_ms / 2)) {
            l->rec.held_at = now;
            if (store_held(js, l, detail, sizeof(detail)) != 0)
                gw_queue__log(js->q, APNS_LOG_WARN, "%s", detail);
        }
    }
    free(v);
}
