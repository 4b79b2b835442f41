/*
 * queue_sqlite.h - the embedded SQLite backend of the gateway's queue
 * (daemon/queue/sqlite/). The queue's contract is queue.h; this header only
 * opens the backend and offers its operator/fault-injection hooks.
 */
#ifndef GW_QUEUE_SQLITE_H
#define GW_QUEUE_SQLITE_H

#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* The SQLite backend                                                        */

typedef struct gw_queue_sqlite_opts {
    const char *path;      /* required: database file (created if missing) */
    int read_only;         /* open read-only: status and lists only */
    int64_t max_db_bytes;  /* size limit (SQLITE_FULL past it); 0 = none */
    int outcome_sync_full; /* synchronous=FULL for outcome batches too
                              (default NORMAL: a lost outcome only resends) */
} gw_queue_sqlite_opts;

/*
 * Opens (creating if needed) the database, clears stale leases, counts the
 * depth and starts the storage thread. This runs on the caller's thread and
 * may take a while on a large database; call it before serving. Only one
 * process may open a database at a time (a lock file "<path>-lock").
 * Returns 0, APNS_EINVAL, GW_QUEUE_EBUSY (another process has it open),
 * GW_QUEUE_EREADONLY (read-only and no schema), GW_QUEUE_ECORRUPT,
 * GW_QUEUE_EIO, GW_QUEUE_ESTORE, APNS_ENOMEM; `detail` says what and where.
 * Free with gw_queue_free().
 */
int gw_queue_sqlite_open(gw_queue **out, const gw_queue_opts *o, const gw_queue_sqlite_opts *so,
                         char *detail, size_t detail_len);

/* Fault injection and operations (tests, admin). Changes the size limit
 * (0 = none) or makes the connection refuse writes (query_only), ordered
 * with other requests. The queue must come from gw_queue_sqlite_open. */
int gw_queue_sqlite_set_max_bytes(gw_queue *q, int64_t max_db_bytes, gw_done_cb cb, void *ud);
int gw_queue_sqlite_set_read_only(gw_queue *q, int read_only, gw_done_cb cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif
