import AFSCore
import Dispatch
import NIOCore

/// A chunked upload's body (``ChunkedContent``) as an async sequence of buffers of about 1 MiB:
/// a reference record for each chunk the server has, a data record (header and the bytes, read
/// from the file with `pread`) for each it lacks.
///
/// Reads run on a queue of their own, one buffer ahead of nothing: the body goes at the network's
/// pace and memory stays flat whatever the file's size. Reading by offset makes the body
/// replayable (a throttled request is sent again from the start).
struct ChunkRecords: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let fd: Int32
    let pieces: [ChunkedContent.Piece]
    let missing: Set<ChunkID>

    struct AsyncIterator: AsyncIteratorProtocol {
        let records: ChunkRecords
        var next = 0
        private static let queue = DispatchQueue(label: "afs.upload.chunks")

        init(_ records: ChunkRecords) { self.records = records }

        mutating func next() async throws -> ByteBuffer? {
            guard next < records.pieces.count else { return nil }
            let (records, start) = (self.records, self.next)
            let (buffer, end): ([UInt8], Int) = try await withCheckedThrowingContinuation { continuation in
                AsyncIterator.queue.async {
                    do { continuation.resume(returning: try records.fill(from: start)) } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
            self.next = end
            return ByteBuffer(bytes: buffer)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(self) }

    /// Records from piece `start` on, until about 1 MiB is collected; returns them and the index
    /// of the first piece not included.
    func fill(from start: Int) throws -> ([UInt8], Int) {
        var out: [UInt8] = []
        out.reserveCapacity((1 << 20) + ChunkedContent.maxChunkSize + 64)
        var i = start
        while i < pieces.count, out.count < 1 << 20 {
            let piece = pieces[i]
            if missing.contains(piece.id) {
                out.append(contentsOf: ChunkedContent.dataHeader(piece.id, length: piece.length))
                let at = out.count
                out.append(contentsOf: repeatElement(0, count: piece.length))
                let got = try out.withUnsafeMutableBytes { (raw) throws -> Int in
                    try FileDescriptorIO.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[at...]), at: piece.offset)
                }
                guard got == piece.length else {
                    throw AFSError(.conflict, "the file being uploaded changed size while it was sent; upload it again")
                }
            } else {
                out.append(contentsOf: ChunkedContent.reference(piece.id, length: piece.length))
            }
            i += 1
        }
        return (out, i)
    }
}
