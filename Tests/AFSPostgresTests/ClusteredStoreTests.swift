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
/// another, empty directory finds everything; replicas share the catalog, one process holding
/// each session at a time under a fencing epoch; PostgreSQL
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

        /// A store as one afs-server opens it: joins the replicas, binds the bucket prefix to the
        /// catalog's identity, and keeps nothing it needs in `directory`.
        /// - Parameter port: where to reach PostgreSQL instead of its own port (a ``TCPForwarder``).
        func open(_ directory: String, options: PostgresBackend.Options = .init(), port: Int? = nil) throws -> (AetherStore, PostgresBackend) {
            var location = try self.location
            if let port { location.port = port }
            let backend = try PostgresBackend.connect(location, options: options)
            try backend.join(address: "http://\(directory).invalid")
            var packOptions = PackChunkStore.Options()
            packOptions.cacheDirectory = root + "/" + directory + "/cache"
            let packs = try PackChunkStore.open(client: client, owner: try backend.storeIdentity(), options: packOptions)
            let catalog = PostgresCatalog(backend: backend)
            var storeOptions = AetherStore.Options()
            storeOptions.wallClock = { backend.databaseTime() }
            let store = try AetherStore.open(
                at: root + "/" + directory + "/store", options: storeOptions, chunks: packs, catalog: catalog, journals: PostgresJournalStore(backend: backend),
                ownership: PostgresSessionOwnership(backend: backend))
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

    @Test func replicasHoldSessionsUnderFencingEpochsAndClearErrors() throws {
        let cluster = try Cluster()
        let (a, backendA) = try cluster.open("a")
        let (b, backendB) = try cluster.open("b")
        let replicaA = try #require(backendA.replica)
        let replicaB = try #require(backendB.replica)
        #expect(replicaA.id != replicaB.id && replicaA.number != replicaB.number)
        #expect(try cluster.pg.psql("SELECT count(*) FROM afs_live_replica") == "2", "both hold their locks")
        // Advisory locks belong to one database: the same key held in another database on the
        // same server (another store's replica of that number) says nothing about this catalog's.
        _ = try cluster.pg.psql("CREATE DATABASE elsewhere")
        _ = try cluster.pg.psql("INSERT INTO afs_replica (id, number, address, host, pid) VALUES ('r-ghost', 9999, 'http://ghost.invalid', 'gone', 0)")
        let url = try cluster.pg.value("PG_URL")
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        other.arguments = [String(url[...url.lastIndex(of: "/")!]) + "elsewhere", "-qAtc", "SELECT pg_advisory_lock(\(PostgresBackend.replicaLockSpace), 9999); SELECT pg_sleep(4)"]
        other.standardOutput = FileHandle.nullDevice
        try other.run()
        let locked = Date().addingTimeInterval(30)
        while Date() < locked, try cluster.pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 9999") != "1" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(try cluster.pg.psql("SELECT count(*) FROM afs_live_replica WHERE id = 'r-ghost'") == "0", "a lock in another database is not this replica's")
        other.waitUntilExit()
        _ = try cluster.pg.psql("DELETE FROM afs_replica WHERE id = 'r-ghost'")

        // A takes the session by writing to it; B may read its coordination state, not hold it.
        let session = try a.createSession(name: "shared", from: .blank).id
        try a.writeFile(session, path: "/one", data: Array("first".utf8))
        do {
            try b.writeFile(session, path: "/two", data: Array("from b".utf8))
            Issue.record("two replicas held one session")
        } catch {
            #expect(error.code == .unavailable && error.message.contains(replicaA.id) && error.message.contains("http://a.invalid"), "\(error.message)")
        }
        let ownershipB = PostgresSessionOwnership(backend: backendB)
        #expect(try ownershipB.place(session) == .elsewhere(owner: replicaA.id, address: "http://a.invalid", grpcAddress: ""))
        #expect(try ownershipB.place("s-nonexistent") == .missing)
        #expect(try b.changes(session).map(\.path).contains("/one"), "the changefeed is shared")
        // A lease granted through B binds writes through A, by the database's clock.
        let lease = try b.acquireLease(session, path: "/one", exclusive: true, ttl: 30, holder: "agent-b")
        #expect(abs(lease.expiresAt - (backendB.databaseTime() + 30)) < 1)
        #expect(throws: AFSError.self) { try a.writeFile(session, path: "/one", data: Array("no token".utf8), context: MutationContext(actor: "agent-a")) }
        try a.writeFile(session, path: "/one", data: Array("with the token".utf8), context: MutationContext(actor: "agent-b", lockToken: lease.token))
        try b.releaseLease(token: lease.token)

        // Taken over behind A's back (as by a replica that found A dead while A was cut off from
        // the database): A's next write is refused by the fence and leaves nothing behind.
        _ = try cluster.pg.psql(
            "UPDATE afs_session_owner SET replica_id = '\(replicaB.id)', epoch = epoch + 1 WHERE session_id = '\(session)'")
        do {
            try a.writeFile(session, path: "/fenced", data: Array("lost owner".utf8))
            Issue.record("a write under a stale epoch was acknowledged")
        } catch {
            #expect(error.code == .unavailable && error.message.contains("taken over"), "\(error.message)")
        }
        #expect(try b.readFile(session, path: "/one") == Array("with the token".utf8), "B replays what A acknowledged")
        #expect(throws: AFSError.self) { try b.readFile(session, path: "/fenced") }
        try b.writeFile(session, path: "/two", data: Array("from b".utf8))
        #expect(try cluster.pg.psql("SELECT count(*) FROM afs_journal WHERE record::text LIKE '%' || encode('lost owner', 'hex') || '%'") == "0")
        // A's later calls find B the holder instead of its stale copy.
        #expect(throws: AFSError.self) { try a.writeFile(session, path: "/three", data: Array("x".utf8)) }

        // GC runs beside the other replica, which joins it (its writes in flight finish first).
        let big = Self.noise(300_000, seed: 7)
        try b.writeFile(session, path: "/big", data: big)
        try b.writeFile(session, path: "/big", data: Self.noise(300_000, seed: 8))  // the first version is garbage now
        let collected = try a.collectGarbage()
        #expect(collected.deadChunks > 0, "\(collected)")
        try b.writeFile(session, path: "/big", data: big)  // dead bytes written again: stored anew, not assumed present
        #expect(try b.readFile(session, path: "/big") == big)
        _ = try a.collectGarbage()
        #expect(try b.readFile(session, path: "/big") == big, "a record deduplicated against a collected one is kept")
        #expect(try a.verify().problems == [])

        // A replica that leaves gives its sessions up; the other takes them on first use.
        try b.close()
        backendB.close()
        #expect(try cluster.pg.psql("SELECT count(*) FROM afs_live_replica") == "1")
        #expect(try a.readFile(session, path: "/two") == Array("from b".utf8), "A takes the session back with B's writes")
        _ = try a.collectGarbage()
        try a.close()
        backendA.close()

        // A join attempt that times out after taking its lock must not keep it: the caller has
        // given up. psql locks afs_replica for 6 s, so the attempt waits past its 1.5 s request
        // timeout; when the table frees, the abandoned attempt must let its lock go.
        let blocker = Process()
        blocker.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        blocker.arguments = [try cluster.pg.value("PG_URL"), "-qAtc", "BEGIN; LOCK TABLE afs_replica IN EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;"]
        blocker.standardOutput = FileHandle.nullDevice
        try blocker.run()
        let holding = Date().addingTimeInterval(30)
        while Date() < holding,
            try cluster.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(6)%' AND state = 'active' AND pid <> pg_backend_pid()") != "1"
        {
            Thread.sleep(forTimeInterval: 0.1)
        }
        var hasty = PostgresBackend.Options()
        hasty.requestTimeout = .milliseconds(1500)
        let impatient = try PostgresBackend.connect(try cluster.location, options: hasty, migrate: false)
        #expect(throws: AFSError.self) { try impatient.join(address: "http://impatient.invalid") }
        blocker.waitUntilExit()
        Thread.sleep(forTimeInterval: 1)
        #expect(try cluster.pg.psql("SELECT count(*) FROM afs_live_replica") == "0", "nobody kept the lock")
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
    /// The one weaker case of consistency across replicas, bounded: a replica that cannot hear
    /// the database serves the sessions it holds for at most `servesUnconfirmedFor` after its
    /// last heartbeat, then refuses them, and keeps its claims through a stall shorter than
    /// `rejoinAfterSilence` (a busy machine is not a lost lock). Cut off for real (the database
    /// closed its connections and released its lock), its session is taken over by another
    /// replica, and once the network is back it finds the new holder instead of its old copy.
    @Test func aReplicaThatCannotHearTheDatabaseStopsServingWithinItsBound() throws {
        let cluster = try Cluster()
        let forwarder = try TCPForwarder(to: try cluster.location.port)
        var options = PostgresBackend.Options()
        options.heartbeatInterval = .milliseconds(200)
        options.servesUnconfirmedFor = .seconds(1)
        options.rejoinAfterSilence = .seconds(6)
        options.requestTimeout = .seconds(2)
        options.connectTimeout = .seconds(1)
        // B opens first with the default timeouts: it applies the migrations, which a loaded
        // machine (CI runs eight suites at once) did not finish within A's 2 s request timeout.
        let (b, backendB) = try cluster.open("b")
        let (a, backendA) = try cluster.open("a", options: options, port: forwarder.port)
        let replicaA = try #require(backendA.replica)
        let replicaB = try #require(backendB.replica)
        let session = try a.createSession(name: "cut-off", from: .blank).id
        try a.writeFile(session, path: "/f", data: Array("v1".utf8))
        func epoch() throws -> String { try cluster.pg.psql("SELECT replica_id || ' ' || epoch FROM afs_session_owner WHERE session_id = '\(session)'") }
        #expect(try epoch() == "\(replicaA.id) 1")

        // A stall: nothing is answered, nothing is closed. Past the bound A refuses the session;
        // once the bytes flow again it serves it under the same claim, without re-joining.
        forwarder.stall()
        let stalled = ContinuousClock.now
        Thread.sleep(forTimeInterval: 1.3)
        do {
            let stale = try a.readFile(session, path: "/f")
            Issue.record("served \(stale.count) bytes \(ContinuousClock.now - stalled) after the database last answered")
        } catch {
            #expect(error.code == .unavailable && error.message.contains("has not heard from the catalog"), "\(error.message)")
        }
        forwarder.resume()
        let back = Date().addingTimeInterval(20)
        var served: [UInt8]?
        while served == nil, Date() < back {
            served = try? a.readFile(session, path: "/f")
            if served == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(served == Array("v1".utf8), "A serves its session again after the stall")
        #expect(try epoch() == "\(replicaA.id) 1", "the stall cost no claim")
        #expect(backendA.replica == replicaA)

        // A partition: the database closes A's connections and releases its lock at once; A hears
        // nothing. B takes the session over and writes.
        forwarder.partition()
        let cut = ContinuousClock.now
        let takeOver = Date().addingTimeInterval(20)
        var tookOver = false
        while !tookOver, Date() < takeOver {
            do {
                try b.writeFile(session, path: "/f", data: Array("v2".utf8))
                tookOver = true
            } catch {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        #expect(tookOver, "B takes over the session of a replica whose lock the database released")
        #expect(try epoch() == "\(replicaB.id) 2")
        // The last answer A had came before the cut, so from `cut + bound` on it must not serve v1.
        let bound = ContinuousClock.now.duration(to: cut + .seconds(1))
        if bound > .zero { Thread.sleep(forTimeInterval: bound.inSeconds + 0.05) }
        do {
            let stale = try a.readFile(session, path: "/f")
            Issue.record("A served \(String(decoding: stale, as: UTF8.self)) after its bound, while cut off")
        } catch {
            #expect(error.code == .unavailable, "\(error.message)")
        }

        // The network is back: A's dead connection fails, A joins again and finds B the holder.
        forwarder.heal()
        let rejoined = Date().addingTimeInterval(30)
        var answer = ""
        while Date() < rejoined {
            do {
                answer = "served " + String(decoding: try a.readFile(session, path: "/f"), as: UTF8.self)
                break
            } catch {
                answer = error.message
                if error.message.contains(replicaB.id) { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        #expect(answer.contains(replicaB.id), "A names the new holder: \(answer)")
        #expect(try b.readFile(session, path: "/f") == Array("v2".utf8))
        #expect(try cluster.pg.psql("SELECT count(*) FROM afs_live_replica") == "2", "A holds its lock again")
        try a.close()
        backendA.close()
        try b.close()
        backendB.close()
        forwarder.stop()
    }

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
        let retries = Atomic<Int>(0)
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
                    // A write refused as `unavailable` wrote nothing and says to retry (this replica's
                    // claim lapsed under load and is being re-taken): the writer retries, as clients do.
                    // What is checked is that collection never loses an acknowledged write.
                    var attempts = 0
                    while true {
                        attempts += 1
                        do throws(AFSError) {
                            try store.writeFile(session, path: path, data: data)
                            acknowledged.withLock { $0[path] = data }
                            if i % 25 == 0 { _ = try store.checkpoint(session) }
                            break
                        } catch where error.code == .unavailable && attempts < 50 {
                            retries.add(1, ordering: .relaxed)
                            Thread.sleep(forTimeInterval: 0.1)
                        } catch {
                            failures.withLock { $0.append(error.message) }
                            break
                        }
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
        if retries.load(ordering: .relaxed) > 0 { print("writes retried after `unavailable`: \(retries.load(ordering: .relaxed))") }
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
        // The replica's lock died with its connection and was taken again (within a second of
        // the database's return), under the same identity.
        Thread.sleep(forTimeInterval: 2)
        let me = try #require(backend.replica)
        #expect(try cluster.pg.psql("SELECT string_agg(id, ',') FROM afs_live_replica") == me.id)
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
