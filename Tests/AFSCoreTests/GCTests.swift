import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore

@Suite(.offCooperativePool) struct GCTests {
    @Test func deletedSessionsFreeSpaceAndLiveDataSurvives() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path, options: smallStoreOptions())
        var rng = SeededRandom(seed: 5)
        let keep = try store.createSession(name: "keep", from: .blank)
        var kept: [String: [UInt8]] = [:]
        for i in 0..<40 {
            let d = rng.bytes(20_000)
            try store.writeFile(keep.id, path: "/keep/\(i)", data: d)
            kept["/keep/\(i)"] = d
        }
        let ckp = try store.checkpoint(keep.id)
        var doomed: [String] = []
        for s in 0..<4 {
            let t = try store.createSession(from: .blank)
            for i in 0..<60 { try store.writeFile(t.id, path: "/junk/\(s)/\(i)", data: rng.bytes(20_000)) }
            _ = try store.checkpoint(t.id)
            doomed.append(t.id)
        }
        let before = try store.stats()
        for id in doomed { try store.delete(id) }
        let deleted = try store.stats()
        #expect(deleted.liveRatio < 0.5, "most bytes are dead once the sessions are gone")
        let report = try store.collectGarbage()
        let after = try store.stats()
        #expect(report.segmentsCleaned > 0)
        #expect(report.bytesFreed > 4 * 60 * 15_000)
        #expect(after.physicalBytes < before.physicalBytes / 2, "physical \(before.physicalBytes) -> \(after.physicalBytes)")
        #expect(after.diskBytes < before.diskBytes)
        #expect(after.liveRatio > 0.6, "live ratio \(deleted.liveRatio) -> \(after.liveRatio)")
        for (p, d) in kept { #expect(try store.readFile(keep.id, path: p) == d) }
        // The checkpoint is a root too.
        try store.writeFile(keep.id, path: "/keep/0", data: [1, 2, 3])
        try store.restore(keep.id, checkpoint: ckp.id)
        #expect(try store.readFile(keep.id, path: "/keep/0") == kept["/keep/0"])
        #expect(try store.verify().problems.isEmpty)
        try store.close()
        // And after a reopen (index checkpoint written by GC).
        let again = try AetherStore.open(at: dir.path, options: smallStoreOptions())
        for (p, d) in kept { #expect(try again.readFile(keep.id, path: p) == d) }
        #expect(try again.verify().problems.isEmpty)
    }

    @Test func gcIsSafeWhileWritersRun() async throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path, options: smallStoreOptions())
        let session = try store.createSession(from: .blank)
        let junk = try store.createSession(from: .blank)
        var rng = SeededRandom(seed: 8)
        for i in 0..<80 { try store.writeFile(junk.id, path: "/j\(i)", data: rng.bytes(16_000)) }
        _ = try store.checkpoint(junk.id)
        try store.delete(junk.id)
        let writer = Task.detached { () throws -> [String: [UInt8]] in
            var r = SeededRandom(seed: 9)
            var written: [String: [UInt8]] = [:]
            for i in 0..<150 {
                let d = r.bytes(Int(r.next() % 30_000) + 1)
                try store.writeFile(session.id, path: "/w/\(i % 40)", data: d)
                written["/w/\(i % 40)"] = d
                if i % 25 == 0 { _ = try store.checkpoint(session.id) }
            }
            return written
        }
        for _ in 0..<4 { _ = try store.collectGarbage() }
        let written = try await writer.value
        _ = try store.collectGarbage()
        for (p, d) in written { #expect(try store.readFile(session.id, path: p) == d) }
        #expect(try store.verify().problems.isEmpty)
    }
}
