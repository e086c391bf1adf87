import AFSSupport
import AFSCore
import Foundation
import Synchronization
import Testing

@testable import AFSMount

/// Write-back: changes acknowledged at once, sent by workers in an order that keeps every path's
/// history, shown by the mount meanwhile, and all at the service after a sync.
@Suite(.offCooperativePool) struct WriteBackTests {
    @Test func pathsConflictWhenEqualOrNested() {
        #expect(WriteBack.conflict("/a", "/a"))
        #expect(WriteBack.conflict("/a", "/a/b"))
        #expect(WriteBack.conflict("/a/b/c", "/a"))
        #expect(WriteBack.conflict("/", "/x/y"))
        #expect(!WriteBack.conflict("/a", "/ab"))
        #expect(!WriteBack.conflict("/ab/c", "/a"))
        #expect(!WriteBack.conflict("/a/b", "/a/c"))
        #expect(!WriteBack.conflict("/é", "/e\u{301}"), "paths compare as bytes, not as Unicode text")
    }

    /// The set answers what asking ``WriteBack/conflict(_:_:)`` of each member would: checked on
    /// random trees of short names, where equal, nested and sibling paths are common.
    @Test func aPathConflictSetAgreesWithPairwiseConflicts() {
        var rng = SystemRandomNumberGenerator()
        let names = ["a", "b", "ab", "é", "e\u{301}", "a.b"]
        func randomPath() -> String {
            let depth = Int.random(in: 0...3, using: &rng)
            return "/" + (0..<depth).map { _ in names.randomElement(using: &rng)! }.joined(separator: "/")
        }
        for _ in 0..<300 {
            var set = PathConflictSet()
            var members: [String] = []
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                let p = randomPath()
                set.insert(p)
                members.append(p)
            }
            for _ in 0..<20 {
                let q = randomPath()
                #expect(set.conflicts(with: q) == members.contains { WriteBack.conflict($0, q) }, "\(q) against \(members)")
            }
        }
        var set = PathConflictSet()
        #expect(!set.conflicts(with: "/"), "an empty set holds nothing")
        set.insert("/a/b")
        #expect(set.conflicts(with: "/") && set.conflicts(with: "/a") && set.conflicts(with: "/a/b/c"))
        #expect(!set.conflicts(with: "/a/bc") && !set.conflicts(with: "/a/c"))
    }

    /// A lingering change is not sent before its time, then goes on its own; a drain or a
    /// synchronous change of its path sends it at once.
    @Test func aLingeringChangeWaitsItsTimeUnlessSomethingWaitsForIt() throws {
        let writeBack = WriteBack(policy: .writeBack, workers: 2, limit: 64, log: { _ in })
        writeBack.start()
        defer { _ = writeBack.stop() }
        let sent = Locked<[String: ContinuousClock.Instant]>([:])
        let queued = ContinuousClock.now
        try writeBack.submit("/lock", operation: "publish", pending: nil, linger: .milliseconds(300)) { sent.withLock { $0["/lock"] = .now } }
        try writeBack.submit("/plain", operation: "publish", pending: nil) { sent.withLock { $0["/plain"] = .now } }
        usleep(100_000)
        #expect(sent.withLock { $0["/plain"] } != nil, "a change without a linger goes at once")
        #expect(sent.withLock { $0["/lock"] } == nil, "a lingering change waits")
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, sent.withLock({ $0["/lock"] }) == nil { usleep(5_000) }
        let at = try #require(sent.withLock { $0["/lock"] }, "a lingering change goes once its time is up, with nobody asking")
        #expect(at - queued >= .milliseconds(300))

        // Something waiting for it ends the linger.
        let start = ContinuousClock.now
        try writeBack.submit("/a", operation: "publish", pending: nil, linger: .seconds(60)) { sent.withLock { $0["/a"] = .now } }
        #expect(writeBack.drain().isEmpty)
        #expect(sent.withLock { $0["/a"] } != nil && ContinuousClock.now - start < .seconds(30), "a drain sends lingering changes at once")
        try writeBack.submit("/b", operation: "publish", pending: nil, linger: .seconds(60)) { sent.withLock { $0["/b"] = .now } }
        let seen = try writeBack.perform(["/b"]) { () throws(Errno) in sent.withLock { $0["/b"] != nil } }
        #expect(seen, "a synchronous change of the path runs after the lingering one, which it sent")
    }

    /// A lingering file publication that finds the file removed sends nothing.
    @Test func aLingeringChangeMadeMootSendsNothing() throws {
        let calls = Locked(0)
        let writeBack = WriteBack(
            policy: .writeBack, workers: 2, limit: 64,
            send: { (changes) throws(Errno) -> [BatchOutcome] in
                calls.withLock { $0 += 1 }
                return changes.map { BatchOutcome(path: $0.path) }
            }, log: { _ in })
        writeBack.start()
        defer { _ = writeBack.stop() }
        let removed = Locked(false)
        let finished = Locked(0)
        let batchable = WriteBack.Batchable(
            prepare: { removed.withLock { $0 } ? .nothing : .change(.write("/x.lock", data: [], mode: 0o644, mtime: nil)) },
            finish: { _ in finished.withLock { $0 += 1 }; return nil })
        try writeBack.submit("/x.lock", operation: "publish", pending: nil, linger: .milliseconds(200), batchable: batchable) {}
        removed.withLock { $0 = true }  // unlinked before its linger ran out
        #expect(writeBack.drain().isEmpty)
        #expect(calls.withLock { $0 } == 0, "nothing reached the service")
        #expect(finished.withLock { $0 } == 0)
        #expect(writeBack.counts.queued == 0)
    }

    /// A change waits for earlier changes of its path, ancestors and descendants, and for
    /// nothing else; a synchronous operation takes its place in the same order.
    @Test func changesRunInPathOrderAndUnrelatedOnesSideBySide() throws {
        let writeBack = WriteBack(policy: .writeBack, workers: 4, limit: 64, log: { _ in })
        writeBack.start()
        defer { _ = writeBack.stop() }
        final class Events: Sendable { let list = Locked<[String]>([]) }
        let events = Events()
        @Sendable func note(_ e: String) { events.list.withLock { $0.append(e) } }
        try writeBack.submit("/d", operation: "mkdir", pending: .directory(FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: 0))) {
            note("start /d")
            Thread.sleep(forTimeInterval: 0.3)
            note("end /d")
        }
        try writeBack.submit("/d/f", operation: "publish", pending: nil) { note("start /d/f") }
        try writeBack.submit("/x", operation: "publish", pending: nil) { note("start /x") }
        // While /d is being created it shows, and so do the names its creation hides.
        #expect(writeBack.lookup("/d") == .directory(FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: 0)))
        #expect(writeBack.lookup("/d/other") == .absent, "a directory not yet at the service holds only what is queued")
        #expect(writeBack.lookup("/y") == nil)
        let waited = try writeBack.perform(["/d"]) { () throws(Errno) -> [String] in events.list.withLock { $0 } }
        #expect(waited.contains("end /d") && waited.contains("start /d/f"), "a synchronous change of /d waits for the queued ones below it: \(waited)")
        #expect(writeBack.drain().isEmpty)
        let order = events.list.withLock { $0 }
        let index = { (e: String) in order.firstIndex(of: e) ?? -1 }
        #expect(index("end /d") < index("start /d/f"), "\(order)")
        #expect(index("start /x") < index("end /d"), "an unrelated change does not wait: \(order)")
        #expect(writeBack.lookup("/d") == nil, "nothing pending once it landed")
        #expect(writeBack.counts.sent == 3)
    }

    /// A change queued after a mkdir while it was still queued (cp -a and tar -x set a directory's
    /// times once its entries are in) shows the directory as not yet at the service only until the
    /// mkdir lands; after that, names below it are the service's again (entries that landed
    /// meanwhile were hidden from listings and lookups until the later change landed too: a
    /// `find` right after `cp -a` onto a slow backend missed files).
    @Test func aDirectoryChangedWhileBeingCreatedExistsOnceTheCreationLands() throws {
        let writeBack = WriteBack(policy: .writeBack, workers: 2, limit: 64, log: { _ in })
        writeBack.start()
        defer { _ = writeBack.stop() }
        let shown = FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: 0)
        let later = FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: 42)
        let release = Locked(false)
        try writeBack.submit("/d", operation: "mkdir", pending: .directory(shown)) { usleep(100_000) }
        try writeBack.submit("/d", operation: "utimens", pending: .directory(later)) {
            while !release.withLock({ $0 }) { usleep(5_000) }
        }
        #expect(writeBack.lookup("/d/landed") == .absent, "before the mkdir lands, nothing is below /d at the service")
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, writeBack.lookup("/d") != .changed(later) { usleep(5_000) }
        #expect(writeBack.lookup("/d") == .changed(later), "the times are still queued, the directory is not")
        #expect(writeBack.lookup("/d/landed") == nil, "what is below it is the service's to say")
        release.withLock { $0 = true }
        #expect(writeBack.drain().isEmpty)
        #expect(writeBack.lookup("/d") == nil)
        // A refused mkdir leaves the later change showing the directory as absent at the service.
        let hold = Locked(false)
        try writeBack.submit("/e", operation: "mkdir", pending: .directory(shown)) { () throws(Errno) in throw Errno.exists }
        try writeBack.submit("/e", operation: "utimens", pending: .directory(later)) { while !hold.withLock({ $0 }) { usleep(5_000) } }
        usleep(200_000)
        #expect(writeBack.lookup("/e") == .directory(later))
        hold.withLock { $0 = true }
        _ = writeBack.drain()
    }

    /// Callers block once `limit` changes are queued; refusals come back from the next drain.
    @Test func aFullQueueHoldsCallersBackAndRefusalsAreReported() throws {
        let writeBack = WriteBack(policy: .writeBack, workers: 1, limit: 2, log: { _ in })
        writeBack.start()
        defer { _ = writeBack.stop() }
        let started = ContinuousClock.now
        for i in 0..<4 {
            try writeBack.submit("/f\(i)", operation: "publish", pending: nil) { Thread.sleep(forTimeInterval: 0.15) }
        }
        // Four changes of 150 ms, one worker, two slots: the fourth waits for the first two.
        #expect(ContinuousClock.now - started >= .milliseconds(250))
        try writeBack.submit("/bad", operation: "mkdir", pending: nil) { () throws(Errno) in throw Errno.exists }
        let refused = writeBack.drain()
        #expect(refused == [WriteBack.Failure(path: "/bad", operation: "mkdir", error: .exists)])
        #expect(writeBack.drain().isEmpty, "reported once")
        #expect(writeBack.counts.failed == 1)
    }

    /// What `tar -x` and `rm -rf` do, through the file system with write-back: each call returns
    /// before the service has the change, the mount shows it at once, and after a sync the
    /// session holds exactly what the calls made.
    @Test func untarAndRemoveThroughTheMountReachTheService() throws {
        let f = try SessionFilesystemTests.Fixture(writePolicy: .writeBack)
        try f.fs.makeDirectory("/pkg", mode: 0o755)
        try f.fs.makeDirectory("/pkg/lib", mode: 0o700)
        for i in 0..<20 {
            let h = try f.fs.create("/pkg/lib/m\(i).js", mode: 0o644)
            _ = try f.fs.write(h, offset: 0, bytes: Array("module \(i)\n".utf8))
            try f.fs.flush(h)
            try f.fs.release(h)
        }
        #expect(try f.fs.list("/pkg").map(\.name) == ["lib"])
        #expect(try f.fs.attributes(path: "/pkg/lib").mode == 0o700)
        #expect(try f.fs.list("/pkg/lib").count == 20)
        #expect(try f.fs.attributes(path: "/pkg/lib/m3.js").size == 9)
        #expect(throws: Errno.notFound) { try f.fs.attributes(path: "/pkg/lib/missing") }
        // Read back through the mount before anything may have landed.
        let h = try f.fs.open("/pkg/lib/m7.js", flags: O_RDONLY)
        #expect(try f.fs.read(h, offset: 0, count: 100) == Array("module 7\n".utf8))
        try f.fs.release(h)
        #expect(f.fs.publishAll().isEmpty)
        #expect(try f.store.list(f.session, path: "/pkg/lib").count == 20)
        #expect(try f.store.stat(f.session, path: "/pkg/lib").mode == 0o700)
        #expect(try f.text("/pkg/lib/m19.js") == "module 19\n")

        // rm -rf: every unlink, then the directories, bottom up.
        for i in 0..<20 { try f.fs.unlink("/pkg/lib/m\(i).js") }
        #expect(throws: Errno.notEmpty) { try f.fs.removeDirectory("/pkg") }
        try f.fs.removeDirectory("/pkg/lib")
        try f.fs.removeDirectory("/pkg")
        #expect(throws: Errno.notFound) { try f.fs.attributes(path: "/pkg") }
        #expect(!(try f.fs.list("/").map(\.name)).contains("pkg"))
        #expect(f.fs.publishAll().isEmpty)
        #expect(throws: AFSError.self) { try f.store.stat(f.session, path: "/pkg") }
    }

    /// One path made, removed and made again, in quick succession: the service ends as the calls
    /// left it, whatever the workers' timing.
    @Test func aPathsHistoryArrivesInOrder() throws {
        let f = try SessionFilesystemTests.Fixture(writePolicy: .writeBack)
        for round in 0..<5 {
            try f.fs.makeDirectory("/d", mode: 0o755)
            let h = try f.fs.create("/d/f", mode: 0o644)
            _ = try f.fs.write(h, offset: 0, bytes: Array("round \(round)".utf8))
            try f.fs.release(h)
            try f.fs.unlink("/d/f")
            try f.fs.removeDirectory("/d")
        }
        try f.fs.makeDirectory("/d", mode: 0o750)
        let h = try f.fs.create("/d/g", mode: 0o600)
        _ = try f.fs.write(h, offset: 0, bytes: Array("last".utf8))
        try f.fs.release(h)
        try f.fs.rename("/a.txt", to: "/d/a.txt")
        #expect(f.fs.publishAll().isEmpty)
        #expect(try f.store.list(f.session, path: "/d").map(\.name) == ["a.txt", "g"])
        #expect(try f.store.stat(f.session, path: "/d").mode == 0o750)
        #expect(try f.text("/d/g") == "last")
        #expect(try f.text("/d/a.txt") == "alpha")
    }

    /// `fsync` returns once the file is durable at the service, without a sync; a change the
    /// service refuses later is reported by the next sync (here: a directory another client
    /// made meanwhile, which the mount still knew as absent).
    @Test func fsyncIsDurableAndRefusalsReachTheNextSync() throws {
        // A TTL no run outlasts: the mount must still hold /z as absent when it is made below (with
        // 1 s, a slow run, such as under ThreadSanitizer, saw the service's /z and failed at once).
        let f = try SessionFilesystemTests.Fixture(ttl: .seconds(3600), writePolicy: .writeBack)
        let h = try f.fs.create("/durable.txt", mode: 0o644)
        _ = try f.fs.write(h, offset: 0, bytes: Array("kept".utf8))
        try f.fs.fsync(h)
        #expect(try f.text("/durable.txt") == "kept")
        try f.fs.release(h)

        #expect(throws: Errno.notFound) { try f.fs.attributes(path: "/z") }
        try f.store.makeDirectory(f.session, path: "/z")
        try f.fs.makeDirectory("/z", mode: 0o755)
        let failures = f.fs.publishAll()
        #expect(failures.count == 1 && failures.first?.path == "mkdir /z" && failures.first?.error == .exists, "\(failures)")
        #expect(try f.fs.attributes(path: "/z").kind == .directory, "the mount shows the service's directory afterwards")
    }
}
