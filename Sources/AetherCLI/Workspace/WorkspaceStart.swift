import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
