import AFSTestSupport
import Foundation
import Testing

/// Starts the real `afs-server` executable on a free loopback port and talks to it with
/// AsyncHTTPClient (streaming bodies from and to files).
final class ServerHarness: @unchecked Sendable {
    // @unchecked: immutable after init, except the process handle used only by the owning test.
    let data: String
    let process: Process
    let base: String
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
        process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["--data", data, "--http", "127.0.0.1:0"]
        output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The banner names the bound port.
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("\n"), Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
            process.terminate()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "afs-server did not start: \(text)"])
        }
        base = String(text[range])
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

    /// One request through AsyncHTTPClient; `bodyFile` is streamed from disk and `outputFile`
    /// receives the answer's body streamed, so large transfers never sit in memory.
    @discardableResult
    func request(
        _ method: String, _ path: String, token: String? = nil, json: Any? = nil, body: Data? = nil, bodyFile: String? = nil,
        headers: [String: String] = [:], outputFile: String? = nil, timeout: Double = 120
    ) throws -> Reply {
        var h: [(String, String)] = headers.map { ($0.key, $0.value) }
        let auth = token ?? adminToken
        if !auth.isEmpty { h.append(("Authorization", "Bearer \(auth)")) }
        var payload = HTTPTestClient.Body.none
        if let json {
            payload = .data(try JSONSerialization.data(withJSONObject: json))
            h.append(("Content-Type", "application/json"))
        } else if let body {
            payload = .data(body)
        } else if let bodyFile {
            payload = .file(bodyFile)
        }
        let r = try HTTPTestClient.request(method, base + path, headers: h, body: payload, outputFile: outputFile, timeout: timeout)
        return Reply(status: r.status, body: r.body, headers: r.headerText)
    }
}
