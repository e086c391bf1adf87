import AFSSupport
import Foundation

/// The embedded catalog's log of new sessions: a fork is durable once its record is, and SQLite
/// takes the rows later, off the fork's path.
///
/// A fork through SQLite with `synchronous=FULL` wrote five to eight WAL pages and synced them:
/// 280–370 µs on this VM's disk, against 99–124 µs for one 1 KiB `write`+`fdatasync` (Docs/perf/
/// profiles.md, section 1). Even unsynced, SQLite's statements and WAL writes take about 90 µs
/// here. So a new session goes to this log first, one record of about 300 bytes in space written
/// ahead (``FileJournal``: its `fdatasync` changes no file size), and the caller returns once the
/// record is durable; concurrent callers share syncs (``GroupCommit``).
///
/// The rows reach SQLite in batches, in log order, in one transaction with `synchronous=NORMAL`
/// (no sync; SQLite's checkpoints still sync): applied by whoever next reads or writes the catalog
/// (``applyPending()``, which every catalog call runs first, so the catalog reads its own writes
/// and a later change of the new session or its parent lands after the rows it follows), or by
/// the insert that fills a batch of ``batchLimit``. No thread is woken for it: on this VM waking
/// one costs a fork 10–75 µs. Nothing is visible before it is durable: only durable records are
/// applied.
///
/// Files are generations in `catalog.sqlite-intents/`, `catalog.<n>.jnl`, in the session journal
/// format (Docs/FORMAT.md, sections 12 and 16). When a generation passes ``rotationBytes`` the log
/// starts the next; once every record of the old one is applied, a fully synced SQLite commit
/// makes the rows durable there and the old file is removed. ``SQLiteCatalog`` replays what a
/// crash left when it opens: records above its `catalog_intents` counter (written in the same
/// transaction as the rows, and raised in log order) were never durable in SQLite and are applied
/// again; the others are skipped, even if their session was deleted since.
final class CatalogIntentLog: @unchecked Sendable {
    // @unchecked: every mutable property is guarded by `state`; files are shareable.

    /// One file of the log.
    private final class Generation {
        let number: Int
        let journal: FileJournal

        init(number: Int, journal: FileJournal) {
            self.number = number
            self.journal = journal
        }
    }

    /// A record appended and not yet applied.
    private struct Pending {
        let intent: CatalogIntent
        let file: Generation
        let ticket: UInt64
    }

    /// What a previous run left: records of every generation, in order, and the generations.
    struct Recovered {
        var intents: [CatalogIntent] = []
        var generations: [Int] = []
        var highestLSN: UInt64 { intents.map(\.lsn).max() ?? 0 }
    }

    /// How the log reaches SQLite: two transactions.
    struct Applier {
        /// Applies records (in LSN order) and raises `catalog_intents` in one unsynced transaction.
        let apply: ([CatalogIntent]) throws(AFSError) -> Void
        /// A fully synced commit: every transaction before it becomes durable.
        let barrier: () throws(AFSError) -> Void
    }

    /// The default size past which a generation is replaced by the next (about 3,000 forks).
    static let defaultRotationBytes: Int64 = 1 << 20
    /// Pending records past which an insert applies them itself, bounding their memory.
    static let batchLimit = 256
    static let fileStem = "catalog"

    let directory: String
    /// A generation past this size is replaced by the next.
    let rotationBytes: Int64
    private let files: FileJournalStore
    private let applier: Applier
    /// Condition 0: a batch was applied (callers waiting for another's batch wait on it).
    private let state = ConditionLock(conditions: 1)
    private var current: Generation
    private var nextLSN: UInt64
    private var pending: [Pending] = []
    /// Every record up to this LSN is applied.
    private var applied: UInt64
    /// A caller is applying a batch.
    private var applying = false
    /// A generation replaced by `current`, removed once its last record is applied and synced.
    private var retiring: (number: Int, lastLSN: UInt64)?
    /// Set when applying failed: the catalog then refuses every call until it is reopened.
    private var failure: AFSError?

    /// Reads every generation in `directory` (creating the directory if needed). Torn tails are
    /// cut, as in every journal; a record this build cannot read throws.
    static func recover(directory: String) throws(AFSError) -> Recovered {
        try createDirectory(directory)
        let files = FileJournalStore(directory: directory)
        var out = Recovered()
        out.generations = generations(in: directory)
        for n in out.generations {
            let (_, records) = try files.open(session: fileStem, generation: n)
            for r in records {
                out.intents.append(try CatalogIntent(decoding: r, source: files.path(session: fileStem, generation: n)))
            }
        }
        return out
    }

    /// Starts a new generation after those of `recovered` (which the caller has applied durably)
    /// and removes them; LSNs continue after `lastLSN`.
    init(directory: String, after recovered: Recovered, lastLSN: UInt64, rotationBytes: Int64 = defaultRotationBytes, applier: Applier) throws(AFSError) {
        self.directory = directory
        self.rotationBytes = max(1, rotationBytes)
        self.applier = applier
        files = FileJournalStore(directory: directory)
        let number = (recovered.generations.max() ?? 0) + 1
        current = Generation(number: number, journal: try CatalogIntentLog.open(files, number))
        let last = max(lastLSN, recovered.highestLSN)
        nextLSN = last + 1
        applied = last
        for n in recovered.generations { try files.remove(session: CatalogIntentLog.fileStem, generation: n) }
        try POSIXFile.syncDirectory(directory)
    }

    private static func open(_ files: FileJournalStore, _ number: Int) throws(AFSError) -> FileJournal {
        try files.openFile(session: fileStem, generation: number).log
    }

    /// Applies every pending record, so the database holds them all; the files stay.
    func close() {
        try? applyPending()
    }

    /// Appends the record of a new session and returns once it is durable; its rows reach SQLite
    /// with the next batch.
    func insert(_ session: SessionInfo, events: [ChangeEvent]) throws(AFSError) {
        state.lock()
        if let failure {
            state.unlock()
            throw failure
        }
        let intent = CatalogIntent(lsn: nextLSN, session: session, events: events)
        let file = current
        let ticket: UInt64
        do {
            ticket = try file.journal.append(intent.encoded())
        } catch {
            state.unlock()
            throw error
        }
        nextLSN += 1
        pending.append(Pending(intent: intent, file: file, ticket: ticket))
        let full = pending.count >= CatalogIntentLog.batchLimit
        state.unlock()
        try file.journal.waitDurable(ticket)
        // The record is durable: a failure to apply the batch is this call's no longer, and the
        // next catalog call reports it.
        if full { try? applyPending() }
    }

    /// Returns once every record appended before the call is applied: applies the pending ones
    /// itself (waiting, without leading, until they are durable), or waits for the caller that
    /// is applying them. Throws a failure to apply, now or earlier.
    func applyPending() throws(AFSError) {
        state.lock()
        defer { state.unlock() }
        let target = nextLSN - 1
        while true {
            if let failure { throw failure }
            if applied >= target { return }
            if applying {
                state.wait(0)
                continue
            }
            applying = true
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            state.unlock()
            var error: AFSError?
            do {
                // Each file's records become durable in order: the last of each covers the rest.
                var lastOfFile: [ObjectIdentifier: Pending] = [:]
                for p in batch { lastOfFile[ObjectIdentifier(p.file)] = p }
                for p in lastOfFile.values { try p.file.journal.waitFollowing(p.ticket) }
                try applier.apply(batch.map(\.intent))
            } catch let e {
                error = e
            }
            state.lock()
            if let error {
                failure = AFSError(error.code, "the catalog could not apply new sessions from its intent log (\(error.message)); they are kept there: reopen the store to replay them")
            } else if let last = batch.last {
                applied = last.intent.lsn
                retireIfDue()
            }
            applying = false
            state.broadcast(0)
        }
    }

    /// The highest LSN handed out.
    var lastAppendedLSN: UInt64 { state.withLock { nextLSN - 1 } }

    /// Called by the applying caller holding `state`: starts a new generation when the current
    /// one is full, and removes a replaced one once its records are applied and a synced commit
    /// made them durable in SQLite. The lock is released around the barrier (`applying` keeps
    /// other appliers out meanwhile).
    private func retireIfDue() {
        if let r = retiring, applied >= r.lastLSN {
            state.unlock()
            let synced = Result { () throws(AFSError) in try applier.barrier() }
            if case .success = synced { try? files.remove(session: CatalogIntentLog.fileStem, generation: r.number) }
            state.lock()
            // A failed barrier leaves the file for the next open, which skips its applied records.
            retiring = nil
        }
        guard retiring == nil, current.journal.byteSize > rotationBytes,
              let journal = try? CatalogIntentLog.open(files, current.number + 1) else { return }
        retiring = (current.number, nextLSN - 1)
        current = Generation(number: current.number + 1, journal: journal)
        // Everything of the old file may be applied already: then retire it now (the new file is
        // empty, so this does not recurse further).
        if applied >= nextLSN - 1 { retireIfDue() }
    }

    private static func generations(in directory: String) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let prefix = fileStem + "."
        return names.compactMap { name -> Int? in
            guard name.hasPrefix(prefix), name.hasSuffix(".jnl") else { return nil }
            return Int(name.dropFirst(prefix.count).dropLast(4))
        }.sorted()
    }

    private static func createDirectory(_ directory: String) throws(AFSError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw AFSError(.io, "cannot create the catalog's intent log \(directory): \(error.localizedDescription)")
        }
        try POSIXFile.syncDirectory((directory as NSString).deletingLastPathComponent)
    }
}
