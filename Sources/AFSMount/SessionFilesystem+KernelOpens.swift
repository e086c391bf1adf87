import AFSCore
import Foundation
import Synchronization

extension SessionFilesystem {
    // MARK: Files the kernel opens itself

    /// What a request without a handle needs of the file it names.
    enum ImplicitAccess {
        /// A read: moves the access time (``accessTimePolicy``).
        case read
        /// A write: the handle gets a scratch copy.
        case write
        /// Anything else (`fsync`, a removal keeping the content for open descriptors).
        case other
    }

    /// Whether the kernel opens files itself: every `open` of an existing file is answered by
    /// the kernel (the mount answered `ENOSYS` once, `FUSE_CAP_NO_OPEN_SUPPORT`), so a program
    /// opening a file it then reads from the page cache costs the mount no round trip at all,
    /// and a close costs one (`flush`) instead of two (`open`, `release`). Only with write-back
    /// (``WritePolicy/writeBack``); `--sync-close` keeps the strict opens.
    ///
    /// What changes (Docs/ARCHITECTURE.md, "Opens"): the requests that follow carry no handle,
    /// so each node has one implicit handle (``implicitHandle(for:access:)``), made at the first
    /// read or write that reaches the mount and dropped when a close finds it clean. A clean one
    /// serves the content the service holds now, not the one seen at `open(2)`: a file changed
    /// elsewhere while a program holds it open reads the new version from its next page-cache
    /// miss on (the kernel's pages are dropped by the change's event), where strict
    /// close-to-open keeps the old one.
    public var opensByKernel: Bool { kernelOpens.load(ordering: .relaxed) }

    /// Whether the mount should ask the kernel to open files itself (at `init`).
    var wantsKernelOpens: Bool { writeBack.policy == .writeBack }

    /// The handle a request on `node` uses: `given` when the kernel sent one, else the node's
    /// implicit handle.
    func handle(for node: UInt64, given: UInt64, access: ImplicitAccess) throws(Errno) -> UInt64 {
        if given != 0 { return given }
        return try implicitHandle(for: node, access: access)
    }

    /// The node's implicit handle: the one it has while it still serves the file's current
    /// content (or holds writes of its own), else a new open of its path. An unlinked node is
    /// served by whatever handle still holds its content (``pinContent(of:in:)``); with none,
    /// its content is gone: `ESTALE`, as NFS answers.
    func implicitHandle(for node: UInt64, access: ImplicitAccess) throws(Errno) -> UInt64 {
        if let existing = nodes.implicitHandle(of: node) {
            if let file = openFile(handle: existing), try isCurrent(file) {
                if access == .read { noteAccess(file) }
                return existing
            }
            if nodes.dropImplicitHandle(existing, of: node) { try? release(existing) }
        }
        guard let path = nodes.path(of: node) else {
            if let held = nodes.handles(of: node).first { return held }
            throw Errno(ESTALE)
        }
        let made = try open(path, flags: access == .write ? O_WRONLY : O_RDONLY, notingAccess: access == .read)
        guard let kept = nodes.adoptImplicitHandle(made, for: node) else {
            try? release(made)
            throw Errno.notFound
        }
        if kept != made { try? release(made) }
        return kept
    }

    /// Whether `file` may keep serving its node: it holds writes not yet published, or it is
    /// unlinked, or its content is the one the service holds (as the changefeed vouches, else
    /// as the service says; a file published from here has no content ID and is loaded again).
    func isCurrent(_ file: OpenFile) throws(Errno) -> Bool {
        let (own, loaded, path) = file.state.withLock { s in
            (s.dirty || s.queued || s.publishing || s.unlinked, s.remote?.contentID, s.path)
        }
        if own { return true }
        if let vouched = metadata.contentAttributes(path) { return vouched.contentID == loaded }
        let generation = metadata.generation
        let current: FileAttributes
        do throws(Errno) {
            current = FileAttributes(try call("stat", path) { () throws(AFSError) in try service.stat(session, path: path) })
        } catch where error == .notFound {
            return false
        }
        metadata.store(path, current, asOf: generation)
        return current.contentID == loaded
    }

    /// The attributes the changefeed vouches for at `path` when they name another content than
    /// the clean `file` loaded (nil while `file` holds writes of its own).
    func newerElsewhere(_ file: OpenFile, _ path: String) -> FileAttributes? {
        let (own, loaded) = file.state.withLock { s in (s.dirty || s.queued || s.publishing || s.unlinked || s.remote == nil, s.remote?.contentID) }
        guard !own, let loaded, let vouched = metadata.contentAttributes(path), vouched.contentID != loaded else { return nil }
        return vouched
    }

    /// A `close(2)` of a file the kernel opened: publishes what its implicit handle holds (queued,
    /// like a release) and drops the handle, so descriptors stay bounded by the files in use and
    /// the file leaves the open-file table once published, as after a release. Descriptors still
    /// open on the node make a new one at their next request (sharing the file while its
    /// publication is pending). An unlinked node keeps it: they may still read through it.
    func closeImplicit(_ node: UInt64) throws(Errno) {
        guard let handle = nodes.implicitHandle(of: node) else { return }
        guard nodes.path(of: node) != nil else {
            try flush(handle)
            return
        }
        if nodes.dropImplicitHandle(handle, of: node) { try release(handle) }
    }

    /// Before `name` in `parent` is removed or replaced: a program may hold the file open
    /// (unseen, the kernel opened it), and reads it after the removal, so a node the kernel
    /// knows keeps its content in an implicit handle when that costs no fetch (the content is
    /// cached, or open here already). One whose content is not local reads `ESTALE` then.
    func pinContent(of name: String, in parent: UInt64) {
        guard opensByKernel, let node = nodes.id(of: name, in: parent), nodes.implicitHandle(of: node) == nil,
            let path = nodes.path(of: node)
        else { return }
        let local: Bool
        if openFile(at: path) != nil {
            local = true
        } else if let known = metadata.contentAttributes(path), known.kind == .file, let id = known.contentID {
            local = cache.contains(id)
        } else {
            local = false
        }
        if local { _ = try? implicitHandle(for: node, access: .other) }
    }

    /// Releases the implicit handle of a node the kernel forgot.
    func releaseForgotten(_ handle: UInt64?) {
        guard let handle else { return }
        do throws(Errno) {
            try release(handle)
        } catch {
            log("release of a forgotten node's handle: \(error)")
        }
    }
}
