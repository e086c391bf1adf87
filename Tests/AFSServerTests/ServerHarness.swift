import Foundation
import Testing

/// Starts the real `afs-server` executable on free loopback ports (HTTP and gRPC) and talks to it
/// with curl (a real HTTP client, streaming bodies from and to files); `GRPCTests` use the gRPC port.
final class ServerHarness: @unchecked Sendable {
    // @unchecked: immutable after init, except the process handle used only by the owning test.
    let data: String
    let process: Process
    let base: String
    /// The bound gRPC port (from the banner line `afs-server gRPC listening on 127.0.0.1:PORT`).
    let grpcPort: Int
    let adminToken: String
    private let output: Pipe

    struct Reply {
        var status: Int
        var body: Data
        var headers: String
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> Any { try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }
        func object() throws -> [String: Any] { try #require(try json() as? [String: Any], "not an object: \(text)") }
        func array() throws -> [[String: Any]] { try #require(try json() as? [[String: Any]], "not an array: \(text)") }
        var errorCode: String? {
            let obj = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
            return (obj?["error"] as? [String: Any])?["code"] as? String
        }
    }

    static func productsDirectory() -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var dir = (exe as NSString).deletingLastPathComponent
        while !FileManager.default.isExecutableFile(atPath: dir + "/afs-server") && dir != "/" {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    init(data existing: String? = nil) throws {
        data = existing ?? "/var/tmp/afs-srv-\(UUID().uuidString.prefix(8))"
        let exe = ServerHarness.productsDirectory() + "/afs-server"
        try #require(FileManager.default.isExecutableFile(atPath: exe), "build afs-server first (swift build)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "curl is needed by the server tests (scripts/bootstrap.sh installs it)")
        process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["--data", data, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"]
        output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The banners name the bound ports; HTTP and gRPC bind independently, in either order.
        let httpPattern = #"http://127\.0\.0\.1:[0-9]+"#
        let grpcPattern = #"gRPC listening on 127\.0\.0\.1:[0-9]+\n"#
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while text.range(of: httpPattern, options: .regularExpression) == nil || text.range(of: grpcPattern, options: .regularExpression) == nil,
            Date() < deadline
        {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = text.range(of: httpPattern, options: .regularExpression),
            let grpcRange = text.range(of: grpcPattern, options: .regularExpression),
            let port = Int(text[grpcRange].dropLast().split(separator: ":").last ?? "")
        else {
            process.terminate()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "afs-server did not start: \(text)"])
        }
        base = String(text[range])
        grpcPort = port
        adminToken = try String(contentsOfFile: data + "/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SIGTERM and wait: the graceful path.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    func cleanup() {
        stop()
        try? FileManager.default.removeItem(atPath: data)
    }

    var pid: Int32 { process.processIdentifier }

    /// Peak resident memory of the server (VmHWM), in bytes.
    func peakRSS() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    @discardableResult
    func request(
        _ method: String, _ path: String, token: String? = nil, json: Any? = nil, body: Data? = nil, bodyFile: String? = nil,
        headers: [String: String] = [:], outputFile: String? = nil, timeout: Double = 120
    ) throws -> Reply {
        let tmp = NSTemporaryDirectory() + "afs-curl-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: tmp + ".body")
            try? FileManager.default.removeItem(atPath: tmp + ".in")
            try? FileManager.default.removeItem(atPath: tmp + ".hdr")
        }
        var args = ["-s", "-S", "-X", method, "-D", tmp + ".hdr", "-o", outputFile ?? tmp + ".body", "-w", "%{http_code}", "--max-time", "\(Int(timeout))"]
        let auth = token ?? adminToken
        if !auth.isEmpty { args += ["-H", "Authorization: Bearer \(auth)"] }
        for (k, v) in headers { args += ["-H", "\(k): \(v)"] }
        if let json {
            let data = try JSONSerialization.data(withJSONObject: json)
            try data.write(to: URL(fileURLWithPath: tmp + ".in"))
            args += ["-H", "Content-Type: application/json", "--data-binary", "@" + tmp + ".in"]
        } else if let body {
            try body.write(to: URL(fileURLWithPath: tmp + ".in"))
            args += ["--data-binary", "@" + tmp + ".in"]
        } else if let bodyFile {
            args += ["-T", bodyFile]  // streamed from the file, never loaded whole
        }
        args.append(base + path)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let code = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let bodyData = outputFile == nil ? ((try? Data(contentsOf: URL(fileURLWithPath: tmp + ".body"))) ?? Data()) : Data()
        let hdr = (try? String(contentsOfFile: tmp + ".hdr", encoding: .utf8)) ?? ""
        return Reply(status: Int(code) ?? 0, body: bodyData, headers: hdr)
    }
}
