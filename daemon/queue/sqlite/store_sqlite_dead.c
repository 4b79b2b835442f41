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
