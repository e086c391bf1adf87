import Dispatch
import Glibc
import FoundationEssentials

/// Runs an external program: the one process spawner of AetherFS (git, fusermount, mkfs, qemu,
/// bwrap, ssh-keygen, and `aether mount --background` re-starting itself).
///
/// posix_spawn, not Foundation's `Process`: `Process` learns of a child's exit through a socket the
/// child inherits, so a program that daemonizes (qemu -daemonize, setsid -f) hands that socket to
/// its long-lived descendant and `Process` waits for it forever. Here the child gets exactly the
/// descriptors asked for (0–2, every other one closed), default signal handling and an empty
/// signal mask (the caller's threads may block SIGTERM or SIGPIPE; a child must not inherit that),
/// optionally a session of its own, and it is reaped with `waitpid`. Captured output goes through a
/// file, not a pipe, for the same reason: a daemonized descendant holding a pipe open would keep a
/// reader waiting forever.
///
/// Callers are synchronous (threads of the engine, the mount, the workspace controller), so the
/// API is too; that is also why swift-subprocess, whose API is async, is not used here.
public struct Command: Sendable {
    /// Where the child's standard input comes from.
    public enum Input: Sendable {
        case null
        /// These bytes, written by a thread of the caller, then end of file.
        case bytes([UInt8])
        /// A pipe whose writing end ``Running/stdin`` the caller writes (and closes).
        case pipe
    }

    /// Where the child's standard output or error goes.
    public enum Output: Sendable {
        case null
        /// Kept and returned by ``run(timeout:)`` (``Running/captured(_:)`` after a spawn).
        case capture
        /// The caller's own stdout or stderr.
        case inherit
        /// Appended to this file (created when missing).
        case appendTo(String)
        /// A pipe whose reading end ``Running/stdout`` / ``Running/stderr`` the caller reads.
        case pipe
        /// Standard error only: the same destination as standard output.
        case standardOutput
    }

    /// A path, or a name looked up in PATH (and /usr/sbin, /sbin).
    public var executable: String
    public var arguments: [String]
    /// Added to (and overriding) the caller's environment.
    public var environment: [String: String] = [:]
    public var stdin: Input = .null
    public var stdout: Output = .capture
    public var stderr: Output = .capture
    /// A session of its own (setsid): the terminal's Ctrl-C and hang-up no longer reach it.
    public var newSession = false
    /// `argv[0]` as the program (and `ps`) sees it; default `executable`.
    public var argument0: String?

    public init(_ executable: String, _ arguments: [String] = []) {
        self.executable = executable
        self.arguments = arguments
    }

    /// What a finished program did.
    public struct Result: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]

        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Why a program could not be run to its end.
    public struct Failure: Error, CustomStringConvertible {
        public enum Kind: Sendable { case notFound, spawn, timedOut, wait }
        public var kind: Kind
        public var description: String
    }

    /// Runs the program to its end, or kills it (SIGKILL) after `timeout`.
    public func run(timeout: Duration? = nil) throws(Failure) -> Result {
        let child = try spawn()
        let status = try child.wait(timeout: timeout)
        return Result(status: status, stdout: child.captured(.standardOutput), stderr: child.captured(.standardError))
    }

    /// Starts the program and returns at once.
    public func spawn() throws(Failure) -> Running {
        guard let path = Command.which(executable) else {
            throw Failure(kind: .notFound, description: "\(executable) is not installed (not on PATH)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [Int32] = []  // closed in the parent after the spawn
        var running = Running()
        defer { for fd in parentEnds { close(fd) } }
        func openPipe() throws(Failure) -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw Failure(kind: .spawn, description: "pipe: \(String(cString: strerror(errno)))") }
            // The caller's ends must not leak into other children (ours close everything from 3).
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            return (fds[0], fds[1])
        }
        var input: [UInt8]?
        switch stdin {
        case .null:
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .bytes, .pipe:
            let p = try openPipe()
            posix_spawn_file_actions_adddup2(&actions, p.read, 0)
            parentEnds.append(p.read)
            running.stdin = p.write
            if case .bytes(let bytes) = stdin { input = bytes }
        }
        for (fd, output) in [(Int32(1), stdout), (Int32(2), stderr)] {
            switch output {
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
            case .inherit: break
            case .appendTo(let file): posix_spawn_file_actions_addopen(&actions, fd, file, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .standardOutput: posix_spawn_file_actions_adddup2(&actions, 1, fd)
            case .capture:
                let file = FileManager.default.temporaryDirectory.appendingPathComponent("afs-out-\(getpid())-\(RandomID.hex(bytes: 8))").path
                posix_spawn_file_actions_addopen(&actions, fd, file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
                running.captureFiles[fd] = file
            case .pipe:
                let p = try openPipe()
                posix_spawn_file_actions_adddup2(&actions, p.write, fd)
                parentEnds.append(p.write)
                if fd == 1 { running.stdout = p.read } else { running.stderr = p.read }
            }
        }
        _ = spawnCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // POSIX_SPAWN_SETSID (glibc 2.26+) is hidden from Swift behind _GNU_SOURCE.
        let setsid: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (newSession ? setsid : 0)))
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let argv: [UnsafeMutablePointer<CChar>?] = ([argument0 ?? executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            running.closeAll()
            throw Failure(kind: .spawn, description: "cannot run \(executable): \(String(cString: strerror(rc)))")
        }
        running.pid = pid
        running.name = executable
        if let input, let writer = running.stdin {
            running.stdin = nil
            // Its own thread from the global pool (no Foundation `Thread`: this module keeps to
            // FoundationEssentials, so small tools that link it start quickly).
            DispatchQueue.global(qos: .utility).async {
                // A program that exits without reading everything makes the write fail with EPIPE
                // on this thread, instead of a SIGPIPE that would end the whole process.
                var blocked = sigset_t()
                sigemptyset(&blocked)
                sigaddset(&blocked, SIGPIPE)
                pthread_sigmask(SIG_BLOCK, &blocked, nil)
                _ = input.withUnsafeBytes { raw in Command.writeAll(writer, raw) }
                close(writer)
            }
        }
        return running
    }

    /// The path of `name` (a path is returned as it is if executable).
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = dir + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Writes all of `bytes` to `fd`, retrying short and interrupted writes; false once it refuses them.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += n
        }
        return true
    }

    /// A started program: its pid and the caller's ends of its pipes.
    public struct Running: Sendable {
        public fileprivate(set) var pid: pid_t = 0
        /// The writing end of a `.pipe` stdin: the caller writes and closes it.
        public var stdin: Int32?
        /// The reading ends of `.pipe` outputs: the caller reads and closes them.
        public var stdout: Int32?
        public var stderr: Int32?
        fileprivate var captureFiles: [Int32: String] = [:]
        fileprivate var name = ""

        public enum Stream: Int32, Sendable { case standardOutput = 1, standardError = 2 }

        /// Waits for the end, killing the program (SIGKILL) after `timeout`. Returns the exit
        /// status, or 128 + the signal that ended it. Captured output stays readable until
        /// ``captured(_:)`` reads it.
        public func wait(timeout: Duration? = nil) throws(Failure) -> Int32 {
            var status: Int32 = 0
            let deadline = timeout.map { ContinuousClock.now + $0 }
            while true {
                let r = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
                if r == pid { break }
                if r < 0 && errno != EINTR { throw Failure(kind: .wait, description: "waitpid(\(name)): \(String(cString: strerror(errno)))") }
                if let deadline, ContinuousClock.now >= deadline {
                    kill(pid, SIGKILL)
                    _ = waitpid(pid, &status, 0)
                    discardCaptures()
                    throw Failure(kind: .timedOut, description: "\(name) did not finish within \(timeout!)")
                }
                if deadline != nil { usleep(2_000) }
            }
            // WIFEXITED / WEXITSTATUS spelled out: the macros do not import.
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }

        /// Sends `signal` (SIGTERM by default).
        public func terminate(_ signal: Int32 = SIGTERM) { kill(pid, signal) }

        /// What a `.capture` output received (empty otherwise); reading removes the capture file.
        public func captured(_ stream: Stream) -> [UInt8] {
            guard let file = captureFiles[stream.rawValue] else { return [] }
            defer { unlink(file) }
            return (FileManager.default.contents(atPath: file)).map { [UInt8]($0) } ?? []
        }

        fileprivate func discardCaptures() { for file in captureFiles.values { unlink(file) } }

        fileprivate func closeAll() {
            for fd in [stdin, stdout, stderr].compactMap({ $0 }) { close(fd) }
            discardCaptures()
        }
    }
}

/// glibc ≥ 2.34's `posix_spawn_file_actions_addclosefrom_np`, which the Glibc module does not
/// import (it needs _GNU_SOURCE): closes every descriptor from `from` up in the child.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
