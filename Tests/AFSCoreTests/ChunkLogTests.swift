import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore

@Suite(.offCooperativePool) struct ChunkLogTests {
    @Test func putGetDedupAndReopen() throws {
        let dir = TemporaryDirectory()
        var rng = SeededRandom(seed: 7)
        var stored: [ChunkID: [UInt8]] = [:]
        do {
            let log = try ChunkLog.open(directory: dir.path, options: .init(segmentSize: 1 << 20, checkpointEvery: 1 << 40))
            for i in 0..<300 {
                let bytes = i % 3 == 0 ? [UInt8](repeating: UInt8(i % 251), count: 5000) : rng.bytes(Int(rng.next() % 20_000) + 1)
                let id = try log.put(.chunk, bytes)
                #expect(id == ContentHash.sha256(bytes))
                stored[id] = bytes
            }
            let before = log.totals().chunks
            _ = try log.put(.chunk, stored.values.first!)
            #expect(log.totals().chunks == before, "a duplicate put must not add a record")
            try log.sync()
            #expect(log.segmentNumbers().count > 1, "1 MiB segments should have rolled over")
        }
        // Reopen without closing: everything after the (empty) index comes back from the scan.
        let log = try ChunkLog.open(directory: dir.path, options: .init(segmentSize: 1 << 20))
        for (id, bytes) in stored { #expect(try log.get(id) == bytes) }
        try log.mergeIndex()
        // Reopen from the checkpoint.
        let again = try ChunkLog.open(directory: dir.path, options: .init(segmentSize: 1 << 20))
        #expect(again.totals().chunks == stored.count)
        for (id, bytes) in stored { #expect(try again.get(id) == bytes) }
    }

    @Test func tornTailIsTruncatedAndEarlierRecordsSurvive() throws {
        let dir = TemporaryDirectory()
        var ids: [ChunkID] = []
        var lastOffset: UInt32 = 0
        do {
            let log = try ChunkLog.open(directory: dir.path)
            var rng = SeededRandom(seed: 21)
            for _ in 0..<19 { ids.append(try log.put(.chunk, rng.bytes(3000))) }
            try log.sync()
            ids.append(try log.put(.chunk, rng.bytes(3000)))  // never synced
            lastOffset = try log.location(of: ids.last!)!.offset
        }
        // Tear the last record: zero its second half, as a crash mid-write would leave it.
        let seg = dir.path + "/seg-00000001.afs"
        let f = try POSIXFile.open(seg, flags: O_RDWR)
        try f.write([UInt8](repeating: 0, count: 1000), at: Int64(lastOffset) + 100)
        let log = try ChunkLog.open(directory: dir.path)
        for id in ids.dropLast() { #expect(throws: Never.self) { try log.get(id) } }
        #expect(try log.location(of: ids.last!) == nil, "the torn record is dropped")
        #expect(log.head.offset == Int64(lastOffset), "the log continues where the torn record began")
        // New appends go where the torn record was and survive a reopen.
        let fresh = try log.put(.chunk, Array("after the tear".utf8))
        try log.sync()
        let reopened = try ChunkLog.open(directory: dir.path)
        #expect(try reopened.get(fresh) == Array("after the tear".utf8))
    }

    @Test func bitFlipIsReportedWithSegmentAndOffsetNeverServed() throws {
        let dir = TemporaryDirectory()
        var ids: [ChunkID] = []
        do {
            let log = try ChunkLog.open(directory: dir.path)
            for i in 0..<10 { ids.append(try log.put(.chunk, [UInt8](repeating: UInt8(i + 1), count: 2000) + Array("\(i)".utf8))) }
            try log.mergeIndex()  // index checkpoint covers everything: reads are the only check
        }
        let victim = ids[4]
        let loc: ChunkLocation
        do { loc = try ChunkLog.open(directory: dir.path).location(of: victim)! }
        let f = try POSIXFile.open(dir.path + "/seg-00000001.afs", flags: O_RDWR)
        var byte = try f.read(count: 1, at: Int64(loc.offset) + 60)
        byte[0] ^= 0x40
        try f.write(byte, at: Int64(loc.offset) + 60)
        let log = try ChunkLog.open(directory: dir.path)
        do {
            _ = try log.get(victim)
            Issue.record("a damaged record was served")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains("segment 1"))
            #expect(error.message.contains("offset \(loc.offset)"))
        }
        for id in ids where id != victim { #expect(throws: Never.self) { try log.get(id) } }
    }

    @Test func damageFollowedByValidRecordsRefusesToOpen() throws {
        let dir = TemporaryDirectory()
        var ids: [ChunkID] = []
        do {
            let log = try ChunkLog.open(directory: dir.path)
            for i in 0..<10 { ids.append(try log.put(.chunk, [UInt8](repeating: UInt8(i + 1), count: 2000))) }
            try log.sync()  // no checkpoint: the next open scans these records
        }
        let loc = try ChunkLog.open(directory: dir.path).location(of: ids[3])!
        let f = try POSIXFile.open(dir.path + "/seg-00000001.afs", flags: O_RDWR)
        try f.write([0xFF, 0xEE], at: Int64(loc.offset) + 70)
        // Remove the checkpoint that the open above did not write (it never closed), then open.
        do {
            _ = try ChunkLog.open(directory: dir.path)
            Issue.record("open must refuse a log with damage before valid records")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains("segment 1 offset \(loc.offset)"))
        }
    }

    @Test func groupCommitSharesSyncsAmongConcurrentWriters() throws {
        let dir = TemporaryDirectory()
        let log = try ChunkLog.open(directory: dir.path)
        let writers = 16
        let perWriter = 20
        let before = log.syncCount
        let group = DispatchGroup()
        for w in 0..<writers {
            group.enter()
            // Real threads: writers block in fdatasync, which is the point.
            Thread.detachNewThread {
                for i in 0..<perWriter {
                    _ = try? log.put(.chunk, Array("writer \(w) item \(i)".utf8) + [UInt8](repeating: 1, count: 100))
                    try? log.sync()
                }
                group.leave()
            }
        }
        group.wait()
        let syncs = log.syncCount - before
        #expect(syncs < UInt64(writers * perWriter) / 2, "\(syncs) syncs for \(writers * perWriter) acknowledged writes")
        #expect(log.totals().chunks >= writers * perWriter)
    }

    @Test func chunkerCutsAreContentDefined() throws {
        var rng = SeededRandom(seed: 3)
        let data = rng.bytes(1 << 20)
        let chunker = ContentDefinedChunker.standard
        let a = data.withUnsafeBytes { chunker.split($0) }
        #expect(a.allSatisfy { $0.count <= chunker.maxSize })
        #expect(a.dropLast().allSatisfy { $0.count >= chunker.minSize })
        let avg = data.count / a.count
        #expect(avg > 8 << 10 && avg < 32 << 10, "average chunk \(avg)")
        // Insert 100 bytes near the start: most later chunks are unchanged.
        let edited = Array(data[0..<1000]) + rng.bytes(100) + Array(data[1000...])
        let b = edited.withUnsafeBytes { chunker.split($0) }
        let hashesA = Set(a.map { ContentHash.sha256(Array(data[$0])) })
        let hashesB = b.map { ContentHash.sha256(Array(edited[$0])) }
        let shared = hashesB.filter { hashesA.contains($0) }.count
        #expect(shared >= b.count - 3, "only the chunks around the edit change (\(shared) of \(b.count) shared)")
    }
}
