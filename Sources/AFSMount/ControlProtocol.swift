@_exported import AFSMountControl
import AFSCore
import AFSSupport
import Foundation

/// The messages a running mount answers on its control socket, and the client side of the
/// exchange: one JSON request line, one JSON reply line, then the connection closes.
///
/// Line-delimited JSON keeps the protocol inspectable (`socat - UNIX:…sock`) and versionable
/// (unknown fields are ignored); a unix socket keeps it local and owner-only.
public enum ControlProtocol {
    /// A request (defined in `AFSMountControl`, which git's fsmonitor hook links without the mount).
    public typealias Request = ControlRequest

    public struct Reply: Sendable, Codable {
        public typealias Failure = ControlFailure

        public var checkpoint: CheckpointInfo?
        public var metrics: MountMetrics.Snapshot?
        public var changes: ChangedPaths?
        /// `sync`: the changes the mount had sent to the service when it answered.
        public var synced: SyncReport?
        public var error: Failure?

        public init(
            checkpoint: CheckpointInfo? = nil, metrics: MountMetrics.Snapshot? = nil, changes: ChangedPaths? = nil, synced: SyncReport? = nil,
            error: AFSError? = nil
        ) {
            self.checkpoint = checkpoint
            self.metrics = metrics
            self.changes = changes
            self.synced = synced
            self.error = error.map { Failure(code: $0.code.rawValue, message: $0.message) }
        }
    }

    /// What `sync` reports: every change acknowledged before the request is at the service.
    public struct SyncReport: Sendable, Codable, Equatable {
        /// Changes the write-back workers have sent since the mount started.
        public var sent: UInt64
        /// Changes the service refused since the mount started (each was logged).
        public var failed: Int

        public init(sent: UInt64, failed: Int) {
            self.sent = sent
            self.failed = failed
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// Sends `request` to the mount listening on `socket` and waits up to `timeout` seconds for
    /// its reply (a checkpoint uploads every pending write first, so it may take a while). A
    /// failure the mount reports comes back as the ``AFSError`` it was.
    public static func call(_ socket: String, _ request: Request, timeout: Double = 600) throws(AFSError) -> Reply {
        let fd: Int32
        do { fd = try UnixSocket.connect(to: socket) } catch { throw AFSError(controlSocket: error) }
        defer { close(fd) }
        UnixSocket.setTimeout(fd, seconds: timeout)
        let body: Data
        do { body = try encoder.encode(request) } catch { throw AFSError(.invalidArgument, "cannot encode the request: \(error)") }
        let answer: [UInt8]?
        do {
            try UnixSocket.writeAll(fd, Array(body) + [UInt8(ascii: "\n")])
            answer = try UnixSocket.readLine(fd)
        } catch {
            throw AFSError(controlSocket: error)
        }
        guard let line = answer else {
            throw AFSError(.io, "the mount closed its control socket \(socket) without answering; see its log (`aether logs`)")
        }
        let reply: Reply
        do {
            reply = try decoder.decode(Reply.self, from: Data(line))
        } catch {
            throw AFSError(.unsupportedFormat, "the mount's answer is not what this aether expects (\(error)); is it another version?")
        }
        if let failure = reply.error {
            throw AFSError(AFSError.Code(rawValue: failure.code) ?? .io, failure.message)
        }
        return reply
    }
}
