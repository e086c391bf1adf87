// afs-objectbench: the engine on S3 packs (PackChunkStore) next to the embedded segment log, in one run,
// on the same machine, against a real S3 server (SeaweedFS, started by scripts/seaweedfs.sh unless
// --endpoint is given with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
//
//   swift build -c release --product afs-objectbench && .build/release/afs-objectbench [--quick] [--endpoint URL]
//
// Rows (in process; the HTTP rows of the clustered issue need the PostgreSQL catalog):
//   fork            p50/p99 of a durable fork of a 1,000-file session
//   write 4 KiB     p50/p99 of a durable 4 KiB write (acknowledged = in the bucket for S3 packs)
//   ingest          MB/s writing 64 MiB of new data in 8 MiB files
//   cold read       MB/s reading it back with an empty local cache (every record from S3)
//   warm read       MB/s reading it again (local cache)
//   stored/rewrite  bytes stored per rewritten byte, 10 forks × 1 % of 200 × 64 KiB files rewritten
// Prints a Markdown table (Docs/PERFORMANCE.md, "Object storage").

import AFSCore
import AFSObjectStore
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

struct Row {
    var name: String
    var embedded: String
    var s3: String
    var ratio: String
}

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
let root = "/var/tmp/afs-objectbench-\(UUID().uuidString.prefix(8))"
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

// The S3 server: given, or started by the project's script.
var endpoint = arguments.firstIndex(of: "--endpoint").map { arguments[$0 + 1] }
var accessKey = ProcessInfo.processInfo.environment["AWS_ACCESS_KEY_ID"] ?? ""
var secretKey = ProcessInfo.processInfo.environment["AWS_SECRET_ACCESS_KEY"] ?? ""
let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/scripts/seaweedfs.sh"
if endpoint == nil {
    let out = root + "/weed.out"
    FileManager.default.createFile(atPath: out, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = [script, "start", root + "/s3"]
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    try p.run()
    p.waitUntilExit()
    let line = (try String(contentsOfFile: out, encoding: .utf8)).split(separator: "\n").last ?? ""
    var values: [String: String] = [:]
    for pair in line.split(separator: " ") {
        let kv = pair.split(separator: "=", maxSplits: 1)
        if kv.count == 2 { values[String(kv[0])] = String(kv[1]) }
    }
    guard p.terminationStatus == 0, let e = values["S3_ENDPOINT"] else {
        FileHandle.standardError.write(Data("afs-objectbench: could not start SeaweedFS (\(script))\n".utf8))
        exit(1)
    }
    endpoint = e
    accessKey = values["S3_ACCESS_KEY"]!
    secretKey = values["S3_SECRET_KEY"]!
}
defer {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = [script, "stop", root + "/s3"]
    try? p.run()
    p.waitUntilExit()
}

let run = "run-\(UUID().uuidString.prefix(6).lowercased())"
@MainActor func client(_ store: String) throws -> S3Client {
    // One prefix per store: a store's garbage collection owns everything under its prefix.
    let location = try S3Location(url: "s3://aether-bench/\(run)/\(store)?endpoint=\(endpoint!)")
    return S3Client(location: location, credentials: .init(accessKeyID: accessKey, secretAccessKey: secretKey))
}
try client("setup").createBucket()

@MainActor func packs(_ store: String, cache: String) throws -> PackChunkStore {
    var options = PackChunkStore.Options()
    options.cacheDirectory = cache
    return try PackChunkStore.open(client: try client(store), options: options)
}

enum Backend { case embedded, s3 }
@MainActor func openStore(_ b: Backend, _ name: String, cache: String? = nil) throws -> AetherStore {
    switch b {
    case .embedded: return try AetherStore.open(at: root + "/" + name)
    case .s3: return try AetherStore.open(at: root + "/" + name, chunks: try packs(name, cache: cache ?? root + "/cache-" + name))
    }
}

var rows: [Row] = []
func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }
func mbps(_ bytes: Int, _ s: Double) -> String { String(format: "%.0f MB/s", Double(bytes) / s / 1e6) }
func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.1f×", b / a) }

// Fork and durable small writes.
var forkP50: [Backend: Double] = [:], forkP99: [Backend: Double] = [:], writeP50: [Backend: Double] = [:], writeP99: [Backend: Double] = [:]
for b in [Backend.embedded, .s3] {
    let store = try openStore(b, "small-\(b)")
    let base = try store.createSession(from: .blank).id
    for i in 0..<1000 { try store.writeFile(base, path: "/src/f\(i)", data: bytes(200, seed: i)) }
    var forks: [Double] = []
    for _ in 0..<(quick ? 50 : 300) { forks.append(try seconds { _ = try store.fork(base) }) }
    var writes: [Double] = []
    let payload = bytes(4096, seed: 7)
    for i in 0..<(quick ? 50 : 300) {
        var data = payload
        data[0] = UInt8(truncatingIfNeeded: i)
        data[1] = UInt8(truncatingIfNeeded: i >> 8)
        writes.append(try seconds { try store.writeFile(base, path: "/w/\(i)", data: data) })
    }
    forkP50[b] = percentile(forks, 0.5); forkP99[b] = percentile(forks, 0.99)
    writeP50[b] = percentile(writes, 0.5); writeP99[b] = percentile(writes, 0.99)
    try store.close()
}
rows.append(Row(name: "fork (1,000 files), p50 / p99", embedded: "\(ms(forkP50[.embedded]!)) / \(ms(forkP99[.embedded]!))", s3: "\(ms(forkP50[.s3]!)) / \(ms(forkP99[.s3]!))", ratio: ratio(forkP50[.embedded]!, forkP50[.s3]!)))
rows.append(Row(name: "durable 4 KiB write, p50 / p99", embedded: "\(ms(writeP50[.embedded]!)) / \(ms(writeP99[.embedded]!))", s3: "\(ms(writeP50[.s3]!)) / \(ms(writeP99[.s3]!))", ratio: ratio(writeP50[.embedded]!, writeP50[.s3]!)))

// Ingest, cold and warm reads of large files.
let fileCount = quick ? 4 : 8
let fileSize = 8 << 20
let total = fileCount * fileSize
var ingest: [Backend: Double] = [:], cold: [Backend: Double] = [:], warm: [Backend: Double] = [:]
for b in [Backend.embedded, .s3] {
    var store = try openStore(b, "large-\(b)", cache: root + "/cache-large-1")
    let id = try store.createSession(from: .blank).id
    let files = (0..<fileCount).map { bytes(fileSize, seed: 1000 + $0) }
    ingest[b] = try seconds { for (i, f) in files.enumerated() { try store.writeFile(id, path: "/big/\(i)", data: f) } }
    try store.close()
    // A fresh process's view: new store object, empty cache (S3: every record comes from the bucket).
    store = try openStore(b, "large-\(b)", cache: root + "/cache-large-2")
    cold[b] = try seconds { for i in 0..<fileCount { _ = try store.readFile(id, path: "/big/\(i)") } }
    warm[b] = try seconds { for i in 0..<fileCount { _ = try store.readFile(id, path: "/big/\(i)") } }
    try store.close()
}
rows.append(Row(name: "ingest, \(total >> 20) MiB of new data", embedded: mbps(total, ingest[.embedded]!), s3: mbps(total, ingest[.s3]!), ratio: ratio(ingest[.embedded]!, ingest[.s3]!)))
rows.append(Row(name: "cold read (new store object, empty cache)", embedded: mbps(total, cold[.embedded]!), s3: mbps(total, cold[.s3]!), ratio: ratio(cold[.embedded]!, cold[.s3]!)))
rows.append(Row(name: "warm read (S3: local cache)", embedded: mbps(total, warm[.embedded]!), s3: mbps(total, warm[.s3]!), ratio: String(format: "%.0f %% of embedded", warm[.embedded]! / warm[.s3]! * 100)))

// Bytes stored per rewritten byte: 10 forks, 1 % of the files rewritten in each.
var perByte: [Backend: Double] = [:]
for b in [Backend.embedded, .s3] {
    let store = try openStore(b, "delta-\(b)")
    let base = try store.createSession(from: .blank).id
    for i in 0..<200 { try store.writeFile(base, path: "/f\(i)", data: bytes(64 << 10, seed: 5000 + i)) }
    let before = try store.stats().physicalBytes
    var rewritten = 0
    var forks: [String] = []
    for k in 0..<10 {
        let fork = try store.fork(base).id
        forks.append(fork)
        for j in 0..<2 {
            let i = (k * 2 + j) % 200
            var data = try store.readFile(fork, path: "/f\(i)")
            let patch = bytes(4096, seed: 90_000 + k * 10 + j)
            data.replaceSubrange(30_000..<(30_000 + 4096), with: patch)
            try store.writeFile(fork, path: "/f\(i)", data: data)
            rewritten += 4096
        }
    }
    let beforeGC = try store.stats().physicalBytes
    let gc = try store.collectGarbage()
    // Every session must read back whole after the collection.
    for s in [base] + forks { for i in 0..<200 { _ = try store.readFile(s, path: "/f\(i)") } }
    let after = try store.stats().physicalBytes
    _ = (beforeGC, gc)
    perByte[b] = Double(after - before) / Double(rewritten)
    try store.close()
}
rows.append(Row(name: "bytes stored per rewritten byte (10 forks × 1 %)", embedded: String(format: "%.2f", perByte[.embedded]!), s3: String(format: "%.2f", perByte[.s3]!), ratio: "—"))

print("| row | embedded (segment log) | S3 packs (SeaweedFS, loopback) | S3 vs embedded |")
print("|---|---:|---:|---:|")
for r in rows { print("| \(r.name) | \(r.embedded) | \(r.s3) | \(r.ratio) |") }
