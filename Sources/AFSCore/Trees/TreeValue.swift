/// The value a directory map holds for one name: kind, metadata and where the content is.
struct TreeValue: Sendable, Equatable {
    /// Where a file's bytes (or a directory's children, or a link's target) are.
    enum Content: Sendable, Equatable {
        /// Tiny files live in the tree leaf itself.
        case inline([UInt8])
        /// A file stored as one chunk; the chunk ID is the SHA-256 of the whole file.
        case chunk(ChunkID)
        /// A file stored as several chunks, listed by a chunk-list record.
        case chunkList(ChunkID)
        /// The root node of the directory's own map.
        case directory(ChunkID)
        case symlink(String)
    }

    var kind: EntryKind
    var mode: UInt32
    /// Nanoseconds since 1970.
    var mtime: Int64
    var size: UInt64
    var content: Content

    /// Files up to this size are inlined into tree leaves.
    static let inlineLimit = 1024

    var directoryRoot: ChunkID? {
        if case .directory(let id) = content { return id }
        return nil
    }

    func encode(into w: inout BinaryWriter) {
        switch kind {
        case .file: w.u8(1)
        case .directory: w.u8(2)
        case .symlink: w.u8(3)
        }
        w.varint(UInt64(mode))
        w.svarint(mtime)
        w.varint(size)
        switch content {
        case .inline(let bytes):
            w.u8(1)
            w.lengthPrefixed(bytes)
        case .chunk(let id):
            w.u8(2)
            w.id(id)
        case .chunkList(let id):
            w.u8(3)
            w.id(id)
        case .directory(let id):
            w.u8(4)
            w.id(id)
        case .symlink(let target):
            w.u8(5)
            w.string(target)
        }
    }

    var encoded: [UInt8] {
        var w = BinaryWriter(capacity: 64)
        encode(into: &w)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(BinaryReader.Malformed) -> TreeValue {
        var r = BinaryReader(bytes)
        let kind: EntryKind
        switch try r.u8() {
        case 1: kind = .file
        case 2: kind = .directory
        case 3: kind = .symlink
        default: throw BinaryReader.Malformed()
        }
        let modeRaw = try r.varint()
        guard modeRaw <= UInt64(UInt32.max) else { throw BinaryReader.Malformed() }
        let mtime = try r.svarint()
        let size = try r.varint()
        let content: Content
        switch try r.u8() {
        case 1: content = .inline(try r.lengthPrefixed())
        case 2: content = .chunk(try r.id())
        case 3: content = .chunkList(try r.id())
        case 4: content = .directory(try r.id())
        case 5: content = .symlink(try r.string())
        default: throw BinaryReader.Malformed()
        }
        return TreeValue(kind: kind, mode: UInt32(modeRaw), mtime: mtime, size: size, content: content)
    }

    /// The file's content identity: SHA-256 of the bytes for single-chunk and inline files,
    /// the chunk-list record's ID for multi-chunk files.
    var contentID: ChunkID? {
        switch content {
        case .inline(let bytes): return ContentHash.sha256(bytes)
        case .chunk(let id), .chunkList(let id): return id
        case .directory, .symlink: return nil
        }
    }
}
