import Foundation

/// A lease on a path or a path prefix.
public struct Lease: Sendable, Codable, Equatable {
    /// ID of the session whose paths the lease covers.
    public var session: String
    /// Normalized session path it covers (`/` with `prefix` covers the whole session).
    public var path: String
    /// The lease covers everything below `path` too.
    public var prefix: Bool
    /// An exclusive lease conflicts with every overlapping lease and fences writes; a shared one
    /// conflicts only with exclusive ones.
    public var exclusive: Bool
    /// Who holds it, as given on acquire; named in conflict errors.
    public var holder: String
    /// Fencing token: store-wide, strictly increasing with every grant.
    public var token: UInt64
    /// Seconds since 1970 (store clock).
    public var expiresAt: Double

    enum CodingKeys: String, CodingKey {
        case session, path, prefix, exclusive, holder, token
        case expiresAt = "expires_at"
    }

    /// Memberwise initializer; catalogs assign `token` when granting.
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
