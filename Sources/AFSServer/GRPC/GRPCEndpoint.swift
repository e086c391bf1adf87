import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

/// The gRPC listener as a ServiceLifecycle service, run in the same `ServiceGroup` as the HTTP
/// application: SIGTERM or SIGINT stops accepting new RPCs on both, ends live subscriptions, lets
/// in-flight calls finish, and only then does `afs-server` close the store.
struct GRPCEndpoint: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let shutdown: ShutdownFlag
    /// Called once with the bound host and port (the port is the real one when 0 was asked for).
    let onListening: @Sendable (String, Int) -> Void

    func run() async throws {
        let server = self.server
        let shutdown = self.shutdown
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.serve() }
                // Resolves once the socket is bound; throws if binding failed (serve() throws too).
                if let address = try await server.listeningAddress {
                    if let v4 = address.ipv4 {
                        onListening(v4.host, v4.port)
                    } else if let v6 = address.ipv6 {
                        onListening("[\(v6.host)]", v6.port)
                    }
                }
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            shutdown.raise()
            server.beginGracefulShutdown()
        }
    }
}
