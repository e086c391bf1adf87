import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
