import Foundation

/// What runs a workspace: a QEMU microVM, a bubblewrap sandbox, or a fake in tests.
///
/// The controller owns the state machine and persistence; a driver only knows how to make a VM
/// exist, look at it, and make it go away. Every runtime must outlive the controller process
/// (detached, recorded in a ``RuntimeHandle``) so a restarted controller can adopt it.
public protocol WorkspaceDriver: Sendable {
    /// `qemu`, `bwrap` or `fake`.
    var name: String { get }
    /// GPU kinds this host can pass through (usually none).
    var availableGPUs: [String] { get }
    /// How long a start may take before the workspace goes to `error`.
    var bootTimeout: Double { get }

    /// Creates the persistent volume if it does not exist yet.
    func prepare(_ ws: WorkspaceSpec) async throws(WorkspaceError)
    /// Applies a hardware change to a stopped workspace (grows the volume; shrinking is refused).
    func resize(_ ws: WorkspaceSpec, from old: WorkspaceHardware) async throws(WorkspaceError)
    /// Launches the runtime detached and returns at once; readiness is seen later by `observe`.
    func start(_ ws: WorkspaceSpec) async throws(WorkspaceError) -> RuntimeHandle
    /// Whether a starting runtime is ready yet (agent, SSH). Called once per reconcile pass while
    /// the workspace is `starting` only: it opens connections into the guest.
    func observe(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Observation
    /// Nil while the runtime lives; why it is gone otherwise. Called every reconcile pass for running
    /// workspaces, so it only looks at the host's process table, never into the guest.
    func exitReason(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> String?
    /// Open connections and running tasks inside, or nil when the runtime cannot say right now.
    func activity(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Activity?
    /// Runs the stop ladder, each rung with its deadline.
    func stop(_ ws: WorkspaceSpec, _ handle: RuntimeHandle, ladder: StopLadder) async -> StopOutcome
    /// Whether the recorded runtime is still this workspace's (pid alive and not a zombie, its
    /// command line names the workspace, its control channel answers with the right name).
    func adopt(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Bool
    /// Forcibly ends whatever is left of a runtime (processes, helpers, sockets). Idempotent.
    func cleanup(_ ws: WorkspaceSpec, _ handle: RuntimeHandle?) async
    /// Deletes the volume and every file of the workspace. Call after `cleanup`.
    func destroy(_ ws: WorkspaceSpec) async throws(WorkspaceError)
    /// How a client on this host gets a shell or runs a command inside.
    func connection(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) -> ConnectionInfo
    /// The base image version a workspace asking for `requested` runs on (see ``BaseImages/resolve(_:)``);
    /// nil: none (the driver's built-in root).
    func resolveImage(_ requested: String?) throws(WorkspaceError) -> String?
}

extension WorkspaceDriver {
    /// Drivers without base images run every workspace on their built-in root.
    public func resolveImage(_ requested: String?) throws(WorkspaceError) -> String? {
        guard let requested, requested != BaseImages.minimal else { return nil }
        throw WorkspaceError(.unavailable, "the \(name) driver has no base images (asked for \(requested))")
    }
}

/// Everything a driver needs to know about one workspace.
public struct WorkspaceSpec: Sendable, Equatable {
    public var id: String
    public var hardware: WorkspaceHardware
    /// `DATA/workspaces/ID`: the volume and the run directory live here.
    public var directory: String
    /// A host directory to share into the workspace at /workspace (the project's files), if any.
    public var shareDirectory: String?
    /// The non-root user to make (uid 1000, sudo) and log in as; nil: root.
    public var user: String?
    /// The base image version to boot on; nil: the driver's built-in root.
    public var image: String?

    public init(id: String, hardware: WorkspaceHardware, directory: String, shareDirectory: String? = nil, user: String? = nil, image: String? = nil) {
        self.id = id
        self.hardware = hardware
        self.directory = directory
        self.shareDirectory = shareDirectory
        self.user = user
        self.image = image
    }

    /// The uid and gid of ``user`` inside (the first regular user of a Debian system).
    public static let userID: UInt32 = 1000

    /// Where shells and commands start: the project directory.
    public static let projectDirectory = "/workspace"

    /// Sockets, pid files and the console log of the current run.
    public var runDirectory: String { directory + "/run" }
    public var consoleLog: String { runDirectory + "/console.log" }
    /// The name every process of this workspace carries, checked before adopting or killing.
    public var runtimeName: String { "aether-ws-\(id)" }
}


/// What a driver sees when it looks at a runtime.
public enum Observation: Sendable, Equatable {
    /// Alive, not ready yet.
    case booting
    /// Alive and its agent answers.
    case ready
    /// Gone; the reason says how (exit status, console tail).
    case exited(String)
}

/// Signs of use inside a runtime; both zero for `idle_timeout` means idle.
public struct Activity: Sendable, Equatable {
    public var connections: Int
    public var tasks: Int

    public init(connections: Int, tasks: Int) {
        self.connections = connections
        self.tasks = tasks
    }

    public var isIdle: Bool { connections == 0 && tasks == 0 }
}

/// Deadlines of the stop ladder's rungs, in seconds: guest agent shutdown, then ACPI power-down,
/// then a hard QMP quit, then SIGKILL. A rung that has nothing to talk to is skipped.
public struct StopLadder: Sendable, Equatable {
    public var agent: Double = 10
    public var powerdown: Double = 10
    public var quit: Double = 5
    public var kill: Double = 5

    public init() {}

    public var total: Double { agent + powerdown + quit + kill }
}

/// How a stop ended.
public enum StopOutcome: Sendable, Equatable {
    /// The runtime is gone; `rung` says which rung ended it (`agent`, `powerdown`, `quit`, `kill`, `already`).
    case stopped(rung: String)
    case failed(String)
}

