import AFSCore
import Foundation
import PostgresNIO

/// Tokens, tenants, console sign-ins and usage in the clustered catalog (`afs_token`,
/// `afs_sign_in`, `afs_usage`), so that every server on it, on any machine, knows every token.
public final class PostgresAccessCatalog: AccessCatalog, SharedRequestBudget {
    let catalog: PostgresCatalog

    public init(backend: PostgresBackend) {
        catalog = PostgresCatalog(backend: backend)
    }

    static func token(_ row: PostgresRandomAccessRow) throws -> StoredToken {
        StoredToken(
            id: try row["id"].decode(String.self), secretHash: try row["secret_hash"].decode(String.self),
            tenant: try row["tenant"].decode(String.self), role: try row["role"].decode(String.self),
            label: try row["label"].decode(String?.self), createdAt: try PostgresCatalog.date(row, "created_at"))
    }

    public func insertToken(_ t: StoredToken) throws(AFSError) {
        try catalog.execute(
            "create token \(t.id)",
            """
            INSERT INTO afs_token (id, secret_hash, tenant, role, label, created_at)
            VALUES (\(t.id), \(t.secretHash), \(t.tenant), \(t.role), \(t.label), \(t.createdAt.timeIntervalSince1970))
            """)
    }

    public func token(secretHash: String) throws(AFSError) -> StoredToken? {
        try catalog.select("authenticate a token", "SELECT * FROM afs_token WHERE secret_hash = \(secretHash)", PostgresAccessCatalog.token).first
    }

    public func tokens(tenant: String?) throws(AFSError) -> [StoredToken] {
        if let tenant {
            return try catalog.select(
                "list tokens", "SELECT * FROM afs_token WHERE tenant = \(tenant) ORDER BY created_at, id", PostgresAccessCatalog.token)
        }
        return try catalog.select("list tokens", "SELECT * FROM afs_token ORDER BY created_at, id", PostgresAccessCatalog.token)
    }

    public func deleteToken(id: String, tenant: String?) throws(AFSError) -> Bool {
        if let tenant {
            return try catalog.execute("revoke token \(id)", "DELETE FROM afs_token WHERE id = \(id) AND tenant = \(tenant) RETURNING id") == 1
        }
        return try catalog.execute("revoke token \(id)", "DELETE FROM afs_token WHERE id = \(id) RETURNING id") == 1
    }

    public func insertSignIn(_ s: StoredSignIn) throws(AFSError) {
        try catalog.execute(
            "record a console sign-in",
            """
            INSERT INTO afs_sign_in (id_hash, token_hash, csrf, expires_at)
            VALUES (\(s.idHash), \(s.tokenHash), \(s.csrf), \(s.expiresAt.timeIntervalSince1970))
            """)
    }

    public func signIn(idHash: String) throws(AFSError) -> StoredSignIn? {
        try catalog.select("read a console sign-in", "SELECT * FROM afs_sign_in WHERE id_hash = \(idHash)") { row in
            StoredSignIn(
                idHash: try row["id_hash"].decode(String.self), tokenHash: try row["token_hash"].decode(String.self),
                csrf: try row["csrf"].decode(String.self),
                expiresAt: Date(timeIntervalSince1970: try row["expires_at"].decode(Double.self)))
        }.first
    }

    public func deleteSignIn(idHash: String) throws(AFSError) {
        try catalog.execute("end a console sign-in", "DELETE FROM afs_sign_in WHERE id_hash = \(idHash)")
    }

    @discardableResult
    public func deleteSignIns(expiredBefore date: Date) throws(AFSError) -> Int {
        try catalog.execute(
            "forget ended console sign-ins", "DELETE FROM afs_sign_in WHERE expires_at < \(date.timeIntervalSince1970) RETURNING id_hash")
    }

    public func addUsage(_ counts: [UsageCount]) throws(AFSError) {
        guard !counts.isEmpty else { return }
        var sql = "INSERT INTO afs_usage (tenant, session_id, op, count) VALUES "
        var binds = PostgresBindings(capacity: counts.count * 4)
        for (i, c) in counts.enumerated() {
            sql += (i == 0 ? "" : ", ") + "($\(i * 4 + 1), $\(i * 4 + 2), $\(i * 4 + 3), $\(i * 4 + 4))"
            binds.append(c.tenant)
            binds.append(c.session)
            binds.append(c.operation)
            binds.append(c.count)
        }
        sql += " ON CONFLICT (tenant, session_id, op) DO UPDATE SET count = afs_usage.count + excluded.count"
        try catalog.execute("add usage counts", PostgresQuery(unsafeSQL: sql, binds: binds))
    }

    public func usage() throws(AFSError) -> [UsageCount] {
        try catalog.select("read usage counts", "SELECT * FROM afs_usage") { row in
            UsageCount(
                tenant: try row["tenant"].decode(String.self), session: try row["session_id"].decode(String.self),
                operation: try row["op"].decode(String.self), count: try row["count"].decode(Int64.self))
        }
    }

    // MARK: Shared request budgets

    public func takeRequests(_ key: String, count: Int, rate: Double, burst: Double) throws(AFSError) -> (granted: Int, wait: Double) {
        // One statement, the row locked by ON CONFLICT: refill by the database's clock (the
        // statement's start), take what is there up to `count`, remember how many were taken.
        let want = Double(max(0, count))
        let logger = catalog.logger
        let (granted, left) = try catalog.backend.perform("take requests from the budget of \(key)") { client -> (Double, Double) in
            let rows = try await client.query(
                """
                INSERT INTO afs_rate_bucket AS b (key, tokens, updated, granted)
                VALUES (\(key), \(burst) - LEAST(\(want), floor(\(burst))), extract(epoch FROM statement_timestamp()), LEAST(\(want), floor(\(burst))))
                ON CONFLICT (key) DO UPDATE SET
                    granted = LEAST(\(want), floor(LEAST(\(burst), b.tokens + (extract(epoch FROM statement_timestamp()) - b.updated) * \(rate)))),
                    tokens = LEAST(\(burst), b.tokens + (extract(epoch FROM statement_timestamp()) - b.updated) * \(rate))
                        - LEAST(\(want), floor(LEAST(\(burst), b.tokens + (extract(epoch FROM statement_timestamp()) - b.updated) * \(rate)))),
                    updated = extract(epoch FROM statement_timestamp())
                RETURNING granted, tokens
                """, logger: logger
            ).rows()
            return (try rows[0]["granted"].decode(Double.self), try rows[0]["tokens"].decode(Double.self))
        }
        return (Int(granted), granted >= 1 ? 0 : max(0.001, (1 - left) / max(rate, 1e-9)))
    }
}
