import AFSCore
import AFSTLS
import AsyncHTTPClient
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import Synchronization

/// Sends each request for a session held by another replica to that replica, so a client (or
/// a load balancer) may reach any replica for any session.
///
/// A session's unfolded writes live in the memory of the one replica that holds it
/// (``SessionOwnership``), so requests under `/v1/sessions/{id}` are served there: a replica
/// that holds the session, or can take it (no live replica does), serves it itself; otherwise it
/// relays the request, body and response streamed both ways, to the holder's address. Every
/// request therefore sees every write acknowledged before it, whichever replica took either.
///
/// A relayed request carries `X-AFS-Forwarded-By` and is never relayed again: should the session
/// have moved on in between, the replica that receives it answers 503 (retry). A holder that
/// cannot be reached before any of the body was sent is asked about again (it may have just
/// died, and its sessions are then taken here); one that fails mid-request is answered 502.
struct ReplicaForwardingMiddleware: RouterMiddleware {
    typealias Context = AFSRequestContext
    static let forwardedHeader = HTTPField.Name("X-AFS-Forwarded-By")!
    /// The replica a relayed request is meant for: another process that took over the address
    /// (a restarted replica, an unrelated server on a reused port) answers 421 instead of serving it.
    static let relayTargetHeader = HTTPField.Name("X-AFS-Relay-To")!

    let ownership: any SessionOwnership
    let client: HTTPClient
    /// This replica's name, sent along with relayed requests.
    let replica: String
    /// What `client` believes over TLS, to explain a holder whose certificate it refused.
    let trust: TLSTrust

    /// The session a path is about: `/v1/sessions/{id}` and everything below it, except the
    /// collection's own verbs (`/v1/sessions/import`).
    static func session(inPath path: Substring) -> String? {
        let prefix = "/v1/sessions/"
        guard path.hasPrefix(prefix) else { return nil }
        let rest = path.dropFirst(prefix.count)
        let id = rest.prefix { $0 != "/" }
        guard !id.isEmpty, id != "import" else { return nil }
        return String(id)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let target = request.headers[Self.relayTargetHeader], target != replica {
            return APIError(.misdirectedRequest, "misdirected", "this is replica \(replica), not \(target); ask the catalog where the session is").response
        }
        guard request.headers[Self.forwardedHeader] == nil, let session = Self.session(inPath: Substring(request.uri.path)) else {
            return try await next(request, context)
        }
        let ownership = self.ownership
        for attempt in 0..<20 {
            let placement = try await Blocking.run { () throws -> SessionPlacement in try ownership.place(session) }
            guard case .elsewhere(let owner, let address, _) = placement else { return try await next(request, context) }
            let outcome = await relay(request, to: address, owner: owner, session: session)
            switch outcome {
            case .answered(let response): return response
            case .failedAfterSending(let message):
                return APIError(.badGateway, "replica_failed", message).response
            case .unreachable(let message):
                // The holder may have just died: once the database has released its lock, the
                // next placement takes the session here.
                if attempt == 19 {
                    return APIError(.serviceUnavailable, "replica_unreachable", message + "; retry shortly", retryAfter: 1).response
                }
                try await Task.sleep(for: .milliseconds(min(50 * (attempt + 1), 500)))
            }
        }
        return try await next(request, context)
    }

    enum Outcome {
        case answered(Response)
        case unreachable(String)
        case failedAfterSending(String)
    }

    /// Hop-by-hop fields (RFC 9110 §7.6.1) stay on their own connection.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"]

    private func relay(_ request: Request, to address: String, owner: String, session: String) async -> Outcome {
        var outgoing = HTTPClientRequest(url: address + (request.uri.string.hasPrefix("/") ? request.uri.string : "/" + request.uri.string))
        outgoing.method = .init(rawValue: request.method.rawValue)
        for field in request.headers where !Self.hopByHop.contains(field.name.canonicalName) {
            outgoing.headers.add(name: field.name.rawName, value: field.value)
        }
        outgoing.headers.replaceOrAdd(name: Self.forwardedHeader.rawName, value: replica)
        outgoing.headers.replaceOrAdd(name: Self.relayTargetHeader.rawName, value: owner)
        let started = BodyProgress()
        let length = request.headers[.contentLength].flatMap { Int64($0) }
        let hasBody = length.map { $0 > 0 } ?? (request.headers[.transferEncoding] != nil)
        if hasBody {
            outgoing.body = .stream(RelayedBody(body: request.body, progress: started), length: length.map { .known($0) } ?? .unknown)
        }
        do {
            // Long enough for a change stream or a large download; a dead holder fails at once.
            let response = try await client.execute(outgoing, timeout: .hours(24))
            if response.status.code == 421 && !started.isMarked {
                return .unreachable("replica \(owner) is no longer at \(address)")
            }
            var headers = HTTPFields()
            for (name, value) in response.headers where !Self.hopByHop.contains(name.lowercased()) {
                if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
            }
            let body = ResponseBody(asyncSequence: response.body)
            return .answered(Response(status: .init(code: Int(response.status.code)), headers: headers, body: body))
        } catch {
            let reason = trust.explainHandshakeFailure(error).map { $0 + " (--relay-ca)" } ?? "did not answer (\(error))"
            let message = "session \(session) is served by replica \(owner) at \(address), which \(reason)"
            return started.isMarked ? .failedAfterSending(message + "; the request may or may not have taken effect") : .unreachable(message)
        }
    }

    /// Whether the relay began reading the request's body: a request body is read once, so from
    /// then on the request can be neither served here nor relayed again.
    final class BodyProgress: Sendable {
        private let marked = Atomic<Bool>(false)
        func mark() { marked.store(true, ordering: .relaxed) }
        var isMarked: Bool { marked.load(ordering: .relaxed) }
    }

    /// The request's body as the relay reads it, noting when reading begins (AsyncHTTPClient
    /// starts only once it has a connection, so a holder that refuses connections leaves the
    /// body untouched for this replica to serve).
    struct RelayedBody: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let body: RequestBody
        let progress: BodyProgress

        func makeAsyncIterator() -> RequestBody.AsyncIterator {
            progress.mark()
            return body.makeAsyncIterator()
        }
    }
}
