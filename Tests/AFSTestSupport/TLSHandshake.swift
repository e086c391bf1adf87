import AFSTLS
import NIOSSL

/// One TLS handshake with a test server, to check what it negotiates (the protocol version floor,
/// ALPN): ``TLSProbe/handshake(host:port:configuration:timeout:)`` without verification.
public enum TLSHandshake {
    /// The negotiated application protocol; throws the refusal.
    public static func negotiate(host: String = "127.0.0.1", port: Int, configure: (inout TLSConfiguration) -> Void) async throws -> String? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configure(&configuration)
        return try await TLSProbe.handshake(host: host, port: port, configuration: configuration).applicationProtocol
    }
}
