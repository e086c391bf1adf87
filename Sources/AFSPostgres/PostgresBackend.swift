import AFSSupport
import AFSCore
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// One PostgreSQL database as the clustered backend's catalog: a connection pool, the schema
/// (migrated on connect), and the bridge from the engine's synchronous calls to postgres-nio.
///
/// The engine's catalog protocols are synchronous (the engine holds locks across them); each
/// call here runs its queries on threads that may block (``Blocking``) and waits at most
/// ``Options/requestTimeout``. A call that fails because the database is down or restarting
/// throws ``AFSError/Code/unavailable`` naming the server; the pool reconnects on its own, so
/// service resumes when the database is back.
public final class PostgresBackend: Sendable {
    public struct Options: Sendable {
        /// How long one catalog call may take before it fails as unavailable.
        public var requestTimeout: Duration = .seconds(15)
        /// How long one connection attempt may take.
        public var connectTimeout: Duration = .seconds(5)
        /// How long ``PostgresBackend/connect(_:options:migrate:logger:onRetry:)`` keeps retrying a
        /// server that cannot be reached before it gives up. A service started together with its
        /// database (a container set, a machine booting, a busy host) should wait for it rather
        /// than exit; zero tries once.
        public var startupWait: Duration = .zero
        /// Pooled connections at most.
        public var maximumConnections = 16
        /// How often a joined replica asks its lock's connection whether it still holds the lock
        /// (and re-measures the database clock).
        public var heartbeatInterval: Duration = .seconds(2)
        /// How long after the last heartbeat that confirmed its lock a replica still serves the
        /// sessions it holds. A replica cut off from the database loses its lock there (the
        /// database notices the dead connection within about 11 s) and others may take its sessions
        /// over, so this bounds how stale a read it answers from memory can be. Past it, calls about
        /// its sessions fail as unavailable until a heartbeat answers again; nothing is forgotten.
        public var servesUnconfirmedFor: Duration = .seconds(8)
        /// How long heartbeats may go unanswered before the replica gives its lock's connection up
        /// and joins again, forgetting its claims. A busy machine (or database) can leave a
        /// heartbeat unanswered for seconds with the lock still held: dropping the lock then would
        /// make every session move, so only a connection that fails, or says the lock is gone, or
        /// stays silent this long is given up.
        public var rejoinAfterSilence: Duration = .seconds(20)

        public init() {}
    }

    public let location: PostgresLocation
    let options: Options
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    private let closed = Atomic<Bool>(false)
    /// The connection that holds this replica's lock (``join(address:)``), if joined.
    let ownerConnection = Locked<PostgresConnection?>(nil)
    /// Whether this process joined as a replica and, if so, whether its lock is held right now.
    /// While a joined replica's lock is down, calls fail as unavailable: the others may be taking
    /// its sessions over, and it must not write to them meanwhile.
    let claimed = Atomic<Bool>(false)
    let claimHeld = Atomic<Bool>(false)
    /// When a heartbeat (or the join) last found the lock held, in ``monotonicSeconds()``.
    let lockConfirmed = Locked<Double>(0)
    let replicaIdentity = Locked<ReplicaIdentity?>(nil)
    /// Seconds from the monotonic clock to the database's clock (``databaseTime()``).
    let clockOffset = Locked<Double?>(nil)
    let changeHandlers = Locked<[@Sendable (String) -> Void]>([])
    /// The sessions this replica holds, with their fencing epochs (``PostgresSessionOwnership``).
    let sessionClaims = Locked<[String: Int64]>([:])
    /// What the store does when another replica collects garbage, and the run it joined.
    let collectionHandlers = Locked<(join: @Sendable () -> [ChunkID], leave: @Sendable () -> Void)?>(nil)
    let joinedCollection = Locked<Int64?>(nil)
    /// One follower of collections at a time (notifications and heartbeats both call it).
    let collectionFollower = Locked<Void>(())
    var isClosed: Bool { closed.load(ordering: .acquiring) }

    private init(location: PostgresLocation, options: Options, client: PostgresClient, logger: Logger, runner: Task<Void, Never>) {
        self.location = location
        self.options = options
        self.client = client
        self.logger = logger
        self.runner = runner
    }

    /// Connects, checks that the server answers, and migrates the schema to this build's version.
    ///
    /// Fails with ``AFSError/Code/unavailable`` when the server cannot be reached (naming host,
    /// port and what to check), and ``AFSError/Code/unsupportedFormat`` when the database holds a
    /// newer schema than this build knows.
    /// - Parameter migrate: false leaves the schema alone (a server claims the catalog first, then
    ///   calls ``migrate()``, so a second server started by mistake never migrates under the first).
    /// - Parameter onRetry: called before each new attempt while ``Options/startupWait`` lasts,
    ///   with the attempt's number and why the last one failed (to tell an operator what it waits for).
    public static func connect(
        _ location: PostgresLocation, options: Options = Options(), migrate: Bool = true, logger: Logger? = nil,
        onRetry: (_ attempt: Int, _ failure: AFSError) -> Void = { _, _ in }
    ) throws(AFSError) -> PostgresBackend {
        let clock = ContinuousClock()
        let deadline = clock.now + options.startupWait
        var attempt = 1
        var pause = Duration.milliseconds(250)
        while true {
            do {
                return try connectOnce(location, options: options, migrate: migrate, logger: logger)
            } catch where error.code == .unavailable && clock.now + pause < deadline {
                attempt += 1
                onRetry(attempt, error)
                Thread.sleep(forTimeInterval: pause.inSeconds)
                pause = min(pause * 2, .seconds(2))
            }
        }
    }

    private static func connectOnce(
        _ location: PostgresLocation, options: Options, migrate: Bool, logger: Logger?
    ) throws(AFSError) -> PostgresBackend {
        let logger = logger ?? Logger(label: "aetherfs.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tlsMode(location.tls))
        configuration.options.connectTimeout = options.connectTimeout
        configuration.options.maximumConnections = options.maximumConnections
        configuration.options.additionalStartupParameters = [("application_name", "afs-server")]
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let runner = Task(executorPreference: Blocking.executor) { await client.run() }
        let backend = PostgresBackend(location: location, options: options, client: client, logger: logger, runner: runner)
        do {
            try backend.perform("connect", timeout: options.connectTimeout + .seconds(1)) { client in
                try await client.query("SELECT 1", logger: logger)
            }
            if migrate { try PostgresSchema.migrate(backend) }
        } catch {
            backend.close()
            if error.code == .unavailable {
                throw AFSError(
                    .unavailable,
                    "PostgreSQL at \(location) cannot be reached: \(error.message). Check that the server is running and accepts TCP connections on \(location.host):\(location.port), and that --catalog (AFS_CATALOG) names the right host, port, user and database")
            }
            throw error
        }
        return backend
    }

    /// As libpq: `prefer` and `require` encrypt without checking the certificate; `verify-full`
    /// checks it against the system's trust store and the host name.
    static func tlsConfiguration(_ mode: PostgresLocation.TLSMode) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if mode != .verifyFull { tls.certificateVerification = .none }
        return tls
    }

    private static func tlsMode(_ mode: PostgresLocation.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: return .disable
        case .prefer: return .prefer(tlsConfiguration(mode))
        case .require, .verifyFull: return .require(tlsConfiguration(mode))
        }
    }

    /// Closes the pool; later calls fail as unavailable.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        leave()
        runner.cancel()
    }

    deinit { close() }

    /// Runs `body` against the pool from synchronous code and maps what can go wrong to
    /// ``AFSError``: unreachable or restarting server → `unavailable`; a unique key taken →
    /// `alreadyExists`; anything else the server refuses → `io` with its SQLSTATE and message.
    @discardableResult
    func perform<T: Sendable>(
        _ what: String, timeout: Duration? = nil, requireClaim: Bool = true, _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) throws(AFSError) -> T {
        guard !closed.load(ordering: .acquiring) else {
            throw AFSError(.unavailable, "the catalog connection to \(location) is closed")
        }
        guard !requireClaim || !claimed.load(ordering: .acquiring) || claimHeld.load(ordering: .acquiring) else {
            throw AFSError(.unavailable, "this replica's lock on the catalog at \(location) is being taken again (its connection closed); retry shortly")
        }
        let client = self.client
        let result: T?
        do {
            result = try Blocking.run(timeout: timeout ?? options.requestTimeout) { try await body(client) }
        } catch {
            throw PostgresBackend.map(error, what: what, location: location)
        }
        guard let result else {
            throw AFSError(
                .unavailable,
                "PostgreSQL at \(location) did not answer \(what) within \(timeout ?? options.requestTimeout); its outcome is unknown. Retry once the database is reachable")
        }
        return result
    }

    /// Runs `body` in one transaction (`BEGIN` … `COMMIT`, rolled back if it throws).
    @discardableResult
    func transaction<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) throws(AFSError) -> T {
        let logger = self.logger
        return try perform(what) { client in
            try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        }
    }

    static func map(_ error: any Error, what: String, location: PostgresLocation) -> AFSError {
        if let e = error as? AFSError { return e }
        if let tx = error as? PostgresTransactionError {
            return map(tx.closureError ?? tx.beginError ?? tx.commitError ?? tx.rollbackError ?? error, what: what, location: location)
        }
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                let state = info[.sqlState] ?? "?"
                let message = info[.message] ?? "no message"
                if state == "23505" { return AFSError(.alreadyExists, "\(what): \(message)") }
                if state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" {
                    // Connection exceptions, admin shutdown / crash recovery, too many connections.
                    return AFSError(.unavailable, "PostgreSQL at \(location) is unavailable (\(what)): \(message) [SQLSTATE \(state)]; retry once it is back")
                }
                return AFSError(.io, "catalog \(what) failed: \(message) [SQLSTATE \(state)]")
            }
            let reason = e.underlying.map { "\($0)" } ?? "\(e.code)"
            let connectionCodes: [PSQLError.Code] = [
                .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
                .sslUnsupported, .failedToAddSSLHandler,
            ]
            if connectionCodes.contains(e.code) || e.underlying != nil {
                return AFSError(.unavailable, "PostgreSQL at \(location) is unavailable (\(what)): \(reason); retry once it is back")
            }
            return AFSError(.io, "catalog \(what) failed: \(reason)")
        }
        if let e = error as? PostgresDecodingError {
            return AFSError(.corrupted, "catalog \(what): a row does not decode (\(e.code), column \(e.columnName)); the database holds something this build does not expect")
        }
        if error is CancellationError {
            return AFSError(.unavailable, "catalog \(what) was cancelled (the catalog is closing)")
        }
        return AFSError(.unavailable, "PostgreSQL at \(location) is unavailable (\(what)): \(error)")
    }
}

extension PostgresRowSequence {
    /// Every row, each readable by column name.
    func rows() async throws -> [PostgresRandomAccessRow] {
        try await collect().map { $0.makeRandomAccess() }
    }
}

extension PostgresBackend {
    /// The schema version the database is at (this build migrates it on connect).
    public func schemaVersion() throws(AFSError) -> Int {
        try PostgresSchema.version(self)
    }

    /// Applies the migrations the database lacks (``connect(_:options:migrate:logger:)`` does by
    /// default).
    public func migrate() throws(AFSError) {
        try PostgresSchema.migrate(self)
    }
}
