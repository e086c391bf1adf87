/// Why TLS could not be set up, or why a server's certificate was refused.
///
/// `check` is stable and meant for programs (the CLI's `--json` output, tests); `message` is for
/// people and says which check failed and what to do next.
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Check: String, Sendable, Equatable, CaseIterable {
        /// A certificate, key or CA file is missing, unreadable or not PEM.
        case files
        /// The private key does not belong to the certificate.
        case keyMismatch = "key_mismatch"
        /// The server's certificate is not signed by a CA the client trusts.
        case untrustedIssuer = "untrusted_issuer"
        /// The server's certificate has expired.
        case expired
        /// The server's certificate is not valid yet.
        case notYetValid = "not_yet_valid"
        /// The server's certificate names other hosts than the one dialled.
        case hostnameMismatch = "hostname_mismatch"
        /// The handshake failed for another reason (protocol version, no TLS on the port).
        case handshake
    }

    public let check: Check
    public let message: String

    public init(_ check: Check, _ message: String) {
        self.check = check
        self.message = message
    }

    public var description: String { message }
}
