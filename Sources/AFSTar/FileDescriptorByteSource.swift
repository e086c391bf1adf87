import Foundation

// MARK: - File descriptor implementations

/// Reads from a file descriptor with read(2), retrying on EINTR. Does not own
/// (close) the descriptor.
package struct FileDescriptorByteSource: TarByteSource, Sendable {
    package let fd: Int32
    /// Number of bytes read so far (used for error offsets).
    private(set) var bytesRead: Int64 = 0

    package init(fd: Int32) {
        self.fd = fd
    }

    package mutating func read(maxLength: Int) throws -> [UInt8] {
        let length = min(max(maxLength, 0), maxSyscallLength)
        if length == 0 { return [] }
        var failure: Int32 = 0
        let fd = self.fd
        let result = [UInt8](unsafeUninitializedCapacity: length) { buffer, initializedCount in
            initializedCount = 0
            while true {
                let n = sysRead(fd, buffer.baseAddress, length)
                if n >= 0 {
                    initializedCount = n
                    return
                }
                let code = errno
                if code == EINTR { continue }
                failure = code
                return
            }
        }
        if failure != 0 {
            throw TarError(message: "read failed: \(errnoDescription(failure))", offset: bytesRead)
        }
        bytesRead += Int64(result.count)
        return result
    }
}
