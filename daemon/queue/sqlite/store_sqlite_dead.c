/*
 * store_sqlite_dead.c - the dead-token registry: (app, token) -> source,
 * reason, Apple's timestamp, when the gateway recorded it.
 *
 * Paging is keyset paging on (recorded, id) with the index
 * dead_token_page(app, recorded, id): a page costs O(limit) whatever the
 * registry's size, and the cursor "<recorded>.<id>" of the last entry makes
 * the next page start strictly after it. An entry recorded again moves to
 * the end (its recorded time changes, its id does not), so a client polling
 * with `since` sees it again, which is what it wants to know.
 */
#include "store_sqlite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_sq_dead_upsert(gw_sq *sq, const char *app, const uint8_t *tok, size_t tok_len, int source,
                      const char *reason, int64_t apns_ts, int64_t recorded, char *detail,
                      size_t detail_len)
{
    return gw_sq_dead_upsert2(sq, app, tok, tok_len, 0, source, reason, apns_ts, recorded, detail,
                              detail_len);
}

/* raw: an FCM registration token, stored as TEXT (an APNs token is a BLOB),
 * so the two kinds never compare equal and read back as they were. */
int gw_sq_dead_upsert2(gw_sq *sq, const char *app, const uint8_t *tok, size_t tok_len, int raw,
                       int source, const char *reason, int64_t apns_ts, int64_t recorded,
                       char *detail, size_t detail_len)
{
    return gw_sq_run(sq, detail, detail_len, "dead-token registry", SQS_DEAD_UPSERT,
                     raw ? "txitii" : "tbitii", app, (const void *)tok, tok_len, (int64_t)source,
                     reason, apns_ts, recorded);
}

int gw_sq_op_dead_add(gw_sq *sq, gw_queue_req *r)
{
    return gw_sq_dead_upsert(sq, r->u.dead.app, r->u.dead.tok, r->u.dead.tok_len, r->u.dead.source,
                             r->u.dead.reason, r->u.dead.apns_ts, gw_queue__now(sq->q), r->detail,
                             sizeof(r->detail));
}

int gw_sq_op_dead_list(gw_sq *sq, gw_queue_req *r)
{
    size_t limit = r->u.dead.limit;
    /* one more than the limit: is there a next page? */
    sqlite3_stmt *s = gw_sq_stmt(sq, SQS_DEAD_LIST, "tiiii", r->u.dead.app, r->u.dead.since,
                                 r->u.dead.after[0], r->u.dead.after[1], (int64_t)limit + 1);
    int64_t last_recorded = 0, last_id = 0;
    int rc;

    r->u.dead.v = calloc(limit, sizeof(gw_dead_token));
    if (r->u.dead.v == NULL) {
        snprintf(r->detail, sizeof(r->detail), "out of memory for dead-token page");
        return APNS_ENOMEM;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        gw_dead_token *d;
        int len;

        if (r->u.dead.n == limit) {
            r->u.dead.has_next = 1;
            break;
        }
        d = &r->u.dead.v[r->u.dead.n++];
        last_id = sqlite3_column_int64(s, 0);
        if (sqlite3_column_type(s, 1) == SQLITE_TEXT) { /* an FCM token, verbatim */
            snprintf(d->token, sizeof(d->token), "%s", (const char *)sqlite3_column_text(s, 1));
        } else {
            len = sqlite3_column_bytes(s, 1);
            if (len > GW_TOKEN_BIN_MAX)
                len = GW_TOKEN_BIN_MAX;
            gw_token_to_hex(sqlite3_column_blob(s, 1), (size_t)len, d->token);
        }
        d->source = (gw_dead_source)sqlite3_column_int(s, 2);
        snprintf(d->reason, sizeof(d->reason), "%s",
                 sqlite3_column_type(s, 3) == SQLITE_NULL
                     ? ""
                     : (const char *)sqlite3_column_text(s, 3));
        d->apns_ts_ms = sqlite3_column_int64(s, 4);
        d->recorded_ms = last_recorded = sqlite3_column_int64(s, 5);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return gw_sq_error(sq, rc, "dead-token list", r->detail, sizeof(r->detail));
    if (r->u.dead.has_next)
        snprintf(r->u.dead.next, sizeof(r->u.dead.next), "%lld.%lld", (long long)last_recorded,
                 (long long)last_id);
    return 0;
}

int gw_sq_op_dead_delete(gw_sq *sq, gw_queue_req *r)
{
    /* An FCM token is stored as TEXT (gw_sq_dead_upsert2), an APNs one as a BLOB. */
    int rc =
        r->u.dead.raw != NULL
            ? gw_sq_run(sq, r->detail, sizeof(r->detail), "dead-token delete", SQS_DEAD_DELETE,
                        "tx", r->u.dead.app, (const void *)r->u.dead.raw, strlen(r->u.dead.raw))
            : gw_sq_run(sq, r->detail, sizeof(r->detail), "dead-token delete", SQS_DEAD_DELETE,
                        "tb", r->u.dead.app, (const void *)r->u.dead.tok, r->u.dead.tok_len);

    if (rc != 0)
        return rc;
    r->u.dead.count = (uint64_t)sqlite3_changes(sq->db);
    return 0;
}

/* ---- dead-token writes put off ----------------------------------------------
 *
 * A rejection that names a dead token writes the registry in the record's
 * transaction. If that one statement fails (a constraint, a damaged index,
 * a full page while the transaction survives), SQLite has undone the
 * statement alone: the entry goes to dead_pending and the record carries
 * on, so the token's answer (rejected) is stored whatever the registry
 * does. Were the record failed instead, its answers would wait in the
 * dispatcher while a cancel of the job could still be stored; once given
 * up, the chunk's release would turn the answered token into "cancelled".
 * Each record, when entries wait (sq->dead_replay_at), first writes up to
 * REPLAY_MAX of them into the registry, oldest first; an entry never
 * replaces one recorded later. */

#define REPLAY_MAX        64
#define REPLAY_BACKOFF_MS 1000

int gw_sq_dead_schema(gw_sq *sq, char *detail, size_t detail_len)
{
    int rc = sqlite3_exec(sq->db,
                          "CREATE TABLE IF NOT EXISTS dead_pending(id INTEGER PRIMARY KEY,"
                          " app TEXT NOT NULL, token BLOB NOT NULL, source INTEGER NOT NULL,"
                          " reason TEXT, apns_ts INTEGER, recorded INTEGER NOT NULL);",
                          NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : gw_sq_error(sq, rc, "open (dead_pending)", detail, detail_len);
}

/* Runs sql with the bindings of gw_sq_stmt's types 'i' / 'b' / 'x' / 't'
 * (prepared each time: these run only while the registry fails). */
static int run_sql(gw_sq *sq, const char *sql, const char *what, char *detail, size_t detail_len,
                   const char *types, ...)
{
    sqlite3_stmt *s = NULL;
    va_list ap;
    int rc = sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL);

    if (rc != SQLITE_OK)
        return gw_sq_error(sq, rc, what, detail, detail_len);
    va_start(ap, types);
    gw_sq_bind(s, types, ap);
    va_end(ap);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : gw_sq_error(sq, rc, what, detail, detail_len);
}

int gw_sq_dead_record(gw_sq *sq, gw_queue_req *r, const char *app, const uint8_t *tok,
                      size_t tok_len, int raw, int source, const char *reason, int64_t apns_ts,
                      int64_t now)
{
    char why[sizeof(r->detail)];
    int err = gw_sq_dead_upsert2(sq, app, tok, tok_len, raw, source, reason, apns_ts, now, why,
                                 sizeof(why));

    if (err == 0)
        return 0;
    if (sqlite3_get_autocommit(sq->db)) { /* the transaction is gone: nothing can be stored */
        snprintf(r->detail, sizeof(r->detail), "%s", why);
        return err;
    }
    err = run_sql(sq,
                  "INSERT INTO dead_pending(app,token,source,reason,apns_ts,recorded) "
                  "VALUES(?1,?2,?3,?4,?5,?6)",
                  "record outcomes (dead-token registry put off)", r->detail, sizeof(r->detail),
                  raw ? "txitii" : "tbitii", app, (const void *)tok, tok_len, (int64_t)source,
                  reason, apns_ts, now);
    if (err != 0)
        return err;
    gw_queue__log(sq->q, APNS_LOG_WARN,
                  "%s: the answer is stored, the dead-token entry is kept "
                  "and written again later",
                  why);
    if (sq->dead_replay_at == 0 || sq->dead_replay_at > now)
        sq->dead_replay_at = 1;
    return 0;
}

int gw_sq_dead_replay(gw_sq *sq, gw_queue_req *r, int64_t now)
{
    static const char sel[] =
        "SELECT id,app,token,source,reason,apns_ts,recorded FROM dead_pending ORDER BY id LIMIT ?1";
    static const char put[] =
        "INSERT INTO dead_token(app,token,source,reason,apns_ts,recorded) "
        "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(app,token) DO UPDATE SET "
        "source=excluded.source,reason=excluded.reason,apns_ts=excluded.apns_ts,"
        "recorded=excluded.recorded WHERE excluded.recorded>=dead_token.recorded";
    char why[sizeof(r->detail)];
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(sq->db, sel, -1, &s, NULL), n = 0, err = 0;

    if (rc == SQLITE_OK)
        sqlite3_bind_int(s, 1, REPLAY_MAX);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int raw = sqlite3_column_type(s, 2) == SQLITE_TEXT;
        const void *tok = raw ? (const void *)sqlite3_column_text(s, 2) : sqlite3_column_blob(s, 2);
        size_t tok_len = (size_t)sqlite3_column_bytes(s, 2);

        err = run_sql(sq, put, "dead-token registry (put-off entry)", why, sizeof(why),
                      raw ? "txitii" : "tbitii", (const char *)sqlite3_column_text(s, 1), tok,
                      tok_len, sqlite3_column_int64(s, 3), (const char *)sqlite3_column_text(s, 4),
                      sqlite3_column_int64(s, 5), sqlite3_column_int64(s, 6));
        if (err == 0)
            err = run_sql(sq, "DELETE FROM dead_pending WHERE id=?1",
                          "dead-token registry (put-off entry)", why, sizeof(why), "i",
                          sqlite3_column_int64(s, 0));
        if (err != 0)
            break;
        n++;
    }
    if (err == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = gw_sq_error(sq, rc, "dead-token registry (put-off entries)", why, sizeof(why));
    sqlite3_finalize(s);
    if (err != 0) {
        sq->dead_replay_at = now + REPLAY_BACKOFF_MS;
        if (sqlite3_get_autocommit(sq->db)) {
            snprintf(r->detail, sizeof(r->detail), "%s", why);
            return err;
        }
        gw_queue__log(sq->q, APNS_LOG_WARN, "%s: tried again in %d ms", why, REPLAY_BACKOFF_MS);
        return 0;
    }
    if (n > 0)
        gw_queue__log(sq->q, APNS_LOG_INFO,
                      "queue database %s: %d put-off dead-token entr%s written to the registry",
                      sq->path, n, n == 1 ? "y" : "ies");
    if (n < REPLAY_MAX)
        sq->dead_replay_at = 0;
    return 0;
}
