import AFSSupport
import AFSCore
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

extension PostgresBackend {
    /// The advisory lock a serving process holds for as long as it uses the catalog.
    static let ownershipLockKey: Int64 = 0x4146_535F_4F57_4E52  // "AFS_OWNR"

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

    /// Claims the catalog for this process: one serving process per catalog, until replicas
    /// coordinate through it. The claim is a session-level advisory lock on a connection of its
    /// own, so it ends when this process dies, however it dies, and the next server can start
    /// at once. Another live holder is named in the error, after `wait` (a holder that just died
    /// is released once the database notices its connection is gone).
    public func claimOwnership(wait: Duration = .seconds(3)) throws(AFSError) {
        let deadline = ContinuousClock.now + wait
        while true {
            do {
                try claimOnce()
                startHeartbeat()
                return
            } catch where error.code == .storeLocked && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }

    /// Every few seconds, asks the claim's connection whether it still holds the lock: a
    /// connection that died without the client noticing (a half-open TCP connection, a dropped
    /// NAT entry) is closed, which starts the reclaim.
    private func startHeartbeat() {
        Thread.detachNewThread { [self] in
            while !isClosed {
                Thread.sleep(forTimeInterval: 3)
                guard let connection = ownerConnection.withLock({ $0 }) else { continue }
                let logger = self.logger
                let held = try? Blocking.run(timeout: .seconds(5)) {
                    let rows = try await connection.query(
                        """
                        SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                        AND ((classid::bigint << 32) | objid::bigint) = \(PostgresBackend.ownershipLockKey)
                        """, logger: logger
                    ).rows()
                    return try rows[0]["n"].decode(Int64.self) == 1
                }
                if held != true && !isClosed {
                    logger.warning("the catalog claim on \(location) did not answer its heartbeat; reconnecting it")
                    let closing: EventLoopFuture<Void> = connection.close()
                    try? closing.wait()
                }
            }
        }
    }

    private func claimOnce() throws(AFSError) {
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
        // An attempt the caller stopped waiting for (the request timed out) must not keep the
        // lock it may still take: it would hold the catalog against this very process. Whichever
        // side moves first decides: the attempt publishes its connection, or finds itself
        // abandoned and closes it, releasing the lock.
        let attempt = ClaimAttempt()
        let holder: String?
        do {
            holder = try perform("claim the catalog", requireClaim: false) { _ in
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                do {
                    let rows = try await connection.query("SELECT pg_try_advisory_lock(\(PostgresBackend.ownershipLockKey)) AS ok", logger: logger).rows()
                    guard try rows[0]["ok"].decode(Bool.self) else {
                        // (No afs_owner table yet: the holder claimed a database it has not migrated.)
                        let owner = try? await connection.query("SELECT host, pid, since::text AS since FROM afs_owner WHERE id = 1", logger: logger).rows()
                        try? await connection.close()
                        guard let row = owner?.first else { return "another server" }
                        return "afs-server pid \(try row["pid"].decode(Int64.self)) on \(try row["host"].decode(String.self)) (since \(try row["since"].decode(String.self)))"
                    }
                    try? await PostgresBackend.recordOwner(on: connection, host: host, pid: pid, logger: logger)
                } catch {
                    try? await connection.close()
                    throw error
                }
                guard attempt.publish() else {
                    try? await connection.close()
                    throw CancellationError()
                }
                self.publishClaim(connection)
                return nil
            }
        } catch {
            // The claim was taken just as the wait ran out: it stands.
            guard attempt.abandon() else { throw error }
            holder = nil
        }
        if let holder {
            throw AFSError(
                .storeLocked,
                "the catalog at \(location) is in use by \(holder); one afs-server serves a catalog at a time. Stop that server, or give this one another database")
        }
    }

    /// Where one claim attempt stands, decided once, under a lock, by the attempt (which
    /// publishes its connection) or by its caller (which stops waiting).
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

        /// The caller stops waiting: true when the attempt had already published its claim.
        func abandon() -> Bool {
            state.withLock { s in
                if s == .published { return true }
                s = .abandoned
                return false
            }
        }
    }

    /// Makes `connection` the claim's: the heartbeat watches it, and its loss starts a reclaim.
    private func publishClaim(_ connection: PostgresConnection) {
        ownerConnection.withLock { $0 = connection }
        claimed.store(true, ordering: .releasing)
        claimHeld.store(true, ordering: .releasing)
        // The claim ends with its connection. If the connection goes while this server runs
        // (the database restarted), take the claim again; if another server took it in
        // between, this one stops serving the catalog rather than share it.
        connection.closeFuture.whenComplete { _ in self.reclaimAfterLoss() }
    }

    private func reclaimAfterLoss() {
        // Calls stop first: until the claim is held again, another server may be taking it.
        claimHeld.store(false, ordering: .releasing)
        guard !isClosed, ownerConnection.withLock({ $0 != nil }) else { return }
        ownerConnection.withLock { $0 = nil }
        logger.warning("the catalog claim's connection to \(location) closed; claiming it again")
        Thread.detachNewThread { [self] in
            while !isClosed {
                do throws(AFSError) {
                    try claimOnce()
                    logger.info("the catalog claim on \(location) is held again")
                    return
                } catch where error.code == .storeLocked {
                    ownershipLost.store(true, ordering: .releasing)
                    logger.critical("\(error.message); this server stops using the catalog")
                    return
                } catch {
                    Thread.sleep(forTimeInterval: 1)  // the database is not back yet
                }
            }
        }
    }

    /// Names this process as the holder in `afs_owner`, for the error another server gets. Before
    /// the first migration there is no such table; ``migrate()`` records it then.
    static func recordOwner(on connection: PostgresConnection, host: String, pid: Int64, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO afs_owner (id, host, pid) VALUES (1, \(host), \(pid))
            ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, since = now()
            """, logger: logger)
    }
}
