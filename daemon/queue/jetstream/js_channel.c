/*
 * js_channel.c - the broadcast channel records in KV bucket P_CHANNELS,
 * shared by every node of a fleet.
 *
 * Key "<app>.<env>.<channel id in hex>" (the app's dots become '=' as in
 * the dead-token registry; base64 ids hold '+' and '/', which a key may not,
 * hence hex). Value, text: "1 <policy> <created ms>\n<id>\n<label>".
 *
 * A list (and the count a put checks against its bound, and a sync) scans
 * the bucket's stream filtered to "$KV.P_CHANNELS.<app>.<env>.>"
 * (gw_js_scan_run: KV delete markers skipped). The bucket keeps one
 * revision per key, so the scan reads each live record once. The bound is
 * checked before the write, not atomically with it: two nodes creating at
 * the same moment may end one record over it; APNs' own limit still answers
 * CannotCreateChannelConfig for the channel itself.
 *
 * Delete removes the key: the record's data is gone at once; the bucket
 * keeps a KV delete marker (a key and no value) per deleted channel, as for
 * the dead-token registry. (nats.c 3.4's kvStore_PurgeDeletes, which would
 * drop the markers, leaks its watcher's connection reference under
 * LeakSanitizer, so it is not called.)
 */
#include "js_int.h"

#include "hex.h" /* common/ */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void key_prefix(const gw_queue_req *r, char *out, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; r->u.channel.app[i] != '\0' && o + 1 < len; i++)
        out[o++] = r->u.channel.app[i] == '.' ? '=' : r->u.channel.app[i];
    out[o] = '\0';
    snprintf(out + o, len - o, ".%s", r->u.channel.env);
}

static void key_of(const gw_queue_req *r, const char *id, char *out, size_t len)
{
    size_t o;

    key_prefix(r, out, len);
    o = strlen(out);
    if (o + 2 + 2 * strlen(id) > len)
        return; /* cannot happen: keys are sized for APNS_CHANNEL_ID_MAX */
    out[o++] = '.';
    common_bin_to_hex((const uint8_t *)id, strlen(id), out + o);
}

#define KEY_MAX (160 + GW_CHANNEL_ENV_MAX + 2 * APNS_CHANNEL_ID_MAX + 8)

static int encode(const gw_channel *c, char **out, size_t *len)
{
    size_t n = 64 + strlen(c->id) + strlen(c->label);

    *out = malloc(n);
    if (*out == NULL)
        return APNS_ENOMEM;
    *len = (size_t)snprintf(*out, n, "1 %d %lld\n%s\n%s", c->storage_policy,
                            (long long)c->created_ms, c->id, c->label);
    return 0;
}

/* 0, or -1 when p is not a record. */
static int decode(gw_channel *c, const char *p, size_t len)
{
    char buf[64 + APNS_CHANNEL_ID_MAX + GW_CHANNEL_LABEL_MAX];
    char *id, *label;
    long long created;
    int policy, used = 0;

    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (sscanf(buf, "1 %d %lld\n%n", &policy, &created, &used) != 2 || used == 0)
        return -1;
    id = buf + used;
    label = strchr(id, '\n');
    if (label == NULL)
        return -1;
    *label++ = '\0';
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->label, sizeof(c->label), "%s", label);
    c->storage_policy = policy;
    c->created_ms = created;
    return 0;
}

typedef struct collector {
    gw_queue_req *r;
    size_t cap;
    int oom;
} collector;

/* A scan visit: appends each record to r->u.channel.v (grown as needed). */
static int collect(void *ud, natsMsg *m, uint64_t seq)
{
    collector *k = ud;
    gw_queue_req *r = k->r;
    gw_channel c;

    (void)seq;
    if (m == NULL) { /* start again */
        r->u.channel.n = 0;
        return 0;
    }
    if (decode(&c, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)) != 0)
        return 0;
    if (r->u.channel.n == k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 16;
        gw_channel *nv = realloc(r->u.channel.v, ncap * sizeof(*nv));
        if (nv == NULL) {
            k->oom = 1;
            return 1;
        }
        r->u.channel.v = nv;
        k->cap = ncap;
    }
    r->u.channel.v[r->u.channel.n++] = c;
    return 0;
}

static int cmp_created(const void *a, const void *b)
{
    const gw_channel *x = a, *y = b;

    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Every record of (app, env) into r->u.channel.v, oldest first. */
static int read_all(gw_js *js, gw_queue_req *r, const char *what)
{
    char filter[KEY_MAX + 96], stream[96], prefix[200];
    collector k = {.r = r};
    gw_js_scan sc = {.stream = stream, .filter = filter, .what = what, .visit = collect, .ud = &k};
    int rc;

    free(r->u.channel.v);
    r->u.channel.v = NULL;
    r->u.channel.n = 0;
    key_prefix(r, prefix, sizeof(prefix));
    snprintf(filter, sizeof(filter), "$KV.%s.%s.>", js->bucket[JS_CHAN], prefix);
    snprintf(stream, sizeof(stream), "KV_%s", js->bucket[JS_CHAN]);
    rc = gw_js_scan_run(js, &sc, r->detail, sizeof(r->detail));
    if (rc == 0 && k.oom) {
        snprintf(r->detail, sizeof(r->detail), "out of memory reading channel records");
        rc = APNS_ENOMEM;
    }
    if (rc == 0 && r->u.channel.n > 1)
        qsort(r->u.channel.v, r->u.channel.n, sizeof(gw_channel), cmp_created);
    return rc;
}

static int put_record(gw_js *js, gw_queue_req *r, const gw_channel *c, const char *what)
{
    char key[KEY_MAX], *val;
    size_t len;
    natsStatus s;

    key_of(r, c->id, key, sizeof(key));
    if (encode(c, &val, &len) != 0)
        return APNS_ENOMEM;
    atomic_fetch_add(&js->op_pub, 1);
    s = kvStore_Put(NULL, js->kv[JS_CHAN], key, val, (int)len);
    free(val);
    if (s != NATS_OK)
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), what, r->detail, sizeof(r->detail));
    return 0;
}

static int delete_record(gw_js *js, gw_queue_req *r, const char *id, const char *what)
{
    char key[KEY_MAX];
    natsStatus s;

    key_of(r, id, key, sizeof(key));
    atomic_fetch_add(&js->op_pub, 1);
    s = kvStore_Delete(js->kv[JS_CHAN], key);
    if (s != NATS_OK)
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), what, r->detail, sizeof(r->detail));
    return 0;
}

static int get_one(gw_js *js, gw_queue_req *r, gw_channel *c, int *found, const char *what)
{
    char key[KEY_MAX];
    uint8_t *val = NULL;
    size_t len = 0;
    int rc;

    key_of(r, r->u.channel.c.id, key, sizeof(key));
    rc = gw_js_kv_get(js, js->kv[JS_CHAN], key, &val, &len, NULL, found, what, r->detail,
                      sizeof(r->detail));
    if (rc == 0 && *found && decode(c, (const char *)val, len) != 0)
        *found = 0;
    free(val);
    return rc;
}

static int op_put(gw_js *js, gw_queue_req *r)
{
    gw_channel old;
    int found = 0, rc;

    rc = get_one(js, r, &old, &found, "channel record");
    if (rc == 0 && !found) {
        rc = read_all(js, r, "channel record");
        if (rc == 0 && r->u.channel.n >= r->u.channel.max) {
            snprintf(r->detail, sizeof(r->detail),
                     "app \"%s\" (%s) already holds %u channel records, the most allowed",
                     r->u.channel.app, r->u.channel.env, r->u.channel.max);
            rc = GW_QUEUE_ELIMIT;
        }
        free(r->u.channel.v);
        r->u.channel.v = NULL;
        r->u.channel.n = 0;
    }
    return rc != 0 ? rc : put_record(js, r, &r->u.channel.c, "channel record");
}

static int op_get(gw_js *js, gw_queue_req *r)
{
    gw_channel c;
    int found = 0, rc = get_one(js, r, &c, &found, "channel record");

    if (rc != 0)
        return rc;
    if (!found) {
        snprintf(r->detail, sizeof(r->detail), "no record of channel %s", r->u.channel.c.id);
        return GW_QUEUE_ENOTFOUND;
    }
    r->u.channel.v = malloc(sizeof(gw_channel));
    if (r->u.channel.v == NULL)
        return APNS_ENOMEM;
    r->u.channel.v[0] = c;
    r->u.channel.n = 1;
    return 0;
}

static int op_delete(gw_js *js, gw_queue_req *r)
{
    gw_channel c;
    int found = 0, rc = get_one(js, r, &c, &found, "channel delete");

    if (rc != 0 || !found)
        return rc;
    rc = delete_record(js, r, r->u.channel.c.id, "channel delete");
    if (rc == 0)
        r->u.channel.count = 1;
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int op_sync(gw_js *js, gw_queue_req *r)
{
    char **ids = r->u.channel.ids;
    size_t n = r->u.channel.nids, have;
    const char **old = NULL;
    gw_channel fresh = {.storage_policy = -1, .created_ms = r->u.channel.c.created_ms};
    int rc;

    qsort(ids, n, sizeof(*ids), cmp_str);
    rc = read_all(js, r, "channel sync");
    have = rc == 0 ? r->u.channel.n : 0;
    for (size_t i = 0; rc == 0 && i < have; i++) {
        const char *id = r->u.channel.v[i].id;
        if (n > 0 && bsearch(&id, ids, n, sizeof(*ids), cmp_str) != NULL)
            continue;
        rc = delete_record(js, r, id, "channel sync");
        if (rc == 0)
            r->u.channel.removed++;
    }
    old = rc == 0 ? malloc((have + 1) * sizeof(*old)) : NULL;
    if (rc == 0 && old == NULL)
        rc = APNS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < have; i++)
        old[i] = r->u.channel.v[i].id;
    if (rc == 0)
        qsort(old, have, sizeof(*old), cmp_str);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (have > 0 && bsearch(&ids[i], old, have, sizeof(*old), cmp_str) != NULL)
            continue;
        snprintf(fresh.id, sizeof(fresh.id), "%s", ids[i]);
        rc = put_record(js, r, &fresh, "channel sync");
        if (rc == 0)
            r->u.channel.count++;
    }
    free(old);
    free(r->u.channel.v);
    r->u.channel.v = NULL;
    r->u.channel.n = 0;
    return rc;
}

int gw_js_op_channel(gw_js *js, gw_queue_req *r)
{
    switch (r->u.channel.op) {
    case GW_CHANNEL_OP_PUT:
        return op_put(js, r);
    case GW_CHANNEL_OP_GET:
        return op_get(js, r);
    case GW_CHANNEL_OP_LIST:
        return read_all(js, r, "channel list");
    case GW_CHANNEL_OP_DELETE:
        return op_delete(js, r);
    case GW_CHANNEL_OP_SYNC:
        return op_sync(js, r);
    }
    return APNS_EINVAL;
}
