import AFSSupport
import AFSCore
import AFSWire
import Foundation
import Synchronization

/// Tokens (stored as SHA-256 hashes, never in clear), their tenants, console sign-ins and usage,
/// over an ``AccessCatalog``: `DIR/server.sqlite` beside the embedded store, or the clustered
/// backend's PostgreSQL catalog. Which tenant owns a session is in the session's own row
/// (``SessionInfo/tenant``), written with the session.
///
/// Every request authenticates, so a token's answer is cached in memory for
/// ``tokenCacheLifetime`` (a revocation through this server drops the cache at once; through
/// another server sharing the catalog, it takes effect here within that time). Unknown tokens are
/// not cached, so guessing fills nothing.
public final class AccessControl: Sendable {
    /// Where tokens, ownership and console sign-ins are kept.
    let records: any AccessCatalog
    private let tokenCache = Locked<[String: (principal: Principal, until: ContinuousClock.Instant)]>([:])
    /// Bumped by every revocation: an answer read before one is not cached after it.
    private let revocations = Atomic<UInt64>(0)
    /// How long an authenticated token is trusted without asking the catalog again.
    public static let tokenCacheLifetime: Duration = .seconds(5)
    /// Tokens kept at most in the cache (cleared when exceeded).
    static let cacheLimit = 100_000

    /// The embedded records in `path` (SQLite).
    public convenience init(path: String) throws {
        self.init(records: try SQLiteAccessCatalog(path: path))
    }

    public init(records: any AccessCatalog) {
        self.records = records
    }

    static func hash(_ secret: String) -> String { ChunkID.digest(of: Array(secret.utf8)).hex }

    static func newSecret() -> String { RandomID.base32(prefix: "afs_", count: 40) }

    private static func info(_ t: StoredToken) -> TokenInfo {
        TokenInfo(id: t.id, tenant: t.tenant, role: Role(rawValue: t.role) ?? .reader, label: t.label, createdAt: t.createdAt)
    }

    /// Creates a token; the secret is returned once and only its hash is kept.
    public func createToken(tenant: String, role: Role, label: String?) throws -> (TokenInfo, secret: String) {
        guard !tenant.isEmpty, tenant.utf8.count <= 100, tenant.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw APIError.badRequest("a tenant name is 1…100 letters, digits, '-', '_' or '.'")
        }
        let secret = AccessControl.newSecret()
        let info = TokenInfo(id: RandomID.base32(prefix: "tok_", count: 12), tenant: tenant, role: role, label: label, createdAt: Date())
        try records.insertToken(
            StoredToken(id: info.id, secretHash: AccessControl.hash(secret), tenant: tenant, role: role.rawValue, label: label, createdAt: info.createdAt))
        return (info, secret)
    }

    public func authenticate(secret: String) throws -> Principal? {
        try authenticate(secretHash: AccessControl.hash(secret))
    }

    /// The principal of the token whose secret has this hex SHA-256 (a console sign-in keeps
    /// only the hash); nil for an unknown or revoked token.
    func authenticate(secretHash hash: String) throws -> Principal? {
        let now = ContinuousClock.now
        if let hit = tokenCache.withLock({ $0[hash] }), hit.until > now { return hit.principal }
        let generation = revocations.load(ordering: .acquiring)
        guard let t = try records.token(secretHash: hash) else { return nil }
        let principal = Principal(tokenID: t.id, tenant: t.tenant, role: Role(rawValue: t.role) ?? .reader)
        tokenCache.withLock { cache in
            // A revocation since the read may have deleted this token: answer, but do not cache.
            guard revocations.load(ordering: .acquiring) == generation else { return }
            if cache.count >= AccessControl.cacheLimit { cache.removeAll() }
            cache[hash] = (principal, now + AccessControl.tokenCacheLifetime)
        }
        return principal
    }

    public func tokens(tenant: String?) throws -> [TokenInfo] {
        try records.tokens(tenant: tenant).map(AccessControl.info)
    }

    public func revoke(tokenID: String, tenant: String?) throws -> Bool {
        let revoked = try records.deleteToken(id: tokenID, tenant: tenant)
        tokenCache.withLock { cache in
            revocations.add(1, ordering: .acquiringAndReleasing)
            cache = cache.filter { $0.value.principal.tokenID != tokenID }
        }
        return revoked
    }

    /// Adds operation counts (``UsageCounters`` flushes here).
    public func addUsage(_ counts: [UsageCount]) throws {
        try records.addUsage(counts)
    }

    /// Every operation counter.
    public func usage() throws -> [UsageCount] {
        try records.usage()
    }

    /// On first start: an admin token written to `path` with mode 0600. Later starts keep it.
    /// A server on a shared catalog that finds no file (another machine) makes its own admin
    /// token; the ones made before stay valid.
    public func ensureAdminToken(at path: String) throws -> Bool {
        if FileManager.default.fileExists(atPath: path), try tokens(tenant: "admin").contains(where: { $0.role == .admin }) { return false }
        let (_, secret) = try createToken(tenant: "admin", role: .admin, label: "bootstrap admin")
        let tmp = path + ".tmp"
        FileManager.default.createFile(atPath: tmp, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        chmod(tmp, 0o600)
        guard rename(tmp, path) == 0 else { throw APIError(.internalServerError, "io", "cannot write \(path)") }
        return true
    }
}
