import Foundation

/// Who is making a change and under which lease: passed to every mutating call.
public struct MutationContext: Sendable, Equatable {
    /// The agent or person making the change; recorded in the changefeed (attribution, undo).
    public var actor: String
    /// The fencing token of the caller's lease, required when the path is under an exclusive lease.
    public var lockToken: UInt64?
    /// The owner and group recorded on entries this call creates (the calling user of a shared
    /// mount); nil records none, and the entry belongs to whoever mounts or exports the session.
    public var uid: UInt32?
    public var gid: UInt32?

    public init(actor: String = "anonymous", lockToken: UInt64? = nil, uid: UInt32? = nil, gid: UInt32? = nil) {
        self.actor = actor
        self.lockToken = lockToken
        self.uid = uid
        self.gid = gid
    }

    public static let anonymous = MutationContext()
}

/// One entry of a session's changefeed.
public struct ChangeEvent: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case write, patch, truncate, delete, rename, mkdir, symlink, chmod
        /// A FIFO, socket or device node created; an owner or group changed; an extended attribute
        /// set or removed; a hard link made (path: the new name, detail: the existing one).
        case mknod, chown, xattr, link
        /// A modification time set explicitly (`setTimes`: touch, tar, cp -p).
        case touch
        case restore, fork, checkpoint, commit, promote, create, undo, archive
    }

    /// Per-session sequence number: dense, increasing, never reused.
    public var seq: UInt64
    public var session: String
    public var kind: Kind
    /// The path changed (empty for session-wide events).
    public var path: String
    public var size: UInt64?
    public var contentID: String?
    public var actor: String
    /// Nanoseconds since 1970, by the store's clock.
    public var time: Int64
    /// Extra detail: a rename's destination, a fork's new session, a checkpoint or commit ID.
    public var detail: String?

    enum CodingKeys: String, CodingKey {
        case seq, session, kind, path, size, actor, time, detail
        case contentID = "content_id"
    }

    public init(seq: UInt64, session: String, kind: Kind, path: String, size: UInt64? = nil, contentID: String? = nil, actor: String, time: Int64, detail: String? = nil) {
        self.seq = seq
        self.session = session
        self.kind = kind
        self.path = path
        self.size = size
        self.contentID = contentID
        self.actor = actor
        self.time = time
        self.detail = detail
    }
}

/// A message on a session-scoped topic.
public struct BusMessage: Sendable, Codable, Equatable {
    public var session: String
    public var topic: String
    /// Dense per topic, from 1.
    public var offset: UInt64
    public var sender: String
    /// A JSON document, as published.
    public var payload: String
    public var time: Int64

    public init(session: String, topic: String, offset: UInt64, sender: String, payload: String, time: Int64) {
        self.session = session
        self.topic = topic
        self.offset = offset
        self.sender = sender
        self.payload = payload
        self.time = time
    }
}

/// A lease on a path or a path prefix.
public struct Lease: Sendable, Codable, Equatable {
    public var session: String
    public var path: String
    /// The lease covers everything below `path` too.
    public var prefix: Bool
    public var exclusive: Bool
    public var holder: String
    /// Fencing token: store-wide, strictly increasing with every grant.
    public var token: UInt64
    /// Seconds since 1970 (store clock).
    public var expiresAt: Double

    enum CodingKeys: String, CodingKey {
        case session, path, prefix, exclusive, holder, token
        case expiresAt = "expires_at"
    }

    public init(session: String, path: String, prefix: Bool, exclusive: Bool, holder: String, token: UInt64, expiresAt: Double) {
        self.session = session
        self.path = path
        self.prefix = prefix
        self.exclusive = exclusive
        self.holder = holder
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// A note or evidence attached to a session, a path, a line range or a commit.
public struct Annotation: Sendable, Codable, Equatable {
    public var id: String
    public var session: String
    public var path: String?
    public var lineStart: Int?
    public var lineEnd: Int?
    public var commitID: String?
    public var author: String
    public var kind: String
    public var text: String
    public var time: Int64

    enum CodingKeys: String, CodingKey {
        case id, session, path, author, kind, text, time
        case lineStart = "line_start"
        case lineEnd = "line_end"
        case commitID = "commit_id"
    }

    public init(id: String, session: String, path: String? = nil, lineStart: Int? = nil, lineEnd: Int? = nil, commitID: String? = nil, author: String, kind: String, text: String, time: Int64) {
        self.id = id
        self.session = session
        self.path = path
        self.lineStart = lineStart
        self.lineEnd = lineEnd
        self.commitID = commitID
        self.author = author
        self.kind = kind
        self.text = text
        self.time = time
    }
}

/// A review request and its decisions.
public struct ReviewState: Sendable, Codable, Equatable {
    public struct Decision: Sendable, Codable, Equatable {
        public var reviewer: String
        public var approved: Bool
        public var comment: String
        public var time: Int64

        public init(reviewer: String, approved: Bool, comment: String, time: Int64) {
            self.reviewer = reviewer
            self.approved = approved
            self.comment = comment
            self.time = time
        }
    }

    public var session: String
    public var status: SessionStatus
    public var reviewers: [String]
    public var requiredApprovals: Int
    public var requestedBy: String?
    public var decisions: [Decision]

    enum CodingKeys: String, CodingKey {
        case session, status, reviewers, decisions
        case requiredApprovals = "required_approvals"
        case requestedBy = "requested_by"
    }
}

/// A structured knowledge entry: key → JSON value, with tags. `scope` is a session ID or nil (store-wide).
public struct KnowledgeEntry: Sendable, Codable, Equatable {
    public var scope: String?
    public var key: String
    public var value: String
    public var tags: [String]
    public var author: String
    public var time: Int64

    public init(scope: String? = nil, key: String, value: String, tags: [String], author: String, time: Int64) {
        self.scope = scope
        self.key = key
        self.value = value
        self.tags = tags
        self.author = author
        self.time = time
    }
}

/// What `undo` did.
public struct UndoReport: Sendable, Codable, Equatable {
    /// Paths put back to their content at the checkpoint.
    public var restored: [String]
    /// Paths the actor created, removed again.
    public var removed: [String]
    /// Paths changed later by someone else: left alone.
    public var skipped: [String]
    public var checkpoint: String
}
