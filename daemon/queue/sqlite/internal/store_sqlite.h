/*
 * store_sqlite.h - internals of the SQLite queue backend, shared by
 * queue_sqlite.c (the ops table, open/free) and the store_sqlite_*.c files
 * (one per kind of storage work, run on the storage thread).
 *
 * Ownership. The queue's front end builds each request (gw_queue_req,
 * internal/queue_backend.h) on the loop thread and posts it; a
 * store_sqlite_*.c operation fills in its results on the storage thread
 * inside a batch transaction; the front end delivers and frees it. Results
 * that carry memory (leased chunks, status outcomes, dead-token pages)
 * belong to the request until its callback has run, except leased chunks,
 * which pass to the dispatcher.
 */
#ifndef GW_STORE_SQLITE_H
#define GW_STORE_SQLITE_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

#include "queue_backend.h"
#include "queue_sqlite.h"

/* A chunk row's tokens, as a column of a statement over chunk. */
#define SQ_CHUNK_TOKENS "(SELECT tokens FROM chunk_token WHERE chunk_token.id=chunk.id)"

/* XX(ID, sql). Prepared once at open (SQLITE_PREPARE_PERSISTENT). */
#define SQ_STMT_MAP(XX)                                                                            \
    XX(JOB_INSERT, "INSERT INTO job(uid,app,topic,push_type,priority,expiration,collapse_id,"      \
                   "apns_id,payload,send_at,created,n,n_chunks,channel) "                          \
                   "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)")                       \
    XX(CHUNK_INSERT, "INSERT INTO chunk(job,seq,first,n,st,n_open,next_at) "                       \
                     "VALUES(?1,?2,?3,?4,zeroblob(?4),?4,?5)")                                     \
    XX(CHUNK_TOKEN_INSERT, "INSERT INTO chunk_token(id,tokens) VALUES(?1,?2)")                     \
    XX(LEASE_TURN, "SELECT min(seq) FROM chunk "                                                   \
                   "WHERE next_at IS NOT NULL AND lease_owner IS NULL AND seq>=?1")                \
    XX(LEASE_SELECT, "SELECT id,job,seq,first,n," SQ_CHUNK_TOKENS ",st FROM chunk "                \
                     "WHERE next_at IS NOT NULL AND lease_owner IS NULL AND seq=?1 AND "           \
                     "next_at<=?2 AND next_at>?4 ORDER BY next_at,id LIMIT ?3")                    \
    XX(LEASE_OLD, "SELECT id,job,seq,first,n," SQ_CHUNK_TOKENS ",st FROM chunk "                   \
                  "WHERE next_at IS NOT NULL AND lease_owner IS NULL AND next_at<=?1 "             \
                  "ORDER BY next_at,id LIMIT ?2 OFFSET ?3")                                        \
    XX(LEASE_NEXT, "SELECT min(next_at) FROM chunk "                                               \
                   "WHERE next_at IS NOT NULL AND lease_owner IS NULL")                            \
    XX(CHUNK_LEASE, "UPDATE chunk SET lease_owner=?2,lease_until=?3 WHERE id=?1")                  \
    XX(JOB_FIELDS, "SELECT uid,app,topic,push_type,priority,expiration,collapse_id,apns_id,"       \
                   "payload,send_at,created,n,channel FROM job WHERE id=?1")                       \
    XX(RETRY_BY_CHUNK, "SELECT idx,at,attempts FROM retry WHERE chunk=?1")                         \
    XX(CHUNK_ST, "SELECT job,n,st,n_open,first FROM chunk WHERE id=?1")                            \
    XX(CHUNK_SET_ST, "UPDATE chunk SET st=?2,n_open=?3,"                                           \
                     "next_at=CASE WHEN ?3=0 THEN NULL ELSE next_at END,"                          \
                     "lease_owner=CASE WHEN ?3=0 THEN NULL ELSE lease_owner END,"                  \
                     "lease_until=CASE WHEN ?3=0 THEN NULL ELSE lease_until END WHERE id=?1")      \
    XX(RETRY_UPSERT, "INSERT INTO retry(chunk,idx,at,attempts) VALUES(?1,?2,?3,1) "                \
                     "ON CONFLICT(chunk,idx) DO UPDATE SET at=excluded.at,"                        \
                     "attempts=min(attempts+1,255)")                                               \
    XX(RETRY_DELETE, "DELETE FROM retry WHERE chunk=?1 AND idx=?2")                                \
    XX(REJECT_INSERT, "INSERT OR REPLACE INTO rejection(job,idx,token,status,reason,apns_ts,"      \
                      "recorded) VALUES(?1,?2,?3,?4,?5,?6,?7)")                                    \
    XX(JOB_APP, "SELECT app FROM job WHERE id=?1")                                                 \
    XX(JOB_ADD_COUNTS, "UPDATE job SET n_accepted=n_accepted+?2,n_rejected=n_rejected+?3,"         \
                       "n_expired=n_expired+?4,n_failed=n_failed+?5,n_retry=n_retry+?6,"           \
                       "finished=CASE WHEN finished IS NULL AND n_accepted+n_rejected+n_expired+"  \
                       "n_failed+n_cancelled+?2+?3+?4+?5>=n THEN ?7 ELSE finished END "            \
                       "WHERE id=?1")                                                              \
    XX(JOB_FINISH, "UPDATE job SET finished=?2 WHERE id=?1 AND finished IS NULL AND "              \
                   "n_accepted+n_rejected+n_expired+n_failed+n_cancelled>=n")                      \
    XX(CHUNK_RELEASE_INFO, "SELECT n_open,lease_owner IS NOT NULL,job,"                            \
                           "(SELECT cancelled FROM job WHERE job.id=chunk.job) "                   \
                           "FROM chunk WHERE id=?1")                                               \
    XX(CHUNK_RETRY_INFO, "SELECT count(*),min(at) FROM retry WHERE chunk=?1")                      \
    XX(JOB_CANCEL_MARK, "UPDATE job SET cancelled=?2 WHERE id=?1 AND cancelled IS NULL")           \
    XX(CANCEL_COUNT, "SELECT COALESCE(sum(n_open),0),(SELECT count(*) FROM retry WHERE chunk IN "  \
                     "(SELECT id FROM chunk WHERE job=?1 AND lease_owner IS NULL AND n_open>0)) "  \
                     "FROM chunk WHERE job=?1 AND lease_owner IS NULL AND n_open>0")               \
    XX(CANCEL_RETRIES, "DELETE FROM retry WHERE chunk IN (SELECT id FROM chunk WHERE job=?1 AND "  \
                       "lease_owner IS NULL AND n_open>0)")                                        \
    XX(CANCEL_CHUNKS, "UPDATE chunk SET st=apnsd_cancel_st(st),n_open=0,next_at=NULL "             \
                      "WHERE job=?1 AND lease_owner IS NULL AND n_open>0")                         \
    XX(JOB_CANCEL_COUNTS, "UPDATE job SET n_cancelled=n_cancelled+?2,n_retry=n_retry-?3 "          \
                          "WHERE id=?1")                                                           \
    XX(CHUNK_RELEASE, "UPDATE chunk SET lease_owner=NULL,lease_until=NULL,next_at=?2 WHERE id=?1") \
    XX(JOB_BY_UID, "SELECT id,uid,app,apns_id,n,n_accepted,n_rejected,n_expired,n_failed,"         \
                   "n_retry,created,send_at,finished,channel,n_cancelled,cancelled "               \
                   "FROM job WHERE uid=?1")                                                        \
    XX(JOB_LEASED, "SELECT EXISTS(SELECT 1 FROM chunk WHERE job=?1 AND lease_owner IS NOT NULL)")  \
    XX(JOB_RETRIES, "SELECT c.first+r.idx,r.at,r.attempts FROM chunk c JOIN retry r "              \
                    "ON r.chunk=c.id WHERE c.job=?1")                                              \
    XX(JOB_NEXT_RETRY, "SELECT min(r.at) FROM chunk c JOIN retry r ON r.chunk=c.id "               \
                       "WHERE c.job=?1")                                                           \
    XX(JOB_CHUNKS, "SELECT first,n," SQ_CHUNK_TOKENS ",st FROM chunk WHERE job=?1 ORDER BY seq")   \
    XX(JOB_REJECTIONS, "SELECT idx,status,reason,apns_ts FROM rejection WHERE job=?1")             \
    XX(DEAD_UPSERT, "INSERT INTO dead_token(app,token,source,reason,apns_ts,recorded) "            \
                    "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(app,token) DO UPDATE SET "              \
                    "source=excluded.source,reason=excluded.reason,apns_ts=excluded.apns_ts,"      \
                    "recorded=excluded.recorded")                                                  \
    XX(DEAD_LIST, "SELECT id,token,source,reason,apns_ts,recorded FROM dead_token "                \
                  "WHERE app=?1 AND recorded>=?2 AND (recorded,id)>(?3,?4) "                       \
                  "ORDER BY recorded,id LIMIT ?5")                                                 \
    XX(DEAD_DELETE, "DELETE FROM dead_token WHERE app=?1 AND token=?2")                            \
    XX(CHAN_COUNT, "SELECT count(*) FROM channel WHERE app=?1 AND env=?2")                         \
    XX(CHAN_EXISTS, "SELECT 1 FROM channel WHERE app=?1 AND env=?2 AND id=?3")                     \
    XX(CHAN_UPSERT, "INSERT INTO channel(app,env,id,policy,label,created) "                        \
                    "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(app,env,id) DO UPDATE SET "             \
                    "policy=excluded.policy,label=excluded.label,created=excluded.created")        \
    XX(CHAN_ADD, "INSERT OR IGNORE INTO channel(app,env,id,policy,label,created) "                 \
                 "VALUES(?1,?2,?3,-1,NULL,?4)")                                                    \
    XX(CHAN_GET, "SELECT id,policy,label,created FROM channel WHERE app=?1 AND env=?2 AND id=?3")  \
    XX(CHAN_LIST, "SELECT id,policy,label,created FROM channel WHERE app=?1 AND env=?2 "           \
                  "ORDER BY created,id")                                                           \
    XX(CHAN_DELETE, "DELETE FROM channel WHERE app=?1 AND env=?2 AND id=?3")                       \
    XX(PURGE_PICK, "SELECT id FROM job WHERE finished IS NOT NULL AND finished<?1 "                \
                   "ORDER BY finished LIMIT ?2")                                                   \
    XX(PURGE_CHUNKS, "DELETE FROM chunk WHERE id IN (SELECT id FROM chunk WHERE job=?1 LIMIT ?2)") \
    XX(PURGE_REJECTIONS, "DELETE FROM rejection WHERE job=?1 AND idx IN "                          \
                         "(SELECT idx FROM rejection WHERE job=?1 LIMIT ?2)")                      \
    XX(PURGE_JOB, "DELETE FROM job WHERE id=?1")                                                   \
    XX(CHUNK_WAKE, "UPDATE chunk SET next_at=?1 WHERE next_at>?1 AND next_at<=?2 AND "             \
                   "lease_owner IS NULL AND "                                                      \
                   "n_open>(SELECT count(*) FROM retry WHERE retry.chunk=chunk.id) AND "           \
                   "EXISTS(SELECT 1 FROM job WHERE job.id=chunk.job AND job.app=?3 AND "           \
                   "job.send_at<=?1)")                                                             \
    XX(OUTBOX_INSERT, "INSERT INTO outbox(app,at,event) VALUES(?1,?2,?3)")                         \
    XX(OUTBOX_READ, "SELECT id,event FROM outbox WHERE app=?1 ORDER BY id LIMIT ?2")               \
    XX(OUTBOX_COUNT, "SELECT count(*) FROM outbox WHERE app=?1")                                   \
    XX(OUTBOX_OLDEST, "SELECT at FROM outbox WHERE app=?1 ORDER BY id LIMIT 1")                    \
    XX(OUTBOX_DROP_AGE, "DELETE FROM outbox WHERE app=?1 AND at<?2")                               \
    XX(OUTBOX_DROP_OLDEST, "DELETE FROM outbox WHERE id IN "                                       \
                           "(SELECT id FROM outbox WHERE app=?1 ORDER BY id LIMIT ?2)")            \
    XX(OUTBOX_DELETE, "DELETE FROM outbox WHERE id=?1 AND app=?2")

enum gw_sq_stmt {
#define SQ_STMT_ENUM(id, sql) SQS_##id,
    SQ_STMT_MAP(SQ_STMT_ENUM)
#undef SQ_STMT_ENUM
        SQS_COUNT
};

typedef struct gw_sq {
    gw_queue *q; /* the front end; q->o: the options */
    gw_queue_sqlite_opts so;
    char *path;
    sqlite3 *db;
    sqlite3_stmt *st[SQS_COUNT];
    sqlite3_stmt *tx[6]; /* BEGIN, COMMIT, ... (store_sqlite_batch.c), prepared on first use */
    int lock_fd;
    int read_only;
    int sync_full;     /* the connection's synchronous setting right now */
    uint64_t owner;    /* lease owner id of this process */
    int64_t purge_due; /* monotonic ms of the next retention pass */
    /* Dead-token writes put off (store_sqlite_dead.c, table dead_pending):
     * 0 none known, else the queue-clock ms from which the next record
     * replays them (1: at once). */
    int64_t dead_replay_at;
    int age_phase; /* store_sqlite_lease.c: whose turn an odd slot is (aged chunks: 1) */
} gw_sq;

/* ops->idle's period: the write probe while the store fails (ms). */
#define SQ_IDLE_MS 1000

/* GW_QUEUE_REQ_CONTROL operations (gw_queue_sqlite_set_*). */
enum { SQ_SET_MAX_BYTES, SQ_SET_READ_ONLY };

/* ---- store_sqlite_db.c: schema, statements, errors ---- */

/* Opens the database per sq->so, creates the schema, clears stale leases,
 * prepares statements, reads the depth. Returns 0 or a GW_QUEUE_E* / APNS_E*
 * code with detail written. */
int gw_sq_db_open(gw_sq *sq, char *detail, size_t detail_len);
void gw_sq_db_close(gw_sq *sq);

/* ---- store_sqlite_vfs.c ---- */

/* The name of the queue's VFS (the default VFS with each WAL commit's
 * writes gathered into one write), registered at the first call; NULL if it
 * cannot be registered (then the default VFS serves). Any thread. */
const char *gw_sq_vfs(void);
/* Maps a SQLite result code to GW_QUEUE_E* / APNS_ENOMEM and writes
 * "queue database PATH: MESSAGE (SQLITE_X) during WHAT" to detail. */
int gw_sq_error(gw_sq *sq, int rc, const char *what, char *detail, size_t detail_len);
/* Resets the statement, clears its bindings, binds ?1, ?2, ... from the
 * arguments, one letter of `types` each: 'i' an int64_t, 't' a
 * NUL-terminated string (NULL or "" binds SQL NULL), 'b' a blob as a
 * const void * and a size_t; and returns it. Strings and blobs are borrowed
 * until the statement is reset. */
sqlite3_stmt *gw_sq_stmt(gw_sq *sq, enum gw_sq_stmt id, const char *types, ...);
/* Binds ?1, ?2, ... of s from ap as gw_sq_stmt does (also 'x': text as a
 * const char * and a size_t), for a statement prepared elsewhere. */
void gw_sq_bind(sqlite3_stmt *s, const char *types, va_list ap);
/* Binds like gw_sq_stmt, runs a statement that returns no rows and resets
 * it: 0, or the error of gw_sq_error (for `what`) into detail. */
int gw_sq_run(gw_sq *sq, char *detail, size_t detail_len, const char *what, enum gw_sq_stmt id,
              const char *types, ...);

/* ---- store_sqlite_batch.c: group commit on the storage thread ---- */
void gw_sq_batch(gw_req *head, void *be);
int64_t gw_sq_idle(void *be);

/* ---- store_sqlite_probe.c ---- */
/* While the store is failing (gw_queue__failing): one small transaction
 * that stores a change (the meta row write_probe); its result, like any
 * batch's, clears or keeps last_err. Storage thread. */
void gw_sq_write_probe(gw_sq *sq);

/* ---- operations: run inside the batch transaction; return 0 or an error
 * code (storage errors through gw_sq_error into r->detail) ---- */
int gw_sq_op_submit(gw_sq *sq, gw_queue_req *r);      /* store_sqlite_job.c */
int gw_sq_op_lease(gw_sq *sq, gw_queue_req *r);       /* store_sqlite_lease.c */
int gw_sq_op_release(gw_sq *sq, gw_queue_req *r);     /* store_sqlite_lease.c */
int gw_sq_op_record(gw_sq *sq, gw_queue_req *r);      /* store_sqlite_outcome.c */
int gw_sq_op_status(gw_sq *sq, gw_queue_req *r);      /* store_sqlite_status.c */
int gw_sq_op_dead_add(gw_sq *sq, gw_queue_req *r);    /* store_sqlite_dead.c */
int gw_sq_op_dead_list(gw_sq *sq, gw_queue_req *r);   /* store_sqlite_dead.c */
int gw_sq_op_dead_delete(gw_sq *sq, gw_queue_req *r); /* store_sqlite_dead.c */
int gw_sq_op_purge(gw_sq *sq, gw_queue_req *r);       /* store_sqlite_purge.c */
int gw_sq_op_wake(gw_sq *sq, gw_queue_req *r);        /* store_sqlite_lease.c */
int gw_sq_op_channel(gw_sq *sq, gw_queue_req *r);     /* store_sqlite_channel.c */
int gw_sq_op_idem(gw_sq *sq, gw_queue_req *r);        /* store_sqlite_idem.c */
int gw_sq_op_cancel(gw_sq *sq, gw_queue_req *r);      /* store_sqlite_cancel.c */
/* store_sqlite_cancel.c: registers the SQL function apnsd_cancel_st(st)
 * the cancel statements use (before they are prepared). 0 or a storage
 * error. */
int gw_sq_cancel_register(gw_sq *sq, char *detail, size_t detail_len);
/* Makes the open tokens of job's chunks that are not leased
 * GW_TOKEN_CANCELLED (constant statements, whatever the job's size), with
 * the job's counts, the depth and finished. *n: tokens cancelled (may be
 * NULL). In the current transaction; 0 or a storage error into r. */
int gw_sq_cancel_open(gw_sq *sq, gw_queue_req *r, int64_t job, int64_t now, int64_t *n);
/* At open, after the leases are cleared and the statements prepared: the
 * open tokens of every cancelled job (a chunk leased when the cancel was
 * stored and never released: the process stopped) are cancelled, in one
 * transaction. 0 or a storage error (detail written). */
int gw_sq_cancel_recover(gw_sq *sq, char *detail, size_t detail_len);
/* store_sqlite_idem.c: creates the idempotency table when absent (at open;
 * an additive table: older apnsd versions ignore it). 0 or a storage error. */
int gw_sq_idem_schema(gw_sq *sq, char *detail, size_t detail_len);
int gw_sq_op_outbox(gw_sq *sq, gw_queue_req *r); /* store_sqlite_outbox.c */
/* The webhook event of answer o of record r (when it has one) into the
 * outbox, in the current transaction (store_sqlite_outbox.c). */
int gw_sq_outbox_put(gw_sq *sq, gw_queue_req *r, const gw_queue_answer *o, int64_t now);
/* One bounded retention step in the current transaction: deletes up to
 * max_jobs expired jobs; *jobs = jobs deleted, *more = work left. */
int gw_sq_purge_step(gw_sq *sq, size_t max_jobs, uint64_t *jobs, int *more, char *detail,
                     size_t detail_len);
/* Dead-token upsert shared by record (rejections) and dead_add. */
int gw_sq_dead_upsert(gw_sq *sq, const char *app, const uint8_t *tok, size_t tok_len, int source,
                      const char *reason, int64_t apns_ts, int64_t recorded, char *detail,
                      size_t detail_len);
/* The dead-token write of an answer (record: a rejection with a dead
 * source), for a token of either kind. When the registry write fails and
 * the transaction is still open, the entry goes to dead_pending instead and
 * 0 is returned: the answer is stored whatever happens to the registry, and
 * the entry is written by a later record (gw_sq_dead_replay). An error
 * only when neither could be written (or the transaction is gone). */
int gw_sq_dead_record(gw_sq *sq, gw_queue_req *r, const char *app, const uint8_t *tok,
                      size_t tok_len, int raw, int source, const char *reason, int64_t apns_ts,
                      int64_t now);
/* At the start of a record, when entries wait in dead_pending and it is
 * time: writes up to 64 of them into the registry. A failure leaves them
 * for a later try (1 s later); an error only when the transaction is gone. */
int gw_sq_dead_replay(gw_sq *sq, gw_queue_req *r, int64_t now);
/* At open, in the schema transaction: creates dead_pending when absent (an
 * additive table: older apnsd ignore it). 0 or a storage error. */
int gw_sq_dead_schema(gw_sq *sq, char *detail, size_t detail_len);
/* The same for a token of either kind: raw 1 for an FCM token (TEXT). */
int gw_sq_dead_upsert2(gw_sq *sq, const char *app, const uint8_t *tok, size_t tok_len, int raw,
                       int source, const char *reason, int64_t apns_ts, int64_t recorded,
                       char *detail, size_t detail_len);

#endif
