import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore

/// `setMode` and `setTimes`: metadata edits that keep content, on every kind of entry, through the
/// overlay, a fold (checkpoint) and a reopen (journal replay).
@Suite(.offCooperativePool) struct MetadataEditTests {
    @Test func modeAndTimeChangeOnEveryKindAndSurviveFoldAndReopen() throws {
        let dir = TemporaryDirectory()
        var store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        try store.writeFile(id, path: "/src/a.c", data: Array("int a;".utf8))
        try store.writeFile(id, path: "/big.bin", data: (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try store.symlink(id, path: "/link", target: "src/a.c")
        try store.makeDirectory(id, path: "/fresh")
        // A directory already in the folded tree, and one still only in the overlay.
        _ = try store.checkpoint(id, label: "base")
        try store.makeDirectory(id, path: "/overlay-dir")
        try store.writeFile(id, path: "/overlay-dir/x", data: [1, 2, 3])

        let t2001: Int64 = 978_307_200_123_456_789
        let contentBefore = try store.stat(id, path: "/big.bin").contentID
        for (path, mode) in [("/src/a.c", 0o600), ("/big.bin", 0o755), ("/src", 0o700), ("/fresh", 0o750), ("/overlay-dir", 0o711)] as [(String, UInt32)] {
            try store.setMode(id, path: path, mode: mode | 0o170000)  // type bits are ignored
            try store.setTimes(id, path: path, mtime: t2001)
        }
        try store.setTimes(id, path: "/link", mtime: t2001 + 1)

        func check(_ store: AetherStore, _ when: String) throws {
            #expect(try store.stat(id, path: "/src/a.c").mode == 0o600, "\(when)")
            #expect(try store.stat(id, path: "/big.bin").mode == 0o755, "\(when)")
            #expect(try store.stat(id, path: "/big.bin").contentID == contentBefore, "\(when): content must not change")
            #expect(try store.readFile(id, path: "/src/a.c") == Array("int a;".utf8), "\(when)")
            #expect(try store.stat(id, path: "/src").mode == 0o700, "\(when)")
            #expect(try store.stat(id, path: "/fresh").mode == 0o750, "\(when)")
            #expect(try store.stat(id, path: "/overlay-dir").mode == 0o711, "\(when)")
            for path in ["/src/a.c", "/big.bin", "/src", "/fresh", "/overlay-dir"] {
                #expect(try store.stat(id, path: path).mtime == t2001, "\(when): \(path)")
            }
            #expect(try store.stat(id, path: "/link").mtime == t2001 + 1, "\(when)")
            #expect(try store.readLink(id, path: "/link") == "src/a.c", "\(when)")
            // Directories keep their children.
            #expect(try store.list(id, path: "/src").map(\.name) == ["a.c"], "\(when)")
            #expect(try store.list(id, path: "/overlay-dir").map(\.name) == ["x"], "\(when)")
        }
        try check(store, "in the overlay")
        try store.close()
        store = try AetherStore.open(at: dir.path)
        try check(store, "after replaying the journal")
        _ = try store.checkpoint(id, label: "folded")
        try check(store, "after a fold")
        try store.close()
        store = try AetherStore.open(at: dir.path)
        try check(store, "after reopening the folded tree")

        // A time-only edit is no change of the tree's contents for diff; a mode edit is.
        let folded = try #require(try store.checkpoints(of: id).last).id
        try store.setTimes(id, path: "/big.bin", mtime: t2001 + 5)
        try store.setMode(id, path: "/src/a.c", mode: 0o640)
        let diff = try store.diff(.checkpoint(folded), .session(id))
        #expect(diff.map(\.path) == ["/src/a.c"], "\(diff)")
        try store.setMode(id, path: "/src/a.c", mode: 0o600)
        // A streamed upload can carry its time (one durable write for a copy that keeps times).
        let upload = try store.beginUpload(id, path: "/copied.bin", mode: 0o600, mtime: t2001)
        try upload.append(Array(repeating: 7, count: 5000))
        try upload.finish()
        let copied = try store.stat(id, path: "/copied.bin")
        #expect(copied.mtime == t2001 && copied.mode == 0o600 && copied.size == 5000)
        // A write moves the time on again.
        try store.writeFile(id, path: "/src/a.c", data: Array("int b;".utf8))
        #expect(try store.stat(id, path: "/src/a.c").mtime > t2001)
        #expect(try store.stat(id, path: "/src/a.c").mode == 0o600, "a rewrite keeps the mode")
        let kinds = try store.changes(id, after: 0, limit: 1000).map(\.kind)
        #expect(kinds.filter { $0 == .touch }.count == 7)
        #expect(kinds.filter { $0 == .chmod }.count == 7)
        try store.close()
    }

    @Test func refusalsNameTheProblem() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path)
        let id = try store.createSession(from: .blank).id
        #expect { try store.setTimes(id, path: "/missing", mtime: 0) } throws: { ($0 as? AFSError)?.code == .notFound }
        // The root's mode and time are the session's own (kept across folds; see POSIXEntryTests).
        try store.setMode(id, path: "/", mode: 0o700)
        try store.setTimes(id, path: "/", mtime: 7)
        #expect(try store.stat(id, path: "/").mode == 0o700 && store.stat(id, path: "/").mtime == 7)
        #expect { try store.setTimes(id, path: "/a/../../etc", mtime: 0) } throws: { ($0 as? AFSError)?.code == .invalidPath }
        #expect { try store.symlink(id, path: "/l", target: "") } throws: { ($0 as? AFSError)?.code == .invalidArgument }
        try store.symlink(id, path: "/l", target: "/etc/passwd")
        #expect { try store.symlink(id, path: "/l", target: "x") } throws: { ($0 as? AFSError)?.code == .alreadyExists }
        // A link is stored, never followed: the store does not read /etc/passwd through it.
        #expect { try store.readFile(id, path: "/l") } throws: { ($0 as? AFSError)?.code == .wrongKind }
        try store.close()
    }
}
