import NIOSSL

/// Which servers a client believes: the system's trust store, or the CAs in one PEM file
/// (`--ca-cert FILE`, `[bridge] ca_cert`), as `curl --cacert` does — the file replaces the
/// system store rather than adding to it, so a private deployment trusts only its own CA.
public struct TLSTrust: Sendable, Equatable {
    /// A PEM file of CA certificates; nil trusts the system's store.
    public var caCertificatePath: String?

    public init(caCertificatePath: String? = nil) {
        self.caCertificatePath = caCertificatePath.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A client configuration that verifies the server's chain and host name, TLS 1.2 and later.
    public func clientConfiguration() throws(TLSError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if let path = caCertificatePath {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw TLSError(.files, "CA certificate file \(path) cannot be read as PEM (\(error)); pass the CA that signed the server's certificate with --ca-cert FILE")
            }
            guard !roots.isEmpty else { throw TLSError(.files, "CA certificate file \(path) holds no PEM certificate") }
            configuration.trustRoots = .certificates(roots)
        } else {
            configuration.trustRoots = .default
        }
        return configuration
    }

    /// What to tell the operator when `error` is a failed TLS handshake with a server this trust
    /// was used for (most often its certificate did not verify); nil for any other error.
    public func explainHandshakeFailure(_ error: any Error) -> String? {
        guard let failure = error as? NIOSSLError, case .handshakeFailed(let detail) = failure else { return nil }
        return "the TLS handshake failed (\(detail)): its certificate must chain to \(source) and name the host it is reached at"
    }

    /// Where the trust comes from, for messages.
    public var source: String { caCertificatePath.map { "the CA in \($0)" } ?? "the system's trust store" }
}
