/*
 * store_sqlite_channel.c - the broadcast channel records: (app, env, id) ->
 * storage policy, label, created (table channel, store_sqlite_db.c).
 *
 * Everything runs inside the batch transaction, so the bound of a put (a
 * count, then the insert) cannot race another put of the same process, and
 * one process owns the file (flock). A sync reads the records of (app, env),
 * deletes those whose id APNs no longer lists (the ids sorted once, then a
 * binary search each) and inserts the listed ids that have none: O((n + m)
 * log n) for n listed ids and m records, both at most the bound (10,000).
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_row(sqlite3_stmt *s, gw_channel *c)
{
    const unsigned char *label = sqlite3_column_text(s, 2);

    snprintf(c->id, sizeof(c->id), "%s", (const char *)sqlite3_column_text(s, 0));
    c->storage_policy = sqlite3_column_int(s, 1);
    snprintf(c->label, sizeof(c->label), "%s", label != NULL ? (const char *)label : "");
    c->created_ms = sqlite3_column_int64(s, 3);
}

/* One integer from a one-row query (count, exists): 0 when no row. */
static int one_int(gw_sq *sq, sqlite3_stmt *s, int64_t *out, const char *what, gw_queue_req *r)
{
    int rc = sqlite3_step(s);

    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return gw_sq_error(sq, rc, what, r->detail, sizeof(r->detail));
    return 0;
}

static int put(gw_sq *sq, gw_queue_req *r)
{
    const gw_channel *c = &r->u.channel.c;
    int64_t exists, count;
    int rc;

    rc = one_int(sq,
                 gw_sq_stmt(sq, SQS_CHAN_EXISTS, "ttt", r->u.channel.app, r->u.channel.env, c->id),
                 &exists, "channel record", r);
    if (rc == 0 && !exists)
        rc = one_int(sq, gw_sq_stmt(sq, SQS_CHAN_COUNT, "tt", r->u.channel.app, r->u.channel.env),
                     &count, "channel record", r);
    if (rc != 0)
        return rc;
    if (!exists && count >= (int64_t)r->u.channel.max) {
        snprintf(r->detail, sizeof(r->detail),
                 "app \"%s\" (%s) already holds %u channel records, the most allowed",
                 r->u.channel.app, r->u.channel.env, r->u.channel.max);
        return GW_QUEUE_ELIMIT;
    }
    return gw_sq_run(sq, r->detail, sizeof(r->detail), "channel record", SQS_CHAN_UPSERT, "tttiti",
                     r->u.channel.app, r->u.channel.env, c->id, (int64_t)c->storage_policy,
                     c->label, c->created_ms);
}

/* Reads the records of (app, env) (get: the one of c.id) into v. */
static int read_rows(gw_sq *sq, gw_queue_req *r, int one)
{
    sqlite3_stmt *s;
    size_t cap = 0;
    int rc;

    s = one ? gw_sq_stmt(sq, SQS_CHAN_GET, "ttt", r->u.channel.app, r->u.channel.env,
                         r->u.channel.c.id)
            : gw_sq_stmt(sq, SQS_CHAN_LIST, "tt", r->u.channel.app, r->u.channel.env);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (r->u.channel.n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            gw_channel *nv = realloc(r->u.channel.v, ncap * sizeof(*nv));
            if (nv == NULL) {
                sqlite3_reset(s);
                snprintf(r->detail, sizeof(r->detail), "out of memory reading channel records");
                return APNS_ENOMEM;
            }
            r->u.channel.v = nv;
            cap = ncap;
        }
        read_row(s, &r->u.channel.v[r->u.channel.n++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return gw_sq_error(sq, rc, "channel records", r->detail, sizeof(r->detail));
    if (one && r->u.channel.n == 0) {
        snprintf(r->detail, sizeof(r->detail), "no record of channel %s", r->u.channel.c.id);
        return GW_QUEUE_ENOTFOUND;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int sync_ids(gw_sq *sq, gw_queue_req *r)
{
    char **ids = r->u.channel.ids;
    size_t n = r->u.channel.nids;
    int rc;

    qsort(ids, n, sizeof(*ids), cmp_str);
    rc = read_rows(sq, r, 0);
    for (size_t i = 0; rc == 0 && i < r->u.channel.n; i++) {
        const char *id = r->u.channel.v[i].id;
        if (n > 0 && bsearch(&id, ids, n, sizeof(*ids), cmp_str) != NULL)
            continue;
        rc = gw_sq_run(sq, r->detail, sizeof(r->detail), "channel sync", SQS_CHAN_DELETE, "ttt",
                       r->u.channel.app, r->u.channel.env, id);
        r->u.channel.removed++;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = gw_sq_run(sq, r->detail, sizeof(r->detail), "channel sync", SQS_CHAN_ADD, "ttti",
                       r->u.channel.app, r->u.channel.env, ids[i], r->u.channel.c.created_ms);
        r->u.channel.count += (uint64_t)sqlite3_changes(sq->db);
    }
    free(r->u.channel.v); /* the records read are not an answer */
    r->u.channel.v = NULL;
    r->u.channel.n = 0;
    return rc;
}

int gw_sq_op_channel(gw_sq *sq, gw_queue_req *r)
{
    int rc;

    switch (r->u.channel.op) {
    case GW_CHANNEL_OP_PUT:
        return put(sq, r);
    case GW_CHANNEL_OP_GET:
        return read_rows(sq, r, 1);
    case GW_CHANNEL_OP_LIST:
        return read_rows(sq, r, 0);
    case GW_CHANNEL_OP_DELETE:
        rc = gw_sq_run(sq, r->detail, sizeof(r->detail), "channel delete", SQS_CHAN_DELETE, "ttt",
                       r->u.channel.app, r->u.channel.env, r->u.channel.c.id);
        if (rc == 0)
            r->u.channel.count = (uint64_t)sqlite3_changes(sq->db);
        return rc;
    case GW_CHANNEL_OP_SYNC:
        return sync_ids(sq, r);
    }
    return APNS_EINVAL;
}
