import AFSSupport
import AFSCore
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// One serving process in the fleet that shares a catalog: its row in `afs_replica`, and the
/// address other replicas forward its sessions' requests to.
public struct ReplicaIdentity: Sendable, Equatable {
    /// Unique per process start (a restarted server is a new replica).
    public let id: String
    /// The second key of the replica's advisory lock.
    public let number: Int64
    /// Where other replicas reach this one (`http://HOST:PORT`).
    public let address: String
}

extension PostgresBackend {
    /// The first key of every replica's advisory lock ("AFSR"); the second is its number.
    public static let replicaLockSpace: Int64 = 0x4146_5352
    /// The advisory lock a replica holds while it collects garbage ("AFSG"): one collector at a time.
    static let garbageCollectionLockKey: Int64 = 0x4146_535F_4743_4F4C  // "AFS_GCOL"

    /// The store's identity, made by the first server that used this catalog. An object-storage
    /// prefix is bound to it, so a server on this catalog may use the prefix from any machine,
    /// and a server on another catalog is refused it.
    public func storeIdentity() throws(AFSError) -> String {
        let logger = self.logger
        let candidate = RandomID.storeIdentity()
        return try transaction("read the store identity") { connection in
            try await connection.query(
                "INSERT INTO afs_store (id, identity) VALUES (1, \(candidate)) ON CONFLICT (id) DO NOTHING", logger: logger)
            let rows = try await connection.query("SELECT identity FROM afs_store WHERE id = 1", logger: logger).rows()
            return try rows[0]["identity"].decode(String.self)
        }
    }

    /// Joins the fleet of servers on this catalog: records this process in `afs_replica` and
    /// takes its advisory lock on a connection of its own, which the database releases when this
    /// process dies, however it dies (kill -9 included), so the others may take its sessions
    /// over at once. The connection also carries the `LISTEN` for changefeed and bus wake-ups.
    /// - Parameter address: where other replicas reach this one to forward requests for the
    ///   sessions it holds (`http://HOST:PORT`).
    @discardableResult
    public func join(address: String) throws(AFSError) -> ReplicaIdentity {
        let identity = try attachOnce(address: address)
        startHeartbeat()
        return identity
    }

    /// This process's replica, once joined.
    public var replica: ReplicaIdentity? { replicaIdentity.withLock { $0 } }

    /// Calls `handler` with the session of every changefeed event and bus message committed by
    /// any replica (this one included), from PostgreSQL `NOTIFY`, so long polls and streams
    /// here wake for writes made through another replica.
    public func onChange(_ handler: @escaping @Sendable (String) -> Void) {
        changeHandlers.withLock { $0.append(handler) }
    }

    /// The database's wall clock, in seconds since 1970: the local monotonic clock plus the
    /// offset to `clock_timestamp()` measured at join and at every heartbeat. Replicas that grant
    /// and check leases by it agree on when a lease expires, whatever their own clocks say, and a
    /// step of this machine's clock changes nothing.
    public func databaseTime() -> Double {
        let offset = clockOffset.withLock { $0 }
        return PostgresBackend.monotonicSeconds() + (offset ?? (Date().timeIntervalSince1970 - PostgresBackend.monotonicSeconds()))
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Measures the offset from the monotonic clock to the database's clock (the midpoint of the
    /// round trip).
    static func measureClockOffset(_ connection: PostgresConnection, logger: Logger) async throws -> Double {
        let before = monotonicSeconds()
        let rows = try await connection.query("SELECT extract(epoch FROM clock_timestamp())::float8 AS now", logger: logger).rows()
        let after = monotonicSeconds()
        let now = try rows[0]["now"].decode(Double.self)
        return now - (before + after) / 2
    }

    /// Every ``Options/heartbeatInterval``, asks the replica's connection whether it still holds
    /// its lock, and re-measures the database clock. An answer that the lock is gone, or a
    /// connection that fails, closes the connection (which starts the re-join); silence only
    /// stops serving (``lockIsFresh``) until ``Options/rejoinAfterSilence`` has passed.
    private func startHeartbeat() {
        Thread.detachNewThread { [self] in
            var silentSince: Double?
            while !isClosed {
                Thread.sleep(forTimeInterval: options.heartbeatInterval.inSeconds)
                guard let connection = ownerConnection.withLock({ $0 }), let me = replica else {
                    silentSince = nil
                    continue
                }
                let logger = self.logger
                let answer: Result<(Bool, Double)?, any Error>
                do {
                    answer = .success(
                        try Blocking.run(timeout: options.heartbeatInterval * 2) { () -> (Bool, Double) in
                            let rows = try await connection.query(
                                """
                                SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                                AND objsubid = 2 AND classid::bigint = \(PostgresBackend.replicaLockSpace) AND objid::bigint = \(me.number)
                                """, logger: logger
                            ).rows()
                            let held = try rows[0]["n"].decode(Int64.self) == 1
                            return (held, try await PostgresBackend.measureClockOffset(connection, logger: logger))
                        })
                } catch {
                    answer = .failure(error)
                }
                let now = PostgresBackend.monotonicSeconds()
                let giveUp: String?
                switch answer {
                case .success(let measured?) where measured.0:
                    silentSince = nil
                    lockConfirmed.withLock { $0 = now }
                    clockOffset.withLock { $0 = measured.1 }
                    followCollections()
                    giveUp = nil
                case .success(.some):
                    giveUp = "says the lock is no longer held"
                case .failure(let error):
                    giveUp = "failed (\(error))"
                case .success(nil):
                    let since = silentSince ?? now
                    silentSince = since
                    if since == now { logger.warning("the replica lock on \(location) did not answer a heartbeat; its sessions are served for \(options.servesUnconfirmedFor) after the last answer") }
                    giveUp = now - since >= options.rejoinAfterSilence.inSeconds ? "has not answered for \(Int(now - since)) s" : nil
                }
                if let giveUp, !isClosed {
                    silentSince = nil
                    logger.warning("the replica lock's connection to \(location) \(giveUp); joining again")
                    let closing: EventLoopFuture<Void> = connection.close()
                    try? closing.wait()
                }
            }
        }
    }

    /// Whether a heartbeat confirmed this replica's lock within ``Options/servesUnconfirmedFor``:
    /// only then may it answer for the sessions it holds.
    var lockIsFresh: Bool {
        PostgresBackend.monotonicSeconds() - lockConfirmed.withLock({ $0 }) < options.servesUnconfirmedFor.inSeconds
    }

    private func attachOnce(address: String) throws(AFSError) -> ReplicaIdentity {
        let location = self.location
        let logger = self.logger
        let host = ProcessInfo.processInfo.hostName
        let pid = Int64(getpid())
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch location.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: PostgresBackend.tlsConfiguration(location.tls)))
            case .require, .verifyFull: tls = .require(try NIOSSLContext(configuration: PostgresBackend.tlsConfiguration(location.tls)))
            }
        } catch {
            throw AFSError(.invalidArgument, "cannot set up TLS for \(location): \(error)")
        }
        let configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tls)
        let previous = replica
        // An attempt the caller stopped waiting for (the request timed out) must not keep the
        // lock it may still take: whichever side moves first decides, the attempt publishing its
        // connection or finding itself abandoned and closing it.
        let attempt = ClaimAttempt()
        let joined: (ReplicaIdentity, Double)
        do {
            joined = try perform("join the replicas", requireClaim: false) { _ in
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                do {
                    // The database notices a replica that vanished (a machine lost, a network
                    // cut) within about 11 s instead of TCP's hours, and releases its lock.
                    try await connection.query("SET tcp_keepalives_idle = 5", logger: logger)
                    try await connection.query("SET tcp_keepalives_interval = 2", logger: logger)
                    try await connection.query("SET tcp_keepalives_count = 3", logger: logger)
                    let identity: ReplicaIdentity
                    if let previous {
                        try await connection.query(
                            "UPDATE afs_replica SET address = \(address), pid = \(pid), since = now() WHERE id = \(previous.id)", logger: logger)
                        identity = previous
                    } else {
                        let id = RandomID.base32(prefix: "r-", count: 10)
                        let rows = try await connection.query(
                            "INSERT INTO afs_replica (id, address, host, pid) VALUES (\(id), \(address), \(host), \(pid)) RETURNING number",
                            logger: logger
                        ).rows()
                        identity = ReplicaIdentity(id: id, number: try rows[0]["number"].decode(Int64.self), address: address)
                    }
                    // A number is never reused, so the lock is free unless a connection of this
                    // very replica that died unnoticed still holds it: wait for the database to
                    // notice (its keepalive) rather than fail.
                    while true {
                        let rows = try await connection.query(
                            "SELECT pg_try_advisory_lock(\(Int32(PostgresBackend.replicaLockSpace)), \(Int32(truncatingIfNeeded: identity.number))) AS ok",
                            logger: logger
                        ).rows()
                        if try rows[0]["ok"].decode(Bool.self) { break }
                        try await Task.sleep(for: .milliseconds(500))
                    }
                    // Rows of replicas that are gone and hold no session are history.
                    try await connection.query(
                        """
                        DELETE FROM afs_replica r WHERE r.id NOT IN (SELECT id FROM afs_live_replica)
                        AND NOT EXISTS (SELECT 1 FROM afs_session_owner o WHERE o.replica_id = r.id)
                        """, logger: logger)
                    let offset = try await PostgresBackend.measureClockOffset(connection, logger: logger)
                    guard attempt.publish() else {
                        try? await connection.close()
                        throw CancellationError()
                    }
                    self.publishMembership(connection, identity: identity, offset: offset)
                    return (identity, offset)
                } catch {
                    try? await connection.close()
                    throw error
                }
            }
        } catch {
            if attempt.abandon(), let identity = replica { return identity }
            throw error
        }
        return joined.0
    }

    /// Where one attempt stands, decided once, under a lock, by the attempt (which publishes its
    /// connection) or by its caller (which stops waiting).
    final class ClaimAttempt: Sendable {
        enum State { case pending, published, abandoned }
        private let state = Locked(State.pending)

        /// The attempt took the lock: true when it may keep it (its caller still waits).
        func publish() -> Bool {
            state.withLock { s in
                guard s == .pending else { return false }
                s = .published
                return true
            }
        }

        /// The caller stops waiting: true when the attempt had already published.
        func abandon() -> Bool {
            state.withLock { s in
                if s == .published { return true }
                s = .abandoned
                return false
            }
        }
    }

    /// Makes `connection` the replica's: the heartbeat watches it, it listens for wake-ups, and
    /// its loss starts a re-join.
    private func publishMembership(_ connection: PostgresConnection, identity: ReplicaIdentity, offset: Double) {
        replicaIdentity.withLock { $0 = identity }
        clockOffset.withLock { $0 = offset }
        lockConfirmed.withLock { $0 = PostgresBackend.monotonicSeconds() }
        ownerConnection.withLock { $0 = connection }
        claimed.store(true, ordering: .releasing)
        claimHeld.store(true, ordering: .releasing)
        let logger = self.logger
        Task(executorPreference: Blocking.executor) { [self] in
            do {
                try await connection.listen(on: PostgresCatalog.changeChannel) { notifications in
                    for try await notification in notifications {
                        for handler in changeHandlers.withLock({ $0 }) { handler(notification.payload) }
                    }
                }
            } catch {
                logger.debug("the change listener on \(location) ended: \(error)")
            }
        }
        Task(executorPreference: Blocking.executor) { [self] in
            do {
                try await connection.listen(on: PostgresBackend.collectionChannel) { notifications in
                    for try await _ in notifications { followCollections() }
                }
            } catch {
                logger.debug("the collection listener on \(location) ended: \(error)")
            }
        }
        connection.closeFuture.whenComplete { _ in self.rejoinAfterLoss() }
    }

    private func rejoinAfterLoss() {
        // While the lock is down, other replicas may take this one's sessions: drop every claim
        // (what is held in memory for them is retired on next use), and refuse calls until the
        // lock is back.
        claimHeld.store(false, ordering: .releasing)
        sessionClaims.withLock { $0.removeAll() }
        guard !isClosed, ownerConnection.withLock({ $0 != nil }), let me = replica else { return }
        ownerConnection.withLock { $0 = nil }
        logger.warning("the replica lock's connection to \(location) closed; joining again")
        // Wake every reader: changes may have been missed while the listener was down.
        for handler in changeHandlers.withLock({ $0 }) { handler("") }
        Thread.detachNewThread { [self] in
            while !isClosed {
                do throws(AFSError) {
                    _ = try attachOnce(address: me.address)
                    logger.info("replica \(me.id) holds its lock on \(location) again")
                    for handler in changeHandlers.withLock({ $0 }) { handler("") }
                    return
                } catch {
                    Thread.sleep(forTimeInterval: 1)  // the database is not back yet
                }
            }
        }
    }

    /// Leaves the fleet: gives up every session this replica holds (the next request for one
    /// claims it wherever it lands) and releases the lock, so a server stopping on purpose
    /// hands its sessions over at once.
    func leave() {
        guard let connection = ownerConnection.withLock({ c in defer { c = nil }; return c }), let me = replica else { return }
        let logger = self.logger
        sessionClaims.withLock { $0.removeAll() }
        _ = try? Blocking.run(timeout: .seconds(2)) {
            try await connection.query("DELETE FROM afs_session_owner WHERE replica_id = \(me.id)", logger: logger)
            try await connection.query("DELETE FROM afs_replica WHERE id = \(me.id)", logger: logger)
            try await connection.query(
                "SELECT pg_advisory_unlock(\(Int32(PostgresBackend.replicaLockSpace)), \(Int32(truncatingIfNeeded: me.number)))", logger: logger)
        }
        let closing: EventLoopFuture<Void> = connection.close()
        try? closing.wait()
    }
}

extension PostgresBackend {
    /// The claim a write of `session` must still hold when it commits: this replica and its
    /// epoch, or nil when this process has not joined as a replica (a tool, a test) or does not
    /// hold the session.
    func fence(_ session: String) -> (replica: String, epoch: Int64)? {
        guard let me = replica, let epoch = sessionClaims.withLock({ $0[session] }) else { return nil }
        return (me.id, epoch)
    }

    /// `WITH fence AS (…)`: selects (and share-locks until commit) the session's owner row only
    /// while it still names this replica and epoch. A claim by another replica waits for that
    /// lock, so it replays only after this statement committed; a statement that finds the row
    /// changed writes nothing.
    static func fenceClause(_ session: String, _ fence: (replica: String, epoch: Int64), binds: inout PostgresBindings) -> String {
        let p = binds.count
        binds.append(session)
        binds.append(fence.replica)
        binds.append(fence.epoch)
        return "fence AS (SELECT 1 FROM afs_session_owner WHERE session_id = $\(p + 1) AND replica_id = $\(p + 2) AND epoch = $\(p + 3) FOR SHARE)"
    }

    /// The error of a write refused because another replica took the session over; the claim is
    /// forgotten, so the next request claims or forwards afresh.
    func fencedOut(_ session: String) -> AFSError {
        _ = sessionClaims.withLock { $0.removeValue(forKey: session) }
        return AFSError(
            .unavailable, "session \(session) was taken over by another replica; nothing of this request was written. Retry: it will reach the new owner")
    }
}

extension PostgresBackend {
    /// Publishes where other replicas reach this one (once the listener's port is known): its
    /// HTTP base URL, and its gRPC `HOST:PORT` (relayed gRPC calls; empty: none).
    public func advertise(_ address: String? = nil, grpc: String? = nil) throws(AFSError) {
        guard let me = replica else { throw AFSError(.unavailable, "this server has not joined the replicas of \(location) yet") }
        let logger = self.logger
        try perform("advertise replica \(me.id)") { client in
            if let address { try await client.query("UPDATE afs_replica SET address = \(address) WHERE id = \(me.id)", logger: logger) }
            if let grpc { try await client.query("UPDATE afs_replica SET grpc_address = \(grpc) WHERE id = \(me.id)", logger: logger) }
        }
        if let address { replicaIdentity.withLock { $0 = ReplicaIdentity(id: me.id, number: me.number, address: address) } }
    }
}
