import Foundation

/// Which store an end-to-end afs-server runs on.
public enum ServerBackend: String, CaseIterable, Sendable {
    /// The default: everything in the data directory.
    case embedded
    /// PostgreSQL catalog + S3 packs (``ClusteredBackends``), a database and prefix per server.
    case clustered
    /// The embedded store served over TLS (HTTPS and gRPC over TLS), with a certificate for
    /// localhost and 127.0.0.1 signed by the tests' CA (``TestPKI/shared``). Not a store of its
    /// own: the lifecycle suites add it to check the transport; the rest run on the two stores.
    case tls

    public static var allCases: [ServerBackend] { [.embedded, .clustered] }
    /// The stores, and the embedded one over TLS.
    public static var withTLS: [ServerBackend] { allCases + [.tls] }
}

/// A real `afs-server` child process on free loopback ports, for end-to-end tests: started with
/// `--http 127.0.0.1:0 --grpc 127.0.0.1:0`, the bound ports read from its startup banners, stopped
/// with SIGTERM.
public final class ServerProcess: @unchecked Sendable {
    // @unchecked: immutable after init; the process handle is used by the owning test only.
    public let data: String
    public let process: Process
    /// `http://127.0.0.1:PORT`.
    public let base: String
    /// The bound gRPC port (from the banner line `afs-server gRPC listening on 127.0.0.1:PORT`).
    public let grpcPort: Int
    public let adminToken: String
    /// Every banner line printed before the server was ready (other listeners print theirs here).
    public let banner: String
    /// The CA file a client must trust for this server (over TLS), or nil for plaintext.
    public let caCertificate: String?
    /// The certificate pair the server was started with (over TLS).
    public let certificate: TestPKI.Pair?
    private let output: Pipe

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The directory holding the built products (`afs-server`, `aether`), found from the running test binary.
    public static func productsDirectory(containing name: String = "afs-server") -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var dir = (exe as NSString).deletingLastPathComponent
        while !FileManager.default.isExecutableFile(atPath: dir + "/" + name) && dir != "/" {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    /// Starts the server on `data` (a fresh directory when nil) with extra `arguments` and `environment`.
    ///
    /// A clustered server gets a new database and bucket prefix; restarted on the same `data`, it
    /// finds them again (the data directory remembers which, in `test-backend.json`).
    public init(
        data existing: String? = nil, backend: ServerBackend = .embedded, arguments: [String] = [], environment: [String: String] = [:]
    ) throws {
        data = existing ?? "/var/tmp/afs-srv-\(UUID().uuidString.prefix(8))"
        var arguments = arguments
        var environment = environment
        let remembered = data + "/test-backend.json"
        if let saved = FileManager.default.contents(atPath: remembered),
            let store = try JSONSerialization.jsonObject(with: saved) as? [String: [String: String]]
        {
            arguments = (store["arguments"] ?? [:]).sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] } + arguments
            environment.merge(store["environment"] ?? [:]) { mine, _ in mine }
        } else if backend == .clustered {
            let store = try ClusteredBackends.start().newStore()
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            var named: [String: String] = [:]
            for i in stride(from: 0, to: store.arguments.count - 1, by: 2) { named[store.arguments[i]] = store.arguments[i + 1] }
            try JSONSerialization.data(withJSONObject: ["arguments": named, "environment": store.environment]).write(to: URL(fileURLWithPath: remembered))
            arguments = store.arguments + arguments
            environment.merge(store.environment) { mine, _ in mine }
        } else if backend == .tls {
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            let pair = try TestPKI.shared.issue("server-\(UUID().uuidString.prefix(8))")
            let named = ["--tls-cert": pair.certificatePath, "--tls-key": pair.keyPath]
            try JSONSerialization.data(withJSONObject: ["arguments": named, "environment": [String: String]()]).write(to: URL(fileURLWithPath: remembered))
            arguments = named.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] } + arguments
        }
        if let i = arguments.firstIndex(of: "--tls-cert"), i + 1 < arguments.count, let k = arguments.firstIndex(of: "--tls-key"), k + 1 < arguments.count {
            certificate = TestPKI.Pair(certificatePath: arguments[i + 1], keyPath: arguments[k + 1], serial: "")
            caCertificate = TestPKI.shared.caPath
        } else {
            certificate = nil
            caCertificate = nil
        }
        let exe = ServerProcess.productsDirectory() + "/afs-server"
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw StartError(description: "no afs-server next to the tests: build it first (swift build --build-tests)")
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["--data", data, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"] + arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        output = Pipe()
        process.standardOutput = output
        // The server's errors go to a file in its data directory, for a failing test to show.
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: data + "/stderr.log", contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/stderr.log"))
        try process.run()
        // The banners name the bound ports; HTTP and gRPC bind independently, in either order, and
        // each banner is one write.
        let httpPattern = #"try: .*https?://127\.0\.0\.1:[0-9]+.*\n"#
        let grpcPattern = #"gRPC listening on 127\.0\.0\.1:[0-9]+\n"#
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while text.range(of: httpPattern, options: .regularExpression) == nil || text.range(of: grpcPattern, options: .regularExpression) == nil,
            Date() < deadline
        {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        banner = text
        guard let range = text.range(of: #"https?://127\.0\.0\.1:[0-9]+"#, options: .regularExpression),
            let grpcRange = text.range(of: grpcPattern, options: .regularExpression),
            let port = Int(text[grpcRange].dropLast().split(separator: ":").last ?? "")
        else {
            process.terminate()
            let errors = (try? String(contentsOfFile: data + "/stderr.log", encoding: .utf8)) ?? ""
            throw StartError(description: "afs-server did not start: \(text)\(errors)")
        }
        base = String(text[range])
        grpcPort = port
        adminToken = try String(contentsOfFile: data + "/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public var pid: Int32 { process.processIdentifier }

    /// Peak resident memory of the server (VmHWM), in bytes.
    public func peakRSS() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// SIGTERM and wait: the graceful path.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Stops the server and deletes its data directory.
    public func cleanup() {
        stop()
        try? FileManager.default.removeItem(atPath: data)
    }
}
