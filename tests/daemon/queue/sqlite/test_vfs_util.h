/*
 * test_vfs_util.h - a VFS over the default one, for the SQLite queue tests
 * that need to see or fail what reaches the files (test_queue_faults.c,
 * test_store_sqlite_vfs.c). Every method forwards to the default VFS's
 * file; a test sets tv_on_write / tv_on_sync / tv_on_control to count, or
 * to fail one with the SQLite code it returns (0: go on).
 *
 * tv_install() registers it as the default VFS, named "test-vfs", once per
 * process: the queue's own VFS (store_sqlite_vfs.c) then wraps it, if it is
 * installed before the first queue opens.
 */
#ifndef TEST_VFS_UTIL_H
#define TEST_VFS_UTIL_H

#include <sqlite3.h>

typedef struct tv_file {
    sqlite3_file base;
    sqlite3_file *real;
    int flags; /* xOpen's: SQLITE_OPEN_WAL, SQLITE_OPEN_MAIN_DB, ... */
} tv_file;

static int (*tv_on_write)(const tv_file *f, const void *data, int n, sqlite3_int64 off);
static int (*tv_on_sync)(const tv_file *f);
static int (*tv_on_control)(const tv_file *f, int op, void *arg);
static sqlite3_vfs *tv_real_vfs;
static sqlite3_vfs tv_vfs;

#define TV_REAL(f) (((tv_file *)(f))->real)

static int tv_close(sqlite3_file *f)
{
    return TV_REAL(f)->pMethods->xClose(TV_REAL(f));
}
static int tv_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    return TV_REAL(f)->pMethods->xRead(TV_REAL(f), b, n, off);
}
static int tv_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
    int rc = tv_on_write != NULL ? tv_on_write((tv_file *)f, b, n, off) : 0;
    return rc != 0 ? rc : TV_REAL(f)->pMethods->xWrite(TV_REAL(f), b, n, off);
}
static int tv_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return TV_REAL(f)->pMethods->xTruncate(TV_REAL(f), size);
}
static int tv_sync(sqlite3_file *f, int flags)
{
    int rc = tv_on_sync != NULL ? tv_on_sync((tv_file *)f) : 0;
    return rc != 0 ? rc : TV_REAL(f)->pMethods->xSync(TV_REAL(f), flags);
}
static int tv_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return TV_REAL(f)->pMethods->xFileSize(TV_REAL(f), size);
}
static int tv_lock(sqlite3_file *f, int l)
{
    return TV_REAL(f)->pMethods->xLock(TV_REAL(f), l);
}
static int tv_unlock(sqlite3_file *f, int l)
{
    return TV_REAL(f)->pMethods->xUnlock(TV_REAL(f), l);
}
static int tv_check(sqlite3_file *f, int *out)
{
    return TV_REAL(f)->pMethods->xCheckReservedLock(TV_REAL(f), out);
}
static int tv_control(sqlite3_file *f, int op, void *arg)
{
    int rc = tv_on_control != NULL ? tv_on_control((tv_file *)f, op, arg) : 0;
    return rc != 0 ? rc : TV_REAL(f)->pMethods->xFileControl(TV_REAL(f), op, arg);
}
static int tv_sector(sqlite3_file *f)
{
    return TV_REAL(f)->pMethods->xSectorSize(TV_REAL(f));
}
static int tv_caps(sqlite3_file *f)
{
    return TV_REAL(f)->pMethods->xDeviceCharacteristics(TV_REAL(f));
}
static int tv_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return TV_REAL(f)->pMethods->xShmMap(TV_REAL(f), pg, sz, ext, pp);
}
static int tv_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return TV_REAL(f)->pMethods->xShmLock(TV_REAL(f), off, n, flags);
}
static void tv_shm_barrier(sqlite3_file *f)
{
    TV_REAL(f)->pMethods->xShmBarrier(TV_REAL(f));
}
static int tv_shm_unmap(sqlite3_file *f, int del)
{
    return TV_REAL(f)->pMethods->xShmUnmap(TV_REAL(f), del);
}
static int tv_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return TV_REAL(f)->pMethods->xFetch(TV_REAL(f), off, n, pp);
}
static int tv_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return TV_REAL(f)->pMethods->xUnfetch(TV_REAL(f), off, p);
}

static const sqlite3_io_methods tv_io = {
    3,           tv_close,       tv_read,      tv_write,   tv_truncate, tv_sync, tv_size,
    tv_lock,     tv_unlock,      tv_check,     tv_control, tv_sector,   tv_caps, tv_shm_map,
    tv_shm_lock, tv_shm_barrier, tv_shm_unmap, tv_fetch,   tv_unfetch,
};

static int tv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    tv_file *f = (tv_file *)file;
    int rc;

    (void)vfs;
    f->real = (sqlite3_file *)(f + 1);
    f->flags = flags;
    rc = tv_real_vfs->xOpen(tv_real_vfs, name, f->real, flags, out_flags);
    f->base.pMethods = rc == SQLITE_OK && f->real->pMethods != NULL ? &tv_io : NULL;
    return rc;
}

static void tv_install(void)
{
    if (tv_real_vfs != NULL)
        return;
    tv_real_vfs = sqlite3_vfs_find(NULL);
    tv_vfs = *tv_real_vfs;
    tv_vfs.zName = "test-vfs";
    tv_vfs.szOsFile = (int)sizeof(tv_file) + tv_real_vfs->szOsFile;
    tv_vfs.xOpen = tv_open;
    tv_vfs.pAppData = NULL;
    if (sqlite3_vfs_register(&tv_vfs, 1) != SQLITE_OK)
        tv_real_vfs = NULL;
}

#endif
