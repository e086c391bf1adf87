// afs-vmbench: boot, stop and start times of workspace VMs (QEMU microVM and bubblewrap, each on the
// Debian base image and on its built-in root), through the same WorkspaceController afs-vmd runs,
// side by side with the baseline of each step; and the disk N workspaces on one base use.
//
//   swift build -c release --product afs-vmbench
//   .build/release/afs-vmbench [--runs N] [--disk N] [--guest-dir DIR] [--only qemu-debian,qemu-minimal,bwrap-debian,bwrap-host]
//                              [--out Docs/perf/workspaces.md]

import AFSWorkspaces
import Foundation

struct Options {
    var runs = 5
    var guestDirectory = "/var/tmp/afs-guest"
    var variants = Variant.all.map(\.name)
    var diskWorkspaces = 10
    var output: String?
}

/// A driver and the root its workspaces run on.
struct Variant {
    var name: String
    var driver: String
    /// `current` (the Debian base) or `minimal` (QEMU's busybox root, bubblewrap's host root).
    var image: String
    var title: String

    static let all = [
        Variant(name: "qemu-debian", driver: "qemu", image: "current", title: "QEMU microVM, Debian base image"),
        Variant(name: "qemu-minimal", driver: "qemu", image: "minimal", title: "QEMU microVM, minimal busybox root (the image before base images)"),
        Variant(name: "bwrap-debian", driver: "bwrap", image: "current", title: "bubblewrap sandbox, Debian base tree"),
        Variant(name: "bwrap-host", driver: "bwrap", image: "minimal", title: "bubblewrap sandbox, host root"),
    ]
}

func parse() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--runs": o.runs = Int(args.next() ?? "") ?? o.runs
        case "--guest-dir": o.guestDirectory = args.next() ?? o.guestDirectory
        case "--only": o.variants = (args.next() ?? "").split(separator: ",").map(String.init)
        case "--disk": o.diskWorkspaces = Int(args.next() ?? "") ?? o.diskWorkspaces
        case "--out": o.output = args.next()
        case "-h", "--help":
            print("usage: afs-vmbench [--runs N] [--disk N] [--guest-dir DIR] [--only \(Variant.all.map(\.name).joined(separator: ","))] [--out FILE]")
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

/// One variant's figures: every step measured `runs` times on fresh workspaces.
func measure(driver: any WorkspaceDriver, image: String, data: String, runs: Int) async throws -> [(String, Stats)] {
    var configuration = WorkspaceController.Configuration(dataDirectory: data)
    configuration.defaultIdleTimeout = 0
    let controller = try WorkspaceController(configuration: configuration, driver: driver)
    var steps: [String: [Double]] = [:]
    func record(_ name: String, _ v: Double) { steps[name, default: []].append(v) }

    func untilRunning(_ id: String) async throws { try await waitRunning(controller, id) }

    for i in 1...runs {
        log("\(driver.name): run \(i)/\(runs)")
        var id = ""
        record("create (volume)", try await seconds { id = try await controller.create(request(image)).id })
        let boot = try await seconds {
            try await controller.start(id)
            try await untilRunning(id)
        }
        record("first start → running", boot)
        let connection = try await controller.connection(id)
        var status: Int32 = 0
        let command = await seconds { status = run(connection.argv(for: .command("true"))) }
        guard status == 0 else { throw WorkspaceError(.driver, "the first command in \(id) exited \(status)") }
        record("first command (ssh/nsenter `true`)", command)
        record("start → first command done", boot + command)
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
    let order = ["create (volume)", "first start → running", "first command (ssh/nsenter `true`)", "start → first command done", "stop (ladder)", "start again → running",
                 "adopt after controller restart", "delete (stop + remove)"]
    return order.compactMap { name in steps[name].map { (name, Stats(samples: $0)) } }
}

func request(_ image: String) -> WorkspaceRequest {
    WorkspaceRequest(project: "bench", hardware: WorkspaceHardware(cpus: 1, memoryMB: 512, volumeSizeGB: 2), image: image)
}

func waitRunning(_ controller: WorkspaceController, _ id: String) async throws {
    while try await controller.workspace(id).status != .running {
        await controller.tick()
        let s = try await controller.workspace(id)
        if s.status == .error { throw s.error.map { WorkspaceError(.driver, $0) } ?? WorkspaceError(.driver, "error") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Bytes a file or tree occupies on disk (sparse files count what they allocated).
func allocated(_ path: String) -> Int64 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/du")
    p.arguments = ["-s", "-B1", path]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return -1 }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Int64(String(decoding: data, as: UTF8.self).split(separator: "\t").first ?? "") ?? -1
}

func mib(_ bytes: Int64) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

/// `count` workspaces on the current base, each booted once (its first boot makes the user, keys
/// and machine id), a command run, and stopped: what each stores beside the one shared base.
func disk(driver: any WorkspaceDriver, base: String, baseBytes: Int64, data: String, count: Int) async throws -> String {
    var configuration = WorkspaceController.Configuration(dataDirectory: data)
    configuration.defaultIdleTimeout = 0
    let controller = try WorkspaceController(configuration: configuration, driver: driver)
    var deltas: [Int64] = []
    for i in 1...count {
        log("\(driver.name): disk, workspace \(i)/\(count)")
        let id = try await controller.create(request("current")).id
        try await controller.start(id)
        try await waitRunning(controller, id)
        _ = run(try await controller.connection(id).argv(for: .command("true")))
        try await controller.stop(id)
        deltas.append(allocated(data + "/workspaces/" + id))
    }
    let total = deltas.reduce(0, +)
    let sorted = deltas.sorted()
    var s = "| \(driver.name) | \(mib(baseBytes)) | \(mib(sorted[sorted.count / 2])) | \(mib(sorted.last ?? 0)) | \(mib(baseBytes + total)) | \(mib(baseBytes * Int64(count))) | "
    s += String(format: "%.2f×", Double(baseBytes + total) / Double(baseBytes)) + " |\n"
    for ws in try await controller.workspaces() { try await controller.delete(ws.id) }
    return s
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
@MainActor func makeDriver(_ name: String, data: String) async throws -> any WorkspaceDriver {
    if name == "qemu" {
        let q = try await QEMUDriver(configuration: .init(dataDirectory: data, guestDirectory: options.guestDirectory))
        accelerator = q.accelerator
        return q
    }
    return try BubblewrapDriver(configuration: .init(dataDirectory: data, guestDirectory: options.guestDirectory))
}
let images = BaseImages(directory: options.guestDirectory + "/bases")
for variant in Variant.all where options.variants.contains(variant.name) {
    let data = "\(work)/\(variant.name)"
    do {
        let driver = try await makeDriver(variant.driver, data: data)
        let rows = try await measure(driver: driver, image: variant.image, data: data, runs: options.runs)
        let machine = variant.driver == "qemu" ? " (\(accelerator.uppercased()), 1 vCPU, 512 MiB, 2 GiB volume)" : ""
        var s = "### \(variant.title)\(machine)\n\n"
        s += "| Step | median | min | max |\n|---|---|---|---|\n"
        for (step, stats) in rows { s += "| \(step) | \(stats.row) |\n" }
        sections.append(s)
        for (step, stats) in rows { print("\(variant.name)\t\(step)\t\(stats.row)") }
    } catch {
        log("\(variant.name): \(error)")
        sections.append("### \(variant.title)\n\nnot measured: \(error)\n")
    }
}
if options.diskWorkspaces > 0, let base = images.current {
    var table = "### Disk: \(options.diskWorkspaces) workspaces on one base (\(base))\n\n"
    table += "Each workspace booted once, a command run, stopped; bytes allocated on the host (`du -B1`), i.e. what each stores beside the shared base.\n\n"
    table += "| driver | base | per workspace, median | per workspace, max | base + \(options.diskWorkspaces) workspaces | \(options.diskWorkspaces) full copies | total / base |\n|---|---|---|---|---|---|---|\n"
    for driver in Set(Variant.all.filter { options.variants.contains($0.name) && $0.image == "current" }.map(\.driver)).sorted(by: >) {
        let data = "\(work)/disk-\(driver)"
        do {
            let baseBytes = allocated(driver == "qemu" ? images.image(base) : images.rootfs(base))
            table += try await disk(driver: try await makeDriver(driver, data: data), base: base, baseBytes: baseBytes, data: data, count: options.diskWorkspaces)
        } catch {
            log("disk \(driver): \(error)")
            table += "| \(driver) | not measured: \(error) | | | | | |\n"
        }
    }
    sections.append(table)
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
