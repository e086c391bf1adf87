import AFSTestSupport
import Foundation
import Testing

@testable import AFSCore
import CSystemExtras

#if canImport(Glibc)
import Glibc
#endif

/// FIFOs, sockets and device nodes, owners, change times and extended attributes: stored by the
/// engine, kept through the journal, folds, forks, checkpoints, merges and tar, and refused with
/// the right error when asked for something the store cannot hold.
@Suite(.offCooperativePool) struct POSIXEntryTests {
    @Test func specialEntriesOwnersAndXattrsSurviveReplayFoldForkAndRestore() throws {
        let dir = TemporaryDirectory()
        var store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        let alice = MutationContext(actor: "alice", uid: 1001, gid: 2002)
        try store.makeDirectory(id, path: "/dev", context: alice)
        try store.makeNode(id, path: "/dev/pipe", kind: .fifo, mode: 0o640, context: alice)
        try store.makeNode(id, path: "/dev/sock", kind: .socket, mode: 0o755)
        let rdev = DeviceNumber.make(major: 8, minor: 17)
        try store.makeNode(id, path: "/dev/sdb1", kind: .blockDevice, mode: 0o660, rdev: rdev)
        try store.makeNode(id, path: "/dev/null", kind: .characterDevice, mode: 0o666, rdev: DeviceNumber.make(major: 1, minor: 3))
        try store.writeFile(id, path: "/f.txt", data: Array("hello".utf8), context: alice)
        try store.setExtendedAttribute(id, path: "/f.txt", name: "user.mime", value: Array("text/plain".utf8))
        try store.setExtendedAttribute(id, path: "/dev", name: "user.bin", value: [0, 255, 10, 0])
        try store.setOwner(id, path: "/dev/sock", uid: 7, gid: nil)

        func check(_ store: AetherStore, _ session: String, _ when: String) throws {
            let pipe = try store.stat(session, path: "/dev/pipe")
            #expect(pipe.kind == .fifo && pipe.mode == 0o640 && pipe.uid == 1001 && pipe.gid == 2002 && pipe.rdev == nil, "\(when): \(pipe)")
            let sock = try store.stat(session, path: "/dev/sock")
            #expect(sock.kind == .socket && sock.uid == 7 && sock.gid == nil, "\(when): \(sock)")
            let disk = try store.stat(session, path: "/dev/sdb1")
            #expect(disk.kind == .blockDevice && disk.rdev == rdev && disk.mode == 0o660, "\(when)")
            #expect(DeviceNumber.split(try #require(disk.rdev)) == (8, 17))
            #expect(try store.stat(session, path: "/dev/null").kind == .characterDevice, "\(when)")
            let file = try store.stat(session, path: "/f.txt")
            #expect(file.uid == 1001 && file.gid == 2002 && file.xattrs == ["user.mime"], "\(when): \(file)")
            #expect(try store.extendedAttributes(session, path: "/f.txt") == ["user.mime": Array("text/plain".utf8)], "\(when)")
            #expect(try store.extendedAttributes(session, path: "/dev") == ["user.bin": [0, 255, 10, 0]], "\(when)")
            #expect(try store.readFile(session, path: "/f.txt") == Array("hello".utf8), "\(when)")
            let listed = try store.list(session, path: "/dev")
            #expect(listed.map(\.kind) == [.characterDevice, .fifo, .blockDevice, .socket], "\(when)")
            #expect(listed.first { $0.name == "pipe" }?.uid == 1001, "\(when)")
            let manifest = try store.manifest(session)
            #expect(manifest.map(\.path) == ["/dev/null", "/dev/pipe", "/dev/sdb1", "/dev/sock", "/f.txt"], "\(when)")
            #expect(manifest.first { $0.path == "/dev/sdb1" }?.rdev == rdev, "\(when)")
        }
        try check(store, id, "in the overlay")
        try store.close()
        store = try AetherStore.open(at: dir.path)
        try check(store, id, "after replaying the journal")
        let checkpoint = try store.checkpoint(id, label: "folded")
        try check(store, id, "after a fold")
        let fork = try store.fork(id)
        try check(store, fork.id, "in a fork")
        try store.remove(id, path: "/dev", recursive: true)
        try store.removeExtendedAttribute(id, path: "/f.txt", name: "user.mime")
        #expect(try store.stat(id, path: "/f.txt").xattrs == nil)
        try store.restore(id, checkpoint: checkpoint.id)
        try check(store, id, "after a restore")
        try store.close()
        store = try AetherStore.open(at: dir.path)
        try check(store, id, "after reopening the folded tree")
        try store.close()
    }

    @Test func writesKeepOwnerAndXattrsAndMoveTheChangeTime() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.writeFile(id, path: "/a", data: [1], context: MutationContext(uid: 5, gid: 6))
        try store.setExtendedAttribute(id, path: "/a", name: "user.k", value: [9])
        let before = try store.stat(id, path: "/a")
        let created = try #require(before.ctime)
        // A new writer's context does not take over an existing file.
        try store.writeFile(id, path: "/a", data: [1, 2], context: MutationContext(uid: 99, gid: 99))
        try store.patchFile(id, path: "/a", offset: 1, data: [3])
        try store.truncateFile(id, path: "/a", size: 5)
        let after = try store.stat(id, path: "/a")
        #expect(after.uid == 5 && after.gid == 6 && after.xattrs == ["user.k"] && after.size == 5)
        #expect(try #require(after.ctime) > created)

        // chmod, chown and xattr changes move ctime, never mtime.
        let mtime = after.mtime
        var last = try #require(after.ctime)
        for change in [
            { try store.setMode(id, path: "/a", mode: 0o600) },
            { try store.setOwner(id, path: "/a", uid: nil, gid: 8) },
            { try store.setExtendedAttribute(id, path: "/a", name: "user.k", value: [10]) },
        ] as [() throws -> Void] {
            try change()
            let st = try store.stat(id, path: "/a")
            #expect(st.mtime == mtime)
            #expect(try #require(st.ctime) > last)
            last = try #require(st.ctime)
        }
        // An access time is stored when set, alone or with the modification time.
        try store.setTimes(id, path: "/a", mtime: nil, atime: 42)
        #expect(try store.stat(id, path: "/a").atime == 42 && store.stat(id, path: "/a").mtime == mtime)
        try store.setTimes(id, path: "/a", mtime: 7, atime: 8)
        #expect(try store.stat(id, path: "/a").atime == 8 && store.stat(id, path: "/a").mtime == 7)
        // Set-id bits go with a change of owner (as chown(2) does), the setgid bit only with group execute.
        try store.setMode(id, path: "/a", mode: 0o6755)
        try store.setOwner(id, path: "/a", uid: 1, gid: nil)
        #expect(try store.stat(id, path: "/a").mode == 0o755)
        try store.setMode(id, path: "/a", mode: 0o2745)
        try store.setOwner(id, path: "/a", uid: 2, gid: nil)
        #expect(try store.stat(id, path: "/a").mode == 0o2745)
        // A directory keeps its setgid bit (it is inheritance there, not privilege).
        try store.makeDirectory(id, path: "/d", mode: 0o2775)
        try store.setOwner(id, path: "/d", uid: 3, gid: 3)
        #expect(try store.stat(id, path: "/d").mode == 0o2775)
        try store.close()
    }

    @Test func parentDirectoryTimesFollowItsEntries() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.makeDirectory(id, path: "/d")
        try store.makeDirectory(id, path: "/e")
        func times(_ path: String) throws -> (Int64, Int64) {
            let st = try store.stat(id, path: path)
            return (st.mtime, st.ctime ?? st.mtime)
        }
        var d = try times("/d")
        var root = try times("/")
        for (step, change, touched) in [
            ("create", { try store.writeFile(id, path: "/d/f", data: [1]) }, ["/d"]),
            ("mknod", { try store.makeNode(id, path: "/d/p", kind: .fifo) }, ["/d"]),
            ("symlink", { try store.symlink(id, path: "/d/l", target: "f") }, ["/d"]),
            ("rename across", { try store.rename(id, from: "/d/f", to: "/e/f") }, ["/d", "/e"]),
            ("unlink", { try store.remove(id, path: "/d/p") }, ["/d"]),
            ("mkdir at the top", { try store.makeDirectory(id, path: "/g") }, ["/"]),
        ] as [(String, () throws -> Void, [String])] {
            let e = try times("/e")
            Thread.sleep(forTimeInterval: 0.002)
            try change()
            if touched.contains("/d") {
                let now = try times("/d")
                #expect(now.0 > d.0 && now.1 > d.1, "\(step) moves /d's times")
                d = now
            }
            if touched.contains("/e") { #expect(try times("/e").0 > e.0, "\(step) moves /e's mtime") }
            if touched.contains("/") {
                let now = try times("/")
                #expect(now.0 > root.0, "\(step) moves the root's mtime")
                root = now
            }
        }
        // The root's own metadata survives a fold (the tree stores no entry for it).
        try store.setMode(id, path: "/", mode: 0o700)
        _ = try store.checkpoint(id, label: "fold")
        #expect(try store.stat(id, path: "/").mode == 0o700)
        #expect(try times("/").0 == root.0)
        try store.close()
    }

    @Test func hardLinksShareDataThroughEveryNameAndSurviveReplayFoldAndTar() throws {
        let dir = TemporaryDirectory()
        var store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.writeFile(id, path: "/a", data: Array("one".utf8))
        try store.makeDirectory(id, path: "/d")
        try store.link(id, from: "/a", to: "/d/b")
        try store.link(id, from: "/d/b", to: "/c")
        func check(_ store: AetherStore, _ when: String, names: [String] = ["/a", "/c", "/d/b"], text: String = "two!") throws {
            let stats = try names.map { try store.stat(id, path: $0) }
            #expect(Set(stats.map(\.inode)).count == 1 && stats[0].inode != nil, "\(when): one inode")
            #expect(stats.allSatisfy { $0.nlink == UInt32(names.count) }, "\(when): \(stats.map(\.nlink))")
            for name in names { #expect(try store.readFile(id, path: name) == Array(text.utf8), "\(when): \(name)") }
            #expect(try store.hardLinks(id, path: names[0]) == names, "\(when)")
            #expect(stats.allSatisfy { $0.mode == 0o600 && $0.uid == 5 }, "\(when): metadata is the file's, not the name's")
        }
        // A write, a chmod and a chown through one name show through every name.
        try store.writeFile(id, path: "/c", data: Array("two!".utf8))
        try store.setMode(id, path: "/d/b", mode: 0o600)
        try store.setOwner(id, path: "/a", uid: 5, gid: nil)
        try check(store, "in the overlay")
        try store.close()
        store = try AetherStore.open(at: dir.path)
        try check(store, "after replaying the journal")
        _ = try store.checkpoint(id, label: "fold")
        try check(store, "after a fold")
        // Unlinking one name leaves the others, one link fewer; a rename keeps the inode.
        try store.remove(id, path: "/a")
        try store.rename(id, from: "/c", to: "/d/c")
        try check(store, "after unlink and rename", names: ["/d/b", "/d/c"])
        try store.patchFile(id, path: "/d/c", offset: 0, data: Array("T".utf8))
        #expect(try store.readFile(id, path: "/d/b") == Array("Two!".utf8))
        // A rename over one name leaves the file under the others, one link fewer.
        try store.link(id, from: "/d/b", to: "/third")
        try store.writeFile(id, path: "/new", data: [9])
        try store.rename(id, from: "/new", to: "/third")
        #expect(try store.stat(id, path: "/d/b").nlink == 2 && store.readFile(id, path: "/third") == [9])
        #expect(try store.stat(id, path: "/third").nlink == nil)
        // Refusals: directories, an existing name, a missing source.
        #expect { try store.link(id, from: "/d", to: "/e") } throws: { ($0 as? AFSError)?.code == .wrongKind }
        #expect { try store.link(id, from: "/d/b", to: "/d/c") } throws: { ($0 as? AFSError)?.code == .alreadyExists }
        #expect { try store.link(id, from: "/nope", to: "/e") } throws: { ($0 as? AFSError)?.code == .notFound }
        #expect(try store.stat(id, path: "/d").nlink == nil)

        // tar: the second name is a hard-link entry; GNU tar and our importer both see one file.
        let tar = dir.sub("links.tar")
        try store.exportTar(id, toFile: tar)
        let listing = String(decoding: try ChildProcess.run("/usr/bin/tar", ["-tvf", tar]).stdout, as: UTF8.self)
        #expect(listing.contains("d/c link to d/b"), "\(listing)")
        let copy = try store.createSession(from: .tar(tar)).id
        #expect(try store.hardLinks(copy, path: "/d/b") == ["/d/b", "/d/c"])
        try store.writeFile(copy, path: "/d/b", data: [1])
        #expect(try store.readFile(copy, path: "/d/c") == [1])
        #expect(try store.readFile(id, path: "/d/c") == Array("Two!".utf8), "the fork-like import is its own file")
        // A fork links within itself, never back to its parent.
        let fork = try store.fork(id).id
        try store.writeFile(fork, path: "/d/b", data: [2])
        #expect(try store.readFile(fork, path: "/d/c") == [2])
        #expect(try store.readFile(id, path: "/d/c") == Array("Two!".utf8))
        try store.close()
    }

    @Test func directoryImportKeepsHardLinks() throws {
        let dir = TemporaryDirectory()
        let src = dir.sub("src")
        try FileManager.default.createDirectory(atPath: src + "/x", withIntermediateDirectories: true)
        try Data("shared".utf8).write(to: URL(fileURLWithPath: src + "/one"))
        #expect(Glibc.link(src + "/one", src + "/x/two") == 0)
        let store = try AetherStore.open(at: dir.sub("store"))
        let id = try store.createSession(from: .directory(src)).id
        #expect(try store.hardLinks(id, path: "/one") == ["/one", "/x/two"])
        #expect(try store.stat(id, path: "/x/two").nlink == 2)
        try store.close()
    }

    /// Access times from a mount's reads change nothing else: no change time, no event, no
    /// status change of a committed session; older times never replace newer ones; missing paths
    /// are skipped; the times survive a reopen (replay) and a fold.
    @Test func accessTimesMoveNothingElse() throws {
        let dir = TemporaryDirectory()
        var store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.writeFile(id, path: "/a", data: Array("a".utf8))
        _ = try store.commit(id, message: "one", author: "t")
        let before = try store.stat(id, path: "/a")
        let events = try store.changes(id, after: 0).count
        let t: Int64 = before.mtime + 5_000_000_000
        #expect(try store.recordAccessTimes(id, ["/a": t, "/gone": t]) == 1)
        #expect(try store.recordAccessTimes(id, ["/a": t - 1]) == 0, "an older time never replaces a newer one")
        let after = try store.stat(id, path: "/a")
        #expect(after.atime == t)
        #expect(after.ctime == before.ctime)
        #expect(after.mtime == before.mtime)
        #expect(try store.changes(id, after: 0).count == events)
        let status: SessionStatus = try store.session(id).status
        #expect(status == SessionStatus.committed)
        #expect(throws: AFSError.self) { try store.recordAccessTimes(id, ["../x": t]) }
        try store.close()
        store = try AetherStore.open(at: dir.path)
        #expect(try store.stat(id, path: "/a").atime == t)
        _ = try store.checkpoint(id)
        #expect(try store.stat(id, path: "/a").atime == t)
        try store.close()
    }

    @Test func refusalsForNodesAndXattrs() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.writeFile(id, path: "/f", data: [])
        func code(_ body: () throws -> Void) -> AFSError.Code? {
            do { try body() } catch { return (error as? AFSError)?.code }
            return nil
        }
        #expect(code { try store.makeNode(id, path: "/x", kind: .file) } == .invalidArgument)
        #expect(code { try store.makeNode(id, path: "/f", kind: .fifo) } == .alreadyExists)
        #expect(code { try store.makeNode(id, path: "/missing/p", kind: .fifo) } == .notFound)
        #expect(code { try store.makeNode(id, path: "/f/p", kind: .fifo) } == .wrongKind)
        #expect(code { try store.setExtendedAttribute(id, path: "/f", name: "security.selinux", value: [1]) } == .invalidArgument)
        #expect(code { try store.setExtendedAttribute(id, path: "/f", name: "user.", value: [1]) } == .invalidArgument)
        #expect(code { try store.setExtendedAttribute(id, path: "/f", name: "user." + String(repeating: "n", count: 251), value: [1]) } == .invalidArgument)
        #expect(code { try store.setExtendedAttribute(id, path: "/f", name: "user.big", value: [UInt8](repeating: 1, count: 65_537)) } == .invalidArgument)
        #expect(code { try store.setExtendedAttribute(id, path: "/f", name: "user.a", value: [1], disposition: .replace) } == .notFound)
        try store.setExtendedAttribute(id, path: "/f", name: "user.a", value: [1], disposition: .create)
        #expect(code { try store.setExtendedAttribute(id, path: "/f", name: "user.a", value: [2], disposition: .create) } == .alreadyExists)
        try store.setExtendedAttribute(id, path: "/f", name: "user.a", value: [], disposition: .replace)
        #expect(try store.extendedAttributes(id, path: "/f") == ["user.a": []], "an empty value is a value")
        #expect(code { try store.removeExtendedAttribute(id, path: "/f", name: "user.b") } == .notFound)
        #expect(code { try store.extendedAttributes(id, path: "/nope") } == .notFound)
        // The entry's total is bounded: four 64 KiB values fit, the fifth does not.
        for i in 0..<3 { try store.setExtendedAttribute(id, path: "/f", name: "user.v\(i)", value: [UInt8](repeating: 7, count: 65_536)) }
        #expect(code { try store.setExtendedAttribute(id, path: "/f", name: "user.v9", value: [UInt8](repeating: 7, count: 65_536)) } == .invalidArgument)
        try store.close()
    }

    @Test func diffAndMergeSeeOwnersAndXattrsButNotTimes() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let base = try store.createSession(from: .blank).id
        try store.writeFile(base, path: "/a", data: [1])
        try store.writeFile(base, path: "/b", data: [2])
        try store.makeDirectory(base, path: "/d")
        _ = try store.commit(base, message: "base", author: "test")
        _ = try store.promote(base, ref: "main")
        let ours = try store.fork(base).id
        let theirs = try store.fork(base).id
        try store.setOwner(ours, path: "/a", uid: 10, gid: 10)
        try store.setExtendedAttribute(theirs, path: "/b", name: "user.tag", value: [1])
        try store.setExtendedAttribute(theirs, path: "/d", name: "user.dir", value: [2])
        try store.setTimes(theirs, path: "/a", mtime: 1)  // time only: no change
        #expect(try store.diff(.session(base), .session(ours)).map(\.path) == ["/a"])
        #expect(try store.diff(.session(base), .session(theirs)).map(\.path).sorted() == ["/b", "/d"])
        _ = try store.commit(ours, message: "owner", author: "test")
        _ = try store.commit(theirs, message: "xattrs", author: "test")
        #expect(try store.promote(ours, ref: "main").outcome == .fastForward)
        let merged = try store.promote(theirs, ref: "main")
        #expect(merged.outcome == .merged && merged.conflicts.isEmpty, "\(merged)")
        let check = try store.createSession(from: .commit(try #require(merged.commitID))).id
        #expect(try store.stat(check, path: "/a").uid == 10)
        #expect(try store.extendedAttributes(check, path: "/b") == ["user.tag": [1]])
        #expect(try store.extendedAttributes(check, path: "/d") == ["user.dir": [2]])
        try store.close()
    }

    @Test func tarExportAndImportKeepKindsOwnersAndXattrs() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.makeDirectory(id, path: "/d", context: MutationContext(uid: 3, gid: 4))
        try store.writeFile(id, path: "/d/f", data: Array("x".utf8), context: MutationContext(uid: 1000, gid: 1000))
        try store.setExtendedAttribute(id, path: "/d/f", name: "user.checksum", value: Array("abc=def\n\u{0}".utf8))
        try store.makeNode(id, path: "/d/fifo", kind: .fifo, mode: 0o600)
        try store.makeNode(id, path: "/d/sock", kind: .socket, mode: 0o777)
        try store.makeNode(id, path: "/d/tty", kind: .characterDevice, mode: 0o620, rdev: DeviceNumber.make(major: 4, minor: 1))
        try store.makeNode(id, path: "/d/loop", kind: .blockDevice, mode: 0o660, rdev: DeviceNumber.make(major: 7, minor: 300))
        let tar = dir.sub("out.tar")
        try store.exportTar(id, toFile: tar)

        // GNU tar reads the special entries, owners and xattrs we wrote.
        let listing = try ChildProcess.run("/usr/bin/tar", ["--xattrs", "--numeric-owner", "-tvvf", tar])
        let text = String(decoding: listing.stdout, as: UTF8.self)
        #expect(listing.status == 0, "\(String(decoding: listing.stderr, as: UTF8.self))")
        #expect(text.contains("prw-------"), "\(text)")
        #expect(text.contains("crw--w----") && text.contains("4,1"), "\(text)")
        #expect(text.contains("brw-rw----") && text.contains("7,300"), "\(text)")
        #expect(text.contains("1000/1000") && text.contains("3/4"), "\(text)")
        #expect(text.contains("user.checksum"), "\(text)")

        for preserve in [false, true] {
            let imported = try store.createSession(from: .tar(tar), preserveOwners: preserve).id
            let f = try store.stat(imported, path: "/d/f")
            #expect(f.uid == (preserve ? 1000 : nil) && f.gid == (preserve ? 1000 : nil))
            #expect(try store.stat(imported, path: "/d").uid == (preserve ? 3 : nil))
            #expect(try store.extendedAttributes(imported, path: "/d/f") == ["user.checksum": Array("abc=def\n\u{0}".utf8)])
            #expect(try store.stat(imported, path: "/d/fifo").kind == .fifo)
            #expect(try store.stat(imported, path: "/d/sock").kind == .socket)
            #expect(try store.stat(imported, path: "/d/tty").rdev == DeviceNumber.make(major: 4, minor: 1))
            #expect(try store.stat(imported, path: "/d/loop").kind == .blockDevice)
            #expect(try store.stat(imported, path: "/d/loop").rdev == DeviceNumber.make(major: 7, minor: 300))
            #expect(try store.stat(imported, path: "/d/tty").mode == 0o620)
        }
        try store.close()
    }

    @Test func directoryImportKeepsFifosSocketsAndXattrs() throws {
        let dir = TemporaryDirectory()
        let src = dir.sub("src")
        try FileManager.default.createDirectory(atPath: src + "/sub", withIntermediateDirectories: true)
        try Data("data".utf8).write(to: URL(fileURLWithPath: src + "/sub/file"))
        #expect(mkfifo(src + "/sub/pipe", 0o620) == 0 && chmod(src + "/sub/pipe", 0o620) == 0)
        // A bound Unix socket leaves its node behind after the descriptor closes.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let socketPath = src + "/sock"
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(socketPath.utf8) + [0])
        }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0)
        close(fd)
        let hasXattrs = setxattr(src + "/sub/file", "user.origin", "test", 4, 0) == 0

        let store = try AetherStore.open(at: dir.sub("store"))
        let id = try store.createSession(from: .directory(src)).id
        #expect(try store.stat(id, path: "/sub/pipe").kind == .fifo)
        #expect(try store.stat(id, path: "/sub/pipe").mode == 0o620)
        #expect(try store.stat(id, path: "/sock").kind == .socket)
        #expect(try store.stat(id, path: "/sub/file").uid == nil, "owners only with preserveOwners")
        if hasXattrs {
            #expect(try store.extendedAttributes(id, path: "/sub/file") == ["user.origin": Array("test".utf8)])
        }
        let owned = try store.createSession(from: .directory(src), preserveOwners: true).id
        #expect(try store.stat(owned, path: "/sub/file").uid == getuid())
        try store.close()
    }

    @Test func encodingIsUnchangedWithoutAttributesAndFormatOneStoresUpgrade() throws {
        // An entry with no owner, change time or xattrs encodes exactly as format 1 did (the same
        // node hashes, so trees written before stay deduplicated with trees written after).
        let plain = TreeValue(kind: .file, mode: 0o644, mtime: 5, size: 1, content: .inline([7]))
        #expect(plain.encoded == [1, 0xA4, 0x03, 10, 1, 1, 1, 7])
        var owned = plain
        owned.attributes = EntryAttributes(uid: 0, gid: 1, ctime: -3, xattrs: ["user.z": [], "user.a": [1]])
        #expect(try TreeValue.decode(owned.encoded) == owned)
        #expect(throws: BinaryReader.Malformed.self) { try TreeValue.decode(owned.encoded + [0]) }
        #expect(throws: BinaryReader.Malformed.self) { try TreeValue.decode(plain.encoded + [8]) }

        // A store written by a format-1 build opens, and is marked with the current format from then on.
        let dir = TemporaryDirectory()
        var store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.writeFile(id, path: "/a", data: [1])
        try store.close()
        try "aetherfs-store 1\n".write(toFile: dir.sub("FORMAT"), atomically: true, encoding: .utf8)
        store = try AetherStore.open(at: dir.path)
        #expect(try store.readFile(id, path: "/a") == [1])
        #expect(try String(contentsOfFile: dir.sub("FORMAT"), encoding: .utf8) == "aetherfs-store 3\n")
        try store.close()
        try "aetherfs-store 4\n".write(toFile: dir.sub("FORMAT"), atomically: true, encoding: .utf8)
        #expect { try AetherStore.open(at: dir.path) } throws: { ($0 as? AFSError)?.code == .unsupportedFormat }
    }
}
