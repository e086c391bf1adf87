import Foundation
import GRDB

/// The controller's durable state: one row per workspace and its event history, in SQLite (WAL,
/// synchronous=FULL), so every transition is on disk before the controller acts on it.
///
/// A workspace row is its JSON document plus the columns queries need; a transition and its event
/// are written in one transaction, so the history never disagrees with the state.
final class WorkspaceDatabase: Sendable {
    private let db: DatabaseQueue

    init(path: String) throws(WorkspaceError) {
        do {
            var config = Configuration()
            config.busyMode = .timeout(5)
            db = try DatabaseQueue(path: path, configuration: config)
            try db.writeWithoutTransaction { db in
                _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try db.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS workspaces (
                        id TEXT PRIMARY KEY,
                        project TEXT NOT NULL,
                        status TEXT NOT NULL,
                        body TEXT NOT NULL
                    );
                    CREATE TABLE IF NOT EXISTS events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        workspace TEXT NOT NULL,
                        body TEXT NOT NULL
                    );
                    CREATE INDEX IF NOT EXISTS events_by_workspace ON events(workspace, seq);
                    """)
            }
        } catch {
            throw WorkspaceError(.io, "cannot open the workspace database \(path): \(error)")
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(date.timeIntervalSince1970)
        }
        e.outputFormatting = .sortedKeys
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            Date(timeIntervalSince1970: try decoder.singleValueContainer().decode(Double.self))
        }
        return d
    }()

    /// Writes the workspace and, when given, one event about it, atomically.
    func save(_ ws: Workspace, event: WorkspaceEvent? = nil) throws(WorkspaceError) {
        do {
            let body = String(decoding: try WorkspaceDatabase.encoder.encode(ws), as: UTF8.self)
            let eventBody = try event.map { String(decoding: try WorkspaceDatabase.encoder.encode($0), as: UTF8.self) }
            try db.write { db in
                try db.execute(
                    sql: "INSERT OR REPLACE INTO workspaces(id, project, status, body) VALUES (?, ?, ?, ?)",
                    arguments: [ws.id, ws.project, ws.status.rawValue, body])
                if let eventBody {
                    try db.execute(sql: "INSERT INTO events(workspace, body) VALUES (?, ?)", arguments: [ws.id, eventBody])
                }
            }
        } catch {
            throw WorkspaceError(.io, "cannot record workspace \(ws.id): \(error)")
        }
    }

    func workspace(_ id: String) throws(WorkspaceError) -> Workspace? {
        do {
            guard let body = try db.read({ db in try String.fetchOne(db, sql: "SELECT body FROM workspaces WHERE id = ?", arguments: [id]) }) else {
                return nil
            }
            return try WorkspaceDatabase.decoder.decode(Workspace.self, from: Data(body.utf8))
        } catch {
            throw WorkspaceError(.io, "cannot read workspace \(id): \(error)")
        }
    }

    func workspaces(status: WorkspaceStatus? = nil, project: String? = nil) throws(WorkspaceError) -> [Workspace] {
        do {
            var sql = "SELECT body FROM workspaces"
            var clauses: [String] = []
            var args: [any DatabaseValueConvertible] = []
            if let status {
                clauses.append("status = ?")
                args.append(status.rawValue)
            }
            if let project {
                clauses.append("project = ?")
                args.append(project)
            }
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            let bodies = try db.read { db in try String.fetchAll(db, sql: sql, arguments: StatementArguments(args)) }
            return try bodies.map { try WorkspaceDatabase.decoder.decode(Workspace.self, from: Data($0.utf8)) }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        } catch {
            throw WorkspaceError(.io, "cannot list workspaces: \(error)")
        }
    }

    /// Appends an event; its `seq` is assigned here.
    func record(_ event: WorkspaceEvent) throws(WorkspaceError) {
        do {
            let body = String(decoding: try WorkspaceDatabase.encoder.encode(event), as: UTF8.self)
            try db.write { db in try db.execute(sql: "INSERT INTO events(workspace, body) VALUES (?, ?)", arguments: [event.workspace, body]) }
        } catch {
            throw WorkspaceError(.io, "cannot record an event of \(event.workspace): \(error)")
        }
    }

    func events(_ id: String, limit: Int = 1000) throws(WorkspaceError) -> [WorkspaceEvent] {
        do {
            let rows = try db.read { db in
                try Row.fetchAll(db, sql: "SELECT seq, body FROM events WHERE workspace = ? ORDER BY seq DESC LIMIT ?", arguments: [id, limit])
            }
            return try rows.reversed().map { row in
                var e = try WorkspaceDatabase.decoder.decode(WorkspaceEvent.self, from: Data((row["body"] as String).utf8))
                e.seq = row["seq"]
                return e
            }
        } catch {
            throw WorkspaceError(.io, "cannot read the events of \(id): \(error)")
        }
    }

    func delete(_ id: String) throws(WorkspaceError) {
        do {
            try db.write { db in
                try db.execute(sql: "DELETE FROM workspaces WHERE id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM events WHERE workspace = ?", arguments: [id])
            }
        } catch {
            throw WorkspaceError(.io, "cannot delete workspace \(id): \(error)")
        }
    }
}
