import Foundation

/// Runs a host program to completion (mkfs, ssh-keygen, qemu -daemonize) and reports its status
/// and output, with a timeout so a wedged tool cannot hang the controller.
struct HostCommand {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs `argv` (first element: a path or a name looked up in PATH); stdin is /dev/null,
    /// stdout and stderr go together to a capture file (returned) or to `logFile` (appended).
    ///
    /// posix_spawn, not Foundation's Process: Process learns of a child's exit through a socket
    /// the child inherits, so a program that daemonizes (qemu -daemonize, setsid -f) hands that
    /// socket to its long-lived descendant and Process waits for it forever. Here the child gets
    /// descriptors 0–2 only, default signal handling and an empty mask, and is reaped with waitpid.
    static func run(_ argv: [String], timeout: Double = 60, logFile: String? = nil, environment: [String: String]? = nil) throws(WorkspaceError) -> Result {
        guard let executable = resolve(argv[0]) else {
            throw WorkspaceError(.unavailable, "\(argv[0]) is not installed (not on PATH); run scripts/bootstrap.sh")
        }
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("afs-cmd-\(UUID().uuidString)").path
        let outputPath = logFile ?? capture
        defer { if logFile == nil { unlink(capture) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        _ = spawnCloseFrom(&actions, 3)
        var env = ProcessInfo.processInfo.environment
        if let environment { env.merge(environment) { $1 } }
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        // The daemon's threads block and ignore signals (SIGTERM, SIGPIPE…); a child must not inherit
        // that, or a sandbox's init would never see the SIGTERM of the stop ladder.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw WorkspaceError(.driver, "cannot run \(argv[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        let end = Date().addingTimeInterval(timeout)
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { throw WorkspaceError(.driver, "waitpid(\(argv[0])): \(String(cString: strerror(errno)))") }
            if Date() >= end {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw WorkspaceError(.timeout, "\(argv[0]) did not finish within \(Int(timeout)) s")
            }
            usleep(2_000)
        }
        // WIFEXITED / WEXITSTATUS, spelled out (macros do not import).
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let output = logFile == nil ? ((try? String(contentsOfFile: capture, encoding: .utf8)) ?? "") : ""
        return Result(status: exitStatus, output: output)
    }

    /// Runs `argv` and fails with its output when it exits non-zero.
    @discardableResult
    static func check(_ argv: [String], timeout: Double = 60, what: String) throws(WorkspaceError) -> String {
        let r = try run(argv, timeout: timeout)
        guard r.status == 0 else {
            throw WorkspaceError(.driver, "\(what) failed (\(argv[0]) exited \(r.status)): \(r.output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(500))")
        }
        return r.output
    }

    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in (path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]) {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// glibc ≥ 2.34's `posix_spawn_file_actions_addclosefrom_np`, which the Glibc module does not
/// import (it needs _GNU_SOURCE): closes every descriptor from `from` up in the child.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
