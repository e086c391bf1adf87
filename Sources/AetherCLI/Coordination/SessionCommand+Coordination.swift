import AFSClient
import AFSCore
import ArgumentParser
import Foundation

extension SessionCommand {
    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Who changed what in a session (its changefeed).", discussion: "With --actor NAME, only that actor's events.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(help: "Only events after this sequence number.") var since: UInt64 = 0

        func run() throws {
            // Here --actor filters: only that actor's events.
            let actor = global.actor
            try global.run { (store) throws(AFSError) in
                var all: [ChangeEvent] = []
                var cursor = since
                while true {
                    let page = try store.changes(id, after: cursor, limit: 10_000, wait: 0)
                    if page.isEmpty { break }
                    all += page
                    cursor = page.last!.seq
                }
                if let actor { all = all.filter { $0.actor == actor } }
                if global.json { print(Output.json(all)) } else { for e in all { printEvent(e, json: false) } }
            }
        }
    }

    struct Undo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revert one actor's changes since a checkpoint (default: the latest).",
            discussion: "aether session undo ID --actor NAME [--since CHECKPOINT]. Paths someone else changed afterwards are left alone and listed as skipped.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(help: "Checkpoint to revert to.") var since: String?

        func run() throws {
            // Here --actor names whose changes to revert; the change itself is recorded as
            // $AETHER_ACTOR (or $USER).
            guard let target = global.actor else { throw ValidationError("--actor NAME is required: whose changes to undo") }
            let performer = ProcessInfo.processInfo.environment["AETHER_ACTOR"] ?? ProcessInfo.processInfo.environment["USER"] ?? "cli"
            try global.run { (store) throws(AFSError) in
                let r = try store.undo(id, actor: target, since: since, context: MutationContext(actor: performer))
                global.emit(r) {
                    (r.restored.map { "restored \($0)" } + r.removed.map { "removed  \($0)" } + r.skipped.map { "skipped  \($0) (changed later by someone else)" })
                        .joined(separator: "\n")
                }
            }
        }
    }
}
