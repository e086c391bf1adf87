import AFSGRPC
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

extension AetherServer {
    /// The gRPC services over the same store, tokens and rules as the HTTP routes, with server
    /// reflection, listening on `configuration.grpcHost:grpcPort` (plaintext HTTP/2; put a TLS
    /// proxy in front of it off loopback, as for HTTP).
    /// - Parameter onListening: receives the bound host and port once the socket is bound.
    func grpcEndpoint(onListening: @escaping @Sendable (String, Int) -> Void) throws -> GRPCEndpoint {
        let shutdown = ShutdownFlag()
        let host = configuration.grpcHost == "localhost" ? "127.0.0.1" : configuration.grpcHost
        let address: GRPCNIOTransportCore.SocketAddress = host.contains(":")
            ? .ipv6(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: configuration.grpcPort)
            : .ipv4(host: host, port: configuration.grpcPort)
        let server = GRPCServer(
            transport: .http2NIOPosix(address: address, transportSecurity: .plaintext),
            services: [
                SessionsService(server: self),
                FilesService(server: self),
                CoordinationService(server: self, shutdown: shutdown),
                ServiceService(server: self),
                try ReflectionService(),
            ],
            interceptors: [ErrorMappingInterceptor()])
        return GRPCEndpoint(server: server, shutdown: shutdown, onListening: onListening)
    }
}
