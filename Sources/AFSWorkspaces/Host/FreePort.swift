import AFSSupport
import Foundation

/// Loopback TCP helpers: a free port for QEMU's SSH forward, and a check that an SSH server
/// (not just QEMU's forwarder, which accepts before the guest listens) answers on it.
enum FreePort {
    static func pick() throws(WorkspaceError) -> Int {
        guard let port = HostPort.freeLoopbackPort() else {
            throw WorkspaceError(.io, "cannot bind a loopback port: \(String(cString: strerror(errno)))")
        }
        return port
    }

    /// True when something on 127.0.0.1:`port` sends an `SSH-` banner within `timeout` seconds.
    static func answersSSH(port: Int, timeout: Double = 1) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = loopback(port: port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n >= 4 && buffer[0..<4] == Array("SSH-".utf8)[...]
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
