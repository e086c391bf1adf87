import AFSWire
import AFSWorkspaceModel

/// `POST /v1/workspaces`: a workspace for one of the caller's sessions.
struct WorkspaceCreateRequest: WireModel {
    var project: String
    var hardware: WorkspaceHardware?
    /// Seconds without activity before the workspace is stopped.
    var idleTimeout: Int?
    /// The non-root user with passwordless sudo it logs in as (default `aether` on a base image; `root` for none).
    var user: String?
    /// Its base image: a version, `current` (the default) or `minimal`.
    var image: String?

    enum CodingKeys: String, CodingKey {
        case project, hardware, user, image
        case idleTimeout = "idle_timeout"
    }
}
