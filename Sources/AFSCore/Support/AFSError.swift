import Foundation

/// The one error type AFSCore throws.
///
/// `code` is stable and meant for programs (the CLI maps it to exit codes, a server to HTTP status);
/// `message` is for people and says what went wrong and, where it can, what to do next.
public struct AFSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// A session, checkpoint, commit, ref, snapshot or path does not exist.
        case notFound = "not_found"
        /// The thing to create exists already.
        case alreadyExists = "already_exists"
        /// A path is absolute, contains `..`, NUL, empty components, or is too long.
        case invalidPath = "invalid_path"
        /// An argument is out of range or malformed.
        case invalidArgument = "invalid_argument"
        /// The operation conflicts with the current state (merge conflicts, archived session, wrong kind).
        case conflict
        /// A path names a file where a directory is needed, or the reverse.
        case wrongKind = "wrong_kind"
        /// A directory to remove is not empty.
        case notEmpty = "not_empty"
        /// Bytes on disk fail their checksum or do not decode. Never served.
        case corrupted
        /// Another process owns the store.
        case storeLocked = "store_locked"
        /// The operating system refused an I/O call.
        case io
        /// The store's format is newer or older than this build understands.
        case unsupportedFormat = "unsupported_format"
        /// An external program (git, tar) failed.
        case externalTool = "external_tool"
        /// A changefeed cursor older than the retained events: some events are gone.
        case expired
        /// A lease or fencing token refuses the operation (missing, stale or held by someone else).
        case locked
        /// Policy refuses the operation (a ref that requires approvals), or a server refuses the
        /// caller's token or role.
        case forbidden
        /// A server could not be reached or asked the caller to slow down; retrying later may work.
        case unavailable
        /// A server's TLS certificate failed verification (an unknown CA, expired, or issued for
        /// another host): the client refused to talk to it.
        case untrustedServer = "untrusted_server"
    }

    /// The failure's kind, stable for programs to act on.
    public let code: Code
    /// What went wrong, for people, and where possible what to do next.
    public let message: String

    /// An error of kind `code` explained by `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message alone, without the code.
    public var description: String { message }

    static func notFound(_ message: String) -> AFSError { AFSError(.notFound, message) }
    static func invalidPath(_ message: String) -> AFSError { AFSError(.invalidPath, message) }
    static func invalidArgument(_ message: String) -> AFSError { AFSError(.invalidArgument, message) }
    static func conflict(_ message: String) -> AFSError { AFSError(.conflict, message) }
    static func corrupted(_ message: String) -> AFSError { AFSError(.corrupted, message) }

    /// An I/O failure carrying `errno`'s text, the call and the file involved.
    static func io(_ call: String, path: String, errno err: Int32 = errno) -> AFSError {
        AFSError(.io, "\(call) failed on \(path): \(String(cString: strerror(err))) (errno \(err))")
    }
}
