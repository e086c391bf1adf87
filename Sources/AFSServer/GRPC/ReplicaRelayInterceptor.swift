import AFSCore
import AFSSupport
import AFSTLS
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Synchronization

/// The gRPC form of ``ReplicaForwardingMiddleware``: a call about a session another live replica
/// holds is relayed to that replica's gRPC listener, request and response streamed, so a gRPC
/// client (the mount included) may reach any replica for any session.
///
/// The session is read from the call's first message (``SessionScopedMessage``); the messages
/// are passed on as the same protobuf bytes. A relayed call carries `x-afs-forwarded-by` and is
/// never relayed again. A holder that cannot be reached fails the call with UNAVAILABLE, which
/// gRPC clients retry; by then the database has released a dead holder's sessions and the retry
/// is served where it lands.
struct ReplicaRelayInterceptor: ServerInterceptor {
    static let forwardedKey = "x-afs-forwarded-by"
    /// The replica a relayed call is meant for (see ``ReplicaForwardingMiddleware/relayTargetHeader``).
    static let targetKey = "x-afs-relay-to"
    static let transportKeys: Set<String> = ["content-type", "te", "user-agent", "accept-encoding", "host", "connection", "content-length"]

    let ownership: any SessionOwnership
    let clients: RelayClients
    let replica: String

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if let target = request.metadata[stringValues: Self.targetKey].first(where: { _ in true }), target != replica {
            throw RPCError(code: .unavailable, message: "this is replica \(replica), not \(target); retry")
        }
        guard request.metadata[stringValues: Self.forwardedKey].first(where: { _ in true }) == nil else {
            return try await next(request, context)
        }
        // The first message names the session; the call goes on with it put back in front.
        let box = IteratorBox(request.messages.makeAsyncIterator())
        guard let first = try await box.next() else { return try await next(request, context) }
        let messages = RPCAsyncSequence(wrapping: Prepended(first: first, rest: box))
        let replayed = StreamingServerRequest(metadata: request.metadata, messages: messages)
        guard let session = (first as? SessionScopedMessage)?.relaySession, !session.isEmpty else {
            return try await next(replayed, context)
        }
        let ownership = self.ownership
        let placement: SessionPlacement
        do {
            placement = try await Blocking.run { () throws -> SessionPlacement in try ownership.place(session) }
        } catch {
            throw RPCError(mapping: error)
        }
        guard case .elsewhere(let owner, _, let target) = placement, !target.isEmpty else {
            return try await next(replayed, context)
        }
        let client: GRPCClient<HTTP2ClientTransport.Posix>
        do { client = try clients.client(for: target) } catch { throw RPCError(mapping: error) }
        // The caller's own metadata (its token, actor, lock token), not the transport's headers,
        // which the relay's own connection sets again.
        var metadata = Metadata()
        metadata.add(contentsOf: request.metadata.filter { element in
            let key = element.key.lowercased()
            return !Self.transportKeys.contains(key) && !key.hasPrefix(":") && !key.hasPrefix("grpc-")
        })
        metadata.replaceOrAddString(replica, forKey: Self.forwardedKey)
        metadata.replaceOrAddString(owner, forKey: Self.targetKey)
        let outgoing = StreamingClientRequest<Input>(metadata: metadata) { writer in
            for try await message in Prepended(first: first, rest: box) { try await writer.write(message) }
        }
        let descriptor = context.descriptor
        return StreamingServerResponse<Output>(of: Output.self) { writer in
            do {
                return try await client.bidirectionalStreaming(
                    request: outgoing, descriptor: descriptor, serializer: RelaySerializer<Input>(), deserializer: RelayDeserializer<Output>(),
                    options: .defaults
                ) { response in
                    for try await message in response.messages { try await writer.write(message) }
                    return [:]
                }
            } catch let error as RPCError where error.code == .unavailable {
                throw RPCError(
                    code: .unavailable,
                    message: "session \(session) is served by replica \(owner) at \(target), which did not answer (\(error.message)); retry")
            }
        }
    }

    /// The request's own iterator, shared by the sequence that replays its first message.
    final class IteratorBox<Element: Sendable>: @unchecked Sendable {
        // @unchecked: one consumer at a time: the interceptor reads the first message, then the
        // call (here or relayed) reads the rest.
        private var iterator: RPCAsyncSequence<Element, any Error>.AsyncIterator
        init(_ iterator: RPCAsyncSequence<Element, any Error>.AsyncIterator) { self.iterator = iterator }
        func next() async throws -> Element? { try await iterator.next() }
    }

    /// `first`, then what the request's iterator still holds.
    struct Prepended<Element: Sendable>: AsyncSequence, Sendable {
        typealias Failure = any Error
        let first: Element
        let rest: IteratorBox<Element>

        struct AsyncIterator: AsyncIteratorProtocol {
            typealias Failure = any Error
            var first: Element?
            let rest: IteratorBox<Element>
            mutating func next() async throws -> Element? {
                if let f = first {
                    first = nil
                    return f
                }
                return try await rest.next()
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(first: first, rest: rest) }
    }
}

/// Passes a protobuf message on as its own bytes, whatever its type (the relay's methods are
/// generic over every service's messages).
struct RelaySerializer<Message>: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: Message) throws -> Bytes {
        guard let protobuf = message as? any SwiftProtobuf.Message else {
            throw RPCError(code: .internalError, message: "the relay cannot encode \(Message.self)")
        }
        let bytes: [UInt8] = try protobuf.serializedBytes()
        return Bytes(bytes)
    }
}

struct RelayDeserializer<Message>: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        guard let type = Message.self as? any SwiftProtobuf.Message.Type else {
            throw RPCError(code: .internalError, message: "the relay cannot decode \(Message.self)")
        }
        let bytes = serializedMessageBytes.withUnsafeBytes { Array($0) }
        guard let message = try type.init(serializedBytes: bytes) as? Message else {
            throw RPCError(code: .internalError, message: "the relay decoded an unexpected \(type)")
        }
        return message
    }
}

/// One gRPC client per replica relayed to, connected on first use and kept.
final class RelayClients: Sendable {
    /// The CAs believed when the fleet runs over TLS; nil: plaintext.
    private let trust: TLSTrust?
    private let clients = Mutex<[String: (client: GRPCClient<HTTP2ClientTransport.Posix>, task: Task<Void, Never>)]>([:])

    init(trust: TLSTrust?) {
        self.trust = trust
    }

    /// The client for `target` (`HOST:PORT`). Over TLS the replica's certificate must chain to
    /// `trust` and name `HOST` (an IP address is checked against the certificate's IP entries).
    func client(for target: String) throws -> GRPCClient<HTTP2ClientTransport.Posix> {
        try clients.withLock { table in
            if let existing = table[target] { return existing.client }
            guard let hostPort = HostPort(target) else {
                throw RPCError(code: .internalError, message: "replica gRPC address \(target) is not HOST:PORT")
            }
            // An address literal is not a name: over TLS it must not be sent as the SNI host name
            // (an IP there is refused before connecting); the certificate is checked against the
            // connected address instead.
            var v4 = in_addr()
            let (host, port) = (hostPort.host, hostPort.port)
            let transport =
                if host.contains(":") {
                    try HTTP2ClientTransport.Posix(target: .ipv6(address: host, port: port), transportSecurity: security)
                } else if inet_pton(AF_INET, host, &v4) == 1 {
                    try HTTP2ClientTransport.Posix(target: .ipv4(address: host, port: port), transportSecurity: security)
                } else {
                    try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port), transportSecurity: security)
                }
            let client = GRPCClient(transport: transport)
            let task = Task { _ = try? await client.runConnections() }
            table[target] = (client, task)
            return client
        }
    }

    private var security: HTTP2ClientTransport.Posix.TransportSecurity {
        guard let trust else { return .plaintext }
        return .tls { configuration in
            configuration.trustRoots = trust.caCertificatePath.map { .certificates([.file(path: $0, format: .pem)]) } ?? .systemDefault
        }
    }

    /// Closes every connection.
    func shutdown() {
        for (client, _) in clients.withLock({ Array($0.values) }) { client.beginGracefulShutdown() }
    }

}
