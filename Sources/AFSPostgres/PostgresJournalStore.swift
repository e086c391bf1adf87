import AFSSupport
import AFSCore
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Session journals in PostgreSQL (`afs_journal`): a write is acknowledged once its record is
/// committed in the shared database, never when it sits only on one server's disk.
///
/// Writers to one session append in order; each journal commits the records appended so far in
/// one multi-row `INSERT` per batch (``GroupCommit``), so concurrent writers share a commit as they
/// share an `fdatasync` in the embedded journal. Rows are keyed by (session, generation, seq) and
/// inserted with `ON CONFLICT DO NOTHING`, so a batch whose commit outcome is unknown (the database
/// restarted mid-commit) is simply sent again with the next one.
public final class PostgresJournalStore: JournalStore {
    let backend: PostgresBackend

    public init(backend: PostgresBackend) {
        self.backend = backend
    }

    public func open(session: String, generation: Int) throws(AFSError) -> (log: any JournalLog, records: [[UInt8]]) {
        let logger = backend.logger
        let rows = try backend.perform("replay the journal of \(session)") { client in
            try await client.query(
                "SELECT seq, record FROM afs_journal WHERE session_id = \(session) AND generation = \(Int64(generation)) ORDER BY seq",
                logger: logger
            ).rows().map { row in
                (seq: try row["seq"].decode(Int64.self), record: Array(try row["record"].decode(ByteBuffer.self).readableBytesView))
            }
        }
        let records = rows.map(\.record)
        let next = (rows.last?.seq ?? 0) + 1
        let size = Int64(records.reduce(0) { $0 + $1.count })
        let journal = PostgresJournal(
            backend: backend, session: session, generation: Int64(generation), nextSeq: next, size: size, fence: backend.fence(session))
        return (journal, records)
    }

    public func holdsRecords(session: String, generation: Int) throws(AFSError) -> Bool {
        let logger = backend.logger
        return try backend.perform("look for journal records of \(session)") { client in
            try await !client.query(
                "SELECT 1 FROM afs_journal WHERE session_id = \(session) AND generation = \(Int64(generation)) LIMIT 1", logger: logger
            ).collect().isEmpty
        }
    }

    public func remove(session: String, generation: Int) throws(AFSError) {
        let logger = backend.logger
        try backend.perform("remove a journal generation of \(session)") { client in
            try await client.query("DELETE FROM afs_journal WHERE session_id = \(session) AND generation = \(Int64(generation))", logger: logger)
        }
    }
}

/// One generation of a session's journal in PostgreSQL.
final class PostgresJournal: JournalLog {
    private struct State {
        var nextSeq: Int64
        var size: Int64
        /// Appended, not yet committed, in order.
        var pending: [(seq: Int64, record: [UInt8])] = []
        var pendingBytes = 0
        /// Another replica took the session over: nothing more is written here.
        var fencedOut = false
    }

    /// Rows per `INSERT` (PostgreSQL allows 65,535 parameters; four per row), and bytes: a
    /// statement stays far below PostgreSQL's 1 GB message limit.
    static let rowsPerStatement = 4_000
    static let bytesPerStatement = 32 << 20
    /// Bytes queued at most (the database unreachable, writers retrying): past this, appends fail
    /// as unavailable instead of growing memory without bound.
    static let pendingLimit = 256 << 20

    let backend: PostgresBackend
    let session: String
    let generation: Int64
    /// The claim the session was opened under (replicas sharing the catalog), checked by every
    /// insert: nil writes unconditionally.
    let fence: (replica: String, epoch: Int64)?
    private let state: Locked<State>
    private let committer = GroupCommit(failureIsFinal: false)

    init(backend: PostgresBackend, session: String, generation: Int64, nextSeq: Int64, size: Int64, fence: (replica: String, epoch: Int64)?) {
        self.backend = backend
        self.fence = fence
        self.session = session
        self.generation = generation
        self.state = Locked(State(nextSeq: nextSeq, size: size))
    }

    func append(_ record: [UInt8]) throws(AFSError) -> UInt64 {
        // The ticket is taken under the same lock as the queue position, so a batch that drains
        // the queue holds every record whose ticket the batch's leader saw.
        try state.withLock { (s) throws(AFSError) -> UInt64 in
            guard !s.fencedOut else { throw backend.fencedOut(session) }
            guard s.pendingBytes + record.count <= PostgresJournal.pendingLimit else {
                throw AFSError(.unavailable, "the journal of \(session) has \(s.pendingBytes >> 20) MiB waiting for the database; retry once it is reachable")
            }
            s.pending.append((s.nextSeq, record))
            s.pendingBytes += record.count
            s.nextSeq += 1
            s.size += Int64(record.count)
            return committer.noteAppended()
        }
    }

    func waitDurable(_ ticket: UInt64) throws(AFSError) {
        try committer.waitDurable(ticket) { () throws(AFSError) in try commitPending() }
    }

    var byteSize: Int64 { state.withLock { $0.size } }

    /// Inserts every queued record; on failure puts them back in front, to be sent again.
    private func commitPending() throws(AFSError) {
        let batch = state.withLock { s in
            let b = s.pending
            s.pending.removeAll(keepingCapacity: true)
            s.pendingBytes = 0
            return b
        }
        if batch.isEmpty { return }
        let logger = backend.logger
        let session = self.session
        let generation = self.generation
        do throws(AFSError) {
            // One statement per slice; a batch of one slice (the usual case) is one round trip.
            // Several slices commit one by one: a crash between them leaves a prefix of the
            // batch, which replays as the writes acknowledged so far (none of this batch was).
            var start = 0
            while start < batch.count {
                var end = start
                var bytes = 0
                while end < batch.count, end - start < PostgresJournal.rowsPerStatement,
                    end == start || bytes + batch[end].record.count <= PostgresJournal.bytesPerStatement
                {
                    bytes += batch[end].record.count
                    end += 1
                }
                let slice = batch[start..<end]
                var binds = PostgresBindings(capacity: slice.count * 4 + 3)
                var sql = ""
                if let fence {
                    sql = "WITH " + PostgresBackend.fenceClause(session, fence, binds: &binds) + ", written AS ("
                }
                sql += "INSERT INTO afs_journal (session_id, generation, seq, record) "
                sql += fence == nil ? "VALUES " : "SELECT * FROM (VALUES "
                for (i, entry) in slice.enumerated() {
                    let p = binds.count
                    sql += i == 0 ? "" : ", "
                    sql += "($\(p + 1)::text, $\(p + 2)::bigint, $\(p + 3)::bigint, $\(p + 4)::bytea)"
                    binds.append(session)
                    binds.append(generation)
                    binds.append(entry.seq)
                    binds.append(ByteBuffer(bytes: entry.record))
                }
                if fence != nil { sql += ") AS v WHERE EXISTS (SELECT 1 FROM fence)" }
                sql += " ON CONFLICT DO NOTHING"
                if fence != nil { sql += ") SELECT count(*) AS held FROM fence" }
                let query = PostgresQuery(unsafeSQL: sql, binds: binds)
                let held = try backend.perform("commit journal records of \(session)") { client -> Bool in
                    let rows = try await client.query(query, logger: logger).rows()
                    guard let row = rows.first else { return true }
                    return try row["held"].decode(Int64.self) > 0
                }
                guard held else {
                    // Never acknowledged: the records are dropped with the session's live state.
                    state.withLock { $0.fencedOut = true }
                    throw backend.fencedOut(session)
                }
                start += slice.count
            }
        } catch {
            state.withLock { s in
                guard !s.fencedOut else { return }
                s.pending.insert(contentsOf: batch, at: 0)
                s.pendingBytes += batch.reduce(0) { $0 + $1.record.count }
            }
            throw error
        }
    }
}
