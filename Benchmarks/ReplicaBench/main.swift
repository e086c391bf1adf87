// afs-replicabench: several afs-server replicas on one PostgreSQL catalog and one S3 prefix, behind a real
// load balancer (nginx, round robin), clients driving mixed reads, writes and forks for a bounded time
// while one replica is killed with SIGKILL and restarted. Every server is real: PostgreSQL 15
// (scripts/postgres.sh), S3 (SeaweedFS, scripts/seaweedfs.sh), nginx from Debian.
//
//   swift build -c release --product afs-replicabench --product afs-server
//   .build/release/afs-replicabench [--seconds 60] [--replicas 3] [--clients 6] [--json]
//
// The run has three equal phases: before (all replicas up), during (one replica killed at its start and
// restarted at its end) and after. For each: requests/s, p50/p99 latency and failed requests (a failure is
// a request whose outcome the client cannot know: 502/503 while a replica dies; it is retried by real
// clients). At the end every acknowledged write is read back through the balancer: "lost" must be 0.
// Prints a Markdown table (Docs/PERFORMANCE.md, "Replicas").

import AFSClient
import AFSCore
import AFSObjectStore
import AFSSupport
import Foundation
import Synchronization

struct BenchFailure: Error, CustomStringConvertible { let description: String }

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int { arguments.firstIndex(of: name).flatMap { Int(arguments[$0 + 1]) } ?? fallback }
let seconds = option("--seconds", 60)
let replicaCount = max(2, option("--replicas", 3))
let clientCount = max(1, option("--clients", 6))
let json = arguments.contains("--json")
let products = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let root = "/var/tmp/afs-replicabench-\(UUID().uuidString.prefix(8))"
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)

func say(_ line: String) { FileHandle.standardError.write(Data("afs-replicabench: \(line)\n".utf8)) }

/// Runs a project script (`start DIR` / `stop DIR`) and returns the assignments it printed last.
func script(_ name: String, _ args: [String]) throws -> [String: String] {
    let result = try Command("/bin/bash", [repository + "/scripts/\(name).sh"] + args).run(timeout: .seconds(300))
    guard result.status == 0 else { throw BenchFailure(description: "scripts/\(name).sh \(args.joined(separator: " ")) failed: \(result.stdoutText)\(result.stderrText)") }
    var values: [String: String] = [:]
    for pair in (result.stdoutText.split(separator: "\n").last ?? "").split(separator: " ") {
        let kv = pair.split(separator: "=", maxSplits: 1)
        if kv.count == 2 { values[String(kv[0])] = String(kv[1]) }
    }
    return values
}

/// One replica: its data directory and port stay the same across a kill and restart.
final class Replica: @unchecked Sendable {
    // @unchecked: started and killed by the driving thread only.
    let index: Int
    let port: Int
    let arguments: [String]
    let environment: [String: String]
    private var running: Command.Running?
    var endpoint: String { "http://127.0.0.1:\(port)" }

    init(index: Int, arguments: [String], environment: [String: String]) throws {
        guard let port = HostPort.freeLoopbackPort() else { throw BenchFailure(description: "no free loopback port") }
        self.index = index
        self.port = port
        self.arguments = arguments
        self.environment = environment
    }

    func start() throws {
        var command = Command(
            products + "/afs-server",
            ["--data", root + "/r\(index)", "--http", "127.0.0.1:\(port)", "--grpc", "127.0.0.1:0"] + arguments)
        command.environment = environment
        command.stdout = .appendTo(root + "/r\(index).log")
        command.stderr = .appendTo(root + "/r\(index).log")
        command.newSession = true
        running = try command.spawn()
        let probe = try RemoteStore(endpoint: endpoint, token: nil, timeout: 2, connectTimeout: 0.5)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if (try? probe.health()) != nil { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw BenchFailure(description: "replica \(index) did not answer within 60 s; see \(root)/r\(index).log")
    }

    func kill(_ signal: Int32 = SIGKILL) {
        running?.terminate(signal)
        _ = try? running?.wait(timeout: .seconds(30))
        running = nil
    }
}

/// nginx in front of the replicas: round robin, a failed connection tried on the next replica.
final class Balancer: @unchecked Sendable {
    // @unchecked: started and stopped by the driving thread only.
    let port: Int
    private var running: Command.Running?
    var endpoint: String { "http://127.0.0.1:\(port)" }

    init(upstreams: [Int]) throws {
        guard let port = HostPort.freeLoopbackPort() else { throw BenchFailure(description: "no free loopback port") }
        self.port = port
        let servers = upstreams.map { "    server 127.0.0.1:\($0) max_fails=1 fail_timeout=1s;" }.joined(separator: "\n")
        let config = """
            worker_processes 1;
            daemon off;
            pid \(root)/nginx.pid;
            error_log \(root)/nginx.log warn;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_max_body_size 0;
              client_body_temp_path \(root)/nginx-body;
              proxy_temp_path \(root)/nginx-proxy;
              proxy_request_buffering off;
              proxy_buffering off;
              upstream afs {
            \(servers)
                keepalive 64;
              }
              server {
                listen 127.0.0.1:\(port);
                location / {
                  proxy_pass http://afs;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_next_upstream error timeout;
                  proxy_connect_timeout 1s;
                  proxy_read_timeout 120s;
                }
              }
            }
            """
        try config.write(toFile: root + "/nginx.conf", atomically: true, encoding: .utf8)
        var command = Command("nginx", ["-c", root + "/nginx.conf", "-p", root])
        command.stdout = .appendTo(root + "/nginx.log")
        command.stderr = .appendTo(root + "/nginx.log")
        command.newSession = true
        running = try command.spawn()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let probe = try RemoteStore(endpoint: endpoint, token: nil, timeout: 2, connectTimeout: 0.5)
            if (try? probe.health()) != nil { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw BenchFailure(description: "nginx did not answer; see \(root)/nginx.log")
    }

    func stop() {
        running?.terminate(SIGQUIT)
        _ = try? running?.wait(timeout: .seconds(10))
    }
}

/// One request as a client saw it.
struct Sample: Sendable {
    var at: Double
    var latency: Double
    var ok: Bool
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

// The backends.
say("starting PostgreSQL and SeaweedFS (scripts/postgres.sh, scripts/seaweedfs.sh)")
let pg = try script("postgres", ["start", root + "/pg"])
let s3 = try script("seaweedfs", ["start", root + "/s3"])
defer {
    _ = try? script("seaweedfs", ["stop", root + "/s3"])
    _ = try? script("postgres", ["stop", root + "/pg"])
}
guard let pgURL = pg["PG_URL"], let endpoint = s3["S3_ENDPOINT"], let key = s3["S3_ACCESS_KEY"], let secret = s3["S3_SECRET_KEY"] else {
    throw BenchFailure(description: "the backend scripts printed no addresses: \(pg) \(s3)")
}
try S3Client(location: try S3Location(url: "s3://aether-replicas?endpoint=\(endpoint)"), credentials: .init(accessKeyID: key, secretAccessKey: secret))
    .createBucket()
let storeArguments = ["--catalog", pgURL + "?sslmode=disable", "--objects", "s3://aether-replicas/bench?endpoint=\(endpoint)"]
let storeEnvironment = ["AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AFS_RATE_LIMIT": "0"]

say("starting \(replicaCount) replicas and nginx")
var replicas: [Replica] = []
for i in 0..<replicaCount {
    let replica = try Replica(index: i, arguments: storeArguments, environment: storeEnvironment)
    try replica.start()
    replicas.append(replica)
}
defer { for r in replicas { r.kill(SIGTERM) } }
let balancer = try Balancer(upstreams: replicas.map(\.port))
defer { balancer.stop() }
let token = try String(contentsOfFile: root + "/r0/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
let setup = try RemoteStore(endpoint: balancer.endpoint, token: token)

// A base of 200 files; each client works in its own fork (so sessions land on every replica).
let base = try setup.createSession(name: "base", from: .blank, context: .anonymous, progress: nil)
for i in 0..<200 {
    try setup.writeFile(base.id, path: "/src/f\(i).txt", data: Array("base file \(i)\n".utf8), mode: nil, context: .anonymous)
}
var forks: [String] = []
for c in 0..<clientCount { forks.append(try setup.fork(base.id, name: "client-\(c)", context: .anonymous).id) }
let sessions = forks

let start = Date()
let phase = Double(seconds) / 3
let samples = Locked<[Sample]>([])
let acknowledged = Locked<[(session: String, path: String, data: [UInt8])]>([])
let stale = Atomic<Int>(0)
let stop = Atomic<Bool>(false)
let clients = DispatchGroup()
for c in 0..<clientCount {
    DispatchQueue.global().async(group: clients) {
        guard let store = try? RemoteStore(endpoint: balancer.endpoint, token: token, timeout: 60, connectTimeout: 2) else { return }
        var rng = SplitMix64(seed: UInt64(c + 1))
        var mine: [(String, [UInt8])] = []
        var n = 0
        while !stop.load(ordering: .acquiring) {
            n += 1
            let roll = rng.next() % 100
            let t0 = Date()
            var ok = true
            do {
                if roll < 45, let (path, data) = mine.isEmpty ? nil : mine[Int(rng.next() % UInt64(mine.count))] {
                    // Read-your-writes through the balancer: any replica must answer with the acknowledged bytes.
                    if try store.readFile(sessions[c], path: path, offset: 0, length: nil) != data { stale.add(1, ordering: .relaxed) }
                } else if roll < 50 {
                    _ = try store.readFile(sessions[c], path: "/src/f\(rng.next() % 200).txt", offset: 0, length: nil)
                } else if roll < 95 {
                    let path = "/out/w\(n).txt"
                    let data = Array("client \(c) write \(n) \(rng.next())\n".utf8)
                    try store.writeFile(sessions[c], path: path, data: data, mode: nil, context: .anonymous)
                    mine.append((path, data))
                    acknowledged.withLock { $0.append((sessions[c], path, data)) }
                } else {
                    _ = try store.fork(sessions[c], name: nil, context: .anonymous)
                }
            } catch {
                ok = false
            }
            let t1 = Date()
            samples.withLock { $0.append(Sample(at: t0.timeIntervalSince(start), latency: t1.timeIntervalSince(t0), ok: ok)) }
        }
    }
}

say("running \(seconds) s: replica 1 is killed at \(Int(phase)) s and restarted at \(Int(2 * phase)) s")
Thread.sleep(until: start.addingTimeInterval(phase))
replicas[1].kill()
Thread.sleep(until: start.addingTimeInterval(2 * phase))
let restartBegan = Date()
try replicas[1].start()
let restartSeconds = Date().timeIntervalSince(restartBegan)
Thread.sleep(until: start.addingTimeInterval(3 * phase))
stop.store(true, ordering: .releasing)
clients.wait()

say("reading back every acknowledged write")
var lost = 0
for (session, path, data) in acknowledged.withLock({ $0 }) {
    if (try? setup.readFile(session, path: path, offset: 0, length: nil)) != data { lost += 1 }
}

let all = samples.withLock { $0 }
var rows: [[String: Any]] = []
var table = "| phase | requests/s | p50 ms | p99 ms | failed |\n|---|---|---|---|---|\n"
for (name, range) in [("before", 0..<phase), ("during (replica 1 down, then restarting)", phase..<(2 * phase)), ("after", (2 * phase)..<(3 * phase + 1))] {
    let inPhase = all.filter { range.contains($0.at) }
    let done = inPhase.filter(\.ok).map(\.latency).sorted()
    let rate = Double(done.count) / phase
    let failed = inPhase.count - done.count
    table += "| \(name) | \(Int(rate)) | \(String(format: "%.1f", percentile(done, 0.5) * 1000)) | \(String(format: "%.1f", percentile(done, 0.99) * 1000)) | \(failed) |\n"
    rows.append(["phase": name, "requests_per_second": rate, "p50_ms": percentile(done, 0.5) * 1000, "p99_ms": percentile(done, 0.99) * 1000, "failed": failed])
}
let writes = acknowledged.withLock { $0.count }
if json {
    let report: [String: Any] = [
        "replicas": replicaCount, "clients": clientCount, "seconds": seconds, "phases": rows, "writes_acknowledged": writes, "writes_lost": lost,
        "stale_reads": stale.load(ordering: .relaxed), "restart_seconds": restartSeconds,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
} else {
    print("\(replicaCount) replicas behind nginx, \(clientCount) clients, \(seconds) s (45 % reads of own writes, 5 % base reads, 45 % writes, 5 % forks)\n")
    print(table)
    print("acknowledged writes: \(writes), lost: \(lost), stale reads: \(stale.load(ordering: .relaxed)), replica restart to healthy: \(String(format: "%.2f", restartSeconds)) s")
}
try? FileManager.default.removeItem(atPath: root + "/r0")
if lost > 0 || stale.load(ordering: .relaxed) > 0 { exit(1) }
