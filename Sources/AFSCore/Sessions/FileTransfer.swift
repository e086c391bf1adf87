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
    /// ID of the session the file is written to.
    public let session: String
    /// Normalized path of the file in the session, e.g. `/src/main.c`.
    public let path: String
    let mode: UInt32?
    /// The modification time to record (nanoseconds since 1970); nil: the time of `finish`.
    let mtime: Int64?
    /// When the writer changed the file (nanoseconds since 1970), recorded as its change time if
    /// not later than `finish`; nil: the time of `finish`.
    let ctime: Int64?

    /// What the upload is made of: loose bytes (``append(_:)``) or whole chunks
    /// (``appendReference(_:length:)``, ``appendChunk(_:id:)``); never both.
    private enum Form { case undecided, bytes, chunks }
    private var form = Form.undecided
    /// Chunks of the base files, which a chunked upload may reference without sending their bytes:
    /// their length and whether a real cut ends them (nil: the base's last chunk, not yet checked).
    let referable: [ChunkID: (length: Int, endsAtCut: Bool?)]
    /// Whether the last chunk added ends at a real cut (another chunk may follow), or nil when that
    /// is still to be checked.
    private var previousEndsAtCut: Bool? = true
    private var previousID: ChunkID?

    init(
        store: AetherStore, session: String, path: String, mode: UInt32?, mtime: Int64?, ctime: Int64? = nil,
        referable: [ChunkID: (length: Int, endsAtCut: Bool?)] = [:]
    ) {
        self.store = store
        self.session = session
        self.path = path
        self.mode = mode
        self.mtime = mtime
        self.ctime = ctime
        self.referable = referable
        self.writer = ContentStore.StreamWriter(store: store.content)
    }

    deinit { store.uploads.withLock { $0[ObjectIdentifier(self)] = nil } }

    /// Bytes received so far.
    public var byteCount: UInt64 { lock.withLock { writer.total } }

    /// Adds loose bytes to the end of the file, stored as they arrive. Throws `conflict` once
    /// finished or cancelled, `invalidArgument` if the upload already took chunks.
    public func append(_ bytes: [UInt8]) throws(AFSError) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { throw AFSError.conflict("upload of \(path) is already finished") }
        guard form != .chunks else { throw AFSError.invalidArgument("upload of \(path) is made of chunks; it cannot take loose bytes too") }
        form = .bytes
        try writer.append(bytes)
    }

    /// Adds a chunk of the base without its bytes. A chunk no longer in the base (the file
    /// changed since the client asked) is a `conflict`: send its bytes instead.
    public func appendReference(_ id: ChunkID, length: Int) throws(AFSError) {
        lock.lock()
        defer { lock.unlock() }
        try checkNextChunk()
        guard let known = referable[id], known.length == length else {
            throw AFSError.conflict("chunk \(id.hex) (\(length) bytes) is not part of \(path)'s base any more; send its bytes")
        }
        writer.appendChunk(id, length: length)
        previousEndsAtCut = known.endsAtCut
        previousID = id
    }

    /// Adds a chunk's bytes. They must hash to `id` and be a chunk the store's chunker could
    /// have cut, so the file ends up with the chunks (and content ID) it would have had if
    /// uploaded whole.
    public func appendChunk(_ bytes: [UInt8], id: ChunkID) throws(AFSError) {
        lock.lock()
        defer { lock.unlock() }
        try checkNextChunk()
        guard ContentHash.sha256(bytes) == id else {
            throw AFSError.invalidArgument("the bytes sent for chunk \(id.hex) do not hash to it")
        }
        let (length, endsAtCut) = bytes.withUnsafeBytes { store.content.chunker.firstCut($0) }
        guard !bytes.isEmpty, length == bytes.count else {
            throw AFSError.invalidArgument("chunk \(id.hex) is not cut where the store's chunker cuts; cut with the standard chunker")
        }
        _ = try store.log.put(.chunk, bytes)
        writer.appendChunk(id, length: bytes.count)
        previousEndsAtCut = endsAtCut
        previousID = id
    }

    /// Before another chunk: the upload is open and chunked, and the previous chunk ends at a
    /// real cut (a chunk that merely ran out of bytes may only be last).
    private func checkNextChunk() throws(AFSError) {
        guard !finished else { throw AFSError.conflict("upload of \(path) is already finished") }
        guard form != .bytes else { throw AFSError.invalidArgument("upload of \(path) is made of bytes; it cannot take chunks too") }
        form = .chunks
        if previousEndsAtCut == nil, let previous = previousID {
            let bytes = try store.log.get(previous)
            previousEndsAtCut = bytes.withUnsafeBytes { store.content.chunker.isCanonical($0, last: false) }
        }
        guard previousEndsAtCut == true else {
            throw AFSError.invalidArgument("chunk \(previousID?.hex ?? "") ends where the store's chunker does not cut, so it can only be the last one")
        }
    }

    /// Chunks written or referenced so far, and the base's chunks that may still be referenced
    /// (GC roots while the upload is open).
    var writtenChunks: [ChunkID] { lock.withLock { writer.chunkIDs + referable.keys } }

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
        do {
            if form != .chunks, let bytes = writer.uncut(limit: store.options.journalInlineLimit) {
                content = .inline(bytes)
            } else {
                content = form == .chunks ? try writer.finishChunks() : try writer.finish()
            }
        } catch {
            lock.unlock()
            throw error
        }
        lock.unlock()
        defer { store.uploads.withLock { $0[ObjectIdentifier(self)] = nil } }
        try store.commitUpload(session: session, path: path, content: content, size: size, mode: mode, mtime: mtime, ctime: ctime, context: context)
    }

    /// Abandons the upload: the session is unchanged, later calls throw `conflict`, and its chunks
    /// are collected by the next GC.
    public func cancel() {
        lock.withLock { finished = true }
        store.uploads.withLock { $0[ObjectIdentifier(self)] = nil }
    }
}

/// An immutable view of one file's content at the moment it was opened: reads of it are consistent
/// however the session changes afterwards.
public struct FileSnapshot: Sendable {
    /// Normalized path the file was opened at, e.g. `/src/main.c`.
    public let path: String
    /// Length of the content in bytes, fixed when the file was opened.
    public let size: UInt64
    /// Permission bits when the file was opened.
    public let mode: UInt32
    /// Modification time when the file was opened, nanoseconds since 1970.
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
    /// times: `cp -p`, `tar x` through a mount); nil records the time of `finish`. `ctime` is
    /// when the writer changed the file (a mount publishing a file some time after `stat` showed
    /// it changed): the change time recorded, unless later than `finish`, and a new file's
    /// directory is not moved back to it. nil records the time of `finish`.
    ///
    /// `bases` name files of the same session whose chunks the upload may reference instead of
    /// sending (``FileUpload/appendReference(_:length:)``); usually the file being replaced.
    public func beginUpload(
        _ session: String, path: String, mode: UInt32? = nil, mtime: Int64? = nil, ctime: Int64? = nil, bases: [String] = []
    ) throws(AFSError) -> FileUpload {
        let p = try SessionPath(path)
        guard !p.isRoot else { throw AFSError(.wrongKind, "cannot write to the session root; name a file") }
        _ = try liveSession(session)
        let upload = FileUpload(
            store: self, session: session, path: p.description, mode: mode, mtime: mtime, ctime: ctime, referable: try referableChunks(session, bases))
        uploads.withLock { $0[ObjectIdentifier(upload)] = WeakUpload(upload) }
        return upload
    }

    func commitUpload(
        session: String, path: String, content c: TreeValue.Content, size: UInt64, mode: UInt32?, mtime: Int64?, ctime: Int64?, context: MutationContext
    ) throws(AFSError) {
        let p = try SessionPath(path)
        // Chunks must be durable before the journal names them; bytes carried whole in the
        // journal record need nothing else.
        if case .inline = c {} else { try log.sync() }
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            // When the writer made the change, never later than now (as ``recordWrite``).
            let now = min(ctime ?? .max, AetherStore.now())
            let (fileMode, attributes, isNew) = try prepareWrite(s, p, mode: mode, context: context, now: now)
            let data: OverlayItem.FileData
            if case .inline(let bytes) = c { data = .bytes(bytes) } else { data = .stored(c) }
            if isNew { try touchParent(s, of: p, now: now, notBack: ctime != nil) }
            let item = OverlayItem.file(mode: fileMode, mtime: mtime ?? now, size: size, data: data, attributes: attributes)
            return try journalAndRecord(s, p, item, event: .write, context)
        }
        try journal.waitDurable(ticket)
    }

    /// Of `candidates`, the chunks no file in `bases` (paths in `session`) holds: what a
    /// chunked upload against those bases must send as bytes.
    ///
    /// Only the bases count, never the store at large: which chunks other sessions (or other
    /// tenants) hold is not for a client to learn.
    public func missingChunks(_ session: String, bases: [String], of candidates: [ChunkID]) throws(AFSError) -> [ChunkID] {
        let known = try referableChunks(session, bases)
        var seen: Set<ChunkID> = []
        return candidates.filter { known[$0] == nil && seen.insert($0).inserted }
    }

    /// The chunks of the files at `bases` now, with whether each ends at a real cut (every chunk
    /// but a file's last does; nil for the last, checked only if something follows it).
    func referableChunks(_ session: String, _ bases: [String]) throws(AFSError) -> [ChunkID: (length: Int, endsAtCut: Bool?)] {
        var out: [ChunkID: (length: Int, endsAtCut: Bool?)] = [:]
        for base in bases {
            let p = try SessionPath(base)
            let view = try inspect(session) { (s) throws(AFSError) in try s.resolve(p, tree: tree) }
            guard case .file(_, _, let size, .stored(let stored), _)? = view else { continue }
            let items = try content.chunks(of: stored, size: size)
            for (i, item) in items.enumerated() {
                let endsAtCut: Bool? = i < items.count - 1 ? true : nil
                if let prior = out[item.id], prior.endsAtCut == true { continue }
                out[item.id] = (item.length, endsAtCut)
            }
        }
        return out
    }

    /// The most files one ``openFiles(_:paths:)`` (one batched read) opens.
    public static let readFilesLimit = 1000

    /// Opens a file for consistent reads in pieces (Range requests, streamed downloads).
    public func openFile(_ session: String, path: String) throws(AFSError) -> FileSnapshot {
        let p = try SessionPath(path)
        let view = try inspect(session) { (s) throws(AFSError) in try s.resolve(p, tree: tree) }
        guard let view else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
        guard let file = snapshot(view, at: p) else {
            throw AFSError(.wrongKind, "\(p) is a \(view.kind.rawValue), not a file")
        }
        return file
    }

    /// Opens each of `paths` as ``openFile(_:path:)-(String,_)`` does, all from one version of the session
    /// (no write lands between two of them): nil where a path names nothing or no regular file.
    /// One malformed path (`.invalidPath`), or more than ``readFilesLimit`` of them, fails the
    /// whole call before anything is opened.
    public func openFiles(_ session: String, paths: [String]) throws(AFSError) -> [FileSnapshot?] {
        guard paths.count <= AetherStore.readFilesLimit else {
            throw AFSError(.invalidArgument, "\(paths.count) paths in one read; at most \(AetherStore.readFilesLimit) (send several)")
        }
        var parsed: [SessionPath] = []
        parsed.reserveCapacity(paths.count)
        for path in paths { parsed.append(try SessionPath(path)) }
        let views = try inspect(session) { (s) throws(AFSError) -> [LiveSession.View?] in
            var views: [LiveSession.View?] = []
            views.reserveCapacity(parsed.count)
            for p in parsed { views.append(try s.resolve(p, tree: tree)) }
            return views
        }
        return zip(parsed, views).map { p, view in view.flatMap { snapshot($0, at: p) } }
    }

    /// The snapshot of a resolved regular file; nil for every other kind.
    private func snapshot(_ view: LiveSession.View, at p: SessionPath) -> FileSnapshot? {
        guard case .file(let mode, let mtime, let size, let data, _) = view else { return nil }
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

    /// Opens a file as it is in `reference`: a session's current tree (with its unfolded
    /// writes), or the fixed tree of a checkpoint, commit, ref or snapshot. A reviewer reads the
    /// base side of a diff this way.
    public func openFile(_ reference: TreeReference, path: String) throws(AFSError) -> FileSnapshot {
        if case .session(let id) = reference { return try openFile(id, path: path) }
        let p = try SessionPath(path)
        let root = try resolveRoot(reference)
        guard let value = p.isRoot ? tree.rootValue(root) : try tree.lookup(root, p.components) else {
            throw AFSError.notFound("\(p) does not exist in \(reference)")
        }
        guard value.kind == .file, let id = value.contentID else {
            throw AFSError(.wrongKind, "\(p) is a \(value.kind.rawValue), not a file")
        }
        return FileSnapshot(
            path: p.description, size: value.size, mode: value.mode, mtime: value.mtime, contentID: id.hex, content: value.content, store: content)
    }

    /// Creates a session from a tar stream read from a descriptor (a pipe fed by an HTTP body).
    public func importTar(
        fromDescriptor fd: Int32, name: String? = nil, context: MutationContext = .anonymous, preserveOwners: Bool = false
    ) throws(AFSError) -> SessionInfo {
        try createSession(name: name, from: .tarDescriptor(fd), context: context, preserveOwners: preserveOwners)
    }
}

/// A weak reference, so the registry of open uploads never keeps one alive.
struct WeakUpload: @unchecked Sendable {
    // @unchecked: a weak reference to a Sendable class.
    weak var upload: FileUpload?
    init(_ upload: FileUpload) { self.upload = upload }
}
