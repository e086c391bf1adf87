import Foundation

/// A lease on a path or a path prefix.
public struct Lease: Sendable, Codable, Equatable {
    public var session: String
    public var path: String
    /// The lease covers everything below `path` too.
    public var prefix: Bool
    public var exclusive: Bool
    public var holder: String
    /// Fencing token: store-wide, strictly increasing with every grant.
    public var token: UInt64
    /// Seconds since 1970 (store clock).
    public var expiresAt: Double

    enum CodingKeys: String, CodingKey {
        case session, path, prefix, exclusive, holder, token
        case expiresAt = "expires_at"
    }

    public init(session: String, path: String, prefix: Bool, exclusive: Bool, holder: String, token: UInt64, expiresAt: Double) {
        self.session = session
        self.path = path
        self.prefix = prefix
        self.exclusive = exclusive
        self.holder = holder
        self.token = token
        self.expiresAt = expiresAt
    }
}
