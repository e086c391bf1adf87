import AFSWire
import AFSWorkspaceModel

/// `POST /v1/workspaces`: a workspace for one of the caller's sessions.
struct WorkspaceCreateRequest: WireModel {
    var project: String
    var hardware: WorkspaceHardware?
    /// Seconds without activity before the workspace is stopped.
    var idleTimeout: Int?

    enum CodingKeys: String, CodingKey {
        case project, hardware
        case idleTimeout = "idle_timeout"
    }
}
