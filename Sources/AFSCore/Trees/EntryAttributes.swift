/// What an entry records beyond its kind, mode, modification time and content: its owner, the
/// time its metadata last changed, and its extended attributes.
///
/// Every field is optional so that entries written before store format 2 (which had none of
/// them) read back unchanged: an entry without an owner belongs to whoever mounts or exports the
/// session (the mount shows the mounting user; tar export writes the exporting process's ids),
/// and one without a change time shows its modification time. Values are small and compared by
/// value: two entries differ (in a diff, a merge) when any of these differ.
public struct EntryAttributes: Sendable, Hashable {
    /// Numeric owner and group, when recorded.
    public var uid: UInt32?
    /// Numeric group, when recorded.
    public var gid: UInt32?
    /// Nanoseconds since 1970 of the last change of content or metadata (`st_ctime`).
    public var ctime: Int64?
    /// Extended attributes by full name (`user.mime_type`), values as stored.
    public var xattrs: [String: [UInt8]]
    /// The inode number the entry keeps after a rename (``InodeNumber``); nil: the number of its path.
    public var inode: UInt64?
    /// Access time set explicitly (`utimensat`, `touch -a`), nanoseconds since 1970; nil: reads as
    /// the modification time. Reads do not move it (a write per read would cost more than any
    /// tool that reads access times gains).
    public var atime: Int64?
    /// One of several names of one file (a hard link): every name of the group carries the same
    /// ``inode`` and identical data, and the link count is the number of such names.
    public var linked: Bool = false

    /// Attributes with the given fields; `atime` starts nil and `linked` false.
    public init(uid: UInt32? = nil, gid: UInt32? = nil, ctime: Int64? = nil, xattrs: [String: [UInt8]] = [:], inode: UInt64? = nil) {
        self.uid = uid
        self.gid = gid
        self.ctime = ctime
        self.xattrs = xattrs
        self.inode = inode
    }

    /// No owner, no change time, no extended attributes: what every entry of a format-1 store has.
    public static let none = EntryAttributes()

    /// True when nothing is recorded: the entry reads like one from a format-1 store.
    public var isEmpty: Bool { uid == nil && gid == nil && ctime == nil && xattrs.isEmpty && inode == nil && atime == nil && !linked }

    /// The same attributes with the change time moved to `time`.
    func changed(at time: Int64) -> EntryAttributes {
        var copy = self
        copy.ctime = time
        return copy
    }

    /// Names may be at most 255 bytes and values 64 KiB, as on ext4 and in Linux's VFS.
    public static let maxNameBytes = 255
    /// The largest value of one extended attribute, in bytes (64 KiB).
    public static let maxValueBytes = 65_536
    /// All of one entry's attributes together (names and values), so one entry cannot grow a tree
    /// node without bound; ext4 allows about one block per inode, XFS and btrfs more.
    public static let maxTotalBytes = 256 * 1024

    var totalXattrBytes: Int { xattrs.reduce(0) { $0 + $1.key.utf8.count + $1.value.count } }

    // MARK: Encoding (FORMAT.md §9, the attribute block)

    private enum Flag {
        static let owner: UInt8 = 1
        static let ctime: UInt8 = 2
        static let xattrs: UInt8 = 4
        static let inode: UInt8 = 8
        static let atime: UInt8 = 16
        static let linked: UInt8 = 32
    }

    /// Appends the attribute block: `u8` flags, then the fields the flags name, in flag order.
    func encode(into w: inout BinaryWriter) {
        var flags: UInt8 = 0
        if uid != nil || gid != nil { flags |= Flag.owner }
        if ctime != nil { flags |= Flag.ctime }
        if !xattrs.isEmpty { flags |= Flag.xattrs }
        if inode != nil { flags |= Flag.inode }
        if atime != nil { flags |= Flag.atime }
        if linked { flags |= Flag.linked }
        w.u8(flags)
        if flags & Flag.owner != 0 {
            // 0 = not recorded, else id + 1.
            w.varint(uid.map { UInt64($0) + 1 } ?? 0)
            w.varint(gid.map { UInt64($0) + 1 } ?? 0)
        }
        if let ctime { w.svarint(ctime) }
        if !xattrs.isEmpty {
            w.varint(UInt64(xattrs.count))
            for name in xattrs.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                w.string(name)
                w.lengthPrefixed(xattrs[name]!)
            }
        }
        if let inode { w.varint(inode) }
        if let atime { w.svarint(atime) }
    }

    static func decode(_ r: inout BinaryReader) throws(BinaryReader.Malformed) -> EntryAttributes {
        let flags = try r.u8()
        guard flags & ~(Flag.owner | Flag.ctime | Flag.xattrs | Flag.inode | Flag.atime | Flag.linked) == 0 else { throw BinaryReader.Malformed() }
        var a = EntryAttributes()
        func id(_ r: inout BinaryReader) throws(BinaryReader.Malformed) -> UInt32? {
            let v = try r.varint()
            if v == 0 { return nil }
            guard v - 1 <= UInt64(UInt32.max) else { throw BinaryReader.Malformed() }
            return UInt32(v - 1)
        }
        if flags & Flag.owner != 0 {
            a.uid = try id(&r)
            a.gid = try id(&r)
        }
        if flags & Flag.ctime != 0 { a.ctime = try r.svarint() }
        if flags & Flag.xattrs != 0 {
            let count = try r.varint()
            guard count <= 65_536 else { throw BinaryReader.Malformed() }
            for _ in 0..<count {
                let name = try r.string()
                a.xattrs[name] = try r.lengthPrefixed()
            }
        }
        if flags & Flag.inode != 0 { a.inode = try r.varint() }
        if flags & Flag.atime != 0 { a.atime = try r.svarint() }
        a.linked = flags & Flag.linked != 0
        // A linked entry without its group's inode number could never be found again.
        if a.linked && a.inode == nil { throw BinaryReader.Malformed() }
        return a
    }
}
