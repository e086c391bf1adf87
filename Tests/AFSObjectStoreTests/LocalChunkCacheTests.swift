import AFSCore
import Foundation
import Testing

@testable import AFSObjectStore

/// The local read cache and the pack index format, without a server.
@Suite struct LocalChunkCacheTests {
    @Test func boundedCheckedAndReopened() throws {
        let dir = "/var/tmp/afs-cache-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var cache = try LocalChunkCache(directory: dir, maxBytes: 10_000)
        var ids: [ChunkID] = []
        for i in 0..<5 {
            let raw = [UInt8](repeating: UInt8(i), count: 3000)
            let id = ChunkID.digest(of: raw)
            cache.put(id, raw)
            ids.append(id)
        }
        // 15,000 bytes into 10,000: the oldest went.
        #expect(cache.usedBytes <= 10_000)
        #expect(cache.get(ids[0]) == nil && cache.get(ids[1]) == nil)
        #expect(cache.get(ids[4]) == [UInt8](repeating: 4, count: 3000))
        // A damaged file is a miss (and is removed), never wrong bytes.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: cache.path(ids[3])))
        #expect(cache.get(ids[3]) == nil)
        #expect(!FileManager.default.fileExists(atPath: cache.path(ids[3])))
        // One flipped bit in a whole entry: a miss too, never wrong bytes.
        var entry = try #require(FileManager.default.contents(atPath: cache.path(ids[4])))
        entry[100] ^= 0x10
        try entry.write(to: URL(fileURLWithPath: cache.path(ids[4])))
        #expect(cache.get(ids[4]) == nil)
        cache.put(ids[4], [UInt8](repeating: 4, count: 3000))
        // What survives a restart is found again; strays are cleaned.
        FileManager.default.createFile(atPath: dir + "/not-an-id", contents: Data([0]))
        cache = try LocalChunkCache(directory: dir, maxBytes: 10_000)
        #expect(cache.get(ids[4]) == [UInt8](repeating: 4, count: 3000))
        #expect(!FileManager.default.fileExists(atPath: dir + "/not-an-id"))
    }

    @Test func packIndexRoundTripsAndRefusesDamage() throws {
        let entries = (0..<3).map { i in
            PackIndex.Entry(id: ChunkID.digest(of: [UInt8(i)]), offset: 8 + i * 100, size: 100, rawLength: 90 + i, type: i == 2 ? .node : .chunk)
        }
        let encoded = PackIndex(entries: entries).encoded
        #expect(try PackIndex.decode(encoded).get() == PackIndex(entries: entries))
        var damaged = encoded
        damaged[20] ^= 1
        #expect(throws: ChunkRecordError.self) { try PackIndex.decode(damaged).get() }
        #expect(throws: ChunkRecordError.self) { try PackIndex.decode(Array(encoded.dropLast(5))).get() }
        #expect(throws: ChunkRecordError.self) { try PackIndex.decode(Array("AFSPACK1".utf8) + encoded.dropFirst(8)).get() }
    }
}
