import AFSClient
import AFSCore
import ArgumentParser
import Foundation

struct AnnotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "annotate", abstract: "Attach a note or evidence to a session, a path, a line range or a commit.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Session ID.") var id: String
    @Option(help: "Path the note is about.") var path: String?
    @Option(help: "Line range A-B (needs --path).") var lines: String?
    @Option(help: "Commit the note is about.") var commit: String?
    @Option(help: "Kind: note, evidence, warning, …") var kind: String = "note"
    @Option(name: .shortAndLong, help: "The text.") var message: String

    func run() throws {
        var range: ClosedRange<Int>?
        if let lines {
            let parts = lines.split(separator: "-").map { Int($0) }
            guard (1...2).contains(parts.count), let a = parts[0], let b = parts.count == 2 ? parts[1] : a, a <= b else {
                throw ValidationError("--lines takes A-B with A <= B, e.g. 10-24")
            }
            range = a...b
        }
        try global.run { (store) throws(AFSError) in
            let a = try store.annotate(id, path: path, lines: range, commit: commit, kind: kind, text: message, author: global.actorName)
            global.emit(a) { a.id }
        }
    }
}
