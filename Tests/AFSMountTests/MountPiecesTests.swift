import AFSCore
import Foundation
import AFSTestSupport
import Testing

@testable import AFSMount

/// Errno mapping, path arithmetic, the metadata cache and the bridge's `stat` conversion.
@Suite(.offCooperativePool) struct MountPiecesTests {
    @Test func errnoMapping() {
        #expect(Errno(AFSError(.notFound, "x")) == .notFound)
        #expect(Errno(AFSError(.alreadyExists, "x")) == .exists)
        #expect(Errno(AFSError(.notEmpty, "x")) == .notEmpty)
        #expect(Errno(AFSError(.wrongKind, "x")) == .notDirectory)
        #expect(Errno(AFSError(.wrongKind, "x"), wrongKind: .isDirectory) == .isDirectory)
        #expect(Errno(AFSError(.invalidPath, "x")) == .invalid)
        #expect(Errno(AFSError(.invalidPath, "a name in '/x' is 300 bytes; the limit is 255")) == .nameTooLong)
        #expect(Errno(AFSError(.locked, "x")) == .denied)
        #expect(Errno(AFSError(.forbidden, "x")) == .denied)
        #expect(Errno(AFSError(.unavailable, "x")) == .io)
        for code in AFSError.Code.allCases { #expect(Errno(AFSError(code, "")).code > 0) }
    }

    @Test func paths() {
        #expect(MountPath.parent(of: "/a/b") == "/a")
        #expect(MountPath.parent(of: "/a") == "/")
        #expect(MountPath.name(of: "/a/b") == "b")
        #expect(MountPath.join("/", "a") == "/a")
        #expect(MountPath.join("/a", "b") == "/a/b")
        #expect(MountPath.isWithin("/a/b", "/a"))
        #expect(!MountPath.isWithin("/ab", "/a"))
        #expect(MountPath.rebase("/a/b/c", from: "/a/b", to: "/x") == "/x/c")
    }

    @Test func metadataCacheAnswersFromListingsAndForgetsOnInvalidate() {
        let cache = MetadataCache(ttl: .seconds(60))
        let file = FileAttributes(kind: .file, mode: 0o644, size: 3, mtime: 1)
        cache.store(listing: [("a", file)], of: "/d", asOf: cache.generation)
        #expect(cache.lookup("/d/a") == .found(file))
        #expect(cache.lookup("/d/missing") == .missing)
        #expect(cache.lookup("/e/a") == .unknown)
        cache.invalidate("/d/b")
        #expect(cache.lookup("/d/a") == .unknown)
        cache.store("/x", file, asOf: cache.generation)
        cache.invalidateAll()
        #expect(cache.lookup("/x") == .unknown)
        let expired = MetadataCache(ttl: .zero)
        expired.store("/x", file, asOf: expired.generation)
        #expect(expired.lookup("/x") == .unknown)
    }

    /// While the changefeed vouches for the cache (each answered poll renews the trust), entries
    /// outlive the short TTL; when polls stop answering, the short TTL applies again.
    @Test func changefeedTrustKeepsEntriesUntilItLapses() throws {
        let clock = ManualClock()
        let cache = MetadataCache(ttl: .milliseconds(30), followedTTL: .seconds(60), now: { clock.instant })
        let stat = FileAttributes(kind: .file, mode: 0o644, size: 3, mtime: 1, contentID: String(repeating: "a", count: 64))
        let listed = FileAttributes(kind: .file, mode: 0o644, size: 3, mtime: 1)
        cache.store("/f", stat, asOf: cache.generation)
        cache.store(listing: [("g", listed)], of: "/", asOf: cache.generation)
        clock.advance(by: .milliseconds(29))
        #expect(cache.lookup("/f") == .found(stat), "within the short TTL")
        clock.advance(by: .milliseconds(2))
        #expect(cache.lookup("/f") == .unknown && cache.contentAttributes("/f") == nil, "untrusted: the short TTL")
        cache.store("/f", stat, asOf: cache.generation)
        cache.store(listing: [("g", listed)], of: "/", asOf: cache.generation)
        cache.trust(until: clock.instant + .seconds(5))
        clock.advance(by: .seconds(4))
        #expect(cache.isTrusted)
        #expect(cache.lookup("/f") == .found(stat) && cache.lookup("/g") == .found(listed) && cache.lookup("/h") == .missing)
        #expect(cache.contentAttributes("/f") == stat, "an open may use it")
        #expect(cache.contentAttributes("/g") == nil, "a listing has no content identity")
        cache.invalidate("/f")
        #expect(cache.lookup("/f") == .unknown, "events still drop entries")
        clock.advance(by: .seconds(2))
        #expect(!cache.isTrusted && cache.lookup("/g") == .unknown, "lapsed: the short TTL again")
        // Trusted or not, nothing outlives the followed TTL.
        cache.store("/f", stat, asOf: cache.generation)
        cache.trust(until: clock.instant + .seconds(3600))
        clock.advance(by: .seconds(59))
        #expect(cache.lookup("/f") == .found(stat))
        clock.advance(by: .seconds(2))
        #expect(cache.lookup("/f") == .unknown, "past the followed TTL")
    }

    /// A rename or removal forgets the path and what lies below it, nothing else: a sibling whose
    /// name merely starts the same stays cached.
    @Test func invalidateTreeForgetsOnlyThePathAndBelow() {
        let cache = MetadataCache(ttl: .seconds(60))
        let file = FileAttributes(kind: .file, mode: 0o644, size: 3, mtime: 1)
        let dir = FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: 1)
        for p in ["/a/b", "/a/b/c", "/a/b/d/e", "/a/bc", "/x"] { cache.store(p, p == "/a/b" ? dir : file, asOf: cache.generation) }
        cache.store(listing: [("c", file)], of: "/a/b", asOf: cache.generation)
        cache.store(listing: [("b", dir), ("bc", file)], of: "/a", asOf: cache.generation)
        cache.invalidateTree("/a/b")
        for gone in ["/a/b", "/a/b/c", "/a/b/d/e"] { #expect(cache.lookup(gone) == .unknown, "\(gone)") }
        #expect(cache.listing("/a/b") == nil && cache.listing("/a") == nil)
        #expect(cache.lookup("/a/bc") == .found(file) && cache.lookup("/x") == .found(file))

        // Entries cached below the path again after it was dropped go with the next drop, at
        // any depth, whichever table holds them; a file's drop leaves its siblings alone.
        cache.store("/a/b/d/e", file, asOf: cache.generation)
        cache.store(absent: "/a/b/d/f", asOf: cache.generation)
        cache.store(listing: [("g", file)], of: "/a/b/h", asOf: cache.generation)
        cache.settle("/a/b/i", to: file)
        cache.invalidateTree("/a/bc")
        #expect(cache.lookup("/a/b/d/e") == .found(file) && cache.lookup("/a/b/d/f") == .missing)
        cache.invalidateTree("/a")
        for gone in ["/a/b/d/e", "/a/b/d/f", "/a/b/h/g", "/a/b/i"] { #expect(cache.lookup(gone) == .unknown, "\(gone)") }
        #expect(cache.listing("/a/b/h") == nil && cache.lookup("/x") == .found(file))
        cache.store("/a/z", file, asOf: cache.generation)
        cache.invalidateTree("/")
        #expect(cache.lookup("/a/z") == .unknown && cache.lookup("/x") == .unknown)
    }

    /// An answer fetched before an invalidation is not stored after it: it may be the version the
    /// invalidation was about (a stat racing the mount's own upload of the file).
    @Test func answersOlderThanAnInvalidationAreNotStored() {
        let cache = MetadataCache(ttl: .seconds(60))
        let old = FileAttributes(kind: .file, mode: 0o644, size: 3, mtime: 1, contentID: String(repeating: "b", count: 64))
        let before = cache.generation
        cache.invalidate("/f")  // the upload of /f finished while the stat was in flight
        cache.store("/f", old, asOf: before)
        cache.store(listing: [("f", old)], of: "/", asOf: before)
        #expect(cache.lookup("/f") == .unknown && cache.contentAttributes("/f") == nil)
        cache.store("/f", old, asOf: cache.generation)
        #expect(cache.lookup("/f") == .found(old))
    }

    @Test func absentPathsAreRememberedUntilInvalidated() {
        let cache = MetadataCache(ttl: .seconds(60))
        cache.store(absent: "/.git/info/exclude", asOf: cache.generation)
        #expect(cache.lookup("/.git/info/exclude") == .missing)
        cache.invalidate("/.git/info/exclude")
        #expect(cache.lookup("/.git/info/exclude") == .unknown)
        // An answer that raced a creation (its event invalidated meanwhile) is not kept.
        let before = cache.generation
        cache.invalidate("/.git/info/exclude")
        cache.store(absent: "/.git/info/exclude", asOf: before)
        #expect(cache.lookup("/.git/info/exclude") == .unknown)
        cache.store(absent: "/d/x", asOf: cache.generation)
        cache.invalidateTree("/d")
        #expect(cache.lookup("/d/x") == .unknown)
        cache.store(absent: "/y", asOf: cache.generation)
        cache.invalidateAll()
        #expect(cache.lookup("/y") == .unknown)
    }

    @Test func statOfAttributes() {
        let st = FUSEBridge.stat(FileAttributes(kind: .file, mode: 0o100755, size: 1000, mtime: 1_500_000_000_123_456_789), inode: 42)
        #expect(st.st_ino == 42)
        #expect(st.st_mode == S_IFREG | 0o755)
        #expect(st.st_size == 1000)
        #expect(st.st_blocks == 2)
        #expect(st.st_nlink == 1)
        #expect(st.st_mtim.tv_sec == 1_500_000_000 && st.st_mtim.tv_nsec == 123_456_789)
        // The change time is the stored modification time: stable across mounts, as git's index needs.
        #expect(st.st_ctim.tv_sec == st.st_mtim.tv_sec && st.st_ctim.tv_nsec == st.st_mtim.tv_nsec)
        #expect(FUSEBridge.stat(FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: 0), inode: 2).st_mode == S_IFDIR | 0o755)
        #expect(FUSEBridge.stat(FileAttributes(kind: .symlink, mode: 0o777, size: 4, mtime: 0), inode: 2).st_mode == S_IFLNK | 0o777)
    }

    @Test func inodeNumbersArePathFunctions() {
        #expect(InodeNumber.forPath("/") == 1)
        let paths = (0..<20_000).map { "/src/dir\($0 % 97)/file\($0).swift" }
        let numbers = paths.map(InodeNumber.forPath)
        #expect(Set(numbers).count == paths.count, "distinct paths, distinct numbers")
        #expect(numbers.allSatisfy { $0 > 1 })
        #expect(paths.map(InodeNumber.forPath) == numbers, "the same path always gets the same number")
    }

    @Test func fsmonitorTokensAndHookOutput() {
        let token = FSMonitorToken(session: "s-abc", seq: 42)
        #expect(FSMonitorToken(token.description) == token)
        for garbage in ["", "1733400000000000000", "aether:1:s-abc", "aether:2:s-abc:1", "aether:1::3", "aether:1:s:x"] {
            #expect(FSMonitorToken(garbage) == nil, "\(garbage)")
        }
        let some = ChangedPaths(token: "T", paths: ["a.txt", "dir/"], everything: false)
        #expect(some.hookOutput == Array("T\0a.txt\0dir/\0".utf8))
        #expect(ChangedPaths(token: "T", paths: ["ignored"], everything: true).hookOutput == Array("T\0/\0".utf8))
        #expect(ChangedPaths(token: "T", paths: [], everything: false).hookOutput == Array("T\0".utf8))
    }
}
