import AFSCore
import Dispatch
import NIOCore

/// The bytes of a file descriptor as an async sequence of 1 MiB buffers, for streamed uploads.
///
/// Each read runs on a dedicated queue and the next one starts only when the consumer asks: the
/// upload proceeds at the network's pace and holds one buffer at a time, whatever the file's size.
public struct DescriptorChunks: AsyncSequence, Sendable {
    /// Each element is one read of at most `chunkSize` bytes.
    public typealias Element = ByteBuffer
    let fd: Int32
    let chunkSize: Int

    /// Reads `fd` (which the caller keeps open until the sequence ends) in pieces of `chunkSize`.
    public init(fd: Int32, chunkSize: Int = 1 << 20) {
        self.fd = fd
        self.chunkSize = chunkSize
    }

    /// Reads the descriptor one chunk per `next()` call, off the caller's thread.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let fd: Int32
        let chunkSize: Int
        var finished = false
        private static let queue = DispatchQueue(label: "afs.upload.read")

        init(fd: Int32, chunkSize: Int) {
            self.fd = fd
            self.chunkSize = chunkSize
        }

        /// The next piece, or nil at end of input (a short read is taken as the last piece); read
        /// errors are rethrown as `AFSError`.
        public mutating func next() async throws -> ByteBuffer? {
            if finished { return nil }
            let (fd, size) = (fd, chunkSize)
            let chunk: [UInt8]? = try await withCheckedThrowingContinuation { continuation in
                AsyncIterator.queue.async {
                    do { continuation.resume(returning: try FileDescriptorIO.read(fd, upTo: size)) } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
            guard let chunk else {
                finished = true
                return nil
            }
            if chunk.count < size { finished = true }
            return ByteBuffer(bytes: chunk)
        }
    }

    /// An iterator that starts reading from the descriptor's current offset.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(fd: fd, chunkSize: chunkSize) }
}
