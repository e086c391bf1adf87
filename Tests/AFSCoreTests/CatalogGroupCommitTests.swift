import Foundation
import AFSSupport
import AFSTestSupport
import GRDB
import Testing
@testable import AFSCore

/// Concurrent catalog writes share commits; a write that fails is rolled back alone; every
/// acknowledged write is in the database.
@Suite(.offCooperativePool) struct CatalogGroupCommitTests {
    /// Runs `body` on `count` threads of their own (not GCD's pool, which on two cores runs
    /// blocked work one or two at a time) and waits for all.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            Thread.detachNewThread {
                body(i)
                group.leave()
            }
        }
        group.wait()
    }

    @Test func writesArrivingDuringACommitShareTheNextOne() throws {
        let dir = TemporaryDirectory()
        let catalog = try SQLiteCatalog(path: dir.sub("catalog.sqlite"))
        try catalog.write { db in try db.execute(sql: "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)") }
        let before = catalog.committer.commits
        let started = DispatchSemaphore(value: 0)
        let failures = Locked<[Int: String]>([:])
        let leader = Thread {
            do {
                // The leader: its body holds the batch open while the others queue up.
                try catalog.write { db in
                    started.signal()
                    Thread.sleep(forTimeInterval: 0.3)
                    try db.execute(sql: "INSERT INTO t VALUES (0, 'leader')")
                }
            } catch { failures.withLock { $0[0] = "\(error)" } }
        }
        leader.start()
        started.wait()
        CatalogGroupCommitTests.onThreads(12) { i in
            let k = i + 1
            do {
                try catalog.write { db in
                    try db.execute(sql: "INSERT INTO t VALUES (?, ?)", arguments: [k, "w\(k)"])
                    // Every third write fails after its insert: only it is rolled back.
                    if k % 3 == 0 { throw AFSError.conflict("write \(k) refused") }
                }
            } catch { failures.withLock { $0[k] = "\(error)" } }
        }
        while leader.isExecuting { Thread.sleep(forTimeInterval: 0.01) }
        let failed = failures.withLock { $0 }
        #expect(Set(failed.keys) == [3, 6, 9, 12], "\(failed)")
        #expect(failed.values.allSatisfy { $0.contains("refused") })
        let keys = try catalog.read { db in try Int.fetchAll(db, sql: "SELECT k FROM t ORDER BY k") }
        #expect(keys == [0, 1, 2, 4, 5, 7, 8, 10, 11])
        // 13 writes: the leader's commit, then the 12 that queued behind it in one or two more.
        #expect(catalog.committer.commits - before <= 3, "\(catalog.committer.commits - before) commits for 13 writes")
    }

    /// Forks of different sessions from many threads: all land, each with its events, and they
    /// shared commits; reopened, the catalog holds every one.
    @Test func concurrentForksShareCommitsAndAllSurviveAReopen() throws {
        let dir = TemporaryDirectory()
        var forks: [String] = []
        do {
            let store = try AetherStore.open(at: dir.path)
            let sources = try (0..<8).map { i in try store.createSession(name: "s\(i)", from: .blank).id }
            let catalog = try #require(store.catalog as? SQLiteCatalog)
            let before = catalog.committer.commits
            let made = Locked<[String]>([])
            CatalogGroupCommitTests.onThreads(16) { t in
                for i in 0..<10 {
                    if let info = try? store.fork(sources[(t + i) % sources.count]) { made.withLock { $0.append(info.id) } }
                }
            }
            forks = made.withLock { $0 }
            #expect(forks.count == 160)
            let commits = catalog.committer.commits - before
            #expect(commits < 160, "160 concurrent forks took \(commits) commits: none shared")
            try store.close()
        }
        let store = try AetherStore.open(at: dir.path)
        let known = Set(try store.sessions().map(\.id))
        for id in forks { #expect(known.contains(id)) }
        for id in forks.prefix(5) { #expect(try store.changes(id, after: 0).isEmpty == false, "the fork's creation event") }
    }
}
