/*
 * queue_idem.c - idempotency records: the front end of GW_QUEUE_REQ_IDEM.
 *
 * Design note
 * -----------
 * The API reserves (scope, key) before it stores a request's jobs
 * (gw_queue_idem_begin) and ends the reservation once it answers
 * (gw_queue_idem_finish): the answer is stored, and a repeat gets it back
 * instead of storing the jobs again. A backend runs both on its storage
 * thread, so two requests with one key race in the storage (one transaction
 * each): one wins NEW, the other sees BUSY. Only backends that declare
 * `idempotency` take these requests; the API refuses an Idempotency-Key on
 * the others instead of ignoring it.
 */
#include "internal/queue_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_queue_has_idempotency(const gw_queue *q)
{
    return q != NULL && q->ops->idempotency;
}

int gw_queue_group_begin(gw_queue *q)
{
    if (!gw_queue_has_idempotency(q) || q->group != 0)
        return APNS_EINVAL;
    q->group = ++q->groups;
    q->group_n = 0;
    gw_worker_hold(q->w, 1);
    return 0;
}

void gw_queue_group_end(gw_queue *q, int err, const char *detail)
{
    if (q == NULL || q->group == 0)
        return;
    /* The worker is held: the requests are still ours to change. */
    for (size_t i = 0; err != 0 && i < q->group_n; i++) {
        q->group_v[i]->err = err;
        snprintf(q->group_v[i]->detail, sizeof(q->group_v[i]->detail), "%s",
                 detail != NULL && detail[0] ? detail : gw_queue_strerror(err));
    }
    q->group = 0;
    q->group_n = 0;
    gw_worker_hold(q->w, 0);
}

static int idem_req(gw_queue *q, const char *scope, const char *key, gw_idem_cb cb, void *ud,
                    gw_queue_req **out)
{
    gw_queue_req *r;

    *out = NULL;
    if (!gw_queue_has_idempotency(q) || scope == NULL || key == NULL || scope[0] == '\0' ||
        key[0] == '\0' || strlen(scope) > GW_IDEM_SCOPE_MAX || strlen(key) > GW_IDEM_KEY_MAX)
        return APNS_EINVAL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_IDEM, 1, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    memcpy(r->u.idem.scope, scope, strlen(scope) + 1);
    memcpy(r->u.idem.key, key, strlen(key) + 1);
    *out = r;
    return 0;
}

int gw_queue_idem_begin(gw_queue *q, const char *scope, const char *key,
                        const uint8_t hash[GW_IDEM_HASH], int64_t ttl_ms, uint64_t max,
                        gw_idem_cb cb, void *ud)
{
    gw_queue_req *r;
    int rc;

    if (cb == NULL || hash == NULL || ttl_ms <= 0)
        return APNS_EINVAL;
    rc = idem_req(q, scope, key, cb, ud, &r);
    if (rc != 0)
        return rc;
    memcpy(r->u.idem.hash, hash, GW_IDEM_HASH);
    r->u.idem.ttl_ms = ttl_ms;
    r->u.idem.max = max;
    return gw_queue__post(q, r);
}

int gw_queue_idem_finish(gw_queue *q, const char *scope, const char *key, int status,
                         const char *body, gw_idem_cb cb, void *ud)
{
    gw_queue_req *r;
    int rc;

    if (status < 0 || (status > 0 && body == NULL))
        return APNS_EINVAL;
    rc = idem_req(q, scope, key, cb, ud, &r);
    if (rc != 0)
        return rc;
    r->u.idem.finish = 1;
    r->u.idem.status = status;
    if (status > 0 && (r->u.idem.body = strdup(body)) == NULL) {
        gw_queue__req_free(r);
        return APNS_ENOMEM;
    }
    return gw_queue__post(q, r);
}

void gw_queue__idem_deliver(gw_queue_req *r, const char *detail)
{
    if (r->cb == NULL)
        return;
    ((gw_idem_cb)r->cb)(r->err, detail, r->err == 0 ? r->u.idem.state : 0,
                        r->err == 0 ? r->u.idem.status : 0,
                        r->err == 0 && !r->u.idem.finish ? r->u.idem.body : NULL, r->ud);
}

void gw_queue__idem_free(gw_queue_req *r)
{
    free(r->u.idem.body);
    r->u.idem.body = NULL;
}
