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
        /// The request writes through it (a create counts): what holds back the sweep.
        var writes = false
    }

    /// The node's implicit handle for one request, which must end it (``endImplicit(_:)``):
    /// until then no close closes its descriptors. The node keeps its handle while it
    /// serves the file's current content (or holds writes not yet published); else, and at
    /// first, it opens its path (close-to-open: the current content). An unlinked node is served
    /// by the handle that still holds its content, else by the content it had at its removal
    /// if the cache holds it (``keepContent(of:in:)``); else its content is gone: `ESTALE`, as
    /// NFS answers.
    func beginImplicit(_ node: UInt64, access: ImplicitAccess) throws(Errno) -> ImplicitUse {
        if let existing = nodes.useImplicitHandle(of: node) {
            if let file = openFile(handle: existing), isCurrent(file) {
                if access == .read { noteAccess(file) }
                return ImplicitUse(node: node, handle: existing, transient: false, writes: access == .write)
            }
            _ = nodes.dropImplicitHandle(existing, of: node)
            if nodes.endImplicitUse(existing, of: node) { release(existing, "a stale implicit handle") }
        }
        let made: UInt64
        if let path = nodes.path(of: node) {
            made = try open(path, flags: access == .write ? O_WRONLY : O_RDONLY, notingAccess: access == .read)
        } else {
            made = try openRemoved(node)
        }
        guard let kept = adoptImplicit(made, for: node) else {
            // Another thread's handle is being dropped: this one serves this request alone.
            return ImplicitUse(node: node, handle: made, transient: true)
        }
        return ImplicitUse(node: node, handle: kept, transient: false, writes: access == .write)
    }

    /// Makes `handle` (just opened) the node's implicit handle and begins a use of the one in
    /// use, releasing `handle` if another thread's won; nil when the node takes none now.
    func adoptImplicit(_ handle: UInt64, for node: UInt64) -> UInt64? {
        let kept = nodes.adoptImplicitHandle(handle, for: node)
        if kept != handle, kept != nil { release(handle, "a duplicate implicit handle") }
        if kept == handle, closesUnseen { idleHandles.poke() }
        return kept
    }

    /// A handle on the content a removed node had (``NodeTable/noteRemovedContent(_:at:of:)``),
    /// from the cache alone: nothing is fetched for a name that is gone.
    func openRemoved(_ node: UInt64) throws(Errno) -> UInt64 {
        guard let (path, gone) = nodes.removedContent(of: node), let id = gone.contentID, cache.contains(id) else { throw Errno(ESTALE) }
        let fd: Int32
        do {
            fd = try cache.open(id, size: gone.size, beforeFetch: { false }) { (_) throws(AFSError) in
                throw AFSError(.notFound, "content \(id) left the cache")
            }
        } catch {
            throw Errno(ESTALE)
        }
        let file = OpenFile(path: path, mode: gone.mode, remote: gone, readDescriptor: fd, scratch: nil, dirty: false)
        file.state.withLock { $0.unlinked = true }
        return files.withLock { t in
            let handle = t.nextHandle
            t.nextHandle += 1
            t.byHandle[handle] = file
            file.state.withLock { $0.handles += 1 }
            return handle
        }
    }

    /// Ends a use begun by ``beginImplicit(_:access:)``: releases the handle when a drop waited
    /// for this request, or when it was the request's own.
    func endImplicit(_ use: ImplicitUse) {
        if use.transient || nodes.endImplicitUse(use.handle, of: use.node, wrote: use.writes) { release(use.handle, "an implicit handle") }
    }

    /// Releases `handle`, logging a failure (what a release publishes is logged, never lost:
    /// the file stays dirty for the next flush or sync).
    func release(_ handle: UInt64, _ what: String) {
        do throws(Errno) {
            try release(handle)
        } catch {
            log("release of \(what): \(error)")
        }
    }

    /// Whether `file` may keep serving its node: it holds writes not yet published, or it is
    /// unlinked, or its content is the one the service holds (as the changefeed vouches, else
    /// as the service says; a file published from here without a content ID is loaded again).
    /// A service that cannot answer leaves it serving.
    func isCurrent(_ file: OpenFile) -> Bool {
        let (own, loaded, path) = file.state.withLock { s in (s.holdsUnpublishedWrites || s.unlinked, s.remote?.contentID, s.path) }
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
        let (own, loaded) = file.state.withLock { s in (s.holdsUnpublishedWrites || s.unlinked || s.remote == nil, s.remote?.contentID) }
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
        if nodes.dropImplicitHandle(handle, of: node) { release(handle, "an implicit handle at its close") }
    }

    // MARK: Closes the kernel does not report

    /// Whether the kernel stopped sending `flush` (the mount answered the first one with
    /// `ENOSYS`): a program that opens a file, reads it from the page cache and closes it then
    /// costs the mount no request at all. Only while the kernel opens files itself.
    ///
    /// What tells the mount that a program is done with a file instead (Docs/ARCHITECTURE.md,
    /// "Opens and closes"): a file created here gets a `release` at its last close only until the
    /// kernel first opens a file itself; after that, nothing. So an implicit handle ends once no
    /// request wrote through it (or, if only read, used it) for ``idleTime(of:)``
    /// (``IdleHandleSweeper``), or earlier where an order must hold: before its directory's times
    /// or attributes are set, before it is renamed or linked, and after each write while it has
    /// other names. `fsync`, `aether sync`, a live checkpoint and the unmount publish what every
    /// file holds, open or not.
    public var closesUnseen: Bool { flushesStopped.load(ordering: .relaxed) }

    /// How long an implicit handle goes unwritten (or unused, if only read) before the sweep
    /// ends it, at the least (``idleTime(of:)``): about the write-back queue's linger for new
    /// files, so a file's publication lands about as soon after its last write as it did after
    /// a close the kernel reported.
    static let implicitIdle: Duration = .milliseconds(25)

    /// How long `file`'s implicit handle must go unwritten before the sweep ends it: ``implicitIdle``
    /// plus what publishing its bytes takes at 50 MB/s, ten times over at the disk and network
    /// speeds publishing sees. A small file is published at its first pause; a large one written
    /// slowly is not hashed and uploaded again at every pause (a 1 GiB download: 21 s).
    func idleTime(of file: OpenFile?) -> Duration {
        let size = file?.state.withLock { s -> UInt64 in
            guard s.holdsUnpublishedWrites, let scratch = s.scratch else { return 0 }
            var st = Glibc.stat()
            return fstat(scratch, &st) == 0 ? UInt64(st.st_size) : 0
        } ?? 0
        return SessionFilesystem.implicitIdle + .nanoseconds(Int64(min(size, 1 << 40)) * 20)
    }

    /// The first `flush` of a file the kernel opened: from now on closes are unseen.
    func stopFlushes() {
        guard opensByKernel else { return }
        flushesStopped.store(true, ordering: .relaxed)
        idleHandles.start { [weak self] now in
            guard let self else { return .stop }
            return sweepImplicitHandles(at: now)
        }
    }

    /// Ends the implicit handles due at `now` (``idleTime(of:)``) and says when to look again:
    /// at the next one due, or after ``implicitIdle`` while the others are in use or unlinked
    /// (kept until the kernel forgets them); with none left, only once another is made.
    func sweepImplicitHandles(at now: ContinuousClock.Instant) -> IdleHandleSweeper.Next {
        let uses = nodes.implicitHandleUses()
        guard !uses.isEmpty else { return .idle }
        var next = SessionFilesystem.implicitIdle
        for use in uses where use.sweepable {
            let due = use.since + idleTime(of: openFile(handle: use.handle))
            if due <= now {
                closeImplicit(use.node)
            } else {
                next = min(next, due - now)
            }
        }
        return .after(max(next, .milliseconds(5)))
    }

    /// Ends the implicit handle of `node` if it holds writes not yet published: what a close
    /// would have done by now (closes unseen).
    func closeImplicitIfWritten(_ node: UInt64) {
        guard closesUnseen, let handle = nodes.implicitHandle(of: node),
            openFile(handle: handle)?.state.withLock({ $0.holdsUnpublishedWrites }) == true
        else { return }
        closeImplicit(node)
    }

    /// Before a directory's own times, mode or owner change: its files' writes are published
    /// first, as their closes would have queued them, so a publication landing later does not
    /// stamp the directory's times again (`tar -x` and `cp -a` set a directory's times right
    /// after writing its files).
    func closeImplicitHandles(in directory: UInt64) {
        guard closesUnseen else { return }
        for node in nodes.implicitNodes(in: directory) { closeImplicitIfWritten(node) }
    }

    /// After a write through `handle` of `node`: a file with other names is published at once,
    /// so a read through any of them shows the write (their nodes are the kernel's other
    /// inodes, each with its own pages).
    func closeImplicitIfLinked(_ node: UInt64, handle: UInt64) {
        guard closesUnseen, let file = openFile(handle: handle),
            file.state.withLock({ ($0.remote?.linkCount ?? 1) > 1 })
        else { return }
        closeImplicit(node)
    }

    /// Before `name` in `parent` is removed or replaced: a program may hold the file open
    /// (unseen, the kernel opened it) and read it after the removal. A file open here keeps its
    /// open file (an implicit handle made now, no fetch); any other keeps a note of its content,
    /// served from the cache at such a read (``openRemoved(_:)``). Nothing is opened for a removal
    /// nobody reads after (`rm -rf`).
    ///
    /// Returns the use of the node's implicit handle that the caller ends (``endImplicit(_:)``)
    /// once the name is gone: until then no sweep may end the handle (the node still has its
    /// name, so it would be sweepable, and a read after the removal would find nothing).
    func keepContent(of name: String, in parent: UInt64) -> ImplicitUse? {
        guard opensByKernel, let node = nodes.id(of: name, in: parent), let path = nodes.path(of: node) else { return nil }
        if let handle = nodes.useImplicitHandle(of: node) { return ImplicitUse(node: node, handle: handle, transient: false) }
        if openFile(at: path) != nil { return try? beginImplicit(node, access: .other) }
        if let known = metadata.contentAttributes(path), known.kind == .file {
            nodes.noteRemovedContent(known, at: path, of: node)
        }
        return nil
    }
}
