import AFSObjectStore
import AFSTestSupport
import Foundation
import Testing

@testable import AFSCore

/// One set of expectations for every ``ChunkStore``: the embedded segment log and S3 packs on a
/// real S3 server (SeaweedFS, started by scripts/seaweedfs.sh). Then the whole engine on S3
/// packs: sessions, forks, large files, garbage collection that frees bucket space, damage and
/// loss behind the store's back reported as such, a reopen from the bucket alone.
@Suite(.offCooperativePool, .serialized) struct ChunkStoreConformanceTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case segmentLog = "segment-log", s3Packs = "s3-packs"
        var testDescription: String { rawValue }
    }

    /// A fresh store of one kind, and a way to open it again from what it persisted.
    final class Fixture {
        let backend: Backend
        let directory = "/var/tmp/afs-chunkstore-\(UUID().uuidString.prefix(8))"
        var s3: BackendProcess?
        var client: S3Client?

        init(_ backend: Backend) throws {
            self.backend = backend
            if backend == .s3Packs {
                let server = try BackendProcess(.seaweedfs)
                s3 = server
                let location = try S3Location(url: "s3://aether-packs/store?endpoint=\(server.value("S3_ENDPOINT"))")
                let c = S3Client(location: location, credentials: .init(accessKeyID: server.value("S3_ACCESS_KEY"), secretAccessKey: server.value("S3_SECRET_KEY")))
                try c.createBucket()
                client = c
            }
        }

        func open(packSize: Int = 16 << 20) throws -> any ChunkStore {
            switch backend {
            case .segmentLog:
                try FileManager.default.createDirectory(atPath: directory + "/chunks", withIntermediateDirectories: true)
                return try ChunkLog.open(directory: directory + "/chunks")
            case .s3Packs:
                var options = PackChunkStore.Options()
                options.packSize = packSize
                options.cacheDirectory = directory + "/cache"
                options.cacheBytes = 256 << 10
                return try PackChunkStore.open(client: client!, options: options)
            }
        }

        deinit {
            s3?.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func bytes(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ Int(seed) &* 7 &+ $0 >> 10) } }

    @Test(arguments: Backend.allCases) func putGetSyncReopenSweepAndVerify(_ backend: Backend) throws {
        let f = try Fixture(backend)
        var store = try f.open(packSize: 64 << 10)
        var ids: [ChunkID: [UInt8]] = [:]
        for i in 0..<40 {
            let data = Self.bytes(1000 + i * 700, seed: UInt8(i))
            let id = try store.put(.chunk, data)
            ids[id] = data
            #expect(try store.put(.chunk, data) == id, "the same bytes have the same identity")
            #expect(store.contains(id))
            #expect(try store.get(id) == data, "readable before it is durable")
        }
        #expect(store.usage().records == 40)
        try store.sync()
        #expect(throws: AFSError.self) { try store.get(ChunkID.digest(of: [9, 9, 9])) }
        try store.close()

        // Everything synced is there after a reopen, from what the store persisted alone.
        store = try f.open(packSize: 64 << 10)
        for (id, data) in ids { #expect(try store.get(id) == data) }
        let verified = try store.verifyRecords()
        #expect(verified.problems == [] && verified.intact == Set(ids.keys), "\(verified.problems)")
        let before = store.usage()
        #expect(before.records == 40 && before.units >= 1 && before.unitBytes > 0)

        // Half dead: a sweep frees space and keeps every live record readable.
        let live = Set(ids.keys.sorted().prefix(20))
        store.beginGCEpoch()
        // Put during the collection: kept although the live set does not name it.
        let late = try store.put(.chunk, Self.bytes(5000, seed: 200))
        let report = try store.sweep(live: live, liveRatioThreshold: 0.9)
        store.endGCEpoch()
        // The late record may be counted among the dead (and kept): the mark did not name it.
        #expect((20...21).contains(report.deadRecords) && report.unitsCleaned >= 1 && report.bytesFreed > 0, "\(report)")
        for id in live { #expect(try store.get(id) == ids[id]) }
        #expect(try store.get(late) == Self.bytes(5000, seed: 200))
        for id in Set(ids.keys).subtracting(live) { #expect(!store.contains(id), "dead records are gone") }
        #expect(store.usage().unitBytes < before.unitBytes, "\(store.usage()) vs \(before)")
        #expect(try store.verifyRecords().problems == [])
        try store.close()
        store = try f.open()
        for id in live { #expect(try store.get(id) == ids[id]) }
        #expect(try store.get(late).count == 5000)
    }

    /// The engine itself on S3 packs: what it writes survives a reopen with a new local
    /// directory (the bucket holds every record), GC frees bucket space after a delete, and a
    /// damaged or missing pack is reported by name, never served.
    /// A pack whose index never came (an upload cut off between the two) is garbage, but only
    /// once it is old: a young one may be an upload whose index is on its way.
    /// Two stores on one prefix, as two replicas: while one collects, the other must not rely on a
    /// record the collection may delete. A record written again during the collection is stored
    /// anew (never assumed present), the collector deletes the old pack, and both read the record
    /// afterwards; a record read from a pack deleted elsewhere is found in the pack that took it.
    @Test func replicasNeverRelyOnRecordsACollectionMayDelete() throws {
        let f = try Fixture(.s3Packs)
        let client = try #require(f.client)
        let collector = try PackChunkStore.open(client: client)
        let data = Self.bytes(6000, seed: 9)
        let kept = Self.bytes(7000, seed: 10)
        let id = try collector.put(.chunk, data)
        let keptID = try collector.put(.chunk, kept)
        try collector.sync()
        let replica = try PackChunkStore.open(client: client)
        #expect(replica.contains(id) && replica.contains(keptID))

        collector.beginGCEpoch()
        replica.beginGCEpoch()  // the replica joins the collection
        #expect(!replica.contains(id), "a record only in a pack the collection may delete is not counted on")
        #expect(try replica.put(.chunk, data) == id)  // written again, into a new pack
        try replica.sync()
        // The mark found `kept` live and `data` dead: the old pack is repacked away.
        let swept = try collector.sweep(live: [keptID], liveRatioThreshold: 0.9)
        #expect(swept.unitsCleaned == 1, "\(swept)")
        collector.endGCEpoch()
        replica.endGCEpoch()

        #expect((try? replica.get(id)) == data, "the copy written during the collection")
        #expect((try? collector.get(id)) == data, "found in the replica's pack")
        #expect((try? replica.get(keptID)) == kept, "relocated by the collector, found by the replica")
        #expect(try replica.verifyRecords().problems == [])
    }

    /// An index seen half-written at open (another replica is uploading it: SeaweedFS serves an
    /// object while its PUT arrives) is read again until it is whole; one that stays damaged is
    /// refused by name.
    @Test func anIndexBeingUploadedIsReadAgainAtOpen() throws {
        let f = try Fixture(.s3Packs)
        let client = try #require(f.client)
        let writer = try PackChunkStore.open(client: client)
        let id = try writer.put(.chunk, Self.bytes(4000, seed: 21))
        try writer.sync()
        let key = try #require(try client.list(prefix: "packs/").map(\.key).first { $0.hasSuffix(".idx") })
        let whole = try client.get(key)
        try client.put(key, Array(whole.prefix(5)))
        let uploader = Thread {
            usleep(700_000)
            try? client.put(key, whole)
        }
        uploader.start()
        let opened = try PackChunkStore.open(client: client)
        #expect(try opened.get(id) == Self.bytes(4000, seed: 21))

        try client.put(key, Array(whole.prefix(5)))
        #expect(throws: AFSError.self) { try PackChunkStore.open(client: client) }
        try client.put(key, whole)
    }

    @Test func packsWithoutAnIndexGoWhenOld() throws {
        let f = try Fixture(.s3Packs)
        let client = try #require(f.client)
        var options = PackChunkStore.Options()
        options.packSize = 64 << 10
        var store = try PackChunkStore.open(client: client, options: options)
        let kept = try store.put(.chunk, Self.bytes(5000, seed: 1))
        try store.sync()
        let stray = "packs/" + String(repeating: "ab", count: 32) + ".pack"
        try client.put(stray, Self.bytes(3000, seed: 2))
        let listed = try client.list(prefix: "packs/")
        #expect(listed.allSatisfy { $0.lastModified != nil }, "listings carry LastModified")

        var report = try store.sweep(live: [kept], liveRatioThreshold: 0.5)
        #expect(try client.size(of: stray) != nil, "a young pack without an index stays")
        #expect(report.unitsCleaned == 0)
        try store.close()

        options.orphanAge = 0
        store = try PackChunkStore.open(client: client, options: options)
        report = try store.sweep(live: [kept], liveRatioThreshold: 0.5)
        #expect(try client.size(of: stray) == nil, "an old one goes")
        #expect(report.unitsCleaned == 1 && report.bytesFreed == 3000)
        #expect(try store.get(kept) == Self.bytes(5000, seed: 1), "indexed packs are untouched")
        #expect(try client.list(prefix: "packs/").count == 2)
    }

    @Test func theEngineRunsOnS3Packs() throws {
        let f = try Fixture(.s3Packs)
        let client = try #require(f.client)
        var store = try AetherStore.open(at: f.directory + "/store", chunks: try f.open())
        let id = try store.createSession(from: .blank).id
        let big = Self.bytes(3 << 20, seed: 1)
        try store.writeFile(id, path: "/big.bin", data: big)
        try store.writeFile(id, path: "/small.txt", data: Array("hello".utf8))
        _ = try store.checkpoint(id)
        let fork = try store.fork(id).id
        try store.writeFile(fork, path: "/big.bin", data: Array(big[0..<1_000_000]) + Self.bytes(10_000, seed: 9) + Array(big[1_010_000...]))
        #expect(try store.readFile(fork, path: "/big.bin").count == big.count)
        try store.close()

        // Reopen on the same catalog with a fresh chunk store object: every record comes from S3.
        store = try AetherStore.open(at: f.directory + "/store", chunks: try f.open())
        #expect(try store.readFile(id, path: "/big.bin") == big)
        #expect(try store.verify().problems == [])
        let packsBefore = try client.list(prefix: "packs/").reduce(0) { $0 + $1.size }

        // Delete the fork: GC frees its unique chunks from the bucket, keeps the original.
        try store.delete(fork)
        let gc = try store.collectGarbage()
        #expect(gc.bytesFreed > 0, "\(gc)")
        let packsAfter = try client.list(prefix: "packs/").reduce(0) { $0 + $1.size }
        #expect(packsAfter < packsBefore, "bucket bytes \(packsBefore) → \(packsAfter)")
        #expect(try store.readFile(id, path: "/big.bin") == big)
        #expect(try store.verify().problems == [])
        try store.close()

        // Damage behind the store's back: a flipped byte in a pack is an error naming the chunk and
        // the object; the data is never returned. Then a deleted pack: the chunk is reported lost.
        let packs = try client.list(prefix: "packs/").filter { $0.key.hasSuffix(".pack") }.sorted { $0.size > $1.size }
        let victim = try #require(packs.first)
        var damaged = try client.get(victim.key)
        damaged[damaged.count / 2] ^= 0xff
        try client.put(victim.key, damaged)
        store = try AetherStore.open(at: f.directory + "/store", chunks: try f.open())
        do {
            _ = try store.readFile(id, path: "/big.bin")
            Issue.record("a damaged pack was served")
        } catch {
            #expect(error.code == .corrupted && error.message.contains(victim.key) && error.message.contains("chunk "), "\(error)")
        }
        #expect(try store.verify().problems.contains { $0.contains(victim.key) })
        try store.close()
        try client.delete(victim.key)
        do {
            store = try AetherStore.open(at: f.directory + "/store", chunks: try f.open())
            _ = try store.readFile(id, path: "/big.bin")
            Issue.record("a missing pack was not reported")
        } catch {
            let e = error as? AFSError
            #expect(e?.code == .corrupted && e?.message.contains(victim.key) == true, "\(error)")
        }
    }
}
