import AFSGRPC
import GRPCCore

/// `grpc.health.v1.Health`: what load balancers, Kubernetes gRPC probes and `grpc_health_probe` ask.
/// Open like `GET /v1/health` (it says nothing about data). Every service of this server is
/// SERVING until a graceful shutdown begins, then NOT_SERVING, so a balancer drains the replica
/// before it goes; `aether.v1.Workspaces` is NOT_SERVING when afs-server is not linked to afs-vmd.
struct HealthService: Grpc_Health_V1_Health.ServiceProtocol {
    let shutdown: ShutdownFlag
    /// Whether `aether.v1.Workspaces` can answer (afs-server was given `--workspaces`).
    let workspacesLinked: Bool

    /// How often a Watch looks for a change of status.
    static let watchInterval: Duration = .milliseconds(200)

    static let services: [String] = [
        "", Aether_V1_Sessions.descriptor.fullyQualifiedService, Aether_V1_Files.descriptor.fullyQualifiedService,
        Aether_V1_Coordination.descriptor.fullyQualifiedService, Aether_V1_Service.descriptor.fullyQualifiedService,
        Aether_V1_Workspaces.descriptor.fullyQualifiedService, Grpc_Health_V1_Health.descriptor.fullyQualifiedService,
        Grpc_Reflection_V1_ServerReflection.descriptor.fullyQualifiedService,
        Grpc_Reflection_V1alpha_ServerReflection.descriptor.fullyQualifiedService,
    ]

    /// The status of `service` now; nil when this server does not offer it.
    func status(of service: String) -> Grpc_Health_V1_HealthCheckResponse.ServingStatus? {
        guard HealthService.services.contains(service) else { return nil }
        if shutdown.isRaised { return .notServing }
        if service == Aether_V1_Workspaces.descriptor.fullyQualifiedService && !workspacesLinked { return .notServing }
        return .serving
    }

    private func response(_ status: Grpc_Health_V1_HealthCheckResponse.ServingStatus) -> Grpc_Health_V1_HealthCheckResponse {
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = status
        return response
    }

    func check(request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>, context: ServerContext) async throws -> ServerResponse<Grpc_Health_V1_HealthCheckResponse> {
        guard let status = status(of: request.message.service) else {
            throw RPCError(code: .notFound, message: "this server offers no service \(request.message.service)")
        }
        return ServerResponse(message: response(status))
    }

    func watch(request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>, context: ServerContext) async throws -> StreamingServerResponse<Grpc_Health_V1_HealthCheckResponse> {
        let service = request.message.service
        return StreamingServerResponse { writer in
            // The first answer at once, then one per change; the stream ends with the server.
            var last = status(of: service) ?? .serviceUnknown
            try await writer.write(response(last))
            while !context.cancellation.isCancelled && !Task.isCancelled && last != .notServing {
                try? await Task.sleep(for: HealthService.watchInterval)
                let now = status(of: service) ?? .serviceUnknown
                if now != last {
                    last = now
                    try await writer.write(response(now))
                }
                if shutdown.isRaised { break }
            }
            return [:]
        }
    }
}
