import AFSTestSupport
import AFSWorkspaces
import Foundation
import Testing

/// `aether workspace …` run as a real process against a real afs-vmd.
struct WorkspaceCLI {
    let vmd: VMDProcess
    let aether = ServerProcess.productsDirectory(containing: "aether") + "/aether"

    @discardableResult
    func run(_ arguments: [String], stdin: Data? = nil) throws -> ChildProcess.Result {
        try ChildProcess.run(aether, ["workspace"] + arguments, environment: vmd.environment, stdin: stdin)
    }

    /// Runs a command that must succeed and returns its stdout.
    @discardableResult
    func ok(_ arguments: [String], stdin: Data? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try run(arguments, stdin: stdin)
        let out = String(decoding: r.stdout, as: UTF8.self)
        #expect(r.status == 0, "aether workspace \(arguments.joined(separator: " ")) exited \(r.status): \(String(decoding: r.stderr, as: UTF8.self)) \(out)", sourceLocation: sourceLocation)
        return out
    }

    func workspace(_ arguments: [String]) throws -> Workspace {
        let out = try ok(arguments + ["--json"])
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(Workspace.self, from: Data(out.utf8))
    }

    func events(_ id: String) throws -> [WorkspaceEvent] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode([WorkspaceEvent].self, from: Data(try ok(["events", id, "--json"]).utf8))
    }

    /// Runs a shell command inside the workspace; returns status and output.
    func ssh(_ id: String, _ command: String) throws -> (Int32, String) {
        let r = try run(["ssh", id, "--", command])
        return (r.status, String(decoding: r.stdout, as: UTF8.self) + String(decoding: r.stderr, as: UTF8.self))
    }
}

/// What must be gone after a workspace is deleted: its processes, mounts and files.
func leftovers(of id: String, dataDirectory: String) -> [String] {
    var found = VMDProcess.processes(containing: "aether-ws-\(id)").map { "process \($0.pid): \($0.commandLine.prefix(120))" }
    let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
    for line in mounts.split(separator: "\n") where line.contains("/workspaces/\(id)") { found.append("mount: \(line)") }
    if FileManager.default.fileExists(atPath: dataDirectory + "/workspaces/\(id)") { found.append("directory \(dataDirectory)/workspaces/\(id)") }
    for socket in ["qmp.sock", "agent.sock", "vfs.sock"] where FileManager.default.fileExists(atPath: dataDirectory + "/workspaces/\(id)/run/\(socket)") {
        found.append("socket \(socket)")
    }
    return found
}

/// The end-to-end lifecycle both real drivers must pass: create, start, run commands, write to the
/// volume and elsewhere in the root, stop, start (files still there), crash the daemon, restart
/// it (the VM is adopted, not restarted), delete (nothing left behind).
func lifecycleScenario(_ cli: WorkspaceCLI, startTimeout: Int) throws {
    let created = try cli.workspace(["create", "--project", "my-app", "--cpus", "1", "--memory", "256", "--volume-size", "1"])
    let id = created.id
    #expect(created.status == .stopped && created.hardware.summary == "1cpu/256mb")
    let table = try cli.ok(["list"])
    #expect(table.hasPrefix("ID"), "\(table)")
    #expect(table.contains(id) && table.contains("my-app") && table.contains("stopped") && table.contains("1cpu/256mb"), "\(table)")

    let running = try cli.workspace(["start", id, "--timeout", String(startTimeout)])
    #expect(running.status == .running)
    #expect(try cli.workspace(["start", id]).status == .running, "start on running is a no-op")
    #expect(try cli.ok(["list", "--status", "running"]).contains(id))
    #expect(!(try cli.ok(["list", "--status", "stopped"]).contains(id)))

    // As root on the minimal and host roots, as the workspace's user (with sudo) on a base image.
    let asRoot = #"R=; [ "$(id -u)" = 0 ] || R="sudo -n"; "#
    let (status, out) = try cli.ssh(
        id, asRoot + "echo hello-$(hostname); echo on-volume > ~/note.txt; $R mkdir -p /usr/local/share/afs; echo anywhere | $R tee /usr/local/share/afs/tool.txt; sync; exit 7")
    #expect(status == 7, "the command's exit status comes back: \(out)")
    #expect(out.contains("hello-"), "\(out)")
    let script = try cli.run(["ssh", id], stdin: Data("cat ~/note.txt\nexit 0\n".utf8))
    #expect(script.status == 0 && String(decoding: script.stdout, as: UTF8.self).contains("on-volume"), "a script on stdin runs: \(script)")

    let stopped = try cli.workspace(["stop", id])
    #expect(stopped.status == .stopped && stopped.runtime == nil)
    #expect(try cli.workspace(["stop", id]).status == .stopped, "stop on stopped is a no-op")
    #expect(leftovers(of: id, dataDirectory: cli.vmd.data).filter { $0.hasPrefix("process") }.isEmpty, "a stopped workspace has no processes")

    _ = try cli.workspace(["start", id, "--timeout", String(startTimeout)])
    let (_, persisted) = try cli.ssh(id, "cat ~/note.txt /usr/local/share/afs/tool.txt")
    #expect(persisted.contains("on-volume") && persisted.contains("anywhere"), "files survive stop/start: \(persisted)")

    // The daemon dies hard; the VM does not.
    let before = try cli.workspace(["get", id])
    cli.vmd.kill()
    #expect(kill(try #require(before.runtime).pid, 0) == 0, "the VM outlives its controller")
    try cli.vmd.restart()
    let adopted = try cli.workspace(["get", id])
    #expect(adopted.status == .running && adopted.runtime == before.runtime, "the same VM, adopted")
    #expect(try cli.events(id).last?.reason == "adopted")
    let (again, after) = try cli.ssh(id, "cat ~/note.txt")
    #expect(again == 0 && after.contains("on-volume"), "\(after)")

    let reasons = try cli.events(id).map(\.reason)
    #expect(reasons.first == "created" && reasons.contains("ready"))
    let logs = try cli.ok(["logs", id])
    #expect(logs.contains("AFS_READY"), "the console shows the boot: \(logs.suffix(300))")

    try cli.ok(["delete", id, "--yes"])
    let gone = try cli.run(["get", id])
    #expect(gone.status == 3, "a deleted workspace is not found")
    #expect(leftovers(of: id, dataDirectory: cli.vmd.data).isEmpty, "\(leftovers(of: id, dataDirectory: cli.vmd.data))")
}
