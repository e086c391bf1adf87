import Foundation

/// Where a new session's tree comes from.
public enum SessionSource: Sendable, Equatable {
    case blank
    /// A local directory, walked recursively (regular files, directories, symlinks, FIFOs, sockets
    /// and device nodes, with owners and `user.` extended attributes).
    case directory(String)
    /// A tar archive (ustar, pax, GNU) on the local file system.
    case tar(String)
    /// A git repository at a ref, read with the real `git` program: exactly the tree of that commit.
    case git(repository: String, ref: String)
    /// Another session (the same as a fork).
    case session(String)
    case checkpoint(String)
    case commit(String)
    /// A named snapshot (template).
    case snapshot(String)
    /// A tar stream read from an open descriptor (a pipe, a socket); the caller keeps ownership.
    case tarDescriptor(Int32)
}

/// Anything that names a tree: used by diff.
public enum TreeReference: Sendable, Equatable {
    case session(String)
    case checkpoint(String)
    case commit(String)
    case snapshot(String)
    case ref(String)
}

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

/// One file of a session's manifest.
public struct ManifestEntry: Sendable, Codable, Equatable {
    public var path: String
    public var kind: EntryKind
    public var size: UInt64
    public var mode: UInt32
    /// For files: the SHA-256 of the bytes when stored in one piece, else the ID of the chunk list.
    /// Equal content always has an equal ID within a store.
    public var contentID: String?
    public var target: String?
    public var uid: UInt32?
    public var gid: UInt32?
    public var rdev: UInt64?

    enum CodingKeys: String, CodingKey {
        case path, kind, size, mode, target, uid, gid, rdev
        case contentID = "content_id"
    }
}

/// One line of a diff.
public struct DiffEntry: Sendable, Codable, Equatable {
    public enum Change: String, Sendable, Codable, CaseIterable { case added, modified, deleted }
    public var path: String
    public var change: Change
    public var kind: EntryKind
}

/// What promote did.
public struct PromoteResult: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        case created
        case fastForward = "fast-forward"
        case merged
        case upToDate = "up-to-date"
        case conflicted
    }

    public var ref: String
    public var outcome: Outcome
    /// The commit the ref points to after the call (unchanged when conflicted).
    public var commitID: String?
    /// Paths changed on both sides in incompatible ways; the ref was not moved.
    public var conflicts: [String]

    enum CodingKeys: String, CodingKey {
        case ref, outcome, conflicts
        case commitID = "commit_id"
    }
}

/// Progress of a long import, reported every few hundred files.
public struct ImportProgress: Sendable {
    public var files: Int
    public var bytes: Int64

    public init(files: Int, bytes: Int64) {
        self.files = files
        self.bytes = bytes
    }
}
