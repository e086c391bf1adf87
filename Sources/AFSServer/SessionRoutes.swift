import AFSCore
import AFSWire
import Foundation
import Hummingbird

extension AetherServer {
    /// Optional small JSON body (fork/checkpoint accept none).
    func optionalBody<T: Decodable>(_ type: T.Type, _ request: Request, _ context: AFSRequestContext) async throws -> T? {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        if buffer.readableBytes == 0 { return nil }
        return try HTTPHelpers.decode(type, from: Data(buffer.readableBytesView))
    }

    func addSessionRoutes(_ api: APIRouteTable) {
        api.tag = "sessions"
        api.add(.post, "/v1/sessions", "Create a session from a source.", role: .writer, body: .json(CreateSessionRequest.self), replies: [.created(SessionInfo.self)]) { request, context in
            let principal = try context.require(.writer)
            let body = try await HTTPHelpers.decode(CreateSessionRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, principal)
            func need(_ v: String?, _ field: String) throws -> String {
                guard let v, !v.isEmpty else { throw APIError(.unprocessableContent, "invalid_body", "source kind \(body.source.kind) needs \"\(field)\"") }
                return v
            }
            let source: SessionSource
            switch body.source.kind {
            case .blank: source = .blank
            case .directory, .tar, .git:
                // These read paths on the server's disk: admin only. Clients upload tars to /v1/sessions/import.
                try AetherServer.requireServerDiskAccess(principal, kind: body.source.kind.rawValue)
                let path = try need(body.source.path, "path")
                source = body.source.kind == .directory ? .directory(path) : body.source.kind == .tar ? .tar(path) : .git(repository: path, ref: body.source.ref ?? "HEAD")
            case .session: source = .session(try need(body.source.id, "id"))
            case .checkpoint: source = .checkpoint(try need(body.source.id, "id"))
            case .commit: source = .commit(try need(body.source.id, "id"))
            case .snapshot: source = .snapshot(try need(body.source.name ?? body.source.id, "name"))
            }
            let info = try await self.createSession(name: body.name, from: source, principal: principal, context: m)
            return try HTTPHelpers.json(info, status: .created)
        }

        api.add(.post, "/v1/sessions/import", "Create a session from a tar archive streamed as the body.", role: .writer,
            body: .bytes(["application/x-tar", "application/octet-stream"], "A tar archive (ustar, pax or GNU)."),
            query: [.string("name", "The new session's name."), .boolean("same_owner", "Record the archive's numeric owners (uid, gid).")],
            replies: [.created(SessionInfo.self)]) { request, context in
            let principal = try context.require(.writer)
            let m = try HTTPHelpers.mutation(request, principal)
            let name = HTTPHelpers.query(request, "name")
            let sameOwner = HTTPHelpers.query(request, "same_owner") == "true"
            let info = try await HTTPHelpers.pipeBody(request.body.map { Array($0.readableBytesView) }, maxBytes: self.configuration.maxArchiveBytes) { fd in
                try self.importTar(fromDescriptor: fd, name: name, sameOwner: sameOwner, principal: principal, context: m)
            }
            self.count(context, "import", session: info.id)
            return try HTTPHelpers.json(info, status: .created)
        }

        api.add(.get, "/v1/sessions", "List the tenant's sessions.", query: [.string("status", "Only sessions in this state (active, pending-approval, approved, rejected, committed, archived).")], replies: [.ok([SessionInfo].self)]) { request, context in
            let principal = try context.require(.reader)
            var status: SessionStatus?
            if let raw = HTTPHelpers.query(request, "status") {
                guard let s = SessionStatus(rawValue: raw) else { throw APIError.badRequest("unknown status \(raw)") }
                status = s
            }
            return try HTTPHelpers.json(try await self.visibleSessions(principal, status: status))
        }

        api.add(.get, "/v1/sessions/{id}", "One session.", replies: [.ok(SessionInfo.self)]) { _, context in
            let id = try context.parameters.require("id")
            return try HTTPHelpers.json(try await self.authorize(id, context, .reader))
        }

        api.add(.delete, "/v1/sessions/{id}", "Delete a session (space returns at the next GC).", role: .writer, replies: [.noContent]) { _, context in
            let id = try context.parameters.require("id")
            try await self.deleteSession(id, principal: try context.require(.writer))
            return Response(status: .noContent)
        }

        api.add(.post, "/v1/sessions/{id}/archive", "Make a session read-only.", role: .writer, replies: [.ok(SessionInfo.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let info = try await Blocking.run { () -> SessionInfo in
                try store.archive(id, context: m)
                return try store.session(id)
            }
            return try HTTPHelpers.json(info)
        }

        api.add(.post, "/v1/sessions/{id}/fork", "Fork a session: O(1).", role: .writer, body: .json(ForkRequest.self, required: false), replies: [.created(SessionInfo.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await self.optionalBody(ForkRequest.self, request, context)
            let m = try HTTPHelpers.mutation(request, p)
            let info = try await self.forkSession(id, name: body?.name, principal: p, context: m)
            return try HTTPHelpers.json(info, status: .created)
        }

        api.add(.post, "/v1/sessions/{id}/checkpoints", "Take a checkpoint.", role: .writer, body: .json(CheckpointRequest.self, required: false), replies: [.created(CheckpointInfo.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await self.optionalBody(CheckpointRequest.self, request, context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let c = try await Blocking.run { try store.checkpoint(id, label: body?.label, context: m) }
            self.count(context, "checkpoint", session: id)
            return try HTTPHelpers.json(c, status: .created)
        }

        api.add(.get, "/v1/sessions/{id}/checkpoints", "List checkpoints, oldest first.", replies: [.ok([CheckpointInfo].self)]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.checkpoints(of: id) })
        }

        api.add(.post, "/v1/sessions/{id}/restore", "Restore a checkpoint.", role: .writer, body: .json(RestoreRequest.self), replies: [.ok(SessionInfo.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(RestoreRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let info = try await Blocking.run { () -> SessionInfo in
                try store.restore(id, checkpoint: body.checkpoint, context: m)
                return try store.session(id)
            }
            return try HTTPHelpers.json(info)
        }

        api.add(.post, "/v1/sessions/{id}/commits", "Commit the session's tree.", role: .writer, body: .json(CommitRequest.self), replies: [.created(CommitInfo.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(CommitRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let c = try await Blocking.run { try store.commit(id, message: body.message, author: body.author ?? m.actor, context: m) }
            self.count(context, "commit", session: id)
            return try HTTPHelpers.json(c, status: .created)
        }

        api.add(.post, "/v1/sessions/{id}/promote", "Promote the latest commit into a ref.", role: .writer, body: .json(PromoteRequest.self),
            replies: [.ok(PromoteResult.self), RouteReply(status: 409, description: "conflicted: the paths changed on both sides; the ref did not move", body: .json(PromoteResult.self))]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(PromoteRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let r = try await self.promote(id, ref: body.ref, principal: p, context: m)
            return try HTTPHelpers.json(r, status: r.outcome == .conflicted ? .conflict : .ok)
        }

        api.add(.get, "/v1/sessions/{id}/diff", "Changes from another session, checkpoint, commit or ref to this session.",
            query: [.string("against", "A session, checkpoint or commit ID, or a ref name.", required: true)], replies: [.ok([DiffEntry].self)]) { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            guard let against = HTTPHelpers.query(request, "against") else { throw APIError.badRequest("?against=OTHER is required") }
            return try HTTPHelpers.json(try await self.diff(id, against: against, principal: try context.require(.reader)))
        }

        api.add(.get, "/v1/sessions/{id}/export", "The session's files as a tar stream.", replies: [.bytes("application/x-tar", "a pax tar archive")]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            self.count(context, "export", session: id)
            return try HTTPHelpers.pipeResponse(headers: [.contentType: "application/x-tar"]) { fd in try store.exportTar(id, to: fd) }
        }

        api.add(.get, "/v1/sessions/{id}/manifest", "Every non-directory entry with kind, size, mode, owner and content ID.", replies: [.ok([ManifestEntry].self)]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.manifest(id) })
        }

        api.add(.get, "/v1/refs", "Refs and their commits.", replies: [.ok([RefInfo].self)]) { _, context in
            return try HTTPHelpers.json(try await self.refs(principal: try context.require(.reader)))
        }

        api.add(
            .get, "/v1/refs/{name}/log", "The commits reachable from a ref (or a commit ID), newest first, every parent of a merge followed.",
            query: [.integer("limit", "At most this many (default 100, at most 1000)."), .integer("skip", "Leave out this many newest first (paging).")],
            replies: [.ok([CommitInfo].self)]
        ) { request, context in
            let p = try context.require(.reader)
            let name = try HTTPHelpers.decodedParameter(context, "name")
            let limit = Int(try HTTPHelpers.queryUInt(request, "limit") ?? 100)
            let skip = Int(try HTTPHelpers.queryUInt(request, "skip") ?? 0)
            return try HTTPHelpers.json(try await self.log(name, principal: p, limit: min(limit, AetherStore.maxLogLength), skip: skip))
        }

        api.add(.get, "/v1/commits/{id}", "One commit: its tree, parents, message, author and time.", replies: [.ok(CommitInfo.self)]) { _, context in
            let p = try context.require(.reader)
            let id = try context.parameters.require("id")
            return try HTTPHelpers.json(try await self.commit(id, principal: p))
        }

        api.add(.put, "/v1/refs/{name}/policy", "Require approvals to promote into a ref (admin).", role: .admin, body: .json(RefPolicyRequest.self), replies: [.ok(RefPolicy.self)]) { request, context in
            let p = try context.require(.admin)
            let name = try context.parameters.require("name")
            let body = try await HTTPHelpers.decode(RefPolicyRequest.self, from: request, context: context)
            try await self.setRefPolicy(name, requiredApprovals: body.requiredApprovals, principal: p)
            return try HTTPHelpers.json(RefPolicy(ref: name, requiredApprovals: body.requiredApprovals))
        }

        api.add(.get, "/v1/refs/{name}/policy", "Approvals a promote into the ref needs (0: none), so a client can say so before trying.", replies: [.ok(RefPolicy.self)]) { _, context in
            let p = try context.require(.reader)
            let name = try context.parameters.require("name")
            let required = try await self.refPolicy(name, principal: p)
            return try HTTPHelpers.json(RefPolicy(ref: name, requiredApprovals: required))
        }
    }
}
