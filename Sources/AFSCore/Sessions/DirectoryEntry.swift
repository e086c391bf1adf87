import Foundation

/// One entry of a directory listing.
public struct DirectoryEntry: Sendable, Codable, Equatable {
    /// The entry's name within the directory: one component, no `/`.
    public var name: String
    /// File, directory, symlink or special file.
    public var kind: EntryKind
    /// Permission bits (at most 0o7777); the type is in `kind`.
    public var mode: UInt32
    /// Bytes of a file or of a symlink's target; 0 for directories and special files.
    public var size: UInt64
    /// Modification time, nanoseconds since 1970.
    public var mtime: Int64
    /// As in ``FileStat``: nil when not recorded.
    public var uid: UInt32?
    /// Numeric group; nil when not recorded.
    public var gid: UInt32?
    /// Last change of content or metadata, nanoseconds since 1970; nil: read it as `mtime`.
    public var ctime: Int64?
    /// Device number of a character or block device; nil for other kinds.
    public var rdev: UInt64?
    /// Inode number kept from before a rename or shared by hard links; nil: derived from the path.
    public var inode: UInt64?
    /// Access time set explicitly, nanoseconds since 1970; nil: read it as `mtime`.
    public var atime: Int64?
    /// Number of names of a hard-linked entry; nil when not hard-linked (1, or 2 for a directory).
    public var nlink: UInt32?
    /// A file's content identity, as ``FileStat/contentID`` says it: a mount opening the file
    /// needs no `stat` first. Nil for other kinds.
    public var contentID: String?
}
