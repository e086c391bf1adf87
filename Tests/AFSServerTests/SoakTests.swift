import AFSTestSupport
import Foundation
import Testing

/// The kill-9 soak (`afs-soak`, Benchmarks/Soak) in its short form: a few cycles of load against
/// the real afs-server, each ended by SIGKILL, with everything acknowledged checked after each
/// restart. And the check itself is checked: a server whose store is wiped at each restart must be
/// reported as losing acknowledged writes. The full run (1,000+ cycles) is in Docs/PERFORMANCE.md.
@Suite(.offCooperativePool) struct SoakTests {
    static var soak: String { ServerProcess.productsDirectory(containing: "afs-soak") + "/afs-soak" }

    static func run(_ arguments: [String]) throws -> (status: Int32, report: [String: Any], output: String) {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("soak-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try ChildProcess.run(soak, arguments + ["--json", json])
        let output = String(decoding: run.stdout + run.stderr, as: UTF8.self)
        let report = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))) as? [String: Any] ?? [:]
        return (run.status, report, output)
    }

    @Test func killNineCyclesLoseNothingAcknowledged() throws {
        let result = try Self.run(["--cycles", "6", "--seed", "\(UInt64.random(in: 1...1_000_000))"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.report["cycles"] as? Int == 6)
        #expect((result.report["writes_acknowledged"] as? Int ?? 0) > 0, "\(result.output)")
        #expect(result.report["writes_lost"] as? Int == 0)
        #expect((result.report["verify_problems"] as? [Any])?.isEmpty == true)
    }

    @Test func aServerThatForgetsIsCaught() throws {
        // afs-server behind a wrapper that deletes the store before every start but the first.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("soak-wrapper-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let wrapper = directory + "/forgetful-afs-server"
        let script = """
            #!/bin/sh
            data=""
            prev=""
            for a in "$@"; do [ "$prev" = "--data" ] && data="$a"; prev="$a"; done
            if [ -e "$data/.started" ]; then rm -rf "$data/store"; fi
            mkdir -p "$data" && touch "$data/.started"
            exec '\(ServerProcess.productsDirectory())/afs-server' "$@"
            """
        try script.write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        let result = try Self.run(["--cycles", "5", "--server", wrapper, "--max-load", "1.0"])
        #expect(result.status == 1, "\(result.output)")
        // Whatever was acknowledged before the first kill is reported gone: writes, or (on a
        // machine so loaded that no write finished in time) a fork or checkpoint.
        let lost = (result.report["writes_lost"] as? Int ?? 0) + (result.report["losses"] as? [Any] ?? []).count
        #expect(lost > 0, "\(result.output)")
        #expect(result.output.contains("acknowledged"), "\(result.output)")
    }
}
