import AFSSupport
import Foundation

/// Runs a host program to completion (mkfs, ssh-keygen, qemu -daemonize) and reports its status
/// and output, with a timeout so a wedged tool cannot hang the controller.
struct HostCommand {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs `argv` (first element: a path or a name looked up in PATH) through ``AFSSupport/Command``;
    /// stdin is /dev/null, stdout and stderr go together to a capture (returned) or to `logFile`
    /// (appended).
    static func run(_ argv: [String], timeout: Double = 60, logFile: String? = nil, environment: [String: String]? = nil) throws(WorkspaceError) -> Result {
        var command = Command(argv[0], Array(argv.dropFirst()))
        command.environment = environment ?? [:]
        command.stdout = logFile.map(Command.Output.appendTo) ?? .capture
        command.stderr = .standardOutput
        do {
            let result = try command.run(timeout: .milliseconds(Int64(timeout * 1000)))
            return Result(status: result.status, output: result.stdoutText)
        } catch {
            switch error.kind {
            case .notFound: throw WorkspaceError(.unavailable, "\(argv[0]) is not installed (not on PATH); run scripts/bootstrap.sh")
            case .timedOut: throw WorkspaceError(.timeout, "\(argv[0]) did not finish within \(Int(timeout)) s")
            case .spawn, .wait: throw WorkspaceError(.driver, error.description)
            }
        }
    }

    /// Runs `argv` and fails with its output when it exits non-zero.
    @discardableResult
    static func check(_ argv: [String], timeout: Double = 60, what: String) throws(WorkspaceError) -> String {
        let r = try run(argv, timeout: timeout)
        guard r.status == 0 else {
            throw WorkspaceError(.driver, "\(what) failed (\(argv[0]) exited \(r.status)): \(r.output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(500))")
        }
        return r.output
    }

    static func resolve(_ name: String) -> String? { Command.which(name) }
}
