import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

struct WorkspaceCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a stopped workspace with its volume.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Project the workspace belongs to.") var project: String
    @Option(help: "vCPUs, 1–8.") var cpus = 2
    @Option(help: ArgumentHelp("Memory in MiB, 256–16384.", valueName: "MB")) var memory = 2048
    @Option(name: .customLong("volume-size"), help: ArgumentHelp("Persistent volume in GB, 1–1024.", valueName: "GB")) var volumeSize = 10
    @Option(name: .customLong("cpu-kind"), help: "shared or performance.") var cpuKind = "shared"
    @Option(name: .customLong("gpu-kind"), help: "GPU to pass through (refused where the host has none).") var gpuKind: String?
    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Seconds idle before an automatic stop; 0 disables (default: afs-vmd's, 600).", valueName: "SECONDS"))
    var idleTimeout: Int?
    @Option(help: ArgumentHelp(
        "The non-root user with passwordless sudo that `workspace ssh` logs in as (uid 1000; default: aether on a base image; root for none).",
        valueName: "NAME"))
    var user: String?
    @Option(help: ArgumentHelp(
        "Base image: a version, current (default when the host has one) or minimal (the busybox root). The workspace keeps its version until `workspace update --image`.",
        valueName: "VERSION"))
    var image: String?
    @Flag(help: "Start it right away and wait until it runs.") var start = false

    func run() throws {
        guard let kind = WorkspaceHardware.CPUKind(rawValue: cpuKind) else {
            throw CLIError(WorkspaceError(.invalidArgument, "--cpu-kind must be shared or performance"), json: options.json)
        }
        let hardware = WorkspaceHardware(cpuKind: kind, cpus: cpus, memoryMB: memory, volumeSizeGB: volumeSize, gpuKind: gpuKind)
        do throws(WorkspaceError) {
            try hardware.validate(gpuAvailable: gpuKind.map { [$0] } ?? [])  // ranges here; GPU availability is the daemon's call
        } catch {
            throw CLIError(error, json: options.json)
        }
        let client = try options.client()
        var ws = try options.call { () throws(WorkspaceError) in try client.create(WorkspaceRequest(project: project, hardware: hardware, idleTimeout: idleTimeout, user: user, image: image)) }
        if start { ws = try WorkspaceStart.startAndWait(client, ws.id, timeout: 300, options: options) }
        options.emit(ws) { "created \(ws.id)  \(ws.project)  \(ws.status.rawValue)  \(ws.hardware.summary)  \(ws.hardware.volumeSizeGB) GB volume" }
    }
}
