import Foundation

/// Where a workspace's project files come from: an AetherFS session forked from the project's
/// base at create, mounted on the host while the workspace runs, shared into it at /workspace
/// (virtiofs for QEMU, a bind mount for bubblewrap), and deleted with the workspace.
public protocol ProjectFiles: Sendable {
    /// Forks the project's base for a new workspace; returns the fork's session id.
    func provision(project: String, workspace: String) async throws(WorkspaceError) -> String
    /// Mounts `session` on `directory` (detached: the mount outlives the controller, like the VM),
    /// its unowned files shown as owned by `owner` (uid = gid) when given: the workspace's user.
    func attach(session: String, at directory: String, owner: UInt32?) async throws(WorkspaceError)
    /// Unmounts `directory` after uploading pending writes. Idempotent.
    func detach(_ directory: String) async
    /// Deletes the workspace's fork.
    func release(session: String) async
}

/// ``ProjectFiles`` over an afs-server, through the `aether` CLI: `session fork`, `mount
/// --background` (a FUSE mount with the machine-wide content cache), `unmount`, `session delete`.
///
/// The CLI rather than the library, because the mount must be its own long-lived process: VMs
/// survive a controller restart, so their project files must too.
public struct AetherProjectFiles: ProjectFiles {
    public var aether: String
    public var endpoint: String
    public var token: String?
    /// The CA file an https:// endpoint's certificate must chain to (nil: the system's).
    public var caCertificate: String?

    public init(aether: String, endpoint: String, token: String?) {
        self.aether = aether
        self.endpoint = endpoint
        self.token = token
    }

    var environment: [String: String] {
        ["AFS_AETHER_SERVER_ENDPOINT": endpoint, "AFS_TOKEN": token ?? "", "AFS_STORE": "", "AETHER_CA_CERT": caCertificate ?? ""]
    }

    public func provision(project: String, workspace: String) async throws(WorkspaceError) -> String {
        let argv = [aether, "session", "fork", project, "--name", "workspace-\(workspace)"]
        let env = environment
        let r = try await Offload.run { () throws(WorkspaceError) in try HostCommand.run(argv, timeout: 60, environment: env) }
        let id = r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard r.status == 0, !id.isEmpty, !id.contains(" ") else {
            throw WorkspaceError(
                r.status == 3 ? .notFound : .driver,
                "cannot fork project \(project) on \(endpoint): \(id.isEmpty ? "exit \(r.status)" : String(id.suffix(300))); the project must name an AetherFS session")
        }
        return id
    }

    public func attach(session: String, at directory: String, owner: UInt32?) async throws(WorkspaceError) {
        let argv = [aether, "mount", "--background", "--session", session, directory, "--log", directory + ".log"]
            // The workspace's user reaches the files under its own uid (virtiofsd creates as the
            // guest's caller): allow_other lets it in, default_permissions still checks modes.
            + (owner.map { ["--owner", "\($0):\($0)", "-o", "allow_other"] } ?? [])
        let env = environment
        try await Offload.run { () throws(WorkspaceError) in
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if AetherProjectFiles.isMounted(directory) { return }
            let r = try HostCommand.run(argv, timeout: 60, environment: env)
            // The mount table may lag the announcement on a loaded machine: look for a moment.
            var mounted = r.status == 0 && AetherProjectFiles.isMounted(directory)
            var waited = 0
            while r.status == 0, !mounted, waited < 30 {
                usleep(100_000)
                waited += 1
                mounted = AetherProjectFiles.isMounted(directory)
            }
            guard mounted else {
                let log = ((try? String(contentsOfFile: directory + ".log", encoding: .utf8)) ?? "").split(separator: "\n").suffix(3).joined(separator: " | ")
                throw WorkspaceError(
                    .driver,
                    "cannot mount session \(session) on \(directory): \(r.output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(300)) (mount log: \(log.suffix(300)))")
            }
        }
    }

    public func detach(_ directory: String) async {
        let aether = aether
        await Offload.run {
            guard AetherProjectFiles.isMounted(directory) else { return }
            if let r = try? HostCommand.run([aether, "unmount", directory], timeout: 60), r.status == 0, !AetherProjectFiles.isMounted(directory) { return }
            _ = try? HostCommand.run(["fusermount3", "-uz", directory], timeout: 10)
        }
    }

    public func release(session: String) async {
        let argv = [aether, "session", "delete", session]
        let env = environment
        await Offload.run { _ = try? HostCommand.run(argv, timeout: 60, environment: env) }
    }

    static func isMounted(_ directory: String) -> Bool { MountTable.isMounted(directory) }
}
