import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

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
    @Option(help: ArgumentHelp(
        "Rebase onto another base image (a version, current or minimal; stopped workspaces only). Your changes stay, on top of the new base.",
        valueName: "VERSION"))
    var image: String?

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
            try client.update(id, hardware: change == HardwareUpdate() ? nil : change, idleTimeout: idleTimeout, image: image)
        }
        options.emit(ws) { WorkspaceText.detail(ws) }
    }
}
