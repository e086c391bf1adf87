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
    /// Group recorded on entries this call creates, like `uid`; nil records none.
    public var gid: UInt32?
    /// The tenant a server acts for: a session this call creates or forks belongs to it
    /// (``SessionInfo/tenant``, written in the session's own transaction). Set by afs-server from
    /// the caller's token, never by a client; nil outside a server.
    public var tenant: String?

    /// Defaults to actor `anonymous` with no lease token, no owner or group and no tenant.
    public init(actor: String = "anonymous", lockToken: UInt64? = nil, uid: UInt32? = nil, gid: UInt32? = nil, tenant: String? = nil) {
        self.actor = actor
        self.lockToken = lockToken
        self.uid = uid
        self.gid = gid
        self.tenant = tenant
    }

    /// Actor `anonymous`, no lease token, no owner: the default for calls that do not attribute changes.
    public static let anonymous = MutationContext()
}
