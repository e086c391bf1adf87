import Foundation

/// Turns file bytes into chunk-log content and back: inline for tiny files, one chunk for small
/// ones, content-defined chunks plus a chunk list for large ones.
struct ContentStore: Sendable {
    let log: any ChunkStore
    let chunker = ContentDefinedChunker.standard
    /// Threads that hash and compress the chunks of one large write side by side (1: the caller's alone).
    var workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Stores a whole file's bytes. Not durable until `log.sync()`.
    func store(_ bytes: UnsafeRawBufferPointer) throws(AFSError) -> TreeValue.Content {
        if bytes.count <= TreeValue.inlineLimit { return .inline(Array(bytes)) }
        // Cut in place (no copy into a stream buffer) while other lanes store what is cut.
        let items = try ChunkPipeline.store(bytes, keep: 0, chunker: chunker, log: log, workers: workers).items
        if items.count == 1 { return .chunk(items[0].id) }
        return .chunkList(try log.put(.chunkList, ChunkList(items: items).encoded))
    }

    func store(_ bytes: [UInt8]) throws(AFSError) -> TreeValue.Content {
        try bytes.withBytes { (b) throws(AFSError) in try store(b) }
    }

    /// The content ID `store` would give these bytes, computed without writing anything.
    func contentID(of bytes: [UInt8]) -> ChunkID {
        if bytes.count <= TreeValue.inlineLimit { return ContentHash.sha256(bytes) }
        return bytes.withUnsafeBytes { all in
            let ranges = chunker.split(all)
            if ranges.count == 1 { return ContentHash.sha256(all) }
            let items = ranges.map { ChunkList.Item(id: ContentHash.sha256(UnsafeRawBufferPointer(rebasing: all[$0])), length: $0.count) }
            return ContentHash.sha256(ChunkList(items: items).encoded)
        }
    }

    /// The chunks of stored content, in order (empty for inline content).
    func chunks(of content: TreeValue.Content, size: UInt64) throws(AFSError) -> [ChunkList.Item] {
        switch content {
        case .chunk(let id): return [ChunkList.Item(id: id, length: Int(size))]
        case .chunkList(let id):
            do { return try ChunkList.decode(try log.get(id)).items } catch let e as AFSError { throw e } catch {
                throw AFSError.corrupted("chunk list \(id.hex) does not decode")
            }
        default: return []
        }
    }

    /// Bytes [offset, offset+length) of a file, clamped to its size.
    func read(_ content: TreeValue.Content, size: UInt64, offset: UInt64 = 0, length: UInt64? = nil) throws(AFSError) -> [UInt8] {
        let start = min(offset, size)
        let end = min(size, length.map { start &+ $0 < start ? size : start + $0 } ?? size)
        if start >= end { return [] }
        switch content {
        case .inline(let bytes):
            return Array(bytes[Int(start)..<Int(end)])
        case .chunk(let id):
            let bytes = try log.get(id)
            guard UInt64(bytes.count) == size else { throw AFSError.corrupted("chunk \(id.hex) has the wrong length") }
            return start == 0 && end == size ? bytes : Array(bytes[Int(start)..<Int(end)])
        case .chunkList:
            var out: [UInt8] = []
            out.reserveCapacity(Int(end - start))
            var position: UInt64 = 0
            for item in try chunks(of: content, size: size) {
                let itemEnd = position + UInt64(item.length)
                defer { position = itemEnd }
                if itemEnd <= start { continue }
                if position >= end { break }
                let bytes = try log.get(item.id)
                guard bytes.count == item.length else { throw AFSError.corrupted("chunk \(item.id.hex) has the wrong length") }
                let lo = Int(max(start, position) - position)
                let hi = Int(min(end, itemEnd) - position)
                out.append(contentsOf: bytes[lo..<hi])
            }
            return out
        case .directory, .symlink, .special:
            throw AFSError(.wrongKind, "not a file")
        }
    }

    /// Streams bytes of unknown total length into content-defined chunks.
    struct StreamWriter {
        let store: ContentStore
        private var buffer: [UInt8] = []
        private var items: [ChunkList.Item] = []
        private(set) var total: UInt64 = 0

        init(store: ContentStore) { self.store = store }

        /// IDs of the chunks cut so far.
        var chunkIDs: [ChunkID] { items.map(\.id) }

        /// All the bytes, when nothing was cut yet and they are at most `limit`: a small upload
        /// can then go into the session's journal whole, as a `writeFile` does, instead of into
        /// the chunk store (whose commit is an object upload on S3).
        func uncut(limit: Int) -> [UInt8]? { items.isEmpty && buffer.count <= limit ? buffer : nil }

        mutating func append(_ bytes: UnsafeRawBufferPointer) throws(AFSError) {
            buffer.append(contentsOf: bytes)
            total += UInt64(bytes.count)
            if buffer.count >= 4 * store.chunker.maxSize { try cut(keep: store.chunker.maxSize) }
        }

        mutating func append(_ bytes: [UInt8]) throws(AFSError) {
            try bytes.withBytes { (b) throws(AFSError) in try append(b) }
        }

        /// Cuts and stores chunks while more than `keep` bytes remain (a cut needs `maxSize` of
        /// lookahead), other lanes storing what is cut (``ChunkPipeline``).
        private mutating func cut(keep: Int) throws(AFSError) {
            let (store, workers) = (self.store, self.store.workers)
            let (cut, consumed) = try buffer.withBytes { (all) throws(AFSError) in
                try ChunkPipeline.store(all, keep: keep, chunker: store.chunker, log: store.log, workers: workers)
            }
            items.append(contentsOf: cut)
            buffer.removeFirst(consumed)
        }

        /// Adds a whole chunk already in the log (a chunked upload). Only valid while no loose
        /// bytes are buffered: a writer takes either bytes or chunks.
        mutating func appendChunk(_ id: ChunkID, length: Int) {
            precondition(buffer.isEmpty, "appendChunk after append")
            items.append(ChunkList.Item(id: id, length: length))
            total += UInt64(length)
        }

        /// Ends a chunked upload: the same content as the bytes uploaded whole would have (inline
        /// when tiny, one chunk, or a chunk list).
        mutating func finishChunks() throws(AFSError) -> TreeValue.Content {
            precondition(buffer.isEmpty, "finishChunks after append")
            if items.isEmpty { return .inline([]) }
            if total <= UInt64(TreeValue.inlineLimit) {
                var bytes: [UInt8] = []
                for item in items { bytes.append(contentsOf: try store.log.get(item.id)) }
                return .inline(bytes)
            }
            if items.count == 1 { return .chunk(items[0].id) }
            return .chunkList(try store.log.put(.chunkList, ChunkList(items: items).encoded))
        }

        /// Like `finish`, but never inlines (for splicing into an existing chunk list).
        mutating func finishChunked() throws(AFSError) -> TreeValue.Content {
            try cut(keep: 0)
            if items.count == 1 { return .chunk(items[0].id) }
            return .chunkList(try store.log.put(.chunkList, ChunkList(items: items).encoded))
        }

        mutating func finish() throws(AFSError) -> TreeValue.Content {
            if items.isEmpty && buffer.count <= TreeValue.inlineLimit { return .inline(buffer) }
            try cut(keep: 0)
            if items.count == 1 { return .chunk(items[0].id) }
            let list = ChunkList(items: items).encoded
            return .chunkList(try store.log.put(.chunkList, list))
        }
    }
}
