import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
