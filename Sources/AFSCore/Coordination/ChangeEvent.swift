import Foundation

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
