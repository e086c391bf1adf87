import Foundation
import Synchronization

/// A loopback TCP port that forwards every connection to another one, byte for byte: a way to
/// make a real server (PostgreSQL, S3) appear on a port only from a chosen moment, or vanish
/// from it, without touching the server itself, or to cut it off as a network partition does
/// (``partition()``).
public final class TCPForwarder: Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The port it listens on (127.0.0.1).
    public let port: Int
    let target: Int
    let listener: Int32
    let stopped = Atomic<Bool>(false)
    let partitioned = Atomic<Bool>(false)
    let stalled = Atomic<Bool>(false)
    let links = Mutex<[Link]>([])
    /// Connections accepted while partitioned: never forwarded, never answered.
    let held = Mutex<[Int32]>([])

    /// One forwarded connection.
    final class Link: Sendable {
        let client: Int32
        let upstream: Int32
        let cut = Atomic<Bool>(false)
        let finished = Atomic<Int>(0)
        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }
    }

    /// Listens on `port` (a free one when 0) and forwards to 127.0.0.1:`target`.
    public init(port: Int = 0, to target: Int) throws {
        self.target = target
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "socket: errno \(errno)") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = TCPForwarder.loopback(port)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 64) == 0 else {
            let e = errno
            close(fd)
            throw StartError(description: "cannot listen on 127.0.0.1:\(port): errno \(e)")
        }
        listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops accepting; connections already forwarded end when either side closes.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// Cuts every connection the way a partition seen from the server's side ends: the server
    /// gets its connection closed (PostgreSQL ends the session and releases its locks), while the
    /// client hears nothing at all: what it sends is swallowed, no answer and no close reaches it.
    /// New connections are accepted and left silent the same way.
    public func partition() {
        partitioned.store(true, ordering: .releasing)
        for link in links.withLock({ $0 }) where !link.cut.exchange(true, ordering: .acquiringAndReleasing) {
            shutdown(link.upstream, Int32(SHUT_RDWR))
        }
    }

    /// Holds every byte in both directions, closing nothing: a network (or a machine) so slow
    /// that neither side hears the other, until ``resume()`` delivers what was held.
    public func stall() {
        stalled.store(true, ordering: .releasing)
    }

    public func resume() {
        stalled.store(false, ordering: .releasing)
    }

    /// Ends the partition: the client's cut connections are closed (as the network, back, would
    /// answer them with a reset) and new connections are forwarded again.
    public func heal() {
        partitioned.store(false, ordering: .releasing)
        for link in links.withLock({ $0 }) where link.cut.load(ordering: .acquiring) {
            shutdown(link.client, Int32(SHUT_RDWR))
        }
        for fd in held.withLock({ h in defer { h = [] }; return h }) {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    deinit { stop() }

    static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .acquiring) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
            if partitioned.load(ordering: .acquiring) {
                held.withLock { $0.append(client) }
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = TCPForwarder.loopback(target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else {
                close(upstream)
                close(client)
                continue
            }
            let link = Link(client: client, upstream: upstream)
            links.withLock { $0.append(link) }
            // Each direction on its own thread; the second to finish closes both descriptors.
            for (from, to) in [(client, upstream), (upstream, client)] {
                Thread { [self] in
                    pump(from: from, to: to, link: link)
                    // A cut connection tells its client nothing (no end of stream) until healed.
                    if !(link.cut.load(ordering: .acquiring) && to == client) { shutdown(to, Int32(SHUT_WR)) }
                    if link.finished.add(1, ordering: .acquiringAndReleasing).newValue == 2 {
                        links.withLock { $0.removeAll { $0 === link } }
                        close(client)
                        close(upstream)
                    }
                }.start()
            }
        }
    }

    private func pump(from: Int32, to: Int32, link: Link) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return }
            // Cut: what the client sends goes nowhere, and it waits for an answer.
            if link.cut.load(ordering: .acquiring) { continue }
            while stalled.load(ordering: .acquiring), !link.cut.load(ordering: .acquiring) { usleep(5_000) }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                if m < 0, errno == EINTR { continue }
                if m <= 0, link.cut.load(ordering: .acquiring) { break }
                guard m > 0 else { return }
                sent += m
            }
        }
    }
}
