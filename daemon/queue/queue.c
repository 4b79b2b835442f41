/*
 * queue.c - the backend-independent half of the queue interface: the error
 * table, state names, argument checks, and the forwarding wrappers around a
 * backend's vtable (queue.h).
 *
 * The wrappers do the checks every backend would otherwise repeat (so a
 * JetStream backend gets them for free) and keep a leased chunk's state
 * arrays in step with what the dispatcher recorded.
 */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

const char *gw_queue_strerror(int err)
{
    switch (err) {
#define XX(name, val, msg)                                                                         \
    case GW_QUEUE_##name:                                                                          \
        return msg;
        GW_QUEUE_ERRNO_MAP(XX)
#undef XX
    default:
        return apns_strerror(err);
    }
}

const char *gw_queue_err_name(int err)
{
    switch (err) {
#define XX(name, val, msg)                                                                         \
    case GW_QUEUE_##name:                                                                          \
        return "GW_QUEUE_" #name;
        GW_QUEUE_ERRNO_MAP(XX)
#undef XX
    default:
        return apns_err_name(err);
    }
}

int gw_queue_err_unavailable(int err)
{
    switch (err) {
    case GW_QUEUE_EFULL:
    case GW_QUEUE_EIO:
    case GW_QUEUE_ECORRUPT:
    case GW_QUEUE_EREADONLY:
    case GW_QUEUE_EBUSY:
    case GW_QUEUE_ESTORE:
    case GW_QUEUE_ECLOSED:
    case APNS_ENOMEM:
        return 1;
    default:
        return 0;
    }
}

int gw_queue_err_overloaded(int err)
{
    return err == GW_QUEUE_EDEPTH || err == GW_QUEUE_EBACKLOG;
}

static const char *const token_state_names[GW_TOKEN_STATE_COUNT] = {
    "pending", "accepted", "rejected", "expired", "failed", "retry",
};

const char *gw_token_state_name(gw_token_state s)
{
    return (unsigned)s < GW_TOKEN_STATE_COUNT ? token_state_names[s] : "?";
}

int gw_token_state_final(gw_token_state s)
{
    return s == GW_TOKEN_ACCEPTED || s == GW_TOKEN_REJECTED || s == GW_TOKEN_EXPIRED ||
           s == GW_TOKEN_FAILED;
}

static const char *const job_state_names[GW_JOB_STATE_COUNT] = {
    "queued", "in_flight", "retrying", "done", "partially_failed", "failed", "expired",
};

const char *gw_job_state_name(gw_job_state s)
{
    return (unsigned)s < GW_JOB_STATE_COUNT ? job_state_names[s] : "?";
}

static const char *const dead_source_names[GW_DEAD_SOURCE_COUNT] = {
    "", "410", "BadDeviceToken", "DeviceTokenNotForTopic", "feedback",
};

const char *gw_dead_source_name(gw_dead_source s)
{
    return (unsigned)s < GW_DEAD_SOURCE_COUNT ? dead_source_names[s] : "?";
}

void gw_job_init(gw_job *j)
{
    memset(j, 0, sizeof(*j));
    j->push_type = APNS_PUSH_ALERT;
    j->expiration = APNS_EXPIRATION_NONE;
    gw_token_list_init(&j->tokens);
}

void gw_queue_opts_init(gw_queue_opts *o)
{
    memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------------------ */

int gw_queue_submit(gw_queue *q, gw_job *job, char job_id[GW_JOB_ID_LEN + 1], gw_submit_cb cb,
                    void *ud)
{
    if (job_id != NULL)
        job_id[0] = '\0';
    if (q == NULL || job == NULL || cb == NULL)
        return APNS_EINVAL;
    if (job->app == NULL || job->app[0] == '\0' || job->payload == NULL || job->payload_len == 0 ||
        job->tokens.count == 0 || job->tokens.count > GW_JOB_TOKENS_MAX ||
        (job->apns_id != NULL && job->apns_id[0] != '\0' && !apns_uuid_is_valid(job->apns_id))) {
        gw_token_list_cleanup(&job->tokens);
        return APNS_EINVAL;
    }
    return q->ops->submit(q->be, job, job_id, cb, ud);
}

int gw_queue_lease(gw_queue *q, size_t max_chunks, gw_lease_cb cb, void *ud)
{
    if (q == NULL || cb == NULL || max_chunks == 0)
        return APNS_EINVAL;
    return q->ops->lease(q->be, max_chunks, cb, ud);
}

static int outcome_ok(const gw_queue *q, const gw_outcome *o)
{
    if (o->chunk == NULL || o->chunk->priv.owner != q->be)
        return GW_QUEUE_ELEASE;
    if (o->token >= o->chunk->n_tokens)
        return APNS_EINVAL;
    if (o->state == GW_TOKEN_PENDING || (unsigned)o->state >= GW_TOKEN_STATE_COUNT)
        return APNS_EINVAL;
    if ((unsigned)o->dead >= GW_DEAD_SOURCE_COUNT)
        return APNS_EINVAL;
    return 0;
}

/* Mirrors the durable transition rules (store_sqlite_outcome.c): a final
 * state never changes; RETRY counts an attempt. */
static void apply_outcome(const gw_outcome *o)
{
    gw_chunk *c = o->chunk;

    if (gw_token_state_final((gw_token_state)c->state[o->token]))
        return;
    c->state[o->token] = (uint8_t)o->state;
    if (o->state == GW_TOKEN_RETRY) {
        if (c->attempts[o->token] < 255)
            c->attempts[o->token]++;
        c->retry_at_ms[o->token] = o->retry_at_ms;
    } else {
        c->retry_at_ms[o->token] = 0;
    }
}

int gw_queue_record(gw_queue *q, const gw_outcome *v, size_t n, gw_done_cb cb, void *ud)
{
    int rc;

    if (q == NULL || (v == NULL && n > 0))
        return APNS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        rc = outcome_ok(q, &v[i]);
        if (rc != 0)
            return rc;
    }
    rc = q->ops->record(q->be, v, n, cb, ud);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        apply_outcome(&v[i]);
    return 0;
}

int gw_queue_touch(gw_queue *q, gw_chunk *c)
{
    if (q == NULL || c == NULL || c->priv.owner != q->be)
        return GW_QUEUE_ELEASE;
    return q->ops->touch(q->be, c);
}

int gw_queue_release(gw_queue *q, gw_chunk *c, int64_t not_before_ms, gw_done_cb cb, void *ud)
{
    if (q == NULL || c == NULL || c->priv.owner != q->be)
        return GW_QUEUE_ELEASE;
    return q->ops->release(q->be, c, not_before_ms, cb, ud);
}

int gw_queue_status(gw_queue *q, const char *job_id, gw_status_cb cb, void *ud)
{
    if (q == NULL || job_id == NULL || cb == NULL || strlen(job_id) > GW_JOB_ID_LEN)
        return APNS_EINVAL;
    return q->ops->status(q->be, job_id, cb, ud);
}

int gw_queue_dead_add(gw_queue *q, const char *app, const char *token_hex, gw_dead_source src,
                      const char *reason, int64_t apns_ts_ms, gw_done_cb cb, void *ud)
{
    if (q == NULL || app == NULL || app[0] == '\0' || token_hex == NULL || src == GW_DEAD_NONE ||
        (unsigned)src >= GW_DEAD_SOURCE_COUNT)
        return APNS_EINVAL;
    return q->ops->dead_add(q->be, app, token_hex, src, reason, apns_ts_ms, cb, ud);
}

int gw_queue_dead_list(gw_queue *q, const char *app, int64_t since_ms, const char *cursor,
                       size_t limit, gw_dead_list_cb cb, void *ud)
{
    if (q == NULL || app == NULL || cb == NULL || limit > 1000)
        return APNS_EINVAL;
    return q->ops->dead_list(q->be, app, since_ms, cursor, limit == 0 ? 100 : limit, cb, ud);
}

int gw_queue_dead_delete(gw_queue *q, const char *app, const char *token_hex, gw_count_cb cb,
                         void *ud)
{
    if (q == NULL || app == NULL || token_hex == NULL)
        return APNS_EINVAL;
    return q->ops->dead_delete(q->be, app, token_hex, cb, ud);
}

int gw_queue_purge(gw_queue *q, size_t max_jobs, gw_count_cb cb, void *ud)
{
    if (q == NULL)
        return APNS_EINVAL;
    return q->ops->purge(q->be, max_jobs == 0 ? 100 : max_jobs, cb, ud);
}

uint64_t gw_queue_depth(gw_queue *q)
{
    gw_queue_stats s;

    if (q == NULL)
        return 0;
    q->ops->stats(q->be, &s);
    return s.depth;
}

void gw_queue_stats_get(gw_queue *q, gw_queue_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (q != NULL)
        q->ops->stats(q->be, s);
}

void gw_queue_free(gw_queue *q)
{
    if (q != NULL)
        q->ops->free(q->be); /* the backend owns q */
}

/* ---- the leased-chunk list shared by the backends ----------------------- */

void gw__leased_add(gw__leased *l, gw_chunk *c)
{
    c->priv.prev = NULL;
    c->priv.next = l->head;
    if (l->head != NULL)
        l->head->priv.prev = c;
    l->head = c;
    l->n++;
}

void gw__leased_remove(gw__leased *l, gw_chunk *c)
{
    if (c->priv.prev != NULL)
        c->priv.prev->priv.next = c->priv.next;
    else
        l->head = c->priv.next;
    if (c->priv.next != NULL)
        c->priv.next->priv.prev = c->priv.prev;
    l->n--;
}

void gw__leased_free_all(gw__leased *l)
{
    while (l->head != NULL) {
        gw_chunk *c = l->head;
        gw__leased_remove(l, c);
        free(c);
    }
}

int gw_queue_has_token_store(const gw_queue *q)
{
    return q != NULL && q->ops->token_get != NULL;
}

int gw_queue_token_get(gw_queue *q, const char *team_id, const char *key_id, int64_t refresh_ms,
                       const char *stale_jwt, gw_queue_mint_fn mint, void *mint_ud,
                       gw_queue_token_cb cb, void *ud)
{
    if (!gw_queue_has_token_store(q) || team_id == NULL || key_id == NULL || refresh_ms <= 0 ||
        mint == NULL || cb == NULL || (stale_jwt != NULL && strlen(stale_jwt) >= GW_QUEUE_JWT_MAX))
        return APNS_EINVAL;
    return q->ops->token_get(q->be, team_id, key_id, refresh_ms, stale_jwt, mint, mint_ud, cb, ud);
}

size_t gw_queue_op_counts(gw_queue *q, gw_queue_op_count *v, size_t max)
{
    if (q == NULL || q->ops->op_counts == NULL || v == NULL)
        return 0;
    return q->ops->op_counts(q->be, v, max);
}
