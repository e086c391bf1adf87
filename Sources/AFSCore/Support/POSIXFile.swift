import Foundation

/// An open file descriptor, closed when the last reference goes away.
///
/// `pread`/`pwrite` take explicit offsets, so one descriptor may be shared by concurrent readers
/// without a seek position to race on; that is what makes this class safe to share.
final class POSIXFile: Sendable {
    let fd: Int32
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(AFSError) -> POSIXFile {
        let creating = PowerLossSimulator.willOpen(path, flags: flags)
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AFSError.io("open", path: path) }
        if creating { PowerLossSimulator.didCreate(path) }
        return POSIXFile(fd: fd, path: path)
    }

    func size() throws(AFSError) -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AFSError.io("fstat", path: path) }
        return Int64(st.st_size)
    }

    /// Reads exactly `count` bytes at `offset`, or fewer only at end of file.
    func read(count: Int, at offset: Int64) throws(AFSError) -> [UInt8] {
        try POSIXFile.read(fd, count: count, at: offset, path: path)
    }

    /// Reads exactly `count` bytes at `offset` of any descriptor (`path` names it in errors), or
    /// fewer only at end of file.
    static func read(_ fd: Int32, count: Int, at offset: Int64, path: String) throws(AFSError) -> [UInt8] {
        // Uninitialized storage: zero-filling a buffer the read then overwrites cost an import of
        // small files 29 % of its CPU (Docs/perf/profiles.md §2). Only the bytes read are exposed.
        var failure: Int32 = 0
        let buffer = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, storage.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                done += n
            }
            initialized = failure == 0 ? done : 0
        }
        if failure != 0 { throw AFSError.io("pread", path: path, errno: failure) }
        return buffer
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(AFSError) {
        PowerLossSimulator.willWrite(fd, path: path, offset: offset, count: bytes.count)
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw AFSError.io("pwrite", path: path)
            }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws(AFSError) {
        try bytes.withBytes { (b) throws(AFSError) in try write(b, at: offset) }
    }

    func syncData() throws(AFSError) {
        guard fdatasync(fd) == 0 else { throw AFSError.io("fdatasync", path: path) }
        PowerLossSimulator.didSync(path)
    }

    func sync() throws(AFSError) {
        guard fsync(fd) == 0 else { throw AFSError.io("fsync", path: path) }
        PowerLossSimulator.didSync(path)
    }

    func truncate(to length: Int64) throws(AFSError) {
        PowerLossSimulator.willResize(fd, path: path, to: length)
        guard ftruncate(fd, off_t(length)) == 0 else { throw AFSError.io("ftruncate", path: path) }
    }

    /// Reserves `length` bytes so appends do not allocate; falls back to ftruncate where unsupported.
    func preallocate(length: Int64) throws(AFSError) {
        if let size = try? size(), length > size { PowerLossSimulator.willResize(fd, path: path, to: length) }
        let rc = posix_fallocate(fd, 0, off_t(length))
        if rc != 0 && rc != EOPNOTSUPP && rc != EINVAL {
            throw AFSError.io("posix_fallocate", path: path, errno: rc)
        }
        if rc != 0 { try truncate(to: length) }
    }

    /// Makes a directory's entries (created or renamed files) durable.
    static func syncDirectory(_ path: String) throws(AFSError) {
        let dir = try POSIXFile.open(path, flags: O_RDONLY | O_DIRECTORY)
        guard fsync(dir.fd) == 0 else { throw AFSError.io("fsync", path: path) }
        PowerLossSimulator.didSyncDirectory(path)
    }

    /// Writes a whole file atomically: temporary file, fsync, rename, directory fsync.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(AFSError) {
        let tmp = path + ".tmp"
        let file = try POSIXFile.open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        try file.write(bytes, at: 0)
        try file.sync()
        PowerLossSimulator.willRename(tmp, to: path)
        guard rename(tmp, path) == 0 else { throw AFSError.io("rename", path: path) }
        try syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// Reads a whole file, or nil when it does not exist.
    static func readWhole(_ path: String) throws(AFSError) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw AFSError.io("open", path: path)
        }
        let file = POSIXFile(fd: fd, path: path)
        return try file.read(count: Int(try file.size()), at: 0)
    }
}
