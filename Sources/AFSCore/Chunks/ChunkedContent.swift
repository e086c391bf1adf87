import Foundation

/// Chunk-level transfer of file content: a client cuts a file into the store's own
/// content-defined chunks, learns which of them the server lacks, and sends only those bytes;
/// the rest travel as references (ID and length).
///
/// The wire form is a sequence of records, each `tag (1) · chunk ID (32) · length (4, big endian)`
/// followed, for data records, by the chunk's bytes. Tag 0 is a reference to a chunk the server
/// already has in the file's base; tag 1 carries the bytes, which the server hashes and checks
/// against the ID and the chunker's boundaries before storing.
public enum ChunkedContent {
    /// The media type of a request body in this form.
    public static let mediaType = "application/vnd.aetherfs.chunks"

    /// The largest chunk the store cuts (and accepts in a data record).
    public static var maxChunkSize: Int { ContentDefinedChunker.standard.maxSize }

    static let headerSize = 1 + ChunkID.byteCount + 4

    /// One chunk of a local file: where it is and what it hashes to.
    public struct Piece: Sendable, Equatable {
        /// SHA-256 of the chunk's bytes.
        public let id: ChunkID
        /// Byte offset of the chunk's first byte in the file.
        public let offset: UInt64
        /// Size of the chunk in bytes (1 to `maxChunkSize`).
        public let length: Int
    }

    /// One record of a chunked body.
    public enum Record: Sendable, Equatable {
        /// A chunk the server already holds in the file's base.
        case reference(ChunkID, length: Int)
        /// A chunk's bytes, with the ID the sender computed for them.
        case data(ChunkID, [UInt8])
    }

    /// Cuts the file open at `fd` (read from offset 0 with `pread`; the descriptor's position is
    /// untouched) into the chunks the store would cut, and hashes each. Holds at most a few
    /// chunks' worth of the file in memory.
    public static func pieces(ofDescriptor fd: Int32) throws(AFSError) -> [Piece] {
        let chunker = ContentDefinedChunker.standard
        let block = 1 << 20
        var pieces: [Piece] = []
        var buffer: [UInt8] = []
        var bufferOffset: UInt64 = 0  // file offset of buffer[0]
        var readOffset: UInt64 = 0
        var atEnd = false
        while true {
            // A cut needs `maxSize` bytes of lookahead unless the file ends first.
            while !atEnd && buffer.count < block + chunker.maxSize {
                let piece = try readBlock(fd, at: readOffset, count: block)
                if piece.isEmpty { atEnd = true } else {
                    buffer.append(contentsOf: piece)
                    readOffset += UInt64(piece.count)
                }
            }
            var start = 0
            buffer.withUnsafeBytes { all in
                while start < all.count, atEnd || all.count - start > chunker.maxSize {
                    let rest = UnsafeRawBufferPointer(rebasing: all[start...])
                    let length = chunker.cutPoint(rest)
                    let id = ContentHash.sha256(UnsafeRawBufferPointer(rebasing: rest[0..<length]))
                    pieces.append(Piece(id: id, offset: bufferOffset + UInt64(start), length: length))
                    start += length
                }
            }
            buffer.removeFirst(start)
            bufferOffset += UInt64(start)
            if atEnd && buffer.isEmpty { return pieces }
        }
    }

    /// The content ID the store gives the bytes of the file open at `fd` (its ETag): what a
    /// client checks a download against before caching it under that ID.
    public static func contentID(ofDescriptor fd: Int32) throws(AFSError) -> ChunkID {
        let head = try readBlock(fd, at: 0, count: TreeValue.inlineLimit + 1)
        if head.count <= TreeValue.inlineLimit { return ContentHash.sha256(head) }
        let pieces = try pieces(ofDescriptor: fd)
        if pieces.count == 1 { return pieces[0].id }
        return ContentHash.sha256(ChunkList(items: pieces.map { ChunkList.Item(id: $0.id, length: $0.length) }).encoded)
    }

    private static func readBlock(_ fd: Int32, at offset: UInt64, count: Int) throws(AFSError) -> [UInt8] {
        try POSIXFile.read(fd, count: count, at: Int64(offset), path: "descriptor \(fd)")
    }

    /// The record for a chunk the server has: header only.
    public static func reference(_ id: ChunkID, length: Int) -> [UInt8] {
        header(tag: 0, id, length)
    }

    /// The header of a data record; the chunk's `length` bytes follow it.
    public static func dataHeader(_ id: ChunkID, length: Int) -> [UInt8] {
        header(tag: 1, id, length)
    }

    private static func header(tag: UInt8, _ id: ChunkID, _ length: Int) -> [UInt8] {
        var out: [UInt8] = [tag]
        out.reserveCapacity(headerSize)
        id.append(to: &out)
        withUnsafeBytes(of: UInt32(length).bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// The size of a body that references `pieces`, sending the bytes of those in `missing`.
    public static func bodyLength(_ pieces: [Piece], missing: Set<ChunkID>) -> Int {
        pieces.reduce(0) { $0 + headerSize + (missing.contains($1.id) ? $1.length : 0) }
    }

    /// Reads records from a body that arrives in pieces of any size.
    public struct Decoder: Sendable {
        private var buffer: [UInt8] = []
        private var position = 0

        /// A decoder with nothing buffered; feed it with `push(_:)`.
        public init() {}

        /// Adds bytes as they arrive.
        public mutating func push(_ bytes: some Collection<UInt8>) {
            if position > 1 << 20 {
                buffer.removeFirst(position)
                position = 0
            }
            buffer.append(contentsOf: bytes)
        }

        /// The next whole record, or nil until more bytes arrive.
        public mutating func next() throws(AFSError) -> Record? {
            guard buffer.count - position >= ChunkedContent.headerSize else { return nil }
            let tag = buffer[position]
            let id = buffer.withUnsafeBytes { ChunkID(bytes: UnsafeRawBufferPointer(rebasing: $0[(position + 1)...])) }
            let at = position + 1 + ChunkID.byteCount
            let length = Int(buffer[at]) << 24 | Int(buffer[at + 1]) << 16 | Int(buffer[at + 2]) << 8 | Int(buffer[at + 3])
            guard (1...ChunkedContent.maxChunkSize).contains(length) else {
                throw AFSError(.invalidArgument, "a chunk record says \(length) bytes; chunks are 1 to \(ChunkedContent.maxChunkSize) bytes")
            }
            switch tag {
            case 0:
                position += ChunkedContent.headerSize
                return .reference(id, length: length)
            case 1:
                guard buffer.count - position >= ChunkedContent.headerSize + length else { return nil }
                let start = position + ChunkedContent.headerSize
                position = start + length
                return .data(id, Array(buffer[start..<start + length]))
            default:
                throw AFSError(.invalidArgument, "unknown chunk record tag \(tag) (0 is a reference, 1 carries bytes)")
            }
        }

        /// Whether bytes of an unfinished record are left over (a truncated body).
        public var hasPartialRecord: Bool { position < buffer.count }
    }
}
