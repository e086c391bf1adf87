import AFSSupport
import AFSCore
import Foundation
import Synchronization

/// Serves ``ControlProtocol`` on a unix socket: one thread waits for connections, each connection
/// gets a thread of its own (a checkpoint that uploads for a minute does not hold up a metrics
/// query), reads one request, answers it through `handler`, and closes.
final class ControlServer: Sendable {
    let path: String
    private let listener: Int32
    private let handler: @Sendable (ControlProtocol.Request) -> ControlProtocol.Reply
    private let stopped = Atomic<Bool>(false)

    /// Listens at `path` at once (so a failure is reported before the mount announces itself).
    init(path: String, handler: @escaping @Sendable (ControlProtocol.Request) -> ControlProtocol.Reply) throws(AFSError) {
        self.path = path
        self.handler = handler
        do { listener = try UnixSocket.listen(at: path) } catch { throw AFSError(controlSocket: error) }
    }

    func start() {
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                guard let connection = UnixSocket.accept(listener, timeout: 0.2) else { continue }
                let worker = Thread { [self] in serve(connection) }
                worker.name = "aether-control"
                worker.start()
            }
            close(listener)
            unlink(path)
        }
        thread.name = "aether-control-accept"
        thread.start()
    }

    /// Stops accepting (within the accept loop's 0.2 s poll); answers in progress finish.
    func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        // A client that connects and says nothing is dropped rather than kept forever.
        UnixSocket.setTimeout(fd, seconds: 30)
        let reply: ControlProtocol.Reply
        do throws(AFSError) {
            let received: [UInt8]?
            do { received = try UnixSocket.readLine(fd) } catch { throw AFSError(controlSocket: error) }
            guard let line = received else { return }
            let request: ControlProtocol.Request
            do {
                request = try ControlProtocol.decoder.decode(ControlProtocol.Request.self, from: Data(line))
            } catch {
                throw AFSError(.invalidArgument, "not a control request this mount understands: \(error)")
            }
            reply = handler(request)
        } catch {
            reply = ControlProtocol.Reply(error: error)
        }
        guard let data = try? ControlProtocol.encoder.encode(reply) else { return }
        try? UnixSocket.writeAll(fd, Array(data) + [UInt8(ascii: "\n")])
    }
}
