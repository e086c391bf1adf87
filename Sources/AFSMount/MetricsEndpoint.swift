import AFSSupport
import AFSCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server answering `GET /metrics` with the mount's counters in Prometheus text
/// format, on `[logging] metrics_addr`.
///
/// It runs on NIO's shared event loops: rendering only copies counters under short locks, so it
/// never blocks a loop. Anything but `GET /metrics` is a 404.
final class MetricsEndpoint: Sendable {
    private let channel: any Channel
    /// `HOST:PORT` actually bound (port 0 in the configuration picks a free one).
    let address: String

    /// Binds `address` (`HOST:PORT`, `[IPv6]:PORT`) and serves `render()` until ``stop()``.
    init(address: String, render: @escaping @Sendable () -> String) throws(AFSError) {
        let (host, port) = try MetricsEndpoint.parse(address)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(PrometheusHandler(render: render))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            throw AFSError(.unavailable, "cannot serve metrics on \(address): \(error)")
        }
        let bound = channel.localAddress?.port ?? port
        self.address = HostPort(host: host, port: bound).description
    }

    func stop() {
        channel.close(promise: nil)
    }

    static func parse(_ address: String) throws(AFSError) -> (String, Int) {
        guard let parsed = HostPort(address) else {
            throw AFSError(.invalidArgument, "[logging] metrics_addr must be HOST:PORT (e.g. 127.0.0.1:9464 or [::1]:9464), not '\(address)'")
        }
        return (parsed.host, parsed.port)
    }
}

/// One connection's requests: `GET /metrics` or 404, keep-alive honoured.
private final class PrometheusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () -> String
    private var head: HTTPRequestHead?

    init(render: @escaping @Sendable () -> String) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            let found = head.method == .GET && path == "/metrics"
            let body = found ? render() : "not found: the mount serves GET /metrics\n"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            let status: HTTPResponseStatus = found ? .ok : .notFound
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                done.whenComplete { _ in bound.value.close(promise: nil) }
            }
        }
    }
}
