import AFSSupport
import AFSClient
import AFSCore
import Foundation
import Synchronization

extension SessionFilesystem {
    // MARK: Opening and closing

    /// Opens an existing file. The first open fetches its content into the cache (unless it is
    /// truncated right away); write access makes a scratch copy. An open for reading moves the
    /// access time (``accessTimePolicy``) unless `notingAccess` is false.
    public func open(_ path: String, flags: Int32, notingAccess: Bool = true) throws(Errno) -> UInt64 {
        let writable = flags & O_ACCMODE != O_RDONLY
        let truncating = writable && flags & O_TRUNC != 0
        var registered: (UInt64, OpenFile)?
        if let existing = openFile(at: path) { registered = register(existing, at: path, fresh: false) }
        if registered == nil { registered = register(try load(path, fetch: !truncating), at: path) }
        // A freshly loaded file is never dropped: register only declines files found earlier.
        guard let (handle, shared) = registered else { throw Errno.io }
        if notingAccess, flags & O_ACCMODE != O_WRONLY { noteAccess(shared) }
        if writable {
            do throws(Errno) {
                try ensureScratch(shared, truncating: truncating)
            } catch {
                try? release(handle)
                throw error
            }
        }
        return handle
    }

    /// A fresh `stat` (close-to-open: the content identity is the service's current one) and the
    /// content from the cache, fetched on a miss. Retries when the file changed mid-fetch.
    func load(_ path: String, fetch: Bool) throws(Errno) -> OpenFile {
        switch writeBack.lookup(path) {
        case .absent?: throw Errno.notFound
        case .directory?, .changed?: throw Errno.isDirectory
        case nil: break
        }
        var attempt = 0
        // While the changefeed vouches for the cache, a stat from it is the current version.
        var cached = metadata.contentAttributes(path)
        while true {
            attempt += 1
            let attributes: FileAttributes
            if let known = cached {
                attributes = known
                cached = nil  // a retry asks the service
            } else {
                let generation = metadata.generation
                attributes = FileAttributes(try call("stat", path) { () throws(AFSError) in try service.stat(session, path: path) })
                metadata.store(path, attributes, asOf: generation)
            }
            guard attributes.kind == .file else { throw attributes.kind == .directory ? Errno.isDirectory : Errno.invalid }
            guard fetch else {
                return OpenFile(path: path, mode: attributes.mode, remote: attributes, readDescriptor: -1, scratch: nil, dirty: false)
            }
            guard let id = attributes.contentID else { throw Errno.io }
            readahead.noteOpen(id)
            if attributes.size >= SessionFilesystem.partialFetchThreshold, !cache.contains(id) {
                let partial: PartialContent
                do { partial = try partialContent(id, size: attributes.size) } catch { throw Errno(error) }
                let fd = dup(partial.descriptor)
                guard fd >= 0 else { throw Errno(errno) }
                return OpenFile(path: path, mode: attributes.mode, remote: attributes, readDescriptor: fd, scratch: nil, dirty: false, partial: partial)
            }
            do {
                let fd = try cache.open(id, size: attributes.size, beforeFetch: { () -> Bool in
                    // Being fetched by a readahead lane: take it from there. Else a cold open,
                    // which may show a program walking the directory.
                    readahead.waitIfFetching(id)
                    if cache.contains(id) { return false }
                    noteColdOpen(path)
                    return true
                }) { (fd) throws(AFSError) in
                    try service.copyFile(session, path: path, to: fd)
                    metrics.add(downloaded: attributes.size)
                }
                return OpenFile(path: path, mode: attributes.mode, remote: attributes, readDescriptor: fd, scratch: nil, dirty: false)
            } catch where error.code == .corrupted && attempt < 3 {
                continue
            } catch {
                throw Errno(error)
            }
        }
    }

    /// How many first readahead steps (``DirectoryReadahead/maxFiles``) one walk plans at most.
    static let readaheadSteps = 32

    /// A file's content was not cached at its open: the second such open in a directory within
    /// a second hands the directory's other small uncached files to the readahead lanes, those
    /// after `path` in name order (the order programs walking a directory read it) first, then
    /// those of the directories below it, depth first, whose listings are cached (a walk goes
    /// there next: `tar -c`, `cp -r` and `grep -r` would otherwise miss twice in each directory
    /// before its own readahead starts). The readahead queues a step of that walk at a time, the
    /// next, twice as large, once the walk enters the last (``DirectoryReadahead/noteOpen(_:)``).
    func noteColdOpen(_ path: String) {
        let directory = MountPath.parent(of: path)
        guard readahead.noteMiss(in: directory), let listing = metadata.listing(directory) else { return }
        let name = MountPath.name(of: path)
        func small(_ e: (name: String, attributes: FileAttributes)) -> Bool {
            e.attributes.kind == .file && e.attributes.size < Self.partialFetchThreshold
        }
        let files = listing.filter { $0.name != name && small($0) }
        var ordered = (files.filter { $0.name > name } + files.filter { $0.name < name }).map { (directory, $0) }
        // Depth first, in name order: the order of the walk itself.
        func subdirectories(_ parent: String, _ entries: [(name: String, attributes: FileAttributes)]) -> [String] {
            entries.filter { $0.attributes.kind == .directory }.map { MountPath.join(parent, $0.name) }.sorted(by: >)
        }
        var pending = subdirectories(directory, listing)
        // The whole walk as far as listings are cached, up to a bound: the readahead queues it a
        // step at a time as the walk gets there.
        while ordered.count < readahead.maxFiles * Self.readaheadSteps, let next = pending.popLast() {
            guard let entries = metadata.listing(next) else { continue }
            ordered += entries.filter(small).sorted { $0.name < $1.name }.map { (next, $0) }
            pending += subdirectories(next, entries)
        }
        readahead.enqueue(ordered.compactMap { parent, e in
            guard let id = e.attributes.contentID, !cache.contains(id) else { return nil }
            return DirectoryReadahead.Item(path: MountPath.join(parent, e.name), id: id, size: e.attributes.size)
        })
    }

    /// An open for reading: moves the file's access time when ``accessTimePolicy`` says so, in
    /// the open file and the metadata cache at once, and at the service with the next batch.
    /// (The kernel may serve reads from its page cache without asking the mount, so the open is
    /// the access the mount can see.)
    func noteAccess(_ file: OpenFile) {
        guard accessTimePolicy != .noatime else { return }
        let now = OpenFile.now()
        let path = file.state.withLock { s -> String? in
            guard !s.unlinked else { return nil }
            // Written here and not yet published (or created here): changed when its scratch copy was.
            var written: Int64?
            if s.dirty || s.publishing || s.remote == nil, let scratch = s.scratch {
                var st = Glibc.stat()
                if fstat(scratch, &st) == 0 { written = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec) }
            }
            guard s.remote != nil || written != nil else { return nil }
            let mtime = max(s.remote?.mtime ?? .min, written ?? .min)
            let ctime = max(s.remote.map { $0.ctime ?? $0.mtime } ?? .min, written ?? .min)
            let atime = max(s.remote.map { $0.atime ?? $0.mtime } ?? mtime, accessTimes.pending(s.path) ?? .min)
            guard accessTimePolicy.shouldRecord(atime: atime, mtime: mtime, ctime: ctime, now: now) else { return nil }
            s.remote?.atime = now
            return s.path
        }
        guard let path else { return }
        metadata.moveAccessTime(of: path, to: now)
        accessTimes.record(path, at: now)
    }

    /// Creates a file: local until its first flush, visible to this mount at once. A `caller`
    /// other than the mounting user becomes its recorded owner.
    public func create(_ path: String, mode: UInt32, caller: Caller = .mounter) throws(Errno) -> UInt64 {
        let scratch = try makeScratch()
        let file = OpenFile(path: path, mode: mode, remote: nil, readDescriptor: scratch, scratch: scratch, dirty: true)
        if caller != .mounter { file.state.withLock { $0.creator = caller } }
        // The open-file table shows it until it is published, which then settles the listing.
        metadata.forget(path)
        metadata.touchParent(of: path, at: OpenFile.now())
        guard let (handle, shared) = register(file, at: path) else { throw Errno.io }
        if shared !== file { try ensureScratch(shared, truncating: true) }
        return handle
    }

    public func read(_ handle: UInt64, offset: UInt64, count: Int) throws(Errno) -> [UInt8] {
        guard let file = openFile(handle: handle) else { throw Errno.badDescriptor }
        try fill(file, offset: offset, count: count)
        let bytes = try file.read(offset: offset, count: count)
        metrics.add(read: bytes.count)
        return bytes
    }

    /// The descriptor a read of `count` bytes at `offset` comes from, for libfuse to read itself
    /// (no copy through this process). Counts the bytes the read will return.
    func readDescriptor(_ handle: UInt64, offset: UInt64, count: Int) throws(Errno) -> Int32 {
        guard let file = openFile(handle: handle) else { throw Errno.badDescriptor }
        try fill(file, offset: offset, count: count)
        let fd = file.state.withLock { $0.readDescriptor }
        guard fd >= 0 else { throw Errno.badDescriptor }
        var st = Glibc.stat()
        if fstat(fd, &st) == 0, UInt64(st.st_size) > offset {
            metrics.add(read: min(count, Int(UInt64(st.st_size) - offset)))
        }
        return fd
    }

    /// The content being fetched block by block for `id`, shared by every open of it.
    func partialContent(_ id: String, size: UInt64) throws(AFSError) -> PartialContent {
        if let existing = partials.withLock({ $0[id] }) { return existing }
        let made = try cache.makePartial(id, size: size)
        let (kept, lost) = partials.withLock { table -> (PartialContent, PartialContent?) in
            if let raced = table[id] { return (raced, made) }
            table[id] = made
            return (made, nil)
        }
        if let lost { cache.discard(lost) }
        return kept
    }

    /// Fetches what a read of `count` bytes at `offset` needs of a file served from a
    /// ``PartialContent``, checking that the service still holds that content (close-to-open:
    /// a handle reads the version it opened, so a file replaced since cannot be finished from
    /// its new bytes: `ESTALE`, as NFS answers). The last block makes it a cache entry.
    func fill(_ file: OpenFile, offset: UInt64, count: Int) throws(Errno) {
        guard let partial = file.partial, file.state.withLock({ $0.scratch == nil }) else { return }
        let path = file.path
        let completed = try partial.ensure(offset: offset, count: count) { (start, length) throws(Errno) -> [UInt8] in
            let read = Result { () throws(Errno) -> [UInt8] in
                try call("read", path) { () throws(AFSError) in try service.readFile(session, path: path, offset: start, length: length) }
            }
            // Asked after the read, whether it worked or not: a file removed or replaced since the
            // open fails its read (or returns other bytes) and is stale either way.
            let current = try? call("stat", path) { () throws(AFSError) in try service.stat(session, path: path) }
            guard let current, current.contentID == partial.id else {
                log("\(path) was replaced or removed at the service while the version opened here was being read; that handle can read no further (ESTALE)")
                throw Errno(ESTALE)
            }
            let bytes = try read.get()
            metrics.add(downloaded: UInt64(bytes.count))
            return bytes
        }
        guard completed else { return }
        partials.withLock { table in if table[partial.id] === partial { table[partial.id] = nil } }
        do { try cache.adopt(partial) } catch { log("content \(partial.id) of \(path) was not kept in the cache: \(error.message)") }
    }

    public func write(_ handle: UInt64, offset: UInt64, bytes: [UInt8]) throws(Errno) -> Int {
        guard let file = openFile(handle: handle) else { throw Errno.badDescriptor }
        try ensureScratch(file, truncating: false)
        let written = try file.write(offset: offset, bytes: bytes)
        metrics.add(written: written)
        return written
    }

    /// `close()` (FUSE sends a flush for every close of a descriptor): publishes what was written
    /// through any handle of the file. With write-back the publication is queued and this returns
    /// at once; synchronously it returns once the service has the bytes durably.
    public func flush(_ handle: UInt64) throws(Errno) {
        guard let file = openFile(handle: handle) else { throw Errno.badDescriptor }
        if deferPublication(of: file) {
            queuePublication(file)
            return
        }
        try publishNow(file)
    }

    /// Whether `file`'s publication may wait in the queue: with write-back, unless the file has
    /// other names (the kernel knows each as its own node, so a write through one shows through
    /// the others only once the service has it and the mount has dropped their copies).
    func deferPublication(of file: OpenFile) -> Bool {
        writeBack.policy == .writeBack && file.state.withLock { ($0.remote?.nlink ?? 1) <= 1 }
    }

    /// Publishes `file` in the caller's thread, after any queued change it depends on (its
    /// directory's creation, an earlier publication).
    func publishNow(_ file: OpenFile) throws(Errno) {
        try writeBack.perform([file.path]) { () throws(Errno) in
            try file.transfer.withLock { _ throws(Errno) in try uploadLocked(file) }
        }
    }

    /// Queues a publication of `file` unless one is queued already or nothing needs one. The file
    /// stays in the open-file table (readable, listed, with its size) until it has run.
    func queuePublication(_ file: OpenFile) {
        let needed = file.state.withLock { s -> Bool in
            guard s.dirty, !s.unlinked, !s.queued else { return false }
            s.queued = true
            return true
        }
        guard needed else { return }
        // A file this mount created lingers a little before it is sent: lock and temporary files
        // are often removed within milliseconds, and then never cost the service anything.
        let new = file.state.withLock { $0.remote == nil }
        do throws(Errno) {
            let sent = SentPublication()
            let batchable = WriteBack.Batchable(
                prepare: { [self] in preparePublication(file, sent) },
                finish: { [self] result in finishPublication(file, sent, result) })
            try writeBack.submit(
                file.path, operation: "publish", pending: nil, linger: new ? WriteBack.newFileLinger : nil, batchable: batchable
            ) { [self] () throws(Errno) in
                file.state.withLock { $0.queued = false }
                defer { retireIfIdle(file) }
                let published = try file.transfer.withLock { _ throws(Errno) in try uploadLocked(file, announced: true) }
                // The kernel still holds what `stat` showed before (the change time was the
                // scratch copy's). Not on a FUSE thread and holding no lock: safe to drop here.
                if let published { kernel.invalidate(published) }
            }
        } catch {
            // Only a synchronous write-back runs the change here; its failure stays in the log
            // and the file stays dirty, published by the next flush, fsync or sync.
            file.state.withLock { $0.queued = false }
        }
    }

    /// What a batched publication sent, for its outcome.
    final class SentPublication: Sendable {
        struct Sent {
            var path = ""
            var mtime: Int64?
            var explicitMtime: Int64?
            var size: UInt64 = 0
        }
        let value = Locked(Sent())
    }

    /// Files this small travel in batches; larger ones go alone (chunked over HTTP).
    static let batchedFileLimit: UInt64 = 256 << 10

    /// A publication as one change of a batch: a new file the mounting user created, small
    /// enough, not linked; anything else goes alone (its own upload keeps owners, xattrs and
    /// chunked transfer). The file is marked `publishing` until the outcome arrives: a removal
    /// meanwhile knows the service may have it.
    func preparePublication(_ file: OpenFile, _ sent: SentPublication) -> WriteBack.Batchable.Prepared {
        enum Decision {
            case nothing, alone
            case send(path: String, mode: UInt32, mtime: Int64, ctime: Int64, explicit: Int64?, scratch: Int32, size: UInt64)
        }
        let decision = file.state.withLock { s -> Decision in
            s.queued = false
            guard s.dirty, !s.unlinked, let scratch = s.scratch else { return .nothing }
            guard s.remote == nil, s.creator == nil, s.pendingAtime == nil else { return .alone }
            var st = Glibc.stat()
            guard fstat(scratch, &st) == 0, UInt64(st.st_size) <= SessionFilesystem.batchedFileLimit else { return .alone }
            s.dirty = false
            s.publishing = true
            let written = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            // The change time `stat` showed (``OpenFile/attributes()``: the scratch copy's last
            // write), so the file's times stay what programs saw when the publication lands later
            // (pjdfstest's "ctime unchanged" checks, git's index).
            return .send(
                path: s.path, mode: s.mode, mtime: s.pendingMtime ?? written, ctime: written, explicit: s.pendingMtime, scratch: scratch,
                size: UInt64(st.st_size))
        }
        switch decision {
        case .nothing:
            // Removed before it was sent (a lock file): its descriptors go now, since no later
            // release will look at it (it left the open-file table with its name).
            retireIfIdle(file)
            return .nothing
        case .alone: return .alone
        case .send(let path, let mode, let mtime, let ctime, let explicit, let scratch, let size):
            var bytes = [UInt8](repeating: 0, count: Int(size))
            let n = bytes.withUnsafeMutableBytes { Glibc.pread(scratch, $0.baseAddress, $0.count, 0) }
            guard n == Int(size) else {
                // Changed under us (truncated meanwhile): publish it alone, as it is then.
                file.state.withLock { s in
                    s.publishing = false
                    s.dirty = true
                }
                return .alone
            }
            sent.value.withLock { $0 = SentPublication.Sent(path: path, mtime: mtime, explicitMtime: explicit, size: size) }
            follower.expect(path, .write)
            return .change(.write(path, data: bytes, mode: mode, mtime: mtime, ctime: ctime))
        }
    }

    /// The outcome of a batched publication: the file's attributes are the service's now (the
    /// caches settled in place, the kernel's copy dropped), or it is dirty again and stays here.
    func finishPublication(_ file: OpenFile, _ sent: SentPublication, _ result: Result<BatchOutcome, Errno>) -> Errno? {
        let what = sent.value.withLock { $0 }
        var refusal: Errno?
        switch result {
        case .success(let outcome):
            if let error = outcome.error { refusal = Errno(error, wrongKind: .isDirectory) }
        case .failure(let error):
            refusal = error
        }
        if let refusal {
            follower.unexpect(what.path, .write)
            file.state.withLock { s in
                s.publishing = false
                s.dirty = true
            }
            return refusal
        }
        let attributes = (try? result.get())?.stat.map(FileAttributes.init)
        file.state.withLock { s in
            s.publishing = false
            s.remote = attributes ?? FileAttributes(kind: .file, mode: s.mode, size: what.size, mtime: what.mtime ?? OpenFile.now())
            if s.pendingMtime == what.explicitMtime { s.pendingMtime = nil }
        }
        metrics.add(uploaded: what.size)
        if let attributes { metadata.settle(what.path, to: attributes) } else { metadata.invalidate(what.path) }
        kernel.invalidate(what.path)
        retireIfIdle(file)
        return nil
    }

    /// Queues a mode or time change of a directory: shown at once (`shown`), sent after every
    /// queued change below it, in a batch when it can (`change`), else by `body`.
    func queueDirectoryChange(
        _ path: String, _ shown: FileAttributes, _ change: BatchChange, event: ChangeEvent.Kind, _ body: @escaping @Sendable () throws(Errno) -> Void
    ) throws(Errno) {
        // A directory still being created stays one (its children are all queued or open).
        let pending: WriteBack.Pending = if case .directory? = writeBack.lookup(path) { .directory(shown) } else { .changed(shown) }
        let batchable = announcedBatchable(path, event, change) { [self] outcome in
            metadata.settle(path, to: outcome?.stat.map(FileAttributes.init) ?? shown)
            // The kernel holds what was shown; the service's times may differ.
            kernel.invalidateSoon(path)
        }
        try writeBack.submit(path, operation: change.op.rawValue, pending: pending, batchable: batchable) { [self] () throws(Errno) in
            try body()
            metadata.invalidate(path)
            kernel.invalidateSoon(path)
        }
        metadata.forget(path)
    }

    /// A removal as one change of a batch.
    func removalBatchable(_ path: String) -> WriteBack.Batchable {
        // Already gone (another client's removal raced it) is what was asked for.
        announcedBatchable(path, .delete, .remove(path), absentIsDone: true) { [self] _ in metadata.settle(path, to: nil) }
    }

    /// A batched change whose changefeed event the mount announces (``ChangeFollower/expect(_:_:)``)
    /// before it is sent: `landed` updates the caches with the outcome (nil: an absent path that
    /// counts as done); a refusal takes the announcement back and drops what the mount showed.
    func announcedBatchable(
        _ path: String, _ event: ChangeEvent.Kind, _ change: BatchChange, absentIsDone: Bool = false,
        landed: @escaping @Sendable (BatchOutcome?) -> Void
    ) -> WriteBack.Batchable {
        WriteBack.Batchable(
            prepare: { [self] in
                follower.expect(path, event)
                return .change(change)
            },
            finish: { [self] result in
                let error: Errno?
                switch result {
                case .success(let outcome): error = outcome.error.map { Errno($0) }
                case .failure(let e): error = e
                }
                guard let error else {
                    landed(try? result.get())
                    return nil
                }
                follower.unexpect(path, event)
                if absentIsDone, error == .notFound {
                    landed(nil)
                    return nil
                }
                metadata.invalidate(path)
                return error
            })
    }

    /// Drops `file` from the open-file table and closes its descriptors once nothing needs it:
    /// no handle, no queued publication, nothing unpublished (a file whose publication failed
    /// stays, readable here, and is published again by the next sync or unmount).
    func retireIfIdle(_ file: OpenFile) {
        file.transfer.withLock { _ in
            let retired = files.withLock { t -> Bool in
                let idle = file.state.withLock { s -> Bool in
                    guard s.handles == 0, !s.queued, !s.publishing, !s.dropped, !s.dirty || s.unlinked else { return false }
                    s.dropped = true
                    return true
                }
                guard idle else { return false }
                let path = file.path
                if t.byPath[path] === file { t.byPath[path] = nil }
                return true
            }
            if retired {
                keepPublishedContent(of: file)
                file.closeDescriptors(recycling: scratch)
            }
        }
    }

    /// A small file published from here enters the content cache from its scratch copy as it
    /// is retired: a later read (the linker reading an object file, a file held open past its
    /// removal) finds it local instead of fetching back bytes this machine wrote. Only bytes that
    /// hash to the ID the service gave are admitted (``ContentCache``), so a write racing this
    /// copy costs the entry, never its correctness.
    func keepPublishedContent(of file: OpenFile) {
        let published = file.state.withLock { s -> (String, UInt64, Int32)? in
            guard !s.dirty, !s.unlinked, let scratch = s.scratch, let remote = s.remote, let id = remote.contentID else { return nil }
            return (id, remote.size, scratch)
        }
        guard let (id, size, scratch) = published, size <= Self.partialFetchThreshold, !cache.contains(id) else { return }
        do throws(AFSError) {
            _ = try cache.fill(id, size: size) { (fd) throws(AFSError) in
                if case .failure(let error) = SessionFilesystem.copy(from: scratch, to: fd) {
                    throw AFSError(.io, "copying the published scratch copy: \(error)")
                }
            }
        } catch {
            log("\(file.path): its published content was not kept in the cache: \(error.message)")
        }
    }

    /// Uploads the scratch copy if it changed; returns the path published, if any. The caller
    /// holds `file.transfer`. `announced`: the changefeed event of this write is expected (a
    /// write-back worker updates the kernel's caches itself), so the follower skips it.
    @discardableResult
    func uploadLocked(_ file: OpenFile, announced: Bool = false) throws(Errno) -> String? {
        let snapshot = file.state.withLock { s -> (String, UInt32, Int64?, Int32, MutationContext)? in
            guard s.dirty, !s.unlinked, let scratch = s.scratch else { return nil }
            s.dirty = false
            s.publishing = true
            // The first upload creates the file: with its creator as owner.
            let owner = s.remote == nil ? s.creator.map { $0.context(context) } : nil
            return (s.path, s.mode, s.pendingMtime, scratch, owner ?? context)
        }
        guard let (path, mode, explicitMtime, scratch, uploadContext) = snapshot else { return nil }
        // A second open file description: its own offset, so uploads never disturb other readers.
        // Whatever happens, the file's attributes come from `remote` again afterwards.
        defer { file.state.withLock { $0.publishing = false } }
        let source = Glibc.open("/proc/self/fd/\(scratch)", O_RDONLY | O_CLOEXEC)
        guard source >= 0 else {
            file.state.withLock { $0.dirty = true }
            throw Errno(errno)
        }
        defer { close(source) }
        var size = Glibc.stat()
        let statted = fstat(source, &size) == 0
        let bytes = statted ? UInt64(size.st_size) : 0
        // The time `stat` showed while the bytes were here is the time they keep: a build that
        // compared it with its sources' (make) sees no jump when the file is published. So is
        // the change time it showed (``OpenFile/attributes()``), as a batched write keeps it.
        let written = statted ? Int64(size.st_mtim.tv_sec) * 1_000_000_000 + Int64(size.st_mtim.tv_nsec) : nil
        let mtime = explicitMtime ?? written
        // A chunked upload sends only the chunks the server lacks; count what travelled.
        let chunks = (service as? RemoteStore)?.chunkStatistics
        let reusedBefore = chunks?.bytesReused ?? 0
        if announced { follower.expect(path, .write) }
        do throws(Errno) {
            try call("write", path, wrongKind: .isDirectory) { () throws(AFSError) in
                try service.writeFile(session, path: path, from: source, mode: mode, mtime: mtime, ctime: written, context: uploadContext)
            }
        } catch {
            if announced { follower.unexpect(path, .write) }
            file.state.withLock { $0.dirty = true }
            throw error
        }
        let reused = UInt64(max(0, (chunks?.bytesReused ?? 0) - reusedBefore))
        metrics.add(uploaded: bytes - min(bytes, reused))
        // Published with the content (unless a write came since and cleared it already).
        let atime = file.state.withLock { s -> Int64? in
            if s.pendingMtime == explicitMtime { s.pendingMtime = nil }
            return s.pendingAtime
        }
        // An access time set while the file waited: the write does not carry one.
        if let atime {
            do throws(Errno) {
                try call("utimens", path) { () throws(AFSError) in
                    try service.setTimes(session, path: path, mtime: nil, atime: atime, context: context)
                }
                file.state.withLock { s in if s.pendingAtime == atime { s.pendingAtime = nil } }
            } catch {
                log("\(path): the access time set before it was published was not kept: \(error)")
            }
        }
        if let remote = refreshRemote(file) {
            metadata.settle(path, to: remote)
        } else {
            metadata.invalidate(path)
            // Published: whatever its attributes, the file is at the service now.
            file.state.withLock { s in if s.remote == nil { s.remote = FileAttributes(kind: .file, mode: s.mode, size: bytes, mtime: mtime ?? OpenFile.now()) } }
        }
        if let remote = file.state.withLock({ $0.remote }), (remote.nlink ?? 1) > 1 { invalidateOtherNames(of: path) }
        return path
    }

    /// Returns once the file's writes, through any handle, are durable at the service.
    public func fsync(_ handle: UInt64) throws(Errno) {
        guard let file = openFile(handle: handle) else { throw Errno.badDescriptor }
        try publishNow(file)
    }

    /// Drops a handle. Pending writes are published (queued, with write-back); the file's
    /// descriptors close once nothing needs them.
    public func release(_ handle: UInt64) throws(Errno) {
        guard let file = files.withLock({ $0.byHandle.removeValue(forKey: handle) }) else { throw Errno.badDescriptor }
        var failure: Errno?
        if deferPublication(of: file) {
            queuePublication(file)
        } else {
            do throws(Errno) {
                try publishNow(file)
            } catch {
                log("release of \(file.path) could not upload: \(error)")
                failure = error
            }
        }
        let remaining = files.withLock { _ in file.state.withLock { s -> Int in
            s.handles -= 1
            return s.handles
        } }
        if remaining == 0 { retireIfIdle(file) }
        if let failure { throw failure }
    }

    /// Sends everything pending (open files' writes, the write-back queue) and stops the
    /// write-back workers: the mount's last act before it goes away.
    public func flushAll() {
        readahead.stop()
        warmer.stop()
        idleHandles.stop()
        for (path, error) in publishAll() {
            log("unmount could not upload \(path): \(error)")
        }
        for failure in writeBack.stop() {
            log("unmount: \(failure.operation) \(failure.path) failed: \(failure.error)")
        }
        accessTimes.flush()
        // Partly fetched contents are not entries; open handles keep their own descriptors.
        for partial in partials.withLock({ table in defer { table = [:] }; return Array(table.values) }) { cache.discard(partial) }
    }

    /// Publishes every write acknowledged so far (what each file's flush does, for every file
    /// open or waiting to be published), waits for the write-back queue, and returns what could
    /// not reach the service: files that could not be published now, and queued changes the
    /// service refused since the last call. When it returns with no failures, the service holds
    /// every change a call returned for before: what a live checkpoint and `aether sync` need.
    /// Changes arriving meanwhile may or may not be included.
    public func publishAll() -> [(path: String, error: Errno)] {
        let open = files.withLock { t in
            Dictionary((Array(t.byHandle.values) + Array(t.byPath.values)).map { (ObjectIdentifier($0), $0) }, uniquingKeysWith: { a, _ in a }).values
        }
        var failures: [(path: String, error: Errno)] = []
        for file in open {
            do throws(Errno) {
                try publishNow(file)
            } catch {
                failures.append((file.path, error))
            }
        }
        failures += writeBack.drain().map { ($0.operation == "publish" ? $0.path : "\($0.operation) \($0.path)", $0.error) }
        for file in open { retireIfIdle(file) }
        return failures
    }

    /// Changes acknowledged and not yet at the service, sent so far, and refused so far.
    public var writeBackCounts: (queued: Int, sent: UInt64, failed: Int) { writeBack.counts }

    /// Paths of files open through the mount with writes not yet at the service (nor in its
    /// changefeed). A scratch copy alone says nothing: a file published and read since keeps it.
    var writablePaths: [String] {
        let open = files.withLock { t in
            t.byPath.compactMap { path, file in file.state.withLock { $0.holdsUnpublishedWrites } ? path : nil }
        }
        // Queued removals and directories: acknowledged, not yet in the changefeed.
        return open + writeBack.pendingPaths
    }

    /// Files open through the mount (distinct paths).
    public var openFileCount: Int {
        files.withLock { $0.byPath.count }
    }
}
