import Foundation

/// An immutable outcome; its ID is the SHA-256 of its canonical encoding.
public struct CommitInfo: Sendable, Codable, Equatable {
    /// 64-digit hex ID of the commit's canonical encoding (root, parents, message, author, time) in the log.
    public var id: String
    /// Root of the committed tree; kept alive as a GC root.
    public var root: ChunkID
    /// Parent commit IDs: none for a first commit, one normally, two (ref, then session) for a merge.
    public var parents: [String]
    /// Free-text description given by the committer (`commit` requires one).
    public var message: String
    /// Who made the commit, as given by the caller (`commit` requires one).
    public var author: String
    /// Commit time; hashed into `id` at millisecond precision.
    public var createdAt: Date
    /// The session the commit was made from; nil when none was recorded.
    public var sessionID: String?

    enum CodingKeys: String, CodingKey {
        case id, root, parents, message, author
        case createdAt = "created_at"
        case sessionID = "session_id"
    }

    /// Memberwise initializer; does not compute or check `id`.
    public init(id: String, root: ChunkID, parents: [String], message: String, author: String, createdAt: Date, sessionID: String? = nil) {
        self.id = id
        self.root = root
        self.parents = parents
        self.message = message
        self.author = author
        self.createdAt = createdAt
        self.sessionID = sessionID
    }
}
