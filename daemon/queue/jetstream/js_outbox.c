/*
 * js_outbox.c - the webhook outbox in JetStream (queue.h, "Webhook
 * outbox"): the stream <P>_EVENTS (work-queue retention, bounded by
 * JS_EVENTS_MAX messages, oldest discarded), one subject per app
 * <P>.events.<app> ('.' in the app name written '='), and one shared
 * durable pull consumer per app, <P>_EV_<app>, that every node of a fleet
 * reads. Runs on the queue's storage thread.
 *
 * Design note. Recording outcomes (js_lease.c) publishes each event before
 * the outcome record is stored, with the message id "ev.<job>.<index>", so
 * a record stored again within the stream's duplicate window writes no
 * second event; an event whose publish failed undoes its answer (the token
 * is sent again), as a dead-token entry does. The event id is the stream
 * sequence: the same at every delivery of the message.
 *
 * A read returns first the messages this node holds (fetched, not yet
 * acknowledged: the batch being delivered), then fetches more without
 * waiting; the messages stay held until gw_queue_outbox_ack acks them
 * (deleted: work-queue). A node that dies holding messages lets them go:
 * after the consumer's ack wait (ack_wait_ms) the server delivers them to
 * the next fetch of any node. Retention at each read: the consumer's
 * pending count beyond max_events is fetched and acked (dropped, counted),
 * and a fetched message older than max_age is acked (dropped, counted)
 * instead of returned. The depth is the consumer's pending plus
 * ack-pending count (the fleet's view).
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_EVENTS_MAX   100000000LL /* stream bound (webhook_retention's maximum) */
#define JS_EV_NOWAIT_MS 20          /* no-wait fetches: see gw_js_op_lease */
#define JS_EV_HELD_MAX  10000       /* held per app (a read's maximum) */
#define JS_EV_ROUNDS    64

typedef struct ev_held {
    natsMsg *msg;
    uint64_t seq;
    int64_t ts; /* stream time, UNIX ms */
} ev_held;

typedef struct ev_app {
    char name[GW_QUEUE_WAKE_APP_MAX + 1];
    char token[GW_QUEUE_WAKE_APP_MAX + 1]; /* '.' as '=' */
    natsSubscription *sub;
    ev_held *held;
    size_t n_held;
} ev_app;

struct gw_js_outbox {
    char stream[64];
    ev_app *apps;
    size_t n_apps;
};

static void app_token(const char *app, char *out, size_t len)
{
    snprintf(out, len, "%s", app);
    for (char *p = out; *p != '\0'; p++)
        if (*p == '.')
            *p = '=';
}

void gw_js_outbox_subject(const gw_js *js, const char *app, char *out, size_t len)
{
    char tok[GW_QUEUE_WAKE_APP_MAX + 1];

    app_token(app, tok, sizeof(tok));
    snprintf(out, len, "%s.events.%s", js->prefix, tok);
}

int gw_js_outbox_setup(gw_js *js, char *detail, size_t dlen)
{
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode code = 0;
    char subj[80];
    const char *subjects[1] = {subj};
    natsStatus s;

    if (js->ob == NULL && (js->ob = calloc(1, sizeof(*js->ob))) == NULL)
        return APNS_ENOMEM;
    snprintf(js->ob->stream, sizeof(js->ob->stream), "%s_EVENTS", js->prefix);
    snprintf(subj, sizeof(subj), "%s.events.>", js->prefix);
    jsStreamConfig_Init(&sc);
    sc.Name = js->ob->stream;
    sc.Description = "apnsd webhook outbox: one message per event, one subject per app";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = js_FileStorage;
    sc.Replicas = js->jo.replicas;
    sc.MaxMsgs = JS_EVENTS_MAX;
    sc.Discard = js_DiscardOld;
    sc.Duplicates = 120LL * 1000000000LL; /* msg-id dedup: an event stored again */
    atomic_fetch_add(&js->op_read, 1);
    s = js_AddStream(&si, js->js, &sc, NULL, &code);
    jsStreamInfo_Destroy(si);
    if (s == NATS_OK || code == JSStreamNameExistErr)
        return 0; /* an existing one is kept (an operator may have changed its limits) */
    return gw_js_error(js, s, code, nats_GetLastError(NULL), "webhook outbox stream setup", detail,
                       dlen);
}

static void app_release(ev_app *a)
{
    for (size_t i = 0; i < a->n_held; i++)
        natsMsg_Destroy(a->held[i].msg);
    free(a->held);
    a->held = NULL;
    a->n_held = 0;
    if (a->sub != NULL)
        natsSubscription_Destroy(a->sub); /* keeps the durable consumer */
    a->sub = NULL;
}

void gw_js_outbox_free(gw_js *js)
{
    if (js->ob == NULL)
        return;
    for (size_t i = 0; i < js->ob->n_apps; i++)
        app_release(&js->ob->apps[i]);
    free(js->ob->apps);
    free(js->ob);
    js->ob = NULL;
}

static void consumer_name(const gw_js *js, const ev_app *a, char *out, size_t len)
{
    snprintf(out, len, "%s_EV_%s", js->prefix, a->token);
}

/* The app's entry with its bound pull subscription (made on first use). */
static int app_get(gw_js *js, const char *name, ev_app **out, char *detail, size_t dlen)
{
    gw_js_outbox *ob = js->ob;
    ev_app *a = NULL;
    jsConsumerConfig cc;
    jsConsumerInfo *ci = NULL;
    jsSubOptions so;
    jsErrCode code = 0;
    char filter[320], durable[320];
    natsStatus s;

    for (size_t i = 0; i < ob->n_apps && a == NULL; i++)
        if (strcmp(ob->apps[i].name, name) == 0)
            a = &ob->apps[i];
    if (a == NULL) {
        ev_app *v = realloc(ob->apps, (ob->n_apps + 1) * sizeof(*v));
        if (v == NULL)
            return APNS_ENOMEM;
        ob->apps = v;
        a = &v[ob->n_apps++];
        memset(a, 0, sizeof(*a));
        snprintf(a->name, sizeof(a->name), "%s", name);
        app_token(name, a->token, sizeof(a->token));
    }
    *out = a;
    if (a->sub != NULL)
        return 0;
    gw_js_outbox_subject(js, name, filter, sizeof(filter));
    consumer_name(js, a, durable, sizeof(durable));
    jsConsumerConfig_Init(&cc);
    cc.Durable = durable;
    cc.Description = "apnsd nodes: the shared webhook outbox reader of one app";
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = js->jo.ack_wait_ms * 1000000LL;
    cc.MaxDeliver = -1;
    cc.MaxAckPending = 1000000;
    cc.FilterSubject = filter;
    cc.DeliverPolicy = js_DeliverAll;
    cc.MaxWaiting = 4096;
    atomic_fetch_add(&js->op_read, 1);
    s = js_AddConsumer(&ci, js->js, ob->stream, &cc, NULL, &code);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK && code != JSConsumerNameExistErr && code != JSConsumerExistingActiveErr) {
        ci = NULL;
        s = js_UpdateConsumer(&ci, js->js, ob->stream, &cc, NULL, &code);
        jsConsumerInfo_Destroy(ci);
        if (s != NATS_OK)
            return gw_js_error(js, s, code, nats_GetLastError(NULL),
                               "webhook outbox consumer setup", detail, dlen);
    }
    jsSubOptions_Init(&so);
    so.Stream = ob->stream;
    so.Consumer = durable;
    s = js_PullSubscribe(&a->sub, js->js, filter, durable, NULL, &so, &code);
    if (s != NATS_OK)
        return gw_js_error(js, s, code, nats_GetLastError(NULL), "webhook outbox consumer bind",
                           detail, dlen);
    return 0;
}

/* The index of the held message of stream sequence seq, or -1. */
static long held_find(const ev_app *a, uint64_t seq)
{
    for (size_t i = 0; i < a->n_held; i++)
        if (a->held[i].seq == seq)
            return (long)i;
    return -1;
}

/* Acks and forgets held message i (the order is not kept). */
static void held_drop(gw_js *js, ev_app *a, size_t i)
{
    atomic_fetch_add(&js->op_ack, 1);
    natsMsg_Ack(a->held[i].msg, NULL);
    natsMsg_Destroy(a->held[i].msg);
    a->held[i] = a->held[--a->n_held];
}

/* Acks and forgets the first n held (sorted by sequence). */
static void held_shift(gw_js *js, ev_app *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(&js->op_ack, 1);
        natsMsg_Ack(a->held[i].msg, NULL);
        natsMsg_Destroy(a->held[i].msg);
    }
    if (n > 0)
        memmove(a->held, a->held + n, (a->n_held - n) * sizeof(*a->held));
    a->n_held -= n;
}

/* Fetches up to want messages without waiting, appending them to the held
 * list (a redelivery of one already held is dropped). */
static int fetch(gw_js *js, ev_app *a, size_t want, char *detail, size_t dlen)
{
    if (a->held == NULL && (a->held = calloc(JS_EV_HELD_MAX, sizeof(*a->held))) == NULL)
        return APNS_ENOMEM;
    for (int round = 0; round < JS_EV_ROUNDS && want > 0 && a->n_held < JS_EV_HELD_MAX; round++) {
        natsMsgList list = {0};
        jsFetchRequest fr;
        int waiting = 0, batch;
        size_t room = JS_EV_HELD_MAX - a->n_held;

        /* One at a time while answers wait in the subscription (libnats
         * 3.4's fetch bug: gw_js_op_lease). */
        natsSubscription_GetPending(a->sub, &waiting, NULL);
        jsFetchRequest_Init(&fr);
        fr.Batch = batch = waiting > 0 ? 1 : (int)(want < room ? want : room);
        fr.Expires = JS_EV_NOWAIT_MS * 1000000LL;
        fr.NoWait = true;
        atomic_fetch_add(&js->op_fetch, 1);
        natsStatus s = natsSubscription_FetchRequest(&list, a->sub, &fr);
        if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) {
            natsMsgList_Destroy(&list);
            break;
        }
        if (s != NATS_OK) {
            natsMsgList_Destroy(&list);
            return gw_js_error(js, s, 0, nats_GetLastError(NULL), "webhook outbox read", detail,
                               dlen);
        }
        int got = list.Count;
        for (int i = 0; i < got; i++) {
            natsMsg *m = list.Msgs[i];
            jsMsgMetaData *meta = NULL;
            list.Msgs[i] = NULL;
            if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
                natsMsg_Destroy(m);
                continue;
            }
            long at = held_find(a, meta->Sequence.Stream);
            if (at >= 0) {
                /* Delivered again (its ack wait passed while held): keep
                 * the newest delivery, the one the server expects an ack
                 * for. */
                natsMsg_Destroy(a->held[at].msg);
                a->held[at].msg = m;
                jsMsgMetaData_Destroy(meta);
                continue;
            }
            if (a->n_held >= JS_EV_HELD_MAX) {
                jsMsgMetaData_Destroy(meta);
                natsMsg_Destroy(m);
                continue;
            }
            a->held[a->n_held].msg = m;
            a->held[a->n_held].seq = meta->Sequence.Stream;
            a->held[a->n_held].ts = meta->Timestamp / 1000000;
            a->n_held++;
            jsMsgMetaData_Destroy(meta);
            want = want > 0 ? want - 1 : 0;
        }
        natsMsgList_Destroy(&list);
        if (got < batch)
            break;
    }
    return 0;
}

static int by_seq(const void *x, const void *y)
{
    uint64_t a = ((const ev_held *)x)->seq, b = ((const ev_held *)y)->seq;
    return a < b ? -1 : a > b;
}

/* Pending (not delivered) and ack-pending counts of the app's consumer. */
static int depth_of(gw_js *js, ev_app *a, uint64_t *pending, uint64_t *acks, char *detail,
                    size_t dlen)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode code = 0;
    char durable[320];

    consumer_name(js, a, durable, sizeof(durable));
    atomic_fetch_add(&js->op_read, 1);
    natsStatus s = js_GetConsumerInfo(&ci, js->js, js->ob->stream, durable, NULL, &code);
    if (s != NATS_OK)
        return gw_js_error(js, s, code, nats_GetLastError(NULL), "webhook outbox depth", detail,
                           dlen);
    *pending = ci->NumPending;
    *acks = ci->NumAckPending > 0 ? (uint64_t)ci->NumAckPending : 0;
    jsConsumerInfo_Destroy(ci);
    return 0;
}

static int op_read(gw_js *js, gw_queue_req *r, ev_app *a)
{
    uint64_t pending = 0, acks = 0;
    int64_t cut = r->u.outbox.max_age > 0 ? gw_queue__now(js->q) - r->u.outbox.max_age : 0;
    size_t cap = 0;
    int err;

    /* Retention by count: what is pending beyond max_events, oldest first
     * (the stream delivers in order). */
    if ((err = depth_of(js, a, &pending, &acks, r->detail, sizeof(r->detail))) != 0)
        return err;
    if (r->u.outbox.max_events > 0 && pending + acks > r->u.outbox.max_events) {
        uint64_t over = pending + acks - r->u.outbox.max_events;
        while (over > 0) {
            size_t take = over < 1000 ? (size_t)over : 1000;
            if ((err = fetch(js, a, take, r->detail, sizeof(r->detail))) != 0)
                return err;
            qsort(a->held, a->n_held, sizeof(*a->held), by_seq);
            size_t n = a->n_held < over ? a->n_held : (size_t)over;
            if (n == 0)
                break; /* the rest is held by other nodes */
            held_shift(js, a, n);
            r->u.outbox.dropped += n;
            over -= n;
        }
    }
    if (r->u.outbox.max > a->n_held &&
        (err = fetch(js, a, r->u.outbox.max - a->n_held, r->detail, sizeof(r->detail))) != 0)
        return err;
    qsort(a->held, a->n_held, sizeof(*a->held), by_seq);
    /* Retention by age: the oldest first, while they are too old. */
    size_t old = 0;
    while (cut > 0 && old < a->n_held && a->held[old].ts < cut)
        old++;
    held_shift(js, a, old);
    r->u.outbox.dropped += old;
    size_t n = a->n_held < r->u.outbox.max ? a->n_held : r->u.outbox.max;
    if (n > 0 && (r->u.outbox.v = calloc(n, sizeof(*r->u.outbox.v))) == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *data = natsMsg_GetData(a->held[i].msg);
        size_t len = (size_t)natsMsg_GetDataLength(a->held[i].msg);
        gw_queue_outbox_item *it = &r->u.outbox.v[r->u.outbox.n];

        if (r->u.outbox.buf_len + len + 1 > cap) {
            size_t nc = cap ? cap * 2 : 65536;
            while (nc < r->u.outbox.buf_len + len + 1)
                nc *= 2;
            char *b = realloc(r->u.outbox.buf, nc);
            if (b == NULL)
                return APNS_ENOMEM;
            r->u.outbox.buf = b;
            cap = nc;
        }
        it->id = a->held[i].seq;
        it->off = r->u.outbox.buf_len;
        it->len = len;
        if (len > 0)
            memcpy(r->u.outbox.buf + it->off, data, len);
        r->u.outbox.buf[it->off + len] = '\0';
        r->u.outbox.buf_len += len + 1;
        r->u.outbox.n++;
    }
    if ((err = depth_of(js, a, &pending, &acks, r->detail, sizeof(r->detail))) != 0)
        return err;
    r->u.outbox.depth = pending + acks;
    return 0;
}

int gw_js_op_outbox(gw_js *js, gw_queue_req *r)
{
    ev_app *a;
    int err;

    free(r->u.outbox.v);
    free(r->u.outbox.buf);
    r->u.outbox.v = NULL;
    r->u.outbox.buf = NULL;
    r->u.outbox.n = r->u.outbox.buf_len = 0;
    r->u.outbox.depth = r->u.outbox.dropped = 0;
    if (js->ob == NULL)
        return APNS_EINVAL;
    err = app_get(js, r->u.outbox.app, &a, r->detail, sizeof(r->detail));
    if (err != 0)
        return err;
    if (r->u.outbox.ack) {
        for (size_t k = 0; k < r->u.outbox.n_ids; k++)
            for (size_t i = 0; i < a->n_held; i++)
                if (a->held[i].seq == r->u.outbox.ids[k]) {
                    held_drop(js, a, i);
                    break;
                }
        return 0;
    }
    err = op_read(js, r, a);
    if (err == APNS_ENOMEM)
        snprintf(r->detail, sizeof(r->detail), "out of memory reading the webhook outbox");
    return err;
}
