import AFSTestSupport
import Foundation
import Testing

/// `aether fs mknod`, `fs chown`, `fs xattr` and `session create --same-owner`, on both transports:
/// the special kinds, owners and extended attributes reach every client, not only the mount.
@Suite(.offCooperativePool) struct POSIXCLITests {
    @Test(arguments: Transport.allCases) func specialKindsOwnersAndXattrsThroughTheCLI(_ transport: Transport) throws {
        let cli = try CLI(transport)
        let id = try #require(try cli.run(["session", "create", "--blank", "--json"]).object()["id"] as? String)
        #expect(try cli.run(["fs", "mkdir", id, "/run"]).status == 0)
        let sock = try cli.run(["fs", "mknod", id, "/run/app.sock", "socket", "--mode", "600", "--json"])
        #expect(sock.status == 0, "\(sock.stderr)")
        #expect(try sock.object()["kind"] as? String == "socket" && sock.object()["mode"] as? Int == 0o600)
        let null = try cli.run(["fs", "mknod", id, "/run/null", "char-device", "--major", "1", "--minor", "3", "--json"]).object()
        #expect(null["rdev"] as? Int == 259, "\(null)")
        let bad = try cli.run(["fs", "mknod", id, "/run/x", "pipe"])
        #expect(bad.status != 0 && bad.stderr.contains("fifo, socket, char-device or block-device"), "\(bad.stderr)")
        #expect(try cli.run(["fs", "ls", id, "/run"]).text.contains("app.sock="))

        #expect(try cli.run(["fs", "write", id, "/f"], stdin: Data("x".utf8)).status == 0)
        let chowned = try cli.run(["fs", "chown", id, "1000:100", "/f", "--json"]).object()
        #expect(chowned["uid"] as? Int == 1000 && chowned["gid"] as? Int == 100, "\(chowned)")
        #expect(try cli.run(["fs", "chown", id, "abc", "/f"]).status != 0)
        #expect(try cli.run(["fs", "stat", id, "/f"]).text.contains("owner:   1000:100"))

        #expect(try cli.run(["fs", "xattr", id, "/f", "--set", "user.mime=text/plain"]).status == 0)
        #expect(try cli.run(["fs", "xattr", id, "/f", "--get", "user.mime"]).text == "text/plain")
        let listed = try cli.run(["fs", "xattr", id, "/f", "--json"]).object()
        #expect(listed["xattrs"] as? [String: String] == ["user.mime": Data("text/plain".utf8).base64EncodedString()])
        let refused = try cli.run(["fs", "xattr", id, "/f", "--set", "security.x=1"])
        #expect(refused.status != 0 && refused.stderr.contains("user."), "\(refused.stderr)")
        #expect(try cli.run(["fs", "xattr", id, "/f", "--remove", "user.mime"]).status == 0)
        #expect(try cli.run(["fs", "xattr", id, "/f", "--get", "user.mime"]).status != 0)

        // A tree with a FIFO, owners and xattrs round-trips through export and import.
        #expect(try cli.run(["fs", "xattr", id, "/f", "--set", "user.k=v"]).status == 0)
        #expect(try cli.run(["fs", "mknod", id, "/run/fifo", "fifo"]).status == 0)
        let tar = cli.store + "-export.tar"
        defer { try? FileManager.default.removeItem(atPath: tar) }
        let export = try cli.run(["session", "export", id, "-o", tar])
        #expect(export.status == 0, "\(export.stderr)")
        for sameOwner in [false, true] {
            let imported = try cli.run(["session", "create", "--from-tar", tar, "--json"] + (sameOwner ? ["--same-owner"] : []))
            let copy = try #require(try imported.object()["id"] as? String, "\(imported.stderr)")
            let f = try cli.run(["fs", "stat", copy, "/f", "--json"]).object()
            #expect((f["uid"] as? Int) == (sameOwner ? 1000 : nil), "\(f)")
            #expect(f["xattrs"] as? [String] == ["user.k"])
            #expect(try cli.run(["fs", "stat", copy, "/run/fifo", "--json"]).object()["kind"] as? String == "fifo")
            #expect(try cli.run(["fs", "stat", copy, "/run/app.sock", "--json"]).object()["kind"] as? String == "socket")
            #expect(try cli.run(["fs", "stat", copy, "/run/null", "--json"]).object()["rdev"] as? Int == 259)
        }
    }
}
