import Foundation
import AFSTestSupport
import GRDB
import Testing
@testable import AFSCore
@testable import AFSTar

@Suite(.offCooperativePool) struct SessionTests {
    @Test func forkIsConstantAndIsolated() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let base = try store.createSession(name: "base", from: .blank)
        for i in 0..<300 { try store.writeFile(base.id, path: "/src/\(i % 7)/f\(i).txt", data: Array("file \(i)".utf8)) }
        let fork = try store.fork(base.id, name: "f")
        #expect(fork.root == (try store.session(base.id)).root, "a fork shares the root")
        let physical = try store.stats().physicalBytes
        let more = try store.fork(base.id)
        #expect(try store.stats().physicalBytes == physical, "forking writes no chunks")
        try store.writeFile(fork.id, path: "/src/0/f0.txt", data: Array("changed".utf8))
        #expect(try store.readFile(base.id, path: "/src/0/f0.txt") == Array("file 0".utf8))
        #expect(try store.readFile(more.id, path: "/src/0/f0.txt") == Array("file 0".utf8))
        let d = try store.diff(.session(base.id), .session(fork.id))
        #expect(d == [DiffEntry(path: "/src/0/f0.txt", change: .modified, kind: .file)])
    }

    /// The tenant a server acts for owns what it creates or forks: written with the session, kept
    /// by every later change of the row, and still there after a reopen. Only `setTenant` moves it.
    @Test func aSessionsTenantIsWrittenWithItAndKept() throws {
        let dir = TemporaryDirectory()
        var store = try AetherStore.open(at: dir.path)
        let acme = MutationContext(actor: "agent", tenant: "acme")
        let base = try store.createSession(from: .blank, context: acme)
        let fork = try store.fork(base.id, context: MutationContext(tenant: "globex"))
        let viaSource = try store.createSession(from: .session(base.id), context: acme)
        let plain = try store.fork(base.id)
        #expect([base.tenant, fork.tenant, viaSource.tenant, plain.tenant] == ["acme", "globex", "acme", nil])
        try store.writeFile(fork.id, path: "/f.txt", data: [1, 2, 3])
        _ = try store.checkpoint(fork.id)
        _ = try store.commit(fork.id, message: "m", author: "a")
        try store.archive(fork.id)
        try store.setTenant(plain.id, tenant: "initech")
        try store.close()
        store = try AetherStore.open(at: dir.path)
        #expect(try store.session(fork.id).tenant == "globex")
        #expect(try store.session(fork.id).status == .archived)
        #expect(try store.session(plain.id).tenant == "initech")
        #expect(try store.sessions().map(\.tenant) == ["acme", "globex", "acme", "initech"])
        try store.close()
    }

    /// A catalog written before sessions named their tenant opens upgraded in place: its sessions
    /// read as unowned, and new ones record their tenant.
    @Test func aCatalogFromBeforeSessionTenantsIsUpgradedInPlace() throws {
        let dir = TemporaryDirectory()
        var store = try AetherStore.open(at: dir.path)
        let old = try store.createSession(name: "old", from: .blank)
        try store.close()
        // What an older build wrote: no tenant column and no record of the migration that adds it.
        let database = try DatabaseQueue(path: dir.path + "/catalog.sqlite")
        try database.write { db in
            try db.execute(sql: "ALTER TABLE session DROP COLUMN tenant")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v3-session-tenant'")
        }
        try database.close()

        store = try AetherStore.open(at: dir.path)
        #expect(try store.session(old.id).tenant == nil)
        #expect(try store.session(old.id).name == "old")
        let fork = try store.fork(old.id, context: MutationContext(tenant: "acme"))
        try store.close()
        store = try AetherStore.open(at: dir.path)
        #expect(try store.session(fork.id).tenant == "acme")
        try store.close()
    }

    /// A recursive listing is every entry below a directory, depth first in byte order, with what
    /// `list` says of each; committed and uncommitted changes alike; bounded by its limit.
    @Test func listTreeIsEveryEntryBelowADirectoryInOneSnapshot() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let s = try store.createSession(from: .blank)
        for path in ["/b/x.txt", "/b/a/deep.txt", "/a.txt", "/B.txt"] { try store.writeFile(s.id, path: path, data: Array(path.utf8)) }
        try store.makeDirectory(s.id, path: "/empty")
        try store.symlink(s.id, path: "/b/link", target: "x.txt")
        _ = try store.checkpoint(s.id)
        // Uncommitted changes on top of the committed tree: an overwrite, a removal, a new file.
        try store.writeFile(s.id, path: "/b/x.txt", data: Array("longer now".utf8))
        try store.remove(s.id, path: "/a.txt")
        try store.writeFile(s.id, path: "/b/a/new.txt", data: [1])

        let all = try store.listTree(s.id)
        #expect(all.map(\.path) == ["/B.txt", "/b", "/b/a", "/b/a/deep.txt", "/b/a/new.txt", "/b/link", "/b/x.txt", "/empty"])
        // Each entry is what a listing of its directory says of it.
        for directory in ["/", "/b", "/b/a", "/empty"] {
            let listed = try store.list(s.id, path: directory)
            let fromTree = all.filter { MountlessPath.parent($0.path) == directory }.map(\.entry)
            #expect(fromTree == listed, "\(directory)")
        }
        #expect(all.first { $0.path == "/b/x.txt" }?.entry.size == 10)
        // Files carry the content identity `stat` shows (a mount opens them without a stat); nothing else does.
        for e in all {
            #expect(e.entry.contentID == (e.entry.kind == .file ? try store.stat(s.id, path: e.path).contentID : nil), "\(e.path)")
        }
        #expect(try store.listTree(s.id, path: "/b").map(\.path) == ["/b/a", "/b/a/deep.txt", "/b/a/new.txt", "/b/link", "/b/x.txt"])
        #expect(try store.listTree(s.id, path: "/empty").isEmpty)
        // The limit: exactly as many entries as there are is fine; one fewer is refused, naming it.
        #expect(try store.listTree(s.id, limit: 8).count == 8)
        #expect(throws: AFSError.self) { try store.listTree(s.id, limit: 7) }
        do {
            _ = try store.listTree(s.id, limit: 7)
        } catch {
            #expect(error.code == .invalidArgument && error.message.contains("more than 7 entries"))
        }
        #expect(throws: AFSError.self) { try store.listTree(s.id, path: "/B.txt") }
        #expect(throws: AFSError.self) { try store.listTree(s.id, path: "/missing") }
    }

    @Test func hostilePathsAreRefused() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let s = try store.createSession(from: .blank)
        for bad in ["../etc/passwd", "/a/../../b", "a/./b", "a//b", "a\u{0}b", String(repeating: "n", count: 256), String(repeating: "a/", count: 2100)] {
            do {
                try store.writeFile(s.id, path: bad, data: [1])
                Issue.record("accepted hostile path \(bad.prefix(40))")
            } catch {
                #expect(error.code == .invalidPath, "\(bad.prefix(20)): \(error)")
            }
        }
        #expect(try store.manifest(s.id).isEmpty, "nothing was written")
        // A tar with an absolute or escaping entry is refused whole, and no session appears.
        let tmp = TemporaryDirectory()
        for member in ["/etc/evil", "../evil"] {
            let tarPath = tmp.sub("evil-\(member.count).tar")
            var w = TarWriter(sink: ArrayByteSink())
            try w.beginEntry(TarEntry(path: "ok.txt", kind: .file, mode: 0o644, mtime: 0, size: 2, linkTarget: nil))
            try w.writeContent([1, 2])
            try w.endEntry()
            try w.beginEntry(TarEntry(path: member, kind: .file, mode: 0o644, mtime: 0, size: 1, linkTarget: nil))
            try w.writeContent([9])
            try w.endEntry()
            try w.finish()
            try Data(w.sink.bytes).write(to: URL(fileURLWithPath: tarPath))
            let before = try store.sessions().count
            #expect(throws: AFSError.self) { try store.createSession(from: .tar(tarPath)) }
            #expect(try store.sessions().count == before)
        }
    }

    @Test func directoryTarAndGitImportsAreExact() throws {
        let src = TemporaryDirectory("afs-src")
        let fm = FileManager.default
        try fm.createDirectory(atPath: src.sub("a/b/c"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: src.sub("empty"), withIntermediateDirectories: true)
        var rng = SeededRandom(seed: 4)
        let big = rng.bytes(500_000)
        try Data(big).write(to: URL(fileURLWithPath: src.sub("a/big.bin")))
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: src.sub("a/b/c/hello.txt")))
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: URL(fileURLWithPath: src.sub("run.sh")))
        chmod(src.sub("run.sh"), 0o755)
        try fm.createSymbolicLink(atPath: src.sub("link"), withDestinationPath: "a/b/c/hello.txt")

        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let s = try store.createSession(from: .directory(src.path))
        #expect(try store.readFile(s.id, path: "/a/big.bin") == big)
        #expect(try store.readFile(s.id, path: "/a/b/c/hello.txt") == Array("hello\n".utf8))
        #expect(try store.stat(s.id, path: "/run.sh").mode == 0o755)
        #expect(try store.readLink(s.id, path: "/link") == "a/b/c/hello.txt")
        #expect(try store.stat(s.id, path: "/empty").kind == .directory)

        // Export to tar, re-import: identical manifest; GNU tar reads the archive.
        let tarPath = src.sub("../export-\(UUID().uuidString.prefix(6)).tar")
        try store.exportTar(s.id, toFile: tarPath)
        defer { unlink(tarPath) }
        let listing = try shell(["tar", "-tf", tarPath])
        #expect(listing.contains("a/b/c/hello.txt"))
        let back = try store.createSession(from: .tar(tarPath))
        #expect(try store.manifest(back.id) == store.manifest(s.id))
        #expect(try store.diff(.session(s.id), .session(back.id)).isEmpty)

        // Git: exactly the tree of the commit, not the working tree.
        let repo = TemporaryDirectory("afs-git")
        try shell(["git", "init", "-q", repo.path])
        try shell(["cp", "-a", src.path + "/.", repo.path])
        try shell(["git", "-C", repo.path, "add", "-A"])
        try shell(["git", "-C", repo.path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"])
        try Data("uncommitted".utf8).write(to: URL(fileURLWithPath: repo.sub("dirty.txt")))
        let g = try store.createSession(from: .git(repository: repo.path, ref: "HEAD"))
        let paths = try store.manifest(g.id).map(\.path)
        let expected = try shell(["git", "-C", repo.path, "ls-tree", "-r", "--name-only", "HEAD"]).split(separator: "\n").map { "/" + $0 }
        #expect(paths == expected.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(try store.readFile(g.id, path: "/a/big.bin") == big)
        #expect(try store.stat(g.id, path: "/run.sh").mode == 0o755)
        #expect(try store.readLink(g.id, path: "/link") == "a/b/c/hello.txt")
        #expect(throws: AFSError.self) { try store.createSession(from: .git(repository: repo.path, ref: "no-such-ref")) }
    }

    /// `log` lists what a ref's history holds, newest first, following both parents of a merge,
    /// each commit once; `skip` and `limit` page through it; a commit ID works as a start too.
    @Test func logListsARefsHistoryNewestFirstThroughMerges() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let base = try store.createSession(from: .blank)
        try store.writeFile(base.id, path: "/a.txt", data: Array("a".utf8))
        let first = try store.commit(base.id, message: "base", author: "ann")
        _ = try store.promote(base.id, ref: "main")
        let one = try store.fork(base.id)
        let two = try store.fork(base.id)
        try store.writeFile(one.id, path: "/one.txt", data: Array("1".utf8))
        let c1 = try store.commit(one.id, message: "one\n\nwith a body", author: "bob")
        _ = try store.promote(one.id, ref: "main")
        try store.writeFile(two.id, path: "/two.txt", data: Array("2".utf8))
        let c2 = try store.commit(two.id, message: "two", author: "cat")
        let merge = try store.promote(two.id, ref: "main")
        #expect(merge.outcome == .merged)
        let log = try store.log("main")
        #expect(log.map(\.id) == [merge.commitID!, c2.id, c1.id, first.id])
        #expect(log[0].parents.count == 2)
        #expect(try store.log("main", limit: 2, skip: 1).map(\.id) == [c2.id, c1.id])
        #expect(try store.log("main", limit: 10, skip: 4) == [])
        #expect(try store.log(c1.id).map(\.id) == [c1.id, first.id])
        #expect(try store.commit(id: c2.id).message == "two")
        #expect(throws: AFSError.self) { try store.log("no-such-ref") }
        #expect(throws: AFSError.self) { try store.log("main", limit: 0) }
        #expect(throws: AFSError.self) { try store.log("main", limit: AetherStore.maxLogLength + 1) }
    }

    @Test func promoteFastForwardsMergesAndReportsConflicts() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let base = try store.createSession(from: .blank)
        try store.writeFile(base.id, path: "/shared.txt", data: Array("base".utf8))
        try store.writeFile(base.id, path: "/lib/a.txt", data: Array("a".utf8))
        _ = try store.commit(base.id, message: "base", author: "t")
        #expect(try store.promote(base.id, ref: "main").outcome == .created)

        let one = try store.fork(base.id)
        let two = try store.fork(base.id)
        let three = try store.fork(base.id)
        try store.writeFile(one.id, path: "/lib/one.txt", data: Array("1".utf8))
        _ = try store.commit(one.id, message: "one", author: "t")
        #expect(try store.promote(one.id, ref: "main").outcome == .fastForward)

        try store.writeFile(two.id, path: "/lib/two.txt", data: Array("2".utf8))
        _ = try store.commit(two.id, message: "two", author: "t")
        let merged = try store.promote(two.id, ref: "main")
        #expect(merged.outcome == .merged)
        let mainSession = try store.createSession(from: .commit(merged.commitID!))
        #expect(try store.list(mainSession.id, path: "/lib").map(\.name) == ["a.txt", "one.txt", "two.txt"])

        try store.writeFile(three.id, path: "/shared.txt", data: Array("three".utf8))
        _ = try store.commit(three.id, message: "three", author: "t")
        let four = try store.createSession(from: .commit(merged.commitID!))
        try store.writeFile(four.id, path: "/shared.txt", data: Array("four".utf8))
        _ = try store.commit(four.id, message: "four", author: "t")
        #expect(try store.promote(four.id, ref: "main").outcome == .fastForward)
        let refBefore = try store.ref("main").commitID
        let conflicted = try store.promote(three.id, ref: "main")
        #expect(conflicted.outcome == .conflicted)
        #expect(conflicted.conflicts == ["/shared.txt"])
        #expect(try store.ref("main").commitID == refBefore, "nothing half-applied")
    }

    @Test func secondOpenIsRefusedNamingTheOwner() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        do {
            _ = try AetherStore.open(at: dir.path)
            Issue.record("a second open succeeded")
        } catch {
            #expect(error.code == .storeLocked)
            #expect(error.message.contains("\(getpid())"))
        }
        try store.close()
        let again = try AetherStore.open(at: dir.path)
        try again.close()
    }

    @Test func largeFilePatchRewritesOnlyNearbyChunks() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let s = try store.createSession(from: .blank)
        var rng = SeededRandom(seed: 12)
        var data = rng.bytes(4 << 20)
        try store.writeFile(s.id, path: "/big", data: data)
        _ = try store.checkpoint(s.id)
        let before = try store.stats().physicalBytes
        try store.patchFile(s.id, path: "/big", offset: 2_000_000, data: Array("PATCHED".utf8))
        _ = try store.checkpoint(s.id)
        let growth = try store.stats().physicalBytes - before
        data.replaceSubrange(2_000_000..<2_000_007, with: Array("PATCHED".utf8))
        #expect(try store.readFile(s.id, path: "/big") == data)
        #expect(growth < 400_000, "a 7-byte patch of a 4 MiB file stored \(growth) bytes")
        #expect(try store.readFile(s.id, path: "/big", offset: 1_999_998, length: 10) == Array(data[1_999_998..<2_000_008]))
    }
}

/// Path arithmetic for the tests' expectations.
enum MountlessPath {
    static func parent(_ path: String) -> String {
        let up = path.split(separator: "/").dropLast().joined(separator: "/")
        return "/" + up
    }
}
