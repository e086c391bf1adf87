import Foundation
import GRDB

extension SQLiteCatalog: CoordinationCatalog {
    // MARK: Changefeed

    private static func event(_ row: Row) -> ChangeEvent {
        ChangeEvent(
            seq: UInt64(row["seq"] as Int64), session: row["session_id"],
            kind: ChangeEvent.Kind(rawValue: row["kind"]) ?? .write, path: row["path"],
            size: (row["size"] as Int64?).map { UInt64($0) }, contentID: row["content_id"], actor: row["actor"],
            time: row["time"], detail: row["detail"])
    }

    /// `INSERT OR IGNORE`s the events in one transaction; with `durable: false` it commits at
    /// `synchronous=NORMAL`, skipping the fsync.
    public func appendEvents(_ events: [ChangeEvent], durable: Bool) throws(AFSError) {
        if events.isEmpty { return }
        let body = { (db: Database) throws -> Void in try SQLiteCatalog.insertEvents(events, db) }
        if durable { try write(body) } else { try writeRelaxed(body) }
    }

    static func insertEvents(_ events: [ChangeEvent], _ db: Database) throws {
        for e in events {
            try db.execute(
                cached: """
                    INSERT OR IGNORE INTO change_event (session_id, seq, kind, path, size, content_id, actor, time, detail)
                    VALUES (?,?,?,?,?,?,?,?,?)
                    """,
                arguments: [e.session, Int64(e.seq), e.kind.rawValue, e.path, e.size.map { Int64($0) }, e.contentID, e.actor, e.time, e.detail])
        }
    }

    /// Up to `limit` `change_event` rows of the session with seq above `seq`, in seq order.
    public func events(session: String, after seq: UInt64, limit: Int) throws(AFSError) -> [ChangeEvent] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM change_event WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                arguments: [session, Int64(seq), limit]
            ).map(SQLiteCatalog.event)
        }
    }

    /// Highest seq the session has used: its newest event or its prune floor, whichever is larger; 0 when none.
    public func lastSeq(session: String) throws(AFSError) -> UInt64 {
        try read { db in
            let events = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT MAX(seq) FROM change_event WHERE session_id = ?"), arguments: [session]) ?? 0
            let floor = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT floor FROM change_floor WHERE session_id = ?"), arguments: [session]) ?? 0
            return UInt64(max(events, floor))
        }
    }

    /// The session's `change_floor` value; 0 before anything was pruned.
    public func eventFloor(session: String) throws(AFSError) -> UInt64 {
        try read { db in UInt64(try Int64.fetchOne(try db.cachedStatement(sql: "SELECT floor FROM change_floor WHERE session_id = ?"), arguments: [session]) ?? 0) }
    }

    /// Deletes events through `seq` and raises (never lowers) the session's floor, in one transaction.
    public func pruneEvents(session: String, through seq: UInt64) throws(AFSError) {
        try write { db in
            try db.execute(cached: "DELETE FROM change_event WHERE session_id = ? AND seq <= ?", arguments: [session, Int64(seq)])
            try db.execute(
                cached: "INSERT INTO change_floor (session_id, floor) VALUES (?, ?) ON CONFLICT(session_id) DO UPDATE SET floor = MAX(floor, excluded.floor)",
                arguments: [session, Int64(seq)])
        }
    }

    // MARK: Bus

    /// Appends at the topic's highest offset plus one, in one transaction; every 64th message also
    /// deletes all but the newest `retain` (0 keeps everything).
    public func publish(session: String, topic: String, sender: String, payload: String, time: Int64, retain: Int) throws(AFSError) -> BusMessage {
        try write { db in
            let last = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT MAX(offset) FROM bus_message WHERE session_id = ? AND topic = ?"), arguments: [session, topic]) ?? 0
            let offset = last + 1
            try db.execute(
                cached: "INSERT INTO bus_message (session_id, topic, offset, sender, payload, time) VALUES (?,?,?,?,?,?)",
                arguments: [session, topic, offset, sender, payload, time])
            if retain > 0 && offset > Int64(retain) && offset % 64 == 0 {
                try db.execute(
                    cached: "DELETE FROM bus_message WHERE session_id = ? AND topic = ? AND offset <= ?",
                    arguments: [session, topic, offset - Int64(retain)])
            }
            return BusMessage(session: session, topic: topic, offset: UInt64(offset), sender: sender, payload: payload, time: time)
        }
    }

    /// Up to `limit` messages of a topic from `offset` (inclusive), in offset order.
    public func messages(session: String, topic: String, from offset: UInt64, limit: Int) throws(AFSError) -> [BusMessage] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM bus_message WHERE session_id = ? AND topic = ? AND offset >= ? ORDER BY offset LIMIT ?",
                arguments: [session, topic, Int64(offset), limit]
            ).map { row in
                BusMessage(
                    session: row["session_id"], topic: row["topic"], offset: UInt64(row["offset"] as Int64), sender: row["sender"],
                    payload: row["payload"], time: row["time"])
            }
        }
    }

    /// Distinct topics with stored messages for the session, sorted.
    public func topics(session: String) throws(AFSError) -> [String] {
        try read { db in try String.fetchAll(try db.cachedStatement(sql: "SELECT DISTINCT topic FROM bus_message WHERE session_id = ? ORDER BY topic"), arguments: [session]) }
    }

    // MARK: Leases

    private static func lease(_ row: Row) -> Lease {
        Lease(
            session: row["session_id"], path: row["path"], prefix: row["prefix"], exclusive: row["exclusive"], holder: row["holder"],
            token: UInt64(row["token"] as Int64), expiresAt: row["expires_at"])
    }

    /// In one transaction: drops expired leases, returns nil on a conflicting live one, otherwise bumps
    /// the store-wide `fencing` counter and inserts the lease with that token.
    public func grantLease(session: String, path: String, prefix: Bool, exclusive: Bool, holder: String, ttl: Double, now: Double) throws(AFSError) -> Lease? {
        try write { db in
            try db.execute(cached: "DELETE FROM lease WHERE expires_at <= ?", arguments: [now])
            let live = try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM lease WHERE session_id = ?"), arguments: [session]).map(SQLiteCatalog.lease)
            let wanted = Lease(session: session, path: path, prefix: prefix, exclusive: exclusive, holder: holder, token: 0, expiresAt: now + ttl)
            if live.contains(where: { $0.overlaps(wanted) && ($0.exclusive || exclusive) }) { return nil }
            // The fencing counter never goes back, even when leases are deleted.
            try db.execute(cached: "INSERT INTO counter (name, value) VALUES ('fencing', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1")
            let token = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT value FROM counter WHERE name = 'fencing'"))!
            try db.execute(
                cached: "INSERT INTO lease (token, session_id, path, prefix, exclusive, holder, expires_at) VALUES (?,?,?,?,?,?,?)",
                arguments: [token, session, path, prefix, exclusive, holder, now + ttl])
            var granted = wanted
            granted.token = UInt64(token)
            return granted
        }
    }

    /// Sets `expires_at` to `now + ttl` if the lease is still live; nil when it expired or is gone.
    public func renewLease(token: UInt64, ttl: Double, now: Double) throws(AFSError) -> Lease? {
        try write { db in
            try db.execute(cached: "UPDATE lease SET expires_at = ? WHERE token = ? AND expires_at > ?", arguments: [now + ttl, Int64(token), now])
            guard db.changesCount == 1 else { return nil }
            return try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM lease WHERE token = ?"), arguments: [Int64(token)]).map(SQLiteCatalog.lease)
        }
    }

    /// Deletes the lease with that token, live or not; false when there was none.
    public func releaseLease(token: UInt64) throws(AFSError) -> Bool {
        try write { db in
            try db.execute(cached: "DELETE FROM lease WHERE token = ?", arguments: [Int64(token)])
            return db.changesCount == 1
        }
    }

    /// Leases of the session not yet expired at `now`, by token.
    public func leases(session: String, now: Double) throws(AFSError) -> [Lease] {
        try read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM lease WHERE session_id = ? AND expires_at > ? ORDER BY token"), arguments: [session, now])
                .map(SQLiteCatalog.lease)
        }
    }

    // MARK: Annotations

    /// Inserts one `annotation` row; a duplicate ID fails with `io`.
    public func insertAnnotation(_ a: Annotation) throws(AFSError) {
        try write { db in
            try db.execute(
                cached: "INSERT INTO annotation (id, session_id, path, line_start, line_end, commit_id, author, kind, text, time) VALUES (?,?,?,?,?,?,?,?,?,?)",
                arguments: [a.id, a.session, a.path, a.lineStart, a.lineEnd, a.commitID, a.author, a.kind, a.text, a.time])
        }
    }

    /// Every annotation of the session, by time, then ID.
    public func annotations(session: String) throws(AFSError) -> [Annotation] {
        try read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM annotation WHERE session_id = ? ORDER BY time, id"), arguments: [session]).map { row in
                Annotation(
                    id: row["id"], session: row["session_id"], path: row["path"], lineStart: row["line_start"], lineEnd: row["line_end"],
                    commitID: row["commit_id"], author: row["author"], kind: row["kind"], text: row["text"], time: row["time"])
            }
        }
    }

    // MARK: Reviews

    /// Replaces the session's review request (reviewers newline-joined) and deletes its earlier
    /// decisions, in one transaction.
    public func setReview(session: String, reviewers: [String], required: Int, requestedBy: String, time: Int64) throws(AFSError) {
        try write { db in
            try db.execute(cached: "DELETE FROM review_decision WHERE session_id = ?", arguments: [session])
            try db.execute(
                cached: "INSERT OR REPLACE INTO review (session_id, reviewers, required, requested_by, time) VALUES (?,?,?,?,?)",
                arguments: [session, reviewers.joined(separator: "\n"), required, requestedBy, time])
        }
    }

    /// The stored request (reviewers, required approvals, requester); nil when none was made.
    public func review(session: String) throws(AFSError) -> (reviewers: [String], required: Int, requestedBy: String)? {
        try read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM review WHERE session_id = ?"), arguments: [session]).map { row in
                let r: String = row["reviewers"]
                return (r.split(separator: "\n").map(String.init), row["required"], row["requested_by"])
            }
        }
    }

    /// Upserts a reviewer's decision: a second one by the same reviewer replaces the first.
    public func addDecision(session: String, _ d: ReviewState.Decision) throws(AFSError) {
        try write { db in
            try db.execute(
                cached: "INSERT OR REPLACE INTO review_decision (session_id, reviewer, approved, comment, time) VALUES (?,?,?,?,?)",
                arguments: [session, d.reviewer, d.approved, d.comment, d.time])
        }
    }

    /// Decisions on the session's review, oldest first.
    public func decisions(session: String) throws(AFSError) -> [ReviewState.Decision] {
        try read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM review_decision WHERE session_id = ? ORDER BY time"), arguments: [session]).map { row in
                ReviewState.Decision(reviewer: row["reviewer"], approved: row["approved"], comment: row["comment"], time: row["time"])
            }
        }
    }

    /// Deletes every decision of the session, keeping the request itself.
    public func clearDecisions(session: String) throws(AFSError) {
        try write { db in try db.execute(cached: "DELETE FROM review_decision WHERE session_id = ?", arguments: [session]) }
    }

    /// Upserts the ref's `ref_policy` row; 0 is stored and reads back as no requirement.
    public func setRefPolicy(ref: String, requiredApprovals: Int) throws(AFSError) {
        try write { db in
            try db.execute(cached: "INSERT OR REPLACE INTO ref_policy (ref, required_approvals) VALUES (?, ?)", arguments: [ref, requiredApprovals])
        }
    }

    /// Required approvals for `ref`; 0 when it has no policy row.
    public func refPolicy(ref: String) throws(AFSError) -> Int {
        try read { db in try Int.fetchOne(try db.cachedStatement(sql: "SELECT required_approvals FROM ref_policy WHERE ref = ?"), arguments: [ref]) ?? 0 }
    }

    // MARK: Knowledge

    private static func knowledgeEntry(_ row: Row) -> KnowledgeEntry {
        let scope: String = row["scope"]
        let tags: String = row["tags"]
        return KnowledgeEntry(
            scope: scope.isEmpty ? nil : scope, key: row["key"], value: row["value"],
            tags: tags.split(separator: "\n").map(String.init), author: row["author"], time: row["time"])
    }

    /// Upserts by scope and key (store-wide entries under scope `""`), replacing value, tags, author and time.
    public func putKnowledge(_ e: KnowledgeEntry) throws(AFSError) {
        try write { db in
            try db.execute(
                cached: "INSERT OR REPLACE INTO knowledge (scope, key, value, tags, author, time) VALUES (?,?,?,?,?,?)",
                arguments: [e.scope ?? "", e.key, e.value, e.tags.joined(separator: "\n"), e.author, e.time])
        }
    }

    /// Reads one entry by scope and key; nil when absent.
    public func knowledge(scope: String?, key: String) throws(AFSError) -> KnowledgeEntry? {
        try read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM knowledge WHERE scope = ? AND key = ?"), arguments: [scope ?? "", key]).map(SQLiteCatalog.knowledgeEntry)
        }
    }

    /// Deletes one entry by scope and key; false when there was none.
    public func deleteKnowledge(scope: String?, key: String) throws(AFSError) -> Bool {
        try write { db in
            try db.execute(cached: "DELETE FROM knowledge WHERE scope = ? AND key = ?", arguments: [scope ?? "", key])
            return db.changesCount == 1
        }
    }

    /// Entries of exactly one scope, sorted by key; `prefix` is matched in SQL, `tag` filtered
    /// afterwards in memory.
    public func knowledge(scope: String?, prefix: String?, tag: String?) throws(AFSError) -> [KnowledgeEntry] {
        try read { db in
            var sql = "SELECT * FROM knowledge WHERE scope = ?"
            var args: StatementArguments = [scope ?? ""]
            if let prefix, !prefix.isEmpty {
                sql += " AND substr(key, 1, ?) = ?"
                _ = args.append(contentsOf: [prefix.count, prefix])
            }
            sql += " ORDER BY key"
            let all = try Row.fetchAll(db, sql: sql, arguments: args).map(SQLiteCatalog.knowledgeEntry)
            guard let tag else { return all }
            return all.filter { $0.tags.contains(tag) }
        }
    }

    /// In one transaction, deletes the session's events, floor, messages, leases, annotations,
    /// review and decisions, and its knowledge scope.
    public func deleteCoordination(session: String) throws(AFSError) {
        try write { db in
            for table in ["change_event", "change_floor", "bus_message", "lease", "annotation", "review", "review_decision"] {
                try db.execute(cached: "DELETE FROM \(table) WHERE session_id = ?", arguments: [session])
            }
            try db.execute(cached: "DELETE FROM knowledge WHERE scope = ?", arguments: [session])
        }
    }
}

extension Lease {
    /// Whether the lease covers `path` (itself, or below it for a prefix lease).
    public func covers(_ path: String) -> Bool {
        if path == self.path { return true }
        guard prefix else { return false }
        return self.path == "/" || path.hasPrefix(self.path + "/")
    }

    /// Whether one of the two leases covers the other's path (they conflict when either is exclusive).
    public func overlaps(_ other: Lease) -> Bool {
        covers(other.path) || other.covers(path)
    }
}
