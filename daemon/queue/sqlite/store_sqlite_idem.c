/*
 * store_sqlite_idem.c - idempotency records in the SQLite file (table idem).
 *
 * Design note
 * -----------
 * One row per (scope, key): the body's SHA-256, when it was reserved, and
 * the answer (status 0 while the request is being stored). Begin runs in
 * the worker's transaction like any other request, so two requests with
 * one key are ordered by the storage: the first inserts the row (NEW), the
 * second finds it (BUSY, REPLAY or MISMATCH). Rows older than the caller's
 * ttl are removed before the lookup (an old key is a new key); past `max`
 * rows in a scope the oldest go. A reservation left by a process that died
 * before answering (status 0 at open) is removed at open: its client never
 * got an answer and retries. The table is additive (CREATE IF NOT EXISTS at
 * every open, no schema version of its own): an older apnsd ignores it.
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_sq_idem_schema(gw_sq *sq, char *detail, size_t detail_len)
{
    int rc = sqlite3_exec(sq->db,
                          "CREATE TABLE IF NOT EXISTS idem(scope TEXT NOT NULL, key TEXT NOT NULL,"
                          " hash BLOB NOT NULL, created INTEGER NOT NULL,"
                          " status INTEGER NOT NULL DEFAULT 0, body TEXT,"
                          " PRIMARY KEY(scope, key)) WITHOUT ROWID;"
                          "CREATE INDEX IF NOT EXISTS idem_created ON idem(created);"
                          "CREATE INDEX IF NOT EXISTS idem_scope ON idem(scope, created);"
                          "DELETE FROM idem WHERE status = 0;",
                          NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0
                           : gw_sq_error(sq, rc, "open (idempotency table)", detail, detail_len);
}

/* Prepares sql (cached by SQLite's own statement cache: none; these run once
 * per API request, so a prepare each is cheap next to the jobs' inserts). */
static int prep(gw_sq *sq, gw_queue_req *r, const char *sql, sqlite3_stmt **s)
{
    int rc = sqlite3_prepare_v2(sq->db, sql, -1, s, NULL);

    return rc == SQLITE_OK
               ? 0
               : gw_sq_error(sq, rc, "idempotency record", r->detail, sizeof(r->detail));
}

/* Steps s to its end and finalizes it. */
static int done(gw_sq *sq, gw_queue_req *r, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    sqlite3_finalize(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW
               ? 0
               : gw_sq_error(sq, rc, "idempotency record", r->detail, sizeof(r->detail));
}

static int bind_id(sqlite3_stmt *s, int i, const gw_queue_req *r)
{
    if (sqlite3_bind_text(s, i, r->u.idem.scope, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, i + 1, r->u.idem.key, -1, SQLITE_STATIC) != SQLITE_OK)
        return -1;
    return 0;
}

static int begin(gw_sq *sq, gw_queue_req *r)
{
    int64_t now = gw_queue__now(sq->q);
    sqlite3_stmt *s;
    int rc;

    rc = prep(sq, r, "DELETE FROM idem WHERE created < ?", &s);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(s, 1, now - r->u.idem.ttl_ms);
    if ((rc = done(sq, r, s)) != 0)
        return rc;

    rc = prep(sq, r, "SELECT hash, status, body FROM idem WHERE scope = ? AND key = ?", &s);
    if (rc != 0)
        return rc;
    bind_id(s, 1, r);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(s, 0);
        const char *b = (const char *)sqlite3_column_text(s, 2);
        if (sqlite3_column_bytes(s, 0) != GW_IDEM_HASH || memcmp(h, r->u.idem.hash, GW_IDEM_HASH)) {
            r->u.idem.state = GW_IDEM_MISMATCH;
        } else if (sqlite3_column_int(s, 1) == 0) {
            r->u.idem.state = GW_IDEM_BUSY;
        } else {
            r->u.idem.state = GW_IDEM_REPLAY;
            r->u.idem.status = sqlite3_column_int(s, 1);
            r->u.idem.body = strdup(b != NULL ? b : "{}");
            if (r->u.idem.body == NULL) {
                sqlite3_finalize(s);
                snprintf(r->detail, sizeof(r->detail), "out of memory");
                return APNS_ENOMEM;
            }
        }
        sqlite3_finalize(s);
        return 0;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return gw_sq_error(sq, rc, "idempotency record", r->detail, sizeof(r->detail));

    if (r->u.idem.max > 0) { /* room for this one: keep the newest max - 1 */
        rc = prep(sq, r,
                  "DELETE FROM idem WHERE scope = ?1 AND key IN (SELECT key FROM idem WHERE "
                  "scope = ?1 ORDER BY created DESC, key LIMIT -1 OFFSET ?2)",
                  &s);
        if (rc != 0)
            return rc;
        sqlite3_bind_text(s, 1, r->u.idem.scope, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (int64_t)(r->u.idem.max - 1));
        if ((rc = done(sq, r, s)) != 0)
            return rc;
    }
    rc = prep(sq, r, "INSERT INTO idem(scope, key, hash, created) VALUES(?, ?, ?, ?)", &s);
    if (rc != 0)
        return rc;
    bind_id(s, 1, r);
    sqlite3_bind_blob(s, 3, r->u.idem.hash, GW_IDEM_HASH, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    if ((rc = done(sq, r, s)) != 0)
        return rc;
    r->u.idem.state = GW_IDEM_NEW;
    return 0;
}

static int finish(gw_sq *sq, gw_queue_req *r)
{
    sqlite3_stmt *s;
    int rc;

    if (r->u.idem.status == 0) {
        rc = prep(sq, r, "DELETE FROM idem WHERE scope = ? AND key = ?", &s);
        if (rc != 0)
            return rc;
        bind_id(s, 1, r);
        return done(sq, r, s);
    }
    rc = prep(sq, r, "UPDATE idem SET status = ?3, body = ?4 WHERE scope = ?1 AND key = ?2", &s);
    if (rc != 0)
        return rc;
    bind_id(s, 1, r);
    sqlite3_bind_int(s, 3, r->u.idem.status);
    sqlite3_bind_text(s, 4, r->u.idem.body, -1, SQLITE_STATIC);
    return done(sq, r, s);
}

int gw_sq_op_idem(gw_sq *sq, gw_queue_req *r)
{
    return r->u.idem.finish ? finish(sq, r) : begin(sq, r);
}
