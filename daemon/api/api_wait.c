/*
 * api_wait.c - the ?wait registry: jobs whose requests wait for per-token
 * results, found by job id when the dispatcher reports a final result.
 *
 * gw_api_on_result() runs for every final token of every job (hundreds of
 * thousands a second under load), so it returns at once when nobody waits
 * and otherwise costs one lookup in a search tree on the job id (libc's
 * tsearch). A request registers its jobs right after gw_queue_submit()
 * handed out their ids and unregisters them when it is answered.
 */
#include "api_int.h"

#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "apns/notification.h"

static int by_id(const void *a, const void *b)
{
    return strcmp(a, b); /* a job's id is its first member */
}

int gw__waits_add(gw_api *a, gw__job *j)
{
    return tsearch(j, &a->waits, by_id) != NULL ? 0 : APNS_ENOMEM;
}

/* Job ids are unique: a job that is not in the tree finds nothing. */
void gw__waits_remove(gw_api *a, gw__job *j)
{
    tdelete(j, &a->waits, by_id);
}

void gw_api_on_result(gw_api *a, const gw_token_result *r)
{
    void *const *node;
    gw__job *j;
    gw__wait_res *res;

    if (a == NULL || r == NULL || a->waits == NULL || r->job_id == NULL)
        return;
    node = tfind(r->job_id, &a->waits, by_id);
    j = node != NULL ? *node : NULL;
    if (j == NULL || r->index >= j->n || !gw_token_state_final(r->state))
        return;
    res = &j->res[r->index];
    if (gw_token_state_final((gw_token_state)res->state))
        return; /* a duplicate (a resend after a lost outcome) */
    res->state = (uint8_t)r->state;
    res->status = (int16_t)r->status;
    res->dead = (uint8_t)r->dead;
    res->apns_ts_ms = r->apns_ts_ms;
    snprintf(res->reason, sizeof res->reason, "%s", r->reason ? r->reason : "");
    if (++j->n_final == j->n)
        gw__api_push_result(j->owner);
}

json_t *gw__wait_job_json(const gw__job *j)
{
    json_t *list = json_array();
    const uint8_t *rec = j->tokens;

    for (size_t i = 0; i < j->n; i++) {
        const gw__wait_res *res = &j->res[i];
        char id[GW_JOB_ID_LEN + 1], hex[GW_TOKEN_TEXT_MAX];
        int rejected = res->state == GW_TOKEN_REJECTED;

        gw_apns_id_derive(j->apns_id, i, id);
        if (j->channel == NULL)
            rec += gw_token_rec_text(rec, SIZE_MAX, hex);
        json_array_append_new(
            list,
            json_pack(
                "{s:s, s:s, s:s, s:o*, s:s*, s:o*, s:s*}", j->channel != NULL ? "channel" : "token",
                j->channel != NULL ? j->channel : hex, "apns_id", id, "state",
                gw_token_state_name((gw_token_state)res->state), "status",
                rejected ? json_integer(res->status) : NULL, "reason",
                rejected ? res->reason : NULL, "timestamp_ms", gw__json_int(res->apns_ts_ms),
                "dead_token",
                res->dead != GW_DEAD_NONE ? gw_dead_source_name((gw_dead_source)res->dead) : NULL));
    }
    return list;
}
