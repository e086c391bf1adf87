import AFSClient
import AFSCore
import AFSWire
import AFSWorkspaceModel
import Foundation
import HTTPTypes
import Hummingbird

/// afs-server's door to afs-vmd: API clients and the web console manage the workspaces of their
/// sessions here, under afs-server's tenants and roles, while afs-vmd's own token stays on the
/// server (`--workspaces URL`, `AFS_WORKSPACES_TOKEN`).
///
/// A workspace belongs to the tenant that owns its project session: a tenant lists, starts, stops
/// and deletes only those, and creates workspaces only for its own sessions (the store admin:
/// any). Another tenant's workspace is reported missing, as sessions are.
extension AetherServer {
    /// afs-vmd's error, with the HTTP status afs-vmd gives it (``WorkspaceError/Code/httpStatus``),
    /// except that afs-vmd refusing afs-server's own token is this server's problem: 502.
    static func apiError(_ error: WorkspaceError) -> APIError {
        let code = error.code == .unauthorized ? 502 : error.code.httpStatus
        return APIError(HTTPResponse.Status(code: code), error.code.rawValue, error.message)
    }

    /// Runs a call on afs-vmd off the event loop, mapping its errors.
    func workspaces<T: Sendable>(_ body: @escaping @Sendable (WorkspacesClient) throws(WorkspaceError) -> T) async throws -> T {
        guard let client = configuration.workspaces else {
            throw APIError(
                .serviceUnavailable, "workspaces_not_configured",
                "this afs-server is not linked to afs-vmd: start it with --workspaces URL (and AFS_WORKSPACES_TOKEN)")
        }
        do {
            return try await Blocking.run { () throws -> T in
                do throws(WorkspaceError) { return try body(client) } catch { throw AetherServer.apiError(error) }
            }
        }
    }

    /// The workspace, if the caller may see it (its project is a session the caller sees).
    func authorizedWorkspace(_ id: String, _ principal: Principal, _ role: Role) async throws -> Workspace {
        try principal.require(role)
        let workspace = try await workspaces { client throws(WorkspaceError) in try client.get(id) }
        if principal.isStoreAdmin { return workspace }
        do {
            _ = try await authorize(workspace.project, principal: principal, .reader)
        } catch {
            throw APIError(.notFound, "not_found", "workspace \(id) does not exist")
        }
        return workspace
    }

    /// The workspaces of sessions the caller sees (every workspace for the store admin).
    func visibleWorkspaces(_ principal: Principal) async throws -> [Workspace] {
        try principal.require(.reader)
        let all = try await workspaces { client throws(WorkspaceError) in try client.list() }
        if principal.isStoreAdmin { return all }
        let mine = Set(try await visibleSessions(principal, status: nil).map(\.id))
        return all.filter { mine.contains($0.project) }
    }

    /// A workspace for one of the caller's sessions (any session for the store admin).
    func createWorkspace(
        project: String, hardware: WorkspaceHardware?, idleTimeout: Int?, user: String? = nil, image: String? = nil, principal: Principal
    ) async throws -> Workspace {
        try principal.require(.writer)
        if !principal.isStoreAdmin { _ = try await authorize(project, principal: principal, .writer) }
        var create = WorkspaceRequest(project: project)
        if let hardware { create.hardware = hardware }
        create.idleTimeout = idleTimeout
        create.user = user
        create.image = image
        let request = create
        return try await workspaces { client throws(WorkspaceError) in try client.create(request) }
    }

    /// Starts or stops a workspace the caller may change.
    func setWorkspace(_ id: String, running: Bool, principal: Principal) async throws -> Workspace {
        _ = try await authorizedWorkspace(id, principal, .writer)
        return try await workspaces { client throws(WorkspaceError) in running ? try client.start(id) : try client.stop(id) }
    }

    func deleteWorkspace(_ id: String, principal: Principal) async throws {
        _ = try await authorizedWorkspace(id, principal, .writer)
        try await workspaces { client throws(WorkspaceError) in try client.delete(id) }
    }

    func workspaceEvents(_ id: String, principal: Principal) async throws -> [WorkspaceEvent] {
        _ = try await authorizedWorkspace(id, principal, .reader)
        return try await workspaces { client throws(WorkspaceError) in try client.events(id) }
    }

    func addWorkspaceRoutes(_ api: APIRouteTable) {
        api.tag = "workspaces"
        api.add(.get, "/v1/workspaces", "Workspaces of the caller's sessions (afs-vmd, when linked with --workspaces).", replies: [.ok([Workspace].self)]) {
            _, context in
            try HTTPHelpers.json(try await self.visibleWorkspaces(try context.require(.reader)))
        }
        api.add(
            .post, "/v1/workspaces", "Create a workspace for one of the caller's sessions.",
            role: .writer, body: .json(WorkspaceCreateRequest.self), replies: [.created(Workspace.self)]
        ) { request, context in
            let principal = try context.require(.writer)
            let body = try await HTTPHelpers.decode(WorkspaceCreateRequest.self, from: request, context: context)
            let workspace = try await self.createWorkspace(
                project: body.project, hardware: body.hardware, idleTimeout: body.idleTimeout, user: body.user, image: body.image, principal: principal)
            return try HTTPHelpers.json(workspace, status: .created)
        }
        api.add(.get, "/v1/workspaces/{workspace}", "One workspace.", replies: [.ok(Workspace.self)]) { _, context in
            let id = try context.parameters.require("workspace")
            return try HTTPHelpers.json(try await self.authorizedWorkspace(id, try context.require(.reader), .reader))
        }
        for (verb, summary) in [("start", "Start a workspace (returns at once; it moves through starting to running)."), ("stop", "Stop a workspace.")] {
            api.add(.post, "/v1/workspaces/{workspace}/\(verb)", summary, role: .writer, replies: [.accepted(Workspace.self)]) { _, context in
                let id = try context.parameters.require("workspace")
                let workspace = try await self.setWorkspace(id, running: verb == "start", principal: try context.require(.writer))
                return try HTTPHelpers.json(workspace, status: .accepted)
            }
        }
        api.add(.delete, "/v1/workspaces/{workspace}", "Delete a workspace and its volume.", role: .writer, replies: [.noContent]) { _, context in
            try await self.deleteWorkspace(try context.parameters.require("workspace"), principal: try context.require(.writer))
            return Response(status: .noContent)
        }
        api.add(.get, "/v1/workspaces/{workspace}/events", "A workspace's state changes, oldest first.", replies: [.ok([WorkspaceEvent].self)]) { _, context in
            try HTTPHelpers.json(try await self.workspaceEvents(try context.parameters.require("workspace"), principal: try context.require(.reader)))
        }
    }
}
