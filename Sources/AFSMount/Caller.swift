import AFSCore
import Glibc

/// The user and group a FUSE request comes from (`fuse_get_context`), for the owner of what it
/// creates.
///
/// An entry created by the mounting user records no owner (it belongs to whoever mounts the
/// session, as imported trees do); one created by another user of a shared mount (`allow_other`)
/// records that user's ids, and the mount shows them, as a local file system would.
public struct Caller: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// The user running the mount: what entries without a recorded owner show.
    public static let mounter = Caller(uid: getuid(), gid: getgid())

    /// `context` with this caller as the owner of new entries, unless it is the mounting user.
    func context(_ context: MutationContext) -> MutationContext {
        guard self != .mounter else { return context }
        var c = context
        c.uid = uid
        c.gid = gid
        return c
    }
}
