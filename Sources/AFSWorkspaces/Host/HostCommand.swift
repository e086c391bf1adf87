import Foundation

/// Runs a host program to completion (mkfs, ssh-keygen, qemu -daemonize) and reports its status
/// and output, with a timeout so a wedged tool cannot hang the controller.
struct HostCommand {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs `argv` (first element: a path or a name looked up in PATH); stdin is /dev/null,
    /// stdout and stderr are captured together (or sent to `logFile`).
    static func run(_ argv: [String], timeout: Double = 60, logFile: String? = nil, environment: [String: String]? = nil) throws(WorkspaceError) -> Result {
        guard let executable = resolve(argv[0]) else {
            throw WorkspaceError(.unavailable, "\(argv[0]) is not installed (not on PATH); run scripts/bootstrap.sh")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(argv.dropFirst())
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardInput = FileHandle.nullDevice
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("afs-cmd-\(UUID().uuidString)").path
        let outputPath = logFile ?? capture
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        guard let out = FileHandle(forWritingAtPath: outputPath) else {
            throw WorkspaceError(.io, "cannot write \(outputPath)")
        }
        defer {
            try? out.close()
            if logFile == nil { unlink(capture) }
        }
        if logFile != nil { _ = try? out.seekToEnd() }
        process.standardOutput = out
        process.standardError = out
        do { try process.run() } catch {
            throw WorkspaceError(.driver, "cannot run \(argv[0]): \(error.localizedDescription)")
        }
        let end = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < end { usleep(5_000) }
        if process.isRunning {
            process.terminate()
            usleep(100_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw WorkspaceError(.timeout, "\(argv[0]) did not finish within \(Int(timeout)) s")
        }
        process.waitUntilExit()
        let output = logFile == nil ? ((try? String(contentsOfFile: capture, encoding: .utf8)) ?? "") : ""
        return Result(status: process.terminationStatus, output: output)
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
