// Timing, statistics, formatting and the external-process runner shared by every figure.

import AFSCore
import AFSSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Errors and logging

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func describe(_ error: any Error) -> String {
    if let e = error as? AFSError { return "AFSError(\(e.code.rawValue)): \(e.message)" }
    return "\(error)"
}

/// Progress line on stderr (stdout carries the tables).
func log(_ line: String) {
    FileHandle.standardError.write(Data(("[afs-bench] " + line + "\n").utf8))
}

// MARK: - Deterministic randomness

/// Trees and edits from AFSSupport's seeded SplitMix64, so they are the same on every run.
extension SplitMix64 {
    /// 0..<n (modulo bias is irrelevant here).
    mutating func uniform(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var i = 0
        while i < n {
            var w = next()
            for _ in 0..<8 where i < n {
                out[i] = UInt8(truncatingIfNeeded: w)
                w >>= 8
                i += 1
            }
        }
        return out
    }
}

// MARK: - Time

func micros(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) * 1e6 + Double(c.attoseconds) / 1e12
}

/// Runs `body` and returns its result with the wall time in microseconds.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let clock = ContinuousClock()
    let t0 = clock.now
    let r = try body()
    return (r, micros(clock.now - t0))
}

// MARK: - Statistics

/// Median / min / max (and percentiles) of a set of samples. Times are in microseconds.
struct Summary {
    var p50: Double
    var min: Double
    var max: Double
    var samples: [Double]
    private var sorted: [Double]

    init?(_ xs: [Double]) {
        let s = xs.filter { $0.isFinite }.sorted()
        guard !s.isEmpty else { return nil }
        let mid = s.count / 2
        p50 = s.count % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
        min = s[0]
        max = s[s.count - 1]
        samples = xs
        sorted = s
    }

    /// Nearest-rank percentile, `p` in 0…100.
    func percentile(_ p: Double) -> Double {
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank - 1))]
    }

    var sortedSamples: [Double] { sorted }

    /// Times: `p50_us`, `min_us`, … with every sample.
    var json: JSON { json(unit: "us") }

    func json(unit: String, withSamples: Bool = true) -> JSON {
        var kv: [(String, JSON)] = [
            ("p50_\(unit)", .double(p50)), ("min_\(unit)", .double(min)), ("max_\(unit)", .double(max)),
            ("runs", .int(Int64(samples.count))),
        ]
        if withSamples { kv.append(("samples_\(unit)", .array(samples.map { .double($0) }))) }
        return .object(kv)
    }

    /// "p50 (min–max)" for times.
    var timeCell: String {
        samples.count == 1 ? fmtTime(p50) : "\(fmtTime(p50)) (\(fmtTime(min))–\(fmtTime(max)))"
    }
}

/// "median (min–max)" of rates derived from time samples: `amount / time`.
struct RateSummary {
    var median: Double
    var low: Double
    var high: Double

    /// `amount` units processed in each of the `timesMicros` runs, as units per second.
    init?(amount: Double, timesMicros: [Double]) {
        guard let s = Summary(timesMicros.filter { $0 > 0 }.map { amount / ($0 / 1e6) }) else { return nil }
        median = s.p50
        low = s.min
        high = s.max
    }

    init(single: Double) {
        median = single
        low = single
        high = single
    }

    func cell(_ format: (Double) -> String) -> String {
        low == high ? format(median) : "\(format(median)) (\(format(low))–\(format(high)))"
    }

    var json: JSON { .object([("median", .double(median)), ("min", .double(low)), ("max", .double(high))]) }
}

// MARK: - Formatting

func pad(_ n: Int, _ width: Int) -> String {
    let s = String(n)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

func fmtTime(_ us: Double) -> String {
    if us < 10 { return String(format: "%.1f µs", us) }
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

/// Decimal megabytes per second (the unit `lz4 -b` and `dd` print).
func fmtMBps(_ bytesPerSecond: Double) -> String {
    let mb = bytesPerSecond / 1e6
    if mb >= 100 { return String(format: "%.0f MB/s", mb) }
    if mb >= 10 { return String(format: "%.1f MB/s", mb) }
    return String(format: "%.2f MB/s", mb)
}

func fmtPerSecond(_ x: Double) -> String {
    if x >= 1e6 { return String(format: "%.2fM/s", x / 1e6) }
    if x >= 1e4 { return String(format: "%.1fk/s", x / 1e3) }
    return String(format: "%.0f/s", x)
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

func fmtCount(_ n: Int) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 { return "\(n / 1_000_000)M" }
    if n >= 1000 && n % 1000 == 0 { return "\(n / 1000)k" }
    return String(n)
}

func ratio(_ a: Double?, _ b: Double?) -> Double? {
    guard let a, let b, b > 0, a.isFinite, b.isFinite else { return nil }
    return a / b
}

// MARK: - External tools

func which(_ name: String) -> String? {
    if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    var dirs = path.split(separator: ":").map(String.init)
    // mkfs.*, losetup and friends live in sbin, which a non-login PATH may lack.
    for extra in ["/usr/sbin", "/sbin"] where !dirs.contains(extra) { dirs.append(extra) }
    for dir in dirs where !dir.isEmpty {
        let candidate = dir + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

struct ProcResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// Wall time from launch to exit, microseconds.
    var micros: Double
    var ok: Bool { status == 0 }
    var errorLine: String {
        let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "exit status \(status)" : String(text.split(separator: "\n").last ?? "") + " (exit \(status))"
    }
}

/// Runs a program found on PATH, with arguments as an array (no shell), exec'd directly so the
/// timing holds only one process start. Output goes to temporary files, so large output cannot
/// block the child; `discardOutput` sends stdout to /dev/null instead (for `cat`).
func runTool(_ args: [String], discardOutput: Bool = false) -> ProcResult {
    guard let tool = args.first, let exe = which(tool) else {
        return ProcResult(status: 127, stdout: "", stderr: "\(args.first ?? "?"): not found on PATH", micros: 0)
    }
    return runProgram(exe, Array(args.dropFirst()), discardOutput: discardOutput)
}

/// Starts `executable` with stdin from /dev/null and stdout/stderr to files; returns its pid.
/// `environment` defaults to this process's.
func spawnProcess(
    _ executable: String, _ arguments: [String], stdout: String, stderr: String, environment: [String: String]? = nil
) -> Result<pid_t, BenchError> {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let env = environment ?? ProcessInfo.processInfo.environment
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0.key + "=" + $0.value) } + [nil]
    defer {
        for p in argv { free(p) }
        for p in envp { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, nil, argv, envp)
    guard rc == 0 else { return .failure(BenchError("cannot run \(executable): \(String(cString: strerror(rc)))")) }
    return .success(pid)
}

/// The exit status of a waitpid status word (WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does
/// not import): the exit code, or 128 + the signal.
func exitCode(_ w: Int32) -> Int32 {
    let signal = w & 0x7f
    return signal == 0 ? (w >> 8) & 0xff : 128 + signal
}

/// posix_spawn + waitpid, timed from just before the spawn to the return of waitpid.
/// (Foundation's `Process.waitUntilExit` on Linux polls its run loop every 50 ms, which would put a
/// 50 ms floor under every baseline.)
func runProgram(_ executable: String, _ arguments: [String], discardOutput: Bool = false) -> ProcResult {
    let base = NSTemporaryDirectory() + "/afs-bench-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    let outPath = base + ".out"
    let errPath = base + ".err"
    defer {
        unlink(outPath)
        unlink(errPath)
    }
    let clock = ContinuousClock()
    let t0 = clock.now
    let pid: pid_t
    switch spawnProcess(executable, arguments, stdout: discardOutput ? "/dev/null" : outPath, stderr: errPath) {
    case .success(let p): pid = p
    case .failure(let e): return ProcResult(status: -1, stdout: "", stderr: e.description, micros: 0)
    }
    var wstatus: Int32 = 0
    while waitpid(pid, &wstatus, 0) < 0 {
        guard errno == EINTR else {
            return ProcResult(status: -1, stdout: "", stderr: "waitpid: \(String(cString: strerror(errno)))", micros: 0)
        }
    }
    let elapsed = micros(clock.now - t0)
    let status = exitCode(wstatus)
    let out = discardOutput ? "" : ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return ProcResult(status: status, stdout: out, stderr: err, micros: elapsed)
}

/// Runs `tool fixedArgs… -- file…` over many files in batches (ARG_MAX), summing the wall times.
/// Returns nil and the first error line on failure.
func runBatched(_ tool: [String], files: [String], discardOutput: Bool) -> (micros: Double?, error: String?) {
    var total = 0.0
    var i = 0
    while i < files.count {
        var batch: [String] = []
        var chars = 0
        while i < files.count && batch.count < 2000 && chars < 100_000 {
            batch.append(files[i])
            chars += files[i].utf8.count + 1
            i += 1
        }
        let r = runTool(tool + ["--"] + batch, discardOutput: discardOutput)
        guard r.ok else { return (nil, r.errorLine) }
        total += r.micros
    }
    return (total, nil)
}

/// Which external tools this machine has (each figure reports "n/a: …" for a missing one).
struct Tools: Sendable {
    let cp = which("cp") != nil
    let git = which("git") != nil
    let du = which("du") != nil
    let sync = which("sync") != nil
    let df = which("df") != nil
    let uname = which("uname") != nil
    let tar = which("tar") != nil
    let lz4 = which("lz4") != nil
    let sha256sum = which("sha256sum") != nil
    let cat = which("cat") != nil
    let mount = which("mount") != nil && which("umount") != nil
    let truncate = which("truncate") != nil
    let mkfsBtrfs = which("mkfs.btrfs") != nil
    let mkfsXfs = which("mkfs.xfs") != nil
    let lsblk = which("lsblk") != nil
    let sqlite3 = which("sqlite3") != nil
    let isRoot = geteuid() == 0
}

/// Flushes dirty pages so each timed run starts from the same state (not counted).
func syncDisk(_ tools: Tools) {
    if tools.sync { _ = runTool(["sync"]) }
}

/// Empties the page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`). Nil on success, else why not.
func dropCaches(_ tools: Tools) -> String? {
    syncDisk(tools)
    let fd = open("/proc/sys/vm/drop_caches", O_WRONLY)
    guard fd >= 0 else { return "cannot open /proc/sys/vm/drop_caches: \(String(cString: strerror(errno)))" }
    defer { close(fd) }
    let one: [UInt8] = Array("3\n".utf8)
    let n = one.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard n == one.count else { return "cannot write /proc/sys/vm/drop_caches: \(String(cString: strerror(errno)))" }
    return nil
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
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    do {
        try fm.removeItem(atPath: path)
    } catch {
        // Read-only directories (e.g. git objects) can defeat removeItem; rm -rf copes after chmod.
        _ = runTool(["chmod", "-R", "u+rwX", path])
        let r = runTool(["rm", "-rf", path])
        if !r.ok { log("warning: could not remove \(path): \(r.errorLine)") }
    }
}

/// Creates or truncates `path` and writes `bytes` (plain POSIX: no temporary file, no rename).
func writeWhole(_ path: String, _ bytes: [UInt8]) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        done += n
    }
    return true
}

/// Size of a file (following symlinks), or nil.
func fileSize(_ path: String) -> Int64? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return Int64(st.st_size)
}

func makeDirectory(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

/// Apparent bytes of every regular file under `path`, skipping the named top-level entries.
func apparentBytes(_ path: String, excluding: Set<String> = []) -> Int64 {
    let fm = FileManager.default
    guard let top = try? fm.contentsOfDirectory(atPath: path) else { return 0 }
    var total: Int64 = 0
    for name in top where !excluding.contains(name) {
        let full = path + "/" + name
        var st = stat()
        guard lstat(full, &st) == 0 else { continue }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if let e = fm.enumerator(atPath: full) {
                while let rel = e.nextObject() as? String {
                    var s2 = stat()
                    if lstat(full + "/" + rel, &s2) == 0 && (s2.st_mode & S_IFMT) == S_IFREG { total += Int64(s2.st_size) }
                }
            }
        } else if (st.st_mode & S_IFMT) == S_IFREG {
            total += Int64(st.st_size)
        }
    }
    return total
}

// MARK: - Raw durable-write baselines (POSIX)

/// `count` × (write `size` bytes + fdatasync) to one file: per-call latency in microseconds.
/// `before` runs ahead of each call, untimed: the fork figure passes the same `sync` it runs
/// before each fork, so the sync it is judged against is priced under the same conditions.
func writeFdatasyncLatencies(directory: String, count: Int, size: Int = 1024, before: () -> Void = {}) -> Result<[Double], BenchError> {
    let path = directory + "/fdatasync-probe-\(getpid())"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return .failure(BenchError("open \(path): \(String(cString: strerror(errno)))")) }
    defer {
        close(fd)
        unlink(path)
    }
    var rng = SplitMix64(seed: 0xFDA7_A5C0)
    var buf = rng.bytes(size)
    var samples: [Double] = []
    samples.reserveCapacity(count)
    let clock = ContinuousClock()
    for i in 0..<count {
        buf[0] = UInt8(truncatingIfNeeded: i)
        before()
        let t = clock.now
        let n = buf.withUnsafeBytes { write(fd, $0.baseAddress, size) }
        guard n == size else { return .failure(BenchError("write: \(String(cString: strerror(errno)))")) }
        guard fdatasync(fd) == 0 else { return .failure(BenchError("fdatasync: \(String(cString: strerror(errno)))")) }
        samples.append(micros(clock.now - t))
    }
    return .success(samples)
}

/// `count` × (create a new file, write `size` bytes, fdatasync, close, fsync the directory): what a
/// POSIX program pays to make a new small file durable.
func createFileFsyncLatencies(directory: String, count: Int, size: Int = 1024) -> Result<[Double], BenchError> {
    let dir = directory + "/create-probe-\(getpid())"
    do { try makeDirectory(dir) } catch { return .failure(BenchError("mkdir \(dir): \(error)")) }
    defer { removeTree(dir) }
    let dfd = open(dir, O_RDONLY | O_DIRECTORY)
    guard dfd >= 0 else { return .failure(BenchError("open \(dir): \(String(cString: strerror(errno)))")) }
    defer { close(dfd) }
    var rng = SplitMix64(seed: 0xC4EA_7E00)
    var buf = rng.bytes(size)
    var samples: [Double] = []
    samples.reserveCapacity(count)
    let clock = ContinuousClock()
    for i in 0..<count {
        buf[0] = UInt8(truncatingIfNeeded: i)
        let path = dir + "/f\(i)"
        let t = clock.now
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return .failure(BenchError("open \(path): \(String(cString: strerror(errno)))")) }
        let n = buf.withUnsafeBytes { write(fd, $0.baseAddress, size) }
        let synced = fdatasync(fd) == 0
        close(fd)
        guard n == size, synced, fsync(dfd) == 0 else {
            return .failure(BenchError("write/fsync \(path): \(String(cString: strerror(errno)))"))
        }
        samples.append(micros(clock.now - t))
    }
    return .success(samples)
}

/// Process start floor: median wall time of running `true` (every external baseline includes it).
func processStartFloor() -> Summary? {
    guard which("true") != nil else { return nil }
    var xs: [Double] = []
    for _ in 0..<11 {
        let r = runTool(["true"])
        if r.ok { xs.append(r.micros) }
    }
    return Summary(xs)
}

// MARK: - /proc

/// A `kB` field of /proc/self/status (VmHWM, VmRSS), in bytes.
func procStatusBytes(_ field: String) -> Int64? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if parts.count >= 2, let kb = Int64(parts[1]) { return kb * 1024 }
    }
    return nil
}

/// This executable's path, for child processes.
func selfExecutablePath() -> String {
    if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
    let arg0 = CommandLine.arguments.first ?? "afs-bench"
    if arg0.hasPrefix("/") { return arg0 }
    if arg0.contains("/") { return FileManager.default.currentDirectoryPath + "/" + arg0 }
    return which(arg0) ?? arg0
}

/// Opens a store, runs `body`, closes it. The store object is released when this returns, so the
/// catalog's SQLite connection closes (and checkpoints its WAL) before the caller measures files.
/// Runs `body(0..<threads)` on that many threads at once and returns the wall time in µs from
/// the first start to the last finish; the first error any thread threw fails the whole run.
func onThreads(_ threads: Int, what: String, _ body: @escaping @Sendable (Int) throws -> Void) throws -> Double {
    let failures = Locked<[String]>([])
    let group = DispatchGroup()
    let start = ContinuousClock.now
    for t in 0..<threads {
        group.enter()
        Thread.detachNewThread {
            do { try body(t) } catch { failures.withLock { $0.append(describe(error)) } }
            group.leave()
        }
    }
    group.wait()
    let wall = micros(ContinuousClock.now - start)
    if let f = failures.withLock({ $0.first }) { throw BenchError("a concurrent \(what) failed: \(f)") }
    return wall
}

func withStore<T>(_ directory: String, options: AetherStore.Options = AetherStore.Options(), _ body: (AetherStore) throws -> T) throws -> T {
    let store = try AetherStore.open(at: directory, options: options)
    do {
        let r = try body(store)
        try store.close()
        return r
    } catch {
        try? store.close()
        throw error
    }
}
