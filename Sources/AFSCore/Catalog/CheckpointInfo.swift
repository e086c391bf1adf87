import Foundation

/// A restorable point of one session.
public struct CheckpointInfo: Sendable, Codable, Equatable {
    /// Stable identifier, `ckp_` plus 16 base32 characters.
    public var id: String
    /// The session whose tree this checkpoint captured.
    public var sessionID: String
    /// Root of the session's folded tree when the checkpoint was taken; kept alive as a GC root.
    public var root: ChunkID
    /// Optional caller-given label; nil when none.
    public var label: String?
    /// When the checkpoint was taken; a session's checkpoints are listed in this order.
    public var createdAt: Date
    /// The session's changefeed position when the checkpoint was taken.
    public var changeSeq: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case id, root, label
        case sessionID = "session_id"
        case createdAt = "created_at"
        case changeSeq = "change_seq"
    }

    /// Memberwise initializer; `changeSeq` 0 means before any changefeed event.
    public init(id: String, sessionID: String, root: ChunkID, label: String? = nil, createdAt: Date, changeSeq: UInt64 = 0) {
        self.id = id
        self.sessionID = sessionID
        self.root = root
        self.label = label
        self.createdAt = createdAt
        self.changeSeq = changeSeq
    }
}
