import Foundation

/// What `stat` returns.
public struct FileStat: Sendable, Codable, Equatable {
    /// Absolute, normalized path in the session, e.g. `/src/main.c`.
    public var path: String
    /// File, directory, symlink or special file.
    public var kind: EntryKind
    /// Permission bits (at most 0o7777); the type is in `kind`.
    public var mode: UInt32
    /// Bytes of a file or of a symlink's target; 0 for directories and special files.
    public var size: UInt64
    /// Nanoseconds since 1970.
    public var mtime: Int64
    /// SHA-256 based content identity of files (see `ManifestEntry.contentID`).
    public var contentID: String?
    /// A symlink's target as stored (not resolved); nil for other kinds.
    public var target: String?
    /// Owner and group; nil when not recorded (the entry belongs to whoever mounts the session).
    public var uid: UInt32?
    /// Numeric group; nil when not recorded.
    public var gid: UInt32?
    /// Last change of content or metadata, nanoseconds since 1970; nil when not recorded (= `mtime`).
    public var ctime: Int64?
    /// Device number of a character or block device node.
    public var rdev: UInt64?
    /// Names of the entry's extended attributes (values through `extendedAttributes`).
    public var xattrs: [String]?
    /// The inode number kept from before a rename; nil: the number of the path (``InodeNumber``).
    public var inode: UInt64?
    /// Access time set explicitly; nil: read it as `mtime`.
    public var atime: Int64?
    /// Number of names of a hard-linked file; nil: 1 (2 for a directory).
    public var nlink: UInt32?

    enum CodingKeys: String, CodingKey {
        case path, kind, mode, size, mtime, target, uid, gid, ctime, rdev, xattrs, inode, atime, nlink
        case contentID = "content_id"
    }
}
