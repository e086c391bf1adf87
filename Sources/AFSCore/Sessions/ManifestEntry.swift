import Foundation

/// One file of a session's manifest.
public struct ManifestEntry: Sendable, Codable, Equatable {
    /// Absolute path in the session, e.g. `/src/main.c`.
    public var path: String
    /// Kind of the entry; never `directory`, as the manifest lists no directories.
    public var kind: EntryKind
    /// Bytes of a file or of a symlink's target; 0 for special files.
    public var size: UInt64
    /// Permission bits (at most 0o7777).
    public var mode: UInt32
    /// For files: the SHA-256 of the bytes when stored in one piece, else the ID of the chunk list.
    /// Equal content always has an equal ID within a store.
    public var contentID: String?
    /// A symlink's target; nil for other kinds.
    public var target: String?
    /// Numeric owner; nil when not recorded (the entry belongs to whoever mounts the session).
    public var uid: UInt32?
    /// Numeric group; nil when not recorded.
    public var gid: UInt32?
    /// Device number of a character or block device; nil for other kinds.
    public var rdev: UInt64?

    enum CodingKeys: String, CodingKey {
        case path, kind, size, mode, target, uid, gid, rdev
        case contentID = "content_id"
    }
}
