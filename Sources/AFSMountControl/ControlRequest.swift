import FoundationEssentials

/// One request on a mount's control socket (``FSMonitorQuery`` and `aether`'s commands send it;
/// the mount answers with one JSON line).
///
/// It lives in this small module, apart from the mount, so the fsmonitor hook that git runs before
/// every `git status` can send it without linking the mount, the engine or the network stack.
public struct ControlRequest: Sendable, Codable, Equatable {
    public enum Operation: String, Sendable, Codable {
        /// Publish every acknowledged write, then checkpoint the session.
        case checkpoint
        /// The mount's counters.
        case metrics
        /// What changed under `prefix` (or the directory `path`) since `since` (git's file-system
        /// monitor hook).
        case changes
        /// Publish every acknowledged change (open files, the write-back queue) and wait
        /// until the service holds them durably.
        case sync
    }

    public var op: Operation
    public var label: String?
    /// Who asks, recorded in the changefeed (default: the mount's actor).
    public var actor: String?
    /// `changes`: the token of the previous answer (``FSMonitorToken``), if any.
    public var since: String?
    /// `changes`: the session path of the directory asked about (default `/`).
    public var prefix: String?
    /// `changes`: the absolute path of the directory asked about, on this machine (git's work
    /// tree); the mount turns it into a session path. Takes the place of `prefix`.
    public var path: String?

    public init(op: Operation, label: String? = nil, actor: String? = nil, since: String? = nil, prefix: String? = nil, path: String? = nil) {
        self.op = op
        self.label = label
        self.actor = actor
        self.since = since
        self.prefix = prefix
        self.path = path
    }
}
