import Foundation
import Testing

/// Drives the real `aether` executable: arguments, stdin, stdout JSON, stderr and exit codes.
@Suite struct CLITests {
    struct Run {
        var status: Int32
        var stdout: Data
        var stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
        func json() throws -> Any { try JSONSerialization.jsonObject(with: stdout) }
        func object() throws -> [String: Any] { try #require(try json() as? [String: Any]) }
    }

    let store: String
    let aether: String

    init() throws {
        store = "/var/tmp/afs-cli-\(UUID().uuidString.prefix(8))"
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var dir = (exe as NSString).deletingLastPathComponent
        while !FileManager.default.isExecutableFile(atPath: dir + "/aether") && dir != "/" {
            dir = (dir as NSString).deletingLastPathComponent
        }
        aether = dir + "/aether"
        try #require(FileManager.default.isExecutableFile(atPath: aether), "build the aether executable first")
    }

    @discardableResult
    func run(_ args: [String], stdin: Data? = nil, env: [String: String] = [:]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: aether)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment["AFS_STORE"] = store
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        if let stdin {
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: o, stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func sessionLifecycleThroughTheCLI() throws {
        defer { try? FileManager.default.removeItem(atPath: store) }
        let created = try run(["session", "create", "--name", "base", "--blank", "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        let id = try #require(try created.object()["id"] as? String)

        let payload = Data((0..<5000).map { UInt8($0 % 251) })
        #expect(try run(["fs", "write", id, "/src/data.bin"], stdin: payload).status == 0)
        #expect(try run(["fs", "write", id, "/README.md"], stdin: Data("hello\n".utf8)).status == 0)
        #expect(try run(["fs", "cat", id, "/src/data.bin"]).stdout == payload)
        #expect(try run(["fs", "mkdir", id, "/docs"]).status == 0)
        #expect(try run(["fs", "mv", id, "/README.md", "/docs/README.md"]).status == 0)
        let ls = try run(["fs", "ls", id, "/", "--json"])
        let names = try #require(try ls.json() as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(names == ["docs", "src"])
        let stat = try run(["fs", "stat", id, "/docs/README.md", "--json"]).object()
        #expect(stat["size"] as? Int == 6)
        #expect(stat["kind"] as? String == "file")

        let ckp = try run(["session", "checkpoint", id, "--json"]).object()["id"] as? String
        let fork = try #require(try run(["session", "fork", id, "--json"]).object()["id"] as? String)
        #expect(try run(["fs", "rm", fork, "/src/data.bin"]).status == 0)
        #expect(try run(["fs", "write", fork, "/new.txt"], stdin: Data("n".utf8)).status == 0)
        let diff = try #require(try run(["session", "diff", fork, "--against", id, "--json"]).json() as? [[String: Any]])
        let changes = Dictionary(uniqueKeysWithValues: diff.map { ($0["path"] as! String, $0["change"] as! String) })
        #expect(changes == ["/new.txt": "added", "/src/data.bin": "deleted"])

        let commit = try #require(try run(["session", "commit", fork, "-m", "first", "--json"]).object()["id"] as? String)
        #expect(commit.count == 64)
        #expect(try run(["session", "promote", fork, "--ref", "main", "--json"]).object()["outcome"] as? String == "created")
        #expect(try run(["session", "restore", id, try #require(ckp)]).status == 0)

        let tarPath = store + "-export.tar"
        defer { unlink(tarPath) }
        #expect(try run(["session", "export", fork, "-o", tarPath]).status == 0)
        let imported = try #require(try run(["session", "create", "--from-tar", tarPath, "--json"]).object()["id"] as? String)
        #expect((try run(["session", "diff", imported, "--against", fork, "--json"]).json() as? [Any])?.isEmpty == true)

        #expect(try run(["snapshot", "create", id, "--name", "template"]).status == 0)
        #expect(try run(["session", "create", "--from-snapshot", "template", "--json"]).status == 0)

        let stats = try run(["store", "stats", "--json"]).object()
        for key in ["logical_bytes", "physical_bytes", "chunks", "sessions"] { #expect(stats[key] != nil, "stats lacks \(key)") }
        #expect(stats["sessions"] as? Int == 4)
        #expect(try run(["store", "gc", "--json"]).status == 0)
        let verify = try run(["store", "verify", "--json"])
        #expect(verify.status == 0)
        #expect((try verify.object()["problems"] as? [Any])?.isEmpty == true)
        #expect(try run(["session", "archive", fork]).status == 0)
        let refused = try run(["fs", "write", fork, "/x"], stdin: Data("x".utf8))
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("archived"))
    }

    @Test func errorsHaveExitCodesAndOneLine() throws {
        defer { try? FileManager.default.removeItem(atPath: store) }
        let missing = try run(["session", "get", "ses_doesnotexist"])
        #expect(missing.status == 3)
        #expect(missing.stderr.hasPrefix("error: "))
        #expect(missing.stderr.split(separator: "\n").count == 1)
        let json = try run(["session", "get", "ses_doesnotexist", "--json"])
        let body = try #require(try JSONSerialization.jsonObject(with: Data(json.stderr.utf8)) as? [String: Any])
        #expect((body["error"] as? [String: Any])?["code"] as? String == "not_found")
        let id = try #require(try run(["session", "create", "--blank", "--json"]).object()["id"] as? String)
        let hostile = try run(["fs", "write", id, "../escape"], stdin: Data("x".utf8))
        #expect(hostile.status == 5)
        #expect(hostile.stderr.contains(".."))
        let noStore = try run(["session", "list"], env: ["AFS_STORE": ""])
        #expect(noStore.status != 0)
        #expect(noStore.stderr.contains("--store"))
        let twoSources = try run(["session", "create", "--blank", "--from-dir", "/tmp"])
        #expect(twoSources.status == 64 || twoSources.status == 2 || twoSources.status == 1)
        #expect(twoSources.stderr.contains("exactly one source"))
        let help = try run(["--help"])
        #expect(help.text.contains("session"))
    }
}
