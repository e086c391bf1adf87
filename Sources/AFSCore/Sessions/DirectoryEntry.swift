import Foundation

/// One entry of a directory listing.
public struct DirectoryEntry: Sendable, Codable, Equatable {
    public var name: String
    public var kind: EntryKind
    public var mode: UInt32
    public var size: UInt64
    public var mtime: Int64
    /// As in ``FileStat``: nil when not recorded.
    public var uid: UInt32?
    public var gid: UInt32?
    public var ctime: Int64?
    public var rdev: UInt64?
    public var inode: UInt64?
    public var atime: Int64?
    public var nlink: UInt32?
}
