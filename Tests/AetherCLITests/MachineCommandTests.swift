import AFSTestSupport
import Foundation
import Testing

/// The commands about this machine rather than a session: `doctor`, `status` and `cache`, run as
/// the real binary against a real store or afs-server (no FUSE needed: mounts are covered by
/// AFSMountTests).
@Suite(.offCooperativePool) struct MachineCommandTests {
    /// A private cache and mount registry for one test, so nothing touches the developer's own.
    static func machine(_ cli: CLI) -> [String: String] {
        ["XDG_CACHE_HOME": cli.store + "-cache", "XDG_RUNTIME_DIR": cli.store + "-run"]
    }

    static var fuseAvailable: Bool {
        let fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)
        if fd >= 0 { close(fd) }
        return fd >= 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/fusermount3")
    }

    @Test func doctorPassesAgainstARealServer() throws {
        let cli = try CLI(.remote)
        let r = try cli.run(["doctor"], env: Self.machine(cli))
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        let lines = r.text.split(separator: "\n").map(String.init)
        for name in ["endpoint", "token", "clock", "versions", "cache", "config", "aether"] {
            #expect(lines.contains { $0.hasPrefix("✓ \(name): ") }, "no ✓ \(name) in:\n\(r.text)")
        }
        // FUSE is judged by what this machine has.
        #expect(lines.contains { $0.hasPrefix(Self.fuseAvailable ? "✓ fuse: " : "✗ fuse: ") }, "\(r.text)")
        #expect(lines.contains { $0.hasPrefix("✓ clock: this machine is") }, "\(r.text)")

        let json = try cli.run(["doctor", "--json"], env: Self.machine(cli)).object()
        #expect(json["ok"] as? Bool == Self.fuseAvailable)
        let checks = try #require(json["checks"] as? [[String: Any]])
        #expect(checks.first { $0["name"] as? String == "token" }?["status"] as? String == "ok")
    }

    @Test func doctorFailsWithTheFixForABogusEndpointOrToken() throws {
        let cli = try CLI(.remote)
        let unreachable = try cli.run(["doctor"], env: Self.machine(cli).merging(["AFS_AETHER_SERVER_ENDPOINT": "http://127.0.0.1:1"]) { $1 })
        #expect(unreachable.status == 1, "\(unreachable.text)")
        let endpoint = try #require(unreachable.text.split(separator: "\n").first { $0.hasPrefix("✗ endpoint: ") }, "\(unreachable.text)")
        #expect(endpoint.contains("— fix: start afs-server"), "\(endpoint)")
        #expect(!unreachable.text.contains("✓ token"), "no token check without a server")

        let refused = try cli.run(["doctor"], env: Self.machine(cli).merging(["AFS_TOKEN": "afs_wrong"]) { $1 })
        #expect(refused.status == 1)
        #expect(refused.text.contains("✓ endpoint: "), "\(refused.text)")
        #expect(refused.text.split(separator: "\n").contains { $0.hasPrefix("✗ token: ") && $0.contains("— fix: ") }, "\(refused.text)")

        let nothing = try cli.run(["doctor", "--json"], env: Self.machine(cli).merging(["AFS_AETHER_SERVER_ENDPOINT": "", "AFS_STORE": ""]) { $1 })
        #expect(nothing.status == 1)
        let store = try #require((try nothing.object()["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "store" })
        #expect(store["status"] as? String == "fail" && (store["fix"] as? String)?.contains("--store") == true)
    }

    @Test(arguments: Transport.allCases) func statusReportsTheStoreAndCache(_ transport: Transport) throws {
        let cli = try CLI(transport)
        _ = try cli.run(["session", "create", "--blank"])
        _ = try cli.run(["session", "create", "--blank"])
        let status = try cli.run(["status", "--json"], env: Self.machine(cli)).object()
        #expect((status["mounts"] as? [Any])?.isEmpty == true)
        let store = try #require(status["store"] as? [String: Any])
        #expect(store["state"] as? String == "ok" && store["sessions"] as? Int == 2, "\(store)")
        #expect((status["cache"] as? [String: Any])?["directory"] as? String == cli.store + "-cache/aether")
        // Down is reported, not fatal.
        let down = try cli.run(["status"], env: Self.machine(cli).merging(["AFS_AETHER_SERVER_ENDPOINT": "http://127.0.0.1:1", "AFS_STORE": ""]) { $1 })
        #expect(down.status == 0 && down.text.contains("unreachable"), "\(down.text)")
    }

    @Test(arguments: Transport.allCases) func cachePrefetchStatusAndClear(_ transport: Transport) throws {
        let cli = try CLI(transport)
        let env = Self.machine(cli)
        defer { try? FileManager.default.removeItem(atPath: cli.store + "-cache") }
        let id = try #require(try cli.run(["session", "create", "--blank", "--json"]).object()["id"] as? String)
        let files = ["/a/one.txt": "one", "/a/two.txt": "two", "/a/same.txt": "one", "/b/three.txt": "three"]
        for (path, text) in files { #expect(try cli.run(["fs", "write", id, path], stdin: Data(text.utf8)).status == 0) }

        let report = try cli.run(["cache", "prefetch", "--session", id, "/a", "--json"], env: env).object()
        #expect(report["files"] as? Int == 3 && report["contents"] as? Int == 2 && report["fetched"] as? Int == 2, "\(report)")
        // Each content sits in the cache under its identity, byte for byte.
        for (path, text) in files where path.hasPrefix("/a/") {
            let stat = try cli.run(["fs", "stat", id, path, "--json"]).object()
            let contentID = try #require(stat["content_id"] as? String)
            let entry = cli.store + "-cache/aether/content/\(contentID.prefix(2))/\(contentID)"
            #expect(FileManager.default.contents(atPath: entry) == Data(text.utf8), "\(entry)")
        }
        let status = try cli.run(["cache", "status", "--json"], env: env).object()
        #expect(status["entries"] as? Int == 2 && status["bytes"] as? Int == 6 && status["max_bytes"] as? Int == 4 << 30, "\(status)")
        #expect(status["hit_ratio"] == nil, "no live mount, no ratio: \(status)")
        let text = try cli.run(["cache", "status"], env: env).text
        #expect(text.contains("entries    2") && text.contains("no live mount"), "\(text)")

        let whole = try cli.run(["cache", "prefetch", "--session", id, "--json"], env: env).object()
        #expect(whole["fetched"] as? Int == 1 && whole["already_cached"] as? Int == 2, "\(whole)")
        let cleared = try cli.run(["cache", "clear", "--json"], env: env).object()
        #expect(cleared["removed_entries"] as? Int == 3 && cleared["freed_bytes"] as? Int == 11, "\(cleared)")
        #expect(try cli.run(["cache", "status", "--json"], env: env).object()["entries"] as? Int == 0)
        // --cache-dir points elsewhere.
        let other = cli.store + "-other-cache"
        defer { try? FileManager.default.removeItem(atPath: other) }
        #expect(try cli.run(["cache", "prefetch", "--session", id, "/b", "--cache-dir", other]).status == 0)
        #expect(try cli.run(["cache", "status", "--cache-dir", other, "--json"]).object()["entries"] as? Int == 1)
        #expect(try cli.run(["cache", "prefetch", "--session", id, "/nope", "--cache-dir", other]).status == 3)
    }
}
