/*
 * gw_work.h - the workload of the gateway's end-to-end tests: notifications
 * submitted through POST /v1/push (batches of jobs of mixed sizes, and
 * broadcasts), the jobs apnsd answered with, and the checks that every job
 * finished with the right counts and per-token outcomes, that the dead-token
 * registry holds exactly the unregistered tokens, and what the delivery log
 * says.
 *
 * Token i of the ledger is gw_token(i); a job covers consecutive token
 * indices [first, first + n), so token j of a job is index first + j and its
 * apns-id is gw_derive_apns_id(job apns-id, j).
 */
#ifndef GW_TEST_WORK_H
#define GW_TEST_WORK_H

#include "gw_util.h"

typedef struct gw_jobrec {
    char id[37];
    char apns_id[37];
    uint32_t first, n;
    int final;      /* seen in a final state */
    char state[24]; /* last state seen */
} gw_jobrec;

typedef struct gw_work {
    gw_ledger *l;
    gw_jobrec *jobs;
    size_t njobs, cap;
    uint32_t small_job_tokens; /* [queue] small_job_tokens (per-token outcomes up to it) */
    uint32_t requests, failed_requests;
} gw_work;

void gw_work_init(gw_work *w, gw_ledger *l);
void gw_work_free(gw_work *w);

/* Tokens [first, first + count) as POST /v1/push batches of `per_request`
 * tokens each, split into notifications of 1, 2, 5, 10, 50, 100, 132 and 200
 * tokens (builder fields), over the connections of h in parallel. Every
 * request must be answered 202; the jobs are recorded. */
void gw_work_submit_batches(gw_work *w, gw_http *h, uint32_t first, uint32_t count,
                            uint32_t per_request);

/* One notification to tokens [first, first + count) in one request (a raw
 * `payload`), with an explicit apns_id when apns_id != NULL. Waits for the
 * 202. */
void gw_work_submit_broadcast(gw_work *w, gw_http *h, uint32_t first, uint32_t count,
                              const char *apns_id);

/* The same in three steps, so that a benchmark's clock covers only the
 * sending: prepare builds every request body; send posts them over the
 * connections of h in parallel and waits for every answer (kept as it
 * came); settle checks the answers (every one 202, one entry per
 * notification), records the jobs and frees p. The submit_* calls above
 * are prepare + send + settle. */
typedef struct gw_posts gw_posts;
gw_posts *gw_work_prepare_batches(gw_work *w, uint32_t first, uint32_t count, uint32_t per_request);
gw_posts *gw_work_prepare_broadcast(gw_work *w, uint32_t first, uint32_t count,
                                    const char *apns_id);
void gw_work_send(gw_http *h, gw_posts *p);
void gw_work_settle(gw_posts *p);

/* One notification to tokens [first, first + count) in one request,
 * synchronously; the job is recorded when the answer is 202. Returns the
 * status; the answer is left in *r (gw_resp_clear it). */
int gw_work_try_push(gw_work *w, gw_http *h, uint32_t first, uint32_t count, gw_resp *r);

/* Polls GET /metrics until apnsd_queue_depth is 0 (bounded by timeout_ms;
 * fails with the depth seen). Returns the ms it took. */
int64_t gw_work_wait_depth(gw_http *h, int timeout_ms);

/* Polls GET /v1/notifications/{id} of every job until each is in a final
 * state (bounded; fails listing the states seen), and checks each: state,
 * token count, counts per state (accepted = valid tokens, rejected =
 * unregistered ones), and for small jobs every per-token outcome (token,
 * apns-id, state; 410 + Unregistered + the sim's timestamp). */
void gw_work_check_jobs(gw_work *w, gw_http *h, int timeout_ms);

/* Pages through GET /v1/apps/{app}/dead-tokens (limit 1000, next_cursor)
 * and checks that it lists exactly the unregistered submitted tokens, once
 * each, with source "410", reason Unregistered and the sim's timestamp.
 * Returns the number of entries. */
uint32_t gw_work_check_dead_tokens(gw_work *w, gw_http *h, const char *app, const char *key);

/* Submitted tokens that are / are not on the unregistered list. */
uint32_t gw_work_valid(const gw_work *w);
uint32_t gw_work_unreg(const gw_work *w);

#endif
