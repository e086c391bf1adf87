import Glibc

/// Unix stream sockets, wrapped once for every module (the mount's control socket, QMP and the
/// guest agent of workspace VMs): `sockaddr_un` filling, `bind`, `listen`, `accept`, `connect`,
/// timeouts and whole-buffer reads and writes, each returning Swift values and throwing
/// ``UnixSocket/Failure`` with the call, the socket and `errno`. Nothing else touches these pointers.
public enum UnixSocket {
    /// A failed socket call: which, on what, and `errno` (callers map it to their own errors).
    public struct Failure: Error, CustomStringConvertible {
        public var call: String
        public var path: String
        public var code: Int32
        public var description: String { "\(call) on \(path) failed: \(String(cString: strerror(code)))" }
    }

    /// `sun_path` holds 108 bytes including the terminating NUL.
    public static let maxPathBytes = 107

    /// A listening socket at `path` (an existing file there is replaced: only a dead mount's socket
    /// can be left behind, the registry's pid check having said so).
    public static func listen(at path: String) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket", path) }
        unlink(path)
        do throws(Failure) {
            try withAddress(path) { (address, length) throws(Failure) in
                guard bind(fd, address, length) == 0 else { throw failure("bind", path) }
            }
            // Only the owner talks to a mount (it can checkpoint its session).
            chmod(path, 0o600)
            guard Glibc.listen(fd, 16) == 0 else { throw failure("listen", path) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Waits up to `timeout` seconds for a connection; nil when none arrived.
    public static func accept(_ listener: Int32, timeout: Double) -> Int32? {
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return nil }
        // accept4 is hidden behind _GNU_SOURCE; the flag is set right after instead (the mount
        // never forks, so nothing can inherit the descriptor in between).
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// A connection to the socket at `path`.
    public static func connect(to path: String) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket", path) }
        do throws(Failure) {
            try withAddress(path) { (address, length) throws(Failure) in
                guard Glibc.connect(fd, address, length) == 0 else { throw failure("connect", path) }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Gives reads and writes on `fd` a deadline, so a stuck peer cannot hold a thread forever.
    public static func setTimeout(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads up to the first newline (not included), at most `limit` bytes; nil on EOF before one.
    public static func readLine(_ fd: Int32, limit: Int = 1 << 20) throws(Failure) -> [UInt8]? {
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while line.count <= limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("read", "socket \(fd)")
            }
            if n == 0 { return nil }
            if let newline = buffer[..<n].firstIndex(of: UInt8(ascii: "\n")) {
                line += buffer[..<newline]
                return line
            }
            line += buffer[..<n]
        }
        throw Failure(call: "read", path: "a line longer than \(limit) bytes", code: EMSGSIZE)
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Failure) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("write", "socket \(fd)")
            }
            done += n
        }
    }

    private static func withAddress(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(Failure) -> Void
    ) throws(Failure) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= maxPathBytes else {
            throw Failure(call: "bind", path: path, code: ENAMETOOLONG)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let result: Result<Void, Failure> = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (generic) -> Result<Void, Failure> in
                do throws(Failure) {
                    try body(generic, length)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
        }
        try result.get()
    }

    private static func failure(_ call: String, _ path: String) -> Failure {
        Failure(call: call, path: path, code: errno)
    }
}
