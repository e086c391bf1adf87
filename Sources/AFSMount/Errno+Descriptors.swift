import Glibc

extension Errno {
    /// Writes all of `bytes` to `fd` at `offset` (`pwrite` until done, retried on `EINTR`), or
    /// throws the errno of the write that failed.
    static func writeAll(_ bytes: [UInt8], to fd: Int32, at offset: UInt64) throws(Errno) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Errno(errno)
            }
            done += n
        }
    }
}
