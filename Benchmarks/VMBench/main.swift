// afs-vmbench: boot, stop and start times of workspace VMs (QEMU microVM and bubblewrap), through
// the same WorkspaceController afs-vmd runs, side by side with the baseline of each step.
//
//   swift build -c release --product afs-vmbench
//   .build/release/afs-vmbench [--runs N] [--guest-dir DIR] [--only qemu,bwrap] [--out Docs/perf/workspaces.md]

import AFSWorkspaces
import Foundation

struct Options {
    var runs = 5
    var guestDirectory = "/var/tmp/afs-guest"
    var drivers = ["qemu", "bwrap"]
    var output: String?
}

func parse() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--runs": o.runs = Int(args.next() ?? "") ?? o.runs
        case "--guest-dir": o.guestDirectory = args.next() ?? o.guestDirectory
        case "--only": o.drivers = (args.next() ?? "").split(separator: ",").map(String.init)
        case "--out": o.output = args.next()
        case "-h", "--help":
            print("usage: afs-vmbench [--runs N] [--guest-dir DIR] [--only qemu,bwrap] [--out FILE]")
            exit(0)
        default:
            FileHandle.standardError.write(Data("afs-vmbench: unknown argument \(a)\n".utf8))
            exit(2)
        }
    }
    return o
}

func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Runs `argv` to completion and returns its exit status (ssh does not daemonize: Process is fine here).
func run(_ argv: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = argv
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    p.standardInput = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}

struct Stats {
    var samples: [Double]
    var median: Double { let s = samples.sorted(); return s.isEmpty ? .nan : s[s.count / 2] }
    var min: Double { samples.min() ?? .nan }
    var max: Double { samples.max() ?? .nan }
    func ms(_ v: Double) -> String { v < 1 ? String(format: "%.0f ms", v * 1000) : String(format: "%.2f s", v) }
    var row: String { "\(ms(median)) | \(ms(min)) | \(ms(max))" }
}

/// One driver's figures: every step measured `runs` times on fresh workspaces.
func measure(driver: any WorkspaceDriver, data: String, runs: Int) async throws -> [(String, Stats)] {
    var configuration = WorkspaceController.Configuration(dataDirectory: data)
    configuration.defaultIdleTimeout = 0
    let controller = try WorkspaceController(configuration: configuration, driver: driver)
    var steps: [String: [Double]] = [:]
    func record(_ name: String, _ v: Double) { steps[name, default: []].append(v) }

    func untilRunning(_ id: String) async throws {
        while try await controller.workspace(id).status != .running {
            await controller.tick()
            let s = try await controller.workspace(id)
            if s.status == .error { throw s.error.map { WorkspaceError(.driver, $0) } ?? WorkspaceError(.driver, "error") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    for i in 1...runs {
        log("\(driver.name): run \(i)/\(runs)")
        var id = ""
        record("create (volume)", try await seconds { id = try await controller.create(WorkspaceRequest(project: "bench", hardware: WorkspaceHardware(cpus: 1, memoryMB: 256, volumeSizeGB: 1))).id })
        record("first start → running", try await seconds {
            try await controller.start(id)
            try await untilRunning(id)
        })
        let connection = try await controller.connection(id)
        record("first command (ssh/nsenter `true`)", await seconds { _ = run(connection.argv(for: .command("true"))) })
        record("stop (ladder)", try await seconds { try await controller.stop(id) })
        record("start again → running", try await seconds {
            try await controller.start(id)
            try await untilRunning(id)
        })
        // A second controller on the same data adopts the running VM (what a daemon restart does).
        let other = try WorkspaceController(configuration: configuration, driver: driver)
        record("adopt after controller restart", try await seconds { try await other.recover() })
        record("delete (stop + remove)", try await seconds { try await controller.delete(id) })
    }
    let order = ["create (volume)", "first start → running", "first command (ssh/nsenter `true`)", "stop (ladder)", "start again → running",
                 "adopt after controller restart", "delete (stop + remove)"]
    return order.compactMap { name in steps[name].map { (name, Stats(samples: $0)) } }
}

/// The floor each step is compared with: the bare tool doing the same thing without a controller.
func baselines(guest: String, work: String) -> [(String, Stats)] {
    var out: [(String, Stats)] = []
    var mkfs: [Double] = [], bwrap: [Double] = []
    for i in 0..<5 {
        let img = "\(work)/base-\(i).img"
        let t0 = Date()
        _ = run(["truncate", "-s", "1G", img])
        _ = run(["mkfs.ext4", "-q", "-F", img])
        mkfs.append(Date().timeIntervalSince(t0))
        unlink(img)
        let t1 = Date()
        _ = run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"])
        bwrap.append(Date().timeIntervalSince(t1))
    }
    out.append(("truncate + mkfs.ext4 1 GiB", Stats(samples: mkfs)))
    out.append(("bare `bwrap --unshare-all true`", Stats(samples: bwrap)))
    return out
}

let options = parse()
let work = "/var/tmp/afs-vmbench-\(getpid())"
try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: work) }
var sections: [String] = []
var accelerator = "n/a"
for name in options.drivers {
    let data = "\(work)/\(name)"
    do {
        let driver: any WorkspaceDriver
        if name == "qemu" {
            let q = try await QEMUDriver(configuration: .init(dataDirectory: data, guestDirectory: options.guestDirectory))
            accelerator = q.accelerator
            driver = q
        } else {
            driver = try BubblewrapDriver(configuration: .init(dataDirectory: data))
        }
        let rows = try await measure(driver: driver, data: data, runs: options.runs)
        var s = "### \(name == "qemu" ? "QEMU microVM (\(accelerator.uppercased()), 1 vCPU, 256 MiB, 1 GiB volume)" : "bubblewrap sandbox")\n\n"
        s += "| Step | median | min | max |\n|---|---|---|---|\n"
        for (step, stats) in rows { s += "| \(step) | \(stats.row) |\n" }
        sections.append(s)
        for (step, stats) in rows { print("\(name)\t\(step)\t\(stats.row)") }
    } catch {
        log("\(name): \(error)")
        sections.append("### \(name)\n\nnot measured: \(error)\n")
    }
}
var base = "### Baselines (the bare tools)\n\n| Step | median | min | max |\n|---|---|---|---|\n"
for (step, stats) in baselines(guest: options.guestDirectory, work: work) {
    base += "| \(step) | \(stats.row) |\n"
    print("baseline\t\(step)\t\(stats.row)")
}
sections.append(base)
let cores = ProcessInfo.processInfo.activeProcessorCount
let header = """
    Measured by `afs-vmbench --runs \(options.runs)` (Benchmarks/VMBench) on \(cores) cores, \(options.runs) fresh workspaces per driver, \
    through the same WorkspaceController afs-vmd runs (SQLite writes before each transition included). \
    "running" means the guest agent answers and SSH sends its banner (QEMU), or the sandbox announced itself (bubblewrap).


    """
let document = header + sections.joined(separator: "\n")
if let out = options.output {
    try document.write(toFile: out, atomically: true, encoding: .utf8)
    log("wrote \(out)")
} else {
    print(document)
}
