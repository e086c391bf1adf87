import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore

/// Kills a writer process with SIGKILL in the middle of a write storm, many times, and proves every
/// write it acknowledged is present after reopening the store.
@Suite(.offCooperativePool) struct CrashTests {
    /// Mirrors `aether store write-storm`'s content function.
    static func content(_ i: Int, seed: UInt64) -> [UInt8] {
        let size = (i * 7919 % 3000) + 10 + (i % 10 == 0 ? 300_000 : 0)
        var x = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
        return (0..<size).map { _ in
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
    }

    /// Names the write whose content `got` is, for failure messages.
    static func whichWrite(_ got: [UInt8], file: Int, rounds: Int) -> String {
        for r in 0..<rounds {
            for i in stride(from: file, to: 5000, by: 50) where content(i, seed: UInt64(r + 1)) == got {
                return "it holds write \(i) of round \(r)"
            }
        }
        return "it holds no known write"
    }

    @Test func acknowledgedWritesSurviveSIGKILL() throws {
        try stormAndKill(rounds: 8, extra: [])
    }

    /// The same with the chunk index merging every 16 new chunks, so most kills land during a
    /// merge (its temporary file half written, or renamed but not yet in use): the index in place
    /// is always whole (no rebuild note) and every acknowledged write is found through it.
    @Test func aKillDuringAnIndexMergeLosesNothing() throws {
        try stormAndKill(rounds: 6, extra: ["--index-memory-entries", "16"]) { dir in
            let log = try ChunkLog.open(directory: dir + "/chunks")
            #expect(log.recoveryNotes.isEmpty, "a merge killed midway left a half-written index in use: \(log.recoveryNotes)")
            guard case .index = try ChunkIndexFile.open(path: dir + "/chunks/index.ckpt") else {
                Issue.record("no format-2 index file after the kill")
                return
            }
        }
    }

    /// The `aether` executable, and a new store holding one blank session for a storm to use.
    static func stormStore(_ name: String) throws -> (aether: String, dir: TemporaryDirectory, session: String) {
        let aether = productsDirectory() + "/aether"
        try #require(FileManager.default.isExecutableFile(atPath: aether), "build the aether executable first (swift build)")
        let dir = TemporaryDirectory(name)
        let store = try AetherStore.open(at: dir.path)
        defer { try? store.close() }
        return (aether, dir, try store.createSession(name: "storm", from: .blank).id)
    }

    /// Runs `aether ARGS`, waits for the first line holding `marker` (start-up takes a while on a
    /// loaded machine), lets it run `delay` seconds longer, kills it with SIGKILL and returns all
    /// it printed.
    static func runAndKill(_ aether: String, _ arguments: [String], marker: String, after delay: Double) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: aether)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var early = Data()
        while !String(decoding: early, as: UTF8.self).contains(marker) {
            let piece = out.fileHandleForReading.availableData
            if piece.isEmpty { break }
            early.append(piece)
        }
        Thread.sleep(forTimeInterval: delay)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return String(decoding: early + out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Forks as fast as they come, killed mid-storm: every fork that returned is in the catalog
    /// after the reopen (most were still only in the intent log, their SQLite rows unsynced or not
    /// yet written), with its parent; the log rotates every few records, so kills also land
    /// between a rotation and the removal of the old file. Each reopen leaves one log file.
    @Test func acknowledgedForksSurviveSIGKILL() throws {
        let (aether, dir, base) = try Self.stormStore("afs-crash-forks")
        var rng = SeededRandom(seed: 7)
        var acknowledged: [String] = []
        for round in 0..<5 {
            let text = try Self.runAndKill(
                aether, ["store", "write-storm", "--store", dir.path, base, "--forks", "--intent-rotation-bytes", "2048"],
                marker: "fork ", after: Double(rng.next() % 300) / 1000)
            let forks = text.split(separator: "\n").compactMap { line -> String? in
                line.hasPrefix("fork ") ? String(line.dropFirst(5)) : nil
            }
            #expect(!forks.isEmpty, "round \(round): the storm acknowledged no fork")
            acknowledged += forks
            let store = try AetherStore.open(at: dir.path)
            let parents = Dictionary(try store.sessions().map { ($0.id, $0.parentID) }, uniquingKeysWith: { a, _ in a })
            let missing = acknowledged.filter { parents[$0] == nil }
            #expect(missing.isEmpty, "round \(round): \(missing.count) of \(acknowledged.count) acknowledged forks are gone, e.g. \(missing.prefix(3))")
            #expect(acknowledged.allSatisfy { parents[$0] == .some(base) }, "round \(round): a fork lost its parent")
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/catalog.sqlite-intents").filter { $0.hasSuffix(".jnl") }
            #expect(files.count == 1, "round \(round): the reopen replays and removes the old files: \(files)")
            #expect(try store.verify().problems.isEmpty, "round \(round): store damaged")
            try store.close()
        }
    }

    func stormAndKill(rounds: Int, extra: [String], afterKill: (String) throws -> Void = { _ in }) throws {
        let (aether, dir, id) = try Self.stormStore("afs-crash")
        var rng = SeededRandom(seed: 99)
        // For each file, the highest acknowledged write index, across all rounds.
        var lastAck: [Int: (round: Int, index: Int)] = [:]
        for round in 0..<rounds {
            let seed = UInt64(round + 1)
            // Kill mid-storm: after the first acknowledgement, then a random while longer.
            let text = try Self.runAndKill(
                aether, ["store", "write-storm", "--store", dir.path, id, "--seed", String(seed)] + extra,
                marker: "ack ", after: Double(rng.next() % 400) / 1000)
            let acks = text.split(separator: "\n").compactMap { line -> Int? in
                line.hasPrefix("ack ") ? Int(line.dropFirst(4)) : nil
            }
            for i in acks { lastAck[i % 50] = (round, i) }
            try afterKill(dir.path)
            // Reopen in this process and check every file's last acknowledged content.
            let store = try AetherStore.open(at: dir.path)
            var landed: (file: Int, index: Int)?
            for (file, ack) in lastAck {
                let path = "/storm/f\(file)"
                let got = try store.readFile(id, path: path)
                let expected = CrashTests.content(ack.index, seed: UInt64(ack.round + 1))
                // The one write in flight when the kill came may also have landed; accept it too.
                let next = (acks.max() ?? -1) + 1
                let inFlight = next % 50 == file ? CrashTests.content(next, seed: seed) : nil
                #expect(
                    got == expected || got == inFlight,
                    "round \(round): \(path) lost acknowledged write \(ack.index) (got \(got.count) bytes; \(CrashTests.whichWrite(got, file: file, rounds: round + 1)); acks this round \(acks.count), max \(acks.max() ?? -1); journals \((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/journals")) ?? []))")
                if let inFlight, got == inFlight, got != expected { landed = (file, next) }
            }
            // A write that landed without its ack is the file's state from now on.
            if let landed { lastAck[landed.file] = (round, landed.index) }
            #expect(try store.verify().problems.isEmpty, "round \(round): store damaged")
            try store.close()
        }
        #expect(!lastAck.isEmpty, "the storm never acknowledged a write")
    }
}
