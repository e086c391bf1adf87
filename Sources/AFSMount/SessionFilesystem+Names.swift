import AFSClient
import AFSCore
import Foundation
import Synchronization

// Hard links, unlink, rmdir and rename: the namespace changes that move or drop names.
extension SessionFilesystem {
    /// `link(2)`: the service records a second name of the file (one inode, one link count, a
    /// change through either name seen through both). An open file's unpublished writes are
    /// published first, so the new name shows them.
    public func link(_ path: String, to newPath: String) throws(Errno) {
        if openFile(at: newPath) != nil { throw Errno.exists }
        try writeBack.perform([path, newPath]) { () throws(Errno) in
            if let file = openFile(at: path) {
                try file.transfer.withLock { _ throws(Errno) in
                    try publishIfNew(file)
                    try uploadLocked(file)
                }
            }
            try call("link", newPath, wrongKind: .notPermitted) { () throws(AFSError) in
                try service.link(session, from: path, to: newPath, context: context)
            }
        }
        entryChanged(newPath)
        // Every existing name, the linked one included: the kernel knows each name as its own
        // node and updates only the link's source time, not its link count.
        invalidateOtherNames(of: newPath, except: [newPath])
    }

    /// Drops this mount's and the kernel's copies of every other name of a hard-linked file: a
    /// change through one name (its data, metadata or link count) shows through all at once. The
    /// kernel knows each name as its own node, so nothing else would tell it.
    func invalidateOtherNames(of path: String, except: Set<String> = [], linked: Bool = true) {
        guard linked else { return }
        forget(otherNames(of: path, linked: true).filter { !except.contains($0) })
    }

    /// The names of the file at `path` other than `path`, when it is `linked` (else none, without asking).
    func otherNames(of path: String, linked: Bool) -> [String] {
        guard linked, let names = try? service.hardLinks(session, path: path) else { return [] }
        return names.filter { $0 != path }
    }

    /// Drops this mount's and the kernel's copies of `names`.
    func forget(_ names: [String]) {
        for name in names {
            metadata.invalidate(name)
            kernel.invalidate(name)
            if let file = openFile(at: name) { refreshRemote(file) }
        }
    }

    /// Whether the entry at `path` (as last seen) has other names.
    func isLinked(_ path: String) -> Bool {
        ((try? attributes(path: path))?.nlink ?? 1) > 1
    }

    /// Removes a file or symlink. An open file stays readable and writable through its handles
    /// and is never uploaded again. With write-back the removal is queued (the path disappears
    /// at once); a hard-linked file is removed synchronously, since its other names change too.
    public func unlink(_ path: String) throws(Errno) {
        let attributes = try self.attributes(path: path)
        if attributes.kind == .directory { throw Errno.isDirectory }
        if (attributes.nlink ?? 1) > 1 {
            try writeBack.perform([path]) { () throws(Errno) in try unlinkLinked(path) }
            return
        }
        accessTimes.moved(path, to: nil)
        var atService = true
        if let file = files.withLock({ $0.byPath.removeValue(forKey: path) }) {
            // After an upload in flight: the file is then at the service and must go there too.
            file.transfer.withLock { _ in
                file.state.withLock { s in
                    s.unlinked = true
                    // A batched publication in flight may have reached it already.
                    atService = s.remote != nil || s.publishing
                }
            }
            retireIfIdle(file)
        }
        let now = OpenFile.now()
        guard atService else {
            // Created and removed before any upload: the service never saw it.
            metadata.touchParent(of: path, at: now)
            return
        }
        try writeBack.submit(path, operation: "unlink", pending: .absent, batchable: removalBatchable(path)) { [self] () throws(Errno) in
            try removeAtService(path, "unlink", wrongKind: .isDirectory)
        }
        metadata.touchParent(of: path, at: now)
    }

    /// The service call of a removal, with the caches it leaves exact. A path already gone (its
    /// removal raced another client's) is what was asked for.
    func removeAtService(_ path: String, _ what: String, wrongKind: Errno) throws(Errno) {
        follower.expect(path, .delete)
        do throws(Errno) {
            try call(what, path, wrongKind: wrongKind) { () throws(AFSError) in
                try service.remove(session, path: path, recursive: false, context: context)
            }
        } catch {
            follower.unexpect(path, .delete)
            metadata.invalidate(path)
            if error == .notFound, writeBack.policy == .writeBack { return }
            throw error
        }
        metadata.settle(path, to: nil)
    }

    /// `unlink` of a name of a hard-linked file: the other names lose a link, so their cached
    /// counts go with this one.
    func unlinkLinked(_ path: String) throws(Errno) {
        let others = otherNames(of: path, linked: true)
        defer { forget(others) }
        let file = files.withLock { $0.byPath.removeValue(forKey: path) }
        defer {
            entryChanged(path)
            accessTimes.moved(path, to: nil)
        }
        if let file {
            try file.transfer.withLock { _ throws(Errno) in
                file.state.withLock { $0.unlinked = true }
                try call("unlink", path, wrongKind: .isDirectory) { () throws(AFSError) in
                    try service.remove(session, path: path, recursive: false, context: context)
                }
            }
            retireIfIdle(file)
        } else {
            try call("unlink", path, wrongKind: .isDirectory) { () throws(AFSError) in
                try service.remove(session, path: path, recursive: false, context: context)
            }
        }
    }

    /// Removes an empty directory. With write-back, emptiness is judged on what the mount shows
    /// (queued removals of its entries count as done) and the removal is queued after them.
    public func removeDirectory(_ path: String) throws(Errno) {
        let attributes = try self.attributes(path: path)
        guard attributes.kind == .directory else { throw Errno.notDirectory }
        let pending = files.withLock { t in t.byPath.keys.contains { $0 != path && MountPath.isWithin($0, path) } }
        if pending { throw Errno.notEmpty }
        if writeBack.policy == .writeBack, !(try list(path)).isEmpty { throw Errno.notEmpty }
        try writeBack.submit(path, operation: "rmdir", pending: .absent, batchable: removalBatchable(path)) { [self] () throws(Errno) in
            try removeAtService(path, "rmdir", wrongKind: .notDirectory)
        }
        metadata.touchParent(of: path, at: OpenFile.now())
    }

    /// `renameat2` flags (Linux ABI values).
    public static let renameNoReplace: UInt32 = 1
    public static let renameExchange: UInt32 = 2

    /// Moves a file or directory. `RENAME_NOREPLACE` refuses an existing destination;
    /// `RENAME_EXCHANGE` is not offered by the service (`EINVAL`, so tools fall back).
    public func rename(_ from: String, to: String, flags: UInt32 = 0) throws(Errno) {
        if flags & SessionFilesystem.renameExchange != 0 { throw Errno.invalid }
        guard flags & ~SessionFilesystem.renameNoReplace == 0 else { throw Errno.invalid }
        let source = try attributes(path: from)
        let destination: FileAttributes?
        do throws(Errno) {
            destination = try attributes(path: to)
        } catch where error == .notFound {
            destination = nil
        }
        if let destination {
            if flags & SessionFilesystem.renameNoReplace != 0 { throw Errno.exists }
            switch (source.kind == .directory, destination.kind == .directory) {
            case (false, true): throw Errno.isDirectory
            case (true, false): throw Errno.notDirectory
            case (true, true):
                // POSIX replaces an empty directory; the service refuses any, so remove it first
                // (queued before the rename, which waits for it).
                try removeDirectory(to)
            case (false, false): break
            }
        }
        // A replaced hard-linked file keeps its other names, one link fewer: their caches go.
        let replacedNames = otherNames(of: to, linked: (destination?.nlink ?? 1) > 1)
        defer { forget(replacedNames) }
        // In order: after every queued change of either path or below them, before any later one.
        try writeBack.perform([from, to]) { () throws(Errno) in try renameNow(from, to: to) }
        accessTimes.moved(from, to: to)
        if source.kind == .directory {
            metadata.invalidateTree(from)
            metadata.invalidateTree(to)
        } else {
            metadata.invalidate(from)
            metadata.invalidate(to)
        }
        let now = OpenFile.now()
        metadata.touchParent(of: from, at: now)
        metadata.touchParent(of: to, at: now)
    }

    /// The service's rename and the open-file table's, once nothing queued stands in between.
    func renameNow(_ from: String, to: String) throws(Errno) {
        let moving = openFile(at: from)
        let perform = { () throws(Errno) in
            if let moving {
                // A file created here and never flushed must exist before the service can move it.
                if moving.state.withLock({ $0.remote == nil }) { moving.state.withLock { $0.dirty = true } }
                try self.uploadLocked(moving)
            }
            try self.call("rename", from, wrongKind: .isDirectory) { () throws(AFSError) in
                try self.service.rename(self.session, from: from, to: to, context: self.context)
            }
            self.files.withLock { t in
                if let replaced = t.byPath.removeValue(forKey: to) { replaced.state.withLock { $0.unlinked = true } }
                for (p, file) in t.byPath.filter({ MountPath.isWithin($0.key, from) }) {
                    let moved = MountPath.rebase(p, from: from, to: to)
                    t.byPath[p] = nil
                    t.byPath[moved] = file
                    file.state.withLock {
                        $0.path = moved
                        // The moved file keeps its number, as the service records it.
                        if p == from, var remote = $0.remote {
                            remote.inode = remote.inode ?? InodeNumber.forPath(from)
                            $0.remote = remote
                        }
                    }
                }
            }
        }
        if let moving {
            try moving.transfer.withLock { _ throws(Errno) in try perform() }
        } else {
            try perform()
        }
    }
}
