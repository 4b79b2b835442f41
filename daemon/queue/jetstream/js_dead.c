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
 * entry recorded again moves to the end (new sequence), like SQLite's. The
 * same answer stored twice (js_lease.c store_dead: its message id names the
 * job's token) is one write within the bucket's duplicate window (2 min).
 * Cost: one consumer (created, read, deleted) per page, and the entries
 * from the cursor on; `since` without a cursor starts at the stream time
 * since - 10 minutes (clock skew between nodes and servers) and skips older
 * entries, so a poller that keeps its cursor reads only what is new.
 *
 * When the consumer fails (cannot be created, or stops delivering), the page
 * is read again with direct gets, which any live replica of the bucket
 * answers (gw_js_scan_run, js_int.h: a consumer may sit on a dead server).
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

/* An FCM registration token is not a key token (':' and its length): its
 * key is "x" + 32 hex digits of two 64-bit hashes (an APNs key is all hex
 * digits, so the two never meet); the entry holds the token itself. */
void gw_js_dead_key_raw(const char *app, const char *tok, char *out, size_t len)
{
    uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
    for (const unsigned char *p = (const unsigned char *)tok; *p; p++) {
        a = (a ^ *p) * 0x100000001b3ull;
        b = (b ^ *p) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
    }
    app_token(app, out, len);
    snprintf(out + strlen(out), len - strlen(out), ".x%016llx%016llx", (unsigned long long)a,
             (unsigned long long)b);
}

long gw_js_dead_put(gw_js *js, const char *app, const char *hex, int source, const char *reason,
                    int64_t apns_ts, int async, char *detail, size_t dlen)
{
    return gw_js_dead_put2(js, app, hex, 0, source, reason, apns_ts, async, NULL, detail, dlen);
}

long gw_js_dead_put2(gw_js *js, const char *app, const char *hex, int raw, int source,
                     const char *reason, int64_t apns_ts, int async, const char *msg_id,
                     char *detail, size_t dlen)
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
    if (raw)
        gw_js_dead_key_raw(app, hex, key, sizeof(key));
    else
        gw_js_dead_key(app, hex, key, sizeof(key));
    if (gw_js_dead_encode(&d, &val, &len) != 0)
        return APNS_ENOMEM;
    if (async) {
        snprintf(subj, sizeof(subj), "$KV.%s.%s", js->bucket[JS_DEAD], key);
        rc = gw_js_pg_add(js, subj, val, len, msg_id, 0);
    } else {
        atomic_fetch_add(&js->op_pub, 1);
        s = kvStore_Put(NULL, js->kv[JS_DEAD], key, val, (int)len);
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

    if (r->u.dead.raw != NULL)
        gw_js_dead_key_raw(r->u.dead.app, r->u.dead.raw, key, sizeof(key));
    else
        gw_js_dead_key(r->u.dead.app, r->u.dead.hex, key, sizeof(key));
    rc = gw_js_kv_get(js, js->kv[JS_DEAD], key, NULL, NULL, NULL, &found, "dead-token delete",
                      r->detail, sizeof(r->detail));
    if (rc != 0 || !found)
        return rc;
    atomic_fetch_add(&js->op_pub, 1);
    s = kvStore_Delete(js->kv[JS_DEAD], key);
    if (s != NATS_OK)
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), "dead-token delete", r->detail,
                           sizeof(r->detail));
    r->u.dead.count = 1;
    return 0;
}

/* One entry of the page (a gw_js_scan visit): 1 = the page is full
 * (has_next set), 0 = go on. */
static int page_add(void *ud, natsMsg *m, uint64_t seq)
{
    gw_queue_req *r = ud;
    gw_dead_token d;

    if (m == NULL) { /* start again */
        r->u.dead.n = 0;
        r->u.dead.has_next = 0;
        r->u.dead.next[0] = '\0';
        return 0;
    }
    if (gw_js_dead_decode(&d, (const uint8_t *)natsMsg_GetData(m),
                          (size_t)natsMsg_GetDataLength(m)) != 0 ||
        d.recorded_ms < r->u.dead.since)
        return 0; /* something else, or older than since */
    if (r->u.dead.n == r->u.dead.limit) {
        r->u.dead.has_next = 1;
        return 1;
    }
    r->u.dead.v[r->u.dead.n++] = d;
    snprintf(r->u.dead.next, sizeof(r->u.dead.next), "%llu", (unsigned long long)seq);
    return 0;
}

int gw_js_op_dead_list(gw_js *js, gw_queue_req *r)
{
    char filter[256], stream[96], app[160];
    gw_js_scan sc = {.stream = stream,
                     .filter = filter,
                     .after = (uint64_t)r->u.dead.after[0],
                     .what = "dead-token list",
                     .visit = page_add,
                     .ud = r};
    int rc;

    r->u.dead.v = calloc(r->u.dead.limit, sizeof(gw_dead_token));
    if (r->u.dead.v == NULL) {
        snprintf(r->detail, sizeof(r->detail), "out of memory for dead-token page");
        return APNS_ENOMEM;
    }
    if (sc.after == 0 && r->u.dead.since > 600000)
        sc.start_ms = r->u.dead.since - 600000;
    app_token(r->u.dead.app, app, sizeof(app));
    snprintf(filter, sizeof(filter), "$KV.%s.%s.>", js->bucket[JS_DEAD], app);
    snprintf(stream, sizeof(stream), "KV_%s", js->bucket[JS_DEAD]);
    rc = gw_js_scan_run(js, &sc, r->detail, sizeof(r->detail));
    if (rc != 0 || !r->u.dead.has_next)
        r->u.dead.next[0] = '\0';
    return rc;
}
