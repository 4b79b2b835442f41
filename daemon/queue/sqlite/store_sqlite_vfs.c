/*
 * store_sqlite_vfs.c - the queue database's VFS: the default one, with the
 * writes of each WAL commit gathered into one write.
 *
 * Design note
 * -----------
 * Why. SQLite writes a WAL frame with two writes (its 24-byte header, then
 * the page), so a commit of N pages costs 2N pwrite calls. A round of 200k
 * small-job tokens made about 17,000 of them: a large share of the storage
 * thread's kernel time (issue 16; BENCHMARKS.md, "The WAL's writes").
 *
 * What. This VFS is the default VFS (the one that was the default when the
 * first queue opened) with one change: the -wal file's writes wait in a
 * buffer while they follow one another, and go to the file in one write as
 * soon as anything could depend on them:
 *  - any other operation on the -wal file (read, sync, truncate, file
 *    control, lock, close) first writes what waits and fails with that
 *    write's error (its size counts what waits, without writing it);
 *  - so does any lock, shared-memory lock, barrier, sync, file control or
 *    close of the database file the -wal belongs to. SQLite makes a commit
 *    visible (the wal-index header) only across a barrier on the database
 *    file, and releases the WAL's write lock through a shared-memory lock;
 *    so no reader or writer, in this process or another, can see a frame
 *    that is not in the file.
 * A commit with synchronous=FULL syncs the -wal before its barrier: its
 * frames are written and synced, and a failure fails that commit, as
 * before. Reads, writes and size queries of the database file itself do
 * not depend on the -wal's bytes (a checkpoint reads the -wal first).
 *
 * Only overwrites wait. A write that would grow the file goes through at
 * once (after what waits), so a full disk (ENOSPC) fails the write that
 * meets it, inside its transaction, and never a barrier, which cannot
 * report an error. SQLite restarts the WAL from its beginning after each
 * complete checkpoint (about every 1,000 pages), so from then on every
 * frame is an overwrite.
 *
 * Failed writes. The -wal's own writes and syncs report an error to the
 * commit in progress, which SQLite then rolls back: bytes of it that could
 * not be written are dropped there, so its frames never reach the file
 * later, where they could pass for a commit after a crash. Everywhere else
 * the bytes are kept, and every later operation writes them first or fails
 * with the error: at a barrier (which cannot report an error) SQLite goes
 * on to publish the commit, and SQLite ignores some errors (an unlock's,
 * the WAL size limit's). Only overwrites wait, so such an error is an I/O
 * error, never a full disk; the store then fails as for any I/O error
 * until the disk takes the bytes. A commit whose bytes failed at its
 * barrier learns of it from its unlock: the store counts it as failed (and
 * resends its outcomes) although its rows reach the file once the disk
 * takes them. Only a commit with synchronous=NORMAL can be in that state (a
 * FULL one was written by its sync), and it is the kind a power loss may
 * lose too: outcomes only, which a restart delivers again (queue_sqlite.c,
 * "Durability").
 *
 * Bounds. At most WAL_BUF_MAX bytes wait; a write that would pass that is
 * preceded by writing what waits. A -wal whose database file is not found
 * among the open ones (it cannot be linked to its barriers) is passed
 * through unchanged, as is every other file (journals, temp files).
 *
 * Threads. Each file is used by one connection, on one thread at a time (a
 * SQLite rule). The list of open database files, which a -wal's open
 * searches, is behind a mutex.
 */
#include "store_sqlite.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define VFS_NAME    "apnsd-wal"
/* The unix VFS writes at most 128 KiB - 1 bytes per call (a longer write
 * comes back short, as SQLITE_FULL), so what waits stays below that. */
#define WAL_BUF_MIN (32 * 1024)
#define WAL_BUF_MAX (124 * 1024)

typedef struct vfs_file vfs_file;
struct vfs_file {
    sqlite3_file base; /* base.pMethods == &methods */
    sqlite3_io_methods methods;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    const char *name;   /* database file: its name, as SQLite passed it */
    vfs_file *wal;      /* database file: its open -wal, or NULL */
    vfs_file *db;       /* -wal: its database file */
    vfs_file *next;     /* database files: the open ones */
    unsigned char *buf; /* -wal: the bytes waiting, for [off, off + len) */
    size_t len, cap;
    int published; /* -wal: buf holds a commit SQLite has published */
    int failed;    /* -wal: writing buf failed; it is kept */
    sqlite3_int64 off;
    sqlite3_int64 size; /* -wal: the file's size, as far as written */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_vfs vfs;
static sqlite3_vfs *base_vfs;
static vfs_file *open_dbs;

#define REAL(f) (((vfs_file *)(f))->real)

/* ---- the -wal's waiting bytes ---- */

/* Writes what waits. When that fails, the bytes are kept (failed: every
 * later operation writes them first, or fails), except where SQLite acts
 * on the error by rolling back the transaction they belong to (may_drop:
 * the -wal's own writes and syncs) and they are not yet published: then
 * they are dropped, because the frames of a rolled-back commit must never
 * reach the file later, where they could pass for a commit after a crash.
 * (SQLite ignores some errors, e.g. of an unlock: bytes kept there are
 * written by the next operation.) */
static int wal_flush(vfs_file *w, int may_drop)
{
    int rc;

    if (w == NULL || w->len == 0)
        return SQLITE_OK;
    rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
    if (rc != SQLITE_OK) {
        if (may_drop && !w->published)
            w->len = 0, w->failed = 0;
        else
            w->failed = 1;
        return rc;
    }
    if (w->off + (sqlite3_int64)w->len > w->size)
        w->size = w->off + (sqlite3_int64)w->len;
    w->len = 0;
    w->published = w->failed = 0;
    return SQLITE_OK;
}

static int wal_flush_keep(vfs_file *w)
{
    return wal_flush(w, 0);
}

/* At a barrier on the database file: SQLite is about to publish what
 * waits as committed (and a barrier cannot report an error). */
static void wal_publish(vfs_file *w)
{
    if (w == NULL || w->len == 0)
        return;
    w->published = 1;
    (void)wal_flush_keep(w);
}

/* Makes room for len + n bytes; 0 when it cannot (then nothing waits more). */
static int wal_room(vfs_file *w, size_t n)
{
    size_t cap = w->cap ? w->cap : WAL_BUF_MIN;
    unsigned char *b;

    if (w->len + n <= w->cap)
        return 1;
    if (w->len + n > WAL_BUF_MAX)
        return 0;
    while (cap < w->len + n)
        cap *= 2;
    if (cap > WAL_BUF_MAX)
        cap = WAL_BUF_MAX;
    b = realloc(w->buf, cap);
    if (b == NULL)
        return 0;
    w->buf = b;
    w->cap = cap;
    return 1;
}

static int wal_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
    vfs_file *w = (vfs_file *)f;
    sqlite3_int64 end = off + n;
    int rc;

    if (w->failed) { /* nothing joins bytes that could not be written */
        rc = wal_flush(w, 1);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (n <= 0)
        return w->real->pMethods->xWrite(w->real, data, n, off);
    /* Within what waits: rewritten in place (SQLite rewrites a frame of the
     * same transaction when it writes its page again). */
    if (w->len > 0 && off >= w->off && end <= w->off + (sqlite3_int64)w->len) {
        memcpy(w->buf + (off - w->off), data, (size_t)n);
        return SQLITE_OK;
    }
    /* Right after what waits, an overwrite, and room: it waits too. */
    if (w->len > 0 && off == w->off + (sqlite3_int64)w->len && end <= w->size &&
        wal_room(w, (size_t)n)) {
        memcpy(w->buf + w->len, data, (size_t)n);
        w->len += (size_t)n;
        return SQLITE_OK;
    }
    rc = wal_flush(w, 1);
    if (rc != SQLITE_OK)
        return rc;
    if (end <= w->size && wal_room(w, (size_t)n)) {
        memcpy(w->buf, data, (size_t)n);
        w->off = off;
        w->len = (size_t)n;
        return SQLITE_OK;
    }
    rc = w->real->pMethods->xWrite(w->real, data, n, off);
    if (rc == SQLITE_OK && end > w->size)
        w->size = end;
    return rc;
}

static int wal_close(sqlite3_file *f)
{
    vfs_file *w = (vfs_file *)f;
    int rc = wal_flush_keep(w), rc2;

    if (w->db != NULL && w->db->wal == w)
        w->db->wal = NULL;
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
    rc2 = w->real->pMethods->xClose(w->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    int rc = wal_flush_keep((vfs_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    vfs_file *w = (vfs_file *)f;
    int rc = wal_flush_keep(w);

    if (rc == SQLITE_OK)
        rc = w->real->pMethods->xTruncate(w->real, size);
    if (rc == SQLITE_OK)
        w->size = size;
    return rc;
}

static int wal_sync(sqlite3_file *f, int flags)
{
    int rc = wal_flush((vfs_file *)f, 1);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

/* The size counts what waits, without writing it: SQLite asks for it in
 * the middle of a commit (to limit the WAL's size) and ignores an error
 * there. */
static int wal_size(sqlite3_file *f, sqlite3_int64 *size)
{
    vfs_file *w = (vfs_file *)f;
    int rc = w->real->pMethods->xFileSize(w->real, size);

    if (rc == SQLITE_OK && w->len > 0 && w->off + (sqlite3_int64)w->len > *size)
        *size = w->off + (sqlite3_int64)w->len;
    return rc;
}

static int wal_lock(sqlite3_file *f, int l)
{
    int rc = wal_flush_keep((vfs_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xLock(REAL(f), l);
}

static int wal_unlock(sqlite3_file *f, int l)
{
    int rc = wal_flush_keep((vfs_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int wal_check_lock(sqlite3_file *f, int *out)
{
    int rc = wal_flush_keep((vfs_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int wal_control(sqlite3_file *f, int op, void *arg)
{
    int rc = wal_flush_keep((vfs_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

/* ---- the database file: its locks and barriers write the -wal's bytes ---- */

#define DB_WAL(f) (((vfs_file *)(f))->wal)

static int db_close(sqlite3_file *f)
{
    vfs_file *d = (vfs_file *)f, **p;
    int rc = wal_flush_keep(d->wal);

    if (d->wal != NULL)
        d->wal->db = NULL;
    pthread_mutex_lock(&mu);
    for (p = &open_dbs; *p != NULL; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            break;
        }
    pthread_mutex_unlock(&mu);
    int rc2 = d->real->pMethods->xClose(d->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int db_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}

static int db_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, off);
}

static int db_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int db_sync(sqlite3_file *f, int flags)
{
    int rc = wal_flush_keep(DB_WAL(f));
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int db_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int db_lock(sqlite3_file *f, int l)
{
    int rc = wal_flush_keep(DB_WAL(f));
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xLock(REAL(f), l);
}

/* An unlock happens even when writing what waits fails (SQLite counts the
 * lock as given up); the error is reported all the same. */
static int db_unlock(sqlite3_file *f, int l)
{
    int rc = wal_flush_keep(DB_WAL(f));
    int rc2 = REAL(f)->pMethods->xUnlock(REAL(f), l);
    return rc != SQLITE_OK ? rc : rc2;
}

static int db_check_lock(sqlite3_file *f, int *out)
{
    int rc = wal_flush_keep(DB_WAL(f));
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int db_control(sqlite3_file *f, int op, void *arg)
{
    int rc = wal_flush_keep(DB_WAL(f));
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int db_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int db_chars(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int db_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int db_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    int rc = wal_flush_keep(DB_WAL(f)), rc2;

    if (rc != SQLITE_OK && !(flags & SQLITE_SHM_UNLOCK))
        return rc;
    rc2 = REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
    return rc != SQLITE_OK ? rc : rc2;
}

static void db_shm_barrier(sqlite3_file *f)
{
    wal_publish(DB_WAL(f));
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int db_shm_unmap(sqlite3_file *f, int del)
{
    int rc = wal_flush_keep(DB_WAL(f));
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int db_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int db_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods db_methods = {
    3,           db_close,       db_read,       db_write,   db_truncate, db_sync,  db_size,
    db_lock,     db_unlock,      db_check_lock, db_control, db_sector,   db_chars, db_shm_map,
    db_shm_lock, db_shm_barrier, db_shm_unmap,  db_fetch,   db_unfetch,
};

/* The -wal's shared-memory methods are never called (SQLite uses the
 * database file's); they forward like the database file's. */
static const sqlite3_io_methods wal_methods = {
    3,           wal_close,      wal_read,       wal_write,   wal_truncate, wal_sync, wal_size,
    wal_lock,    wal_unlock,     wal_check_lock, wal_control, db_sector,    db_chars, db_shm_map,
    db_shm_lock, db_shm_barrier, db_shm_unmap,   db_fetch,    db_unfetch,
};

/* ---- the VFS ---- */

static vfs_file *find_db(const char *wal_name)
{
    const char *db_name = sqlite3_filename_database(wal_name);
    vfs_file *d;

    pthread_mutex_lock(&mu);
    for (d = open_dbs; d != NULL; d = d->next)
        if (d->name == db_name && d->wal == NULL)
            break;
    pthread_mutex_unlock(&mu);
    return d;
}

static int vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *file, int flags, int *out)
{
    vfs_file *f = (vfs_file *)file;
    vfs_file *db = NULL;
    int rc;

    (void)v;
    if (flags & SQLITE_OPEN_WAL)
        db = name != NULL ? find_db(name) : NULL;
    if (!(flags & SQLITE_OPEN_MAIN_DB) && db == NULL)
        /* Anything else: the default VFS's file, in place. */
        return base_vfs->xOpen(base_vfs, name, file, flags, out);

    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)file + ((sizeof(*f) + 7) & ~(size_t)7));
    rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out);
    if (rc != SQLITE_OK || f->real->pMethods == NULL) {
        /* SQLite closes a file whose pMethods is set, even on failure. */
        if (f->real->pMethods != NULL)
            f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    f->methods = db != NULL ? wal_methods : db_methods;
    if (f->real->pMethods->iVersion < f->methods.iVersion)
        f->methods.iVersion = f->real->pMethods->iVersion;
    f->base.pMethods = &f->methods;
    if (db != NULL) {
        sqlite3_int64 size = 0;
        if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK)
            size = 0; /* nothing waits until the file is known to be that long */
        f->size = size;
        f->db = db;
        db->wal = f;
        return SQLITE_OK;
    }
    f->name = name;
    pthread_mutex_lock(&mu);
    f->next = open_dbs;
    open_dbs = f;
    pthread_mutex_unlock(&mu);
    return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return base_vfs->xFullPathname(base_vfs, name, n, out);
}

const char *gw_sq_vfs(void)
{
    const char *name = NULL;

    pthread_mutex_lock(&mu);
    if (base_vfs == NULL) {
        sqlite3_vfs *d = sqlite3_vfs_find(NULL);
        if (d != NULL && d->iVersion >= 1) {
            vfs = *d;
            vfs.zName = VFS_NAME;
            vfs.szOsFile = (int)((sizeof(vfs_file) + 7) & ~(size_t)7) + d->szOsFile;
            vfs.pNext = NULL;
            vfs.pAppData = NULL;
            vfs.xOpen = vfs_open;
            vfs.xDelete = vfs_delete;
            vfs.xAccess = vfs_access;
            vfs.xFullPathname = vfs_full_pathname;
            base_vfs = d;
            if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
                base_vfs = NULL;
        }
    }
    if (base_vfs != NULL)
        name = VFS_NAME;
    pthread_mutex_unlock(&mu);
    return name;
}
