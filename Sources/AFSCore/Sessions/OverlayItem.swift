/// One unfolded change in a session's dirty overlay, and its journal encoding.
enum OverlayItem: Sendable, Equatable {
    enum FileData: Sendable, Equatable {
        /// Bytes not yet chunked (small files and recent writes).
        case bytes([UInt8])
        /// Content already durable in the chunk log (large writes).
        case stored(TreeValue.Content)
    }

    case file(mode: UInt32, mtime: Int64, size: UInt64, data: FileData, attributes: EntryAttributes = .none)
    case symlink(mode: UInt32, mtime: Int64, target: String, attributes: EntryAttributes = .none)
    /// A directory created here (`fresh`: replaces whatever was at the path) or a metadata change.
    case directory(mode: UInt32, mtime: Int64, fresh: Bool, attributes: EntryAttributes = .none)
    /// A FIFO, socket or device node (`kind.isSpecial`).
    case special(kind: EntryKind, mode: UInt32, mtime: Int64, rdev: UInt64, attributes: EntryAttributes = .none)
    case deleted

    /// The item's owner, change time and extended attributes.
    var attributes: EntryAttributes {
        switch self {
        case .file(_, _, _, _, let a), .symlink(_, _, _, let a), .directory(_, _, _, let a), .special(_, _, _, _, let a): return a
        case .deleted: return .none
        }
    }

    /// Bytes held in memory, for the fold threshold.
    var memoryCost: Int {
        if case .file(_, _, _, .bytes(let b), _) = self { return b.count + 64 }
        return 64
    }

    func encode(path: SessionPath, into w: inout BinaryWriter) {
        w.string(path.components.joined(separator: "/"))
        // Format 2: tag 6 and the attribute block come first when the item has attributes, so the
        // item itself (and a stored file's TreeValue running to the end of the payload) is unchanged.
        let attributes = self.attributes
        if !attributes.isEmpty {
            w.u8(6)
            attributes.encode(into: &w)
        }
        switch self {
        case .file(let mode, let mtime, let size, let data, _):
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
        case .symlink(let mode, let mtime, let target, _):
            w.u8(2)
            w.varint(UInt64(mode))
            w.svarint(mtime)
            w.string(target)
        case .directory(let mode, let mtime, let fresh, _):
            w.u8(3)
            w.varint(UInt64(mode))
            w.svarint(mtime)
            w.u8(fresh ? 1 : 0)
        case .special(let kind, let mode, let mtime, let rdev, _):
            w.u8(5)
            w.string(kind.rawValue)
            w.varint(UInt64(mode))
            w.svarint(mtime)
            w.varint(rdev)
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
        var tag = try r.u8()
        var a = EntryAttributes.none
        if tag == 6 {
            a = try EntryAttributes.decode(&r)
            tag = try r.u8()
        }
        switch tag {
        case 1:
            let m = try mode(&r)
            let t = try r.svarint()
            let size = try r.varint()
            switch try r.u8() {
            case 0: return (path, .file(mode: m, mtime: t, size: size, data: .bytes(try r.lengthPrefixed()), attributes: a))
            case 1:
                let rest = Array(try r.raw(r.remaining))
                let v = try TreeValue.decode(rest)
                return (path, .file(mode: m, mtime: t, size: size, data: .stored(v.content), attributes: a))
            default: throw BinaryReader.Malformed()
            }
        case 2:
            let m = try mode(&r)
            let t = try r.svarint()
            return (path, .symlink(mode: m, mtime: t, target: try r.string(), attributes: a))
        case 3:
            let m = try mode(&r)
            let t = try r.svarint()
            return (path, .directory(mode: m, mtime: t, fresh: try r.u8() == 1, attributes: a))
        case 4:
            return (path, .deleted)
        case 5:
            guard let kind = EntryKind(rawValue: try r.string()), kind.isSpecial else { throw BinaryReader.Malformed() }
            let m = try mode(&r)
            let t = try r.svarint()
            return (path, .special(kind: kind, mode: m, mtime: t, rdev: try r.varint(), attributes: a))
        default:
            throw BinaryReader.Malformed()
        }
    }
}

extension OverlayItem {
    /// Permission bits of the entry (0 for a deletion).
    var mode: UInt32 {
        switch self {
        case .file(let m, _, _, _, _), .symlink(let m, _, _, _), .directory(let m, _, _, _), .special(_, let m, _, _, _): return m
        case .deleted: return 0
        }
    }

    /// The same entry with some metadata replaced (a deletion stays a deletion).
    func with(mode newMode: UInt32? = nil, mtime newTime: Int64? = nil, attributes newAttributes: EntryAttributes? = nil) -> OverlayItem {
        switch self {
        case .file(let m, let t, let size, let data, let a):
            return .file(mode: newMode ?? m, mtime: newTime ?? t, size: size, data: data, attributes: newAttributes ?? a)
        case .symlink(let m, let t, let target, let a):
            return .symlink(mode: newMode ?? m, mtime: newTime ?? t, target: target, attributes: newAttributes ?? a)
        case .directory(let m, let t, let fresh, let a):
            return .directory(mode: newMode ?? m, mtime: newTime ?? t, fresh: fresh, attributes: newAttributes ?? a)
        case .special(let kind, let m, let t, let rdev, let a):
            return .special(kind: kind, mode: newMode ?? m, mtime: newTime ?? t, rdev: rdev, attributes: newAttributes ?? a)
        case .deleted:
            return .deleted
        }
    }
}
