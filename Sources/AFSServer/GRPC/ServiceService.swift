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
            tenant.physicalBytes = usage.physicalBytes
            tenant.operations = (usage.operations ?? [:]).mapValues(Int64.init)
            return tenant
        }
        response.sessions = report.sessions.map { s in
            var session = Aether_V1_UsageResponse.SessionUsage()
            session.id = s.id
            session.tenant = s.tenant
            session.files = Int64(s.files)
            session.logicalBytes = s.logicalBytes
            session.physicalBytes = s.physicalBytes
            session.operations = s.operations.mapValues(Int64.init)
            return session
        }
        return ServerResponse(message: response)
    }

    func analytics(request: ServerRequest<Aether_V1_AnalyticsRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_AnalyticsResponse> {
        let caller = try await RPCCaller(request.metadata, access: server.access, limiter: server.limiter, role: .reader)
        let report = try await server.analytics(caller.principal)
        var response = Aether_V1_AnalyticsResponse()
        response.sessions = Int64(report.sessions)
        response.forks = Int64(report.forks)
        response.dedupRatio = report.dedupRatio
        response.sessionsCreatedPerDay = report.sessionsCreatedPerDay.mapValues(Int64.init)
        response.requestsPerMinute = report.requestsPerMinute.map { m in
            var minute = Aether_V1_AnalyticsResponse.Minute()
            minute.minute = Int64(m.minute)
            minute.requests = Int64(m.requests)
            return minute
        }
        return ServerResponse(message: response)
    }

    func createToken(request: ServerRequest<Aether_V1_CreateTokenRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_CreatedToken> {
        _ = try await RPCCaller(request.metadata, access: server.access, limiter: server.limiter, role: .admin)
        let body = request.message
        guard let role = body.role.role else { throw APIError.badRequest("role is required: READER, WRITER or ADMIN") }
        let access = server.access
        let (info, secret) = try await Blocking.run { try access.createToken(tenant: body.tenant, role: role, label: body.hasLabel ? body.label : nil) }
        var response = Aether_V1_CreatedToken()
        response.info = Aether_V1_TokenInfo(info)
        response.token = secret
        return ServerResponse(message: response)
    }

    func listTokens(request: ServerRequest<Aether_V1_ListTokensRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_ListTokensResponse> {
        let caller = try await RPCCaller(request.metadata, access: server.access, limiter: server.limiter, role: .reader)
        let p = caller.principal
        let access = server.access
        var response = Aether_V1_ListTokensResponse()
        response.tokens = try await Blocking.run { try access.tokens(tenant: p.isStoreAdmin ? nil : p.tenant) }.map(Aether_V1_TokenInfo.init)
        return ServerResponse(message: response)
    }

    func revokeToken(request: ServerRequest<Aether_V1_RevokeTokenRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_RevokeTokenResponse> {
        let caller = try await RPCCaller(request.metadata, access: server.access, limiter: server.limiter, role: .admin)
        let p = caller.principal
        let id = request.message.id
        let access = server.access
        let ok = try await Blocking.run { try access.revoke(tokenID: id, tenant: p.tenant == "admin" ? nil : p.tenant) }
        guard ok else { throw APIError.notFound("token \(id) does not exist") }
        return ServerResponse(message: Aether_V1_RevokeTokenResponse())
    }

    /// The caller, who must hold the server's own admin token.
    private func serverAdmin(_ metadata: Metadata) async throws {
        let caller = try await RPCCaller(metadata, access: server.access, limiter: server.limiter, role: .admin)
        try AetherServer.requireServerAdmin(caller.principal)
    }

    func storeStats(request: ServerRequest<Aether_V1_StoreStatsRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_StoreStatsResponse> {
        try await serverAdmin(request.metadata)
        let store = server.store
        let stats = try await Blocking.run { try store.stats() }
        var response = Aether_V1_StoreStatsResponse()
        response.logicalBytes = stats.logicalBytes
        response.physicalBytes = stats.physicalBytes
        response.diskBytes = stats.diskBytes
        response.chunks = Int64(stats.chunks)
        response.sessions = Int64(stats.sessions)
        response.checkpoints = Int64(stats.checkpoints)
        response.segments = Int64(stats.segments)
        response.liveRatio = stats.liveRatio
        response.dedupRatio = stats.dedupRatio
        return ServerResponse(message: response)
    }

    func collectGarbage(request: ServerRequest<Aether_V1_CollectGarbageRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_CollectGarbageResponse> {
        try await serverAdmin(request.metadata)
        let store = server.store
        let report = try await Blocking.run { try store.collectGarbage() }
        var response = Aether_V1_CollectGarbageResponse()
        response.liveChunks = Int64(report.liveChunks)
        response.deadChunks = Int64(report.deadChunks)
        response.segmentsCleaned = Int64(report.segmentsCleaned)
        response.chunksRelocated = Int64(report.chunksRelocated)
        response.bytesFreed = report.bytesFreed
        return ServerResponse(message: response)
    }

    func verifyStore(request: ServerRequest<Aether_V1_VerifyStoreRequest>, context: ServerContext) async throws -> ServerResponse<Aether_V1_VerifyStoreResponse> {
        try await serverAdmin(request.metadata)
        let store = server.store
        let report = try await Blocking.run { try store.verify() }
        var response = Aether_V1_VerifyStoreResponse()
        response.recordsChecked = Int64(report.recordsChecked)
        response.bytesChecked = report.bytesChecked
        response.treesChecked = Int64(report.treesChecked)
        response.problems = report.problems
        return ServerResponse(message: response)
    }
}
