import AFSCore
import AFSMount
import ArgumentParser
import Foundation

/// `aether sync DIR`: waits until a mount has sent every change it acknowledged.
struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Wait until a mounted session holds every change the mount has acknowledged.",
        discussion: """
            A mount acknowledges close, unlink, mkdir and rmdir before the service has them (write-back;
            `aether mount --sync-close` turns it off) and sends them moments later. `aether sync DIR` asks
            the mount serving DIR to publish every open file's writes and to send everything queued, and
            returns once the service holds all of it durably: what `sync` does for a local disk (the
            kernel does not pass `sync`/`syncfs` on to FUSE file systems). Exits 1, naming them, if the
            service refused any change since the last sync; the mount's log says why.
            """)

    @Argument(help: "The mounted directories, or paths inside them.") var directories: [String]
    @Flag(name: .long, help: "Print one JSON document instead of text.") var json = false

    func run() throws {
        do throws(AFSError) {
            var reports: [[String: String]] = []
            for directory in directories {
                let mount = try MountRegistry.standard().find(directory)
                let reply = try ControlProtocol.call(mount.socket, ControlProtocol.Request(op: .sync))
                guard let synced = reply.synced else {
                    throw AFSError(.unsupportedFormat, "the mount at \(mount.mountpoint) answered without a sync report; is it another version?")
                }
                reports.append(["mountpoint": mount.mountpoint, "session": mount.session, "sent": String(synced.sent)])
            }
            Output.emit(reports, json: json) {
                reports.map { "\($0["mountpoint"]!): every acknowledged change is at the service" }.joined(separator: "\n")
            }
        } catch {
            throw CLIError(error, json: json)
        }
    }
}
