import Foundation
import Testing

@testable import AFSCore

/// `apply`: many changes in order, each as its own call would make it, with one durable wait.
@Suite struct BatchTests {
    @Test func changesApplyInOrderAndRefusalsDoNotStopTheRest() throws {
        let dir = TemporaryDirectory("batch")
        var store = try AetherStore.open(at: dir.sub("store"))
        let session = try store.createSession(name: "b", from: .blank).id
        let big = (0..<(300 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let old: Int64 = 1_000_000_000_000_000_000
        let outcomes = try store.apply(session, [
            .makeDirectory("/d", mode: 0o750),
            .write("/d/small.txt", data: Array("small".utf8), mode: 0o600, mtime: old),
            .write("/d/big.bin", data: big, mode: nil, mtime: nil),
            .makeDirectory("/d", mode: 0o755),
            .write("/missing/x", data: [1], mode: nil, mtime: nil),
            .setMode("/d", mode: 0o700),
            .setTimes("/d", mtime: old + 5, atime: nil),
            .write("/d/gone", data: [2], mode: nil, mtime: nil),
            .remove("/d/gone"),
            .remove("/d/gone"),
        ])
        // A write creates missing parents, as writeFile does.
        #expect(outcomes.map(\.error?.code) == [nil, nil, nil, .alreadyExists, nil, nil, nil, nil, nil, .notFound])
        #expect(outcomes[1].stat?.mtime == old && outcomes[1].stat?.mode == 0o600)
        #expect(outcomes[2].stat?.size == UInt64(big.count))
        // Metadata is the entry's after the whole batch: /d's time moved again with /d/gone.
        #expect(outcomes[5].stat?.mode == 0o700 && outcomes[6].stat?.mtime ?? 0 > old + 5, "a later change sees the earlier ones")
        #expect(outcomes[8].stat == nil, "removals carry no metadata")
        // Acknowledged means durable: all of it is there after a reopen.
        try store.close()
        store = try AetherStore.open(at: dir.sub("store"))
        #expect(try store.list(session, path: "/d").map(\.name) == ["big.bin", "small.txt"])
        #expect(try store.readFile(session, path: "/d/big.bin") == big)
        #expect(try store.stat(session, path: "/d/small.txt").mtime == old)
        #expect(try store.stat(session, path: "/d").mode == 0o700)
        #expect(try store.readFile(session, path: "/missing/x") == [1])
        // The changefeed names each change, as the calls one by one would.
        let kinds = try store.changes(session, after: 0, limit: 100).map { "\($0.kind.rawValue) \($0.path)" }
        #expect(kinds.contains("write /d/big.bin") && kinds.contains("delete /d/gone") && kinds.contains("chmod /d"))
        try store.close()
    }

    /// A write's `ctime` is when the writer made it (a mount that showed the file before sending
    /// it): the file's change time and, for a new file, its directory's times; never later than now.
    @Test func aWriteKeepsTheChangeTimeItsWriterShowed() throws {
        let dir = TemporaryDirectory("batch-ctime")
        let store = try AetherStore.open(at: dir.sub("store"))
        defer { try? store.close() }
        let session = try store.createSession(name: "c", from: .blank).id
        try store.makeDirectory(session, path: "/d")
        let now = AetherStore.now()
        let shown = now - 2_000_000_000
        let outcomes = try store.apply(session, [
            .write("/d/new.txt", data: [1], mode: nil, mtime: shown, ctime: shown),
            .write("/d/later.txt", data: [2], mode: nil, mtime: nil, ctime: now + 3_600_000_000_000),
            .write("/plain.txt", data: [3], mode: nil, mtime: nil),
        ])
        #expect(outcomes.allSatisfy { $0.error == nil })
        #expect(try store.stat(session, path: "/d/new.txt").ctime == shown)
        let later = try #require(try store.stat(session, path: "/d/later.txt").ctime)
        #expect(later >= now && later < now + 60_000_000_000, "a time in the future counts as now")
        // The directory moved with each new entry, to when its writer made it.
        #expect(try store.stat(session, path: "/d").mtime == later)
        let plain = try #require(try store.stat(session, path: "/plain.txt").ctime)
        #expect(plain >= now, "no ctime: the time the write arrived")
    }

    /// A whole-file upload keeps it too (a mount publishes a file that travels alone this way).
    @Test func anUploadKeepsTheChangeTimeItsWriterShowed() throws {
        let dir = TemporaryDirectory("upload-ctime")
        let store = try AetherStore.open(at: dir.sub("store"))
        defer { try? store.close() }
        let session = try store.createSession(name: "u", from: .blank).id
        try store.makeDirectory(session, path: "/d")
        let made = try store.stat(session, path: "/d").mtime
        let now = AetherStore.now()
        let shown = now - 2_000_000_000
        // Small enough to travel in the journal, and large enough for chunks.
        for (path, size) in [("/d/small", 100), ("/d/large", 3 << 20)] {
            let upload = try store.beginUpload(session, path: path, mtime: shown, ctime: shown)
            try upload.append([UInt8](repeating: 7, count: size))
            try upload.finish()
            #expect(try store.stat(session, path: path).ctime == shown, "\(path)")
        }
        #expect(try store.stat(session, path: "/d").mtime == made, "a directory's times never move back")
        let future = try store.beginUpload(session, path: "/d/future", ctime: now + 3_600_000_000_000)
        try future.append([1])
        try future.finish()
        let later = try #require(try store.stat(session, path: "/d/future").ctime)
        #expect(later >= now && later < now + 60_000_000_000, "a time in the future counts as now")
        let plain = try store.beginUpload(session, path: "/plain")
        try plain.append([2])
        try plain.finish()
        #expect(try #require(try store.stat(session, path: "/plain").ctime) >= now, "no ctime: the time of the write")
    }

    @Test func oversizedBatchesAreRefusedWhole() throws {
        let dir = TemporaryDirectory("batch")
        let store = try AetherStore.open(at: dir.sub("store"))
        defer { try? store.close() }
        let session = try store.createSession(name: "b", from: .blank).id
        let many = (0...AetherStore.batchChangeLimit).map { BatchChange.makeDirectory("/d\($0)", mode: 0o755) }
        #expect(throws: AFSError.self) { try store.apply(session, many) }
        #expect(try store.list(session, path: "/").isEmpty, "nothing of a refused batch is applied")
        let huge = (0..<17).map { BatchChange.write("/f\($0)", data: [UInt8](repeating: 1, count: 1 << 20), mode: nil, mtime: nil) }
        #expect(throws: AFSError.self) { try store.apply(session, huge) }
        #expect(try store.apply(session, [.setTimes("/", mtime: nil, atime: nil)]).first?.error?.code == .invalidArgument)
    }
}
