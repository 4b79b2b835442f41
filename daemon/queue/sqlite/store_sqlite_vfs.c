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
 * buffer while they follow one another, and go to the file in one write:
 *  - at the write of a commit frame's page (its header, the write before,
 *    carries the commit mark: a database size in bytes 4-7). So a commit's
 *    frames are in the file before sqlite3WalFrames() goes on to sync
 *    (FULL), index and publish them (the wal-index header, across a
 *    barrier), and a failure is that write's error, inside the commit,
 *    which SQLite then rolls back: the bytes are dropped, and no reader, in
 *    this process or another, nor a recovery after a crash, ever sees a
 *    commit whose frames are not in the file;
 *  - a commit frame's header written alone (SQLite rewrites checksums after
 *    reading the frame back) goes straight through, and its page, if one
 *    follows (the recovery's last read can sit where the next commit
 *    starts), writes the commit as above;
 *  - before any other operation on the -wal (read, sync, truncate, file
 *    control, lock, close), which fails with that write's error; its size
 *    counts what waits, without writing it (SQLite asks in the middle of a
 *    commit, to limit the WAL's size, and ignores an error there);
 *  - as a safety net, before any lock, shared-memory lock, barrier, sync or
 *    unmap of the database file the -wal belongs to (nothing should wait
 *    there but the frames of a transaction that spilled pages before its
 *    commit; bytes found waiting at a barrier are about to be published
 *    and are never dropped).
 * Without powersafe overwrite (a device that does not promise it) SQLite
 * pads each commit to a sector and writes part of the last frame after the
 * sync: such a -wal is passed through unchanged.
 * Reads, writes, size queries and file controls (every PRAGMA sends one) of
 * the database file itself do not depend on the -wal's bytes (a checkpoint
 * reads the -wal first).
 *
 * Only overwrites wait. A write that would grow the file, as far as this
 * connection knows its size, goes through at once (after what waits).
 * SQLite restarts the WAL from its beginning after each complete checkpoint
 * (about every 1,000 pages), so from then on every frame is an overwrite.
 *
 * Failed writes. A failure at a write or sync of the -wal fails the
 * transaction in progress, which SQLite rolls back, and what waited is
 * dropped (its frames must never reach the file later, where they could
 * pass for a commit after a crash). At the database file's operations
 * (which cannot fail a commit: it was written at its commit frame) the
 * bytes are a transaction's spilled pages: they are kept and written first
 * by every later operation, which fails meanwhile, except when the WAL's
 * write lock is given up: then the transaction ended without a commit and
 * they are dropped, so that no late write lands on another writer's frames.
 * (Bytes a barrier found waiting are about to be published and are never
 * dropped; if they are still unwritten when the write lock goes, the -wal
 * is broken: every later operation fails. No SQLite path is known to leave
 * bytes waiting at a barrier; this is the safety net's own safety net.)
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
    int failed;                /* -wal: writing buf failed; it is kept */
    int published;             /* -wal: a barrier found buf waiting: never dropped */
    int broken;                /* -wal: published bytes unwritten when the write lock went */
    sqlite3_int64 commit_page; /* -wal: where a waiting commit frame's page goes, or -1 */
    sqlite3_int64 read_off;    /* -wal: the offset of the last read, -1 after a write */
    sqlite3_int64 off;
    sqlite3_int64 size; /* -wal: the file's size, as far as written */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_vfs vfs;
static sqlite3_vfs *base_vfs;
static vfs_file *open_dbs;

#define REAL(f) (((vfs_file *)(f))->real)

/* ---- the -wal's waiting bytes ---- */

/* Writes what waits. When that fails, the bytes are dropped (drop: a write
 * or sync of the -wal, whose error fails the transaction they belong to,
 * or the end of that transaction) or kept (failed: every later operation
 * writes them first, or fails). */
static int wal_flush(vfs_file *w, int drop)
{
    int rc;

    if (w == NULL)
        return SQLITE_OK;
    if (w->broken)
        return SQLITE_IOERR;
    if (w->len == 0)
        return SQLITE_OK;
    rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
    if (rc != SQLITE_OK) {
        if (drop && !w->published)
            w->len = 0, w->failed = 0;
        else
            w->failed = 1;
        return rc;
    }
    if (w->off + (sqlite3_int64)w->len > w->size)
        w->size = w->off + (sqlite3_int64)w->len;
    w->len = 0;
    w->failed = w->published = 0;
    return SQLITE_OK;
}

static int wal_flush_keep(vfs_file *w)
{
    return wal_flush(w, 0);
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

/* Writes n bytes at off now (nothing may be waiting before them). */
static int write_through(vfs_file *w, const void *data, int n, sqlite3_int64 off)
{
    int rc = w->real->pMethods->xWrite(w->real, data, n, off);

    if (rc == SQLITE_OK && off + n > w->size)
        w->size = off + n;
    return rc;
}

/* Puts n bytes at off: into what waits, or through. */
static int wal_put(vfs_file *w, const void *data, int n, sqlite3_int64 off)
{
    sqlite3_int64 end = off + n;
    int rc;

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
    return write_through(w, data, n, off);
}

/* A WAL frame's header (24 bytes, after the 32-byte WAL header) with the
 * commit mark: bytes 4-7, the database's size in pages after the commit,
 * are not 0 (sqlite3WalFrames). */
#define WAL_HDR_SIZE   32
#define FRAME_HDR_SIZE 24

static int commit_header(const void *data, int n, sqlite3_int64 off)
{
    const unsigned char *b = data;
    return n == FRAME_HDR_SIZE && off >= WAL_HDR_SIZE && (b[4] | b[5] | b[6] | b[7]) != 0;
}

static int wal_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
    vfs_file *w = (vfs_file *)f;
    int commit = n > 0 && commit_header(data, n, off), rewrite = off == w->read_off, rc;
    sqlite3_int64 page = w->commit_page;

    w->read_off = w->commit_page = -1;
    if (w->broken)
        return SQLITE_IOERR_WRITE;
    if (w->failed) { /* nothing joins bytes that could not be written */
        rc = wal_flush(w, 1);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (n <= 0 || (commit && rewrite)) {
        /* A commit frame's header rewritten after a read of its frame
         * (checksums): through, now. The read may also have been the
         * recovery's last look past the WAL's end, where the next commit
         * writes its first frame: if a page follows, it writes the
         * commit as usual. */
        rc = wal_flush(w, 1);
        if (rc == SQLITE_OK)
            rc = write_through(w, data, n, off);
        if (rc == SQLITE_OK && commit)
            w->commit_page = off + n;
        return rc;
    }
    rc = wal_put(w, data, n, off);
    if (rc != SQLITE_OK)
        return rc;
    if (commit)
        w->commit_page = off + n; /* its page comes next */
    else if (off == page)
        rc = wal_flush(w, 1); /* a commit's last frame: the commit is written */
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
    vfs_file *w = (vfs_file *)f;
    int rc = wal_flush_keep(w);

    w->read_off = off;
    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, b, n, off);
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
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
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

/* The WAL's write lock is shared-memory lock 0 (wal.c, WAL_WRITE_LOCK). */
#define WAL_WRITE_LOCK 0

static int db_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    /* Giving up the write lock ends a transaction: what still waits then
     * is a rolled-back transaction's spilled pages (a commit was written at
     * its commit frame), dropped if they cannot be written. */
    int end = (flags & SQLITE_SHM_UNLOCK) && (flags & SQLITE_SHM_EXCLUSIVE) &&
              offset <= WAL_WRITE_LOCK && offset + n > WAL_WRITE_LOCK;
    vfs_file *w = DB_WAL(f);
    int rc = wal_flush(w, end), rc2;

    /* Bytes a barrier found (published) and still not written when the
     * write lock goes: another writer may now restart the WAL over them,
     * so they can never be written later. The -wal is broken: every later
     * operation fails (the store fails, as on any I/O error). */
    if (rc != SQLITE_OK && end && w != NULL && w->published)
        w->broken = 1;
    if (rc != SQLITE_OK && !(flags & SQLITE_SHM_UNLOCK))
        return rc;
    rc2 = REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
    return rc != SQLITE_OK ? rc : rc2;
}

static void db_shm_barrier(sqlite3_file *f)
{
    /* A safety net: nothing should wait here. Whatever does is about to
     * be published, so it is never dropped. */
    vfs_file *w = DB_WAL(f);
    if (w != NULL && w->len > 0) {
        w->published = 1;
        (void)wal_flush_keep(w);
    }
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

/* The unmap happens even when writing what waits fails (SQLite ignores
 * this error and never unmaps again). */
static int db_shm_unmap(sqlite3_file *f, int del)
{
    int rc = wal_flush_keep(DB_WAL(f));
    int rc2 = REAL(f)->pMethods->xShmUnmap(REAL(f), del);
    return rc != SQLITE_OK ? rc : rc2;
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
    /* Without powersafe overwrite SQLite pads a commit to a sector and
     * writes part of its last frame after the sync: not waited for. */
    if (db != NULL &&
        !(db->real->pMethods->xDeviceCharacteristics(db->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE))
        db = NULL;
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
        f->commit_page = f->read_off = -1;
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
