import AFSMount
import AFSTestSupport
import Foundation
import Testing

/// Which side of the network the mounted session lives on.
enum Transport: String, CaseIterable, CustomTestStringConvertible, Sendable {
    /// The store in process; afs-server on its embedded store; afs-server on PostgreSQL + S3;
    /// afs-server on its embedded store over HTTPS (the tests' CA in `AETHER_CA_CERT`).
    case embedded, remote, clustered, tls
    var testDescription: String { rawValue }

    static var allCases: [Transport] { [.embedded, .remote, .clustered] }
    /// Every store, and the remote one over TLS: for the lifecycle tests.
    static var withTLS: [Transport] { allCases + [.tls] }
}

/// Why mount tests cannot run here, or nil when they can.
let mountUnavailable: String? = FUSEMount.availability()

/// A store (embedded, or behind a real afs-server) plus the real `aether` binary, for mounting
/// sessions and running real programs on them.
final class MountFixture: @unchecked Sendable {
    // @unchecked: immutable after init; used by one test at a time.
    struct Run {
        var status: Int32
        var output: String
    }

    let transport: Transport
    let root = "/var/tmp/afs-mount-\(UUID().uuidString.prefix(8))"
    let aether: String
    let server: ServerProcess?
    let environment: [String: String]

    /// - Parameter config: extra lines for the fixture's config.toml (after `[logging]`, whose
    ///   metrics endpoint takes a free port so parallel mounts never compete for 9464).
    init(_ transport: Transport, config: String = "") throws {
        self.transport = transport
        aether = ServerProcess.productsDirectory(containing: "aether") + "/aether"
        try #require(FileManager.default.isExecutableFile(atPath: aether), "build the aether executable first")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // TOML allows a key once per table: the default metrics address only when `config` sets none.
        let metrics = config.contains("metrics_addr") ? "" : "metrics_addr = \"127.0.0.1:0\"\n"
        try "[logging]\n\(metrics)\(config)\n".write(toFile: root + "/config.toml", atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["AETHER_CONFIG"] = root + "/config.toml"
        env["XDG_CACHE_HOME"] = root + "/cache"
        // The mount registry and control sockets, private to this fixture.
        env["XDG_RUNTIME_DIR"] = root + "/run"
        switch transport {
        case .embedded:
            server = nil
            env["AFS_STORE"] = root + "/store"
            env["AFS_AETHER_SERVER_ENDPOINT"] = ""
        case .remote, .clustered, .tls:
            let s = try ServerProcess(backend: transport == .clustered ? .clustered : transport == .tls ? .tls : .embedded)
            env["AETHER_CA_CERT"] = s.caCertificate ?? ""
            server = s
            env["AFS_STORE"] = ""
            env["AFS_AETHER_SERVER_ENDPOINT"] = s.base
            env["AFS_TOKEN"] = s.adminToken
        }
        environment = env
    }

    deinit {
        server?.cleanup()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Runs `executable` with `arguments`; stdout and stderr together.
    @discardableResult
    func run(_ executable: String, _ arguments: [String], in directory: String? = nil, stdin: Data? = nil) throws -> Run {
        let r = try ChildProcess.run(executable, arguments, environment: environment, directory: directory, stdin: stdin, mergeStderr: true)
        return Run(status: r.status, output: String(decoding: r.stdout, as: UTF8.self))
    }

    @discardableResult
    func cli(_ arguments: [String], stdin: Data? = nil) throws -> Run {
        try run(aether, arguments, stdin: stdin)
    }

    /// A shell script run in `directory`; fails the test (with its output) on a non-zero exit.
    @discardableResult
    func sh(_ script: String, in directory: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try run("/bin/sh", ["-ec", script], in: directory)
        #expect(r.status == 0, "script failed (\(r.status)):\n\(script)\n--- output:\n\(r.output)", sourceLocation: sourceLocation)
        return r.output
    }

    func createSession() throws -> String {
        let r = try cli(["session", "create", "--blank", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any], "\(r.output)")
        return try #require(object["id"] as? String)
    }

    /// `aether ARGS --json`, parsed; fails the test (with the output) unless it exits 0.
    func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let r = try ChildProcess.run(aether, arguments + ["--json"], environment: environment)
        let text = String(decoding: r.stdout, as: UTF8.self)
        try #require(r.status == 0, "aether \(arguments.joined(separator: " ")) exited \(r.status): \(text) \(String(decoding: r.stderr, as: UTF8.self))", sourceLocation: sourceLocation)
        return try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "not a JSON object: \(text)", sourceLocation: sourceLocation)
    }

    func cat(_ session: String, _ path: String) throws -> String {
        let r = try cli(["fs", "cat", session, path])
        #expect(r.status == 0, "fs cat \(path): \(r.output)")
        return r.output
    }

    /// `aether fs cat ID PATH > file`, byte for byte; returns the exit status.
    func download(_ session: String, _ path: String, to file: String) throws -> Int32 {
        FileManager.default.createFile(atPath: file, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: aether)
        p.arguments = ["fs", "cat", session, path]
        p.environment = environment
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Starts `aether mount` (with `-o OPTIONS` when given, then `flags`) and waits for it to
    /// announce the mount.
    func mount(_ session: String, options: [String] = [], xattrs: Bool = false, flags: [String] = []) throws -> MountedSession {
        let directory = root + "/mnt-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: aether)
        p.arguments = ["mount", "--session", session, directory] + (options.isEmpty ? [] : ["-o", options.joined(separator: ",")])
            + (xattrs ? ["--xattrs"] : []) + flags
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        let log = root + "/mount-\(UUID().uuidString.prefix(6)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try p.run()
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("\n"), Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let mounted = MountedSession(process: p, directory: directory, log: log, fixture: self)
        try #require(text.contains("mounted session"), "aether mount did not start: \(text) \(mounted.logText)")
        return mounted
    }
}

/// A running `aether mount`; unmounted (lazily, as a last resort) when dropped.
final class MountedSession: @unchecked Sendable {
    // @unchecked: used by the test that mounted it.
    let process: Process
    let directory: String
    let log: String
    let fixture: MountFixture
    private var sanitizerReported = false

    init(process: Process, directory: String, log: String, fixture: MountFixture) {
        self.process = process
        self.directory = directory
        self.log = log
        self.fixture = fixture
    }

    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// `aether unmount DIR`, then waits for the mount's process to exit; returns its status.
    @discardableResult
    /// `aether sync DIR`: returns once the service holds every change the mount acknowledged
    /// (close, unlink, mkdir and rmdir return before it does).
    func sync(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try fixture.cli(["sync", directory])
        #expect(r.status == 0, "sync: \(r.output)", sourceLocation: sourceLocation)
    }

    func unmount(sourceLocation: SourceLocation = #_sourceLocation) throws -> Int32 {
        // A descriptor the kernel is still releasing (a child of the test that just exited) makes
        // the mount briefly busy on a loaded machine: try again for a few seconds before failing.
        var r = try fixture.cli(["unmount", directory])
        let busyUntil = Date().addingTimeInterval(5)
        while r.status != 0, r.output.contains("busy"), Date() < busyUntil {
            usleep(200_000)
            r = try fixture.cli(["unmount", directory])
        }
        #expect(r.status == 0, "unmount: \(r.output)", sourceLocation: sourceLocation)
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        // Foundation traps on the status of a running process: report, and let deinit kill it.
        guard !process.isRunning else {
            // Where it is stuck, for whoever reads the failure: every thread's stack (gdb is on
            // the test machines; without it the log alone). Bounded: a gdb that hung on the
            // stopped daemon once held a whole CI run until its time ran out.
            let stacks = (try? ChildProcess.run(
                "/usr/bin/timeout",
                [
                    "-s", "KILL", "30", "/usr/bin/gdb", "-p", "\(process.processIdentifier)", "-batch", "-ex", "set debuginfod enabled off", "-ex",
                    "thread apply all bt 10",
                ], mergeStderr: true))
                .map { String(decoding: $0.stdout, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("#") || $0.hasPrefix("Thread") }.joined(separator: "\n") } ?? ""
            Issue.record(
                "the mount did not exit within 60 s of unmount; its log:\n\(logText.suffix(2000))\nits threads:\n\(stacks.suffix(6000))",
                sourceLocation: sourceLocation)
            return -1
        }
        reportSanitizerFindings()
        return process.terminationStatus
    }

    /// Under scripts/tsan.sh the daemon is a ThreadSanitizer build that stops at its first race
    /// report (halt_on_error): the test then fails on what the dead mount did not do, and this
    /// puts the report itself in front of the reader.
    private func reportSanitizerFindings() {
        guard !sanitizerReported else { return }
        let log = logText
        guard let start = log.range(of: "WARNING: ThreadSanitizer") ?? log.range(of: "ThreadSanitizer: CHECK") else { return }
        sanitizerReported = true
        Issue.record("the mount's ThreadSanitizer report:\n\(log[start.lowerBound...].prefix(6000))")
    }

    deinit {
        reportSanitizerFindings()
        if process.isRunning {
            _ = try? fixture.run("/usr/bin/fusermount3", ["-u", "-z", directory])
            process.terminate()
            process.waitUntilExit()
        }
    }
}
