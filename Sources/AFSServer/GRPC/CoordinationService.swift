import AFSCore
import AFSWire
import AFSGRPC
import GRPCCore

/// `aether.v1.Coordination`: the changefeed and bus as live server streams, leases, annotations
/// and knowledge entries, with the rules of the HTTP coordination routes.
struct CoordinationService: Aether_V1_Coordination.ServiceProtocol {
    let server: AetherServer
    let shutdown: ShutdownFlag

    /// How long one long poll waits for news before the stream checks whether it should end (the
    /// client cancelled, the server is shutting down). Bounds how late a stream notices either.
    static let pollInterval = 1.0

    private func caller(_ metadata: Metadata, _ role: Role) async throws -> RPCCaller {
        try await RPCCaller(metadata, access: server.access, limiter: server.limiter, role: role)
    }

    /// Writes every batch `poll` returns until the client cancels or the server shuts down.
    /// `poll` receives the cursor after the last item written and long-polls for the next ones.
    private func follow<Item: Sendable, Message: Sendable>(
        from start: UInt64, context: ServerContext, writer: RPCWriter<Message>,
        poll: (UInt64) async throws -> [Item], cursor: (Item) -> UInt64, message: (Item) -> Message
    ) async throws {
        var position = start
        while !context.cancellation.isCancelled && !shutdown.isRaised && !Task.isCancelled {
            for item in try await poll(position) {
                try await writer.write(message(item))
                position = cursor(item)
            }
        }
    }

    func subscribeChanges(request: ServerRequest<Aether_V1_SubscribeChangesRequest>, context: ServerContext) async throws -> StreamingServerResponse<Aether_V1_ChangeEvent> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .reader)
        let store = server.store
        // An expired cursor fails the call itself, before the stream starts.
        _ = try await Blocking.run { try store.changes(body.session, after: body.since, limit: 1) }
        let limit = body.hasLimit ? Int(body.limit) : 1000
        return StreamingServerResponse { writer in
            try await follow(
                from: body.since, context: context, writer: writer,
                poll: { try await store.nextChanges(body.session, after: $0, limit: limit, timeout: CoordinationService.pollInterval) },
                cursor: \.seq, message: Aether_V1_ChangeEvent.init)
            return [:]
        }
    }

    func listChanges(request: ServerRequest<Aether_V1_ListChangesRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListChangesResponse> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .reader)
        let store = server.store
        let limit = body.hasLimit ? Int(body.limit) : 1000
        var response = Aether_V1_ListChangesResponse()
        response.events = try await Blocking.run { try store.changes(body.session, after: body.since, limit: limit) }.map(Aether_V1_ChangeEvent.init)
        return ServerResponse(message: response)
    }

    func publish(request: ServerRequest<Aether_V1_PublishRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_BusMessage> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let sender = try caller.actor()
        let store = server.store
        let message = try await Blocking.run { try store.publish(body.session, topic: body.topic, payload: body.payload, sender: sender) }
        return ServerResponse(message: Aether_V1_BusMessage(message))
    }

    func subscribeBus(request: ServerRequest<Aether_V1_SubscribeBusRequest>, context: ServerContext) async throws -> StreamingServerResponse<Aether_V1_BusMessage> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .reader)
        let store = server.store
        let first = body.hasFrom ? max(body.from, 1) : 1
        // Topic names are checked before the stream starts.
        _ = try await Blocking.run { try store.messages(body.session, topic: body.topic, from: first, limit: 1) }
        return StreamingServerResponse { writer in
            try await follow(
                from: first - 1, context: context, writer: writer,
                poll: { try await store.nextMessages(body.session, topic: body.topic, from: $0 + 1, timeout: CoordinationService.pollInterval) },
                cursor: \.offset, message: Aether_V1_BusMessage.init)
            return [:]
        }
    }

    func acquireLease(request: ServerRequest<Aether_V1_AcquireLeaseRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Lease> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let holder = body.hasHolder ? body.holder : try caller.actor()
        let store = server.store
        let lease = try await Blocking.run {
            try store.acquireLease(
                body.session, path: body.path, exclusive: body.exclusive, prefix: body.hasPrefix ? body.prefix : true,
                ttl: body.hasTtl ? body.ttl : 60, holder: holder, wait: min(body.hasWait ? body.wait : 0, 30))
        }
        return ServerResponse(message: Aether_V1_Lease(lease))
    }

    func renewLease(request: ServerRequest<Aether_V1_RenewLeaseRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Lease> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let store = server.store
        let lease = try await Blocking.run { try store.renewLease(token: body.token, ttl: body.hasTtl ? body.ttl : 60) }
        return ServerResponse(message: Aether_V1_Lease(lease))
    }

    func releaseLease(request: ServerRequest<Aether_V1_ReleaseLeaseRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ReleaseLeaseResponse> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let store = server.store
        try await Blocking.run { try store.releaseLease(token: body.token) }
        return ServerResponse(message: Aether_V1_ReleaseLeaseResponse())
    }

    func listLeases(request: ServerRequest<Aether_V1_ListLeasesRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListLeasesResponse> {
        let caller = try await caller(request.metadata, .reader)
        let id = request.message.session
        _ = try await server.authorize(id, principal: caller.principal, .reader)
        let store = server.store
        var response = Aether_V1_ListLeasesResponse()
        response.leases = try await Blocking.run { try store.leases(id) }.map(Aether_V1_Lease.init)
        return ServerResponse(message: response)
    }

    func annotate(request: ServerRequest<Aether_V1_AnnotateRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Annotation> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let author = try caller.actor()
        var lines: ClosedRange<Int>?
        if body.hasLineStart {
            let (start, end) = (Int(body.lineStart), Int(body.hasLineEnd ? body.lineEnd : body.lineStart))
            guard end >= start else { throw APIError.badRequest("line_end must be >= line_start") }
            lines = start...end
        }
        let range = lines
        let store = server.store
        let annotation = try await Blocking.run {
            try store.annotate(
                body.session, path: body.hasPath ? body.path : nil, lines: range, commit: body.hasCommit ? body.commit : nil,
                kind: body.hasKind ? body.kind : "note", text: body.text, author: author)
        }
        return ServerResponse(message: Aether_V1_Annotation(annotation))
    }

    func listAnnotations(request: ServerRequest<Aether_V1_ListAnnotationsRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListAnnotationsResponse> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .reader)
        let store = server.store
        var response = Aether_V1_ListAnnotationsResponse()
        response.annotations = try await Blocking.run {
            try store.annotations(
                body.session, path: body.hasPath ? body.path : nil, kind: body.hasKind ? body.kind : nil, author: body.hasAuthor ? body.author : nil)
        }.map(Aether_V1_Annotation.init)
        return ServerResponse(message: response)
    }

    /// The knowledge scope of a call: a session the caller may see, or the caller's tenant-wide
    /// namespace (a key prefix, so tenants never see each other's entries).
    private func knowledgeScope(_ caller: RPCCaller, session: String?) async throws -> (session: String?, namespace: String) {
        guard let session else { return (nil, caller.principal.knowledgeNamespace) }
        _ = try await server.authorize(session, principal: caller.principal, .reader)
        return (session, "")
    }

    func getKnowledge(request: ServerRequest<Aether_V1_GetKnowledgeRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_KnowledgeEntry> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        let (session, ns) = try await knowledgeScope(caller, session: body.hasSession ? body.session : nil)
        let store = server.store
        let entry = try await Blocking.run { try store.knowledge(session: session, key: ns + body.key) }
        return ServerResponse(message: Aether_V1_KnowledgeEntry(entry, namespace: ns))
    }

    func putKnowledge(request: ServerRequest<Aether_V1_PutKnowledgeRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_KnowledgeEntry> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        let (session, ns) = try await knowledgeScope(caller, session: body.hasSession ? body.session : nil)
        let author = try caller.actor()
        let store = server.store
        let entry = try await Blocking.run { try store.putKnowledge(session: session, key: ns + body.key, value: body.value, tags: body.tags, author: author) }
        return ServerResponse(message: Aether_V1_KnowledgeEntry(entry, namespace: ns))
    }

    func listKnowledge(request: ServerRequest<Aether_V1_ListKnowledgeRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListKnowledgeResponse> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        let (session, ns) = try await knowledgeScope(caller, session: body.hasSession ? body.session : nil)
        let store = server.store
        let entries = try await Blocking.run { try store.listKnowledge(session: session, prefix: ns + body.prefix, tag: body.hasTag ? body.tag : nil) }
        var response = Aether_V1_ListKnowledgeResponse()
        response.entries = entries.map { Aether_V1_KnowledgeEntry($0, namespace: ns) }
        return ServerResponse(message: response)
    }

    func deleteKnowledge(request: ServerRequest<Aether_V1_DeleteKnowledgeRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_DeleteKnowledgeResponse> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        let (session, ns) = try await knowledgeScope(caller, session: body.hasSession ? body.session : nil)
        let store = server.store
        try await Blocking.run { try store.deleteKnowledge(session: session, key: ns + body.key) }
        return ServerResponse(message: Aether_V1_DeleteKnowledgeResponse())
    }

    func listMessages(request: ServerRequest<Aether_V1_ListMessagesRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListMessagesResponse> {
        let caller = try await caller(request.metadata, .reader)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .reader)
        let from = body.hasFrom ? max(body.from, 1) : 1
        let limit = body.hasLimit ? Int(min(body.limit, 10_000)) : 1000
        let store = server.store
        var response = Aether_V1_ListMessagesResponse()
        response.messages = try await Blocking.run { try store.messages(body.session, topic: body.topic, from: from, limit: limit) }.map(Aether_V1_BusMessage.init)
        return ServerResponse(message: response)
    }

    func listTopics(request: ServerRequest<Aether_V1_ListTopicsRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListTopicsResponse> {
        let caller = try await caller(request.metadata, .reader)
        let id = request.message.session
        _ = try await server.authorize(id, principal: caller.principal, .reader)
        let store = server.store
        var response = Aether_V1_ListTopicsResponse()
        response.topics = try await Blocking.run { try store.topics(id) }
        return ServerResponse(message: response)
    }

    func requestReview(request: ServerRequest<Aether_V1_RequestReviewRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ReviewState> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation()
        let required = body.hasRequiredApprovals ? Int(body.requiredApprovals) : 1
        let store = server.store
        let state = try await Blocking.run { try store.requestReview(body.session, reviewers: body.reviewers, requiredApprovals: required, context: m) }
        return ServerResponse(message: Aether_V1_ReviewState(state))
    }

    func getReview(request: ServerRequest<Aether_V1_GetReviewRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ReviewState> {
        let caller = try await caller(request.metadata, .reader)
        let id = request.message.session
        _ = try await server.authorize(id, principal: caller.principal, .reader)
        let store = server.store
        return ServerResponse(message: Aether_V1_ReviewState(try await Blocking.run { try store.review(id) }))
    }

    func decide(request: ServerRequest<Aether_V1_DecideRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ReviewState> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let reviewer = try caller.actor()
        let store = server.store
        let state = try await Blocking.run { try store.decide(body.session, approve: body.approve, comment: body.comment, reviewer: reviewer) }
        return ServerResponse(message: Aether_V1_ReviewState(state))
    }

    func undo(request: ServerRequest<Aether_V1_UndoRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_UndoReport> {
        let caller = try await caller(request.metadata, .writer)
        let body = request.message
        _ = try await server.authorize(body.session, principal: caller.principal, .writer)
        let m = try caller.mutation()
        let store = server.store
        let report = try await Blocking.run { try store.undo(body.session, actor: body.actor, since: body.hasSince ? body.since : nil, context: m) }
        return ServerResponse(message: Aether_V1_UndoReport(report))
    }
}
