/*
 * store_sqlite_db.c - the SQLite file: open, schema, pragmas, prepared
 * statements, and the mapping of SQLite failures to queue errors.
 *
 * Schema (user_version 7; version 1 lacked the meta table, 2 the channel
 * table, 3 the outbox, 4 job.channel, 5 job.cancelled and job.n_cancelled,
 * 6 kept a chunk's tokens in its chunk row):
 *   job        one row per job: push fields, payload, counts per outcome,
 *              finished (ms, NULL while tokens are open); channel: NULL for
 *              device tokens, else the channel id of a channel publish (its
 *              one chunk holds one placeholder token); cancelled: when its
 *              cancel was stored (NULL: none), n_cancelled: its tokens
 *              cancelled (store_sqlite_cancel.c)
 *   chunk      up to chunk_tokens tokens of a job: st (one state byte per
 *              token), n_open (tokens not final), next_at (when leasable;
 *              NULL when nothing is open), lease
 *   chunk_token  a chunk's tokens (packed binary), by chunk id; deleted with
 *              its chunk (trigger chunk_token_gone). Apart from the chunk
 *              row because they never change while the row changes at every
 *              lease and outcome batch: an update rewrites a whole row, and
 *              a 1,000-token chunk's 33 KB of tokens are 9 pages (issue 16)
 *   retry      sparse: (chunk, idx) -> retry-at, attempts, for RETRY tokens
 *   rejection  (job, idx) -> token, status, reason, APNs timestamp
 *   dead_token (app, token) -> source, reason, APNs timestamp, recorded
 *   dead_pending  dead-token writes put off because the registry write
 *              failed (store_sqlite_dead.c); additive, made at every open
 *   channel    (app, env, id) -> storage policy, label, created: the
 *              broadcast channel records (store_sqlite_channel.c)
 *   outbox     the webhook events (id AUTOINCREMENT: never reused, the
 *              event id), app, at (ms), event (JSON): written with the
 *              outcomes, deleted once delivered (store_sqlite_outbox.c)
 *   meta       key -> value: "written_by", the apnsd version that last opened
 *              the file for writing (named when a newer file is refused);
 *              "write_probe", rewritten while the store is failing
 *              (store_sqlite_probe.c)
 *
 * Versions. The schema's version is PRAGMA user_version. A file of an older
 * version is migrated in place at open, in one transaction, one step per
 * version (migrations[]): an upgraded apnsd takes over its predecessor's
 * queue. A file of a newer version is refused (GW_QUEUE_ESTORE) with a
 * detail naming both versions and the apnsd that wrote it: an older apnsd
 * never guesses at a newer layout. A read-only file of an older version is
 * refused too (it cannot be migrated).
 *
 * WAL journal. synchronous is switched per batch by store_sqlite_batch.c
 * (FULL when the batch stores jobs or registry changes, NORMAL for outcome-
 * only batches). Only one process may use a file: besides SQLite's own
 * locks, open takes an exclusive flock on "<path>-lock", so two gateways can
 * never lease the same chunks. A new database file is created 0600 (its
 * -wal and -shm files take its mode), whatever the umask.
 */
#include "store_sqlite.h"

#include "apns/version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHANNEL_TABLE                                                                              \
    "CREATE TABLE IF NOT EXISTS channel("                                                          \
    " app TEXT NOT NULL, env TEXT NOT NULL, id TEXT NOT NULL, policy INTEGER NOT NULL,"            \
    " label TEXT, created INTEGER NOT NULL, PRIMARY KEY(app, env, id)) WITHOUT ROWID;"
#define OUTBOX_TABLE                                                                               \
    "CREATE TABLE IF NOT EXISTS outbox("                                                           \
    " id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, at INTEGER NOT NULL,"               \
    " event TEXT NOT NULL);"                                                                       \
    "CREATE INDEX IF NOT EXISTS outbox_app ON outbox(app, id);"
/* A chunk's tokens, apart from its state (version 7): written once. */
#define CHUNK_TOKEN_TABLE                                                                          \
    "CREATE TABLE IF NOT EXISTS chunk_token(id INTEGER PRIMARY KEY, tokens BLOB NOT NULL);"        \
    "CREATE TRIGGER IF NOT EXISTS chunk_token_gone AFTER DELETE ON chunk BEGIN"                    \
    " DELETE FROM chunk_token WHERE id=old.id; END;"
#define SCHEMA_VERSION 7

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS job("
    " id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, app TEXT NOT NULL, topic TEXT,"
    " push_type INTEGER NOT NULL, priority INTEGER NOT NULL, expiration INTEGER NOT NULL,"
    " collapse_id TEXT, apns_id TEXT NOT NULL, payload BLOB NOT NULL,"
    " send_at INTEGER NOT NULL, created INTEGER NOT NULL, n INTEGER NOT NULL,"
    " n_chunks INTEGER NOT NULL, n_accepted INTEGER NOT NULL DEFAULT 0,"
    " n_rejected INTEGER NOT NULL DEFAULT 0, n_expired INTEGER NOT NULL DEFAULT 0,"
    " n_failed INTEGER NOT NULL DEFAULT 0, n_retry INTEGER NOT NULL DEFAULT 0,"
    " finished INTEGER, channel TEXT, n_cancelled INTEGER NOT NULL DEFAULT 0, cancelled INTEGER);"
    "CREATE INDEX IF NOT EXISTS job_finished ON job(finished) WHERE finished IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS chunk("
    " id INTEGER PRIMARY KEY, job INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " first INTEGER NOT NULL, n INTEGER NOT NULL, st BLOB NOT NULL,"
    " n_open INTEGER NOT NULL, next_at INTEGER, lease_owner INTEGER, lease_until INTEGER,"
    " UNIQUE(job, seq));"
    "CREATE INDEX IF NOT EXISTS chunk_due ON chunk(next_at)"
    " WHERE next_at IS NOT NULL AND lease_owner IS NULL;"
    "CREATE TABLE IF NOT EXISTS retry("
    " chunk INTEGER NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, PRIMARY KEY(chunk, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rejection("
    " job INTEGER NOT NULL, idx INTEGER NOT NULL, token BLOB NOT NULL, status INTEGER,"
    " reason TEXT, apns_ts INTEGER, recorded INTEGER, PRIMARY KEY(job, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS dead_token("
    " id INTEGER PRIMARY KEY, app TEXT NOT NULL, token BLOB NOT NULL, source INTEGER NOT NULL,"
    " reason TEXT, apns_ts INTEGER, recorded INTEGER NOT NULL, UNIQUE(app, token));"
    "CREATE INDEX IF NOT EXISTS dead_token_page ON dead_token(app, recorded, id);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT "
    "ROWID;" CHANNEL_TABLE OUTBOX_TABLE CHUNK_TOKEN_TABLE "PRAGMA user_version=7;";

/* migrations[v - 1] turns schema version v into v + 1 (and sets
 * user_version). */
static const char *const migrations[SCHEMA_VERSION - 1] = {
    /* 1 -> 2: the meta table. */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "PRAGMA user_version=2;",
    /* 2 -> 3: the channel records. */
    CHANNEL_TABLE "PRAGMA user_version=3;",
    /* 3 -> 4: the webhook outbox. */
    OUTBOX_TABLE "PRAGMA user_version=4;",
    /* 4 -> 5: channel publishes (a job's channel id; NULL for the jobs it holds). */
    "ALTER TABLE job ADD COLUMN channel TEXT;"
    "PRAGMA user_version=5;",
    /* 5 -> 6: cancels (a job's cancel mark and its cancelled tokens). */
    "ALTER TABLE job ADD COLUMN n_cancelled INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE job ADD COLUMN cancelled INTEGER;"
    "PRAGMA user_version=6;",
    /* 6 -> 7: a chunk's tokens move to their own table (issue 16). */
    CHUNK_TOKEN_TABLE "INSERT INTO chunk_token(id,tokens) SELECT id,tokens FROM chunk;"
                      "ALTER TABLE chunk DROP COLUMN tokens;"
                      "PRAGMA user_version=7;",
};

static const char *const stmt_sql[SQS_COUNT] = {
#define SQ_STMT_SQL(id, sql) sql,
    SQ_STMT_MAP(SQ_STMT_SQL)
#undef SQ_STMT_SQL
};

int gw_sq_error(gw_sq *sq, int rc, const char *what, char *detail, size_t detail_len)
{
#define CODE(x, err) x, #x, err
    static const struct {
        int code;
        const char *name;
        int err;
    } codes[] = {
        {CODE(SQLITE_FULL, GW_QUEUE_EFULL)},         {CODE(SQLITE_IOERR, GW_QUEUE_EIO)},
        {CODE(SQLITE_CANTOPEN, GW_QUEUE_EIO)},       {CODE(SQLITE_PROTOCOL, GW_QUEUE_EIO)},
        {CODE(SQLITE_CORRUPT, GW_QUEUE_ECORRUPT)},   {CODE(SQLITE_NOTADB, GW_QUEUE_ECORRUPT)},
        {CODE(SQLITE_READONLY, GW_QUEUE_EREADONLY)}, {CODE(SQLITE_PERM, GW_QUEUE_EREADONLY)},
        {CODE(SQLITE_BUSY, GW_QUEUE_EBUSY)},         {CODE(SQLITE_LOCKED, GW_QUEUE_EBUSY)},
        {CODE(SQLITE_NOMEM, APNS_ENOMEM)},           {CODE(SQLITE_ERROR, GW_QUEUE_ESTORE)},
        {CODE(SQLITE_CONSTRAINT, GW_QUEUE_ESTORE)},
    };
#undef CODE
    const char *msg = sq->db != NULL ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc);
    const char *name = "SQLITE_?";
    int err = GW_QUEUE_ESTORE;

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == (rc & 0xff)) {
            name = codes[i].name;
            err = codes[i].err;
        }
    if (detail != NULL && detail_len > 0)
        snprintf(detail, detail_len, "queue database %s: %s (%s, code %d) during %s", sq->path, msg,
                 name, rc, what);
    return err;
}

void gw_sq_bind(sqlite3_stmt *s, const char *types, va_list ap)
{
    for (int i = 0; types[i] != '\0'; i++) {
        if (types[i] == 'i') {
            sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
        } else if (types[i] == 't') {
            const char *v = va_arg(ap, const char *);
            if (v != NULL && v[0] != '\0')
                sqlite3_bind_text(s, i + 1, v, -1, SQLITE_STATIC);
        } else if (types[i] == 'x') { /* text of a length: an FCM token */
            const char *v = va_arg(ap, const char *);
            sqlite3_bind_text(s, i + 1, v, (int)va_arg(ap, size_t), SQLITE_STATIC);
        } else {
            const void *v = va_arg(ap, const void *);
            sqlite3_bind_blob(s, i + 1, v, (int)va_arg(ap, size_t), SQLITE_STATIC);
        }
    }
}

static sqlite3_stmt *stmt_bind(gw_sq *sq, enum gw_sq_stmt id, const char *types, va_list ap)
{
    sqlite3_stmt *s = sq->st[id];

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    gw_sq_bind(s, types, ap);
    return s;
}

sqlite3_stmt *gw_sq_stmt(gw_sq *sq, enum gw_sq_stmt id, const char *types, ...)
{
    sqlite3_stmt *s;
    va_list ap;

    va_start(ap, types);
    s = stmt_bind(sq, id, types, ap);
    va_end(ap);
    return s;
}

int gw_sq_run(gw_sq *sq, char *detail, size_t detail_len, const char *what, enum gw_sq_stmt id,
              const char *types, ...)
{
    sqlite3_stmt *s;
    va_list ap;
    int rc;

    va_start(ap, types);
    s = stmt_bind(sq, id, types, ap);
    va_end(ap);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : gw_sq_error(sq, rc, what, detail, detail_len);
}

static int exec(gw_sq *sq, const char *sql, const char *what, char *detail, size_t len)
{
    int rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : gw_sq_error(sq, rc, what, detail, len);
}

static int take_lock(gw_sq *sq, char *detail, size_t len)
{
    size_t n = strlen(sq->path) + 6;
    char *lock_path = malloc(n);

    if (lock_path == NULL)
        return APNS_ENOMEM;
    snprintf(lock_path, n, "%s-lock", sq->path);
    sq->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sq->lock_fd < 0) {
        int e = errno;
        snprintf(detail, len, "queue database %s: cannot open lock file %s: %s", sq->path,
                 lock_path, strerror(e));
        free(lock_path);
        return e == EROFS || e == EACCES ? GW_QUEUE_EREADONLY : GW_QUEUE_EIO;
    }
    if (flock(sq->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(detail, len, "queue database %s is in use by another process (lock file %s)",
                 sq->path, lock_path);
        free(lock_path);
        return GW_QUEUE_EBUSY;
    }
    free(lock_path);
    return 0;
}

/* The database holds every payload and token: created 0600 whatever the
 * umask (SQLite gives its -wal and -shm files the database file's mode),
 * and a warning when an existing one can be read by every user. */
static int create_private(gw_sq *sq, char *detail, size_t len)
{
    int fd = open(sq->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    struct stat st;

    if (fd >= 0) {
        int rc = fchmod(fd, 0600);
        int e = errno;
        close(fd);
        if (rc == 0)
            return 0;
        snprintf(detail, len, "queue database %s: cannot make it private (chmod 600): %s", sq->path,
                 strerror(e));
        return GW_QUEUE_EIO;
    }
    if (errno == EEXIST && stat(sq->path, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & S_IROTH))
        gw_queue__log(sq->q, APNS_LOG_WARN,
                      "queue database %s is readable by every user (mode %04o) and holds every "
                      "payload and device token: chmod 600 it (and its -wal and -shm files)",
                      sq->path, (unsigned)(st.st_mode & 07777));
    return 0; /* any other failure: sqlite3_open_v2 reports it */
}

static int read_depth(gw_sq *sq, char *detail, size_t len)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(
        sq->db,
        "SELECT COALESCE(SUM(n-n_accepted-n_rejected-n_expired-n_failed-n_cancelled),0)"
        " FROM job WHERE finished IS NULL",
        -1, &s, NULL);

    if (rc != SQLITE_OK)
        return gw_sq_error(sq, rc, "open (depth)", detail, len);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        gw_queue__depth_rebase(sq->q, sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : gw_sq_error(sq, rc, "open (depth)", detail, len);
}

static int schema_version(gw_sq *sq, int *v, char *detail, size_t len)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(sq->db, "PRAGMA user_version", -1, &s, NULL);

    if (rc != SQLITE_OK)
        return gw_sq_error(sq, rc, "open (schema)", detail, len);
    rc = sqlite3_step(s);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : gw_sq_error(sq, rc, "open (schema)", detail, len);
}

/* The meta table's "written_by" of a file (a newer one), or "an unknown
 * version". */
static void written_by(gw_sq *sq, char *out, size_t len)
{
    sqlite3_stmt *s = NULL;

    snprintf(out, len, "an unknown version");
    if (sqlite3_prepare_v2(sq->db, "SELECT value FROM meta WHERE key='written_by'", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
        snprintf(out, len, "apnsd %.40s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

/* Creates the schema (version 0: a new file) or migrates an older one, in
 * the open transaction. */
static int schema_update(gw_sq *sq, int version, char *detail, size_t len)
{
    int rc;

    if (version == 0)
        return exec(sq, schema_sql, "open (schema)", detail, len);
    for (int v = version; v < SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof(what), "open (migrate schema %d to %d)", v, v + 1);
        rc = exec(sq, migrations[v - 1], what, detail, len);
        if (rc != 0)
            return rc;
    }
    if (version < SCHEMA_VERSION)
        gw_queue__log(sq->q, APNS_LOG_INFO,
                      "queue database %s migrated from schema version %d to %d", sq->path, version,
                      SCHEMA_VERSION);
    return 0;
}

static int set_pragmas(gw_sq *sq, char *detail, size_t len)
{
    char sql[128];
    int rc;

    sqlite3_busy_timeout(sq->db, 5000);
    if (!sq->read_only) {
        rc = exec(sq, "PRAGMA journal_mode=WAL", "open (journal_mode=WAL)", detail, len);
        if (rc != 0)
            return rc;
    }
    /* A 2 MiB page cache (SQLite's default size), not a bigger one: the
     * queue's hot pages are the B-trees' right edges and the chunks in
     * flight, and a page the cache dropped comes back from the OS page
     * cache with one pread. A 16 MiB cache kept growing the storage
     * thread's heap (about 2,400 page faults and 1,600 mprotect calls per
     * 200k small-job tokens after a start, against 70-400 and 24-240) and
     * cost the storage thread about a fifth more CPU in every workload
     * measured (BENCHMARKS.md, "The storage thread's page cache"). */
    rc = exec(sq,
              "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;"
              "PRAGMA cache_size=-2048; PRAGMA journal_size_limit=67108864;",
              "open (pragmas)", detail, len);
    if (rc != 0)
        return rc;
    sq->sync_full = 1;
    if (sq->so.max_db_bytes > 0) {
        snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld",
                 (long long)(sq->so.max_db_bytes / 4096 + 1));
        rc = exec(sq, sql, "open (max_page_count)", detail, len);
    }
    return rc;
}

int gw_sq_db_open(gw_sq *sq, char *detail, size_t len)
{
    int flags, rc, version = 0;

    sq->lock_fd = -1;
    sq->read_only = sq->so.read_only != 0;
    if (!sq->read_only) {
        rc = take_lock(sq, detail, len);
        if (rc != 0)
            return rc;
    }
    if (!sq->read_only) {
        rc = create_private(sq, detail, len);
        if (rc != 0)
            return rc;
    }
    flags = (sq->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
            SQLITE_OPEN_NOMUTEX;
    rc = sqlite3_open_v2(sq->path, &sq->db, flags, gw_sq_vfs());
    if (rc != SQLITE_OK)
        return gw_sq_error(sq, rc, "open", detail, len);
    sqlite3_extended_result_codes(sq->db, 1);
    if (!sq->read_only && sqlite3_db_readonly(sq->db, "main") == 1) {
        gw_queue__log(sq->q, APNS_LOG_WARN, "queue database %s is not writable: serving read-only",
                      sq->path);
        sq->read_only = 1;
    }
    rc = set_pragmas(sq, detail, len);
    if (rc != 0)
        return rc;
    rc = schema_version(sq, &version, detail, len);
    if (rc != 0)
        return rc;
    if (version == 0 && sq->read_only) {
        snprintf(detail, len, "queue database %s is read-only and has no queue schema", sq->path);
        return GW_QUEUE_EREADONLY;
    }
    if (version > SCHEMA_VERSION) {
        char by[64];
        written_by(sq, by, sizeof(by));
        snprintf(detail, len,
                 "queue database %s has schema version %d (written by %s); this apnsd "
                 "(%s) reads schema versions up to %d: run the newer apnsd, or restore a "
                 "backup taken before the upgrade",
                 sq->path, version, by, APNS_VERSION, SCHEMA_VERSION);
        return GW_QUEUE_ESTORE;
    }
    if (version > 0 && version < SCHEMA_VERSION && sq->read_only) {
        snprintf(detail, len,
                 "queue database %s has schema version %d and is read-only; this apnsd (%s) "
                 "needs version %d and migrates the file when it can write it",
                 sq->path, version, APNS_VERSION, SCHEMA_VERSION);
        return GW_QUEUE_EREADONLY;
    }
    if (!sq->read_only) {
        rc = exec(sq, "BEGIN", "open (schema)", detail, len);
        if (rc == 0)
            rc = schema_update(sq, version, detail, len);
        if (rc == 0)
            rc = gw_sq_idem_schema(sq, detail, len);
        if (rc == 0)
            rc = gw_sq_dead_schema(sq, detail, len);
        /* The lease order's index (store_sqlite_lease.c): made at open, so
         * a file of any schema version gets it and older apnsd ignore it. */
        if (rc == 0)
            rc = exec(sq,
                      "CREATE INDEX IF NOT EXISTS chunk_turn ON chunk(seq, next_at)"
                      " WHERE next_at IS NOT NULL AND lease_owner IS NULL",
                      "open (index chunk_turn)", detail, len);
        if (rc == 0)
            rc = exec(sq,
                      "INSERT INTO meta(key,value) VALUES('written_by','" APNS_VERSION "') "
                      "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                      "open (meta)", detail, len);
        /* Leases are not durable: whoever held them is gone. */
        if (rc == 0)
            rc = exec(sq,
                      "UPDATE chunk SET lease_owner=NULL,lease_until=NULL "
                      "WHERE lease_owner IS NOT NULL",
                      "open (clear leases)", detail, len);
        if (rc == 0)
            rc = exec(sq, "COMMIT", "open (schema)", detail, len);
        if (rc != 0) {
            sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    rc = gw_sq_cancel_register(sq, detail, len);
    if (rc != 0)
        return rc;
    for (int i = 0; i < SQS_COUNT; i++) {
        rc = sqlite3_prepare_v3(sq->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &sq->st[i],
                                NULL);
        if (rc != SQLITE_OK)
            return gw_sq_error(sq, rc, "open (prepare)", detail, len);
    }
    sq->dead_replay_at = sq->read_only ? 0 : 1; /* the first record looks for put-off entries */
    rc = gw_sq_cancel_recover(sq, detail, len);
    if (rc != 0)
        return rc;
    return read_depth(sq, detail, len);
}

void gw_sq_db_close(gw_sq *sq)
{
    for (int i = 0; i < SQS_COUNT; i++) {
        sqlite3_finalize(sq->st[i]);
        sq->st[i] = NULL;
    }
    for (size_t i = 0; i < sizeof(sq->tx) / sizeof(sq->tx[0]); i++) {
        sqlite3_finalize(sq->tx[i]);
        sq->tx[i] = NULL;
    }
    if (sq->db != NULL) {
        if (sqlite3_close(sq->db) != SQLITE_OK)
            gw_queue__log(sq->q, APNS_LOG_WARN, "queue database %s: close: %s", sq->path,
                          sqlite3_errmsg(sq->db));
        sq->db = NULL;
    }
    if (sq->lock_fd >= 0) {
        close(sq->lock_fd);
        sq->lock_fd = -1;
    }
}
