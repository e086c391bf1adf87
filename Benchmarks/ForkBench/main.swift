// afs-bench: how fast an AetherFS fork is, and what a forked workspace costs on disk, next to
// the baselines people actually use (`cp -a`, `git worktree add`), measured in the same run on
// the same file system.
//
//   afs-bench [--quick] [--repo DIR] [--work DIR] [--json FILE]
//
// Progress goes to stderr, markdown tables to stdout, every figure to FILE with --json.
// Everything is created in a fresh directory (under --work DIR, default /var/tmp) that is
// removed at the end.

import AFSCore
import Foundation

// MARK: - Small utilities

/// Deterministic, fast PRNG (SplitMix64), so trees and edits are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// 0..<n (modulo bias is irrelevant here).
    mutating func uniform(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func describe(_ error: any Error) -> String {
    if let e = error as? AFSError { return "AFSError(\(e.code.rawValue)): \(e.message)" }
    return "\(error)"
}

func log(_ line: String) {
    FileHandle.standardError.write(Data(("[afs-bench] " + line + "\n").utf8))
}

func micros(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) * 1e6 + Double(c.attoseconds) / 1e12
}

func pad(_ n: Int, _ width: Int) -> String {
    let s = String(n)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

func fmtTime(_ us: Double) -> String {
    if us < 1000 { return String(format: "%.0f µs", us) }
    if us < 1_000_000 { return String(format: "%.2f ms", us / 1000) }
    return String(format: "%.2f s", us / 1e6)
}

func fmtBytes(_ b: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = b
    var i = 0
    while abs(v) >= 1024 && i < units.count - 1 {
        v /= 1024
        i += 1
    }
    return i == 0 ? String(format: "%.0f B", v) : String(format: "%.1f", v) + " " + units[i]
}

func fmtRatio(_ r: Double?) -> String {
    guard let r, r.isFinite else { return "n/a" }
    if r >= 100 { return String(format: "%.0f×", r) }
    if r >= 10 { return String(format: "%.1f×", r) }
    return String(format: "%.2f×", r)
}

func fmtNumber(_ r: Double?, digits: Int = 2) -> String {
    guard let r, r.isFinite else { return "n/a" }
    return String(format: "%.\(digits)f", r)
}

/// p50 / min / max of a set of samples (microseconds).
struct Summary {
    var p50: Double
    var min: Double
    var max: Double
    var samples: [Double]

    init?(_ xs: [Double]) {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        let mid = s.count / 2
        p50 = s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
        min = s[0]
        max = s[s.count - 1]
        samples = xs
    }

    var json: JSON {
        .object([
            ("p50_us", .double(p50)), ("min_us", .double(min)), ("max_us", .double(max)),
            ("runs", .int(Int64(samples.count))), ("samples_us", .array(samples.map { .double($0) })),
        ])
    }
}

// MARK: - JSON (ordered keys, explicit nulls)

indirect enum JSON {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    static func opt(_ d: Double?) -> JSON { d.map { .double($0) } ?? .null }
    static func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
    static func opt(_ s: Summary?) -> JSON { s?.json ?? .null }

    func render(_ indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            guard d.isFinite else { return "null" }
            if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
            return abs(d) >= 1 ? String(format: "%.3f", d) : String(format: "%.6g", d)
        case .string(let s): return JSON.quote(s)
        case .array(let xs):
            if xs.isEmpty { return "[]" }
            if xs.allSatisfy({ if case .double = $0 { return true }; if case .int = $0 { return true }; return false }) {
                return "[" + xs.map { $0.render(indent + 1) }.joined(separator: ", ") + "]"
            }
            return "[\n" + xs.map { pad + $0.render(indent + 1) }.joined(separator: ",\n") + "\n" + closePad + "]"
        case .object(let kv):
            if kv.isEmpty { return "{}" }
            return "{\n" + kv.map { pad + JSON.quote($0.0) + ": " + $0.1.render(indent + 1) }.joined(separator: ",\n") + "\n" + closePad + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

// MARK: - External tools

func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") where !dir.isEmpty {
        let candidate = String(dir) + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

struct ProcResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// Wall time from launch to exit.
    var micros: Double
    var ok: Bool { status == 0 }
    var errorLine: String {
        let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "exit status \(status)" : String(text.split(separator: "\n").last ?? "") + " (exit \(status))"
    }
}

/// Runs a program found on PATH through /usr/bin/env, with arguments as an array (no shell).
/// Output goes to temporary files, so large output cannot block the child.
func runTool(_ args: [String], cwd: String? = nil) -> ProcResult {
    guard let tool = args.first, which(tool) != nil else {
        return ProcResult(status: 127, stdout: "", stderr: "\(args.first ?? "?"): not found on PATH", micros: 0)
    }
    let fm = FileManager.default
    let base = NSTemporaryDirectory() + "/afs-bench-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    let outPath = base + ".out"
    let errPath = base + ".err"
    _ = fm.createFile(atPath: outPath, contents: nil)
    _ = fm.createFile(atPath: errPath, contents: nil)
    defer {
        try? fm.removeItem(atPath: outPath)
        try? fm.removeItem(atPath: errPath)
    }
    guard let outH = FileHandle(forWritingAtPath: outPath), let errH = FileHandle(forWritingAtPath: errPath) else {
        return ProcResult(status: -1, stdout: "", stderr: "cannot create temporary files for \(tool)", micros: 0)
    }
    let p = Process()
    if fm.isExecutableFile(atPath: "/usr/bin/env") {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
    } else {
        p.executableURL = URL(fileURLWithPath: which(tool)!)
        p.arguments = Array(args.dropFirst())
    }
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = outH
    p.standardError = errH
    let clock = ContinuousClock()
    let t0 = clock.now
    do {
        try p.run()
    } catch {
        try? outH.close()
        try? errH.close()
        return ProcResult(status: -1, stdout: "", stderr: "cannot run \(tool): \(error)", micros: 0)
    }
    p.waitUntilExit()
    let elapsed = micros(clock.now - t0)
    try? outH.close()
    try? errH.close()
    let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return ProcResult(status: status, stdout: out, stderr: err, micros: elapsed)
}

struct Tools {
    let cp = which("cp") != nil
    let git = which("git") != nil
    let du = which("du") != nil
    let sync = which("sync") != nil
    let df = which("df") != nil
    let uname = which("uname") != nil
}

/// Flushes dirty pages so each timed run starts from the same state (not counted).
func syncDisk(_ tools: Tools) {
    if tools.sync { _ = runTool(["sync"]) }
}

/// `du -sb` (apparent bytes) or `du -s -B1` (allocated bytes) of a path.
func duBytes(_ path: String, allocated: Bool, tools: Tools) -> Int64? {
    guard tools.du else { return nil }
    let r = runTool(allocated ? ["du", "-s", "-B1", path] : ["du", "-sb", path])
    guard r.ok, let first = r.stdout.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first else { return nil }
    return Int64(first)
}

func removeTree(_ path: String) {
    let fm = FileManager.default
    guard fm.fileExists(atPath: path) else { return }
    do {
        try fm.removeItem(atPath: path)
    } catch {
        // Read-only directories (e.g. git objects) can defeat removeItem; rm -rf copes after chmod.
        _ = runTool(["chmod", "-R", "u+rwX", path])
        let r = runTool(["rm", "-rf", path])
        if !r.ok { log("warning: could not remove \(path): \(r.errorLine)") }
    }
}

/// Apparent bytes of every regular file under `path`, skipping the named top-level entries.
func apparentBytes(_ path: String, excluding: Set<String> = []) -> Int64 {
    let fm = FileManager.default
    guard let top = try? fm.contentsOfDirectory(atPath: path) else { return 0 }
    var total: Int64 = 0
    for name in top where !excluding.contains(name) {
        let full = path + "/" + name
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: full, isDirectory: &isDir) else { continue }
        if isDir.boolValue {
            if let e = fm.enumerator(atPath: full) {
                while let rel = e.nextObject() as? String {
                    if let attrs = try? fm.attributesOfItem(atPath: full + "/" + rel),
                       attrs[.type] as? FileAttributeType == .typeRegular,
                       let size = attrs[.size] as? NSNumber {
                        total += size.int64Value
                    }
                }
            }
        } else if let attrs = try? fm.attributesOfItem(atPath: full), let size = attrs[.size] as? NSNumber {
            total += size.int64Value
        }
    }
    return total
}

// MARK: - Synthetic trees

enum Vocabulary {
    static let words: [[UInt8]] = [
        "let", "var", "func", "return", "if", "else", "for", "in", "while", "struct", "class", "enum",
        "import", "public", "private", "static", "self", "true", "false", "nil", "guard", "throw", "try",
        "buffer", "index", "count", "value", "result", "error", "session", "chunk", "tree", "node",
        "path", "file", "data", "offset", "length", "segment", "record", "hash", "digest", "commit",
        "branch", "merge", "fork", "write", "read", "close", "open", "sync", "flush", "journal",
        "the", "a", "of", "to", "and", "is", "that", "this", "with", "from", "when", "each", "every",
        "{", "}", "(", ")", "=", "==", "+", "-", "*", "//", "->", ":", ",", "0", "1", "42", "1024",
    ].map { Array($0.utf8) }
}

/// `count` files of 200–4000 bytes of pseudo-random text, 50 files per directory
/// (`gNNN/dNNNNN/fNNNNNN.txt`, 40 directories per group). Returns the total bytes written.
func makeSyntheticTree(at root: String, files count: Int, seed: UInt64) throws -> Int64 {
    let fm = FileManager.default
    try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
    var rng = SplitMix64(seed: seed)
    let words = Vocabulary.words
    var total: Int64 = 0
    var buf: [UInt8] = []
    buf.reserveCapacity(4200)
    var dir = root
    for i in 0..<count {
        if i % 50 == 0 {
            let d = i / 50
            dir = root + "/g" + pad(d / 40, 3) + "/d" + pad(d, 5)
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if i > 0 && i % 20_000 == 0 { log("  … \(i) files written") }
        }
        let size = 200 + rng.uniform(3801)
        buf.removeAll(keepingCapacity: true)
        buf.append(contentsOf: Array("// synthetic file \(i) seed \(seed)\n".utf8))
        var column = 0
        while buf.count < size {
            let w = words[rng.uniform(words.count)]
            if column + w.count + 1 > 76 {
                buf.append(10)
                column = 0
            } else if column > 0 {
                buf.append(32)
                column += 1
            }
            buf.append(contentsOf: w)
            column += w.count
        }
        if buf.count > size { buf.removeLast(buf.count - size) }
        buf[buf.count - 1] = 10
        let path = dir + "/f" + pad(i, 6) + ".txt"
        guard fm.createFile(atPath: path, contents: Data(buf)) else { throw BenchError("cannot write \(path)") }
        total += Int64(buf.count)
    }
    return total
}

// MARK: - Edits (same on the store and on the copies)

/// `k` distinct indices in 0..<n, in the order drawn.
func choose(_ k: Int, of n: Int, rng: inout SplitMix64) -> [Int] {
    let k = min(k, n)
    var seen = Set<Int>()
    var out: [Int] = []
    while out.count < k {
        let i = rng.uniform(n)
        if seen.insert(i).inserted { out.append(i) }
    }
    return out
}

/// A small edit: replace 64 bytes in the middle, or append a line.
func applyEdit(_ old: [UInt8], rng: inout SplitMix64, tag: Int) -> [UInt8] {
    var b = old
    if b.count >= 256 && rng.next() % 2 == 0 {
        let start = b.count / 2 - 32
        for i in 0..<64 { b[start + i] = UInt8(97 + rng.uniform(26)) }
    } else {
        if let last = b.last, last != 10 { b.append(10) }
        b.append(contentsOf: Array("// afs-bench edit \(tag) \(rng.next() % 1_000_000)\n".utf8))
    }
    return b
}

func editSeed(_ fork: Int) -> UInt64 { 0xDE17_A000 &+ UInt64(fork) }

// MARK: - Section 1: fork time vs tree size

struct ForkRow {
    var files: Int
    var treeBytes: Int64 = 0
    var importMicros: Double?
    var fork: Summary?
    var cp: Summary?
    var cpSync: Summary?
    var git: Summary?
    var cpNote: String?
    var gitNote: String?
    var error: String?

    var ratio: Double? {
        guard let cp, let fork, fork.p50 > 0 else { return nil }
        return cp.p50 / fork.p50
    }

    var json: JSON {
        .object([
            ("files", .int(Int64(files))), ("tree_bytes", .int(treeBytes)),
            ("import_us", .opt(importMicros)),
            ("fork", .opt(fork)), ("cp_a", .opt(cp)), ("cp_a_sync_after", .opt(cpSync)),
            ("git_worktree_add", .opt(git)),
            ("ratio_cp_a_over_fork_p50", .opt(ratio)),
            ("cp_a_note", .opt(cpNote)), ("git_note", .opt(gitNote)), ("error", .opt(error)),
        ])
    }
}

enum Bench {
    /// Timed forks per tree size.
    static let forkRuns = 50
}

func forkBenchmark(files n: Int, work: String, tools: Tools) -> ForkRow {
    var row = ForkRow(files: n)
    let clock = ContinuousClock()
    let tree = work + "/tree-\(n)"
    let storeDir = work + "/store-\(n)"
    defer {
        removeTree(tree)
        removeTree(storeDir)
    }
    do {
        log("fork N=\(n): generating synthetic tree")
        row.treeBytes = try makeSyntheticTree(at: tree, files: n, seed: 0xAE7E_5000 &+ UInt64(n))
        log("fork N=\(n): \(fmtBytes(Double(row.treeBytes))) written; importing")
        syncDisk(tools)

        // AetherFS: import once, then time fork R times.
        let store = try AetherStore.open(at: storeDir)
        do {
            let t0 = clock.now
            let base = try store.createSession(name: "base-\(n)", from: .directory(tree)) { p in
                if p.files > 0 && p.files % 25_000 == 0 { log("  … imported \(p.files) files") }
            }
            row.importMicros = micros(clock.now - t0)
            log("fork N=\(n): imported in \(fmtTime(row.importMicros!)); timing \(Bench.forkRuns) forks")
            var samples: [Double] = []
            for _ in 0..<Bench.forkRuns {
                syncDisk(tools)
                let t = clock.now
                _ = try store.fork(base.id)
                samples.append(micros(clock.now - t))
            }
            row.fork = Summary(samples)
            try store.close()
        } catch {
            try? store.close()
            throw error
        }

        // cp -a baseline.
        let cpRuns = n >= 10_000 ? 3 : 5
        if tools.cp {
            log("fork N=\(n): timing cp -a (\(cpRuns) runs)")
            var samples: [Double] = []
            var withSync: [Double] = []
            for k in 0..<cpRuns {
                let copy = work + "/copy-\(n)-\(k)"
                syncDisk(tools)
                let r = runTool(["cp", "-a", tree, copy])
                if !r.ok {
                    row.cpNote = "cp -a failed: \(r.errorLine)"
                    removeTree(copy)
                    break
                }
                samples.append(r.micros)
                if tools.sync {
                    let s = runTool(["sync"])
                    withSync.append(r.micros + s.micros)
                }
                removeTree(copy)
            }
            if row.cpNote == nil {
                row.cp = Summary(samples)
                row.cpSync = Summary(withSync)
            }
        } else {
            row.cpNote = "cp not found"
        }

        // git worktree baseline: a repository made from the tree (one commit), time only `worktree add`.
        if tools.git {
            log("fork N=\(n): making a git repository of the tree (not timed)")
            let setup: [(String, [String])] = [
                ("git init", ["git", "-c", "init.defaultBranch=main", "init", "-q", tree]),
                ("git add", ["git", "-C", tree, "add", "-A"]),
                ("git commit", ["git", "-C", tree, "-c", "user.name=afs-bench", "-c", "user.email=afs-bench@localhost",
                                "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", "afs-bench tree"]),
            ]
            for (step, cmd) in setup {
                let r = runTool(cmd)
                if !r.ok {
                    row.gitNote = "\(step) failed: \(r.errorLine)"
                    break
                }
            }
            if row.gitNote == nil {
                log("fork N=\(n): timing git worktree add (3 runs)")
                var samples: [Double] = []
                for k in 0..<3 {
                    let wt = work + "/wt-\(n)-\(k)"
                    syncDisk(tools)
                    let r = runTool(["git", "-C", tree, "worktree", "add", "--detach", wt, "HEAD"])
                    if !r.ok {
                        row.gitNote = "git worktree add failed: \(r.errorLine)"
                        removeTree(wt)
                        break
                    }
                    samples.append(r.micros)
                    if !runTool(["git", "-C", tree, "worktree", "remove", "--force", wt]).ok {
                        removeTree(wt)
                        _ = runTool(["git", "-C", tree, "worktree", "prune"])
                    }
                }
                if row.gitNote == nil { row.git = Summary(samples) }
            }
        } else {
            row.gitNote = "git not found"
        }
    } catch {
        row.error = describe(error)
        log("fork N=\(n): error: \(row.error!)")
    }
    return row
}

func forkTable(_ rows: [ForkRow]) -> String {
    var out = "## Fork time vs tree size\n\n"
    out += "| N files (tree bytes) | AetherFS fork p50 (min–max) | cp -a p50 | git worktree p50 | ratio cp-a/fork |\n"
    out += "|---:|---|---:|---:|---:|\n"
    for r in rows {
        let n = "\(r.files) (\(fmtBytes(Double(r.treeBytes))))"
        let fork: String
        if let f = r.fork {
            fork = "\(fmtTime(f.p50)) (\(fmtTime(f.min))–\(fmtTime(f.max)))"
        } else {
            fork = r.error.map { "error: \($0)" } ?? "n/a"
        }
        let cp = r.cp.map { fmtTime($0.p50) } ?? "n/a"
        let git = r.git.map { fmtTime($0.p50) } ?? "n/a"
        out += "| \(n) | \(fork) | \(cp) | \(git) | \(fmtRatio(r.ratio)) |\n"
    }
    out += "\n"
    out += "- AetherFS fork: \(Bench.forkRuns) forks of a session imported with `.directory`; each is durable when `fork` returns (catalog in SQLite, synchronous=FULL). `sync` before each run, not counted.\n"
    out += "- cp -a: 5 runs (3 for N ≥ 10000), `sync` before each run (not counted), copy deleted between runs. The time does not include flushing the copy to disk; cp -a followed by sync is in the JSON (`cp_a_sync_after`).\n"
    out += "- git worktree: repository made from the tree (init, add, one commit; not timed), 3 runs of `git worktree add --detach` only.\n"
    let notes = rows.flatMap { r -> [String] in
        [r.cpNote.map { "- N=\(r.files): \($0)" }, r.gitNote.map { "- N=\(r.files): \($0)" }].compactMap { $0 }
    }
    if !notes.isEmpty { out += notes.joined(separator: "\n") + "\n" }
    return out
}

// MARK: - Section 2: delta cost

struct DeltaReport {
    var markdown: String
    var json: JSON
}

func deltaBenchmark(repo: String?, quick: Bool, work: String, tools: Tools) -> DeltaReport {
    let forks = quick ? 10 : 100
    let copies = quick ? 3 : 10
    let clock = ContinuousClock()
    let fm = FileManager.default

    // 1. The tree.
    var treePath: String
    var source: String
    if let repo {
        treePath = (repo as NSString).standardizingPath
        if !treePath.hasPrefix("/") { treePath = fm.currentDirectoryPath + "/" + treePath }
        source = "--repo \(treePath)"
    } else {
        let bare = "/opt/swift-packages/apple/swift-argument-parser.git"
        let dst = work + "/real/swift-argument-parser"
        treePath = dst
        source = "git clone of \(bare)"
        var ok = false
        if tools.git && fm.fileExists(atPath: bare) {
            try? fm.createDirectory(atPath: work + "/real", withIntermediateDirectories: true)
            log("delta: cloning \(bare)")
            let r = runTool(["git", "clone", "--quiet", bare, dst])
            ok = r.ok
            if !ok { log("delta: clone failed (\(r.errorLine)); using the synthetic tree") }
        }
        if !ok {
            removeTree(dst)
            treePath = work + "/real/synthetic-1000"
            source = "synthetic tree, 1000 files"
            do {
                _ = try makeSyntheticTree(at: treePath, files: 1000, seed: 0xAE7E_5000 &+ 1000)
            } catch {
                let msg = describe(error)
                return DeltaReport(markdown: "## Delta cost\n\nerror: \(msg)\n", json: .object([("error", .string(msg))]))
            }
        }
    }
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: treePath, isDirectory: &isDir), isDir.boolValue else {
        let msg = "\(treePath) is not a directory"
        return DeltaReport(markdown: "## Delta cost\n\nerror: \(msg)\n", json: .object([("error", .string(msg))]))
    }

    var fields: [(String, JSON)] = [("source", .string(source)), ("tree", .string(treePath))]
    let storeDir = work + "/store-delta"
    let copiesDir = work + "/delta-copies"
    defer {
        removeTree(storeDir)
        removeTree(copiesDir)
    }

    // 2. AetherFS: import as base, then forks with 1 % of the files rewritten, each checkpointed.
    var candidates: [String] = []
    var treeFiles = 0
    var treeBytes: Int64 = 0
    var perFork = 0
    var storeRewritten: Int64 = 0
    var storeFilesRewritten = 0
    var growth: Int64?
    var metaGrowth: Int64?
    var storeError: String?
    var before: StoreStats?
    var after: StoreStats?
    var forkTimes: [Double] = []
    var importMicros: Double?
    do {
        let store = try AetherStore.open(at: storeDir)
        do {
            log("delta: importing \(treePath)")
            syncDisk(tools)
            let t0 = clock.now
            let base = try store.createSession(name: "delta-base", from: .directory(treePath)) { p in
                if p.files > 0 && p.files % 25_000 == 0 { log("  … imported \(p.files) files") }
            }
            importMicros = micros(clock.now - t0)
            let files = try store.manifest(base.id).filter { $0.kind == .file }
            treeFiles = files.count
            treeBytes = files.reduce(0) { $0 + Int64($1.size) }
            candidates = files
                .filter { !$0.path.hasPrefix("/.git/") && !$0.path.contains("/.git/") && $0.size > 0 }
                .map(\.path).sorted()
            if candidates.isEmpty { candidates = files.map(\.path).sorted() }
            guard !candidates.isEmpty else { throw BenchError("the tree has no files") }
            perFork = max(1, candidates.count / 100)
            log("delta: \(treeFiles) files, \(fmtBytes(Double(treeBytes))); \(forks) forks × \(perFork) rewritten files")

            let b = try store.stats()
            before = b
            let metaBefore = apparentBytes(storeDir, excluding: ["chunks"])
            for f in 0..<forks {
                let t = clock.now
                let s = try store.fork(base.id)
                var rng = SplitMix64(seed: editSeed(f))
                for idx in choose(perFork, of: candidates.count, rng: &rng) {
                    let path = candidates[idx]
                    let old = try store.readFile(s.id, path: path)
                    let new = applyEdit(old, rng: &rng, tag: f)
                    try store.writeFile(s.id, path: path, data: new)
                    storeRewritten += Int64(new.count)
                    storeFilesRewritten += 1
                }
                _ = try store.checkpoint(s.id, label: "afs-bench \(f)")
                forkTimes.append(micros(clock.now - t))
                if (f + 1) % 25 == 0 { log("  … \(f + 1) forks") }
            }
            let a = try store.stats()
            after = a
            growth = a.physicalBytes - b.physicalBytes
            metaGrowth = apparentBytes(storeDir, excluding: ["chunks"]) - metaBefore
            try store.close()
        } catch {
            try? store.close()
            throw error
        }
    } catch {
        storeError = describe(error)
        log("delta: AetherFS error: \(storeError!)")
    }

    // 3. cp -a baseline: copies with the same edits as forks 0..<copies.
    var copyBytes: [Int64] = []
    var copyAlloc: [Int64] = []
    var copyTimes: [Double] = []
    var copyRewritten: Int64 = 0
    var copyFilesRewritten = 0
    var cpNote: String?
    if !tools.cp {
        cpNote = "cp not found"
    } else if !tools.du {
        cpNote = "du not found"
    } else if candidates.isEmpty {
        cpNote = "no file list (the AetherFS part failed)"
    } else {
        log("delta: \(copies) × cp -a with the same edits")
        try? fm.createDirectory(atPath: copiesDir, withIntermediateDirectories: true)
        copyLoop: for c in 0..<copies {
            let dst = copiesDir + "/copy-\(c)"
            syncDisk(tools)
            let r = runTool(["cp", "-a", treePath, dst])
            guard r.ok else {
                cpNote = "cp -a failed: \(r.errorLine)"
                break
            }
            copyTimes.append(r.micros)
            var rng = SplitMix64(seed: editSeed(c))
            for idx in choose(perFork, of: candidates.count, rng: &rng) {
                let file = dst + candidates[idx]
                guard let data = fm.contents(atPath: file) else {
                    cpNote = "cannot read \(file)"
                    break copyLoop
                }
                let new = applyEdit([UInt8](data), rng: &rng, tag: c)
                do {
                    try Data(new).write(to: URL(fileURLWithPath: file))
                } catch {
                    cpNote = "cannot write \(file): \(error)"
                    break copyLoop
                }
                copyRewritten += Int64(new.count)
                copyFilesRewritten += 1
            }
            guard let apparent = duBytes(dst, allocated: false, tools: tools) else {
                cpNote = "du -sb failed"
                break
            }
            copyBytes.append(apparent)
            if let alloc = duBytes(dst, allocated: true, tools: tools) { copyAlloc.append(alloc) }
        }
    }

    // 4. Figures.
    let storePerFork = growth.map { Double($0) / Double(forks) }
    let storePerByte: Double? = growth.flatMap { storeRewritten > 0 ? Double($0) / Double(storeRewritten) : nil }
    let dedup = after?.dedupRatio
    let nCopies = copyBytes.count
    let cpPerCopy: Double? = nCopies > 0 ? Double(copyBytes.reduce(0, +)) / Double(nCopies) : nil
    let cpAllocPerCopy: Double? = copyAlloc.isEmpty ? nil : Double(copyAlloc.reduce(0, +)) / Double(copyAlloc.count)
    let cpPerByte: Double? = cpPerCopy.flatMap { copyRewritten > 0 ? $0 / (Double(copyRewritten) / Double(nCopies)) : nil }
    let ratio: Double? = {
        guard let s = storePerFork, let c = cpPerCopy, s > 0 else { return nil }
        return c / s
    }()
    let forkSummary = Summary(forkTimes)
    let copySummary = Summary(copyTimes)

    var md = "## Delta cost\n\n"
    md += "Tree: \(source) — \(treeFiles) files, \(fmtBytes(Double(treeBytes)))"
    if let importMicros { md += ", imported in \(fmtTime(importMicros))" }
    md += ". Each fork rewrites 1 % of the files outside `.git` (\(perFork) per fork, seeded choice; 64 bytes replaced in the middle or a line appended) with `writeFile`, then `checkpoint`.\n\n"
    md += "| | AetherFS (fork + edits + checkpoint) | cp -a copy + same edits |\n"
    md += "|---|---:|---:|\n"
    md += "| forks / copies | \(storeError == nil ? String(forks) : "error") | \(nCopies) |\n"
    md += "| files rewritten per fork | \(forks > 0 && storeError == nil ? fmtNumber(Double(storeFilesRewritten) / Double(forks), digits: 1) : "n/a") | \(nCopies > 0 ? fmtNumber(Double(copyFilesRewritten) / Double(nCopies), digits: 1) : "n/a") |\n"
    md += "| bytes rewritten per fork | \(storeError == nil ? fmtBytes(Double(storeRewritten) / Double(forks)) : "n/a") | \(nCopies > 0 ? fmtBytes(Double(copyRewritten) / Double(nCopies)) : "n/a") |\n"
    md += "| storage growth per fork | \(storePerFork.map { fmtBytes($0) } ?? "n/a") (chunk log, physicalBytes) | \(cpPerCopy.map { fmtBytes($0) } ?? "n/a") (du -sb: the per-copy cost) |\n"
    md += "| disk allocated per copy (du -s -B1) | — | \(cpAllocPerCopy.map { fmtBytes($0) } ?? "n/a") |\n"
    md += "| bytes stored per rewritten byte | \(fmtNumber(storePerByte)) | \(fmtNumber(cpPerByte, digits: 1)) |\n"
    md += "| dedup ratio (logical/physical) | \(fmtNumber(dedup)) | n/a |\n"
    md += "| time per fork / copy p50 | \(forkSummary.map { fmtTime($0.p50) } ?? "n/a") | \(copySummary.map { fmtTime($0.p50) } ?? "n/a") (cp -a only) |\n"
    md += "\n**Growth ratio cp -a / AetherFS per fork: \(fmtRatio(ratio))**\n"
    if let metaGrowth, storeError == nil {
        md += "\n- Not in physicalBytes: catalog and journal files grew by \(fmtBytes(Double(metaGrowth))) in all (\(fmtBytes(Double(metaGrowth) / Double(forks))) per fork).\n"
    }
    if let storeError { md += "- AetherFS error: \(storeError)\n" }
    if let cpNote { md += "- cp -a baseline: \(cpNote)\n" }

    fields += [
        ("tree_files", .int(Int64(treeFiles))), ("tree_bytes", .int(treeBytes)),
        ("import_us", .opt(importMicros)),
        ("forks", .int(Int64(forks))), ("files_rewritten_per_fork", .int(Int64(perFork))),
        ("aetherfs", .object([
            ("bytes_rewritten", .int(storeRewritten)), ("files_rewritten", .int(Int64(storeFilesRewritten))),
            ("physical_bytes_before", before.map { .int($0.physicalBytes) } ?? .null),
            ("physical_bytes_after", after.map { .int($0.physicalBytes) } ?? .null),
            ("logical_bytes_after", after.map { .int($0.logicalBytes) } ?? .null),
            ("disk_bytes_before", before.map { .int($0.diskBytes) } ?? .null),
            ("disk_bytes_after", after.map { .int($0.diskBytes) } ?? .null),
            ("chunks_before", before.map { .int(Int64($0.chunks)) } ?? .null),
            ("chunks_after", after.map { .int(Int64($0.chunks)) } ?? .null),
            ("growth_bytes", growth.map { .int($0) } ?? .null),
            ("growth_per_fork_bytes", .opt(storePerFork)),
            ("bytes_stored_per_rewritten_byte", .opt(storePerByte)),
            ("dedup_ratio", .opt(dedup)),
            ("catalog_and_journal_growth_bytes", metaGrowth.map { .int($0) } ?? .null),
            ("fork_edit_checkpoint", .opt(forkSummary)),
            ("error", .opt(storeError)),
        ])),
        ("cp_a", .object([
            ("copies", .int(Int64(nCopies))),
            ("bytes_rewritten", .int(copyRewritten)), ("files_rewritten", .int(Int64(copyFilesRewritten))),
            ("du_sb_per_copy", .array(copyBytes.map { .int($0) })),
            ("growth_per_copy_bytes", .opt(cpPerCopy)),
            ("allocated_per_copy_bytes", .opt(cpAllocPerCopy)),
            ("bytes_stored_per_rewritten_byte", .opt(cpPerByte)),
            ("cp_time", .opt(copySummary)),
            ("note", .opt(cpNote)),
        ])),
        ("ratio_cp_a_over_aetherfs_growth_per_fork", .opt(ratio)),
    ]
    return DeltaReport(markdown: md, json: .object(fields))
}

// MARK: - Main

struct Config {
    var quick = false
    var repo: String?
    var workParent = "/var/tmp"
    var jsonPath: String?
}

func usage() -> String {
    """
    usage: afs-bench [--quick] [--repo DIR] [--work DIR] [--json FILE]
      --quick       fewer tree sizes (100, 10000) and fewer forks/copies
      --repo DIR    tree for the delta-cost run (default: clone of swift-argument-parser)
      --work DIR    where to create the scratch directory (default /var/tmp; avoid tmpfs)
      --json FILE   also write every figure as JSON
    """
}

func parseArguments(_ args: [String]) -> Result<Config, BenchError> {
    var cfg = Config()
    var i = 1
    func value(_ flag: String) -> String? {
        guard i + 1 < args.count else { return nil }
        i += 1
        return args[i]
    }
    while i < args.count {
        let a = args[i]
        switch a {
        case "--quick": cfg.quick = true
        case "--repo":
            guard let v = value(a) else { return .failure(BenchError("--repo needs a directory")) }
            cfg.repo = v
        case "--work":
            guard let v = value(a) else { return .failure(BenchError("--work needs a directory")) }
            cfg.workParent = v
        case "--json":
            guard let v = value(a) else { return .failure(BenchError("--json needs a file")) }
            cfg.jsonPath = v
        case "-h", "--help": return .failure(BenchError(""))
        default: return .failure(BenchError("unknown argument \(a)"))
        }
        i += 1
    }
    return .success(cfg)
}

func benchMain(_ args: [String]) -> Int32 {
    let cfg: Config
    switch parseArguments(args) {
    case .success(let c): cfg = c
    case .failure(let e):
        if !e.description.isEmpty { log(e.description) }
        print(usage())
        return e.description.isEmpty ? 0 : 2
    }
    let fm = FileManager.default
    let tools = Tools()

    // Fresh scratch directory; only this directory is removed at the end.
    var parent = (cfg.workParent as NSString).standardizingPath
    if !parent.hasPrefix("/") { parent = fm.currentDirectoryPath + "/" + parent }
    let work = parent + "/afs-bench-\(getpid())-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    do {
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
    } catch {
        log("cannot create work directory \(work): \(error)")
        return 1
    }
    defer {
        log("removing \(work)")
        removeTree(work)
    }
    log("work directory: \(work)")

    // Machine line.
    let cores = ProcessInfo.processInfo.activeProcessorCount
    var dfLine: String?
    var fsType: String?
    if tools.df {
        let r = runTool(["df", "-T", work])
        if r.ok {
            let lines = r.stdout.split(separator: "\n").dropFirst()
            let joined = lines.joined(separator: " ").split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            dfLine = joined
            let parts = joined.split(separator: " ")
            if parts.count >= 2 { fsType = String(parts[1]) }
        }
    }
    var kernel: String?
    if tools.uname {
        let r = runTool(["uname", "-r"])
        if r.ok { kernel = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
    if fsType == "tmpfs" { log("warning: \(work) is on tmpfs; timings and sizes will not reflect a disk") }

    var out = "# AetherFS fork benchmark\(cfg.quick ? " (quick)" : "")\n\n"
    out += "Machine: \(cores) cores · work fs: `\(dfLine ?? "n/a")` · kernel \(kernel ?? "n/a")\n\n"
    print(out, terminator: "")

    // Section 1.
    let sizes = cfg.quick ? [100, 10_000] : [100, 1000, 10_000, 100_000]
    var rows: [ForkRow] = []
    for n in sizes {
        rows.append(forkBenchmark(files: n, work: work, tools: tools))
    }
    let table1 = forkTable(rows)
    print(table1)

    // Section 2.
    let delta = deltaBenchmark(repo: cfg.repo, quick: cfg.quick, work: work, tools: tools)
    print(delta.markdown)

    if let jsonPath = cfg.jsonPath {
        let doc: JSON = .object([
            ("benchmark", .string("afs-bench")),
            ("quick", .bool(cfg.quick)),
            ("date", .string(ISO8601DateFormatter().string(from: Date()))),
            ("machine", .object([
                ("cores", .int(Int64(cores))), ("df", .opt(dfLine)), ("filesystem_type", .opt(fsType)),
                ("kernel", .opt(kernel)), ("work_dir", .string(work)),
            ])),
            ("fork_vs_tree_size", .array(rows.map(\.json))),
            ("delta_cost", delta.json),
        ])
        do {
            try Data((doc.render() + "\n").utf8).write(to: URL(fileURLWithPath: jsonPath))
            log("wrote \(jsonPath)")
        } catch {
            log("cannot write \(jsonPath): \(error)")
            return 1
        }
    }
    let failed = rows.contains { $0.error != nil }
    return failed ? 1 : 0
}

exit(benchMain(CommandLine.arguments))
