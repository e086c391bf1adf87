import Foundation
import GRDB
import Testing

@testable import AFSCore

/// New sessions are durable through the catalog's intent log before SQLite applies them without
/// a sync: a record SQLite lost is replayed at open, an applied one never again (even once its
/// session is deleted), the log rotates without losing a row, and a record this build cannot read
/// is refused with a message, never skipped.
@Suite struct CatalogIntentLogTests {
    static func session(_ n: Int, parent: String? = "ses_parent") -> SessionInfo {
        SessionInfo(
            id: "ses_\(String(repeating: "a", count: 12))\(1000 + n)", name: n % 2 == 0 ? "fork \(n)" : nil, status: .active,
            parentID: parent, source: "session:ses_parent", root: ChunkID.digest(of: Array("root \(n)".utf8)),
            baseCommit: n % 3 == 0 ? String(repeating: "c", count: 64) : nil, headCommit: nil,
            createdAt: Date(timeIntervalSince1970: 1_765_000_000.123_456_7 + Double(n)),
            updatedAt: Date(timeIntervalSince1970: 1_765_000_000.5 + Double(n)), journalGeneration: n % 4,
            tenant: n % 2 == 1 ? "team-\(n)" : nil)
    }

    static func events(_ info: SessionInfo) -> [ChangeEvent] {
        [
            ChangeEvent(seq: 7, session: "ses_parent", kind: .fork, path: "", actor: "agent-1", time: -5, detail: info.id),
            ChangeEvent(seq: 1, session: info.id, kind: .create, path: "", size: 12, contentID: "ff00", actor: "", time: 1_765_000_000_000_000_001, detail: nil),
        ]
    }

    static func generations(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".jnl") }.sorted()
    }

    @Test func recordsRoundTripExactly() throws {
        for n in 0..<6 {
            let info = Self.session(n, parent: n == 5 ? nil : "ses_parent")
            let intent = CatalogIntent(lsn: UInt64(n) * 1_000_003, session: info, events: n == 4 ? [] : Self.events(info))
            #expect(try CatalogIntent(decoding: intent.encoded(), source: "test") == intent)
        }
    }

    @Test func aSessionWhoseSQLiteCommitWasLostIsReplayedAtOpen() throws {
        let dir = TemporaryDirectory()
        let path = dir.sub("catalog.sqlite")
        let info = Self.session(1)
        do {
            let catalog = try SQLiteCatalog(path: path)
            try catalog.close()
        }
        // What a crash leaves when the record was durable and SQLite's unsynced commit was not:
        // the record in the current generation, nothing in the database.
        #expect(Self.generations(path + "-intents") == ["catalog.1.jnl"])
        do {
            let (log, _) = try FileJournalStore(directory: path + "-intents").openFile(session: "catalog", generation: 1)
            try log.waitDurable(try log.append(CatalogIntent(lsn: 1, session: info, events: Self.events(info)).encoded()))
        }
        let catalog = try SQLiteCatalog(path: path)
        defer { try? catalog.close() }
        #expect(try catalog.session(info.id) == info, "the session comes back exactly, dates to the bit")
        #expect(try catalog.events(session: info.id, after: 0, limit: 10) == [Self.events(info)[1]])
        #expect(try catalog.events(session: "ses_parent", after: 0, limit: 10) == [Self.events(info)[0]])
        #expect(Self.generations(path + "-intents") == ["catalog.2.jnl"], "the replayed generation is removed, a new one started")
        // The next session continues the LSNs after the replayed one, and reads see it at once.
        let next = Self.session(2)
        try catalog.insertSession(next, events: [])
        #expect(catalog.intents.lastAppendedLSN == 2)
        #expect(try catalog.session(next.id) == next)
    }

    @Test func anAppliedRecordIsNeverReplayedEvenAfterItsSessionIsDeleted() throws {
        let dir = TemporaryDirectory()
        let path = dir.sub("catalog.sqlite")
        let kept = Self.session(1)
        let deleted = Self.session(2)
        do {
            let catalog = try SQLiteCatalog(path: path)
            try catalog.insertSession(kept, events: Self.events(kept))
            try catalog.insertSession(deleted, events: [])
            try catalog.deleteSession(deleted.id)
            // Both records are still in the log: no rotation happened.
            #expect(Self.generations(path + "-intents") == ["catalog.1.jnl"])
            try catalog.close()
        }
        let catalog = try SQLiteCatalog(path: path)
        defer { try? catalog.close() }
        #expect(try catalog.session(deleted.id) == nil, "a deleted session must not come back from the log")
        #expect(try catalog.sessions(status: nil).map(\.id) == [kept.id])
    }

    @Test func theLogRotatesWithoutLosingASession() throws {
        let dir = TemporaryDirectory()
        let path = dir.sub("catalog.sqlite")
        var ids: [String] = []
        do {
            let catalog = try SQLiteCatalog(path: path, intentRotationBytes: 2048)
            for n in 0..<60 {
                let info = Self.session(n)
                try catalog.insertSession(info, events: Self.events(info).suffix(1))
                ids.append(info.id)
                // A read applies the pending rows (and rotates a full file) first.
                #expect(try catalog.session(info.id) == info)
            }
            // The applier retires a full file behind the callers: give it a moment.
            #expect(try catalog.sessions(status: nil).count == 60, "every session is readable at once")
            var files = Self.generations(path + "-intents")
            for _ in 0..<200 where files.count > 1 {
                Thread.sleep(forTimeInterval: 0.01)
                files = Self.generations(path + "-intents")
            }
            #expect(files.count == 1, "old generations are removed once SQLite's copy is synced: \(files)")
            #expect(files.first.flatMap { Int($0.split(separator: ".")[1]) } ?? 0 > 5, "60 records of ~300 bytes rotate a 2 KiB log many times: \(files)")
            try catalog.close()
        }
        let catalog = try SQLiteCatalog(path: path)
        defer { try? catalog.close() }
        #expect(try catalog.sessions(status: nil).map(\.id).sorted() == ids.sorted())
    }

    @Test func aRecordThisBuildCannotReadIsRefusedWithAMessage() throws {
        for (bytes, code, words) in [([UInt8]([9, 1, 2, 3]), AFSError.Code.unsupportedFormat, "kind 9"), ([1, 0, 0], .corrupted, "malformed record")] {
            let dir = TemporaryDirectory()
            let path = dir.sub("catalog.sqlite")
            try FileManager.default.createDirectory(atPath: path + "-intents", withIntermediateDirectories: true)
            let (log, _) = try FileJournalStore(directory: path + "-intents").open(session: "catalog", generation: 1)
            try log.waitDurable(try log.append(bytes))
            #expect {
                try SQLiteCatalog(path: path)
            } throws: { error in
                guard let error = error as? AFSError else { return false }
                return error.code == code && error.message.contains(words) && error.message.contains("catalog.1.jnl")
            }
            // Nothing was removed: the record is still there for a build that reads it.
            #expect(Self.generations(path + "-intents") == ["catalog.1.jnl"])
        }
    }

    @Test func aStoreOfTheOldFormatOpensAndItsForksLand() throws {
        let dir = TemporaryDirectory()
        var store = try AetherStore.open(at: dir.path)
        let base = try store.createSession(from: .blank).id
        try store.close()
        // What a format-2 build leaves: no intent log, format line 2.
        try FileManager.default.removeItem(atPath: dir.sub("catalog.sqlite-intents"))
        try "aetherfs-store 2\n".write(toFile: dir.sub("FORMAT"), atomically: true, encoding: .utf8)
        store = try AetherStore.open(at: dir.path)
        let fork = try store.fork(base).id
        try store.close()
        store = try AetherStore.open(at: dir.path)
        defer { try? store.close() }
        #expect(try store.session(fork).parentID == base)
        #expect(try String(contentsOfFile: dir.sub("FORMAT"), encoding: .utf8) == "aetherfs-store 3\n")
    }
}
