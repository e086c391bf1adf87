import AFSCore
import Foundation
import Logging
import PostgresNIO

/// The clustered ``Catalog``: sessions, checkpoints, commits, refs and snapshots in PostgreSQL,
/// and the coordination state beside them (``CoordinationCatalog``, in
/// `PostgresCatalog+Coordination.swift`).
///
/// Each call is one statement or one transaction, committed (with PostgreSQL's default
/// `synchronous_commit = on`) before it returns, so it is as durable as the database. Times are
/// stored as seconds since 1970 (`double precision`), as the embedded catalog stores them.
public final class PostgresCatalog: Catalog, Sendable {
    let backend: PostgresBackend
    var logger: Logger { backend.logger }
    /// The `NOTIFY` channel of changefeed events and bus messages (payload: the session), which
    /// every replica `LISTEN`s on (``PostgresBackend/onChange(_:)``).
    static let changeChannel = "afs_change"

    public init(backend: PostgresBackend) {
        self.backend = backend
    }

    // MARK: Decoding

    static func chunkID(_ row: PostgresRandomAccessRow, _ column: String) throws -> ChunkID {
        let text = try row[column].decode(String.self)
        guard let id = ChunkID(hex: text) else { throw AFSError.init(.corrupted, "catalog row has an invalid \(column) '\(text)'") }
        return id
    }

    static func date(_ row: PostgresRandomAccessRow, _ column: String) throws -> Date {
        Date(timeIntervalSince1970: try row[column].decode(Double.self))
    }

    static func session(_ row: PostgresRandomAccessRow) throws -> SessionInfo {
        SessionInfo(
            id: try row["id"].decode(String.self), name: try row["name"].decode(String?.self),
            status: SessionStatus(rawValue: try row["status"].decode(String.self)) ?? .active,
            parentID: try row["parent_id"].decode(String?.self), source: try row["source"].decode(String.self),
            root: try chunkID(row, "root"), baseCommit: try row["base_commit"].decode(String?.self),
            headCommit: try row["head_commit"].decode(String?.self), createdAt: try date(row, "created_at"),
            updatedAt: try date(row, "updated_at"), journalGeneration: Int(try row["journal_generation"].decode(Int64.self)),
            tenant: try row["tenant"].decode(String?.self))
    }

    static func checkpoint(_ row: PostgresRandomAccessRow) throws -> CheckpointInfo {
        CheckpointInfo(
            id: try row["id"].decode(String.self), sessionID: try row["session_id"].decode(String.self), root: try chunkID(row, "root"),
            label: try row["label"].decode(String?.self), createdAt: try date(row, "created_at"),
            changeSeq: UInt64(try row["change_seq"].decode(Int64.self)))
    }

    static func commit(_ row: PostgresRandomAccessRow) throws -> CommitInfo {
        let parents = try row["parents"].decode(String.self)
        return CommitInfo(
            id: try row["id"].decode(String.self), root: try chunkID(row, "root"),
            parents: parents.split(separator: ",").map(String.init), message: try row["message"].decode(String.self),
            author: try row["author"].decode(String.self), createdAt: try date(row, "created_at"),
            sessionID: try row["session_id"].decode(String?.self))
    }

    static func ref(_ row: PostgresRandomAccessRow) throws -> RefInfo {
        RefInfo(name: try row["name"].decode(String.self), commitID: try row["commit_id"].decode(String.self), updatedAt: try date(row, "updated_at"))
    }

    static func snapshot(_ row: PostgresRandomAccessRow) throws -> SnapshotInfo {
        SnapshotInfo(
            name: try row["name"].decode(String.self), root: try chunkID(row, "root"), sessionID: try row["session_id"].decode(String?.self),
            createdAt: try date(row, "created_at"))
    }

    /// Rows of one query, mapped; a row that does not decode is reported as damage.
    func select<T: Sendable>(_ what: String, _ query: PostgresQuery, _ map: @escaping @Sendable (PostgresRandomAccessRow) throws -> T) throws(AFSError) -> [T] {
        let logger = self.logger
        return try backend.perform(what) { client in
            try await client.query(query, logger: logger).rows().map(map)
        }
    }

    /// Runs one statement; returns how many rows it returned (use `RETURNING` to count changes).
    @discardableResult
    func execute(_ what: String, _ query: PostgresQuery) throws(AFSError) -> Int {
        let logger = self.logger
        return try backend.perform(what) { client in try await client.query(query, logger: logger).collect().count }
    }

    // MARK: Sessions

    public func insertSession(_ s: SessionInfo, events: [ChangeEvent]) throws(AFSError) {
        // One statement (the events in a WITH clause), so the row and its events commit together
        // in one round trip: a fork costs one commit.
        var binds = PostgresBindings(capacity: 13 + events.count * 9)
        var sql = ""
        if !events.isEmpty { sql = "WITH events AS (" + PostgresCatalog.eventInsert(events, binds: &binds) + ") " }
        let p = binds.count
        // The row's values come from a one-row SELECT that also wakes the other replicas' readers
        // (delivered at commit).
        sql += """
            INSERT INTO afs_session (id, name, status, parent_id, source, root, base_commit, head_commit,
            created_at, updated_at, journal_generation, tenant) SELECT \((1...12).map { "$\(p + $0)" }.joined(separator: ", "))
            FROM (SELECT pg_notify('\(PostgresCatalog.changeChannel)', $\(p + 13))) AS wake
            """
        binds.append(s.id)
        PostgresCatalog.appendColumns(of: s, to: &binds)
        binds.append(events.first?.session ?? s.id)
        try execute("create session \(s.id)", PostgresQuery(unsafeSQL: sql, binds: binds))
    }

    /// Binds a session row's columns after its id, in the order `afs_session` declares them.
    static func appendColumns(of s: SessionInfo, to binds: inout PostgresBindings) {
        binds.append(s.name)
        binds.append(s.status.rawValue)
        binds.append(s.parentID)
        binds.append(s.source)
        binds.append(s.root.hex)
        binds.append(s.baseCommit)
        binds.append(s.headCommit)
        binds.append(s.createdAt.timeIntervalSince1970)
        binds.append(s.updatedAt.timeIntervalSince1970)
        binds.append(Int64(s.journalGeneration))
        binds.append(s.tenant)
    }

    public func session(_ id: String) throws(AFSError) -> SessionInfo? {
        try select("read session \(id)", "SELECT * FROM afs_session WHERE id = \(id)", PostgresCatalog.session).first
    }

    public func sessions(status: SessionStatus?) throws(AFSError) -> [SessionInfo] {
        if let status {
            return try select(
                "list sessions", "SELECT * FROM afs_session WHERE status = \(status.rawValue) ORDER BY created_at, id", PostgresCatalog.session)
        }
        return try select("list sessions", "SELECT * FROM afs_session ORDER BY created_at, id", PostgresCatalog.session)
    }

    public func updateSession(_ s: SessionInfo) throws(AFSError) {
        var binds = PostgresBindings(capacity: 15)
        var sql = ""
        let fence = backend.fence(s.id)
        if let fence { sql = "WITH " + PostgresBackend.fenceClause(s.id, fence, binds: &binds) + ", changed AS (" }
        let p = binds.count
        sql += """
            UPDATE afs_session SET name = $\(p + 1), status = $\(p + 2), parent_id = $\(p + 3), source = $\(p + 4), root = $\(p + 5),
            base_commit = $\(p + 6), head_commit = $\(p + 7), created_at = $\(p + 8), updated_at = $\(p + 9), journal_generation = $\(p + 10),
            tenant = $\(p + 11) WHERE id = $\(p + 12)
            """
        PostgresCatalog.appendColumns(of: s, to: &binds)
        binds.append(s.id)
        if fence != nil {
            sql += " AND EXISTS (SELECT 1 FROM fence) RETURNING id) SELECT (SELECT count(*) FROM fence) AS held, (SELECT count(*) FROM changed) AS changed"
        } else {
            sql += " RETURNING id"
        }
        let query = PostgresQuery(unsafeSQL: sql, binds: binds)
        let logger = self.logger
        let (held, changed) = try backend.perform("update session \(s.id)") { client -> (Bool, Int) in
            let rows = try await client.query(query, logger: logger).rows()
            guard fence != nil else { return (true, rows.count) }
            return (try rows[0]["held"].decode(Int64.self) > 0, Int(try rows[0]["changed"].decode(Int64.self)))
        }
        if !held { throw backend.fencedOut(s.id) }
        if changed == 0 { throw AFSError(.notFound, "session \(s.id) does not exist") }
    }

    public func deleteSession(_ id: String) throws(AFSError) {
        let logger = self.logger
        try backend.transaction("delete session \(id)") { connection in
            try await connection.query("DELETE FROM afs_checkpoint WHERE session_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM afs_session WHERE id = \(id)", logger: logger)
        }
    }

    // MARK: Checkpoints

    public func insertCheckpoint(_ c: CheckpointInfo) throws(AFSError) {
        try execute(
            "record checkpoint \(c.id)",
            """
            INSERT INTO afs_checkpoint (id, session_id, root, label, created_at, change_seq)
            VALUES (\(c.id), \(c.sessionID), \(c.root.hex), \(c.label), \(c.createdAt.timeIntervalSince1970), \(Int64(c.changeSeq)))
            """)
    }

    public func checkpoint(_ id: String) throws(AFSError) -> CheckpointInfo? {
        try select("read checkpoint \(id)", "SELECT * FROM afs_checkpoint WHERE id = \(id)", PostgresCatalog.checkpoint).first
    }

    public func checkpoints(session: String) throws(AFSError) -> [CheckpointInfo] {
        try select(
            "list checkpoints of \(session)", "SELECT * FROM afs_checkpoint WHERE session_id = \(session) ORDER BY created_at, position",
            PostgresCatalog.checkpoint)
    }

    // MARK: Commits and refs

    public func insertCommit(_ c: CommitInfo) throws(AFSError) {
        try execute(
            "record commit \(c.id)",
            """
            INSERT INTO afs_commit (id, root, parents, message, author, created_at, session_id)
            VALUES (\(c.id), \(c.root.hex), \(c.parents.joined(separator: ",")), \(c.message), \(c.author),
            \(c.createdAt.timeIntervalSince1970), \(c.sessionID)) ON CONFLICT (id) DO NOTHING
            """)
    }

    public func commit(_ id: String) throws(AFSError) -> CommitInfo? {
        try select("read commit \(id)", "SELECT * FROM afs_commit WHERE id = \(id)", PostgresCatalog.commit).first
    }

    public func ref(_ name: String) throws(AFSError) -> RefInfo? {
        try select("read ref \(name)", "SELECT * FROM afs_ref WHERE name = \(name)", PostgresCatalog.ref).first
    }

    public func refs() throws(AFSError) -> [RefInfo] {
        try select("list refs", "SELECT * FROM afs_ref ORDER BY name COLLATE \"C\"", PostgresCatalog.ref)
    }

    public func setRef(_ name: String, to commit: String, expected: String?) throws(AFSError) -> Bool {
        let now = Date().timeIntervalSince1970
        if let expected {
            return try execute(
                "move ref \(name)",
                "UPDATE afs_ref SET commit_id = \(commit), updated_at = \(now) WHERE name = \(name) AND commit_id = \(expected) RETURNING name") == 1
        }
        return try execute(
            "create ref \(name)",
            "INSERT INTO afs_ref (name, commit_id, updated_at) VALUES (\(name), \(commit), \(now)) ON CONFLICT (name) DO NOTHING RETURNING name") == 1
    }

    // MARK: Snapshots

    public func insertSnapshot(_ s: SnapshotInfo) throws(AFSError) {
        let inserted = try execute(
            "record snapshot \(s.name)",
            """
            INSERT INTO afs_snapshot (name, root, session_id, created_at)
            VALUES (\(s.name), \(s.root.hex), \(s.sessionID), \(s.createdAt.timeIntervalSince1970))
            ON CONFLICT (name) DO NOTHING RETURNING name
            """)
        if inserted == 0 { throw AFSError(.alreadyExists, "snapshot \(s.name) already exists; pick another name") }
    }

    public func snapshot(_ name: String) throws(AFSError) -> SnapshotInfo? {
        try select("read snapshot \(name)", "SELECT * FROM afs_snapshot WHERE name = \(name)", PostgresCatalog.snapshot).first
    }

    public func snapshots() throws(AFSError) -> [SnapshotInfo] {
        try select("list snapshots", "SELECT * FROM afs_snapshot ORDER BY name COLLATE \"C\"", PostgresCatalog.snapshot)
    }

    public func liveRoots() throws(AFSError) -> [ChunkID] {
        try select(
            "list GC roots",
            """
            SELECT root FROM afs_session UNION ALL SELECT root FROM afs_checkpoint
            UNION ALL SELECT root FROM afs_commit UNION ALL SELECT root FROM afs_snapshot
            """
        ) { row in try PostgresCatalog.chunkID(row, "root") }
    }
}
