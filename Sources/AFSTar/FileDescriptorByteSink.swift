import Foundation

/// Writes to a file descriptor with write(2), handling EINTR and short
/// writes. Does not own (close) the descriptor.
package struct FileDescriptorByteSink: TarByteSink, Sendable {
    package let fd: Int32
    /// Number of bytes written so far (used for error offsets).
    private(set) var bytesWritten: Int64 = 0

    package init(fd: Int32) {
        self.fd = fd
    }

    package mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var done = 0
        while done < bytes.count {
            let chunk = min(bytes.count - done, maxSyscallLength)
            let n = sysWrite(fd, base + done, chunk)
            if n > 0 {
                done += n
                bytesWritten += Int64(n)
                continue
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw TarError(message: "write failed: \(errnoDescription(code))", offset: bytesWritten)
            }
            // write(2) returning 0 for a non-empty buffer: no progress possible.
            throw TarError(message: "write made no progress", offset: bytesWritten)
        }
    }
}
