/*
 * api_status.c - GET /v1/notifications/{id}: a job's state, per-token
 * counts, the earliest retry and, for small jobs, every token's outcome.
 *
 * Only a key of the job's app may read it: for any other key the answer is
 * 404, exactly as for an id that does not exist, so job ids of other apps
 * cannot be probed.
 *
 * DELETE /v1/notifications/{id}: cancels the job (gw_queue_cancel). The
 * status is read first and the key checked against its app, so a key of
 * another app never reaches the cancel (404 as above). The answer is the
 * status after the cancel: 200 when no token of the job is open any more,
 * 202 while tokens already handed to APNs / FCM are still being answered
 * (their answers are recorded; nothing more is sent). A repeat answers the
 * same way (the cancel mark keeps its first time).
 */
#include "api_int.h"

#include <ctype.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "apns/notification.h"

static json_t *outcome_json(const gw_job_status *st, size_t i)
{
    const gw_token_outcome *o = &st->outcomes[i];
    char id[GW_JOB_ID_LEN + 1];

    gw_apns_id_derive(st->apns_id, i, id);
    /* A channel publish's one entry names its channel instead of a token. */
    int ch = st->channel[0] != '\0';

    return json_pack("{s:s, s:s, s:s, s:o*, s:s*, s:o*, s:o*, s:o*}", ch ? "channel" : "token",
                     ch ? st->channel : o->token, "apns_id", id, "state",
                     gw_token_state_name(o->state), "status", gw__json_int(o->status), "reason",
                     o->reason[0] != '\0' ? o->reason : NULL, "timestamp_ms",
                     gw__json_int(o->apns_ts_ms), "retry_at_ms",
                     o->state == GW_TOKEN_RETRY ? json_integer(o->retry_at_ms) : NULL, "attempts",
                     gw__json_int(o->attempts));
}

static json_t *status_json(const gw_job_status *st)
{
    json_t *list = st->outcomes != NULL ? json_array() : NULL;

    for (size_t i = 0; list != NULL && i < st->n_outcomes; i++)
        json_array_append_new(list, outcome_json(st, i));
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:o*, "
                     "s:o*, s:o*, s:o*, s:o*}",
                     "id", st->job_id, "app", st->app, "apns_id", st->apns_id, "state",
                     gw_job_state_name(st->state), "tokens", (json_int_t)st->tokens, "counts",
                     "pending", (json_int_t)st->pending, "accepted", (json_int_t)st->accepted,
                     "rejected", (json_int_t)st->rejected, "expired", (json_int_t)st->expired,
                     "failed", (json_int_t)st->failed, "retrying", (json_int_t)st->retrying,
                     "cancelled", (json_int_t)st->cancelled, "created_ms",
                     (json_int_t)st->created_ms, "send_at_ms", gw__json_int(st->send_at_ms),
                     "next_retry_ms", gw__json_int(st->next_retry_ms), "finished_ms",
                     gw__json_int(st->finished_ms), "cancelled_ms", gw__json_int(st->cancelled_ms),
                     "outcomes", list);
}

/* The status, and a channel publish's "channel". */
static json_t *status_json_full(const gw_job_status *st)
{
    json_t *o = status_json(st);

    if (o != NULL && st->channel[0] != '\0')
        json_object_set_new(o, "channel", json_string(st->channel));
    return o;
}

static void on_status(int err, const char *detail, const gw_job_status *st, void *ud)
{
    gw_api_req *r = ud;
    const gw_config_app *app;

    if (!gw__api_req_resume(r))
        return;
    if (err != 0 && err != GW_QUEUE_ENOTFOUND) {
        gw__api_reply_queue_error(r, err, detail, "reading the notification");
        return;
    }
    /* Another app's job is as absent as one that does not exist. */
    app = err == 0 ? gw_config_find_app(r->api->cfg, st->app) : NULL;
    if (app == NULL || !gw__api_app_allows(app, r->key)) {
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "id", "no notification %s", r->arg[0]);
        return;
    }
    gw__api_reply_json(r, 200, status_json_full(st));
}

static void on_cancelled(int err, const char *detail, const gw_job_status *st, void *ud)
{
    gw_api_req *r = ud;

    if (!gw__api_req_resume(r))
        return;
    if (err == GW_QUEUE_ENOTFOUND) { /* removed by retention in between */
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "id", "no notification %s", r->arg[0]);
        return;
    }
    if (err != 0) {
        gw__api_reply_queue_error(r, err, detail, "cancelling the notification");
        return;
    }
    gw__api_reply_json(r, st->state == GW_JOB_IN_FLIGHT ? 202 : 200, status_json_full(st));
}

/* The cancel's first step: the job exists and belongs to one of the key's
 * apps; then the cancel. */
static void on_cancel_status(int err, const char *detail, const gw_job_status *st, void *ud)
{
    gw_api_req *r = ud;
    const gw_config_app *app;

    if (!gw__api_req_resume(r))
        return;
    if (err != 0 && err != GW_QUEUE_ENOTFOUND) {
        gw__api_reply_queue_error(r, err, detail, "cancelling the notification");
        return;
    }
    app = err == 0 ? gw_config_find_app(r->api->cfg, st->app) : NULL;
    if (app == NULL || !gw__api_app_allows(app, r->key)) {
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "id", "no notification %s", r->arg[0]);
        return;
    }
    gw__api_posted(r, gw_queue_cancel(r->api->q, r->arg[0], on_cancelled, r),
                   "cancelling the notification");
}

/* The id of a status or cancel (lower-cased in place), or NULL after a 404
 * or 400 answer. */
static char *job_arg(gw_api_req *r)
{
    static const char *const none[] = {NULL};
    struct evkeyvalq q;
    char *id = r->arg[0];

    if (gw__api_query(r, &q, none) != 0)
        return NULL;
    evhttp_clear_headers(&q);
    if (!apns_uuid_is_valid(id)) {
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "id",
                             "no notification %.40s (ids are UUIDs from POST /v1/push)", id);
        return NULL;
    }
    for (char *c = id; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    return id;
}

void gw__api_h_status(gw_api_req *r)
{
    char *id = job_arg(r);

    if (id != NULL)
        gw__api_posted(r, gw_queue_status(r->api->q, id, on_status, r), "reading the notification");
}

void gw__api_h_cancel(gw_api_req *r)
{
    char *id = job_arg(r);

    if (id != NULL)
        gw__api_posted(r, gw_queue_status(r->api->q, id, on_cancel_status, r),
                       "cancelling the notification");
}
