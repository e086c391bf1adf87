import AFSSupport
import CFUSE3
import Dispatch
import Glibc
import Synchronization

/// The kernel's caches of a mounted session (names, attributes, pages, directory listings), which
/// the mount drops path by path when the session changes behind the kernel's back.
///
/// While the changefeed is followed the kernel keeps names and attributes for a minute
/// (``FUSEBridge``'s timeouts) and listings and pages until told otherwise, so `git status` on a
/// warm mount is answered by the kernel alone. That is only correct because every change made
/// elsewhere (the API, another mount) reaches this mount as an event, and the event drops exactly
/// what it makes stale: the entry (a new, removed or renamed name), the node (attributes and
/// pages) and its directory (listing and times). It matters most to git's fsmonitor hook: it
/// reports a path as changed, and git's `lstat` right after must not see the old attributes.
///
/// ``invalidate(_:)`` (attributes and pages only) runs synchronously and may be called while
/// serving a request for another node. ``invalidateEntry(_:subtree:)`` waits for the directory's
/// lock in the kernel, so only the changefeed's thread calls it; ``invalidateSoon(_:)`` queues
/// the work for a thread of its own and is safe anywhere.
final class KernelCache: Sendable {
    /// The libfuse session while mounted, and how many notifications are using it.
    ///
    /// The lock is never held across a notification: one that drops a name waits for the
    /// directory's lock in the kernel, which a request in flight may hold while its thread waits
    /// for a lock here (a write-back finishing, an invalidation of its own).
    private let handle = Locked<Attachment>(Attachment())
    let nodes: NodeTable
    private let queue = DispatchQueue(label: "aether-kernel-invalidation")

    private struct Attachment {
        var session: SessionHandle?
        var users = 0
    }

    /// `struct fuse_session *`, which libfuse lets any thread pass to its notify calls.
    // @unchecked: an opaque pointer that is only passed back to libfuse while attached.
    struct SessionHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    init(nodes: NodeTable) {
        self.nodes = nodes
    }

    func attach(_ session: OpaquePointer) {
        handle.withLock { $0.session = SessionHandle(pointer: session) }
    }

    /// Stops notifications, waiting (a bounded time: one may be stuck behind a request the
    /// stopped loop will never answer) for those under way, so none reaches the session's
    /// descriptor after it is closed.
    func detach() {
        handle.withLock { $0.session = nil }
        var waited = 0
        while handle.withLock({ $0.users }) > 0, waited < 200 {
            usleep(10_000)
            waited += 1
        }
    }

    /// Runs `body` with the session, if attached, outside the lock.
    private func withSession(_ body: (OpaquePointer) -> Void) {
        guard let session = handle.withLock({ a -> SessionHandle? in
            guard let s = a.session else { return nil }
            a.users += 1
            return s
        }) else { return }
        defer { handle.withLock { $0.users -= 1 } }
        body(session.pointer)
    }

    /// Drops the kernel's attributes and pages of `path`, if the kernel knows it (nothing is
    /// cached for a path it never looked up).
    func invalidate(_ path: String) {
        guard let id = nodes.id(of: path) else { return }
        invalidateNode(id)
    }

    /// Drops only the kernel's attributes of `path` (not its pages or listing): for a directory
    /// whose times the service stamped when it applied a change the mount had already shown.
    /// Never waits on a lock in the kernel, so any thread may call it.
    func invalidateAttributes(_ path: String) {
        guard let id = nodes.id(of: path) else { return }
        // A negative offset tells the kernel to keep the pages (and a directory's cached listing).
        withSession { _ = fuse_lowlevel_notify_inval_inode($0, id, -1, 0) }
    }

    /// ``invalidate(_:)`` from a queue of its own: for callers that may be serving a FUSE request.
    func invalidateSoon(_ path: String) {
        queue.async { [self] in invalidate(path) }
    }

    /// Everything the kernel may hold about `path` after someone else changed it: its name in its
    /// directory (a negative entry too), its node, its directory's listing and times, and, for a
    /// `subtree` change, every node below it.
    func invalidateEntry(_ path: String, subtree: Bool = false) {
        guard path != "/" else {
            invalidateNode(NodeTable.rootID)
            if subtree { invalidateEverything() }
            return
        }
        let below = subtree ? nodes.descendants(of: path) : []
        let id = nodes.id(of: path)
        if let parent = nodes.id(of: MountPath.parent(of: path)) {
            let name = MountPath.name(of: path)
            withSession { session in
                _ = name.withCString { fuse_lowlevel_notify_inval_entry(session, parent, $0, name.utf8.count) }
            }
            invalidateNode(parent)
        }
        if let id { invalidateNode(id) }
        for node in below { invalidateNode(node) }
    }

    /// Drops every name and node the kernel holds (the changefeed lost events).
    func invalidateEverything() {
        for entry in nodes.allEntries() {
            withSession { session in
                _ = entry.name.withCString { fuse_lowlevel_notify_inval_entry(session, entry.parent, $0, entry.name.utf8.count) }
            }
            invalidateNode(entry.id)
        }
        invalidateNode(NodeTable.rootID)
    }

    private func invalidateNode(_ id: UInt64) {
        nodes.dropCachedContent(id)
        withSession { _ = fuse_lowlevel_notify_inval_inode($0, id, 0, 0) }
    }
}
