import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore

/// The chunk index on disk (``ChunkIndexFile`` under ``ChunkIndex``): lookups through the file and
/// the changes over it agree with a model, and a missing, torn, damaged or format-1 index file is
/// rebuilt or upgraded with a note, never answered from wrongly.
@Suite(.offCooperativePool) struct ChunkIndexTests {
    static func options(memory: Int) -> ChunkLog.Options {
        var o = ChunkLog.Options(segmentSize: 1 << 20, checkpointEvery: 1 << 40)
        o.indexMemoryEntries = memory
        return o
    }

    /// Puts `n` distinct small chunks; returns them by ID.
    static func fill(_ log: ChunkLog, _ n: Int, seed: UInt64) throws -> [ChunkID: [UInt8]] {
        var rng = SeededRandom(seed: seed)
        var out: [ChunkID: [UInt8]] = [:]
        for i in 0..<n {
            let bytes = rng.bytes(Int(rng.next() % 700) + 1)
            out[try log.put(.chunk, bytes)] = bytes
            if i % 97 == 0 { try log.sync() }
        }
        try log.sync()
        return out
    }

    /// Random puts, merges and reopens against a model: every stored ID is found with its bytes,
    /// IDs never put are absent, and the totals match, whether an answer comes from the file,
    /// from the changes in memory or from both across a merge.
    @Test func lookupsAgreeWithAModelAcrossMergesAndReopens() throws {
        let dir = TemporaryDirectory()
        var model: [ChunkID: [UInt8]] = [:]
        var rng = SeededRandom(seed: 11)
        for round in 0..<4 {
            let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 200))
            for (id, bytes) in model { #expect(try log.get(id) == bytes, "round \(round): \(id.hex) after reopen") }
            for step in 0..<1500 {
                let bytes = rng.bytes(Int(rng.next() % 400) + 1)
                let id = try log.put(.chunk, bytes)
                model[id] = bytes
                if step % 50 == 0 { try log.sync() }
                if step % 400 == 0 { try log.mergeIndex() }
                if step % 7 == 0 {
                    // A known ID and one never stored.
                    let known = model.randomElement(using: &rng)!
                    #expect(try log.get(known.key) == known.value)
                    #expect(!log.contains(ContentHash.sha256(rng.bytes(16))))
                }
            }
            try log.sync()
            #expect(log.totals().chunks == model.count)
            let snapshot = try log.indexSnapshot()
            #expect(Set(snapshot.keys) == Set(model.keys), "round \(round): the merged pass lists exactly the stored IDs")
            try log.close()
        }
        let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 200))
        #expect(log.recoveryNotes.isEmpty)
        #expect(log.totals().chunks == model.count)
        #expect(log.totals().rawBytes == Int64(model.values.reduce(0) { $0 + $1.count }))
        #expect(try log.verifyRecords().problems.isEmpty)
    }

    /// Memory holds at most the limit's worth of changes once merges have caught up; the rest is
    /// in the file, which opening does not read.
    @Test func changesInMemoryStayBoundedByMerging() throws {
        let dir = TemporaryDirectory()
        let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 256))
        let stored = try ChunkIndexTests.fill(log, 5000, seed: 3)
        try log.close()  // waits for a background merge in flight
        #expect(log.pendingIndexEntries < 256 / 4, "close merges what is left above a quarter of the limit")
        let reopened = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 256))
        #expect(reopened.pendingIndexEntries < 256, "a reopen scans only the tail after the index file")
        for (id, bytes) in stored { #expect(try reopened.get(id) == bytes) }
        guard case .index(let file) = try ChunkIndexFile.open(path: dir.path + "/index.ckpt") else {
            Issue.record("no format-2 index file")
            return
        }
        #expect(file.count + reopened.pendingIndexEntries == stored.count)
        #expect(file.bucketBits == ChunkIndexFile.bucketBits(forCount: file.count))
    }

    @Test func aDeletedIndexIsRebuiltFromTheLogWithANote() throws {
        let dir = TemporaryDirectory()
        var stored: [ChunkID: [UInt8]] = [:]
        do {
            let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 300))
            stored = try ChunkIndexTests.fill(log, 2000, seed: 5)
            try log.mergeIndex()
            try log.close()
        }
        #expect(unlink(dir.path + "/index.ckpt") == 0)
        let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 300))
        #expect(log.recoveryNotes.contains { $0.contains("missing") && $0.contains("rebuilt") }, "\(log.recoveryNotes)")
        for (id, bytes) in stored { #expect(try log.get(id) == bytes) }
        #expect(log.totals().chunks == stored.count)
        // The rebuilt index was written at once: the next open needs no rebuild.
        #expect(try ChunkLog.open(directory: dir.path).recoveryNotes.isEmpty)
    }

    @Test func aTornIndexIsRebuiltAndATornMergeIsNeverUsed() throws {
        let dir = TemporaryDirectory()
        var stored: [ChunkID: [UInt8]] = [:]
        do {
            let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 300))
            stored = try ChunkIndexTests.fill(log, 2000, seed: 6)
            try log.mergeIndex()
            try log.close()
        }
        let path = dir.path + "/index.ckpt"
        // A merge killed before its rename: a half-written temporary file beside the index.
        let whole = try #require(try POSIXFile.readWhole(path))
        try POSIXFile.open(path + ".tmp", flags: O_WRONLY | O_CREAT, mode: 0o644).write(Array(whole.prefix(whole.count / 2)), at: 0)
        do {
            let log = try ChunkLog.open(directory: dir.path)
            #expect(log.recoveryNotes.isEmpty, "the index in place is whole: \(log.recoveryNotes)")
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"), "the torn merge output is removed")
            for (id, bytes) in stored { #expect(try log.get(id) == bytes) }
        }
        // The index itself torn (cut short by damage outside our control).
        #expect(truncate(path, off_t(whole.count - 100)) == 0)
        let log = try ChunkLog.open(directory: dir.path)
        #expect(log.recoveryNotes.contains { $0.contains("unusable") && $0.contains("torn") }, "\(log.recoveryNotes)")
        for (id, bytes) in stored { #expect(try log.get(id) == bytes) }
        #expect(log.totals().chunks == stored.count)
    }

    /// A flipped bit inside a bucket: opening does not read buckets, so it is found at the first
    /// lookup there, which fails with an error naming the file and the fix instead of answering;
    /// verify reports it; removing the file rebuilds a correct index.
    @Test func aDamagedBucketIsAnErrorNeverAWrongAnswer() throws {
        let dir = TemporaryDirectory()
        var stored: [ChunkID: [UInt8]] = [:]
        do {
            let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 10_000))
            stored = try ChunkIndexTests.fill(log, 1000, seed: 8)
            try log.mergeIndex()
            try log.close()
        }
        let path = dir.path + "/index.ckpt"
        guard case .index(let file) = try ChunkIndexFile.open(path: path) else {
            Issue.record("no index file")
            return
        }
        // Flip one bit of the first entry's location in the bucket of a known ID.
        let victim = stored.keys.sorted()[0]
        let f = try POSIXFile.open(path, flags: O_RDWR)
        let at = Int64(ChunkIndexFile.headerSize) + 32 + 2
        var byte = try f.read(count: 1, at: at)
        byte[0] ^= 0x10
        try f.write(byte, at: at)
        #expect(ChunkIndexFile.bucket(of: victim, bits: file.bucketBits) == 0)
        let log = try ChunkLog.open(directory: dir.path)
        #expect(log.recoveryNotes.isEmpty)
        let error = #expect(throws: AFSError.self) { try log.get(victim) }
        #expect(error?.code == .corrupted)
        #expect(error?.message.contains("index.ckpt is damaged") == true && error?.message.contains("remove that file") == true, "\(error?.message ?? "")")
        #expect(try log.verifyRecords().problems.contains { $0.contains("index.ckpt is damaged") })
        #expect(!log.contains(victim), "contains cannot vouch for a chunk it cannot find")
        #expect(throws: AFSError.self) { try log.put(.chunk, stored[victim]!) }
        try log.close()
        #expect(unlink(path) == 0)
        let rebuilt = try ChunkLog.open(directory: dir.path)
        for (id, bytes) in stored { #expect(try rebuilt.get(id) == bytes) }
    }

    /// A store whose index was written by the previous format (one file holding every entry) opens:
    /// the index is upgraded in place to format 2, atomically, and says so once.
    @Test func aFormat1IndexIsUpgradedInPlace() throws {
        let dir = TemporaryDirectory()
        var stored: [ChunkID: [UInt8]] = [:]
        var head: (segment: UInt32, offset: Int64) = (0, 0)
        do {
            let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 100_000))
            stored = try ChunkIndexTests.fill(log, 800, seed: 9)
            head = log.head
            // What the previous build wrote: the whole index at the head, format 1.
            try IndexCheckpoint(segment: head.segment, offset: head.offset, entries: try log.indexSnapshot()).save(path: dir.path + "/index.ckpt")
            // Records after the format-1 checkpoint are found by the tail scan.
            stored.merge(try ChunkIndexTests.fill(log, 50, seed: 10)) { a, _ in a }
        }
        let log = try ChunkLog.open(directory: dir.path)
        #expect(log.recoveryNotes == ["upgraded the chunk index \(dir.path)/index.ckpt from format 1 to format 2"])
        guard case .index(let file) = try ChunkIndexFile.open(path: dir.path + "/index.ckpt") else {
            Issue.record("the index was not rewritten in format 2")
            return
        }
        #expect(file.count == stored.count)
        for (id, bytes) in stored { #expect(try log.get(id) == bytes) }
        #expect(try ChunkLog.open(directory: dir.path).recoveryNotes.isEmpty, "upgraded once")
    }

    /// GC drops dead records and whole segments through the file and the changes over it; a
    /// reopen agrees, and the index never names a segment that was removed.
    @Test func collectionThroughTheIndexFile() throws {
        let dir = TemporaryDirectory()
        let log = try ChunkLog.open(directory: dir.path, options: ChunkIndexTests.options(memory: 128))
        let stored = try ChunkIndexTests.fill(log, 4000, seed: 12)
        try log.mergeIndex()
        let live = Set(stored.keys.sorted().enumerated().filter { $0.offset % 5 == 0 }.map(\.element))
        log.beginGCEpoch()
        let report = try log.sweep(live: live, liveRatioThreshold: 0.5)
        log.endGCEpoch()
        #expect(report.unitsCleaned > 0)
        for id in live { #expect(try log.get(id) == stored[id]) }
        try log.close()
        let reopened = try ChunkLog.open(directory: dir.path)
        #expect(reopened.recoveryNotes.isEmpty)
        for id in live { #expect(try reopened.get(id) == stored[id]) }
        let segments = Set(reopened.segmentNumbers())
        for (_, loc) in try reopened.indexSnapshot() { #expect(segments.contains(loc.segment)) }
        #expect(try reopened.verifyRecords().problems.isEmpty)
    }
}
