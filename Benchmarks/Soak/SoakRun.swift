import AFSClient
import AFSCore
import AFSSupport
import Foundation
import Synchronization

/// One soak: cycles of load against afs-server, each ended by SIGKILL at a random moment, then a
/// restart on the same data and a check that everything acknowledged is there.
///
/// Load per cycle: `writers` threads overwriting their own files (inline, single-chunk and
/// multi-chunk sizes), and one thread forking, deleting forks, checkpointing, committing and
/// promoting into a ref, and collecting garbage. After each restart: every acknowledged write
/// reads back byte-exact (or, for the one request per writer whose answer the kill cut off,
/// either version), acknowledged forks exist and acknowledged deletions stay deleted,
/// acknowledged checkpoints are listed, each ref's log holds the last commit promoted into it,
/// and `store verify` reports no problem.
struct SoakRun {
    struct Options {
        var cycles = 10
        var seconds: Double?
        var writers = 4
        var pathsPerWriter = 16
        var maxLoad = 1.5
        var seed: UInt64 = 1
    }

    struct Report: Codable {
        var cycles = 0
        var writesAcknowledged = 0
        var writesLost = 0
        var writesInDoubt = 0
        var forksAcknowledged = 0
        var forkDeletesAcknowledged = 0
        var checkpointsAcknowledged = 0
        var promotesAcknowledged = 0
        var collections = 0
        var verifyProblems: [String] = []
        var losses: [String] = []
        var seconds = 0.0
        var restartSeconds: [Double] = []

        enum CodingKeys: String, CodingKey {
            case cycles, seconds, losses, collections
            case writesAcknowledged = "writes_acknowledged"
            case writesLost = "writes_lost"
            case writesInDoubt = "writes_in_doubt"
            case forksAcknowledged = "forks_acknowledged"
            case forkDeletesAcknowledged = "fork_deletes_acknowledged"
            case checkpointsAcknowledged = "checkpoints_acknowledged"
            case promotesAcknowledged = "promotes_acknowledged"
            case verifyProblems = "verify_problems"
            case restartSeconds = "restart_seconds"
        }

        var clean: Bool { writesLost == 0 && verifyProblems.isEmpty && losses.isEmpty }
    }

    let server: ServerUnderTest
    let options: Options
    let progress: (String) -> Void
    /// Raised by SIGINT or SIGTERM (``SoakCommand``): the run ends after the cycle in progress
    /// and still reports, so a long run can be cut short without losing its figures.
    let stopRequested: OnceFlag

    func run() throws -> Report {
        var random = SplitMix64(seed: options.seed)
        let ledger = SoakLedger()
        var report = Report()
        let started = ContinuousClock.now
        try server.start()
        let token = try server.adminToken()
        let client = try RemoteStore(endpoint: server.endpoint, token: token, timeout: 30, connectTimeout: 1)
        var sessions: [String] = []
        for w in 0..<options.writers {
            sessions.append(try client.createSession(name: "soak-w\(w)", from: .blank, context: .anonymous, preserveOwners: false, progress: nil).id)
        }
        var cycle = 0
        while true {
            if stopRequested.isRaised {
                progress("stopping after cycle \(cycle) as asked; the report covers the cycles run")
                break
            }
            if let limit = options.seconds {
                if (ContinuousClock.now - started) >= .seconds(limit) { break }
            } else if cycle >= options.cycles {
                break
            }
            cycle += 1
            let killAfter = Double(random.next() % 1000) / 1000 * options.maxLoad + 0.05
            try load(client: client, sessions: sessions, ledger: ledger, for: killAfter, seed: random.next())
            let restart = ContinuousClock.now
            try server.start()
            report.restartSeconds.append(SoakRun.seconds(ContinuousClock.now - restart))
            try check(client: client, ledger: ledger, report: &report, cycle: cycle)
            report.cycles = cycle
            if cycle % 10 == 0 || !report.clean {
                progress(
                    "cycle \(cycle): \(ledger.counts()["writes", default: 0]) writes acknowledged, \(report.writesLost) lost, "
                        + "\(report.verifyProblems.count) verify problems")
            }
            if !report.clean { break }
        }
        server.kill()
        let counts = ledger.counts()
        report.writesAcknowledged = counts["writes", default: 0]
        report.forksAcknowledged = counts["forks", default: 0]
        report.forkDeletesAcknowledged = counts["fork-deletes", default: 0]
        report.checkpointsAcknowledged = counts["checkpoints", default: 0]
        report.promotesAcknowledged = counts["promotes", default: 0]
        report.collections = counts["gc", default: 0]
        report.writesInDoubt = counts["in-doubt", default: 0]
        report.seconds = SoakRun.seconds(ContinuousClock.now - started)
        return report
    }

    /// A file's bytes; nil when it does not exist.
    static func contents(_ client: RemoteStore, _ session: String, _ path: String) throws(AFSError) -> [UInt8]? {
        do {
            return try client.readFile(session, path: path, offset: 0, length: nil)
        } catch {
            if error.code == .notFound { return nil }
            throw error
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Runs the load, kills the server after `seconds`, and waits for every load thread.
    private func load(client: RemoteStore, sessions: [String], ledger: SoakLedger, for seconds: Double, seed: UInt64) throws {
        let stop = Atomic<Bool>(false)
        let group = DispatchGroup()
        for (w, session) in sessions.enumerated() {
            group.enter()
            let thread = Thread { [options] in
                defer { group.leave() }
                var random = SplitMix64(seed: seed &+ UInt64(w))
                while !stop.load(ordering: .relaxed) {
                    let path = "/w\(w)/f\(random.next() % UInt64(options.pathsPerWriter))"
                    let next = ledger.state.withLock { state -> [UInt8] in
                        var p = state.paths[session, default: [:]][path] ?? SoakLedger.PathState()
                        p.version += 1
                        let content = SoakLedger.content(session: session, path: path, version: p.version)
                        p.inFlight = content
                        state.paths[session, default: [:]][path] = p
                        return content
                    }
                    do {
                        try client.writeFile(session, path: path, data: next, mode: nil, context: .anonymous)
                        ledger.state.withLock { state in
                            state.paths[session]?[path]?.acknowledged = next
                            state.paths[session]?[path]?.inFlight = nil
                        }
                        ledger.count("writes")
                    } catch {
                        ledger.count("in-doubt")
                        return  // outcome unknown: this writer waits for the restart
                    }
                }
            }
            thread.start()
        }
        group.enter()
        let control = Thread {
            defer { group.leave() }
            var random = SplitMix64(seed: seed ^ 0xC0FF_EE)
            while !stop.load(ordering: .relaxed) {
                let session = sessions[Int(random.next() % UInt64(sessions.count))]
                do {
                    // Checkpoints and commits keep their trees for good, so they are taken less
                    // often than the rest: the store (and each cycle's verify) stays small enough
                    // for a thousand cycles.
                    switch random.next() % 12 {
                    case 0, 6:
                        let fork = try client.fork(session, name: nil, context: .anonymous)
                        ledger.state.withLock { _ = $0.forks.insert(fork.id) }
                        ledger.count("forks")
                    case 1, 7:
                        guard let victim = ledger.state.withLock({ state -> String? in
                            guard let f = state.forks.first else { return nil }
                            state.forks.remove(f)
                            state.forksDeleting.insert(f)
                            return f
                        }) else { continue }
                        try client.delete(victim)
                        ledger.state.withLock { state in
                            state.forksDeleting.remove(victim)
                            state.deletedForks.insert(victim)
                        }
                        ledger.count("fork-deletes")
                    case 2 where random.next() % 3 == 0:
                        let checkpoint = try client.checkpoint(session, label: nil, context: .anonymous)
                        ledger.state.withLock { _ = $0.checkpoints[session, default: []].insert(checkpoint.id) }
                        ledger.count("checkpoints")
                    case 3 where random.next() % 3 == 0:
                        let commit = try client.commit(session, message: "soak", author: "soak", context: nil)
                        let ref = "soak-\(session)"
                        _ = try client.promote(session, ref: ref, context: .anonymous)
                        ledger.state.withLock { $0.promoted[ref] = commit.id }
                        ledger.count("promotes")
                    case 4, 5:
                        _ = try client.collectGarbage()
                        ledger.count("gc")
                    default:
                        Thread.sleep(forTimeInterval: 0.01)
                    }
                } catch {
                    return  // the server is gone (or refused): wait for the restart
                }
            }
        }
        control.start()
        Thread.sleep(forTimeInterval: seconds)
        server.kill()
        stop.store(true, ordering: .relaxed)
        group.wait()
    }

    /// Reads everything back after a restart; resolves in-flight outcomes to what the store holds.
    private func check(client: RemoteStore, ledger: SoakLedger, report: inout Report, cycle: Int) throws {
        let snapshot = ledger.state.withLock { $0 }
        for (session, paths) in snapshot.paths {
            for (path, state) in paths {
                let found = try SoakRun.contents(client, session, path)
                let matches = found == state.acknowledged || (state.inFlight != nil && found == state.inFlight)
                if !matches {
                    report.writesLost += 1
                    report.losses.append(
                        "cycle \(cycle): \(session)\(path) holds \(found.map { "\($0.count) other bytes" } ?? "nothing"), "
                            + "acknowledged \(state.acknowledged?.count ?? 0) bytes (version \(state.version))")
                }
                ledger.state.withLock { $0.paths[session]?[path] = SoakLedger.PathState(acknowledged: found, inFlight: nil, version: state.version) }
            }
        }
        for fork in snapshot.forks where (try? client.session(fork)) == nil {
            report.losses.append("cycle \(cycle): acknowledged fork \(fork) is missing")
        }
        for fork in snapshot.deletedForks where (try? client.session(fork)) != nil {
            report.losses.append("cycle \(cycle): fork \(fork) is back after its deletion was acknowledged")
        }
        // A deletion cut off by the kill went either way: the ledger follows the store.
        for fork in snapshot.forksDeleting {
            let exists = (try? client.session(fork)) != nil
            ledger.state.withLock { state in
                state.forksDeleting.remove(fork)
                if exists { state.forks.insert(fork) } else { state.deletedForks.insert(fork) }
            }
        }
        for (session, ids) in snapshot.checkpoints {
            let listed = Set((try? client.checkpoints(of: session).map(\.id)) ?? [])
            for id in ids.subtracting(listed) { report.losses.append("cycle \(cycle): acknowledged checkpoint \(id) of \(session) is missing") }
        }
        for (ref, commit) in snapshot.promoted {
            let log = (try? client.log(ref, limit: 20, skip: 0).map(\.id)) ?? []
            if !log.contains(commit) { report.losses.append("cycle \(cycle): ref \(ref) lost the promoted commit \(commit)") }
        }
        let verify = try client.verify()
        report.verifyProblems += verify.problems.map { "cycle \(cycle): \($0)" }
    }
}
