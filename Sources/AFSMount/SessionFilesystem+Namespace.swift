import AFSClient
import AFSCore
import Foundation
import Synchronization

extension SessionFilesystem {
    // MARK: Namespace

    /// Creates a directory. With write-back it shows at once and reaches the service from the
    /// queue (before anything created in it); the kernel has checked that the name is free.
    public func makeDirectory(_ path: String, mode: UInt32, caller: Caller = .mounter) throws(Errno) {
        if openFile(at: path) != nil { throw Errno.exists }
        if writeBack.policy == .writeBack {
            do throws(Errno) {
                _ = try attributes(path: path)
                throw Errno.exists
            } catch where error == .notFound {}
        }
        let context = caller.context(self.context)
        let now = OpenFile.now()
        let shown = {
            var a = FileAttributes(
                kind: .directory, mode: mode & 0o7777, size: 0, mtime: now, uid: caller == .mounter ? nil : caller.uid,
                gid: caller == .mounter ? nil : caller.gid, ctime: now)
            a.atime = now
            return a
        }()
        // The mounting user's directories travel in batches (a batch carries one owner: the mount's).
        let batchable = caller != .mounter ? nil : announcedBatchable(path, .mkdir, .makeDirectory(path, mode: mode & 0o7777)) { [self] outcome in
            metadata.store(listing: [], of: path, asOf: metadata.generation)
            metadata.settle(path, to: outcome?.stat.map(FileAttributes.init) ?? shown)
            // The kernel holds the times shown at mkdir; the service stamped its own.
            kernel.invalidateSoon(path)
        }
        try writeBack.submit(path, operation: "mkdir", pending: .directory(shown), batchable: batchable) { [self] () throws(Errno) in
            follower.expect(path, .mkdir)
            do throws(Errno) {
                try call("mkdir", path) { () throws(AFSError) in
                    try service.makeDirectory(session, path: path, parents: false, mode: mode & 0o7777, context: context)
                }
            } catch {
                follower.unexpect(path, .mkdir)
                // What the mount showed was not so: ask the service next time.
                metadata.invalidate(path)
                throw error
            }
            // New, so empty at the service: what is created in it later is queued after this
            // and settles the listing itself. Lookups of new names there then need no call.
            metadata.store(listing: [], of: path, asOf: metadata.generation)
            metadata.settle(path, to: (try? service.stat(session, path: path)).map(FileAttributes.init) ?? shown)
            kernel.invalidateSoon(path)
        }
        metadata.forget(path)
        metadata.touchParent(of: path, at: now)
    }

    /// Creates a symbolic link at `path` pointing to `target`, stored as given: the kernel resolves
    /// it (relative to the link's directory, or absolute on this machine) when a program follows it.
    public func symlink(target: String, at path: String, caller: Caller = .mounter) throws(Errno) {
        if openFile(at: path) != nil { throw Errno.exists }
        let context = caller.context(self.context)
        try writeBack.perform([path]) { () throws(Errno) in
            try call("symlink", path) { () throws(AFSError) in try service.symlink(session, path: path, target: target, context: context) }
        }
        entryChanged(path)
    }

    /// `mknod`: a FIFO, socket or device node is stored as metadata (the mount is `nodev`: no
    /// device is ever opened through it); a regular file is created empty. `mode` is the full
    /// `st_mode` (type and permission bits).
    public func makeNode(_ path: String, mode: UInt32, rdev: UInt64, caller: Caller = .mounter) throws(Errno) {
        if openFile(at: path) != nil { throw Errno.exists }
        guard let kind = EntryKind(typeBits: mode), kind == .file || kind.isSpecial else { throw Errno.invalid }
        let context = caller.context(self.context)
        if kind == .file, (try? attributes(path: path)) != nil { throw Errno.exists }
        try writeBack.perform([path]) { () throws(Errno) in
            if kind == .file {
                try call("mknod", path, wrongKind: .isDirectory) { () throws(AFSError) in
                    try service.writeFile(session, path: path, data: [], mode: mode & 0o7777, context: context)
                }
            } else {
                try call("mknod", path) { () throws(AFSError) in
                    try service.makeNode(session, path: path, kind: kind, mode: mode & 0o7777, rdev: rdev, context: context)
                }
            }
        }
        entryChanged(path)
    }

    /// Records a new owner and/or group (nil: unchanged, `-1` in `chown(2)`). The kernel checked
    /// the caller's right to do so (`default_permissions`) and sends the set-id bits it clears as
    /// a separate mode change; the service clears them too, for callers of the API.
    public func chown(path: String?, handle: UInt64?, uid: UInt32?, gid: UInt32?) throws(Errno) {
        if let file = handle.flatMap({ openFile(handle: $0) }) ?? path.flatMap({ openFile(at: $0) }) {
            // Not while a batched publication of the file is in flight: it left without an owner.
            let local = file.state.withLock { $0.remote == nil && !$0.unlinked && !$0.publishing }
            try changeOpenFile(file, local: local) { () throws(Errno) in try file.transfer.withLock { _ throws(Errno) in
                // A file created here and not yet uploaded (what `tar x` and `cp -a` chown before
                // closing) takes its owner with its first upload, in the same service call.
                let deferred = file.state.withLock { s -> Bool in
                    guard s.remote == nil, !s.unlinked, !s.publishing else { return false }
                    let owner = Caller(uid: uid ?? s.creator?.uid ?? Caller.mounter.uid, gid: gid ?? s.creator?.gid ?? Caller.mounter.gid)
                    s.creator = owner == .mounter ? nil : owner
                    return true
                }
                if deferred { return }
                let current = file.path
                try call("chown", current) { () throws(AFSError) in try service.setOwner(session, path: current, uid: uid, gid: gid, context: context) }
                refreshRemote(file)
            } }
            // Only recorded in the open file: its publication settles the parent's listing, which
            // a lookup of the next name in the directory (tar's next file) still needs.
            if local { metadata.forget(file.path) } else { metadata.invalidate(file.path) }
            return
        }
        guard let path else { throw Errno.badDescriptor }
        // An entry without a recorded owner shows the mounting user's; giving it that owner again
        // (`tar x` and `cp -a` by the mounting user restore their own ids on every entry) records
        // nothing, so the entry stays owned by whoever mounts the session, and costs no call.
        let current = try attributes(path: path)
        if current.uid == nil, current.gid == nil, (uid ?? Caller.mounter.uid) == Caller.mounter.uid, (gid ?? Caller.mounter.gid) == Caller.mounter.gid {
            return
        }
        let linked = (current.nlink ?? 1) > 1
        try writeBack.perform([path]) { () throws(Errno) in
            try call("chown", path) { () throws(AFSError) in try service.setOwner(session, path: path, uid: uid, gid: gid, context: context) }
        }
        metadata.invalidate(path)
        invalidateOtherNames(of: path, linked: linked)
    }

    /// A file created through this mount and never uploaded must exist at the service before
    /// its metadata can change there. The caller holds `file.transfer`.
    func publishIfNew(_ file: OpenFile) throws(Errno) {
        let isNew = file.state.withLock { s -> Bool in
            guard s.remote == nil, !s.unlinked else { return false }
            s.dirty = true
            return true
        }
        if isNew { try uploadLocked(file) }
    }
}
