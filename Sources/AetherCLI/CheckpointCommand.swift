import AFSCore
import AFSMount
import ArgumentParser
import Foundation

/// `aether checkpoint DIR`: a checkpoint of a mounted session taken by the mount itself, so it
/// includes writes still buffered in open files.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Checkpoint a mounted session, including every write the mount has acknowledged.",
        discussion: """
            Asks the mount serving DIR (through its control socket) to publish every pending write of its
            open files, exactly as closing them would, and then to checkpoint the session. A program that
            wrote to a file it still holds open finds those bytes in the checkpoint. Works whichever
            store the mount uses; with --store it is the only way to checkpoint while mounted, since the
            mount holds the store. Prints the checkpoint ID (the checkpoint with --json); restore it with
            `aether session restore` or fork from it with `aether session create --from-checkpoint`.
            """)

    @Argument(help: "The mounted directory, or any path inside it.") var directory: String
    @Option(help: "A label to remember it by.") var label: String?
    @Option(name: .long, help: ArgumentHelp("Who is acting, recorded in the changefeed (default: the mount's actor).", valueName: "NAME"))
    var actor: String?
    @Flag(name: .long, help: "Print one JSON document instead of text.") var json = false

    func run() throws {
        do throws(AFSError) {
            let mount = try MountRegistry.standard().find(directory)
            let reply = try ControlProtocol.call(mount.socket, ControlProtocol.Request(op: .checkpoint, label: label, actor: actor))
            guard let checkpoint = reply.checkpoint else {
                throw AFSError(.unsupportedFormat, "the mount at \(mount.mountpoint) answered without a checkpoint")
            }
            Output.emit(checkpoint, json: json) { checkpoint.id }
        } catch {
            throw CLIError(error, json: json)
        }
    }
}
