import AFSSupport
import Foundation

/// A blocking, line-oriented client of a Unix stream socket with per-call timeouts: enough for
/// QMP (JSON lines) and the guest agent (text lines). Connecting, timeouts and writes go through
/// ``AFSSupport/UnixSocket``; this type adds the buffer that keeps what follows a line.
final class UnixLineSocket {
    private let fd: Int32
    private var pending: [UInt8] = []

    /// Connects to `path`; `timeout` bounds every later read and write.
    init(path: String, timeout: Double) throws(WorkspaceError) {
        do {
            fd = try UnixSocket.connect(to: path)
        } catch where error.code == ENAMETOOLONG {
            throw WorkspaceError(.invalidArgument, "socket path too long (\(path.utf8.count) bytes): \(path); use a shorter --data directory")
        } catch {
            throw WorkspaceError(.driver, "cannot connect to \(path): \(String(cString: strerror(error.code)))")
        }
        UnixSocket.setTimeout(fd, seconds: timeout)
    }

    deinit { close(fd) }

    func writeLine(_ line: String) throws(WorkspaceError) {
        do {
            try UnixSocket.writeAll(fd, Array((line + "\n").utf8))
        } catch {
            throw WorkspaceError(.driver, "write to control socket failed: \(String(cString: strerror(error.code)))")
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
