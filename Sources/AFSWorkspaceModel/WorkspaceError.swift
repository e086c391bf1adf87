/// The one error type of the workspace layer.
///
/// `code` is for programs (afs-vmd maps it to an HTTP status, the CLI to an exit code); `message`
/// says what went wrong and what to do next.
public struct WorkspaceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, CaseIterable {
        case notFound = "not_found"
        case invalidArgument = "invalid_argument"
        /// The workspace's state does not allow the operation (e.g. resize while running).
        case conflict
        /// The host cannot provide what is asked (no QEMU, no GPU, no bubblewrap).
        case unavailable
        /// afs-vmd's TLS certificate failed verification (unknown CA, expired, another host's).
        case untrustedServer = "untrusted_server"
        /// A wait or a transition passed its deadline.
        case timeout
        /// The driver (QEMU, virtiofsd, bwrap, ssh) failed.
        case driver
        /// The controller's own state (SQLite, run directory) could not be read or written.
        case io
        /// The caller's token is missing or wrong.
        case unauthorized

        /// The HTTP status afs-vmd answers with (and afs-server relays, but for
        /// `unauthorized`: afs-vmd refusing afs-server's own token is afs-server's 502).
        public var httpStatus: Int {
            switch self {
            case .notFound: return 404
            case .invalidArgument: return 400
            case .conflict: return 409
            case .unavailable: return 503
            case .timeout: return 408
            case .driver, .untrustedServer: return 502
            case .io: return 500
            case .unauthorized: return 401
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
