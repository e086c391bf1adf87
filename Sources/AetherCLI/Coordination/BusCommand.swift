import AFSClient
import AFSCore
import ArgumentParser
import Foundation

struct BusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus", abstract: "Session-scoped message topics.", subcommands: [Publish.self, Read.self, Topics.self])

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish a JSON payload (from --data or stdin).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Topic.") var topic: String
        @Option(help: "The JSON payload (default: read stdin).") var data: String?

        func run() throws {
            let payload = data ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            try global.run { (store) throws(AFSError) in
                let m = try store.publish(id, topic: topic, payload: payload.trimmingCharacters(in: .whitespacesAndNewlines), sender: global.actorName)
                global.emit(m) { "\(m.offset)" }
            }
        }
    }

    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a topic from an offset.", discussion: "With --follow, waits for new messages (one JSON object per line with --json).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Topic.") var topic: String
        @Option(help: "First offset to read (messages are numbered from 1).") var from: UInt64 = 1
        @Option(help: "At most this many messages per read.") var limit: Int = 1000
        @Flag(help: "Keep waiting for new messages.") var follow = false

        func run() throws {
            var next = from
            if follow {
                try followLoop(global) { (store, wait) throws(AFSError) in
                    for m in try store.messages(id, topic: topic, from: next, limit: limit, wait: wait) {
                        if global.json {
                            print(Output.json(m).replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: ""))
                        } else {
                            print("\(m.offset)\t\(m.sender)\t\(m.payload)")
                        }
                        next = m.offset + 1
                    }
                    fflush(nil)
                }
            }
            try global.run { (store) throws(AFSError) in
                let all = try store.messages(id, topic: topic, from: next, limit: limit, wait: 0)
                global.emit(all) { all.map { "\($0.offset)\t\($0.sender)\t\($0.payload)" }.joined(separator: "\n") }
            }
        }
    }

    struct Topics: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a session's topics.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let t = try store.topics(id)
                global.emit(t) { t.joined(separator: "\n") }
            }
        }
    }
}
