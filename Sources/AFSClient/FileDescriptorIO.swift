import AFSCore
import Foundation
import NIOCore

/// Blocking reads and writes on raw descriptors (stdin, stdout, pipes), retrying short transfers
/// and EINTR, with errors that name the descriptor.
enum FileDescriptorIO {
    /// Writes `count` bytes, `attempt(offset)` performing one write(2) from `offset` on.
    private static func writeLoop(_ fd: Int32, count: Int, _ attempt: (Int) -> Int) throws(AFSError) {
        var done = 0
        while done < count {
            let n = attempt(done)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("write to", fd)
            }
            done += n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(AFSError) {
        try writeLoop(fd, count: bytes.count) { offset in
            bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        }
    }

    static func writeAll(_ fd: Int32, _ buffer: ByteBuffer) throws(AFSError) {
        try writeLoop(fd, count: buffer.readableBytes) { offset in
            buffer.withUnsafeReadableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        }
    }

    /// Writes `buffer` to a stream socket with `MSG_NOSIGNAL`: a peer that closed its end makes
    /// it fail with `EPIPE` rather than raise `SIGPIPE`.
    static func sendAll(_ fd: Int32, _ buffer: ByteBuffer) throws(AFSError) {
        try writeLoop(fd, count: buffer.readableBytes) { offset in
            buffer.withUnsafeReadableBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Up to `limit` bytes (fewer only at the end); nil at end of input.
    ///
    /// The buffer is not zero-filled first: `read` fills what is kept. Zeroing 1 MiB per call
    /// (and again for the call that finds the end) was most of the CPU a mount spent publishing
    /// a small file.
    static func read(_ fd: Int32, upTo limit: Int) throws(AFSError) -> [UInt8]? {
        var readError: Int32 = 0
        let buffer = [UInt8](unsafeUninitializedCapacity: limit) { raw, count in
            var filled = 0
            while filled < limit {
                let n = Glibc.read(fd, raw.baseAddress! + filled, limit - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    readError = errno
                    break
                }
                if n == 0 { break }
                filled += n
            }
            count = filled
        }
        if readError != 0 {
            errno = readError
            throw failure("read from", fd)
        }
        return buffer.isEmpty ? nil : buffer
    }

    /// Fills `buffer` from `offset` (fewer bytes only at end of file); returns how many were read.
    static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(AFSError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = Glibc.pread(fd, buffer.baseAddress! + filled, buffer.count - filled, off_t(offset) + off_t(filled))
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("read from", fd)
            }
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    private static func failure(_ what: String, _ fd: Int32) -> AFSError {
        let err = errno
        let name = fd == 0 ? "standard input" : fd == 1 ? "standard output" : "descriptor \(fd)"
        return AFSError(.io, "\(what) \(name) failed: \(String(cString: strerror(err))) (errno \(err))")
    }
}
