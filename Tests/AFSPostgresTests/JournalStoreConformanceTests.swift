import AFSSupport
import AFSPostgres
import AFSTestSupport
import Foundation
import Synchronization
import Testing

@testable import AFSCore

/// One set of expectations for every ``JournalStore``: files in the store's directory and rows in
/// PostgreSQL. What was made durable comes back, in order, after a reopen; generations are
/// separate and removable; many concurrent writers share commits.
@Suite(.offCooperativePool, .serialized) struct JournalStoreConformanceTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case files, postgres
        var testDescription: String { rawValue }
    }

    final class Fixture {
        let directory = "/var/tmp/afs-journals-\(UUID().uuidString.prefix(8))"
        var server: BackendProcess?
        var backend: PostgresBackend?
        let kind: Backend

        init(_ kind: Backend) throws {
            self.kind = kind
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if kind == .postgres {
                let server = try BackendProcess(.postgres)
                self.server = server
                backend = try PostgresBackend.connect(PostgresLocation(parsing: server.value("PG_URL") + "?sslmode=disable"))
            }
        }

        /// A store as a new process would open it.
        func open() -> any JournalStore {
            switch kind {
            case .files: return FileJournalStore(directory: directory)
            case .postgres: return PostgresJournalStore(backend: backend!)
            }
        }

        deinit {
            backend?.close()
            server?.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func record(_ i: Int) -> [UInt8] { Array("record \(i) ".utf8) + [UInt8](repeating: UInt8(i & 0xff), count: i % 300) }

    @Test(arguments: Backend.allCases) func durableRecordsComeBackInOrder(_ kind: Backend) throws {
        let f = try Fixture(kind)
        var store = f.open()
        let (log, existing) = try store.open(session: "s1", generation: 0)
        #expect(existing.isEmpty)
        #expect(try !store.holdsRecords(session: "s1", generation: 0))
        var last: UInt64 = 0
        for i in 0..<50 { last = try log.append(Self.record(i)) }
        try log.waitDurable(last)
        let (other, _) = try store.open(session: "s1", generation: 1)
        try other.waitDurable(try other.append([1, 2, 3]))
        #expect(log.byteSize > 0)

        store = f.open()
        let (reopened, records) = try store.open(session: "s1", generation: 0)
        #expect(records == (0..<50).map(Self.record), "every durable record, in append order")
        #expect(try store.holdsRecords(session: "s1", generation: 0))
        // Appends continue after what was there.
        try reopened.waitDurable(try reopened.append([9]))
        #expect(try store.open(session: "s1", generation: 0).records.last == [9])
        #expect(try store.open(session: "s1", generation: 0).records.count == 51)
        #expect(try store.open(session: "s1", generation: 1).records == [[1, 2, 3]], "generations are separate")

        try store.remove(session: "s1", generation: 0)
        try store.remove(session: "s1", generation: 0)  // removing twice is fine
        #expect(try !store.holdsRecords(session: "s1", generation: 0))
        #expect(try store.open(session: "s1", generation: 0).records.isEmpty)
        #expect(try store.open(session: "s1", generation: 1).records.count == 1)
    }

    /// 8 writers × 100 records: every acknowledged record is there, each writer's in its order.
    @Test(arguments: Backend.allCases) func concurrentWritersShareCommits(_ kind: Backend) throws {
        let f = try Fixture(kind)
        let store = f.open()
        let (log, _) = try store.open(session: "s", generation: 3)
        let lock = NSLock()
        let acknowledged = Locked<Set<[UInt8]>>([])
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { w in
            for i in 0..<100 {
                let r = Array("w\(w)-\(i)".utf8)
                do {
                    // Appends are ordered by the session lock in the engine; the same here.
                    let ticket = try lock.withLock { () throws(AFSError) -> UInt64 in try log.append(r) }
                    try log.waitDurable(ticket)
                    _ = acknowledged.withLock { $0.insert(r) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let records = try f.open().open(session: "s", generation: 3).records
        #expect(Set(records) == acknowledged.withLock { $0 } && records.count == 800)
        for w in 0..<8 {
            let mine = records.filter { $0.starts(with: Array("w\(w)-".utf8)) }
            #expect(mine == (0..<100).map { Array("w\(w)-\($0)".utf8) }, "each writer's records in its order")
        }
    }
}
