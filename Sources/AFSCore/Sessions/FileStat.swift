import Foundation

/// What `stat` returns.
public struct FileStat: Sendable, Codable, Equatable {
    public var path: String
    public var kind: EntryKind
    public var mode: UInt32
    public var size: UInt64
    /// Nanoseconds since 1970.
    public var mtime: Int64
    /// SHA-256 based content identity of files (see `ManifestEntry.contentID`).
    public var contentID: String?
    public var target: String?
    /// Owner and group; nil when not recorded (the entry belongs to whoever mounts the session).
    public var uid: UInt32?
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
