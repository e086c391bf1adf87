// Figure 4: scale. A store with 1 M files (10 imports of 100k distinct files) and 10k sessions;
// the time to open it and the peak resident memory, measured in a fresh child process
// (`afs-bench --scale-probe DIR`), next to a store 100× smaller built the same way.

import AFSCore
import Foundation

/// What the child prints on stdout (one JSON object).
struct ScaleProbeOutput: Codable {
    var openMicros: Double
    var listSessionsMicros: Double
    var readMicros: Double
    var totalMicros: Double
    var sessions: Int
    var readBytes: Int
    var peakRSSBytes: Int64?
    var rssBytes: Int64?
    var error: String?
}

/// Child side: open the store, list every session, list the root of one and read one file; report
/// the times and VmHWM / VmRSS from /proc/self/status. Prints JSON; exit status 0 on success.
func scaleProbeMain(store dir: String, path: String?) -> Int32 {
    let clock = ContinuousClock()
    var out = ScaleProbeOutput(openMicros: 0, listSessionsMicros: 0, readMicros: 0, totalMicros: 0, sessions: 0, readBytes: 0)
    var status: Int32 = 0
    do {
        let t0 = clock.now
        let store = try AetherStore.open(at: dir)
        let t1 = clock.now
        do {
            let sessions = try store.sessions()
            let t2 = clock.now
            if let s = sessions.last {
                _ = try store.list(s.id, path: "/")
                if let path { out.readBytes = try store.readFile(s.id, path: path).count }
            }
            let t3 = clock.now
            out.openMicros = micros(t1 - t0)
            out.listSessionsMicros = micros(t2 - t1)
            out.readMicros = micros(t3 - t2)
            out.totalMicros = micros(t3 - t0)
            out.sessions = sessions.count
            out.peakRSSBytes = procStatusBytes("VmHWM")
            out.rssBytes = procStatusBytes("VmRSS")
            try store.close()
        } catch {
            try? store.close()
            throw error
        }
    } catch {
        out.error = describe(error)
        status = 1
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    if let data = try? encoder.encode(out), let text = String(data: data, encoding: .utf8) {
        print(text)
    } else {
        print("{\"error\":\"cannot encode the probe result\"}")
        status = 1
    }
    return status
}

/// Parent side: runs the probe in a child process.
func runScaleProbe(store: String, path: String) -> Result<ScaleProbeOutput, BenchError> {
    let r = runProgram(selfExecutablePath(), ["--scale-probe", store, "--probe-path", path])
    let line = r.stdout.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
    guard let out = try? JSONDecoder().decode(ScaleProbeOutput.self, from: Data(line.utf8)) else {
        return .failure(BenchError("probe failed: \(r.errorLine)"))
    }
    if let e = out.error { return .failure(BenchError(e)) }
    guard r.ok else { return .failure(BenchError("probe exited with \(r.status)")) }
    return .success(out)
}

struct ScaleStore {
    var label: String
    var filesPerImport: Int
    var imports: Int
    var sessions: Int
    var importTimes: [Double] = []
    var forkTimes: [Double] = []
    var buildMicros: Double = 0
    var stats: StoreStats?
    var diskBytes: Int64?
    var warm: [ScaleProbeOutput] = []
    var cold: ScaleProbeOutput?
    var coldNote: String?
    var error: String?

    var filesImported: Int { filesPerImport * imports }
    var open: Summary? { Summary(warm.map(\.openMicros)) }
    var total: Summary? { Summary(warm.map(\.totalMicros)) }
    var peakRSS: Int64? { warm.compactMap(\.peakRSSBytes).max() }

    var json: JSON {
        .object([
            ("label", .string(label)), ("files_per_import", .int(Int64(filesPerImport))), ("imports", .int(Int64(imports))),
            ("files_imported", .int(Int64(filesImported))), ("sessions", .int(Int64(sessions))),
            ("import", .opt(Summary(importTimes))), ("fork", Summary(forkTimes)?.json(unit: "us", withSamples: false) ?? .null),
            ("build_us", .double(buildMicros)),
            ("chunks", .opt(stats.map { Int64($0.chunks) })), ("logical_bytes", .opt(stats?.logicalBytes)),
            ("physical_bytes", .opt(stats?.physicalBytes)), ("disk_bytes_du", .opt(diskBytes)),
            ("open", .opt(open)), ("open_list_read", .opt(total)),
            ("list_sessions", .opt(Summary(warm.map(\.listSessionsMicros)))),
            ("cold_open_us", .opt(cold?.openMicros)), ("cold_open_list_read_us", .opt(cold?.totalMicros)),
            ("cold_note", .opt(coldNote)),
            ("peak_rss_bytes", .opt(peakRSS)), ("error", .opt(error)),
        ])
    }
}

/// Builds the store: `imports` imports of a synthetic tree of `filesPerImport` files, regenerated
/// with a new seed before each import (so every file is distinct), then forks round-robin of the
/// imported sessions up to `sessions` sessions in all. Then probes it in child processes.
func buildAndProbe(_ s: inout ScaleStore, ctx: BenchContext) {
    let tree = ctx.work + "/scale-tree-\(s.filesPerImport)"
    let dir = ctx.work + "/scale-store-\(s.label)"
    defer {
        removeTree(tree)
        removeTree(dir)
    }
    let clock = ContinuousClock()
    let t0 = clock.now
    do {
        var ids: [String] = []
        try withStore(dir) { store in
            for i in 0..<s.imports {
                log("scale \(s.label): tree \(i + 1)/\(s.imports) (\(fmtCount(s.filesPerImport)) files): writing, importing")
                _ = try makeSyntheticTree(at: tree, files: s.filesPerImport, seed: 0x5CA1_E000 &+ UInt64(i))
                let (info, t) = try timed {
                    try store.createSession(name: "scale-\(i)", from: .directory(tree)) { p in
                        if p.files > 0 && p.files % 50_000 == 0 { log("  … imported \(p.files) files") }
                    }
                }
                s.importTimes.append(t)
                ids.append(info.id)
            }
            let forks = max(0, s.sessions - s.imports)
            log("scale \(s.label): \(forks) forks")
            for j in 0..<forks {
                let (_, t) = try timed { try store.fork(ids[j % ids.count]) }
                s.forkTimes.append(t)
                if (j + 1) % 2000 == 0 { log("  … \(j + 1) forks") }
            }
            s.stats = try store.stats()
        }
    } catch {
        s.error = describe(error)
        log("scale \(s.label): error: \(s.error!)")
        return
    }
    s.buildMicros = micros(clock.now - t0)
    removeTree(tree)
    s.diskBytes = duBytes(dir, allocated: true, tools: ctx.tools)

    // Cold probe first (page cache dropped), then three warm ones.
    if let why = dropCaches(ctx.tools) {
        s.coldNote = why
    } else {
        switch runScaleProbe(store: dir, path: syntheticFirstFile) {
        case .success(let o): s.cold = o
        case .failure(let e): s.coldNote = e.description
        }
    }
    for _ in 0..<3 {
        switch runScaleProbe(store: dir, path: syntheticFirstFile) {
        case .success(let o): s.warm.append(o)
        case .failure(let e):
            s.error = e.description
            return
        }
    }
}

private func buildCell(_ s: ScaleStore) -> String {
    var cell = fmtTime(s.buildMicros)
    if let i = Summary(s.importTimes) {
        let f = Summary(s.forkTimes).map { fmtTime($0.p50) } ?? "n/a"
        cell += " (import p50 \(fmtTime(i.p50)), fork p50 \(f))"
    }
    return cell
}

func scaleSection(_ ctx: BenchContext) -> Section {
    let bigFiles = ctx.quick ? 10_000 : 100_000
    let bigSessions = ctx.quick ? 1_000 : 10_000
    var small = ScaleStore(label: "small", filesPerImport: bigFiles / 100, imports: 10, sessions: bigSessions / 100)
    var big = ScaleStore(label: "large", filesPerImport: bigFiles, imports: 10, sessions: bigSessions)
    buildAndProbe(&small, ctx: ctx)
    buildAndProbe(&big, ctx: ctx)

    func row(_ s: ScaleStore) -> [String] {
        [
            "\(fmtCount(s.filesImported)) files in \(fmtCount(s.sessions)) sessions",
            s.stats.map { String($0.chunks) } ?? "n/a",
            s.diskBytes.map { fmtBytes(Double($0)) } ?? "n/a",
            buildCell(s),
            s.open.map { "**\($0.timeCell)**" } ?? "n/a",
            s.total?.timeCell ?? "n/a",
            s.cold.map { "\(fmtTime($0.openMicros)) / \(fmtTime($0.totalMicros))" } ?? "n/a",
            s.peakRSS.map { "**\(fmtBytes(Double($0)))**" } ?? "n/a",
        ]
    }
    var body = mdTable(
        ["store", "chunks", "on disk (du)", "build", "open p50 (min–max)", "open + list sessions + read a file", "cold: open / open+list+read", "peak RSS (VmHWM)"],
        [row(small), row(big)], align: ["l", "r", "r", "r", "r", "r", "r", "r"])
    body += "\n- Built with 10 imports (`createSession(from: .directory)`) of a synthetic tree regenerated with a new seed before each import, "
    body += "so every imported file is distinct (\(fmtCount(big.filesImported)) files, \(fmtCount(big.filesPerImport)) per session), then forks of those "
    body += "sessions, round robin, up to \(fmtCount(big.sessions)) sessions. Each fork sees a whole \(fmtCount(big.filesPerImport))-file tree.\n"
    body += "- Probe: a fresh child process (`afs-bench --scale-probe DIR`) runs `AetherStore.open`, `sessions()` (all of them), `list` of one "
    body += "session's root and `readFile` of one file, then reads VmHWM from /proc/self/status. Warm: median of 3 probes; cold: one probe after drop_caches.\n"
    for s in [small, big] {
        if let e = s.error { body += "- \(s.label) store: error: \(e)\n" }
        if let n = s.coldNote { body += "- \(s.label) store: cold probe n/a — \(n)\n" }
    }

    var headline = "Scale: not measured"
    if let o = big.open, let t = big.total {
        headline = "A store of \(fmtCount(big.filesImported)) files in \(fmtCount(big.sessions)) sessions opens in \(fmtTime(o.p50)) "
        headline += "(\(fmtTime(t.p50)) with listing every session and reading a file"
        if let c = big.cold { headline += "; \(fmtTime(c.totalMicros)) cold" }
        headline += ")"
        if let r = big.peakRSS {
            headline += "; peak RSS \(fmtBytes(Double(r)))"
            if let rs = small.peakRSS { headline += ", \(fmtRatio(Double(r) / Double(rs))) that of a store 100× smaller" }
        }
    } else if let e = big.error {
        headline += " (\(e))"
    }

    var checks: [TargetCheck] = []
    if let t = big.total, let r = big.peakRSS {
        let secondsOK = t.p50 <= 10e6
        let growth = small.peakRSS.map { Double(r) / Double($0) }
        let boundedOK = growth.map { $0 <= 2 } ?? false
        var measured = "open + list + read \(fmtTime(t.p50))"
        if let c = big.cold { measured += " (cold \(fmtTime(c.totalMicros)))" }
        measured += "; peak RSS \(fmtBytes(Double(r)))" + (growth.map { " = \(fmtNumber($0))× the 100×-smaller store" } ?? "")
        checks.append(TargetCheck(
            what: "open a store of \(fmtCount(big.filesImported)) files / \(fmtCount(big.sessions)) sessions", target: "seconds, bounded memory",
            measured: measured, status: secondsOK && boundedOK ? .met : .notMet,
            note: "judged as: warm open + list + read ≤ 10 s, and peak RSS < 2× that of a store with 100× fewer files and sessions"
                + (ctx.quick ? "; quick run: 100k files / 1k sessions, not 1 M / 10k" : "")))
    } else {
        checks.append(TargetCheck(what: "open a store of 1 M files / 10k sessions", target: "seconds, bounded memory", measured: "—",
                                  status: .notMeasured, note: big.error))
    }

    var dominates: [String] = []
    if let o = big.open, let t = big.total, let w = Summary(big.warm.map(\.listSessionsMicros)) {
        dominates.append("Scale: of the warm open + list + read (\(fmtTime(t.p50))), `AetherStore.open` (chunk index checkpoint + log tail scan, catalog) "
            + "takes \(fmtTime(o.p50)) for \(big.stats.map { String($0.chunks) } ?? "?") chunks and listing \(fmtCount(big.sessions)) sessions \(fmtTime(w.p50)).")
    }

    let json: JSON = .object([("small", small.json), ("large", big.json)])
    return Section(key: "scale", title: "Scale: open time and memory", headline: headline, body: body, json: json,
                   plots: [], checks: checks, dominates: dominates, failed: big.error != nil || small.error != nil)
}
