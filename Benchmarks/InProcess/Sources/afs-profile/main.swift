// afs-profile: one AFSCore operation in a loop, with no harness around it, for profilers.
//   afs-profile fork FILES ITERATIONS          fork a session of FILES synthetic files
//   afs-profile write ITERATIONS               durable 4 KiB writeFile, new path each
//   afs-profile read ITERATIONS                warm readFile of one 1 MiB file (half random, half text)
//   afs-profile ingest-dir DIR [RUNS]          createSession(from: .directory(DIR)) into a fresh store
//   afs-profile ingest-bytes MIB [RUNS]        writeFile of MIB MiB of mixed bytes into a fresh store, RUNS times
//   afs-profile open STOREDIR                  open + sessions() + list + readFile, then VmHWM (as afs-bench's probe)
//   afs-profile build-scale STOREDIR FILES_PER_IMPORT IMPORTS SESSIONS   build a store for `open`
// Setup is done before the line "measure: begin" on stderr, so a profiler can cut there
// (callgrind: --toggle-collect on the operation's function).

import AFSCore
import BenchSupport
import Foundation

func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

func vmHWM() -> String {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    return status.split(separator: "\n").first { $0.hasPrefix("VmHWM") }.map(String.init) ?? "VmHWM: ?"
}

func monotonicSeconds(_ ns: UInt64) -> String { String(format: "%llu.%06llu", ns / 1_000_000_000, (ns % 1_000_000_000) / 1000) }

func timed(_ label: String, _ n: Int, _ body: () throws -> Void) rethrows {
    // CLOCK_MONOTONIC stamps: `perf record -k CLOCK_MONOTONIC` + `perf script --time B,E` cut on them.
    let start = nowNanos()
    log("measure: begin \(label) at \(monotonicSeconds(start))")
    try body()
    let end = nowNanos()
    let ns = end - start
    log(String(format: "measure: end %@ at %@: %d ops, %.1f µs/op, total %.3f s", label, monotonicSeconds(end), n, Double(ns) / Double(max(n, 1)) / 1000, Double(ns) / 1e9))
}

let args = CommandLine.arguments
guard args.count >= 2 else {
    log("usage: afs-profile fork FILES ITER | write ITER | read ITER | ingest-dir DIR [RUNS] | ingest-bytes MIB [RUNS] | open STOREDIR | build-scale STOREDIR FILES IMPORTS SESSIONS")
    exit(2)
}

do {
    switch args[1] {
    case "fork":
        let files = Int(args[2])!, n = Int(args[3])!
        let made = try Fixtures.storeWithTree(files: files)
        try timed("fork", n) { for _ in 0..<n { _ = try made.store.fork(made.session) } }
        try made.store.close()
        Fixtures.remove(made.dir)
    case "write":
        let n = Int(args[2])!
        let dir = Fixtures.scratch("pwrite")
        let store = try AetherStore.open(at: dir + "/store")
        let s = try store.createSession(from: .blank).id
        var rng = SeededBytes(seed: 11)
        var bytes = rng.incompressible(4096)
        try timed("writeFile", n) {
            for i in 0..<n {
                withUnsafeBytes(of: UInt64(i)) { c in for j in 0..<8 { bytes[j] = c[j] } }
                try store.writeFile(s, path: "/f\(i).bin", data: bytes)
            }
        }
        try store.close()
        Fixtures.remove(dir)
    case "read":
        let n = Int(args[2])!
        let dir = Fixtures.scratch("pread")
        let store = try AetherStore.open(at: dir + "/store")
        let s = try store.createSession(from: .blank).id
        var rng = SeededBytes(seed: 13)
        let data = rng.incompressible(512 << 10) + rng.text(512 << 10)
        try store.writeFile(s, path: "/big.bin", data: data)
        _ = try store.checkpoint(s)
        _ = try store.readFile(s, path: "/big.bin")
        var total = 0
        try timed("readFile", n) { for _ in 0..<n { total += try store.readFile(s, path: "/big.bin").count } }
        log("read \(total) bytes")
        try store.close()
        Fixtures.remove(dir)
    case "ingest-dir":
        let tree = args[2], runs = args.count > 3 ? Int(args[3])! : 1
        var stores: [(AetherStore, String)] = []
        for _ in 0..<runs {
            let dir = Fixtures.scratch("pingest")
            stores.append((try AetherStore.open(at: dir + "/store"), dir))
        }
        try timed("ingest-dir", runs) {
            for (store, _) in stores { _ = try store.createSession(from: .directory(tree)) }
        }
        for (store, dir) in stores {
            try store.close()
            Fixtures.remove(dir)
        }
    case "ingest-bytes":
        let mib = Int(args[2])!, runs = args.count > 3 ? Int(args[3])! : 1
        let bytes = Fixtures.mixedBytes(mebibytes: mib, seed: 23)
        var stores: [(AetherStore, String, String)] = []
        for _ in 0..<runs {
            let dir = Fixtures.scratch("pingestb")
            let store = try AetherStore.open(at: dir + "/store")
            stores.append((store, try store.createSession(from: .blank).id, dir))
        }
        try timed("ingest-bytes", runs) {
            for (store, s, _) in stores { try store.writeFile(s, path: "/mixed.bin", data: bytes) }
        }
        for (store, _, dir) in stores {
            try store.close()
            Fixtures.remove(dir)
        }
    case "open":
        // What afs-bench's scale probe does: open, list every session, list one root, read one file.
        var store: AetherStore?
        var count = 0
        try timed("open+sessions+list+read", 1) {
            let opened = try AetherStore.open(at: args[2])
            let all = try opened.sessions()
            count = all.count
            if let first = all.first {
                if let file = try opened.list(first.id).first(where: { $0.kind == .file }) {
                    _ = try opened.readFile(first.id, path: "/" + file.name)
                }
            }
            store = opened
        }
        log("sessions \(count), \(vmHWM())")
        try store!.close()
    case "build-scale":
        let dir = args[2], files = Int(args[3])!, imports = Int(args[4])!, sessions = Int(args[5])!
        let store = try AetherStore.open(at: dir)
        var roots: [String] = []
        for i in 0..<imports {
            let tree = Fixtures.scratch("scale-tree")
            Fixtures.writeSyntheticTree(at: tree, files: files, seed: UInt64(1000 + i))
            roots.append(try store.createSession(from: .directory(tree)).id)
            Fixtures.remove(tree)
            log("imported \(i + 1)/\(imports)")
        }
        for i in roots.count..<sessions { _ = try store.fork(roots[i % roots.count]) }
        log("built: \(try store.stats().chunks) chunks, \(sessions) sessions")
        try store.close()
    default:
        log("unknown mode \(args[1])")
        exit(2)
    }
} catch {
    log("error: \(error)")
    exit(1)
}
