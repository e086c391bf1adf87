// afs-objectbench: the clustered backend next to the embedded store, in one run, on one machine, against
// real servers: PostgreSQL 15 (scripts/postgres.sh) and S3 (SeaweedFS, scripts/seaweedfs.sh, unless
// --endpoint is given with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
//
//   swift build -c release --product afs-objectbench && swift build -c release --product afs-server && .build/release/afs-objectbench [--quick]
//
// Three stores in process: embedded (segment log, SQLite, journal files), S3 packs (records in the bucket,
// catalog and journals local), clustered (records in the bucket, catalog and journals in PostgreSQL). Then
// two afs-server processes (embedded, clustered) over HTTP on loopback.
// Rows:
//   fork            p50/p99 of a durable fork of a 1,000-file session
//   write 4 KiB     p50/p99 of a durable 4 KiB write (acknowledged = in the shared backends when clustered)
//   ingest          MB/s writing 64 MiB of new data in 8 MiB files
//   cold read       MB/s reading it back with an empty local cache (every record from S3)
//   warm read       MB/s reading it again (local cache)
//   stored/rewrite  bytes stored per rewritten byte, 10 forks × 1 % of 200 × 64 KiB files rewritten
//                   (whole files), and the same with 4 KiB patches inside files (content-defined chunks
//                   of 16 KiB on average: a patch costs its chunk)
// Prints Markdown tables (Docs/PERFORMANCE.md, "Clustered backend").

import AFSClient
import AFSCore
import AFSObjectStore
import AFSPostgres
import Foundation

func percentile(_ samples: [Double], _ p: Double) -> Double {
    let sorted = samples.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func bytes(_ n: Int, seed: Int) -> [UInt8] {
    var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<n).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

/// Runs a project script (`start DIR` / `stop DIR`) and returns the assignments it printed last.
@MainActor func script(_ name: String, _ arguments: [String]) throws -> [String: String] {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        + "/scripts/\(name).sh"
    let out = root + "/\(name)-\(UUID().uuidString.prefix(4)).out"
    FileManager.default.createFile(atPath: out, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = [path] + arguments
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    p.standardError = p.standardOutput
    try p.run()
    p.waitUntilExit()
    let text = try String(contentsOfFile: out, encoding: .utf8)
    guard p.terminationStatus == 0 else {
        FileHandle.standardError.write(Data("afs-objectbench: \(path) \(arguments.joined(separator: " ")) failed:\n\(text)".utf8))
        exit(1)
    }
    var values: [String: String] = [:]
    for pair in (text.split(separator: "\n").last ?? "").split(separator: " ") {
        let kv = pair.split(separator: "=", maxSplits: 1)
        if kv.count == 2 { values[String(kv[0])] = String(kv[1]) }
    }
    return values
}

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
let root = "/var/tmp/afs-objectbench-\(UUID().uuidString.prefix(8))"
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)

// The backends: S3 given or started, PostgreSQL started.
var endpoint = arguments.firstIndex(of: "--endpoint").map { arguments[$0 + 1] }
var accessKey = ProcessInfo.processInfo.environment["AWS_ACCESS_KEY_ID"] ?? ""
var secretKey = ProcessInfo.processInfo.environment["AWS_SECRET_ACCESS_KEY"] ?? ""
let startedS3 = endpoint == nil
if endpoint == nil {
    let values = try script("seaweedfs", ["start", root + "/s3"])
    endpoint = values["S3_ENDPOINT"]
    accessKey = values["S3_ACCESS_KEY"]!
    secretKey = values["S3_SECRET_KEY"]!
}
let pgURL = try script("postgres", ["start", root + "/pg"])["PG_URL"]!
@MainActor func stopBackends() {
    if startedS3 { _ = try? script("seaweedfs", ["stop", root + "/s3"]) }
    _ = try? script("postgres", ["stop", root + "/pg"])
    try? FileManager.default.removeItem(atPath: root)
}

let run = "run-\(UUID().uuidString.prefix(6).lowercased())"
@MainActor func client(_ store: String) throws -> S3Client {
    // One prefix per store: a store's garbage collection owns everything under its prefix.
    let location = try S3Location(url: "s3://aether-bench/\(run)/\(store)?endpoint=\(endpoint!)")
    return S3Client(location: location, credentials: .init(accessKeyID: accessKey, secretAccessKey: secretKey))
}
try client("setup").createBucket()

/// A fresh PostgreSQL database per store.
var databases = 0
@MainActor func newDatabase() throws -> PostgresBackend {
    databases += 1
    let name = "bench_\(databases)"
    let psql = Process()
    psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
    psql.arguments = [pgURL, "-qc", "CREATE DATABASE \(name)"]
    try psql.run()
    psql.waitUntilExit()
    let url = String(pgURL[..<pgURL.index(after: pgURL.lastIndex(of: "/")!)]) + name + "?sslmode=disable"
    return try PostgresBackend.connect(try PostgresLocation(parsing: url))
}

enum Backend: CaseIterable { case embedded, s3, clustered }
/// Databases by store name, so a reopen (cold read) finds the same one.
var catalogs: [String: PostgresBackend] = [:]
@MainActor func openStore(_ b: Backend, _ name: String, cache: String? = nil) throws -> AetherStore {
    var options = PackChunkStore.Options()
    options.cacheDirectory = cache ?? root + "/cache-" + name
    switch b {
    case .embedded:
        return try AetherStore.open(at: root + "/" + name)
    case .s3:
        return try AetherStore.open(at: root + "/" + name, chunks: try PackChunkStore.open(client: try client(name), options: options))
    case .clustered:
        let backend = try catalogs[name] ?? newDatabase()
        catalogs[name] = backend
        let packs = try PackChunkStore.open(client: try client(name), owner: try backend.storeIdentity(), options: options)
        // A new directory each time: nothing the store needs lives there.
        return try AetherStore.open(
            at: root + "/" + name + "-" + UUID().uuidString.prefix(4), chunks: packs, catalog: PostgresCatalog(backend: backend),
            journals: PostgresJournalStore(backend: backend))
    }
}

struct Row {
    var name: String
    var values: [String]
    var note: String
}
var rows: [Row] = []
func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }
func mbps(_ bytes: Int, _ s: Double) -> String { String(format: "%.0f MB/s", Double(bytes) / s / 1e6) }
func latency(_ samples: [Double]) -> String { "\(ms(percentile(samples, 0.5))) / \(ms(percentile(samples, 0.99)))" }
let iterations = quick ? 50 : 300

// Fork and durable small writes, in process.
var forks: [Backend: [Double]] = [:], writes: [Backend: [Double]] = [:]
for b in Backend.allCases {
    let store = try openStore(b, "small-\(b)")
    let base = try store.createSession(from: .blank).id
    for i in 0..<1000 { try store.writeFile(base, path: "/src/f\(i)", data: bytes(200, seed: i)) }
    for _ in 0..<iterations { forks[b, default: []].append(try seconds { _ = try store.fork(base) }) }
    let payload = bytes(4096, seed: 7)
    for i in 0..<iterations {
        var data = payload
        data[0] = UInt8(truncatingIfNeeded: i)
        data[1] = UInt8(truncatingIfNeeded: i >> 8)
        writes[b, default: []].append(try seconds { try store.writeFile(base, path: "/w/\(i)", data: data) })
    }
    try store.close()
}
rows.append(Row(name: "fork (1,000 files), p50 / p99", values: Backend.allCases.map { latency(forks[$0]!) }, note: ""))
rows.append(Row(name: "durable 4 KiB write, p50 / p99", values: Backend.allCases.map { latency(writes[$0]!) }, note: ""))

// Ingest, cold and warm reads of large files.
let fileCount = quick ? 4 : 8
let fileSize = 8 << 20
let total = fileCount * fileSize
var ingest: [Backend: Double] = [:], cold: [Backend: Double] = [:], warm: [Backend: Double] = [:]
for b in Backend.allCases {
    var store = try openStore(b, "large-\(b)", cache: root + "/cache-large-1-\(b)")
    let id = try store.createSession(from: .blank).id
    let files = (0..<fileCount).map { bytes(fileSize, seed: 1000 + $0) }
    ingest[b] = try seconds { for (i, f) in files.enumerated() { try store.writeFile(id, path: "/big/\(i)", data: f) } }
    try store.close()
    // A fresh process's view: new store object, empty cache (S3: every record comes from the bucket).
    store = try openStore(b, "large-\(b)", cache: root + "/cache-large-2-\(b)")
    cold[b] = try seconds { for i in 0..<fileCount { _ = try store.readFile(id, path: "/big/\(i)") } }
    warm[b] = try seconds { for i in 0..<fileCount { _ = try store.readFile(id, path: "/big/\(i)") } }
    try store.close()
}
rows.append(Row(name: "ingest, \(total >> 20) MiB of new data", values: Backend.allCases.map { mbps(total, ingest[$0]!) }, note: ""))
rows.append(Row(name: "cold read (new store object, empty cache)", values: Backend.allCases.map { mbps(total, cold[$0]!) }, note: ""))
rows.append(Row(
    name: "warm read (S3: local cache)", values: Backend.allCases.map { mbps(total, warm[$0]!) },
    note: String(format: "clustered %.0f %% of embedded", warm[.embedded]! / warm[.clustered]! * 100)))

// Bytes stored per rewritten byte: 10 forks, 1 % of the files rewritten in each (whole, or a 4 KiB patch).
for patch in [false, true] {
    var perByte: [Backend: Double] = [:]
    for b in Backend.allCases {
        let store = try openStore(b, "delta-\(patch)-\(b)")
        let base = try store.createSession(from: .blank).id
        for i in 0..<200 { try store.writeFile(base, path: "/f\(i)", data: bytes(64 << 10, seed: 5000 + i)) }
        let before = try store.stats().physicalBytes
        var rewritten = 0
        var sessions = [base]
        for k in 0..<10 {
            let fork = try store.fork(base).id
            sessions.append(fork)
            for j in 0..<2 {
                let i = (k * 2 + j) % 200
                var data = try store.readFile(fork, path: "/f\(i)")
                if patch {
                    data.replaceSubrange(30_000..<(30_000 + 4096), with: bytes(4096, seed: 90_000 + k * 10 + j))
                    rewritten += 4096
                } else {
                    data = bytes(64 << 10, seed: 90_000 + k * 10 + j)
                    rewritten += data.count
                }
                try store.writeFile(fork, path: "/f\(i)", data: data)
            }
            // What a session's owner does when its work is done: a checkpoint folds it into its tree.
            _ = try store.checkpoint(fork)
        }
        _ = try store.collectGarbage()
        // Every session must read back whole after the collection.
        for s in sessions { for i in 0..<200 { _ = try store.readFile(s, path: "/f\(i)") } }
        perByte[b] = Double(try store.stats().physicalBytes - before) / Double(rewritten)
        try store.close()
    }
    rows.append(Row(
        name: patch ? "bytes stored per rewritten byte (10 forks × 1 %, 4 KiB patches)" : "bytes stored per rewritten byte (10 forks × 1 % of files)",
        values: Backend.allCases.map { String(format: "%.2f", perByte[$0]!) },
        note: patch ? "a patch costs the ~16 KiB chunk around it" : ""))
}

print("| in process | embedded | S3 packs, local catalog | clustered (PostgreSQL + S3) | |")
print("|---|---:|---:|---:|---|")
for r in rows { print("| \(r.name) | \(r.values.joined(separator: " | ")) | \(r.note) |") }

// Over HTTP: afs-server on each store, the client in this process (RemoteStore over loopback).
let serverBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path + "/afs-server"
guard FileManager.default.isExecutableFile(atPath: serverBinary) else {
    print("\n(no \(serverBinary): build it with --product afs-server for the HTTP rows)")
    stopBackends()
    exit(0)
}
var httpRows: [(String, String, String)] = []
var httpForks: [Bool: [Double]] = [:], httpWrites: [Bool: [Double]] = [:]
for clustered in [false, true] {
    let data = root + "/server-\(clustered)"
    var args = ["--data", data, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"]
    var env = ProcessInfo.processInfo.environment
    env["AFS_RATE_LIMIT"] = "0"
    if clustered {
        let backend = try newDatabase()
        let url = "postgres://postgres@127.0.0.1:\(backend.location.port)/\(backend.location.database)?sslmode=disable"
        backend.close()
        args += ["--catalog", url, "--objects", "s3://aether-bench/\(run)/server?endpoint=\(endpoint!)"]
        env["AWS_ACCESS_KEY_ID"] = accessKey
        env["AWS_SECRET_ACCESS_KEY"] = secretKey
    }
    let server = Process()
    server.executableURL = URL(fileURLWithPath: serverBinary)
    server.arguments = args
    server.environment = env
    let out = Pipe()
    server.standardOutput = out
    server.standardError = FileHandle.nullDevice
    try server.run()
    var banner = ""
    while banner.range(of: #"try: .*http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) == nil {
        let chunk = out.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        banner += String(decoding: chunk, as: UTF8.self)
    }
    guard let range = banner.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
        print("afs-server did not start: \(banner)")
        stopBackends()
        exit(1)
    }
    let token = try String(contentsOfFile: data + "/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    let remote = try RemoteStore(endpoint: String(banner[range]), token: token)
    let base = try remote.createSession(name: nil, from: .blank, context: .anonymous, progress: nil).id
    for i in 0..<200 { try remote.writeFile(base, path: "/src/f\(i)", data: bytes(200, seed: i), mode: nil, context: .anonymous) }
    for _ in 0..<iterations { httpForks[clustered, default: []].append(try seconds { _ = try remote.fork(base, name: nil, context: .anonymous) }) }
    let payload = bytes(4096, seed: 8)
    for i in 0..<iterations {
        var d = payload
        d[0] = UInt8(truncatingIfNeeded: i)
        d[1] = UInt8(truncatingIfNeeded: i >> 8)
        httpWrites[clustered, default: []].append(try seconds { try remote.writeFile(base, path: "/w/\(i)", data: d, mode: nil, context: .anonymous) })
    }
    try remote.close()
    server.terminate()
    server.waitUntilExit()
}
print("\n| over HTTP (loopback) | afs-server, embedded | afs-server, clustered (PostgreSQL + S3) |")
print("|---|---:|---:|")
print("| fork (200 files), p50 / p99 | \(latency(httpForks[false]!)) | \(latency(httpForks[true]!)) |")
print("| durable 4 KiB write, p50 / p99 | \(latency(httpWrites[false]!)) | \(latency(httpWrites[true]!)) |")
for (_, backend) in catalogs { backend.close() }
stopBackends()
