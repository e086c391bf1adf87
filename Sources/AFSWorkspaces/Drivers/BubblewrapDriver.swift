import Foundation

/// Runs each workspace as a bubblewrap sandbox: new namespaces (pid, mount, ipc, uts, cgroup;
/// the host's network), its root an overlay whose read-only lower layer is the shared Debian base
/// (the same tree QEMU workspaces boot, `GUEST/bases/VERSION/rootfs`) and whose upper layer is the
/// workspace's volume directory, so anything written anywhere (packages installed with apt, /etc,
/// home) survives a stop/start and the workspace stores only its changes. Starts in milliseconds;
/// for hosts without usable virtualisation, and for CI.
///
/// Workspaces without a base image (made before base images, or `--image minimal`) get the host's
/// root as their lower layer instead, with the host's `/root`, `/home` and the controller's data
/// directory hidden (their `/root` and `/home` are directories on the volume).
///
/// Weaker than a VM: the kernel is shared, and on this cgroup-v1 host cpus and memory are not
/// enforced (recorded, not applied).
public struct BubblewrapDriver: WorkspaceDriver {
    public struct Configuration: Sendable {
        /// afs-vmd's data directory, hidden inside sandboxes.
        public var dataDirectory: String
        public var bwrap = "bwrap"
        public var bootTimeout: Double = 30
        /// Holds `bases/` (scripts/build-workspace-base.sh); nil: every workspace on the host's root.
        public var guestDirectory: String?

        public init(dataDirectory: String, guestDirectory: String? = nil) {
            self.dataDirectory = dataDirectory
            self.guestDirectory = guestDirectory
        }
    }

    public let configuration: Configuration
    public let name = "bwrap"
    public var availableGPUs: [String] { [] }
    public var bootTimeout: Double { configuration.bootTimeout }
    var images: BaseImages? { configuration.guestDirectory.map { BaseImages(directory: $0 + "/bases") } }

    public init(configuration: Configuration) throws(WorkspaceError) {
        guard HostCommand.resolve(configuration.bwrap) != nil else {
            throw WorkspaceError(.unavailable, "bubblewrap is not installed; run scripts/bootstrap.sh (apt-get install bubblewrap)")
        }
        guard getuid() == 0 else {
            throw WorkspaceError(.unavailable, "the bwrap driver mounts an overlay root and needs to run as root")
        }
        self.configuration = configuration
    }

    /// Pid 1's workload: announces readiness once the sandbox is fully set up (bubblewrap's
    /// info-fd fires before pivot_root), then idles; exits on SIGTERM.
    static let initScript = #"trap 'exit 0' TERM; echo AFS_READY; while :; do sleep 3600 & wait $!; done"#

    /// The same on a base image, after what the VM's boot does there: a machine id, /etc/hosts for
    /// the hostname, and the workspace's user (the base's own setup-user, as in a VM).
    static let baseInitScript = #"""
        trap 'exit 0' TERM
        [ -s /etc/machine-id ] || tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id
        printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost\n' "$(hostname)" > /etc/hosts
        [ -z "$AFS_USER" ] || /usr/lib/aether/setup-user "$AFS_USER" || echo "AFS_USER setup-user $AFS_USER failed"
        echo "AFS_READY base=$(cat /usr/share/aether/base 2>/dev/null)"
        while :; do sleep 3600 & wait $!; done
        """#

    public func resolveImage(_ requested: String?) throws(WorkspaceError) -> String? {
        guard let images else {
            guard let requested, requested != BaseImages.minimal else { return nil }
            throw WorkspaceError(.unavailable, "afs-vmd has no guest directory, so no base images (asked for \(requested))")
        }
        return try images.resolve(requested)
    }

    func volume(_ ws: WorkspaceSpec) -> String { ws.directory + "/volume" }
    func rootMount(_ ws: WorkspaceSpec) -> String { ws.runDirectory + "/rootfs" }

    public func prepare(_ ws: WorkspaceSpec) async throws(WorkspaceError) {
        let vol = volume(ws)
        try await Offload.run { () throws(WorkspaceError) in
            do {
                for dir in [ws.runDirectory, vol + "/upper", vol + "/work", vol + "/root", vol + "/home"] {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                }
            } catch {
                throw WorkspaceError(.io, "cannot create the volume of \(ws.id): \(error.localizedDescription)")
            }
            chmod(vol + "/root", 0o700)
        }
    }

    public func resize(_ ws: WorkspaceSpec, from old: WorkspaceHardware) async throws(WorkspaceError) {
        // A directory volume has no size of its own to grow.
    }

    public func start(_ ws: WorkspaceSpec) async throws(WorkspaceError) -> RuntimeHandle {
        let configuration = configuration
        let root = rootMount(ws)
        let vol = volume(ws)
        let lower = try baseTree(ws) ?? "/"
        return try await Offload.run { () throws(WorkspaceError) -> RuntimeHandle in
            BubblewrapDriver.unmount(root)
            try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            // index=off: the base's tree is shared, so its inodes must not be tied to one upper layer.
            try HostCommand.check(
                ["mount", "-t", "overlay", "overlay", "-o", "lowerdir=\(lower),upperdir=\(vol)/upper,workdir=\(vol)/work,index=off", root],
                what: "mounting the workspace's overlay root")
            // On a base image, no user namespace: in one, only root is mapped, so the base's tools
            // cannot give files to the workspace's user or to groups such as shadow (useradd fails).
            let namespaces = ws.image == nil ? ["--unshare-all", "--share-net"] : ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
            var argv = [configuration.bwrap] + namespaces + [
                "--bind", root, "/", "--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--tmpfs", "/tmp", "--hostname", ws.runtimeName, "--setenv", "HOME", "/root", "--chdir", "/root",
            ]
            if ws.image == nil {
                argv += [
                    // The host's /root and /home stay hidden: the workspace's own live on its volume.
                    "--bind", vol + "/root", "/root", "--bind", vol + "/home", "/home",
                    // So does the controller's data, other workspaces' volumes included.
                    "--tmpfs", configuration.dataDirectory,
                ]
            } else {
                // The base is a separate system: the host's data is not in it at all. Names resolve
                // as on the host (the sandbox shares its network).
                argv += ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf", "--setenv", "AFS_USER", ws.user ?? ""]
            }
            if let share = ws.shareDirectory { argv += ["--bind", share, "/workspace"] }
            argv += ["--info-fd", "3", "/bin/sh", "-c", ws.image == nil ? BubblewrapDriver.initScript : BubblewrapDriver.baseInitScript]
            let info = ws.runDirectory + "/info.json"
            unlink(info)
            unlink(ws.consoleLog)
            let started = Date()
            let launcher = try Detached.spawn(argv, pidFile: ws.runDirectory + "/launcher.pid", log: ws.consoleLog, fd3: info)
            var child: Int32?
            let end = Date().addingTimeInterval(10)
            while child == nil && Date() < end {
                if let data = FileManager.default.contents(atPath: info),
                   let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                   let pid = object["child-pid"] as? Int {
                    child = Int32(pid)
                } else if !ProcessTable.isAlive(launcher) {
                    break
                } else {
                    usleep(2_000)
                }
            }
            guard let child else {
                ProcessTable.terminate(launcher, signal: SIGKILL, timeout: 2)
                BubblewrapDriver.unmount(root)
                let console = WorkspaceController.tail(of: ws.consoleLog, maxBytes: 400)
                throw WorkspaceError(.driver, "bubblewrap did not start: \(console.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            // Once the sandbox has pivoted into the overlay, its mount namespace holds the overlay:
            // detach the host's copy so no mount outlives the sandbox.
            while Date() < end && !BubblewrapDriver.announcedReady(ws) && ProcessTable.isAlive(child) { usleep(2_000) }
            if BubblewrapDriver.announcedReady(ws) { BubblewrapDriver.settle(ws, sandbox: child, root: root) }
            return RuntimeHandle(pid: child, startedAt: started, helpers: [launcher])
        }
    }

    /// The base image's tree a workspace's root lies over; nil: the host's root.
    func baseTree(_ ws: WorkspaceSpec) throws(WorkspaceError) -> String? {
        guard let image = ws.image else { return nil }
        guard let rootfs = images?.rootfs(image), FileManager.default.fileExists(atPath: rootfs + "/etc/debian_version") else {
            throw WorkspaceError(
                .unavailable,
                "base image \(image) of workspace \(ws.id) is missing: rebuild it with scripts/build-workspace-base.sh, or rebase with `aether workspace update \(ws.id) --image current`")
        }
        return rootfs
    }

    static func announcedReady(_ ws: WorkspaceSpec) -> Bool {
        (try? String(contentsOfFile: ws.consoleLog, encoding: .utf8))?.contains("AFS_READY") == true
    }

    public func exitReason(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> String? {
        guard !ProcessTable.isAlive(handle.pid, marked: ws.runtimeName) else { return nil }
        let tail = WorkspaceController.tail(of: ws.consoleLog, maxBytes: 400).split(separator: "\n").last.map(String.init) ?? "no output"
        return "sandbox pid \(handle.pid) is gone; last output: \(tail)"
    }

    public func observe(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Observation {
        if let why = await exitReason(ws, handle) { return .exited(why) }
        guard BubblewrapDriver.announcedReady(ws) else { return .booting }
        let root = rootMount(ws)
        await Offload.run { BubblewrapDriver.settle(ws, sandbox: handle.pid, root: root) }
        return .ready
    }

    /// Once the sandbox is set up: the host's copy of its root goes (the sandbox's mount namespace
    /// holds the overlay), and on a base image the root becomes suid again. bubblewrap mounts it
    /// nosuid (and runs its own children with no_new_privs); the sandbox's init stays so, but
    /// sessions entered with nsenter are ordinary processes, in which sudo then works as on any
    /// machine. Idempotent.
    static func settle(_ ws: WorkspaceSpec, sandbox: Int32, root: String) {
        unmount(root)
        guard ws.image != nil else { return }
        _ = try? HostCommand.run(["nsenter", "-t", String(sandbox), "-m", "-r", "mount", "-o", "remount,bind,suid", "/"], timeout: 10)
    }

    /// Processes in the sandbox other than its pid 1, the idle loop and its `sleep`.
    static func members(_ handle: RuntimeHandle) -> (all: [Int32], tasks: [Int32]) {
        guard let ns = ProcessTable.pidNamespace(handle.pid) else { return ([], []) }
        let all = ProcessTable.allPIDs().filter { $0 != handle.pid && ProcessTable.pidNamespace($0) == ns && ProcessTable.isAlive($0) }
        let initShells = Set(all.filter { ProcessTable.parent(of: $0) == handle.pid })
        let tasks = all.filter { pid in
            if initShells.contains(pid) { return false }
            if let parent = ProcessTable.parent(of: pid), initShells.contains(parent), ProcessTable.name(pid) == "sleep" { return false }
            return true
        }
        return (all, tasks)
    }

    public func activity(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Activity? {
        guard ProcessTable.isAlive(handle.pid) else { return nil }
        return Activity(connections: 0, tasks: BubblewrapDriver.members(handle).tasks.count)
    }

    public func stop(_ ws: WorkspaceSpec, _ handle: RuntimeHandle, ladder: StopLadder) async -> StopOutcome {
        await Offload.run {
            let pid = handle.pid
            guard ProcessTable.isAlive(pid, marked: ws.runtimeName) else { return .stopped(rung: "already") }
            // bubblewrap's pid 1 ignores SIGTERM: ask its workload, and pid 1 follows it out.
            for member in BubblewrapDriver.members(handle).all { kill(member, SIGTERM) }
            if ProcessTable.waitForExit(pid, timeout: ladder.agent) { return .stopped(rung: "term") }
            // Killing pid 1 of a pid namespace kills everything in it.
            if ProcessTable.terminate(pid, signal: SIGKILL, timeout: ladder.kill) { return .stopped(rung: "kill") }
            return .failed("sandbox pid \(pid) survived SIGKILL for \(Int(ladder.kill)) s")
        }
    }

    public func adopt(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Bool {
        ProcessTable.isAlive(handle.pid, marked: ws.runtimeName) && ProcessTable.pidNamespace(handle.pid) != ProcessTable.pidNamespace(getpid())
    }

    public func cleanup(_ ws: WorkspaceSpec, _ handle: RuntimeHandle?) async {
        let root = rootMount(ws)
        await Offload.run {
            var victims = Set(ProcessTable.pids(marked: ws.runtimeName))
            if let handle {
                if ProcessTable.isAlive(handle.pid, marked: ws.runtimeName) { victims.insert(handle.pid) }
                for helper in handle.helpers where ProcessTable.isAlive(helper, marked: ws.runtimeName) { victims.insert(helper) }
            }
            for pid in victims { kill(pid, SIGKILL) }
            for pid in victims { _ = ProcessTable.waitForExit(pid, timeout: 5) }
            BubblewrapDriver.unmount(root)
            for file in ["launcher.pid", "info.json"] { unlink(ws.runDirectory + "/" + file) }
        }
    }

    public func destroy(_ ws: WorkspaceSpec) async throws(WorkspaceError) {
        try await Offload.run { () throws(WorkspaceError) in try MountTable.removeTree(ws.directory) }
    }

    public func connection(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) -> ConnectionInfo {
        let enter = ["nsenter", "-t", String(handle.pid), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "--"]
        // A terminal's shell needs a session of its own inside the pid namespace: the caller's session
        // (and its foreground process group) has no number there, so without one, job control is off
        // and Ctrl-C reaches nsenter instead of the command. As root, setsid -c may take the terminal.
        let interactive = ["setsid", "-c"]
        guard ws.image != nil else { return ConnectionInfo(kind: "nsenter", argv: enter + ["env", "HOME=/root"], interactiveArgs: interactive) }
        // As the workspace's user (with its groups, sudo among them), in its login environment.
        let user = ws.user.map { name -> [String] in
            let id = String(WorkspaceSpec.userID)
            return ["setpriv", "--reuid=\(id)", "--regid=\(id)", "--init-groups", "env", "HOME=/home/\(name)", "USER=\(name)", "LOGNAME=\(name)"]
        } ?? ["env", "HOME=/root", "USER=root", "LOGNAME=root"]
        return ConnectionInfo(kind: "nsenter", argv: enter + user + ["SHELL=/bin/bash"], interactiveArgs: interactive, directory: WorkspaceSpec.projectDirectory)
    }

    static func unmount(_ path: String) { MountTable.unmount(path) }
}
