import AFSClient
import AFSCore
import Foundation
import AFSTestSupport
import Testing

@testable import AFSMount

/// The mount's logic in process, over a real embedded store: what each FUSE callback does,
/// without the kernel in between.
@Suite(.offCooperativePool) struct SessionFilesystemTests {
    final class Fixture {
        let directory = "/var/tmp/afs-fs-\(UUID().uuidString.prefix(8))"
        let store: AetherStore
        let session: String
        let fs: SessionFilesystem

        init(ttl: Duration = .seconds(1), writePolicy: WritePolicy = .synchronous, treeListingLimit: Int = SessionFilesystem.treeListingLimit) throws {
            store = try AetherStore.open(at: directory + "/store")
            session = try store.createSession(name: "m", from: .blank).id
            try store.writeFile(session, path: "/a.txt", data: Array("alpha".utf8))
            try store.makeDirectory(session, path: "/dir")
            try store.writeFile(session, path: "/dir/b.txt", data: Array("bravo".utf8))
            let cache = try ContentCache(.init(directory: directory + "/cache", maxBytes: 1 << 30))
            fs = try SessionFilesystem(service: store, session: session, cache: cache, context: MutationContext(actor: "mount"), attributeTTL: ttl,
                writePolicy: writePolicy, treeListingLimit: treeListingLimit)
        }

        deinit {
            fs.flushAll()
            try? store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }

        func text(_ path: String) throws -> String {
            String(decoding: try store.readFile(session, path: path), as: UTF8.self)
        }
    }

    /// What git's fsmonitor hook is told: every path the changefeed names below the work tree,
    /// relative to it; directories that may have gone with a trailing slash; open files with
    /// unpublished writes; "everything" for foreign tokens and tree-wide events.
    @Test func changedPathsForGitsMonitor() throws {
        let f = try Fixture()
        try f.store.makeDirectory(f.session, path: "/repo/src", parents: true)
        try f.store.writeFile(f.session, path: "/repo/src/one.txt", data: [1])
        let start = try f.fs.changedPaths(since: nil, under: "/repo")
        #expect(start.everything && start.paths.isEmpty, "no token: everything")
        let token = try #require(FSMonitorToken(start.token))
        #expect(token.session == f.session)
        #expect(try f.fs.changedPaths(since: start.token, under: "/repo") == ChangedPaths(token: start.token, paths: [], everything: false))

        try f.store.writeFile(f.session, path: "/repo/src/one.txt", data: [2])
        try f.store.writeFile(f.session, path: "/outside.txt", data: [3])
        try f.store.rename(f.session, from: "/repo/src", to: "/repo/lib")
        try f.store.makeDirectory(f.session, path: "/repo/.git")
        try f.store.writeFile(f.session, path: "/repo/.git/index", data: [7])
        try f.store.writeFile(f.session, path: "/repo/new.txt", data: [4])
        try f.store.remove(f.session, path: "/repo/new.txt")
        let changed = try f.fs.changedPaths(since: start.token, under: "/repo")
        #expect(!changed.everything)
        #expect(changed.paths == ["src/one.txt", "src", "src/", "lib", "lib/", "new.txt", "new.txt/"])
        #expect(try #require(FSMonitorToken(changed.token)).seq > token.seq)
        // At the root of the mount, paths are relative to it.
        #expect(try f.fs.changedPaths(since: changed.token, under: "/").paths.isEmpty)
        try f.store.writeFile(f.session, path: "/outside.txt", data: [5])
        #expect(try f.fs.changedPaths(since: changed.token, under: "/").paths == ["outside.txt"])

        // A file open for writing through the mount is reported before anything is published.
        let h = try f.fs.open("/repo/lib/one.txt", flags: O_RDWR)
        _ = try f.fs.write(h, offset: 0, bytes: [9])
        let open = try f.fs.changedPaths(since: changed.token, under: "/repo")
        #expect(open.paths.contains("lib/one.txt"))
        try f.fs.release(h)

        // Another session's token, a garbage token, a restore, a replaced work tree: everything.
        #expect(try f.fs.changedPaths(since: FSMonitorToken(session: "s-other", seq: token.seq).description, under: "/repo").everything)
        #expect(try f.fs.changedPaths(since: "1733400000", under: "/repo").everything)
        let checkpoint = try f.store.checkpoint(f.session)
        let beforeRestore = try f.fs.changedPaths(since: changed.token, under: "/repo").token
        try f.store.restore(f.session, checkpoint: checkpoint.id)
        #expect(try f.fs.changedPaths(since: beforeRestore, under: "/repo").everything)
        let afterRestore = try f.fs.changedPaths(since: nil, under: "/repo").token
        try f.store.rename(f.session, from: "/repo", to: "/repo2")
        #expect(try f.fs.changedPaths(since: afterRestore, under: "/repo").everything)
    }

    @Test func readsThroughTheCacheAndListsWithAttributes() throws {
        let f = try Fixture()
        let h = try f.fs.open("/a.txt", flags: O_RDONLY)
        #expect(try f.fs.read(h, offset: 1, count: 100) == Array("lpha".utf8))
        try f.fs.release(h)
        #expect(f.fs.cache.usage.entries == 1)
        let listing = try f.fs.list("/")
        #expect(listing.map(\.name) == ["a.txt", "dir"])
        #expect(listing.first?.attributes.size == 5)
        #expect(try f.fs.attributes(path: "/dir").kind == .directory)
        #expect(throws: Errno.notFound) { try f.fs.attributes(path: "/nope") }
        #expect(throws: Errno.isDirectory) { try f.fs.open("/dir", flags: O_RDONLY) }
    }

    @Test func writesAreLocalUntilFlushAndSharedBetweenHandles() throws {
        let f = try Fixture()
        let w = try f.fs.create("/new.txt", mode: 0o600)
        #expect(try f.fs.write(w, offset: 0, bytes: Array("hello".utf8)) == 5)
        // Visible to this mount at once, not yet to the service.
        #expect(try f.fs.attributes(path: "/new.txt").size == 5)
        #expect(try f.fs.list("/").map(\.name).contains("new.txt"))
        #expect(throws: AFSError.self) { try f.store.stat(f.session, path: "/new.txt") }
        // A second opener (another process) reads the same bytes.
        let r = try f.fs.open("/new.txt", flags: O_RDWR)
        #expect(try f.fs.read(r, offset: 0, count: 10) == Array("hello".utf8))
        _ = try f.fs.write(r, offset: 5, bytes: Array(" world".utf8))
        try f.fs.flush(w)
        #expect(try f.text("/new.txt") == "hello world")
        #expect(try f.store.stat(f.session, path: "/new.txt").mode == 0o600)
        try f.fs.release(w)
        try f.fs.release(r)
        #expect(f.fs.openFile(at: "/new.txt") == nil)
    }

    @Test func truncateChmodAndUnlinkWhileOpen() throws {
        let f = try Fixture()
        try f.fs.truncate(path: "/a.txt", handle: nil, size: 2)
        #expect(try f.text("/a.txt") == "al")
        try f.fs.chmod(path: "/a.txt", handle: nil, mode: 0o755)
        #expect(try f.store.stat(f.session, path: "/a.txt").mode == 0o755)
        #expect(try f.text("/a.txt") == "al")
        try f.fs.chmod(path: "/dir", handle: nil, mode: 0o700)
        #expect(try f.store.stat(f.session, path: "/dir").mode == 0o700)
        #expect(try f.fs.attributes(path: "/dir").mode == 0o700)
        #expect(try f.store.list(f.session, path: "/dir").map(\.name) == ["b.txt"])
        // The root's mode is the session's own.
        try f.fs.chmod(path: "/", handle: nil, mode: 0o700)
        #expect(try f.store.stat(f.session, path: "/").mode == 0o700)
        try f.fs.chmod(path: "/", handle: nil, mode: 0o755)

        let h = try f.fs.open("/dir/b.txt", flags: O_RDWR)
        try f.fs.unlink("/dir/b.txt")
        #expect(throws: AFSError.self) { try f.store.stat(f.session, path: "/dir/b.txt") }
        // Still readable and writable through the handle, and never uploaded again.
        _ = try f.fs.write(h, offset: 0, bytes: Array("B".utf8))
        #expect(try f.fs.read(h, offset: 0, count: 5) == Array("Bravo".utf8))
        try f.fs.release(h)
        #expect(throws: AFSError.self) { try f.store.stat(f.session, path: "/dir/b.txt") }

        // Created and removed before any flush: the service never hears of it.
        let t = try f.fs.create("/tmp-file", mode: 0o644)
        try f.fs.unlink("/tmp-file")
        try f.fs.release(t)
        #expect(throws: AFSError.self) { try f.store.stat(f.session, path: "/tmp-file") }
    }

    @Test func directoriesAndRenames() throws {
        let f = try Fixture()
        try f.fs.makeDirectory("/e", mode: 0o755)
        #expect(throws: Errno.exists) { try f.fs.makeDirectory("/e", mode: 0o755) }
        #expect(throws: Errno.notEmpty) { try f.fs.removeDirectory("/dir") }
        #expect(throws: Errno.notDirectory) { try f.fs.removeDirectory("/a.txt") }
        #expect(throws: Errno.isDirectory) { try f.fs.unlink("/dir") }

        #expect(throws: Errno.exists) { try f.fs.rename("/a.txt", to: "/dir/b.txt", flags: SessionFilesystem.renameNoReplace) }
        #expect(throws: Errno.invalid) { try f.fs.rename("/a.txt", to: "/dir/b.txt", flags: SessionFilesystem.renameExchange) }
        try f.fs.rename("/a.txt", to: "/dir/b.txt")
        #expect(try f.text("/dir/b.txt") == "alpha")
        // An empty directory is replaced, as POSIX allows; a non-empty one is not.
        try f.fs.rename("/e", to: "/f")
        try f.fs.makeDirectory("/g", mode: 0o755)
        try f.fs.rename("/f", to: "/g")
        #expect(throws: Errno.notEmpty) { try f.fs.rename("/g", to: "/dir") }

        // A file still open (never flushed) moves with its writes, and lands under the new name.
        let h = try f.fs.create("/dir/draft", mode: 0o644)
        _ = try f.fs.write(h, offset: 0, bytes: Array("draft".utf8))
        try f.fs.rename("/dir", to: "/moved")
        _ = try f.fs.write(h, offset: 5, bytes: Array("!".utf8))
        try f.fs.release(h)
        #expect(try f.text("/moved/draft") == "draft!")
        #expect(try f.store.list(f.session, path: "/").map(\.name) == ["g", "moved"])
    }

    @Test func symlinksFromImportedTreesReadBack() throws {
        let f = try Fixture()
        try f.store.symlink(f.session, path: "/link", target: "a.txt")
        #expect(try f.fs.attributes(path: "/link").kind == .symlink)
        #expect(try f.fs.readLink("/link") == "a.txt")
        #expect(throws: Errno.invalid) { try f.fs.readLink("/a.txt") }
    }

    @Test func symlinksChmodAndTimesGoThroughTheService() throws {
        let f = try Fixture()
        try f.fs.symlink(target: "../a.txt", at: "/dir/ln")
        #expect(try f.store.readLink(f.session, path: "/dir/ln") == "../a.txt")
        #expect(try f.fs.attributes(path: "/dir/ln").kind == .symlink)
        #expect(try f.fs.readLink("/dir/ln") == "../a.txt")
        #expect(try f.fs.list("/dir").map(\.name) == ["b.txt", "ln"])
        #expect(throws: Errno.exists) { try f.fs.symlink(target: "x", at: "/dir/ln") }
        #expect(throws: Errno.exists) { try f.fs.symlink(target: "x", at: "/a.txt") }
        try f.fs.link("/a.txt", to: "/hard")
        #expect(try f.fs.attributes(path: "/hard").nlink == 2 && f.fs.attributes(path: "/a.txt").nlink == 2)
        #expect(throws: Errno.exists) { try f.fs.link("/a.txt", to: "/dir/ln") }
        #expect(throws: Errno.notFound) { try f.fs.link("/nope", to: "/x") }
        try f.fs.unlink("/hard")
        #expect(try f.fs.attributes(path: "/a.txt").nlink == 1)

        let t: Int64 = 1_000_000_000_123_456_789
        try f.fs.setTimes(path: "/a.txt", handle: nil, modified: .at(t))
        #expect(try f.store.stat(f.session, path: "/a.txt").mtime == t)
        #expect(try f.fs.attributes(path: "/a.txt").mtime == t, "the mount's own change is seen at once")
        try f.fs.setTimes(path: "/dir", handle: nil, modified: .at(t + 1))
        #expect(try f.store.stat(f.session, path: "/dir").mtime == t + 1)
        try f.fs.setTimes(path: "/dir/ln", handle: nil, modified: .at(t + 2))
        #expect(try f.store.stat(f.session, path: "/dir/ln").mtime == t + 2)
        try f.fs.setTimes(path: "/", handle: nil, modified: .at(t))
        #expect(throws: Errno.notFound) { try f.fs.setTimes(path: "/missing", handle: nil, modified: .omit) }
        #expect(throws: Errno.notFound) { try f.fs.setTimes(path: "/missing", handle: nil, modified: .at(t)) }
        let before = OpenFile.now()
        try f.fs.setTimes(path: "/dir/b.txt", handle: nil, modified: .now)
        #expect(try f.store.stat(f.session, path: "/dir/b.txt").mtime >= before)

        // A file with unpublished writes keeps the time and mode it is given (cp -p: futimens and
        // fchmod before close) until its content is published, and both arrive in that one write.
        let h = try f.fs.create("/copied", mode: 0o600)
        _ = try f.fs.write(h, offset: 0, bytes: Array("abc".utf8))
        try f.fs.setTimes(path: nil, handle: h, modified: .at(t))
        try f.fs.chmod(path: "/copied", handle: nil, mode: 0o644)
        #expect(try f.fs.attributes(path: nil, handle: h).mtime == t)
        #expect(try f.fs.attributes(path: "/copied").mode == 0o644)
        #expect(throws: AFSError.self, "nothing reaches the service before the close") { try f.store.stat(f.session, path: "/copied") }
        try f.fs.release(h)
        let copied = try f.store.stat(f.session, path: "/copied")
        #expect(copied.mtime == t && copied.mode == 0o644 && copied.size == 3)
        let events = try f.store.changes(f.session, after: 0, limit: 1000).filter { $0.path == "/copied" }.map(\.kind)
        #expect(events == [.write], "one durable write per copied file: \(events)")
        // A write after the time was set moves it to now, as on any file system.
        let w = try f.fs.open("/copied", flags: O_WRONLY)
        _ = try f.fs.write(w, offset: 0, bytes: Array("x".utf8))
        try f.fs.setTimes(path: nil, handle: w, modified: .at(t))
        _ = try f.fs.write(w, offset: 1, bytes: Array("y".utf8))
        try f.fs.release(w)
        #expect(try f.store.stat(f.session, path: "/copied").mtime > t)
        #expect(try f.text("/copied") == "xyc")

        // chmod of a file only read: a metadata call, the content is not fetched into a scratch copy or re-sent.
        let r = try f.fs.open("/a.txt", flags: O_RDONLY)
        let id = try f.store.stat(f.session, path: "/a.txt").contentID
        try f.fs.chmod(path: "/a.txt", handle: nil, mode: 0o640)
        #expect(try f.fs.attributes(path: nil, handle: r).mode == 0o640)
        #expect(try f.fs.openFile(handle: r)?.state.withLock { $0.scratch } == nil)
        try f.fs.release(r)
        let st = try f.store.stat(f.session, path: "/a.txt")
        #expect(st.mode == 0o640 && st.contentID == id && st.mtime == t)
    }

    /// The first lookup in a cold subtree reads it whole in one call (git's first `git status`
    /// lstat()s every file of a checkout); later misses in it list one directory; a subtree over
    /// the limit is listed a directory at a time; answers stay exact throughout.
    @Test func theFirstMissReadsTheSubtreeWholeOnce() throws {
        for limit in [SessionFilesystem.treeListingLimit, 10] {
            let f = try Fixture(ttl: .seconds(600), treeListingLimit: limit)
            for i in 0..<40 { try f.store.writeFile(f.session, path: "/src/m\(i % 4)/f\(i).c", data: Array(repeating: UInt8(i), count: i)) }
            try f.fs.startFollowingChanges()
            defer { f.fs.stopFollowingChanges() }
            let deadline = ContinuousClock.now + .seconds(10)
            while !f.fs.followsChanges, ContinuousClock.now < deadline { usleep(10_000) }
            #expect(f.fs.followsChanges)
            func treeCalls() -> UInt64 { f.fs.metrics.snapshot(session: f.session, cache: f.fs.cache, openFiles: 0).operations["service-tree"]?.count ?? 0 }

            // Name by name, as the kernel looks a path up.
            #expect(try f.fs.attributes(path: "/src").kind == .directory)
            #expect(try f.fs.attributes(path: "/src/m3").kind == .directory)
            #expect(try f.fs.attributes(path: "/src/m3/f7.c").size == 7)
            if limit == 10 {
                // The root (47 entries) and /src (44) are refused and split: each listed alone,
                // and the subtrees below (/dir, /src/m0 … /src/m3, 10 entries each) read whole,
                // in the background or by the lookup that needs one first; none twice.
                for directory in ["/dir", "/src/m0", "/src/m1", "/src/m2", "/src/m3"] {
                    while f.fs.metadata.listing(directory) == nil, ContinuousClock.now < deadline { usleep(10_000) }
                    #expect(f.fs.metadata.listing(directory) != nil, "\(directory) was read in the background")
                }
                #expect(treeCalls() == 7)
                #expect(f.fs.metrics.snapshot(session: f.session, cache: f.fs.cache, openFiles: 0).operations["service-tree"]?.errors == 2)
            } else {
                #expect(treeCalls() == 1)
                for directory in ["/", "/dir", "/src", "/src/m0", "/src/m1", "/src/m2", "/src/m3"] {
                    #expect(f.fs.metadata.listing(directory) != nil, "\(directory) was listed by the one call")
                }
            }
            for i in 0..<40 { #expect(try f.fs.attributes(path: "/src/m\(i % 4)/f\(i).c").size == UInt64(i)) }
            #expect(throws: Errno.notFound) { try f.fs.attributes(path: "/src/m1/missing.c") }
            #expect(try f.fs.list("/src").map(\.name) == ["m0", "m1", "m2", "m3"])
            let calls = treeCalls()
            // A change through the mount drops its directory's listing: read again on its own.
            let h = try f.fs.create("/src/m2/new.c", mode: 0o644)
            _ = try f.fs.write(h, offset: 0, bytes: [1, 2, 3])
            try f.fs.release(h)
            #expect(try f.fs.attributes(path: "/src/m2/new.c").size == 3)
            #expect(try f.fs.list("/src/m2").count == 11)
            #expect(treeCalls() == calls, "a warm subtree is not read whole again")
            // Opens take the content identity from the listing (no stat) and read the right bytes.
            func read(_ path: String) throws -> [UInt8] {
                let h = try f.fs.open(path, flags: O_RDONLY)
                defer { try? f.fs.release(h) }
                return try f.fs.read(h, offset: 0, count: 100)
            }
            #expect(f.fs.metadata.contentAttributes("/src/m0/f4.c")?.contentID == (try f.store.stat(f.session, path: "/src/m0/f4.c").contentID))
            #expect(try read("/src/m0/f4.c") == Array(repeating: 4, count: 4))
            // A change made elsewhere reaches the warmed listings through the changefeed: a new
            // name, and new bytes for a name whose old content identity the listing held.
            try f.store.writeFile(f.session, path: "/src/m0/api.c", data: [9])
            try f.store.writeFile(f.session, path: "/src/m0/f8.c", data: [7, 7])
            while ContinuousClock.now < deadline, (try? f.fs.attributes(path: "/src/m0/api.c")) == nil { usleep(20_000) }
            #expect(try f.fs.attributes(path: "/src/m0/api.c").size == 1)
            while ContinuousClock.now < deadline, (try? f.fs.attributes(path: "/src/m0/f8.c").size) != 2 { usleep(20_000) }
            #expect(try read("/src/m0/f8.c") == [7, 7])
        }
    }

    /// Two cold opens in one directory fetch its other small files in the background; one cold
    /// open does not; what was fetched reads back exactly.
    @Test func aDirectoryReadFileByFileIsFetchedAhead() throws {
        let f = try Fixture(ttl: .seconds(600))
        for i in 0..<30 { try f.store.writeFile(f.session, path: "/walk/f\(i)", data: Array("file \(i) ".utf8) + Array(repeating: UInt8(i), count: 1000 + i)) }
        for i in 0..<5 { try f.store.writeFile(f.session, path: "/once/g\(i)", data: Array("other \(i)".utf8)) }
        // Below it: where the walk goes next, fetched with it.
        for i in 0..<4 { try f.store.writeFile(f.session, path: "/walk/sub/deeper/h\(i)", data: Array("deep \(i)".utf8)) }
        try f.store.writeFile(f.session, path: "/walk/big", data: Array(repeating: 1, count: Int(SessionFilesystem.partialFetchThreshold)))
        try f.fs.startFollowingChanges()
        defer { f.fs.stopFollowingChanges() }
        func read(_ path: String) throws -> [UInt8] {
            _ = try f.fs.attributes(path: path)  // the kernel's lookup before its open
            let h = try f.fs.open(path, flags: O_RDONLY)
            defer { try? f.fs.release(h) }
            return try f.fs.read(h, offset: 0, count: 4000)
        }
        func cached(_ directory: String) throws -> Int {
            try f.fs.list(directory).filter { $0.attributes.contentID.map(f.fs.cache.contains) ?? false }.count
        }
        #expect(try read("/once/g0") == Array("other 0".utf8))
        usleep(300_000)
        #expect(try cached("/once") == 1, "one cold open fetches only itself")
        #expect(try read("/walk/f10") == (try f.store.readFile(f.session, path: "/walk/f10")))
        #expect(try read("/walk/f11") == (try f.store.readFile(f.session, path: "/walk/f11")))
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, try cached("/walk") < 30 { usleep(20_000) }
        #expect(try cached("/walk") == 30, "the 30 small files are fetched; the large one is left to its reads")
        while ContinuousClock.now < deadline, try cached("/walk/sub/deeper") < 4 { usleep(20_000) }
        #expect(try cached("/walk/sub/deeper") == 4, "the directories below are fetched too")
        let misses = f.fs.cache.lookups.misses
        for i in 0..<30 { #expect(try read("/walk/f\(i)") == (try f.store.readFile(f.session, path: "/walk/f\(i)"))) }
        #expect(f.fs.cache.lookups.misses == misses, "every read came from the cache")
    }

    /// `git status` reads every scanned directory's `.gitignore`: a warmed subtree's are fetched
    /// ahead, in batches, before any open asks for them.
    @Test func ignoreFilesOfAWarmedTreeAreFetchedAhead() throws {
        let f = try Fixture(ttl: .seconds(600))
        for i in 0..<6 { try f.store.writeFile(f.session, path: "/repo/p\(i)/.gitignore", data: Array("build-\(i)/\n".utf8)) }
        try f.store.writeFile(f.session, path: "/repo/p0/main.c", data: Array("int main;".utf8))
        try f.fs.startFollowingChanges()
        defer { f.fs.stopFollowingChanges() }
        func cached(_ path: String) throws -> Bool { try f.fs.attributes(path: path).contentID.map(f.fs.cache.contains) ?? false }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, try !(0..<6).allSatisfy({ try cached("/repo/p\($0)/.gitignore") }) { usleep(20_000) }
        for i in 0..<6 { #expect(try cached("/repo/p\(i)/.gitignore"), "p\(i)/.gitignore") }
        #expect(try !cached("/repo/p0/main.c"), "only the ignore files")
        let misses = f.fs.cache.lookups.misses
        let h = try f.fs.open("/repo/p3/.gitignore", flags: O_RDONLY)
        defer { try? f.fs.release(h) }
        #expect(try f.fs.read(h, offset: 0, count: 100) == Array("build-3/\n".utf8))
        #expect(f.fs.cache.lookups.misses == misses, "read from the cache")
    }

    @Test func apiWritesReachTheMountThroughTheChangefeed() throws {
        // A TTL far longer than the test: only the changefeed can make the new size visible.
        let f = try Fixture(ttl: .seconds(600))
        #expect(try f.fs.attributes(path: "/a.txt").size == 5)
        #expect(try f.fs.list("/dir").map(\.name) == ["b.txt"])
        try f.fs.startFollowingChanges()
        defer { f.fs.stopFollowingChanges() }
        let history = f.fs.follower.position
        #expect(history > 0, "the follower should start after the existing events")
        try f.store.writeFile(f.session, path: "/a.txt", data: Array("a much longer alpha".utf8))
        try f.store.writeFile(f.session, path: "/dir/c.txt", data: [1])
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, (try? f.fs.attributes(path: "/a.txt").size) == 5 { usleep(20_000) }
        #expect(try f.fs.attributes(path: "/a.txt").size == 19)
        while ContinuousClock.now < deadline, (try? f.fs.list("/dir").count) == 1 { usleep(20_000) }
        #expect(try f.fs.list("/dir").map(\.name) == ["b.txt", "c.txt"])
        // The tree warmer may have read the new names first: the follower reaches them by itself.
        while ContinuousClock.now < deadline, f.fs.follower.position <= history { usleep(20_000) }
        #expect(f.fs.follower.position > history)
        #expect(ChangeFollower.resumePoint("events up to 40 of session s are past retention; resume from 40 or later") == 40)
    }
}
