import AFSCore
import AFSSupport
import AFSTar
import AFSWire
import Foundation

extension RemoteStore {
    /// The URL path of a file route. The path is validated here exactly as the engine does, so a
    /// hostile path fails the same way on both transports and never reaches the wire as `..`.
    static func filePath(_ session: String, _ kind: String, _ path: String) throws(AFSError) -> String {
        sessionPath(session, "/\(kind)/" + (try SessionPath(path)).components.map(escape).joined(separator: "/"))
    }

    /// `GET /v1/sessions/{id}/stat/{path}` (`/stat` for the root): the entry's kind, mode, size, owner
    /// and times. The path is validated locally first (`.invalidPath`).
    public func stat(_ session: String, path: String) throws(AFSError) -> FileStat {
        let p = try SessionPath(path)
        return try json(FileStat.self, Call(.GET, p.isRoot ? RemoteStore.sessionPath(session, "/stat") : try RemoteStore.filePath(session, "stat", path)))
    }

    /// `GET /v1/sessions/{id}/files/{path}` with a `Range` header when `offset` or `length` is given;
    /// reading at or past the end returns no bytes, as the embedded store does.
    public func readFile(_ session: String, path: String, offset: UInt64, length: UInt64?) throws(AFSError) -> [UInt8] {
        var headers: [(String, String)] = []
        if offset > 0 || length != nil {
            if length == 0 { return [] }
            headers.append(("Range", "bytes=\(offset)-" + (length.map { String(offset + $0 - 1) } ?? "")))
        }
        let reply = try send(Call(.GET, try RemoteStore.filePath(session, "files", path), headers: headers), accept: [416], limit: Int.max)
        // Reading at or past the end is empty, as with the embedded store.
        if reply.status == 416 { return [] }
        return [UInt8](reply.body)
    }

    /// Streams a file into `fd` without holding it in memory.
    public func copyFile(_ session: String, path: String, to fd: Int32) throws(AFSError) {
        try download(Call(.GET, try RemoteStore.filePath(session, "files", path)), to: fd)
    }

    /// `POST /v1/sessions/{id}/read`: the files come as one tar stream, read as it arrives.
    ///
    /// The download runs on a thread of its own into one end of a socket pair while this thread
    /// reads the archive from the other, so a file is handed to `each` as soon as its bytes are
    /// in, however large the answer. A refused request (a malformed path: 400) is its error; an
    /// answer cut short is `.io`.
    public func readFiles(_ session: String, paths: [String], each: (BatchedFile) throws(AFSError) -> Void) throws(AFSError) {
        var normalized: [String] = []
        normalized.reserveCapacity(paths.count)
        for path in paths { normalized.append((try SessionPath(path)).description) }
        guard !normalized.isEmpty else { return }
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
            throw AFSError(.io, "cannot create a socket pair for a batched read: \(String(cString: strerror(errno)))")
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let call = Call(.POST, RemoteStore.sessionPath(session, "/read"))
        let body = RemoteStore.jsonBody(ReadFilesRequest(paths: normalized))
        let downloaded = Locked<Result<Void, AFSError>>(.success(()))
        let finished = DispatchSemaphore(value: 0)
        let downloader = Thread { [self] in
            let result: Result<Void, AFSError>
            do throws(AFSError) { try download(call, body: body, to: writeEnd, socket: true); result = .success(()) } catch { result = .failure(error) }
            // The reader sees the end of the archive (or a short one).
            Glibc.close(writeEnd)
            downloaded.withLock { $0 = result }
            finished.signal()
        }
        downloader.name = "aether-read-files"
        downloader.start()
        var handed: AFSError?
        let read: Result<Void, AFSError>
        do throws(AFSError) {
            try RemoteStore.readArchive(from: readEnd, call: call) { (file) throws(AFSError) in
                do throws(AFSError) { try each(file) } catch {
                    handed = error
                    throw error
                }
            }
            read = .success(())
        } catch {
            read = .failure(error)
        }
        if case .success = read {
            // The rest of the answer (the archive's padding): a download cut off here would fail
            // with EPIPE although every file arrived.
            var rest = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                let n = rest.withUnsafeMutableBytes { Glibc.read(readEnd, $0.baseAddress, $0.count) }
                if n > 0 || (n < 0 && errno == EINTR) { continue }
                break
            }
        }
        // Ends a download still writing to a reader that gave up.
        Glibc.close(readEnd)
        finished.wait()
        if let handed { throw handed }
        // The answer's own error (a refusal, a broken connection): a refused request has no
        // archive at all, which reads as an empty one.
        if case .failure(let error) = downloaded.withLock({ $0 }) { throw error }
        try read.get()
    }

    /// Reads a ``readFiles(_:paths:each:)`` answer: one ``BatchedFile`` per regular file entry.
    private static func readArchive(from fd: Int32, call: Call, each: (BatchedFile) throws(AFSError) -> Void) throws(AFSError) {
        func broken(_ error: any Error) -> AFSError { AFSError(.io, "the batched read \(call.path) broke off: \(error)") }
        var reader = TarReader(source: FileDescriptorByteSource(fd: fd))
        while true {
            let entry: TarEntry?
            do { entry = try reader.next() } catch { throw broken(error) }
            guard let entry else { return }
            guard entry.kind == .file else { continue }
            try each(BatchedFile(path: "/" + entry.path, size: UInt64(entry.size)) { (out) throws(AFSError) in
                while true {
                    let bytes: [UInt8]
                    do { bytes = try reader.readContent(maxLength: 1 << 20) } catch { throw broken(error) }
                    if bytes.isEmpty { return }
                    try FileDescriptorIO.writeAll(out, bytes)
                }
            })
        }
    }

    /// `GET /v1/sessions/{id}/tree?path=`: the entries of one directory (not recursive).
    public func list(_ session: String, path: String) throws(AFSError) -> [DirectoryEntry] {
        try json([DirectoryEntry].self, Call(.GET, RemoteStore.sessionPath(session, "/tree"), query: [("path", path)]))
    }

    /// `GET /v1/sessions/{id}/tree?path=&recursive=true&limit=`: everything below a directory in one request.
    public func listTree(_ session: String, path: String, limit: Int?) throws(AFSError) -> [TreeEntry] {
        var query = [("path", path), ("recursive", "true")]
        if let limit { query.append(("limit", String(limit))) }
        return try json([TreeEntry].self, Call(.GET, RemoteStore.sessionPath(session, "/tree"), query: query))
    }

    /// `PUT /v1/sessions/{id}/files/{path}`: replaces the file with `data` in one request; `mode`
    /// travels octal in `X-AFS-Mode`.
    public func writeFile(_ session: String, path: String, data: [UInt8], mode: UInt32?, context: MutationContext) throws(AFSError) {
        var headers: [(String, String)] = []
        if let mode { headers.append(("X-AFS-Mode", String(mode, radix: 8))) }
        _ = try send(
            Call(.PUT, try RemoteStore.filePath(session, "files", path), headers: headers, context: context),
            body: .bytes(Data(data), contentType: "application/octet-stream"))
    }

    /// Streams a file's new content from `fd` (a pipe or a file), whatever its size.
    ///
    /// A regular file of ``chunkedThreshold`` bytes or more, read from its start, goes chunk by
    /// chunk: its chunk IDs first, then only the chunks the file's current version on the server
    /// lacks (an edit to a large file sends the edited chunks, not the file). When that would save
    /// nothing (a new file) or the file changed on the server in between, the bytes go whole.
    public func writeFile(_ session: String, path: String, from fd: Int32, mode: UInt32?, mtime: Int64?, ctime: Int64?, context: MutationContext) throws(AFSError) {
        var headers: [(String, String)] = []
        if let mode { headers.append(("X-AFS-Mode", String(mode, radix: 8))) }
        if let mtime { headers.append(("X-AFS-Mtime", String(mtime))) }
        if let ctime { headers.append(("X-AFS-Ctime", String(ctime))) }
        if try writeChunks(session, path: path, from: fd, headers: headers, context: context) { return }
        _ = try send(
            Call(.PUT, try RemoteStore.filePath(session, "files", path), headers: headers, context: context),
            body: .descriptor(fd, contentType: "application/octet-stream"))
    }

    /// `POST /v1/sessions/{id}/mkdir`: creates a directory, and its missing parents with `parents`.
    public func makeDirectory(_ session: String, path: String, parents: Bool, mode: UInt32, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/mkdir"), context: context),
            body: RemoteStore.jsonBody(MkdirRequest(path: path, parents: parents, mode: mode)))
    }

    /// `DELETE /v1/sessions/{id}/files/{path}`: removes a file, symlink or directory (a non-empty one
    /// only with `recursive`).
    public func remove(_ session: String, path: String, recursive: Bool, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.DELETE, try RemoteStore.filePath(session, "files", path), query: recursive ? [("recursive", "true")] : [], context: context))
    }

    /// `POST /v1/sessions/{id}/rename`: moves an entry from `from` to `to`.
    public func rename(_ session: String, from: String, to: String, context: MutationContext) throws(AFSError) {
        _ = try send(Call(.POST, RemoteStore.sessionPath(session, "/rename"), context: context), body: RemoteStore.jsonBody(RenameRequest(from: from, to: to)))
    }

    /// `POST /v1/sessions/{id}/symlink`: creates a symbolic link whose target is stored as given.
    public func symlink(_ session: String, path: String, target: String, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/symlink"), context: context),
            body: RemoteStore.jsonBody(SymlinkRequest(path: try SessionPath(path).description, target: target)))
    }

    /// `POST /v1/sessions/{id}/chmod`: sets the permission bits (masked to `0o7777`).
    public func setMode(_ session: String, path: String, mode: UInt32, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/chmod"), context: context),
            body: RemoteStore.jsonBody(ChmodRequest(path: try SessionPath(path).description, mode: mode & 0o7777)))
    }

    /// `POST /v1/sessions/{id}/times`: sets `mtime` and/or `atime` (nanoseconds since 1970; nil keeps it).
    public func setTimes(_ session: String, path: String, mtime: Int64?, atime: Int64?, context: MutationContext) throws(AFSError) {
        let body = TimesRequest(path: try SessionPath(path).description, mtime: mtime, atime: atime)
        _ = try send(Call(.POST, RemoteStore.sessionPath(session, "/times"), context: context), body: RemoteStore.jsonBody(body))
    }

    /// `POST /v1/sessions/{id}/batch`: applies `changes` in order with one durable wait. Throws
    /// `.unsupportedFormat` if the server answers a different number of outcomes.
    public func apply(_ session: String, _ changes: [BatchChange], context: MutationContext) throws(AFSError) -> [BatchOutcome] {
        let reply = try json(BatchReply.self, Call(.POST, RemoteStore.sessionPath(session, "/batch"), context: context), body: RemoteStore.jsonBody(BatchRequest(changes: changes)))
        guard reply.outcomes.count == changes.count else {
            throw AFSError(.unsupportedFormat, "the server answered \(reply.outcomes.count) outcomes for a batch of \(changes.count) changes")
        }
        return reply.outcomes
    }

    /// `POST /v1/sessions/{id}/atimes`: moves access times forward (no change time, no event);
    /// returns how many entries moved.
    @discardableResult
    public func recordAccessTimes(_ session: String, _ times: [String: Int64]) throws(AFSError) -> Int {
        try json(AccessTimesReply.self, Call(.POST, RemoteStore.sessionPath(session, "/atimes")), body: RemoteStore.jsonBody(AccessTimesRequest(atimes: times))).moved
    }

    /// `POST /v1/sessions/{id}/mknod`: creates a FIFO, socket or device node (`rdev` for devices;
    /// mode masked to `0o7777`).
    public func makeNode(_ session: String, path: String, kind: EntryKind, mode: UInt32, rdev: UInt64, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/mknod"), context: context),
            body: RemoteStore.jsonBody(MknodRequest(path: try SessionPath(path).description, kind: kind, mode: mode & 0o7777, rdev: rdev)))
    }

    /// `POST /v1/sessions/{id}/chown`: records a numeric owner and/or group (nil keeps that one).
    public func setOwner(_ session: String, path: String, uid: UInt32?, gid: UInt32?, context: MutationContext) throws(AFSError) {
        let body = ChownRequest(path: try SessionPath(path).description, uid: uid, gid: gid)
        _ = try send(Call(.POST, RemoteStore.sessionPath(session, "/chown"), context: context), body: RemoteStore.jsonBody(body))
    }

    /// `GET /v1/sessions/{id}/xattrs`: the entry's `user.` extended attributes, decoded from base64;
    /// `.corrupted` if the server sends invalid base64.
    public func extendedAttributes(_ session: String, path: String) throws(AFSError) -> [String: [UInt8]] {
        let reply = try json(
            XattrsReply.self, Call(.GET, RemoteStore.sessionPath(session, "/xattrs"), query: [("path", try SessionPath(path).description)]))
        var out: [String: [UInt8]] = [:]
        for (name, encoded) in reply.xattrs {
            guard let data = Data(base64Encoded: encoded) else { throw AFSError(.corrupted, "the server sent extended attribute \(name) in invalid base64") }
            out[name] = [UInt8](data)
        }
        return out
    }

    /// `POST /v1/sessions/{id}/xattrs`: sets one extended attribute (sent in base64) as `disposition`
    /// allows (any, create or replace).
    public func setExtendedAttribute(
        _ session: String, path: String, name: String, value: [UInt8], disposition: AetherStore.XattrDisposition, context: MutationContext
    ) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/xattrs"), context: context),
            body: RemoteStore.jsonBody(
                XattrSetRequest(path: try SessionPath(path).description, name: name, value: Data(value).base64EncodedString(), disposition: disposition)))
    }

    /// `DELETE /v1/sessions/{id}/xattrs`: removes the extended attribute `name` from the entry.
    public func removeExtendedAttribute(_ session: String, path: String, name: String, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.DELETE, RemoteStore.sessionPath(session, "/xattrs"), query: [("path", try SessionPath(path).description), ("name", name)], context: context))
    }

    /// `POST /v1/sessions/{id}/link`: gives the file at `existing` the additional name `path` (a hard link).
    public func link(_ session: String, from existing: String, to path: String, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/link"), context: context),
            body: RemoteStore.jsonBody(LinkRequest(from: try SessionPath(existing).description, to: try SessionPath(path).description)))
    }

    /// `GET /v1/sessions/{id}/links`: every name of the file at `path`, sorted.
    public func hardLinks(_ session: String, path: String) throws(AFSError) -> [String] {
        try json(HardLinksReply.self, Call(.GET, RemoteStore.sessionPath(session, "/links"), query: [("path", try SessionPath(path).description)])).names
    }

    // MARK: Chunked uploads

    /// Files this large or larger are uploaded chunk by chunk (smaller ones cost less sent whole
    /// than the extra round trip that asks which chunks are missing).
    public static let chunkedThreshold = 256 << 10

    /// How many chunk IDs one "which are missing" question carries (a JSON body well under the
    /// server's 4 MiB limit).
    static let missingBatch = 20_000

    /// Uploads the regular file at `fd` sending only chunks the server's current version of
    /// `path` lacks. False when the upload should go whole instead: not a regular file read from
    /// its start, too small, nothing to save, or the server's base changed meanwhile.
    func writeChunks(_ session: String, path: String, from fd: Int32, headers: [(String, String)], context: MutationContext) throws(AFSError) -> Bool {
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= RemoteStore.chunkedThreshold,
            lseek(fd, 0, SEEK_CUR) == 0
        else { return false }
        let pieces = try ChunkedContent.pieces(ofDescriptor: fd)
        var unique: [ChunkID] = []
        var seen: Set<ChunkID> = []
        for piece in pieces where seen.insert(piece.id).inserted { unique.append(piece.id) }
        var missing: Set<ChunkID> = []
        var start = 0
        while start < unique.count {
            let batch = unique[start..<min(unique.count, start + RemoteStore.missingBatch)]
            start += batch.count
            let reply: MissingChunksReply
            do {
                reply = try json(
                    MissingChunksReply.self, Call(.POST, RemoteStore.sessionPath(session, "/chunks/missing")),
                    body: RemoteStore.jsonBody(MissingChunksRequest(path: path, chunks: batch.map(\.hex))))
            } catch where error.code == .notFound {
                return false  // no such session (the whole upload will say so), or a server without chunked uploads
            }
            for hex in reply.missing { if let id = ChunkID(hex: hex) { missing.insert(id) } }
        }
        guard missing.count < unique.count else { return false }
        var chunkHeaders = headers
        chunkHeaders.append(("X-AFS-Base", path))
        do {
            _ = try send(
                Call(.PUT, try RemoteStore.filePath(session, "files", path), headers: chunkHeaders, context: context),
                body: .chunks(ChunkRecords(fd: fd, pieces: pieces, missing: missing)))
        } catch where error.code == .conflict {
            return false  // a referenced chunk left the base since we asked: send the bytes whole
        }
        let sent = pieces.reduce(0) { $0 + (missing.contains($1.id) ? $1.length : 0) }
        chunkStatistics.record(sent: sent, reused: Int(st.st_size) - sent)
        return true
    }
}
