import Foundation

/// A blocking, line-oriented client of a Unix stream socket with per-call timeouts: enough for
/// QMP (JSON lines) and the guest agent (text lines). The one place this module touches raw
/// socket buffers.
final class UnixLineSocket {
    private let fd: Int32
    private var pending: [UInt8] = []

    /// Connects to `path`; `timeout` bounds every later read and write.
    init(path: String, timeout: Double) throws(WorkspaceError) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw WorkspaceError(.io, "socket(): \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw WorkspaceError(.invalidArgument, "socket path too long (\(bytes.count) bytes): \(path); use a shorter --data directory")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw WorkspaceError(.driver, "cannot connect to \(path): \(message)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    func writeLine(_ line: String) throws(WorkspaceError) {
        let bytes = Array((line + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw WorkspaceError(.driver, "write to control socket failed: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }

    /// The next line without its newline; fails on timeout or end of stream.
    func readLine() throws(WorkspaceError) -> String {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line.hasSuffix("\r") ? String(line.dropLast()) : line
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                pending.append(contentsOf: buffer[..<n])
            } else if n == 0 {
                throw WorkspaceError(.driver, "control socket closed")
            } else if errno != EINTR {
                throw WorkspaceError(.timeout, "no answer on control socket: \(String(cString: strerror(errno)))")
            }
        }
    }
}
