import AFSCore
import ArgumentParser
import Foundation

/// The README's first command: a guided tour on an embedded store in the working directory.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Import a tree, fork proposals, edit, diff, commit the winner and promote it.",
        discussion: "Uses --store (default ./aether-data) and --from-dir (default: a generated sample project).")

    @Option(help: "Store directory.") var store: String = ProcessInfo.processInfo.environment["AFS_STORE"] ?? "./aether-data"
    @Option(name: .customLong("from-dir"), help: "Directory to import as the base.") var fromDir: String?
    @Option(help: "Number of proposals to fork.") var proposals: Int = 3

    func run() throws {
        let store: AetherStore
        do { store = try AetherStore.open(at: self.store) } catch { throw CLIError(error, json: false) }
        defer { try? store.close() }
        do {
            try tour(store)
        } catch let e as AFSError {
            throw CLIError(e, json: false)
        }
    }

    private func say(_ s: String) { print(s) }

    private func tour(_ store: AetherStore) throws {
        say("AetherFS demo — store at \(store.directory)\n")
        let base: SessionInfo
        let clock = ContinuousClock()
        var started = clock.now
        if let fromDir {
            base = try store.createSession(name: "base", from: .directory(fromDir), progress: Output.progressReporter())
            Output.endProgress()
        } else {
            base = try store.createSession(name: "base", from: .blank)
            for i in 0..<200 {
                let body = "// module \(i)\nfunc f\(i)() -> Int { \(i) }\n" + String(repeating: "// padding line for realism\n", count: i % 40)
                try store.writeFile(base.id, path: "/src/module\(i / 20)/file\(i).swift", data: Array(body.utf8))
            }
            try store.writeFile(base.id, path: "/README.md", data: Array("# Sample project\n".utf8))
        }
        let files = try store.manifest(base.id).count
        say("1. base session \(base.id): \(files) files (\(clock.now - started))")
        _ = try store.commit(base.id, message: "Import base", author: "demo")
        _ = try store.promote(base.id, ref: "main")
        say("   committed and promoted to ref main")

        var forks: [SessionInfo] = []
        started = clock.now
        for i in 0..<proposals { forks.append(try store.fork(base.id, name: "proposal-\(i + 1)")) }
        say("2. forked \(proposals) proposals in \(clock.now - started) total (O(1) each: one catalog record)")

        for (i, f) in forks.enumerated() {
            try store.writeFile(f.id, path: "/PROPOSAL.md", data: Array("Proposal \(i + 1): a different approach\n".utf8))
            try store.writeFile(f.id, path: "/README.md", data: Array("# Sample project\nImproved by proposal \(i + 1)\n".utf8))
        }
        say("3. each proposal edited two files")

        for f in forks {
            let d = try store.diff(.session(base.id), .session(f.id))
            say("   diff base → \(f.name ?? f.id): " + d.map { "\($0.change.rawValue) \($0.path)" }.joined(separator: ", "))
        }
        let winner = forks[0]
        _ = try store.commit(winner.id, message: "Adopt proposal 1", author: "demo")
        let promoted = try store.promote(winner.id, ref: "main")
        say("4. \(winner.name ?? winner.id) committed; promote main: \(promoted.outcome.rawValue) → \(promoted.commitID ?? "-")")

        let s = try store.stats()
        say("5. store: \(s.sessions) sessions, logical \(Output.bytes(s.logicalBytes)), physical \(Output.bytes(s.physicalBytes)) (\(String(format: "%.1f", s.dedupRatio))x)")
        say("\nTry: aether --help, or aether session list --store \(store.directory)")
    }
}
