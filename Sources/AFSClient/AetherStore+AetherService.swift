import AFSCore
import Glibc

/// The embedded transport: the store itself, with a few adapters where the service's shape
/// (which mirrors the HTTP API) differs from the engine's.
extension AetherStore: AetherService {
    /// The store's directory on this machine.
    public var location: String { directory }

    /// Resolves `other` by name (session, checkpoint, commit, ref or snapshot ID) and diffs it against
    /// session `id`; `.notFound` when either does not exist.
    public func diff(_ id: String, against other: String) throws(AFSError) -> [DiffEntry] {
        try diff(try reference(named: other), .session(id))
    }

    /// The embedded store never waits: a follower polls it between short-lived opens, so the
    /// store's lock is not held while nothing happens.
    public func changes(_ session: String, after seq: UInt64, limit: Int, wait: Double) throws(AFSError) -> [ChangeEvent] {
        try changes(session, after: seq, limit: limit)
    }

    /// Answers at once, ignoring `wait`: the embedded store has no long poll (see `changes`).
    public func messages(_ session: String, topic: String, from offset: UInt64, limit: Int, wait: Double) throws(AFSError) -> [BusMessage] {
        try messages(session, topic: topic, from: offset, limit: limit)
    }

    /// Copies the file into `fd` in windows of at most 1 MiB, from one consistent snapshot of it.
    public func copyFile(_ session: String, path: String, to fd: Int32) throws(AFSError) {
        try AetherStore.copy(try openFile(session, path: path), to: fd)
    }

    /// Hands over each file from one version of the session (``openFiles(_:paths:)``).
    public func readFiles(_ session: String, paths: [String], each: (BatchedFile) throws(AFSError) -> Void) throws(AFSError) {
        for case let file? in try openFiles(session, paths: paths) {
            try each(BatchedFile(path: file.path, size: file.size) { (fd) throws(AFSError) in try AetherStore.copy(file, to: fd) })
        }
    }

    /// Writes a snapshot's bytes into `fd` in windows of at most 1 MiB.
    private static func copy(_ file: FileSnapshot, to fd: Int32) throws(AFSError) {
        let window: UInt64 = 1 << 20
        var offset: UInt64 = 0
        while offset < file.size {
            let bytes = try file.read(offset: offset, length: min(window, file.size - offset))
            guard !bytes.isEmpty else { throw AFSError(.corrupted, "\(file.path) ended at byte \(offset) of \(file.size)") }
            try FileDescriptorIO.writeAll(fd, bytes)
            offset += UInt64(bytes.count)
        }
    }

    /// Streams `fd` into an upload of at most 1 MiB pieces; the file changes only when `finish`
    /// succeeds, and a failed read or write cancels the upload and rethrows.
    public func writeFile(_ session: String, path: String, from fd: Int32, mode: UInt32?, mtime: Int64?, ctime: Int64?, context: MutationContext) throws(AFSError) {
        let upload = try beginUpload(session, path: path, mode: mode, mtime: mtime, ctime: ctime)
        // Pieces of at most 1 MiB, no larger than the file (plus one byte, so a file that does not
        // grow meanwhile ends in one read): small files are most files.
        var st = Glibc.stat()
        let piece = fstat(fd, &st) == 0 ? max(4096, min(1 << 20, Int(st.st_size) + 1)) : 1 << 20
        do {
            while let chunk = try FileDescriptorIO.read(fd, upTo: piece) {
                try upload.append(chunk)
            }
            try upload.finish(context: context)
        } catch {
            upload.cancel()
            throw error
        }
    }
}
