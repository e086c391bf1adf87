import Foundation

/// A restorable point of one session.
public struct CheckpointInfo: Sendable, Codable, Equatable {
    public var id: String
    public var sessionID: String
    public var root: ChunkID
    public var label: String?
    public var createdAt: Date
    /// The session's changefeed position when the checkpoint was taken.
    public var changeSeq: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case id, root, label
        case sessionID = "session_id"
        case createdAt = "created_at"
        case changeSeq = "change_seq"
    }

    public init(id: String, sessionID: String, root: ChunkID, label: String? = nil, createdAt: Date, changeSeq: UInt64 = 0) {
        self.id = id
        self.sessionID = sessionID
        self.root = root
        self.label = label
        self.createdAt = createdAt
        self.changeSeq = changeSeq
    }
}
