import Foundation
import AFSTestSupport
import Synchronization
import Testing
@testable import AFSCore

@Suite(.offCooperativePool) struct CoordinationTests {
    let alice = MutationContext(actor: "alice")
    let bob = MutationContext(actor: "bob")

    @Test func changefeedResumesAcrossReopenWithoutGapsOrDuplicates() throws {
        let dir = TemporaryDirectory()
        var seen: [ChangeEvent] = []
        let id: String
        do {
            let store = try AetherStore.open(at: dir.path)
            id = try store.createSession(from: .blank, context: alice).id
            try store.writeFile(id, path: "/a.txt", data: Array("one".utf8), context: alice)
            try store.writeFile(id, path: "/dir/b.txt", data: Array("two".utf8), context: bob)
            try store.rename(id, from: "/a.txt", to: "/c.txt", context: alice)
            seen += try store.changes(id, after: 0, limit: 2)
            // Disconnect: more changes happen while the reader is away, then the store closes.
            _ = try store.checkpoint(id, context: bob)
            try store.remove(id, path: "/dir/b.txt", context: bob)
            try store.close()
        }
        let store = try AetherStore.open(at: dir.path)
        try store.patchFile(id, path: "/c.txt", offset: 0, data: Array("O".utf8), context: alice)
        var cursor = seen.last!.seq
        while true {
            let page = try store.changes(id, after: cursor, limit: 2)
            if page.isEmpty { break }
            seen += page
            cursor = page.last!.seq
        }
        #expect(seen.map(\.seq) == Array(1...UInt64(seen.count)), "dense, ordered, no duplicates")
        #expect(seen.map(\.kind) == [.create, .write, .write, .rename, .checkpoint, .delete, .patch])
        #expect(seen.map(\.actor) == ["alice", "alice", "bob", "alice", "bob", "bob", "alice"])
        #expect(seen[3].path == "/a.txt" && seen[3].detail == "/c.txt")
        #expect(seen[1].contentID == ContentHash.sha256(Array("one".utf8)).hex)
        #expect(seen[1].size == 3)
    }

    @Test func journaledEventsSurviveLossOfTheirCatalogRows() throws {
        // Simulates a power loss that took back the relaxed (un-fsynced) catalog insert: the journal
        // record carries the event and replay restores it.
        let dir = TemporaryDirectory()
        let id: String
        do {
            let store = try AetherStore.open(at: dir.path)
            id = try store.createSession(from: .blank).id
            try store.writeFile(id, path: "/x", data: [1], context: alice)
            try store.writeFile(id, path: "/y", data: [2], context: bob)
            try store.close()
        }
        do {
            let catalog = try SQLiteCatalog(path: dir.path + "/catalog.sqlite")
            try catalog.write { db in try db.execute(sql: "DELETE FROM change_event WHERE seq > 1") }
        }
        let store = try AetherStore.open(at: dir.path)
        let events = try store.changes(id)
        #expect(events.map(\.seq) == [1, 2, 3])
        #expect(events.map(\.actor) == ["anonymous", "alice", "bob"])
    }

    @Test func waitingReaderWakesOnNewEvent() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        let start = Date()
        // A real thread: the reader blocks, as a long-poll handler does.
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.events = (try? store.waitForChanges(id, after: 1, timeout: 10)) ?? []
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.2)
        try store.writeFile(id, path: "/wake", data: [1])
        done.wait()
        let events = box.events
        #expect(events.map(\.path) == ["/wake"])
        #expect(Date().timeIntervalSince(start) < 5, "the reader woke on the write, not at its timeout")
    }

    @Test func changeStreamDeliversInOrder() async throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.writeFile(id, path: "/wake", data: [1])
        var stream = store.changeStream(id, after: 0).makeAsyncIterator()
        #expect(try await stream.next()?.kind == .create)
        #expect(try await stream.next()?.path == "/wake")
    }

    @Test func retentionReportsExpiredCursors() throws {
        let dir = TemporaryDirectory()
        var options = AetherStore.Options()
        options.changefeedRetention = 100
        let store = try AetherStore.open(at: dir.path, options: options)
        let id = try store.createSession(from: .blank).id
        for i in 0..<600 { try store.writeFile(id, path: "/f\(i % 7)", data: [UInt8(i % 256)]) }
        do {
            _ = try store.changes(id, after: 0)
            Issue.record("an expired cursor was served")
        } catch {
            #expect(error.code == .expired)
        }
        let recent = try store.changes(id, after: 550)
        #expect(recent.first?.seq == 551)
        #expect(recent.count == 601 - 550)
    }

    @Test func busPublishSubscribeFromOffset() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        for i in 1...5 { _ = try store.publish(id, topic: "tasks", payload: "{\"n\":\(i)}", sender: "planner") }
        _ = try store.publish(id, topic: "other", payload: "\"x\"", sender: "planner")
        #expect(throws: AFSError.self) { try store.publish(id, topic: "tasks", payload: "{not json", sender: "p") }
        let fromThree = try store.messages(id, topic: "tasks", from: 3)
        #expect(fromThree.map(\.offset) == [3, 4, 5])
        #expect(fromThree.first?.payload == "{\"n\":3}")
        #expect(try store.topics(id) == ["other", "tasks"])
        #expect(try store.waitForMessages(id, topic: "tasks", from: 6, timeout: 0.2).isEmpty)
    }

    @Test func locksRefuseConflictsAndStaleFencingTokens() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var options = AetherStore.Options()
        options.wallClock = { clock.wall }
        let store = try AetherStore.open(at: dir.path, options: options)
        let id = try store.createSession(from: .blank).id
        try store.writeFile(id, path: "/src/main.c", data: Array("v0".utf8))
        let first = try store.acquireLease(id, path: "/src", exclusive: true, ttl: 3, holder: "alice")
        // Two holders: the second is refused while the first is live.
        do {
            _ = try store.acquireLease(id, path: "/src/main.c", exclusive: true, ttl: 5, holder: "bob")
            Issue.record("a conflicting lease was granted")
        } catch {
            #expect(error.code == .locked)
            #expect(error.message.contains("alice"))
        }
        // Writes need the token; with it they pass.
        #expect(throws: AFSError.self) { try store.writeFile(id, path: "/src/main.c", data: Array("x".utf8), context: bob) }
        try store.writeFile(id, path: "/src/main.c", data: Array("v1".utf8), context: MutationContext(actor: "alice", lockToken: first.token))
        // Just before expiry alice still holds it; after it, bob gets a new lease with a higher
        // token, and alice's token is stale.
        clock.advance(by: .milliseconds(2_900))
        #expect(throws: AFSError.self) { try store.acquireLease(id, path: "/src/main.c", exclusive: true, ttl: 30, holder: "bob") }
        clock.advance(by: .milliseconds(200))
        let second = try store.acquireLease(id, path: "/src/main.c", exclusive: true, ttl: 30, holder: "bob")
        #expect(second.token > first.token)
        do {
            try store.writeFile(id, path: "/src/main.c", data: Array("late".utf8), context: MutationContext(actor: "alice", lockToken: first.token))
            Issue.record("a stale fencing token was accepted")
        } catch {
            #expect(error.code == .locked)
            #expect(error.message.contains("stale"))
        }
        #expect(try store.readFile(id, path: "/src/main.c") == Array("v1".utf8))
        try store.writeFile(id, path: "/src/main.c", data: Array("v2".utf8), context: MutationContext(actor: "bob", lockToken: second.token))
        // Shared leases coexist; an exclusive one waits for them.
        let s1 = try store.acquireLease(id, path: "/docs", exclusive: false, ttl: 30, holder: "r1")
        let s2 = try store.acquireLease(id, path: "/docs", exclusive: false, ttl: 30, holder: "r2")
        #expect(throws: AFSError.self) { try store.acquireLease(id, path: "/docs/x", exclusive: true, holder: "w") }
        try store.releaseLease(token: s1.token)
        try store.releaseLease(token: s2.token)
        _ = try store.acquireLease(id, path: "/docs/x", exclusive: true, holder: "w")
        // Renewal keeps a lease alive; leases survive a reopen (expiry is by the store's clock).
        _ = try store.renewLease(token: second.token, ttl: 60)
        try store.close()
        let reopened = try AetherStore.open(at: dir.path)
        #expect(try reopened.leases(id).map(\.token).contains(second.token))
        #expect(throws: AFSError.self) { try reopened.remove(id, path: "/src/main.c", context: alice) }
    }

    /// Writes remember a session without leases instead of asking the catalog every time; a grant
    /// must end that at once, even one that lands while writers are between their query and
    /// their note of it: no write begun after `acquireLease` returned gets past the lease.
    @Test func aLeaseGrantedWhileWritesRunRefusesEveryLaterWrite() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        for round in 0..<20 {
            let granted = Atomic<Bool>(false)
            let passedAfterGrant = Atomic<Int>(0)
            let stop = Atomic<Bool>(false)
            let group = DispatchGroup()
            for w in 0..<3 {
                group.enter()
                Thread.detachNewThread {
                    var i = 0
                    while !stop.load(ordering: .acquiring) {
                        let after = granted.load(ordering: .acquiring)
                        do {
                            try store.writeFile(id, path: "/r\(round)/w\(w)-\(i).txt", data: [UInt8(i & 0xFF)])
                            if after { passedAfterGrant.add(1, ordering: .relaxed) }
                        } catch {}
                        i += 1
                    }
                    group.leave()
                }
            }
            usleep(UInt32.random(in: 0...3_000))
            let lease = try store.acquireLease(id, path: "/r\(round)", exclusive: true, ttl: 60, holder: "owner")
            granted.store(true, ordering: .releasing)
            usleep(5_000)
            stop.store(true, ordering: .releasing)
            group.wait()
            #expect(passedAfterGrant.load(ordering: .relaxed) == 0, "round \(round): writes started after the grant went through")
            try store.releaseLease(token: lease.token)
        }
        try store.close()
    }

    @Test func approvalsGatePromote() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let base = try store.createSession(from: .blank).id
        try store.writeFile(base, path: "/a", data: [1])
        _ = try store.commit(base, message: "base", author: "t")
        _ = try store.promote(base, ref: "main")
        try store.setRefPolicy("main", requiredApprovals: 2)

        let work = try store.fork(base).id
        try store.writeFile(work, path: "/b", data: [2], context: alice)
        _ = try store.commit(work, message: "work", author: "alice")
        #expect(throws: AFSError.self) { try store.promote(work, ref: "main") }
        _ = try store.requestReview(work, reviewers: ["rev1", "rev2", "rev3"], requiredApprovals: 2, context: alice)
        #expect(try store.session(work).status == .pendingApproval)
        #expect(throws: AFSError.self) { try store.decide(work, approve: true, comment: "", reviewer: "mallory") }
        _ = try store.decide(work, approve: true, comment: "ok", reviewer: "rev1")
        #expect(try store.session(work).status == .pendingApproval)
        do {
            _ = try store.promote(work, ref: "main")
            Issue.record("promote without enough approvals")
        } catch {
            #expect(error.code == .forbidden)
        }
        _ = try store.decide(work, approve: true, comment: "lgtm", reviewer: "rev2")
        #expect(try store.session(work).status == .approved)
        // A new write sends it back to active and voids the approvals.
        try store.writeFile(work, path: "/c", data: [3], context: alice)
        #expect(try store.session(work).status == .active)
        #expect(throws: AFSError.self) { try store.promote(work, ref: "main") }
        _ = try store.commit(work, message: "more", author: "alice")
        _ = try store.requestReview(work, reviewers: ["rev1", "rev2"], requiredApprovals: 2)
        _ = try store.decide(work, approve: true, comment: "", reviewer: "rev1")
        _ = try store.decide(work, approve: false, comment: "no", reviewer: "rev2")
        #expect(try store.session(work).status == .rejected)
        _ = try store.decide(work, approve: true, comment: "changed my mind", reviewer: "rev2")
        #expect(try store.session(work).status == .approved)
        #expect(try store.promote(work, ref: "main").outcome == .fastForward)
    }

    @Test func removingOrMovingAParentOfALeasedPathIsRefused() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let s = try store.createSession(from: .blank).id
        try store.writeFile(s, path: "/src/parser/p.c", data: [1])
        try store.writeFile(s, path: "/src/other.c", data: [2])
        let lease = try store.acquireLease(s, path: "/src/parser", exclusive: true, ttl: 60, holder: "owner")
        for attempt in [{ try store.remove(s, path: "/src", recursive: true, context: self.bob) },
                        { try store.rename(s, from: "/src", to: "/old", context: self.bob) }] as [() throws -> Void] {
            do {
                try attempt()
                Issue.record("a parent of a leased path was changed without its token")
            } catch let error as AFSError {
                #expect(error.code == .locked)
            }
        }
        #expect(try store.readFile(s, path: "/src/parser/p.c") == [1])
        try store.writeFile(s, path: "/src/other.c", data: [3], context: bob)  // siblings are free
        try store.rename(s, from: "/src", to: "/old", context: MutationContext(actor: "owner", lockToken: lease.token))
        #expect(try store.readFile(s, path: "/old/parser/p.c") == [1])
    }

    @Test func journalsOfAnOlderFormatAreRefusedNotTruncated() throws {
        let dir = TemporaryDirectory()
        let id: String
        do {
            let store = try AetherStore.open(at: dir.path)
            id = try store.createSession(from: .blank).id
            try store.writeFile(id, path: "/kept", data: [7])
            try store.close()
        }
        let journal = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/journals").first)
        let path = dir.path + "/journals/" + journal
        let f = try POSIXFile.open(path, flags: O_RDWR)
        try f.write(Array("AFSJNL01".utf8), at: 0)
        let size = try f.size()
        let store = try AetherStore.open(at: dir.path)
        do {
            _ = try store.readFile(id, path: "/kept")
            Issue.record("an old-format journal was replayed")
        } catch {
            #expect(error.code == .unsupportedFormat)
        }
        #expect(try f.size() == size, "nothing was truncated")
    }

    @Test func promoteRefusedUnderAnotherHoldersExclusiveLease() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let s = try store.createSession(from: .blank).id
        try store.writeFile(s, path: "/locked/file", data: [1])
        _ = try store.commit(s, message: "m", author: "a")
        let lease = try store.acquireLease(s, path: "/locked", exclusive: true, ttl: 60, holder: "owner")
        #expect(throws: AFSError.self) { try store.promote(s, ref: "main") }
        #expect(try store.promote(s, ref: "main", context: MutationContext(actor: "owner", lockToken: lease.token)).outcome == .created)
    }

    @Test func annotationsAndKnowledge() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let s = try store.createSession(from: .blank).id
        _ = try store.annotate(s, text: "session-wide", author: "a")
        _ = try store.annotate(s, path: "/src/x.c", lines: 10...20, kind: "evidence", text: "null deref here", author: "b")
        _ = try store.annotate(s, path: "/src/y.c", kind: "note", text: "fine", author: "a")
        #expect(throws: AFSError.self) { try store.annotate(s, lines: 1...2, text: "no path", author: "a") }
        #expect(try store.annotations(s).count == 3)
        #expect(try store.annotations(s, path: "/src").count == 2)
        let ev = try store.annotations(s, kind: "evidence")
        #expect(ev.count == 1 && ev[0].lineStart == 10 && ev[0].lineEnd == 20)
        #expect(try store.annotations(s, author: "a").count == 2)

        _ = try store.putKnowledge(session: nil, key: "build/cmd", value: "\"make -j2\"", tags: ["build"], author: "a")
        _ = try store.putKnowledge(session: nil, key: "build/flags", value: "{\"O\":2}", tags: ["build", "c"], author: "a")
        _ = try store.putKnowledge(session: s, key: "build/cmd", value: "\"make\"", author: "a")
        #expect(throws: AFSError.self) { try store.putKnowledge(session: nil, key: "bad", value: "{", author: "a") }
        #expect(try store.knowledge(session: nil, key: "build/cmd").value == "\"make -j2\"")
        #expect(try store.knowledge(session: s, key: "build/cmd").value == "\"make\"")
        #expect(try store.listKnowledge(session: nil, prefix: "build/").map(\.key) == ["build/cmd", "build/flags"])
        #expect(try store.listKnowledge(session: nil, tag: "c").map(\.key) == ["build/flags"])
        try store.deleteKnowledge(session: nil, key: "build/cmd")
        #expect(throws: AFSError.self) { try store.knowledge(session: nil, key: "build/cmd") }
        try store.close()
        let again = try AetherStore.open(at: dir.path)
        #expect(try again.annotations(s).count == 3)
        #expect(try again.listKnowledge(session: nil).map(\.key) == ["build/flags"])
    }

    @Test func undoByActorRestoresExactlyThePreChangeFiles() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let s = try store.createSession(from: .blank).id
        var rng = SeededRandom(seed: 31)
        var before: [String: [UInt8]] = [:]
        for i in 0..<20 {
            let d = rng.bytes(Int(rng.next() % 5000) + 1)
            try store.writeFile(s, path: "/src/f\(i)", data: d)
            before["/src/f\(i)"] = d
        }
        try store.writeFile(s, path: "/big", data: rng.bytes(400_000))
        before["/big"] = try store.readFile(s, path: "/big")
        let ckp = try store.checkpoint(s)
        // alice: edits, deletes, renames, creates; bob: his own edits, and one edit on top of alice's.
        try store.writeFile(s, path: "/src/f0", data: Array("alice".utf8), context: alice)
        try store.patchFile(s, path: "/big", offset: 1000, data: Array("ALICE".utf8), context: alice)
        try store.remove(s, path: "/src/f1", context: alice)
        try store.rename(s, from: "/src/f2", to: "/src/renamed", context: alice)
        try store.writeFile(s, path: "/alice-new.txt", data: Array("new".utf8), context: alice)
        try store.writeFile(s, path: "/src/f3", data: Array("alice".utf8), context: alice)
        try store.writeFile(s, path: "/src/f3", data: Array("bob on top".utf8), context: bob)
        try store.writeFile(s, path: "/src/f4", data: Array("bob".utf8), context: bob)
        try store.writeFile(s, path: "/bob-new.txt", data: Array("b".utf8), context: bob)
        // Make a fork in between: undo works on the session it is asked of, forks keep their state.
        let fork = try store.fork(s).id

        let report = try store.undo(s, actor: "alice", since: ckp.id, context: MutationContext(actor: "lead"))
        #expect(Set(report.restored) == ["/src/f0", "/big", "/src/f1", "/src/f2"])
        #expect(Set(report.removed) == ["/src/renamed", "/alice-new.txt"])
        #expect(report.skipped == ["/src/f3"])
        for (p, d) in before where p != "/src/f3" && p != "/src/f4" {
            #expect(try store.readFile(s, path: p) == d, "\(p) restored exactly")
        }
        #expect(throws: AFSError.self) { try store.stat(s, path: "/src/renamed") }
        #expect(throws: AFSError.self) { try store.stat(s, path: "/alice-new.txt") }
        #expect(try store.readFile(s, path: "/src/f3") == Array("bob on top".utf8))
        #expect(try store.readFile(s, path: "/src/f4") == Array("bob".utf8))
        #expect(try store.readFile(s, path: "/bob-new.txt") == Array("b".utf8))
        #expect(try store.readFile(fork, path: "/src/f0") == Array("alice".utf8))
        let log = try store.changes(s, after: ckp.changeSeq)
        #expect(log.filter { $0.kind == .undo }.allSatisfy { $0.actor == "lead" })
    }
}

final class ResultBox: @unchecked Sendable {
    // @unchecked: written by one thread before a semaphore signal, read after the wait.
    var events: [ChangeEvent] = []
}
