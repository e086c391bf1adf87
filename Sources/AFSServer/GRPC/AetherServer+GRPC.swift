import AFSGRPC
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

extension AetherServer {
    /// The gRPC services over the same store, tokens and rules as the HTTP routes, with server
    /// reflection, listening on `configuration.grpcHost:grpcPort`: HTTP/2 over TLS when the
    /// configuration has a certificate, plaintext HTTP/2 otherwise.
    /// - Parameter onListening: receives the bound host and port once the socket is bound.
    func grpcEndpoint(onListening: @escaping @Sendable (String, Int) -> Void) throws -> GRPCEndpoint {
        let shutdown = ShutdownFlag()
        let host = configuration.grpcHost == "localhost" ? "127.0.0.1" : configuration.grpcHost
        let address: GRPCNIOTransportCore.SocketAddress = host.contains(":")
            ? .ipv6(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: configuration.grpcPort)
            : .ipv4(host: host, port: configuration.grpcPort)
        let reflection = try ReflectionService()
        // Outermost first: the throttle sees the status every call ends with, mapped.
        var interceptors: [any ServerInterceptor] = authThrottle.map { [AuthenticationThrottleInterceptor(throttle: $0)] } ?? []
        if let ownership = configuration.ownership, let grpcRelay {
            interceptors.append(ReplicaRelayInterceptor(ownership: ownership, clients: grpcRelay, replica: configuration.replicaName))
        }
        // Innermost: grpc-swift turns whatever an interceptor throws that is not an RPCError into
        // UNKNOWN, so the handlers' errors are mapped before any other interceptor sees them.
        interceptors.append(ErrorMappingInterceptor())
        let server = GRPCServer(
            // Over TLS the transport offers h2 by ALPN, allows TLS 1.2 and later, and asks the
            // reloadable pair for its certificate on every handshake (SIGHUP rotates it).
            transport: .http2NIOPosix(
                address: address, transportSecurity: try configuration.tls.map { try .tls(certificateReloader: $0) } ?? .plaintext),
            services: [
                SessionsService(server: self),
                FilesService(server: self),
                CoordinationService(server: self, shutdown: shutdown),
                ServiceService(server: self),
                WorkspacesService(server: self),
                HealthService(shutdown: shutdown, workspacesLinked: configuration.workspaces != nil),
                reflection,
                ReflectionAlphaService(v1: reflection),
            ],
            interceptors: interceptors)
        return GRPCEndpoint(server: server, shutdown: shutdown, onListening: onListening)
    }
}
