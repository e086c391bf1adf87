import AFSSupport
import AFSTestSupport
import Foundation
import Testing

@testable import AFSCore

/// Power cuts, not only kill -9: what the disk holds when the power goes is what was synced plus
/// any subset of what was not, in any order (``PowerLossSimulator``). The store must open from
/// that (dropping the unsynced tail) with every acknowledged write, and serve nothing half-written.
@Suite(.offCooperativePool, .serialized) struct PowerLossTests {
    static let segment = "/seg-00000001.afs"

    /// Records `count` chunks of 3,000 seeded bytes, returning their IDs.
    static func put(_ log: ChunkLog, _ count: Int, seed: UInt64) throws -> [ChunkID] {
        var random = SeededRandom(seed: seed)
        return try (0..<count).map { _ in try log.put(.chunk, random.bytes(3000)) }
    }

    /// The synced mark in a segment's header set back to `offset` (resealed), as if the header
    /// write that carried the newer mark had been lost.
    static func setSyncedMark(_ path: String, to offset: Int64) throws {
        let file = try POSIXFile.open(path, flags: O_RDWR)
        var header = try file.read(count: 64, at: 0)
        header.withUnsafeMutableBytes { b in
            b.storeBytes(of: UInt64(offset).littleEndian, toByteOffset: 24, as: UInt64.self)
            b.storeBytes(of: ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: b[0..<56])).littleEndian, toByteOffset: 56, as: UInt64.self)
        }
        try file.write(header, at: 0)
    }

    /// Synced records, then records not yet synced of which the disk kept the later ones and lost
    /// an earlier one: the store opens without the unsynced tail (an earlier build refused it as
    /// damage), and everything synced is there.
    @Test func aCutThatKeptLaterUnsyncedBlocksOpensWithoutTheTail() throws {
        let dir = TemporaryDirectory()
        let synced: [ChunkID]
        let unsynced: [ChunkID]
        do {
            let log = try ChunkLog.open(directory: dir.path)
            synced = try Self.put(log, 10, seed: 1)
            try log.sync()
            unsynced = try Self.put(log, 10, seed: 2)
            // Lost: the third unsynced record's last blocks never reached the disk (zeroes).
            let lost = try log.location(of: unsynced[2])!
            let file = try POSIXFile.open(dir.path + Self.segment, flags: O_RDWR)
            try file.write([UInt8](repeating: 0, count: lost.recordSize - 512), at: Int64(lost.offset) + 512)
        }
        let log = try ChunkLog.open(directory: dir.path)
        for id in synced { #expect(try log.get(id).count == 3000) }
        for id in unsynced.prefix(2) { #expect(try log.get(id).count == 3000, "complete records before the loss stay") }
        for id in unsynced.dropFirst(2) { #expect(try log.location(of: id) == nil, "nothing after the loss is served") }
        #expect(log.recoveredTail?.recordsDropped == 7)
        // The log goes on from there, and that survives a reopen.
        let fresh = try log.put(.chunk, Array("after the cut".utf8))
        try log.sync()
        #expect(try ChunkLog.open(directory: dir.path).get(fresh) == Array("after the cut".utf8))

        // A record lost whole reads as the end of the log: what the disk kept after it is never
        // indexed, and appends go over it.
        let whole = TemporaryDirectory()
        let after: [ChunkID]
        do {
            let log = try ChunkLog.open(directory: whole.path)
            _ = try Self.put(log, 3, seed: 7)
            try log.sync()
            let gone = try log.put(.chunk, Array("lost whole".utf8))
            after = try Self.put(log, 3, seed: 8)
            let lost = try log.location(of: gone)!
            try POSIXFile.open(whole.path + Self.segment, flags: O_RDWR).write([UInt8](repeating: 0, count: lost.recordSize), at: Int64(lost.offset))
        }
        let reopened = try ChunkLog.open(directory: whole.path)
        for id in after { #expect(try reopened.location(of: id) == nil) }
    }

    /// Damage to records that were durable is still refused, whichever proof is left: the synced
    /// mark in the segment's header, or (the mark lost) later records two sync epochs apart.
    @Test func damageToDurableRecordsIsStillRefused() throws {
        for markLost in [false, true] {
            let dir = TemporaryDirectory()
            let first: [ChunkID]
            do {
                let log = try ChunkLog.open(directory: dir.path)
                first = try Self.put(log, 10, seed: 3)
                try log.sync()
                _ = try Self.put(log, 5, seed: 4)
                try log.sync()
                _ = try Self.put(log, 5, seed: 5)
                try log.sync()
            }
            if markLost { try Self.setSyncedMark(dir.path + Self.segment, to: 0) }
            let victim = try ChunkLog.open(directory: dir.path).location(of: first[3])!
            if markLost { try Self.setSyncedMark(dir.path + Self.segment, to: 0) }  // the open above wrote it again
            let file = try POSIXFile.open(dir.path + Self.segment, flags: O_RDWR)
            try file.write([0xFF, 0xEE], at: Int64(victim.offset) + 70)
            do {
                _ = try ChunkLog.open(directory: dir.path)
                Issue.record("a log with damage to synced records opened (mark lost: \(markLost))")
            } catch {
                #expect(error.code == .corrupted)
                #expect(error.message.contains(markLost ? "valid records written after it was durable" : "synced through offset"), "\(error.message)")
            }
        }
        // Without the mark, records of one epoch prove nothing: such damage looks like a cut.
        let dir = TemporaryDirectory()
        let ids: [ChunkID]
        do {
            let log = try ChunkLog.open(directory: dir.path)
            ids = try Self.put(log, 10, seed: 6)
            try log.sync()
        }
        let victim = try ChunkLog.open(directory: dir.path).location(of: ids[3])!
        try Self.setSyncedMark(dir.path + Self.segment, to: 0)
        let file = try POSIXFile.open(dir.path + Self.segment, flags: O_RDWR)
        try file.write([0xFF, 0xEE], at: Int64(victim.offset) + 70)
        let log = try ChunkLog.open(directory: dir.path)
        #expect(log.recoveredTail == ChunkLog.RecoveredTail(segment: 1, offset: Int64(victim.offset), recordsDropped: 6))
    }

    /// What one round of the workload expects of the store after the cut.
    struct Expectation {
        /// Session → path → content (nil: removed), for every acknowledged change.
        var files: [String: [String: [UInt8]?]] = [:]
        /// The change whose call the cut interrupted: either outcome is right.
        var inDoubt: (session: String, path: String, before: [UInt8]?, after: [UInt8]?)?
        var acknowledged = 0
        /// The names of the files the simulator saw written or synced.
        var filesSeen: Set<String> = []
    }

    /// Random workloads (writes small and large, overwrites, removals, forks, checkpoints, folds,
    /// segment roll-overs) cut at a random write or sync, then reopened from the crash image with
    /// random blocks kept or lost. Every round: the store opens, every acknowledged write reads
    /// back byte for byte, verify is clean. `AFS_POWER_LOSS_ROUNDS` runs more (CI runs 24).
    @Test func everyAcknowledgedWriteSurvivesRandomPowerCuts() throws {
        let rounds = ProcessInfo.processInfo.environment["AFS_POWER_LOSS_ROUNDS"].flatMap(Int.init) ?? 24
        var acknowledged = 0
        var reordered = 0
        var seen: Set<String> = []
        for round in 0..<rounds {
            let seed = UInt64(20_261_206 + round)
            let (expectation, tail) = try Self.round(seed: seed)
            acknowledged += expectation.acknowledged
            seen.formUnion(expectation.filesSeen)
            if tail { reordered += 1 }
        }
        #expect(
            seen.contains("catalog.sqlite-wal") && seen.contains { $0.hasPrefix("ses_") && $0.hasSuffix(".jnl") }
                && seen.contains { $0.hasPrefix("catalog.") && $0.hasSuffix(".jnl") } && seen.contains { $0.hasPrefix("seg-") },
            "the catalog, its intent log, the journals and the chunk log are all watched: \(seen.sorted())")
        print("power loss: \(rounds) rounds, \(acknowledged) acknowledged changes, \(reordered) rounds recovered a reordered tail, 0 lost")
        #expect(acknowledged > rounds * 3, "the cuts must fall after some acknowledged work")
    }

    /// One round: returns what was acknowledged and whether recovery dropped a reordered tail.
    static func round(seed: UInt64) throws -> (Expectation, Bool) {
        let dir = TemporaryDirectory("power-loss")
        let live = dir.sub("store")
        let image = dir.sub("image")
        var random = SeededRandom(seed: seed)
        var options = AetherStore.Options()
        options.segmentSize = 1 << 20
        options.foldThresholdBytes = 64 << 10
        options.foldThresholdEntries = 40
        // The catalog's intent log rotates every few forks, so cuts also fall around rotations.
        options.catalogIntentRotationBytes = 1024
        var expectation = Expectation()
        do {
            try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
            // Installed first: the catalog's SQLite connection must be opened through its VFS.
            let simulator = PowerLossSimulator.install(root: (live as NSString).standardizingPath)
            defer { PowerLossSimulator.uninstall() }
            let store = try AetherStore.open(at: live, options: options)
            let base = try store.createSession(name: "base", from: .blank).id
            expectation.files[base] = [:]
            // Half the cuts fall among the chunk log's writes and syncs, the rest anywhere (most
            // events are the catalog's).
            if random.next() & 1 == 0 {
                simulator.crash(atEvent: Int(random.next() % 150) + 1, only: "/chunks/", into: image, seed: random.next())
            } else {
                simulator.crash(atEvent: Int(random.next() % 600) + 1, into: image, seed: random.next())
            }
            var sessions = [base]
            ops: for step in 0..<120 {
                let session = sessions[Int(random.next() % UInt64(sessions.count))]
                let path = "/d\(random.next() % 3)/f\(random.next() % 12)"
                let before = expectation.files[session]?[path] ?? nil
                let roll = random.next() % 100
                switch roll {
                case 0..<60:
                    let size = [40, 3000, 40_000, 300_000][Int(random.next() % 4)]
                    let data = random.bytes(size)
                    expectation.inDoubt = (session, path, before, data)
                    try store.writeFile(session, path: path, data: data)
                    guard !simulator.crashTaken else { break ops }
                    expectation.files[session]![path] = .some(data)
                case 60..<75:
                    guard before != nil else { continue }
                    expectation.inDoubt = (session, path, before, nil)
                    try store.remove(session, path: path)
                    guard !simulator.crashTaken else { break ops }
                    expectation.files[session]![path] = .some(nil)
                case 75..<88:
                    expectation.inDoubt = nil
                    let fork = try store.fork(session, name: "fork-\(step)").id
                    guard !simulator.crashTaken else { break ops }
                    expectation.files[fork] = expectation.files[session]
                    sessions.append(fork)
                default:
                    expectation.inDoubt = nil
                    _ = try store.checkpoint(session, label: "step \(step)")
                    guard !simulator.crashTaken else { break ops }
                }
                expectation.acknowledged += 1
            }
            expectation.filesSeen = Set(simulator.filesSeen.map { ($0 as NSString).lastPathComponent })
            if !simulator.crashTaken {
                expectation.inDoubt = nil
                try simulator.crashImage(into: image, seed: random.next())
            }
            PowerLossSimulator.uninstall()
            try? store.close()
        }
        // The power comes back.
        let store: AetherStore
        do {
            store = try AetherStore.open(at: image, options: options)
        } catch {
            Issue.record("seed \(seed): the store does not open after the cut: \(error.message)")
            return (expectation, false)
        }
        defer { try? store.close() }
        for (session, files) in expectation.files {
            for (path, content) in files {
                let doubt = expectation.inDoubt.flatMap { $0.session == session && $0.path == path ? $0 : nil }
                let read: [UInt8]?
                do {
                    read = try store.readFile(session, path: path)
                } catch where error.code == .notFound {
                    read = nil
                } catch {
                    Issue.record("seed \(seed): \(session) \(path): \(error.message)")
                    continue
                }
                if let doubt {
                    #expect(read == doubt.before || read == doubt.after, "seed \(seed): \(path) in \(session) holds neither version")
                } else {
                    #expect(read == content, "seed \(seed): acknowledged \(path) in \(session) is \(read.map { "\($0.count) bytes" } ?? "gone"), not \(content.map { "\($0.count) bytes" } ?? "removed")")
                }
            }
        }
        let report = try store.verify()
        #expect(report.problems.isEmpty, "seed \(seed): verify after the cut: \(report.problems)")
        let tail = ((store.log as? ChunkLog)?.recoveredTail) != nil
        return (expectation, tail)
    }
}
