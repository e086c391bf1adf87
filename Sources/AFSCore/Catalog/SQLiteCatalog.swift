import Foundation
import GRDB

/// The embedded catalog: one SQLite database in WAL mode with `synchronous=FULL`, so a returned
/// call survives a crash. New sessions (forks, creations) are made durable by a record in the
/// catalog's intent log instead (`catalog.sqlite-intents/`, FORMAT.md §16), whose rows SQLite
/// takes later without a sync of its own; every read and write applies those first.
public final class SQLiteCatalog: Catalog {
    private let db: DatabaseQueue
    let committer = CatalogGroupCommit()
    /// Where new sessions are logged before SQLite applies them: `PATH-intents/`.
    let intents: CatalogIntentLog
    /// The `counter` row holding the highest intent LSN applied.
    static let appliedIntentsCounter = "catalog_intents"

    /// Opens (creating and migrating as needed) the database at `path`, and its intent log in
    /// `PATH-intents/`, replaying what a crash left there.
    public convenience init(path: String) throws(AFSError) {
        try self.init(path: path, intentRotationBytes: CatalogIntentLog.defaultRotationBytes)
    }

    /// ``init(path:)`` with the intent log's generation size (tests and crash storms rotate often).
    init(path: String, intentRotationBytes: Int64) throws(AFSError) {
        do {
            var config = Configuration()
            config.busyMode = .timeout(5)
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                try db.execute(sql: "PRAGMA foreign_keys = ON")
                // One process holds a store open (StoreLock), so nothing else reads the catalog
                // meanwhile: keep SQLite's locks for the connection's life and its WAL index in
                // memory, instead of an fcntl lock and unlock on the -shm file around every
                // transaction (5 % of a fork's CPU). Set before the first WAL access, as SQLite requires.
                try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            }
            db = try DatabaseQueue(path: path, configuration: config)
            try db.writeWithoutTransaction { db in
                _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            }
            try SQLiteCatalog.migrator.migrate(db)
        } catch let e as AFSError {
            throw e
        } catch {
            throw AFSError(.io, "cannot open catalog \(path): \(error)")
        }
        let directory = path + "-intents"
        let recovered = try CatalogIntentLog.recover(directory: directory)
        let applied = try SQLiteCatalog.replay(recovered, into: db, committer: committer)
        let queue: DatabaseQueue = db
        let applier = CatalogIntentLog.Applier(
            apply: { (intents) throws(AFSError) in try SQLiteCatalog.apply(intents, on: queue) },
            barrier: { [committer] () throws(AFSError) in try SQLiteCatalog.rotationBarrier(queue, committer) })
        intents = try CatalogIntentLog(
            directory: directory, after: recovered, lastLSN: applied, rotationBytes: intentRotationBytes, applier: applier)
    }

    deinit { intents.close() }

    /// Applies the recovered records SQLite does not hold (LSN above its counter) in one fully
    /// synced transaction; returns the highest LSN applied now or before.
    private static func replay(_ recovered: CatalogIntentLog.Recovered, into db: DatabaseQueue, committer: CatalogGroupCommit) throws(AFSError) -> UInt64 {
        do {
            let applied = try db.read { db in
                UInt64(try Int64.fetchOne(db, sql: "SELECT value FROM counter WHERE name = ?", arguments: [appliedIntentsCounter]) ?? 0)
            }
            let missing = recovered.intents.filter { $0.lsn > applied }
            guard let last = missing.map(\.lsn).max() else { return applied }
            try committer.write(on: db) { db in try insert(missing, db) }
            return last
        } catch let e as AFSError {
            throw e
        } catch {
            throw AFSError(.io, "cannot replay the catalog's intent log: \(error)")
        }
    }

    /// Inserts the records' rows (events first, duplicates ignored) and raises `catalog_intents`
    /// to the last LSN, in the caller's transaction.
    private static func insert(_ intents: [CatalogIntent], _ db: Database) throws {
        for intent in intents {
            try insertEvents(intent.events, db)
            try db.execute(
                cached: """
                    INSERT OR IGNORE INTO session (id, name, status, parent_id, source, root, base_commit, head_commit,
                    created_at, updated_at, journal_generation, tenant) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                    """, arguments: arguments(intent.session))
        }
        if let last = intents.last { try recordAppliedIntents(through: last.lsn, db) }
    }

    /// Applies durable records, with `synchronous=NORMAL` (their durability is the log's). Called
    /// from ``CatalogIntentLog/applyPending()``, so it must not call it again.
    private static func apply(_ intents: [CatalogIntent], on queue: DatabaseQueue) throws(AFSError) {
        do {
            try queue.writeWithoutTransaction { db in
                try db.execute(cached: "PRAGMA synchronous = NORMAL")
                defer { try? db.execute(cached: "PRAGMA synchronous = FULL") }
                try db.inTransaction {
                    try insert(intents, db)
                    return .commit
                }
            }
        } catch let e as AFSError { throw e } catch {
            throw AFSError(.io, "catalog write failed: \(error)")
        }
    }

    /// A fully synced commit that changes a row, so SQLite syncs its WAL: every transaction
    /// committed before it becomes durable. Run before the intent log removes a file.
    private static func rotationBarrier(_ queue: DatabaseQueue, _ committer: CatalogGroupCommit) throws(AFSError) {
        do {
            try committer.write(on: queue) { db in
                try db.execute(
                    cached: "INSERT INTO counter (name, value) VALUES ('catalog_intent_rotations', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1")
            }
        } catch let e as AFSError { throw e } catch {
            throw AFSError(.io, "catalog write failed: \(error)")
        }
    }

    /// Raises (never lowers) the highest intent LSN the catalog holds, in the caller's transaction.
    static func recordAppliedIntents(through lsn: UInt64, _ db: Database) throws {
        try db.execute(
            cached: """
                INSERT INTO counter (name, value) VALUES (?, ?)
                ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)
                """, arguments: [appliedIntentsCounter, Int64(lsn)])
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE session (
                    id TEXT PRIMARY KEY, name TEXT, status TEXT NOT NULL, parent_id TEXT, source TEXT NOT NULL,
                    root TEXT NOT NULL, base_commit TEXT, head_commit TEXT,
                    created_at REAL NOT NULL, updated_at REAL NOT NULL, journal_generation INTEGER NOT NULL);
                CREATE INDEX session_status ON session(status);
                CREATE TABLE checkpoint (
                    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, root TEXT NOT NULL, label TEXT,
                    created_at REAL NOT NULL);
                CREATE INDEX checkpoint_session ON checkpoint(session_id);
                CREATE TABLE commit_object (
                    id TEXT PRIMARY KEY, root TEXT NOT NULL, parents TEXT NOT NULL, message TEXT NOT NULL,
                    author TEXT NOT NULL, created_at REAL NOT NULL, session_id TEXT);
                CREATE TABLE ref (name TEXT PRIMARY KEY, commit_id TEXT NOT NULL, updated_at REAL NOT NULL);
                CREATE TABLE snapshot (
                    name TEXT PRIMARY KEY, root TEXT NOT NULL, session_id TEXT, created_at REAL NOT NULL);
                """)
        }
        m.registerMigration("v2-coordination") { db in
            try db.execute(sql: """
                ALTER TABLE checkpoint ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE change_event (
                    session_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL,
                    size INTEGER, content_id TEXT, actor TEXT NOT NULL, time INTEGER NOT NULL, detail TEXT,
                    PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
                CREATE TABLE change_floor (session_id TEXT PRIMARY KEY, floor INTEGER NOT NULL);
                CREATE TABLE bus_message (
                    session_id TEXT NOT NULL, topic TEXT NOT NULL, offset INTEGER NOT NULL, sender TEXT NOT NULL,
                    payload TEXT NOT NULL, time INTEGER NOT NULL, PRIMARY KEY (session_id, topic, offset)) WITHOUT ROWID;
                CREATE TABLE lease (
                    token INTEGER PRIMARY KEY, session_id TEXT NOT NULL, path TEXT NOT NULL, prefix INTEGER NOT NULL,
                    exclusive INTEGER NOT NULL, holder TEXT NOT NULL, expires_at REAL NOT NULL);
                CREATE INDEX lease_session ON lease(session_id);
                CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                CREATE TABLE annotation (
                    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, path TEXT, line_start INTEGER, line_end INTEGER,
                    commit_id TEXT, author TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, time INTEGER NOT NULL);
                CREATE INDEX annotation_session ON annotation(session_id);
                CREATE TABLE review (
                    session_id TEXT PRIMARY KEY, reviewers TEXT NOT NULL, required INTEGER NOT NULL,
                    requested_by TEXT NOT NULL, time INTEGER NOT NULL);
                CREATE TABLE review_decision (
                    session_id TEXT NOT NULL, reviewer TEXT NOT NULL, approved INTEGER NOT NULL, comment TEXT NOT NULL,
                    time INTEGER NOT NULL, PRIMARY KEY (session_id, reviewer)) WITHOUT ROWID;
                CREATE TABLE ref_policy (ref TEXT PRIMARY KEY, required_approvals INTEGER NOT NULL);
                CREATE TABLE knowledge (
                    scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, tags TEXT NOT NULL,
                    author TEXT NOT NULL, time INTEGER NOT NULL, PRIMARY KEY (scope, key)) WITHOUT ROWID;
                """)
        }
        // The owning tenant moved here from the server's own database, so that creating a
        // session and recording its owner are one transaction.
        m.registerMigration("v3-session-tenant") { db in
            try db.execute(sql: "ALTER TABLE session ADD COLUMN tenant TEXT")
        }
        return m
    }

    /// Closes the database: its exclusive lock goes with it, so the store can be opened again in
    /// this process or another.
    public func close() throws(AFSError) {
        intents.close()
        do { try db.close() } catch { throw AFSError(.io, "cannot close the catalog: \(error)") }
    }

    /// A write whose durability the caller provides elsewhere (the session journal): skips the fsync.
    func writeRelaxed<T>(_ body: (Database) throws -> T) throws(AFSError) -> T {
        try intents.applyPending()
        do {
            return try db.writeWithoutTransaction { db in
                try db.execute(cached: "PRAGMA synchronous = NORMAL")
                defer { try? db.execute(cached: "PRAGMA synchronous = FULL") }
                var result: T?
                try db.inTransaction {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let e as AFSError { throw e } catch {
            throw AFSError(.io, "catalog write failed: \(error)")
        }
    }

    /// A durable write, committed together with the writes that arrive while another commits
    /// (``CatalogGroupCommit``).
    func write<T>(_ body: (Database) throws -> T) throws(AFSError) -> T {
        try intents.applyPending()
        do { return try committer.write(on: db, body) } catch let e as AFSError { throw e } catch {
            throw AFSError(.io, "catalog write failed: \(error)")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(AFSError) -> T {
        try intents.applyPending()
        do { return try db.read(body) } catch let e as AFSError { throw e } catch {
            throw AFSError(.io, "catalog read failed: \(error)")
        }
    }

    private static func id(_ row: Row, _ column: String) throws -> ChunkID {
        guard let s: String = row[column], let id = ChunkID(hex: s) else {
            throw AFSError.corrupted("catalog row has an invalid \(column)")
        }
        return id
    }

    private static func date(_ row: Row, _ column: String) -> Date {
        Date(timeIntervalSince1970: row[column] as Double)
    }

    // MARK: Sessions

    private static func session(_ row: Row) throws -> SessionInfo {
        SessionInfo(
            id: row["id"], name: row["name"],
            status: SessionStatus(rawValue: row["status"]) ?? .active,
            parentID: row["parent_id"], source: row["source"], root: try id(row, "root"),
            baseCommit: row["base_commit"], headCommit: row["head_commit"],
            createdAt: date(row, "created_at"), updatedAt: date(row, "updated_at"),
            journalGeneration: row["journal_generation"], tenant: row["tenant"])
    }

    private static func arguments(_ s: SessionInfo) -> StatementArguments {
        [s.id, s.name, s.status.rawValue, s.parentID, s.source, s.root.hex, s.baseCommit, s.headCommit,
         s.createdAt.timeIntervalSince1970, s.updatedAt.timeIntervalSince1970, s.journalGeneration, s.tenant]
    }

    /// Records the `session` row and `events` (duplicates ignored): durable when this returns,
    /// through one record of the intent log (whose `fdatasync` concurrent callers share); SQLite
    /// takes the rows later, before any later read or write of this catalog is served. The
    /// ID must be new (the store draws 80 random bits for it).
    public func insertSession(_ session: SessionInfo, events: [ChangeEvent]) throws(AFSError) {
        try intents.insert(session, events: events)
    }

    /// Reads one `session` row by ID; nil when there is none.
    public func session(_ id: String) throws(AFSError) -> SessionInfo? {
        try read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM session WHERE id = ?"), arguments: [id]).map(SQLiteCatalog.session)
        }
    }

    /// Sessions with `status` (all when nil), ordered by creation time, then ID.
    public func sessions(status: SessionStatus?) throws(AFSError) -> [SessionInfo] {
        try read { db in
            let rows: [Row]
            if let status {
                rows = try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM session WHERE status = ? ORDER BY created_at, id"), arguments: [status.rawValue])
            } else {
                rows = try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM session ORDER BY created_at, id"))
            }
            return try rows.map(SQLiteCatalog.session)
        }
    }

    /// Overwrites every column of the row with `session.id`; `notFound` when no row matched.
    public func updateSession(_ session: SessionInfo) throws(AFSError) {
        try write { db in
            var args = SQLiteCatalog.arguments(session)
            _ = args.append(contentsOf: [session.id])
            try db.execute(
                cached: """
                    UPDATE session SET id=?, name=?, status=?, parent_id=?, source=?, root=?, base_commit=?, head_commit=?,
                    created_at=?, updated_at=?, journal_generation=?, tenant=? WHERE id=?
                    """, arguments: args)
            if db.changesCount == 0 { throw AFSError.notFound("session \(session.id) does not exist") }
        }
    }

    /// Deletes the session row and its checkpoints in one transaction; a missing ID is not an error.
    public func deleteSession(_ id: String) throws(AFSError) {
        try write { db in
            try db.execute(cached: "DELETE FROM checkpoint WHERE session_id = ?", arguments: [id])
            try db.execute(cached: "DELETE FROM session WHERE id = ?", arguments: [id])
        }
    }

    // MARK: Checkpoints

    private static func checkpoint(_ row: Row) throws -> CheckpointInfo {
        CheckpointInfo(
            id: row["id"], sessionID: row["session_id"], root: try id(row, "root"), label: row["label"], createdAt: date(row, "created_at"),
            changeSeq: UInt64(row["seq"] as Int64))
    }

    /// Inserts a `checkpoint` row, with `changeSeq` in its `seq` column; a duplicate ID fails with `io`.
    public func insertCheckpoint(_ c: CheckpointInfo) throws(AFSError) {
        try write { db in
            try db.execute(
                cached: "INSERT INTO checkpoint (id, session_id, root, label, created_at, seq) VALUES (?,?,?,?,?,?)",
                arguments: [c.id, c.sessionID, c.root.hex, c.label, c.createdAt.timeIntervalSince1970, Int64(c.changeSeq)])
        }
    }

    /// Reads one checkpoint by ID; nil when there is none.
    public func checkpoint(_ id: String) throws(AFSError) -> CheckpointInfo? {
        try read { db in try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM checkpoint WHERE id = ?"), arguments: [id]).map(SQLiteCatalog.checkpoint) }
    }

    /// A session's checkpoints, oldest first (ties in insertion order); empty for an unknown session.
    public func checkpoints(session: String) throws(AFSError) -> [CheckpointInfo] {
        try read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM checkpoint WHERE session_id = ? ORDER BY created_at, rowid"), arguments: [session])
                .map(SQLiteCatalog.checkpoint)
        }
    }

    // MARK: Commits and refs

    private static func commit(_ row: Row) throws -> CommitInfo {
        let parents: String = row["parents"]
        return CommitInfo(
            id: row["id"], root: try id(row, "root"),
            parents: parents.split(separator: ",").map(String.init),
            message: row["message"], author: row["author"], createdAt: date(row, "created_at"), sessionID: row["session_id"])
    }

    /// `INSERT OR IGNORE` into `commit_object`, parents comma-joined: commits are content-addressed,
    /// so inserting one again is a no-op.
    public func insertCommit(_ c: CommitInfo) throws(AFSError) {
        try write { db in
            try db.execute(
                cached: "INSERT OR IGNORE INTO commit_object (id, root, parents, message, author, created_at, session_id) VALUES (?,?,?,?,?,?,?)",
                arguments: [c.id, c.root.hex, c.parents.joined(separator: ","), c.message, c.author, c.createdAt.timeIntervalSince1970, c.sessionID])
        }
    }

    /// Reads one commit by ID; nil when there is none.
    public func commit(_ id: String) throws(AFSError) -> CommitInfo? {
        try read { db in try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM commit_object WHERE id = ?"), arguments: [id]).map(SQLiteCatalog.commit) }
    }

    private static func ref(_ row: Row) -> RefInfo {
        RefInfo(name: row["name"], commitID: row["commit_id"], updatedAt: date(row, "updated_at"))
    }

    /// Reads one ref by name; nil when there is none.
    public func ref(_ name: String) throws(AFSError) -> RefInfo? {
        try read { db in try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM ref WHERE name = ?"), arguments: [name]).map(SQLiteCatalog.ref) }
    }

    /// Every ref, sorted by name.
    public func refs() throws(AFSError) -> [RefInfo] {
        try read { db in try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM ref ORDER BY name")).map(SQLiteCatalog.ref) }
    }

    /// Compare-and-set as one conditional `UPDATE` (or `INSERT OR IGNORE` when `expected` is nil);
    /// true only when exactly one row changed. Stamps `updated_at` with the current time.
    public func setRef(_ name: String, to commit: String, expected: String?) throws(AFSError) -> Bool {
        try write { db in
            let now = Date().timeIntervalSince1970
            if let expected {
                try db.execute(cached: "UPDATE ref SET commit_id = ?, updated_at = ? WHERE name = ? AND commit_id = ?", arguments: [commit, now, name, expected])
            } else {
                try db.execute(cached: "INSERT OR IGNORE INTO ref (name, commit_id, updated_at) VALUES (?,?,?)", arguments: [name, commit, now])
            }
            return db.changesCount == 1
        }
    }

    // MARK: Snapshots

    private static func snapshot(_ row: Row) throws -> SnapshotInfo {
        SnapshotInfo(name: row["name"], root: try id(row, "root"), sessionID: row["session_id"], createdAt: date(row, "created_at"))
    }

    /// Inserts a `snapshot` row; `alreadyExists` when the name is taken (checked in the same transaction).
    public func insertSnapshot(_ s: SnapshotInfo) throws(AFSError) {
        try write { db in
            if try Row.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM snapshot WHERE name = ?"), arguments: [s.name]) != nil {
                throw AFSError(.alreadyExists, "snapshot \(s.name) already exists; pick another name")
            }
            try db.execute(
                cached: "INSERT INTO snapshot (name, root, session_id, created_at) VALUES (?,?,?,?)",
                arguments: [s.name, s.root.hex, s.sessionID, s.createdAt.timeIntervalSince1970])
        }
    }

    /// Reads one snapshot by name; nil when there is none.
    public func snapshot(_ name: String) throws(AFSError) -> SnapshotInfo? {
        try read { db in try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM snapshot WHERE name = ?"), arguments: [name]).map(SQLiteCatalog.snapshot) }
    }

    /// Every snapshot, sorted by name.
    public func snapshots() throws(AFSError) -> [SnapshotInfo] {
        try read { db in try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM snapshot ORDER BY name")).map(SQLiteCatalog.snapshot) }
    }

    /// The `root` of every session, checkpoint, commit and snapshot row, duplicates kept;
    /// `corrupted` when one is not a valid hex ID.
    public func liveRoots() throws(AFSError) -> [ChunkID] {
        try read { db in
            var out: [ChunkID] = []
            for table in ["session", "checkpoint", "commit_object", "snapshot"] {
                for s in try String.fetchAll(try db.cachedStatement(sql: "SELECT root FROM \(table)")) {
                    guard let id = ChunkID(hex: s) else { throw AFSError.corrupted("catalog \(table) has an invalid root") }
                    out.append(id)
                }
            }
            return out
        }
    }
}
