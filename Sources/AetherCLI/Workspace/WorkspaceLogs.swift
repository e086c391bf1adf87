import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
