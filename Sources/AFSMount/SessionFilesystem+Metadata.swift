import AFSClient
import AFSCore
import Foundation
import Synchronization

extension SessionFilesystem {
    // MARK: Changing attributes

    /// Sets a file's size: through its handle (ftruncate: published at the handle's flush), or by
    /// path (truncate: published before returning).
    public func truncate(path: String?, handle: UInt64?, size: UInt64) throws(Errno) {
        if let handle, let file = openFile(handle: handle) {
            try ensureScratch(file, truncating: size == 0)
            try file.truncate(to: size)
            return
        }
        guard let path else { throw Errno.badDescriptor }
        let h = try open(path, flags: size == 0 ? O_RDWR | O_TRUNC : O_RDWR)
        do throws(Errno) {
            if size > 0, let file = openFile(handle: h) { try file.truncate(to: size) }
            try flush(h)
        } catch {
            try? release(h)
            throw error
        }
        try release(h)
    }

    /// Changes permission bits of a file or directory.
    ///
    /// A path nobody holds open changes at the service in one metadata call (no content moves).
    /// An open file takes the mode at once (this mount's `stat` shows it); if it has unpublished
    /// writes, the mode travels with them when they are published (close, flush, fsync), in the
    /// same service call, as the bytes do; otherwise one metadata call sets it.
    public func chmod(path: String?, handle: UInt64?, mode: UInt32) throws(Errno) {
        let bits = mode & 0o7777
        if let file = handle.flatMap({ openFile(handle: $0) }) ?? path.flatMap({ openFile(at: $0) }) {
            let local = file.state.withLock { $0.dirty || $0.unlinked || $0.remote?.mode == bits }
            try changeOpenFile(file, local: local) { () throws(Errno) in try file.transfer.withLock { _ throws(Errno) in
                let (deferred, unchanged) = file.state.withLock { s -> (Bool, Bool) in
                    let unchanged = s.remote?.mode == bits
                    s.mode = bits
                    return (s.dirty || s.unlinked, unchanged)
                }
                // `cp -p` sets the mode a file was created with: nothing to tell the service.
                if deferred || unchanged { return }
                let current = file.path
                try call("chmod", current) { () throws(AFSError) in try service.setMode(session, path: current, mode: bits, context: context) }
                // Only the mode changed: no need to ask the service again.
                file.state.withLock { $0.remote?.mode = bits }
            } }
            // Only recorded in the open file: its publication settles the parent's listing, which
            // a lookup of the next name in the directory (tar's next file) still needs.
            if local { metadata.forget(file.path) } else { metadata.invalidate(file.path) }
            return
        }
        guard let path else { throw Errno.badDescriptor }
        // `tar x` and `cp -a` set every directory's mode again once its contents are in: an
        // unchanged mode costs no durable call (ext4 would move the change time; nothing we
        // know of reads it after a no-op chmod).
        let current = try attributes(path: path)
        if current.mode == bits { return }
        let linked = (current.nlink ?? 1) > 1
        if current.kind == .directory, writeBack.policy == .writeBack {
            var shown = current
            shown.mode = bits
            shown.ctime = OpenFile.now()
            try queueDirectoryChange(path, shown, .setMode(path, mode: bits), event: .chmod) { [self] () throws(Errno) in
                try call("chmod", path) { () throws(AFSError) in try service.setMode(session, path: path, mode: bits, context: context) }
            }
            return
        }
        try writeBack.perform([path]) { () throws(Errno) in
            try call("chmod", path) { () throws(AFSError) in try service.setMode(session, path: path, mode: bits, context: context) }
        }
        metadata.invalidate(path)
        invalidateOtherNames(of: path, linked: linked)
    }

    /// What `utimensat` asks for one of the two times (the mount stores only the modification time).
    public enum TimeChange: Sendable, Equatable {
        /// `UTIME_OMIT`: leave it.
        case omit
        /// `UTIME_NOW`, or no times given (`touch`): this machine's current time.
        case now
        /// Nanoseconds since 1970.
        case at(Int64)
    }

    /// Sets the modification and access times (`touch`, `tar x`, `cp -p`, `rsync -t`); the service
    /// keeps the modification time until the next write. On an open file with unpublished writes
    /// the modification time waits for them and is published in the same service call (`cp -p`
    /// sets times and mode before `close`: one durable write per file instead of three); a write
    /// in between moves it to now, as POSIX says. The access time is stored when set; on a file
    /// with unpublished writes it is dropped (only the modification time travels with the bytes),
    /// and reads never move it.
    public func setTimes(path: String?, handle: UInt64?, modified: TimeChange, accessed: TimeChange = .omit) throws(Errno) {
        func value(_ change: TimeChange) -> Int64? {
            switch change {
            case .omit: return nil
            case .now: return OpenFile.now()
            case .at(let t): return t
            }
        }
        let mtime = value(modified)
        // Times set on purpose (tar restoring a directory's) replace the floor its entries' creation left.
        if mtime != nil, let path { metadata.clearTouch(path) }
        let atime = value(accessed)
        guard mtime != nil || atime != nil else {
            _ = try attributes(path: path, handle: handle)
            return
        }
        let open = handle.flatMap({ openFile(handle: $0) }) ?? path.flatMap({ openFile(at: $0) })
        if atime != nil, let target = open?.path ?? path { accessTimes.cancel(target) }
        if let file = open {
            let local = file.state.withLock { $0.dirty || $0.unlinked }
            try changeOpenFile(file, local: local) { () throws(Errno) in try file.transfer.withLock { _ throws(Errno) in
                let deferred = file.state.withLock { s -> Bool in
                    guard s.dirty || s.unlinked else { return false }
                    if let mtime { s.pendingMtime = mtime }
                    if let atime { s.pendingAtime = atime }
                    return true
                }
                if deferred { return }
                let current = file.path
                try call("utimens", current) { () throws(AFSError) in
                    try service.setTimes(session, path: current, mtime: mtime, atime: atime, context: context)
                }
                file.state.withLock {
                    if let mtime { $0.remote?.mtime = mtime }
                    if let atime { $0.remote?.atime = atime }
                }
            } }
            // Only recorded in the open file: its publication settles the parent's listing, which
            // a lookup of the next name in the directory (tar's next file) still needs.
            if local { metadata.forget(file.path) } else { metadata.invalidate(file.path) }
            return
        }
        guard let path else { throw Errno.badDescriptor }
        if writeBack.policy == .writeBack, var shown = try? attributes(path: path), shown.kind == .directory {
            // Queued after every change below it (their creations would move its times), and
            // nothing waits: `tar -x` sets each directory's times when it leaves it.
            if let mtime { shown.mtime = mtime }
            if let atime { shown.atime = atime }
            shown.ctime = OpenFile.now()
            try queueDirectoryChange(path, shown, .setTimes(path, mtime: mtime, atime: atime), event: .touch) { [self] () throws(Errno) in
                try call("utimens", path) { () throws(AFSError) in
                    try service.setTimes(session, path: path, mtime: mtime, atime: atime, context: context)
                }
            }
            return
        }
        let linked = isLinked(path)
        // After every queued change below it: their creations would move a directory's times.
        try writeBack.perform([path]) { () throws(Errno) in
            try call("utimens", path) { () throws(AFSError) in
                try service.setTimes(session, path: path, mtime: mtime, atime: atime, context: context)
            }
        }
        metadata.invalidate(path)
        invalidateOtherNames(of: path, linked: linked)
    }

    /// Takes the service's current attributes for an open file (after an upload); nil when the
    /// service could not say.
    @discardableResult
    func refreshRemote(_ file: OpenFile) -> FileAttributes? {
        guard let stat = try? service.stat(session, path: file.path) else { return nil }
        let attributes = FileAttributes(stat)
        file.state.withLock { $0.remote = attributes }
        return attributes
    }

    /// Runs a change of an open file: directly when it only records something in the file (a
    /// mode or time that travels with its unpublished bytes: no service call, nothing to wait
    /// for), else in order with the queued changes it depends on. `body` takes the file's
    /// transfer lock itself.
    func changeOpenFile(_ file: OpenFile, local: Bool, _ body: () throws(Errno) -> Void) throws(Errno) {
        if local {
            try body()
        } else {
            try writeBack.perform([file.path]) { () throws(Errno) in try body() }
        }
    }
}
