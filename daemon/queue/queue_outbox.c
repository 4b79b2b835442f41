/*
 * queue_outbox.c - the front end of the webhook outbox (queue.h, "Webhook
 * outbox"): the table of apps whose outcomes write events, the rendering of
 * an event for each final answer of a record (loop thread, where the
 * leased chunk is at hand: token, apns-id, job id), and the outbox read and
 * ack requests.
 *
 * Design note. The event is rendered here, once, as the JSON object the
 * webhook sends (without its event_id, which the storage assigns), and
 * travels with the record request (gw_queue_events); a backend stores it
 * as opaque text next to the outcome, in the same commit, only for an
 * answer that makes its token final. The backends therefore know nothing
 * of the webhook's format, and a duplicate answer (a token already final)
 * writes no event.
 */
#include "queue_backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_READ_MAX 10000

/* ---- the apps table ------------------------------------------------------ */

static int outbox_name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > GW_QUEUE_WAKE_APP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int gw_queue_outbox_apps(gw_queue *q, const gw_outbox_app *v, size_t n)
{
    size_t strings = 0;
    gw_outbox_app *t;
    char *p;

    if (q == NULL || (v == NULL && n > 0))
        return APNS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!outbox_name_ok(v[i].app) ||
            (v[i].filter != GW_OUTBOX_ALL && v[i].filter != GW_OUTBOX_REJECTIONS))
            return APNS_EINVAL;
        strings += strlen(v[i].app) + 1;
    }
    t = malloc(n * sizeof(*t) + strings + 1);
    if (t == NULL)
        return APNS_ENOMEM;
    p = (char *)(t + n);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i].app) + 1;
        memcpy(p, v[i].app, l);
        t[i].app = p;
        t[i].filter = v[i].filter;
        p += l;
    }
    free(q->outbox);
    q->outbox = t;
    q->n_outbox = n;
    return 0;
}

void gw_queue__outbox_free(gw_queue *q)
{
    free(q->outbox);
    q->outbox = NULL;
    q->n_outbox = 0;
}

/* The app's entry, or NULL when its outcomes write no events. */
static const gw_outbox_app *outbox_find(const gw_queue *q, const char *app)
{
    for (size_t i = 0; app != NULL && i < q->n_outbox; i++)
        if (strcmp(q->outbox[i].app, app) == 0)
            return &q->outbox[i];
    return NULL;
}

/* ---- rendering ----------------------------------------------------------- */

static int ev_reserve(gw_queue_events *e, size_t more)
{
    if (e->len + more <= e->cap)
        return 0;
    size_t cap = e->cap ? e->cap : 4096;
    while (cap < e->len + more)
        cap *= 2;
    char *b = realloc(e->buf, cap);
    if (b == NULL)
        return APNS_ENOMEM;
    e->buf = b;
    e->cap = cap;
    return 0;
}

static int ev_printf(gw_queue_events *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ev_printf(gw_queue_events *e, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || ev_reserve(e, (size_t)n + 1) != 0)
        return APNS_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(e->buf + e->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    e->len += (size_t)n;
    return 0;
}

/* A JSON string of s[0..len): quotes, backslashes and control characters
 * escaped; bytes >= 0x80 (never in a reason APNs or FCM sends) become '?',
 * so the text is always valid UTF-8. */
static int ev_string(gw_queue_events *e, const char *s, size_t len)
{
    if (ev_reserve(e, len * 6 + 3) != 0)
        return APNS_ENOMEM;
    char *p = e->buf + e->len;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            p += sprintf(p, "\\u%04x", c);
        } else {
            *p++ = c >= 0x80 ? '?' : (char)c;
        }
    }
    *p++ = '"';
    e->len = (size_t)(p - e->buf);
    return 0;
}

/* One event: "<app>\0{...}\0" (webhook.h's result object). */
static int render(gw_queue_events *e, const gw_outcome *o)
{
    const gw_chunk *c = o->chunk;
    char tok[GW_TOKEN_TEXT_MAX], id[GW_JOB_ID_LEN + 1];
    const char *reason = "";
    size_t rl = 0;
    int rc;

    if (gw_chunk_token_text(c, o->token, tok, sizeof tok) == 0)
        tok[0] = '\0';
    gw_chunk_apns_id(c, o->token, id);
    if (gw_queue__has_extra(o->state)) {
        reason = o->reason_str != NULL ? o->reason_str : apns_reason_name(o->reason);
        if (reason == NULL)
            reason = "";
        rl = strlen(reason) > 47 ? 47 : strlen(reason);
    }
    rc = ev_printf(e, "%s", c->app);
    if (rc == 0 && (rc = ev_reserve(e, 1)) == 0)
        e->buf[e->len++] = '\0';
    /* A channel publish names its channel, not its placeholder token (ids
     * are base64: nothing to escape). */
    /* An FCM registration token may hold '"' or '\\': escaped. */
    if (rc == 0)
        rc = ev_printf(e, "{\"job_id\":\"%s\",\"index\":%llu,\"%s\":", c->job_id,
                       (unsigned long long)c->first + o->token,
                       c->channel != NULL ? "channel" : "token");
    if (rc == 0) {
        const char *t = c->channel != NULL ? c->channel : tok;
        rc = ev_string(e, t, strlen(t));
    }
    if (rc == 0)
        rc =
            ev_printf(e, ",\"apns_id\":\"%s\",\"state\":\"%s\"", id, gw_token_state_name(o->state));
    if (rc == 0 && o->status != 0)
        rc = ev_printf(e, ",\"status\":%d", o->status);
    if (rc == 0 && rl > 0 && (rc = ev_printf(e, ",\"reason\":")) == 0)
        rc = ev_string(e, reason, rl);
    if (rc == 0 && o->apns_ts_ms != 0)
        rc = ev_printf(e, ",\"timestamp\":%lld", (long long)o->apns_ts_ms);
    if (rc == 0)
        rc = ev_printf(e, ",\"dead\":%s", o->dead != GW_DEAD_NONE ? "true" : "false");
    if (rc == 0 && o->dead != GW_DEAD_NONE)
        rc = ev_printf(e, ",\"dead_source\":\"%s\"", gw_dead_source_name(o->dead));
    if (rc == 0)
        rc = ev_printf(e, "}");
    if (rc == 0 && (rc = ev_reserve(e, 1)) == 0)
        e->buf[e->len++] = '\0';
    return rc;
}

static void events_free(gw_queue_events *e)
{
    if (e == NULL)
        return;
    free(e->at);
    free(e->buf);
    free(e);
}

int gw_queue__outbox_events(gw_queue *q, gw_queue_req *r, const gw_outcome *v, size_t n)
{
    gw_queue_events *e = NULL;

    for (size_t i = 0; i < n && q->n_outbox > 0; i++) {
        const gw_outcome *o = &v[i];
        const gw_outbox_app *a;

        if (!gw_token_state_final(o->state) ||
            gw_token_state_final((gw_token_state)o->chunk->state[o->token]))
            continue; /* not final, or a duplicate answer: no event */
        a = outbox_find(q, o->chunk->app);
        if (a == NULL || (a->filter == GW_OUTBOX_REJECTIONS && o->state != GW_TOKEN_REJECTED))
            continue;
        if (e == NULL) {
            e = calloc(1, sizeof(*e));
            if (e == NULL || (e->at = calloc(n, sizeof(*e->at))) == NULL) {
                events_free(e);
                return APNS_ENOMEM;
            }
        }
        size_t off = e->len;
        if (off >= UINT32_MAX - 1 || render(e, o) != 0) {
            events_free(e);
            return APNS_ENOMEM;
        }
        e->at[i] = (uint32_t)off + 1;
    }
    r->u.record.ev = e;
    return 0;
}

int gw_queue__answer_event(const gw_queue_req *r, size_t i, const char **app, const char **json)
{
    const gw_queue_events *e = r->u.record.ev;

    if (e == NULL || i >= r->u.record.n || e->at[i] == 0)
        return 0;
    *app = e->buf + e->at[i] - 1;
    *json = *app + strlen(*app) + 1;
    return 1;
}

/* ---- read and ack ---------------------------------------------------------- */

static gw_queue_req *outbox_req(gw_queue *q, const char *app, void (*cb)(void), void *ud)
{
    gw_queue_req *r;

    if (q == NULL || !outbox_name_ok(app))
        return NULL;
    r = gw_queue__req_new(q, GW_QUEUE_REQ_OUTBOX, 0, cb, ud);
    if (r != NULL && (r->u.outbox.app = strdup(app)) == NULL) {
        gw_queue__req_free(r);
        r = NULL;
    }
    return r;
}

int gw_queue_outbox_read(gw_queue *q, const char *app, size_t max, uint64_t max_events,
                         int64_t max_age_ms, gw_outbox_read_cb cb, void *ud)
{
    gw_queue_req *r;

    if (q == NULL || cb == NULL || !outbox_name_ok(app) || max > OUTBOX_READ_MAX || max_age_ms < 0)
        return APNS_EINVAL;
    r = outbox_req(q, app, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    r->u.outbox.max = max;
    r->u.outbox.max_events = max_events;
    r->u.outbox.max_age = max_age_ms;
    return gw_queue__post(q, r);
}

int gw_queue_outbox_ack(gw_queue *q, const char *app, const uint64_t *ids, size_t n, gw_done_cb cb,
                        void *ud)
{
    gw_queue_req *r;

    if (q == NULL || !outbox_name_ok(app) || (ids == NULL && n > 0) || n > OUTBOX_READ_MAX)
        return APNS_EINVAL;
    r = outbox_req(q, app, (void (*)(void))cb, ud);
    if (r == NULL)
        return APNS_ENOMEM;
    r->u.outbox.ack = 1;
    r->u.outbox.ids = malloc((n ? n : 1) * sizeof(uint64_t));
    if (r->u.outbox.ids == NULL) {
        gw_queue__req_free(r);
        return APNS_ENOMEM;
    }
    if (n > 0)
        memcpy(r->u.outbox.ids, ids, n * sizeof(uint64_t));
    r->u.outbox.n_ids = n;
    return gw_queue__post(q, r);
}

void gw_queue__outbox_deliver(gw_queue_req *r)
{
    const char *d = r->err != 0 ? r->detail : "";
    gw_outbox_event *v = NULL;
    size_t n = 0;

    if (r->u.outbox.ack) {
        if (r->cb != NULL)
            ((gw_done_cb)r->cb)(r->err, d, r->ud);
        return;
    }
    if (r->err == 0 && r->u.outbox.n > 0) {
        v = malloc(r->u.outbox.n * sizeof(*v));
        if (v == NULL) {
            ((gw_outbox_read_cb)r->cb)(APNS_ENOMEM, "out of memory reading the webhook outbox",
                                       NULL, 0, 0, 0, r->ud);
            return;
        }
        for (size_t i = 0; i < r->u.outbox.n; i++) {
            v[i].id = r->u.outbox.v[i].id;
            v[i].json = r->u.outbox.buf + r->u.outbox.v[i].off;
            v[i].len = r->u.outbox.v[i].len;
        }
        n = r->u.outbox.n;
    }
    ((gw_outbox_read_cb)r->cb)(r->err, d, v, n, r->err == 0 ? r->u.outbox.depth : 0,
                               r->err == 0 ? r->u.outbox.dropped : 0, r->ud);
    free(v);
}

void gw_queue__outbox_req_free(gw_queue_req *r)
{
    if (r->kind == GW_QUEUE_REQ_RECORD) {
        events_free(r->u.record.ev);
        r->u.record.ev = NULL;
        return;
    }
    free(r->u.outbox.app);
    free(r->u.outbox.ids);
    free(r->u.outbox.v);
    free(r->u.outbox.buf);
}
