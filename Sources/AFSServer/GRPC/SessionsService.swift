import AFSCore
import AFSWire
import AFSGRPC
import Foundation
import GRPCCore

/// `aether.v1.Sessions`: the session routes of the HTTP API over gRPC, with the same rules (they
/// share `AetherServer`'s operations) and the same errors (mapped by `ErrorMappingInterceptor`).
struct SessionsService: Aether_V1_Sessions.ServiceProtocol {
    let server: AetherServer

    private func caller(_ metadata: Metadata, _ role: Role) async throws -> RPCCaller {
        try await RPCCaller(metadata, access: server.access, limiter: server.limiter, role: role)
    }

    func create(request: ServerRequest<Aether_V1_CreateSessionRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Session> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        let source: SessionSource
        switch body.source.kind {
        case .blank: source = .blank
        case .session(let id): source = .session(id)
        case .checkpoint(let id): source = .checkpoint(id)
        case .commit(let id): source = .commit(id)
        case .snapshot(let name): source = .snapshot(name)
        case .directory(let path): source = .directory(path)
        case .tar(let path): source = .tar(path)
        case .git(let git): source = .git(repository: git.repository, ref: git.hasRef ? git.ref : "HEAD")
        case nil: throw APIError.badRequest("source is required: blank, session, checkpoint, commit, snapshot, directory, tar or git")
        }
        let info = try await server.createSession(
            name: body.hasName ? body.name : nil, from: source, principal: caller.principal, context: try caller.mutation())
        return ServerResponse(message: Aether_V1_Session(info))
    }

    func list(request: ServerRequest<Aether_V1_ListSessionsRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListSessionsResponse> {
        let caller = try await caller(request.metadata, .reader)
        let status = request.message.status
        if case .UNRECOGNIZED(let raw) = status { throw APIError.badRequest("unknown status \(raw)") }
        var response = Aether_V1_ListSessionsResponse()
        response.sessions = try await server.visibleSessions(caller.principal, status: status.engineStatus).map(Aether_V1_Session.init)
        return ServerResponse(message: response)
    }

    func get(request: ServerRequest<Aether_V1_GetSessionRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Session> {
        let caller = try await caller(request.metadata, .reader)
        let info = try await server.authorize(request.message.session, principal: caller.principal, .reader)
        return ServerResponse(message: Aether_V1_Session(info))
    }

    func delete(request: ServerRequest<Aether_V1_DeleteSessionRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_DeleteSessionResponse> {
        let caller = try await caller(request.metadata, .writer)
        try await server.deleteSession(request.message.session, principal: caller.principal)
        return ServerResponse(message: Aether_V1_DeleteSessionResponse())
    }

    func archive(request: ServerRequest<Aether_V1_ArchiveSessionRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Session> {
        let caller = try await caller(request.metadata, .writer)
        let id = request.message.session
        _ = try await server.authorize(id, principal: caller.principal, .writer)
        let m = try caller.mutation()
        let store = server.store
        let info = try await Blocking.run { () -> SessionInfo in
            try store.archive(id, context: m)
            return try store.session(id)
        }
        return ServerResponse(message: Aether_V1_Session(info))
    }

    func fork(request: ServerRequest<Aether_V1_ForkSessionRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Session> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        let info = try await server.forkSession(
            body.session, name: body.hasName ? body.name : nil, principal: caller.principal, context: try caller.mutation())
        return ServerResponse(message: Aether_V1_Session(info))
    }

    func checkpoint(request: ServerRequest<Aether_V1_CheckpointRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Checkpoint> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation()
        let store = server.store
        let checkpoint = try await Blocking.run { try store.checkpoint(body.session, label: body.hasLabel ? body.label : nil, context: m) }
        server.count(caller.principal, "checkpoint", session: body.session)
        return ServerResponse(message: Aether_V1_Checkpoint(checkpoint))
    }

    func listCheckpoints(request: ServerRequest<Aether_V1_ListCheckpointsRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListCheckpointsResponse> {
        let caller = try await caller(request.metadata, .reader)
        let id = request.message.session
        _ = try await server.authorize(id, principal: caller.principal, .reader)
        let store = server.store
        var response = Aether_V1_ListCheckpointsResponse()
        response.checkpoints = try await Blocking.run { try store.checkpoints(of: id) }.map(Aether_V1_Checkpoint.init)
        return ServerResponse(message: response)
    }

    func restore(request: ServerRequest<Aether_V1_RestoreRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Session> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation()
        let store = server.store
        let info = try await Blocking.run { () -> SessionInfo in
            try store.restore(body.session, checkpoint: body.checkpoint, context: m)
            return try store.session(body.session)
        }
        return ServerResponse(message: Aether_V1_Session(info))
    }

    func commit(request: ServerRequest<Aether_V1_CommitRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Commit> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation()
        let store = server.store
        let commit = try await Blocking.run {
            try store.commit(body.session, message: body.message, author: body.hasAuthor ? body.author : m.actor, context: m)
        }
        server.count(caller.principal, "commit", session: body.session)
        return ServerResponse(message: Aether_V1_Commit(commit))
    }

    func promote(request: ServerRequest<Aether_V1_PromoteRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_PromoteResponse> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation()
        let result = try await server.promote(body.session, ref: body.ref, principal: caller.principal, context: m)
        return ServerResponse(message: Aether_V1_PromoteResponse(result))
    }

    func diff(request: ServerRequest<Aether_V1_DiffRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_DiffResponse> {
        let caller = try await caller(request.metadata, .reader)
        guard !request.message.against.isEmpty else { throw APIError.badRequest("against is required: a session, checkpoint, commit, ref or snapshot") }
        var response = Aether_V1_DiffResponse()
        response.entries = try await server.diff(request.message.session, against: request.message.against, principal: caller.principal)
            .map(Aether_V1_DiffEntry.init)
        return ServerResponse(message: response)
    }

    func manifest(request: ServerRequest<Aether_V1_ManifestRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ManifestResponse> {
        let caller = try await caller(request.metadata, .reader)
        let id = request.message.session
        _ = try await server.authorize(id, principal: caller.principal, .reader)
        let store = server.store
        var response = Aether_V1_ManifestResponse()
        response.entries = try await Blocking.run { try store.manifest(id) }.map(Aether_V1_ManifestEntry.init)
        return ServerResponse(message: response)
    }

    func export(request: ServerRequest<Aether_V1_ExportRequest>, context: ServerContext) async throws -> StreamingServerResponse<Aether_V1_ExportChunk> {
        let caller = try await caller(request.metadata, .reader)
        let id = request.message.session
        _ = try await server.authorize(id, principal: caller.principal, .reader)
        let store = server.store
        server.count(caller.principal, "export", session: id)
        let pipe = try ProducerPipe { fd in try store.exportTar(id, to: fd) }
        return StreamingServerResponse { writer in
            defer { pipe.closeReadingEnd() }
            while !context.cancellation.isCancelled {
                let bytes = try await pipe.next()
                if bytes.isEmpty {
                    if let failure = pipe.producerError { throw failure }
                    break
                }
                var chunk = Aether_V1_ExportChunk()
                chunk.data = Data(bytes)
                try await writer.write(chunk)
            }
            return [:]
        }
    }

    func importTar(request: StreamingServerRequest<Aether_V1_ImportChunk>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Session> {
        let caller = try await caller(request.metadata, .writer)
        let m = try caller.mutation()
        var messages = request.messages.makeAsyncIterator()
        let first = try await messages.next() ?? Aether_V1_ImportChunk()
        let name = first.hasName ? first.name : nil
        let body = StreamedBytes(first: [UInt8](first.data), rest: messages) { [UInt8]($0.data) }
        let server = self.server
        let info = try await HTTPHelpers.pipeBody(body, maxBytes: server.configuration.maxArchiveBytes) { fd in
            try server.importTar(fromDescriptor: fd, name: name, sameOwner: first.sameOwner, principal: caller.principal, context: m)
        }
        server.count(caller.principal, "import", session: info.id)
        return ServerResponse(message: Aether_V1_Session(info))
    }

    func listRefs(request: ServerRequest<Aether_V1_ListRefsRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListRefsResponse> {
        let caller = try await caller(request.metadata, .reader)
        var response = Aether_V1_ListRefsResponse()
        response.refs = try await server.refs(principal: caller.principal).map(Aether_V1_Ref.init)
        return ServerResponse(message: response)
    }

    func log(request: ServerRequest<Aether_V1_LogRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_LogResponse> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        let limit = body.hasLimit ? Int(body.limit) : 100
        var response = Aether_V1_LogResponse()
        response.commits = try await server.log(body.start, principal: caller.principal, limit: min(limit, AetherStore.maxLogLength), skip: Int(body.skip))
            .map(Aether_V1_Commit.init)
        return ServerResponse(message: response)
    }

    func getCommit(request: ServerRequest<Aether_V1_GetCommitRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Commit> {
        let caller = try await caller(request.metadata, .reader)
        return ServerResponse(message: Aether_V1_Commit(try await server.commit(request.message.id, principal: caller.principal)))
    }

    func getRefPolicy(request: ServerRequest<Aether_V1_GetRefPolicyRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_RefPolicy> {
        let caller = try await caller(request.metadata, .reader)
        let ref = request.message.ref
        var policy = Aether_V1_RefPolicy()
        policy.ref = ref
        policy.requiredApprovals = UInt32(clamping: try await server.refPolicy(ref, principal: caller.principal))
        return ServerResponse(message: policy)
    }

    func setRefPolicy(request: ServerRequest<Aether_V1_SetRefPolicyRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_RefPolicy> {
        let caller = try await caller(request.metadata, .admin)
        let body = request.message
        try await server.setRefPolicy(body.ref, requiredApprovals: Int(body.requiredApprovals), principal: caller.principal)
        var policy = Aether_V1_RefPolicy()
        policy.ref = body.ref
        policy.requiredApprovals = body.requiredApprovals
        return ServerResponse(message: policy)
    }

    func createSnapshot(request: ServerRequest<Aether_V1_CreateSnapshotRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Snapshot> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let store = server.store
        return ServerResponse(message: Aether_V1_Snapshot(try await Blocking.run { try store.createSnapshot(of: body.session, name: body.name) }))
    }

    func listSnapshots(request: ServerRequest<Aether_V1_ListSnapshotsRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListSnapshotsResponse> {
        let caller = try await caller(request.metadata, .reader)
        var response = Aether_V1_ListSnapshotsResponse()
        response.snapshots = try await server.visibleSnapshots(caller.principal).map(Aether_V1_Snapshot.init)
        return ServerResponse(message: response)
    }
}
