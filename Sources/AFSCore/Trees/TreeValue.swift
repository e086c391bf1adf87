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
        /// A FIFO, socket or device node: no content, only its device number (0 for FIFOs and sockets).
        case special(rdev: UInt64)
    }

    var kind: EntryKind
    var mode: UInt32
    /// Nanoseconds since 1970.
    var mtime: Int64
    var size: UInt64
    var content: Content
    /// Owner, change time and extended attributes (empty in entries written before format 2).
    var attributes: EntryAttributes = .none

    init(kind: EntryKind, mode: UInt32, mtime: Int64, size: UInt64, content: Content, attributes: EntryAttributes = .none) {
        self.kind = kind
        self.mode = mode
        self.mtime = mtime
        self.size = size
        self.content = content
        self.attributes = attributes
    }

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
        case .fifo: w.u8(4)
        case .socket: w.u8(5)
        case .characterDevice: w.u8(6)
        case .blockDevice: w.u8(7)
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
        case .special(let rdev):
            w.u8(6)
            w.varint(rdev)
        }
        // Format 2: the attribute block, only when there is something in it, so entries without
        // owner, change time or xattrs encode exactly as format 1 wrote them (same node hashes).
        if !attributes.isEmpty { attributes.encode(into: &w) }
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
        case 4: kind = .fifo
        case 5: kind = .socket
        case 6: kind = .characterDevice
        case 7: kind = .blockDevice
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
        case 6: content = .special(rdev: try r.varint())
        default: throw BinaryReader.Malformed()
        }
        let attributes = r.remaining > 0 ? try EntryAttributes.decode(&r) : .none
        guard r.remaining == 0 else { throw BinaryReader.Malformed() }
        return TreeValue(kind: kind, mode: UInt32(modeRaw), mtime: mtime, size: size, content: content, attributes: attributes)
    }

    func with(mode: UInt32) -> TreeValue {
        var copy = self
        copy.mode = mode
        return copy
    }

    /// Whether kind, mode, owner and extended attributes are equal: what diff calls a change of
    /// metadata (a moved modification or change time alone is not one).
    func sameMetadataIgnoringTimes(_ other: TreeValue) -> Bool {
        kind == other.kind && mode == other.mode && attributes.uid == other.attributes.uid
            && attributes.gid == other.attributes.gid && attributes.xattrs == other.attributes.xattrs
    }

    /// The file's content identity: SHA-256 of the bytes for single-chunk and inline files,
    /// the chunk-list record's ID for multi-chunk files.
    var contentID: ChunkID? {
        switch content {
        case .inline(let bytes): return ContentHash.sha256(bytes)
        case .chunk(let id), .chunkList(let id): return id
        case .directory, .symlink, .special: return nil
        }
    }
}
