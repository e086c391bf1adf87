import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// One TLS handshake with a server, for tests that check what it negotiates: the protocol
/// version floor and ALPN. Returns the negotiated application protocol, or throws the refusal.
public enum TLSHandshake {
    public static func negotiate(host: String = "127.0.0.1", port: Int, configure: (inout TLSConfiguration) -> Void) async throws -> String? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configure(&configuration)
        let context = try NIOSSLContext(configuration: configuration)
        let negotiated = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: String?.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(Watcher(promise: negotiated))
                }
            }
            .connect(host: host, port: port).get()
        defer { channel.close(promise: nil) }
        return try await negotiated.futureResult.get()
    }

    final class Watcher: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used on its channel's event loop only.
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<String?>
        init(promise: EventLoopPromise<String?>) { self.promise = promise }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted(let proto) = event { promise.succeed(proto) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
            context.fireChannelInactive()
        }
    }
}
