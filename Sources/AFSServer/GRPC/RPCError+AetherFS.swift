import AFSCore
import AFSWire
import GRPCCore

/// How the server's errors reach gRPC clients: the status code says what kind of failure it is,
/// the message is the same text the HTTP API returns, and trailing metadata `x-afs-error-code`
/// carries the stable code string of the JSON error shape (`not_found`, `locked`, …) for programs
/// that need the finer distinction.
extension RPCError {
    static let errorCodeKey = "x-afs-error-code"

    /// Any error a handler throws, as an `RPCError`. Errors that are not the server's own become
    /// INTERNAL with a generic message (their text may reveal internals; the log has it).
    init(mapping error: any Error) {
        switch error {
        case let e as RPCError: self = e
        case let e as AFSError: self.init(e)
        case let e as APIError: self.init(e)
        default: self.init(code: .internalError, message: "internal error; see the server log", cause: error)
        }
    }

    /// An engine error. Bad input is never INTERNAL; a missing or foreign session is NOT_FOUND.
    init(_ error: AFSError) {
        let code: RPCError.Code
        switch error.code {
        case .notFound: code = .notFound
        case .alreadyExists: code = .alreadyExists
        case .conflict: code = .aborted
        case .wrongKind, .notEmpty: code = .failedPrecondition
        case .invalidPath, .invalidArgument: code = .invalidArgument
        case .locked: code = .failedPrecondition
        case .forbidden: code = .permissionDenied
        case .expired: code = .outOfRange
        case .storeLocked, .unavailable, .untrustedServer: code = .unavailable
        case .corrupted: code = .dataLoss
        case .io, .unsupportedFormat, .externalTool: code = .internalError
        }
        self.init(code: code, message: error.message, metadata: [RPCError.errorCodeKey: .string(error.code.rawValue)])
    }

    /// An error of the server layer (authentication, roles, limits), by the HTTP status it carries.
    init(_ error: APIError) {
        let code: RPCError.Code
        switch error.status.code {
        case 400, 422: code = .invalidArgument
        case 401: code = .unauthenticated
        case 403: code = .permissionDenied
        case 404: code = .notFound
        case 409: code = .aborted
        case 410, 416: code = .outOfRange
        case 412: code = .failedPrecondition
        case 413, 429: code = .resourceExhausted
        case 503: code = .unavailable
        default: code = .internalError
        }
        self.init(code: code, message: error.message, metadata: [RPCError.errorCodeKey: .string(error.code)])
    }
}
