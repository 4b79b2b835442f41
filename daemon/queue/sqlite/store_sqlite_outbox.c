/*
 * store_sqlite_outbox.c - the webhook outbox in the SQLite file (table
 * outbox, store_sqlite_db.c): events written by the record transaction,
 * read in batches (oldest first, after the retention step), deleted when
 * acknowledged.
 *
 * Design note. The event row goes in with the outcome that makes its token
 * final, in the same transaction (store_sqlite_outcome.c calls
 * gw_sq_outbox_put), so both are durable together or neither is. Ids come
 * from AUTOINCREMENT: never reused, even after the newest rows were
 * deleted, so a receiver may keep the ids it saw to drop duplicates.
 * Retention runs at each read: first the rows older than max_age (only
 * when the oldest row is that old: one indexed look-up otherwise), then the
 * oldest beyond max_events; both counted as dropped. A read holds at most
 * `max` events in memory.
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_sq_outbox_put(gw_sq *sq, gw_queue_req *r, const gw_queue_answer *o, int64_t now)
{
    const char *app, *json;

    if (!gw_queue__answer_event(r, (size_t)(o - r->u.record.v), &app, &json))
        return 0;
    return gw_sq_run(sq, r->detail, sizeof(r->detail), "record outcomes (webhook outbox)",
                     SQS_OUTBOX_INSERT, "tit", app, now, json);
}

static int count(gw_sq *sq, gw_queue_req *r, uint64_t *n)
{
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_OUTBOX_COUNT, "t", r->u.outbox.app);
    int rc = sqlite3_step(s);

    *n = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW
               ? 0
               : gw_sq_error(sq, rc, "webhook outbox (count)", r->detail, sizeof(r->detail));
}

/* Drops what retention no longer keeps; *depth is what is left. */
static int retention(gw_sq *sq, gw_queue_req *r, uint64_t *depth)
{
    const char *app = r->u.outbox.app;
    int64_t age = r->u.outbox.max_age;
    int err;

    if (age > 0) {
        int64_t cut = gw_queue__now(sq->q) - age;
        sqlite3_stmt *s = gw_sq_stmt(sq, SQS_OUTBOX_OLDEST, "t", app);
        int rc = sqlite3_step(s), old = rc == SQLITE_ROW && sqlite3_column_int64(s, 0) < cut;
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return gw_sq_error(sq, rc, "webhook outbox (age)", r->detail, sizeof(r->detail));
        if (old) {
            err = gw_sq_run(sq, r->detail, sizeof(r->detail), "webhook outbox (age)",
                            SQS_OUTBOX_DROP_AGE, "ti", app, cut);
            if (err != 0)
                return err;
            r->u.outbox.dropped += (uint64_t)sqlite3_changes(sq->db);
        }
    }
    if ((err = count(sq, r, depth)) != 0)
        return err;
    if (r->u.outbox.max_events > 0 && *depth > r->u.outbox.max_events) {
        uint64_t over = *depth - r->u.outbox.max_events;
        err = gw_sq_run(sq, r->detail, sizeof(r->detail), "webhook outbox (count)",
                        SQS_OUTBOX_DROP_OLDEST, "ti", app, (int64_t)over);
        if (err != 0)
            return err;
        r->u.outbox.dropped += over;
        *depth -= over;
    }
    return 0;
}

static int read_events(gw_sq *sq, gw_queue_req *r)
{
    sqlite3_stmt *s;
    size_t cap = 0;
    int rc;

    if (r->u.outbox.max == 0)
        return 0;
    r->u.outbox.v = calloc(r->u.outbox.max, sizeof(*r->u.outbox.v));
    if (r->u.outbox.v == NULL)
        return APNS_ENOMEM;
    s = gw_sq_stmt(sq, SQS_OUTBOX_READ, "ti", r->u.outbox.app, (int64_t)r->u.outbox.max);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && r->u.outbox.n < r->u.outbox.max) {
        const char *ev = (const char *)sqlite3_column_text(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 1);
        gw_queue_outbox_item *it = &r->u.outbox.v[r->u.outbox.n];

        if (r->u.outbox.buf_len + len + 1 > cap) {
            size_t nc = cap ? cap * 2 : 65536;
            while (nc < r->u.outbox.buf_len + len + 1)
                nc *= 2;
            char *b = realloc(r->u.outbox.buf, nc);
            if (b == NULL) {
                sqlite3_reset(s);
                return APNS_ENOMEM;
            }
            r->u.outbox.buf = b;
            cap = nc;
        }
        it->id = (uint64_t)sqlite3_column_int64(s, 0);
        it->off = r->u.outbox.buf_len;
        it->len = len;
        if (len > 0)
            memcpy(r->u.outbox.buf + it->off, ev, len);
        r->u.outbox.buf[it->off + len] = '\0';
        r->u.outbox.buf_len += len + 1;
        r->u.outbox.n++;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return gw_sq_error(sq, rc, "webhook outbox (read)", r->detail, sizeof(r->detail));
    return 0;
}

int gw_sq_op_outbox(gw_sq *sq, gw_queue_req *r)
{
    int err;

    /* A read runs again when its transaction was lost: start clean. */
    free(r->u.outbox.v);
    free(r->u.outbox.buf);
    r->u.outbox.v = NULL;
    r->u.outbox.buf = NULL;
    r->u.outbox.n = r->u.outbox.buf_len = 0;
    r->u.outbox.depth = r->u.outbox.dropped = 0;

    if (r->u.outbox.ack) {
        for (size_t i = 0; i < r->u.outbox.n_ids; i++) {
            err = gw_sq_run(sq, r->detail, sizeof(r->detail), "webhook outbox (ack)",
                            SQS_OUTBOX_DELETE, "it", (int64_t)r->u.outbox.ids[i], r->u.outbox.app);
            if (err != 0)
                return err;
        }
        return 0;
    }
    if ((err = retention(sq, r, &r->u.outbox.depth)) != 0)
        return err;
    err = read_events(sq, r);
    if (err == APNS_ENOMEM)
        snprintf(r->detail, sizeof(r->detail), "out of memory reading the webhook outbox");
    return err;
}
