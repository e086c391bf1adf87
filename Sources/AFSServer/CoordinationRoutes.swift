import AFSCore
import AFSWire
import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle

extension AetherServer {
    static func wantsEventStream(_ request: Request) -> Bool {
        request.headers[.accept]?.contains("text/event-stream") ?? false
    }

    /// Server-Sent Events: `id:` is the cursor, so a reconnect with Last-Event-ID resumes exactly.
    static func eventStream(_ produce: @escaping @Sendable (UInt64) async throws -> [(id: UInt64, event: String, data: Data)], from start: UInt64) -> Response {
        let body = ResponseBody { writer in
            var cursor = start
            // A graceful shutdown ends the stream (clients reconnect with Last-Event-ID) instead of
            // holding the server open until the next keep-alive finds the client gone.
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let from = cursor
                let items: [(id: UInt64, event: String, data: Data)]
                do {
                    items = try await cancelWhenGracefulShutdown { try await produce(from) }
                } catch is CancellationError {
                    break
                }
                if items.isEmpty {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    continue
                }
                var text = ""
                for item in items {
                    text += "id: \(item.id)\nevent: \(item.event)\ndata: \(String(decoding: item.data, as: UTF8.self))\n\n"
                    cursor = item.id
                }
                try await writer.write(ByteBuffer(string: text))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    func knowledgeScope(_ context: AFSRequestContext, session: Bool) async throws -> (String?, String) {
        let p = try context.require(.reader)
        if session {
            let id = try context.parameters.require("id")
            _ = try await authorize(id, context, .reader)
            return (id, "")
        }
        return (nil, p.knowledgeNamespace)
    }

    func addCoordinationRoutes(_ api: APIRouteTable) {
        api.tag = "coordination"
        api.add(.get, "/v1/sessions/{id}/changes", "The changefeed after a sequence number: a JSON page (long-polled with ?wait), or Server-Sent Events with Accept: text/event-stream (resuming from Last-Event-ID).",
            query: [.integer("since", "Events after this sequence number (default 0)."), .integer("limit", "At most this many (default 1000)."), .integer("wait", "Seconds to wait for the first event when there is none yet (at most 60).")],
            replies: [RouteReply(status: 200, description: "events, oldest first", body: .eventStream(ChangeEvent.self))]) { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            var cursor = try HTTPHelpers.queryUInt(request, "since") ?? 0
            let limit = Int(try HTTPHelpers.queryUInt(request, "limit") ?? 1000)
            let store = self.store
            if AetherServer.wantsEventStream(request) {
                if let last = request.headers[.lastEventID] {
                    guard let v = UInt64(last) else { throw APIError.badRequest("Last-Event-ID must be a sequence number") }
                    cursor = v
                }
                let since = cursor
                _ = try await Blocking.run { try store.changes(id, after: since, limit: 1) }  // expired cursors fail before streaming
                return AetherServer.eventStream({ cursor in
                    try await store.nextChanges(id, after: cursor, limit: limit, timeout: 5).map { e in
                        (e.seq, "change", try HTTPHelpers.encoder.encode(e))
                    }
                }, from: since)
            }
            let wait = try HTTPHelpers.queryUInt(request, "wait") ?? 0
            let since = cursor
            let events = wait > 0
                ? try await store.nextChanges(id, after: since, limit: limit, timeout: Double(min(wait, 60)))
                : try await Blocking.run { try store.changes(id, after: since, limit: limit) }
            return try HTTPHelpers.json(events)
        }

        api.add(.post, "/v1/sessions/{id}/bus/{topic}", "Publish a JSON message on a topic.", role: .writer, body: .anyJSON("The message: any JSON document, delivered as sent."), replies: [.created(BusMessage.self)]) { request, context in
            let id = try context.parameters.require("id")
            let topic = try HTTPHelpers.decodedParameter(context, "topic")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await request.body.collect(upTo: 1 << 20)
            let payload = String(decoding: body.readableBytesView, as: UTF8.self)
            let sender = try HTTPHelpers.mutation(request, p).actor
            let store = self.store
            let m = try await Blocking.run { try store.publish(id, topic: topic, payload: payload, sender: sender) }
            return try HTTPHelpers.json(m, status: .created)
        }

        api.add(.get, "/v1/sessions/{id}/bus/{topic}", "Messages of a topic from an offset: a JSON page (long-polled with ?wait), or Server-Sent Events with Accept: text/event-stream.",
            query: [.integer("from", "The first offset (default 1)."), .integer("limit", "At most this many (default 1000, at most 10000)."), .integer("wait", "Seconds to wait for a message when there is none yet (at most 60).")],
            replies: [RouteReply(status: 200, description: "messages, oldest first", body: .eventStream(BusMessage.self))]) { request, context in
            let id = try context.parameters.require("id")
            let topic = try HTTPHelpers.decodedParameter(context, "topic")
            _ = try await self.authorize(id, context, .reader)
            var first = try HTTPHelpers.queryUInt(request, "from") ?? 1
            let store = self.store
            if AetherServer.wantsEventStream(request) {
                if let last = request.headers[.lastEventID], let v = UInt64(last) { first = v + 1 }
                let from = first
                return AetherServer.eventStream({ cursor in
                    try await store.nextMessages(id, topic: topic, from: cursor + 1, timeout: 5).map { m in
                        (m.offset, "message", try HTTPHelpers.encoder.encode(m))
                    }
                }, from: from - 1)
            }
            let from = first
            let limit = Int(min(try HTTPHelpers.queryUInt(request, "limit") ?? 1000, 10_000))
            let wait = try HTTPHelpers.queryUInt(request, "wait") ?? 0
            let messages = wait > 0
                ? try await store.nextMessages(id, topic: topic, from: from, limit: limit, timeout: Double(min(wait, 60)))
                : try await Blocking.run { try store.messages(id, topic: topic, from: from, limit: limit) }
            return try HTTPHelpers.json(messages)
        }

        api.add(.post, "/v1/sessions/{id}/locks", "Acquire a lease; the response has its fencing token.", role: .writer, body: .json(LockRequest.self), replies: [.created(Lease.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(LockRequest.self, from: request, context: context)
            let holder = try body.holder ?? HTTPHelpers.mutation(request, p).actor
            let store = self.store
            let lease = try await Blocking.run {
                try store.acquireLease(
                    id, path: body.path, exclusive: body.exclusive ?? false, prefix: body.prefix ?? true, ttl: body.ttl ?? 60,
                    holder: holder, wait: min(body.wait ?? 0, 30))
            }
            return try HTTPHelpers.json(lease, status: .created)
        }

        api.add(.get, "/v1/sessions/{id}/locks", "Live leases.", replies: [.ok([Lease].self)]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.leases(id) })
        }

        api.add(.post, "/v1/sessions/{id}/locks/{token}/renew", "Renew a lease.", role: .writer, body: .json(RenewRequest.self, required: false), replies: [.ok(Lease.self)]) { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .writer)
            guard let token = UInt64(try context.parameters.require("token")) else { throw APIError.badRequest("token must be a number") }
            let body = try await self.optionalBody(RenewRequest.self, request, context)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.renewLease(id, token: token, ttl: body?.ttl ?? 60) })
        }

        api.add(.delete, "/v1/sessions/{id}/locks/{token}", "Release a lease.", role: .writer, replies: [.noContent]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .writer)
            guard let token = UInt64(try context.parameters.require("token")) else { throw APIError.badRequest("token must be a number") }
            let store = self.store
            try await Blocking.run { try store.releaseLease(id, token: token) }
            return Response(status: .noContent)
        }

        api.add(.post, "/v1/sessions/{id}/annotations", "Annotate the session, a path, a line range or a commit.", role: .writer, body: .json(AnnotationRequest.self), replies: [.created(Annotation.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let b = try await HTTPHelpers.decode(AnnotationRequest.self, from: request, context: context)
            let author = try HTTPHelpers.mutation(request, p).actor
            var range: ClosedRange<Int>?
            if let s = b.lineStart {
                let e = b.lineEnd ?? s
                guard e >= s else { throw APIError.badRequest("line_end must be >= line_start") }
                range = s...e
            }
            let lines = range
            let store = self.store
            let a = try await Blocking.run { try store.annotate(id, path: b.path, lines: lines, commit: b.commit, kind: b.kind ?? "note", text: b.text, author: author) }
            return try HTTPHelpers.json(a, status: .created)
        }

        api.add(.get, "/v1/sessions/{id}/annotations", "Annotations, oldest first.", query: [.string("path", "Only on this path."), .string("kind", "Only of this kind."), .string("author", "Only by this author.")], replies: [.ok([Annotation].self)]) { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            let (path, kind, author) = (HTTPHelpers.query(request, "path"), HTTPHelpers.query(request, "kind"), HTTPHelpers.query(request, "author"))
            return try HTTPHelpers.json(try await Blocking.run { try store.annotations(id, path: path, kind: kind, author: author) })
        }

        api.add(.post, "/v1/sessions/{id}/review", "Request review.", role: .writer, body: .json(ReviewRequest.self, required: false), replies: [.ok(ReviewState.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let b = try await self.optionalBody(ReviewRequest.self, request, context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.requestReview(id, reviewers: b?.reviewers ?? [], requiredApprovals: b?.requiredApprovals ?? 1, context: m) })
        }

        api.add(.get, "/v1/sessions/{id}/review", "Review state.", replies: [.ok(ReviewState.self)]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.review(id) })
        }

        for (verb, approve) in [("approve", true), ("reject", false)] {
            api.add(.post, "/v1/sessions/{id}/review/\(verb)", "\(approve ? "Approve" : "Reject") (as X-AFS-Actor).", role: .writer, body: .json(DecisionRequest.self, required: false), replies: [.ok(ReviewState.self)]) { request, context in
                let id = try context.parameters.require("id")
                let p = try context.require(.writer)
                _ = try await self.authorize(id, context, .writer)
                let b = try await self.optionalBody(DecisionRequest.self, request, context)
                let reviewer = try HTTPHelpers.mutation(request, p).actor
                let store = self.store
                return try HTTPHelpers.json(try await Blocking.run { try store.decide(id, approve: approve, comment: b?.comment ?? "", reviewer: reviewer) })
            }
        }

        api.add(.post, "/v1/sessions/{id}/undo", "Revert one actor's changes since a checkpoint.", role: .writer, body: .json(UndoRequest.self), replies: [.ok(UndoReport.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let b = try await HTTPHelpers.decode(UndoRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.undo(id, actor: b.actor, since: b.since, context: m) })
        }

        // Knowledge: store-wide under /v1/knowledge (tenant-scoped: keys are prefixed by the tenant
        // so tenants never see each other's), per session under /v1/sessions/{id}/knowledge.
        for sessionScoped in [false, true] {
            let base = sessionScoped ? "/v1/sessions/{id}/knowledge" : "/v1/knowledge"
            api.add(.get, base, "List knowledge entries.", query: [.string("prefix", "Only keys that start with this."), .string("tag", "Only entries with this tag.")], replies: [.ok([KnowledgeEntry].self)]) { request, context in
                let (session, ns) = try await self.knowledgeScope(context, session: sessionScoped)
                let store = self.store
                let (prefix, tag) = (HTTPHelpers.query(request, "prefix") ?? "", HTTPHelpers.query(request, "tag"))
                let entries = try await Blocking.run { try store.listKnowledge(session: session, prefix: ns + prefix, tag: tag) }
                return try HTTPHelpers.json(entries.map { e -> KnowledgeEntry in
                    var e = e
                    e.key = String(e.key.dropFirst(ns.count))
                    return e
                })
            }
            api.add(.get, base + "/{key}", "Get a knowledge entry.", replies: [.ok(KnowledgeEntry.self)]) { request, context in
                let (session, ns) = try await self.knowledgeScope(context, session: sessionScoped)
                let key = try HTTPHelpers.decodedParameter(context, "key")
                let store = self.store
                var e = try await Blocking.run { try store.knowledge(session: session, key: ns + key) }
                e.key = key
                return try HTTPHelpers.json(e)
            }
            api.add(.put, base + "/{key}", "Put a JSON value.", role: .writer, body: .anyJSON("The value: any JSON document."), query: [.string("tag", "A tag (repeatable).", repeated: true)], replies: [.ok(KnowledgeEntry.self)]) { request, context in
                let (session, ns) = try await self.knowledgeScope(context, session: sessionScoped)
                let p = try context.require(.writer)
                let key = try HTTPHelpers.decodedParameter(context, "key")
                let body = try await request.body.collect(upTo: 1 << 20)
                let value = String(decoding: body.readableBytesView, as: UTF8.self)
                let tags = request.uri.queryParameters.getAll("tag").map { String($0) }
                let author = try HTTPHelpers.mutation(request, p).actor
                let store = self.store
                var e = try await Blocking.run { try store.putKnowledge(session: session, key: ns + key, value: value, tags: tags, author: author) }
                e.key = key
                return try HTTPHelpers.json(e)
            }
            api.add(.delete, base + "/{key}", "Delete a knowledge entry.", role: .writer, replies: [.noContent]) { request, context in
                let (session, ns) = try await self.knowledgeScope(context, session: sessionScoped)
                _ = try context.require(.writer)
                let key = try HTTPHelpers.decodedParameter(context, "key")
                let store = self.store
                try await Blocking.run { try store.deleteKnowledge(session: session, key: ns + key) }
                return Response(status: .noContent)
            }
        }
    }
}
