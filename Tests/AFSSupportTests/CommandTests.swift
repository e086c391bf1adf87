import AFSSupport
import Foundation
import Testing

/// The one process spawner: what goes in, what comes out, and what must not leak.
@Suite struct CommandTests {
    @Test func capturesOutputErrorsAndStatus() throws {
        var command = Command("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        command.stdout = .capture
        command.stderr = .capture
        let r = try command.run()
        #expect(r.status == 3 && r.stdoutText == "out\n" && r.stderrText == "err\n")
        var merged = Command("sh", ["-c", "echo a; echo b >&2"])
        merged.stderr = .standardOutput
        #expect(try merged.run().stdoutText == "a\nb\n")
    }

    @Test func bytesGoInAndSignalsComeOut() throws {
        var cat = Command("cat")
        let big = [UInt8](repeating: 0x61, count: 3 << 20)  // more than a pipe buffer
        cat.stdin = .bytes(big)
        #expect(try cat.run().stdout == big)
        // A program that stops reading early: the writer gets EPIPE, this process lives on.
        var head = Command("head", ["-c", "10"])
        head.stdin = .bytes(big)
        #expect(try head.run().stdout.count == 10)
        #expect(try Command("sh", ["-c", "kill -TERM $$"]).run().status == 128 + SIGTERM)
    }

    @Test func aTimeoutKillsAndAMissingProgramIsNamed() throws {
        let started = ContinuousClock.now
        let slow = #expect(throws: Command.Failure.self) { try Command("sleep", ["30"]).run(timeout: .milliseconds(200)) }
        #expect(slow?.kind == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(10))
        let missing = #expect(throws: Command.Failure.self) { try Command("no-such-program-afs").run() }
        #expect(missing?.kind == .notFound && missing?.description.contains("no-such-program-afs") == true)
    }

    /// A daemonizing grandchild keeps the capture open; the run still ends with its child.
    @Test func aDaemonizedDescendantDoesNotHoldTheRun() throws {
        let started = ContinuousClock.now
        let r = try Command("sh", ["-c", "sleep 20 & echo started"]).run(timeout: .seconds(10))
        #expect(r.stdoutText == "started\n")
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func theChildGetsStdioOnlyEnvironmentAndASessionWhenAsked() throws {
        let fd = open("/dev/null", O_RDONLY)  // not close-on-exec: must still not reach the child
        defer { close(fd) }
        let listing = try Command("sh", ["-c", "ls /proc/$$/fd"]).run().stdoutText.split(separator: "\n")
        #expect(Set(listing) == ["0", "1", "2"], "\(listing)")
        var env = Command("sh", ["-c", "echo $AFS_COMMAND_TEST"])
        env.environment = ["AFS_COMMAND_TEST": "set"]
        #expect(try env.run().stdoutText == "set\n")
        var session = Command("sh", ["-c", "ps -o sid= -p $$"])
        session.newSession = true
        let sid = Int32(try session.run().stdoutText.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: .newlines))
        #expect(sid != nil && sid != getsid(0))
        var named = Command("/bin/sh", ["-c", "echo $0"])
        named.argument0 = "afs-test-name"
        #expect(try named.run().stdoutText == "afs-test-name\n")
    }

    @Test func pipesStreamAndFilesAppend() throws {
        var seq = Command("seq", ["1", "100000"])
        seq.stdout = .pipe
        let child = try seq.spawn()
        var bytes = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(child.stdout!, &buffer, buffer.count)
            if n <= 0 { break }
            bytes += n
        }
        close(child.stdout!)
        #expect(try child.wait() == 0)
        var expected = 0
        for n in 1...100_000 { expected += String(n).count + 1 }
        #expect(bytes == expected)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("afs-command-\(getpid()).log").path
        defer { unlink(log) }
        for word in ["one", "two"] {
            var echo = Command("echo", [word])
            echo.stdout = .appendTo(log)
            #expect(try echo.run().status == 0)
        }
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "one\ntwo\n")
    }
}
