import Foundation
import Testing

@testable import AFSCore

/// The session journal file writes its records into space written ahead (zeroes, synced once per
/// extension), so an append's `fdatasync` changes no file size. The zeroes must never read as
/// records, must not make an empty journal look full, and a torn record in them is dropped.
@Suite struct FileJournalTests {
    static func fileSize(_ path: String) -> Int64 {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? -1
    }

    static func record(_ i: Int) -> [UInt8] { (0..<(100 + i % 900)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) } }

    @Test func appendsLandInSpaceWrittenAheadAndReopenExactly() throws {
        let dir = TemporaryDirectory()
        let store = FileJournalStore(directory: dir.path)
        let path = store.path(session: "ses_a", generation: 0)
        var (log, records) = try store.open(session: "ses_a", generation: 0)
        #expect(records.isEmpty)
        var written: [[UInt8]] = []
        for i in 0..<600 {
            written.append(Self.record(i))
            try log.waitDurable(try log.append(written[i]))
        }
        let end = log.byteSize
        // Give a background extension time to land, then check there is spare space of zeroes.
        Thread.sleep(forTimeInterval: 0.2)
        let size = Self.fileSize(path)
        #expect(size > end, "the file holds space written ahead of its records")
        #expect(size - end <= FileJournal.maximumExtension * 2, "at most two extensions ahead")
        let tail = try Array(Data(contentsOf: URL(fileURLWithPath: path)).suffix(Int(size - end)))
        #expect(tail.allSatisfy { $0 == 0 }, "the space ahead is zeroes")
        #expect(try store.holdsRecords(session: "ses_a", generation: 0))
        (log, records) = try store.open(session: "ses_a", generation: 0)
        #expect(records == written, "every record comes back, in order, and nothing from the zeroes")
        #expect(Self.fileSize(path) == end, "reopening drops the zeroes")
        // Appending after the reopen continues where the records end.
        let more = Self.record(9_999)
        try log.waitDurable(try log.append(more))
        #expect(try store.open(session: "ses_a", generation: 0).records == written + [more])
    }

    @Test func aJournalOfZeroesHoldsNoRecords() throws {
        let dir = TemporaryDirectory()
        let store = FileJournalStore(directory: dir.path)
        let path = store.path(session: "ses_b", generation: 3)
        FileManager.default.createFile(atPath: path, contents: Data(FileJournalStore.magic + [UInt8](repeating: 0, count: 64 << 10)))
        #expect(try !store.holdsRecords(session: "ses_b", generation: 3), "zeroes after the header are not a record")
        #expect(try !store.holdsRecords(session: "ses_none", generation: 0))
        let (_, records) = try store.open(session: "ses_b", generation: 3)
        #expect(records.isEmpty)
        #expect(Self.fileSize(path) == FileJournalStore.headerSize)
    }

    /// A record cut short by a crash, written into the zeroes: the durable ones before it come
    /// back, it and everything after it are gone.
    @Test func aTornRecordInTheSpaceAheadIsDropped() throws {
        let dir = TemporaryDirectory()
        let store = FileJournalStore(directory: dir.path)
        let path = store.path(session: "ses_c", generation: 0)
        let (log, _) = try store.open(session: "ses_c", generation: 0)
        let durable = (0..<10).map(Self.record)
        for r in durable { try log.waitDurable(try log.append(r)) }
        let end = log.byteSize
        // The first 40 bytes of a 500-byte record: its length, part of its payload, no checksum.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seek(toOffset: UInt64(end))
        var torn = [UInt8](repeating: 0xAB, count: 40)
        torn.replaceSubrange(0..<4, with: [0xF4, 0x01, 0, 0])
        try handle.write(contentsOf: torn)
        try handle.close()
        #expect(Self.fileSize(path) > end + 40, "the torn record lies inside the space written ahead")
        let (_, records) = try store.open(session: "ses_c", generation: 0)
        #expect(records == durable)
        #expect(Self.fileSize(path) == end)
    }
}
