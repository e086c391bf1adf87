import Foundation

/// A named, immutable tree that sessions can start from (a template).
public struct SnapshotInfo: Sendable, Codable, Equatable {
    /// Caller-chosen name, unique in the catalog: a second snapshot with the same name is refused.
    public var name: String
    /// Root of the captured tree; kept alive as a GC root.
    public var root: ChunkID
    /// The session it was taken from, if any.
    public var sessionID: String?
    /// When the snapshot was taken.
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case name, root
        case sessionID = "session_id"
        case createdAt = "created_at"
    }

    /// Memberwise initializer; nothing is stored until a catalog inserts it.
    public init(name: String, root: ChunkID, sessionID: String? = nil, createdAt: Date) {
        self.name = name
        self.root = root
        self.sessionID = sessionID
        self.createdAt = createdAt
    }
}
