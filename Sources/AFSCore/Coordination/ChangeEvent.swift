import Foundation

/// One entry of a session's changefeed.
public struct ChangeEvent: Sendable, Codable, Equatable {
    /// What an event records: file changes (`write` … `touch`) or session-wide operations
    /// (`restore` … `archive`, with an empty path; `undo` names the file it reverted).
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// A file written, patched or truncated; a path deleted or renamed (detail: the destination);
        /// a directory or symlink created; permission bits changed.
        case write, patch, truncate, delete, rename, mkdir, symlink, chmod
        /// A FIFO, socket or device node created; an owner or group changed; an extended attribute
        /// set or removed; a hard link made (path: the new name, detail: the existing one).
        case mknod, chown, xattr, link
        /// A modification time set explicitly (`setTimes`: touch, tar, cp -p).
        case touch
        /// Session-wide: a checkpoint restored, a fork, a checkpoint, a commit, a promote, the session's
        /// creation, an undo (path: the reverted file) or archiving.
        case restore, fork, checkpoint, commit, promote, create, undo, archive
    }

    /// Per-session sequence number: dense, increasing, never reused.
    public var seq: UInt64
    /// ID of the session the event belongs to.
    public var session: String
    /// What happened.
    public var kind: Kind
    /// The path changed (empty for session-wide events).
    public var path: String
    /// File size in bytes after the change; nil for events that carry no file content.
    public var size: UInt64?
    /// Hex content ID of the file's data after the change; nil for events that carry no file content.
    public var contentID: String?
    /// `MutationContext.actor` of the caller; undo-by-actor matches on it.
    public var actor: String
    /// Nanoseconds since 1970, by the store's clock.
    public var time: Int64
    /// Extra detail: a rename's destination, a fork's new session, a checkpoint or commit ID.
    public var detail: String?

    enum CodingKeys: String, CodingKey {
        case seq, session, kind, path, size, actor, time, detail
        case contentID = "content_id"
    }

    /// Memberwise initializer; the store assigns `seq` and `time` when it records an event.
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
