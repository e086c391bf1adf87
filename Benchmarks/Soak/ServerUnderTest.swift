import AFSClient
import AFSSupport
import Foundation

/// The afs-server the soak kills: started on one data directory and one loopback port for the
/// whole run (so clients keep their endpoint), stopped only with SIGKILL.
final class ServerUnderTest: @unchecked Sendable {
    // @unchecked: `running` is touched only by the soak's driving thread (start, kill, wait).
    let executable: String
    let data: String
    let port: Int
    let extraArguments: [String]
    let log: String
    private var running: Command.Running?

    var endpoint: String { "http://127.0.0.1:\(port)" }

    init(executable: String, data: String, extraArguments: [String]) throws {
        self.executable = executable
        self.data = data
        self.extraArguments = extraArguments
        self.log = data + ".log"
        guard let port = HostPort.freeLoopbackPort() else { throw SoakFailure("cannot bind a loopback port: errno \(errno)") }
        self.port = port
    }

    /// Starts the server and waits (up to `timeout`) until it answers its health check.
    func start(timeout: Duration = .seconds(60)) throws {
        var command = Command(
            executable, ["--data", data, "--http", "127.0.0.1:\(port)", "--grpc", "127.0.0.1:0"] + extraArguments)
        command.stdout = .appendTo(log)
        command.stderr = .appendTo(log)
        // A session of its own: Ctrl-C in the terminal reaches the soak (which then stops after
        // the cycle and reports), not the server, whose only ending here is SIGKILL.
        command.newSession = true
        do { running = try command.spawn() } catch { throw SoakFailure("cannot start \(executable): \(error)") }
        let deadline = ContinuousClock.now + timeout
        let probe = try RemoteStore(endpoint: endpoint, token: nil, timeout: 2, connectTimeout: 0.5)
        while ContinuousClock.now < deadline {
            if (try? probe.health()) != nil { return }
            if let pid = running?.pid, Glibc.kill(pid, 0) != 0 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw SoakFailure("afs-server did not become healthy on \(endpoint) within \(timeout); its log: \(log)")
    }

    /// SIGKILL, and wait for the process to be gone.
    func kill() {
        guard let running else { return }
        running.terminate(SIGKILL)
        _ = try? running.wait(timeout: .seconds(30))
        self.running = nil
    }

    /// The admin token the first start wrote.
    func adminToken() throws -> String {
        guard let text = try? String(contentsOfFile: data + "/admin.token", encoding: .utf8) else {
            throw SoakFailure("no admin token in \(data)/admin.token")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Why the soak could not go on (as opposed to what it found, which goes in the report).
struct SoakFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
