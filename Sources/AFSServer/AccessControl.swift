import AFSCore
import Foundation
import GRDB

/// A caller's role within its tenant.
public enum Role: String, Sendable, Codable, Comparable {
    case reader, writer, admin

    private var rank: Int { self == .reader ? 0 : self == .writer ? 1 : 2 }
    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
}

/// A token as listed (never the secret).
public struct TokenInfo: Sendable, Codable, Equatable {
    public var id: String
    public var tenant: String
    public var role: Role
    public var label: String?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, tenant, role, label
        case createdAt = "created_at"
    }
}

/// Tokens (stored as SHA-256 hashes, never in clear), tenants and which tenant owns each session,
/// in `DIR/server.sqlite` beside the store.
public final class AccessControl: Sendable {
    private let db: DatabaseQueue

    public init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        db = try DatabaseQueue(path: path, configuration: config)
        try db.writeWithoutTransaction { db in _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE token (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL, role TEXT NOT NULL,
                    label TEXT, created_at REAL NOT NULL);
                CREATE TABLE ownership (session_id TEXT PRIMARY KEY, tenant TEXT NOT NULL);
                CREATE INDEX ownership_tenant ON ownership(tenant);
                """)
        }
        try m.migrate(db)
    }

    static func hash(_ secret: String) -> String { ChunkID.digest(of: Array(secret.utf8)).hex }

    static func newSecret() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var g = SystemRandomNumberGenerator()
        return "afs_" + String((0..<40).map { _ in alphabet[Int(g.next() % 32)] })
    }

    /// Creates a token; the secret is returned once and only its hash is kept.
    public func createToken(tenant: String, role: Role, label: String?) throws -> (TokenInfo, secret: String) {
        guard !tenant.isEmpty, tenant.utf8.count <= 100, tenant.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw APIError.badRequest("a tenant name is 1…100 letters, digits, '-', '_' or '.'")
        }
        let secret = AccessControl.newSecret()
        let info = TokenInfo(id: "tok_" + String(AccessControl.newSecret().dropFirst(4).prefix(12)), tenant: tenant, role: role, label: label, createdAt: Date())
        try db.write { db in
            try db.execute(
                sql: "INSERT INTO token (id, hash, tenant, role, label, created_at) VALUES (?,?,?,?,?,?)",
                arguments: [info.id, AccessControl.hash(secret), tenant, role.rawValue, label, info.createdAt.timeIntervalSince1970])
        }
        return (info, secret)
    }

    public func authenticate(secret: String) throws -> Principal? {
        try db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM token WHERE hash = ?", arguments: [AccessControl.hash(secret)]).map { row in
                Principal(tokenID: row["id"], tenant: row["tenant"], role: Role(rawValue: row["role"]) ?? .reader)
            }
        }
    }

    public func tokens(tenant: String?) throws -> [TokenInfo] {
        try db.read { db in
            let rows = tenant == nil
                ? try Row.fetchAll(db, sql: "SELECT * FROM token ORDER BY created_at")
                : try Row.fetchAll(db, sql: "SELECT * FROM token WHERE tenant = ? ORDER BY created_at", arguments: [tenant])
            return rows.map { row in
                TokenInfo(
                    id: row["id"], tenant: row["tenant"], role: Role(rawValue: row["role"]) ?? .reader, label: row["label"],
                    createdAt: Date(timeIntervalSince1970: row["created_at"]))
            }
        }
    }

    public func revoke(tokenID: String, tenant: String?) throws -> Bool {
        try db.write { db in
            if let tenant {
                try db.execute(sql: "DELETE FROM token WHERE id = ? AND tenant = ?", arguments: [tokenID, tenant])
            } else {
                try db.execute(sql: "DELETE FROM token WHERE id = ?", arguments: [tokenID])
            }
            return db.changesCount == 1
        }
    }

    public func setOwner(session: String, tenant: String) throws {
        try db.write { db in try db.execute(sql: "INSERT OR REPLACE INTO ownership (session_id, tenant) VALUES (?, ?)", arguments: [session, tenant]) }
    }

    public func owner(session: String) throws -> String? {
        try db.read { db in try String.fetchOne(db, sql: "SELECT tenant FROM ownership WHERE session_id = ?", arguments: [session]) }
    }

    public func sessions(tenant: String) throws -> Set<String> {
        try db.read { db in Set(try String.fetchAll(db, sql: "SELECT session_id FROM ownership WHERE tenant = ?", arguments: [tenant])) }
    }

    public func forget(session: String) throws {
        try db.write { db in try db.execute(sql: "DELETE FROM ownership WHERE session_id = ?", arguments: [session]) }
    }

    /// On first start: an admin token written to `path` with mode 0600. Later starts keep it.
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
