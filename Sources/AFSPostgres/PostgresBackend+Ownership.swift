import AFSCore
import Foundation
import NIOSSL
import PostgresNIO

extension PostgresBackend {
    /// The advisory lock a serving process holds for as long as it uses the catalog.
    static let ownershipLockKey: Int64 = 0x4146_535F_4F57_4E52  // "AFS_OWNR"

    /// The store's identity, made by the first server that used this catalog. An object-storage
    /// prefix is bound to it, so a server on this catalog may use the prefix from any machine,
    /// and a server on another catalog is refused it.
    public func storeIdentity() throws(AFSError) -> String {
        let logger = self.logger
        let candidate = "afs-store-" + UUID().uuidString.lowercased()
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
                return try claimOnce()
            } catch where error.code == .storeLocked && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.2)
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
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw AFSError(.invalidArgument, "cannot set up TLS for \(location): \(error)")
        }
        let configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tls)
        let holder: String? = try perform("claim the catalog") { _ in
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            do {
                let rows = try await connection.query("SELECT pg_try_advisory_lock(\(PostgresBackend.ownershipLockKey)) AS ok", logger: logger).rows()
                guard try rows[0]["ok"].decode(Bool.self) else {
                    let owner = try await connection.query("SELECT host, pid, since::text AS since FROM afs_owner WHERE id = 1", logger: logger).rows()
                    try? await connection.close()
                    guard let row = owner.first else { return "another server" }
                    return "afs-server pid \(try row["pid"].decode(Int64.self)) on \(try row["host"].decode(String.self)) (since \(try row["since"].decode(String.self)))"
                }
                try await connection.query(
                    """
                    INSERT INTO afs_owner (id, host, pid) VALUES (1, \(host), \(pid))
                    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, since = now()
                    """, logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            self.ownerConnection.withLock { $0 = connection }
            // The claim ends with its connection. If the connection goes while this server runs
            // (the database restarted), take the claim again; if another server took it in
            // between, this one stops serving the catalog rather than share it.
            connection.closeFuture.whenComplete { _ in self.reclaimAfterLoss() }
            return nil
        }
        if let holder {
            throw AFSError(
                .storeLocked,
                "the catalog at \(location) is in use by \(holder); one afs-server serves a catalog at a time. Stop that server, or give this one another database")
        }
    }

    private func reclaimAfterLoss() {
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
}
