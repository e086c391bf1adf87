import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
