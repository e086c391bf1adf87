import Foundation

/// A workspace as the controller records it and the API returns it.
public struct Workspace: Sendable, Codable, Equatable {
    public var id: String
    public var project: String
    public var status: WorkspaceStatus
    public var desired: DesiredState
    public var hardware: WorkspaceHardware
    /// The driver that runs it (`qemu`, `bwrap`, or `fake` in tests).
    public var driver: String
    /// Seconds without connections, tasks or API calls before an automatic stop; 0 disables.
    public var idleTimeout: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var lastActiveAt: Date
    /// When the current transitional state gives up (nil outside `starting`/`stopping`).
    public var deadline: Date?
    /// Why the workspace is in `error` or `stop_failed`.
    public var error: String?
    /// Bumped at every transition, so a stale actor never overwrites a newer state.
    public var generation: Int
    /// The AetherFS session holding the project's files for this workspace, when one is attached.
    public var session: String?
    /// How to reach the running VM; nil while stopped.
    public var runtime: RuntimeHandle?
    /// The user `aether workspace ssh` logs in as (uid 1000, passwordless sudo); nil or `root`: root.
    public var user: String?
    /// The base image version the workspace boots on; nil: the minimal busybox root (QEMU) or the
    /// host's root (bubblewrap), as workspaces made before base images had.
    public var image: String?

    public init(
        id: String, project: String, status: WorkspaceStatus, desired: DesiredState, hardware: WorkspaceHardware, driver: String,
        idleTimeout: Int, createdAt: Date, updatedAt: Date, lastActiveAt: Date, deadline: Date?, error: String?, generation: Int,
        session: String?, runtime: RuntimeHandle?, user: String? = nil, image: String? = nil
    ) {
        self.id = id
        self.project = project
        self.status = status
        self.desired = desired
        self.hardware = hardware
        self.driver = driver
        self.idleTimeout = idleTimeout
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastActiveAt = lastActiveAt
        self.deadline = deadline
        self.error = error
        self.generation = generation
        self.session = session
        self.runtime = runtime
        self.user = user
        self.image = image
    }

    /// The non-root login user, if the workspace has one.
    public var loginUser: String? { user == "root" ? nil : user }

    enum CodingKeys: String, CodingKey {
        case id, project, status, desired, hardware, driver, deadline, error, generation, session, runtime, user, image
        case idleTimeout = "idle_timeout"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case lastActiveAt = "last_active_at"
    }
}
