import Foundation

/// A session's lifecycle state.
public enum SessionStatus: String, Sendable, Codable, CaseIterable {
    case active
    case pendingApproval = "pending-approval"
    case approved
    case rejected
    case committed
    case archived
}

/// A session as the catalog records it.
public struct SessionInfo: Sendable, Codable, Equatable {
    public var id: String
    public var name: String?
    public var status: SessionStatus
    /// The session this one was forked or created from, if any.
    public var parentID: String?
    /// A description of the source it was created from (`blank`, `git:REPO@REF`, …).
    public var source: String
    /// Root of the folded tree. Writes not yet folded live in the session's journal.
    public var root: ChunkID
    /// The commit this session started from (for promote's three-way merge), if any.
    public var baseCommit: String?
    /// The latest commit made from this session.
    public var headCommit: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// Which journal file holds unfolded writes; bumped by every fold.
    public var journalGeneration: Int

    enum CodingKeys: String, CodingKey {
        case id, name, status, source, root
        case parentID = "parent_id"
        case baseCommit = "base_commit"
        case headCommit = "head_commit"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case journalGeneration = "journal_generation"
    }

    public init(id: String, name: String? = nil, status: SessionStatus, parentID: String? = nil, source: String, root: ChunkID, baseCommit: String? = nil, headCommit: String? = nil, createdAt: Date, updatedAt: Date, journalGeneration: Int) {
        self.id = id
        self.name = name
        self.status = status
        self.parentID = parentID
        self.source = source
        self.root = root
        self.baseCommit = baseCommit
        self.headCommit = headCommit
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.journalGeneration = journalGeneration
    }
}

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

/// A named pointer to a commit (`main`, a template…).
public struct RefInfo: Sendable, Codable, Equatable {
    public var name: String
    public var commitID: String
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case name
        case commitID = "commit_id"
        case updatedAt = "updated_at"
    }

    public init(name: String, commitID: String, updatedAt: Date) {
        self.name = name
        self.commitID = commitID
        self.updatedAt = updatedAt
    }
}

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

extension ChunkID: Codable {
    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let id = ChunkID(hex: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a 64-digit hex id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
