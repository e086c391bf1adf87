/// The warning a service prints when it listens in plaintext on an address other machines can
/// reach: bearer tokens and file contents would cross the network in the clear.
public enum PlaintextWarning {
    /// Whether `host` (a listen address: an IP, a name, or a bracketed IPv6 address) is loopback only.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// The warning for a plaintext `listener` ("HTTP", "gRPC") on `host:port`, or nil on loopback.
    public static func message(service: String, listener: String, host: String, port: Int) -> String? {
        guard !isLoopback(host) else { return nil }
        return """
            warning: \(service) serves \(listener) in plaintext on \(host):\(port), which is not loopback: bearer tokens and \
            file contents cross the network unencrypted and can be read or altered on the way. Pass --tls-cert FILE and \
            --tls-key FILE, or listen on 127.0.0.1 behind a TLS-terminating proxy (README: Serving on a network).
            """
    }
}
