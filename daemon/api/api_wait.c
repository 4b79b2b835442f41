/*
 * api_wait.c - the ?wait registry: jobs whose requests wait for per-token
 * results, found by job id when the dispatcher reports a final result.
 *
 * gw_api_on_result() runs for every final token of every job (hundreds of
 * thousands a second under load), so it returns at once when nobody waits
 * and otherwise costs one hash lookup. The registry is a chained hash table
 * on the job id (FNV-1a), grown by doubling; a request registers its jobs
 * right after gw_queue_submit() handed out their ids and unregisters them
 * when it is answered.
 */
#include "api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/notification.h"
#include "hash.h"

static int grow(gw__waits *w)
{
    size_t nb = w->n_buckets ? w->n_buckets * 2 : 64;
    gw__wait_job **b = calloc(nb, sizeof(*b));

    if (b == NULL)
        return -1;
    for (size_t i = 0; i < w->n_buckets; i++) {
        gw__wait_job *j = w->bucket[i], *next;
        for (; j != NULL; j = next) {
            next = j->hnext;
            size_t k = common_fnv1a_str(j->id) & (nb - 1);
            j->hnext = b[k];
            b[k] = j;
        }
    }
    free(w->bucket);
    w->bucket = b;
    w->n_buckets = nb;
    return 0;
}

int gw__waits_add(gw__waits *w, gw__wait_job *j)
{
    size_t k;

    if ((w->n_buckets == 0 || w->n >= w->n_buckets * 2) && grow(w) != 0)
        return APNS_ENOMEM;
    k = common_fnv1a_str(j->id) & (w->n_buckets - 1);
    j->hnext = w->bucket[k];
    w->bucket[k] = j;
    w->n++;
    return 0;
}

void gw__waits_remove(gw__waits *w, gw__wait_job *j)
{
    gw__wait_job **pp;

    if (!j->registered || w->n_buckets == 0)
        return;
    for (pp = &w->bucket[common_fnv1a_str(j->id) & (w->n_buckets - 1)]; *pp != NULL;
         pp = &(*pp)->hnext) {
        if (*pp == j) {
            *pp = j->hnext;
            j->hnext = NULL;
            w->n--;
            break;
        }
    }
    j->registered = 0;
}

gw__wait_job *gw__waits_find(const gw__waits *w, const char *job_id)
{
    gw__wait_job *j;

    if (w->n == 0 || job_id == NULL)
        return NULL;
    for (j = w->bucket[common_fnv1a_str(job_id) & (w->n_buckets - 1)]; j != NULL; j = j->hnext)
        if (strcmp(j->id, job_id) == 0)
            return j;
    return NULL;
}

void gw__waits_free(gw__waits *w)
{
    free(w->bucket);
    memset(w, 0, sizeof(*w));
}

void gw_api_on_result(gw_api *a, const gw_token_result *r)
{
    gw__wait_job *j;
    gw__wait_res *res;

    if (a == NULL || r == NULL || a->waits.n == 0)
        return;
    j = gw__waits_find(&a->waits, r->job_id);
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

json_t *gw__wait_job_json(const gw__wait_job *j)
{
    json_t *list = json_array();
    const uint8_t *rec = j != NULL ? j->tokens : NULL;

    for (size_t i = 0; j != NULL && i < j->n; i++, rec += 1 + rec[0]) {
        const gw__wait_res *res = &j->res[i];
        char id[GW_JOB_ID_LEN + 1], hex[APNS_TOKEN_HEX_MAX + 1];
        json_t *o;

        gw_apns_id_derive(j->apns_id, i, id);
        gw_token_to_hex(rec + 1, rec[0], hex);
        o = json_pack("{s:s, s:s, s:s}", "token", hex, "apns_id", id, "state",
                      gw_token_state_name((gw_token_state)res->state));
        if (o == NULL)
            continue;
        if (res->state == GW_TOKEN_REJECTED) {
            json_object_set_new(o, "status", json_integer(res->status));
            json_object_set_new(o, "reason", json_string(res->reason));
        }
        if (res->apns_ts_ms != 0)
            json_object_set_new(o, "timestamp_ms", json_integer(res->apns_ts_ms));
        if (res->dead != GW_DEAD_NONE)
            json_object_set_new(o, "dead_token",
                                json_string(gw_dead_source_name((gw_dead_source)res->dead)));
        json_array_append_new(list, o);
    }
    return list;
}
