import AFSSupport
import AFSCore
import Foundation
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
    /// Held while this replica claims a session: two requests arriving together for a session it
    /// does not hold yet must not both claim it, since a re-claim by the same replica raises the
    /// epoch, which fences out the writes the first claim let through (a 503 "taken over").
    private let claiming = NSLock()

    public init(backend: PostgresBackend) {
        self.backend = backend
    }

    /// Where `session` is served, taking it for this replica when no live replica holds it.
    public func place(_ session: String) throws(AFSError) -> SessionPlacement {
        if backend.claimed.load(ordering: .acquiring), !backend.lockIsFresh {
            throw AFSError(
                .unavailable,
                "this replica has not heard from the catalog at \(backend.location) for \(backend.options.servesUnconfirmedFor) and may have lost its sessions to another replica; retry shortly")
        }
        if let epoch = backend.sessionClaims.withLock({ $0[session] }) { return .here(epoch: UInt64(epoch)) }
        claiming.lock()
        defer { claiming.unlock() }
        // Claimed by a request that held the lock before this one.
        if let epoch = backend.sessionClaims.withLock({ $0[session] }) { return .here(epoch: UInt64(epoch)) }
        guard let me = backend.replica else {
            throw AFSError(.unavailable, "this server has not joined the replicas of \(backend.location) yet")
        }
        let logger = backend.logger
        let found = try backend.perform("claim session \(session)") { client -> (epoch: Int64?, owner: String?, address: String?, grpc: String?) in
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
            if let row = claimed.first { return (try row["epoch"].decode(Int64.self), nil, nil, nil) }
            let owner = try await client.query(
                """
                SELECT o.replica_id, r.address, r.grpc_address FROM afs_session_owner o LEFT JOIN afs_replica r ON r.id = o.replica_id
                WHERE o.session_id = \(session)
                """, logger: logger
            ).rows()
            guard let row = owner.first else { return (nil, nil, nil, nil) }
            return (
                nil, try row["replica_id"].decode(String.self), try row["address"].decode(String?.self),
                try row["grpc_address"].decode(String?.self))
        }
        if let epoch = found.epoch {
            backend.sessionClaims.withLock { $0[session] = epoch }
            return .here(epoch: UInt64(epoch))
        }
        guard let owner = found.owner else { return .missing }
        return .elsewhere(owner: owner, address: found.address ?? "", grpcAddress: found.grpc ?? "")
    }

    public func holds(_ session: String, epoch: UInt64) -> Bool {
        // Unconfirmed for too long, the database may have released the lock and another replica
        // taken the session: what is in memory may be stale, so it is not served (``place(_:)``
        // says why); the claim itself is kept, since the lock may well still be held.
        backend.sessionClaims.withLock { $0[session] } == Int64(epoch) && backend.lockIsFresh
    }

    public func release(_ session: String) {
        guard backend.sessionClaims.withLock({ $0.removeValue(forKey: session) }) != nil, let me = backend.replica else { return }
        let logger = backend.logger
        _ = try? backend.perform("release session \(session)") { client in
            try await client.query("DELETE FROM afs_session_owner WHERE session_id = \(session) AND replica_id = \(me.id)", logger: logger)
        }
    }

    public func collectingGarbage<R>(beginHere: () -> Void, _ body: (_ reported: [ChunkID]) throws(AFSError) -> R) throws(AFSError) -> R {
        guard let me = backend.replica, let connection = backend.ownerConnection.withLock({ $0 }) else {
            throw AFSError(.unavailable, "this server has not joined the replicas of \(backend.location) yet")
        }
        let logger = backend.logger
        let key = PostgresBackend.garbageCollectionLockKey
        // Elected: one session-level advisory lock, on the replica's own connection.
        let elected = try backend.perform("elect the garbage collector") { _ -> Bool in
            try await connection.query("SELECT pg_try_advisory_lock(\(key)) AS ok", logger: logger).rows()[0]["ok"].decode(Bool.self)
        }
        guard elected else {
            throw AFSError(.conflict, "another replica is collecting garbage in \(backend.location) now; try again when it is done")
        }
        defer {
            _ = try? backend.perform("release the garbage collector lock") { _ in
                try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
            }
        }
        let run = try backend.perform("start a collection") { client -> Int64 in
            try await client.query("INSERT INTO afs_gc_run (collector, state) VALUES (\(me.id), 'running') RETURNING id", logger: logger)
                .rows()[0]["id"].decode(Int64.self)
        }
        var outcome = "aborted"
        defer {
            // The others leave their epoch (and forget the packs this run deleted).
            let state = outcome
            _ = try? backend.perform("end collection \(run)") { client in
                try await client.query("UPDATE afs_gc_run SET state = \(state) WHERE id = \(run)", logger: logger)
                try await client.query("DELETE FROM afs_gc_ack WHERE run = \(run)", logger: logger)
                try await client.query("DELETE FROM afs_gc_seen WHERE run = \(run)", logger: logger)
                try await client.query("SELECT pg_notify('\(unescaped: PostgresBackend.collectionChannel)', \("end \(run)"))", logger: logger)
            }
        }
        beginHere()
        try backend.perform("announce collection \(run)") { client in
            try await client.query("SELECT pg_notify('\(unescaped: PostgresBackend.collectionChannel)', \("begin \(run)"))", logger: logger)
        }
        // Every other live replica joins: its writes in flight finish, it stops relying on the
        // records that exist now, and reports the chunks of its uploads in progress.
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let waiting = try backend.perform("wait for replicas to join collection \(run)") { client -> [String] in
                try await client.query(
                    """
                    SELECT id FROM afs_live_replica WHERE id <> \(me.id)
                    AND id NOT IN (SELECT replica_id FROM afs_gc_ack WHERE run = \(run)) ORDER BY id
                    """, logger: logger
                ).rows().map { try $0["id"].decode(String.self) }
            }
            if waiting.isEmpty { break }
            guard ContinuousClock.now < deadline else {
                throw AFSError(
                    .conflict,
                    "garbage collection needs every replica to join it, and \(waiting.joined(separator: ", ")) did not within 30 s; nothing was collected. Check those replicas, then retry")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let reported = try backend.perform("read what the replicas' uploads hold") { client -> [ChunkID] in
            try await client.query("SELECT chunk FROM afs_gc_seen WHERE run = \(run)", logger: logger).rows()
                .compactMap { ChunkID(hex: try $0["chunk"].decode(String.self)) }
        }
        let result = try body(reported)
        outcome = "done"
        return result
    }

    public func participate(join: @escaping @Sendable () -> [ChunkID], leave: @escaping @Sendable () -> Void) {
        backend.collectionHandlers.withLock { $0 = (join, leave) }
        // A collection already running (this replica is starting): join before serving anything.
        backend.followCollections()
    }
}

extension PostgresBackend {
    /// The `NOTIFY` channel of garbage collections (`begin RUN`, `end RUN`).
    static let collectionChannel = "afs_gc"

    /// Joins the collection running now, if any and not joined yet, and leaves a joined one that
    /// ended (or whose collector died). Called on every `afs_gc` notification and heartbeat, so
    /// a notification missed while the listener was down is caught up within seconds.
    func followCollections() {
        collectionFollower.withLock { _ in followCollectionsLocked() }
    }

    private func followCollectionsLocked() {
        guard let handlers = collectionHandlers.withLock({ $0 }), let me = replica else { return }
        let logger = self.logger
        let key = PostgresBackend.garbageCollectionLockKey
        let running: Int64?
        do throws(AFSError) {
            running = try perform("look for a running collection") { client -> Int64? in
                let rows = try await client.query(
                    """
                    SELECT id FROM afs_gc_run WHERE state = 'running' AND collector <> \(me.id)
                    AND EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND ((classid::bigint << 32) | objid::bigint) = \(key))
                    ORDER BY id DESC LIMIT 1
                    """, logger: logger
                ).rows()
                return try rows.first?["id"].decode(Int64.self)
            }
        } catch {
            return  // the database is unreachable: the next heartbeat tries again
        }
        let joined = joinedCollection.withLock { $0 }
        if let joined, joined != running {
            handlers.leave()
            joinedCollection.withLock { $0 = nil }
        }
        guard let running, joinedCollection.withLock({ $0 }) == nil else { return }
        let held = handlers.join()
        joinedCollection.withLock { $0 = running }
        _ = try? perform("join collection \(running)") { client in
            for slice in stride(from: 0, to: held.count, by: 5_000) {
                let hexes = held[slice..<min(held.count, slice + 5_000)].map(\.hex)
                try await client.query("INSERT INTO afs_gc_seen (run, chunk) SELECT \(running), unnest(\(hexes)::text[])", logger: logger)
            }
            try await client.query(
                "INSERT INTO afs_gc_ack (run, replica_id) VALUES (\(running), \(me.id)) ON CONFLICT DO NOTHING", logger: logger)
        }
    }
}
