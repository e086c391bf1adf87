import Foundation

/// A session as the catalog records it.
public struct SessionInfo: Sendable, Codable, Equatable {
    /// Stable identifier, `ses_` plus 16 base32 characters.
    public var id: String
    /// Optional human-readable name, 1…200 bytes without control characters; nil when none was given.
    public var name: String?
    /// Lifecycle state: active, under review, committed, archived…
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
    /// When the session was created; catalog listings are ordered by it.
    public var createdAt: Date
    /// When the session's record last changed (status, root, head commit…).
    public var updatedAt: Date
    /// Which journal file holds unfolded writes; bumped by every fold.
    public var journalGeneration: Int
    /// The tenant that owns the session on a server, recorded in the same transaction that
    /// creates the session (so a create or fork through afs-server costs one durable commit, and
    /// a crash never leaves a session without its owner). Nil for sessions made outside a
    /// server: through one, only the store admin sees those.
    public var tenant: String?

    enum CodingKeys: String, CodingKey {
        case id, name, status, source, root
        case parentID = "parent_id"
        case baseCommit = "base_commit"
        case headCommit = "head_commit"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case journalGeneration = "journal_generation"
        case tenant
    }

    /// Memberwise initializer; lineage fields (`parentID`, commits) and `tenant` default to nil.
    public init(id: String, name: String? = nil, status: SessionStatus, parentID: String? = nil, source: String, root: ChunkID, baseCommit: String? = nil, headCommit: String? = nil, createdAt: Date, updatedAt: Date, journalGeneration: Int, tenant: String? = nil) {
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
        self.tenant = tenant
    }
}
