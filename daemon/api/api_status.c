/*
 * api_status.c - GET /v1/notifications/{id}: a job's state, per-token
 * counts, the earliest retry and, for small jobs, every token's outcome.
 *
 * Only a key of the job's app may read it: for any other key the answer is
 * 404, exactly as for an id that does not exist, so job ids of other apps
 * cannot be probed.
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
    json_t *j;

    gw_apns_id_derive(st->apns_id, i, id);
    j = json_pack("{s:s, s:s, s:s}", "token", o->token, "apns_id", id, "state",
                  gw_token_state_name(o->state));
    if (j == NULL)
        return NULL;
    if (o->status != 0)
        json_object_set_new(j, "status", json_integer(o->status));
    if (o->reason[0] != '\0')
        json_object_set_new(j, "reason", json_string(o->reason));
    if (o->apns_ts_ms != 0)
        json_object_set_new(j, "timestamp_ms", json_integer(o->apns_ts_ms));
    if (o->state == GW_TOKEN_RETRY)
        json_object_set_new(j, "retry_at_ms", json_integer(o->retry_at_ms));
    if (o->attempts != 0)
        json_object_set_new(j, "attempts", json_integer(o->attempts));
    return j;
}

static json_t *status_json(const gw_job_status *st)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I}", "id",
                          st->job_id, "app", st->app, "apns_id", st->apns_id, "state",
                          gw_job_state_name(st->state), "tokens", (json_int_t)st->tokens, "counts",
                          "pending", (json_int_t)st->pending, "accepted", (json_int_t)st->accepted,
                          "rejected", (json_int_t)st->rejected, "expired", (json_int_t)st->expired,
                          "failed", (json_int_t)st->failed, "retrying", (json_int_t)st->retrying,
                          "created_ms", (json_int_t)st->created_ms);

    if (j == NULL)
        return NULL;
    if (st->send_at_ms != 0)
        json_object_set_new(j, "send_at_ms", json_integer(st->send_at_ms));
    if (st->next_retry_ms != 0)
        json_object_set_new(j, "next_retry_ms", json_integer(st->next_retry_ms));
    if (st->finished_ms != 0)
        json_object_set_new(j, "finished_ms", json_integer(st->finished_ms));
    if (st->outcomes != NULL) {
        json_t *list = json_array();
        for (size_t i = 0; i < st->n_outcomes; i++)
            json_array_append_new(list, outcome_json(st, i));
        json_object_set_new(j, "outcomes", list);
    }
    return j;
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
    gw__api_reply_json(r, 200, status_json(st));
}

void gw__api_h_status(gw_api_req *r)
{
    static const char *const none[] = {NULL};
    struct evkeyvalq q;
    char *id = r->arg[0];

    if (gw__api_query(r, &q, none) != 0)
        return;
    evhttp_clear_headers(&q);
    if (!apns_uuid_is_valid(id)) {
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, "id",
                             "no notification %.40s (ids are UUIDs from POST /v1/push)", id);
        return;
    }
    for (char *c = id; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    gw__api_posted(r, gw_queue_status(r->api->q, id, on_status, r), "reading the notification");
}
