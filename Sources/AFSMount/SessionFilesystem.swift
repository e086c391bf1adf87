import AFSSupport
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
/// the caches lock themselves, and the open-file table is behind a lock (`Locked`).
public final class SessionFilesystem: Sendable {
    public let session: String
    let service: any AetherService & Sendable
    let cache: ContentCache
    let metadata: MetadataCache
    /// Reads a whole subtree's metadata in one call at the first miss in it.
    let warmer: TreeWarmer
    let context: MutationContext
    /// Where scratch copies are created (as unnamed `O_TMPFILE` files: a crash leaves nothing).
    let scratchDirectory: String
    /// Scratch files emptied for reuse (``ScratchPool``).
    let scratch: ScratchPool
    /// Invalidates cached metadata from the session's changefeed while the mount runs.
    let follower: ChangeFollower
    /// The nodes the kernel knows by ID, and their paths.
    let nodes: NodeTable
    /// The kernel's caches of this mount, dropped path by path as changes arrive.
    let kernel: KernelCache
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
    let log: @Sendable (String) -> Void
    let files = Locked(FileTable())
    /// Whether the kernel opens files itself (``opensByKernel``), as agreed when the mount started.
    let kernelOpens = Atomic<Bool>(false)
    /// Whether the kernel stopped sending `flush` (``closesUnseen``).
    let flushesStopped = Atomic<Bool>(false)
    /// Ends implicit handles nobody closes (``closesUnseen``).
    let idleHandles: IdleHandleSweeper
    /// Fetches the rest of a directory a program is reading file by file (``DirectoryReadahead``).
    let readahead: DirectoryReadahead
    /// Large files being fetched block by block as they are read, by content ID.
    let partials = Locked([String: PartialContent]())
    /// The most entries one recursive listing brings into the metadata cache (``TreeWarmer``); a
    /// larger subtree is split, its directory listed alone and its subdirectories' subtrees read
    /// in the background, so a lookup waits for the part that holds it (a 4,096-entry listing is
    /// about 1 MB of JSON, some 20–40 ms to a remote mount).
    public static let treeListingLimit = 4096
    /// Files at least this large are fetched as they are read (``PartialContent``); smaller ones
    /// whole at their first open, in one service call.
    static let partialFetchThreshold: UInt64 = 2 << 20

    struct FileTable {
        var byPath: [String: OpenFile] = [:]
        var byHandle: [UInt64: OpenFile] = [:]
        var nextHandle: UInt64 = 1
    }

    /// Checks that `session` exists and prepares the scratch directory.
    /// - Parameters:
    ///   - attributeTTL: how long metadata is trusted without asking the service again; changes
    ///     made through this mount are seen at once whatever the TTL.
    ///   - writePolicy: whether `close`, `unlink`, `mkdir` and `rmdir` wait for the service
    ///     (``WritePolicy``); ``flushAll()`` sends what is queued and stops the workers.
    ///   - treeListingLimit: the most entries the first miss in a subtree reads in one call
    ///     (``TreeWarmer``); larger subtrees are listed a directory at a time.
    ///   - log: receives one line per service failure (the kernel only sees an errno).
    public init(
        service: any AetherService & Sendable, session: String, cache: ContentCache, context: MutationContext,
        attributeTTL: Duration = .seconds(1), accessTimePolicy: AccessTimePolicy = .relatime, writePolicy: WritePolicy = .synchronous,
        treeListingLimit: Int = SessionFilesystem.treeListingLimit, log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(AFSError) {
        let info = try service.session(session)
        rootAttributes = FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: Int64(info.createdAt.timeIntervalSince1970 * 1e9))
        self.service = service
        self.session = session
        let metrics = MountMetrics(session: session)
        self.metrics = metrics
        self.cache = cache
        readahead = DirectoryReadahead(cached: { [cache] in cache.contains($0) }) { [service, cache] items, fetched in
            // A content that changed meanwhile fails its hash and is dropped; an unreachable
            // service leaves it to the open. Either way the open fetches it as usual.
            var byPath: [String: DirectoryReadahead.Item] = [:]
            for item in items { byPath[item.path] = item }
            try? service.readFiles(session, paths: items.map(\.path)) { (file) throws(AFSError) in
                guard let item = byPath[file.path] else { return }
                let filled = try? cache.fill(item.id, size: item.size) { (fd) throws(AFSError) in try file.copy(to: fd) }
                if filled == true { metrics.add(downloaded: item.size) }
                fetched(item)
            }
        }
        self.context = context
        self.log = log
        self.accessTimePolicy = accessTimePolicy
        accessTimes = AccessTimeRecorder(service: service, session: session, log: log)
        let metadata = MetadataCache(ttl: attributeTTL)
        let nodes = NodeTable()
        let kernel = KernelCache(nodes: nodes)
        self.metadata = metadata
        warmer = TreeWarmer(limit: treeListingLimit, window: metadata.followedTTL)
        self.nodes = nodes
        self.kernel = kernel
        writeBack = WriteBack(
            policy: writePolicy,
            send: { [service, context] (changes) throws(Errno) -> [BatchOutcome] in
                do throws(AFSError) {
                    return try service.apply(session, changes, context: context)
                } catch {
                    log("write-back batch of \(changes.count) change(s): \(error.message)")
                    throw Errno(error)
                }
            },
            landed: { [service] queue, paths in
                Self.settleTimes(ofParentsOf: paths, pending: queue, service: service, session: session, metadata: metadata, kernel: kernel)
            }, log: log)
        follower = ChangeFollower(service: service, session: session, metadata: metadata, kernel: kernel, log: log)
        scratchDirectory = cache.configuration.directory + "/scratch"
        do {
            try FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
        } catch {
            throw AFSError(.io, "cannot create the scratch directory \(scratchDirectory): \(error)")
        }
        scratch = ScratchPool(directory: scratchDirectory)
        idleHandles = IdleHandleSweeper()
        writeBack.start()
    }

    /// Starts following the changefeed (writes made through the API appear without waiting for
    /// the metadata TTL). Without it the mount still converges, one TTL later.
    public func startFollowingChanges() throws(AFSError) {
        try follower.start()
        // The whole tree's names and attributes, read while the mount is still idle: the first
        // command on a fresh mount (a `git status` that lstat()s every tracked file) would
        // otherwise wait for this read at its first lookup (130–150 ms on a 20k-file tree).
        // A lookup arriving meanwhile waits for the read under way instead of starting another.
        Thread.detachNewThread { [self] in warmTree("/") }
    }

    public func stopFollowingChanges() {
        follower.stop()
    }

    /// Whether the changefeed is being followed now (a poll answered within the last few
    /// seconds): every change made elsewhere then drops what it makes stale from the kernel.
    var followsChanges: Bool { metadata.isTrusted }

    /// How long the kernel may keep names, missing names and attributes it was given: a minute
    /// while the changefeed is followed (events drop the stale ones, ``KernelCache``), else the
    /// metadata TTL, so a mount that cannot follow converges as it did before.
    var kernelTimeout: Double {
        if followsChanges { return SessionFilesystem.followedKernelTimeout }
        return metadata.ttl.inSeconds
    }

    /// The kernel's timeout for names and attributes while the changefeed is followed.
    static let followedKernelTimeout = 60.0

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

}
