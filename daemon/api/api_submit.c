/*
 * api_submit.c - POST /v1/push: parse, submit one job per notification,
 * answer 202 once every job is durable, or hold the request for ?wait.
 *
 * Design note
 * -----------
 * All jobs of a request are posted to the queue at once; the answer waits
 * for every submit callback. When all said 0 the answer is 202 with the job
 * ids (or, with ?wait, the request waits for the per-token results). When
 * one failed (storage unavailable, over depth) the answer is that error, and
 * the body also lists each notification with "accepted": true (durable: it
 * WILL be sent; its id and apns-id are given so the client does not submit
 * it again) or false (not stored: submit it again). A failure while posting
 * (the queue refused at once) stops posting the rest: they are listed as not
 * accepted.
 *
 * A channel publish ("channel" instead of tokens) is checked against
 * apnsd's channel records before anything is stored: the notifications'
 * channels are looked up one after the other (gw_queue_channel_get, in
 * request order, so the first problem is always the same one; each channel
 * once for a run of notifications that name it): a channel
 * without a record is 404 channel_not_found (a sync records the channels
 * APNs holds), a non-zero expiration on a channel of storage policy 0 is
 * the 400 APNs would answer later (BadExpirationDate, §4.4: apnsd knows the
 * policy, APNs decides it only once it found the channel). Then every job
 * is posted as above; a channel publish is a job of one entry.
 *
 * ?wait=SECONDS (capped by [server] max_wait) is only for notifications of
 * at most [queue] small_job_tokens tokens, because the request keeps every
 * token and its result in memory. Each job is registered with the wait
 * registry (api_wait.c) as soon as gw_queue_submit() returned its id, so no
 * result can arrive unseen. The answer is 200 with per-token results when
 * every token is final, or when the wait ends (tokens still open say
 * "pending"), or at once on drain.
 */
#include "api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "timer.h"

#define WAIT_MAX_SECONDS    86400
#define RETRY_AFTER_DEPTH   5 /* Retry-After seconds: the queue over max_depth */
#define RETRY_AFTER_BACKLOG 1 /* its storage backlog full */

struct gw__push {
    gw_api_req *r;
    size_t n;
    gw__job *jobs;
    size_t posted, answered;
    int err; /* first failure */
    char detail[256];
    int64_t wait_ms;     /* 0: no ?wait */
    struct event *timer; /* ?wait: every job durable, waiting for results */
    gw_push_request pr;  /* parsed; freed once every job is posted */
    size_t looked;       /* channel publishes: items checked so far */
    uint8_t *checked;    /* per item: its channel was found with an earlier item's */
    /* Idempotency (api_idem.c): the key and scope, and whether this request
     * holds the reservation (removed with p unless its answer was stored). */
    char idem_scope[GW_IDEM_SCOPE_MAX + 1];
    char idem_key[GW_IDEM_KEY_MAX + 12];
    int idem_reserved;
    int idem_in_group; /* the answer is stored with the jobs, in their transaction */
};

void gw__api_push_free(gw__push *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        gw__waits_remove(p->r->api, &p->jobs[i]); /* a no-op unless registered */
        free(p->jobs[i].channel);
        free(p->jobs[i].tokens);
        free(p->jobs[i].res);
    }
    gw_events_free(&p->timer, 1);
    /* A reservation whose answer was not stored: nothing of it will be
     * delivered (no job was durable), so a repeat may run anew. (While
     * draining the queue may be gone: the next start removes it.) */
    if (p->idem_reserved && !p->r->api->draining)
        (void)gw_queue_idem_finish(p->r->api->q, p->idem_scope, p->idem_key, 0, NULL, NULL, NULL);
    gw_push_request_free(&p->pr);
    free(p->checked);
    free(p->jobs);
    free(p);
}

/* ---- answers ------------------------------------------------------------ */

/* Every answer comes after the last submit callback: it frees the request,
 * which unregisters its jobs and stops its timer (gw__api_push_free). */

/* A job's id, apns-id and tokens; with results, "complete" and "results" (?wait). */
static json_t *job_json(const gw__job *j, int results)
{
    return json_pack("{s:s, s:s, s:I, s:s*, s:o*, s:o*}", "id", j->id, "apns_id", j->apns_id,
                     "tokens", (json_int_t)j->n, "channel", j->channel, "complete",
                     results ? json_boolean(j->n_final == j->n) : NULL, "results",
                     results ? gw__wait_job_json(j) : NULL);
}

static json_t *jobs_json(const gw__push *p, int results)
{
    json_t *list = json_array();

    for (size_t i = 0; i < p->n; i++)
        json_array_append_new(list, job_json(&p->jobs[i], results));
    return json_pack("{s:o}", "notifications", list);
}

/* The 202 of device pushes without jansson: its strings are UUIDs (nothing
 * to escape) and its numbers token counts, so it is written as it goes out,
 * the same bytes jobs_json() dumps compact (an Idempotency-Key's stored
 * answer, replayed byte for byte, is that dump: test_api.c). NULL when a
 * job is a channel publish (its channel id goes through jansson) or on
 * allocation failure. */
static struct evbuffer *accepted_text(const gw__push *p)
{
    struct evbuffer *b;

    for (size_t i = 0; i < p->n; i++)
        if (p->jobs[i].channel != NULL)
            return NULL;
    b = evbuffer_new();
    if (b == NULL)
        return NULL;
    if (evbuffer_add(b, "{\"notifications\":[", 18) != 0)
        goto fail;
    for (size_t i = 0; i < p->n; i++)
        if (evbuffer_add_printf(b, "%s{\"id\":\"%s\",\"apns_id\":\"%s\",\"tokens\":%zu}",
                                i ? "," : "", p->jobs[i].id, p->jobs[i].apns_id, p->jobs[i].n) < 0)
            goto fail;
    if (evbuffer_add(b, "]}\n", 3) == 0)
        return b;
fail:
    evbuffer_free(b);
    return NULL;
}

/* 202 with the jobs, or (?wait) 200 with their results as known now. */
static void answer_jobs(gw__push *p, int results)
{
    struct evbuffer *b = results ? NULL : accepted_text(p);

    if (b == NULL) {
        gw__api_reply_json(p->r, results ? 200 : 202, jobs_json(p, results));
        return;
    }
    gw__api_reply_raw(p->r, 202, "application/json", b);
    evbuffer_free(b);
}

/* The failure answer: its body, status and (429) Retry-After. */
static json_t *failed_json(const gw__push *p, int *status, int *retry_after)
{
    gw_api_error e;
    json_t *body, *list = json_array();

    gw__api_queue_error(&e, p->err, p->detail, "storing the notifications");
    for (size_t i = 0; i < p->n; i++) {
        const gw__job *j = &p->jobs[i];
        json_t *o;
        if (j->durable) {
            o = job_json(j, 0);
            json_object_set_new(o, "accepted", json_true());
        } else {
            o = json_pack("{s:I, s:b}", "tokens", (json_int_t)j->n, "accepted", 0);
        }
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        json_array_append_new(list, o);
    }
    body = gw__api_error_json(&e, p->r->id);
    json_object_set_new(body, "notifications", list);
    *status = e.status;
    *retry_after = e.status != 429               ? 0
                   : p->err == GW_QUEUE_EBACKLOG ? RETRY_AFTER_BACKLOG
                                                 : RETRY_AFTER_DEPTH;
    if (e.status >= 500)
        gw_log(GW_LOG_WARN, "api", "push not stored", "request_id", p->r->id, "error", e.message,
               NULL);
    return body;
}

static void answer_failed(gw__push *p)
{
    int status, retry_after;
    json_t *body = failed_json(p, &status, &retry_after);
    char ra[16];

    if (retry_after > 0) {
        snprintf(ra, sizeof ra, "%d", retry_after);
        gw__api_header(p->r, "Retry-After", ra);
    }
    gw__api_reply_json(p->r, status, body);
}

static int all_final(const gw__push *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->jobs[i].n_final < p->jobs[i].n)
            return 0;
    return 1;
}

void gw__api_push_result(gw__push *p)
{
    if (p->timer != NULL && p->r->open && all_final(p))
        answer_jobs(p, 1);
}

void gw_api_stop_accepting(gw_api *a)
{
    if (a == NULL)
        return;
    a->draining = 1;
    COMMON_LIST_FOREACH(it, tmp, &a->open)
    {
        gw_api_req *r = COMMON_CONTAINER_OF(it, gw_api_req, link);
        if (r->push != NULL && r->push->timer != NULL && r->open)
            answer_jobs(r->push, 1);
    }
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    answer_jobs(arg, 1); /* unanswered: an answer frees the request and this timer */
}

/* Every submit callback is in (and the answer stored, with an
 * Idempotency-Key): answer, or start waiting. */
static void finish_answer(gw__push *p)
{
    if (p->err != 0) {
        answer_failed(p);
    } else if (p->wait_ms <= 0) {
        answer_jobs(p, 0);
    } else if (all_final(p) || p->r->api->draining) {
        answer_jobs(p, 1);
    } else {
        p->timer = evtimer_new(p->r->api->base, on_wait_timeout, p);
        if (p->timer == NULL || gw_timer_in(p->timer, p->wait_ms) != 0)
            answer_jobs(p, 1);
    }
}

/* The answer of a request with an Idempotency-Key is durable (or could not
 * be stored: logged; a repeat then runs anew, see gw__api_push_free). */
static void on_idem_stored(int err, const char *detail, int state, int status, const char *body,
                           void *ud)
{
    gw__push *p = ud;

    if (!gw__api_req_resume(p->r))
        return;
    if (err != 0)
        gw_log(GW_LOG_WARN, "api", "idempotency record not stored", "request_id", p->r->id, "error",
               detail != NULL && detail[0] ? detail : gw_queue_strerror(err), NULL);
    else
        p->idem_reserved = 0;
    finish_answer(p);
}

static int any_durable(const gw__push *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->jobs[i].durable)
            return 1;
    return 0;
}

/* Every submit callback is in. With an Idempotency-Key, the answer is made
 * durable first when something of the request was stored (202, or a 429 /
 * 503 that lists accepted notifications): a repeat gets it back and stores
 * nothing. When nothing was stored the reservation goes with p. */
static void finish(gw__push *p)
{
    int status = 202, retry_after = 0;
    json_t *body;
    char *text;

    if (!p->idem_reserved || p->idem_in_group || (p->err != 0 && !any_durable(p))) {
        finish_answer(p);
        return;
    }
    body = p->err == 0 ? jobs_json(p, 0) : failed_json(p, &status, &retry_after);
    text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(body);
    if (text == NULL ||
        gw__api_posted(p->r,
                       gw_queue_idem_finish(p->r->api->q, p->idem_scope, p->idem_key, status, text,
                                            on_idem_stored, p),
                       NULL) != 0)
        finish_answer(p);
    free(text);
}

static void on_submit(int err, const char *detail, const char *job_id, void *ud)
{
    gw__job *j = ud;
    gw__push *p = j->owner;

    if (!gw__api_req_resume(p->r))
        return;
    j->durable = err == 0;
    if (err != 0 && p->err == 0) {
        p->err = err;
        snprintf(p->detail, sizeof p->detail, "%s", detail ? detail : "");
    }
    if (++p->answered == p->posted)
        finish(p);
}

/* ?wait: room for the job's tokens and results (freed with the request). */
static int wait_alloc(gw__job *j, const gw_token_list *l)
{
    j->tokens = malloc(l->len ? l->len : 1);
    j->res = calloc(j->n ? j->n : 1, sizeof(*j->res));
    if (j->tokens == NULL || j->res == NULL)
        return -1;
    if (l->len > 0) /* a channel publish has no tokens (and no buffer) */
        memcpy(j->tokens, l->buf, l->len);
    return 0;
}

/* ---- posting ------------------------------------------------------------ */

/* The idempotency record's answer, stored in the jobs' transaction. */
static void on_idem_group(int err, const char *detail, int state, int status, const char *body,
                          void *ud)
{
    gw__push *p = ud;

    if (!gw__api_req_resume(p->r))
        return;
    if (err == 0) {
        p->idem_reserved = 0; /* stored: kept, not released with p */
    } else if (p->err == 0) {
        p->err = err;
        snprintf(p->detail, sizeof p->detail, "%s", detail ? detail : "");
    }
    if (++p->answered == p->posted)
        finish(p);
}

/* With an Idempotency-Key, the 202 answer joins the jobs' group (its ids
 * are known once every job is posted): one transaction stores both. */
static int post_idem_answer(gw__push *p)
{
    json_t *body = jobs_json(p, 0);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    int rc = APNS_ENOMEM;

    json_decref(body);
    if (text != NULL)
        rc = gw__api_posted(p->r,
                            gw_queue_idem_finish(p->r->api->q, p->idem_scope, p->idem_key, 202,
                                                 text, on_idem_group, p),
                            NULL);
    free(text);
    if (rc == 0) {
        p->posted++;
        p->idem_in_group = 1;
    }
    return rc;
}

/* Every notification passed: one job each. On a backend with groups
 * (both) a request of several notifications, or with an Idempotency-Key,
 * is one group: all its jobs (and its idempotency answer) commit together,
 * or none does (a failure while posting abandons the group). */
static void submit_all(gw__push *p)
{
    gw_api_req *r = p->r;
    gw_api *a = r->api;
    int grouped = (p->pr.n > 1 || p->idem_reserved) && gw_queue_group_begin(a->q) == 0;

    for (size_t i = 0; i < p->pr.n; i++) {
        gw_push_item *it = &p->pr.items[i];
        gw__job *j = &p->jobs[i];
        int rc = APNS_ENOMEM;

        j->owner = p;
        j->n = it->n_tokens;
        int copied = it->job.channel == NULL || (j->channel = strdup(it->job.channel)) != NULL;

        if (copied && (p->wait_ms == 0 || wait_alloc(j, &it->job.tokens) == 0))
            rc = gw__api_posted(r, gw_queue_submit(a->q, &it->job, j->id, on_submit, j), NULL);
        if (rc != 0) {
            p->err = rc;
            snprintf(p->detail, sizeof p->detail, "%s", gw_queue_strerror(rc));
            break;
        }
        p->posted++;
        gw_apns_id_derive(it->job.apns_id != NULL && it->job.apns_id[0] ? it->job.apns_id : j->id,
                          0, j->apns_id);
        if (p->wait_ms > 0)
            gw__waits_add(a, j);
    }
    if (grouped && p->err == 0 && p->idem_reserved) {
        int rc = post_idem_answer(p);
        if (rc != 0) {
            p->err = rc;
            snprintf(p->detail, sizeof p->detail, "%s", gw_queue_strerror(rc));
        }
    }
    if (grouped) /* an error fails every request posted in the group */
        gw_queue_group_end(a->q, p->err, p->detail);
    gw_push_request_free(&p->pr); /* the queue copied what it keeps */
    if (p->posted == 0)
        finish(p);
    /* else: the last on_submit calls finish() */
}

static void check_channels(gw__push *p);

/* A channel of storage policy 0 (No Message Stored) takes expiration 0
 * only (§4.4: APNs answers BadExpirationDate); -1 (found by a sync) is
 * left to APNs. */
static int expiration_ok(const gw_channel *v, const gw_push_item *it)
{
    return v->storage_policy != 0 || it->job.expiration == 0;
}

/* The record of notification p->looked's channel. */
static void on_channel(int err, const char *detail, const gw_channel *v, size_t n, void *ud)
{
    gw__push *p = ud;
    gw_api_req *r = p->r;
    const gw_push_item *it = &p->pr.items[p->looked];
    size_t idx = p->pr.batch ? p->looked : GW__TOKENS_TOP;
    char f[96];

    if (!gw__api_req_resume(r))
        return;
    if (err == GW_QUEUE_ENOTFOUND || (err == 0 && n == 0)) {
        gw__api_reply_errorf(r, GW_API_E_CHANNEL_NOT_FOUND,
                             gw__api_field(f, sizeof f, idx, "channel"),
                             "app \"%s\" has no record of channel %s: create it with POST "
                             "/v1/apps/%s/channels, or record the channels APNs holds with POST "
                             "/v1/apps/%s/channels:sync",
                             it->job.app, it->job.channel, it->job.app, it->job.app);
        return;
    }
    if (err != 0) {
        gw__api_reply_queue_error(r, err, detail, "reading the channel record");
        return;
    }
    if (!expiration_ok(&v[0], it)) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_FIELD,
                             gw__api_field(f, sizeof f, idx, "expiration"),
                             "channel %s has storage policy 0 (No Message Stored): a publish to it "
                             "takes expiration 0 (APNs answers 400 BadExpirationDate to any other)",
                             it->job.channel);
        return;
    }
    /* Later items of the same channel (a run of updates) need no lookup of
     * their own; one that breaks the rule is looked up at its turn, so the
     * first problem in request order is the one answered. */
    for (size_t k = p->looked + 1; k < p->pr.n; k++) {
        const gw_push_item *o = &p->pr.items[k];
        if (o->job.channel != NULL && strcmp(o->job.channel, it->job.channel) == 0 &&
            strcmp(o->job.app, it->job.app) == 0 && expiration_ok(&v[0], o))
            p->checked[k] = 1;
    }
    p->looked++;
    check_channels(p);
}

/* Looks up the next channel publish's channel, or posts every job. */
static void check_channels(gw__push *p)
{
    gw_api_req *r = p->r;
    const gw_push_item *it;
    const gw_config_app *app;
    char f[96];

    while (p->looked < p->pr.n &&
           (p->pr.items[p->looked].job.channel == NULL || p->checked[p->looked]))
        p->looked++;
    if (p->looked == p->pr.n) {
        submit_all(p);
        return;
    }
    it = &p->pr.items[p->looked];
    app = gw_config_find_app(r->api->cfg, it->job.app);
    if (app == NULL) { /* removed by a reload since the parse */
        gw__api_reply_errorf(
            r, GW_API_E_UNKNOWN_APP,
            gw__api_field(f, sizeof f, p->pr.batch ? p->looked : GW__TOKENS_TOP, "app"),
            "no app \"%s\" is configured", it->job.app);
        return;
    }
    gw__api_posted(r,
                   gw_queue_channel_get(r->api->q, it->job.app, gw__api_channel_env(app),
                                        it->job.channel, on_channel, p),
                   "reading the channel record");
}

/* ---- idempotency --------------------------------------------------------- */

/* The reservation of the request's key: go on, or answer from the record. */
static void on_idem_begin(int err, const char *detail, int state, int status, const char *body,
                          void *ud)
{
    gw__push *p = ud;
    gw_api_req *r = p->r;
    struct evbuffer *b;

    if (state == GW_IDEM_NEW && err == 0)
        p->idem_reserved = 1; /* even when r is gone: released with p */
    if (!gw__api_req_resume(r))
        return;
    if (err != 0) {
        gw__api_reply_queue_error(r, err, detail, "reserving the Idempotency-Key");
        return;
    }
    switch (state) {
    case GW_IDEM_NEW:
        check_channels(p);
        return;
    case GW_IDEM_REPLAY:
        b = evbuffer_new();
        if (b == NULL || evbuffer_add(b, body, strlen(body)) != 0 ||
            evbuffer_add(b, "\n", 1) != 0) {
            if (b != NULL)
                evbuffer_free(b);
            gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
            return;
        }
        gw_metrics_add(r->api->m, GW_M_API_IDEMPOTENCY, "replayed", NULL, 1);
        gw__api_header(r, "Idempotent-Replayed", "true");
        gw__api_reply_raw(r, status, "application/json", b);
        evbuffer_free(b);
        return;
    case GW_IDEM_MISMATCH:
        gw_metrics_add(r->api->m, GW_M_API_IDEMPOTENCY, "key_reused", NULL, 1);
        gw__api_reply_errorf(r, GW_API_E_IDEMPOTENCY_KEY_REUSED,
                             r->idem_key[0] ? "Idempotency-Key" : "apns_id",
                             "this %s was used with another request body within [server] "
                             "idempotency_ttl; use a new key for a new request",
                             r->idem_key[0] ? "Idempotency-Key" : "apns_id");
        return;
    default:
        gw_metrics_add(r->api->m, GW_M_API_IDEMPOTENCY, "in_progress", NULL, 1);
        gw__api_header(r, "Retry-After", "1");
        gw__api_reply_errorf(r, GW_API_E_IDEMPOTENCY_IN_PROGRESS,
                             r->idem_key[0] ? "Idempotency-Key" : "apns_id",
                             "a request with this %s is still being stored; retry it in a moment "
                             "to get its answer",
                             r->idem_key[0] ? "Idempotency-Key" : "apns_id");
        return;
    }
}

/* ---- the handler -------------------------------------------------------- */

static int parse_wait(gw_api_req *r, int64_t *wait_ms)
{
    static const char *const allowed[] = {"wait", NULL};
    const gw_api_server_config *cfg = gw_api_server_config_of(r->api->cfg);
    struct evkeyvalq q;
    const char *v;
    char *end;
    long long s;

    *wait_ms = 0;
    if (gw__api_query(r, &q, allowed) != 0)
        return -1;
    v = evhttp_find_header(&q, "wait");
    if (v == NULL) {
        evhttp_clear_headers(&q);
        return 0;
    }
    s = strtoll(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || s > WAIT_MAX_SECONDS) {
        evhttp_clear_headers(&q);
        gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, "wait",
                             "must be a whole number of seconds (0..%d)", WAIT_MAX_SECONDS);
        return -1;
    }
    evhttp_clear_headers(&q);
    if (s > 0 && cfg->max_wait_ms == 0) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, "wait",
                             "?wait is turned off on this gateway ([server] max_wait = 0)");
        return -1;
    }
    *wait_ms = s * 1000 > cfg->max_wait_ms ? cfg->max_wait_ms : s * 1000;
    return 0;
}

/* A single notification with its own apns_id: the id is its idempotency
 * key (docs/api.md), when the queue keeps keys. */
static int own_apns_id(const gw_push_request *pr, gw_queue *q)
{
    return pr->n == 1 && pr->items[0].job.apns_id != NULL && pr->items[0].job.apns_id[0] != '\0' &&
           gw_queue_has_idempotency(q);
}

void gw__api_h_push(gw_api_req *r)
{
    gw_api *a = r->api;
    const gw_config *cfg = a->cfg;
    const gw_api_server_config *sc = gw_api_server_config_of(cfg);
    const gw_queue_config *qc = gw_queue_config_of(cfg);
    struct evbuffer *in = r->body;
    size_t len = in != NULL ? evbuffer_get_length(in) : 0;
    gw_push_request pr;
    gw_api_error e;
    gw__push *p;
    int64_t wait_ms;
    uint64_t depth;
    const char *body;
    uint8_t hash[GW_IDEM_HASH];

    if (a->draining) {
        gw__api_reply_errorf(r, GW_API_E_DRAINING, NULL,
                             "the gateway is shutting down; send to another instance or retry");
        return;
    }
    if (parse_wait(r, &wait_ms) != 0)
        return;
    if (len > sc->max_body) {
        gw__api_reply_errorf(r, GW_API_E_BODY_TOO_LARGE, "body",
                             "the body has %zu bytes; [server] max_body is %llu", len,
                             (unsigned long long)sc->max_body);
        return;
    }
    depth = gw_queue_depth(a->q);
    if (qc->max_depth > 0 && depth > qc->max_depth) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", RETRY_AFTER_DEPTH);
        gw__api_header(r, "Retry-After", ra);
        gw__api_reply_errorf(r, GW_API_E_OVERLOADED, NULL,
                             "the queue holds %llu unfinished notifications, over [queue] "
                             "max_depth %llu; retry later",
                             (unsigned long long)depth, (unsigned long long)qc->max_depth);
        return;
    }
    body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
    if (gw__push_parse(body, len, cfg, r->key, &pr, &e) != 0) {
        gw__api_reply_error(r, &e);
        return;
    }
    /* The body's digest is kept only for an idempotency key (below): most
     * pushes carry none, and hashing every body cost ~6% of the loop's
     * instructions (BENCHMARKS.md, apnsd end to end), and more than half of
     * a broadcast's submit (a 6.7 MB body). */
    if (r->idem_key[0] != '\0' || own_apns_id(&pr, a->q))
        gw__api_idem_hash(body, len, hash);
    else
        memset(hash, 0, sizeof hash);
    if (in != NULL)
        evbuffer_drain(in, len); /* the body is not needed any more */
    gw__api_body_release(r);
    if (wait_ms > 0) {
        for (size_t i = 0; i < pr.n; i++) {
            size_t n = pr.items[i].n_tokens;
            if (n > qc->small_job_tokens) {
                gw_push_request_free(&pr);
                gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, "wait",
                                     "?wait takes notifications of at most %u tokens ([queue] "
                                     "small_job_tokens); notification %zu has %zu",
                                     qc->small_job_tokens, i, n);
                return;
            }
        }
    }

    p = calloc(1, sizeof(*p));
    if (p != NULL)
        p->jobs = calloc(pr.n, sizeof(*p->jobs));
    if (p == NULL || p->jobs == NULL) {
        free(p);
        gw_push_request_free(&pr);
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
        return;
    }
    p->r = r;
    p->n = pr.n;
    p->wait_ms = wait_ms;
    p->pr = pr; /* freed with p, or once posted */
    r->push = p;
    p->checked = calloc(pr.n, 1);
    if (p->checked == NULL) {
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
        return;
    }
    /* The key: the header, or a single notification's own apns_id (a byte
     * no header can hold keeps the two apart). */
    if (r->idem_key[0] != '\0')
        snprintf(p->idem_key, sizeof p->idem_key, "%s", r->idem_key);
    else if (own_apns_id(&pr, a->q))
        snprintf(p->idem_key, sizeof p->idem_key, "\x01apns-id:%s", pr.items[0].job.apns_id);
    if (p->idem_key[0] == '\0') {
        check_channels(p);
        return;
    }
    gw__api_idem_scope(r, p->idem_scope);
    gw__api_posted(r,
                   gw_queue_idem_begin(a->q, p->idem_scope, p->idem_key, hash,
                                       sc->idempotency_ttl_ms, sc->idempotency_max, on_idem_begin,
                                       p),
                   "reserving the Idempotency-Key");
}
