import AFSSupport
import CFUSE3
import Synchronization

/// The kernel's caches of a mounted session (attributes, pages), which the mount can drop for a
/// path when the session changes behind the kernel's back.
///
/// The kernel keeps what `getattr` and `read` answered for the entry and attribute timeouts, and
/// pages across opens (`auto_cache`). A change made elsewhere (the API, another mount) reaches this
/// mount through the changefeed; dropping the kernel's copy then makes the next `stat` or read
/// ask the mount, so the change shows at once instead of one timeout later. That matters most to
/// git's fsmonitor hook: it reports a path as changed, and git's `lstat` right after must not see
/// the old attributes, or git would mark the stale entry valid for good.
///
/// Only callable from threads that are not serving a FUSE request (the changefeed follower, the
/// control socket): an invalidation may wait for the kernel to finish a request on the same inode.
final class KernelCache: Sendable {
    /// The libfuse handle while mounted. The lock also keeps `fuse_destroy` from racing a call.
    private let handle = Locked<FUSEHandle?>(nil)

    /// `struct fuse *`, which libfuse lets any thread pass to `fuse_invalidate_path`.
    // @unchecked: an opaque pointer that is only passed back to libfuse, under `handle`'s lock.
    struct FUSEHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    func attach(_ fuse: OpaquePointer) {
        handle.withLock { $0 = FUSEHandle(pointer: fuse) }
    }

    func detach() {
        handle.withLock { $0 = nil }
    }

    /// Drops the kernel's attributes and cached pages of `path`, if the kernel knows it (libfuse
    /// answers `ENOENT` for paths never looked up: nothing is cached for them).
    func invalidate(_ path: String) {
        handle.withLock { h in
            guard let h else { return }
            _ = fuse_invalidate_path(h.pointer, path)
        }
    }
}
