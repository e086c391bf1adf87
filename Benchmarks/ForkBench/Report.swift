// What a figure hands back (markdown, JSON, plots, target checks) and how the run is written out:
// markdown on stdout, JSON with --json, and Docs/PERFORMANCE.md + Docs/perf/*.svg with --docs.

import Foundation

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
    static func opt(_ i: Int64?) -> JSON { i.map { .int($0) } ?? .null }
    static func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
    static func opt(_ s: Summary?) -> JSON { s?.json ?? .null }
    static func opt(_ r: RateSummary?) -> JSON { r?.json ?? .null }

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

// MARK: - What a figure produces

/// One DESIGN §6 target, judged automatically from this run's figures.
struct TargetCheck {
    enum Status: String {
        case met
        case notMet = "not met"
        case notMeasured = "not measured"
    }

    var what: String
    var target: String
    var measured: String
    var status: Status
    /// Why, or how it was judged.
    var note: String?

    var json: JSON {
        .object([
            ("what", .string(what)), ("target", .string(target)), ("measured", .string(measured)),
            ("status", .string(status.rawValue)), ("note", .opt(note)),
        ])
    }
}

/// A standalone SVG written to DOCS/perf/`file`.
struct PlotFile {
    var file: String
    var alt: String
    var svg: String
}

struct Section {
    /// fork, delta, throughput, scale, http.
    var key: String
    var title: String
    /// One-line headline (the ratio to the baseline), shown first.
    var headline: String
    /// Tables and notes, without the title and without plots.
    var body: String
    var json: JSON
    var plots: [PlotFile] = []
    var checks: [TargetCheck] = []
    /// "What dominates" notes for the doc's analysis section.
    var dominates: [String] = []
    /// An AetherFS failure (exit status 1); baselines that are n/a are not failures.
    var failed = false

    func markdown(plotsInline: Bool) -> String {
        var s = "## \(title)\n\n**\(headline)**\n\n" + body
        if !s.hasSuffix("\n") { s += "\n" }
        for p in plots {
            s += plotsInline ? "\n![\(p.alt)](perf/\(p.file))\n" : "\n(plot `perf/\(p.file)`: written with `--docs DIR`)\n"
        }
        return s
    }
}

// MARK: - Machine

struct Machine {
    var cores: Int
    var cpu: String?
    var memoryBytes: Int64?
    var kernel: String?
    var os: String?
    var workDir: String
    var dfLine: String?
    var fsType: String?
    var device: String?
    var disk: String?
    var loadStart: String?
    var loadEnd: String?

    static func probe(work: String, tools: Tools) -> Machine {
        var m = Machine(cores: ProcessInfo.processInfo.activeProcessorCount, workDir: work)
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            m.cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }) {
            let parts = line.split(whereSeparator: { $0 == " " })
            if parts.count >= 2, let kb = Int64(parts[1]) { m.memoryBytes = kb * 1024 }
        }
        if let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") }) {
            m.os = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        if tools.uname {
            let r = runTool(["uname", "-r"])
            if r.ok { m.kernel = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        if tools.df {
            let r = runTool(["df", "-T", work])
            if r.ok {
                let lines = r.stdout.split(separator: "\n").dropFirst()
                let joined = lines.joined(separator: " ").split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
                m.dfLine = joined
                let parts = joined.split(separator: " ")
                if parts.count >= 2 {
                    m.device = String(parts[0])
                    m.fsType = String(parts[1])
                }
            }
        }
        if tools.lsblk, let dev = m.device, dev.hasPrefix("/dev/") {
            let r = runTool(["lsblk", "-dno", "NAME,SIZE,ROTA,TYPE,MODEL", dev])
            if r.ok {
                let t = r.stdout.split(separator: "\n").first.map { $0.split(separator: " ").joined(separator: " ") }
                if let t, !t.isEmpty { m.disk = t }
            }
        }
        m.loadStart = loadAverage()
        return m
    }

    var markdownTable: String {
        var s = "| cores | CPU | memory | OS / kernel | scratch file system | disk |\n|---:|---|---:|---|---|---|\n"
        let mem = memoryBytes.map { fmtBytes(Double($0)) } ?? "n/a"
        let osk = [os, kernel].compactMap { $0 }.joined(separator: " / ")
        let fs = "\(fsType ?? "n/a") on \(device ?? "n/a") (`\(workDir)`)"
        let disk = self.disk.map { "`lsblk`: \($0) (ROTA=1 on a VM's virtio disk does not mean spinning)" } ?? "n/a"
        s += "| \(cores) | \(cpu ?? "n/a") | \(mem) | \(osk.isEmpty ? "n/a" : osk) | \(fs) | \(disk) |\n"
        s += "\nLoad average (1/5/15 min) at start: \(loadStart ?? "n/a")" + (loadEnd.map { "; at end: \($0)" } ?? "") + ". "
        s += "Timings on a shared VM move by 1–3× with load: compare ratios from the same run, not absolute figures across runs.\n"
        return s
    }

    var json: JSON {
        .object([
            ("cores", .int(Int64(cores))), ("cpu", .opt(cpu)), ("memory_bytes", .opt(memoryBytes)),
            ("os", .opt(os)), ("kernel", .opt(kernel)), ("work_dir", .string(workDir)), ("df", .opt(dfLine)),
            ("filesystem_type", .opt(fsType)), ("device", .opt(device)), ("disk", .opt(disk)),
            ("load_start", .opt(loadStart)), ("load_end", .opt(loadEnd)),
        ])
    }
}

func loadAverage() -> String? {
    guard let t = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
    return t.split(separator: " ").prefix(3).joined(separator: " ")
}

// MARK: - The whole run

struct RunInfo {
    var command: String
    var quick: Bool
    var only: [String]
    var skipped: [String]
    var started: Date
    var finished: Date
    var machine: Machine
    var processFloor: Summary?
    var workloadNotes: [String]
    /// Where MountBench's judged targets are read from (`mount.json`, `mount-20k.json`).
    var perfDirectory: String?
}

/// Targets of DESIGN §6 that no figure of this run judged: fork over HTTP when the `http` figure did not
/// run (when it ran, its section carries the judgment, or "not measured" with the reason), and the mount's,
/// as MountBench judged them in its last runs (`perf/mount.json`, `perf/mount-20k.json`).
func unmeasuredTargets(_ sections: [Section], perfDirectory: String?) -> [TargetCheck] {
    var checks: [TargetCheck] = []
    if !sections.contains(where: { $0.key == "http" }) {
        checks.append(TargetCheck(what: httpTarget.what, target: httpTarget.target, measured: "—", status: .notMeasured,
                                  note: "the `http` figure was not run (it needs `afs-server`: swift build -c release --product afs-server)"))
    }
    let mount = perfDirectory.map { mountTargets($0) } ?? []
    if mount.isEmpty {
        checks.append(TargetCheck(what: "the mount against the local disk", target: "the targets of Benchmarks/MountBench",
                                  measured: "—", status: .notMeasured, note: "no MountBench report (Benchmarks/MountBench/run.sh) in perf/"))
    }
    return checks + mount
}

/// The mount's targets as MountBench judged them (`Benchmarks/MountBench/run.sh` writes `mount.json` beside
/// its report), from the swift-syntax run and the 20k-file run; rows a run did not measure are left out.
func mountTargets(_ perf: String) -> [TargetCheck] {
    var checks: [TargetCheck] = []
    for (file, tree) in [("mount.json", "swift-syntax"), ("mount-20k.json", "20k-file tree")] {
        guard let data = FileManager.default.contents(atPath: perf + "/" + file),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let targets = object["targets"] as? [[String: Any]]
        else { continue }
        let run = object["run"] as? String ?? "?"
        for t in targets where t["measured"] as? Bool == true {
            let what = t["what"] as? String ?? "?"
            let measured = "embedded \(t["embedded"] as? String ?? "—"), remote \(t["remote"] as? String ?? "—")"
            checks.append(TargetCheck(
                what: "mount, \(tree): \(what)", target: t["target"] as? String ?? "?", measured: measured,
                status: t["met"] as? Bool == true ? .met : .notMet, note: "MountBench run of \(run) (perf/\(file.replacingOccurrences(of: ".json", with: ".md")))"))
        }
    }
    return checks
}

func targetsMarkdown(_ sections: [Section], run: RunInfo) -> String {
    let checks = sections.flatMap(\.checks) + unmeasuredTargets(sections, perfDirectory: run.perfDirectory)
    var s = "## Where AetherFS is short of a target\n\n"
    s += "Each DESIGN §6 target, judged automatically from the figures of this run.\n\n"
    s += "| what | target | measured here | status |\n|---|---|---|---|\n"
    for c in checks {
        let status = c.status == .met ? "met" : (c.status == .notMet ? "**not met**" : "not measured")
        s += "| \(c.what) | \(c.target) | \(c.measured) | \(status) |\n"
    }
    let short = checks.filter { $0.status == .notMet }
    s += "\n"
    if short.isEmpty {
        s += "No measured target is missed in this run.\n"
    } else {
        s += "Short of target:\n\n"
        for c in short { s += "- **\(c.what)**: \(c.measured) against \(c.target)." + (c.note.map { " \($0)" } ?? "") + "\n" }
    }
    let notes = checks.filter { $0.status != .notMet && $0.note != nil }
    if !notes.isEmpty {
        s += "\nHow the others were judged:\n\n"
        for c in notes { s += "- \(c.what): \(c.note!)\n" }
    }
    for key in allFigures where run.skipped.contains(key) {
        s += "- The `\(key)` figure was not run (`--only \(run.only.joined(separator: ","))`): its targets are not judged.\n"
    }
    return s
}

/// The full Docs/PERFORMANCE.md.
func renderPerformanceDoc(_ sections: [Section], run: RunInfo) -> String {
    let date = ISO8601DateFormatter().string(from: run.finished)
    let minutes = run.finished.timeIntervalSince(run.started) / 60
    var s = "# AetherFS performance\n\n"
    s += "<!-- Generated by afs-bench (Benchmarks/ForkBench). Do not edit: every line is rewritten by the next run. -->\n\n"
    s += "Regenerate everything (tables, plots, this file) with one command from the package root:\n\n"
    s += "```sh\nswift run -c release afs-bench --docs Docs\n```\n\n"
    s += "This file came from `\(run.command)`, finished \(date), in \(String(format: "%.1f", minutes)) minutes"
    s += run.quick ? " — a **quick** run (fewer sizes, forks and repetitions).\n\n" : ".\n\n"
    s += "How to read it: each figure opens with its headline ratio to the baseline, measured in the same run on the same "
    s += "file system. Times are medians of several repetitions with min–max in parentheses. External baselines are "
    s += "separate processes, so each includes one process start"
    if let f = run.processFloor { s += " (here: `true` takes \(fmtTime(f.p50)) p50)" }
    s += ". Raw figures: [`perf/results.json`](perf/results.json); how the harness works: `Benchmarks/README.md`.\n\n"
    s += "## Machine\n\n" + run.machine.markdownTable + "\n"
    if !run.workloadNotes.isEmpty {
        s += "Workloads:\n\n" + run.workloadNotes.map { "- \($0)" }.joined(separator: "\n") + "\n\n"
    }
    s += "## Headlines\n\n"
    for sec in sections { s += "- \(sec.title): \(sec.headline)\n" }
    if !run.skipped.isEmpty { s += "- Not run this time: \(run.skipped.joined(separator: ", ")).\n" }
    s += "\n" + targetsMarkdown(sections, run: run) + "\n"
    let dominates = sections.flatMap { sec in sec.dominates.map { "- **\(sec.title)**: \($0)" } }
    if !dominates.isEmpty {
        s += "## What dominates the cost\n\n" + dominates.joined(separator: "\n") + "\n\n"
    }
    for sec in sections { s += sec.markdown(plotsInline: true) + "\n" }
    return s
}

/// Writes DIR/PERFORMANCE.md, DIR/perf/*.svg and DIR/perf/results.json. Old SVGs of this
/// harness are removed first, so the directory holds exactly this run's plots.
func writeDocs(_ dir: String, sections: [Section], run: RunInfo, json: JSON) throws {
    let perf = dir + "/perf"
    try makeDirectory(perf)
    let fm = FileManager.default
    for name in (try? fm.contentsOfDirectory(atPath: perf)) ?? [] where name.hasSuffix(".svg") {
        try? fm.removeItem(atPath: perf + "/" + name)
    }
    for sec in sections {
        for p in sec.plots {
            try Data(p.svg.utf8).write(to: URL(fileURLWithPath: perf + "/" + p.file), options: .atomic)
        }
    }
    try Data((json.render() + "\n").utf8).write(to: URL(fileURLWithPath: perf + "/results.json"), options: .atomic)
    let doc = renderPerformanceDoc(sections, run: run) + embeddedPerfNotes(perf)
    try Data(doc.utf8).write(to: URL(fileURLWithPath: dir + "/PERFORMANCE.md"), options: .atomic)
}

/// The notes kept beside the plots, when present, appended to PERFORMANCE.md under headings of their own:
/// `perf/inprocess.md` (written by `Benchmarks/InProcess/run.sh`), `perf/profiles.md` (the profiles of the
/// misses), `perf/workspaces.md` (written by `afs-vmbench --out`), `perf/mount.md` (written by
/// `Benchmarks/MountBench/run.sh`), `perf/transport.md` (written by `afs-transportbench --out`) and `perf/console.md`
/// (written by `Benchmarks/ConsoleBench/run.sh --out`), `perf/soak.md` (written by `afs-soak --out`) and `perf/replicas.md`
/// (afs-replicabench's table). Each file's own `# ` title is dropped and its headings move one level down (not inside code blocks).
func embeddedPerfNotes(_ perf: String) -> String {
    let notes = [
        ("inprocess.md", "In-process figures (ordo-one/benchmark)"),
        ("profiles.md", "Profiles: where the misses come from"),
        ("workspaces.md", "Workspace VMs: boot, stop, start"),
        ("mount.md", "The mount against the local disk"),
        ("transport.md", "Mount transport: HTTP or gRPC"),
        ("console.md", "Web console: page loads"),
        ("soak.md", "Crash soak: SIGKILL under load"),
        ("replicas.md", "Replicas: a fleet behind nginx, one replica killed and restarted"),
    ]
    var s = ""
    for (file, heading) in notes {
        guard let text = try? String(contentsOfFile: perf + "/" + file, encoding: .utf8) else { continue }
        var lines = text.components(separatedBy: "\n")
        if lines.first?.hasPrefix("# ") == true { lines.removeFirst() }
        var inCode = false
        for i in lines.indices {
            if lines[i].hasPrefix("```") {
                inCode.toggle()
            } else if !inCode && lines[i].hasPrefix("#") {
                lines[i] = "#" + lines[i]
            }
        }
        let body = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        s += "## \(heading)\n\nFrom [`perf/\(file)`](perf/\(file)).\n\n\(body)\n\n"
    }
    return s
}

func resultsJSON(_ sections: [Section], run: RunInfo) -> JSON {
    var kv: [(String, JSON)] = [
        ("benchmark", .string("afs-bench")),
        ("command", .string(run.command)),
        ("quick", .bool(run.quick)),
        ("started", .string(ISO8601DateFormatter().string(from: run.started))),
        ("finished", .string(ISO8601DateFormatter().string(from: run.finished))),
        ("machine", run.machine.json),
        ("process_start_floor", .opt(run.processFloor)),
        ("workloads", .array(run.workloadNotes.map { .string($0) })),
    ]
    for sec in sections { kv.append((sec.key, sec.json)) }
    kv.append(("targets", .array((sections.flatMap(\.checks) + unmeasuredTargets(sections, perfDirectory: run.perfDirectory)).map(\.json))))
    return .object(kv)
}

// MARK: - Markdown helpers

/// A markdown table from a header row and rows of cells.
func mdTable(_ header: [String], _ rows: [[String]], align: [Character]? = nil) -> String {
    var s = "| " + header.joined(separator: " | ") + " |\n|"
    for i in header.indices {
        let a = align.flatMap { i < $0.count ? $0[i] : nil } ?? "l"
        s += a == "r" ? "---:|" : "---|"
    }
    s += "\n"
    for r in rows { s += "| " + r.joined(separator: " | ") + " |\n" }
    return s
}
