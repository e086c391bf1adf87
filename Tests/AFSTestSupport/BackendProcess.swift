import Foundation

/// A real backend server for a test, started and stopped by the project's own script
/// (`scripts/seaweedfs.sh` for S3, `scripts/postgres.sh` for PostgreSQL), never a mock.
public final class BackendProcess: @unchecked Sendable {
    // @unchecked: immutable after init; stopped once.
    public enum Kind: String, Sendable {
        case seaweedfs, postgres
    }

    public let kind: Kind
    /// Where the server keeps its data, logs and pid file.
    public let directory: String
    /// What the script printed: `S3_ENDPOINT`, `S3_ACCESS_KEY`, `S3_SECRET_KEY` or `PG_URL`, `PG_PORT`.
    public let values: [String: String]

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The repository root (scripts/ lives there), found from this file's path.
    public static let repositoryRoot: String = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.path
    }()

    public init(_ kind: Kind) throws {
        self.kind = kind
        directory = "/var/tmp/afs-\(kind.rawValue)-\(UUID().uuidString.prefix(8))"
        values = try BackendProcess.start(kind, directory: directory)
    }

    /// Starts the server again after ``stop(keep:)`` with `keep: true`: same data, same port.
    public func startAgain() throws {
        let again = try BackendProcess.start(kind, directory: directory)
        guard again == values else { throw StartError(description: "\(kind) came back with other settings: \(again)") }
    }

    private static func start(_ kind: Kind, directory: String) throws -> [String: String] {
        let script = repositoryRoot + "/scripts/\(kind.rawValue).sh"
        // Output to a file, not a pipe: the server the script leaves running may hold inherited
        // descriptors, and a pipe would then never reach its end.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let outputPath = directory + ".start.log"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script, "start", directory]
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        p.standardOutput = output
        p.standardError = output
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try? output.close()
        let out = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard p.terminationStatus == 0 else {
            throw StartError(description: "\(script) start failed (\(p.terminationStatus)): \(out)")
        }
        var values: [String: String] = [:]
        // The assignments are the last line (install messages may come before).
        for pair in (out.split(separator: "\n").last ?? "").split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        return values
    }

    public func value(_ name: String) -> String { values[name] ?? "" }

    /// Runs SQL with Debian's `psql` against the PostgreSQL server (to look at or alter the
    /// database behind the code under test); returns what it printed, unaligned.
    public func psql(_ sql: String) throws -> String {
        let r = try ChildProcess.run("/usr/bin/psql", [value("PG_URL"), "-qAtc", sql])
        guard r.status == 0 else {
            throw StartError(description: "psql failed (\(r.status)): \(String(decoding: r.stderr, as: UTF8.self))")
        }
        return String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server (the data directory is removed too unless `keep`).
    public func stop(keep: Bool = false) {
        _ = try? ChildProcess.run("/bin/bash", [BackendProcess.repositoryRoot + "/scripts/\(kind.rawValue).sh", "stop", directory])
        if !keep { try? FileManager.default.removeItem(atPath: directory) }
    }

    deinit { stop() }
}
