#ifndef CPOWERLOSSVFS_H
#define CPOWERLOSSVFS_H

#include <stdint.h>

/// A SQLite VFS that passes everything to the default one and reports each write, truncation
/// and sync of a database, WAL or journal file to the callbacks: the power-loss simulator's view
/// of the catalog (AFSCore `PowerLossSimulator`). A test seam; nothing calls it in a server.
typedef struct afs_plvfs_callbacks {
    /// Before `count` bytes are written at `offset` of `path`.
    void (*will_write)(const char *path, int64_t offset, int64_t count);
    /// Before `path` is truncated to `length`.
    void (*will_truncate)(const char *path, int64_t length);
    /// After `path` was synced.
    void (*did_sync)(const char *path);
} afs_plvfs_callbacks;

/// Registers the VFS as SQLite's default (once; connections opened later use it) and sets the
/// callbacks (NULL members: not reported). Returns an SQLite result code.
int afs_plvfs_install(afs_plvfs_callbacks callbacks);

/// Stops reporting (the VFS stays registered and passes everything through).
void afs_plvfs_clear(void);

#endif
