import AFSClient
import AFSCore
import ArgumentParser
import Foundation

struct KnowledgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knowledge", abstract: "Structured entries (key → JSON value, tags), per session or store-wide.",
        subcommands: [Put.self, Get.self, Ls.self, Rm.self])

    struct Scope: ParsableArguments {
        @Option(help: "Session scope (default: store-wide).") var session: String?
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a JSON value (argument or stdin).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: Scope
        @Argument(help: "Key.") var key: String
        @Argument(help: "JSON value (default: read stdin).") var value: String?
        @Option(name: .customLong("tag"), help: "A tag (repeatable).") var tags: [String] = []

        func run() throws {
            let v = value ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            try global.run { (store) throws(AFSError) in
                let e = try store.putKnowledge(session: scope.session, key: key, value: v.trimmingCharacters(in: .whitespacesAndNewlines), tags: tags, author: global.actorName)
                global.emit(e) { "" }
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a value.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: Scope
        @Argument(help: "Key.") var key: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let e = try store.knowledge(session: scope.session, key: key)
                global.emit(e) { e.value }
            }
        }
    }

    struct Ls: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List entries by key prefix or tag.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: Scope
        @Option(help: "Key prefix.") var prefix: String?
        @Option(help: "Tag.") var tag: String?

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let all = try store.listKnowledge(session: scope.session, prefix: prefix, tag: tag)
                global.emit(all) { all.map { "\($0.key)\t\($0.tags.joined(separator: ","))\t\($0.value)" }.joined(separator: "\n") }
            }
        }
    }

    struct Rm: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an entry.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: Scope
        @Argument(help: "Key.") var key: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.deleteKnowledge(session: scope.session, key: key)
                global.emit(["deleted": key]) { "" }
            }
        }
    }
}
