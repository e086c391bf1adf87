#include "CPowerLossVFS.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

// The callbacks, replaced as a whole under a lock and read under it (tests only: no hot path).
static pthread_mutex_t callbacks_lock = PTHREAD_MUTEX_INITIALIZER;
static afs_plvfs_callbacks callbacks;
static sqlite3_vfs *real_vfs;
static sqlite3_vfs wrapper_vfs;
static int installed;

// A file of the wrapper: the real file's struct follows it in the same allocation.
typedef struct wrapped_file {
    sqlite3_file base;
    const char *path;  // owned by SQLite, valid until xClose
    sqlite3_file *real;
} wrapped_file;

static afs_plvfs_callbacks current(void) {
    pthread_mutex_lock(&callbacks_lock);
    afs_plvfs_callbacks c = callbacks;
    pthread_mutex_unlock(&callbacks_lock);
    return c;
}

#define REAL(f) (((wrapped_file *)(f))->real)

static int w_close(sqlite3_file *f) {
    int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
    return rc;
}
static int w_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off) { return REAL(f)->pMethods->xRead(REAL(f), buf, n, off); }
static int w_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off) {
    afs_plvfs_callbacks c = current();
    if (c.will_write && ((wrapped_file *)f)->path) c.will_write(((wrapped_file *)f)->path, off, n);
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int w_truncate(sqlite3_file *f, sqlite3_int64 size) {
    afs_plvfs_callbacks c = current();
    if (c.will_truncate && ((wrapped_file *)f)->path) c.will_truncate(((wrapped_file *)f)->path, size);
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int w_sync(sqlite3_file *f, int flags) {
    int rc = REAL(f)->pMethods->xSync(REAL(f), flags);
    afs_plvfs_callbacks c = current();
    if (rc == SQLITE_OK && c.did_sync && ((wrapped_file *)f)->path) c.did_sync(((wrapped_file *)f)->path);
    return rc;
}
static int w_file_size(sqlite3_file *f, sqlite3_int64 *size) { return REAL(f)->pMethods->xFileSize(REAL(f), size); }
static int w_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int w_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int w_check_reserved(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
static int w_file_control(sqlite3_file *f, int op, void *arg) { return REAL(f)->pMethods->xFileControl(REAL(f), op, arg); }
static int w_sector_size(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int w_device_characteristics(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int w_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **p) { return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, p); }
static int w_shm_lock(sqlite3_file *f, int offset, int n, int flags) { return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags); }
static void w_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int w_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
// No memory-mapped reads: every page read and write goes through xRead and xWrite.
static int w_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp) {
    (void)f; (void)off; (void)amt;
    *pp = 0;
    return SQLITE_OK;
}
static int w_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) { (void)f; (void)off; (void)p; return SQLITE_OK; }

static const sqlite3_io_methods wrapped_methods = {
    3, w_close, w_read, w_write, w_truncate, w_sync, w_file_size, w_lock, w_unlock, w_check_reserved, w_file_control,
    w_sector_size, w_device_characteristics, w_shm_map, w_shm_lock, w_shm_barrier, w_shm_unmap, w_fetch, w_unfetch,
};

static int w_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags) {
    (void)vfs;
    wrapped_file *w = (wrapped_file *)file;
    w->real = (sqlite3_file *)&w[1];
    w->path = name;
    int rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
    file->pMethods = w->real->pMethods ? &wrapped_methods : 0;
    return rc;
}
static int w_delete(sqlite3_vfs *v, const char *n, int sync) { (void)v; return real_vfs->xDelete(real_vfs, n, sync); }
static int w_access(sqlite3_vfs *v, const char *n, int flags, int *out) { (void)v; return real_vfs->xAccess(real_vfs, n, flags, out); }
static int w_full_pathname(sqlite3_vfs *v, const char *n, int size, char *out) { (void)v; return real_vfs->xFullPathname(real_vfs, n, size, out); }
static void *w_dl_open(sqlite3_vfs *v, const char *n) { (void)v; return real_vfs->xDlOpen(real_vfs, n); }
static void w_dl_error(sqlite3_vfs *v, int n, char *out) { (void)v; real_vfs->xDlError(real_vfs, n, out); }
static void (*w_dl_sym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return real_vfs->xDlSym(real_vfs, h, s); }
static void w_dl_close(sqlite3_vfs *v, void *h) { (void)v; real_vfs->xDlClose(real_vfs, h); }
static int w_randomness(sqlite3_vfs *v, int n, char *out) { (void)v; return real_vfs->xRandomness(real_vfs, n, out); }
static int w_sleep(sqlite3_vfs *v, int us) { (void)v; return real_vfs->xSleep(real_vfs, us); }
static int w_current_time(sqlite3_vfs *v, double *out) { (void)v; return real_vfs->xCurrentTime(real_vfs, out); }
static int w_last_error(sqlite3_vfs *v, int n, char *out) { (void)v; return real_vfs->xGetLastError(real_vfs, n, out); }
static int w_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out) { (void)v; return real_vfs->xCurrentTimeInt64(real_vfs, out); }

int afs_plvfs_install(afs_plvfs_callbacks c) {
    pthread_mutex_lock(&callbacks_lock);
    callbacks = c;
    int rc = SQLITE_OK;
    if (!installed) {
        real_vfs = sqlite3_vfs_find(0);
        if (!real_vfs) {
            rc = SQLITE_ERROR;
        } else {
            memset(&wrapper_vfs, 0, sizeof wrapper_vfs);
            wrapper_vfs.iVersion = 2;
            wrapper_vfs.szOsFile = (int)sizeof(wrapped_file) + real_vfs->szOsFile;
            wrapper_vfs.mxPathname = real_vfs->mxPathname;
            wrapper_vfs.zName = "afs-power-loss";
            wrapper_vfs.xOpen = w_open;
            wrapper_vfs.xDelete = w_delete;
            wrapper_vfs.xAccess = w_access;
            wrapper_vfs.xFullPathname = w_full_pathname;
            wrapper_vfs.xDlOpen = w_dl_open;
            wrapper_vfs.xDlError = w_dl_error;
            wrapper_vfs.xDlSym = w_dl_sym;
            wrapper_vfs.xDlClose = w_dl_close;
            wrapper_vfs.xRandomness = w_randomness;
            wrapper_vfs.xSleep = w_sleep;
            wrapper_vfs.xCurrentTime = w_current_time;
            wrapper_vfs.xGetLastError = w_last_error;
            wrapper_vfs.xCurrentTimeInt64 = w_current_time_int64;
            rc = sqlite3_vfs_register(&wrapper_vfs, 1);
            if (rc == SQLITE_OK) installed = 1;
        }
    }
    pthread_mutex_unlock(&callbacks_lock);
    return rc;
}

void afs_plvfs_clear(void) {
    pthread_mutex_lock(&callbacks_lock);
    memset(&callbacks, 0, sizeof callbacks);
    pthread_mutex_unlock(&callbacks_lock);
}
