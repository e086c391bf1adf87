import Foundation
import Testing

@testable import AFSMount

/// The kernel's node IDs and their paths: references counted, renames moving whole subtrees,
/// unlinked nodes detached, IDs never reused.
@Suite struct NodeTableTests {
    @Test func lookupsAreCountedAndForgetDropsTheNode() {
        let nodes = NodeTable()
        let a = nodes.remember("a", in: NodeTable.rootID)
        #expect(nodes.remember("a", in: NodeTable.rootID) == a)
        #expect(nodes.path(of: a) == "/a")
        nodes.forget(a, count: 1)
        #expect(nodes.id(of: "/a") == a, "one reference is still held")
        nodes.forget(a, count: 1)
        #expect(nodes.id(of: "/a") == nil)
        #expect(nodes.path(of: a) == nil)
        let again = nodes.remember("a", in: NodeTable.rootID)
        #expect(again != a, "IDs are never reused: a late forget cannot hit the new node")
        nodes.forget(NodeTable.rootID, count: 10)
        #expect(nodes.path(of: NodeTable.rootID) == "/")
    }

    @Test func renameMovesTheSubtreeAndReplacesTheTarget() {
        let nodes = NodeTable()
        let dir = nodes.remember("dir", in: NodeTable.rootID)
        let sub = nodes.remember("sub", in: dir)
        let file = nodes.remember("f.txt", in: sub)
        let victim = nodes.remember("moved", in: NodeTable.rootID)
        nodes.rename("dir", in: NodeTable.rootID, to: "moved", in: NodeTable.rootID)
        #expect(nodes.path(of: file) == "/moved/sub/f.txt")
        #expect(nodes.id(of: "/moved/sub/f.txt") == file)
        #expect(nodes.id(of: "/dir") == nil)
        #expect(nodes.path(of: victim) == nil, "the replaced node is detached")
        #expect(Set(nodes.descendants(of: "/moved")) == [sub, file])
        // Into another directory, under a new name.
        let other = nodes.remember("other", in: NodeTable.rootID)
        nodes.rename("f.txt", in: sub, to: "g.txt", in: other)
        #expect(nodes.path(of: file) == "/other/g.txt")
        #expect(nodes.path(of: "h", in: file) == "/other/g.txt/h")
    }

    @Test func anUnlinkedNodeKeepsItsHandlesUntilForgotten() {
        let nodes = NodeTable()
        let f = nodes.remember("f", in: NodeTable.rootID)
        nodes.addHandle(7, to: f)
        nodes.remove("f", from: NodeTable.rootID)
        #expect(nodes.path(of: f) == nil)
        #expect(nodes.handles(of: f) == [7])
        // A new file of the same name is a new node.
        let g = nodes.remember("f", in: NodeTable.rootID)
        #expect(g != f)
        #expect(nodes.path(of: g) == "/f")
        nodes.removeHandle(7, from: f)
        #expect(nodes.handles(of: f).isEmpty)
        nodes.forget(f, count: 1)
        #expect(nodes.id(of: "/f") == g, "forgetting the detached node leaves its successor's name alone")
    }

    /// A file the kernel opened itself has one implicit handle per node: the first thread to
    /// make one wins, a drop asked for while a request uses it waits for the last user, and a
    /// forgotten node hands its handle back for release.
    @Test func implicitHandlesAreDroppedOnlyWhenUnused() {
        let nodes = NodeTable()
        let f = nodes.remember("f", in: NodeTable.rootID)
        #expect(nodes.useImplicitHandle(of: f) == nil)
        #expect(nodes.adoptImplicitHandle(5, for: f) == 5)
        #expect(nodes.adoptImplicitHandle(6, for: f) == 5, "the loser uses the winner's handle (and releases its own)")
        #expect(nodes.handles(of: f) == [5])
        // Two users now; a drop waits for both.
        #expect(nodes.dropImplicitHandle(5, of: f) == false)
        #expect(nodes.useImplicitHandle(of: f) == nil, "no new use of a handle being dropped")
        #expect(nodes.adoptImplicitHandle(7, for: f) == nil, "nor a replacement until it is gone")
        #expect(nodes.endImplicitUse(5, of: f) == false)
        #expect(nodes.endImplicitUse(5, of: f) == true, "the last user completes the drop")
        #expect(nodes.implicitHandle(of: f) == nil)
        #expect(nodes.handles(of: f).isEmpty)
        // Unused: dropped at once; a stale handle number drops nothing.
        #expect(nodes.adoptImplicitHandle(8, for: f) == 8)
        #expect(nodes.endImplicitUse(8, of: f) == false)
        #expect(nodes.dropImplicitHandle(9, of: f) == false)
        #expect(nodes.dropImplicitHandle(8, of: f) == true)
        // Forgotten with one: the caller gets it to release.
        #expect(nodes.adoptImplicitHandle(10, for: f) == 10)
        #expect(nodes.endImplicitUse(10, of: f) == false)
        #expect(nodes.forget(f, count: 1) == 10)
        #expect(nodes.adoptImplicitHandle(11, for: f) == nil, "a forgotten node takes none")
    }

    /// Once the kernel stops sending `flush`, the sweep ends implicit handles by these times:
    /// a handle written through counts from its last write (reads do not hold its publication
    /// back), one only read from its last use; handles in use, being dropped, or of unlinked
    /// nodes are not sweepable.
    @Test func implicitHandlesCountFromTheLastWrite() {
        let nodes = NodeTable()
        let dir = nodes.remember("d", in: NodeTable.rootID)
        let (read, written, busy, gone) = (
            nodes.remember("r", in: dir), nodes.remember("w", in: dir), nodes.remember("b", in: dir), nodes.remember("g", in: NodeTable.rootID)
        )
        let t0 = ContinuousClock.now
        let later = { (ms: Int) in t0 + .milliseconds(ms) }
        #expect(nodes.implicitHandleUses().isEmpty)
        #expect(nodes.adoptImplicitHandle(1, for: read, at: t0) == 1)
        #expect(nodes.endImplicitUse(1, of: read, at: later(100)) == false)
        #expect(nodes.adoptImplicitHandle(2, for: written, at: t0) == 2)
        #expect(nodes.endImplicitUse(2, of: written, wrote: true, at: later(50)) == false)
        // Read since: still counted from the write.
        #expect(nodes.useImplicitHandle(of: written) == 2)
        #expect(nodes.endImplicitUse(2, of: written, at: later(400)) == false)
        #expect(nodes.adoptImplicitHandle(3, for: busy, at: t0) == 3, "in use until ended")
        #expect(nodes.adoptImplicitHandle(4, for: gone, at: t0) == 4)
        #expect(nodes.endImplicitUse(4, of: gone, at: t0) == false)
        nodes.remove("g", from: NodeTable.rootID)

        let uses = Dictionary(uniqueKeysWithValues: nodes.implicitHandleUses().map { ($0.node, $0) })
        #expect(uses[read]?.handle == 1 && uses[read]?.since == later(100) && uses[read]?.sweepable == true)
        #expect(uses[written]?.handle == 2 && uses[written]?.since == later(50) && uses[written]?.sweepable == true)
        #expect(uses[busy]?.sweepable == false, "in use")
        #expect(uses[gone]?.sweepable == false, "unlinked: kept until forgotten")
        #expect(Set(nodes.implicitNodes(in: dir)) == [read, written, busy])
        #expect(nodes.implicitNodes(in: read).isEmpty)
        // A drop asked for while in use: not sweepable meanwhile.
        #expect(nodes.dropImplicitHandle(3, of: busy) == false)
        #expect(nodes.implicitHandleUses().first { $0.node == busy }?.sweepable == false)
        // Dropped or forgotten: gone from the sweep.
        #expect(nodes.dropImplicitHandle(2, of: written) == true)
        #expect(nodes.forget(read, count: 1) == 1)
        #expect(nodes.endImplicitUse(3, of: busy) == true)
        #expect(nodes.forget(gone, count: 1) == 4)
        #expect(nodes.implicitHandleUses().isEmpty)
        #expect(nodes.implicitNodes(in: dir).isEmpty)
    }

    @Test func pagesAreKeptOnlyForTheContentTheyWereReadFrom() {
        let nodes = NodeTable()
        let f = nodes.remember("f", in: NodeTable.rootID)
        let v1 = NodeTable.ContentStamp(size: 4, mtime: 1)
        #expect(!nodes.keepsCache(f, for: v1), "nothing cached yet")
        #expect(nodes.keepsCache(f, for: v1))
        #expect(!nodes.keepsCache(f, for: NodeTable.ContentStamp(size: 4, mtime: 2)))
        nodes.dropCachedContent(f)
        #expect(!nodes.keepsCache(f, for: NodeTable.ContentStamp(size: 4, mtime: 2)), "the kernel's pages were dropped")
    }
}

/// A directory's times move when an entry is made in it through the mount, whatever its
/// attributes were last seen through (its own stat, a queued change, its parent's listing).
@Suite(.offCooperativePool) struct DirectoryTimesTests {
    @Test(arguments: [WritePolicy.synchronous, .writeBack]) func mkdirMovesTheParentsTimes(_ policy: WritePolicy) throws {
        let f = try SessionFilesystemTests.Fixture(writePolicy: policy)
        try f.fs.makeDirectory("/q1", mode: 0o755)
        try f.fs.chown(path: "/q1", handle: nil, uid: 65534, gid: 65534)
        try f.fs.chmod(path: "/q1", handle: nil, mode: 0o777)
        try f.fs.chown(path: "/q1", handle: nil, uid: 0, gid: 0)
        let before = try f.fs.attributes(path: "/q1")
        usleep(1_100_000)
        try f.fs.makeDirectory("/q1/n9", mode: 0o755)
        let after = try f.fs.attributes(path: "/q1")
        #expect(after.mtime > before.mtime + 1_000_000_000, "mtime \(before.mtime) → \(after.mtime)")
        #expect((after.ctime ?? 0) > (before.ctime ?? 0) + 1_000_000_000)
        f.fs.flushAll()
    }

    /// The parent's attributes are not cached when the entry is made (an event dropped them), and
    /// the service, asked before it applies the queued mkdir, answers the old times: the answer
    /// shown, and what is cached from it, still carries the new ones.
    @Test func anOldAnswerDoesNotTakeTheTimesBack() {
        let cache = MetadataCache(ttl: .seconds(1))
        let old = FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: 1_000)
        cache.touchParent(of: "/q1/n9", at: 5_000)
        cache.store("/q1", old, asOf: cache.generation)
        guard case .found(let shown) = cache.lookup("/q1") else {
            Issue.record("not cached")
            return
        }
        #expect(shown.mtime == 5_000 && shown.ctime == 5_000)
        #expect(cache.floored("/q1", old).mtime == 5_000)
        // Listed in its parent: the same.
        cache.store(listing: [(name: "q1", attributes: old)], of: "/", asOf: cache.generation)
        #expect(cache.listing("/")?.first?.attributes.mtime == 5_000)
        // Newer times from the service win; files are never floored.
        #expect(cache.floored("/q1", FileAttributes(kind: .directory, mode: 0o755, size: 0, mtime: 9_000)).mtime == 9_000)
        // Times set on purpose (tar restoring a directory's) replace the floor.
        cache.clearTouch("/q1")
        #expect(cache.floored("/q1", old).mtime == 1_000)
        cache.touchParent(of: "/f/x", at: 5_000)
        #expect(cache.floored("/f", FileAttributes(kind: .file, mode: 0o644, size: 0, mtime: 1_000)).mtime == 1_000)
    }
}
