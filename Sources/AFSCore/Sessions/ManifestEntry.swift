import Foundation

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
