// afs-soak: afs-server under load, killed with SIGKILL at random moments and restarted on the same
// data, cycle after cycle; after each restart every acknowledged write must read back byte-exact and
// `store verify` must be clean. Exit status 1 when anything acknowledged was lost.
//
//   swift build -c release --product afs-soak --product afs-server
//   .build/release/afs-soak --cycles 1000 --json soak.json
//
// Extra afs-server arguments go after `--` (e.g. `-- --catalog postgres://… --objects s3://…` with the
// AWS_* variables set, for the clustered backend). CI runs a few cycles (SoakTests); Docs/PERFORMANCE.md
// records a full run.

import AFSSupport
import ArgumentParser
import Foundation

@main
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "afs-soak",
        abstract: "Kill afs-server with SIGKILL under load, again and again, and check that nothing acknowledged is lost.",
        discussion: """
            Each cycle runs writers (inline, single-chunk and multi-chunk files), forks, fork deletions,
            checkpoints, commits with promotes and garbage collections for a random time, kills the server,
            restarts it on the same data directory and checks every acknowledged result and `store verify`.
            Progress goes to stderr every 10 cycles; the report (text, or JSON with --json) at the end.
            Ctrl-C (or SIGTERM) ends the run after the cycle in progress, with its report.
            Exit status: 0 clean, 1 something acknowledged was lost or verify found damage, 2 the soak
            could not run.
            """)

    @Option(help: "Kill cycles to run (ignored with --seconds).") var cycles = 10
    @Option(help: "Run for this many seconds instead of a number of cycles.") var seconds: Double?
    @Option(help: "Writer threads, each on its own session.") var writers = 4
    @Option(help: "The longest load before a kill, in seconds (each cycle draws 0.05 s up to this).") var maxLoad = 1.5
    @Option(help: "Seed of the kill times and choices (a run replays with the same seed).") var seed: UInt64 = 1
    @Option(help: "The afs-server executable (default: afs-server beside afs-soak).") var server: String?
    @Option(help: "Parent of the scratch data directory (kept off tmpfs).") var work = "/var/tmp"
    @Option(help: "Also write the report as JSON to this file.") var json: String?
    @Option(help: "Also write the report as Markdown to this file (Docs/perf/soak.md, which afs-bench embeds in PERFORMANCE.md).") var out: String?
    @Flag(help: "Keep the data directory afterwards.") var keep = false
    @Argument(parsing: .postTerminator, help: "Extra afs-server arguments, after --.") var serverArguments: [String] = []

    func run() throws {
        let executable = server ?? (URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/afs-server")
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            FileHandle.standardError.write(Data("afs-soak: \(executable) is not an executable; build it (swift build --product afs-server) or pass --server\n".utf8))
            throw ExitCode(2)
        }
        let data = work + "/afs-soak-\(RandomID.hex(bytes: 4))"
        setenv("AFS_RATE_LIMIT", "0", 1)
        let target = try ServerUnderTest(executable: executable, data: data, extraArguments: serverArguments)
        defer {
            target.kill()
            if !keep { try? FileManager.default.removeItem(atPath: data); unlink(target.log) }
        }
        var options = SoakRun.Options()
        options.cycles = cycles
        options.seconds = seconds
        options.writers = writers
        options.maxLoad = maxLoad
        options.seed = seed
        // Ctrl-C or SIGTERM: finish the cycle in progress, then report.
        let stop = OnceFlag()
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.raise() }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        let report: SoakRun.Report
        do {
            report = try SoakRun(server: target, options: options, progress: { line in
                FileHandle.standardError.write(Data("afs-soak: \(line)\n".utf8))
            }, stopRequested: stop).run()
        } catch {
            FileHandle.standardError.write(Data("afs-soak: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        if let out {
            try Data(SoakCommand.markdown(report, arguments: Array(CommandLine.arguments.dropFirst())).utf8).write(to: URL(fileURLWithPath: out))
        }
        let restarts = report.restartSeconds.sorted()
        let p50 = restarts.isEmpty ? 0 : restarts[restarts.count / 2]
        print(
            """
            cycles: \(report.cycles) in \(String(format: "%.0f", report.seconds)) s (restart p50 \(String(format: "%.2f", p50)) s)
            writes acknowledged: \(report.writesAcknowledged), lost: \(report.writesLost), in doubt at a kill: \(report.writesInDoubt)
            forks: \(report.forksAcknowledged), fork deletions: \(report.forkDeletesAcknowledged), checkpoints: \(report.checkpointsAcknowledged), promotes: \(report.promotesAcknowledged), collections: \(report.collections)
            verify problems: \(report.verifyProblems.count)
            """)
        for line in (report.losses + report.verifyProblems).prefix(20) { print("  " + line) }
        if !report.clean { throw ExitCode(1) }
    }

    /// The report as the Markdown page Docs/perf/soak.md holds.
    static func markdown(_ report: SoakRun.Report, arguments: [String]) -> String {
        let restarts = report.restartSeconds.sorted()
        func percentile(_ p: Double) -> String {
            restarts.isEmpty ? "n/a" : String(format: "%.2f s", restarts[min(restarts.count - 1, Int(Double(restarts.count - 1) * p))])
        }
        var s = "# Crash soak: SIGKILL under load\n\n"
        s += "<!-- Written by afs-soak --out. Do not edit: the next run rewrites it. -->\n\n"
        s += "`afs-soak \(arguments.joined(separator: " "))`, \(ProcessInfo.processInfo.activeProcessorCount) cores, "
        s += "\(String(format: "%.0f", report.seconds)) s. Each cycle: writers, forks, fork deletions, checkpoints, commits with "
        s += "promotes and garbage collections against afs-server for a random time, SIGKILL, restart on the same data, "
        s += "then every acknowledged result read back and `store verify`.\n\n"
        s += "| figure | value |\n|---|---:|\n"
        s += "| kill cycles | \(report.cycles) |\n"
        s += "| writes acknowledged | \(report.writesAcknowledged) |\n"
        s += "| **writes lost** (must be 0) | **\(report.writesLost)** |\n"
        s += "| writes in doubt at a kill (answer cut off; either version accepted) | \(report.writesInDoubt) |\n"
        s += "| forks / fork deletions acknowledged | \(report.forksAcknowledged) / \(report.forkDeletesAcknowledged) |\n"
        s += "| checkpoints / promotes acknowledged | \(report.checkpointsAcknowledged) / \(report.promotesAcknowledged) |\n"
        s += "| garbage collections | \(report.collections) |\n"
        s += "| other losses (forks, deletions, checkpoints, refs) | \(report.losses.count) |\n"
        s += "| `store verify` problems | \(report.verifyProblems.count) |\n"
        s += "| restart until healthy, p50 / p99 | \(percentile(0.5)) / \(percentile(0.99)) |\n"
        for line in (report.losses + report.verifyProblems).prefix(20) { s += "\n- \(line)" }
        return s + "\n"
    }
}
