import Foundation

/// What the registry knows of one live mount: enough for `aether status` to list it and for
/// `aether checkpoint`, `metrics show` and `logs` to find its control socket and log.
public struct MountRecord: Sendable, Codable, Equatable {
    /// The mounted directory, absolute and without symlinks.
    public var mountpoint: String
    public var session: String
    /// The process serving the mount; a record whose process is gone is stale.
    public var pid: Int32
    /// `embedded` or `remote`.
    public var transport: String
    /// The store directory or the afs-server URL.
    public var store: String
    /// The control socket (a unix socket, owner-only).
    public var socket: String
    /// Where the mount writes its log lines, when that is a file.
    public var log: String?
    /// `HOST:PORT` of the Prometheus endpoint, when it could bind one.
    public var metrics: String?
    public var cache: String
    public var started: Date

    public init(
        mountpoint: String, session: String, pid: Int32, transport: String, store: String, socket: String, log: String?,
        metrics: String?, cache: String, started: Date
    ) {
        self.mountpoint = mountpoint
        self.session = session
        self.pid = pid
        self.transport = transport
        self.store = store
        self.socket = socket
        self.log = log
        self.metrics = metrics
        self.cache = cache
        self.started = started
    }
}
