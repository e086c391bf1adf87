import AFSSupport
import Testing

@Suite struct HostPortTests {
    @Test func parsesHostsPortsAndBracketedIPv6() {
        #expect(HostPort("127.0.0.1:8787") == HostPort(host: "127.0.0.1", port: 8787))
        #expect(HostPort("localhost:0") == HostPort(host: "localhost", port: 0))
        #expect(HostPort("[::1]:9464") == HostPort(host: "::1", port: 9464))
        #expect(HostPort("[::1]:9464")?.description == "[::1]:9464")
        #expect(HostPort("0.0.0.0:65535")?.description == "0.0.0.0:65535")
    }

    @Test(arguments: ["", "8787", ":8787", "host:", "host:65536", "host:-1", "host:http", "::1:80", "[::1:80", "[]:80"])
    func refusesWhatIsNotHostPort(_ text: String) {
        #expect(HostPort(text) == nil, "\(text)")
    }
}

@Suite struct RandomIDTests {
    @Test func formatsAndUniqueness() {
        let id = RandomID.base32(prefix: "ses_", count: 16)
        #expect(id.hasPrefix("ses_") && id.count == 20)
        #expect(id.dropFirst(4).allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
        let hex = RandomID.hex(prefix: "vmd_", bytes: 24)
        #expect(hex.count == 52 && hex.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) })
        // 10,000 draws of 80 bits: a repeat would mean the generator is broken.
        let many = Set((0..<10_000).map { _ in RandomID.base32(count: 16) })
        #expect(many.count == 10_000)
        // Every character of the alphabet shows up (the modulo covers all 32).
        #expect(Set(many.joined()).count == 32)
        // And evenly: 160,000 characters, 5,000 expected each; a biased draw (a byte modulo a
        // number that does not divide 256) would stray far beyond ±10 %.
        var counts: [Character: Int] = [:]
        for c in many.joined() { counts[c, default: 0] += 1 }
        #expect(counts.values.allSatisfy { (4_500...5_500).contains($0) }, "\(counts)")
        // Large requests (past getrandom's 256-byte single-call guarantee) are filled whole.
        let long = RandomID.hex(bytes: 4096)
        #expect(long.count == 8192 && Set(long).count == 16)
        #expect(RandomID.base32(count: 0).isEmpty)
    }

    @Test func aFlagRaisedOnOneThreadIsSeenOnAnother() async {
        let flag = OnceFlag()
        #expect(!flag.isRaised)
        await Task.detached { flag.raise() }.value
        #expect(flag.isRaised)
    }
}
