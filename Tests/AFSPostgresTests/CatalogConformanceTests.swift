import AFSSupport
import AFSPostgres
import AFSTestSupport
import Foundation
import Synchronization
import Testing

@testable import AFSCore

/// One set of expectations for every catalog: the embedded SQLite one and PostgreSQL (a real
/// server, started by scripts/postgres.sh). Sessions, checkpoints, commits, refs with
/// compare-and-set, snapshots, GC roots, the changefeed, the bus, leases and fencing tokens,
/// annotations, reviews, policies and knowledge, each also under concurrent callers.
@Suite(.offCooperativePool, .serialized) struct CatalogConformanceTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// A fresh, empty catalog of one kind.
    final class Fixture {
        let directory = "/var/tmp/afs-catalog-\(UUID().uuidString.prefix(8))"
        var server: BackendProcess?
        var backend: PostgresBackend?
        let catalog: any Catalog & CoordinationCatalog

        init(_ kind: Backend) throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            switch kind {
            case .sqlite:
                catalog = try SQLiteCatalog(path: directory + "/catalog.sqlite")
            case .postgres:
                let server = try BackendProcess(.postgres)
                self.server = server
                let backend = try PostgresBackend.connect(PostgresLocation(parsing: server.value("PG_URL") + "?sslmode=disable"))
                self.backend = backend
                catalog = PostgresCatalog(backend: backend)
            }
        }

        deinit {
            backend?.close()
            server?.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func root(_ n: UInt8) -> ChunkID { ChunkID.digest(of: [n]) }

    static func session(_ id: String, status: SessionStatus = .active, at time: Double) -> SessionInfo {
        SessionInfo(
            id: id, name: "name-\(id)", status: status, parentID: nil, source: "blank", root: root(1), baseCommit: nil, headCommit: nil,
            createdAt: Date(timeIntervalSince1970: time), updatedAt: Date(timeIntervalSince1970: time), journalGeneration: 0)
    }

    static func event(_ session: String, _ seq: UInt64, _ path: String = "/f") -> ChangeEvent {
        ChangeEvent(seq: seq, session: session, kind: .write, path: path, size: seq * 10, contentID: "c\(seq)", actor: "agent", time: Int64(seq), detail: nil)
    }

    @Test(arguments: Backend.allCases) func sessionsCheckpointsCommitsRefsAndSnapshots(_ kind: Backend) throws {
        let f = try Fixture(kind)
        let c = f.catalog
        var a = Self.session("sa", at: 100)
        a.tenant = "acme"
        var b = Self.session("sb", status: .pendingApproval, at: 200)
        b.parentID = "sa"
        b.baseCommit = "k1"
        try c.insertSession(a, events: [Self.event("sa", 1)])
        try c.insertSession(b, events: [Self.event("sb", 1), Self.event("sa", 2)])
        #expect(try c.session("sa") == a)
        #expect(try c.session("sb") == b, "every field round-trips, the optional ones too")
        #expect(try c.session("nope") == nil)
        #expect(try c.sessions(status: nil).map(\.id) == ["sa", "sb"], "oldest first")
        #expect(try c.sessions(status: .pendingApproval).map(\.id) == ["sb"])
        #expect(try c.events(session: "sa", after: 0, limit: 10).map(\.seq) == [1, 2], "a fork's events land with its session")

        b.root = Self.root(2)
        b.status = .approved
        b.journalGeneration = 7
        b.headCommit = "k2"
        b.updatedAt = Date(timeIntervalSince1970: 300.5)
        b.tenant = "globex"
        try c.updateSession(b)
        #expect(try c.session("sb") == b)
        #expect(throws: AFSError.self) { try c.updateSession(Self.session("ghost", at: 1)) }

        let cp1 = CheckpointInfo(id: "cp1", sessionID: "sa", root: Self.root(3), label: "first", createdAt: Date(timeIntervalSince1970: 10), changeSeq: 2)
        let cp2 = CheckpointInfo(id: "cp2", sessionID: "sa", root: Self.root(4), label: nil, createdAt: Date(timeIntervalSince1970: 10), changeSeq: 3)
        try c.insertCheckpoint(cp1)
        try c.insertCheckpoint(cp2)
        #expect(try c.checkpoint("cp1") == cp1)
        #expect(try c.checkpoints(session: "sa") == [cp1, cp2], "same time: insertion order")

        let commit = CommitInfo(id: "k1", root: Self.root(5), parents: ["k0", "kx"], message: "m", author: "me", createdAt: Date(timeIntervalSince1970: 5), sessionID: "sa")
        try c.insertCommit(commit)
        try c.insertCommit(commit)  // idempotent: commits are content-addressed
        #expect(try c.commit("k1") == commit)

        #expect(try c.setRef("main", to: "k1", expected: nil))
        #expect(try !c.setRef("main", to: "k9", expected: nil), "creating an existing ref fails")
        #expect(try !c.setRef("main", to: "k9", expected: "k0"), "a stale expectation fails")
        #expect(try c.setRef("main", to: "k2", expected: "k1"))
        #expect(try c.ref("main")?.commitID == "k2")
        #expect(try c.setRef("B", to: "k1", expected: nil))
        #expect(try c.refs().map(\.name) == ["B", "main"], "byte order, as SQLite sorts")

        let snap = SnapshotInfo(name: "tmpl", root: Self.root(6), sessionID: "sa", createdAt: Date(timeIntervalSince1970: 7))
        try c.insertSnapshot(snap)
        #expect(throws: AFSError.self) { try c.insertSnapshot(snap) }
        #expect(try c.snapshot("tmpl") == snap)
        #expect(try c.snapshots() == [snap])

        #expect(Set(try c.liveRoots()) == Set([1, 2, 3, 4, 5, 6].map { Self.root($0) }))
        try c.deleteSession("sa")
        #expect(try c.session("sa") == nil)
        #expect(try c.checkpoints(session: "sa") == [], "a session's checkpoints go with it")
        #expect(!(try c.liveRoots()).contains(Self.root(3)))
    }

    /// Schema version 5 moves each session's owner from `afs_ownership` (where servers kept it
    /// beside the catalog) into the session's row, and drops the old table, in one transaction.
    @Test func ownersMoveIntoSessionRowsWithSchemaVersion5() throws {
        let f = try Fixture(.postgres)
        let server = try #require(f.server)
        try f.catalog.insertSession(Self.session("s1", at: 1), events: [])
        try f.catalog.insertSession(Self.session("s2", at: 2), events: [])
        // The database as version 4 left it.
        _ = try server.psql("""
            ALTER TABLE afs_session DROP COLUMN tenant;
            CREATE TABLE afs_ownership (session_id text PRIMARY KEY, tenant text NOT NULL);
            INSERT INTO afs_ownership VALUES ('s1', 'acme'), ('gone', 'acme');
            DELETE FROM afs_schema WHERE version = 5
            """)
        let backend = try PostgresBackend.connect(PostgresLocation(parsing: server.value("PG_URL") + "?sslmode=disable"))
        defer { backend.close() }
        let upgraded = PostgresCatalog(backend: backend)
        #expect(try upgraded.session("s1")?.tenant == "acme")
        #expect(try upgraded.session("s2")?.tenant == nil)
        #expect(try server.psql("SELECT to_regclass('afs_ownership') IS NULL") == "t", "the old table is gone")
        #expect(try server.psql("SELECT max(version) FROM afs_schema") == "5")
    }

    @Test(arguments: Backend.allCases) func changefeedBusAndRetention(_ kind: Backend) throws {
        let f = try Fixture(kind)
        let c = f.catalog
        try c.appendEvents((1...5).map { Self.event("s", $0) }, durable: true)
        try c.appendEvents([Self.event("s", 3, "/replayed"), Self.event("s", 6)], durable: false)
        let events = try c.events(session: "s", after: 2, limit: 3)
        #expect(events.map(\.seq) == [3, 4, 5])
        #expect(events[0] == Self.event("s", 3), "a replayed event does not replace the first")
        #expect(try c.lastSeq(session: "s") == 6)
        #expect(try c.lastSeq(session: "other") == 0)
        try c.pruneEvents(session: "s", through: 4)
        #expect(try c.eventFloor(session: "s") == 4)
        #expect(try c.events(session: "s", after: 0, limit: 10).map(\.seq) == [5, 6])
        try c.pruneEvents(session: "s", through: 2)
        #expect(try c.eventFloor(session: "s") == 4, "the floor never goes back")
        try c.pruneEvents(session: "s", through: 6)
        #expect(try c.lastSeq(session: "s") == 6, "a fully pruned feed keeps its position")

        for i in 1...130 {
            let m = try c.publish(session: "s", topic: "t", sender: "a", payload: "{\"i\":\(i)}", time: Int64(i), retain: 50)
            #expect(m.offset == UInt64(i))
        }
        _ = try c.publish(session: "s", topic: "b", sender: "a", payload: "{}", time: 1, retain: 0)
        #expect(try c.topics(session: "s") == ["b", "t"])
        let kept = try c.messages(session: "s", topic: "t", from: 0, limit: 1000)
        #expect(kept.last?.offset == 130 && kept.last?.payload == "{\"i\":130}")
        #expect(kept.count < 130 && kept.count >= 50, "retention trims old messages, keeps the last 50")
        #expect(try c.messages(session: "s", topic: "t", from: 129, limit: 1).map(\.offset) == [129])
    }

    @Test(arguments: Backend.allCases) func leasesAndFencingTokens(_ kind: Backend) throws {
        let f = try Fixture(kind)
        let c = f.catalog
        let now = 1000.0
        let a = try #require(try c.grantLease(session: "s", path: "/src", prefix: true, exclusive: true, holder: "a", ttl: 10, now: now))
        #expect(try c.grantLease(session: "s", path: "/src/x.c", prefix: false, exclusive: false, holder: "b", ttl: 10, now: now) == nil,
            "an exclusive prefix lease refuses a path below it")
        #expect(try c.grantLease(session: "other", path: "/src", prefix: true, exclusive: true, holder: "b", ttl: 10, now: now) != nil,
            "sessions do not share leases")
        let s1 = try #require(try c.grantLease(session: "s", path: "/doc", prefix: false, exclusive: false, holder: "b", ttl: 10, now: now))
        let s2 = try #require(try c.grantLease(session: "s", path: "/doc", prefix: false, exclusive: false, holder: "c", ttl: 10, now: now))
        #expect(a.token < s1.token && s1.token < s2.token, "tokens strictly increase")
        #expect(try c.leases(session: "s", now: now).map(\.token) == [a.token, s1.token, s2.token])
        let renewed = try #require(try c.renewLease(token: a.token, ttl: 100, now: now + 5))
        #expect(renewed.expiresAt == now + 105)
        #expect(try c.renewLease(token: s1.token, ttl: 10, now: now + 20) == nil, "an expired lease cannot be renewed")
        #expect(try c.leases(session: "s", now: now + 20).map(\.token) == [a.token])
        #expect(try c.releaseLease(token: a.token))
        #expect(try !c.releaseLease(token: a.token))
        let later = try #require(try c.grantLease(session: "s", path: "/src", prefix: true, exclusive: true, holder: "d", ttl: 10, now: now + 20))
        #expect(later.token > s2.token, "tokens never go back, even after deletions")
    }

    @Test(arguments: Backend.allCases) func annotationsReviewsPoliciesKnowledge(_ kind: Backend) throws {
        let f = try Fixture(kind)
        let c = f.catalog
        let note = Annotation(id: "n1", session: "s", path: "/a.c", lineStart: 3, lineEnd: 9, commitID: nil, author: "r", kind: "comment", text: "why?", time: 5)
        try c.insertAnnotation(note)
        try c.insertAnnotation(Annotation(id: "n0", session: "s", path: nil, lineStart: nil, lineEnd: nil, commitID: "k", author: "r", kind: "evidence", text: "{}", time: 9))
        #expect(try c.annotations(session: "s").map(\.id) == ["n1", "n0"])
        #expect(try c.annotations(session: "s")[0] == note)

        try c.setReview(session: "s", reviewers: ["ann", "bob"], required: 2, requestedBy: "agent", time: 1)
        try c.addDecision(session: "s", .init(reviewer: "ann", approved: false, comment: "no", time: 2))
        try c.addDecision(session: "s", .init(reviewer: "ann", approved: true, comment: "ok now", time: 3))
        try c.addDecision(session: "s", .init(reviewer: "bob", approved: true, comment: "", time: 4))
        let review = try #require(try c.review(session: "s"))
        #expect(review.reviewers == ["ann", "bob"] && review.required == 2 && review.requestedBy == "agent")
        #expect(try c.decisions(session: "s").map(\.comment) == ["ok now", ""], "a reviewer's later decision replaces the earlier")
        try c.setReview(session: "s", reviewers: ["cy"], required: 1, requestedBy: "agent", time: 5)
        #expect(try c.decisions(session: "s") == [], "a new request starts without decisions")
        try c.addDecision(session: "s", .init(reviewer: "cy", approved: true, comment: "", time: 6))
        try c.clearDecisions(session: "s")
        #expect(try c.decisions(session: "s") == [])

        #expect(try c.refPolicy(ref: "main") == 0)
        try c.setRefPolicy(ref: "main", requiredApprovals: 2)
        try c.setRefPolicy(ref: "main", requiredApprovals: 1)
        #expect(try c.refPolicy(ref: "main") == 1)

        try c.putKnowledge(KnowledgeEntry(scope: nil, key: "build/cmd", value: "\"make\"", tags: ["build", "ci"], author: "a", time: 1))
        try c.putKnowledge(KnowledgeEntry(scope: nil, key: "build/Z", value: "1", tags: [], author: "a", time: 1))
        try c.putKnowledge(KnowledgeEntry(scope: nil, key: "test", value: "2", tags: ["ci"], author: "a", time: 1))
        try c.putKnowledge(KnowledgeEntry(scope: "s", key: "build/cmd", value: "\"ninja\"", tags: [], author: "b", time: 2))
        try c.putKnowledge(KnowledgeEntry(scope: nil, key: "test", value: "3", tags: ["ci"], author: "a", time: 2))
        #expect(try c.knowledge(scope: nil, key: "test")?.value == "3")
        #expect(try c.knowledge(scope: "s", key: "build/cmd")?.value == "\"ninja\"")
        #expect(try c.knowledge(scope: nil, prefix: "build/", tag: nil).map(\.key) == ["build/Z", "build/cmd"], "byte order")
        #expect(try c.knowledge(scope: nil, prefix: nil, tag: "ci").map(\.key) == ["build/cmd", "test"])
        #expect(try c.deleteKnowledge(scope: nil, key: "test"))
        #expect(try !c.deleteKnowledge(scope: nil, key: "test"))

        try c.appendEvents([Self.event("s", 1)], durable: true)
        _ = try c.grantLease(session: "s", path: "/", prefix: true, exclusive: true, holder: "a", ttl: 10, now: 1)
        _ = try c.publish(session: "s", topic: "t", sender: "a", payload: "{}", time: 1, retain: 0)
        try c.deleteCoordination(session: "s")
        #expect(try c.annotations(session: "s") == [] && c.events(session: "s", after: 0, limit: 9) == [])
        #expect(try c.leases(session: "s", now: 1) == [] && c.topics(session: "s") == [] && c.review(session: "s") == nil)
        #expect(try c.knowledge(scope: "s", key: "build/cmd") == nil)
        #expect(try c.knowledge(scope: nil, key: "build/Z") != nil, "store-wide knowledge stays")
    }

    /// Callers racing on one row: exactly one compare-and-set wins, one exclusive lease is
    /// granted, and bus offsets stay dense.
    @Test(arguments: Backend.allCases) func concurrentCallersSerialize(_ kind: Backend) throws {
        let f = try Fixture(kind)
        let c = f.catalog
        #expect(try c.setRef("main", to: "base", expected: nil))
        let wins = Atomic<Int>(0)
        let granted = Atomic<Int>(0)
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            do {
                if try c.setRef("main", to: "k\(i)", expected: "base") { wins.add(1, ordering: .relaxed) }
                if try c.grantLease(session: "s", path: "/x", prefix: false, exclusive: true, holder: "h\(i)", ttl: 60, now: 1) != nil {
                    granted.add(1, ordering: .relaxed)
                }
                for _ in 0..<10 { _ = try c.publish(session: "s", topic: "t", sender: "h\(i)", payload: "{}", time: 1, retain: 0) }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(wins.load(ordering: .relaxed) == 1, "two promotes racing: exactly one wins")
        #expect(granted.load(ordering: .relaxed) == 1)
        #expect(try c.messages(session: "s", topic: "t", from: 0, limit: 1000).map(\.offset) == Array(1...80))
    }
}
