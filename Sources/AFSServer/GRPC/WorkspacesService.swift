import AFSGRPC
import AFSWire
import AFSWorkspaceModel
import Foundation
import GRPCCore
import SwiftProtobuf

/// `aether.v1.Workspaces`: the workspace routes of the HTTP API (afs-vmd through afs-server's
/// gateway) over gRPC, with the same tenancy rules (``AetherServer`` shares them).
struct WorkspacesService: Aether_V1_Workspaces.ServiceProtocol {
    let server: AetherServer

    private func principal(_ metadata: Metadata, _ role: Role) async throws -> Principal {
        try await RPCCaller(metadata, access: server.access, limiter: server.limiter, role: role).principal
    }

    func list(request: ServerRequest<Aether_V1_ListWorkspacesRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListWorkspacesResponse> {
        let principal = try await principal(request.metadata, .reader)
        var response = Aether_V1_ListWorkspacesResponse()
        response.workspaces = try await server.visibleWorkspaces(principal).map(Aether_V1_Workspace.init)
        return ServerResponse(message: response)
    }

    func create(request: ServerRequest<Aether_V1_CreateWorkspaceRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Workspace> {
        let principal = try await principal(request.metadata, .writer)
        let body = request.message
        var hardware: WorkspaceHardware?
        if body.hasHardware {
            let h = body.hardware
            guard let kind = WorkspaceHardware.CPUKind(rawValue: h.cpuKind.isEmpty ? "shared" : h.cpuKind) else {
                throw APIError.badRequest("cpu_kind must be shared or performance")
            }
            hardware = WorkspaceHardware(
                cpuKind: kind, cpus: Int(h.cpus == 0 ? 2 : h.cpus), memoryMB: Int(h.memoryMb == 0 ? 2048 : h.memoryMb),
                volumeSizeGB: Int(h.volumeSizeGb == 0 ? 10 : h.volumeSizeGb), gpuKind: h.hasGpuKind ? h.gpuKind : nil)
        }
        let workspace = try await server.createWorkspace(
            project: body.project, hardware: hardware, idleTimeout: body.hasIdleTimeout ? Int(body.idleTimeout) : nil,
            user: body.hasUser ? body.user : nil, image: body.hasImage ? body.image : nil, principal: principal)
        return ServerResponse(message: Aether_V1_Workspace(workspace))
    }

    func get(request: ServerRequest<Aether_V1_GetWorkspaceRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Workspace> {
        let principal = try await principal(request.metadata, .reader)
        return ServerResponse(message: Aether_V1_Workspace(try await server.authorizedWorkspace(request.message.id, principal, .reader)))
    }

    func start(request: ServerRequest<Aether_V1_GetWorkspaceRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Workspace> {
        let principal = try await principal(request.metadata, .writer)
        return ServerResponse(message: Aether_V1_Workspace(try await server.setWorkspace(request.message.id, running: true, principal: principal)))
    }

    func stop(request: ServerRequest<Aether_V1_GetWorkspaceRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_Workspace> {
        let principal = try await principal(request.metadata, .writer)
        return ServerResponse(message: Aether_V1_Workspace(try await server.setWorkspace(request.message.id, running: false, principal: principal)))
    }

    func delete(request: ServerRequest<Aether_V1_GetWorkspaceRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_DeleteWorkspaceResponse> {
        let principal = try await principal(request.metadata, .writer)
        try await server.deleteWorkspace(request.message.id, principal: principal)
        return ServerResponse(message: Aether_V1_DeleteWorkspaceResponse())
    }

    func events(request: ServerRequest<Aether_V1_GetWorkspaceRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_WorkspaceEventsResponse> {
        let principal = try await principal(request.metadata, .reader)
        var response = Aether_V1_WorkspaceEventsResponse()
        response.events = try await server.workspaceEvents(request.message.id, principal: principal).map(Aether_V1_WorkspaceEvent.init)
        return ServerResponse(message: response)
    }
}

extension Aether_V1_WorkspaceStatus {
    init(_ status: WorkspaceStatus?) {
        switch status {
        case .stopped?: self = .stopped
        case .starting?: self = .starting
        case .running?: self = .running
        case .stopping?: self = .stopping
        case .error?: self = .error
        case .stopFailed?: self = .stopFailed
        case nil: self = .unspecified
        }
    }
}

extension Aether_V1_Workspace {
    init(_ w: Workspace) {
        self.init()
        id = w.id
        project = w.project
        status = Aether_V1_WorkspaceStatus(w.status)
        desired = w.desired.rawValue
        hardware.cpuKind = w.hardware.cpuKind.rawValue
        hardware.cpus = UInt32(clamping: w.hardware.cpus)
        hardware.memoryMb = UInt32(clamping: w.hardware.memoryMB)
        hardware.volumeSizeGb = UInt32(clamping: w.hardware.volumeSizeGB)
        if let gpu = w.hardware.gpuKind { hardware.gpuKind = gpu }
        driver = w.driver
        idleTimeout = UInt32(clamping: w.idleTimeout)
        createdAt = Google_Protobuf_Timestamp(date: w.createdAt)
        updatedAt = Google_Protobuf_Timestamp(date: w.updatedAt)
        lastActiveAt = Google_Protobuf_Timestamp(date: w.lastActiveAt)
        if let error = w.error { self.error = error }
        if let session = w.session { self.session = session }
        if let port = w.runtime?.sshPort { sshPort = UInt32(clamping: port) }
        if let user = w.user { self.user = user }
        if let image = w.image { self.image = image }
    }
}

extension Aether_V1_WorkspaceEvent {
    init(_ e: WorkspaceEvent) {
        self.init()
        seq = e.seq
        workspace = e.workspace
        at = Google_Protobuf_Timestamp(date: e.at)
        from = Aether_V1_WorkspaceStatus(e.from)
        to = Aether_V1_WorkspaceStatus(e.to)
        reason = e.reason
        if let detail = e.detail { self.detail = detail }
    }
}
