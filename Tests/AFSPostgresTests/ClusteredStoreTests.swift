import AFSSupport
import AFSObjectStore
import AFSPostgres
import AFSTestSupport
import Foundation
import Synchronization
import Testing

@testable import AFSCore

/// The whole engine on the clustered backend: catalog and journals in PostgreSQL, records in S3
/// packs (SeaweedFS), both real servers started by the project's scripts. A store reopened on
/// another, empty directory finds everything; the catalog has one owner at a time; PostgreSQL
/// unreachable, restarted under load, or migrated by a newer build each get a clear answer.
@Suite(.offCooperativePool, .serialized) struct ClusteredStoreTests {
    /// One PostgreSQL and one S3 bucket; stores opened on them from any directory.
    final class Cluster {
        let pg: BackendProcess
        let s3: BackendProcess
        let client: S3Client
        let root = "/var/tmp/afs-clustered-\(UUID().uuidString.prefix(8))"

        init() throws {
            pg = try BackendProcess(.postgres)
            s3 = try BackendProcess(.seaweedfs)
            let location = try S3Location(url: "s3://aether/store?endpoint=\(s3.value("S3_ENDPOINT"))")
            client = S3Client(location: location, credentials: .init(accessKeyID: s3.value("S3_ACCESS_KEY"), secretAccessKey: s3.value("S3_SECRET_KEY")))
            try client.createBucket()
        }

        var location: PostgresLocation { get throws { try PostgresLocation(parsing: pg.value("PG_URL") + "?sslmode=disable") } }

        /// A store as one afs-server opens it: claims the catalog, binds the bucket prefix to the
        /// catalog's identity, and keeps nothing it needs in `directory`.
        func open(_ directory: String, options: PostgresBackend.Options = .init()) throws -> (AetherStore, PostgresBackend) {
            let backend = try PostgresBackend.connect(try location, options: options)
            try backend.claimOwnership()
            var packOptions = PackChunkStore.Options()
            packOptions.cacheDirectory = root + "/" + directory + "/cache"
            let packs = try PackChunkStore.open(client: client, owner: try backend.storeIdentity(), options: packOptions)
            let catalog = PostgresCatalog(backend: backend)
            let store = try AetherStore.open(
                at: root + "/" + directory + "/store", chunks: packs, catalog: catalog, journals: PostgresJournalStore(backend: backend))
            return (store, backend)
        }

        deinit {
            pg.stop()
            s3.stop()
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// Bytes that neither lz4 nor deduplication shrink.
    static func noise(_ n: Int, seed: Int) -> [UInt8] {
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<n).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func bytes(_ n: Int, seed: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ $0 >> 9) } }

    @Test func aStoreReopenedOnAnotherMachineFindsEverything() throws {
        let cluster = try Cluster()
        var (store, backend) = try cluster.open("machine-a")
        let base = try store.createSession(name: "base", from: .blank)
        try store.writeFile(base.id, path: "/small.txt", data: Array("journaled, not folded".utf8))
        let large = Self.bytes(1 << 20, seed: 1)  // above the journal's inline limit: its chunks go to S3 first
        try store.writeFile(base.id, path: "/large.bin", data: large)
        try store.makeDirectory(base.id, path: "/src/lib", parents: true)
        try store.symlink(base.id, path: "/src/link", target: "lib")
        let fork = try store.fork(base.id, name: "proposal")
        try store.writeFile(fork.id, path: "/small.txt", data: Array("changed in the fork".utf8))
        let checkpoint = try store.checkpoint(fork.id, label: "before")
        try store.writeFile(fork.id, path: "/small.txt", data: Array("after the checkpoint".utf8))
        let commit = try store.commit(base.id, message: "first", author: "agent")
        let feed = try store.changes(fork.id)
        try store.close()
        backend.close()
        try FileManager.default.removeItem(atPath: cluster.root + "/machine-a")

        // Another machine: a new, empty directory; the catalog and the bucket hold it all.
        (store, backend) = try cluster.open("machine-b")
        defer {
            try? store.close()
            backend.close()
        }
        #expect(try store.readFile(base.id, path: "/small.txt") == Array("journaled, not folded".utf8))
        #expect(try store.readFile(base.id, path: "/large.bin") == large)
        #expect(try store.stat(base.id, path: "/src/link").kind == .symlink)
        #expect(try store.readFile(fork.id, path: "/small.txt") == Array("after the checkpoint".utf8))
        #expect(try store.changes(fork.id) == feed, "the changefeed is the catalog's")
        let reread = try store.commit(id: commit.id)
        #expect(reread.root == commit.root && reread.parents == commit.parents && reread.message == commit.message)
        #expect(abs(reread.createdAt.timeIntervalSince(commit.createdAt)) < 1e-5, "seconds since 1970 as a double: sub-µs rounding only")
        try store.restore(fork.id, checkpoint: checkpoint.id)
        #expect(try store.readFile(fork.id, path: "/small.txt") == Array("changed in the fork".utf8))
        #expect(try store.readFile(fork.id, path: "/large.bin") == large, "the fork shares the base's chunks")

        // GC on the clustered backend keeps every live record.
        try store.delete(fork.id)
        _ = try store.collectGarbage()
        #expect(try store.readFile(base.id, path: "/large.bin") == large)
        let report = try store.verify()
        #expect(report.problems == [], "\(report.problems)")
    }

    @Test func oneServerPerCatalogAndClearErrors() throws {
        let cluster = try Cluster()
        let (store, backend) = try cluster.open("a")
        let second = try PostgresBackend.connect(try cluster.location)
        do {
            try second.claimOwnership()
            Issue.record("a second server claimed a catalog in use")
        } catch {
            #expect(error.code == .storeLocked)
            #expect(error.message.contains("pid \(getpid())"), "the holder is named: \(error.message)")
        }
        try store.close()
        backend.close()
        try second.claimOwnership()  // the claim ends with its holder's connection
        second.close()

        // A claim attempt that times out after taking the lock must not keep it: the caller has
        // given up, and a kept lock would hold the catalog against this very process. psql holds
        // the afs_owner row for 4 s, so the attempt takes the advisory lock, then waits on that
        // row past its 1.5 s request timeout; when the row frees, the abandoned attempt must let go.
        let blocker = Process()
        blocker.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        blocker.arguments = [try cluster.pg.value("PG_URL"), "-qAtc", "BEGIN; SELECT id FROM afs_owner WHERE id = 1 FOR UPDATE; SELECT pg_sleep(6); COMMIT;"]
        blocker.standardOutput = FileHandle.nullDevice
        try blocker.run()
        // Go on once it sleeps, holding the row (a loaded machine takes a while to start psql).
        let holding = Date().addingTimeInterval(30)
        while Date() < holding,
            try cluster.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(6)%' AND state = 'active' AND pid <> pg_backend_pid()") != "1"
        {
            Thread.sleep(forTimeInterval: 0.1)
        }
        var hasty = PostgresBackend.Options()
        hasty.requestTimeout = .milliseconds(1500)
        let impatient = try PostgresBackend.connect(try cluster.location, options: hasty, migrate: false)
        #expect(throws: AFSError.self) { try impatient.claimOwnership(wait: .zero) }
        blocker.waitUntilExit()
        Thread.sleep(forTimeInterval: 1)
        let third = try PostgresBackend.connect(try cluster.location)
        #expect(throws: Never.self) { try third.claimOwnership(wait: .seconds(2)) }  // nobody kept the lock
        third.close()
        impatient.close()

        // Nothing listening: unavailable, naming the address and what to check.
        let port = try #require(Int(cluster.pg.value("PG_PORT")))
        let nowhere = PostgresLocation(host: "127.0.0.1", port: port == 65535 ? 65534 : port + 1, user: "postgres", database: "aether", tls: .disable)
        var options = PostgresBackend.Options()
        options.connectTimeout = .seconds(2)
        do {
            _ = try PostgresBackend.connect(nowhere, options: options)
            Issue.record("connected to nothing")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("127.0.0.1:\(nowhere.port)") && error.message.contains("running"), "\(error.message)")
        }

        // A database migrated by a newer build is refused, not misread.
        _ = try cluster.pg.psql("INSERT INTO afs_schema (version, name) VALUES (99, 'from a newer build')")
        let location = try cluster.location
        do throws(AFSError) {
            _ = try PostgresBackend.connect(location)
            Issue.record("a newer schema was accepted")
        } catch {
            #expect(error.code == .unsupportedFormat && error.message.contains("99"), "\(error.message)")
        }
        #expect(throws: AFSError.self) { try PostgresLocation(parsing: "mysql://x@y/z") }
        #expect(throws: AFSError.self) { try PostgresLocation(parsing: "postgres://u@h:5432/") }
        #expect(try PostgresLocation(parsing: "postgres://u:secret@h:6000/db").description == "postgres://u@h:6000/db", "no password in messages")
        #expect(try PostgresLocation(parsing: "postgres://u:p%2541@h/db").password == "p%41", "percent-decoded once")
        #expect(try PostgresLocation(parsing: "postgres://u@h/db?sslmode=verify-full").tls == .verifyFull)
        do {
            _ = try PostgresLocation(parsing: "postgres://u:se cret%zz@h/db?sslmode=bogus")
            Issue.record("a malformed URL was accepted")
        } catch {
            #expect(!error.message.contains("se cret"), "a password that does not parse is not printed either: \(error.message)")
        }
    }

    /// GC on the clustered backend while writers run: small writes (journaled in PostgreSQL) and
    /// large ones (their chunks in S3 before the journal), forks deleted under it. Every
    /// acknowledged write reads back, deleted sessions' space leaves the bucket, verify is clean.
    @Test func garbageCollectionWhileWritersRunKeepsEverythingLive() throws {
        let cluster = try Cluster()
        let (store, backend) = try cluster.open("a")
        defer {
            try? store.close()
            backend.close()
        }
        let session = try store.createSession(name: "busy", from: .blank).id
        // Space to free: a session of large files, deleted before the writers start.
        let doomed = try store.createSession(name: "doomed", from: .blank).id
        for i in 0..<4 { try store.writeFile(doomed, path: "/big\(i)", data: Self.noise(2 << 20, seed: 100 + i)) }
        _ = try store.checkpoint(doomed)
        let bucketBefore = try cluster.client.list(prefix: "packs/").reduce(0) { $0 + $1.size }
        try store.delete(doomed)
        _ = try store.collectGarbage()
        let bucketAfter = try cluster.client.list(prefix: "packs/").reduce(0) { $0 + $1.size }
        #expect(bucketBefore - bucketAfter > 7 << 20, "the deleted session's 8 MiB left the bucket: \(bucketBefore) → \(bucketAfter) bytes")

        let acknowledged = Locked<[String: [UInt8]]>([:])
        let failures = Locked<[String]>([])
        let stop = Atomic<Bool>(false)
        let writers = DispatchGroup()
        for w in 0..<3 {
            DispatchQueue.global().async(group: writers) {
                var i = 0
                while !stop.load(ordering: .acquiring) {
                    i += 1
                    let path = "/w\(w)/f\(i % 20)"
                    // Every fourth write is large: its chunks reach S3 before its journal record.
                    let data = Self.bytes(i % 4 == 0 ? 300_000 + i : 100 + i, seed: w * 1000 + i)
                    do throws(AFSError) {
                        try store.writeFile(session, path: path, data: data)
                        acknowledged.withLock { $0[path] = data }
                        if i % 25 == 0 { _ = try store.checkpoint(session) }
                    } catch {
                        failures.withLock { $0.append(error.message) }
                    }
                }
            }
        }
        var collections = 0
        let deadline = Date().addingTimeInterval(8)
        while Date() < deadline {
            _ = try store.collectGarbage()
            collections += 1
        }
        stop.store(true, ordering: .releasing)
        writers.wait()
        _ = try store.collectGarbage()
        #expect(failures.withLock { $0 } == [])
        #expect(collections >= 2)
        for (path, data) in acknowledged.withLock({ $0 }) {
            #expect(try store.readFile(session, path: path) == data, "\(path) reads back as acknowledged")
        }
        let report = try store.verify()
        #expect(report.problems == [], "\(report.problems)")
    }

    /// Writers run while PostgreSQL is stopped and started again: writes fail as unavailable
    /// while it is down, succeed again once it is back, and every acknowledged write reads back
    /// from a store reopened elsewhere.
    @Test func postgresRestartUnderLoadLosesNothingAcknowledged() throws {
        let cluster = try Cluster()
        var options = PostgresBackend.Options()
        options.requestTimeout = .seconds(2)
        var (store, backend) = try cluster.open("a", options: options)
        let loaded = store
        let session = try store.createSession(name: "load", from: .blank).id
        let acknowledged = Locked<[Int: Int]>([:])
        let failures = Locked<[AFSError.Code: Int]>([:])
        let afterRestart = Atomic<Int>(0)
        let restarted = Atomic<Bool>(false)
        let stop = Atomic<Bool>(false)
        let writers = DispatchGroup()
        for w in 0..<4 {
            DispatchQueue.global().async(group: writers) {
                var i = 0
                while !stop.load(ordering: .acquiring) {
                    i += 1
                    do throws(AFSError) {
                        try loaded.writeFile(session, path: "/w\(w)", data: Array("\(i)".utf8))
                        acknowledged.withLock { $0[w] = i }
                        if restarted.load(ordering: .acquiring) { afterRestart.add(1, ordering: .relaxed) }
                    } catch {
                        failures.withLock { $0[error.code, default: 0] += 1 }
                        Thread.sleep(forTimeInterval: 0.05)
                    }
                }
            }
        }
        Thread.sleep(forTimeInterval: 1)
        // Down for longer than a call may wait: some writes fail; shorter outages are ridden out.
        cluster.pg.stop(keep: true)
        Thread.sleep(forTimeInterval: 4)
        try cluster.pg.startAgain()
        restarted.store(true, ordering: .releasing)
        let deadline = Date().addingTimeInterval(60)
        while afterRestart.load(ordering: .relaxed) < 20 && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        stop.store(true, ordering: .releasing)
        writers.wait()
        #expect(afterRestart.load(ordering: .relaxed) >= 20, "service resumed after the restart")
        // The claim on the catalog died with its connection and was taken again (within a second
        // of the database's return): another server is still refused.
        Thread.sleep(forTimeInterval: 2)
        let intruder = try PostgresBackend.connect(try cluster.location)
        do {
            try intruder.claimOwnership(wait: .zero)
            Issue.record("another server claimed the catalog after the restart")
        } catch {
            #expect(error.code == .storeLocked, "\(error.message)")
        }
        intruder.close()
        let failed = failures.withLock { $0 }
        #expect(failed[.unavailable, default: 0] > 0, "writes failed while the database was down: \(failed)")
        #expect(Set(failed.keys).subtracting([.unavailable]).isEmpty, "and only as unavailable: \(failed)")
        try store.close()
        backend.close()

        (store, backend) = try cluster.open("b")
        defer {
            try? store.close()
            backend.close()
        }
        for (w, last) in acknowledged.withLock({ $0 }) {
            let text = String(decoding: try store.readFile(session, path: "/w\(w)"), as: UTF8.self)
            // A write that failed may still have landed (its outcome was unknown), never an older one.
            #expect((Int(text) ?? -1) >= last, "writer \(w): acknowledged \(last), read \(text)")
        }
        let seqs = try store.changes(session, limit: 100_000).map(\.seq)
        #expect(seqs == Array(1...UInt64(seqs.count)), "the changefeed has no gap")
    }
}
