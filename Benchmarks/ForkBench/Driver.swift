// Command line, workloads, running the figures in order, and writing stdout / --json / --docs.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

let allFigures = ["fork", "delta", "throughput", "scale", "http"]

struct Config {
    var quick = false
    var repos: [String] = []
    var workParent = "/var/tmp"
    var jsonPath: String?
    var docsDir: String?
    var only: [String] = allFigures
    var mirror = "/opt/swift-packages"
    /// afs-server for the http figure (default: next to this executable).
    var serverPath: String?
}

func usage() -> String {
    """
    usage: afs-bench [--quick] [--only LIST] [--repo DIR]... [--mirror DIR] [--server PATH] [--work DIR] [--json FILE] [--docs DIR]
      --quick        fewer sizes, forks and writes: fork 100 and 10k files; delta on the small repo, 10 forks;
                     scale 100k files / 1k sessions; http 50 sequential requests, load 4 clients × 3 s
      --only LIST    comma-separated figures to run: fork,delta,throughput,scale,http (default: all)
      --repo DIR     a tree to use instead of the mirror checkouts for delta and throughput (repeatable;
                     any directory; git worktrees need it to be a checkout)
      --mirror DIR   the bare-repository mirror (default /opt/swift-packages; uses OWNER/NAME.git)
      --server PATH  afs-server for the http figure (default: afs-server next to this executable;
                     build it with swift build -c release --product afs-server)
      --work DIR     where to create the scratch directory (default /var/tmp; avoid tmpfs)
      --json FILE    write every figure as JSON
      --docs DIR     write DIR/PERFORMANCE.md (fully regenerated), DIR/perf/*.svg and DIR/perf/results.json

    One command regenerates the performance document:  swift run -c release afs-bench --docs Docs
    Progress goes to stderr, markdown to stdout. Root is needed for the overlayfs and loop-mounted reflink baselines.
    """
}

func absolutePath(_ p: String) -> String {
    var s = (p as NSString).standardizingPath
    if !s.hasPrefix("/") { s = FileManager.default.currentDirectoryPath + "/" + s }
    return s
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
            cfg.repos.append(absolutePath(v))
        case "--mirror":
            guard let v = value(a) else { return .failure(BenchError("--mirror needs a directory")) }
            cfg.mirror = absolutePath(v)
        case "--work":
            guard let v = value(a) else { return .failure(BenchError("--work needs a directory")) }
            cfg.workParent = absolutePath(v)
        case "--server":
            guard let v = value(a) else { return .failure(BenchError("--server needs the path of afs-server")) }
            cfg.serverPath = absolutePath(v)
        case "--json":
            guard let v = value(a) else { return .failure(BenchError("--json needs a file")) }
            cfg.jsonPath = absolutePath(v)
        case "--docs":
            guard let v = value(a) else { return .failure(BenchError("--docs needs a directory")) }
            cfg.docsDir = absolutePath(v)
        case "--only":
            guard let v = value(a) else { return .failure(BenchError("--only needs a list, e.g. fork,delta")) }
            let list = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
            for f in list where !allFigures.contains(f) {
                return .failure(BenchError("--only: unknown figure '\(f)' (choose from \(allFigures.joined(separator: ",")))"))
            }
            guard !list.isEmpty else { return .failure(BenchError("--only needs at least one figure")) }
            cfg.only = allFigures.filter { list.contains($0) }
        case "-h", "--help": return .failure(BenchError(""))
        default: return .failure(BenchError("unknown argument \(a)"))
        }
        i += 1
    }
    return .success(cfg)
}

/// The command line as run, shell-quoted where needed.
func commandLine(_ args: [String]) -> String {
    let quoted = args.dropFirst().map { a -> String in
        let safe = a.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_./=,:@%+".unicodeScalars.contains($0) }
        return safe && !a.isEmpty ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
    return (["afs-bench"] + quoted).joined(separator: " ")
}

/// The real trees for delta and throughput: --repo directories, else clones of the mirror.
func realTrees(_ cfg: Config, ctx: BenchContext) -> (trees: [RealTree], notes: [String]) {
    var trees: [RealTree] = []
    var notes: [String] = []
    if !cfg.repos.isEmpty {
        for path in cfg.repos {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
                notes.append("--repo \(path): not a directory, skipped")
                continue
            }
            var name = (path as NSString).lastPathComponent
            if trees.contains(where: { $0.name == name }) { name += "-\(trees.count)" }
            trees.append(RealTree(name: name, path: path, source: "`--repo \(path)`"))
        }
    } else {
        for repo in defaultMirrorRepos(quick: cfg.quick) {
            switch cloneMirror(repo, mirror: cfg.mirror, work: ctx.work, tools: ctx.tools) {
            case .success(let t): trees.append(t)
            case .failure(let e): notes.append("\(repo): n/a — \(e)")
            }
        }
    }
    return (trees, notes)
}

func describeTree(_ t: RealTree, tools: Tools) -> String {
    var s = "\(t.name): \(t.source)"
    if let inv = try? inventory(of: t.path, skipGit: true) {
        s += " — \(inv.files.count) files, \(fmtBytes(Double(inv.bytes))) outside `.git`, \(inv.directories) directories"
    }
    if tools.git, FileManager.default.fileExists(atPath: t.path + "/.git") {
        let r = runTool(["git", "-C", t.path, "log", "-1", "--format=%h"])
        if r.ok { s += "; HEAD \(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))" }
    }
    return s
}

func benchMain(_ args: [String]) -> Int32 {
    // Child mode for the scale figure.
    if args.count >= 3 && args[1] == "--scale-probe" {
        var path: String?
        if args.count >= 5 && args[3] == "--probe-path" { path = args[4] }
        return scaleProbeMain(store: args[2], path: path)
    }
    let cfg: Config
    switch parseArguments(args) {
    case .success(let c): cfg = c
    case .failure(let e):
        if !e.description.isEmpty { log(e.description) }
        print(usage())
        return e.description.isEmpty ? 0 : 2
    }
    let started = Date()
    let fm = FileManager.default
    let tools = Tools()

    // Fresh scratch directory; only this directory is removed at the end (after unmounting anything left in it).
    let work = cfg.workParent + "/afs-bench-\(getpid())-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    do {
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
    } catch {
        log("cannot create work directory \(work): \(error)")
        return 1
    }
    defer {
        unmountAll(under: work)
        log("removing \(work)")
        removeTree(work)
    }
    log("work directory: \(work)")
    let ctx = BenchContext(work: work, tools: tools, quick: cfg.quick, mirror: cfg.mirror)
    var machine = Machine.probe(work: work, tools: tools)
    if machine.fsType == "tmpfs" { log("warning: \(work) is on tmpfs; timings and sizes will not reflect a disk") }
    let floor = processStartFloor()
    let command = commandLine(args)

    print("# AetherFS benchmarks\(cfg.quick ? " (quick)" : "")\n")
    print(machine.markdownTable)
    print("Command: `\(command)`\n")
    fflush(nil)

    // Workloads.
    var workloadNotes: [String] = []
    var trees: [RealTree] = []
    if cfg.only.contains("delta") || cfg.only.contains("throughput") {
        let (t, notes) = realTrees(cfg, ctx: ctx)
        trees = t
        workloadNotes += trees.map { describeTree($0, tools: tools) }
        workloadNotes += notes
    }
    if cfg.only.contains("fork") || cfg.only.contains("scale") {
        workloadNotes.append("Synthetic trees (scaling curves only): N files of 200–4000 bytes of pseudo-random source-like text, 50 per directory, seeded.")
    }
    if cfg.only.contains("http") {
        workloadNotes.append("HTTP: the synthetic tree of \(HTTPRuns.treeFiles) files, uploaded as a tar to `afs-server` on 127.0.0.1; 1 KiB files for reads and writes.")
    }

    var sections: [Section] = []
    func emit(_ s: Section) {
        sections.append(s)
        print(s.markdown(plotsInline: false))
        fflush(nil)
    }
    for figure in cfg.only {
        log("=== \(figure) ===")
        switch figure {
        case "fork":
            emit(forkCostSection(ctx))
        case "delta":
            var deltaTrees = trees
            var notes: [String] = []
            if deltaTrees.isEmpty {
                let path = work + "/real/synthetic-1000"
                do {
                    _ = try makeSyntheticTree(at: path, files: 1000, seed: syntheticSeed(1000))
                    deltaTrees = [RealTree(name: "synthetic-1000", path: path, source: "synthetic tree of 1000 files (no real tree available)")]
                    notes.append("No real repository was available, so this figure ran on a synthetic tree; git worktrees need a checkout.")
                } catch {
                    notes.append("cannot make a fallback tree: \(describe(error))")
                }
            }
            emit(deltaCostSection(ctx, trees: deltaTrees, treeNotes: notes))
        case "throughput":
            // The largest real tree, without its .git.
            var source: RealTree?
            var note: String?
            let sized = trees.map { t in (t, (try? inventory(of: t.path, skipGit: true).bytes) ?? 0) }
            if let biggest = sized.max(by: { $0.1 < $1.1 })?.0 {
                switch plainCopy(of: biggest, to: work + "/plain-\(biggest.name)", tools: tools) {
                case .success(let t): source = t
                case .failure(let e): note = "could not copy \(biggest.name): \(e); used a synthetic tree"
                }
            }
            emit(throughputSection(ctx, tree: source, treeNote: note))
            if let source { removeTree(source.path) }
        case "scale":
            emit(scaleSection(ctx))
        case "http":
            emit(httpSection(ctx, server: cfg.serverPath ?? defaultServerPath()))
        default:
            break
        }
    }

    machine.loadEnd = loadAverage()
    let run = RunInfo(
        command: command, quick: cfg.quick, only: cfg.only, skipped: allFigures.filter { !cfg.only.contains($0) },
        started: started, finished: Date(), machine: machine, processFloor: floor, workloadNotes: workloadNotes,
        perfDirectory: (cfg.docsDir ?? "Docs") + "/perf")
    print(targetsMarkdown(sections, run: run))
    fflush(nil)

    let json = resultsJSON(sections, run: run)
    var status: Int32 = sections.contains { $0.failed } ? 1 : 0
    if let jsonPath = cfg.jsonPath {
        do {
            try Data((json.render() + "\n").utf8).write(to: URL(fileURLWithPath: jsonPath))
            log("wrote \(jsonPath)")
        } catch {
            log("cannot write \(jsonPath): \(error)")
            status = 1
        }
    }
    if let docs = cfg.docsDir {
        do {
            try writeDocs(docs, sections: sections, run: run, json: json)
            log("wrote \(docs)/PERFORMANCE.md and \(docs)/perf/")
        } catch {
            log("cannot write \(docs): \(error)")
            status = 1
        }
    }
    return status
}
