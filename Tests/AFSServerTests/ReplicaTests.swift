import AFSGRPC
import AFSSupport
import AFSTestSupport
import Foundation
import GRPCCore
import Synchronization
import Testing

/// Several afs-server processes on one PostgreSQL catalog and one S3 prefix (both real servers,
/// started by the project's scripts): any replica serves any session, writes through different
/// replicas are serialized, coordination holds across them, and one can die under load.
@Suite(.offCooperativePool, .serialized) struct ReplicaTests {
    /// `count` replicas of one fresh store, each on its own data directory (another machine).
    static func fleet(_ count: Int, environment extra: [String: String] = [:]) throws -> (
        servers: [ServerHarness], root: String, store: (arguments: [String], environment: [String: String])
    ) {
        var store = try ClusteredBackends.start().newStore()
        store.environment.merge(extra) { _, new in new }
        let root = "/var/tmp/afs-replicas-\(UUID().uuidString.prefix(8))"
        var servers: [ServerHarness] = []
        for i in 0..<count {
            servers.append(try ServerHarness(data: root + "/r\(i)", arguments: store.arguments, environment: store.environment))
        }
        return (servers, root, store)
    }

    static func etag(_ reply: ServerHarness.Reply) -> String? {
        reply.headers.split(whereSeparator: \.isNewline).first { $0.lowercased().hasPrefix("etag:") }
            .map { $0.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Reads and writes of one session through every replica in turn: each read sees every write
    /// acknowledged before it, whichever replica took it; If-Match and the changefeed's one total
    /// order hold across replicas; concurrent writers through all of them lose nothing.
    @Test func anyReplicaServesAnySessionWithReadYourWrites() throws {
        let (servers, root, _) = try Self.fleet(3)
        defer {
            for s in servers { s.stop() }
            try? FileManager.default.removeItem(atPath: root)
        }
        let (a, b, c) = (servers[0], servers[1], servers[2])
        let id = try #require(try a.request("POST", "/v1/sessions", json: ["name": "shared", "source": ["kind": "blank"]]).object()["id"] as? String)
        for i in 0..<30 {
            let writer = servers[i % 3], reader = servers[(i + 1) % 3]
            let body = Data("version \(i)".utf8)
            #expect(try writer.request("PUT", "/v1/sessions/\(id)/files/doc.txt", body: body).status == 201)
            #expect(try reader.request("GET", "/v1/sessions/\(id)/files/doc.txt").body == body, "write \(i) through r\(i % 3), read through r\((i + 1) % 3)")
        }
        // A large file: its chunks go to the holder's packs, and every replica reads it.
        let large = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) })
        #expect(try b.request("PUT", "/v1/sessions/\(id)/files/large.bin", body: large).status == 201)
        for s in servers { #expect(try s.request("GET", "/v1/sessions/\(id)/files/large.bin").body == large) }

        // If-Match is checked by the holder, whichever replica the request came to.
        let current = try a.request("GET", "/v1/sessions/\(id)/files/doc.txt")
        let tag = try #require(Self.etag(current), "\(current.headers)")
        #expect(try b.request("PUT", "/v1/sessions/\(id)/files/doc.txt", body: Data("b".utf8), headers: ["If-Match": tag]).status == 201)
        #expect(try c.request("PUT", "/v1/sessions/\(id)/files/doc.txt", body: Data("c".utf8), headers: ["If-Match": tag]).status == 412, "a lost update is refused")
        #expect(try a.request("GET", "/v1/sessions/\(id)/files/doc.txt").body == Data("b".utf8))

        // Writers through every replica at once, to different files and to one.
        let acknowledged = Locked<[String: Data]>([:])
        DispatchQueue.concurrentPerform(iterations: 6) { w in
            let server = servers[w % 3]
            for i in 0..<10 {
                let path = "/w\(w)/f\(i)"
                let body = Data("writer \(w) item \(i)".utf8)
                if let r = try? server.request("PUT", "/v1/sessions/\(id)/files" + path, body: body), r.status == 201 {
                    acknowledged.withLock { $0[path] = body }
                }
                _ = try? server.request("PUT", "/v1/sessions/\(id)/files/contended.txt", body: body)
            }
        }
        #expect(acknowledged.withLock { $0.count } == 60)
        for (path, body) in acknowledged.withLock({ $0 }) {
            #expect(try servers[path.count % 3].request("GET", "/v1/sessions/\(id)/files" + path).body == body, "\(path)")
        }
        // One total order: every replica serves the same dense changefeed.
        let feeds = try servers.map { s in try s.request("GET", "/v1/sessions/\(id)/changes?limit=10000").array().compactMap { $0["seq"] as? Int } }
        #expect(feeds[0] == Array(1...feeds[0].count) && feeds[0].count >= 30 + 1 + 2 + 60 + 60, "\(feeds[0].count) events")
        #expect(feeds[1] == feeds[0] && feeds[2] == feeds[0])
    }

    /// A long poll and a change stream on one replica wake for writes through another within
    /// 100 ms; a lease taken through one binds writes through every other; two promotes into
    /// one ref through two replicas at once: exactly one wins.
    @Test func streamsLeasesAndPromoteHoldAcrossReplicas() throws {
        let (servers, root, _) = try Self.fleet(2)
        defer {
            for s in servers { s.stop() }
            try? FileManager.default.removeItem(atPath: root)
        }
        let (a, b) = (servers[0], servers[1])
        let id = try #require(try a.request("POST", "/v1/sessions", json: ["name": "watched", "source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try a.request("PUT", "/v1/sessions/\(id)/files/start", body: Data("0".utf8)).status == 201)  // a holds it

        // Long polls through b, writes through a: how long from the write's acknowledgement to the poll's answer.
        var delays: [Double] = []
        for round in 1...5 {
            let since = try b.request("GET", "/v1/sessions/\(id)/changes?limit=10000").array().compactMap { $0["seq"] as? Int }.max() ?? 0
            let answered = Locked<Date?>(nil)
            let events = Locked<[[String: Any]]>([])
            let poll = Thread {
                if let r = try? b.request("GET", "/v1/sessions/\(id)/changes?since=\(since)&wait=10") {
                    answered.withLock { $0 = Date() }
                    events.withLock { $0 = (try? r.array()) ?? [] }
                }
            }
            poll.start()
            Thread.sleep(forTimeInterval: 0.5)
            #expect(try a.request("PUT", "/v1/sessions/\(id)/files/round\(round)", body: Data("\(round)".utf8)).status == 201)
            let written = Date()
            let deadline = Date().addingTimeInterval(10)
            while answered.withLock({ $0 }) == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.002) }
            let at = try #require(answered.withLock { $0 }, "the poll through b never answered")
            delays.append(max(0, at.timeIntervalSince(written)))
            #expect(events.withLock { $0 }.contains { ($0["path"] as? String) == "/round\(round)" })
        }
        delays.sort()
        #expect(delays[2] < 0.1, "median wake-up across replicas: \(delays)")

        // A lease taken through b: a write through a without its token is refused, with it accepted;
        // once released, the stale token is refused by both replicas.
        let lease = try b.request("POST", "/v1/sessions/\(id)/locks", json: ["path": "/guarded", "exclusive": true, "ttl": 30, "holder": "agent-b"]).object()
        let token = try #require(lease["token"] as? Int)
        #expect(try a.request("PUT", "/v1/sessions/\(id)/files/guarded", body: Data("x".utf8)).status == 409)
        #expect(try a.request("PUT", "/v1/sessions/\(id)/files/guarded", body: Data("x".utf8), headers: ["X-AFS-Lock-Token": "\(token)"]).status == 201)
        #expect(try a.request("DELETE", "/v1/sessions/\(id)/locks/\(token)").status == 204)
        let again = try b.request("POST", "/v1/sessions/\(id)/locks", json: ["path": "/guarded", "exclusive": true, "ttl": 30, "holder": "agent-c"]).object()
        let newer = try #require(again["token"] as? Int)
        #expect(newer > token, "fencing tokens only grow, whichever replica grants them")
        for s in servers {
            #expect(try s.request("PUT", "/v1/sessions/\(id)/files/guarded", body: Data("y".utf8), headers: ["X-AFS-Lock-Token": "\(token)"]).status == 409)
        }

        #expect(try b.request("DELETE", "/v1/sessions/\(id)/locks/\(newer)").status == 204)

        // Two sessions from one base change one file each way; promoted at once through two replicas.
        #expect(try a.request("PUT", "/v1/sessions/\(id)/files/shared.txt", body: Data("base".utf8)).status == 201)
        #expect(try a.request("POST", "/v1/sessions/\(id)/commits", json: ["message": "base"]).status == 201)
        let first = try a.request("POST", "/v1/sessions/\(id)/promote", json: ["ref": "main"])
        #expect(first.status == 200, "\(first.text)")
        var forks: [String] = []
        for (i, s) in servers.enumerated() {
            let fork = try #require(try s.request("POST", "/v1/sessions/\(id)/fork", json: ["name": "try-\(i)"]).object()["id"] as? String)
            #expect(try s.request("PUT", "/v1/sessions/\(fork)/files/shared.txt", body: Data("from try-\(i)".utf8)).status == 201)
            #expect(try s.request("POST", "/v1/sessions/\(fork)/commits", json: ["message": "try \(i)"]).status == 201)
            forks.append(fork)
        }
        let statuses = Locked<[Int]>([])
        let promoted = forks
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let status = (try? servers[1 - i].request("POST", "/v1/sessions/\(promoted[i])/promote", json: ["ref": "main"]).status) ?? -1
            statuses.withLock { $0.append(status) }
        }
        #expect(statuses.withLock { $0.sorted() } == [200, 409], "exactly one promote wins: \(statuses.withLock { $0 })")
        let refs = try b.request("GET", "/v1/refs").array()
        #expect(refs.contains { ($0["name"] as? String) == "main" })
    }

    /// SIGKILL the replica that holds a session while writers pour into it through the others:
    /// they go on (the session is taken over on the next request, with no manual step) and every
    /// acknowledged write reads back through every survivor.
    @Test func aReplicaKilledUnderLoadLosesNoAcknowledgedWrite() throws {
        let (servers, root, store) = try Self.fleet(3)
        defer {
            for s in servers { s.stop() }
            try? FileManager.default.removeItem(atPath: root)
        }
        let (a, b, c) = (servers[0], servers[1], servers[2])
        let id = try #require(try a.request("POST", "/v1/sessions", json: ["name": "storm", "source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try a.request("PUT", "/v1/sessions/\(id)/files/first", body: Data("a holds it".utf8)).status == 201)

        let acknowledged = Locked<[String: Data]>([:])
        let failures = Locked<[Int: Int]>([:])
        let stop = Atomic<Bool>(false)
        let killed = Atomic<Bool>(false)
        let afterKill = Atomic<Int>(0)
        let writers = DispatchGroup()
        for w in 0..<4 {
            DispatchQueue.global().async(group: writers) {
                let server = w % 2 == 0 ? b : c
                var i = 0
                while !stop.load(ordering: .acquiring) {
                    i += 1
                    let path = "/w\(w)/f\(i)"
                    let body = i % 10 == 0 ? Data(repeating: UInt8(w), count: 400_000) + Data("\(i)".utf8) : Data("writer \(w) item \(i)".utf8)
                    let status = (try? server.request("PUT", "/v1/sessions/\(id)/files" + path, body: body, timeout: 30).status) ?? -1
                    if status == 201 {
                        acknowledged.withLock { $0[path] = body }
                        if killed.load(ordering: .acquiring) { afterKill.add(1, ordering: .relaxed) }
                    } else {
                        failures.withLock { $0[status, default: 0] += 1 }
                    }
                }
            }
        }
        Thread.sleep(forTimeInterval: 2)
        kill(a.pid, SIGKILL)
        a.process.waitUntilExit()
        killed.store(true, ordering: .releasing)
        let deadline = Date().addingTimeInterval(60)
        while afterKill.load(ordering: .relaxed) < 40 && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        stop.store(true, ordering: .releasing)
        writers.wait()
        #expect(afterKill.load(ordering: .relaxed) >= 40, "the survivors went on serving the session: \(failures.withLock { $0 })")
        let failed = failures.withLock { $0 }
        // Requests in flight to the holder when it died fail (502, or the client's own timeout
        // while the relay waits on a connection the dead process never closed); the rest, 503 at
        // most, until the holder's lock is released and its sessions are taken.
        #expect(failed.values.reduce(0, +) <= 40, "only the moment of the kill fails: \(failed)")
        #expect(Set(failed.keys).isSubset(of: [-1, 502, 503]), "and as retryable: \(failed)")
        for (path, body) in acknowledged.withLock({ $0 }) {
            #expect(try b.request("GET", "/v1/sessions/\(id)/files" + path).body == body, "\(path) through b")
            #expect(try c.request("GET", "/v1/sessions/\(id)/files" + path).body == body, "\(path) through c")
        }
        #expect(try c.request("GET", "/v1/sessions/\(id)/files/first").body == Data("a holds it".utf8))
        // A replacement for a joins and serves at once; GC runs beside the others and verify is clean.
        let d = try ServerHarness(data: root + "/r3", arguments: store.arguments, environment: store.environment)
        defer { d.stop() }
        #expect(try d.request("GET", "/v1/sessions/\(id)/files/first").body == Data("a holds it".utf8))
        let collected = try d.request("POST", "/v1/store/gc")
        #expect(collected.status == 200, "\(collected.text)")
        let verify = try d.request("POST", "/v1/store/verify").object()
        #expect((verify["problems"] as? [Any])?.isEmpty == true, "\(verify)")
        for (path, body) in acknowledged.withLock({ $0 }) {
            #expect(try d.request("GET", "/v1/sessions/\(id)/files" + path).body == body, "\(path) after GC")
        }
    }

    /// A token's rate limit holds across the fleet: requests spread over two replicas get the
    /// budget once, not once per replica.
    @Test func theRateLimitIsPerTokenAcrossReplicas() throws {
        let (servers, root, _) = try Self.fleet(2, environment: ["AFS_RATE_LIMIT": "1", "AFS_RATE_BURST": "10"])
        defer {
            for s in servers { s.stop() }
            try? FileManager.default.removeItem(atPath: root)
        }
        let started = Date()
        var allowed = 0, limited = 0
        for i in 0..<40 {
            // One token (each replica made an admin token of its own at its first start).
            let r = try servers[i % 2].request("GET", "/v1/sessions", token: servers[0].adminToken)
            if r.status == 200 { allowed += 1 } else if r.status == 429 { limited += 1 }
        }
        let elapsed = Date().timeIntervalSince(started)
        // The burst of 10, what 1/s refilled meanwhile, and at most one share held by each replica.
        #expect(allowed >= 10 && Double(allowed) <= 10 + elapsed + 2, "\(allowed) allowed in \(elapsed) s (per replica it would be 20)")
        #expect(allowed + limited == 40)
    }

    /// Garbage collection through one replica while writers pour into sessions held by every
    /// replica: files overwritten (garbage), then written back with the very bytes collected
    /// (deduplication against records being deleted), forks made and deleted. One collector at a
    /// time; every acknowledged write reads back through every replica; verify is clean.
    @Test func garbageCollectionIsSafeWhileEveryReplicaWrites() throws {
        let (servers, root, _) = try Self.fleet(3)
        defer {
            for s in servers { s.stop() }
            try? FileManager.default.removeItem(atPath: root)
        }
        // One session held by each replica (the first write takes it).
        var sessions: [String] = []
        for (i, s) in servers.enumerated() {
            let id = try #require(try s.request("POST", "/v1/sessions", json: ["name": "s\(i)", "source": ["kind": "blank"]]).object()["id"] as? String)
            #expect(try s.request("PUT", "/v1/sessions/\(id)/files/held", body: Data("by r\(i)".utf8)).status == 201)
            sessions.append(id)
        }
        let held = sessions
        // Bytes that neither lz4 nor deduplication shrink.
        @Sendable func blob(_ seed: Int) -> Data {
            var generator = SplitMix64(seed: UInt64(seed))
            return Data((0..<200_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        }
        let latest = Locked<[String: Data]>([:])
        let stop = Atomic<Bool>(false)
        let writers = DispatchGroup()
        for w in 0..<3 {
            DispatchQueue.global().async(group: writers) {
                var i = 0
                while !stop.load(ordering: .acquiring) {
                    i += 1
                    let session = held[w]
                    // Through another replica than the holder, alternating two contents: each
                    // write makes the other's chunks garbage, and the next brings them back.
                    let via = servers[(w + i) % 3]
                    let body = blob(w * 2 + i % 2)
                    let key = session + "/file"
                    if let r = try? via.request("PUT", "/v1/sessions/\(session)/files/file", body: body, timeout: 60), r.status == 201 {
                        latest.withLock { $0[key] = body }
                    }
                    if i % 5 == 0, let r = try? via.request("POST", "/v1/sessions/\(session)/fork", json: [:]),
                        let fork = (try? r.object())?["id"] as? String
                    {
                        _ = try? via.request("DELETE", "/v1/sessions/\(fork)")
                    }
                }
            }
        }
        var collections = 0
        var busy = 0
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let replies = Locked<[Int]>([])
            // Two collections asked at once, through two replicas: one runs, the other is told so.
            DispatchQueue.concurrentPerform(iterations: 2) { k in
                let status = (try? servers[k].request("POST", "/v1/store/gc", timeout: 120).status) ?? -1
                replies.withLock { $0.append(status) }
            }
            let statuses = replies.withLock { $0 }
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 409 } && statuses.contains(200), "\(statuses)")
            collections += statuses.filter { $0 == 200 }.count
            busy += statuses.filter { $0 == 409 }.count
        }
        stop.store(true, ordering: .releasing)
        writers.wait()
        #expect(collections >= 2)
        for (key, body) in latest.withLock({ $0 }) {
            let session = String(key.prefix { $0 != "/" })
            for s in servers {
                #expect(try s.request("GET", "/v1/sessions/\(session)/files/file").body == body, "\(key) through \(s.base)")
            }
        }
        _ = busy
        let verify = try servers[2].request("POST", "/v1/store/verify").object()
        #expect((verify["problems"] as? [Any])?.isEmpty == true, "\(verify)")
    }

    /// gRPC calls reach the replica that holds their session too: reads, streamed writes, stats
    /// and the changefeed through a replica that does not hold it.
    @Test func grpcCallsAreRelayedToTheReplicaThatHoldsTheSession() async throws {
        let (servers, root, _) = try Self.fleet(2)
        defer {
            for s in servers { s.stop() }
            try? FileManager.default.removeItem(atPath: root)
        }
        let (a, b) = (servers[0], servers[1])
        let id = try #require(try a.request("POST", "/v1/sessions", json: ["name": "grpc", "source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try a.request("PUT", "/v1/sessions/\(id)/files/held.txt", body: Data("written through a".utf8)).status == 201)  // a holds it
        let metadata = GRPCTests.auth(b.adminToken)
        try await GRPCTests().withClients(b) { clients in
            let (data, stat) = try await GRPCTests.read(clients, metadata, session: id, path: "/held.txt")
            #expect(String(decoding: data, as: UTF8.self) == "written through a" && stat.size == 17)
            try await GRPCTests.write(clients, metadata, session: id, path: "/streamed.bin", pieces: [Data(repeating: 7, count: 300_000), Data("end".utf8)])
            var request = Aether_V1_StatRequest()
            request.session = id
            request.path = "/streamed.bin"
            #expect(try await clients.files.stat(request, metadata: metadata).size == 300_003)
            var changes = Aether_V1_ListChangesRequest()
            changes.session = id
            let events = try await clients.coordination.listChanges(changes, metadata: metadata).events
            #expect(events.map(\.path).contains("/streamed.bin"))
        }
        #expect(try a.request("GET", "/v1/sessions/\(id)/files/streamed.bin").body == Data(repeating: 7, count: 300_000) + Data("end".utf8))
    }

    /// A fleet over TLS relays over TLS, HTTP and gRPC alike, and believes only the CA it was
    /// given: a replica told to trust another CA cannot reach the holder (503 naming it, gRPC
    /// UNAVAILABLE) and takes nothing over, and an unreadable --relay-ca stops the server at start.
    @Test func aFleetOverTLSRelaysOverTLSAndChecksTheHolder() async throws {
        let store = try ClusteredBackends.start().newStore()
        let root = "/var/tmp/afs-replicas-\(UUID().uuidString.prefix(8))"
        let strangers = try TestPKI(directory: root + "/other-ca", name: "a CA the fleet does not use")
        func replica(_ name: String, trusting ca: String) throws -> ServerHarness {
            let pair = try TestPKI.shared.issue("relay-\(name)-\(UUID().uuidString.prefix(6))")
            return try ServerHarness(
                data: root + "/" + name, arguments: store.arguments + ["--tls-cert", pair.certificatePath, "--tls-key", pair.keyPath, "--relay-ca", ca],
                environment: store.environment)
        }
        let a = try replica("a", trusting: TestPKI.shared.caPath)
        let b = try replica("b", trusting: TestPKI.shared.caPath)
        let c = try replica("c", trusting: strangers.caPath)
        defer {
            for s in [a, b, c] { s.stop() }
            try? FileManager.default.removeItem(atPath: root)
        }
        #expect(a.base.hasPrefix("https://") && b.base.hasPrefix("https://"))
        let id = try #require(try a.request("POST", "/v1/sessions", json: ["name": "tls", "source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try a.request("PUT", "/v1/sessions/\(id)/files/held.txt", body: Data("written through a".utf8)).status == 201)  // a holds it

        // HTTP through b: relayed to a over HTTPS (a is alive, so b cannot take the session).
        let read = try b.request("GET", "/v1/sessions/\(id)/files/held.txt")
        #expect(read.status == 200 && read.text == "written through a", "\(read.status) \(read.text)")
        #expect(try b.request("PUT", "/v1/sessions/\(id)/files/via-b.txt", body: Data("through b".utf8)).status == 201)

        // gRPC through b: relayed to a's gRPC listener over TLS.
        let metadata = GRPCTests.auth(b.adminToken)
        try await GRPCTests().withClients(b) { clients in
            let (data, _) = try await GRPCTests.read(clients, metadata, session: id, path: "/via-b.txt")
            #expect(String(decoding: data, as: UTF8.self) == "through b")
            try await GRPCTests.write(clients, metadata, session: id, path: "/grpc.txt", pieces: [Data("over tls".utf8)])
        }
        #expect(try a.request("GET", "/v1/sessions/\(id)/files/grpc.txt").text == "over tls")

        // c believes another CA: a's certificate is refused, so nothing is relayed to a, and since
        // a is alive c does not take the session either.
        let refused = try c.request("GET", "/v1/sessions/\(id)/files/held.txt")
        #expect(refused.status == 503 && refused.text.contains("certificate"), "\(refused.status) \(refused.text)")
        let grpcRefused = await GRPCTests.code {
            try await GRPCTests().withClients(c) { clients in
                _ = try await GRPCTests.read(clients, GRPCTests.auth(c.adminToken), session: id, path: "/held.txt")
            }
        }
        #expect(grpcRefused == .unavailable)
        #expect(try a.request("GET", "/v1/sessions/\(id)/files/held.txt").text == "written through a")

        // A --relay-ca that is not a PEM file of certificates is called out at start.
        try "not a certificate".write(toFile: root + "/bad-ca.pem", atomically: true, encoding: .utf8)
        let pair = try TestPKI.shared.issue("relay-bad-\(UUID().uuidString.prefix(6))")
        let bad = try TLSTests.startAndStop(["--tls-cert", pair.certificatePath, "--tls-key", pair.keyPath, "--relay-ca", root + "/bad-ca.pem"])
        #expect(bad.status == 1 && bad.stderr.contains("--relay-ca") && bad.stderr.contains("bad-ca.pem"), "\(bad)")
    }
}
