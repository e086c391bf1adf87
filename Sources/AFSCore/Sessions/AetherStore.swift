import AFSSupport
import Foundation
import Synchronization

/// An AetherFS store on local disk: the chunk log, the catalog and the journals of a directory,
/// owned by one process at a time.
///
/// All methods are synchronous and thread-safe. Calls on one session are serialized (one writer per
/// session); calls on different sessions run in parallel. A method that returns has made its effect
/// durable: a crash (kill -9, power loss) after the return cannot lose it.
///
/// ```swift
/// let store = try AetherStore.open(at: "/var/lib/aether")
/// let base = try store.createSession(name: "base", from: .git(repository: "/src/app", ref: "main"))
/// let proposal = try store.fork(base.id, name: "try-1")       // O(1)
/// try store.writeFile(proposal.id, path: "/README.md", data: Array("hello".utf8))
/// let changes = try store.diff(.session(base.id), .session(proposal.id))
/// ```
public final class AetherStore: Sendable {
    /// Tunables; the defaults suit a server.
    public struct Options: Sendable {
        /// Size of each preallocated segment file.
        public var segmentSize: Int64 = 64 << 20
        /// Decoded tree nodes kept in memory.
        public var nodeCacheCapacity = 32_768
        /// Fold a session's overlay into its tree past this many bytes held in memory.
        public var foldThresholdBytes = 32 << 20
        /// … or past this many overlay entries.
        public var foldThresholdEntries = 50_000
        /// Writes larger than this go to the chunk log before the journal, instead of into the journal.
        public var journalInlineLimit = 256 << 10
        /// Chunk index changes held in memory before they are merged into the index file on disk
        /// (about 80 bytes each): the bound on the index's memory, whatever the store's size.
        public var indexMemoryEntries = 32_768
        /// The embedded catalog's intent log (new sessions, made durable before SQLite applies
        /// them) starts a new file past this size, once the old one's rows are synced in SQLite.
        public var catalogIntentRotationBytes: Int64 = 1 << 20
        /// Threads that hash and compress the chunks of one large write side by side; nil: one
        /// per core. 1 keeps every write on its caller's thread.
        public var ingestWorkers: Int?
        /// Segments whose live fraction is below this are cleaned by GC.
        public var gcLiveRatioThreshold = 0.5
        /// Changefeed events kept per session; a cursor older than that gets `AFSError.Code.expired`.
        public var changefeedRetention: UInt64 = 100_000
        /// Messages kept per bus topic.
        public var busRetention = 100_000
        /// How long `open` waits for another process to release the store before failing (0: fail at once).
        public var lockWait: Double = 0
        /// The clock leases are granted, renewed and expire by, in seconds since 1970 (the system's
        /// wall clock). Tests inject one to expire a lease without waiting for it.
        public var wallClock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

        /// The defaults; change fields afterwards to tune.
        public init() {}
    }

    /// The store's directory: the path given to `open`, standardized (tilde expanded, `..` removed).
    public let directory: String
    let options: Options
    let log: any ChunkStore
    let nodes: NodeStore
    let catalog: any Catalog
    let coordination: any CoordinationCatalog
    /// Where unfolded writes are logged (files in `journals/`, or the clustered catalog's table).
    let journals: any JournalStore
    /// Wakes changefeed and bus readers waiting for new entries.
    let notifier = ChangeNotifier()
    let content: ContentStore
    let tree: FileTree
    private let storeLock: StoreLock
    /// Which process may hold each session open when several share the catalog (nil: this one owns all).
    let ownership: (any SessionOwnership)?
    let live = Locked<[String: LiveSession]>([:])
    /// Sessions this process found without a live lease, while it alone grants leases
    /// (`ownership` nil): a write to them needs no lease query until a grant here removes them.
    /// `grants` counts grants begun and ended, so a query that a grant overlapped marks nothing.
    let leaseFree = Locked<(grants: UInt64, sessions: Set<String>)>((0, []))
    /// Open streamed uploads, whose chunks are GC roots until they finish.
    let uploads = Locked<[ObjectIdentifier: WeakUpload]>([:])
    let gate = ReadWriteLock()
    private let closed = Atomic<Bool>(false)

    /// Format 2 adds special files, owners, change times and extended attributes to tree values
    /// and journal items (FORMAT.md §9, §10). Every format-1 structure is valid format 2, so a
    /// format-1 store is upgraded in place by rewriting this line; builds that read only format 1
    /// then refuse the store instead of misreading entries they do not know. Format 3 adds the
    /// catalog's intent log (`catalog.sqlite-intents/`, FORMAT.md §16), which a format-2 build
    /// would ignore, losing new sessions whose SQLite commit a crash undid: a format-1 or -2 store
    /// is upgraded by rewriting the line (the log starts empty), and older builds refuse format 3.
    static let formatLine = "aetherfs-store 3\n"
    static let upgradableFormatLines = ["aetherfs-store 1\n", "aetherfs-store 2\n"]

    private init(
        directory: String, options: Options, log: any ChunkStore, nodes: NodeStore, catalog: any Catalog & CoordinationCatalog,
        journals: any JournalStore, storeLock: StoreLock, ownership: (any SessionOwnership)?
    ) {
        self.directory = directory
        self.options = options
        self.log = log
        self.nodes = nodes
        self.catalog = catalog
        self.coordination = catalog
        self.journals = journals
        var content = ContentStore(log: log)
        if let workers = options.ingestWorkers { content.workers = max(1, workers) }
        self.content = content
        self.tree = FileTree(store: nodes)
        self.storeLock = storeLock
        self.ownership = ownership
    }

    /// Opens the store in `directory`, creating it if it does not exist.
    ///
    /// Takes an exclusive lock: a second process gets `AFSError.Code.storeLocked` naming the owner's pid.
    /// Opening reads the index checkpoint and scans only the log written after it.
    /// - Parameter directory: the store's directory (its lock, journals, catalog and, for the
    ///   embedded store, its segment log).
    /// - Parameter options: fold thresholds, segment sizes and other tuning; the defaults suit
    ///   most stores.
    /// - Parameter chunks: where records live; nil keeps them in the directory's segment log
    ///   (the embedded store). Another ``ChunkStore`` (S3 packs, say) replaces the log; the
    ///   catalog and journals stay in the directory.
    /// - Parameter catalog: sessions, commits, refs and coordination state; nil keeps them in
    ///   `catalog.sqlite` in the directory (the embedded catalog).
    /// - Parameter journals: where unfolded writes are logged before they are acknowledged; nil
    ///   keeps them in `journals/` in the directory. A clustered deployment passes its catalog's
    ///   journal store, so no acknowledged write lives only on this machine.
    /// - Parameter ownership: when several processes serve one shared catalog, which of them holds
    ///   each session open (``SessionOwnership``); nil when this process is the catalog's only user.
    public static func open(
        at directory: String, options: Options = Options(), chunks: (any ChunkStore)? = nil,
        catalog: (any Catalog & CoordinationCatalog)? = nil, journals: (any JournalStore)? = nil,
        ownership: (any SessionOwnership)? = nil
    ) throws(AFSError) -> AetherStore {
        let dir = (directory as NSString).standardizingPath
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: dir + "/chunks", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: dir + "/journals", withIntermediateDirectories: true)
        } catch {
            throw AFSError(.io, "cannot create store directory \(dir): \(error.localizedDescription)")
        }
        let storeLock = try StoreLock.acquire(directory: dir, wait: options.lockWait)
        let formatPath = dir + "/FORMAT"
        if let existing = try POSIXFile.readWhole(formatPath) {
            let line = String(decoding: existing, as: UTF8.self)
            if upgradableFormatLines.contains(line) {
                try POSIXFile.writeAtomically(Array(formatLine.utf8), to: formatPath)
            } else if line != formatLine {
                storeLock.release()
                throw AFSError(.unsupportedFormat, "store \(dir) has format '\(line.trimmingCharacters(in: .newlines))'; this build reads '\(formatLine.trimmingCharacters(in: .newlines))'")
            }
        } else {
            try POSIXFile.writeAtomically(Array(formatLine.utf8), to: formatPath)
        }
        do {
            let log: any ChunkStore
            if let chunks {
                log = chunks
            } else {
                var logOptions = ChunkLog.Options()
                logOptions.segmentSize = options.segmentSize
                logOptions.indexMemoryEntries = max(1, options.indexMemoryEntries)
                let chunkLog = try ChunkLog.open(directory: dir + "/chunks", options: logOptions)
                for note in chunkLog.recoveryNotes {
                    FileHandle.standardError.write(Data("aetherfs: \(dir): \(note)\n".utf8))
                }
                log = chunkLog
            }
            let nodes = try NodeStore(log: log, cacheCapacity: options.nodeCacheCapacity)
            try log.sync()
            let metadata: any Catalog & CoordinationCatalog
            if let catalog { metadata = catalog } else { metadata = try SQLiteCatalog(path: dir + "/catalog.sqlite", intentRotationBytes: options.catalogIntentRotationBytes) }
            let journalStore = journals ?? FileJournalStore(directory: dir + "/journals")
            let store = AetherStore(
                directory: dir, options: options, log: log, nodes: nodes, catalog: metadata, journals: journalStore, storeLock: storeLock,
                ownership: ownership)
            // Collections run by other processes sharing the catalog (replicas).
            ownership?.participate(
                join: { [weak store] in store?.joinCollection() ?? [] },
                leave: { [weak store] in store?.log.endGCEpoch() })
            return store
        } catch {
            storeLock.release()
            throw error
        }
    }

    /// Writes an index checkpoint and releases the store. Unfolded writes stay in their journals.
    public func close() throws(AFSError) {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        defer { storeLock.release() }
        try log.close()
        try catalog.close()
    }

    deinit {
        if !closed.load(ordering: .acquiring) { storeLock.release() }
    }

    // MARK: Live sessions

    /// The live state of a session, opening its journal on first use.
    func liveSession(_ id: String) throws(AFSError) -> LiveSession {
        if let s = live.withLock({ $0[id] }) {
            guard let ownership, let epoch = s.claimEpoch, !ownership.holds(id, epoch: epoch) else { return s }
            // Another process may have taken the session over since: what this one holds in
            // memory may be behind. Retire it and load the session afresh under a new claim.
            s.lock.withLock { s.stale = true }
            live.withLock { table in
                if table[id] === s { table[id] = nil }
            }
        }
        // Claimed before anything is read: the claim waits for the previous owner's writes in
        // flight, so the journal replayed below holds every write it acknowledged.
        let epoch = try ownership?.claim(id)
        guard let info = try catalog.session(id) else {
            if epoch != nil { ownership?.release(id) }
            throw AFSError.notFound("session \(id) does not exist (list them with `aether session list`)")
        }
        if info.journalGeneration > 0 {
            // A fold that crashed after its catalog update leaves the previous journal behind.
            try journals.remove(session: id, generation: info.journalGeneration - 1)
        }
        let (journal, replay) = try SessionJournal.open(journals, session: id, generation: info.journalGeneration)
        // Events whose catalog rows a power loss took back are restored from the journal.
        try coordination.appendEvents(replay.events, durable: true)
        let session = LiveSession(info: info, journal: journal, items: replay.items)
        session.claimEpoch = epoch
        session.lastSeq = max(try coordination.lastSeq(session: id), replay.events.map(\.seq).max() ?? 0)
        return live.withLock { table in
            if let existing = table[id] { return existing }
            table[id] = session
            return session
        }
    }

    static func newID(prefix: String) -> String { RandomID.base32(prefix: prefix, count: 16) }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Folds the overlay (and then `extra` edits) into the tree, durably: chunks and nodes are synced,
    /// the catalog gets the new root and journal generation, then the old journal is removed.
    /// Caller holds `session.lock`.
    func fold(_ session: LiveSession, extra: [(path: [String], edit: FileTree.Edit)] = []) throws(AFSError) {
        if !session.isDirty && extra.isEmpty { return }
        let now = AetherStore.now()
        var root = session.info.root
        if session.isDirty {
            let edits = try session.overlayEdits(content: content, emptyRoot: nodes.emptyRoot)
            root = try tree.apply(root, edits, defaultMTime: now)
        }
        if !extra.isEmpty { root = try tree.apply(root, extra, defaultMTime: now) }
        try log.sync()
        try replaceRoot(session, with: root)
    }

    /// Points a session at a new, durable root and starts a fresh journal generation: the catalog row
    /// (root + generation) is the commit point; the old journal is removed after it. Caller holds the
    /// session lock and has folded or discarded the overlay.
    func replaceRoot(_ s: LiveSession, with root: ChunkID) throws(AFSError) {
        let oldGeneration = s.journal.generation
        let generation = s.info.journalGeneration + 1
        // A leftover of a fold that crashed before its catalog update.
        try journals.remove(session: s.info.id, generation: generation)
        let (journal, _) = try SessionJournal.open(journals, session: s.info.id, generation: generation)
        var info = s.info
        info.root = root
        info.journalGeneration = generation
        info.updatedAt = Date()
        do {
            try catalog.updateSession(info)
        } catch {
            // A shared catalog may have committed the update and still reported an error (a
            // timeout, a connection lost after COMMIT). Which generation is current is then
            // unknown here: this live state is retired, and the next call reloads the session
            // from the catalog (replaying whichever generation it names).
            s.stale = true
            live.withLock { table in
                if table[s.info.id] === s { table[s.info.id] = nil }
            }
            throw error
        }
        // Records still queued for the old generation are committed before it is removed, so no
        // row lands in a generation that is gone (the fold holds their writes already).
        let oldJournal = s.journal
        s.info = info
        s.journal = journal
        try? oldJournal.waitDurable(oldJournal.lastTicket)
        // The root's own mode and times live only in the overlay (the tree stores entries below
        // it): carry them into the new journal, durably, before the old generation goes.
        let rootItem = s.overlay[.root]
        s.clearOverlay()
        if let rootItem {
            let ticket = try journal.append(.root, rootItem)
            s.record(.root, rootItem)
            try journal.waitDurable(ticket)
        }
        // The new root is committed; a failure to remove the old generation only leaves it for
        // the next open of the session to remove.
        try? journals.remove(session: s.info.id, generation: oldGeneration)
    }

    func foldIfNeeded(_ session: LiveSession) throws(AFSError) {
        if session.overlayCost > options.foldThresholdBytes || session.overlay.count > options.foldThresholdEntries
            || session.journal.byteSize > Int64(options.foldThresholdBytes) * 2
        {
            try fold(session)
        }
    }

    /// Runs a mutation of one session under the GC gate and the session lock, after checking that
    /// no lease on `paths` refuses the caller.
    func mutate<R>(
        _ id: String, _ context: MutationContext = .anonymous, _ paths: [SessionPath] = [], _ body: (LiveSession) throws(AFSError) -> R
    ) throws(AFSError) -> R {
        try gate.withReadLock { () throws(AFSError) -> R in
            let session = try liveSession(id)
            return try session.withLock { () throws(AFSError) -> R in
                guard !session.stale else {
                    throw AFSError(.unavailable, "session \(id) is being reloaded from the catalog after a failed update; retry")
                }
                guard session.info.status != .archived else {
                    throw AFSError.conflict("session \(id) is archived and read-only; fork it to keep working")
                }
                try checkLeases(id, paths.map(\.description), context)
                return try body(session)
            }
        }
    }

    // MARK: Changefeed plumbing

    /// The next event of a session (caller holds its lock).
    func makeEvent(
        _ s: LiveSession, _ kind: ChangeEvent.Kind, _ path: String, _ context: MutationContext,
        size: UInt64? = nil, contentID: String? = nil, detail: String? = nil
    ) -> ChangeEvent {
        s.lastSeq += 1
        return ChangeEvent(
            seq: s.lastSeq, session: s.info.id, kind: kind, path: path, size: size, contentID: contentID,
            actor: context.actor, time: AetherStore.now(), detail: detail)
    }

    /// Records an event of an operation that is not journaled (fork, checkpoint, commit…), durably.
    func recordEvent(
        _ s: LiveSession, _ kind: ChangeEvent.Kind, _ path: String, _ context: MutationContext, detail: String? = nil
    ) throws(AFSError) {
        let event = makeEvent(s, kind, path, context, detail: detail)
        do {
            try coordination.appendEvents(s.unsentEvents + [event], durable: true)
            s.unsentEvents = []
        } catch {
            // Never recorded: keep the feed dense. Unless the outcome is unknown (a shared
            // catalog that did not answer in time may have committed it): then the number is
            // not handed out again, and the feed may have a gap, never one number twice.
            if error.code != .unavailable { s.lastSeq -= 1 }
            throw error
        }
        try afterEvent(s, event)
    }

    /// Wakes readers and applies retention.
    func afterEvent(_ s: LiveSession, _ event: ChangeEvent) throws(AFSError) {
        let retention = max(1, options.changefeedRetention)
        if event.seq > retention && event.seq % 256 == 0 {
            try coordination.pruneEvents(session: s.info.id, through: event.seq - retention)
        }
        notifier.notify()
    }

    /// Runs a read of one session under its lock.
    func inspect<R>(_ id: String, _ body: (LiveSession) throws(AFSError) -> R) throws(AFSError) -> R {
        let session = try liveSession(id)
        return try session.withLock { () throws(AFSError) -> R in try body(session) }
    }
}
