import AFSSupport
import FoundationEssentials
import Glibc

/// git's file-system monitor hook (protocol version 2), client side: finds the mount that holds
/// the work tree and asks it what changed since the previous answer.
///
/// git runs the hook before every `git status`, so the query is built to cost a couple of
/// milliseconds: the mount is found by hashing the work tree and its ancestors
/// (``MountSockets/link(forMountpoint:in:)``) rather than by reading every mount's record, and this
/// module links neither the mount nor the engine, so the small `aether-fsmonitor` executable
/// starts in a fraction of the time `aether` does. `aether fsmonitor hook` answers through the same code.
public enum FSMonitorQuery {
    /// The only hook protocol version served: version 1 tokens are timestamps, which the
    /// changefeed cannot answer for.
    public static let protocolVersion = 2

    /// The hook's standard output for git: the new token and the changed paths, each ended by NUL.
    ///
    /// - Parameters:
    ///   - workTree: the absolute, canonical path of git's work tree (the hook's working directory).
    ///   - registry: the mount registry directory (``MountSockets/directory(environment:)``).
    /// - Throws: ``ControlFailure`` with an `AFSError` code: `invalid_argument` for another
    ///   protocol version, `not_found` outside every mount, or what the mount reported. git then
    ///   checks every file, as without a monitor.
    public static func answer(
        version: Int, token: String, workTree: String, registry: String, timeout: Double = 60
    ) throws(ControlFailure) -> [UInt8] {
        guard version == protocolVersion else {
            throw ControlFailure(
                code: "invalid_argument",
                message: "aether fsmonitor speaks hook protocol version 2, not \(version): set core.fsmonitorHookVersion = 2")
        }
        let request = ControlRequest(op: .changes, since: token.isEmpty ? nil : token, path: workTree)
        let line: [UInt8]
        do {
            line = Array(try JSONEncoder().encode(request)) + [UInt8(ascii: "\n")]
        } catch {
            throw ControlFailure(code: "invalid_argument", message: "cannot encode the query: \(error)")
        }
        for mountpoint in MountSockets.candidates(workTree) {
            let socket = MountSockets.link(forMountpoint: mountpoint, in: registry)
            let fd: Int32
            do {
                fd = try UnixSocket.connect(to: socket)
            } catch where error.code == ENOENT || error.code == ECONNREFUSED {
                // No mount there, or one that died without removing its link.
                continue
            } catch {
                throw ControlFailure(code: "io", message: "the mount's control socket: \(error)")
            }
            defer { close(fd) }
            return try exchange(fd, socket: socket, line: line, timeout: timeout)
        }
        throw ControlFailure(code: "not_found", message: "\(workTree) is not inside a running aether mount (registry \(registry))")
    }

    /// The part of the mount's reply that a `changes` query reads (the reply carries other
    /// operations' fields too, absent here).
    struct Answer: Decodable {
        var changes: ChangedPaths?
        var error: ControlFailure?
    }

    static func exchange(_ fd: Int32, socket: String, line: [UInt8], timeout: Double) throws(ControlFailure) -> [UInt8] {
        UnixSocket.setTimeout(fd, seconds: timeout)
        let reply: [UInt8]?
        do {
            try UnixSocket.writeAll(fd, line)
            reply = try UnixSocket.readLine(fd, limit: 256 << 20)
        } catch {
            throw ControlFailure(code: "io", message: "the mount's control socket: \(error)")
        }
        guard let reply else {
            throw ControlFailure(code: "io", message: "the mount closed its control socket \(socket) without answering; see its log (`aether logs`)")
        }
        let answer: Answer
        do {
            answer = try JSONDecoder().decode(Answer.self, from: Data(reply))
        } catch {
            throw ControlFailure(code: "unsupported_format", message: "the mount's answer is not what this aether expects (\(error)); is it another version?")
        }
        if let failure = answer.error { throw failure }
        guard let changes = answer.changes else {
            throw ControlFailure(code: "unsupported_format", message: "the mount at \(socket) did not answer the fsmonitor query; is it an older aether?")
        }
        return changes.hookOutput
    }
}
