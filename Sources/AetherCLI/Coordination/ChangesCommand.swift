import AFSClient
import AFSCore
import ArgumentParser
import Foundation

struct ChangesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changes", abstract: "Read a session's changefeed from a cursor.",
        discussion: """
            Prints events after --since (a seq). With --follow, keeps printing as events arrive; with --json
            and --follow, one JSON object per line. Resume after a disconnect with --since LAST_SEQ_SEEN:
            no gaps, no duplicates. A cursor older than retention exits with 9.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Session ID.") var id: String
    @Option(help: "Print events after this sequence number.") var since: UInt64 = 0
    @Option(help: "At most this many events per read.") var limit: Int = 1000
    @Flag(help: "Keep waiting for new events.") var follow = false

    func run() throws {
        var cursor = since
        if follow {
            try followLoop(global) { (store, wait) throws(AFSError) in
                for e in try store.changes(id, after: cursor, limit: limit, wait: wait) {
                    printEvent(e, json: global.json)
                    cursor = e.seq
                }
                fflush(nil)
            }
        }
        try global.run { (store) throws(AFSError) in
            let events = try store.changes(id, after: cursor, limit: limit, wait: 0)
            global.emit(events) { events.map { e -> String in
                var l = "\(e.seq)\t\(e.actor)\t\(e.kind.rawValue)\t\(e.path.isEmpty ? "-" : e.path)"
                if let d = e.detail { l += "\t\(d)" }
                return l
            }.joined(separator: "\n") }
        }
    }
}
