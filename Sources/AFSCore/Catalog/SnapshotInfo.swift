import Foundation

/// A named, immutable tree that sessions can start from (a template).
public struct SnapshotInfo: Sendable, Codable, Equatable {
    public var name: String
    public var root: ChunkID
    public var sessionID: String?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case name, root
        case sessionID = "session_id"
        case createdAt = "created_at"
    }

    public init(name: String, root: ChunkID, sessionID: String? = nil, createdAt: Date) {
        self.name = name
        self.root = root
        self.sessionID = sessionID
        self.createdAt = createdAt
    }
}
