import AFSTestSupport
import Foundation
import Testing

/// `aether` against afs-server over TLS: verified against the tests' CA, refused (exit 14) with
/// a message naming the failed check for another CA, the system store, an expired certificate
/// and another host's; `aether doctor` reports the certificate and its expiry.
@Suite(.offCooperativePool) struct TLSCLITests {
    /// Rotates the server to a new certificate from `pki` (files overwritten, then SIGHUP) and
    /// waits until new handshakes present it.
    static func rotate(_ cli: CLI, to pair: TestPKI.Pair) throws {
        let server = try #require(cli.server)
        let current = try #require(server.certificate)
        for (from, to) in [(pair.certificatePath, current.certificatePath), (pair.keyPath, current.keyPath)] {
            try? FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
        kill(server.pid, SIGHUP)
        Thread.sleep(forTimeInterval: 0.5)
    }

    @Test func certificatesAreVerifiedAndRefusalsSayWhichCheckFailed() throws {
        let cli = try CLI(.tls)
        let server = try #require(cli.server)
        #expect(server.base.hasPrefix("https://"))
        // The tests' CA (AETHER_CA_CERT): accepted.
        let created = try cli.run(["session", "create", "--blank", "--json"])
        #expect(created.status == 0)
        let session = try #require(try created.object()["id"] as? String)
        // The system's trust store does not know the tests' CA.
        let system = try cli.run(["session", "list"], env: ["AETHER_CA_CERT": ""])
        #expect(system.status == 14)
        #expect(system.stderr.contains("is not signed by the system's trust store"))
        #expect(system.stderr.contains("--ca-cert"))
        // Another CA, by flag; with --json the code is stable.
        let other = try TestPKI(directory: server.data + "/other-ca", name: "Some other CA")
        let wrong = try cli.run(["session", "list", "--ca-cert", other.caPath, "--json"], env: ["AETHER_CA_CERT": ""])
        #expect(wrong.status == 14)
        #expect((wrong.stderr + wrong.text).contains("untrusted_server"))
        #expect((wrong.stderr + wrong.text).contains("not signed by the CA in \(other.caPath)"))
        // A CA file that is not PEM.
        try "garbage".write(toFile: server.data + "/bad-ca.pem", atomically: true, encoding: .utf8)
        let bad = try cli.run(["session", "list", "--ca-cert", server.data + "/bad-ca.pem"])
        #expect(bad.status == 5)
        #expect(bad.stderr.contains("bad-ca.pem cannot be read as PEM"))
        // The CA from [bridge] ca_cert in the config file.
        let config = server.data + "/client.toml"
        try "[bridge]\nserver_endpoint = \"\(server.base)\"\ntoken = \"\(server.adminToken)\"\nca_cert = \"\(TestPKI.shared.caPath)\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let fromFile = try cli.run(["session", "list", "--json"], env: ["AETHER_CONFIG": config, "AETHER_CA_CERT": "", "AFS_AETHER_SERVER_ENDPOINT": "", "AFS_TOKEN": ""])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        // Plain http:// to the TLS port: unreachable, with the hint.
        let plain = try cli.run(["session", "list"], env: ["AFS_AETHER_SERVER_ENDPOINT": server.base.replacingOccurrences(of: "https://", with: "http://")])
        #expect(plain.status == 12)
        #expect(plain.stderr.contains("use https://"))

        // Another host's certificate (from the trusted CA).
        try Self.rotate(cli, to: try TestPKI.shared.issue("elsewhere-\(UUID().uuidString.prefix(8))", hosts: ["other.example"]))
        let mismatch = try cli.run(["session", "list"])
        #expect(mismatch.status == 14)
        #expect(mismatch.stderr.contains("is for other.example, not 127.0.0.1"))
        // An expired certificate (from the trusted CA).
        let day: TimeInterval = 86400
        try Self.rotate(cli, to: try TestPKI.shared.issue("expired-\(UUID().uuidString.prefix(8))", notBefore: Date().addingTimeInterval(-10 * day), notAfter: Date().addingTimeInterval(-day)))
        let expired = try cli.run(["session", "list"])
        #expect(expired.status == 14)
        #expect(expired.stderr.contains("expired on"))
        // The mount refuses the same way, before mounting anything.
        let mountpoint = server.data + "/mnt"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        let mount = try cli.run(["mount", "--session", session, mountpoint])
        #expect(mount.status == 14, "\(mount.stderr)")
        #expect(mount.stderr.contains("expired on"))
    }

    @Test func doctorReportsTheCertificateAndFailsWhenItExpiresWithinAWeek() throws {
        let cli = try CLI(.tls)
        let good = try cli.run(["doctor"])
        #expect(good.text.contains("✓ tls: certificate CN=localhost, issued by CN=AetherFS test CA, for localhost, 127.0.0.1, expires "), "\(good.text)")
        #expect(good.text.contains("✓ endpoint"))
        // Three days left: doctor fails and says when.
        let day: TimeInterval = 86400
        try Self.rotate(cli, to: try TestPKI.shared.issue("short-\(UUID().uuidString.prefix(8))", notAfter: Date().addingTimeInterval(3 * day)))
        let soon = try cli.run(["doctor"])
        #expect(soon.status != 0)
        #expect(soon.text.contains("✗ tls:"), "\(soon.text)")
        #expect(soon.text.contains("expires in 2.9 days") || soon.text.contains("expires in 3.0 days"), "\(soon.text)")
        #expect(soon.text.contains("✓ endpoint"))
        // Another CA: doctor still describes the certificate, and the endpoint check says why it is refused.
        let other = try TestPKI(directory: try #require(cli.server).data + "/other-ca", name: "Some other CA")
        let refused = try cli.run(["doctor", "--ca-cert", other.caPath], env: ["AETHER_CA_CERT": ""])
        #expect(refused.status != 0)
        #expect(refused.text.contains("tls: certificate CN=localhost, issued by CN=AetherFS test CA"))
        #expect(refused.text.contains("✗ endpoint") && refused.text.contains("not signed by the CA in"), "\(refused.text)")
    }
}
