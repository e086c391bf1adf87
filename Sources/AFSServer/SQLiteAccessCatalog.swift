import AFSCore
import AFSWire
import Foundation
import GRDB

/// The embedded ``AccessCatalog``: `DIR/server.sqlite` beside the store, WAL with
/// `synchronous=FULL`. Its `ownership` table is what servers before the session's own
/// ``SessionInfo/tenant`` recorded; ``moveLegacyOwners(into:)`` empties it at start.
public final class SQLiteAccessCatalog: AccessCatalog {
    private let db: DatabaseQueue

    public init(path: String) throws(AFSError) {
        do {
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
            m.registerMigration("v2-usage") { db in
                try db.execute(sql: """
                    CREATE TABLE usage (tenant TEXT NOT NULL, session_id TEXT NOT NULL, op TEXT NOT NULL, count INTEGER NOT NULL,
                        PRIMARY KEY (tenant, session_id, op)) WITHOUT ROWID;
                    """)
            }
            m.registerMigration("v3-console-sign-ins") { db in
                try db.execute(sql: """
                    CREATE TABLE sign_in (id_hash TEXT PRIMARY KEY, token_hash TEXT NOT NULL, csrf TEXT NOT NULL,
                        expires_at REAL NOT NULL) WITHOUT ROWID;
                    CREATE INDEX sign_in_expiry ON sign_in(expires_at);
                    """)
            }
            try m.migrate(db)
        } catch {
            throw AFSError(.io, "cannot open the access database \(path): \(error)")
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(AFSError) -> T {
        do { return try db.write(body) } catch let e as DatabaseError where e.resultCode == .SQLITE_CONSTRAINT {
            throw AFSError(.alreadyExists, "access database: \(e.message ?? "constraint failed")")
        } catch {
            throw AFSError(.io, "access database write failed: \(error)")
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(AFSError) -> T {
        do { return try db.read(body) } catch { throw AFSError(.io, "access database read failed: \(error)") }
    }

    private static func token(_ row: Row) -> StoredToken {
        StoredToken(
            id: row["id"], secretHash: row["hash"], tenant: row["tenant"], role: row["role"], label: row["label"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    public func insertToken(_ t: StoredToken) throws(AFSError) {
        try write { db in
            try db.execute(
                cached: "INSERT INTO token (id, hash, tenant, role, label, created_at) VALUES (?,?,?,?,?,?)",
                arguments: [t.id, t.secretHash, t.tenant, t.role, t.label, t.createdAt.timeIntervalSince1970])
        }
    }

    public func token(secretHash: String) throws(AFSError) -> StoredToken? {
        try read { db in try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM token WHERE hash = ?"), arguments: [secretHash]).map(SQLiteAccessCatalog.token) }
    }

    public func tokens(tenant: String?) throws(AFSError) -> [StoredToken] {
        try read { db in
            let rows = tenant == nil
                ? try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM token ORDER BY created_at, id"))
                : try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM token WHERE tenant = ? ORDER BY created_at, id"), arguments: [tenant])
            return rows.map(SQLiteAccessCatalog.token)
        }
    }

    public func deleteToken(id: String, tenant: String?) throws(AFSError) -> Bool {
        try write { db in
            if let tenant {
                try db.execute(cached: "DELETE FROM token WHERE id = ? AND tenant = ?", arguments: [id, tenant])
            } else {
                try db.execute(cached: "DELETE FROM token WHERE id = ?", arguments: [id])
            }
            return db.changesCount == 1
        }
    }

    /// Moves the session owners that servers before catalog migration `v3-session-tenant` kept
    /// here (table `ownership`) into the sessions' own rows (``SessionInfo/tenant``) in `store`'s
    /// catalog. Each owner is written to its session, unless the session already names one,
    /// before its row here is deleted: a crash part-way leaves the rest for the next start, and
    /// nothing is lost. Rows of sessions that no longer exist are dropped. Returns how many moved.
    func moveLegacyOwners(into store: AetherStore) throws(AFSError) -> Int {
        let rows = try read { db in
            try Row.fetchAll(db, sql: "SELECT session_id, tenant FROM ownership").map { (session: $0["session_id"] as String, tenant: $0["tenant"] as String) }
        }
        guard !rows.isEmpty else { return 0 }
        var moved = 0
        for row in rows {
            do {
                if try store.session(row.session).tenant == nil {
                    try store.setTenant(row.session, tenant: row.tenant)
                    moved += 1
                }
            } catch where error.code == .notFound {
                continue
            }
        }
        try write { db in
            for row in rows { try db.execute(cached: "DELETE FROM ownership WHERE session_id = ?", arguments: [row.session]) }
        }
        return moved
    }

    public func insertSignIn(_ s: StoredSignIn) throws(AFSError) {
        try write { db in
            try db.execute(
                cached: "INSERT INTO sign_in (id_hash, token_hash, csrf, expires_at) VALUES (?,?,?,?)",
                arguments: [s.idHash, s.tokenHash, s.csrf, s.expiresAt.timeIntervalSince1970])
        }
    }

    public func signIn(idHash: String) throws(AFSError) -> StoredSignIn? {
        try read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM sign_in WHERE id_hash = ?"), arguments: [idHash]).map { row in
                StoredSignIn(
                    idHash: row["id_hash"], tokenHash: row["token_hash"], csrf: row["csrf"],
                    expiresAt: Date(timeIntervalSince1970: row["expires_at"]))
            }
        }
    }

    public func deleteSignIn(idHash: String) throws(AFSError) {
        try write { db in try db.execute(cached: "DELETE FROM sign_in WHERE id_hash = ?", arguments: [idHash]) }
    }

    @discardableResult
    public func deleteSignIns(expiredBefore date: Date) throws(AFSError) -> Int {
        try write { db in
            try db.execute(cached: "DELETE FROM sign_in WHERE expires_at < ?", arguments: [date.timeIntervalSince1970])
            return db.changesCount
        }
    }

    public func addUsage(_ counts: [UsageCount]) throws(AFSError) {
        try write { db in
            for c in counts {
                try db.execute(
                    cached: "INSERT INTO usage (tenant, session_id, op, count) VALUES (?,?,?,?) ON CONFLICT DO UPDATE SET count = count + excluded.count",
                    arguments: [c.tenant, c.session, c.operation, c.count])
            }
        }
    }

    public func usage() throws(AFSError) -> [UsageCount] {
        try read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM usage")).map { row in
                UsageCount(tenant: row["tenant"], session: row["session_id"], operation: row["op"], count: row["count"])
            }
        }
    }
}
