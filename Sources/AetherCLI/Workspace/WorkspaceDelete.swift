import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
