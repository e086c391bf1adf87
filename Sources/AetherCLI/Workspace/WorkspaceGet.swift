import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
