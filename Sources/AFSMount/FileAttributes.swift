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

    public init(kind: EntryKind, mode: UInt32, size: UInt64, mtime: Int64, contentID: String? = nil, target: String? = nil) {
        self.kind = kind
        self.mode = mode & 0o7777
        self.size = size
        self.mtime = mtime
        self.contentID = contentID
        self.target = target
    }

    init(_ stat: FileStat) {
        self.init(kind: stat.kind, mode: stat.mode, size: stat.size, mtime: stat.mtime, contentID: stat.contentID, target: stat.target)
    }

    init(_ entry: DirectoryEntry) {
        self.init(kind: entry.kind, mode: entry.mode, size: entry.size, mtime: entry.mtime)
    }

    /// Link count: directories report 2 (`.` and the parent's entry) so tools that count links
    /// (find's leaf optimisation is off for FUSE anyway) see a sane value; files report 1 so
    /// SQLite does not think its database was unlinked.
    var linkCount: UInt32 { kind == .directory ? 2 : 1 }
}
