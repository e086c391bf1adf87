import AFSSupport
import AFSClient
import AFSCore
import AFSWire
import AFSTLS
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// The hosted service: one embedded store, served over HTTP and gRPC.
public final class AetherServer: Sendable {
    public struct Configuration: Sendable {
        public var dataDirectory: String
        public var httpHost = "127.0.0.1"
        public var httpPort = 8787
        /// The gRPC listener (an IPv4 or IPv6 address, or localhost); port 0 picks a free port.
        public var grpcHost = "127.0.0.1"
        public var grpcPort = 8788
        /// Largest file accepted by PUT (413 above it).
        public var maxFileBytes: UInt64 = 64 << 30
        /// Largest tar accepted by POST /v1/sessions/import.
        public var maxArchiveBytes: UInt64 = 256 << 30
        public var storeOptions = AetherStore.Options()
        /// Where records live; nil keeps them in the data directory's segment log. afs-server
        /// passes S3 packs here for `--objects s3://…`.
        public var chunks: (any ChunkStore)?
        /// Sessions, commits, refs and coordination state; nil keeps them in SQLite in the data
        /// directory. afs-server passes the PostgreSQL catalog here for `--catalog postgres://…`.
        public var catalog: (any Catalog & CoordinationCatalog)?
        /// Where unfolded writes are logged; nil keeps them in files in the data directory.
        public var journals: (any JournalStore)?
        /// Tokens, tenants and session ownership; nil keeps them in `DIR/server.sqlite`.
        public var access: (any AccessCatalog)?
        /// Requests per second allowed per bearer token (0: unlimited), and the burst above it.
        public var rateLimit: Double = 2000
        public var rateBurst: Double = 4000
        /// Bearer tokens that fail to authenticate allowed per client address at once, refilled at
        /// the same number a minute (0: unlimited); past them the address gets 429 until refilled.
        public var authFailureBurst = 30
        /// A connection that sends nothing for this long while its request's head or body is
        /// being read, or between requests, is closed (slow or endless headers and bodies); zero:
        /// never. A response being written (downloads, change streams) is not idle.
        public var idleTimeout: Duration = .seconds(60)
        /// Serve HTTPS and gRPC over TLS with this pair (reloaded on SIGHUP); nil serves plaintext.
        public var tls: ReloadableCertificate?
        /// Believe `X-Forwarded-Proto` from the peer: set when a TLS-terminating proxy (nginx) is
        /// the only way in, so requests it forwarded over https are treated as secure (HSTS).
        public var trustForwardedHeaders = false
        /// afs-vmd, for `/v1/workspaces` and the console's workspaces page; nil: not linked.
        public var workspaces: WorkspacesClient?
        /// When several replicas share the catalog: which one holds each session. Requests for a
        /// session another replica holds are relayed to it (``ReplicaForwardingMiddleware``).
        public var ownership: (any SessionOwnership)?
        /// This replica's name, sent with the requests it relays.
        public var replicaName = ""
        /// Which certificate authorities this replica believes when it relays a request to another
        /// replica over TLS (`--relay-ca`): the system's store by default, or a private CA's PEM
        /// file. The other replica's certificate must name the host of its advertised address.
        public var relayTrust = TLSTrust()

        public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
    }

    public let configuration: Configuration
    public let store: AetherStore
    public let access: AccessControl
    let usage = UsageCounters()
    let registry: PrometheusCollectorRegistry
    /// Per-token request budget shared by HTTP and gRPC (nil: unlimited).
    let limiter: RateLimiter?
    /// Failed authentications per client address over HTTP and the console (nil: unlimited).
    let authThrottle: AuthenticationThrottle?
    let started = Date()
    /// Web console sign-ins (cookie → token, CSRF token) and its files.
    let consoleSessions: ConsoleSessions
    let consoleAssets = ConsoleAssets.load()
    /// Relays requests to the replica that holds their session (nil: one server, nothing to relay).
    let relayClient: HTTPClient?
    /// Relays gRPC calls to the replica that holds their session (nil: one server).
    let grpcRelay: RelayClients?
    static let version = "0.1.0"

    public var adminTokenPath: String { configuration.dataDirectory + "/admin.token" }

    /// Opens the store and the access database; writes the admin token on first start.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        let storeDir = configuration.dataDirectory + "/store"
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        store = try AetherStore.open(
            at: storeDir, options: configuration.storeOptions, chunks: configuration.chunks, catalog: configuration.catalog,
            journals: configuration.journals, ownership: configuration.ownership)
        if configuration.ownership == nil {
            (relayClient, grpcRelay) = (nil, nil)
        } else {
            // A fleet is all TLS or all plaintext: a replica over TLS reaches the others' gRPC
            // listeners over TLS too (their HTTP addresses carry their scheme).
            let relayTLS = try configuration.relayTrust.clientConfiguration()
            relayClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: AetherServer.relayConfiguration(tls: relayTLS))
            grpcRelay = RelayClients(trust: configuration.tls == nil ? nil : configuration.relayTrust)
        }
        if let records = configuration.access {
            access = AccessControl(records: records)
        } else {
            let records = try SQLiteAccessCatalog(path: configuration.dataDirectory + "/server.sqlite")
            let moved = try records.moveLegacyOwners(into: store)
            if moved > 0 {
                FileHandle.standardError.write(Data("afs-server: moved the owners of \(moved) sessions from server.sqlite into the catalog\n".utf8))
            }
            access = AccessControl(records: records)
        }
        _ = try access.ensureAdminToken(at: configuration.dataDirectory + "/admin.token")
        consoleSessions = ConsoleSessions(access: access)
        registry = AetherServer.bootstrapMetrics()
        limiter =
            configuration.rateLimit > 0
            ? RateLimiter(
                rate: configuration.rateLimit, burst: configuration.rateBurst,
                shared: configuration.ownership == nil ? nil : configuration.access as? any SharedRequestBudget) : nil
        authThrottle =
            configuration.authFailureBurst > 0
            ? AuthenticationThrottle(burst: configuration.authFailureBurst, perMinute: Double(configuration.authFailureBurst)) : nil
    }

    /// How requests are relayed to other replicas. A holder that cannot be connected to fails the
    /// attempt at once (by default AsyncHTTPClient would retry the connection until the request's
    /// own deadline, which for a change stream is a day), so the relay asks the catalog again; and
    /// long-lived relayed streams (change feeds, long polls) never make other requests wait for a
    /// connection.
    static func relayConfiguration(tls: TLSConfiguration) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.timeout = .init(connect: .seconds(2))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 1024
        return configuration
    }

    private static let metricsRegistry = Locked<PrometheusCollectorRegistry?>(nil)

    /// swift-metrics can be bootstrapped once per process: every server in it shares one registry.
    static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        metricsRegistry.withLock { existing in
            if let existing { return existing }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            existing = registry
            return registry
        }
    }

    /// The router with every route (used by the app and by tests).
    func buildRouter() -> (Router<AFSRequestContext>, APIRouteTable) {
        // HEAD answers for every GET route: the GET handler runs and its body is dropped, so the
        // status and headers (Content-Length, ETag, Content-Type) are the ones GET would send (RFC 9110 §9.3.2).
        let router = Router(context: AFSRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: TransportSecurityMiddleware(servedOverTLS: configuration.tls != nil, trustForwardedHeaders: configuration.trustForwardedHeaders))
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(
            middleware: AuthMiddleware(
                access: access, openPaths: ["/v1/health", "/metrics", "/v1/openapi.json"], console: consoleSessions, throttle: authThrottle,
                trustForwardedHeaders: configuration.trustForwardedHeaders))
        if let limiter { router.add(middleware: RateLimitMiddleware(limiter: limiter)) }
        if let ownership = configuration.ownership, let relayClient {
            router.add(middleware: ReplicaForwardingMiddleware(ownership: ownership, client: relayClient, replica: configuration.replicaName, trust: configuration.relayTrust))
        }
        let table = APIRouteTable(router: router)
        addServiceRoutes(table)
        addSessionRoutes(table)
        addFileRoutes(table)
        addCoordinationRoutes(table)
        addTokenRoutes(table)
        addStoreRoutes(table)
        addWorkspaceRoutes(table)
        // The console is pages, not API: its routes stay out of the OpenAPI table.
        addConsoleRoutes(router)
        return (router, table)
    }

    /// Builds the Hummingbird application, over TLS when the configuration has a certificate.
    /// `onRunning` receives the bound port (0 in the configuration picks a free one).
    public func application(onRunning: @escaping @Sendable (Int) -> Void = { _ in }) throws -> some ApplicationProtocol {
        signal(SIGPIPE, SIG_IGN)
        let (router, _) = buildRouter()
        var logger = Logger(label: "afs-server")
        logger.logLevel = .info
        let idle = configuration.idleTimeout > .zero ? TimeAmount.nanoseconds(Int64(configuration.idleTimeout / .nanoseconds(1))) : nil
        let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: idle))
        let server: HTTPServerBuilder =
            try configuration.tls.map { try .tls(http1, tlsConfiguration: $0.serverConfiguration(applicationProtocols: ["http/1.1"])) } ?? http1
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "afs-server"),
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves HTTP and gRPC until SIGTERM or SIGINT, then stops both gracefully: new connections
    /// are refused, live streams end, in-flight requests finish. Close the store afterwards with
    /// `shutdown()`.
    /// - Parameters:
    ///   - onHTTPListening: receives the bound HTTP port.
    ///   - onGRPCListening: receives the bound gRPC host and port.
    public func run(
        onHTTPListening: @escaping @Sendable (Int) -> Void = { _ in },
        onGRPCListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }
    ) async throws {
        let http = try application(onRunning: onHTTPListening)
        let grpc = try grpcEndpoint(onListening: onGRPCListening)
        var logger = Logger(label: "afs-server")
        logger.logLevel = .info
        let flusher = UsageFlusher(usage: usage, access: access)
        var services: [any Service] = [http, grpc, flusher]
        if let tls = configuration.tls { services.append(CertificateReloadService(certificates: [tls], logger: logger)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Flushes and closes the store (after the HTTP and gRPC servers stopped).
    public func shutdown() throws {
        usage.flush(to: access)
        try? relayClient?.syncShutdown()
        grpcRelay?.shutdown()
        try store.close()
    }

    // MARK: Authorization helpers

    /// The session, if the caller's tenant owns it (the HTTP form of `authorize(_:principal:_:)`).
    func authorize(_ id: String, _ context: AFSRequestContext, _ role: Role) async throws -> SessionInfo {
        try await authorize(id, principal: try context.require(role), role)
    }

    func count(_ context: AFSRequestContext, _ op: String, session: String? = nil) {
        count(context.principal, op, session: session)
    }

    /// Counts one operation for `/v1/usage` and the gRPC Usage call.
    func count(_ principal: Principal?, _ op: String, session: String? = nil) {
        usage.record(tenant: principal?.tenant ?? "-", session: session, op: op)
    }
}

/// Operation counts per tenant and per session: counted in memory, added to the access catalog
/// every few seconds and at shutdown (``flush(to:)``), so they survive restarts and, on the
/// clustered backend, add up across servers. Requests per minute stay in memory (a rate, not a
/// total).
final class UsageCounters: Sendable {
    private struct Key: Hashable {
        var tenant: String
        var session: String
        var op: String
    }

    private let pending = Locked<[Key: Int64]>([:])
    private let perMinute = Locked<[Int: Int]>([:])
    /// Serializes flushes (the timer's and shutdown's).
    private let flushing = Locked<Void>(())

    func record(tenant: String, session: String?, op: String) {
        pending.withLock { $0[Key(tenant: tenant, session: session ?? "", op: op), default: 0] += 1 }
        perMinute.withLock { m in
            let minute = Int(Date().timeIntervalSince1970 / 60)
            m[minute, default: 0] += 1
            if m.count > 1440 { m = m.filter { $0.key > minute - 1440 } }
        }
    }

    /// Adds what was counted since the last flush to `records`; on failure keeps it for the next.
    func flush(to records: AccessControl) {
        flushing.withLock { _ in
            let batch = pending.withLock { p in
                defer { p.removeAll() }
                return p
            }
            guard !batch.isEmpty else { return }
            let counts = batch.map { UsageCount(tenant: $0.key.tenant, session: $0.key.session, operation: $0.key.op, count: $0.value) }
            do {
                var start = 0
                while start < counts.count {
                    let end = min(counts.count, start + 5_000)
                    try records.addUsage(Array(counts[start..<end]))
                    start = end
                }
            } catch {
                // Counted again with the next flush (a partly added batch may count some twice).
                pending.withLock { p in for (k, v) in batch { p[k, default: 0] += v } }
            }
        }
    }

    /// Totals per tenant and per session (stored plus not yet flushed), and requests per minute.
    func snapshot(_ records: AccessControl) throws -> (tenants: [String: [String: Int]], sessions: [String: [String: Int]], perMinute: [Int: Int]) {
        // Not while a flush is under way: its batch is then neither pending nor stored yet.
        let all = try flushing.withLock { _ in
            try records.usage()
                + pending.withLock { p in p.map { UsageCount(tenant: $0.key.tenant, session: $0.key.session, operation: $0.key.op, count: $0.value) } }
        }
        var tenants: [String: [String: Int]] = [:]
        var sessions: [String: [String: Int]] = [:]
        for c in all {
            tenants[c.tenant, default: [:]][c.operation, default: 0] += Int(c.count)
            if !c.session.isEmpty { sessions[c.session, default: [:]][c.operation, default: 0] += Int(c.count) }
        }
        return (tenants, sessions, perMinute.withLock { $0 })
    }

    /// Requests per minute over the last day.
    func requestsPerMinute() -> [Int: Int] { perMinute.withLock { $0 } }
}

/// Adds the operation counters to the access catalog every few seconds until shutdown.
struct UsageFlusher: Service {
    let usage: UsageCounters
    let access: AccessControl
    static let interval: Duration = .seconds(2)

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: UsageFlusher.interval) }
            let usage = self.usage, access = self.access
            _ = try? await Blocking.run { usage.flush(to: access) }
        }
    }
}
