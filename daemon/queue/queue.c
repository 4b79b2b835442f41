/*
 * queue.c - the queue's front end, the calls of queue.h: the error table,
 * state names, and for each gw_queue_* call the argument checks and the
 * request it posts (with copies of the caller's strings) to the backend's
 * storage thread. The request's life after that (delivery, callbacks, the
 * leased list) is queue_req.c; the backend contract is
 * internal/queue_backend.h.
 *
 * The checks here are every backend's: a backend receives only requests
 * that passed them, with the limits it declared (app_max, field_max,
 * lease_max) applied and its dead-token cursor parsed. A leased chunk's
 * state arrays are kept in step with what the dispatcher recorded
 * (apply_outcome), by the same rules as the stores apply.
 */
#include "queue_backend.h"

#include "hex.h"   /* common/ */
#include "token.h" /* common/ */

#include <stdio.h>
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
    "pending", "accepted", "rejected", "expired", "failed", "retry", "cancelled",
};

const char *gw_token_state_name(gw_token_state s)
{
    return (unsigned)s < GW_TOKEN_STATE_COUNT ? token_state_names[s] : "?";
}

int gw_token_state_final(gw_token_state s)
{
    return s == GW_TOKEN_ACCEPTED || s == GW_TOKEN_REJECTED || s == GW_TOKEN_EXPIRED ||
           s == GW_TOKEN_FAILED || s == GW_TOKEN_CANCELLED;
}

int gw_job_expiration_ok(int64_t e)
{
    return e == APNS_EXPIRATION_NONE || (e >= 0 && e <= GW_JOB_TIME_MAX);
}

static const char *const job_state_names[GW_JOB_STATE_COUNT] = {
    "queued", "in_flight", "retrying", "done", "partially_failed", "failed", "expired", "cancelled",
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

static int too_long(size_t max, size_t len)
{
    return max > 0 && len > max;
}

int gw_queue_submit(gw_queue *q, gw_job *job, char job_id[GW_JOB_ID_LEN + 1], gw_submit_cb cb,
                    void *ud)
{
    size_t n, la, lt, lc, lch;
    gw_queue_req *r;
    gw_queue_chunk_fields *f;
    char *p;
    int rc;

    if (job_id != NULL)
        job_id[0] = '\0';
    if (q == NULL || job == NULL || cb == NULL)
        return APNS_EINVAL;
    if (job->app == NULL || job->app[0] == '\0' || job->payload == NULL || job->payload_len == 0 ||
        (job->channel == NULL && job->tokens.count == 0) ||
        (job->channel != NULL && (job->tokens.count != 0 || !gw_channel_id_ok(job->channel))) ||
        job->tokens.count > GW_JOB_TOKENS_MAX || !gw_job_expiration_ok(job->expiration) ||
        job->send_at_ms < 0 || job->send_at_ms > GW_JOB_TIME_MAX * 1000 ||
        (job->apns_id != NULL && job->apns_id[0] != '\0' && !apns_uuid_is_valid(job->apns_id))) {
        gw_token_list_cleanup(&job->tokens);
        return APNS_EINVAL;
    }
    n = job->tokens.count;
    if (job->channel != NULL) {
        /* A channel publish: one entry, holding the placeholder token. */
        static const char slot[2 * GW_CHANNEL_SLOT_TOKEN_LEN + 1] = "0000000000000000";
        rc = gw_token_list_add_hex(&job->tokens, slot, 2 * GW_CHANNEL_SLOT_TOKEN_LEN);
        if (rc != 0) {
            gw_token_list_cleanup(&job->tokens);
            return rc;
        }
        n = job->tokens.count;
    }
    la = strlen(job->app);
    lt = job->topic ? strlen(job->topic) : 0;
    lc = job->collapse_id ? strlen(job->collapse_id) : 0;
    lch = job->channel ? strlen(job->channel) : 0;
    rc = q->o.max_depth > 0 && gw_queue_depth(q) + n > q->o.max_depth ? GW_QUEUE_EDEPTH : 0;
    if (rc == 0 && (too_long(q->ops->app_max, la) || too_long(q->ops->field_max, lt) ||
                    too_long(q->ops->field_max, lc)))
        rc = APNS_EINVAL;
    r = rc == 0 ? gw_queue__req_new(q, GW_QUEUE_REQ_SUBMIT, 1, (void (*)(void))cb, ud) : NULL;
    if (r != NULL)
        r->u.submit.strings = malloc(la + lt + lc + lch + job->payload_len + 5);
    if (r == NULL || r->u.submit.strings == NULL) {
        if (r != NULL)
            gw_queue__req_free(r);
        gw_token_list_cleanup(&job->tokens);
        return rc != 0 ? rc : APNS_ENOMEM;
    }
    p = r->u.submit.strings;
    f = &r->u.submit.f;
    f->app = gw_queue__copy_str(&p, job->app, la);
    f->topic = job->topic ? gw_queue__copy_str(&p, job->topic, lt) : NULL;
    f->collapse_id = job->collapse_id ? gw_queue__copy_str(&p, job->collapse_id, lc) : NULL;
    f->payload = gw_queue__copy_str(&p, job->payload, job->payload_len);
    f->channel = job->channel ? gw_queue__copy_str(&p, job->channel, lch) : NULL;
    f->channel_len = lch;
    f->app_len = la;
    f->topic_len = lt;
    f->collapse_len = lc;
    f->payload_len = job->payload_len;
    f->push_type = job->push_type;
    f->priority = job->priority;
    f->expiration = job->expiration;
    f->send_at = job->send_at_ms;
    r->u.submit.tokens = job->tokens;
    gw_token_list_init(&job->tokens);
    /* Time-ordered: the SQLite job table's uid index grows at its end
     * instead of dirtying a random page per job (issue 16). */
    if (!gw_queue__pack_assign(q, f, &r->u.submit.tokens, f->job_id)) {
        if (apns_uuid_generate_v7(f->job_id, gw_queue__now(q)) != 0) {
            gw_queue__req_free(r);
            return APNS_ENOMEM;
        }
        gw_queue__id_unmark(f->job_id);
    }
    if (job->apns_id != NULL && job->apns_id[0] != '\0')
        gw_apns_id_derive(job->apns_id, 0, f->apns_id); /* lower-cases */
    else
        memcpy(f->apns_id, f->job_id, sizeof(f->apns_id));
    /* Reserved now so a burst of submits sees itself; the batch turns it
     * into depth or gives it back (queue_req.c, settle). */
    atomic_fetch_add(&q->depth_reserved, (long long)n);
    if (job_id != NULL)
        memcpy(job_id, r->u.submit.f.job_id, GW_JOB_ID_LEN + 1);
    rc = gw_queue__post(q, r);
    if (rc != 0) {
        atomic_fetch_sub(&q->depth_reserved, (long long)n);
        if (job_id != NULL)
            job_id[0] = '\0';
    }
    return rc;
}

int gw_queue_lease(gw_queue *q, size_t max_chunks, gw_lease_cb cb, void *ud)
{
    gw_queue_req *r;

    if (q == NULL || cb == NULL || max_chunks == 0)
        return APNS_EINVAL;
    if (q->ops->lease_max > 0 && max_chunks > q->ops->lease_max)
        max_chunks = q->ops->lease_max; /* next_at = now says there may be more */
    r = gw_queue__req_new(q, GW_QUEUE_REQ_LEASE, 0, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    r->u.lease.max = max_chunks;
    r->u.lease.chunks = calloc(max_chunks, sizeof(gw_chunk *));
    if (r->u.lease.chunks == NULL) {
        gw_queue__req_free(r);
        return APNS_ENOMEM;
    }
    return gw_queue__post(q, r);
}

static int outcome_ok(const gw_queue *q, const gw_outcome *o)
{
    if (o->chunk == NULL || o->chunk->priv.owner != q)
        return GW_QUEUE_ELEASE;
    if (o->token >= o->chunk->n_tokens)
        return APNS_EINVAL;
    if (o->state == GW_TOKEN_PENDING || (unsigned)o->state >= GW_TOKEN_STATE_COUNT)
        return APNS_EINVAL;
    if ((unsigned)o->dead >= GW_DEAD_SOURCE_COUNT)
        return APNS_EINVAL;
    return 0;
}

/* A rejection's reason as stored: at most 47 bytes. */
static const char *outcome_reason(const gw_outcome *o, size_t *len)
{
    const char *reason = o->reason_str != NULL ? o->reason_str : apns_reason_name(o->reason);

    if (reason == NULL)
        reason = "";
    *len = strlen(reason) > 47 ? 47 : strlen(reason);
    return reason;
}

int gw_queue__token_apply(uint8_t *state, uint8_t *attempts, int64_t *retry_at, int s, int64_t at)
{
    if (gw_token_state_final((gw_token_state)*state))
        return 0;
    *state = (uint8_t)s;
    if (s == GW_TOKEN_RETRY) {
        if (*attempts < 255)
            (*attempts)++;
        *retry_at = at;
        return 0;
    }
    *retry_at = 0;
    return 1;
}

/* The dispatcher's copy follows the rules the stores apply durably. */
static void apply_outcome(const gw_outcome *o)
{
    gw_chunk *c = o->chunk;

    gw_queue__token_apply(&c->state[o->token], &c->attempts[o->token], &c->retry_at_ms[o->token],
                          o->state, o->retry_at_ms);
}

/* Copies v[0..n) into r: answers, and [len][token][len][reason] of each
 * rejection (and failure) in extra. */
static int copy_answers(gw_queue_req *r, const gw_outcome *v, size_t n)
{
    size_t extra = 0, pos = 0, rl;

    for (size_t i = 0; i < n; i++)
        if (gw_queue__has_extra(v[i].state)) {
            outcome_reason(&v[i], &rl);
            extra += 4 + gw_chunk_token(v[i].chunk, v[i].token, NULL) + rl;
        }
    r->u.record.v = malloc((n ? n : 1) * sizeof(gw_queue_answer));
    r->u.record.extra = malloc(extra ? extra : 1);
    if (r->u.record.v == NULL || r->u.record.extra == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const gw_outcome *o = &v[i];
        gw_queue_answer *a = &r->u.record.v[i];

        memset(a, 0, sizeof(*a));
        a->chunk = o->chunk->priv.handle;
        a->idx = o->token;
        a->state = (uint8_t)o->state;
        a->status = (int16_t)o->status;
        a->apns_ts = o->apns_ts_ms;
        a->retry_at = o->retry_at_ms;
        if (gw_queue__has_extra(o->state)) {
            const uint8_t *tok;
            size_t tl = gw_chunk_token(o->chunk, o->token, &tok);
            const char *reason = outcome_reason(o, &rl);
            uint8_t *p = r->u.record.extra + pos;

            size_t h = 1;

            a->dead = (uint8_t)o->dead;
            a->extra = (uint32_t)pos;
            /* The token's record as the chunk holds it, then [len][reason]. */
            if (gw_chunk_token_raw(o->chunk, o->token)) {
                p[0] = 0;
                p[1] = (uint8_t)(tl >> 8);
                p[2] = (uint8_t)tl;
                h = 3;
            } else {
                p[0] = (uint8_t)tl;
            }
            memcpy(p + h, tok, tl);
            p[h + tl] = (uint8_t)rl;
            memcpy(p + h + 1 + tl, reason, rl);
            pos += h + 1 + tl + rl;
        }
    }
    r->u.record.n = n;
    return 0;
}

int gw_queue_record(gw_queue *q, const gw_outcome *v, size_t n, gw_done_cb cb, void *ud)
{
    gw_queue_req *r;
    int rc;

    if (q == NULL || (v == NULL && n > 0))
        return APNS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        rc = outcome_ok(q, &v[i]);
        if (rc != 0)
            return rc;
    }
    r = gw_queue__req_new(q, GW_QUEUE_REQ_RECORD, 0, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    rc = copy_answers(r, v, n);
    if (rc == 0)
        rc = gw_queue__outbox_events(q, r, v, n);
    if (rc != 0) {
        gw_queue__req_free(r);
        return rc;
    }
    rc = gw_queue__post(q, r);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        apply_outcome(&v[i]);
    return 0;
}

int gw_queue_touch(gw_queue *q, gw_chunk *c)
{
    gw_queue_req *r;

    if (q == NULL || c == NULL || c->priv.owner != q)
        return GW_QUEUE_ELEASE;
    if (!q->ops->leases_expire)
        return 0; /* a lease lasts until released */
    r = gw_queue__req_new(q, GW_QUEUE_REQ_TOUCH, 0, NULL, NULL);
    if (r == NULL)
        return APNS_ENOMEM;
    r->u.release.chunk = c->priv.handle;
    return gw_queue__post(q, r);
}

int gw_queue_release(gw_queue *q, gw_chunk *c, int64_t not_before_ms, gw_done_cb cb, void *ud)
{
    gw_queue_req *r;

    if (q == NULL || c == NULL || c->priv.owner != q)
        return GW_QUEUE_ELEASE;
    common_clist_remove(&q->leased, &c->priv.node);
    r = gw_queue__req_new(q, GW_QUEUE_REQ_RELEASE, 0, (void (*)(void))cb, ud);
    if (r != NULL) {
        r->u.release.chunk = c->priv.handle;
        r->u.release.not_before = not_before_ms;
    }
    free(c);
    return r == NULL ? APNS_ENOMEM : gw_queue__post(q, r);
}

int gw_queue_status(gw_queue *q, const char *job_id, gw_status_cb cb, void *ud)
{
    gw_queue_req *r;

    if (q == NULL || job_id == NULL || cb == NULL || strlen(job_id) > GW_JOB_ID_LEN)
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_STATUS, 1, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    snprintf(r->u.status.id, sizeof(r->u.status.id), "%s", job_id);
    return gw_queue__post(q, r);
}

int gw_queue_cancel(gw_queue *q, const char *job_id, gw_status_cb cb, void *ud)
{
    gw_queue_req *r;

    if (q == NULL || job_id == NULL || cb == NULL || strlen(job_id) > GW_JOB_ID_LEN)
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_CANCEL, 1, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    snprintf(r->u.status.id, sizeof(r->u.status.id), "%s", job_id);
    return gw_queue__post(q, r);
}

/* A registry request of `kind` for app and the token (binary and
 * lower-case hex); on failure freed. */
static int dead_req(gw_queue *q, gw_queue_kind kind, const char *app, const char *token_hex,
                    void (*cb)(void), void *ud, gw_queue_req **out)
{
    gw_queue_req *r = gw_queue__req_new(q, kind, 1, cb, ud);
    size_t len = strlen(token_hex);
    int rc = 0;

    *out = NULL;
    if (r == NULL)
        return APNS_ENOMEM;
    if (common_token_check(token_hex, len, NULL) != COMMON_TOKEN_OK)
        rc = APNS_EBADTOKEN;
    else if (too_long(q->ops->app_max, strlen(app)))
        rc = APNS_EINVAL;
    else if ((r->u.dead.app = strdup(app)) == NULL)
        rc = APNS_ENOMEM;
    if (rc != 0) {
        gw_queue__req_free(r);
        return rc;
    }
    r->u.dead.tok_len = (size_t)common_hex_to_bin(token_hex, len, r->u.dead.tok, len / 2);
    common_bin_to_hex(r->u.dead.tok, r->u.dead.tok_len, r->u.dead.hex);
    *out = r;
    return 0;
}

int gw_queue_dead_add(gw_queue *q, const char *app, const char *token_hex, gw_dead_source src,
                      const char *reason, int64_t apns_ts_ms, gw_done_cb cb, void *ud)
{
    gw_queue_req *r;
    int rc;

    if (q == NULL || app == NULL || app[0] == '\0' || token_hex == NULL || src == GW_DEAD_NONE ||
        (unsigned)src >= GW_DEAD_SOURCE_COUNT)
        return APNS_EINVAL;
    rc = dead_req(q, GW_QUEUE_REQ_DEAD_ADD, app, token_hex, (void (*)(void))cb, ud, &r);
    if (rc != 0)
        return rc;
    r->u.dead.source = src;
    snprintf(r->u.dead.reason, sizeof(r->u.dead.reason), "%s", reason ? reason : "");
    r->u.dead.apns_ts = apns_ts_ms;
    return gw_queue__post(q, r);
}

int gw_queue_dead_list(gw_queue *q, const char *app, int64_t since_ms, const char *cursor,
                       size_t limit, gw_dead_list_cb cb, void *ud)
{
    int64_t after[2] = {0, 0};
    gw_queue_req *r;

    if (q == NULL || app == NULL || cb == NULL || limit > 1000)
        return APNS_EINVAL;
    if (q->ops->dead_cursor(cursor, after) != 0 || too_long(q->ops->app_max, strlen(app)))
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_DEAD_LIST, 1, (void (*)(void))cb, ud);
    if (r == NULL || (r->u.dead.app = strdup(app)) == NULL) {
        if (r != NULL)
            gw_queue__req_free(r);
        return APNS_ENOMEM;
    }
    r->u.dead.since = since_ms;
    r->u.dead.after[0] = after[0];
    r->u.dead.after[1] = after[1];
    r->u.dead.limit = limit == 0 ? 100 : limit;
    return gw_queue__post(q, r);
}

int gw_queue_dead_delete(gw_queue *q, const char *app, const char *token_hex, gw_count_cb cb,
                         void *ud)
{
    gw_queue_req *r;
    int rc;

    if (q == NULL || app == NULL || token_hex == NULL)
        return APNS_EINVAL;
    rc = dead_req(q, GW_QUEUE_REQ_DEAD_DELETE, app, token_hex, (void (*)(void))cb, ud, &r);
    return rc != 0 ? rc : gw_queue__post(q, r);
}

int gw_queue_dead_delete_raw(gw_queue *q, const char *app, const char *token, gw_count_cb cb,
                             void *ud)
{
    gw_queue_req *r;
    size_t len;

    if (q == NULL || app == NULL || token == NULL)
        return APNS_EINVAL;
    len = strlen(token);
    if (len == 0 || len > GW_TOKEN_RAW_MAX)
        return APNS_EFCMTOKEN;
    if (too_long(q->ops->app_max, strlen(app)))
        return APNS_EINVAL;
    if ((r = gw_queue__req_new(q, GW_QUEUE_REQ_DEAD_DELETE, 1, (void (*)(void))cb, ud)) == NULL)
        return APNS_ENOMEM;
    if ((r->u.dead.app = strdup(app)) == NULL || (r->u.dead.raw = strdup(token)) == NULL) {
        gw_queue__req_free(r);
        return APNS_ENOMEM;
    }
    return gw_queue__post(q, r);
}

/* ---- channel records ---------------------------------------------------- */

int gw_channel_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    if (n == 0 || n > APNS_CHANNEL_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
            return 0;
    return 1;
}

/* A channel request for (app, env) with op; on failure nothing is left. */
static int channel_req(gw_queue *q, gw_channel_op op, const char *app, const char *env,
                       void (*cb)(void), void *ud, gw_queue_req **out)
{
    gw_queue_req *r;

    *out = NULL;
    if (q == NULL || app == NULL || app[0] == '\0' || too_long(q->ops->app_max, strlen(app)) ||
        !gw_queue__name_ok(env, GW_CHANNEL_ENV_MAX))
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_CHANNEL, 1, cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    if ((r->u.channel.app = strdup(app)) == NULL) {
        gw_queue__req_free(r);
        return APNS_ENOMEM;
    }
    r->u.channel.op = op;
    snprintf(r->u.channel.env, sizeof(r->u.channel.env), "%s", env);
    *out = r;
    return 0;
}

int gw_queue_channel_put(gw_queue *q, const char *app, const char *env, const gw_channel *c,
                         uint32_t max, gw_done_cb cb, void *ud)
{
    gw_queue_req *r;
    int rc;

    if (c == NULL || !gw_channel_id_ok(c->id) || max == 0 || c->storage_policy < -1 ||
        c->storage_policy > 1 || strnlen(c->label, sizeof(c->label)) > GW_CHANNEL_LABEL_MAX)
        return APNS_EINVAL;
    rc = channel_req(q, GW_CHANNEL_OP_PUT, app, env, (void (*)(void))cb, ud, &r);
    if (rc != 0)
        return rc;
    r->u.channel.c = *c;
    if (r->u.channel.c.created_ms == 0)
        r->u.channel.c.created_ms = gw_queue__now(q);
    r->u.channel.max = max;
    return gw_queue__post(q, r);
}

int gw_queue_channel_get(gw_queue *q, const char *app, const char *env, const char *id,
                         gw_channel_cb cb, void *ud)
{
    gw_queue_req *r;
    int rc;

    if (cb == NULL || !gw_channel_id_ok(id))
        return APNS_EINVAL;
    rc = channel_req(q, GW_CHANNEL_OP_GET, app, env, (void (*)(void))cb, ud, &r);
    if (rc != 0)
        return rc;
    snprintf(r->u.channel.c.id, sizeof(r->u.channel.c.id), "%s", id);
    return gw_queue__post(q, r);
}

int gw_queue_channel_list(gw_queue *q, const char *app, const char *env, gw_channel_cb cb, void *ud)
{
    gw_queue_req *r;
    int rc;

    if (cb == NULL)
        return APNS_EINVAL;
    rc = channel_req(q, GW_CHANNEL_OP_LIST, app, env, (void (*)(void))cb, ud, &r);
    return rc != 0 ? rc : gw_queue__post(q, r);
}

int gw_queue_channel_delete(gw_queue *q, const char *app, const char *env, const char *id,
                            gw_count_cb cb, void *ud)
{
    gw_queue_req *r;
    int rc;

    if (!gw_channel_id_ok(id))
        return APNS_EINVAL;
    rc = channel_req(q, GW_CHANNEL_OP_DELETE, app, env, (void (*)(void))cb, ud, &r);
    if (rc != 0)
        return rc;
    snprintf(r->u.channel.c.id, sizeof(r->u.channel.c.id), "%s", id);
    return gw_queue__post(q, r);
}

int gw_queue_channel_sync(gw_queue *q, const char *app, const char *env, const char *const *ids,
                          size_t n, uint32_t max, gw_channel_sync_cb cb, void *ud)
{
    gw_queue_req *r;
    size_t bytes = 0;
    char *p;
    int rc;

    if ((n > 0 && ids == NULL) || max == 0 || n > max)
        return APNS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!gw_channel_id_ok(ids[i]))
            return APNS_EINVAL;
        bytes += strlen(ids[i]) + 1;
    }
    rc = channel_req(q, GW_CHANNEL_OP_SYNC, app, env, (void (*)(void))cb, ud, &r);
    if (rc != 0)
        return rc;
    r->u.channel.ids = malloc(n * sizeof(char *) + bytes + 1);
    if (r->u.channel.ids == NULL) {
        gw_queue__req_free(r);
        return APNS_ENOMEM;
    }
    p = (char *)(r->u.channel.ids + n);
    for (size_t i = 0; i < n; i++)
        r->u.channel.ids[i] = (char *)gw_queue__copy_str(&p, ids[i], strlen(ids[i]));
    r->u.channel.nids = n;
    r->u.channel.max = max;
    r->u.channel.c.created_ms = gw_queue__now(q);
    return gw_queue__post(q, r);
}

int gw_queue_purge(gw_queue *q, size_t max_jobs, gw_count_cb cb, void *ud)
{
    gw_queue_req *r;

    if (q == NULL)
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_PURGE, 1, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    r->u.purge.max_jobs = max_jobs == 0 ? 100 : max_jobs;
    return gw_queue__post(q, r);
}

int gw_queue_wake(gw_queue *q, const char *app, int64_t until_ms, gw_count_cb cb, void *ud)
{
    gw_queue_req *r;

    if (q == NULL || app == NULL || app[0] == '\0' || strlen(app) > GW_QUEUE_WAKE_APP_MAX)
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_WAKE, 0, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    snprintf(r->u.wake.app, sizeof(r->u.wake.app), "%s", app);
    r->u.wake.until = until_ms;
    return gw_queue__post(q, r);
}

uint64_t gw_queue_depth(gw_queue *q)
{
    long long d;

    if (q == NULL)
        return 0;
    d = atomic_load(&q->depth_base) + atomic_load(&q->depth_local);
    if (d < 0)
        d = 0;
    return (uint64_t)d + (uint64_t)atomic_load(&q->depth_reserved);
}

void gw_queue_stats_get(gw_queue *q, gw_queue_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (q == NULL)
        return;
    s->depth = gw_queue_depth(q);
    s->requests = gw_worker_outstanding(q->w) + (q->lw ? gw_worker_outstanding(q->lw) : 0);
    s->commits = atomic_load(&q->commits);
    s->failures = atomic_load(&q->failures);
    s->leased = q->leased.len;
    s->cancelled = atomic_load(&q->cancelled);
    s->last_err = atomic_load(&q->last_err);
    s->orphans = atomic_load(&q->orphans);
}

int gw_queue_has_token_store(const gw_queue *q)
{
    return q != NULL && q->ops->token_store;
}

int gw_queue_token_get(gw_queue *q, const char *team_id, const char *key_id, int64_t refresh_ms,
                       const char *stale_jwt, gw_queue_mint_fn mint, void *mint_ud,
                       gw_queue_token_cb cb, void *ud)
{
    gw_queue_token_ask *t;
    gw_queue_req *r;

    /* The ids name the stored token: 1..63 of [A-Za-z0-9_-]. */
    if (!gw_queue_has_token_store(q) || !gw_queue__name_ok(team_id, 63) ||
        !gw_queue__name_ok(key_id, 63) || refresh_ms <= 0 || mint == NULL || cb == NULL ||
        (stale_jwt != NULL && strlen(stale_jwt) >= GW_QUEUE_JWT_MAX))
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_TOKEN, 1, (void (*)(void))cb, ud);
    if (r == NULL || (r->u.token = calloc(1, sizeof(*r->u.token))) == NULL) {
        free(r);
        return APNS_ENOMEM;
    }
    t = r->u.token;
    snprintf(t->team, sizeof(t->team), "%s", team_id);
    snprintf(t->key_id, sizeof(t->key_id), "%s", key_id);
    snprintf(t->stale, sizeof(t->stale), "%s", stale_jwt ? stale_jwt : "");
    t->refresh_ms = refresh_ms;
    t->mint = mint;
    t->mint_ud = mint_ud;
    return gw_queue__post(q, r);
}

size_t gw_queue_op_counts(gw_queue *q, gw_queue_op_count *v, size_t max)
{
    if (q == NULL || q->ops->op_counts == NULL || v == NULL)
        return 0;
    return q->ops->op_counts(q->be, v, max);
}
