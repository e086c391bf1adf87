import Foundation

/// A bearer token as an access catalog keeps it: only the SHA-256 of its secret, never the secret.
public struct StoredToken: Sendable, Equatable {
    public var id: String
    /// Hex SHA-256 of the secret.
    public var secretHash: String
    public var tenant: String
    /// `reader`, `writer` or `admin`.
    public var role: String
    public var label: String?
    public var createdAt: Date

    public init(id: String, secretHash: String, tenant: String, role: String, label: String?, createdAt: Date) {
        self.id = id
        self.secretHash = secretHash
        self.tenant = tenant
        self.role = role
        self.label = label
        self.createdAt = createdAt
    }
}

/// Who may call a server: tokens and their tenants, which tenant owns each session, and how many
/// operations each tenant made.
///
/// The third storage seam beside ``Catalog`` and ``ChunkStore``: a server on the embedded store
/// keeps these in SQLite in its data directory; a clustered one keeps them in its PostgreSQL
/// catalog, so every server (and a replacement machine) knows every token. Every method is
/// durable when it returns.
public protocol AccessCatalog: Sendable {
    /// Fails with ``AFSError/Code/alreadyExists`` when the id or the secret's hash is taken.
    func insertToken(_ token: StoredToken) throws(AFSError)
    func token(secretHash: String) throws(AFSError) -> StoredToken?
    /// Oldest first; every tenant's when `tenant` is nil.
    func tokens(tenant: String?) throws(AFSError) -> [StoredToken]
    /// Deletes a token (only within `tenant` when given); false when there was none.
    func deleteToken(id: String, tenant: String?) throws(AFSError) -> Bool

    func setOwner(session: String, tenant: String) throws(AFSError)
    func owner(session: String) throws(AFSError) -> String?
    func sessions(tenant: String) throws(AFSError) -> Set<String>
    func forgetOwner(session: String) throws(AFSError)

    /// Adds to the operation counters (one upsert per tenant, session and operation).
    func addUsage(_ counts: [UsageCount]) throws(AFSError)
    /// Every counter.
    func usage() throws(AFSError) -> [UsageCount]
}

/// Operations counted for one tenant on one session (`session` empty: not about a session).
public struct UsageCount: Sendable, Equatable, Hashable {
    public var tenant: String
    public var session: String
    public var operation: String
    public var count: Int64

    public init(tenant: String, session: String, operation: String, count: Int64) {
        self.tenant = tenant
        self.session = session
        self.operation = operation
        self.count = count
    }
}
