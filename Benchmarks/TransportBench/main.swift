// afs-transportbench: which transport should the mount speak, HTTP or gRPC? The calls a mount makes
// most (stat, read of a small file, durable write of a small file, list of a directory) against one
// afs-server on loopback, each through both of its fronts, side by side in the same run.
//
// Both sides are called the way the mount calls the service: synchronously from a plain thread,
// bridged into async code by `Blocking.run` — HTTP through `RemoteStore` (AsyncHTTPClient,
// keep-alive HTTP/1.1), gRPC through the generated clients (grpc-swift 2, HTTP/2 over NIO). Every
// call is timed on its own; the report gives p50, p90, p99 and mean per operation and the ratio
// gRPC ÷ HTTP of the medians.
//
//   afs-transportbench [--calls N] [--out FILE] [--server PATH]
//
// It builds nothing: it starts the afs-server next to itself (or --server).

import AFSClient
import AFSCore
import AFSGRPC
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

struct Options {
    var calls = 400
    var out: String?
    var server = (CommandLine.arguments[0] as NSString).deletingLastPathComponent + "/afs-server"

    init() {
        var args = CommandLine.arguments.dropFirst()
        while let a = args.popFirst() {
            switch a {
            case "--calls": calls = Int(args.popFirst() ?? "") ?? calls
            case "--out": out = args.popFirst()
            case "--server": server = args.popFirst() ?? server
            case "-h", "--help":
                print("usage: afs-transportbench [--calls N] [--out FILE] [--server PATH]")
                exit(0)
            default:
                FileHandle.standardError.write(Data("afs-transportbench: unknown argument \(a) (see --help)\n".utf8))
                exit(2)
            }
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("afs-transportbench: \(message)\n".utf8))
    exit(1)
}

/// afs-server on free loopback ports, its ports read from its start-up banners.
final class Server {
    let process = Process()
    let data = "/var/tmp/afs-transportbench-\(UUID().uuidString.prefix(8))"
    var httpBase = ""
    var grpcPort = 0
    var token = ""

    init(_ executable: String) {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            fail("no afs-server at \(executable): build it (swift build --product afs-server) or pass --server")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--data", data, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { fail("cannot start afs-server: \(error)") }
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while (httpBase.isEmpty || grpcPort == 0) && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let r = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) { httpBase = String(text[r]) }
            if let r = text.range(of: #"gRPC listening on 127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                grpcPort = Int(text[r].split(separator: ":").last ?? "") ?? 0
            }
        }
        guard !httpBase.isEmpty, grpcPort > 0 else { fail("afs-server did not start: \(text)") }
        token = (try? String(contentsOfFile: data + "/admin.token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: data)
    }
}

/// Per-call wall times of one operation on one transport, in microseconds.
struct Series {
    var micros: [Double] = []

    func quantile(_ q: Double) -> Double {
        let sorted = micros.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }

    var mean: Double { micros.reduce(0, +) / Double(micros.count) }
}

func time(_ calls: Int, warmup: Int = 20, _ body: (Int) throws -> Void) rethrows -> Series {
    for i in 0..<warmup { try body(i) }
    var s = Series()
    let clock = ContinuousClock()
    for i in 0..<calls {
        let d = try clock.measure { try body(warmup + i) }
        s.micros.append(Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12)
    }
    return s
}

let options = Options()
let server = Server(options.server)
defer { server.stop() }
FileHandle.standardError.write(Data("afs-transportbench: afs-server at \(server.httpBase), gRPC port \(server.grpcPort); \(options.calls) calls per series\n".utf8))

let remote: RemoteStore
do { remote = try RemoteStore(endpoint: server.httpBase, token: server.token) } catch { fail("\(error)") }
let small = [UInt8](repeating: 0x61, count: 4096)
let session: String
do {
    session = try remote.createSession(name: "transportbench", from: .blank, context: .anonymous, progress: nil).id
    try remote.makeDirectory(session, path: "/dir", parents: true, mode: 0o755, context: .anonymous)
    for i in 0..<100 { try remote.writeFile(session, path: "/dir/f\(i)", data: small, mode: nil, context: .anonymous) }
} catch { fail("setting up: \(error)") }

let metadata: Metadata = ["authorization": "Bearer \(server.token)"]
let operations = ["stat", "read 4 KiB", "write 4 KiB (durable)", "list 100 entries"]
var results: [String: (http: Series, grpc: Series)] = [:]

// HTTP: RemoteStore, exactly what `aether mount` uses.
var http: [String: Series] = [:]
do {
    http["stat"] = try time(options.calls) { i in _ = try remote.stat(session, path: "/dir/f\(i % 100)") }
    http["read 4 KiB"] = try time(options.calls) { i in _ = try remote.readFile(session, path: "/dir/f\(i % 100)", offset: 0, length: nil) }
    http["write 4 KiB (durable)"] = try time(options.calls) { i in
        try remote.writeFile(session, path: "/w/h\(i % 50)", data: small, mode: nil, context: .anonymous)
    }
    http["list 100 entries"] = try time(options.calls) { _ in _ = try remote.list(session, path: "/dir") }
} catch { fail("HTTP: \(error)") }

// gRPC: the generated clients on one HTTP/2 connection, each call bridged like the mount's.
final class GRPCSide: Sendable {
    let files: Aether_V1_Files.Client<HTTP2ClientTransport.Posix>
    init(_ client: GRPCClient<HTTP2ClientTransport.Posix>) { files = .init(wrapping: client) }
}
let grpc: [String: Series]
do {
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: server.grpcPort), transportSecurity: .plaintext)
    let client = GRPCClient(transport: transport)
    let runner = Task(executorPreference: Blocking.executor) { try await client.runConnections() }
    let side = GRPCSide(client)
    let s = session
    let md = metadata
    var out: [String: Series] = [:]
    out["stat"] = try time(options.calls) { i in
        _ = try Blocking.run {
            var r = Aether_V1_StatRequest()
            r.session = s
            r.path = "/dir/f\(i % 100)"
            return try await side.files.stat(r, metadata: md)
        }
    }
    out["read 4 KiB"] = try time(options.calls) { i in
        _ = try Blocking.run {
            var r = Aether_V1_ReadRequest()
            r.session = s
            r.path = "/dir/f\(i % 100)"
            return try await side.files.read(r, metadata: md) { response in
                var data = Data()
                for try await chunk in response.messages { data.append(chunk.data) }
                return data
            }
        }
    }
    let payload = Data(small)
    out["write 4 KiB (durable)"] = try time(options.calls) { i in
        _ = try Blocking.run {
            try await side.files.write(metadata: md) { writer in
                var header = Aether_V1_WriteHeader()
                header.session = s
                header.path = "/w/g\(i % 50)"
                var first = Aether_V1_WriteRequest()
                first.header = header
                try await writer.write(first)
                var body = Aether_V1_WriteRequest()
                body.data = payload
                try await writer.write(body)
            }
        }
    }
    out["list 100 entries"] = try time(options.calls) { _ in
        _ = try Blocking.run {
            var r = Aether_V1_ListRequest()
            r.session = s
            r.path = "/dir"
            return try await side.files.list(r, metadata: md)
        }
    }
    client.beginGracefulShutdown()
    _ = try? Blocking.run { try await runner.value }
    grpc = out
} catch { fail("gRPC: \(error)") }

func f(_ micros: Double) -> String { micros >= 1000 ? String(format: "%.2f ms", micros / 1000) : String(format: "%.0f µs", micros) }

var report = """
    # Mount transport: HTTP or gRPC

    `afs-transportbench --calls \(options.calls)` (Benchmarks/TransportBench): one afs-server on loopback, the
    mount's most frequent calls through each front, synchronously from one thread as the mount makes them
    (`Blocking.run` into AsyncHTTPClient for HTTP/1.1 keep-alive, into the generated grpc-swift 2 clients on
    one HTTP/2 connection for gRPC). \(options.calls) timed calls per row after 20 untimed; ratio = gRPC p50 ÷ HTTP p50.

    | call | HTTP p50 | HTTP p99 | HTTP mean | gRPC p50 | gRPC p99 | gRPC mean | gRPC ÷ HTTP |
    |---|---|---|---|---|---|---|---|

    """
for op in operations {
    guard let h = http[op], let g = grpc[op] else { continue }
    report += "| \(op) | \(f(h.quantile(0.5))) | \(f(h.quantile(0.99))) | \(f(h.mean)) | \(f(g.quantile(0.5))) | \(f(g.quantile(0.99))) | \(f(g.mean)) | \(String(format: "%.2f×", g.quantile(0.5) / h.quantile(0.5))) |\n"
}
let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
report += "\nLoad average at the end: \(load). Build: \((CommandLine.arguments[0] as NSString).deletingLastPathComponent).\n"
print(report)
if let out = options.out {
    do { try report.write(toFile: out, atomically: true, encoding: .utf8) } catch { fail("cannot write \(out): \(error)") }
}
