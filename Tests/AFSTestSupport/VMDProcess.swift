import Foundation

/// A real `afs-vmd` child process on a free loopback port, for the workspace end-to-end tests.
/// It can be killed (SIGKILL, like a crash) and started again on the same data directory.
public final class VMDProcess: @unchecked Sendable {
    // @unchecked: used by the owning test only.
    public let data: String
    public let arguments: [String]
    public private(set) var process: Process
    /// `http://127.0.0.1:PORT`, or `https://…` over TLS.
    public private(set) var base: String
    /// Over TLS, the CA a client must trust (the tests' CA).
    public let caCertificate: String?
    public private(set) var banner: String
    public private(set) var token: String

    /// Starts afs-vmd with `--data` (a fresh directory when nil) and `arguments` (e.g. `--driver bwrap`);
    /// with `tls`, over HTTPS with a certificate from the tests' CA (``TestPKI/shared``).
    public init(data existing: String? = nil, arguments: [String], tls: Bool = false) throws {
        data = existing ?? "/var/tmp/afs-vmd-\(UUID().uuidString.prefix(8))"
        var arguments = arguments
        if tls {
            let pair = try TestPKI.shared.issue("vmd-\(UUID().uuidString.prefix(8))")
            arguments += ["--tls-cert", pair.certificatePath, "--tls-key", pair.keyPath]
            caCertificate = TestPKI.shared.caPath
        } else {
            caCertificate = nil
        }
        self.arguments = arguments
        (process, base, banner) = try VMDProcess.launch(data: data, arguments: arguments)
        token = try String(contentsOfFile: data + "/vmd.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func launch(data: String, arguments: [String]) throws -> (Process, String, String) {
        let exe = ServerProcess.productsDirectory(containing: "afs-vmd") + "/afs-vmd"
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw ServerProcess.StartError(description: "no afs-vmd next to the tests: build it first (swift build --build-tests)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["--data", data, "--listen", "127.0.0.1:0"] + arguments
        let output = Pipe()
        process.standardOutput = output
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = log
        try process.run()
        var text = ""
        // A QEMU driver may boot a canary first: give it time.
        let deadline = Date().addingTimeInterval(120)
        while text.range(of: #"token: .*\n"#, options: .regularExpression) == nil, Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = text.range(of: #"https?://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
            process.terminate()
            throw ServerProcess.StartError(description: "afs-vmd did not start: \(text)")
        }
        return (process, String(text[range]), text)
    }

    public var pid: Int32 { process.processIdentifier }

    /// Environment that points `aether workspace` at this daemon.
    public var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["AFS_WORKSPACES_ENDPOINT"] = base
        env["AFS_WORKSPACES_TOKEN"] = token
        env["AETHER_CONFIG"] = data + "/no-config.toml"
        if let caCertificate { env["AETHER_CA_CERT"] = caCertificate }
        return env
    }

    /// SIGKILL: the daemon dies without any chance to clean up (its VMs must survive).
    public func kill() {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Starts a new daemon on the same data directory (after `kill` or `stop`).
    public func restart() throws {
        (process, base, banner) = try VMDProcess.launch(data: data, arguments: arguments)
    }

    /// SIGTERM and wait.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Live (non-zombie) processes whose command line contains `marker`, with that command line.
    public static func processes(containing marker: String) -> [(pid: Int32, commandLine: String)] {
        var found: [(Int32, String)] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(), let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let commandLine = String(decoding: raw.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            guard commandLine.contains(marker), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), !stat.contains(") Z ") else { continue }
            found.append((pid, commandLine))
        }
        return found
    }

    /// Stops the daemon, then kills whatever a failed test left running from its data directory
    /// (VMs, sandboxes, virtiofsd, project mounts) before deleting it: no orphans between tests.
    public func cleanup() {
        stop()
        let marker = data + "/workspaces/"
        for (pid, _) in VMDProcess.processes(containing: marker) { Foundation.kill(pid, SIGKILL) }
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        for line in mounts.split(separator: "\n") {
            let point = line.split(separator: " ").dropFirst().first.map(String.init) ?? ""
            if point.hasPrefix(marker) { _ = try? ChildProcess.run("/bin/umount", ["-l", point]) }
        }
        if !mounts.contains(marker) || !((try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? "").contains(marker) {
            try? FileManager.default.removeItem(atPath: data)
        }
    }
}
