import AFSSupport
import AFSTestSupport
import Foundation
import Synchronization
import Testing

/// Which side of the network the store is on. The same tests run over both: one command set, two transports.
enum Transport: String, CaseIterable, CustomTestStringConvertible, Sendable {
    /// The store in process; afs-server on its embedded store; afs-server on PostgreSQL + S3;
    /// afs-server on its embedded store over HTTPS (the tests' CA in `AETHER_CA_CERT`).
    case embedded, remote, clustered, tls
    var testDescription: String { rawValue }

    static var allCases: [Transport] { [.embedded, .remote, .clustered] }
    /// Every store, and the remote one over TLS: for the lifecycle tests.
    static var withTLS: [Transport] { allCases + [.tls] }
}

/// Drives the real `aether` executable: arguments, stdin, stdout JSON, stderr and exit codes, on an
/// embedded store (`AFS_STORE`) or against a real afs-server (`AFS_AETHER_SERVER_ENDPOINT`, `AFS_TOKEN`).
final class CLI: @unchecked Sendable {
    // @unchecked: immutable after init; used by one test at a time.
    struct Run {
        var status: Int32
        var stdout: Data
        var stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
        func json() throws -> Any { try JSONSerialization.jsonObject(with: stdout) }
        func object() throws -> [String: Any] { try #require(try json() as? [String: Any], "not an object: \(text) \(stderr)") }
    }

    let transport: Transport
    /// The embedded store, or the server's data directory.
    let store: String
    let aether: String
    let server: ServerProcess?
    /// What selects the transport; each side blanks the other's variable.
    let environment: [String: String]

    init(_ transport: Transport) throws {
        self.transport = transport
        aether = ServerProcess.productsDirectory(containing: "aether") + "/aether"
        try #require(FileManager.default.isExecutableFile(atPath: aether), "build the aether executable first")
        switch transport {
        case .embedded:
            store = "/var/tmp/afs-cli-\(UUID().uuidString.prefix(8))"
            server = nil
            environment = ["AFS_STORE": store, "AFS_AETHER_SERVER_ENDPOINT": "", "AFS_TOKEN": ""]
        case .remote, .clustered, .tls:
            let s = try ServerProcess(backend: transport == .clustered ? .clustered : transport == .tls ? .tls : .embedded)
            server = s
            store = s.data
            environment = ["AFS_STORE": "", "AFS_AETHER_SERVER_ENDPOINT": s.base, "AFS_TOKEN": s.adminToken, "AETHER_CA_CERT": s.caCertificate ?? ""]
        }
    }

    deinit {
        server?.stop()
        try? FileManager.default.removeItem(atPath: store)
    }

    /// The selecting variables, plus a config path that does not exist so a developer's own
    /// ~/.config/aether/config.toml cannot leak into the tests.
    var baseEnvironment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["AETHER_CONFIG"] = store + "-no-config.toml"
        for (k, v) in environment { env[k] = v }
        return env
    }

    @discardableResult
    func run(_ args: [String], stdin: Data? = nil, env: [String: String] = [:]) throws -> Run {
        var environment = baseEnvironment
        for (k, v) in env { environment[k] = v }
        let r = try ChildProcess.run(aether, args, environment: environment, stdin: stdin)
        return Run(status: r.status, stdout: r.stdout, stderr: String(decoding: r.stderr, as: UTF8.self))
    }
}

@Suite(.offCooperativePool) struct CLITests {
    @Test(arguments: Transport.withTLS) func sessionLifecycleThroughTheCLI(_ transport: Transport) throws {
        let cli = try CLI(transport)
        let store = cli.store
        let created = try cli.run(["session", "create", "--name", "base", "--blank", "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        let id = try #require(try created.object()["id"] as? String)

        let payload = Data((0..<5000).map { UInt8($0 % 251) })
        #expect(try cli.run(["fs", "write", id, "/src/data.bin"], stdin: payload).status == 0)
        #expect(try cli.run(["fs", "write", id, "/README.md"], stdin: Data("hello\n".utf8)).status == 0)
        #expect(try cli.run(["fs", "cat", id, "/src/data.bin"]).stdout == payload)
        // Several files: one batched read, concatenated as cat(1) does; what is no file is named.
        #expect(try cli.run(["fs", "cat", id, "/README.md", "src/data.bin", "/README.md"]).stdout == Data("hello\n".utf8) + payload + Data("hello\n".utf8))
        let partly = try cli.run(["fs", "cat", id, "/README.md", "/src", "/nope", "/src/data.bin"])
        #expect(partly.status == 3 && partly.stdout == Data("hello\n".utf8) + payload, "\(partly.status) \(partly.stderr)")
        #expect(partly.stderr.contains("/src, /nope"), "\(partly.stderr)")
        #expect(try cli.run(["fs", "cat", id, "/README.md", "/../x"]).status != 0)
        #expect(try cli.run(["fs", "mkdir", id, "/docs"]).status == 0)
        #expect(try cli.run(["fs", "mv", id, "/README.md", "/docs/README.md"]).status == 0)
        let ls = try cli.run(["fs", "ls", id, "/", "--json"])
        let names = try #require(try ls.json() as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(names == ["docs", "src"])
        let stat = try cli.run(["fs", "stat", id, "/docs/README.md", "--json"]).object()
        #expect(stat["size"] as? Int == 6)
        #expect(stat["kind"] as? String == "file")

        let ckp = try cli.run(["session", "checkpoint", id, "--json"]).object()["id"] as? String
        let fork = try #require(try cli.run(["session", "fork", id, "--json"]).object()["id"] as? String)
        #expect(try cli.run(["fs", "rm", fork, "/src/data.bin"]).status == 0)
        #expect(try cli.run(["fs", "write", fork, "/new.txt"], stdin: Data("n".utf8)).status == 0)
        let diff = try #require(try cli.run(["session", "diff", fork, "--against", id, "--json"]).json() as? [[String: Any]])
        let changes = Dictionary(uniqueKeysWithValues: diff.map { ($0["path"] as! String, $0["change"] as! String) })
        #expect(changes == ["/new.txt": "added", "/src/data.bin": "deleted"])

        let commit = try #require(try cli.run(["session", "commit", fork, "-m", "first", "--json"]).object()["id"] as? String)
        #expect(commit.count == 64)
        #expect(try cli.run(["session", "promote", fork, "--ref", "main", "--json"]).object()["outcome"] as? String == "created")
        // The ref's history, as text and as JSON.
        let log = try cli.run(["log", "main"])
        #expect(log.status == 0 && log.text.hasPrefix(String(commit.prefix(12))) && log.text.contains("first"), "\(log.text)\(log.stderr)")
        let logged = try #require(try cli.run(["log", "main", "--json"]).json() as? [[String: Any]])
        #expect(logged.map { $0["id"] as? String } == [commit])
        #expect(try cli.run(["log", "no-such-ref"]).status == 3)
        #expect(try cli.run(["session", "restore", id, try #require(ckp)]).status == 0)

        let tarPath = store + "-export.tar"
        defer { unlink(tarPath) }
        #expect(try cli.run(["session", "export", fork, "-o", tarPath]).status == 0)
        let imported = try #require(try cli.run(["session", "create", "--from-tar", tarPath, "--json"]).object()["id"] as? String)
        #expect((try cli.run(["session", "diff", imported, "--against", fork, "--json"]).json() as? [Any])?.isEmpty == true)

        #expect(try cli.run(["snapshot", "create", id, "--name", "template"]).status == 0)
        #expect(try cli.run(["session", "create", "--from-snapshot", "template", "--json"]).status == 0)

        let stats = try cli.run(["store", "stats", "--json"]).object()
        for key in ["logical_bytes", "physical_bytes", "chunks", "sessions"] { #expect(stats[key] != nil, "stats lacks \(key)") }
        #expect(stats["sessions"] as? Int == 4)
        #expect(try cli.run(["store", "gc", "--json"]).status == 0)
        let verify = try cli.run(["store", "verify", "--json"])
        #expect(verify.status == 0)
        #expect((try verify.object()["problems"] as? [Any])?.isEmpty == true)

        // A local directory becomes a session on either side (streamed as a tar when remote).
        let dir = store + "-src"
        try FileManager.default.createDirectory(atPath: dir + "/sub/empty", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: URL(fileURLWithPath: dir + "/run.sh"))
        chmod(dir + "/run.sh", 0o755)
        try Data("nested".utf8).write(to: URL(fileURLWithPath: dir + "/sub/n.txt"))
        symlink("sub/n.txt", dir + "/link")
        let fromDir = try #require(try cli.run(["session", "create", "--from-dir", dir, "--json"]).object()["id"] as? String)
        let manifest = try #require(try cli.run(["session", "manifest", fromDir, "--json"]).json() as? [[String: Any]])
        let byPath = Dictionary(uniqueKeysWithValues: manifest.map { ($0["path"] as? String ?? "", $0) })
        #expect(byPath["/run.sh"]?["mode"] as? Int == 0o755)
        #expect(byPath["/link"]?["target"] as? String == "sub/n.txt")
        #expect(try cli.run(["fs", "stat", fromDir, "/sub/empty", "--json"]).object()["kind"] as? String == "directory")
        #expect(try cli.run(["fs", "cat", fromDir, "/sub/n.txt"]).text == "nested")
        let missingDir = try cli.run(["session", "create", "--from-dir", dir + "/nope"])
        #expect(missingDir.status == 3)
        #expect(try cli.run(["session", "archive", fork]).status == 0)
        let refused = try cli.run(["fs", "write", fork, "/x"], stdin: Data("x".utf8))
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("archived"))
    }

    @Test(arguments: Transport.allCases) func errorsHaveExitCodesAndOneLine(_ transport: Transport) throws {
        let cli = try CLI(transport)
        let missing = try cli.run(["session", "get", "ses_doesnotexist"])
        #expect(missing.status == 3)
        #expect(missing.stderr.hasPrefix("error: "))
        #expect(missing.stderr.split(separator: "\n").count == 1)
        let json = try cli.run(["session", "get", "ses_doesnotexist", "--json"])
        let body = try #require(try JSONSerialization.jsonObject(with: Data(json.stderr.utf8)) as? [String: Any])
        #expect((body["error"] as? [String: Any])?["code"] as? String == "not_found")
        let id = try #require(try cli.run(["session", "create", "--blank", "--json"]).object()["id"] as? String)
        let hostile = try cli.run(["fs", "write", id, "../escape"], stdin: Data("x".utf8))
        #expect(hostile.status == 5)
        #expect(hostile.stderr.contains(".."))
        let noStore = try cli.run(["session", "list"], env: ["AFS_STORE": "", "AFS_AETHER_SERVER_ENDPOINT": ""])
        #expect(noStore.status != 0)
        #expect(noStore.stderr.contains("--store"))
        let twoSources = try cli.run(["session", "create", "--blank", "--from-dir", "/tmp"])
        #expect(twoSources.status == 64 || twoSources.status == 2 || twoSources.status == 1)
        #expect(twoSources.stderr.contains("exactly one source"))
        let help = try cli.run(["--help"])
        #expect(help.text.contains("session"))
    }
}

/// What exists only against a server: tokens, tenants and roles.
@Suite(.offCooperativePool) struct RemoteCLITests {
    @Test func tokensTenantsAndRolesThroughTheCLI() throws {
        let cli = try CLI(.remote)
        let acme = try cli.run(["token", "create", "--tenant", "acme", "--role", "writer", "--label", "ci", "--json"]).object()
        let acmeToken = try #require(acme["token"] as? String)
        let acmeID = try #require(acme["id"] as? String)
        let reader = try #require(try cli.run(["token", "create", "--tenant", "acme", "--role", "reader"]).text.split(separator: "\n").first.map(String.init))
        let other = try #require(try cli.run(["token", "create", "--tenant", "globex", "--json"]).object()["token"] as? String)

        let id = try #require(try cli.run(["session", "create", "--blank", "--json"], env: ["AFS_TOKEN": acmeToken]).object()["id"] as? String)
        #expect(try cli.run(["fs", "write", id, "/a.txt"], stdin: Data("a".utf8), env: ["AFS_TOKEN": acmeToken]).status == 0)
        #expect(try cli.run(["fs", "cat", id, "/a.txt", "--token", reader]).text == "a")
        // A reader cannot write; another tenant cannot even see the session.
        #expect(try cli.run(["fs", "write", id, "/b.txt", "--token", reader], stdin: Data("b".utf8)).status == 11)
        let hidden = try cli.run(["session", "get", id, "--token", other])
        #expect(hidden.status == 3)
        #expect(try cli.run(["session", "list", "--json", "--token", other]).json() as? [Any] != nil)
        #expect((try cli.run(["session", "list", "--json", "--token", other]).json() as? [Any])?.isEmpty == true)
        // Store maintenance is the server admin's.
        #expect(try cli.run(["store", "gc", "--token", acmeToken]).status == 11)

        let listed = try #require(try cli.run(["token", "list", "--json"]).json() as? [[String: Any]])
        #expect(listed.contains { $0["id"] as? String == acmeID && $0["tenant"] as? String == "acme" && $0["token"] == nil })
        #expect(try cli.run(["token", "revoke", acmeID]).status == 0)
        let revoked = try cli.run(["session", "list", "--token", acmeToken])
        #expect(revoked.status == 11)
        #expect(revoked.stderr.contains("--token"))

        // Tokens need a server; an embedded store says so.
        let embedded = try cli.run(["token", "list"], env: ["AFS_STORE": cli.store + "-embedded", "AFS_AETHER_SERVER_ENDPOINT": ""])
        #expect(embedded.status == 5)
        #expect(embedded.stderr.contains("--endpoint"))
        // An endpoint with nothing behind it: exit 12 and what to do.
        let down = try cli.run(["session", "list"], env: ["AFS_AETHER_SERVER_ENDPOINT": "http://127.0.0.1:9"])
        #expect(down.status == 12)
        #expect(down.stderr.contains("cannot reach"))
    }

    @Test func configFileSelectsTheServer() throws {
        let cli = try CLI(.remote)
        let config = cli.store + "-config.toml"
        defer { unlink(config) }
        let server = try #require(cli.server)
        try Data("[bridge]\nserver_endpoint = \"\(server.base)\"\ntoken = \"\(server.adminToken)\"\n".utf8).write(to: URL(fileURLWithPath: config))
        let env = ["AETHER_CONFIG": config, "AFS_AETHER_SERVER_ENDPOINT": "", "AFS_TOKEN": "", "AFS_STORE": ""]
        let created = try cli.run(["session", "create", "--blank", "--json"], env: env)
        #expect(created.status == 0, "\(created.stderr)")
        try Data("[bridge\n".utf8).write(to: URL(fileURLWithPath: config))
        let broken = try cli.run(["session", "list"], env: env)
        #expect(broken.status == 5)
        #expect(broken.stderr.contains("line 1"))
    }
}

/// The coordination commands, end to end through the executable.
@Suite(.offCooperativePool) struct CoordinationCLITests {
    @Test(arguments: Transport.allCases) func leasesFencingBusReviewKnowledgeUndo(_ transport: Transport) throws {
        let base = try CLI(transport)
        let id = try #require(try base.run(["session", "create", "--blank", "--json"]).object()["id"] as? String)
        #expect(try base.run(["fs", "write", id, "/src/a.c", "--actor", "alice"], stdin: Data("int a;\n".utf8)).status == 0)
        let ckp = try #require(try base.run(["session", "checkpoint", id, "--json"]).object()["id"] as? String)

        // Lease + fencing token.
        let lease = try base.run(["lock", "acquire", id, "/src", "--exclusive", "--ttl", "30", "--actor", "alice", "--json"]).object()
        let token = try #require(lease["token"] as? Int)
        let refused = try base.run(["fs", "write", id, "/src/a.c", "--actor", "bob"], stdin: Data("x".utf8))
        #expect(refused.status == 10)
        #expect(refused.stderr.contains("exclusive lease"))
        #expect(try base.run(["fs", "write", id, "/src/a.c", "--actor", "alice", "--lock-token", "\(token)"], stdin: Data("int b;\n".utf8)).status == 0)
        let stale = try base.run(["fs", "write", id, "/src/a.c", "--lock-token", "\(token + 1000)"], stdin: Data("x".utf8))
        #expect(stale.status == 10)
        #expect(try base.run(["lock", "list", id, "--json"]).json() as? [Any] != nil)
        #expect(try base.run(["lock", "renew", id, "\(token)", "--ttl", "10"]).status == 0)
        #expect(try base.run(["lock", "release", id, "\(token)"]).status == 0)
        #expect(try base.run(["fs", "write", id, "/src/new.c", "--actor", "alice"], stdin: Data("new".utf8)).status == 0)

        // Changefeed with a cursor.
        let all = try #require(try base.run(["changes", id, "--json"]).json() as? [[String: Any]])
        #expect(all.map { $0["seq"] as? Int } == Array(1...all.count).map { Optional($0) })
        let tail = try #require(try base.run(["changes", id, "--since", "\(all.count - 1)", "--json"]).json() as? [[String: Any]])
        #expect(tail.count == 1 && tail[0]["path"] as? String == "/src/new.c" && tail[0]["actor"] as? String == "alice")
        let log = try base.run(["session", "log", id, "--actor", "alice"])
        #expect(log.text.contains("/src/new.c"))

        // Bus.
        #expect(try base.run(["bus", "publish", id, "tasks", "--data", "{\"task\":1}"]).status == 0)
        #expect(try base.run(["bus", "publish", id, "tasks"], stdin: Data("{\"task\":2}".utf8)).status == 0)
        #expect(try base.run(["bus", "publish", id, "tasks", "--data", "{oops"]).status == 5)
        let msgs = try #require(try base.run(["bus", "read", id, "tasks", "--from", "2", "--json"]).json() as? [[String: Any]])
        #expect(msgs.count == 1 && msgs[0]["payload"] as? String == "{\"task\":2}")

        // Annotations.
        #expect(try base.run(["annotate", id, "--path", "/src/a.c", "--lines", "1-1", "--kind", "evidence", "-m", "declares b"]).status == 0)
        let notes = try #require(try base.run(["annotations", id, "--kind", "evidence", "--json"]).json() as? [[String: Any]])
        #expect(notes.count == 1 && notes[0]["line_start"] as? Int == 1)

        // Review gating promote.
        #expect(try base.run(["session", "commit", id, "-m", "work"]).status == 0)
        #expect(try base.run(["ref", "policy", "main", "--require-approvals", "1"]).status == 0)
        #expect(try base.run(["session", "promote", id, "--ref", "main"]).status == 11)
        #expect(try base.run(["review", "request", id, "--reviewer", "lead"]).status == 0)
        #expect(try base.run(["review", "approve", id, "-m", "ok", "--actor", "intruder"]).status == 11)
        #expect(try base.run(["review", "approve", id, "-m", "ok", "--actor", "lead", "--json"]).object()["status"] as? String == "approved")
        #expect(try base.run(["session", "promote", id, "--ref", "main", "--json"]).object()["outcome"] as? String == "created")

        // Knowledge.
        #expect(try base.run(["knowledge", "put", "build/cmd", "\"make\"", "--tag", "build"]).status == 0)
        #expect(try base.run(["knowledge", "get", "build/cmd"]).text == "\"make\"\n")
        #expect(try base.run(["knowledge", "ls", "--tag", "build", "--json"]).json() as? [Any] != nil)
        #expect(try base.run(["knowledge", "rm", "build/cmd"]).status == 0)
        #expect(try base.run(["knowledge", "get", "build/cmd"]).status == 3)

        // Undo alice's work since the checkpoint.
        let undo = try base.run(["session", "undo", id, "--actor", "alice", "--since", ckp, "--json"]).object()
        #expect((undo["restored"] as? [String]) == ["/src/a.c"])
        #expect((undo["removed"] as? [String]) == ["/src/new.c"])
        #expect(try base.run(["fs", "cat", id, "/src/a.c"]).text == "int a;\n")
    }

    @Test(arguments: Transport.allCases) func followPrintsEventsAsTheyArrive(_ transport: Transport) throws {
        let base = try CLI(transport)
        let id = try #require(try base.run(["session", "create", "--blank", "--json"]).object()["id"] as? String)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: base.aether)
        p.arguments = ["changes", id, "--since", "1", "--follow", "--json"]
        p.environment = base.baseEnvironment
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        // The follower's output is collected as it arrives and the test waits for
        // the two events with a generous deadline: a fixed sleep was too short on
        // a loaded two-core CI machine, where starting the follower alone can take
        // longer than a second.
        let received = Locked(Data())
        out.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            received.withLock { $0.append(chunk) }
        }
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        // A write the service refuses as unavailable ("nothing was written … retry": a clustered
        // replica re-taking its claim under CI load) is retried, as the message says; the events
        // of the writes that land are what this test checks.
        func write(_ path: String, _ text: String) throws -> CLI.Run {
            var last = try base.run(["fs", "write", id, path], stdin: Data(text.utf8))
            for _ in 0..<5 where last.status != 0 && last.stderr.lowercased().contains("retry") {
                usleep(500_000)
                last = try base.run(["fs", "write", id, path], stdin: Data(text.utf8))
            }
            return last
        }
        let one = try write("/one", "1")
        #expect(one.status == 0, "\(one.stderr)")
        let two = try write("/two", "2")
        #expect(two.status == 0, "\(two.stderr)")
        func paths() -> [String] {
            let text = received.withLock { String(decoding: $0, as: UTF8.self) }
            return text.split(separator: "\n").compactMap { line -> String? in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["path"] as? String
            }
        }
        let deadline = Date().addingTimeInterval(30)
        while paths().count < 2, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        // A moment more, so an event that should not be there has time to show.
        Thread.sleep(forTimeInterval: 0.3)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        let paths = paths()
        #expect(paths == ["/one", "/two"])
    }
}
