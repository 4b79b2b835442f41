/*
 * store_sqlite_probe.c - the write probe: whether the database takes
 * writes again after a failure.
 *
 * Design note
 * -----------
 * /readyz is ready only while writes succeed (queue.h, gw_queue_stats
 * last_err): a read that succeeds proves nothing about a read-only file
 * or a full disk. A failed write sets last_err; only a commit that stored
 * a change clears it. Without traffic nothing would write, so a node that
 * is not ready (and gets no traffic for it) would stay so: while the
 * store is failing, ops->idle runs this probe every SQ_IDLE_MS. It
 * rewrites the meta row "write_probe" with 4 KiB (so that it also needs
 * room for a page, as a small submit would) in its own transaction and
 * reports the result like a batch's. Nothing reads the row.
 */
#include "store_sqlite.h"

#include <stdio.h>

void gw_sq_write_probe(gw_sq *sq)
{
    char detail[384];
    int rc, err = 0;

    rc = sqlite3_exec(sq->db,
                      "BEGIN IMMEDIATE; INSERT INTO meta(key,value) VALUES('write_probe', "
                      "hex(randomblob(2048))) ON CONFLICT(key) DO UPDATE SET value=excluded.value; "
                      "COMMIT",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        err = gw_sq_error(sq, rc, "write probe", detail, sizeof(detail));
        if (!sqlite3_get_autocommit(sq->db))
            sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
    }
    gw_queue__result(sq->q, err == 0, err == 0, gw_queue_err_unavailable(err) ? err : 0);
}
