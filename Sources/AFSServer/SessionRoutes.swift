import AFSCore
import Foundation
import Hummingbird

extension AetherServer {
    struct CreateSessionRequest: Decodable {
        struct Source: Decodable {
            var kind: String
            var path: String?
            var ref: String?
            var id: String?
            var name: String?
        }
        var name: String?
        var source: Source
    }

    struct RestoreRequest: Decodable { var checkpoint: String }
    struct CommitRequest: Decodable {
        var message: String
        var author: String?
    }
    struct PromoteRequest: Decodable { var ref: String }
    struct CheckpointRequest: Decodable { var label: String? }
    struct ForkRequest: Decodable { var name: String? }

    /// Optional small JSON body (fork/checkpoint accept none).
    func optionalBody<T: Decodable>(_ type: T.Type, _ request: Request, _ context: AFSRequestContext) async throws -> T? {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        if buffer.readableBytes == 0 { return nil }
        let data = Data(buffer.readableBytesView)
        guard (try? JSONSerialization.jsonObject(with: data)) != nil else { throw APIError.badRequest("the body is not valid JSON") }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw APIError(.unprocessableContent, "invalid_body", "the JSON body does not have the expected fields")
        }
    }

    func addSessionRoutes(_ api: APIRouteTable) {
        api.add(.post, "/v1/sessions", "Create a session from a source.", role: .writer, body: "application/json") { request, context in
            let principal = try context.require(.writer)
            let body = try await HTTPHelpers.decode(CreateSessionRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, principal)
            func need(_ v: String?, _ field: String) throws -> String {
                guard let v, !v.isEmpty else { throw APIError(.unprocessableContent, "invalid_body", "source kind \(body.source.kind) needs \"\(field)\"") }
                return v
            }
            let source: SessionSource
            switch body.source.kind {
            case "blank": source = .blank
            case "directory", "tar", "git":
                // These read paths on the server's disk: admin only. Clients upload tars to /v1/sessions/import.
                try AetherServer.requireServerDiskAccess(principal, kind: body.source.kind)
                let path = try need(body.source.path, "path")
                source = body.source.kind == "directory" ? .directory(path) : body.source.kind == "tar" ? .tar(path) : .git(repository: path, ref: body.source.ref ?? "HEAD")
            case "session": source = .session(try need(body.source.id, "id"))
            case "checkpoint": source = .checkpoint(try need(body.source.id, "id"))
            case "commit": source = .commit(try need(body.source.id, "id"))
            case "snapshot": source = .snapshot(try need(body.source.name ?? body.source.id, "name"))
            default:
                throw APIError(.unprocessableContent, "invalid_body", "unknown source kind \(body.source.kind); use blank, directory, tar, git, session, checkpoint, commit or snapshot")
            }
            let info = try await self.createSession(name: body.name, from: source, principal: principal, context: m)
            return try HTTPHelpers.json(info, status: .created)
        }

        api.add(.post, "/v1/sessions/import", "Create a session from a tar archive streamed as the body (?name=N; ?same_owner=true records the archive's numeric owners).", role: .writer, body: "application/x-tar") { request, context in
            let principal = try context.require(.writer)
            let m = try HTTPHelpers.mutation(request, principal)
            let name = HTTPHelpers.query(request, "name")
            let sameOwner = HTTPHelpers.query(request, "same_owner") == "true"
            let store = self.store
            let access = self.access
            let info = try await HTTPHelpers.pipeBody(request.body, maxBytes: self.configuration.maxArchiveBytes) { fd in
                let info = try store.importTar(fromDescriptor: fd, name: name, context: m, preserveOwners: sameOwner)
                try access.setOwner(session: info.id, tenant: principal.tenant)
                return info
            }
            self.count(context, "import", session: info.id)
            return try HTTPHelpers.json(info, status: .created)
        }

        api.add(.get, "/v1/sessions", "List the tenant's sessions (?status=S).") { request, context in
            let principal = try context.require(.reader)
            var status: SessionStatus?
            if let raw = HTTPHelpers.query(request, "status") {
                guard let s = SessionStatus(rawValue: raw) else { throw APIError.badRequest("unknown status \(raw)") }
                status = s
            }
            return try HTTPHelpers.json(try await self.visibleSessions(principal, status: status))
        }

        api.add(.get, "/v1/sessions/{id}", "One session.") { _, context in
            let id = try context.parameters.require("id")
            return try HTTPHelpers.json(try await self.authorize(id, context, .reader))
        }

        api.add(.delete, "/v1/sessions/{id}", "Delete a session (space returns at the next GC).", role: .writer) { _, context in
            let id = try context.parameters.require("id")
            try await self.deleteSession(id, principal: try context.require(.writer))
            return Response(status: .noContent)
        }

        api.add(.post, "/v1/sessions/{id}/archive", "Make a session read-only.", role: .writer) { request, context in
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

        api.add(.post, "/v1/sessions/{id}/fork", "Fork a session: O(1).", role: .writer) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await self.optionalBody(ForkRequest.self, request, context)
            let m = try HTTPHelpers.mutation(request, p)
            let info = try await self.forkSession(id, name: body?.name, principal: p, context: m)
            return try HTTPHelpers.json(info, status: .created)
        }

        api.add(.post, "/v1/sessions/{id}/checkpoints", "Take a checkpoint.", role: .writer) { request, context in
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

        api.add(.get, "/v1/sessions/{id}/checkpoints", "List checkpoints.") { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.checkpoints(of: id) })
        }

        api.add(.post, "/v1/sessions/{id}/restore", "Restore a checkpoint.", role: .writer, body: "application/json") { request, context in
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

        api.add(.post, "/v1/sessions/{id}/commits", "Commit the session's tree.", role: .writer, body: "application/json") { request, context in
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

        api.add(.post, "/v1/sessions/{id}/promote", "Promote the latest commit into a ref.", role: .writer, body: "application/json") { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(PromoteRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let r = try await Blocking.run { try store.promote(id, ref: body.ref, context: m) }
            return try HTTPHelpers.json(r, status: r.outcome == .conflicted ? .conflict : .ok)
        }

        api.add(.get, "/v1/sessions/{id}/diff", "Changes from ?against=OTHER to this session.", response: "[DiffEntry]") { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            guard let against = HTTPHelpers.query(request, "against") else { throw APIError.badRequest("?against=OTHER is required") }
            return try HTTPHelpers.json(try await self.diff(id, against: against, principal: try context.require(.reader)))
        }

        api.add(.get, "/v1/sessions/{id}/export", "The session's files as a tar stream.", streaming: true) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            self.count(context, "export", session: id)
            return try HTTPHelpers.pipeResponse(headers: [.contentType: "application/x-tar"]) { fd in try store.exportTar(id, to: fd) }
        }

        api.add(.get, "/v1/sessions/{id}/manifest", "Every non-directory entry with kind, size, mode, owner and content ID.", response: "[ManifestEntry]") { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.manifest(id) })
        }

        api.add(.get, "/v1/refs", "Refs and their commits.") { _, context in
            _ = try context.require(.reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.refs() })
        }

        api.add(.put, "/v1/refs/{name}/policy", "Require approvals to promote into a ref (admin).", role: .admin, body: "application/json") { request, context in
            _ = try context.require(.admin)
            struct Policy: Decodable {
                var requiredApprovals: Int
                enum CodingKeys: String, CodingKey { case requiredApprovals = "required_approvals" }
            }
            let name = try context.parameters.require("name")
            let body = try await HTTPHelpers.decode(Policy.self, from: request, context: context)
            let store = self.store
            try await Blocking.run { try store.setRefPolicy(name, requiredApprovals: body.requiredApprovals) }
            return try HTTPHelpers.jsonObject(["ref": name, "required_approvals": body.requiredApprovals])
        }

        api.add(.get, "/v1/refs/{name}/policy", "Approvals a promote into the ref needs (0: none), so a client can say so before trying.") { _, context in
            _ = try context.require(.reader)
            let name = try context.parameters.require("name")
            let store = self.store
            let required = try await Blocking.run { try store.refPolicy(name) }
            return try HTTPHelpers.jsonObject(["ref": name, "required_approvals": required])
        }
    }
}
