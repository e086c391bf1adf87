import AFSCore
import AFSObjectStore
import AFSTestSupport
import Dispatch
import Foundation
import Testing

/// afs-server with `--objects s3://…` on a real S3 server (SeaweedFS via scripts/seaweedfs.sh):
/// what it acknowledges is in the bucket and survives kill -9, and a bucket that is missing,
/// credentials that are wrong or an endpoint that is down stop it at start with a message that
/// says which.
@Suite(.offCooperativePool, .serialized) struct ObjectStorageServerTests {
    static func afsServer(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
        let exe = ServerProcess.productsDirectory() + "/afs-server"
        var env = ProcessInfo.processInfo.environment
        // An empty value removes the variable.
        for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
        let r = try ChildProcess.run(exe, arguments, environment: env, mergeStderr: true)
        return (r.status, String(decoding: r.stdout, as: UTF8.self))
    }

    @Test func acknowledgedWritesLiveInTheBucketAndSurviveKill9() throws {
        let s3 = try BackendProcess(.seaweedfs)
        defer { s3.stop() }
        let url = "s3://aether-server/prod?endpoint=\(s3.value("S3_ENDPOINT"))"
        let credentials = ["AWS_ACCESS_KEY_ID": s3.value("S3_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY": s3.value("S3_SECRET_KEY")]
        let data = "/var/tmp/afs-srv-s3-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: data) }
        let arguments = ["--data", data, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--objects", url]

        // The bucket does not exist yet: a clear refusal, before anything listens.
        let missing = try Self.afsServer(arguments, environment: credentials)
        #expect(missing.status == 1 && missing.output.contains("bucket 'aether-server' does not exist"), "\(missing.output)")
        let client = S3Client(location: try S3Location(url: url), credentials: .init(accessKeyID: s3.value("S3_ACCESS_KEY"), secretAccessKey: s3.value("S3_SECRET_KEY")))
        try client.createBucket()
        // Wrong credentials and no credentials: refused, naming what to set. The secret never shows.
        let wrong = try Self.afsServer(arguments, environment: ["AWS_ACCESS_KEY_ID": s3.value("S3_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY": "wrong-secret-123"])
        #expect(wrong.status == 1 && wrong.output.contains("AWS_SECRET_ACCESS_KEY") && !wrong.output.contains("wrong-secret-123"), "\(wrong.output)")
        let none = try Self.afsServer(arguments, environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""])
        #expect(none.status == 1 && none.output.contains("credentials"), "\(none.output)")

        // A write storm, acknowledged, then SIGKILL.
        let first = try ServerHarness(data: data, arguments: ["--objects", url], environment: credentials)
        // A console sign-in lives in the catalog, so it outlives the server that opened it.
        let signIn = try first.request("POST", "/console/sign-in", token: "", body: Data("token=\(first.adminToken)".utf8))
        let cookie = try #require(ConsoleTests.setCookie(signIn).map(ConsoleTests.cookieValue), "\(signIn.headers)")
        let id = try #require(try first.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        let large = Data((0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 11) })
        let acknowledged = ResultSet()
        DispatchQueue.concurrentPerform(iterations: 4) { writer in
            for i in 0..<15 {
                let body = i % 5 == 0 ? large + Data("\(writer)-\(i)".utf8) : Data("writer \(writer) file \(i)".utf8)
                if let r = try? first.request("PUT", "/v1/sessions/\(id)/files/w\(writer)/f\(i)", body: body), r.status == 201 {
                    acknowledged.insert("/w\(writer)/f\(i)", body)
                }
            }
        }
        let fork = try first.request("POST", "/v1/sessions/\(id)/fork", json: [:])
        #expect(fork.status == 201, "\(fork.text)")
        #expect(try first.request("POST", "/v1/sessions/\(id)/checkpoints", json: [:]).status == 201)
        #expect(acknowledged.count == 60)
        kill(first.pid, SIGKILL)
        first.process.waitUntilExit()
        #expect(try client.list(prefix: "packs/").contains { $0.key.hasSuffix(".pack") }, "the records are in the bucket")

        let server = try ServerHarness(data: data, arguments: ["--objects", url], environment: credentials)
        defer { server.stop() }
        for (path, body) in acknowledged.all {
            #expect(try server.request("GET", "/v1/sessions/\(id)/files" + path).body == body, "\(path) after kill -9")
        }
        let verify = try server.request("POST", "/v1/store/verify").object()
        #expect((verify["problems"] as? [Any])?.isEmpty == true, "\(verify)")

        // A second store pointed at the same prefix is refused: its GC would delete this one's packs.
        let intruder = "/var/tmp/afs-srv-s3-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: intruder) }
        let shared = try Self.afsServer(["--data", intruder, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--objects", url], environment: credentials)
        #expect(shared.status == 1 && shared.output.contains("belongs to another store"), "\(shared.output)")

        // S3 down: the next start says so.
        server.stop()
        s3.stop(keep: true)
        let down = try Self.afsServer(arguments, environment: credentials)
        #expect(down.status == 1 && down.output.contains("cannot reach S3"), "\(down.output)")
    }

    /// afs-server on the clustered backend (`--catalog postgres://… --objects s3://…`): migrate,
    /// a write storm with forks and checkpoints killed with SIGKILL, then a server on another data
    /// directory (another machine) finds every acknowledged write; each server joins as a replica; an
    /// unreachable PostgreSQL stops the start with a message that says what to check.
    @Test func clusteredServerSurvivesKill9AndMovesToAnotherMachine() throws {
        let backends = try ClusteredBackends.start()
        let store = try backends.newStore()
        let catalog = try #require(store.arguments.firstIndex(of: "--catalog").map { store.arguments[$0 + 1] })
        let root = "/var/tmp/afs-srv-pg-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }

        let migrate = try Self.afsServer(["migrate", "--catalog", catalog, "--json"], environment: [:])
        #expect(migrate.status == 0 && migrate.output.contains(#""schema_version":5"#), "\(migrate.output)")
        let port = Int(backends.postgres.value("PG_PORT")) ?? 5432
        let nowhere = "postgres://postgres@127.0.0.1:\(port == 65535 ? 65534 : port + 1)/x?sslmode=disable"
        let down = try Self.afsServer(
            ["--data", root + "/x", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--catalog", nowhere, "--catalog-wait", "0"], environment: [:])
        #expect(down.status == 1 && down.output.contains("cannot be reached") && down.output.contains("--catalog"), "\(down.output)")
        let bad = try Self.afsServer(["--data", root + "/x", "--catalog", nowhere, "--catalog-wait", "soon"], environment: [:])
        #expect(bad.status != 0 && bad.output.contains("--catalog-wait"), "\(bad.output)")

        let first = try ServerHarness(data: root + "/a", arguments: store.arguments, environment: store.environment)
        // A second server on the same catalog joins it as a replica (ReplicaTests).
        #expect(first.server.banner.contains("replica r-") && first.server.banner.contains("reached at http://127.0.0.1:"), "\(first.server.banner)")

        // A console sign-in lives in the catalog, so it outlives the server that opened it.
        let signIn = try first.request("POST", "/console/sign-in", token: "", body: Data("token=\(first.adminToken)".utf8))
        let cookie = try #require(ConsoleTests.setCookie(signIn).map(ConsoleTests.cookieValue), "\(signIn.headers)")
        let id = try #require(try first.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        let large = Data((0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 11) })
        let acknowledged = ResultSet()
        let forks = ResultSet()
        // What went wrong with a request that was not acknowledged, for the failure message.
        let refused = ResultSet()
        @Sendable func outcome(_ what: String, _ r: Result<ServerHarness.Reply, any Error>) {
            switch r {
            case .success(let response): refused.insert("\(what): \(response.status) \(response.text.prefix(200))", Data())
            case .failure(let error): refused.insert("\(what): \(error)", Data())
            }
        }
        DispatchQueue.concurrentPerform(iterations: 4) { writer in
            for i in 0..<15 {
                let body = i % 5 == 0 ? large + Data("\(writer)-\(i)".utf8) : Data("writer \(writer) file \(i)".utf8)
                let put = Result { try first.request("PUT", "/v1/sessions/\(id)/files/w\(writer)/f\(i)", body: body) }
                if case .success(let r) = put, r.status == 201 {
                    acknowledged.insert("/w\(writer)/f\(i)", body)
                } else {
                    outcome("PUT /w\(writer)/f\(i)", put)
                }
                if i % 7 == 3 {
                    let fork = Result { try first.request("POST", "/v1/sessions/\(id)/fork", json: [:]) }
                    if case .success(let r) = fork, r.status == 201, let forkID = (try? r.object())?["id"] as? String {
                        forks.insert(forkID, Data())
                    } else {
                        outcome("fork", fork)
                    }
                }
                if i % 7 == 5 { _ = try? first.request("POST", "/v1/sessions/\(id)/checkpoints", json: [:]) }
            }
        }
        #expect(acknowledged.count == 60 && forks.count == 8, "not acknowledged: \(refused.all.keys.sorted())")
        kill(first.pid, SIGKILL)
        first.process.waitUntilExit()

        // Another machine: a new data directory, the same two backends.
        let server = try ServerHarness(data: root + "/c", arguments: store.arguments, environment: store.environment)
        defer { server.stop() }
        #expect(try server.request("GET", "/v1/sessions/\(id)", token: "", headers: ["Cookie": cookie]).status == 200, "the console sign-in on the new server")
        for (path, body) in acknowledged.all {
            #expect(try server.request("GET", "/v1/sessions/\(id)/files" + path).body == body, "\(path) after kill -9, on another machine")
        }
        for fork in forks.all.keys {
            #expect(try server.request("GET", "/v1/sessions/\(fork)").status == 200, "fork \(fork) survives")
        }
        #expect(try server.request("GET", "/v1/sessions/\(id)/checkpoints").array().count >= 4)
        let verify = try server.request("POST", "/v1/store/verify").object()
        #expect((verify["problems"] as? [Any])?.isEmpty == true, "\(verify)")
    }

    /// A server started before its database (a container set, a machine booting) waits for it,
    /// saying so on stderr, and serves once it answers; the wait is bounded (above: it fails
    /// after `--catalog-wait`).
    @Test func aServerStartedBeforeItsDatabaseWaitsForIt() throws {
        let backends = try ClusteredBackends.start()
        let store = try backends.newStore()
        let pgPort = Int(backends.postgres.value("PG_PORT")) ?? 5432
        // A port nothing listens on yet; the forwarder takes it over later.
        let reserved = try TCPForwarder(to: pgPort)
        let port = reserved.port
        reserved.stop()
        var arguments = store.arguments
        let i = try #require(arguments.firstIndex(of: "--catalog"))
        arguments[i + 1] = arguments[i + 1].replacingOccurrences(of: "127.0.0.1:\(pgPort)/", with: "127.0.0.1:\(port)/")
        #expect(arguments[i + 1].contains(":\(port)/"), "\(arguments[i + 1])")
        let data = "/var/tmp/afs-srv-wait-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: data) }
        let forwarder = ForwarderSlot()
        // The database appears once the server has said it is waiting for it (a first attempt
        // gives up after the connect timeout, 5 s).
        DispatchQueue.global().async {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let log = (try? String(contentsOfFile: data + "/stderr.log", encoding: .utf8)) ?? ""
                if log.contains("waiting for the catalog (attempt 2)") { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            forwarder.set(try? TCPForwarder(port: port, to: pgPort))
        }
        defer { forwarder.stop() }
        let server = try ServerHarness(data: data, arguments: arguments + ["--catalog-wait", "60"], environment: store.environment)
        defer { server.stop() }
        #expect(forwarder.started, "the server answered before its database did")
        let errors = try String(contentsOfFile: data + "/stderr.log", encoding: .utf8)
        #expect(errors.contains("waiting for the catalog (attempt 2)"), "\(errors)")
        let created = try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]])
        #expect(created.status == 201, "\(created.text)")
    }

    final class ForwarderSlot: @unchecked Sendable {
        // @unchecked: the forwarder is only touched under the lock.
        private let lock = NSLock()
        private var forwarder: TCPForwarder?
        func set(_ f: TCPForwarder?) { lock.withLock { forwarder = f } }
        var started: Bool { lock.withLock { forwarder != nil } }
        func stop() { lock.withLock { forwarder?.stop() } }
    }

    final class ResultSet: @unchecked Sendable {
        // @unchecked: every access to `files` holds `lock`.
        private let lock = NSLock()
        private var files: [String: Data] = [:]
        func insert(_ path: String, _ body: Data) { lock.withLock { files[path] = body } }
        var count: Int { lock.withLock { files.count } }
        var all: [String: Data] { lock.withLock { files } }
    }
}
