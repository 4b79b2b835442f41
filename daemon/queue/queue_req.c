/*
 * queue_req.c - the front end's machinery (internal/queue_backend.h): the
 * life of a request, the storage threads, the leased-chunk list, releases
 * the storage refused, the depth and statistics, opening and freeing.
 *
 * Design note. A request is allocated on the loop thread (queue.c fills in
 * its arguments), posted to the storage worker (store_worker.c), run there
 * in a batch by the backend, and completed back on the loop thread: its
 * callback runs (deliver) or, at gw_queue_free, it is only freed; a token
 * request still gets its one callback then (GW_QUEUE_ECLOSED), so its
 * caller can always free what it passed. The backend's batch function is
 * wrapped so that what every backend would do after a batch happens here
 * once: a submit's depth reservation becomes depth (stored) or is given
 * back (failed), a request's depth_add is applied when it succeeded, and
 * ops->notify_work runs once when a request that succeeded found new work.
 * Both happen on the storage thread before the completion is queued, so a
 * callback always sees the depth its request left.
 *
 * Releases the storage refused (disk full, I/O error). A backend whose
 * leases do not expire (SQLite: a lease lasts until released or until the
 * process ends) would keep such a chunk leased until a restart, so the
 * release is kept and posted again every second until the storage takes
 * it; bounded by the chunks ever leased at once. A backend whose leases
 * expire (JetStream's ack_wait) gets its chunk back by itself.
 */
#include "queue_backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

/* ---- requests ------------------------------------------------------------- */

void gw_queue__fail(gw_queue_req *r, int err, const char *detail)
{
    if (r->err != 0 || err == 0)
        return;
    r->err = err;
    snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

void gw_queue__lease_discard(gw_queue_req *r)
{
    for (size_t i = 0; i < r->u.lease.n; i++)
        free(r->u.lease.chunks[i]);
    r->u.lease.n = 0;
}

void gw_queue__req_free(gw_queue_req *r)
{
    switch (r->kind) {
    case GW_QUEUE_REQ_SUBMIT:
        free(r->u.submit.strings);
        gw_token_list_cleanup(&r->u.submit.tokens);
        break;
    case GW_QUEUE_REQ_LEASE:
        gw_queue__lease_discard(r); /* not handed out (closing) */
        free(r->u.lease.chunks);
        break;
    case GW_QUEUE_REQ_RECORD:
        free(r->u.record.v);
        free(r->u.record.extra);
        gw_queue__outbox_req_free(r);
        break;
    case GW_QUEUE_REQ_OUTBOX:
        gw_queue__outbox_req_free(r);
        break;
    case GW_QUEUE_REQ_IDEM:
        gw_queue__idem_free(r);
        break;
    case GW_QUEUE_REQ_STATUS:
    case GW_QUEUE_REQ_CANCEL:
        free(r->u.status.outcomes);
        break;
    case GW_QUEUE_REQ_DEAD_ADD:
    case GW_QUEUE_REQ_DEAD_LIST:
    case GW_QUEUE_REQ_DEAD_DELETE:
        free(r->u.dead.app);
        free(r->u.dead.raw);
        free(r->u.dead.v);
        break;
    case GW_QUEUE_REQ_TOKEN:
        free(r->u.token);
        break;
    case GW_QUEUE_REQ_CHANNEL:
        free(r->u.channel.app);
        free(r->u.channel.ids);
        free(r->u.channel.v);
        break;
    default:
        break;
    }
    free(r);
}

static void complete(gw_req *g, int deliver);

gw_queue_req *gw_queue__req_new(gw_queue *q, gw_queue_kind kind, int bounded, void (*cb)(void),
                                void *ud)
{
    gw_queue_req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->base.bounded = bounded;
    /* Nobody waits for an outcome or a hand-back to be stored (a crash
     * before its commit only resends): they may wait for company. */
    r->base.lazy = kind == GW_QUEUE_REQ_RECORD || kind == GW_QUEUE_REQ_RELEASE;
    r->base.complete = complete;
    r->q = q;
    r->kind = kind;
    r->cb = cb;
    r->ud = ud;
    return r;
}

int gw_queue__post(gw_queue *q, gw_queue_req *r)
{
    gw_worker *w = r->kind == GW_QUEUE_REQ_LEASE && q->lw != NULL ? q->lw : q->w;
    int rc;

    if (q->group != 0 && w == q->w && q->group_n == q->group_cap) {
        size_t cap = q->group_cap ? 2 * q->group_cap : 16;
        gw_queue_req **v = realloc(q->group_v, cap * sizeof *v);
        if (v == NULL) {
            gw_queue__req_free(r);
            return APNS_ENOMEM;
        }
        q->group_v = v;
        q->group_cap = cap;
    }
    if (q->group != 0 && w == q->w)
        r->group = q->group;
    rc = gw_worker_post(w, &r->base);
    if (rc != 0)
        gw_queue__req_free(r);
    else if (r->group != 0)
        q->group_v[q->group_n++] = r; /* held: the worker has not taken it */
    return rc;
}

/* ---- releases the storage refused (loop thread) ------------------------------ */

static void refused_cb(evutil_socket_t fd, short what, void *arg);

static void refused_add(gw_queue *q, uint64_t chunk, int64_t not_before)
{
    if (q->n_refused == q->cap_refused) {
        size_t cap = q->cap_refused ? 2 * q->cap_refused : 16;
        struct gw_queue_refused *v = realloc(q->refused, cap * sizeof *v);
        if (v == NULL) {
            gw_queue__log(q, APNS_LOG_ERROR,
                          "queue %s: out of memory keeping a refused release; chunk %llu stays "
                          "leased until restart",
                          q->ops->name, (unsigned long long)chunk);
            return;
        }
        q->refused = v;
        q->cap_refused = cap;
    }
    q->refused[q->n_refused].chunk = chunk;
    q->refused[q->n_refused].not_before = not_before;
    q->n_refused++;
    if (q->refused_ev == NULL)
        q->refused_ev = evtimer_new(q->o.base, refused_cb, q);
    if (q->refused_ev != NULL && !evtimer_pending(q->refused_ev, NULL)) {
        struct timeval one_s = {1, 0};
        evtimer_add(q->refused_ev, &one_s);
    }
}

static void refused_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_queue *q = arg;
    size_t n = q->n_refused;

    q->n_refused = 0;
    for (size_t i = 0; i < n; i++) {
        struct gw_queue_refused rr = q->refused[i];
        gw_queue_req *r = gw_queue__req_new(q, GW_QUEUE_REQ_RELEASE, 0, NULL, NULL);
        if (r != NULL) {
            r->u.release.chunk = rr.chunk;
            r->u.release.not_before = rr.not_before;
        }
        if (r == NULL || gw_queue__post(q, r) != 0)
            refused_add(q, rr.chunk, rr.not_before); /* try again next second */
    }
}

/* ---- completion (loop thread) ------------------------------------------------- */

/* The job state of a status from its counts (pending filled in), whether a
 * chunk is leased right now and whether the job is finished. */
static gw_job_state job_state(const gw_job_status *st, int leased, int finished)
{
    uint64_t final = st->accepted + st->rejected + st->expired + st->failed + st->cancelled;

    if (finished || final >= st->tokens) {
        if (st->cancelled > 0)
            return GW_JOB_CANCELLED;
        if (st->accepted == st->tokens)
            return GW_JOB_DONE;
        if (st->expired == st->tokens)
            return GW_JOB_EXPIRED;
        return st->accepted > 0 ? GW_JOB_PARTIAL : GW_JOB_FAILED;
    }
    if (leased)
        return GW_JOB_IN_FLIGHT;
    if (final == 0 && st->retrying == 0)
        return GW_JOB_QUEUED;
    return st->pending == 0 ? GW_JOB_RETRYING : GW_JOB_IN_FLIGHT;
}

static void deliver_result(gw_queue_req *r)
{
    const char *d = r->err != 0 ? r->detail : "";
    gw_job_status *st = &r->u.status.st;

    switch (r->kind) {
    case GW_QUEUE_REQ_SUBMIT:
        ((gw_submit_cb)r->cb)(r->err, d, r->u.submit.f.job_id, r->ud);
        break;
    case GW_QUEUE_REQ_LEASE:
        if (r->err != 0)
            gw_queue__lease_discard(r); /* built before the storage failed */
        for (size_t i = 0; i < r->u.lease.n; i++) {
            r->u.lease.chunks[i]->priv.owner = r->q;
            common_clist_push_back(&r->q->leased, &r->u.lease.chunks[i]->priv.node);
        }
        ((gw_lease_cb)r->cb)(r->err, d, r->u.lease.chunks, r->u.lease.n, r->u.lease.next_at, r->ud);
        r->u.lease.n = 0; /* handed over */
        break;
    case GW_QUEUE_REQ_CANCEL:
        if (r->err == 0)
            gw_queue__cancel_mark(r->q, st->job_id);
        /* fall through */
    case GW_QUEUE_REQ_STATUS:
        st->pending = st->tokens - st->accepted - st->rejected - st->expired - st->failed -
                      st->retrying - st->cancelled;
        st->state = job_state(st, r->u.status.leased, r->u.status.finished);
        st->outcomes = r->u.status.outcomes;
        st->n_outcomes = st->outcomes != NULL ? st->tokens : 0;
        ((gw_status_cb)r->cb)(r->err, d, r->err == 0 ? &r->u.status.st : NULL, r->ud);
        break;
    case GW_QUEUE_REQ_DEAD_LIST:
        ((gw_dead_list_cb)r->cb)(r->err, d, r->u.dead.v, r->err == 0 ? r->u.dead.n : 0,
                                 r->u.dead.has_next ? r->u.dead.next : NULL, r->ud);
        break;
    case GW_QUEUE_REQ_DEAD_DELETE:
    case GW_QUEUE_REQ_PURGE:
    case GW_QUEUE_REQ_WAKE:
        if (r->cb != NULL)
            ((gw_count_cb)r->cb)(r->err, d,
                                 r->kind == GW_QUEUE_REQ_PURGE  ? r->u.purge.count
                                 : r->kind == GW_QUEUE_REQ_WAKE ? r->u.wake.count
                                                                : r->u.dead.count,
                                 r->ud);
        break;
    case GW_QUEUE_REQ_TOKEN:
        ((gw_queue_token_cb)r->cb)(r->err, d, r->err == 0 ? r->u.token->jwt : NULL,
                                   r->u.token->issued, r->u.token->minted, r->ud);
        break;
    case GW_QUEUE_REQ_CHANNEL:
        if (r->u.channel.op == GW_CHANNEL_OP_GET || r->u.channel.op == GW_CHANNEL_OP_LIST)
            ((gw_channel_cb)r->cb)(r->err, d, r->err == 0 ? r->u.channel.v : NULL,
                                   r->err == 0 ? r->u.channel.n : 0, r->ud);
        else if (r->u.channel.op == GW_CHANNEL_OP_SYNC) {
            if (r->cb != NULL)
                ((gw_channel_sync_cb)r->cb)(r->err, d, r->err == 0 ? r->u.channel.count : 0,
                                            r->err == 0 ? r->u.channel.removed : 0, r->ud);
        } else if (r->u.channel.op == GW_CHANNEL_OP_DELETE) {
            if (r->cb != NULL)
                ((gw_count_cb)r->cb)(r->err, d, r->err == 0 ? r->u.channel.count : 0, r->ud);
        } else if (r->cb != NULL) {
            ((gw_done_cb)r->cb)(r->err, d, r->ud);
        }
        break;
    case GW_QUEUE_REQ_OUTBOX:
        gw_queue__outbox_deliver(r);
        break;
    case GW_QUEUE_REQ_IDEM:
        gw_queue__idem_deliver(r, d);
        break;
    default: /* record, release, touch, dead add, control */
        if (r->cb != NULL)
            ((gw_done_cb)r->cb)(r->err, d, r->ud);
        break;
    }
}

/* Marks the jobs gw_queue__cancel_notice collected (loop thread). */
static void cancel_drain(gw_queue *q)
{
    char(*ids)[GW_JOB_ID_LEN + 1];
    size_t n;

    pthread_mutex_lock(&q->cancel_mu);
    ids = q->cancel_ids;
    n = q->n_cancel_ids;
    q->cancel_ids = NULL;
    q->n_cancel_ids = q->cap_cancel_ids = 0;
    pthread_mutex_unlock(&q->cancel_mu);
    for (size_t i = 0; i < n; i++)
        gw_queue__cancel_mark(q, ids[i]);
    free(ids);
}

void gw_queue__cancel_notice(gw_queue *q, const char *job_id)
{
    int add = 1;

    pthread_mutex_lock(&q->cancel_mu);
    for (size_t i = 0; i < q->n_cancel_ids && add; i++)
        add = strcmp(q->cancel_ids[i], job_id) != 0;
    if (add && q->n_cancel_ids == q->cap_cancel_ids) {
        size_t cap = q->cap_cancel_ids ? 2 * q->cap_cancel_ids : 8;
        void *p = realloc(q->cancel_ids, cap * sizeof(*q->cancel_ids));
        if (p != NULL) {
            q->cancel_ids = p;
            q->cap_cancel_ids = cap;
        } else {
            add = 0; /* the backend tells again at its next look */
        }
    }
    if (add)
        snprintf(q->cancel_ids[q->n_cancel_ids++], GW_JOB_ID_LEN + 1, "%s", job_id);
    pthread_mutex_unlock(&q->cancel_mu);
    gw_queue__notice(q);
}

static void complete(gw_req *g, int deliver)
{
    gw_queue_req *r = (gw_queue_req *)g;
    gw_queue *q = r->q;

    if (r->kind == GW_QUEUE_REQ_NOTICE) {
        atomic_store(&q->notice_pending, 0);
        if (deliver)
            cancel_drain(q);
        if (deliver && q->o.on_work != NULL)
            q->o.on_work(q->o.ud);
        free(r);
        return;
    }
    if (deliver) {
        deliver_result(r);
        if (r->err == 0 && r->work && q->o.on_work != NULL)
            q->o.on_work(q->o.ud);
        if (r->kind == GW_QUEUE_REQ_RELEASE && gw_queue_err_unavailable(r->err) &&
            !q->ops->leases_expire)
            refused_add(q, r->u.release.chunk, r->u.release.not_before);
    } else if (r->kind == GW_QUEUE_REQ_TOKEN) {
        /* Closing: the caller still gets its one callback (queue.h). */
        ((gw_queue_token_cb)r->cb)(GW_QUEUE_ECLOSED, "the queue is closing", NULL, 0, 0, r->ud);
    }
    gw_queue__req_free(r);
}

void gw_queue__notice(gw_queue *q)
{
    gw_queue_req *r;

    if (atomic_exchange(&q->notice_pending, 1))
        return;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_NOTICE, 0, NULL, NULL);
    if (r == NULL || gw_worker_post(q->w, &r->base) != 0) {
        free(r);
        atomic_store(&q->notice_pending, 0);
    }
}

/* ---- the storage threads ---------------------------------------------------------- */

/* After a batch, on the storage thread: what every backend would do. */
static void settle(gw_queue *q, gw_req *head)
{
    int work = 0;

    for (gw_req *g = head; g != NULL; g = g->next) {
        gw_queue_req *r = (gw_queue_req *)g;

        work |= r->err == 0 ? r->work : 0;
        if (r->kind == GW_QUEUE_REQ_SUBMIT) {
            int64_t n = (int64_t)r->u.submit.tokens.count;
            if (r->err == 0)
                atomic_fetch_add(&q->depth_local, n);
            atomic_fetch_sub(&q->depth_reserved, n);
        } else if (r->err == 0 && r->depth_add != 0) {
            atomic_fetch_add(&q->depth_local, r->depth_add);
        }
        if (r->err == 0 && r->cancelled != 0)
            atomic_fetch_add(&q->cancelled, r->cancelled);
    }
    if (work != 0 && q->ops->notify_work != NULL)
        q->ops->notify_work(q->be, work);
}

/* The lease thread's batches (only leases) go to ops->lease_batch. */
static void run_batch(gw_req *head, void *ud)
{
    gw_queue *q = ud;
    int lease = ((gw_queue_req *)head)->kind == GW_QUEUE_REQ_LEASE && q->lw != NULL;

    (lease ? q->ops->lease_batch : q->ops->batch)(head, q->be);
    settle(q, head);
}

static int64_t run_idle(void *ud)
{
    gw_queue *q = ud;

    return q->ops->idle(q->be);
}

/* Lazy requests that end a record window early (gw_worker_set_window). */
#define RECORD_WINDOW_MAX 256

static int start(gw_queue *q)
{
    int rc = gw_worker_new(&q->w, q->o.base, q->o.max_requests, run_batch,
                           q->ops->idle != NULL ? run_idle : NULL, q->first_idle_ms, q);

    if (rc == 0 && q->ops->record_window_ms > 0)
        gw_worker_set_window(q->w, q->ops->record_window_ms, RECORD_WINDOW_MAX);
    if (rc == 0 && q->ops->lease_batch != NULL)
        rc = gw_worker_new(&q->lw, q->o.base, q->o.max_requests, run_batch, NULL, -1, q);
    return rc;
}

/* ---- open and free ------------------------------------------------------------------ */

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

int gw_queue__open(gw_queue **out, const gw_queue_ops *ops, const gw_queue_opts *o, const void *bo,
                   char *detail, size_t detail_len)
{
    char scratch[256];
    gw_queue *q;
    int rc;

    if (detail == NULL || detail_len == 0) {
        detail = scratch;
        detail_len = sizeof(scratch);
    }
    detail[0] = '\0';
    if (out == NULL)
        return APNS_EINVAL;
    *out = NULL;
    rc = ops->check(o, bo, detail, detail_len);
    if (rc != 0)
        return rc;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return APNS_ENOMEM;
    q->ops = ops;
    q->o = *o;
    apply_defaults(&q->o);
    q->first_idle_ms = -1;
    common_clist_init(&q->leased);
    atomic_init(&q->depth_base, 0);
    atomic_init(&q->depth_local, 0);
    atomic_init(&q->depth_reserved, 0);
    atomic_init(&q->commits, 0);
    atomic_init(&q->failures, 0);
    atomic_init(&q->last_err, 0);
    atomic_init(&q->notice_pending, 0);
    atomic_init(&q->cancelled, 0);
    pthread_mutex_init(&q->cancel_mu, NULL);
    rc = ops->open(q, bo, detail, detail_len);
    if (rc == 0) {
        rc = start(q);
        ops->opened(q->be, rc, detail, detail_len);
    }
    if (rc != 0) {
        gw_queue_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

void gw_queue_free(gw_queue *q)
{
    if (q == NULL)
        return;
    if (q->be != NULL && q->ops->stop != NULL)
        q->ops->stop(q->be);
    gw_worker_free(q->lw); /* a long poll ends within its poll time */
    gw_worker_free(q->w);  /* runs what was posted, joins the thread */
    if (q->refused_ev != NULL)
        event_free(q->refused_ev);
    free(q->refused); /* a restart clears the leases they hold */
    free(q->group_v);
    for (common_list *n; (n = common_clist_pop_front(&q->leased)) != NULL;)
        free(COMMON_CONTAINER_OF(n, gw_chunk, priv.node));
    if (q->be != NULL)
        q->ops->free(q->be);
    gw_queue__outbox_free(q);
    free(q->cancel_ids);
    pthread_mutex_destroy(&q->cancel_mu);
    free(q);
}

int gw_queue__control(gw_queue *q, const gw_queue_ops *ops, int op, int64_t value, gw_done_cb cb,
                      void *ud)
{
    gw_queue_req *r;

    if (q == NULL || q->ops != ops)
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_CONTROL, 0, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    r->u.control.op = op;
    r->u.control.value = value;
    return gw_queue__post(q, r);
}

/* ---- helpers for backends ------------------------------------------------------------- */

int64_t gw_queue__now(const gw_queue *q)
{
    struct timespec ts;

    if (q->o.clock_ms != NULL)
        return q->o.clock_ms(q->o.ud);
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec gw_queue__abstime(int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

void gw_queue__log(const gw_queue *q, apns_log_level lvl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (q->o.on_log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    q->o.on_log(lvl, msg, q->o.ud);
}

void gw_queue__depth_add(gw_queue *q, int64_t delta)
{
    atomic_fetch_add(&q->depth_local, delta);
}

void gw_queue__cancelled_add(gw_queue *q, uint64_t n)
{
    atomic_fetch_add(&q->cancelled, n);
}

void gw_queue__cancel_mark(gw_queue *q, const char *job_id)
{
    int marked = 0;

    for (common_list *n = q->leased.head.next; n != &q->leased.head; n = n->next) {
        gw_chunk *c = COMMON_CONTAINER_OF(n, gw_chunk, priv.node);
        if (!c->cancelled && strcmp(c->job_id, job_id) == 0)
            marked = c->cancelled = 1;
    }
    /* The dispatcher hands marked chunks back at its next look: kick it. */
    if (marked && q->o.on_work != NULL)
        q->o.on_work(q->o.ud);
}

void gw_queue__depth_rebase(gw_queue *q, int64_t base)
{
    atomic_store(&q->depth_local, 0);
    atomic_store(&q->depth_base, base);
}

void gw_queue__result(gw_queue *q, int committed, int wrote, int err)
{
    if (committed)
        atomic_fetch_add(&q->commits, 1);
    if (err != 0) {
        atomic_fetch_add(&q->failures, 1);
        atomic_store(&q->last_err, err);
    } else if (committed && wrote) {
        atomic_store(&q->last_err, 0);
    }
}

int gw_queue__failing(const gw_queue *q)
{
    return atomic_load(&((gw_queue *)q)->last_err) != 0;
}

int gw_queue__req_writes(const gw_queue_req *r)
{
    switch (r->kind) {
    case GW_QUEUE_REQ_SUBMIT:
    case GW_QUEUE_REQ_RECORD:
    case GW_QUEUE_REQ_RELEASE:
    case GW_QUEUE_REQ_DEAD_ADD:
    case GW_QUEUE_REQ_DEAD_DELETE:
    case GW_QUEUE_REQ_TOKEN:
    case GW_QUEUE_REQ_IDEM:
    case GW_QUEUE_REQ_CANCEL:
        return 1;
    case GW_QUEUE_REQ_CHANNEL:
        return r->u.channel.op != GW_CHANNEL_OP_GET && r->u.channel.op != GW_CHANNEL_OP_LIST;
    default:
        return 0;
    }
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

gw_chunk *gw_queue__chunk_new(const gw_queue_chunk_fields *f)
{
    /* One block: chunk | retry_at[n] | offset[n] | state[n] | attempts[n] |
     * tokens + one zero byte (the zero-length token) | strings */
    uint32_t n = f->n;
    const uint8_t *tokens = f->tokens;
    size_t tokens_len = f->tokens_len;
    size_t strings_len = f->app_len + 1 + (f->topic ? f->topic_len + 1 : 0) +
                         (f->collapse_id ? f->collapse_len + 1 : 0) +
                         (f->channel ? f->channel_len + 1 : 0) + f->payload_len + 1;
    size_t off_retry = align8(sizeof(gw_chunk));
    size_t off_offset = off_retry + (size_t)n * sizeof(int64_t);
    size_t off_state = off_offset + (size_t)n * sizeof(uint32_t);
    size_t off_att = off_state + n, off_tok = off_att + n, off_str = off_tok + tokens_len + 3;
    gw_chunk *ch = calloc(1, off_str + strings_len);
    uint8_t *p = (uint8_t *)ch, *tok;
    uint32_t *offset;
    size_t pos = 0;
    char *s;

    if (ch == NULL)
        return NULL;
    ch->retry_at_ms = (int64_t *)(p + off_retry);
    offset = (uint32_t *)(p + off_offset);
    ch->state = p + off_state;
    ch->attempts = p + off_att;
    tok = p + off_tok;
    if (tokens_len > 0)
        memcpy(tok, tokens, tokens_len);
    /* tokens_len..+3: three zero bytes, an empty record: "no token" */
    for (uint32_t i = 0; i < n; i++) {
        size_t tl, rl = 0;
        int raw;
        if (pos < tokens_len && (tok[pos] != 0 || pos + 3 <= tokens_len))
            rl = gw_token_rec(tok + pos, &tl, &raw);
        if (rl > 0 && pos + rl <= tokens_len && tl > 0) {
            offset[i] = (uint32_t)pos;
            pos += rl;
        } else {
            offset[i] = (uint32_t)tokens_len;
        }
    }
    ch->priv.tokens = tok;
    ch->priv.offset = offset;
    ch->n_tokens = n;
    memcpy(ch->job_id, f->job_id, sizeof(ch->job_id));
    memcpy(ch->apns_id_base, f->apns_id, sizeof(ch->apns_id_base));
    ch->seq = f->seq;
    ch->first = f->first;
    ch->job_tokens = f->job_tokens;
    ch->push_type = (apns_push_type)f->push_type;
    ch->priority = f->priority;
    ch->expiration = f->expiration;
    ch->send_at_ms = f->send_at;
    ch->created_ms = f->created;
    s = (char *)p + off_str;
    ch->app = gw_queue__copy_str(&s, f->app, f->app_len);
    ch->topic = f->topic != NULL ? gw_queue__copy_str(&s, f->topic, f->topic_len) : NULL;
    ch->collapse_id =
        f->collapse_id != NULL ? gw_queue__copy_str(&s, f->collapse_id, f->collapse_len) : NULL;
    ch->payload = gw_queue__copy_str(&s, f->payload, f->payload_len);
    ch->payload_len = f->payload_len;
    ch->channel = f->channel != NULL ? gw_queue__copy_str(&s, f->channel, f->channel_len) : NULL;
    return ch;
}

int gw_queue__name_ok(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

const char *gw_queue__copy_str(char **p, const void *s, size_t n)
{
    char *out = *p;

    memcpy(out, s, n);
    out[n] = '\0';
    *p += n + 1;
    return out;
}

void gw_queue__answer_extra(const gw_queue_req *r, const gw_queue_answer *a, const uint8_t **tok,
                            size_t *tok_len, const char **reason, size_t *reason_len)
{
    const uint8_t *p = r->u.record.extra + a->extra;
    int raw;

    p += gw_token_rec(p, tok_len, &raw);
    *tok = p - *tok_len;
    *reason_len = p[0];
    *reason = (const char *)p + 1;
}

int gw_queue__answer_raw(const gw_queue_req *r, const gw_queue_answer *a)
{
    return r->u.record.extra[a->extra] == 0;
}
