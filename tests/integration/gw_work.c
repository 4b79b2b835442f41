/* gw_work.c - see gw_work.h. */
#include "gw_work.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void gw_work_init(gw_work *w, gw_ledger *l)
{
    memset(w, 0, sizeof *w);
    w->l = l;
    w->small_job_tokens = 100;
}

void gw_work_free(gw_work *w)
{
    free(w->jobs);
    memset(w, 0, sizeof *w);
}

static gw_jobrec *add_job(gw_work *w, const char *id, const char *apns_id, uint32_t first,
                          uint32_t n)
{
    if (w->njobs == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->jobs = realloc(w->jobs, w->cap * sizeof *w->jobs);
        GW_CHECK(w->jobs != NULL, "out of memory");
    }
    gw_jobrec *j = &w->jobs[w->njobs++];
    memset(j, 0, sizeof *j);
    GW_CHECK(strlen(id) == 36 && strlen(apns_id) == 36, "bad ids %s %s", id, apns_id);
    memcpy(j->id, id, 37);
    memcpy(j->apns_id, apns_id, 37);
    j->first = first;
    j->n = n;
    for (uint32_t k = 0; k < n; k++) {
        GW_CHECK(w->l->want_id[first + k][0] == 0, "token %u submitted twice by the test",
                 first + k);
        gw_derive_apns_id(apns_id, k, w->l->want_id[first + k]);
    }
    return j;
}

/* ---- submitting ------------------------------------------------------------ */

static const uint32_t sizes[] = {1, 2, 5, 10, 50, 100, 132, 200};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Appends the JSON strings of tokens [first, first + count), comma-separated. */
static void add_tokens(gw_buf *b, uint32_t first, uint32_t count)
{
    for (uint32_t k = 0; k < count; k++) {
        char t[65];
        gw_token(first + k, t);
        gw_buf_printf(b, "%s\"%s\"", k ? "," : "", t);
    }
}

/* One prepared request: its body, and after gw_work_send its answer. A
 * batch request covers notes notifications (first[k], n[k]); a broadcast
 * one (bcast). */
typedef struct gw_post {
    gw_buf body;
    int bcast;
    uint32_t nnotes;
    uint32_t first[512], n[512];
    int status;
    char *answer;
    size_t answer_len;
} gw_post;

struct gw_posts {
    gw_work *w;
    gw_post *v;
    size_t n, cap;
    const char *apns_id; /* a broadcast's explicit apns_id (checked at settle) */
};

static gw_post *posts_add(gw_posts *p)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->v = realloc(p->v, p->cap * sizeof *p->v);
        GW_CHECK(p->v != NULL, "out of memory");
    }
    gw_post *q = &p->v[p->n++];
    memset(q, 0, sizeof *q);
    return q;
}

static gw_posts *posts_new(gw_work *w)
{
    gw_posts *p = calloc(1, sizeof *p);
    GW_CHECK(p != NULL, "out of memory");
    p->w = w;
    return p;
}

/* The answer is kept as it came; it is read by gw_work_settle, after the
 * clock of a benchmark has stopped. */
static void on_answer(const gw_resp *r, void *ud)
{
    gw_post *q = ud;
    q->status = r->status;
    q->answer = malloc(r->len + 1);
    GW_CHECK(q->answer != NULL, "out of memory");
    memcpy(q->answer, r->body ? r->body : "", r->len);
    q->answer[r->len] = '\0';
    q->answer_len = r->len;
}

gw_posts *gw_work_prepare_batches(gw_work *w, uint32_t first, uint32_t count, uint32_t per_request)
{
    gw_posts *p = posts_new(w);
    uint32_t next = first, end = first + count, size_k = 0, note = 0;
    while (next < end) {
        gw_post *b = posts_add(p);
        gw_buf_printf(&b->body, "{\"notifications\":[");
        uint32_t left = per_request;
        while (left > 0 && next < end && b->nnotes < 512) {
            uint32_t n = sizes[size_k++ % NSIZES];
            if (n > left)
                n = left;
            if (n > end - next)
                n = end - next;
            b->first[b->nnotes] = next;
            b->n[b->nnotes] = n;
            gw_buf_printf(&b->body,
                          "%s{\"app\":\"" GW_APP "\",\"alert\":{\"title\":\"Order %u\",\"body\":"
                          "\"shipped\"},\"badge\":%u,\"custom\":{\"n\":%u},\"tokens\":[",
                          b->nnotes ? "," : "", note, note % 10, note);
            add_tokens(&b->body, next, n);
            gw_buf_add(&b->body, "]}", 2);
            b->nnotes++;
            note++;
            next += n;
            left -= n;
        }
        gw_buf_add(&b->body, "]}", 2);
    }
    return p;
}

gw_posts *gw_work_prepare_broadcast(gw_work *w, uint32_t first, uint32_t count, const char *apns_id)
{
    gw_posts *p = posts_new(w);
    gw_post *b = posts_add(p);
    b->bcast = 1;
    b->nnotes = 1;
    b->first[0] = first;
    b->n[0] = count;
    p->apns_id = apns_id;
    gw_buf_printf(&b->body, "{\"app\":\"" GW_APP "\",\"payload\":{\"aps\":{\"alert\":\"Sale "
                            "starts now\",\"sound\":\"default\"},\"campaign\":\"e2e\"}");
    if (apns_id)
        gw_buf_printf(&b->body, ",\"apns_id\":\"%s\"", apns_id);
    gw_buf_printf(&b->body, ",\"tokens\":[");
    add_tokens(&b->body, first, count);
    gw_buf_add(&b->body, "]}", 2);
    return p;
}

void gw_work_send(gw_http *h, gw_posts *p)
{
    for (size_t i = 0; i < p->n; i++)
        gw_http_async(h, "POST", "/v1/push", GW_KEY, p->v[i].body.p, p->v[i].body.len, on_answer,
                      &p->v[i]);
    gw_http_run(h);
}

/* The 202 of q: one entry per notification, in order, with its token count. */
static void settle_one(gw_work *w, gw_post *q)
{
    w->requests++;
    GW_CHECK(q->status == 202, "POST /v1/push (%s of %u tokens in %u notifications): %d %.1000s",
             q->bcast ? "broadcast" : "batch", q->bcast ? q->n[0] : 0, q->nnotes, q->status,
             q->answer ? q->answer : "");
    gw_resp r = {.status = q->status, .body = q->answer, .len = q->answer_len};
    json_t *j = gw_json(&r);
    json_t *arr = json_object_get(j, "notifications");
    GW_CHECK(json_is_array(arr) && json_array_size(arr) == q->nnotes,
             "202 lists %zu notifications, want %u: %.500s", json_array_size(arr), q->nnotes,
             q->answer);
    for (uint32_t k = 0; k < q->nnotes; k++) {
        json_t *e = json_array_get(arr, k);
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *aid = json_string_value(json_object_get(e, "apns_id"));
        json_int_t nt = json_integer_value(json_object_get(e, "tokens"));
        GW_CHECK(id && aid && nt == (json_int_t)q->n[k], "202 entry %u: %.300s", k, q->answer);
        add_job(w, id, aid, q->first[k], q->n[k]);
    }
    json_decref(j);
}

void gw_work_settle(gw_posts *p)
{
    gw_work *w = p->w;

    for (size_t i = 0; i < p->n; i++) {
        settle_one(w, &p->v[i]);
        if (p->v[i].bcast && p->apns_id)
            GW_CHECK(strcasecmp(w->jobs[w->njobs - 1].apns_id, p->apns_id) == 0,
                     "the broadcast's apns_id is %s, want %s", w->jobs[w->njobs - 1].apns_id,
                     p->apns_id);
        gw_buf_free(&p->v[i].body);
        free(p->v[i].answer);
    }
    free(p->v);
    free(p);
}

void gw_work_submit_batches(gw_work *w, gw_http *h, uint32_t first, uint32_t count,
                            uint32_t per_request)
{
    gw_posts *p = gw_work_prepare_batches(w, first, count, per_request);
    gw_work_send(h, p);
    gw_work_settle(p);
}

void gw_work_submit_broadcast(gw_work *w, gw_http *h, uint32_t first, uint32_t count,
                              const char *apns_id)
{
    gw_posts *p = gw_work_prepare_broadcast(w, first, count, apns_id);
    size_t bytes = p->v[0].body.len;
    int64_t t0 = th_now_ms();
    gw_work_send(h, p);
    fprintf(stderr, "broadcast to %u tokens (%zu bytes of JSON) accepted in %lld ms\n", count,
            bytes, (long long)(th_now_ms() - t0));
    gw_work_settle(p);
}

int gw_work_try_push(gw_work *w, gw_http *h, uint32_t first, uint32_t count, gw_resp *r)
{
    gw_buf body = {0};
    gw_buf_printf(&body, "{\"app\":\"" GW_APP "\",\"alert\":\"try %u\",\"tokens\":[", first);
    add_tokens(&body, first, count);
    gw_buf_add(&body, "]}", 2);
    gw_http_do(h, "POST", "/v1/push", GW_KEY, body.p, body.len, r);
    gw_buf_free(&body);
    w->requests++;
    if (r->status == 202) {
        json_t *j = gw_json(r);
        json_t *e = json_array_get(json_object_get(j, "notifications"), 0);
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *aid = json_string_value(json_object_get(e, "apns_id"));
        GW_CHECK(id && aid && json_integer_value(json_object_get(e, "tokens")) == (json_int_t)count,
                 "202: %.300s", r->body);
        add_job(w, id, aid, first, count);
        json_decref(j);
    }
    return r->status;
}

/* ---- waiting and checking --------------------------------------------------------- */

int64_t gw_work_wait_depth(gw_http *h, int timeout_ms)
{
    int64_t t0 = th_now_ms(), last_print = t0;
    double depth = -1;
    for (;;) {
        depth = gw_metric(h, "apnsd_queue_depth");
        int64_t now = th_now_ms();
        if (depth == 0)
            return now - t0;
        GW_CHECK(now - t0 < timeout_ms, "queue depth still %.0f after %d ms", depth, timeout_ms);
        if (now - last_print >= 2000) {
            fprintf(stderr, "  queue depth %.0f\n", depth);
            last_print = now;
        }
        gw_sleep_ms(50);
    }
}

static int final_state(const char *s)
{
    return !strcmp(s, "done") || !strcmp(s, "partially_failed") || !strcmp(s, "failed") ||
           !strcmp(s, "expired");
}

typedef struct jreq {
    gw_work *w;
    gw_jobrec *j;
} jreq;

static json_int_t count_of(json_t *counts, const char *k)
{
    return json_integer_value(json_object_get(counts, k));
}

static void check_job(gw_work *w, gw_jobrec *j, json_t *doc, const char *raw)
{
    gw_ledger *l = w->l;
    uint32_t acc = 0, rej = 0;
    for (uint32_t k = 0; k < j->n; k++) {
        if (l->unreg[j->first + k])
            rej++;
        else
            acc++;
    }
    const char *want = rej == 0 ? "done" : acc == 0 ? "failed" : "partially_failed";
    GW_CHECK(strcmp(j->state, want) == 0, "job %s: state %s, want %s: %.600s", j->id, j->state,
             want, raw);
    GW_CHECK(json_integer_value(json_object_get(doc, "tokens")) == (json_int_t)j->n,
             "job %s: tokens: %.300s", j->id, raw);
    const char *aid = json_string_value(json_object_get(doc, "apns_id"));
    GW_CHECK(aid && strcasecmp(aid, j->apns_id) == 0, "job %s: apns_id: %.300s", j->id, raw);
    GW_CHECK(json_string_value(json_object_get(doc, "app")) &&
                 !strcmp(json_string_value(json_object_get(doc, "app")), GW_APP),
             "job %s: app: %.300s", j->id, raw);
    GW_CHECK(json_integer_value(json_object_get(doc, "finished_ms")) > 0,
             "job %s: no finished_ms: %.300s", j->id, raw);
    json_t *c = json_object_get(doc, "counts");
    GW_CHECK(count_of(c, "accepted") == acc && count_of(c, "rejected") == rej &&
                 count_of(c, "pending") == 0 && count_of(c, "expired") == 0 &&
                 count_of(c, "failed") == 0 && count_of(c, "retrying") == 0,
             "job %s: counts, want accepted %u rejected %u, others 0: %.400s", j->id, acc, rej,
             raw);
    json_t *out = json_object_get(doc, "outcomes");
    if (j->n > w->small_job_tokens) {
        GW_CHECK(out == NULL || json_is_null(out), "job %s of %u tokens lists outcomes", j->id,
                 j->n);
        return;
    }
    GW_CHECK(json_is_array(out) && json_array_size(out) == j->n,
             "job %s: %zu outcomes for %u tokens: %.600s", j->id, json_array_size(out), j->n, raw);
    for (uint32_t k = 0; k < j->n; k++) {
        json_t *o = json_array_get(out, k);
        uint32_t i = j->first + k;
        char t[65];
        gw_token(i, t);
        const char *tok = json_string_value(json_object_get(o, "token"));
        const char *oid = json_string_value(json_object_get(o, "apns_id"));
        const char *st = json_string_value(json_object_get(o, "state"));
        GW_CHECK(tok && strcasecmp(tok, t) == 0, "job %s outcome %u: token %s, want %s", j->id, k,
                 tok ? tok : "(none)", t);
        GW_CHECK(oid && strcasecmp(oid, l->want_id[i]) == 0,
                 "job %s outcome %u: apns_id %s, want %s", j->id, k, oid ? oid : "(none)",
                 l->want_id[i]);
        if (l->unreg[i]) {
            GW_CHECK(st && !strcmp(st, "rejected") &&
                         json_integer_value(json_object_get(o, "status")) == 410 &&
                         json_string_value(json_object_get(o, "reason")) &&
                         !strcmp(json_string_value(json_object_get(o, "reason")), "Unregistered") &&
                         json_integer_value(json_object_get(o, "timestamp_ms")) == l->unreg_ts[i],
                     "job %s outcome %u (unregistered, timestamp %lld): %.400s", j->id, k,
                     (long long)l->unreg_ts[i], raw);
        } else {
            GW_CHECK(st && !strcmp(st, "accepted"), "job %s outcome %u: state %s, want accepted",
                     j->id, k, st ? st : "(none)");
        }
    }
}

static void on_job(const gw_resp *r, void *ud)
{
    jreq *q = ud;
    gw_jobrec *j = q->j;
    GW_CHECK(r->status == 200, "GET /v1/notifications/%s: %d %.500s", j->id, r->status, r->body);
    json_t *doc = gw_json(r);
    const char *st = json_string_value(json_object_get(doc, "state"));
    GW_CHECK(st != NULL, "job %s: no state: %.300s", j->id, r->body);
    snprintf(j->state, sizeof j->state, "%s", st);
    if (final_state(st)) {
        j->final = 1;
        check_job(q->w, j, doc, r->body);
    }
    json_decref(doc);
    free(q);
}

void gw_work_check_jobs(gw_work *w, gw_http *h, int timeout_ms)
{
    int64_t t0 = th_now_ms();
    char path[128];
    for (int round = 0;; round++) {
        size_t open = 0;
        for (size_t k = 0; k < w->njobs; k++) {
            gw_jobrec *j = &w->jobs[k];
            if (j->final)
                continue;
            jreq *q = calloc(1, sizeof *q);
            q->w = w;
            q->j = j;
            snprintf(path, sizeof path, "/v1/notifications/%s", j->id);
            gw_http_async(h, "GET", path, GW_KEY, NULL, 0, on_job, q);
            open++;
        }
        gw_http_run(h);
        size_t left = 0;
        for (size_t k = 0; k < w->njobs; k++)
            left += !w->jobs[k].final;
        if (left == 0) {
            fprintf(stderr, "status: %zu jobs finished and checked (%d rounds)\n", w->njobs,
                    round + 1);
            return;
        }
        if (th_now_ms() - t0 > timeout_ms) {
            fprintf(stderr, "FAIL: %zu of %zu jobs not finished after %d ms; states seen:\n", left,
                    w->njobs, timeout_ms);
            size_t shown = 0;
            for (size_t k = 0; k < w->njobs && shown < 20; k++)
                if (!w->jobs[k].final) {
                    fprintf(stderr, "  job %s (%u tokens): %s\n", w->jobs[k].id, w->jobs[k].n,
                            w->jobs[k].state);
                    shown++;
                }
            gw_fail();
        }
        gw_sleep_ms(200);
    }
}

/* The registry may be read through a node whose replica of it is still
 * catching up (a fleet right after its NATS cluster came back: reads go to
 * any live replica), so a read that misses entries is repeated, a bounded
 * number of times; every entry must be listed in the end. */
#define DEAD_READS 5

uint32_t gw_work_check_dead_tokens(gw_work *w, gw_http *h, const char *app, const char *key)
{
    gw_ledger *l = w->l;
    uint8_t *listed = calloc(l->n, 1);
    char path[512], cursor[128];
    uint32_t entries, pages, missing;
    GW_CHECK(listed != NULL, "out of memory");
    for (int read = 1;; read++) {
        memset(listed, 0, l->n);
        cursor[0] = '\0';
        entries = pages = 0;
        for (;;) {
            if (cursor[0])
                snprintf(path, sizeof path, "/v1/apps/%s/dead-tokens?limit=1000&cursor=%s", app,
                         cursor);
            else
                snprintf(path, sizeof path, "/v1/apps/%s/dead-tokens?limit=1000", app);
            gw_resp r;
            gw_http_do(h, "GET", path, key, NULL, 0, &r);
            GW_CHECK(r.status == 200, "GET %s: %d %.500s", path, r.status, r.body);
            json_t *doc = gw_json(&r);
            json_t *arr = json_object_get(doc, "dead_tokens");
            GW_CHECK(json_is_array(arr) && json_array_size(arr) <= 1000, "GET %s: %.300s", path,
                     r.body);
            pages++;
            for (size_t k = 0; k < json_array_size(arr); k++) {
                json_t *e = json_array_get(arr, k);
                const char *tok = json_string_value(json_object_get(e, "token"));
                long i = tok ? gw_tokmap_find(l->map, tok) : -1;
                GW_CHECK(i >= 0 && l->unreg[i] && l->want_id[i][0],
                         "dead-token entry for a token that is not unregistered: %s",
                         tok ? tok : "(none)");
                GW_CHECK(!listed[i], "token %s listed twice", tok);
                listed[i] = 1;
                const char *src = json_string_value(json_object_get(e, "source"));
                const char *reason = json_string_value(json_object_get(e, "reason"));
                json_int_t ts = json_integer_value(json_object_get(e, "timestamp_ms"));
                GW_CHECK(src && !strcmp(src, "410") && reason && !strcmp(reason, "Unregistered") &&
                             ts == l->unreg_ts[i] &&
                             json_integer_value(json_object_get(e, "recorded_ms")) > 0,
                         "dead token %s: source %s reason %s timestamp %lld, want 410 Unregistered "
                         "%lld",
                         tok, src ? src : "-", reason ? reason : "-", (long long)ts,
                         (long long)l->unreg_ts[i]);
                entries++;
            }
            json_t *next = json_object_get(doc, "next_cursor");
            if (next == NULL || json_is_null(next)) {
                json_decref(doc);
                gw_resp_clear(&r);
                break;
            }
            GW_CHECK(json_is_string(next) && strlen(json_string_value(next)) < sizeof cursor,
                     "next_cursor: %.200s", r.body);
            snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
            json_decref(doc);
            gw_resp_clear(&r);
            GW_CHECK(pages < 100000, "dead-token paging does not end");
        }
        missing = 0;
        for (uint32_t i = 0; i < l->n; i++)
            if (l->unreg[i] && l->want_id[i][0] && !listed[i]) {
                if (missing++ < 5)
                    fprintf(stderr, "unregistered token %u missing from the dead-token registry\n",
                            i);
            }
        if (missing == 0 || read == DEAD_READS)
            break;
        fprintf(stderr, "dead-token read %d missed %u entries: reading again in 1 s\n", read,
                missing);
        gw_sleep_ms(1000);
    }
    GW_CHECK(missing == 0,
             "%u unregistered tokens missing from the dead-token registry after %d reads", missing,
             DEAD_READS);
    fprintf(stderr, "dead tokens: %u entries in %u pages, all with the sim's 410 timestamp\n",
            entries, pages);
    free(listed);
    return entries;
}

uint32_t gw_work_valid(const gw_work *w)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < w->l->n; i++)
        v += w->l->want_id[i][0] && !w->l->unreg[i];
    return v;
}

uint32_t gw_work_unreg(const gw_work *w)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < w->l->n; i++)
        v += w->l->want_id[i][0] && w->l->unreg[i];
    return v;
}
