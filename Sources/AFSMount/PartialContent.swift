import AFSSupport
import Glibc

/// A large file's content fetched block by block as reads reach it, rather than whole at open.
///
/// The first `git status` on a fresh mount opened the repository's pack file to read one commit
/// and a few trees, and the open fetched all of it (4.4 MB for swift-syntax, most of that
/// status's time; on a real repository, hundreds). A local disk reads only the pages asked for;
/// so does this. The bytes land in a sparse file the size of the content, at their own offsets,
/// in aligned blocks of ``blockSize``; a read is served from that file once its blocks are there.
/// A read that continues where the fetched bytes end fetches ``sequentialBlocks`` at a time, so
/// a sequential reader pays one service call per 8 MiB rather than per MiB. Once every block is
/// there the content is hashed and, if it is the content it claims to be, becomes a normal cache
/// entry (``ContentCache/adopt(_:)``).
///
/// Keyed by content ID like the cache, so every handle on this content shares one: a pack that
/// git opens again at every command reads the blocks the earlier ones fetched.
final class PartialContent: Sendable {
    static let blockSize: UInt64 = 1 << 20
    static let sequentialBlocks: UInt64 = 8

    /// The content ID the bytes must hash to.
    let id: String
    let size: UInt64
    /// The sparse file, in the cache's temporary directory until adopted.
    let path: String
    /// Read-write; readers get their own `dup` (``OpenFile`` closes its descriptors). Closed
    /// with the last reference, never earlier: an open may still be taking its `dup` from a
    /// partial that another thread has just completed and adopted, and a closed number could
    /// already name another file.
    let descriptor: Int32
    private let present: Locked<[Bool]>
    /// One fill at a time: a second reader of a missing block waits for the first to land it.
    private let filling = Locked(())

    init(id: String, size: UInt64, path: String, descriptor: Int32) {
        self.id = id
        self.size = size
        self.path = path
        self.descriptor = descriptor
        present = Locked([Bool](repeating: false, count: Int((size + PartialContent.blockSize - 1) / PartialContent.blockSize)))
    }

    deinit { close(descriptor) }

    /// Makes sure bytes `offset..<offset+count` (clipped to the content) are in ``descriptor``,
    /// fetching the missing blocks with `fetch(offset, length)`, which must return exactly
    /// `length` bytes of this content. Returns whether this call completed the content.
    func ensure(offset: UInt64, count: Int, fetch: (UInt64, UInt64) throws(Errno) -> [UInt8]) throws(Errno) -> Bool {
        guard count > 0, offset < size else { return false }
        let block = PartialContent.blockSize
        let first = Int(offset / block)
        let last = Int((min(offset + UInt64(count), size) - 1) / block)
        if present.withLock({ p in !p[first...last].contains(false) }) { return false }
        return try filling.withLock { _ throws(Errno) -> Bool in
            var blocks = present.withLock { $0 }
            var index = first
            var filledAny = false
            while index <= last {
                guard !blocks[index] else {
                    index += 1
                    continue
                }
                // A run of missing blocks; past the request when the reader is going forward.
                var end = index
                while end < last, !blocks[end + 1] { end += 1 }
                if index > 0, blocks[index - 1] {
                    let limit = min(blocks.count - 1, index + Int(PartialContent.sequentialBlocks) - 1)
                    while end < limit, !blocks[end + 1] { end += 1 }
                }
                let start = UInt64(index) * block
                let length = min(UInt64(end + 1) * block, size) - start
                let bytes = try fetch(start, length)
                guard UInt64(bytes.count) == length else { throw Errno.io }
                try Errno.writeAll(bytes, to: descriptor, at: start)
                present.withLock { p in
                    for i in index...end { p[i] = true }
                    blocks = p
                }
                filledAny = true
                index = end + 1
            }
            return filledAny && !blocks.contains(false)
        }
    }
}
