import AFSSupport
import AFSCore
import Logging
import PostgresNIO

/// Session ownership among the replicas sharing one PostgreSQL catalog (`afs_session_owner`):
/// a session is held by at most one live replica, under a fencing epoch that every change of
/// owner raises.
///
/// A replica takes a session that no live replica holds, when it first needs it; one that died
/// (its advisory lock released by the database, ``PostgresBackend/join(address:)``) has its
/// sessions taken by whichever replica needs them next, with no step by anyone. Journal rows and
/// session updates are written only under the epoch their writer holds (``PostgresJournalStore``,
/// ``PostgresCatalog``), so a replica that was taken for dead can never overwrite its successor.
public final class PostgresSessionOwnership: SessionOwnership {
    let backend: PostgresBackend

    public init(backend: PostgresBackend) {
        self.backend = backend
    }

    /// Where `session` is served, taking it for this replica when no live replica holds it.
    public func place(_ session: String) throws(AFSError) -> SessionPlacement {
        if let epoch = backend.sessionClaims.withLock({ $0[session] }) { return .here(epoch: UInt64(epoch)) }
        guard let me = backend.replica else {
            throw AFSError(.unavailable, "this server has not joined the replicas of \(backend.location) yet")
        }
        let logger = backend.logger
        let found = try backend.perform("claim session \(session)") { client -> (epoch: Int64?, owner: String?, address: String?) in
            // The conflict branch waits for the row locks that journal writes under the previous
            // epoch hold (FOR SHARE), so they are committed before this claim is.
            let claimed = try await client.query(
                """
                INSERT INTO afs_session_owner AS o (session_id, replica_id, epoch)
                SELECT \(session), \(me.id), 1 WHERE EXISTS (SELECT 1 FROM afs_session WHERE id = \(session))
                ON CONFLICT (session_id) DO UPDATE SET replica_id = excluded.replica_id, epoch = o.epoch + 1, since = now()
                WHERE o.replica_id = excluded.replica_id OR o.replica_id NOT IN (SELECT id FROM afs_live_replica)
                RETURNING epoch
                """, logger: logger
            ).rows()
            if let row = claimed.first { return (try row["epoch"].decode(Int64.self), nil, nil) }
            let owner = try await client.query(
                """
                SELECT o.replica_id, r.address FROM afs_session_owner o LEFT JOIN afs_replica r ON r.id = o.replica_id
                WHERE o.session_id = \(session)
                """, logger: logger
            ).rows()
            guard let row = owner.first else { return (nil, nil, nil) }
            return (nil, try row["replica_id"].decode(String.self), try row["address"].decode(String?.self))
        }
        if let epoch = found.epoch {
            backend.sessionClaims.withLock { $0[session] = epoch }
            return .here(epoch: UInt64(epoch))
        }
        guard let owner = found.owner else { return .missing }
        return .elsewhere(owner: owner, address: found.address ?? "")
    }

    public func holds(_ session: String, epoch: UInt64) -> Bool {
        backend.sessionClaims.withLock { $0[session] } == Int64(epoch)
    }

    public func release(_ session: String) {
        guard backend.sessionClaims.withLock({ $0.removeValue(forKey: session) }) != nil, let me = backend.replica else { return }
        let logger = backend.logger
        _ = try? backend.perform("release session \(session)") { client in
            try await client.query("DELETE FROM afs_session_owner WHERE session_id = \(session) AND replica_id = \(me.id)", logger: logger)
        }
    }

    /// Forgets a claim this replica no longer holds (a fenced write found another epoch).
    func lost(_ session: String) {
        _ = backend.sessionClaims.withLock { $0.removeValue(forKey: session) }
    }

    public func collectingGarbage<R>(_ body: () throws(AFSError) -> R) throws(AFSError) -> R {
        guard let me = backend.replica, let connection = backend.ownerConnection.withLock({ $0 }) else {
            throw AFSError(.unavailable, "this server has not joined the replicas of \(backend.location) yet")
        }
        let logger = backend.logger
        let key = PostgresBackend.garbageCollectionLockKey
        let others = try backend.perform("elect the garbage collector") { _ -> [String]? in
            let rows = try await connection.query("SELECT pg_try_advisory_lock(\(key)) AS ok", logger: logger).rows()
            guard try rows[0]["ok"].decode(Bool.self) else { return nil }
            let live = try await connection.query("SELECT id, address FROM afs_live_replica WHERE id <> \(me.id) ORDER BY id", logger: logger).rows()
            let names = try live.map { "\(try $0["id"].decode(String.self)) (\(try $0["address"].decode(String.self)))" }
            if !names.isEmpty { try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger) }
            return names
        }
        guard let others else {
            throw AFSError(.conflict, "another replica is collecting garbage in \(backend.location) now; try again when it is done")
        }
        guard others.isEmpty else {
            throw AFSError(
                .conflict,
                "garbage collection needs to be the only replica serving \(backend.location), because it cannot yet see what the others have written and not recorded; live replicas: \(others.joined(separator: ", ")). Stop them, collect, then start them again")
        }
        defer {
            _ = try? backend.perform("release the garbage collector lock") { _ in
                try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
            }
        }
        return try body()
    }
}
