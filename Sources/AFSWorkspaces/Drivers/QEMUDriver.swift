import Foundation

/// Runs each workspace as a QEMU `microvm`: the Debian cloud kernel, the project's initramfs
/// (scripts/build-guest-image.sh), the shared Debian base image attached read-only
/// (scripts/build-workspace-base.sh), an ext4 volume that holds the workspace's changes to its root
/// (an overlay's upper layer: the workspace stores only its delta), SSH through a forwarded
/// loopback port, and a guest agent on virtio-serial.
///
/// Hardware acceleration is decided by booting a canary VM under KVM once (cached in
/// `DATA/accelerator.json`): on these hosts `/dev/kvm` exists but cannot run stock kernels, so
/// its presence proves nothing.
public struct QEMUDriver: WorkspaceDriver {
    public struct Configuration: Sendable {
        /// afs-vmd's data directory (ssh key, accelerator cache).
        public var dataDirectory: String
        /// Holds `vmlinux` (or `vmlinuz`) and `initramfs.cpio.gz`.
        public var guestDirectory: String
        public var qemuBinary = "qemu-system-x86_64"
        public var virtiofsd = "/usr/lib/qemu/virtiofsd"
        /// `auto` (canary boot), `kvm` or `tcg`.
        public var accelerator = "auto"
        public var bootTimeout: Double = 180

        public init(dataDirectory: String, guestDirectory: String) {
            self.dataDirectory = dataDirectory
            self.guestDirectory = guestDirectory
        }
    }

    public let configuration: Configuration
    public let name = "qemu"
    public var availableGPUs: [String] { [] }
    public var bootTimeout: Double { configuration.bootTimeout }
    /// `kvm` or `tcg`, decided at init.
    public let accelerator: String
    let kernel: String
    let initrd: String
    let sshKey: String
    let sshPublicKey: String
    /// `GUEST/bases`: the Debian base images.
    public let images: BaseImages

    /// Checks QEMU and the guest image, creates the SSH key pair, and settles the accelerator
    /// (booting a canary under KVM unless the answer is cached or forced).
    public init(configuration: Configuration) async throws(WorkspaceError) {
        self.configuration = configuration
        guard HostCommand.resolve(configuration.qemuBinary) != nil else {
            throw WorkspaceError(.unavailable, "\(configuration.qemuBinary) is not installed; run scripts/bootstrap.sh (apt-get install qemu-system-x86) or use --driver bwrap")
        }
        let fm = FileManager.default
        let pvh = configuration.guestDirectory + "/vmlinux"
        let bz = configuration.guestDirectory + "/vmlinuz"
        guard let kernel = [pvh, bz].first(where: { fm.fileExists(atPath: $0) }),
              fm.fileExists(atPath: configuration.guestDirectory + "/initramfs.cpio.gz") else {
            throw WorkspaceError(.unavailable, "no guest image in \(configuration.guestDirectory); build it with scripts/build-guest-image.sh \(configuration.guestDirectory)")
        }
        self.kernel = kernel
        initrd = configuration.guestDirectory + "/initramfs.cpio.gz"
        images = BaseImages(directory: configuration.guestDirectory + "/bases")
        let sshDir = configuration.dataDirectory + "/ssh"
        sshKey = sshDir + "/id_ed25519"
        if !fm.fileExists(atPath: sshKey) {
            try? fm.createDirectory(atPath: sshDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try HostCommand.check(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "afs-vmd", "-f", sshKey], what: "creating the workspace SSH key")
        }
        guard let pub = try? String(contentsOfFile: sshKey + ".pub", encoding: .utf8) else {
            throw WorkspaceError(.io, "cannot read \(sshKey).pub")
        }
        sshPublicKey = pub.trimmingCharacters(in: .whitespacesAndNewlines)
        switch configuration.accelerator {
        case "kvm", "tcg":
            accelerator = configuration.accelerator
        case "auto":
            accelerator = await QEMUDriver.decideAccelerator(configuration, kernel: kernel, initrd: initrd)
        default:
            throw WorkspaceError(.invalidArgument, "accelerator must be auto, kvm or tcg (got \(configuration.accelerator))")
        }
    }

    // MARK: Accelerator

    struct AcceleratorDecision: Codable {
        var accelerator: String
        var kernel: String
        var kernelSize: Int
        var decidedAt: Date
        var detail: String
    }

    /// KVM only if a canary guest boots to its ready marker under it; the result is cached per kernel.
    static func decideAccelerator(_ configuration: Configuration, kernel: String, initrd: String) async -> String {
        guard FileManager.default.fileExists(atPath: "/dev/kvm") else { return "tcg" }
        let cache = configuration.dataDirectory + "/accelerator.json"
        let size = ((try? FileManager.default.attributesOfItem(atPath: kernel))?[.size] as? Int) ?? 0
        if let data = FileManager.default.contents(atPath: cache),
           let decision = try? JSONDecoder().decode(AcceleratorDecision.self, from: data),
           decision.kernel == kernel, decision.kernelSize == size {
            return decision.accelerator
        }
        let (ok, detail) = await Offload.run { canaryBoots(configuration, kernel: kernel, initrd: initrd) }
        let decision = AcceleratorDecision(accelerator: ok ? "kvm" : "tcg", kernel: kernel, kernelSize: size, decidedAt: Date(), detail: detail)
        if let data = try? JSONEncoder().encode(decision) { FileManager.default.createFile(atPath: cache, contents: data) }
        return decision.accelerator
    }

    /// Boots a throwaway VM under KVM and waits up to 20 s for the guest's ready marker.
    static func canaryBoots(_ configuration: Configuration, kernel: String, initrd: String) -> (Bool, String) {
        let run = configuration.dataDirectory + "/canary"
        try? FileManager.default.removeItem(atPath: run)
        try? FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: run) }
        var line = QEMUCommandLine(
            name: "aether-canary", accelerator: "kvm", cpus: 1, memoryMB: 256, kernel: kernel, initrd: initrd,
            runDirectory: run, volume: nil, sshPort: nil, sshPublicKey: nil, shareSocket: nil, tscKHz: QEMUCommandLine.hostTSCKHz())
        line.binary = configuration.qemuBinary
        guard let result = try? HostCommand.run(line.arguments, timeout: 30), result.status == 0,
              let pid = readPID(run + "/qemu.pid") else {
            return (false, "qemu -accel kvm refused to start")
        }
        defer { _ = ProcessTable.terminate(pid, signal: SIGKILL, timeout: 5) }
        let end = Date().addingTimeInterval(20)
        while Date() < end {
            if (try? String(contentsOfFile: run + "/console.log", encoding: .utf8))?.contains("AFS_READY") == true {
                return (true, "canary booted under KVM")
            }
            if !ProcessTable.isAlive(pid) { return (false, "canary exited under KVM") }
            usleep(50_000)
        }
        return (false, "canary did not boot under KVM within 20 s")
    }

    public func resolveImage(_ requested: String?) throws(WorkspaceError) -> String? {
        try images.resolve(requested)
    }

    // MARK: Volume

    func volumePath(_ ws: WorkspaceSpec) -> String { ws.directory + "/volume.img" }

    public func prepare(_ ws: WorkspaceSpec) async throws(WorkspaceError) {
        let volume = volumePath(ws)
        let size = ws.hardware.volumeSizeGB
        try await Offload.run { () throws(WorkspaceError) in
            do {
                try FileManager.default.createDirectory(atPath: ws.runDirectory, withIntermediateDirectories: true)
            } catch {
                throw WorkspaceError(.io, "cannot create \(ws.runDirectory): \(error.localizedDescription)")
            }
            guard !FileManager.default.fileExists(atPath: volume) else { return }
            // Sparse, formatted beside its final name, then renamed: a crash never leaves a half-made volume.
            let partial = volume + ".partial"
            try HostCommand.check(["truncate", "-s", "\(size)G", partial], what: "creating the volume")
            // Lazy journal and inode-table initialisation: the file is sparse, so what mkfs would zero
            // already reads as zeros, and a fresh workspace costs ~1 MiB instead of the 64 MiB of a
            // written-out journal (the guest mounts it noinit_itable for the same reason).
            try HostCommand.check(
                ["mkfs.ext4", "-q", "-F", "-L", "wsvol", "-E", "lazy_itable_init=1,lazy_journal_init=1", partial], what: "formatting the volume")
            guard rename(partial, volume) == 0 else { throw WorkspaceError(.io, "cannot rename \(partial): \(String(cString: strerror(errno)))") }
        }
    }

    public func resize(_ ws: WorkspaceSpec, from old: WorkspaceHardware) async throws(WorkspaceError) {
        guard ws.hardware.volumeSizeGB > old.volumeSizeGB else { return }
        let volume = volumePath(ws)
        let size = ws.hardware.volumeSizeGB
        try await Offload.run { () throws(WorkspaceError) in
            try HostCommand.check(["truncate", "-s", "\(size)G", volume], what: "growing the volume")
            let fsck = try HostCommand.run(["e2fsck", "-f", "-p", volume], timeout: 600)
            guard fsck.status <= 1 else { throw WorkspaceError(.driver, "e2fsck found problems it could not fix on \(volume): \(fsck.output.suffix(300))") }
            try HostCommand.check(["resize2fs", volume], timeout: 600, what: "growing the file system")
        }
    }

    // MARK: Running

    public func start(_ ws: WorkspaceSpec) async throws(WorkspaceError) -> RuntimeHandle {
        let configuration = configuration
        let accelerator = accelerator
        let kernel = kernel
        let initrd = initrd
        let key = sshPublicKey
        let volume = volumePath(ws)
        let base = ws.image.map { images.image($0) }
        if let base, let image = ws.image, !FileManager.default.fileExists(atPath: base) {
            throw WorkspaceError(
                .unavailable,
                "base image \(image) of workspace \(ws.id) is missing (\(base)): rebuild it with scripts/build-workspace-base.sh, or rebase with `aether workspace update \(ws.id) --image current`")
        }
        return try await Offload.run { () throws(WorkspaceError) -> RuntimeHandle in
            QEMUDriver.removeRunFiles(ws)
            try? FileManager.default.createDirectory(atPath: ws.runDirectory, withIntermediateDirectories: true)
            var helpers: [Int32] = []
            var shareSocket: String?
            if let share = ws.shareDirectory {
                let socket = ws.runDirectory + "/vfs.sock"
                let pid = try Detached.spawn(
                    [configuration.virtiofsd, "--socket-path=\(socket)", "-o", "source=\(share)", "-o", "cache=auto"],
                    pidFile: ws.runDirectory + "/virtiofsd.pid", log: ws.runDirectory + "/virtiofsd.log")
                helpers.append(pid)
                let end = Date().addingTimeInterval(5)
                while !FileManager.default.fileExists(atPath: socket) && Date() < end { usleep(20_000) }
                guard FileManager.default.fileExists(atPath: socket) else {
                    throw WorkspaceError(.driver, "virtiofsd did not create its socket; see \(ws.runDirectory)/virtiofsd.log")
                }
                shareSocket = socket
            }
            let port = try FreePort.pick()
            var line = QEMUCommandLine(
                name: ws.runtimeName, accelerator: accelerator, cpus: ws.hardware.cpus, memoryMB: ws.hardware.memoryMB,
                kernel: kernel, initrd: initrd, runDirectory: ws.runDirectory, volume: volume, sshPort: port,
                sshPublicKey: key, shareSocket: shareSocket, tscKHz: QEMUCommandLine.hostTSCKHz())
            line.binary = configuration.qemuBinary
            line.base = base
            line.user = ws.user
            let started = Date()
            let result = try HostCommand.run(line.arguments, timeout: 60)
            guard result.status == 0, let pid = readPID(ws.runDirectory + "/qemu.pid") else {
                for h in helpers { ProcessTable.terminate(h, signal: SIGKILL, timeout: 2) }
                throw WorkspaceError(.driver, "qemu did not start (exit \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(400))")
            }
            return RuntimeHandle(pid: pid, startedAt: started, sshPort: port, accelerator: accelerator, helpers: helpers)
        }
    }

    public func exitReason(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> String? {
        guard !ProcessTable.isAlive(handle.pid, marked: ws.runtimeName) else { return nil }
        let tail = WorkspaceController.tail(of: ws.consoleLog, maxBytes: 400).split(separator: "\n").last.map(String.init) ?? "no console output"
        return "qemu pid \(handle.pid) is gone; last console line: \(tail)"
    }

    public func observe(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Observation {
        if let why = await exitReason(ws, handle) { return .exited(why) }
        return await Offload.run {
            guard (try? String(contentsOfFile: ws.consoleLog, encoding: .utf8))?.contains("AFS_READY") == true,
                  GuestAgent(path: ws.runDirectory + "/agent.sock", timeout: 1).ping() else { return .booting }
            // hostfwd accepts before the guest listens: wait for dropbear's banner.
            if let port = handle.sshPort, !FreePort.answersSSH(port: port) { return .booting }
            return .ready
        }
    }

    public func activity(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Activity? {
        await Offload.run { GuestAgent(path: ws.runDirectory + "/agent.sock").status() }
    }

    public func stop(_ ws: WorkspaceSpec, _ handle: RuntimeHandle, ladder: StopLadder) async -> StopOutcome {
        await Offload.run {
            let pid = handle.pid
            guard ProcessTable.isAlive(pid, marked: ws.runtimeName) else { return .stopped(rung: "already") }
            if GuestAgent(path: ws.runDirectory + "/agent.sock").shutdown(), ProcessTable.waitForExit(pid, timeout: ladder.agent) {
                return .stopped(rung: "agent")
            }
            if let qmp = try? QMPClient(path: ws.runDirectory + "/qmp.sock") {
                if (try? qmp.execute("system_powerdown")) != nil, ProcessTable.waitForExit(pid, timeout: ladder.powerdown) {
                    return .stopped(rung: "powerdown")
                }
                if (try? qmp.execute("quit")) != nil, ProcessTable.waitForExit(pid, timeout: ladder.quit) {
                    return .stopped(rung: "quit")
                }
            }
            if ProcessTable.terminate(pid, signal: SIGKILL, timeout: ladder.kill) { return .stopped(rung: "kill") }
            return .failed("qemu pid \(pid) survived SIGKILL for \(Int(ladder.kill)) s")
        }
    }

    public func adopt(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Bool {
        await Offload.run {
            guard ProcessTable.isAlive(handle.pid, marked: ws.runtimeName),
                  let qmp = try? QMPClient(path: ws.runDirectory + "/qmp.sock"),
                  (try? qmp.name()) == ws.runtimeName else { return false }
            return true
        }
    }

    public func cleanup(_ ws: WorkspaceSpec, _ handle: RuntimeHandle?) async {
        await Offload.run {
            var victims = Set(ProcessTable.pids(marked: ws.runtimeName))
            victims.formUnion(ProcessTable.pids(marked: ws.runDirectory + "/"))
            if let handle, ProcessTable.isAlive(handle.pid, marked: ws.runtimeName) { victims.insert(handle.pid) }
            for pid in victims { kill(pid, SIGKILL) }
            for pid in victims { _ = ProcessTable.waitForExit(pid, timeout: 5) }
            QEMUDriver.removeRunFiles(ws)
        }
    }

    public func destroy(_ ws: WorkspaceSpec) async throws(WorkspaceError) {
        try await Offload.run { () throws(WorkspaceError) in try MountTable.removeTree(ws.directory) }
    }

    /// ssh with the guest's host key pinned: the guest prints it on the console at every boot
    /// (`AFS_HOSTKEY type key`), so there is no trust-on-first-use, and the alias makes the
    /// per-boot forwarded port irrelevant.
    public func connection(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) -> ConnectionInfo {
        var hostKey = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        if let key = QEMUDriver.hostKey(console: ws.consoleLog) {
            let knownHosts = ws.runDirectory + "/known_hosts"
            if (try? "\(ws.runtimeName) \(key)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)) != nil {
                hostKey = ["-o", "UserKnownHostsFile=\(knownHosts)", "-o", "HostKeyAlias=\(ws.runtimeName)", "-o", "StrictHostKeyChecking=yes"]
            }
        }
        return ConnectionInfo(
            kind: "ssh",
            argv: ["ssh", "-i", sshKey, "-p", String(handle.sshPort ?? 22), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"] + hostKey + [
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
                "\(ws.user ?? "root")@127.0.0.1",
            ],
            interactiveArgs: ["-t"],
            directory: WorkspaceSpec.projectDirectory)
    }

    /// `type key` from the console's last `AFS_HOSTKEY` line.
    static func hostKey(console: String) -> String? {
        guard let text = try? String(contentsOfFile: console, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n").reversed() {
            guard let range = line.range(of: "AFS_HOSTKEY ") else { continue }
            let fields = line[range.upperBound...].split(separator: " ")
            if fields.count >= 2, fields[0].hasPrefix("ssh-") { return "\(fields[0]) \(fields[1])" }
        }
        return nil
    }

    /// Sockets and pid files of a previous run (a crashed QEMU or virtiofsd leaves them behind).
    static func removeRunFiles(_ ws: WorkspaceSpec) {
        for file in ["qmp.sock", "agent.sock", "vfs.sock", "qemu.pid", "virtiofsd.pid"] {
            unlink(ws.runDirectory + "/" + file)
        }
    }
}

func readPID(_ path: String) -> Int32? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
}
