/// The observed state of a workspace, exactly the seed's six.
///
/// `starting` and `stopping` are transitional and carry a deadline: a VM that never reports ready
/// ends in `error`, a VM that will not stop ends in `stop_failed`. Both terminal failure states
/// accept `start` (after forced cleanup) and `delete`, so no workspace is ever stuck.
public enum WorkspaceStatus: String, Sendable, Codable, CaseIterable {
    case stopped
    case starting
    case running
    case stopping
    case error
    case stopFailed = "stop_failed"

    /// Whether a VM or sandbox may exist for a workspace in this state.
    public var mayHaveRuntime: Bool {
        switch self {
        case .starting, .running, .stopping, .stopFailed, .error: return true
        case .stopped: return false
        }
    }

    public var isTransitional: Bool { self == .starting || self == .stopping }
}
