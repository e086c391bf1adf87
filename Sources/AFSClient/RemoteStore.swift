import AFSCore
import AFSWire
import AFSTLS
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The remote transport: an `afs-server` reached over HTTP, with the same API as the embedded store.
///
/// Calls are synchronous (the CLI and most scripts are), run on AsyncHTTPClient's event loops and
/// wait for the answer. Large bodies stream both ways: uploads from a file descriptor, downloads
/// into one, so memory stays flat whatever the size. Requests the server throttles (429) are
/// retried after its `Retry-After`, a bounded number of times, when their body can be replayed.
public final class RemoteStore: AetherService, @unchecked Sendable {
    // @unchecked: every stored property is immutable; HTTPClient is itself thread-safe.
    /// The server's base URL, without a trailing slash.
    public let endpoint: String
    let token: String?
    let client: HTTPClient
    /// How long one request may take, body included (exports of big sessions take a while).
    let timeout: TimeAmount
    /// How long a refused connection is retried before the call fails (see ``blocking(_:)``).
    let connectTimeout: Double
    let maxRetries = 5
    /// Which CAs an `https://` endpoint's certificate must chain to.
    public let trust: TLSTrust
    /// What chunked uploads saved, for metrics and for seeing that they work.
    public let chunkStatistics = ChunkStatistics()

    /// The server's base URL, for messages.
    public var location: String { endpoint }

    /// A client of the afs-server at `endpoint`; nothing is sent until the first call.
    ///
    /// - Parameters:
    ///   - endpoint: `http://HOST:PORT` of an afs-server (a trailing slash is ignored).
    ///   - token: the bearer token; nil sends none (only the health check answers then).
    ///   - timeout: how long one request may take, body included.
    ///   - connectTimeout: how long to keep trying to connect (a refused connection is retried
    ///     until then); short for health checks that should report a down server quickly.
    ///   - trust: for `https://` endpoints, the CAs the server's certificate must chain to (the
    ///     system's by default); the host name is always checked, TLS 1.2 at least.
    public init(endpoint: String, token: String?, timeout: Double = 3600, connectTimeout: Double = 10, trust: TLSTrust = TLSTrust()) throws(AFSError) {
        var e = endpoint
        while e.hasSuffix("/") { e.removeLast() }
        guard let url = URL(string: e), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw AFSError(.invalidArgument, "endpoint \(endpoint) is not an http:// or https:// URL, e.g. http://127.0.0.1:8787")
        }
        self.endpoint = e
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.timeout = .milliseconds(Int64(timeout * 1000))
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .milliseconds(Int64(connectTimeout * 1000)), read: self.timeout)
        configuration.redirectConfiguration = .disallow
        // AsyncHTTPClient would retry every failed connection until the connect timeout, a
        // refused TLS handshake included (ten seconds before saying the certificate is bad);
        // ``blocking(_:)`` retries refused connections itself and fails the rest at once.
        configuration.connectionPool.retryConnectionEstablishment = false
        self.connectTimeout = connectTimeout
        do {
            configuration.tlsConfiguration = try trust.clientConfiguration()
        } catch {
            throw AFSError(.invalidArgument, error.message)
        }
        self.trust = trust
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    deinit {
        try? client.syncShutdown()
    }

    /// Does nothing: there is no lock to release, and the HTTP client shuts down when the store is freed.
    public func close() throws(AFSError) {}

    // MARK: Requests

    /// What a call sends besides its body.
    struct Call: Sendable {
        var method: HTTPMethod
        var path: String
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var context: MutationContext?

        init(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [], context: MutationContext? = nil) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.context = context
        }
    }

    /// A response whose body was collected (JSON answers are small).
    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
    }

    /// A request body: bytes in memory (replayable, so retried on 429) or a stream read from a descriptor.
    enum Body: Sendable {
        case none
        case bytes(Data, contentType: String)
        case descriptor(Int32, contentType: String)
        /// A chunked upload (``ChunkedContent``) of the file at the descriptor.
        case chunks(ChunkRecords)
    }

    func url(_ call: Call) -> String {
        var s = endpoint + call.path
        if !call.query.isEmpty {
            s += "?" + call.query.map { "\(RemoteStore.escape($0.0))=\(RemoteStore.escape($0.1))" }.joined(separator: "&")
        }
        return s
    }

    func request(_ call: Call, body: Body) -> HTTPClientRequest {
        var r = HTTPClientRequest(url: url(call))
        r.method = call.method
        if let token { r.headers.add(name: "Authorization", value: "Bearer \(token)") }
        r.headers.add(name: "User-Agent", value: "aether/\(RemoteStore.version)")
        if let c = call.context {
            r.headers.add(name: "X-AFS-Actor", value: c.actor)
            if let t = c.lockToken { r.headers.add(name: "X-AFS-Lock-Token", value: String(t)) }
            if c.uid != nil || c.gid != nil {
                r.headers.add(name: "X-AFS-Owner", value: "\(c.uid.map(String.init) ?? ""):\(c.gid.map(String.init) ?? "")")
            }
        }
        for (k, v) in call.headers { r.headers.add(name: k, value: v) }
        switch body {
        case .none: break
        case .bytes(let data, let type):
            r.headers.add(name: "Content-Type", value: type)
            r.body = .bytes(ByteBuffer(bytes: data))
        case .descriptor(let fd, let type):
            r.headers.add(name: "Content-Type", value: type)
            r.body = .stream(DescriptorChunks(fd: fd), length: .unknown)
        case .chunks(let records):
            r.headers.add(name: "Content-Type", value: ChunkedContent.mediaType)
            r.body = .stream(records, length: .known(Int64(ChunkedContent.bodyLength(records.pieces, missing: records.missing))))
        }
        return r
    }

    /// Sends a call and collects the answer; non-2xx answers (but those in `accept`) become the
    /// matching ``AFSError``.
    func send(_ call: Call, body: Body = .none, accept: Set<Int> = [], limit: Int = 64 << 20) throws(AFSError) -> Reply {
        let replayable: Bool
        if case .descriptor = body { replayable = false } else { replayable = true }
        var attempt = 0
        while true {
            let reply = try blocking { [self] in
                let response = try await client.execute(request(call, body: body), timeout: timeout)
                let buffer = try await response.body.collect(upTo: limit)
                return Reply(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView))
            }
            if reply.status == 429, replayable, attempt < maxRetries {
                attempt += 1
                Thread.sleep(forTimeInterval: RemoteStore.retryDelay(reply.headers, attempt: attempt))
                continue
            }
            guard (200..<300).contains(reply.status) || accept.contains(reply.status) else {
                throw RemoteStore.error(from: reply, call: call)
            }
            return reply
        }
    }

    /// Sends a call and streams a successful answer's body into `fd`; with `socket`, `fd` is a
    /// stream socket written with `MSG_NOSIGNAL`, so a reader that gave up ends the download
    /// with `EPIPE` instead of a `SIGPIPE` that would end the process.
    func download(_ call: Call, body: Body = .none, to fd: Int32, socket: Bool = false) throws(AFSError) {
        try blocking { [self] in
            let response = try await client.execute(request(call, body: body), timeout: timeout)
            guard (200..<300).contains(Int(response.status.code)) else {
                let buffer = try await response.body.collect(upTo: 1 << 20)
                throw RemoteStore.error(
                    from: Reply(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView)), call: call)
            }
            for try await buffer in response.body {
                if socket { try FileDescriptorIO.sendAll(fd, buffer) } else { try FileDescriptorIO.writeAll(fd, buffer) }
            }
        }
    }

    /// Decodes a JSON answer into `T`.
    func json<T: Decodable>(_ type: T.Type, _ call: Call, body: Body = .none) throws(AFSError) -> T {
        let reply = try send(call, body: body)
        return try RemoteStore.decode(type, reply.body, call: call)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, call: Call) throws(AFSError) -> T {
        do {
            return try decoder.decode(type, from: data)
        } catch {
            throw AFSError(
                .unsupportedFormat,
                "the server's answer to \(call.method.rawValue) \(call.path) is not what this aether (\(version)) expects: \(error); upgrade aether or the server")
        }
    }

    /// A request body of the API's wire model (``AFSWire``).
    static func jsonBody<T: WireModel>(_ value: T) -> Body {
        // Encoding a wire model cannot fail: its fields are strings, numbers, booleans and
        // collections of them.
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return .bytes(data, contentType: "application/json")
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    static let version = "0.1.0"

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    // MARK: Helpers

    /// Percent-encodes one query component or path segment (RFC 3986 unreserved characters stay).
    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func retryDelay(_ headers: HTTPHeaders, attempt: Int) -> Double {
        if let raw = headers.first(name: "Retry-After"), let s = Double(raw) { return min(max(s, 0.05), 30) }
        return min(0.1 * pow(2, Double(attempt)), 5)
    }

    /// The bridge between the synchronous service API and AsyncHTTPClient (see ``Blocking``).
    ///
    /// A refused connection (a server restarting, or not up yet) is tried again with a growing
    /// pause until `connectTimeout` has passed; nothing was sent then, so the call is safe to
    /// repeat. Every other failure is final at once.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws(AFSError) -> T {
        let deadline = Date().addingTimeInterval(connectTimeout)
        var pause = 0.05
        while true {
            do {
                return try Blocking.run(body)
            } catch let e as AFSError {
                throw e
            } catch {
                if RemoteStore.isRefused(error), Date().addingTimeInterval(pause) < deadline {
                    Thread.sleep(forTimeInterval: pause)
                    pause = min(pause * 2, 1)
                    continue
                }
                throw transportError(error)
            }
        }
    }

    /// Whether the server's host refused the TCP connection (nothing listens on the port).
    static func isRefused(_ error: any Error) -> Bool {
        let text = "\(error)"
        return text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("connect(descriptor")
    }

    /// Connection-level failures, phrased so the reader knows what to check.
    func transportError(_ error: any Error) -> AFSError {
        let text = "\(error)"
        if let refusal = RemoteStore.tlsRefusal(error, endpoint: endpoint, trust: trust) { return refusal }
        if let e = error as? HTTPClientError, e == .connectTimeout || e == .readTimeout || e == .deadlineExceeded {
            return AFSError(.unavailable, "afs-server at \(endpoint) did not answer in time (\(text)); check that it runs and the network")
        }
        if RemoteStore.isRefused(error) {
            return AFSError(.unavailable, "cannot reach afs-server at \(endpoint): connection refused; start it (scripts/run.sh) or fix --endpoint / AFS_AETHER_SERVER_ENDPOINT")
        }
        if endpoint.hasPrefix("http://"), let e = error as? HTTPClientError, e == .remoteConnectionClosed {
            return AFSError(.unavailable, "afs-server at \(endpoint) closed the connection without answering; if it serves TLS, use https:// in --endpoint")
        }
        return AFSError(.unavailable, "request to afs-server at \(endpoint) failed: \(text)")
    }

    /// A failed TLS handshake, explained: the server's certificate is read again without trusting
    /// it, and the message says which check failed (`.untrustedServer`), or that the endpoint
    /// does not speak TLS (`.unavailable`). Nil for errors that are not TLS's.
    static func tlsRefusal(_ error: any Error, endpoint: String, trust: TLSTrust) -> AFSError? {
        guard error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError,
            let url = URL(string: endpoint), let host = url.host
        else { return nil }
        let port = url.port ?? (url.scheme == "https" ? 443 : 80)
        let explained = (try? Blocking.run { await TLSProbe.explain(error, host: host, port: port, trust: trust) })
            ?? TLSError(.handshake, "TLS handshake with \(host):\(port) failed: \(error)")
        let code: AFSError.Code = explained.check == .handshake ? .unavailable : .untrustedServer
        return AFSError(code, "\(endpoint): \(explained.message)")
    }

    /// Maps the server's `{"error": {"code", "message"}}` back onto the engine's codes.
    static func error(from reply: Reply, call: Call) -> AFSError {
        let error = (try? decoder.decode(ErrorReply.self, from: reply.body))?.error
        let code = error?.code ?? ""
        let message = error?.message ?? "HTTP \(reply.status) from \(call.method.rawValue) \(call.path)"
        if let c = AFSError.Code(rawValue: code) { return AFSError(c, message) }
        switch (code, reply.status) {
        case ("unauthorized", _), (_, 401):
            return AFSError(.forbidden, "the server refused the token (\(message)): pass --token, set AFS_TOKEN, or set [bridge] token in ~/.config/aether/config.toml")
        case ("precondition_failed", _), (_, 412): return AFSError(.conflict, message)
        case ("rate_limited", _), (_, 429): return AFSError(.unavailable, "\(message) (HTTP 429); retry later")
        case (_, 403): return AFSError(.forbidden, message)
        case (_, 404): return AFSError(.notFound, message)
        case (_, 409): return AFSError(.conflict, message)
        case (_, 410): return AFSError(.expired, message)
        case (_, 400), (_, 413), (_, 416), (_, 422): return AFSError(.invalidArgument, message)
        case (_, 503): return AFSError(.unavailable, message)
        default: return AFSError(.io, "server error \(reply.status) (\(code.isEmpty ? "no code" : code)): \(message)")
        }
    }
}
