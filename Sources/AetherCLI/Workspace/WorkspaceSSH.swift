import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
        if mode == .interactive {
            // The shell inside gets the terminal's signals as a login shell would: whatever started
            // this process may have ignored or blocked them, and exec would pass that on.
            for signal in [SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP] { Glibc.signal(signal, SIG_DFL) }
            var none = sigset_t()
            sigemptyset(&none)
            sigprocmask(SIG_SETMASK, &none, nil)
        }
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
