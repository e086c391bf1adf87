import Foundation

/// A bearer token as an access catalog keeps it: only the SHA-256 of its secret, never the secret.
public struct StoredToken: Sendable, Equatable {
    /// Public token identifier, `tok_` plus 12 base32 characters: safe to show, used to revoke.
    public var id: String
    /// Hex SHA-256 of the secret.
    public var secretHash: String
    /// Tenant the token belongs to; its requests act within this tenant.
    public var tenant: String
    /// `reader`, `writer` or `admin`.
    public var role: String
    /// Free-form note given at creation (who or what the token is for); nil when none.
    public var label: String?
    /// When the token was created; `tokens(tenant:)` lists oldest first by it.
    public var createdAt: Date

    /// Memberwise initializer; `secretHash` must already be the hex SHA-256, never the secret itself.
    public init(id: String, secretHash: String, tenant: String, role: String, label: String?, createdAt: Date) {
        self.id = id
        self.secretHash = secretHash
        self.tenant = tenant
        self.role = role
        self.label = label
        self.createdAt = createdAt
    }
}

/// Who may call a server: tokens and their tenants, console sign-ins, and how many operations each
/// tenant made. (Which tenant owns a session is ``SessionInfo/tenant``, in the ``Catalog``.)
///
/// The third storage seam beside ``Catalog`` and ``ChunkStore``: a server on the embedded store
/// keeps these in SQLite in its data directory; a clustered one keeps them in its PostgreSQL
/// catalog, so every server (and a replacement machine) knows every token. Every method is
/// durable when it returns.
public protocol AccessCatalog: Sendable {
    /// Fails with ``AFSError/Code/alreadyExists`` when the id or the secret's hash is taken.
    func insertToken(_ token: StoredToken) throws(AFSError)
    /// The token whose secret has this hex SHA-256; nil when none (an unknown or revoked token).
    func token(secretHash: String) throws(AFSError) -> StoredToken?
    /// Oldest first; every tenant's when `tenant` is nil.
    func tokens(tenant: String?) throws(AFSError) -> [StoredToken]
    /// Deletes a token (only within `tenant` when given); false when there was none.
    func deleteToken(id: String, tenant: String?) throws(AFSError) -> Bool

    /// Records a console sign-in; durable when it returns.
    func insertSignIn(_ signIn: StoredSignIn) throws(AFSError)
    /// The sign-in whose cookie value has this hex SHA-256, expired or not; nil when none.
    func signIn(idHash: String) throws(AFSError) -> StoredSignIn?
    /// Ends a sign-in (no error when there is none).
    func deleteSignIn(idHash: String) throws(AFSError)
    /// Forgets every sign-in that ended before `date`; returns how many.
    @discardableResult
    func deleteSignIns(expiredBefore date: Date) throws(AFSError) -> Int

    /// Adds to the operation counters (one upsert per tenant, session and operation).
    func addUsage(_ counts: [UsageCount]) throws(AFSError)
    /// Every counter.
    func usage() throws(AFSError) -> [UsageCount]
}

/// Operations counted for one tenant on one session (`session` empty: not about a session).
public struct UsageCount: Sendable, Equatable, Hashable {
    /// Tenant whose requests were counted (`-` for unauthenticated calls).
    public var tenant: String
    /// Session ID the operations were about; empty when not about a session.
    public var session: String
    /// Operation name as the server counts it, e.g. `create`, `fork`, `read`, `write`.
    public var operation: String
    /// Number of operations; `addUsage` adds it to the stored counter rather than replacing it.
    public var count: Int64

    /// Creates a count for one tenant, session and operation.
    public init(tenant: String, session: String, operation: String, count: Int64) {
        self.tenant = tenant
        self.session = session
        self.operation = operation
        self.count = count
    }
}
