import AFSClient
import AFSCore
import Foundation
import Synchronization

/// One session seen as a POSIX file system: what the FUSE callbacks do, without FUSE.
///
/// Every operation takes and returns Swift values and throws ``Errno``, so the logic is tested
/// directly, in process, and ``FUSEBridge`` only converts C arguments. Metadata comes from the
/// service through ``MetadataCache``; file contents through ``ContentCache`` (fetched whole at the
/// first open, then local); writes go to a scratch copy per open file (``OpenFile``) and reach the
/// service as one atomic whole-file write on flush, fsync and release. Consistency is
/// close-to-open, as with NFS: an open asks the service for the file's current content identity,
/// and a close publishes what was written.
///
/// Thread-safe: FUSE calls in from many threads. The service is (both transports are `Sendable`),
/// the caches lock themselves, and the open-file table is behind a `Mutex`.
public final class SessionFilesystem: Sendable {
    public let session: String
    let service: any AetherService & Sendable
    let cache: ContentCache
    let metadata: MetadataCache
    let context: MutationContext
    /// Where scratch copies are created (as unnamed `O_TMPFILE` files: a crash leaves nothing).
    let scratchDirectory: String
    /// Invalidates cached metadata from the session's changefeed while the mount runs.
    let follower: ChangeFollower
    /// The kernel's caches of this mount, dropped path by path as changes arrive.
    let kernel = KernelCache()
    /// The session root: always a directory, and not something every transport can `stat`.
    let rootAttributes: FileAttributes
    /// Calls, latencies, bytes and cache lookups, for `aether metrics show` and Prometheus.
    public let metrics: MountMetrics
    /// When an open for reading moves a file's access time.
    public let accessTimePolicy: AccessTimePolicy
    /// Access times owed to the service, sent in batches.
    let accessTimes: AccessTimeRecorder
    /// Changes acknowledged to programs and on their way to the service, in order.
    let writeBack: WriteBack
    private let log: @Sendable (String) -> Void
    private let files = Mutex(FileTable())

    private struct FileTable {
        var byPath: [String: OpenFile] = [:]
        var byHandle: [UInt64: OpenFile] = [:]
        /// Open directories: readdir arrives with a handle and no path (`nullpath_ok`).
        var directories: [UInt64: String] = [:]
        var nextHandle: UInt64 = 1
    }

    /// Checks that `session` exists and prepares the scratch directory.
    /// - Parameters:
    ///   - attributeTTL: how long metadata is trusted without asking the service again; changes
    ///     made through this mount are seen at once whatever the TTL.
    ///   - writePolicy: whether `close`, `unlink`, `mkdir` and `rmdir` wait for the service
    ///     (``WritePolicy``); ``flushAll()`` sends what is queued and stops the workers.
    ///   - log: receives one line per service failure (the kernel only sees an errno).
    public init(
        service: any AetherService & Sendable, session: String, cache: ContentCache, context: MutationContext,
        attributeTTL: Duration = .seconds(1), accessTimePolicy: AccessTimePolicy = .relatime, writePolicy: WritePolicy = .synchronous,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(AFSError) {
        let info = try service.session(session)
        rootAttributes = FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: Int64(info.createdAt.timeIntervalSince1970 * 1e9))
        self.service = service
        self.session = session
        metrics = MountMetrics(session: session)
        self.cache = cache
        self.context = context
        self.log = log
        self.accessTimePolicy = accessTimePolicy
        accessTimes = AccessTimeRecorder(service: service, session: session, log: log)
        writeBack = WriteBack(policy: writePolicy, send: { [service, context] (changes) throws(Errno) -> [BatchOutcome] in
            do throws(AFSError) {
                return try service.apply(session, changes, context: context)
            } catch {
                log("write-back batch of \(changes.count) change(s): \(error.message)")
                throw Errno(error)
            }
        }, log: log)
        metadata = MetadataCache(ttl: attributeTTL)
        follower = ChangeFollower(service: service, session: session, metadata: metadata, kernel: kernel, log: log)
        scratchDirectory = cache.configuration.directory + "/scratch"
        do {
            try FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
        } catch {
            throw AFSError(.io, "cannot create the scratch directory \(scratchDirectory): \(error)")
        }
        writeBack.start()
    }

    /// Starts following the changefeed (writes made through the API appear without waiting for
    /// the metadata TTL). Without it the mount still converges, one TTL later.
    public func startFollowingChanges() throws(AFSError) {
        try follower.start()
    }

    public func stopFollowingChanges() {
        follower.stop()
    }

    /// Writes a line to the mount's log.
    func note(_ line: String) {
        log(line)
    }

    /// Runs a service call, turning its error into the errno a tool expects (and logging why).
    func call<T>(_ what: String, _ path: String, wrongKind: Errno = .notDirectory, _ body: () throws(AFSError) -> T) throws(Errno) -> T {
        do {
            return try body()
        } catch {
            let mapped = Errno(error, wrongKind: wrongKind)
            if mapped != .notFound { log("\(what) \(path): \(error.message) → \(mapped)") }
            throw mapped
        }
    }

    // MARK: Open-file table

    func openFile(handle: UInt64) -> OpenFile? {
        files.withLock { $0.byHandle[handle] }
    }

    func openFile(at path: String) -> OpenFile? {
        files.withLock { $0.byPath[path] }
    }

    /// Registers a new handle on `file`, or on the one another thread registered for the same path
    /// meanwhile (a `fresh` loser's descriptors are closed): one shared object per path. Nil when
    /// `file` was dropped (its last handle released) after the caller found it in the table: the
    /// caller loads the path again instead of reviving closed descriptors.
    private func register(_ file: OpenFile, at path: String, fresh: Bool = true) -> (UInt64, OpenFile)? {
        let registered = files.withLock { t -> (UInt64, OpenFile)? in
            let winner = t.byPath[path] ?? file
            if winner.state.withLock({ $0.dropped }) { return nil }
            t.byPath[path] = winner
            let handle = t.nextHandle
            t.nextHandle += 1
            t.byHandle[handle] = winner
            winner.state.withLock { $0.handles += 1 }
            return (handle, winner)
        }
        guard let (handle, winner) = registered else { return nil }
        // Only a file loaded for this open is ours to close; one found in the table belongs to
        // whoever holds it (renamed away meanwhile, say).
        if winner !== file, fresh { file.closeDescriptors() }
        return (handle, winner)
    }

    /// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), a composite macro Swift does not import.
    static let temporaryFileFlag: Int32 = 0o20000000 | O_DIRECTORY

    /// An unnamed scratch file next to the cache (same file system: copies stay local).
    private func makeScratch() throws(Errno) -> Int32 {
        let fd = Glibc.open(scratchDirectory, SessionFilesystem.temporaryFileFlag | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let err = errno
            log("cannot create a scratch file in \(scratchDirectory): \(String(cString: strerror(err)))")
            throw Errno(err)
        }
        return fd
    }

    /// Gives `file` a writable scratch copy (a copy of its content unless `truncating`).
    func ensureScratch(_ file: OpenFile, truncating: Bool) throws(Errno) {
        if file.state.withLock({ $0.scratch != nil }) {
            if truncating { try file.truncate(to: 0) }
            return
        }
        let scratch = try makeScratch()
        let result: Result<Void, Errno> = file.state.withLock { s in
            if s.scratch != nil {
                close(scratch)
                return .success(())
            }
            if !truncating, s.readDescriptor >= 0 {
                if case .failure(let e) = SessionFilesystem.copy(from: s.readDescriptor, to: scratch) {
                    close(scratch)
                    return .failure(e)
                }
            }
            if s.readDescriptor >= 0 { s.retired.append(s.readDescriptor) }
            s.readDescriptor = scratch
            s.scratch = scratch
            if truncating {
                s.dirty = true
                s.pendingMtime = nil
            }
            return .success(())
        }
        try result.get()
    }

    private static func copy(from source: Int32, to destination: Int32) -> Result<Void, Errno> {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress!, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(errno))
            }
            if n == 0 { return .success(()) }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { pwrite(destination, $0.baseAddress! + done, n - done, offset + off_t(done)) }
                if w < 0 {
                    if errno == EINTR { continue }
                    return .failure(Errno(errno))
                }
                done += w
            }
            offset += off_t(n)
        }
    }

    // MARK: Attributes

    /// Attributes of an open handle (`fi` given) or a path: open files first (their unsaved size
    /// counts), then the cache, then the service.
    public func attributes(path: String?, handle: UInt64? = nil) throws(Errno) -> FileAttributes {
        var found = try storedAttributes(path: path, handle: handle)
        // An access time this mount recorded and has not sent yet is newer than the service's.
        if accessTimePolicy != .noatime, let p = path ?? handle.flatMap({ openFile(handle: $0)?.path }), let pending = accessTimes.pending(p),
            pending > (found.atime ?? found.mtime)
        {
            found.atime = pending
        }
        return found
    }

    private func storedAttributes(path: String?, handle: UInt64?) throws(Errno) -> FileAttributes {
        if let handle, let file = openFile(handle: handle) { return file.attributes() }
        guard let path else { throw Errno.badDescriptor }
        if let file = openFile(at: path) { return file.attributes() }
        switch writeBack.lookup(path) {
        case .directory(let attributes)?, .changed(let attributes)?: return attributes
        case .absent?: throw Errno.notFound
        case nil: break
        }
        switch metadata.lookup(path) {
        case .found(let attributes): return attributes
        case .missing: throw Errno.notFound
        case .unknown: break
        }
        // One listing answers for every name in the directory: the first `git status` on a fresh
        // mount lstat()s every tracked file without reading the directories first, which was a
        // service call per file.
        if path != "/", metadata.listing(MountPath.parent(of: path)) == nil, (try? list(MountPath.parent(of: path))) != nil {
            switch metadata.lookup(path) {
            case .found(let attributes): return attributes
            case .missing: throw Errno.notFound
            case .unknown: break
            }
        }
        let generation = metadata.generation
        let attributes: FileAttributes
        do throws(Errno) {
            attributes = FileAttributes(try call("stat", path) { () throws(AFSError) in try service.stat(session, path: path) })
        } catch {
            // The root always exists; a transport that cannot stat it gets the fixed answer.
            if path == "/" { return rootAttributes }
            if error == .notFound { metadata.store(absent: path, asOf: generation) }
            throw error
        }
        metadata.store(path, attributes, asOf: generation)
        return attributes
    }

    /// The entries of a directory (without `.` and `..`), with attributes for readdirplus.
    public func list(_ path: String) throws(Errno) -> [(name: String, attributes: FileAttributes)] {
        var attempt = 0
        while true {
            attempt += 1
            let generation = metadata.generation
            // The open-file table and the queue first, the listing last: a change that lands
            // meanwhile is written into the listing before it leaves the table or the queue, so
            // whichever side it is on when looked at, it is seen (read the other way round, a
            // removal landing in between left its name in an `rmdir`'s listing: ENOTEMPTY).
            let open = files.withLock { t in t.byPath.filter { MountPath.parent(of: $0.key) == path && $0.key != path } }
            let queued = writeBack.children(of: path)
            var entries: [(name: String, attributes: FileAttributes)]
            let pending = writeBack.lookup(path)
            if case .absent? = pending { throw Errno.notFound }
            if case .directory? = pending {
                // Created here and not yet at the service: what it holds is all queued or open.
                entries = []
            } else if let cached = metadata.listing(path) {
                entries = cached
            } else {
                let listed = try call("list", path) { () throws(AFSError) in try service.list(session, path: path) }
                entries = listed.map { ($0.name, FileAttributes($0)) }
                metadata.store(listing: entries, of: path, asOf: generation)
            }
            // Queued removals and directories not yet at the service.
            if !queued.isEmpty {
                let changed = Dictionary(queued.map { ($0.name, $0.pending) }, uniquingKeysWith: { _, last in last })
                entries.removeAll { changed[$0.name] != nil }
                for (name, change) in changed {
                    switch change {
                    case .directory(let attributes), .changed(let attributes): entries.append((name, attributes))
                    case .absent: break
                    }
                }
            }
            // Files created here and not yet uploaded, and open files whose size moved on.
            var position: [String: Int] = [:]
            for (i, e) in entries.enumerated() { position[e.name] = i }
            for (p, file) in open.sorted(by: { $0.key < $1.key }) {
                let name = MountPath.name(of: p)
                if let i = position[name] { entries[i].attributes = file.attributes() } else { entries.append((name, file.attributes())) }
            }
            // A file published meanwhile invalidates first and then leaves the table (its last
            // release), so the overlay may have missed it while the listing predates its upload: a
            // stale size handed to the kernel (readdirplus) would shrink its view of the file.
            if metadata.generation == generation || attempt >= 3 { return entries }
        }
    }

    /// Opens a directory for reading; the handle remembers its path.
    public func openDirectory(_ path: String) throws(Errno) -> UInt64 {
        guard try attributes(path: path).kind == .directory else { throw Errno.notDirectory }
        return files.withLock { t in
            let handle = t.nextHandle
            t.nextHandle += 1
            t.directories[handle] = path
            return handle
        }
    }

    /// The path an open directory handle was opened on.
    public func directoryPath(_ handle: UInt64) throws(Errno) -> String {
        guard let path = files.withLock({ $0.directories[handle] }) else { throw Errno.badDescriptor }
        return path
    }

    public func releaseDirectory(_ handle: UInt64) {
        files.withLock { _ = $0.directories.removeValue(forKey: handle) }
    }

    /// A symbolic link's target.
    public func readLink(_ path: String) throws(Errno) -> String {
        let stat = try call("readlink", path) { () throws(AFSError) in try service.stat(session, path: path) }
        guard stat.kind == .symlink, let target = stat.target else { throw Errno.invalid }
        return target
    }

    /// Space figures for `statfs`: those of the disk holding the cache, where the mount's bytes live locally.
    public func usage() -> statvfs {
        var st = statvfs()
        if statvfs(cache.configuration.directory, &st) != 0 {
            st = statvfs()
            st.f_bsize = 4096
            st.f_frsize = 4096
        }
        st.f_namemax = UInt(SessionPath.maxNameBytes)
        return st
    }

    // MARK: Opening and closing

    /// Opens an existing file. The first open fetches its content into the cache (unless it is
    /// truncated right away); write access makes a scratch copy.
    public func open(_ path: String, flags: Int32) throws(Errno) -> UInt64 {
        let writable = flags & O_ACCMODE != O_RDONLY
        let truncating = writable && flags & O_TRUNC != 0
        var registered: (UInt64, OpenFile)?
        if let existing = openFile(at: path) { registered = register(existing, at: path, fresh: false) }
        if registered == nil { registered = register(try load(path, fetch: !truncating), at: path) }
        // A freshly loaded file is never dropped: register only declines files found earlier.
        guard let (handle, shared) = registered else { throw Errno.io }
        if flags & O_ACCMODE != O_WRONLY { noteAccess(shared) }
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
    private func load(_ path: String, fetch: Bool) throws(Errno) -> OpenFile {
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
            do {
                let fd = try cache.open(id, size: attributes.size) { (fd) throws(AFSError) in
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

    /// An open for reading: moves the file's access time when ``accessTimePolicy`` says so, in
    /// the open file and the metadata cache at once, and at the service with the next batch.
    /// (The kernel may serve reads from its page cache without asking the mount, so the open is
    /// the access the mount can see.)
    private func noteAccess(_ file: OpenFile) {
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
    public func create(_ path: String, mode: UInt32, flags: Int32, caller: Caller = .mounter) throws(Errno) -> UInt64 {
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
        let bytes = try file.read(offset: offset, count: count)
        metrics.add(read: bytes.count)
        return bytes
    }

    /// The descriptor a read of `count` bytes at `offset` comes from, for libfuse to read itself
    /// (no copy through this process). Counts the bytes the read will return.
    func readDescriptor(_ handle: UInt64, offset: UInt64, count: Int) throws(Errno) -> Int32 {
        guard let file = openFile(handle: handle) else { throw Errno.badDescriptor }
        let fd = file.state.withLock { $0.readDescriptor }
        guard fd >= 0 else { throw Errno.badDescriptor }
        var st = Glibc.stat()
        if fstat(fd, &st) == 0, UInt64(st.st_size) > offset {
            metrics.add(read: min(count, Int(UInt64(st.st_size) - offset)))
        }
        return fd
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
    private func deferPublication(of file: OpenFile) -> Bool {
        writeBack.policy == .writeBack && file.state.withLock { ($0.remote?.nlink ?? 1) <= 1 }
    }

    /// Publishes `file` in the caller's thread, after any queued change it depends on (its
    /// directory's creation, an earlier publication).
    private func publishNow(_ file: OpenFile) throws(Errno) {
        try writeBack.perform([file.path]) { () throws(Errno) in
            try file.transfer.withLock { _ throws(Errno) in try uploadLocked(file) }
        }
    }

    /// Queues a publication of `file` unless one is queued already or nothing needs one. The file
    /// stays in the open-file table (readable, listed, with its size) until it has run.
    private func queuePublication(_ file: OpenFile) {
        let needed = file.state.withLock { s -> Bool in
            guard s.dirty, !s.unlinked, !s.queued else { return false }
            s.queued = true
            return true
        }
        guard needed else { return }
        do throws(Errno) {
            let sent = SentPublication()
            let batchable = WriteBack.Batchable(
                prepare: { [self] in preparePublication(file, sent) },
                finish: { [self] result in finishPublication(file, sent, result) })
            try writeBack.submit(file.path, operation: "publish", pending: nil, batchable: batchable) { [self] () throws(Errno) in
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
        let value = Mutex(Sent())
    }

    /// Files this small travel in batches; larger ones go alone (chunked over HTTP).
    static let batchedFileLimit: UInt64 = 256 << 10

    /// A publication as one change of a batch: a new file the mounting user created, small
    /// enough, not linked; anything else goes alone (its own upload keeps owners, xattrs and
    /// chunked transfer). The file is marked `publishing` until the outcome arrives: a removal
    /// meanwhile knows the service may have it.
    private func preparePublication(_ file: OpenFile, _ sent: SentPublication) -> WriteBack.Batchable.Prepared {
        enum Decision {
            case nothing, alone
            case send(path: String, mode: UInt32, mtime: Int64, explicit: Int64?, scratch: Int32, size: UInt64)
        }
        let decision = file.state.withLock { s -> Decision in
            s.queued = false
            guard s.dirty, !s.unlinked, let scratch = s.scratch else { return .nothing }
            guard s.remote == nil, s.creator == nil else { return .alone }
            var st = Glibc.stat()
            guard fstat(scratch, &st) == 0, UInt64(st.st_size) <= SessionFilesystem.batchedFileLimit else { return .alone }
            s.dirty = false
            s.publishing = true
            let written = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            return .send(path: s.path, mode: s.mode, mtime: s.pendingMtime ?? written, explicit: s.pendingMtime, scratch: scratch, size: UInt64(st.st_size))
        }
        switch decision {
        case .nothing: return .nothing
        case .alone: return .alone
        case .send(let path, let mode, let mtime, let explicit, let scratch, let size):
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
            return .change(.write(path, data: bytes, mode: mode, mtime: mtime))
        }
    }

    /// The outcome of a batched publication: the file's attributes are the service's now (the
    /// caches settled in place, the kernel's copy dropped), or it is dirty again and stays here.
    private func finishPublication(_ file: OpenFile, _ sent: SentPublication, _ result: Result<BatchOutcome, Errno>) -> Errno? {
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
    private func queueDirectoryChange(
        _ path: String, _ shown: FileAttributes, _ change: BatchChange, event: ChangeEvent.Kind, _ body: @escaping @Sendable () throws(Errno) -> Void
    ) throws(Errno) {
        // A directory still being created stays one (its children are all queued or open).
        let pending: WriteBack.Pending = if case .directory? = writeBack.lookup(path) { .directory(shown) } else { .changed(shown) }
        let batchable = announcedBatchable(path, event, change) { [self] outcome in
            metadata.settle(path, to: outcome?.stat.map(FileAttributes.init) ?? shown)
        }
        try writeBack.submit(path, operation: change.op.rawValue, pending: pending, batchable: batchable) { [self] () throws(Errno) in
            try body()
            metadata.invalidate(path)
        }
        metadata.forget(path)
    }

    /// A removal as one change of a batch.
    private func removalBatchable(_ path: String) -> WriteBack.Batchable {
        // Already gone (another client's removal raced it) is what was asked for.
        announcedBatchable(path, .delete, .remove(path), absentIsDone: true) { [self] _ in metadata.settle(path, to: nil) }
    }

    /// A batched change whose changefeed event the mount announces (``ChangeFollower/expect(_:_:)``)
    /// before it is sent: `landed` updates the caches with the outcome (nil: an absent path that
    /// counts as done); a refusal takes the announcement back and drops what the mount showed.
    private func announcedBatchable(
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
    private func retireIfIdle(_ file: OpenFile) {
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
            if retired { file.closeDescriptors() }
        }
    }

    /// Uploads the scratch copy if it changed; returns the path published, if any. The caller
    /// holds `file.transfer`. `announced`: the changefeed event of this write is expected (a
    /// write-back worker updates the kernel's caches itself), so the follower skips it.
    @discardableResult
    private func uploadLocked(_ file: OpenFile, announced: Bool = false) throws(Errno) -> String? {
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
        // compared it with its sources' (make) sees no jump when the file is published.
        let mtime = explicitMtime ?? (statted ? Int64(size.st_mtim.tv_sec) * 1_000_000_000 + Int64(size.st_mtim.tv_nsec) : nil)
        // A chunked upload sends only the chunks the server lacks; count what travelled.
        let chunks = (service as? RemoteStore)?.chunkStatistics
        let reusedBefore = chunks?.bytesReused ?? 0
        if announced { follower.expect(path, .write) }
        do throws(Errno) {
            try call("write", path, wrongKind: .isDirectory) { () throws(AFSError) in
                try service.writeFile(session, path: path, from: source, mode: mode, mtime: mtime, context: uploadContext)
            }
        } catch {
            if announced { follower.unexpect(path, .write) }
            file.state.withLock { $0.dirty = true }
            throw error
        }
        let reused = UInt64(max(0, (chunks?.bytesReused ?? 0) - reusedBefore))
        metrics.add(uploaded: bytes - min(bytes, reused))
        // Published with the content (unless a write came since and cleared it already).
        file.state.withLock { if $0.pendingMtime == explicitMtime { $0.pendingMtime = nil } }
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
        for (path, error) in publishAll() {
            log("unmount could not upload \(path): \(error)")
        }
        for failure in writeBack.stop() {
            log("unmount: \(failure.operation) \(failure.path) failed: \(failure.error)")
        }
        accessTimes.flush()
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

    /// Paths of files open for writing through the mount: their bytes may not have reached the
    /// service (nor its changefeed) yet.
    var writablePaths: [String] {
        let open = files.withLock { t in t.byPath.compactMap { path, file in file.state.withLock { $0.scratch != nil } ? path : nil } }
        // Queued removals and directories: acknowledged, not yet in the changefeed.
        return open + writeBack.pendingPaths
    }

    /// Files open through the mount (distinct paths).
    public var openFileCount: Int {
        files.withLock { $0.byPath.count }
    }

    // MARK: Changing attributes

    /// Sets a file's size: through its handle (ftruncate: published at the handle's flush), or by
    /// path (truncate: published before returning).
    public func truncate(path: String?, handle: UInt64?, size: UInt64) throws(Errno) {
        if let handle, let file = openFile(handle: handle) {
            try ensureScratch(file, truncating: size == 0)
            try file.truncate(to: size)
            return
        }
        guard let path else { throw Errno.badDescriptor }
        let h = try open(path, flags: size == 0 ? O_RDWR | O_TRUNC : O_RDWR)
        do throws(Errno) {
            if size > 0, let file = openFile(handle: h) { try file.truncate(to: size) }
            try flush(h)
        } catch {
            try? release(h)
            throw error
        }
        try release(h)
    }

    /// Changes permission bits of a file or directory.
    ///
    /// A path nobody holds open changes at the service in one metadata call (no content moves).
    /// An open file takes the mode at once (this mount's `stat` shows it); if it has unpublished
    /// writes, the mode travels with them when they are published (close, flush, fsync), in the
    /// same service call, as the bytes do; otherwise one metadata call sets it.
    public func chmod(path: String?, handle: UInt64?, mode: UInt32) throws(Errno) {
        let bits = mode & 0o7777
        if let file = handle.flatMap({ openFile(handle: $0) }) ?? path.flatMap({ openFile(at: $0) }) {
            let local = file.state.withLock { $0.dirty || $0.unlinked || $0.remote?.mode == bits }
            try changeOpenFile(file, local: local) { () throws(Errno) in try file.transfer.withLock { _ throws(Errno) in
                let (deferred, unchanged) = file.state.withLock { s -> (Bool, Bool) in
                    let unchanged = s.remote?.mode == bits
                    s.mode = bits
                    return (s.dirty || s.unlinked, unchanged)
                }
                // `cp -p` sets the mode a file was created with: nothing to tell the service.
                if deferred || unchanged { return }
                let current = file.path
                try call("chmod", current) { () throws(AFSError) in try service.setMode(session, path: current, mode: bits, context: context) }
                // Only the mode changed: no need to ask the service again.
                file.state.withLock { $0.remote?.mode = bits }
            } }
            // Only recorded in the open file: its publication settles the parent's listing, which
            // a lookup of the next name in the directory (tar's next file) still needs.
            if local { metadata.forget(file.path) } else { metadata.invalidate(file.path) }
            return
        }
        guard let path else { throw Errno.badDescriptor }
        // `tar x` and `cp -a` set every directory's mode again once its contents are in: an
        // unchanged mode costs no durable call (ext4 would move the change time; nothing we
        // know of reads it after a no-op chmod).
        let current = try attributes(path: path)
        if current.mode == bits { return }
        let linked = (current.nlink ?? 1) > 1
        if current.kind == .directory, writeBack.policy == .writeBack {
            var shown = current
            shown.mode = bits
            shown.ctime = OpenFile.now()
            try queueDirectoryChange(path, shown, .setMode(path, mode: bits), event: .chmod) { [self] () throws(Errno) in
                try call("chmod", path) { () throws(AFSError) in try service.setMode(session, path: path, mode: bits, context: context) }
            }
            return
        }
        try writeBack.perform([path]) { () throws(Errno) in
            try call("chmod", path) { () throws(AFSError) in try service.setMode(session, path: path, mode: bits, context: context) }
        }
        metadata.invalidate(path)
        invalidateOtherNames(of: path, linked: linked)
    }

    /// What `utimensat` asks for one of the two times (the mount stores only the modification time).
    public enum TimeChange: Sendable, Equatable {
        /// `UTIME_OMIT`: leave it.
        case omit
        /// `UTIME_NOW`, or no times given (`touch`): this machine's current time.
        case now
        /// Nanoseconds since 1970.
        case at(Int64)
    }

    /// Sets the modification and access times (`touch`, `tar x`, `cp -p`, `rsync -t`); the service
    /// keeps the modification time until the next write. On an open file with unpublished writes
    /// the modification time waits for them and is published in the same service call (`cp -p`
    /// sets times and mode before `close`: one durable write per file instead of three); a write
    /// in between moves it to now, as POSIX says. The access time is stored when set; on a file
    /// with unpublished writes it is dropped (only the modification time travels with the bytes),
    /// and reads never move it.
    public func setTimes(path: String?, handle: UInt64?, modified: TimeChange, accessed: TimeChange = .omit) throws(Errno) {
        func value(_ change: TimeChange) -> Int64? {
            switch change {
            case .omit: return nil
            case .now: return OpenFile.now()
            case .at(let t): return t
            }
        }
        let mtime = value(modified)
        let atime = value(accessed)
        guard mtime != nil || atime != nil else {
            _ = try attributes(path: path, handle: handle)
            return
        }
        let open = handle.flatMap({ openFile(handle: $0) }) ?? path.flatMap({ openFile(at: $0) })
        if atime != nil, let target = open?.path ?? path { accessTimes.cancel(target) }
        if let file = open {
            let local = file.state.withLock { $0.dirty || $0.unlinked }
            try changeOpenFile(file, local: local) { () throws(Errno) in try file.transfer.withLock { _ throws(Errno) in
                let deferred = file.state.withLock { s -> Bool in
                    guard s.dirty || s.unlinked else { return false }
                    if let mtime { s.pendingMtime = mtime }
                    return true
                }
                if deferred { return }
                let current = file.path
                try call("utimens", current) { () throws(AFSError) in
                    try service.setTimes(session, path: current, mtime: mtime, atime: atime, context: context)
                }
                file.state.withLock {
                    if let mtime { $0.remote?.mtime = mtime }
                    if let atime { $0.remote?.atime = atime }
                }
            } }
            // Only recorded in the open file: its publication settles the parent's listing, which
            // a lookup of the next name in the directory (tar's next file) still needs.
            if local { metadata.forget(file.path) } else { metadata.invalidate(file.path) }
            return
        }
        guard let path else { throw Errno.badDescriptor }
        if writeBack.policy == .writeBack, var shown = try? attributes(path: path), shown.kind == .directory {
            // Queued after every change below it (their creations would move its times), and
            // nothing waits: `tar -x` sets each directory's times when it leaves it.
            if let mtime { shown.mtime = mtime }
            if let atime { shown.atime = atime }
            shown.ctime = OpenFile.now()
            try queueDirectoryChange(path, shown, .setTimes(path, mtime: mtime, atime: atime), event: .touch) { [self] () throws(Errno) in
                try call("utimens", path) { () throws(AFSError) in
                    try service.setTimes(session, path: path, mtime: mtime, atime: atime, context: context)
                }
            }
            return
        }
        let linked = isLinked(path)
        // After every queued change below it: their creations would move a directory's times.
        try writeBack.perform([path]) { () throws(Errno) in
            try call("utimens", path) { () throws(AFSError) in
                try service.setTimes(session, path: path, mtime: mtime, atime: atime, context: context)
            }
        }
        metadata.invalidate(path)
        invalidateOtherNames(of: path, linked: linked)
    }

    /// Takes the service's current attributes for an open file (after an upload); nil when the
    /// service could not say.
    @discardableResult
    private func refreshRemote(_ file: OpenFile) -> FileAttributes? {
        guard let stat = try? service.stat(session, path: file.path) else { return nil }
        let attributes = FileAttributes(stat)
        file.state.withLock { $0.remote = attributes }
        return attributes
    }

    /// Runs a change of an open file: directly when it only records something in the file (a
    /// mode or time that travels with its unpublished bytes: no service call, nothing to wait
    /// for), else in order with the queued changes it depends on. `body` takes the file's
    /// transfer lock itself.
    private func changeOpenFile(_ file: OpenFile, local: Bool, _ body: () throws(Errno) -> Void) throws(Errno) {
        if local {
            try body()
        } else {
            try writeBack.perform([file.path]) { () throws(Errno) in try body() }
        }
    }

    // MARK: Namespace

    /// Creates a directory. With write-back it shows at once and reaches the service from the
    /// queue (before anything created in it); the kernel has checked that the name is free.
    public func makeDirectory(_ path: String, mode: UInt32, caller: Caller = .mounter) throws(Errno) {
        if openFile(at: path) != nil { throw Errno.exists }
        if writeBack.policy == .writeBack {
            do throws(Errno) {
                _ = try attributes(path: path)
                throw Errno.exists
            } catch where error == .notFound {}
        }
        let context = caller.context(self.context)
        let now = OpenFile.now()
        let shown = {
            var a = FileAttributes(
                kind: .directory, mode: mode & 0o7777, size: 0, mtime: now, uid: caller == .mounter ? nil : caller.uid,
                gid: caller == .mounter ? nil : caller.gid, ctime: now)
            a.atime = now
            return a
        }()
        // The mounting user's directories travel in batches (a batch carries one owner: the mount's).
        let batchable = caller != .mounter ? nil : announcedBatchable(path, .mkdir, .makeDirectory(path, mode: mode & 0o7777)) { [self] outcome in
            metadata.store(listing: [], of: path, asOf: metadata.generation)
            metadata.settle(path, to: outcome?.stat.map(FileAttributes.init) ?? shown)
        }
        try writeBack.submit(path, operation: "mkdir", pending: .directory(shown), batchable: batchable) { [self] () throws(Errno) in
            follower.expect(path, .mkdir)
            do throws(Errno) {
                try call("mkdir", path) { () throws(AFSError) in
                    try service.makeDirectory(session, path: path, parents: false, mode: mode & 0o7777, context: context)
                }
            } catch {
                follower.unexpect(path, .mkdir)
                // What the mount showed was not so: ask the service next time.
                metadata.invalidate(path)
                throw error
            }
            // New, so empty at the service: what is created in it later is queued after this
            // and settles the listing itself. Lookups of new names there then need no call.
            metadata.store(listing: [], of: path, asOf: metadata.generation)
            metadata.settle(path, to: (try? service.stat(session, path: path)).map(FileAttributes.init) ?? shown)
        }
        metadata.forget(path)
        metadata.touchParent(of: path, at: now)
    }

    /// Creates a symbolic link at `path` pointing to `target`, stored as given: the kernel resolves
    /// it (relative to the link's directory, or absolute on this machine) when a program follows it.
    public func symlink(target: String, at path: String, caller: Caller = .mounter) throws(Errno) {
        if openFile(at: path) != nil { throw Errno.exists }
        let context = caller.context(self.context)
        try writeBack.perform([path]) { () throws(Errno) in
            try call("symlink", path) { () throws(AFSError) in try service.symlink(session, path: path, target: target, context: context) }
        }
        entryChanged(path)
    }

    /// `mknod`: a FIFO, socket or device node is stored as metadata (the mount is `nodev`: no
    /// device is ever opened through it); a regular file is created empty. `mode` is the full
    /// `st_mode` (type and permission bits).
    public func makeNode(_ path: String, mode: UInt32, rdev: UInt64, caller: Caller = .mounter) throws(Errno) {
        if openFile(at: path) != nil { throw Errno.exists }
        guard let kind = EntryKind(typeBits: mode), kind == .file || kind.isSpecial else { throw Errno.invalid }
        let context = caller.context(self.context)
        if kind == .file, (try? attributes(path: path)) != nil { throw Errno.exists }
        try writeBack.perform([path]) { () throws(Errno) in
            if kind == .file {
                try call("mknod", path, wrongKind: .isDirectory) { () throws(AFSError) in
                    try service.writeFile(session, path: path, data: [], mode: mode & 0o7777, context: context)
                }
            } else {
                try call("mknod", path) { () throws(AFSError) in
                    try service.makeNode(session, path: path, kind: kind, mode: mode & 0o7777, rdev: rdev, context: context)
                }
            }
        }
        entryChanged(path)
    }

    /// Records a new owner and/or group (nil: unchanged, `-1` in `chown(2)`). The kernel checked
    /// the caller's right to do so (`default_permissions`) and sends the set-id bits it clears as
    /// a separate mode change; the service clears them too, for callers of the API.
    public func chown(path: String?, handle: UInt64?, uid: UInt32?, gid: UInt32?) throws(Errno) {
        if let file = handle.flatMap({ openFile(handle: $0) }) ?? path.flatMap({ openFile(at: $0) }) {
            // Not while a batched publication of the file is in flight: it left without an owner.
            let local = file.state.withLock { $0.remote == nil && !$0.unlinked && !$0.publishing }
            try changeOpenFile(file, local: local) { () throws(Errno) in try file.transfer.withLock { _ throws(Errno) in
                // A file created here and not yet uploaded (what `tar x` and `cp -a` chown before
                // closing) takes its owner with its first upload, in the same service call.
                let deferred = file.state.withLock { s -> Bool in
                    guard s.remote == nil, !s.unlinked, !s.publishing else { return false }
                    let owner = Caller(uid: uid ?? s.creator?.uid ?? Caller.mounter.uid, gid: gid ?? s.creator?.gid ?? Caller.mounter.gid)
                    s.creator = owner == .mounter ? nil : owner
                    return true
                }
                if deferred { return }
                let current = file.path
                try call("chown", current) { () throws(AFSError) in try service.setOwner(session, path: current, uid: uid, gid: gid, context: context) }
                refreshRemote(file)
            } }
            // Only recorded in the open file: its publication settles the parent's listing, which
            // a lookup of the next name in the directory (tar's next file) still needs.
            if local { metadata.forget(file.path) } else { metadata.invalidate(file.path) }
            return
        }
        guard let path else { throw Errno.badDescriptor }
        // An entry without a recorded owner shows the mounting user's; giving it that owner again
        // (`tar x` and `cp -a` by the mounting user restore their own ids on every entry) records
        // nothing, so the entry stays owned by whoever mounts the session, and costs no call.
        let current = try attributes(path: path)
        if current.uid == nil, current.gid == nil, (uid ?? Caller.mounter.uid) == Caller.mounter.uid, (gid ?? Caller.mounter.gid) == Caller.mounter.gid {
            return
        }
        let linked = (current.nlink ?? 1) > 1
        try writeBack.perform([path]) { () throws(Errno) in
            try call("chown", path) { () throws(AFSError) in try service.setOwner(session, path: path, uid: uid, gid: gid, context: context) }
        }
        metadata.invalidate(path)
        invalidateOtherNames(of: path, linked: linked)
    }

    /// A file created through this mount and never uploaded must exist at the service before
    /// its metadata can change there. The caller holds `file.transfer`.
    private func publishIfNew(_ file: OpenFile) throws(Errno) {
        let isNew = file.state.withLock { s -> Bool in
            guard s.remote == nil, !s.unlinked else { return false }
            s.dirty = true
            return true
        }
        if isNew { try uploadLocked(file) }
    }

    // MARK: Extended attributes

    /// The one namespace stored; others (`security.`, `system.`, `trusted.`) carry kernel
    /// semantics a session cannot honour.
    static func storesXattr(_ name: String) -> Bool { name.hasPrefix("user.") }

    /// The value of one extended attribute (`ENODATA` when absent).
    public func extendedAttribute(path: String, name: String) throws(Errno) -> [UInt8] {
        guard SessionFilesystem.storesXattr(name) else {
            _ = try attributes(path: path)
            throw Errno.noAttribute
        }
        if let file = openFile(at: path), file.state.withLock({ $0.remote == nil }) { throw Errno.noAttribute }
        let all = try call("getxattr", path) { () throws(AFSError) in try service.extendedAttributes(session, path: path) }
        guard let value = all[name] else { throw Errno.noAttribute }
        return value
    }

    /// Names of the entry's extended attributes.
    public func extendedAttributeNames(path: String) throws(Errno) -> [String] {
        if let file = openFile(at: path), file.state.withLock({ $0.remote == nil }) { return [] }
        let all = try call("listxattr", path) { () throws(AFSError) in try service.extendedAttributes(session, path: path) }
        return all.keys.sorted()
    }

    /// `setxattr`; `flags` are `XATTR_CREATE` (1) and `XATTR_REPLACE` (2).
    public func setExtendedAttribute(path: String, name: String, value: [UInt8], flags: Int32) throws(Errno) {
        guard SessionFilesystem.storesXattr(name) else { throw Errno.notSupported }
        guard name.utf8.count <= EntryAttributes.maxNameBytes, name.utf8.count > 5 else { throw Errno.range }
        guard value.count <= EntryAttributes.maxValueBytes else { throw Errno.tooBig }
        let disposition: AetherStore.XattrDisposition = flags & 1 != 0 ? .create : flags & 2 != 0 ? .replace : .any
        try changeAttributes(path, "setxattr") { () throws(AFSError) in
            try service.setExtendedAttribute(session, path: path, name: name, value: value, disposition: disposition, context: context)
        }
    }

    public func removeExtendedAttribute(path: String, name: String) throws(Errno) {
        guard SessionFilesystem.storesXattr(name) else { throw Errno.noAttribute }
        try changeAttributes(path, "removexattr") { () throws(AFSError) in
            try service.removeExtendedAttribute(session, path: path, name: name, context: context)
        }
    }

    /// Runs an extended-attribute change, publishing a never-uploaded open file first, and maps
    /// the service's answers to xattr errnos (absent → `ENODATA`, over the entry's limit → `ENOSPC`).
    private func changeAttributes(_ path: String, _ what: String, _ body: () throws(AFSError) -> Void) throws(Errno) {
        try writeBack.perform([path]) { () throws(Errno) in
            if let file = openFile(at: path) {
                try file.transfer.withLock { _ throws(Errno) in
                    try publishIfNew(file)
                    try runAttributeChange(path, what, body)
                    refreshRemote(file)
                }
            } else {
                try runAttributeChange(path, what, body)
            }
        }
        metadata.invalidate(path)
    }

    private func runAttributeChange(_ path: String, _ what: String, _ body: () throws(AFSError) -> Void) throws(Errno) {
        do throws(AFSError) {
            try body()
        } catch {
            switch error.code {
            case .notFound where error.message.hasPrefix("extended attribute"): throw Errno.noAttribute
            case .invalidArgument where error.message.contains("would take"): throw Errno.noSpace
            default:
                let mapped = Errno(error)
                if mapped != .notFound { log("\(what) \(path): \(error.message) → \(mapped)") }
                throw mapped
            }
        }
    }


    /// `path` was created, removed or renamed through this mount: drops what is cached of it and
    /// moves its parent's cached times, as the service moved them.
    private func entryChanged(_ path: String) {
        metadata.invalidate(path)
        metadata.touchParent(of: path, at: OpenFile.now())
    }

    /// `link(2)`: the service records a second name of the file (one inode, one link count, a
    /// change through either name seen through both). An open file's unpublished writes are
    /// published first, so the new name shows them.
    public func link(_ path: String, to newPath: String) throws(Errno) {
        if openFile(at: newPath) != nil { throw Errno.exists }
        try writeBack.perform([path, newPath]) { () throws(Errno) in
            if let file = openFile(at: path) {
                try file.transfer.withLock { _ throws(Errno) in
                    try publishIfNew(file)
                    try uploadLocked(file)
                }
            }
            try call("link", newPath, wrongKind: .notPermitted) { () throws(AFSError) in
                try service.link(session, from: path, to: newPath, context: context)
            }
        }
        entryChanged(newPath)
        // Every existing name, the linked one included: the kernel knows each name as its own
        // node and updates only the link's source time, not its link count.
        invalidateOtherNames(of: newPath, except: [newPath])
    }

    /// Drops this mount's and the kernel's copies of every other name of a hard-linked file: a
    /// change through one name (its data, metadata or link count) shows through all at once. The
    /// kernel knows each name as its own node, so nothing else would tell it.
    func invalidateOtherNames(of path: String, except: Set<String> = [], linked: Bool = true) {
        guard linked else { return }
        forget(otherNames(of: path, linked: true).filter { !except.contains($0) })
    }

    /// The names of the file at `path` other than `path`, when it is `linked` (else none, without asking).
    func otherNames(of path: String, linked: Bool) -> [String] {
        guard linked, let names = try? service.hardLinks(session, path: path) else { return [] }
        return names.filter { $0 != path }
    }

    /// Drops this mount's and the kernel's copies of `names`.
    func forget(_ names: [String]) {
        for name in names {
            metadata.invalidate(name)
            kernel.invalidate(name)
            if let file = openFile(at: name) { refreshRemote(file) }
        }
    }

    /// Whether the entry at `path` (as last seen) has other names.
    func isLinked(_ path: String) -> Bool {
        ((try? attributes(path: path))?.nlink ?? 1) > 1
    }

    /// Removes a file or symlink. An open file stays readable and writable through its handles
    /// and is never uploaded again. With write-back the removal is queued (the path disappears
    /// at once); a hard-linked file is removed synchronously, since its other names change too.
    public func unlink(_ path: String) throws(Errno) {
        let attributes = try self.attributes(path: path)
        if attributes.kind == .directory { throw Errno.isDirectory }
        if (attributes.nlink ?? 1) > 1 {
            try writeBack.perform([path]) { () throws(Errno) in try unlinkLinked(path) }
            return
        }
        accessTimes.moved(path, to: nil)
        var atService = true
        if let file = files.withLock({ $0.byPath.removeValue(forKey: path) }) {
            // After an upload in flight: the file is then at the service and must go there too.
            file.transfer.withLock { _ in
                file.state.withLock { s in
                    s.unlinked = true
                    // A batched publication in flight may have reached it already.
                    atService = s.remote != nil || s.publishing
                }
            }
            retireIfIdle(file)
        }
        let now = OpenFile.now()
        guard atService else {
            // Created and removed before any upload: the service never saw it.
            metadata.touchParent(of: path, at: now)
            return
        }
        try writeBack.submit(path, operation: "unlink", pending: .absent, batchable: removalBatchable(path)) { [self] () throws(Errno) in
            try removeAtService(path, "unlink", wrongKind: .isDirectory)
        }
        metadata.touchParent(of: path, at: now)
    }

    /// The service call of a removal, with the caches it leaves exact. A path already gone (its
    /// removal raced another client's) is what was asked for.
    private func removeAtService(_ path: String, _ what: String, wrongKind: Errno) throws(Errno) {
        follower.expect(path, .delete)
        do throws(Errno) {
            try call(what, path, wrongKind: wrongKind) { () throws(AFSError) in
                try service.remove(session, path: path, recursive: false, context: context)
            }
        } catch {
            follower.unexpect(path, .delete)
            metadata.invalidate(path)
            if error == .notFound, writeBack.policy == .writeBack { return }
            throw error
        }
        metadata.settle(path, to: nil)
    }

    /// `unlink` of a name of a hard-linked file: the other names lose a link, so their cached
    /// counts go with this one.
    private func unlinkLinked(_ path: String) throws(Errno) {
        let others = otherNames(of: path, linked: true)
        defer { forget(others) }
        let file = files.withLock { $0.byPath.removeValue(forKey: path) }
        defer {
            entryChanged(path)
            accessTimes.moved(path, to: nil)
        }
        if let file {
            try file.transfer.withLock { _ throws(Errno) in
                file.state.withLock { $0.unlinked = true }
                try call("unlink", path, wrongKind: .isDirectory) { () throws(AFSError) in
                    try service.remove(session, path: path, recursive: false, context: context)
                }
            }
            retireIfIdle(file)
        } else {
            try call("unlink", path, wrongKind: .isDirectory) { () throws(AFSError) in
                try service.remove(session, path: path, recursive: false, context: context)
            }
        }
    }

    /// Removes an empty directory. With write-back, emptiness is judged on what the mount shows
    /// (queued removals of its entries count as done) and the removal is queued after them.
    public func removeDirectory(_ path: String) throws(Errno) {
        let attributes = try self.attributes(path: path)
        guard attributes.kind == .directory else { throw Errno.notDirectory }
        let pending = files.withLock { t in t.byPath.keys.contains { $0 != path && MountPath.isWithin($0, path) } }
        if pending { throw Errno.notEmpty }
        if writeBack.policy == .writeBack, !(try list(path)).isEmpty { throw Errno.notEmpty }
        try writeBack.submit(path, operation: "rmdir", pending: .absent, batchable: removalBatchable(path)) { [self] () throws(Errno) in
            try removeAtService(path, "rmdir", wrongKind: .notDirectory)
        }
        metadata.touchParent(of: path, at: OpenFile.now())
    }

    /// `renameat2` flags (Linux ABI values).
    public static let renameNoReplace: UInt32 = 1
    public static let renameExchange: UInt32 = 2

    /// Moves a file or directory. `RENAME_NOREPLACE` refuses an existing destination;
    /// `RENAME_EXCHANGE` is not offered by the service (`EINVAL`, so tools fall back).
    public func rename(_ from: String, to: String, flags: UInt32 = 0) throws(Errno) {
        if flags & SessionFilesystem.renameExchange != 0 { throw Errno.invalid }
        guard flags & ~SessionFilesystem.renameNoReplace == 0 else { throw Errno.invalid }
        let source = try attributes(path: from)
        let destination: FileAttributes?
        do throws(Errno) {
            destination = try attributes(path: to)
        } catch where error == .notFound {
            destination = nil
        }
        if let destination {
            if flags & SessionFilesystem.renameNoReplace != 0 { throw Errno.exists }
            switch (source.kind == .directory, destination.kind == .directory) {
            case (false, true): throw Errno.isDirectory
            case (true, false): throw Errno.notDirectory
            case (true, true):
                // POSIX replaces an empty directory; the service refuses any, so remove it first
                // (queued before the rename, which waits for it).
                try removeDirectory(to)
            case (false, false): break
            }
        }
        // A replaced hard-linked file keeps its other names, one link fewer: their caches go.
        let replacedNames = otherNames(of: to, linked: (destination?.nlink ?? 1) > 1)
        defer { forget(replacedNames) }
        // In order: after every queued change of either path or below them, before any later one.
        try writeBack.perform([from, to]) { () throws(Errno) in try renameNow(from, to: to) }
        accessTimes.moved(from, to: to)
        if source.kind == .directory {
            metadata.invalidateTree(from)
            metadata.invalidateTree(to)
        } else {
            metadata.invalidate(from)
            metadata.invalidate(to)
        }
        let now = OpenFile.now()
        metadata.touchParent(of: from, at: now)
        metadata.touchParent(of: to, at: now)
    }

    /// The service's rename and the open-file table's, once nothing queued stands in between.
    private func renameNow(_ from: String, to: String) throws(Errno) {
        let moving = openFile(at: from)
        let perform = { () throws(Errno) in
            if let moving {
                // A file created here and never flushed must exist before the service can move it.
                if moving.state.withLock({ $0.remote == nil }) { moving.state.withLock { $0.dirty = true } }
                try self.uploadLocked(moving)
            }
            try self.call("rename", from, wrongKind: .isDirectory) { () throws(AFSError) in
                try self.service.rename(self.session, from: from, to: to, context: self.context)
            }
            self.files.withLock { t in
                if let replaced = t.byPath.removeValue(forKey: to) { replaced.state.withLock { $0.unlinked = true } }
                for (p, file) in t.byPath.filter({ MountPath.isWithin($0.key, from) }) {
                    let moved = MountPath.rebase(p, from: from, to: to)
                    t.byPath[p] = nil
                    t.byPath[moved] = file
                    file.state.withLock {
                        $0.path = moved
                        // The moved file keeps its number, as the service records it.
                        if p == from, var remote = $0.remote {
                            remote.inode = remote.inode ?? InodeNumber.forPath(from)
                            $0.remote = remote
                        }
                    }
                }
            }
        }
        if let moving {
            try moving.transfer.withLock { _ throws(Errno) in try perform() }
        } else {
            try perform()
        }
    }
}
