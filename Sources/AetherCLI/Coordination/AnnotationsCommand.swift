import AFSClient
import AFSCore
import ArgumentParser
import Foundation

struct AnnotationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "annotations", abstract: "List a session's annotations.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Session ID.") var id: String
    @Option(help: "Only notes on this path or below.") var path: String?
    @Option(help: "Only this kind.") var kind: String?
    @Option(help: "Only this author.") var author: String?

    func run() throws {
        try global.run { (store) throws(AFSError) in
            let all = try store.annotations(id, path: path, kind: kind, author: author)
            global.emit(all) {
                all.map { a in
                    let target = a.path.map { p in a.lineStart.map { "\(p):\($0)-\(a.lineEnd!)" } ?? p } ?? a.commitID ?? "session"
                    return "\(a.id)\t\(a.kind)\t\(a.author)\t\(target)\t\(a.text)"
                }.joined(separator: "\n")
            }
        }
    }
}
