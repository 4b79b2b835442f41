/*
 * js_dead.c - the dead-token registry in KV bucket P_DEAD.
 *
 * Key "<app>.<token hex>" (an app's dots become '=' so an app name is one
 * key token), value: source, reason, Apple's timestamp, recorded time. The
 * bucket keeps one revision per key, so its stream holds exactly the live
 * entries (and delete markers), each at the sequence of its last write:
 * stream order is recording order.
 *
 * Listing is keyset paging on that sequence: a page is an ordered consumer
 * on the bucket's stream filtered to "$KV.P_DEAD.<app>.>", starting after
 * the cursor (the last entry's sequence), read until `limit` + 1 entries or
 * the end. A page never repeats or skips entries that did not change; an
 * entry recorded again moves to the end (new sequence), like SQLite's.
 * Cost: one consumer (created, read, deleted) per page, and the entries
 * from the cursor on; `since` without a cursor starts at the stream time
 * since - 10 minutes (clock skew between nodes and servers) and skips older
 * entries, so a poller that keeps its cursor reads only what is new.
 *
 * When the consumer fails (cannot be created, or stops delivering), the page
 * is read again with direct gets ("next message for the filter at or after
 * sequence N", one request per entry), which any live replica of the bucket
 * answers. An ephemeral consumer is one server's: nats-server 2.9 places it
 * on any peer of the stream it does not know to be offline, and it takes
 * minutes to notice a server that was killed, so with one of three servers
 * killed about one consumer in three lands on the dead one and never
 * answers (tests/integration/gw_fleet.c kill_nats). js_status.c falls back
 * from its watch to direct reads the same way.
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An app name as one key token: its dots become '='. */
static void app_token(const char *app, char *out, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; app[i] != '\0' && o + 1 < len; i++)
        out[o++] = app[i] == '.' ? '=' : app[i];
    out[o] = '\0';
}

void gw_js_dead_key(const char *app, const char *hex, char *out, size_t len)
{
    app_token(app, out, len);
    snprintf(out + strlen(out), len - strlen(out), ".%s", hex);
}

long gw_js_dead_put(gw_js *js, const char *app, const char *hex, int source, const char *reason,
                    int64_t apns_ts, int async, char *detail, size_t dlen)
{
    gw_dead_token d = {.source = (gw_dead_source)source, .apns_ts_ms = apns_ts};
    char key[400], subj[480];
    uint8_t *val = NULL;
    size_t len = 0;
    natsStatus s;
    long rc;

    snprintf(d.token, sizeof(d.token), "%s", hex);
    snprintf(d.reason, sizeof(d.reason), "%s", reason ? reason : "");
    d.recorded_ms = gw_queue__now(js->q);
    gw_js_dead_key(app, hex, key, sizeof(key));
    if (gw_js_dead_encode(&d, &val, &len) != 0)
        return APNS_ENOMEM;
    if (async) {
        snprintf(subj, sizeof(subj), "$KV.%s.%s", js->b_dead, key);
        rc = gw_js_pg_add(js, subj, val, len, NULL, 0);
    } else {
        atomic_fetch_add(&js->op_pub, 1);
        s = kvStore_Put(NULL, js->kv_dead, key, val, (int)len);
        rc = s == NATS_OK ? 0
                          : gw_js_error(js, s, 0, nats_GetLastError(NULL), "dead-token registry",
                                        detail, dlen);
    }
    free(val);
    return rc;
}

int gw_js_op_dead_add(gw_js *js, gw_queue_req *r)
{
    return (int)gw_js_dead_put(js, r->u.dead.app, r->u.dead.hex, r->u.dead.source, r->u.dead.reason,
                               r->u.dead.apns_ts, 0, r->detail, sizeof(r->detail));
}

int gw_js_op_dead_delete(gw_js *js, gw_queue_req *r)
{
    char key[400];
    int found = 0, rc;
    natsStatus s;

    gw_js_dead_key(r->u.dead.app, r->u.dead.hex, key, sizeof(key));
    rc = gw_js_kv_get(js, js->kv_dead, key, NULL, NULL, NULL, &found, "dead-token delete",
                      r->detail, sizeof(r->detail));
    if (rc != 0 || !found)
        return rc;
    atomic_fetch_add(&js->op_pub, 1);
    s = kvStore_Delete(js->kv_dead, key);
    if (s != NATS_OK)
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), "dead-token delete", r->detail,
                           sizeof(r->detail));
    r->u.dead.count = 1;
    return 0;
}

/* One entry of the page: 1 = the page is full (has_next set), 0 = go on. */
static int page_add(gw_queue_req *r, natsMsg *m, uint64_t seq)
{
    const char *op = NULL;
    gw_dead_token d;

    if ((natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op != NULL) ||
        gw_js_dead_decode(&d, (const uint8_t *)natsMsg_GetData(m),
                          (size_t)natsMsg_GetDataLength(m)) != 0 ||
        d.recorded_ms < r->u.dead.since)
        return 0; /* a delete marker, something else, or older than since */
    if (r->u.dead.n == r->u.dead.limit) {
        r->u.dead.has_next = 1;
        return 1;
    }
    r->u.dead.v[r->u.dead.n++] = d;
    snprintf(r->u.dead.next, sizeof(r->u.dead.next), "%llu", (unsigned long long)seq);
    return 0;
}

/* The page with direct gets: no consumer, any live replica answers (a
 * follower may lag by the last few writes: the page then ends early). */
static int list_direct(gw_js *js, gw_queue_req *r, const char *stream, const char *filter)
{
    uint64_t seq = r->u.dead.after[0] + 1;

    for (;;) {
        jsDirectGetMsgOptions o;
        natsMsg *m = NULL;
        const char *sq = NULL;
        uint64_t got;
        natsStatus s;
        int full;

        jsDirectGetMsgOptions_Init(&o);
        o.Sequence = seq;
        o.NextBySubject = filter;
        atomic_fetch_add(&js->op_read, 1);
        s = js_DirectGetMsg(&m, js->js, stream, NULL, &o);
        if (s == NATS_NOT_FOUND)
            return 0; /* no more */
        if (s != NATS_OK)
            return gw_js_error(js, s, 0, nats_GetLastError(NULL), "dead-token list", r->detail,
                               sizeof(r->detail));
        if (natsMsgHeader_Get(m, "Nats-Sequence", &sq) != NATS_OK || sq == NULL ||
            (got = strtoull(sq, NULL, 10)) < seq) {
            natsMsg_Destroy(m);
            snprintf(r->detail, sizeof(r->detail),
                     "dead-token list: a direct get from %s answered without a usable sequence",
                     stream);
            return GW_QUEUE_EIO;
        }
        full = page_add(r, m, got);
        natsMsg_Destroy(m);
        if (full)
            return 0;
        seq = got + 1;
    }
}

static int list_consumer(gw_js *js, gw_queue_req *r, const char *stream, const char *filter)
{
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsConsumerInfo *ci = NULL;
    jsErrCode code = 0;
    uint64_t last_seq = 0, left;
    natsStatus s;
    int rc;

    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.FilterSubject = filter;
    if (r->u.dead.after[0] > 0) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = r->u.dead.after[0] + 1;
    } else if (r->u.dead.since > 600000) {
        so.Config.DeliverPolicy = js_DeliverByStartTime;
        so.Config.OptStartTime = (r->u.dead.since - 600000) * 1000000LL;
    }
    atomic_fetch_add(&js->op_read, 2);
    s = js_SubscribeSync(&sub, js->js, filter, NULL, &so, &code);
    if (s == NATS_OK)
        s = natsSubscription_GetConsumerInfo(&ci, sub, NULL, &code);
    if (s != NATS_OK) {
        rc = gw_js_error(js, s, code, nats_GetLastError(NULL), "dead-token list", r->detail,
                         sizeof(r->detail));
        goto out;
    }
    /* Some may already sit in our subscription: delivered + pending. */
    left = ci->Delivered.Consumer + ci->NumPending;
    while (left > 0) {
        natsMsg *m = NULL;
        jsMsgMetaData *meta = NULL;
        int full;

        s = natsSubscription_NextMsg(&m, sub, js->jo.op_timeout_ms);
        if (s != NATS_OK) {
            rc = gw_js_error(js, s, 0, nats_GetLastError(NULL), "dead-token list", r->detail,
                             sizeof(r->detail));
            goto out;
        }
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            left = meta->NumPending;
            last_seq = meta->Sequence.Stream;
            jsMsgMetaData_Destroy(meta);
        } else {
            left--;
        }
        full = page_add(r, m, last_seq);
        natsMsg_Destroy(m);
        if (full)
            break;
    }
    rc = 0;
out:
    jsConsumerInfo_Destroy(ci);
    if (sub != NULL) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    return rc;
}

int gw_js_op_dead_list(gw_js *js, gw_queue_req *r)
{
    char filter[256], stream[96], app[160];
    int rc;

    r->u.dead.v = calloc(r->u.dead.limit, sizeof(gw_dead_token));
    if (r->u.dead.v == NULL) {
        snprintf(r->detail, sizeof(r->detail), "out of memory for dead-token page");
        return APNS_ENOMEM;
    }
    app_token(r->u.dead.app, app, sizeof(app));
    snprintf(filter, sizeof(filter), "$KV.%s.%s.>", js->b_dead, app);
    snprintf(stream, sizeof(stream), "KV_%s", js->b_dead);
    rc = list_consumer(js, r, stream, filter);
    if (rc != 0 && rc != APNS_ENOMEM && gw_js_check_conn(js, "dead-token list", NULL, 0) == 0) {
        /* The consumer may sit on a server that died (see the top): read
         * the page again with direct gets. */
        gw_queue__log(js->q, APNS_LOG_WARN, "%s; reading the page with direct gets", r->detail);
        r->detail[0] = '\0';
        r->u.dead.n = 0;
        r->u.dead.has_next = 0;
        r->u.dead.next[0] = '\0';
        rc = list_direct(js, r, stream, filter);
    }
    if (rc != 0 || !r->u.dead.has_next)
        r->u.dead.next[0] = '\0';
    return rc;
}
