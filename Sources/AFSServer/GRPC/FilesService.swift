import AFSCore
import AFSWire
import AFSGRPC
import Foundation
import GRPCCore

/// `aether.v1.Files`: streamed reads and writes of whole files, and the namespace operations.
/// Reads and writes move at most one 1 MiB window at a time through memory, whatever the file's
/// size: gRPC's flow control slows the producer down to the consumer's pace.
struct FilesService: Aether_V1_Files.ServiceProtocol {
    let server: AetherServer

    /// The largest piece of a file in one message (gRPC's default message limit is 4 MiB).
    static let window: UInt64 = 1 << 20

    private func caller(_ metadata: Metadata, _ role: Role) async throws -> RPCCaller {
        try await RPCCaller(metadata, access: server.access, limiter: server.limiter, role: role)
    }

    func read(request: ServerRequest<Aether_V1_ReadRequest>, context: ServerContext) async throws -> StreamingServerResponse<Aether_V1_ReadChunk> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        let file = try await server.openFile(body.session, path: body.path, at: body.hasAt ? body.at : nil, principal: caller.principal)
        guard body.offset <= file.size else {
            throw APIError(.rangeNotSatisfiable, "range_not_satisfiable", "offset \(body.offset) is past the end of \(file.path) (\(file.size) bytes)")
        }
        let end = body.hasLength ? body.offset + min(body.length, file.size - body.offset) : file.size
        server.count(caller.principal, "read", session: body.session)
        return StreamingServerResponse { writer in
            try await FilesService.stream(file, from: body.offset, to: end, into: writer, context: context)
            return [:]
        }
    }

    func readMany(request: ServerRequest<Aether_V1_ReadManyRequest>, context: ServerContext) async throws -> StreamingServerResponse<Aether_V1_ReadChunk> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        let files = try await server.openFiles(body.session, paths: body.paths, principal: caller.principal)
        server.count(caller.principal, "read", session: body.session)
        return StreamingServerResponse { writer in
            for file in files {
                guard try await FilesService.stream(file, from: 0, to: file.size, into: writer, context: context) else { break }
            }
            return [:]
        }
    }

    /// Streams [`start`, `end`) of `file` in windows, the first chunk (possibly empty, so it
    /// always arrives) carrying the file's stat. Returns false when the call was cancelled.
    @discardableResult
    private static func stream(
        _ file: FileSnapshot, from start: UInt64, to end: UInt64, into writer: RPCWriter<Aether_V1_ReadChunk>, context: ServerContext
    ) async throws -> Bool {
        var stat = Aether_V1_FileStat()
        stat.path = file.path
        stat.kind = .file
        stat.mode = file.mode
        stat.size = file.size
        stat.mtime = .init(nanosecondsSince1970: file.mtime)
        stat.contentID = file.contentID
        var offset = start
        var first = true
        while first || offset < end {
            if context.cancellation.isCancelled { return false }
            let n = min(window, end - offset)
            let at = offset
            let bytes = n == 0 ? [] : try await Blocking.run { try file.read(offset: at, length: n) }
            var chunk = Aether_V1_ReadChunk()
            chunk.offset = at
            chunk.data = Data(bytes)
            if first { chunk.stat = stat }
            try await writer.write(chunk)
            offset += n
            first = false
        }
        return true
    }

    func write(request: StreamingServerRequest<Aether_V1_WriteRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let caller = try await caller(request.metadata, .writer)
        var messages = request.messages.makeAsyncIterator()
        guard case .header(let header)? = try await messages.next()?.message else {
            throw APIError.badRequest("the first message of Write must be the header {session, path, ...}")
        }
        _ = try await server.authorize(header.session, principal: caller.principal, .writer)
        let m = try caller.mutation(lockToken: header.hasLockToken ? header.lockToken : nil)
        var mode: UInt32?
        if header.hasMode {
            guard header.mode <= 0o7777 else { throw APIError.badRequest("mode must be permission bits, at most 0o7777") }
            mode = header.mode
        }
        let store = server.store
        // Refuse before reading any data what would be refused at the end.
        if header.hasIfMatch {
            let current = try? await Blocking.run { try store.openFile(header.session, path: header.path) }
            guard header.ifMatch == "*" ? current != nil : current?.contentID == header.ifMatch else {
                throw APIError(
                    .preconditionFailed, "precondition_failed",
                    "if_match \(header.ifMatch) does not match the current version \(current?.contentID ?? "(none)") of \(header.path)")
            }
        }
        let fileMode = mode
        let mtime = header.hasMtime ? header.mtime : nil
        let ctime = header.hasCtime ? header.ctime : nil
        // A chunked write references chunks of its base files (default: the file itself).
        let bases = header.chunked ? (header.bases.isEmpty ? [header.path] : header.bases) : []
        let upload = try await Blocking.run { try store.beginUpload(header.session, path: header.path, mode: fileMode, mtime: mtime, ctime: ctime, bases: bases) }
        let limit = server.configuration.maxFileBytes
        var total: UInt64 = 0
        do {
            while let message = try await messages.next() {
                switch message.message {
                case .data(let data)? where !header.chunked:
                    total += UInt64(data.count)
                    if total > limit { throw APIError(.contentTooLarge, "too_large", "files are limited to \(limit) bytes") }
                    let bytes = [UInt8](data)
                    try await Blocking.run { try upload.append(bytes) }
                case .reference(let reference)? where header.chunked:
                    guard let cid = ChunkID(hex: reference.id) else { throw APIError.badRequest("chunk IDs are 64 hex digits, not '\(reference.id.prefix(80))'") }
                    total += UInt64(reference.length)
                    if total > limit { throw APIError(.contentTooLarge, "too_large", "files are limited to \(limit) bytes") }
                    try await Blocking.run { try upload.appendReference(cid, length: Int(reference.length)) }
                case .chunk(let chunk)? where header.chunked:
                    guard let cid = ChunkID(hex: chunk.id) else { throw APIError.badRequest("chunk IDs are 64 hex digits, not '\(chunk.id.prefix(80))'") }
                    total += UInt64(chunk.data.count)
                    if total > limit { throw APIError(.contentTooLarge, "too_large", "files are limited to \(limit) bytes") }
                    let bytes = [UInt8](chunk.data)
                    try await Blocking.run { try upload.appendChunk(bytes, id: cid) }
                default:
                    throw APIError.badRequest(
                        header.chunked
                            ? "a chunked Write carries references and chunks after its header"
                            : "only the first message of Write is a header; the rest carry data (set chunked for references and chunks)")
                }
            }
            try await Blocking.run { try upload.finish(context: m) }
        } catch {
            upload.cancel()
            throw error
        }
        server.count(caller.principal, "write", session: header.session)
        let stat = try await Blocking.run { try store.stat(header.session, path: header.path) }
        return ServerResponse(message: Aether_V1_FileStat(stat))
    }

    func stat(request: ServerRequest<Aether_V1_StatRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .reader)
        let store = server.store
        return ServerResponse(message: Aether_V1_FileStat(try await Blocking.run { try store.stat(body.session, path: body.path) }))
    }

    func list(request: ServerRequest<Aether_V1_ListRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListResponse> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .reader)
        let store = server.store
        let entries = try await Blocking.run { () -> [Aether_V1_TreeEntry] in
            let path = try SessionPath(body.path.isEmpty ? "/" : body.path).description
            let found: [TreeEntry]
            if body.recursive {
                found = try store.listTree(body.session, path: path, limit: body.limit == 0 ? nil : Int(body.limit))
            } else {
                let prefix = path == "/" ? "/" : path + "/"
                found = try store.list(body.session, path: path).map { TreeEntry(path: prefix + $0.name, entry: $0) }
            }
            return found.map(Aether_V1_TreeEntry.init)
        }
        var response = Aether_V1_ListResponse()
        response.entries = entries
        return ServerResponse(message: response)
    }

    func delete(request: ServerRequest<Aether_V1_DeletePathRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_DeletePathResponse> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation(lockToken: body.hasLockToken ? body.lockToken : nil)
        let store = server.store
        try await Blocking.run { try store.remove(body.session, path: body.path, recursive: body.recursive, context: m) }
        server.count(caller.principal, "delete", session: body.session)
        return ServerResponse(message: Aether_V1_DeletePathResponse())
    }

    func rename(request: ServerRequest<Aether_V1_RenameRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation(lockToken: body.hasLockToken ? body.lockToken : nil)
        let store = server.store
        let stat = try await Blocking.run { () -> FileStat in
            try store.rename(body.session, from: body.from, to: body.to, context: m)
            return try store.stat(body.session, path: body.to)
        }
        return ServerResponse(message: Aether_V1_FileStat(stat))
    }

    func mkdir(request: ServerRequest<Aether_V1_MkdirRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation(lockToken: body.hasLockToken ? body.lockToken : nil)
        let store = server.store
        let stat = try await Blocking.run { () -> FileStat in
            try store.makeDirectory(body.session, path: body.path, parents: body.parents, context: m)
            return try store.stat(body.session, path: body.path)
        }
        return ServerResponse(message: Aether_V1_FileStat(stat))
    }

    /// A metadata call: authorize as writer, run `body` on the store, answer with the stat of `path`.
    private func metadataCall(
        _ metadata: Metadata, session: String, path: String, operation: String, _ body: @escaping @Sendable (AetherStore, MutationContext) throws -> Void
    ) async throws -> ServerResponse<Aether_V1_FileStat> {
        let caller = try await caller(metadata, .writer)
        _ = try await server.authorize(session, principal: caller.principal, .writer)
        let m = try caller.mutation(lockToken: nil)
        let store = server.store
        let stat = try await Blocking.run { () -> FileStat in
            try body(store, m)
            return try store.stat(session, path: path)
        }
        server.count(caller.principal, operation, session: session)
        return ServerResponse(message: Aether_V1_FileStat(stat))
    }

    func symlink(request: ServerRequest<Aether_V1_SymlinkRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let b = request.message
        return try await metadataCall(request.metadata, session: b.session, path: b.path, operation: "symlink") { store, m in
            try store.symlink(b.session, path: b.path, target: b.target, context: m)
        }
    }

    func chmod(request: ServerRequest<Aether_V1_ChmodRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let b = request.message
        guard b.mode <= 0o7777 else { throw APIError.badRequest("mode must be at most 0o7777 (4095): permission bits only") }
        return try await metadataCall(request.metadata, session: b.session, path: b.path, operation: "chmod") { store, m in
            try store.setMode(b.session, path: b.path, mode: b.mode, context: m)
        }
    }

    func setTimes(request: ServerRequest<Aether_V1_SetTimesRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let b = request.message
        guard b.hasMtime || b.hasAtime else { throw APIError.badRequest("give mtime, atime or both") }
        let mtime = b.hasMtime ? b.mtime.nanosecondsSince1970 : nil
        let atime = b.hasAtime ? b.atime.nanosecondsSince1970 : nil
        return try await metadataCall(request.metadata, session: b.session, path: b.path, operation: "touch") { store, m in
            try store.setTimes(b.session, path: b.path, mtime: mtime, atime: atime, context: m)
        }
    }

    func mknod(request: ServerRequest<Aether_V1_MknodRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let b = request.message
        guard let kind = b.kind.entryKind else { throw APIError.badRequest("kind is required: ENTRY_KIND_FIFO, _SOCKET, _CHAR_DEVICE or _BLOCK_DEVICE") }
        guard b.mode <= 0o7777 else { throw APIError.badRequest("mode must be at most 0o7777 (4095): permission bits only") }
        return try await metadataCall(request.metadata, session: b.session, path: b.path, operation: "mknod") { store, m in
            try store.makeNode(b.session, path: b.path, kind: kind, mode: b.mode, rdev: b.rdev, context: m)
        }
    }

    func chown(request: ServerRequest<Aether_V1_ChownRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let b = request.message
        return try await metadataCall(request.metadata, session: b.session, path: b.path, operation: "chown") { store, m in
            try store.setOwner(b.session, path: b.path, uid: b.hasUid ? b.uid : nil, gid: b.hasGid ? b.gid : nil, context: m)
        }
    }

    func link(request: ServerRequest<Aether_V1_LinkRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let b = request.message
        return try await metadataCall(request.metadata, session: b.session, path: b.to, operation: "link") { store, m in
            try store.link(b.session, from: b.from, to: b.to, context: m)
        }
    }

    func hardLinks(request: ServerRequest<Aether_V1_StatRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_HardLinksResponse> {
        let caller = try await caller(request.metadata, .reader)
        let b = request.message
        _ = try await server.authorize(b.session, principal: caller.principal, .reader)
        let store = server.store
        var response = Aether_V1_HardLinksResponse()
        response.names = try await Blocking.run { try store.hardLinks(b.session, path: b.path) }
        return ServerResponse(message: response)
    }

    func getXattrs(request: ServerRequest<Aether_V1_StatRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_XattrsResponse> {
        let caller = try await caller(request.metadata, .reader)
        let b = request.message
        _ = try await server.authorize(b.session, principal: caller.principal, .reader)
        let store = server.store
        var response = Aether_V1_XattrsResponse()
        response.xattrs = try await Blocking.run { try store.extendedAttributes(b.session, path: b.path) }.mapValues { Data($0) }
        return ServerResponse(message: response)
    }

    func setXattr(request: ServerRequest<Aether_V1_SetXattrRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let b = request.message
        guard !(b.createOnly && b.replaceOnly) else { throw APIError.badRequest("create_only and replace_only exclude each other") }
        let disposition: AetherStore.XattrDisposition = b.createOnly ? .create : b.replaceOnly ? .replace : .any
        return try await metadataCall(request.metadata, session: b.session, path: b.path, operation: "xattr") { store, m in
            try store.setExtendedAttribute(b.session, path: b.path, name: b.name, value: [UInt8](b.value), disposition: disposition, context: m)
        }
    }

    func removeXattr(request: ServerRequest<Aether_V1_RemoveXattrRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let b = request.message
        return try await metadataCall(request.metadata, session: b.session, path: b.path, operation: "xattr") { store, m in
            try store.removeExtendedAttribute(b.session, path: b.path, name: b.name, context: m)
        }
    }

    func patch(request: ServerRequest<Aether_V1_PatchRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_FileStat> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation()
        let store = server.store
        let bytes = [UInt8](body.data)
        let stat = try await Blocking.run { () -> FileStat in
            try store.patchFile(body.session, path: body.path, offset: body.offset, data: bytes, context: m)
            return try store.stat(body.session, path: body.path)
        }
        server.count(caller.principal, "patch", session: body.session)
        return ServerResponse(message: Aether_V1_FileStat(stat))
    }

    func batch(request: ServerRequest<Aether_V1_BatchRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_BatchResponse> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation()
        var changes: [BatchChange] = []
        for change in body.changes { changes.append(try change.change()) }
        let store = server.store
        let planned = changes
        let outcomes = try await Blocking.run { try store.apply(body.session, planned, context: m) }
        server.count(caller.principal, "batch", session: body.session)
        var response = Aether_V1_BatchResponse()
        response.outcomes = outcomes.map(Aether_V1_BatchOutcome.init)
        return ServerResponse(message: response)
    }

    func recordAccessTimes(
        request: ServerRequest<Aether_V1_RecordAccessTimesRequest>, context: ServerContext
    ) async throws -> ServerResponse<Aether_V1_RecordAccessTimesResponse> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        guard body.atimes.count <= 10_000 else { throw APIError(.contentTooLarge, "too_many_paths", "at most 10000 paths per request; send the rest in another") }
        let store = server.store
        var response = Aether_V1_RecordAccessTimesResponse()
        response.moved = UInt64(try await Blocking.run { try store.recordAccessTimes(body.session, body.atimes) })
        return ServerResponse(message: response)
    }

    func missingChunks(request: ServerRequest<Aether_V1_MissingChunksRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_MissingChunksResponse> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        var response = Aether_V1_MissingChunksResponse()
        response.missing = try await server.missingChunks(body.session, path: body.path, bases: body.bases, chunks: body.chunks)
        return ServerResponse(message: response)
    }
}
