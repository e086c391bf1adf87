import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
