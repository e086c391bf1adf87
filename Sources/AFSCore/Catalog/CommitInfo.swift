import Foundation

/// An immutable outcome; its ID is the SHA-256 of its canonical encoding.
public struct CommitInfo: Sendable, Codable, Equatable {
    public var id: String
    public var root: ChunkID
    public var parents: [String]
    public var message: String
    public var author: String
    public var createdAt: Date
    public var sessionID: String?

    enum CodingKeys: String, CodingKey {
        case id, root, parents, message, author
        case createdAt = "created_at"
        case sessionID = "session_id"
    }

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
