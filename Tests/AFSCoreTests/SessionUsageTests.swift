import AFSTestSupport
import Foundation
import Testing
@testable import AFSCore

/// Per-session usage: files and logical bytes, and physical bytes as what a session adds to the
/// store over its parent; files read at other trees (`openFile(_:path:)` with a reference).
@Suite(.offCooperativePool) struct SessionUsageTests {
    /// Bytes no compressor shrinks, so stored sizes are close to logical ones.
    static func noise(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    @Test func aForkCostsWhatItChanged() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.sub("store"))
        defer { try? store.close() }
        let base = try store.createSession(from: .blank)
        try store.writeFile(base.id, path: "/a.bin", data: Self.noise(200_000, seed: 1))
        try store.writeFile(base.id, path: "/b.bin", data: Self.noise(50_000, seed: 2))
        try store.writeFile(base.id, path: "/tiny.txt", data: Array("hi\n".utf8))

        let fork = try store.fork(base.id)
        var usage = try store.sessionUsage([base.id, fork.id, "ses_missing"])
        #expect(usage["ses_missing"] == nil)
        let baseUsage = try #require(usage[base.id])
        #expect(baseUsage.files == 3 && baseUsage.logicalBytes == 250_003)
        // A session without a parent holds all of its bytes (incompressible: about their size).
        #expect(baseUsage.physicalBytes >= 250_003 && baseUsage.physicalBytes < 260_000, "\(baseUsage)")
        // A fresh fork shares everything: it costs nothing.
        #expect(usage[fork.id] == SessionUsage(files: 3, logicalBytes: 250_003, physicalBytes: 0))

        // It then pays for what it writes: a new file, and the changed part of a large one.
        try store.writeFile(fork.id, path: "/new.bin", data: Self.noise(30_000, seed: 3))
        var edited = Self.noise(200_000, seed: 1)
        for i in 100_000..<100_100 { edited[i] ^= 0xFF }
        try store.writeFile(fork.id, path: "/a.bin", data: edited)
        try store.remove(fork.id, path: "/b.bin")
        usage = try store.sessionUsage([fork.id])
        let forkUsage = try #require(usage[fork.id])
        #expect(forkUsage.files == 3 && forkUsage.logicalBytes == 230_003)
        // The new file, plus the chunks around the edit and a new chunk list: far less than a.bin.
        #expect(forkUsage.physicalBytes > 30_000 && forkUsage.physicalBytes < 30_000 + 100_000, "\(forkUsage)")
    }

    @Test func filesReadAtCheckpointsCommitsAndRefs() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.sub("store"))
        defer { try? store.close() }
        let s = try store.createSession(from: .blank)
        let large = Self.noise(100_000, seed: 4)
        try store.writeFile(s.id, path: "/doc.txt", data: Array("version 1\n".utf8))
        try store.writeFile(s.id, path: "/big.bin", data: large)
        let checkpoint = try store.checkpoint(s.id)
        let commit = try store.commit(s.id, message: "one", author: "test")
        _ = try store.promote(s.id, ref: "main")
        try store.writeFile(s.id, path: "/doc.txt", data: Array("version 2\n".utf8))

        func read(_ reference: TreeReference, _ path: String) throws -> [UInt8] {
            let file = try store.openFile(reference, path: path)
            return try file.read(offset: 0, length: file.size)
        }
        #expect(try read(.session(s.id), "/doc.txt") == Array("version 2\n".utf8))
        for reference in [TreeReference.checkpoint(checkpoint.id), .commit(commit.id), .ref("main")] {
            #expect(try read(reference, "/doc.txt") == Array("version 1\n".utf8), "\(reference)")
            #expect(try read(reference, "/big.bin") == large, "\(reference)")
            #expect(try store.openFile(reference, path: "/big.bin").contentID == store.openFile(s.id, path: "/big.bin").contentID)
        }
        #expect(throws: AFSError.self) { try store.openFile(.ref("main"), path: "/absent") }
        do {
            _ = try store.openFile(.commit(commit.id), path: "/")
            Issue.record("the root opened as a file")
        } catch {
            #expect(error.code == .wrongKind)
        }
    }
}
