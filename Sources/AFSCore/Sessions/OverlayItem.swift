/// One unfolded change in a session's dirty overlay, and its journal encoding.
enum OverlayItem: Sendable, Equatable {
    enum FileData: Sendable, Equatable {
        /// Bytes not yet chunked (small files and recent writes).
        case bytes([UInt8])
        /// Content already durable in the chunk log (large writes).
        case stored(TreeValue.Content)
    }

    case file(mode: UInt32, mtime: Int64, size: UInt64, data: FileData)
    case symlink(mode: UInt32, mtime: Int64, target: String)
    /// A directory created here (`fresh`: replaces whatever was at the path) or a metadata change.
    case directory(mode: UInt32, mtime: Int64, fresh: Bool)
    case deleted

    /// Bytes held in memory, for the fold threshold.
    var memoryCost: Int {
        if case .file(_, _, _, .bytes(let b)) = self { return b.count + 64 }
        return 64
    }

    func encode(path: SessionPath, into w: inout BinaryWriter) {
        w.string(path.components.joined(separator: "/"))
        switch self {
        case .file(let mode, let mtime, let size, let data):
            w.u8(1)
            w.varint(UInt64(mode))
            w.svarint(mtime)
            w.varint(size)
            switch data {
            case .bytes(let b):
                w.u8(0)
                w.lengthPrefixed(b)
            case .stored(let content):
                w.u8(1)
                TreeValue(kind: .file, mode: mode, mtime: mtime, size: size, content: content).encode(into: &w)
            }
        case .symlink(let mode, let mtime, let target):
            w.u8(2)
            w.varint(UInt64(mode))
            w.svarint(mtime)
            w.string(target)
        case .directory(let mode, let mtime, let fresh):
            w.u8(3)
            w.varint(UInt64(mode))
            w.svarint(mtime)
            w.u8(fresh ? 1 : 0)
        case .deleted:
            w.u8(4)
        }
    }

    static func decode(_ r: inout BinaryReader) throws(BinaryReader.Malformed) -> (SessionPath, OverlayItem) {
        let raw = try r.string()
        let path = SessionPath(validated: raw.isEmpty ? [] : raw.split(separator: "/").map(String.init))
        func mode(_ r: inout BinaryReader) throws(BinaryReader.Malformed) -> UInt32 {
            let v = try r.varint()
            guard v <= UInt64(UInt32.max) else { throw BinaryReader.Malformed() }
            return UInt32(v)
        }
        switch try r.u8() {
        case 1:
            let m = try mode(&r)
            let t = try r.svarint()
            let size = try r.varint()
            switch try r.u8() {
            case 0: return (path, .file(mode: m, mtime: t, size: size, data: .bytes(try r.lengthPrefixed())))
            case 1:
                let rest = Array(try r.raw(r.remaining))
                let v = try TreeValue.decode(rest)
                return (path, .file(mode: m, mtime: t, size: size, data: .stored(v.content)))
            default: throw BinaryReader.Malformed()
            }
        case 2:
            let m = try mode(&r)
            let t = try r.svarint()
            return (path, .symlink(mode: m, mtime: t, target: try r.string()))
        case 3:
            let m = try mode(&r)
            let t = try r.svarint()
            return (path, .directory(mode: m, mtime: t, fresh: try r.u8() == 1))
        case 4:
            return (path, .deleted)
        default:
            throw BinaryReader.Malformed()
        }
    }
}
