import AFSClient
import AFSCore
import Foundation

/// What a running mount offers the rest of the machine: its control socket (live checkpoints,
/// metrics), its Prometheus endpoint, and its record in the ``MountRegistry`` so `aether` finds
/// it by directory. Started once the directory serves the session, stopped before the process
/// exits; the record goes with it.
public final class MountControl: Sendable {
    public let record: MountRecord
    let registry: MountRegistry
    private let server: ControlServer
    private let endpoint: MetricsEndpoint?

    /// Opens the control socket, tries the metrics endpoint (a mount that cannot bind it logs a
    /// warning and runs without), and registers the mount.
    public init(
        filesystem: SessionFilesystem, mountpoint: String, transport: String, registry: MountRegistry = .standard(),
        logFile: String?, logging: LoggingConfiguration, log: MountLog
    ) throws(AFSError) {
        self.registry = registry
        try registry.prepare()
        let pid = getpid()
        server = try ControlServer(path: registry.socketPath(pid: pid)) { request in
            MountControl.handle(request, filesystem: filesystem, mountpoint: mountpoint, log: log)
        }
        var endpoint: MetricsEndpoint?
        if let address = logging.metricsAddress {
            do {
                endpoint = try MetricsEndpoint(address: address) {
                    filesystem.metrics.prometheusText(MountControl.snapshot(filesystem))
                }
            } catch {
                log.write("\(error.message); running without a metrics endpoint (set [logging] metrics_addr to a free HOST:PORT, or \"off\")", level: .warning)
            }
        }
        self.endpoint = endpoint
        record = MountRecord(
            mountpoint: mountpoint, session: filesystem.session, pid: pid, transport: transport, store: filesystem.service.location,
            socket: server.path, log: logFile, metrics: endpoint?.address, cache: filesystem.cache.configuration.directory, started: Date())
        do {
            try registry.register(record)
        } catch {
            server.stop()
            endpoint?.stop()
            throw error
        }
        server.start()
    }

    /// Unregisters the mount and closes its sockets.
    public func stop() {
        registry.remove(record)
        server.stop()
        endpoint?.stop()
    }

    static func snapshot(_ filesystem: SessionFilesystem) -> MountMetrics.Snapshot {
        filesystem.metrics.snapshot(
            session: filesystem.session, cache: filesystem.cache, openFiles: filesystem.openFileCount, writeBack: filesystem.writeBackCounts)
    }

    static func handle(_ request: ControlProtocol.Request, filesystem: SessionFilesystem, mountpoint: String, log: MountLog) -> ControlProtocol.Reply {
        switch request.op {
        case .metrics:
            return ControlProtocol.Reply(metrics: snapshot(filesystem))
        case .changes:
            var prefix = request.prefix ?? "/"
            if let path = request.path {
                // A directory on this machine: it must be this mount's (a client finds the mount
                // by a hash of the mountpoint, which must not answer for another tree).
                guard MountPath.isWithin(path, mountpoint) else {
                    return ControlProtocol.Reply(error: AFSError(.notFound, "\(path) is not inside the mount at \(mountpoint)"))
                }
                prefix = "/" + path.dropFirst(mountpoint.count).drop { $0 == "/" }
            }
            guard prefix.hasPrefix("/") else {
                return ControlProtocol.Reply(error: AFSError(.invalidArgument, "prefix \(prefix) is not a session path (it starts with /)"))
            }
            do throws(AFSError) {
                return ControlProtocol.Reply(changes: try filesystem.changedPaths(since: request.since, under: prefix))
            } catch {
                log.write("fsmonitor query failed: \(error.message)", level: .warning)
                return ControlProtocol.Reply(error: error)
            }
        case .sync:
            let failures = filesystem.publishAll()
            let counts = filesystem.writeBackCounts
            guard failures.isEmpty else {
                let list = failures.prefix(5).map { "\($0.path) (\($0.error))" }.joined(separator: ", ")
                let error = AFSError(.io, "\(failures.count) change(s) could not reach the service: \(list); see the mount's log (`aether logs`)")
                log.write("sync: \(error.message)", level: .error)
                return ControlProtocol.Reply(error: error)
            }
            return ControlProtocol.Reply(synced: ControlProtocol.SyncReport(sent: counts.sent, failed: counts.failed))
        case .checkpoint:
            do throws(AFSError) {
                let checkpoint = try checkpoint(filesystem, label: request.label, actor: request.actor)
                log.write("checkpoint \(checkpoint.id)\(request.label.map { " (\($0))" } ?? "") of the live mount", level: .info)
                return ControlProtocol.Reply(checkpoint: checkpoint)
            } catch {
                log.write("live checkpoint failed: \(error.message)", level: .error)
                return ControlProtocol.Reply(error: error)
            }
        }
    }

    /// A checkpoint holding every write the mount acknowledged before the call: open files'
    /// pending writes are published first (as their flush would), then the service checkpoints.
    /// If any file cannot be published, no checkpoint is taken: it would silently miss data.
    static func checkpoint(_ filesystem: SessionFilesystem, label: String?, actor: String?) throws(AFSError) -> CheckpointInfo {
        let failures = filesystem.publishAll()
        guard failures.isEmpty else {
            let list = failures.prefix(5).map { "\($0.path) (\($0.error))" }.joined(separator: ", ")
            throw AFSError(.io, "no checkpoint taken: \(failures.count) change(s) could not be published first: \(list); see the mount's log")
        }
        let context = actor.map { MutationContext(actor: $0, lockToken: filesystem.context.lockToken) } ?? filesystem.context
        return try filesystem.service.checkpoint(filesystem.session, label: label, context: context)
    }
}
