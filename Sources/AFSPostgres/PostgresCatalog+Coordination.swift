import AFSCore
import Foundation
import Logging
import PostgresNIO

/// Coordination state in PostgreSQL. Counters that must not collide (bus offsets, lease grants)
/// serialize on transaction-scoped advisory locks keyed by session and topic; fencing tokens come
/// from a sequence, so they only ever grow.
extension PostgresCatalog: CoordinationCatalog {
    // MARK: Changefeed

    static func event(_ row: PostgresRandomAccessRow) throws -> ChangeEvent {
        ChangeEvent(
            seq: UInt64(try row["seq"].decode(Int64.self)), session: try row["session_id"].decode(String.self),
            kind: ChangeEvent.Kind(rawValue: try row["kind"].decode(String.self)) ?? .write, path: try row["path"].decode(String.self),
            size: try row["size"].decode(Int64?.self).map { UInt64($0) }, contentID: try row["content_id"].decode(String?.self),
            actor: try row["actor"].decode(String.self), time: try row["time"].decode(Int64.self), detail: try row["detail"].decode(String?.self))
    }

    /// One multi-row `INSERT … ON CONFLICT DO NOTHING` of `events` (replayed ones are ignored);
    /// `prefix` puts it in a `WITH` clause before another statement, so both commit as one.
    static func eventInsert(_ events: [ChangeEvent], binds: inout PostgresBindings, fenced: Bool = false) -> String {
        var sql = "INSERT INTO afs_change_event (session_id, seq, kind, path, size, content_id, actor, time, detail) "
        sql += fenced ? "SELECT * FROM (VALUES " : "VALUES "
        let types = ["text", "bigint", "text", "text", "bigint", "text", "text", "bigint", "text"]
        for (i, e) in events.enumerated() {
            let p = binds.count
            sql += i == 0 ? "" : ", "
            sql += "(" + (1...9).map { "$\(p + $0)::\(types[$0 - 1])" }.joined(separator: ", ") + ")"
            binds.append(e.session)
            binds.append(Int64(e.seq))
            binds.append(e.kind.rawValue)
            binds.append(e.path)
            binds.append(e.size.map { Int64($0) })
            binds.append(e.contentID)
            binds.append(e.actor)
            binds.append(e.time)
            binds.append(e.detail)
        }
        if fenced { sql += ") AS v WHERE EXISTS (SELECT 1 FROM fence)" }
        return sql + " ON CONFLICT DO NOTHING"
    }

    /// Events per statement (PostgreSQL allows 65,535 parameters; nine per event).
    static let eventsPerStatement = 5_000

    public func appendEvents(_ events: [ChangeEvent], durable: Bool) throws(AFSError) {
        // One statement per slice, committed on its own: a replay that stops half-way is finished
        // by the next replay (rows are keyed by session and seq). `durable: false` changes nothing
        // here; PostgreSQL groups concurrent commits' WAL flushes by itself.
        guard let session = events.first?.session else { return }
        // Events of one session that this replica holds are written under its claim, like the
        // journal records they ride with; each statement also wakes every replica's readers.
        let fence = events.allSatisfy({ $0.session == session }) ? backend.fence(session) : nil
        let logger = self.logger
        var start = 0
        while start < events.count {
            let slice = Array(events[start..<min(events.count, start + PostgresCatalog.eventsPerStatement)])
            var binds = PostgresBindings(capacity: slice.count * 9 + 4)
            var sql = "WITH "
            if let fence { sql += PostgresBackend.fenceClause(session, fence, binds: &binds) + ", " }
            sql += "written AS (" + PostgresCatalog.eventInsert(slice, binds: &binds, fenced: fence != nil) + ") "
            binds.append(session)
            sql += "SELECT pg_notify('\(PostgresCatalog.changeChannel)', $\(binds.count))"
            sql += fence == nil ? "" : ", (SELECT count(*) FROM fence) AS held"
            let query = PostgresQuery(unsafeSQL: sql, binds: binds)
            let held = try backend.perform("record changefeed events") { client -> Bool in
                let rows = try await client.query(query, logger: logger).rows()
                guard fence != nil else { return true }
                return try rows[0]["held"].decode(Int64.self) > 0
            }
            if !held { throw backend.fencedOut(session) }
            start += slice.count
        }
    }

    public func events(session: String, after seq: UInt64, limit: Int) throws(AFSError) -> [ChangeEvent] {
        try select(
            "read the changefeed of \(session)",
            "SELECT * FROM afs_change_event WHERE session_id = \(session) AND seq > \(Int64(seq)) ORDER BY seq LIMIT \(Int64(limit))",
            PostgresCatalog.event)
    }

    public func lastSeq(session: String) throws(AFSError) -> UInt64 {
        try select(
            "read the changefeed position of \(session)",
            """
            SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM afs_change_event WHERE session_id = \(session)), 0),
                            COALESCE((SELECT floor FROM afs_change_floor WHERE session_id = \(session)), 0)) AS last
            """
        ) { row in UInt64(try row["last"].decode(Int64.self)) }.first ?? 0
    }

    public func eventFloor(session: String) throws(AFSError) -> UInt64 {
        try select("read the changefeed floor of \(session)", "SELECT floor FROM afs_change_floor WHERE session_id = \(session)") { row in
            UInt64(try row["floor"].decode(Int64.self))
        }.first ?? 0
    }

    public func pruneEvents(session: String, through seq: UInt64) throws(AFSError) {
        let logger = self.logger
        try backend.transaction("prune the changefeed of \(session)") { connection in
            try await connection.query("DELETE FROM afs_change_event WHERE session_id = \(session) AND seq <= \(Int64(seq))", logger: logger)
            try await connection.query(
                """
                INSERT INTO afs_change_floor (session_id, floor) VALUES (\(session), \(Int64(seq)))
                ON CONFLICT (session_id) DO UPDATE SET floor = GREATEST(afs_change_floor.floor, excluded.floor)
                """, logger: logger)
        }
    }

    // MARK: Bus

    public func publish(session: String, topic: String, sender: String, payload: String, time: Int64, retain: Int) throws(AFSError) -> BusMessage {
        let logger = self.logger
        let offset = try backend.transaction("publish on \(session)/\(topic)") { connection -> Int64 in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("bus:" + session + "/" + topic), 0))", logger: logger)
            let rows = try await connection.query(
                "SELECT COALESCE(MAX(msg_offset), 0) AS last FROM afs_bus_message WHERE session_id = \(session) AND topic = \(topic)",
                logger: logger
            ).rows()
            let offset = (try rows.first?["last"].decode(Int64.self) ?? 0) + 1
            try await connection.query(
                """
                INSERT INTO afs_bus_message (session_id, topic, msg_offset, sender, payload, time)
                VALUES (\(session), \(topic), \(offset), \(sender), \(payload), \(time))
                """, logger: logger)
            try await connection.query("SELECT pg_notify('\(unescaped: PostgresCatalog.changeChannel)', \(session))", logger: logger)
            if retain > 0 && offset > Int64(retain) && offset % 64 == 0 {
                try await connection.query(
                    "DELETE FROM afs_bus_message WHERE session_id = \(session) AND topic = \(topic) AND msg_offset <= \(offset - Int64(retain))",
                    logger: logger)
            }
            return offset
        }
        return BusMessage(session: session, topic: topic, offset: UInt64(offset), sender: sender, payload: payload, time: time)
    }

    public func messages(session: String, topic: String, from offset: UInt64, limit: Int) throws(AFSError) -> [BusMessage] {
        try select(
            "read \(session)/\(topic)",
            """
            SELECT * FROM afs_bus_message WHERE session_id = \(session) AND topic = \(topic) AND msg_offset >= \(Int64(offset))
            ORDER BY msg_offset LIMIT \(Int64(limit))
            """
        ) { row in
            BusMessage(
                session: try row["session_id"].decode(String.self), topic: try row["topic"].decode(String.self),
                offset: UInt64(try row["msg_offset"].decode(Int64.self)), sender: try row["sender"].decode(String.self),
                payload: try row["payload"].decode(String.self), time: try row["time"].decode(Int64.self))
        }
    }

    public func topics(session: String) throws(AFSError) -> [String] {
        try select("list topics of \(session)", "SELECT topic FROM afs_bus_message WHERE session_id = \(session) GROUP BY topic ORDER BY topic COLLATE \"C\"") { row in
            try row["topic"].decode(String.self)
        }
    }

    // MARK: Leases

    static func lease(_ row: PostgresRandomAccessRow) throws -> Lease {
        Lease(
            session: try row["session_id"].decode(String.self), path: try row["path"].decode(String.self),
            prefix: try row["prefix"].decode(Bool.self), exclusive: try row["exclusive"].decode(Bool.self),
            holder: try row["holder"].decode(String.self), token: UInt64(try row["token"].decode(Int64.self)),
            expiresAt: try row["expires_at"].decode(Double.self))
    }

    public func grantLease(
        session: String, path: String, prefix: Bool, exclusive: Bool, holder: String, ttl: Double, now: Double
    ) throws(AFSError) -> Lease? {
        let logger = self.logger
        return try backend.transaction("grant a lease on \(session):\(path)") { connection -> Lease? in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\("lease:" + session), 0))", logger: logger)
            try await connection.query("DELETE FROM afs_lease WHERE session_id = \(session) AND expires_at <= \(now)", logger: logger)
            let live = try await connection.query("SELECT * FROM afs_lease WHERE session_id = \(session)", logger: logger).rows()
                .map(PostgresCatalog.lease)
            var wanted = Lease(session: session, path: path, prefix: prefix, exclusive: exclusive, holder: holder, token: 0, expiresAt: now + ttl)
            if live.contains(where: { $0.overlaps(wanted) && ($0.exclusive || exclusive) }) { return nil }
            let rows = try await connection.query("SELECT nextval('afs_fencing_token') AS token", logger: logger).rows()
            let token = try rows[0]["token"].decode(Int64.self)
            try await connection.query(
                """
                INSERT INTO afs_lease (token, session_id, path, prefix, exclusive, holder, expires_at)
                VALUES (\(token), \(session), \(path), \(prefix), \(exclusive), \(holder), \(now + ttl))
                """, logger: logger)
            wanted.token = UInt64(token)
            return wanted
        }
    }

    public func renewLease(token: UInt64, ttl: Double, now: Double) throws(AFSError) -> Lease? {
        try select(
            "renew lease \(token)",
            "UPDATE afs_lease SET expires_at = \(now + ttl) WHERE token = \(Int64(token)) AND expires_at > \(now) RETURNING *",
            PostgresCatalog.lease
        ).first
    }

    public func releaseLease(token: UInt64) throws(AFSError) -> Bool {
        try execute("release lease \(token)", "DELETE FROM afs_lease WHERE token = \(Int64(token)) RETURNING token") == 1
    }

    public func leases(session: String, now: Double) throws(AFSError) -> [Lease] {
        try select(
            "list leases of \(session)", "SELECT * FROM afs_lease WHERE session_id = \(session) AND expires_at > \(now) ORDER BY token",
            PostgresCatalog.lease)
    }

    // MARK: Annotations

    public func insertAnnotation(_ a: Annotation) throws(AFSError) {
        try execute(
            "record annotation \(a.id)",
            """
            INSERT INTO afs_annotation (id, session_id, path, line_start, line_end, commit_id, author, kind, text, time)
            VALUES (\(a.id), \(a.session), \(a.path), \(a.lineStart), \(a.lineEnd), \(a.commitID), \(a.author), \(a.kind), \(a.text), \(a.time))
            """)
    }

    public func annotations(session: String) throws(AFSError) -> [Annotation] {
        try select("list annotations of \(session)", "SELECT * FROM afs_annotation WHERE session_id = \(session) ORDER BY time, id") { row in
            Annotation(
                id: try row["id"].decode(String.self), session: try row["session_id"].decode(String.self),
                path: try row["path"].decode(String?.self), lineStart: try row["line_start"].decode(Int?.self),
                lineEnd: try row["line_end"].decode(Int?.self), commitID: try row["commit_id"].decode(String?.self),
                author: try row["author"].decode(String.self), kind: try row["kind"].decode(String.self),
                text: try row["text"].decode(String.self), time: try row["time"].decode(Int64.self))
        }
    }

    // MARK: Reviews

    public func setReview(session: String, reviewers: [String], required: Int, requestedBy: String, time: Int64) throws(AFSError) {
        let logger = self.logger
        try backend.transaction("request review of \(session)") { connection in
            try await connection.query("DELETE FROM afs_review_decision WHERE session_id = \(session)", logger: logger)
            try await connection.query(
                """
                INSERT INTO afs_review (session_id, reviewers, required, requested_by, time)
                VALUES (\(session), \(reviewers.joined(separator: "\n")), \(Int64(required)), \(requestedBy), \(time))
                ON CONFLICT (session_id) DO UPDATE SET reviewers = excluded.reviewers, required = excluded.required,
                requested_by = excluded.requested_by, time = excluded.time
                """, logger: logger)
        }
    }

    public func review(session: String) throws(AFSError) -> (reviewers: [String], required: Int, requestedBy: String)? {
        let rows = try select("read the review of \(session)", "SELECT * FROM afs_review WHERE session_id = \(session)") { row in
            let reviewers = try row["reviewers"].decode(String.self).split(separator: "\n").map(String.init)
            return Review(reviewers: reviewers, required: Int(try row["required"].decode(Int64.self)), requestedBy: try row["requested_by"].decode(String.self))
        }
        return rows.first.map { ($0.reviewers, $0.required, $0.requestedBy) }
    }

    /// A review row (tuples are not `Sendable` across the bridge).
    struct Review: Sendable {
        var reviewers: [String]
        var required: Int
        var requestedBy: String
    }

    public func addDecision(session: String, _ d: ReviewState.Decision) throws(AFSError) {
        try execute(
            "record a review decision on \(session)",
            """
            INSERT INTO afs_review_decision (session_id, reviewer, approved, comment, time)
            VALUES (\(session), \(d.reviewer), \(d.approved), \(d.comment), \(d.time))
            ON CONFLICT (session_id, reviewer) DO UPDATE SET approved = excluded.approved, comment = excluded.comment, time = excluded.time
            """)
    }

    public func decisions(session: String) throws(AFSError) -> [ReviewState.Decision] {
        try select("list review decisions of \(session)", "SELECT * FROM afs_review_decision WHERE session_id = \(session) ORDER BY time") { row in
            ReviewState.Decision(
                reviewer: try row["reviewer"].decode(String.self), approved: try row["approved"].decode(Bool.self),
                comment: try row["comment"].decode(String.self), time: try row["time"].decode(Int64.self))
        }
    }

    public func clearDecisions(session: String) throws(AFSError) {
        try execute("clear review decisions of \(session)", "DELETE FROM afs_review_decision WHERE session_id = \(session)")
    }

    public func setRefPolicy(ref: String, requiredApprovals: Int) throws(AFSError) {
        try execute(
            "set the policy of ref \(ref)",
            """
            INSERT INTO afs_ref_policy (ref, required_approvals) VALUES (\(ref), \(Int64(requiredApprovals)))
            ON CONFLICT (ref) DO UPDATE SET required_approvals = excluded.required_approvals
            """)
    }

    public func refPolicy(ref: String) throws(AFSError) -> Int {
        try select("read the policy of ref \(ref)", "SELECT required_approvals FROM afs_ref_policy WHERE ref = \(ref)") { row in
            Int(try row["required_approvals"].decode(Int64.self))
        }.first ?? 0
    }

    // MARK: Knowledge

    static func knowledgeEntry(_ row: PostgresRandomAccessRow) throws -> KnowledgeEntry {
        let scope = try row["scope"].decode(String.self)
        return KnowledgeEntry(
            scope: scope.isEmpty ? nil : scope, key: try row["key"].decode(String.self), value: try row["value"].decode(String.self),
            tags: try row["tags"].decode(String.self).split(separator: "\n").map(String.init), author: try row["author"].decode(String.self),
            time: try row["time"].decode(Int64.self))
    }

    public func putKnowledge(_ e: KnowledgeEntry) throws(AFSError) {
        try execute(
            "store knowledge \(e.key)",
            """
            INSERT INTO afs_knowledge (scope, key, value, tags, author, time)
            VALUES (\(e.scope ?? ""), \(e.key), \(e.value), \(e.tags.joined(separator: "\n")), \(e.author), \(e.time))
            ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, tags = excluded.tags, author = excluded.author, time = excluded.time
            """)
    }

    public func knowledge(scope: String?, key: String) throws(AFSError) -> KnowledgeEntry? {
        try select(
            "read knowledge \(key)", "SELECT * FROM afs_knowledge WHERE scope = \(scope ?? "") AND key = \(key)", PostgresCatalog.knowledgeEntry
        ).first
    }

    public func deleteKnowledge(scope: String?, key: String) throws(AFSError) -> Bool {
        try execute("delete knowledge \(key)", "DELETE FROM afs_knowledge WHERE scope = \(scope ?? "") AND key = \(key) RETURNING key") == 1
    }

    public func knowledge(scope: String?, prefix: String?, tag: String?) throws(AFSError) -> [KnowledgeEntry] {
        let all: [KnowledgeEntry]
        if let prefix, !prefix.isEmpty {
            all = try select(
                "list knowledge",
                "SELECT * FROM afs_knowledge WHERE scope = \(scope ?? "") AND starts_with(key, \(prefix)) ORDER BY key COLLATE \"C\"",
                PostgresCatalog.knowledgeEntry)
        } else {
            all = try select(
                "list knowledge", "SELECT * FROM afs_knowledge WHERE scope = \(scope ?? "") ORDER BY key COLLATE \"C\"", PostgresCatalog.knowledgeEntry)
        }
        guard let tag else { return all }
        return all.filter { $0.tags.contains(tag) }
    }

    public func deleteCoordination(session: String) throws(AFSError) {
        let logger = self.logger
        try backend.transaction("delete the coordination state of \(session)") { connection in
            for table in ["afs_change_event", "afs_change_floor", "afs_bus_message", "afs_lease", "afs_annotation", "afs_review", "afs_review_decision"] {
                try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE session_id = $1", binds: {
                    var b = PostgresBindings()
                    b.append(session)
                    return b
                }()), logger: logger)
            }
            try await connection.query("DELETE FROM afs_knowledge WHERE scope = \(session)", logger: logger)
        }
    }
}
