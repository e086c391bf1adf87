// Figure 3: throughput. Ingest (import) MB/s and files/s of a real tree against `tar -x`,
// `sha256sum` and `lz4 -b1` of the same bytes; cold and warm reads against `cat`; durable 4 KiB
// write latency against raw write + fdatasync, and 8 concurrent durable writers against 8 raw ones.

import AFSSupport
import AFSCore
import Foundation

/// Size of the durable small writes (issue 20 names 4 KiB).
let smallWriteSize = 4096

/// Durable 4 KiB writes per second from `writers` threads at once, each writing new files into
/// its own session (the agent-fleet shape), next to `writers` threads each appending 4 KiB +
/// `fdatasync` to their own file in the same directory.
struct ConcurrentWrites {
    var writers: Int
    var writes: Int
    var perSecond: Double
    var rawPerSecond: Double?
}

func measureConcurrentWrites(directory: String, writers: Int, writesPerWriter: Int) -> Result<ConcurrentWrites, BenchError> {
    let storeDir = directory + "/concurrent-write-store"
    let rawDir = directory + "/concurrent-write-raw"
    defer {
        removeTree(storeDir)
        removeTree(rawDir)
    }
    let total = Double(writers * writesPerWriter)
    do {
        let perSecond = try withStore(storeDir) { store in
            let sessions = try (0..<writers).map { i in try store.createSession(name: "writer-\(i)", from: .blank).id }
            let wall = try onThreads(writers, what: "writer") { t in
                var rng = SplitMix64(seed: 0xC0_0C + UInt64(t))
                for i in 0..<writesPerWriter {
                    try store.writeFile(sessions[t], path: "/w/f\(pad(i, 5)).bin", data: rng.bytes(smallWriteSize))
                }
            }
            return total / (wall / 1e6)
        }
        try makeDirectory(rawDir)
        let raw = try? onThreads(writers, what: "raw writer") { t in
            let path = rawDir + "/w\(t)"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw BenchError("open \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var rng = SplitMix64(seed: 0xFD_0C + UInt64(t))
            let buf = rng.bytes(smallWriteSize)
            for _ in 0..<writesPerWriter {
                guard buf.withUnsafeBytes({ write(fd, $0.baseAddress, smallWriteSize) }) == smallWriteSize, fdatasync(fd) == 0 else {
                    throw BenchError("write+fdatasync: \(String(cString: strerror(errno)))")
                }
            }
        }
        return .success(ConcurrentWrites(writers: writers, writes: Int(total), perSecond: perSecond, rawPerSecond: raw.map { total / ($0 / 1e6) }))
    } catch let e as BenchError {
        return .failure(e)
    } catch {
        return .failure(BenchError(describe(error)))
    }
}

/// `lz4 -b1` result: compression and decompression speed (MB/s, as lz4 prints them) and ratio.
struct Lz4Bench {
    var compressMBps: Double
    var decompressMBps: Double
    var ratio: Double?
}

/// Parses the last result line of `lz4 -b1 FILE` (progress lines are separated by `\r`):
/// ` 1#tree.tar : 68157440 -> 20526000 (3.321), 1198.2 MB/s ,5549.3 MB/s`.
func parseLz4Bench(_ text: String) -> Lz4Bench? {
    func lastNumber(_ s: Substring) -> Double? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let tail = t.split(whereSeparator: { $0 == "," || $0 == " " }).last.map(String.init) ?? t
        return Double(tail)
    }
    for seg in text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).reversed() {
        let parts = seg.components(separatedBy: "MB/s")
        guard parts.count >= 3, let c = lastNumber(Substring(parts[0])), let d = lastNumber(Substring(parts[1])) else { continue }
        var r: Double?
        if let open = parts[0].lastIndex(of: "("), let close = parts[0].lastIndex(of: ")"), open < close {
            r = Double(parts[0][parts[0].index(after: open)..<close])
        }
        return Lz4Bench(compressMBps: c, decompressMBps: d, ratio: r)
    }
    return nil
}

private struct ReadFigures {
    var warm: [Double] = []
    var cold: [Double] = []
    var note: String?
}

func throughputSection(_ ctx: BenchContext, tree: RealTree?, treeNote: String?) -> Section {
    let tools = ctx.tools
    let tp = ctx.work + "/throughput"
    defer { removeTree(tp) }
    do { try makeDirectory(tp) } catch {
        return Section(key: "throughput", title: "Throughput", headline: "not measured: \(error)", body: "", json: .null, failed: true)
    }
    // The tree: a real checkout without .git, else a synthetic tree of 10k files.
    var source: RealTree
    if let tree {
        source = tree
    } else {
        let path = tp + "/synthetic-10000"
        do { _ = try makeSyntheticTree(at: path, files: 10_000, seed: syntheticSeed(10_000)) } catch {
            return Section(key: "throughput", title: "Throughput", headline: "not measured: \(describe(error))", body: "", json: .null, failed: true)
        }
        source = RealTree(name: "synthetic-10000", path: path, source: "synthetic tree of 10k files (no real tree available)")
    }
    let inv: TreeInventory
    do { inv = try inventory(of: source.path, skipGit: false) } catch {
        return Section(key: "throughput", title: "Throughput", headline: "not measured: \(describe(error))", body: "", json: .null, failed: true)
    }
    let bytes = Double(inv.bytes)
    let nFiles = Double(inv.files.count)
    let paths = inv.files.map { source.path + $0.path }
    log("throughput: \(source.name): \(inv.files.count) files, \(fmtBytes(bytes))")
    let reps = 3
    var notes: [String] = []
    var failed = false

    // The tree as one tar (input of tar -x and lz4 -b1; not timed).
    let tarPath = tp + "/tree.tar"
    var tarOK = false
    if tools.tar {
        let r = runTool(["tar", "-C", source.path, "-cf", tarPath, "."])
        tarOK = r.ok
        if !r.ok { notes.append("tar -c failed: \(r.errorLine)") }
    } else {
        notes.append("tar not found: no tar -x or lz4 baseline")
    }
    let tarBytes = tarOK ? Double(fileSize(tarPath) ?? 0) : 0

    // 1. AetherFS ingest, fresh store each time; the last store is kept for the reads.
    var ingest: [Double] = []
    var readStore: String?
    var sessionID: String?
    var ingestError: String?
    for k in 0..<reps {
        let dir = tp + "/store-\(k)"
        syncDisk(tools)
        do {
            let (id, t) = try withStore(dir) { store in
                try timed { try store.createSession(name: "ingest", from: .directory(source.path)).id }
            }
            ingest.append(t)
            if k == reps - 1 {
                readStore = dir
                sessionID = id
            } else {
                removeTree(dir)
            }
        } catch {
            ingestError = describe(error)
            failed = true
            removeTree(dir)
            break
        }
    }
    log("throughput: ingest \(Summary(ingest).map { fmtTime($0.p50) } ?? "n/a")")

    // 1b. Large data: one durable `writeFile` of 64 MiB, half pseudo-random (stored raw), half the
    // tree's tar repeated (source text, compressed), into a fresh store each time: once with the
    // chunks hashed and compressed on the caller's thread only, once with one worker per core.
    let largeBytes = 64 << 20
    var large: [UInt8] = []
    large.reserveCapacity(largeBytes)
    var mix = SplitMix64(seed: 0x1A26_E000)
    while large.count < largeBytes / 2 {
        let word = mix.next()
        withUnsafeBytes(of: word) { large.append(contentsOf: $0) }
    }
    let text: [UInt8] = tarOK ? ((try? Array(Data(contentsOf: URL(fileURLWithPath: tarPath)))) ?? []) : []
    if text.isEmpty {
        while large.count < largeBytes { large.append(UInt8(ascii: "a") + UInt8(truncatingIfNeeded: mix.next() % 4)) }
    } else {
        while large.count < largeBytes { large.append(contentsOf: text.prefix(largeBytes - large.count)) }
    }
    var largeRuns: [(workers: Int?, times: [Double])] = []
    var largeError: String?
    for workers in [1, nil] as [Int?] {
        var times: [Double] = []
        for k in 0..<reps {
            let dir = tp + "/large-\(workers ?? 0)-\(k)"
            syncDisk(tools)
            var options = AetherStore.Options()
            options.ingestWorkers = workers
            do {
                let t = try withStore(dir, options: options) { store in
                    let id = try store.createSession(name: "large", from: .blank).id
                    return try timed { try store.writeFile(id, path: "/large.bin", data: large) }.1
                }
                times.append(t)
            } catch {
                largeError = describe(error)
            }
            removeTree(dir)
        }
        largeRuns.append((workers, times))
    }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let largeOne = RateSummary(amount: Double(largeBytes), timesMicros: largeRuns.first?.times ?? [])
    let largeAll = RateSummary(amount: Double(largeBytes), timesMicros: largeRuns.last?.times ?? [])
    log("throughput: large writeFile one worker \(largeOne.map { fmtMBps($0.median) } ?? "n/a"), \(cores) workers \(largeAll.map { fmtMBps($0.median) } ?? "n/a")")

    // 2. tar -x of the same tree into a fresh directory (with and without a final sync).
    var untar: [Double] = []
    var untarSync: [Double] = []
    if tarOK {
        for k in 0..<reps {
            let dst = tp + "/untar-\(k)"
            try? makeDirectory(dst)
            syncDisk(tools)
            let r = runTool(["tar", "-C", dst, "-xf", tarPath])
            guard r.ok else {
                notes.append("tar -x failed: \(r.errorLine)")
                break
            }
            untar.append(r.micros)
            if tools.sync { untarSync.append(r.micros + runTool(["sync"]).micros) }
            removeTree(dst)
        }
    }

    // 3. lz4 -b1 and sha256sum of the same bytes.
    var lz4: Lz4Bench?
    if tarOK && tools.lz4 {
        log("throughput: lz4 -b1")
        let r = runTool(["lz4", "-b1", tarPath])
        lz4 = parseLz4Bench(r.stderr + "\n" + r.stdout)
        if lz4 == nil { notes.append("lz4 -b1: could not parse its output (\(r.errorLine))") }
    } else if !tools.lz4 {
        notes.append("lz4 not found")
    }
    var sha: [Double] = []
    if tools.sha256sum {
        _ = runBatched(["sha256sum"], files: paths, discardOutput: true)  // warm the cache
        for _ in 0..<reps {
            let r = runBatched(["sha256sum"], files: paths, discardOutput: true)
            guard let t = r.micros else {
                notes.append("sha256sum failed: \(r.error ?? "?")")
                break
            }
            sha.append(t)
        }
    } else {
        notes.append("sha256sum not found")
    }

    // 4. Reads: AetherFS (every file, and one large file) and cat, warm and cold.
    var afsFiles = ReadFigures()
    var afsLarge = ReadFigures()
    var catFiles = ReadFigures()
    var catLarge = ReadFigures()
    var coldOpen: [Double] = []
    let largePath = "/afs-bench-large.tar"
    let largeOK = tarOK && tarBytes > 0 && tarBytes <= 512 * 1024 * 1024
    var dropNote: String?
    if let readStore, let sid = sessionID {
        do {
            try withStore(readStore) { store in
                func readAll() throws -> Int {
                    var n = 0
                    for f in inv.files { n += try store.readFile(sid, path: f.path).count }
                    return n
                }
                _ = try readAll()
                for _ in 0..<reps { afsFiles.warm.append(try timed { try readAll() }.1) }
                if largeOK, let data = FileManager.default.contents(atPath: tarPath) {
                    try store.writeFile(sid, path: largePath, data: [UInt8](data))
                    _ = try store.readFile(sid, path: largePath)
                    for _ in 0..<reps { afsLarge.warm.append(try timed { try store.readFile(sid, path: largePath) }.1) }
                }
            }
            for _ in 0..<reps {
                if let why = dropCaches(tools) {
                    dropNote = why
                    break
                }
                let (store, tOpen) = try timed { try AetherStore.open(at: readStore) }
                coldOpen.append(tOpen)
                do {
                    afsFiles.cold.append(try timed { () throws -> Int in
                        var n = 0
                        for f in inv.files { n += try store.readFile(sid, path: f.path).count }
                        return n
                    }.1)
                    if !afsLarge.warm.isEmpty { afsLarge.cold.append(try timed { try store.readFile(sid, path: largePath) }.1) }
                    try store.close()
                } catch {
                    try? store.close()
                    throw error
                }
            }
        } catch {
            afsFiles.note = describe(error)
            failed = true
        }
    }
    if tools.cat {
        _ = runBatched(["cat"], files: paths, discardOutput: true)
        for _ in 0..<reps {
            if let t = runBatched(["cat"], files: paths, discardOutput: true).micros { catFiles.warm.append(t) }
        }
        if largeOK {
            _ = runTool(["cat", tarPath], discardOutput: true)
            for _ in 0..<reps {
                let r = runTool(["cat", tarPath], discardOutput: true)
                if r.ok { catLarge.warm.append(r.micros) }
            }
        }
        if dropNote == nil {
            for _ in 0..<reps {
                if let why = dropCaches(tools) {
                    dropNote = why
                    break
                }
                if let t = runBatched(["cat"], files: paths, discardOutput: true).micros { catFiles.cold.append(t) }
                if largeOK {
                    let r = runTool(["cat", tarPath], discardOutput: true)
                    if r.ok { catLarge.cold.append(r.micros) }
                }
            }
        }
    } else {
        catFiles.note = "cat not found"
    }
    if let dropNote { notes.append("cold reads skipped: \(dropNote)") }

    // 5. Durable small writes: 4 KiB each, every call returns after its data is durable.
    let writes = ctx.quick ? 500 : 2000
    var afsLatency: [Double] = []
    var latencyError: String?
    log("throughput: \(writes) durable 4 KiB writes")
    do {
        try withStore(tp + "/latency-store") { store in
            let s = try store.createSession(name: "latency", from: .blank)
            var rng = SplitMix64(seed: 0x1A7E_1C00)
            for i in 0..<writes {
                let data = rng.bytes(smallWriteSize)
                let path = "/lat/f\(pad(i, 5)).bin"
                afsLatency.append(try timed { try store.writeFile(s.id, path: path, data: data) }.1)
            }
        }
    } catch {
        latencyError = describe(error)
        failed = true
    }
    removeTree(tp + "/latency-store")
    let rawSync = writeFdatasyncLatencies(directory: tp, count: writes, size: smallWriteSize)
    let rawCreate = createFileFsyncLatencies(directory: tp, count: writes, size: smallWriteSize)
    let writers = 8
    log("throughput: \(writers) concurrent durable writers")
    let concurrent = measureConcurrentWrites(directory: tp, writers: writers, writesPerWriter: ctx.quick ? 100 : 500)
    if case .failure(let e) = rawSync { notes.append("write+fdatasync baseline failed: \(e)") }
    if case .failure(let e) = rawCreate { notes.append("create+fsync baseline failed: \(e)") }
    let rawSyncS = (try? rawSync.get()).flatMap { Summary($0) }
    let rawCreateS = (try? rawCreate.get()).flatMap { Summary($0) }
    let afsLatS = Summary(afsLatency)

    // Figures.
    let ingestS = Summary(ingest)
    let untarS = Summary(untar)
    let untarSyncS = Summary(untarSync)
    let shaS = Summary(sha)
    let ingestRate = RateSummary(amount: bytes, timesMicros: ingest)
    let ingestFiles = RateSummary(amount: nFiles, timesMicros: ingest)

    var t1: [[String]] = []
    func row(_ name: String, _ s: Summary?, bold: Bool = false) {
        let b = bold ? "**" : ""
        let mbps = s.flatMap { RateSummary(amount: bytes, timesMicros: $0.samples) }
        let fps = s.flatMap { RateSummary(amount: nFiles, timesMicros: $0.samples) }
        t1.append([
            name, s?.timeCell ?? "n/a", mbps?.cell(fmtMBps) ?? "n/a", fps?.cell(fmtPerSecond) ?? "n/a",
            b + fmtRatio(ratio(s?.p50, untarS?.p50)) + b,
        ])
    }
    row("**AetherFS ingest** (`createSession(from: .directory)`, durable)", ingestS, bold: true)
    for (label, run) in [("one worker", largeRuns.first), ("one worker per core (\(cores))", largeRuns.last)] {
        let sum = Summary(run?.times ?? [])
        let mb = RateSummary(amount: Double(largeBytes), timesMicros: run?.times ?? [])
        t1.append(["**AetherFS `writeFile` of 64 MiB**, half random, half the tar; \(label)", sum?.timeCell ?? "n/a", mb?.cell(fmtMBps) ?? "n/a", "—", "—"])
    }
    row("`tar -x` of the tree's tar", untarS)
    row("`tar -x` + `sync`", untarSyncS)
    row("`sha256sum` of every file (warm cache)", shaS)
    if let lz4 {
        t1.append(["`lz4 -b1` of the tar: compress, one core (ratio \(fmtNumber(lz4.ratio)))", "—", String(format: "%.0f MB/s", lz4.compressMBps), "—", "—"])
        t1.append(["`lz4 -b1` of the tar: decompress", "—", String(format: "%.0f MB/s", lz4.decompressMBps), "—", "—"])
    }
    var body = "Tree: \(source.source) — \(inv.files.count) files, \(fmtBytes(bytes)), \(inv.directories) directories"
    body += tarOK ? "; its tar: \(fmtBytes(tarBytes)).\n\n" : ".\n\n"
    body += "### Ingest\n\n"
    body += mdTable(["operation", "time p50 (min–max)", "MB/s", "files/s", "time ÷ tar -x"], t1, align: ["l", "r", "r", "r", "r"])
    body += "\n- \(reps) runs each; AetherFS into a fresh store each time (durable on return: chunk log synced, catalog committed); "
    body += "the tree is in the page cache (it was just read). `tar -x` into a fresh directory on the same file system.\n"
    if let e = ingestError { body += "- AetherFS ingest error: \(e)\n" }
    body += "- `writeFile` of 64 MiB: durable on return (chunks in the log, log synced, journal record synced); the chunks' SHA-256 and lz4 run on the caller's thread (`ingestWorkers` 1) or on one lane per core while the cut points are found in order.\n"
    if let e = largeError { body += "- Large writeFile error: \(e)\n" }

    func rate(_ amount: Double, _ xs: [Double]) -> RateSummary? { RateSummary(amount: amount, timesMicros: xs) }
    let afsWarm = rate(bytes, afsFiles.warm), afsCold = rate(bytes, afsFiles.cold)
    let catWarm = rate(bytes, catFiles.warm), catCold = rate(bytes, catFiles.cold)
    let lWarm = rate(tarBytes, afsLarge.warm), lCold = rate(tarBytes, afsLarge.cold)
    let clWarm = rate(tarBytes, catLarge.warm), clCold = rate(tarBytes, catLarge.cold)
    var t2: [[String]] = []
    t2.append(["**AetherFS `readFile` of every file**", afsWarm?.cell(fmtMBps) ?? "n/a", afsCold?.cell(fmtMBps) ?? "n/a",
               "**" + fmtRatio(ratio(afsWarm?.median, catWarm?.median)) + "**", fmtRatio(ratio(afsCold?.median, catCold?.median))])
    t2.append(["`cat` of every file", catWarm?.cell(fmtMBps) ?? "n/a", catCold?.cell(fmtMBps) ?? "n/a", "1", "1"])
    if largeOK {
        t2.append(["**AetherFS `readFile` of one \(fmtBytes(tarBytes)) file** (the tar)", lWarm?.cell(fmtMBps) ?? "n/a", lCold?.cell(fmtMBps) ?? "n/a",
                   "**" + fmtRatio(ratio(lWarm?.median, clWarm?.median)) + "**", fmtRatio(ratio(lCold?.median, clCold?.median))])
        t2.append(["`cat` of the tar", clWarm?.cell(fmtMBps) ?? "n/a", clCold?.cell(fmtMBps) ?? "n/a", "1", "1"])
    }
    body += "\n### Reads\n\n"
    body += mdTable(["read", "warm MB/s (min–max)", "cold MB/s (min–max)", "warm ÷ cat", "cold ÷ cat"], t2, align: ["l", "r", "r", "r", "r"])
    body += "\n- Warm: one untimed pass, then \(reps) timed passes. Cold: `echo 3 > /proc/sys/vm/drop_caches` before each pass; "
    body += "AetherFS closes and reopens the store first"
    if let o = Summary(coldOpen) { body += " (cold open: \(o.timeCell), not counted)" }
    body += ". `cat` runs with stdout on /dev/null, in batches of up to 2000 files per process.\n"
    if let n = afsFiles.note { body += "- AetherFS read error: \(n)\n" }

    var t3: [[String]] = []
    func latRow(_ name: String, _ s: Summary?, bold: Bool = false) {
        let b = bold ? "**" : ""
        guard let s else { t3.append([name, "n/a", "n/a", "n/a", "n/a"]); return }
        t3.append([name, b + fmtTime(s.p50) + b, fmtTime(s.percentile(99)), fmtTime(s.max), b + fmtRatio(ratio(s.p50, rawSyncS?.p50)) + b])
    }
    latRow("**AetherFS `writeFile`**, new 4 KiB file, durable on return", afsLatS, bold: true)
    latRow("`write` 4 KiB + `fdatasync`, same file (POSIX)", rawSyncS)
    latRow("new file: `open` + `write` 4 KiB + `fdatasync` + `close` + `fsync(dir)`", rawCreateS)
    body += "\n### Durable small writes\n\n"
    body += mdTable(["\(writes) writes of 4 KiB", "p50", "p99", "max", "p50 ÷ write+fdatasync"], t3, align: ["l", "r", "r", "r", "r"])
    body += "\n- One caller, one session, distinct paths and random bytes; each call is timed alone.\n"
    switch concurrent {
    case .success(let c):
        body += "- \(c.writers) writers at once, each writing \(c.writes / c.writers) new 4 KiB files into its own session, every call durable on return: "
            + "**\(fmtPerSecond(c.perSecond))**"
            + (c.rawPerSecond.map { "; \(c.writers) threads each appending 4 KiB + `fdatasync` to their own file: \(fmtPerSecond($0))" } ?? "") + ".\n"
    case .failure(let e):
        body += "- \(writers) concurrent writers: error: \(e)\n"
    }
    if let e = latencyError { body += "- AetherFS error: \(e)\n" }
    if let treeNote { notes.append(treeNote) }
    for n in notes { body += "- \(n)\n" }

    // Headline.
    var parts: [String] = []
    if let ir = ingestRate, let fr = ingestFiles {
        parts.append("ingest \(fmtMBps(ir.median)) (\(fmtPerSecond(fr.median).replacingOccurrences(of: "/s", with: " files/s"))), "
            + "\(fmtRatio(ratio(ingestS?.p50, untarS?.p50))) the time of tar -x (\(fmtRatio(ratio(ingestS?.p50, untarSyncS?.p50))) of tar -x + sync)")
    }
    if let w = afsWarm { parts.append("warm read of every file \(fmtMBps(w.median)) (\(fmtRatio(ratio(w.median, catWarm?.median))) the speed of cat)") }
    if let l = lWarm { parts.append("of one large file \(fmtMBps(l.median)) (\(fmtRatio(ratio(l.median, clWarm?.median))) cat)") }
    if let a = afsLatS { parts.append("durable 4 KiB write p50 \(fmtTime(a.p50)) (\(fmtRatio(ratio(a.p50, rawSyncS?.p50))) a raw write+fdatasync)") }
    let headline = parts.isEmpty ? "not measured" : parts.joined(separator: "; ")

    // Plot: latency CDFs.
    var series: [PlotSeries] = [PlotSeries(name: "AetherFS writeFile (durable)", points: cdfPoints(afsLatency), emphasized: true)]
    if let s = rawSyncS { series.append(PlotSeries(name: "write + fdatasync", points: cdfPoints(s.samples))) }
    if let s = rawCreateS { series.append(PlotSeries(name: "create + write + fdatasync + fsync(dir)", points: cdfPoints(s.samples))) }
    let cdf = LinePlot(
        title: "Durable 4 KiB write latency (CDF)", xLabel: "latency per call (log)", yLabel: "fraction of calls ≤ latency",
        series: series, logX: true, logY: false, xTick: axisMicros, yTick: axisPercent, yLo: 0, yHi: 1,
        legend: .bottomRight, markers: false, subtitle: "\(writes) writes each, one caller")
    let plot = PlotFile(file: "small-write-latency-cdf.svg", alt: "Small-write latency CDF: AetherFS writeFile vs write+fdatasync", svg: cdf.svg())

    // Targets.
    var checks: [TargetCheck] = []
    let treeDesc = "\(source.name), \(inv.files.count) files, \(fmtBytes(bytes))"
    if let one = largeOne {
        checks.append(TargetCheck(
            what: "ingest of new data, one core", target: "≥ 300 MB/s for large files", measured: "\(fmtMBps(one.median)) (64 MiB `writeFile`)",
            status: one.median >= 300e6 ? .met : .notMet,
            note: "median of \(reps) into a fresh store, `ingestWorkers` 1; a tree of small files: \(ingestRate.map { fmtMBps($0.median) } ?? "n/a") (\(treeDesc)), where per-file work counts, not only CDC → SHA-256 → lz4"))
    } else {
        checks.append(TargetCheck(what: "ingest of new data, one core", target: "≥ 300 MB/s for large files", measured: "—", status: .notMeasured, note: largeError))
    }
    if let all = largeAll {
        checks.append(TargetCheck(
            what: "ingest of new data, all cores", target: "≥ 500 MB/s using both cores", measured: "\(fmtMBps(all.median)) (64 MiB `writeFile`, \(cores) cores)",
            status: all.median >= 500e6 ? .met : .notMet,
            note: "median of \(reps); chunk hashing and compression on one lane per core"))
    }
    if let r = ratio(ingestS?.p50, untarSyncS?.p50) {
        checks.append(TargetCheck(
            what: "ingest of a real tree vs tar -x + sync", target: "within 1.2× of `tar -x` + `sync`",
            measured: "\(fmtNumber(r))× (\(fmtTime(ingestS!.p50)) vs \(fmtTime(untarSyncS!.p50)); vs tar -x alone: \(fmtNumber(ratio(ingestS?.p50, untarS?.p50)))×)",
            status: r <= 1.2 ? .met : .notMet,
            note: "DESIGN names a 23k-file tree; this run uses \(treeDesc) (`--repo DIR` takes any tree)"))
    } else {
        checks.append(TargetCheck(what: "ingest of a real tree vs tar -x + sync", target: "within 1.2× of `tar -x` + `sync`", measured: "—",
                                  status: .notMeasured, note: ingestError ?? "tar -x baseline not available"))
    }
    if let a = afsLatS, let r = rawSyncS {
        let x = a.p50 / r.p50
        checks.append(TargetCheck(
            what: "durable 4 KiB write, in process", target: "p50 ≤ 1.3× one raw `write`+`fdatasync`",
            measured: "\(fmtNumber(x))× (\(fmtTime(a.p50)) vs \(fmtTime(r.p50)))", status: x <= 1.3 ? .met : .notMet,
            note: "\(writes) new files in one session, one caller; the raw write appends to one file"))
    } else {
        checks.append(TargetCheck(what: "durable 4 KiB write, in process", target: "p50 ≤ 1.3× one raw `write`+`fdatasync`", measured: "—",
                                  status: .notMeasured, note: latencyError ?? "the write+fdatasync baseline failed"))
    }
    switch concurrent {
    case .success(let c):
        checks.append(TargetCheck(
            what: "durable writes, \(c.writers) concurrent writers", target: "≥ 5,000 durable writes/s on two cores",
            measured: "\(fmtPerSecond(c.perSecond))" + (c.rawPerSecond.map { " (raw write+fdatasync from \(c.writers) threads: \(fmtPerSecond($0)))" } ?? ""),
            status: c.perSecond >= 5000 ? .met : .notMet, note: "4 KiB new files, each writer in its own session, \(cores) cores"))
    case .failure(let e):
        checks.append(TargetCheck(what: "durable writes, \(writers) concurrent writers", target: "≥ 5,000 durable writes/s on two cores", measured: "—",
                                  status: .notMeasured, note: "\(e)"))
    }
    let cachedRead = lWarm ?? afsWarm
    if let c = cachedRead {
        var m = "\(fmtMBps(c.median)) " + (lWarm != nil ? "(one \(fmtBytes(tarBytes)) file)" : "(every file of \(treeDesc))")
        if lWarm != nil, let w = afsWarm { m += "; every file of the tree: \(fmtMBps(w.median))" }
        checks.append(TargetCheck(what: "cached read, one core", target: "≥ 1.5 GB/s", measured: m,
                                  status: c.median >= 1.5e9 ? .met : .notMet,
                                  note: "warm page cache and store caches; judged on the large-file read when there is one"))
    } else {
        checks.append(TargetCheck(what: "cached read, one core", target: "≥ 1.5 GB/s", measured: "—", status: .notMeasured, note: afsFiles.note))
    }

    var dominates: [String] = []
    if let ingestS, let ir = ingestRate {
        var d = "Ingest: \(fmtTime(ingestS.p50 / max(1, nFiles))) per file on average (\(fmtMBps(ir.median))). The same bytes through "
        var base: [String] = []
        if let lz4 { base.append("lz4 -b1 alone: \(String(format: "%.0f", lz4.compressMBps)) MB/s") }
        if let s = shaS { base.append("coreutils sha256sum: \(fmtMBps(bytes / (s.p50 / 1e6))) incl. process starts") }
        if let u = untarS { base.append("tar -x: \(fmtTime(u.p50 / max(1, nFiles))) per file") }
        d += base.isEmpty ? "the baselines: n/a." : base.joined(separator: "; ") + "."
        dominates.append(d)
    }
    if let a = afsLatS, let r = rawSyncS {
        dominates.append("Small writes: AetherFS `writeFile` p50 \(fmtTime(a.p50)) against \(fmtTime(r.p50)) for a raw write+fdatasync: "
            + "the journal's record and its fdatasync (group commit) set the floor. The journal is written ahead (synced zeroes), so its fdatasync "
            + "changes no file size, while the raw append's writes the inode too; the difference (\(a.p50 >= r.p50 ? fmtTime(a.p50 - r.p50) : "−" + fmtTime(r.p50 - a.p50))) "
            + "is the in-process work less that inode write.")
    }

    var concurrentJSON = JSON.null
    if case .success(let c) = concurrent {
        let raw: JSON = c.rawPerSecond.map { JSON.double($0) } ?? .null
        concurrentJSON = .object([
            ("writers", .int(Int64(c.writers))), ("writes", .int(Int64(c.writes))), ("per_second", .double(c.perSecond)), ("raw_per_second", raw),
        ])
    }
    let json: JSON = .object([
        ("tree", .string(source.name)), ("source", .string(source.source)), ("files", .int(Int64(inv.files.count))),
        ("bytes", .int(inv.bytes)), ("tar_bytes", .double(tarBytes)),
        ("ingest", .opt(ingestS)), ("ingest_bytes_per_s", .opt(ingestRate)), ("ingest_files_per_s", .opt(ingestFiles)),
        ("ingest_error", .opt(ingestError)),
        ("tar_x", .opt(untarS)), ("tar_x_sync", .opt(untarSyncS)), ("sha256sum", .opt(shaS)),
        ("lz4_b1", lz4.map { l -> JSON in .object([("compress_MBps", .double(l.compressMBps)), ("decompress_MBps", .double(l.decompressMBps)),
                                      ("ratio", .opt(l.ratio))]) } ?? .null),
        ("ratio_ingest_over_tar_x", .opt(ratio(ingestS?.p50, untarS?.p50))),
        ("read_all_files_bytes_per_s", .object([("aetherfs_warm", .opt(afsWarm)), ("aetherfs_cold", .opt(afsCold)),
                                                ("cat_warm", .opt(catWarm)), ("cat_cold", .opt(catCold))])),
        ("read_large_file_bytes_per_s", .object([("aetherfs_warm", .opt(lWarm)), ("aetherfs_cold", .opt(lCold)),
                                                 ("cat_warm", .opt(clWarm)), ("cat_cold", .opt(clCold))])),
        ("cold_open", .opt(Summary(coldOpen))), ("drop_caches", .opt(dropNote.map { "n/a: \($0)" })),
        ("small_write_4k", .object([
            ("writes", .int(Int64(writes))),
            ("concurrent", concurrentJSON),
            ("aetherfs", afsLatS.map { latencyJSON($0) } ?? .null),
            ("write_fdatasync", rawSyncS.map { latencyJSON($0) } ?? .null),
            ("create_fsync", rawCreateS.map { latencyJSON($0) } ?? .null),
            ("error", .opt(latencyError)),
        ])),
        ("notes", .array(notes.map { .string($0) })),
    ])
    return Section(key: "throughput", title: "Throughput: ingest, reads, durable small writes", headline: headline, body: body,
                   json: json, plots: [plot], checks: checks, dominates: dominates, failed: failed)
}

private func latencyJSON(_ s: Summary) -> JSON {
    .object([
        ("p50_us", .double(s.p50)), ("p99_us", .double(s.percentile(99))), ("max_us", .double(s.max)),
        ("min_us", .double(s.min)), ("runs", .int(Int64(s.samples.count))),
    ])
}
