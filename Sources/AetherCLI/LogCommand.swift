import AFSClient
import AFSCore
import ArgumentParser
import Foundation

/// `aether log REF`: the history behind a ref, newest first, like `git log --oneline` with dates.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "The commits reachable from a ref or commit, newest first.",
        discussion: """
            Every parent of a merge is followed and each commit is listed once, newest first. One line
            per commit: its ID (12 digits; --full for all 64), time (UTC), author and message, with
            "merge" marking a commit of two parents. --json prints the commits in full.

            Examples:
              aether log main
              aether log main --limit 20 --skip 20     (the next page)
              aether log 3f2a… --limit 1 --json        (one commit, in full)
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "A ref's name or a commit ID.") var start: String
    @Option(help: "At most this many commits (1…\(AetherStore.maxLogLength)).") var limit = 50
    @Option(help: "Leave out this many newest commits first (paging).") var skip = 0
    @Flag(help: "Print whole commit IDs.") var full = false

    func validate() throws {
        guard (1...AetherStore.maxLogLength).contains(limit) else { throw ValidationError("--limit must be 1…\(AetherStore.maxLogLength)") }
        guard skip >= 0 else { throw ValidationError("--skip must be 0 or more") }
    }

    func run() throws {
        try global.run { (store) throws(AFSError) in
            let commits = try store.log(start, limit: limit, skip: skip)
            global.emit(commits) {
                let time = ISO8601DateFormatter()
                return commits.map { c in
                    let id = full ? c.id : String(c.id.prefix(12))
                    let subject = c.message.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
                    let merge = c.parents.count > 1 ? "  merge" : ""
                    return "\(id)  \(time.string(from: c.createdAt))  \(c.author)\(merge)  \(subject)"
                }.joined(separator: "\n")
            }
        }
    }
}
