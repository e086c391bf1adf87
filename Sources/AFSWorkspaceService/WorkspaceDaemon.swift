import AFSSupport
import AFSTLS
import AFSWorkspaces
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import ServiceLifecycle

/// afs-vmd: a ``WorkspaceController`` with a driver, its reconcile loop, and the HTTP API.
///
/// VMs are detached from the daemon on purpose: stopping the daemon (SIGTERM, a crash, an
/// upgrade) leaves them running, and the next daemon adopts them before it serves.
public final class WorkspaceDaemon: Sendable {
    public struct Configuration: Sendable {
        public var dataDirectory: String
        public var host = "127.0.0.1"
        public var port = 8790
        /// `qemu`, `bwrap` or `auto` (QEMU when it and a guest image are there, else bubblewrap).
        public var driver = "auto"
        /// Kernel and initramfs for QEMU (default DATA/guest).
        public var guestDirectory: String?
        /// `auto`, `kvm` or `tcg`.
        public var accelerator = "auto"
        public var defaultIdleTimeout = 600
        public var activityInterval: Double = 10
        public var tickInterval: Double = 1
        /// Where project files come from (an afs-server through `aether`); nil: workspaces have none.
        public var projectFiles: (any ProjectFiles)?
        /// Serve HTTPS with this pair (reloaded on SIGHUP); nil serves plaintext HTTP.
        public var tls: ReloadableCertificate?

        public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
    }

    public let configuration: Configuration
    public let controller: WorkspaceController
    /// The bearer token clients must send (DATA/vmd.token, mode 0600).
    public let token: String
    public var tokenPath: String { configuration.dataDirectory + "/vmd.token" }
    static let version = "0.1.0"

    /// Picks the driver, opens the controller, adopts VMs left by a previous daemon.
    public init(configuration: Configuration) async throws(WorkspaceError) {
        self.configuration = configuration
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw WorkspaceError(.io, "cannot create \(configuration.dataDirectory): \(error.localizedDescription)")
        }
        let driver = try await WorkspaceDaemon.makeDriver(configuration)
        var controllerConfiguration = WorkspaceController.Configuration(dataDirectory: configuration.dataDirectory)
        controllerConfiguration.defaultIdleTimeout = configuration.defaultIdleTimeout
        controllerConfiguration.activityInterval = configuration.activityInterval
        controllerConfiguration.projectFiles = configuration.projectFiles
        controller = try WorkspaceController(configuration: controllerConfiguration, driver: driver)
        token = try WorkspaceDaemon.ensureToken(at: configuration.dataDirectory + "/vmd.token")
        try await controller.recover()
    }

    static func makeDriver(_ configuration: Configuration) async throws(WorkspaceError) -> any WorkspaceDriver {
        let guest = configuration.guestDirectory ?? configuration.dataDirectory + "/guest"
        var qemu = QEMUDriver.Configuration(dataDirectory: configuration.dataDirectory, guestDirectory: guest)
        qemu.accelerator = configuration.accelerator
        switch configuration.driver {
        case "qemu":
            return try await QEMUDriver(configuration: qemu)
        case "bwrap":
            return try BubblewrapDriver(configuration: .init(dataDirectory: configuration.dataDirectory, guestDirectory: guest))
        case "auto":
            if let driver = try? await QEMUDriver(configuration: qemu) { return driver }
            return try BubblewrapDriver(configuration: .init(dataDirectory: configuration.dataDirectory, guestDirectory: guest))
        default:
            throw WorkspaceError(.invalidArgument, "--driver must be qemu, bwrap or auto (got \(configuration.driver))")
        }
    }

    /// What `/v1/health` says: enough for `aether doctor` and for humans to know what runs VMs.
    public func health() -> [String: String] {
        var h = ["status": "ok", "version": WorkspaceDaemon.version, "driver": controller.driver.name]
        if let qemu = controller.driver as? QEMUDriver {
            h["accelerator"] = qemu.accelerator
            h["base_image"] = qemu.images.current ?? BaseImages.minimal
        }
        if let files = configuration.projectFiles as? AetherProjectFiles { h["project_files"] = files.endpoint }
        return h
    }

    public func router() -> Router<BasicRequestContext> {
        // HEAD answers for every GET route, as GET would without the body (RFC 9110 §9.3.2).
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: BearerTokenMiddleware(token: token))
        WorkspaceRoutes(controller: controller, health: { [self] in health() }).add(to: router)
        return router
    }

    /// Serves until SIGTERM or SIGINT; running VMs keep running.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "afs-vmd")
        logger.logLevel = .info
        let server: HTTPServerBuilder =
            try configuration.tls.map { try .tls(.http1(), tlsConfiguration: $0.serverConfiguration(applicationProtocols: ["http/1.1"])) } ?? .http1()
        let app = Application(
            router: router(),
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "afs-vmd"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        let reconciler = Reconciler(controller: controller, interval: configuration.tickInterval)
        var services: [any Service] = [app, reconciler]
        if let tls = configuration.tls { services.append(CertificateReloadService(certificates: [tls], logger: logger)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    static func ensureToken(at path: String) throws(WorkspaceError) -> String {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !existing.isEmpty {
            return existing
        }
        let token = RandomID.hex(prefix: "vmd_", bytes: 24)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw WorkspaceError(.io, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let line = Array((token + "\n").utf8)
        guard write(fd, line, line.count) == line.count, fsync(fd) == 0 else { throw WorkspaceError(.io, "cannot write \(path)") }
        return token
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

/// The reconcile loop as a service of the daemon's group: one `tick` per interval.
struct Reconciler: Service {
    let controller: WorkspaceController
    let interval: Double

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await controller.tick()
                try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
            }
        }
    }
}
