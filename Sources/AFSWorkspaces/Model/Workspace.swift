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

    enum CodingKeys: String, CodingKey {
        case id, project, status, desired, hardware, driver, deadline, error, generation, session, runtime
        case idleTimeout = "idle_timeout"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case lastActiveAt = "last_active_at"
    }
}

/// One transition or notable happening in a workspace's life.
public struct WorkspaceEvent: Sendable, Codable, Equatable {
    public var seq: Int64
    public var workspace: String
    public var at: Date
    public var from: WorkspaceStatus?
    public var to: WorkspaceStatus?
    /// Machine-readable cause: `user`, `idle`, `boot_deadline`, `stop_deadline`, `exited`, `adopted`,
    /// `controller_restart`, `created`, `updated`, `deleted`, `ready`.
    public var reason: String
    public var detail: String?
}

/// What `POST /v1/workspaces` takes.
public struct WorkspaceRequest: Sendable, Codable, Equatable {
    public var project: String
    public var hardware: WorkspaceHardware
    public var idleTimeout: Int?

    public init(project: String, hardware: WorkspaceHardware = WorkspaceHardware(), idleTimeout: Int? = nil) {
        self.project = project
        self.hardware = hardware
        self.idleTimeout = idleTimeout
    }

    enum CodingKeys: String, CodingKey {
        case project, hardware
        case idleTimeout = "idle_timeout"
    }
}
