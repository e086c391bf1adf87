import AFSClient
import AFSTLS
import AFSWorkspaces
import ArgumentParser
import Foundation

/// `aether workspace`: VMs attached to a project, run by afs-vmd.
struct WorkspaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspace",
        abstract: "Workspace VMs: a full Linux environment per project with a persistent volume and SSH (afs-vmd).",
        discussion: """
            Commands talk to afs-vmd: --workspaces-endpoint URL, or AFS_WORKSPACES_ENDPOINT, or [workspaces] endpoint in
            config.toml (default http://127.0.0.1:8790), with the token from afs-vmd's DATA/vmd.token
            (--workspaces-token, AFS_WORKSPACES_TOKEN, [workspaces] token or token_file).
            States: stopped, starting, running, stopping, error, stop_failed. A workspace stops by itself after
            idle_timeout seconds (default 600; 0 disables) without SSH sessions, running tasks or API calls.
            """,
        subcommands: [
            WorkspaceCreate.self, WorkspaceStart.self, WorkspaceStop.self, WorkspaceGet.self, WorkspaceList.self,
            WorkspaceUpdate.self, WorkspaceDelete.self, WorkspaceSSH.self, WorkspaceWait.self, WorkspaceLogs.self, WorkspaceEvents.self,
        ])
}

/// How `aether workspace` reaches afs-vmd.
struct WorkspaceOptions: ParsableArguments {
    @Option(name: .customLong("workspaces-endpoint"), help: ArgumentHelp("afs-vmd URL (default: $AFS_WORKSPACES_ENDPOINT, [workspaces] endpoint, http://127.0.0.1:8790).", valueName: "URL"))
    var endpoint: String?

    @Option(name: .customLong("workspaces-token"), help: ArgumentHelp("afs-vmd token (default: $AFS_WORKSPACES_TOKEN, [workspaces] token or token_file).", valueName: "TOKEN"))
    var token: String?

    @Option(
        name: .customLong("ca-cert"),
        help: ArgumentHelp(
            "PEM file of the CA(s) an https:// afs-vmd's certificate must chain to (default: $AETHER_CA_CERT, [workspaces] ca_cert, [bridge] ca_cert).",
            valueName: "FILE"))
    var caCert: String?

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    func client() throws -> WorkspacesClient {
        let env = ProcessInfo.processInfo.environment
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        let config: ClientConfiguration
        do { config = try ClientConfiguration.load() } catch { throw CLIError(error, json: json) }
        let url = nonEmpty(endpoint) ?? nonEmpty(env["AFS_WORKSPACES_ENDPOINT"]) ?? nonEmpty(config["workspaces.endpoint"]) ?? "http://127.0.0.1:8790"
        var secret = nonEmpty(token) ?? nonEmpty(env["AFS_WORKSPACES_TOKEN"]) ?? nonEmpty(config["workspaces.token"])
        if secret == nil, let file = nonEmpty(config["workspaces.token_file"]) {
            secret = (try? String(contentsOfFile: (file as NSString).expandingTildeInPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let ca = nonEmpty(caCert) ?? nonEmpty(env["AETHER_CA_CERT"]) ?? nonEmpty(config["workspaces.ca_cert"]) ?? nonEmpty(config["bridge.ca_cert"])
        let trust = TLSTrust(caCertificatePath: ca.map { ($0 as NSString).expandingTildeInPath })
        return try call { () throws(WorkspaceError) in try WorkspacesClient(endpoint: url, token: secret, trust: trust) }
    }

    /// Runs a client call, turning its error into the CLI's exit code.
    func call<T>(_ body: () throws(WorkspaceError) -> T) throws -> T {
        do { return try body() } catch { throw CLIError(error, json: json) }
    }

    func emit<T: Encodable>(_ value: T, text: () -> String) {
        if json {
            print(Output.json(value))
        } else {
            let t = text()
            if !t.isEmpty { print(t) }
        }
    }

    /// A state named on the command line, or a usage error listing the valid ones.
    func status(_ raw: String, flag: String) throws -> WorkspaceStatus {
        guard let s = WorkspaceStatus(rawValue: raw) else {
            throw CLIError(WorkspaceError(.invalidArgument, "\(flag) must be one of \(WorkspaceStatus.allCases.map(\.rawValue).joined(separator: ", "))"), json: json)
        }
        return s
    }

    /// Progress on stderr, only on a terminal and never with --json.
    func progress(_ line: String) {
        guard !json, isatty(2) == 1 else { return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

enum WorkspaceText {
    static let day: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f
    }()

    static func table(_ list: [Workspace]) -> String {
        let rows = [["ID", "PROJECT", "STATUS", "HARDWARE", "CREATED"]]
            + list.map { [$0.id, $0.project, $0.status.rawValue, $0.hardware.summary, day.string(from: $0.createdAt)] }
        let widths = (0..<5).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in c == 4 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func detail(_ ws: Workspace) -> String {
        var lines = [
            "id:           \(ws.id)",
            "project:      \(ws.project)",
            "status:       \(ws.status.rawValue)" + (ws.desired.rawValue != ws.status.rawValue && ws.status.isTransitional ? " (→ \(ws.desired.rawValue))" : ""),
            "hardware:     \(ws.hardware.summary), \(ws.hardware.cpuKind.rawValue) cpu, \(ws.hardware.volumeSizeGB) GB volume" + (ws.hardware.gpuKind.map { ", gpu \($0)" } ?? ""),
            "driver:       \(ws.driver)" + (ws.runtime?.accelerator.map { " (\($0))" } ?? ""),
            "idle timeout: " + (ws.idleTimeout == 0 ? "disabled" : "\(ws.idleTimeout) s"),
            "created:      \(ISO8601DateFormatter().string(from: ws.createdAt))",
            "last active:  \(ISO8601DateFormatter().string(from: ws.lastActiveAt))",
        ]
        if let port = ws.runtime?.sshPort { lines.append("ssh:          127.0.0.1:\(port) (aether workspace ssh \(ws.id))") }
        if let error = ws.error { lines.append("error:        \(error)") }
        return lines.joined(separator: "\n")
    }
}

struct WorkspaceCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a stopped workspace with its volume.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Project the workspace belongs to.") var project: String
    @Option(help: "vCPUs, 1–8.") var cpus = 2
    @Option(help: ArgumentHelp("Memory in MiB, 256–16384.", valueName: "MB")) var memory = 2048
    @Option(name: .customLong("volume-size"), help: ArgumentHelp("Persistent volume in GB, 1–1024.", valueName: "GB")) var volumeSize = 10
    @Option(name: .customLong("cpu-kind"), help: "shared or performance.") var cpuKind = "shared"
    @Option(name: .customLong("gpu-kind"), help: "GPU to pass through (refused where the host has none).") var gpuKind: String?
    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Seconds idle before an automatic stop; 0 disables (default: afs-vmd's, 600).", valueName: "SECONDS"))
    var idleTimeout: Int?
    @Flag(help: "Start it right away and wait until it runs.") var start = false

    func run() throws {
        guard let kind = WorkspaceHardware.CPUKind(rawValue: cpuKind) else {
            throw CLIError(WorkspaceError(.invalidArgument, "--cpu-kind must be shared or performance"), json: options.json)
        }
        let hardware = WorkspaceHardware(cpuKind: kind, cpus: cpus, memoryMB: memory, volumeSizeGB: volumeSize, gpuKind: gpuKind)
        do throws(WorkspaceError) {
            try hardware.validate(gpuAvailable: gpuKind.map { [$0] } ?? [])  // ranges here; GPU availability is the daemon's call
        } catch {
            throw CLIError(error, json: options.json)
        }
        let client = try options.client()
        var ws = try options.call { () throws(WorkspaceError) in try client.create(WorkspaceRequest(project: project, hardware: hardware, idleTimeout: idleTimeout)) }
        if start { ws = try WorkspaceStart.startAndWait(client, ws.id, timeout: 300, options: options) }
        options.emit(ws) { "created \(ws.id)  \(ws.project)  \(ws.status.rawValue)  \(ws.hardware.summary)  \(ws.hardware.volumeSizeGB) GB volume" }
    }
}

struct WorkspaceStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start a workspace and wait until it runs (a running workspace is left as it is).")

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String
    @Flag(name: .customLong("no-wait"), help: "Return once the start is under way (status starting).") var noWait = false
    @Option(help: ArgumentHelp("Seconds to wait for running.", valueName: "SECONDS")) var timeout: Double = 300

    func run() throws {
        let client = try options.client()
        if noWait {
            let ws = try options.call { () throws(WorkspaceError) in try client.start(id) }
            options.emit(ws) { "\(ws.id) \(ws.status.rawValue)" }
            return
        }
        let ws = try WorkspaceStart.startAndWait(client, id, timeout: timeout, options: options)
        let took = ws.runtime.map { String(format: " in %.1f s", Date().timeIntervalSince($0.startedAt)) } ?? ""
        options.emit(ws) { "\(ws.id) running\(took); connect with `aether workspace ssh \(ws.id)`" }
    }

    static func startAndWait(_ client: WorkspacesClient, _ id: String, timeout: Double, options: WorkspaceOptions) throws -> Workspace {
        let ws = try options.call { () throws(WorkspaceError) in try client.start(id) }
        if ws.status == .running { return ws }
        options.progress("starting \(id) (\(ws.driver))…")
        return try options.call { () throws(WorkspaceError) in try client.wait(id, for: .running, timeout: timeout) }
    }
}

struct WorkspaceStop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop a workspace (guest shutdown, then ACPI power-down, then harder); the volume is kept.")

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String

    func run() throws {
        let client = try options.client()
        let ws = try options.call { () throws(WorkspaceError) in try client.stop(id) }
        options.emit(ws) { "\(ws.id) \(ws.status.rawValue)" + (ws.error.map { ": \($0)" } ?? "") }
        if ws.status == .stopFailed { throw ExitCode(8) }
    }
}

struct WorkspaceGet: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show one workspace.")

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String

    func run() throws {
        let client = try options.client()
        let ws = try options.call { () throws(WorkspaceError) in try client.get(id) }
        options.emit(ws) { WorkspaceText.detail(ws) }
    }
}

struct WorkspaceList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List workspaces: ID PROJECT STATUS HARDWARE CREATED.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Only workspaces in this state.") var status: String?
    @Option(help: "Only workspaces of this project.") var project: String?

    func run() throws {
        let filter = try status.map { try options.status($0, flag: "--status") }
        let client = try options.client()
        let list = try options.call { () throws(WorkspaceError) in try client.list(status: filter, project: project) }
        options.emit(list) { list.isEmpty ? "no workspaces" : WorkspaceText.table(list) }
    }
}

struct WorkspaceUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change hardware (while stopped) or the idle timeout (any time).")

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String
    @Option(help: "vCPUs, 1–8.") var cpus: Int?
    @Option(help: ArgumentHelp("Memory in MiB, 256–16384.", valueName: "MB")) var memory: Int?
    @Option(name: .customLong("volume-size"), help: ArgumentHelp("Grow the volume to GB (never shrinks).", valueName: "GB")) var volumeSize: Int?
    @Option(name: .customLong("cpu-kind"), help: "shared or performance.") var cpuKind: String?
    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Seconds idle before an automatic stop; 0 disables.", valueName: "SECONDS")) var idleTimeout: Int?

    func run() throws {
        var kind: WorkspaceHardware.CPUKind?
        if let cpuKind {
            guard let k = WorkspaceHardware.CPUKind(rawValue: cpuKind) else {
                throw CLIError(WorkspaceError(.invalidArgument, "--cpu-kind must be shared or performance"), json: options.json)
            }
            kind = k
        }
        let change = HardwareUpdate(cpuKind: kind, cpus: cpus, memoryMB: memory, volumeSizeGB: volumeSize)
        let client = try options.client()
        let ws = try options.call { () throws(WorkspaceError) in
            try client.update(id, hardware: change == HardwareUpdate() ? nil : change, idleTimeout: idleTimeout)
        }
        options.emit(ws) { WorkspaceText.detail(ws) }
    }
}

struct WorkspaceDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Stop a workspace and delete it with its volume (asks first on a terminal).")

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String
    @Flag(name: [.short, .long], help: "Do not ask for confirmation.") var yes = false

    func run() throws {
        let client = try options.client()
        if !yes && isatty(0) == 1 {
            let ws = try options.call { () throws(WorkspaceError) in try client.get(id) }
            FileHandle.standardError.write(Data("Delete workspace \(ws.id) (\(ws.project), \(ws.status.rawValue)) and its \(ws.hardware.volumeSizeGB) GB volume? [y/N] ".utf8))
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                FileHandle.standardError.write(Data("not deleted\n".utf8))
                throw ExitCode(1)
            }
        }
        try options.call { () throws(WorkspaceError) in try client.delete(id) }
        options.emit(["deleted": id]) { "deleted \(id)" }
    }
}

struct WorkspaceSSH: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh",
        abstract: "Open a shell in a running workspace, or run a command in it.",
        discussion: """
            On a terminal with no COMMAND: an interactive login shell. With COMMAND (after --): runs it and exits with its
            status. With no terminal and no COMMAND: runs the script read from standard input. Without an id, uses the
            running workspace of --project (or AFS_PROJECT, or [workspaces] project).
            """)

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String?
    @Option(help: "Project whose workspace to use when no id is given.") var project: String?
    @Argument(parsing: .postTerminator, help: "Command to run instead of a shell.") var command: [String] = []

    func run() throws {
        let client = try options.client()
        let target = try id ?? resolveByProject(client)
        let info = try options.call { () throws(WorkspaceError) in try client.connect(target) }
        let mode: ConnectionInfo.Mode
        if !command.isEmpty {
            mode = .command(command.joined(separator: " "))
        } else if isatty(0) == 1 {
            mode = .interactive
        } else {
            mode = .script
        }
        let argv = info.argv(for: mode)
        fflush(nil)
        let cArgs = argv.map { strdup($0) } + [nil]
        execvp(argv[0], cArgs)
        throw CLIError(WorkspaceError(.unavailable, "cannot run \(argv[0]): \(String(cString: strerror(errno)))"), json: options.json)
    }

    func resolveByProject(_ client: WorkspacesClient) throws -> String {
        let env = ProcessInfo.processInfo.environment
        let config = try? ClientConfiguration.load()
        guard let project = project ?? env["AFS_PROJECT"] ?? config?["workspaces.project"] else {
            throw CLIError(WorkspaceError(.invalidArgument, "give a workspace id, or --project P (or AFS_PROJECT, or [workspaces] project)"), json: options.json)
        }
        let list = try options.call { () throws(WorkspaceError) in try client.list(project: project) }
        let running = list.filter { $0.status == .running }
        switch (running.count, list.count) {
        case (1, _): return running[0].id
        case (0, 0): throw CLIError(WorkspaceError(.notFound, "project \(project) has no workspace; create one with `aether workspace create --project \(project)`"), json: options.json)
        case (0, 1): throw CLIError(WorkspaceError(.conflict, "\(list[0].id) of project \(project) is \(list[0].status.rawValue); start it with `aether workspace start \(list[0].id)`"), json: options.json)
        default:
            let ids = (running.isEmpty ? list : running).map(\.id).joined(separator: ", ")
            throw CLIError(WorkspaceError(.conflict, "project \(project) has several workspaces (\(ids)); name one"), json: options.json)
        }
    }
}

struct WorkspaceWait: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait", abstract: "Wait until a workspace reaches a state (exit 13 on timeout).")

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String
    @Option(help: "stopped, starting, running, stopping, error or stop_failed.") var state: String
    @Option(help: ArgumentHelp("Seconds to wait.", valueName: "SECONDS")) var timeout: Double = 60

    func run() throws {
        let target = try options.status(state, flag: "--state")
        let client = try options.client()
        let ws = try options.call { () throws(WorkspaceError) in try client.wait(id, for: target, timeout: timeout) }
        options.emit(ws) { "\(ws.id) \(ws.status.rawValue)" }
    }
}

struct WorkspaceLogs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print the console of the workspace's current or last run.")

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String
    @Option(help: ArgumentHelp("How much of the end of the console to print.", valueName: "BYTES")) var bytes = 64 << 10

    func run() throws {
        let client = try options.client()
        let text = try options.call { () throws(WorkspaceError) in try client.console(id, maxBytes: bytes) }
        if options.json {
            print(Output.json(["workspace": id, "console": text]))
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

struct WorkspaceEvents: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "The workspace's history: every transition and its reason.")

    @OptionGroup var options: WorkspaceOptions
    @Argument(help: "Workspace id.") var id: String

    func run() throws {
        let client = try options.client()
        let events = try options.call { () throws(WorkspaceError) in try client.events(id) }
        let f = ISO8601DateFormatter()
        options.emit(events) {
            events.map { e in
                let move = e.from.map { "\($0.rawValue) → \(e.to?.rawValue ?? "?")" } ?? (e.to?.rawValue ?? "")
                return "\(f.string(from: e.at))  \(move.padding(toLength: 22, withPad: " ", startingAt: 0))  reason=\(e.reason)" + (e.detail.map { "  \($0)" } ?? "")
            }.joined(separator: "\n")
        }
    }
}
