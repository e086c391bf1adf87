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

    /// The owner of entries without a recorded owner: the user running the mount, or the ids in
    /// ``ownerVariable`` (`aether mount --owner` sets it before mounting).
    ///
    /// Read once per process: one process serves one mount, and the FUSE callbacks reach it on every
    /// `getattr`, so it is a constant rather than a lookup.
    public static let mounter: Caller = {
        if let value = getenv(ownerVariable).map({ String(cString: $0) }), let owner = Caller(parsing: value) { return owner }
        return Caller(uid: getuid(), gid: getgid())
    }()

    /// `AETHER_MOUNT_OWNER=UID:GID`: whom the mount's unowned entries belong to. A workspace VM's
    /// project mount names the VM's user, so the files it imported are that user's inside the VM.
    public static let ownerVariable = "AETHER_MOUNT_OWNER"

    /// `UID:GID` (or `UID`, the group then the same number), as `--owner` takes it.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let uid = UInt32(parts[0]), let gid = UInt32(parts.count == 2 ? parts[1] : parts[0]) else { return nil }
        self.init(uid: uid, gid: gid)
    }

    /// `context` with this caller as the owner of new entries, unless it is the mounting user.
    func context(_ context: MutationContext) -> MutationContext {
        guard self != .mounter else { return context }
        var c = context
        c.uid = uid
        c.gid = gid
        return c
    }
}
