import AFSCore
import AFSWire
import AFSGRPC
import Foundation
import GRPCCore

/// `aether.v1.Service`: liveness (open, like `GET /v1/health`) and usage accounting.
struct ServiceService: Aether_V1_Service.ServiceProtocol {
    let server: AetherServer

    func health(request: ServerRequest<Aether_V1_HealthRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_HealthResponse> {
        var response = Aether_V1_HealthResponse()
        response.status = "ok"
        response.version = AetherServer.version
        response.uptimeSeconds = UInt64(max(0, Date().timeIntervalSince(server.started)))
        return ServerResponse(message: response)
    }

    func usage(request: ServerRequest<Aether_V1_UsageRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_UsageResponse> {
        let caller = try await RPCCaller(request.metadata, access: server.access, limiter: server.limiter, role: .reader)
        let report = try await server.usageReport(caller.principal)
        var response = Aether_V1_UsageResponse()
        response.store.logicalBytes = report.store.logicalBytes
        response.store.physicalBytes = report.store.physicalBytes
        response.store.chunks = Int64(report.store.chunks)
        response.store.dedupRatio = report.store.dedupRatio
        response.tenants = report.tenants.sorted { $0.key < $1.key }.map { name, usage in
            var tenant = Aether_V1_UsageResponse.Tenant()
            tenant.tenant = name
            tenant.sessions = Int64(usage.sessions)
            tenant.logicalBytes = usage.logicalBytes
            tenant.operations = (usage.operations ?? [:]).mapValues(Int64.init)
            return tenant
        }
        response.sessions = report.sessions.map { s in
            var session = Aether_V1_UsageResponse.SessionUsage()
            session.id = s.id
            session.tenant = s.tenant
            session.files = Int64(s.files)
            session.logicalBytes = s.logicalBytes
            session.operations = s.operations.mapValues(Int64.init)
            return session
        }
        return ServerResponse(message: response)
    }
}
