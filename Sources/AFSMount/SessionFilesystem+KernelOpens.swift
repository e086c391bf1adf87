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

    /// Whether the kernel opens files itself: the mount answered the first `open` with `ENOSYS`
    /// (`FUSE_CAP_NO_OPEN_SUPPORT`), so a program that opens a file, reads it from the page cache
    /// and closes it costs the mount one request (the `flush` of the close) instead of two
    /// (`open`, `release`). Only with write-back (``WritePolicy/writeBack``);
    /// `--sync-close` keeps strict opens.
    ///
    /// What changes (Docs/ARCHITECTURE.md, "Opens"): requests carry no handle, so each node has
    /// one implicit handle, made at the first read, write or create that reaches the mount and
    /// ended by the next close, which publishes its writes as a release did. A clean one serves
    /// the content the service holds now: a file changed elsewhere while a program holds it open
    /// reads the new version from its next page-cache miss on, where strict close-to-open keeps
    /// the old one.
    public var opensByKernel: Bool { kernelOpens.load(ordering: .relaxed) }

    /// Whether the mount should ask the kernel to open files itself (at `init`).
    var wantsKernelOpens: Bool { writeBack.policy == .writeBack }

    /// One request's use of a node's implicit handle (``beginImplicit(_:access:)``).
    struct ImplicitUse {
        let node: UInt64
        let handle: UInt64
        /// A handle of this request alone (the node's was being dropped): released at the end.
        let transient: Bool
    }

    /// The node's implicit handle for one request, which must end it (``endImplicit(_:)``):
    /// until then no close closes its descriptors. The node keeps its handle while it
    /// serves the file's current content (or holds writes not yet published); else, and at
    /// first, it opens its path (close-to-open: the current content). An unlinked node is served
    /// by the handle that still holds its content (``pinContent(of:in:)``); with none, its
    /// content is gone: `ESTALE`, as NFS answers.
    func beginImplicit(_ node: UInt64, access: ImplicitAccess) throws(Errno) -> ImplicitUse {
        if let existing = nodes.useImplicitHandle(of: node) {
            if let file = openFile(handle: existing), isCurrent(file) {
                if access == .read { noteAccess(file) }
                return ImplicitUse(node: node, handle: existing, transient: false)
            }
            _ = nodes.dropImplicitHandle(existing, of: node)
            if nodes.endImplicitUse(existing, of: node) { try? release(existing) }
        }
        guard let path = nodes.path(of: node) else { throw Errno(ESTALE) }
        let made = try open(path, flags: access == .write ? O_WRONLY : O_RDONLY, notingAccess: access == .read)
        guard let kept = nodes.adoptImplicitHandle(made, for: node) else {
            // Another thread's handle is being dropped: this one serves this request alone.
            return ImplicitUse(node: node, handle: made, transient: true)
        }
        if kept != made { try? release(made) }
        return ImplicitUse(node: node, handle: kept, transient: false)
    }

    /// Ends a use begun by ``beginImplicit(_:access:)``: releases the handle when a drop waited
    /// for this request, or when it was the request's own.
    func endImplicit(_ use: ImplicitUse) {
        if use.transient || nodes.endImplicitUse(use.handle, of: use.node) {
            do throws(Errno) {
                try release(use.handle)
            } catch {
                log("release of an implicit handle: \(error)")
            }
        }
    }

    /// Whether `file` may keep serving its node: it holds writes not yet published, or it is
    /// unlinked, or its content is the one the service holds (as the changefeed vouches, else
    /// as the service says; a file published from here without a content ID is loaded again).
    /// A service that cannot answer leaves it serving.
    func isCurrent(_ file: OpenFile) -> Bool {
        let (own, loaded, path) = file.state.withLock { s in
            (s.dirty || s.queued || s.publishing || s.unlinked, s.remote?.contentID, s.path)
        }
        if own { return true }
        if let vouched = metadata.contentAttributes(path) { return vouched.contentID == loaded }
        let generation = metadata.generation
        do throws(Errno) {
            let current = FileAttributes(try call("stat", path) { () throws(AFSError) in try service.stat(session, path: path) })
            metadata.store(path, current, asOf: generation)
            return current.contentID == loaded
        } catch {
            return error != .notFound
        }
    }

    /// The attributes the changefeed vouches for at `path` when they name another content than
    /// the clean `file` loaded (nil while `file` holds writes of its own).
    func newerElsewhere(_ file: OpenFile, _ path: String) -> FileAttributes? {
        let (own, loaded) = file.state.withLock { s in (s.dirty || s.queued || s.publishing || s.unlinked || s.remote == nil, s.remote?.contentID) }
        guard !own, let loaded, let vouched = metadata.contentAttributes(path), vouched.contentID != loaded else { return nil }
        return vouched
    }

    /// A `close(2)` of a file the kernel opened (its `flush`): ends the node's implicit handle,
    /// which publishes what it holds (queued, like a release) and closes its descriptors once no
    /// request uses it; the file leaves the open-file table once published, as after a release.
    /// Descriptors of the node still open make a new one at their next request (sharing the file
    /// while its publication is pending). An unlinked node keeps it: descriptors may still read
    /// through it, until the kernel forgets the node.
    func closeImplicit(_ node: UInt64) {
        guard let handle = nodes.implicitHandle(of: node), nodes.path(of: node) != nil else { return }
        guard nodes.dropImplicitHandle(handle, of: node) else { return }
        do throws(Errno) {
            try release(handle)
        } catch {
            log("close of an implicit handle: \(error)")
        }
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
        if local, let use = try? beginImplicit(node, access: .other) { endImplicit(use) }
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
