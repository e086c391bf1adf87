import Foundation
import Synchronization

/// A file being uploaded in pieces: bytes go to the chunk log as they arrive (memory stays flat
/// whatever the file size), and the file appears in the session, durably, only at `finish`.
///
/// Chunks written so far are GC roots while the upload is open; an abandoned upload's chunks are
/// collected by the next GC after `cancel()` or deinit.
public final class FileUpload: @unchecked Sendable {
    // @unchecked: `writer` and `state` are guarded by `lock`; the rest is immutable.
    private let lock = NSLock()
    private var writer: ContentStore.StreamWriter
    private var finished = false
    let store: AetherStore
    public let session: String
    public let path: String
    let mode: UInt32?
    /// The modification time to record (nanoseconds since 1970); nil: the time of `finish`.
    let mtime: Int64?

    init(store: AetherStore, session: String, path: String, mode: UInt32?, mtime: Int64?) {
        self.store = store
        self.session = session
        self.path = path
        self.mode = mode
        self.mtime = mtime
        self.writer = ContentStore.StreamWriter(store: store.content)
    }

    deinit { store.uploads.withLock { $0[ObjectIdentifier(self)] = nil } }

    /// Bytes received so far.
    public var byteCount: UInt64 { lock.withLock { writer.total } }

    public func append(_ bytes: [UInt8]) throws(AFSError) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { throw AFSError.conflict("upload of \(path) is already finished") }
        try writer.append(bytes)
    }

    /// Chunks written so far (GC roots while the upload is open).
    var writtenChunks: [ChunkID] { lock.withLock { writer.chunkIDs } }

    /// Makes the file part of the session; durable on return.
    public func finish(context: MutationContext = .anonymous) throws(AFSError) {
        lock.lock()
        guard !finished else {
            lock.unlock()
            throw AFSError.conflict("upload of \(path) is already finished")
        }
        finished = true
        let size = writer.total
        let content: TreeValue.Content
        do { content = try writer.finish() } catch {
            lock.unlock()
            throw error
        }
        lock.unlock()
        defer { store.uploads.withLock { $0[ObjectIdentifier(self)] = nil } }
        try store.commitUpload(session: session, path: path, content: content, size: size, mode: mode, mtime: mtime, context: context)
    }

    public func cancel() {
        lock.withLock { finished = true }
        store.uploads.withLock { $0[ObjectIdentifier(self)] = nil }
    }
}

/// An immutable view of one file's content at the moment it was opened: reads of it are consistent
/// however the session changes afterwards.
public struct FileSnapshot: Sendable {
    public let path: String
    public let size: UInt64
    public let mode: UInt32
    public let mtime: Int64
    /// The content ID (an ETag).
    public let contentID: String
    let content: TreeValue.Content
    let store: ContentStore

    /// Bytes [offset, offset+length), clamped to the size.
    public func read(offset: UInt64, length: UInt64) throws(AFSError) -> [UInt8] {
        try store.read(content, size: size, offset: offset, length: length)
    }
}

extension AetherStore {
    /// Starts a streamed upload of a whole file (created or replaced at `finish`). `mtime` sets
    /// the file's modification time in the same durable write (a copy that keeps its source's
    /// times: `cp -p`, `tar x` through a mount); nil records the time of `finish`.
    public func beginUpload(_ session: String, path: String, mode: UInt32? = nil, mtime: Int64? = nil) throws(AFSError) -> FileUpload {
        let p = try SessionPath(path)
        guard !p.isRoot else { throw AFSError(.wrongKind, "cannot write to the session root; name a file") }
        _ = try liveSession(session)
        let upload = FileUpload(store: self, session: session, path: p.description, mode: mode, mtime: mtime)
        uploads.withLock { $0[ObjectIdentifier(upload)] = WeakUpload(upload) }
        return upload
    }

    func commitUpload(
        session: String, path: String, content c: TreeValue.Content, size: UInt64, mode: UInt32?, mtime: Int64?, context: MutationContext
    ) throws(AFSError) {
        let p = try SessionPath(path)
        try log.sync()
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            let fileMode = try prepareWrite(s, p, mode: mode)
            let data: OverlayItem.FileData
            if case .inline(let bytes) = c { data = .bytes(bytes) } else { data = .stored(c) }
            return try journalAndRecord(s, p, .file(mode: fileMode, mtime: mtime ?? AetherStore.now(), size: size, data: data), event: .write, context)
        }
        try journal.waitDurable(ticket)
    }

    /// Opens a file for consistent reads in pieces (Range requests, streamed downloads).
    public func openFile(_ session: String, path: String) throws(AFSError) -> FileSnapshot {
        let p = try SessionPath(path)
        let view = try inspect(session) { (s) throws(AFSError) in try s.resolve(p, tree: tree) }
        guard let view else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
        guard case .file(let mode, let mtime, let size, let data) = view else {
            throw AFSError(.wrongKind, "\(p) is a \(view.kind.rawValue), not a file")
        }
        let c: TreeValue.Content
        let id: ChunkID
        switch data {
        case .bytes(let b):
            c = .inline(b)
            id = content.contentID(of: b)
        case .stored(let stored):
            c = stored
            id = TreeValue(kind: .file, mode: mode, mtime: mtime, size: size, content: stored).contentID!
        }
        return FileSnapshot(path: p.description, size: size, mode: mode, mtime: mtime, contentID: id.hex, content: c, store: content)
    }

    /// Creates a session from a tar stream read from a descriptor (a pipe fed by an HTTP body).
    public func importTar(fromDescriptor fd: Int32, name: String? = nil, context: MutationContext = .anonymous) throws(AFSError) -> SessionInfo {
        try createSession(name: name, from: .tarDescriptor(fd), context: context)
    }
}

/// A weak reference, so the registry of open uploads never keeps one alive.
struct WeakUpload: @unchecked Sendable {
    // @unchecked: a weak reference to a Sendable class.
    weak var upload: FileUpload?
    init(_ upload: FileUpload) { self.upload = upload }
}
