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
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void js_dead_key(const char *app, const char *hex, char *out, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; app[i] != '\0' && o + 1 < len; i++)
        out[o++] = app[i] == '.' ? '=' : app[i];
    snprintf(out + o, len - o, ".%s", hex);
}

static void app_token(const char *app, char *out, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; app[i] != '\0' && o + 1 < len; i++)
        out[o++] = app[i] == '.' ? '=' : app[i];
    out[o] = '\0';
}

static int encode(int source, const char *reason, int64_t apns_ts, int64_t recorded,
                  const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    size_t rl = reason ? strlen(reason) : 0, hl = strlen(hex), n = 0;

    if (rl > 47)
        rl = 47;
    if (4 + 1 + 16 + 1 + rl + 1 + hl > cap)
        return APNS_EINVAL;
    memcpy(out, "AJD1", 4);
    n = 4;
    out[n++] = (uint8_t)source;
    for (int i = 0; i < 8; i++)
        out[n++] = (uint8_t)((uint64_t)apns_ts >> (8 * i));
    for (int i = 0; i < 8; i++)
        out[n++] = (uint8_t)((uint64_t)recorded >> (8 * i));
    out[n++] = (uint8_t)rl;
    memcpy(out + n, reason, rl);
    n += rl;
    out[n++] = (uint8_t)hl;
    memcpy(out + n, hex, hl);
    n += hl;
    *len = n;
    return 0;
}

static int decode(const uint8_t *p, size_t len, gw_dead_token *d)
{
    size_t n = 4;
    uint64_t a = 0, r = 0;
    uint8_t rl, hl;

    if (len < 4 + 1 + 16 + 2 || memcmp(p, "AJD1", 4) != 0)
        return -1;
    memset(d, 0, sizeof(*d));
    d->source = (gw_dead_source)p[n++];
    for (int i = 0; i < 8; i++)
        a |= (uint64_t)p[n++] << (8 * i);
    for (int i = 0; i < 8; i++)
        r |= (uint64_t)p[n++] << (8 * i);
    d->apns_ts_ms = (int64_t)a;
    d->recorded_ms = (int64_t)r;
    rl = p[n++];
    if (n + rl + 1 > len || rl > 47)
        return -1;
    memcpy(d->reason, p + n, rl);
    n += rl;
    hl = p[n++];
    if (n + hl > len || hl > APNS_TOKEN_HEX_MAX)
        return -1;
    memcpy(d->token, p + n, hl);
    return 0;
}

long js_dead_put(gw_js *js, const char *app, const char *hex, int source, const char *reason,
                 int64_t apns_ts, int async, char *detail, size_t dlen)
{
    char key[400], subj[480];
    uint8_t val[320];
    size_t len = 0;
    natsStatus s;

    js_dead_key(app, hex, key, sizeof(key));
    if (encode(source, reason, apns_ts, js_now(js), hex, val, sizeof(val), &len) != 0)
        return APNS_EINVAL;
    if (async) {
        snprintf(subj, sizeof(subj), "$KV.%s.%s", js->b_dead, key);
        return js_pg_add(js, subj, val, len, NULL, 0);
    }
    atomic_fetch_add(&js->op_pub, 1);
    s = kvStore_Put(NULL, js->kv_dead, key, val, (int)len);
    if (s != NATS_OK)
        return js_error(js, s, 0, nats_GetLastError(NULL), "dead-token registry", detail, dlen);
    return 0;
}

int js_op_dead_add(gw_js *js, js_req *r)
{
    int rc = js_check_conn(js, "dead-token add", r->detail, sizeof(r->detail));

    if (rc != 0)
        return rc;
    return (int)js_dead_put(js, r->u.dead.app, r->u.dead.hex, r->u.dead.source, r->u.dead.reason,
                            r->u.dead.apns_ts, 0, r->detail, sizeof(r->detail));
}

int js_op_dead_delete(gw_js *js, js_req *r)
{
    char key[400];
    int found = 0, rc;
    natsStatus s;

    rc = js_check_conn(js, "dead-token delete", r->detail, sizeof(r->detail));
    if (rc != 0)
        return rc;
    js_dead_key(r->u.dead.app, r->u.dead.hex, key, sizeof(key));
    rc = js_kv_get(js, js->kv_dead, key, NULL, NULL, NULL, &found, "dead-token delete", r->detail,
                   sizeof(r->detail));
    if (rc != 0 || !found)
        return rc;
    atomic_fetch_add(&js->op_pub, 1);
    s = kvStore_Delete(js->kv_dead, key);
    if (s != NATS_OK)
        return js_error(js, s, 0, nats_GetLastError(NULL), "dead-token delete", r->detail,
                        sizeof(r->detail));
    r->u.dead.count = 1;
    return 0;
}

int js_op_dead_list(gw_js *js, js_req *r)
{
    char filter[256], stream[96], app[160];
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsConsumerInfo *ci = NULL;
    jsErrCode code = 0;
    size_t limit = r->u.dead.limit;
    uint64_t last_seq = 0, left;
    natsStatus s;
    int rc;

    rc = js_check_conn(js, "dead-token list", r->detail, sizeof(r->detail));
    if (rc != 0)
        return rc;
    r->u.dead.v = calloc(limit, sizeof(gw_dead_token));
    if (r->u.dead.v == NULL) {
        snprintf(r->detail, sizeof(r->detail), "out of memory for dead-token page");
        return APNS_ENOMEM;
    }
    app_token(r->u.dead.app, app, sizeof(app));
    snprintf(filter, sizeof(filter), "$KV.%s.%s.>", js->b_dead, app);
    snprintf(stream, sizeof(stream), "KV_%s", js->b_dead);
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.FilterSubject = filter;
    if (r->u.dead.after > 0) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = r->u.dead.after + 1;
    } else if (r->u.dead.since > 600000) {
        so.Config.DeliverPolicy = js_DeliverByStartTime;
        so.Config.OptStartTime = (r->u.dead.since - 600000) * 1000000LL;
    }
    atomic_fetch_add(&js->op_read, 2);
    s = js_SubscribeSync(&sub, js->js, filter, NULL, &so, &code);
    if (s == NATS_OK)
        s = natsSubscription_GetConsumerInfo(&ci, sub, NULL, &code);
    if (s != NATS_OK) {
        rc = js_error(js, s, code, nats_GetLastError(NULL), "dead-token list", r->detail,
                      sizeof(r->detail));
        goto out;
    }
    /* Some may already sit in our subscription: delivered + pending. */
    left = ci->Delivered.Consumer + ci->NumPending;
    while (left > 0) {
        natsMsg *m = NULL;
        jsMsgMetaData *meta = NULL;
        const char *op = NULL;
        gw_dead_token d;

        s = natsSubscription_NextMsg(&m, sub, js->jo.op_timeout_ms);
        if (s != NATS_OK) {
            rc = js_error(js, s, 0, nats_GetLastError(NULL), "dead-token list", r->detail,
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
        if ((natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op != NULL) ||
            decode((const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &d) !=
                0 ||
            d.recorded_ms < r->u.dead.since) {
            natsMsg_Destroy(m);
            continue; /* a delete marker, something else, or older than since */
        }
        natsMsg_Destroy(m);
        if (r->u.dead.n == limit) {
            r->u.dead.has_next = 1;
            break;
        }
        r->u.dead.v[r->u.dead.n++] = d;
        snprintf(r->u.dead.next, sizeof(r->u.dead.next), "%llu", (unsigned long long)last_seq);
    }
    rc = 0;
out:
    jsConsumerInfo_Destroy(ci);
    if (sub != NULL) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    if (!r->u.dead.has_next)
        r->u.dead.next[0] = '\0';
    return rc;
}
