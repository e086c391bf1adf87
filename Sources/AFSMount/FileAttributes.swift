import AFSCore

/// What the mount reports for a path: the service's metadata in the shape `stat(2)` needs.
///
/// Built from a ``FileStat`` (which carries the content identity an open needs) or from a
/// ``DirectoryEntry`` (which a listing gives for free, without one); the bridge turns it into a
/// `struct stat`.
public struct FileAttributes: Sendable, Equatable {
    public var kind: EntryKind
    /// Permission bits only (`0o7777`); the file type comes from `kind`.
    public var mode: UInt32
    public var size: UInt64
    /// Nanoseconds since 1970: the engine's modification time.
    public var mtime: Int64
    /// Content identity of a file when known (from `stat`, not from a listing).
    public var contentID: String?
    /// A symbolic link's target when known.
    public var target: String?
    /// Recorded owner and group; nil: the mounting user's (entries imported or written through
    /// the API without an owner belong to whoever mounts the session).
    public var uid: UInt32?
    public var gid: UInt32?
    /// Last change of content or metadata; nil when not recorded (shown as `mtime`).
    public var ctime: Int64?
    /// Device number of a device node.
    public var rdev: UInt64
    /// The inode number the entry kept through a rename; nil: the number of its path.
    public var inode: UInt64?
    /// Access time set explicitly; nil: shown as `mtime`.
    public var atime: Int64?
    /// Names of a hard-linked file; nil: not linked.
    public var nlink: UInt32?

    public init(
        kind: EntryKind, mode: UInt32, size: UInt64, mtime: Int64, contentID: String? = nil, target: String? = nil,
        uid: UInt32? = nil, gid: UInt32? = nil, ctime: Int64? = nil, rdev: UInt64 = 0, inode: UInt64? = nil
    ) {
        self.kind = kind
        self.mode = mode & 0o7777
        self.size = size
        self.mtime = mtime
        self.contentID = contentID
        self.target = target
        self.uid = uid
        self.gid = gid
        self.ctime = ctime
        self.rdev = rdev
        self.inode = inode
    }

    init(_ stat: FileStat) {
        self.init(
            kind: stat.kind, mode: stat.mode, size: stat.size, mtime: stat.mtime, contentID: stat.contentID, target: stat.target,
            uid: stat.uid, gid: stat.gid, ctime: stat.ctime, rdev: stat.rdev ?? 0, inode: stat.inode)
        atime = stat.atime
        nlink = stat.nlink
    }

    init(_ entry: DirectoryEntry) {
        self.init(
            kind: entry.kind, mode: entry.mode, size: entry.size, mtime: entry.mtime, uid: entry.uid, gid: entry.gid, ctime: entry.ctime,
            rdev: entry.rdev ?? 0, inode: entry.inode)
        atime = entry.atime
        nlink = entry.nlink
        contentID = entry.contentID
    }

    /// Link count: directories report 2 (`.` and the parent's entry) so tools that count links
    /// (find's leaf optimisation is off for FUSE anyway) see a sane value; files report 1 so
    /// SQLite does not think its database was unlinked.
    var linkCount: UInt32 { nlink ?? (kind == .directory ? 2 : 1) }
}
