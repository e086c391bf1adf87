import AFSWorkspaces
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP API of afs-vmd: thin handlers over ``WorkspaceController``. Every call that names a
/// workspace counts as activity for its idle timer.
struct WorkspaceRoutes {
    let controller: WorkspaceController
    let health: @Sendable () -> [String: String]

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    func add(to router: Router<BasicRequestContext>) {
        router.get("/v1/health") { _, _ in try WorkspaceRoutes.json(health()) }
        router.post("/v1/workspaces") { request, context in
            let body = try await WorkspaceRoutes.decode(WorkspaceRequest.self, request)
            return try WorkspaceRoutes.json(try await call { () throws(WorkspaceError) in try await controller.create(body) }, status: .created)
        }
        router.get("/v1/workspaces") { request, _ in
            var status: WorkspaceStatus?
            if let raw = request.uri.queryParameters["status"] {
                guard let s = WorkspaceStatus(rawValue: String(raw)) else {
                    throw WorkspaceAPIError.badRequest("status must be one of \(WorkspaceStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                status = s
            }
            let project = request.uri.queryParameters["project"].map(String.init)
            let filter = status
            let list = try await call { () throws(WorkspaceError) in try await controller.workspaces(status: filter, project: project) }
            return try WorkspaceRoutes.json(["workspaces": list])
        }
        router.get("/v1/workspaces/:id") { _, context in
            let id = try context.parameters.require("id")
            return try WorkspaceRoutes.json(try await call { () throws(WorkspaceError) in
                try await controller.touch(id)
                return try await controller.workspace(id)
            })
        }
        router.patch("/v1/workspaces/:id") { request, context in
            let id = try context.parameters.require("id")
            let body = try await WorkspaceRoutes.decode(WorkspaceUpdate.self, request)
            return try WorkspaceRoutes.json(try await call { () throws(WorkspaceError) in
                try await controller.update(id, hardware: body.hardware, idleTimeout: body.idleTimeout, image: body.image)
            })
        }
        router.post("/v1/workspaces/:id/start") { _, context in
            let id = try context.parameters.require("id")
            let ws = try await call { () throws(WorkspaceError) in try await controller.start(id) }
            return try WorkspaceRoutes.json(ws, status: ws.status == .running ? .ok : .accepted)
        }
        router.post("/v1/workspaces/:id/stop") { _, context in
            let id = try context.parameters.require("id")
            return try WorkspaceRoutes.json(try await call { () throws(WorkspaceError) in try await controller.stop(id) })
        }
        router.delete("/v1/workspaces/:id") { _, context in
            let id = try context.parameters.require("id")
            try await call { () throws(WorkspaceError) in try await controller.delete(id) }
            return Response(status: .noContent)
        }
        router.get("/v1/workspaces/:id/wait") { request, context in
            let id = try context.parameters.require("id")
            guard let raw = request.uri.queryParameters["state"], let state = WorkspaceStatus(rawValue: String(raw)) else {
                throw WorkspaceAPIError.badRequest("state is required: one of \(WorkspaceStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var timeout = 60.0
            if let t = request.uri.queryParameters["timeout"] {
                guard let v = Double(t), v >= 0, v <= 3600 else { throw WorkspaceAPIError.badRequest("timeout must be 0…3600 seconds") }
                timeout = v
            }
            let limit = timeout
            return try WorkspaceRoutes.json(try await call { () throws(WorkspaceError) in try await controller.wait(id, for: state, timeout: limit) })
        }
        router.get("/v1/workspaces/:id/events") { _, context in
            let id = try context.parameters.require("id")
            return try WorkspaceRoutes.json(["events": try await call { () throws(WorkspaceError) in try await controller.events(id) }])
        }
        router.get("/v1/workspaces/:id/console") { request, context in
            let id = try context.parameters.require("id")
            var bytes = 64 << 10
            if let raw = request.uri.queryParameters["bytes"] {
                guard let v = Int(raw), v > 0, v <= 16 << 20 else { throw WorkspaceAPIError.badRequest("bytes must be 1…16777216") }
                bytes = v
            }
            let maxBytes = bytes
            let text = try await call { () throws(WorkspaceError) in try await controller.console(id, maxBytes: maxBytes) }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.post("/v1/workspaces/:id/connect") { _, context in
            let id = try context.parameters.require("id")
            return try WorkspaceRoutes.json(try await call { () throws(WorkspaceError) in try await controller.connection(id) })
        }
        router.post("/v1/workspaces/:id/touch") { _, context in
            let id = try context.parameters.require("id")
            try await call { () throws(WorkspaceError) in try await controller.touch(id) }
            return Response(status: .noContent)
        }
    }

    /// Runs a controller call, turning its typed error into the API's.
    func call<T: Sendable>(_ body: @Sendable () async throws(WorkspaceError) -> T) async throws -> T {
        do { return try await body() } catch { throw WorkspaceAPIError(error) }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes a small JSON body: malformed JSON and wrong shapes are 400s that say which.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 1 << 20) } catch {
            throw WorkspaceAPIError(.contentTooLarge, "too_large", "request bodies are limited to 1 MiB")
        }
        let data = Data(buffer.readableBytesView)
        guard !data.isEmpty, (try? JSONSerialization.jsonObject(with: data)) != nil else {
            throw WorkspaceAPIError.badRequest("the body must be a JSON object")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw WorkspaceAPIError.badRequest("the JSON body does not have the expected fields: \(error)")
        }
    }
}

/// Requires `Authorization: Bearer TOKEN` on everything but the health check.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/v1/health" { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              WorkspaceDaemon.constantTimeEqual(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), token) else {
            throw WorkspaceAPIError.unauthorized
        }
        return try await next(request, context)
    }
}
