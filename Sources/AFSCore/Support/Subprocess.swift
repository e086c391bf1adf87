import AFSSupport
import Foundation

/// External programs (git) for the engine and the CLI, through the one spawner
/// (``AFSSupport/Command``), with its failures as ``AFSError``: arguments as an array, no shell.
package enum Subprocess {
    package struct Result {
        package var status: Int32
        package var stdout: Data
        package var stderr: String
    }

    package static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws(AFSError) -> Result {
        var command = Command(executable, arguments)
        if let stdin { command.stdin = .bytes([UInt8](stdin)) }
        do {
            let r = try command.run()
            return Result(status: r.status, stdout: Data(r.stdout), stderr: r.stderrText)
        } catch {
            throw AFSError(.externalTool, "cannot run \(executable): \(error)")
        }
    }

    /// Finds a program on PATH.
    package static func which(_ name: String) -> String? { Command.which(name) }
}
