import AFSSupport
import AFSCore
import Glibc
import Synchronization

/// A file the kernel holds open through the mount, shared by every handle on the same path.
///
/// Reads come from a local descriptor: the content cache's entry while the file is clean, a
/// private scratch copy once anything writes to it. Sharing one object per path matters: two
/// processes (SQLite's writers) opening the same database must see each other's writes at once,
/// not each a copy. The scratch copy goes back to the service as a whole file on flush, fsync and
/// release (``SessionFilesystem`` drives that); until then `stat` reports its size.
final class OpenFile: Sendable {
    struct State {
        var path: String
        var mode: UInt32
        /// Attributes the service last reported; nil while a created file was never uploaded.
        var remote: FileAttributes?
        /// Where reads come from: the cache entry, or the scratch copy once there is one.
        var readDescriptor: Int32
        /// The private, writable copy; nil while the file is only read.
        var scratch: Int32?
        /// Descriptors replaced while another thread might still read through them; closed last.
        var retired: [Int32] = []
        /// Written since the last upload began.
        var dirty: Bool
        /// An upload is under way: `remote` still describes the previous version, so what the
        /// file shows comes from the scratch copy, as while dirty.
        var publishing = false
        /// A modification time set (utimens) after the last write: published with the content,
        /// in the same service call. A later write clears it (it moves the time to now).
        var pendingMtime: Int64?
        /// An access time set (utimens) while the file waited to be published: set at the service
        /// right after the content (such a file travels alone, not in a batch).
        var pendingAtime: Int64?
        /// Who created the file through this mount, when not the mounting user: recorded as its
        /// owner by the first upload, shown until then.
        var creator: Caller?
        /// Unlinked while open: still readable and writable, never uploaded again.
        var unlinked = false
        var handles = 0
        /// A publication of the file waits in the write-back queue (not started yet): a release
        /// need not queue another, and the file stays in the table until it has run.
        var queued = false
        /// Dropped from the open-file table with its last handle: its descriptors are closed or
        /// about to be. An open that found it just before must load the file afresh.
        var dropped = false

        /// Written here and not yet at the service: dirty, or its publication queued or under way.
        var holdsUnpublishedWrites: Bool { dirty || queued || publishing }
    }

    let state: Locked<State>
    /// Serialises uploads and renames of this file, so an upload never lands on a stale path.
    let transfer = Locked(())
    /// For a large file opened before it was cached: the content its reads are served from until
    /// a scratch copy replaces it, fetched as reads reach each block.
    let partial: PartialContent?

    init(
        path: String, mode: UInt32, remote: FileAttributes?, readDescriptor: Int32, scratch: Int32?, dirty: Bool, partial: PartialContent? = nil
    ) {
        state = Locked(State(path: path, mode: mode & 0o7777, remote: remote, readDescriptor: readDescriptor, scratch: scratch, dirty: dirty))
        self.partial = partial
    }

    var path: String { state.withLock { $0.path } }

    /// Bytes at `offset`; fewer at the end of the file.
    func read(offset: UInt64, count: Int) throws(Errno) -> [UInt8] {
        let fd = state.withLock { $0.readDescriptor }
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Errno(errno)
            }
            if n == 0 { break }
            filled += n
        }
        buffer.removeLast(count - filled)
        return buffer
    }

    /// Writes into the scratch copy (which the caller made sure exists).
    func write(offset: UInt64, bytes: [UInt8]) throws(Errno) -> Int {
        guard let fd = state.withLock({ $0.scratch }) else { throw Errno.badDescriptor }
        try Errno.writeAll(bytes, to: fd, at: offset)
        // Marked after the bytes landed: an upload that started before still sees dirty and runs again.
        state.withLock {
            $0.dirty = true
            $0.pendingMtime = nil
        }
        return bytes.count
    }

    func truncate(to size: UInt64) throws(Errno) {
        guard let fd = state.withLock({ $0.scratch }) else { throw Errno.badDescriptor }
        guard ftruncate(fd, off_t(size)) == 0 else { throw Errno(errno) }
        state.withLock {
            $0.dirty = true
            $0.pendingMtime = nil
        }
    }

    /// What `stat` shows: the scratch copy's size while one exists, the service's time until the
    /// written bytes reach it (tools that compare times before and after a close see one change).
    func attributes() -> FileAttributes {
        state.withLock { s in
            var attributes = s.remote ?? FileAttributes(kind: .file, mode: s.mode, size: 0, mtime: OpenFile.now(), uid: s.creator?.uid, gid: s.creator?.gid)
            attributes.mode = s.mode
            if let scratch = s.scratch {
                var st = Glibc.stat()
                if fstat(scratch, &st) == 0 {
                    attributes.size = UInt64(st.st_size)
                    if s.dirty || s.publishing || s.remote == nil {
                        // Written here and not yet published: changed (content and ctime) when the scratch copy was.
                        attributes.mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
                        attributes.ctime = attributes.mtime
                    }
                }
            }
            if let pending = s.pendingMtime { attributes.mtime = pending }
            if let pending = s.pendingAtime { attributes.atime = pending }
            // Unlinked while open: no name is left.
            if s.unlinked { attributes.nlink = 0 }
            attributes.contentID = s.dirty || s.publishing ? nil : attributes.contentID
            return attributes
        }
    }

    /// Closes every descriptor; called once the last handle is released.
    func closeDescriptors(recycling pool: ScratchPool) {
        state.withLock { s in
            var all = Set(s.retired)
            all.insert(s.readDescriptor)
            if let scratch = s.scratch {
                all.remove(scratch)
                pool.recycle(scratch)
            }
            for fd in all where fd >= 0 { close(fd) }
            s.retired = []
            s.readDescriptor = -1
            s.scratch = nil
        }
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
